package policy

import "fmt"

// SenderErrorHelp explains a Twilio error reported while registering or running a WhatsApp
// sender (the number the school writes to parents from), for the admin who manages senders.
type SenderErrorHelp struct {
	Code    int
	Title   string // a short label
	Meaning string // what happened, in plain words
	Action  string // what to do about it
}

// senderErrors are the Senders API's errors (Twilio's 631xx), as Twilio documents them.
var senderErrors = map[int]SenderErrorHelp{
	63100: {
		Title: "Details refused",
		Meaning: "Twilio refused the sender's details: the number is not in international format, or a " +
			"field is missing or not allowed. Most often it is the display name, which must follow " +
			"WhatsApp's rules.",
		Action: "Read the message that came with the error and correct that field. Write the number " +
			"with its country code (+44…, +1…). Give the display name the school's real name: at least " +
			"3 characters, no emoji or symbols such as ! or @, no web address, not in capitals except " +
			"for an acronym. Then register the number again.",
	},
	63104: {
		Title: "Number limit reached",
		Meaning: "The school's WhatsApp Business Account already has as many phone numbers as Meta " +
			"allows it (a small number until the business is verified by Meta).",
		Action: "Delete a sender the school no longer uses, or complete Meta's business verification " +
			"in Meta Business Manager to be allowed more numbers; then register this number again.",
	},
	63110: {
		Title: "Already on WhatsApp",
		Meaning: "This phone number is already in use on WhatsApp: in the WhatsApp or WhatsApp Business " +
			"app on a phone, or with another provider.",
		Action: "On the phone using that number, delete the WhatsApp account (Settings > Account > " +
			"Delete my account), or ask the other provider to release the number and turn off its " +
			"two-step verification. Then register the number again. If this is a sender Classline " +
			"already has, use that one instead.",
	},
	63111: {
		Title: "Number or account not found",
		Meaning: "WhatsApp could not find this phone number, or the WhatsApp Business Account it " +
			"should belong to (it may have been removed, or not shared with Twilio).",
		Action: "Check the number, and in Meta Business Manager check that the WhatsApp Business " +
			"Account still exists and is connected to Twilio. Then delete this sender and register " +
			"the number again.",
	},
	63113: {
		Title:   "Verification failed",
		Meaning: "The number could not be verified: the code entered was wrong or had expired.",
		Action: "Enter the most recent 6-digit code sent to the number, exactly as received. If it " +
			"has expired or never arrived, ask for a new code (a voice call works when SMS does not " +
			"reach the phone).",
	},
	63114: {
		Title: "Too many codes",
		Meaning: "Too many verification codes were requested for this number, so WhatsApp will not " +
			"send another one for now.",
		Action: "Do not ask for more codes. Use the last code that arrived if you have it; otherwise " +
			"wait a few hours and ask for one new code.",
	},
	63116: {
		Title: "Code not received",
		Meaning: "Twilio tried to register its own number automatically, but the verification code " +
			"from WhatsApp never arrived on that number.",
		Action: "Make sure the number can receive SMS or calls (not an answering menu or an " +
			"outgoing-only line), then delete this sender and register the number again, choosing " +
			"verification by SMS or by voice call.",
	},
}

// ExplainSenderError says what an error on a WhatsApp sender means and what to do about it:
// the Senders API's codes in full; other codes (a sender's offline reasons may carry any
// Twilio code) with ExplainError's wording. Code 0 gives the zero value.
func ExplainSenderError(code int) SenderErrorHelp {
	if h, ok := senderErrors[code]; ok {
		h.Code = code
		return h
	}
	if code == 0 {
		return SenderErrorHelp{}
	}
	meaning := ExplainError(code)
	return SenderErrorHelp{
		Code:    code,
		Title:   fmt.Sprintf("Twilio error %d", code),
		Meaning: meaning,
		Action: fmt.Sprintf("Look up error %d in the Error Log of the Twilio Console "+
			"(https://www.twilio.com/docs/errors/%d); contact Twilio support if it persists.", code, code),
	}
}

// senderStatuses explain the statuses of Twilio's Senders API.
var senderStatuses = map[string]string{
	"CREATING":             "Twilio is registering the number with WhatsApp.",
	"PENDING_VERIFICATION": "WhatsApp sent a code to the number by SMS or voice call: enter it to finish.",
	"VERIFYING":            "WhatsApp is checking the code.",
	"ONLINE":               "Ready: parents can be written to and reply on this number.",
	"ONLINE:UPDATING":      "Ready; a change to the profile is on its way to WhatsApp.",
	"OFFLINE":              "Not working: messages cannot be sent from this number. See the reasons.",
	"TWILIO_REVIEW":        "Twilio is reviewing the registration.",
	"DRAFT":                "Started but not submitted.",
	"STUBBED":              "Reserved by Twilio; registration has not started.",
}

// ExplainSenderStatus says in plain words what a WhatsApp sender's status means.
func ExplainSenderStatus(status string) string {
	if s, ok := senderStatuses[status]; ok {
		return s
	}
	if status == "" {
		return ""
	}
	return fmt.Sprintf("Twilio reports the status %q.", status)
}
