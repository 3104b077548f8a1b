package policy

import "strings"

// Twilio message statuses. Outbound messages move
// accepted → scheduled → queued → sending → sent → delivered → read,
// and may end in failed, undelivered or canceled instead; inbound messages
// move receiving → received.
const (
	StatusAccepted           = "accepted"
	StatusScheduled          = "scheduled"
	StatusQueued             = "queued"
	StatusSending            = "sending"
	StatusSent               = "sent"
	StatusPartiallyDelivered = "partially_delivered"
	StatusDelivered          = "delivered"
	StatusRead               = "read"
	StatusFailed             = "failed"
	StatusUndelivered        = "undelivered"
	StatusCanceled           = "canceled"
	StatusReceiving          = "receiving"
	StatusReceived           = "received"
)

// statusRanks orders the known statuses. Failures share the top rank: they
// end the message, whatever stage it had reached.
var statusRanks = map[string]int{
	StatusAccepted:           1,
	StatusScheduled:          2,
	StatusQueued:             3,
	StatusSending:            4,
	StatusSent:               5,
	StatusPartiallyDelivered: 6,
	StatusDelivered:          7,
	StatusRead:               8,
	StatusFailed:             9,
	StatusUndelivered:        9,
	StatusCanceled:           9,

	StatusReceiving: 1,
	StatusReceived:  2,
}

func normStatus(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func isInbound(s string) bool { return s == StatusReceiving || s == StatusReceived }

// StatusRank places a status in its lifecycle, for sorting and progress
// displays: 0 for an empty or unknown status, then
// accepted 1 < scheduled 2 < queued 3 < sending 4 < sent 5 <
// partially_delivered 6 < delivered 7 < read 8, and 9 for the failure ends
// (failed, undelivered, canceled). Inbound statuses have their own scale
// (receiving 1 < received 2). Comparing ranks alone is not enough to accept
// a callback (a failure outranks delivered but must not replace it): use
// ShouldApplyStatus for that.
func StatusRank(status string) int {
	return statusRanks[normStatus(status)]
}

// IsFinalStatus says whether nothing can legitimately follow status: failed,
// undelivered, canceled, read (the end of the happy path) and received.
// delivered is not final, because a WhatsApp read receipt can still follow it.
func IsFinalStatus(status string) bool {
	switch normStatus(status) {
	case StatusFailed, StatusUndelivered, StatusCanceled, StatusRead, StatusReceived:
		return true
	}
	return false
}

// ShouldApplyStatus says whether a status callback reporting next may replace
// the message's current status. Twilio's callbacks can arrive late, twice, or
// out of order (a "sent" after "delivered"), so the stored status must only
// ever move forward; the callback itself is still kept as an event.
//
// The rules:
//   - unknown or empty next, or the same status again: false;
//   - an empty or unknown current (nothing applied yet): any known next applies;
//   - nothing replaces a final status (see IsFinalStatus);
//   - inbound and outbound statuses never replace each other;
//   - failed and undelivered apply up to and including "sent": carriers report
//     undelivered after Twilio has sent, but once the handset confirmed
//     delivery (delivered, partially_delivered, read) a failure is stale;
//   - canceled applies only before sending starts (accepted, scheduled, queued);
//   - otherwise next must rank higher than current (skipping steps is fine:
//     queued → delivered, sent → read).
func ShouldApplyStatus(current, next string) bool {
	cur, nxt := normStatus(current), normStatus(next)
	nr, known := statusRanks[nxt]
	if !known || cur == nxt {
		return false
	}
	cr, curKnown := statusRanks[cur]
	if !curKnown {
		return true
	}
	if IsFinalStatus(cur) || isInbound(cur) != isInbound(nxt) {
		return false
	}
	switch nxt {
	case StatusFailed, StatusUndelivered:
		return cr <= statusRanks[StatusSent]
	case StatusCanceled:
		return cr <= statusRanks[StatusQueued]
	}
	return nr > cr
}
