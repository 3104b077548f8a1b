// Package components holds the templ pieces pages are built from and that
// live updates re-render, so a swapped fragment is byte-for-byte the same as
// the one on first load.
package components

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// When formats t in the school's zone: the time for today, otherwise the date too.
func When(t time.Time, tz *time.Location, now time.Time) string {
	if tz == nil {
		tz = time.UTC
	}
	lt, ln := t.In(tz), now.In(tz)
	if lt.Year() == ln.Year() && lt.YearDay() == ln.YearDay() {
		return lt.Format("15:04")
	}
	if lt.Year() == ln.Year() {
		return lt.Format("2 Jan 15:04")
	}
	return lt.Format("2 Jan 2006 15:04")
}

// ISO is a machine-readable time for <time datetime>.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// StatusLabel is the word staff see for a Twilio status.
func StatusLabel(s string) string {
	switch s {
	case "queued", "accepted", "scheduled":
		return "queued"
	case "sending":
		return "sending"
	case "partially_delivered":
		return "delivered"
	default:
		return strings.ReplaceAll(s, "_", " ")
	}
}

// StatusClass is the CSS class of a status pill.
func StatusClass(s string) string { return "status status-" + strings.ReplaceAll(s, "_", "-") }

// ChannelLabel names a channel for people.
func ChannelLabel(c string) string {
	if c == policy.ChannelWhatsApp {
		return "WhatsApp"
	}
	return "SMS"
}

// MessageID is the DOM id of a message, the key live updates replace by.
func MessageID(id int64) string { return fmt.Sprintf("msg-%d", id) }

// ThreadID is the DOM id of a conversation's message column.
func ThreadID(conversationID int64) string { return fmt.Sprintf("thread-%d", conversationID) }

// ConversationItemID is the DOM id of a conversation in the list.
func ConversationItemID(id int64) string { return fmt.Sprintf("conv-item-%d", id) }

// ErrorText explains a failed message.
func ErrorText(m db.Message) string {
	code := 0
	if m.ErrorCode != nil {
		code = *m.ErrorCode
	}
	if exp := policy.ExplainError(code); exp != "" && code != 0 {
		return fmt.Sprintf("%s (error %d)", exp, code)
	}
	return m.ErrorMessage
}

// SenderLabel names a sender: display name or department, then the number.
func SenderLabel(s db.Sender) string {
	name := s.DisplayName
	if name == "" {
		name = s.DepartmentName
	}
	addr := policy.FormatPhone(s.Address)
	if s.Address == "" {
		addr = s.MessagingServiceSID
	}
	if name == "" {
		return ChannelLabel(s.Channel) + " " + addr
	}
	return fmt.Sprintf("%s · %s %s", name, ChannelLabel(s.Channel), addr)
}

// ConversationURL links to a conversation.
func ConversationURL(id int64) string { return fmt.Sprintf("/conversations/%d", id) }

// ContactName is what staff see for a contact: the name, else WhatsApp's
// profile name, else the number in a readable format.
func ContactName(c db.Contact) string {
	if c.Name != "" || c.ProfileName != "" {
		return c.DisplayName()
	}
	return policy.FormatPhone(c.Phone)
}

// maxBody is Twilio's limit for one message body.
const maxBody = 1600

// CountOver reports whether body is past the 1,600-character limit.
func CountOver(body string) bool { return utf8.RuneCountInString(body) > maxBody }

// CountText is the counter under a composer.
func CountText(body, channel string) string {
	n := utf8.RuneCountInString(body)
	if n > maxBody {
		return fmt.Sprintf("%d characters: %d over the limit of %d.", n, n-maxBody, maxBody)
	}
	if channel != policy.ChannelSMS {
		return fmt.Sprintf("%d / %d characters", n, maxBody)
	}
	seg := policy.CountSegments(body)
	parts := "segments"
	if seg.Count == 1 {
		parts = "segment"
	}
	text := fmt.Sprintf("%d characters · %d SMS %s · %d left in this one", n, seg.Count, parts, seg.Remaining)
	if seg.Trigger != 0 {
		text += fmt.Sprintf(". “%c” is not in the basic SMS alphabet, so each segment holds 70 characters instead of 160", seg.Trigger)
	}
	return text
}

