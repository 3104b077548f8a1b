package broadcastdraft

import (
	"sort"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
)

// Summary is what a broadcast would do, worked out from the engine's Plan:
// the same rows preparation writes, so the review cannot promise what the
// send does not do.
type Summary struct {
	// People are the distinct contacts (and typed numbers without a
	// contact); Numbers the distinct valid numbers among them.
	People, Numbers     int
	Invalid, Duplicates int
	WhatsApp, SMS       int // recipients that will be sent to, per channel
	Skipped             []SkipGroup
	SkippedTotal        int
	SMSSegments         int // of the SMS sent as plain text
	// MMS counts the SMS recipients whose message carries the broadcast's
	// attachments (priced per MMS, not per segment); MMSAbroad those of
	// them whose number is outside the US and Canada, where Twilio does
	// not deliver MMS.
	MMS, MMSAbroad int
	Cost           float64
	Samples        []db.NewRecipient // up to three that will be sent to
}

// WillSend counts the recipients that will get a message.
func (s Summary) WillSend() int { return s.WhatsApp + s.SMS }

// SkipGroup is the recipients skipped for one reason.
type SkipGroup struct {
	Code, Text string
	N          int
}

// Summarize counts a plan and prices it with the settings.
func Summarize(p broadcast.Plan, st Settings) Summary {
	return SummarizeContent(p, st, broadcast.Content{})
}

// SummarizeContent is Summarize for a broadcast saying c: with attachments,
// each SMS goes as one MMS, as the engine sends it (media on every message
// that is not a WhatsApp template).
func SummarizeContent(p broadcast.Plan, st Settings, c broadcast.Content) Summary {
	var s Summary
	media := len(c.MediaFileIDs) > 0
	people := map[int64]bool{}
	typed := map[string]bool{}
	numbers := map[string]bool{}
	skips := map[string]int{}
	for _, r := range p.Recipients {
		if r.SkipReason == broadcast.SkipInvalidNumber {
			s.Invalid++
		} else {
			numbers[r.Phone] = true
			if r.ContactID != nil {
				people[*r.ContactID] = true
			} else {
				typed[r.Phone] = true
			}
		}
		if r.State == "skipped" {
			if r.SkipReason == broadcast.SkipDuplicateNumber {
				s.Duplicates++
			}
			skips[r.SkipReason]++
			s.SkippedTotal++
			continue
		}
		switch {
		case r.Channel == policy.ChannelWhatsApp:
			s.WhatsApp++
		case media:
			s.SMS++
			s.MMS++
			if !policy.MMSReachable(r.Phone) {
				s.MMSAbroad++
			}
		default:
			s.SMS++
			s.SMSSegments += max(r.Segments, 1)
		}
	}
	s.People, s.Numbers = len(people)+len(typed), len(numbers)
	for code, n := range skips {
		s.Skipped = append(s.Skipped, SkipGroup{Code: code, Text: broadcast.SkipText(code), N: n})
	}
	sort.Slice(s.Skipped, func(i, j int) bool {
		if s.Skipped[i].N != s.Skipped[j].N {
			return s.Skipped[i].N > s.Skipped[j].N
		}
		return s.Skipped[i].Code < s.Skipped[j].Code
	})
	s.Cost = float64(s.SMSSegments)*st.SMSPrice() + float64(s.MMS)*st.MMSPrice() + float64(s.WhatsApp)*st.WhatsAppPrice()
	s.Samples = samples(p.Recipients, 3)
	return s
}

// samples picks up to n recipients that will be sent to, one of each
// channel first, so the review shows both bubbles when both are used.
func samples(rs []db.NewRecipient, n int) []db.NewRecipient {
	var out []db.NewRecipient
	taken := map[int]bool{}
	for _, ch := range []string{policy.ChannelWhatsApp, policy.ChannelSMS} {
		for i, r := range rs {
			if r.State != "skipped" && r.Channel == ch {
				out, taken[i] = append(out, r), true
				break
			}
		}
	}
	for i, r := range rs {
		if len(out) >= n {
			break
		}
		if r.State != "skipped" && !taken[i] {
			out, taken[i] = append(out, r), true
		}
	}
	return out[:min(len(out), n)]
}

