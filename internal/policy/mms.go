package policy

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// MMSReachable reports whether a picture message (MMS) can reach an E.164
// number: Twilio delivers MMS only to numbers in the United States and
// Canada. A +1 number is taken as reachable unless its area code belongs to
// another country of the North American plan (Jamaica, the Bahamas, Puerto
// Rico...): numbers outside any listed range, such as the fictional 555-01xx
// ones, have no country to tell otherwise. Anything not +1 is not reachable.
func MMSReachable(e164 string) bool {
	s := trimPrefixFold(strings.TrimSpace(e164), whatsappPrefix)
	if !strings.HasPrefix(s, "+1") {
		return false
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil {
		return false
	}
	switch phonenumbers.GetRegionCodeForNumber(num) {
	case "US", "CA", "":
		return true
	}
	return false
}
