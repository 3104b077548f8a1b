package policy

import "time"

// Consent per purpose. The ledger (consent_events) keeps every opt-in and
// opt-out; the newest entry per number and purpose is the state. A send is
// allowed or refused from those states alone:
//
//   - transactional (school business: attendance, safety, fees, replies) is
//     allowed unless the newest transactional entry is an opt-out;
//   - marketing (fundraising, events, newsletters) needs an explicit opt-in
//     as the newest marketing entry, and no transactional opt-out: a STOP
//     ends everything, whatever was agreed before.
//
// A refusal carries a stable reason code: the composer shows its text, and
// the broadcast engine stores it on each skipped recipient.

// ConsentState is the newest ledger entry of one number for one purpose.
type ConsentState struct {
	OptedIn bool
	Method  string // "keyword", "staff", "import", "web_form"
	At      time.Time
}

// Reasons a send is refused (or a broadcast recipient skipped) for consent.
// Stored in the database: never change a value.
const (
	// SkipOptedOut: the newest transactional entry is an opt-out (STOP).
	SkipOptedOut = "opted_out"
	// SkipNoMarketingConsent: a marketing send to a number that never opted in to marketing.
	SkipNoMarketingConsent = "no_marketing_consent"
	// SkipMarketingOptedOut: the newest marketing entry is an opt-out.
	SkipMarketingOptedOut = "marketing_opted_out"
	// SkipUnknownPurpose: the send named no purpose Classline knows; refused to be safe.
	SkipUnknownPurpose = "unknown_purpose"
)

// ValidPurpose reports whether p is a purpose the ledger records.
func ValidPurpose(p string) bool { return p == PurposeTransactional || p == PurposeMarketing }

// ConsentAllows decides whether a message of purpose may go to a number
// whose newest ledger entries per purpose are latest (a purpose with no
// entry is absent; nil means no entry at all). reason is "" when allowed,
// else one of the Skip codes.
func ConsentAllows(purpose string, latest map[string]ConsentState) (ok bool, reason string) {
	if !ValidPurpose(purpose) {
		return false, SkipUnknownPurpose
	}
	if t, found := latest[PurposeTransactional]; found && !t.OptedIn {
		return false, SkipOptedOut
	}
	if purpose == PurposeTransactional {
		return true, ""
	}
	mk, found := latest[PurposeMarketing]
	switch {
	case !found:
		return false, SkipNoMarketingConsent
	case !mk.OptedIn:
		return false, SkipMarketingOptedOut
	}
	return true, ""
}

// SkipReasonText says in words for staff why a send was refused or a
// recipient skipped, without a date (see ConsentRefusalText for one).
// Unknown codes come back as themselves.
func SkipReasonText(code string) string {
	return ConsentRefusalText(code, nil, nil)
}

// ConsentRefusalText is SkipReasonText with the date of the ledger entry
// that decided, in loc (the school's zone; UTC when nil), when latest
// holds it.
func ConsentRefusalText(code string, latest map[string]ConsentState, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	on := func(purpose string) (string, ConsentState) {
		e, ok := latest[purpose]
		if !ok || e.At.IsZero() {
			return "", e
		}
		return " on " + e.At.In(loc).Format("2 Jan 2006 at 15:04"), e
	}
	switch code {
	case SkipOptedOut:
		when, e := on(PurposeTransactional)
		return "This contact opted out" + when + " (" + optOutHow(e.Method) + "), so nothing can be sent to them. They can opt back in by replying START."
	case SkipNoMarketingConsent:
		return "This contact has not agreed to promotional messages (fundraising, events, newsletters), so this one cannot be sent. Send it as school business only if it is, or record their opt-in for promotional messages on their contact page first."
	case SkipMarketingOptedOut:
		when, e := on(PurposeMarketing)
		return "This contact opted out of promotional messages" + when + " (" + optOutHow(e.Method) + "), so this one cannot be sent. School business messages still reach them."
	case SkipUnknownPurpose:
		return "Choose what the message is for: school business or promotional."
	}
	return code
}

// optOutHow says how an opt-out was recorded; the keyword is the common
// case and the one parents recognise.
func optOutHow(method string) string {
	switch method {
	case "staff":
		return "recorded by staff"
	case "import":
		return "from a contact import"
	case "web_form":
		return "through a web form"
	}
	return "they replied STOP"
}