// CanRetry says whether a failed message is worth sending again.
func CanRetry(m db.Message) bool {
	code := 0
	if m.ErrorCode != nil {
		code = *m.ErrorCode
	}
	return policy.Retryable(code)
}

// RetryURL is where a failed message is sent again.
func RetryURL(id int64) string { return fmt.Sprintf("/messages/%d/retry", id) }

func idOrEmpty(id *int64) string {
	if id == nil {
		return ""
	}
	return fmt.Sprint(*id)
}

func waitingAttr(c db.Conversation) string {
	if c.WaitingSince == nil {
		return ""
	}
	return ISO(*c.WaitingSince)
}

// WaitFlag is "over" when a waiting contact has waited past the department's
// response goal, "near" past three quarters of it, else "".
func WaitFlag(c db.Conversation, now time.Time) string {
	if c.WaitingSince == nil || c.ResponseGoal <= 0 || c.Status != "open" {
		return ""
	}
	waited := now.Sub(*c.WaitingSince)
	switch {
	case waited >= c.ResponseGoal:
		return "over"
	case waited >= c.ResponseGoal*3/4:
		return "near"
	}
	return ""
}

// WaitText is how long a contact has waited, short.
func WaitText(c db.Conversation, now time.Time) string {
	if c.WaitingSince == nil {
		return ""
	}
	return "Waiting " + ShortDuration(now.Sub(*c.WaitingSince))
}

// WaitTitle explains the waiting time against the goal.
func WaitTitle(c db.Conversation, now time.Time) string {
	t := WaitText(c, now) + " for an answer"
	if c.ResponseGoal > 0 {
		t += "; the department's goal is " + ShortDuration(c.ResponseGoal)
	}
	return t
}

// ShortDuration is "45 min", "3 h 10 min" or "2 d 4 h".
func ShortDuration(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	m := int(d / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf("%d min", m)
	case m < 24*60:
		if m%60 == 0 {
			return fmt.Sprintf("%d h", m/60)
		}
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	default:
		if (m/60)%24 == 0 {
			return fmt.Sprintf("%d d", m/(24*60))
		}
		return fmt.Sprintf("%d d %d h", m/(24*60), (m/60)%24)
	}
}

// ConversationHeadID is the DOM id of a conversation's header, replaced live.
func ConversationHeadID(id int64) string { return fmt.Sprintf("conv-head-%d", id) }

// PresenceID is the DOM id of a conversation's "who else is here" line.
func PresenceID(id int64) string { return fmt.Sprintf("presence-%d", id) }

// windowCloses is when an open WhatsApp window closes (ISO), for the page's
// countdown; "" when there is no open window.
func windowCloses(c db.Conversation, now time.Time) string {
	if c.Channel != policy.ChannelWhatsApp {
		return ""
	}
	if w := policy.WhatsAppWindow(c.LastInboundAt, now); w.Open {
		return ISO(w.ClosesAt)
	}
	return ""
}

// oobAttr marks an element for an out-of-band swap; no attribute at all
// otherwise (htmx treats even an empty hx-swap-oob as out of band).
func oobAttr(oob string) templ.Attributes {
	if oob == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"hx-swap-oob": oob}
}

// senderReasonTitle explains, on hover, why an outbound message went from its number.
func senderReasonTitle(m db.Message) string {
	if m.SenderReason == "" {
		return ""
	}
	return "Sent from " + m.From + ": " + m.SenderReason
}

// Rev orders renderings of one conversation: the time (µs) its data was
// read. An action's answer and a live update can arrive in either order; the
// page keeps the one read last.
func Rev(t time.Time) string { return fmt.Sprint(t.UnixMicro()) }
