package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// ComputeSignature returns Twilio's X-Twilio-Signature for a POST to fullURL with the form
// params: base64(HMAC-SHA1(authToken, fullURL + for each parameter name in sorted order, name +
// value)). A repeated name contributes each of its distinct values in sorted order, as Twilio's
// own libraries compute it. It is independent of twilio-go, so tests can check one against the
// other.
func ComputeSignature(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := slices.Clone(params[k])
		slices.Sort(vals)
		for _, v := range slices.Compact(vals) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
