package policy

import "fmt"

// errorExplanations turns Twilio error codes into what staff should know and do.
var errorExplanations = map[int]string{
	21211: "The number is not a valid phone number. Check it and include the country code.",
	21408: "Sending to this country is not enabled on the Twilio account.",
	21610: "The recipient has opted out (replied STOP). They must reply START before you can write again.",
	21614: "The number cannot receive SMS (it is probably a landline).",
	21617: "The message is too long (more than 1,600 characters).",
	20429: "Twilio is busy (too many requests at once). Try again in a moment.",
	30003: "The phone is unreachable (switched off or out of coverage).",
	30004: "The message was blocked by the recipient or their carrier.",
	30005: "The number does not exist or is no longer in service.",
	30006: "The number is a landline or cannot receive this kind of message.",
	30007: "The carrier filtered the message as spam. Avoid link shorteners and all-caps text.",
	30008: "Delivery failed for an unknown reason. Try again later.",
	63016: "WhatsApp's 24-hour window is closed: the parent has not written in the last 24 hours, so only an approved template can be sent.",
	63024: "This number is not on WhatsApp. Try SMS instead.",
	63014: "The recipient has blocked this WhatsApp number.",
	63033: "The recipient opted out of marketing messages on WhatsApp.",
	63018: "WhatsApp's rate limit for this sender was exceeded. The rest will go out more slowly.",
}

// ExplainError says in plain words what a Twilio error code means for staff.
func ExplainError(code int) string {
	if s, ok := errorExplanations[code]; ok {
		return s
	}
	if code == 0 {
		return ""
	}
	return fmt.Sprintf("Twilio reported error %d.", code)
}

// retryable are failures that may go away by themselves: the phone was off,
// the carrier hiccuped, Twilio was busy or could not be reached (code 0).
// Everything else (opted out, window closed, invalid or blocked number) fails
// the same way again, so staff are not offered a retry for it.
var retryable = map[int]bool{0: true, 20429: true, 30001: true, 30003: true, 30008: true, 30009: true, 30010: true, 63018: true}

// Retryable says whether sending the same message again can help.
func Retryable(code int) bool { return retryable[code] }