// Progress is a running broadcast's counters, derived from its recipient
// rows (db.BroadcastCounts).
type Progress struct {
	Total   int
	Done    int // everything but pending and sending
	Percent int
	// Rows are the per-status counts in status order, those with any.
	Rows      []StatusCount
	Fallbacks int // SMS sent because the WhatsApp message failed or was late
	Failed    int // failed and undelivered
	Skipped   int
	Delivered int // delivered and read
}

// StatusCount is one status's count per channel.
type StatusCount struct {
	Status           string
	WhatsApp, SMS, N int
}

// statusOrder is the order a recipient moves through.
var statusOrder = []string{"pending", "sending", "queued", "accepted", "scheduled", "sent", "delivered", "read",
	"failed", "undelivered", "skipped", "canceled"}

// ProgressOf sums a broadcast's counts.
func ProgressOf(counts []db.BroadcastCount) Progress {
	var p Progress
	by := map[string]*StatusCount{}
	for _, c := range counts {
		p.Total += c.N
		if c.Status != "pending" && c.Status != "sending" {
			p.Done += c.N
		}
		if c.Fallback {
			p.Fallbacks += c.N
		}
		switch c.Status {
		case "failed", "undelivered":
			p.Failed += c.N
		case "skipped":
			p.Skipped += c.N
		case "delivered", "read":
			p.Delivered += c.N
		}
		sc := by[c.Status]
		if sc == nil {
			sc = &StatusCount{Status: c.Status}
			by[c.Status] = sc
		}
		sc.N += c.N
		if c.Channel == policy.ChannelWhatsApp {
			sc.WhatsApp += c.N
		} else {
			sc.SMS += c.N
		}
	}
	rank := func(s string) int {
		for i, o := range statusOrder {
			if o == s {
				return i
			}
		}
		return len(statusOrder)
	}
	for _, sc := range by {
		p.Rows = append(p.Rows, *sc)
	}
	sort.Slice(p.Rows, func(i, j int) bool {
		ri, rj := rank(p.Rows[i].Status), rank(p.Rows[j].Status)
		if ri != rj {
			return ri < rj
		}
		return p.Rows[i].Status < p.Rows[j].Status
	})
	if p.Total > 0 {
		p.Percent = p.Done * 100 / p.Total
	}
	return p
}

// StatusText is a recipient status in words.
func StatusText(s string) string {
	switch s {
	case "pending":
		return "Waiting to send"
	case "sending":
		return "Sending"
	case "queued", "accepted", "scheduled":
		return "Queued at Twilio"
	case "sent":
		return "Sent"
	case "delivered":
		return "Delivered"
	case "read":
		return "Read"
	case "failed":
		return "Failed"
	case "undelivered":
		return "Undelivered"
	case "skipped":
		return "Skipped"
	case "canceled":
		return "Canceled"
	}
	return s
}

// BroadcastStatusText is a broadcast's status in words.
func BroadcastStatusText(s string) string {
	switch s {
	case "draft":
		return "Draft"
	case "pending_approval":
		return "Waiting for approval"
	case "rejected":
		return "Changes requested"
	case "scheduled":
		return "Scheduled"
	case "preparing":
		return "Preparing"
	case "running":
		return "Sending"
	case "paused":
		return "Paused"
	case "completed":
		return "Completed"
	case "canceled":
		return "Canceled"
	}
	return s
}

// Statuses are the broadcast statuses the list filters by, in words.
var Statuses = []string{"draft", "pending_approval", "rejected", "scheduled", "preparing", "running", "paused", "completed", "canceled"}
