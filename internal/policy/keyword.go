package policy

import (
	"strings"
	"unicode"
)

// Keyword is what an inbound message means for consent.
type Keyword int

const (
	KeywordNone   Keyword = iota // an ordinary message
	KeywordOptOut                // stop sending to this number
	KeywordOptIn                 // resume sending to this number
	KeywordHelp                  // the sender asks who we are / how to stop
)

// String returns a short lowercase name, for logs and events.
func (k Keyword) String() string {
	switch k {
	case KeywordNone:
		return "none"
	case KeywordOptOut:
		return "opt_out"
	case KeywordOptIn:
		return "opt_in"
	case KeywordHelp:
		return "help"
	}
	return "unknown"
}

// Purposes of an outbound message. Consent rules may differ by purpose
// (e.g. a school closure notice is transactional, a fundraiser is marketing);
// an opt-out keyword always stops both.
const (
	PurposeTransactional = "transactional"
	PurposeMarketing     = "marketing"
)

// keywords mirrors Twilio's default keyword handling on long codes, so that
// Classline's consent records agree with what Twilio itself blocks: if a
// parent sends one of these, Twilio stops delivering (error 21610) whatever we
// think, so we must record the opt-out too. REVOKE and OPTOUT were added to
// Twilio's defaults alongside the classic six.
var keywords = map[string]Keyword{
	"STOP":        KeywordOptOut,
	"STOPALL":     KeywordOptOut,
	"UNSUBSCRIBE": KeywordOptOut,
	"CANCEL":      KeywordOptOut,
	"END":         KeywordOptOut,
	"QUIT":        KeywordOptOut,
	"REVOKE":      KeywordOptOut,
	"OPTOUT":      KeywordOptOut,

	"START":  KeywordOptIn,
	"UNSTOP": KeywordOptIn,
	"YES":    KeywordOptIn,

	"HELP": KeywordHelp,
	"INFO": KeywordHelp,
}

// ClassifyKeyword says whether an inbound message body is a consent keyword.
//
// Like Twilio, only a body that is the keyword alone counts: "please stop
// texting me" is an ordinary message (a person should read it), because
// matching words inside sentences would opt parents out of school alerts by
// accident ("don't stop the bus reminders"). Case is ignored, and so are
// surrounding whitespace, punctuation and invisible formatting characters
// ("Stop.", " STOP!! ", "\"stop\""), which phones add or people type without
// meaning anything by them.
func ClassifyKeyword(body string) Keyword {
	word := strings.TrimFunc(body, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.Is(unicode.Cf, r)
	})
	for i := 0; i < len(word); i++ {
		if word[i] >= 0x80 {
			// Keywords are ASCII. Without this, Unicode case folding would
			// turn look-alikes such as "ſtop" (long s) into STOP.
			return KeywordNone
		}
	}
	if k, ok := keywords[strings.ToUpper(word)]; ok {
		return k
	}
	return KeywordNone
}
