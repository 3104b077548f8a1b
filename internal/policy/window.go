package policy

import "time"

// WindowLength is how long after a contact's last inbound WhatsApp message
// the business may send free-form messages (Meta's customer-service window).
// Outside it only an approved template may be sent.
const WindowLength = 24 * time.Hour

// Window describes the WhatsApp customer-service window at one instant.
type Window struct {
	Open      bool
	Remaining time.Duration // time left while Open, else 0
	ClosesAt  time.Time     // lastInbound + WindowLength; zero if the contact never wrote
}

// WhatsAppWindow reports the 24-hour window for a contact whose last inbound
// message arrived at lastInbound (nil: the contact never wrote, so the window
// is closed and only templates may be sent).
//
// The window is open while now < lastInbound+24h; at exactly 24h it is
// closed. Erring closed at the boundary is deliberate: a free-form send that
// reaches Meta a moment too late fails (error 63016), whereas a template
// always works. A lastInbound in the future (clock skew between the webhook's
// timestamp and ours) simply counts as open.
func WhatsAppWindow(lastInbound *time.Time, now time.Time) Window {
	if lastInbound == nil {
		return Window{}
	}
	closes := lastInbound.Add(WindowLength)
	if !now.Before(closes) {
		return Window{ClosesAt: closes}
	}
	return Window{Open: true, Remaining: closes.Sub(now), ClosesAt: closes}
}

// CanSendFreeform says whether a free-form (non-template) message may be sent
// on channel now. SMS has no window, so it is always true; WhatsApp needs an
// open window. An unknown channel returns false: failing closed means a typo
// in a channel name shows up as "use a template" instead of a failed send.
func CanSendFreeform(channel string, lastInbound *time.Time, now time.Time) bool {
	switch channel {
	case ChannelSMS:
		return true
	case ChannelWhatsApp:
		return WhatsAppWindow(lastInbound, now).Open
	default:
		return false
	}
}
