package dashboard

import (
	"github.com/classline/classline/db"
)

// Stage folds a status from db.BroadcastCounts (a recipient row's own state,
// or for submitted rows its message's Twilio status) into the stages the
// report shows. db's recipientStageSQL folds the same way, so the funnel and
// the recipients table filtered by a stage always agree.
func Stage(status string) string {
	switch status {
	case "accepted", "scheduled":
		return "queued"
	case "partially_delivered":
		return "delivered"
	}
	return status
}

// StageInfo names a stage for people.
type StageInfo struct {
	Key, Label, Hint string
}

// funnelStages are always shown, in this order: the way to the phone, then
// the ways a message can end without reaching it.
var funnelStages = []StageInfo{
	{"queued", "Queued", "Accepted by Twilio, not yet handed on."},
	{"sent", "Sent", "Handed to the carrier or WhatsApp; no delivery report yet."},
	{"delivered", "Delivered", "On the phone (SMS has no read receipts, so delivered is as far as SMS goes)."},
	{"read", "Read", "Opened on WhatsApp."},
	{"failed", "Failed", "Twilio refused it or could not send it."},
	{"undelivered", "Undelivered", "The carrier or WhatsApp could not deliver it."},
	{"skipped", "Skipped", "Not sent: no consent, a bad or duplicate number, no channel (reasons below)."},
}

// otherStages are shown only when some recipient is there.
var otherStages = []StageInfo{
	{"pending", "Not sent yet", "Waiting for its turn (rate limits, quiet hours or a pause)."},
	{"sending", "Being sent", "Twilio is being asked right now."},
	{"canceled", "Canceled", "The broadcast was canceled before it reached them."},
}

// StageLabel is a stage's name for people; an unknown stage is shown as it is.
func StageLabel(stage string) string {
	for _, s := range append(append([]StageInfo{}, funnelStages...), otherStages...) {
		if s.Key == stage {
			return s.Label
		}
	}
	return stage
}

// FilterStages are the stages the recipients table can be filtered by.
func FilterStages() []StageInfo {
	return append(append([]StageInfo{}, funnelStages...), otherStages...)
}

// ValidStage reports whether a filter value is a stage ("" = all is valid).
func ValidStage(stage string) bool {
	if stage == "" {
		return true
	}
	for _, s := range FilterStages() {
		if s.Key == stage {
			return true
		}
	}
	return false
}

// StageCount is one bar of the funnel.
type StageCount struct {
	StageInfo
	N       int
	Percent string  // of the part's total
	Share   float64 // 0..100, the bar's length
}

// FunnelPart is the funnel of the first sends or of the SMS fallbacks.
type FunnelPart struct {
	Total  int
	Stages []StageCount
	// Reached is how many got it on their phone: delivered or read.
	Reached int
}

// Funnel is where every recipient's message is now. Stages are exclusive
// (each recipient is counted once, at the stage its message reached last),
// so the bars add up to the total. Fallback SMS are counted apart: a
// recipient whose WhatsApp message failed and whose SMS was delivered is a
// failure above and a delivery below.
type Funnel struct {
	Main, Fallback FunnelPart
}

// BuildFunnel turns db.BroadcastCounts' rows into the funnel.
func BuildFunnel(counts []db.BroadcastCount) Funnel {
	main, fb := map[string]int{}, map[string]int{}
	var order []string // unknown stages, in the order met
	for _, c := range counts {
		st := Stage(c.Status)
		if !ValidStage(st) && main[st] == 0 && fb[st] == 0 {
			order = append(order, st)
		}
		if c.Fallback {
			fb[st] += c.N
		} else {
			main[st] += c.N
		}
	}
	return Funnel{Main: part(main, false, order), Fallback: part(fb, true, order)}
}

func part(n map[string]int, fallback bool, unknown []string) FunnelPart {
	var p FunnelPart
	for _, v := range n {
		p.Total += v
	}
	p.Reached = n["delivered"] + n["read"]
	add := func(s StageInfo) {
		p.Stages = append(p.Stages, StageCount{StageInfo: s, N: n[s.Key], Percent: Percent(n[s.Key], p.Total), Share: share(n[s.Key], p.Total)})
	}
	for _, s := range funnelStages {
		if fallback && s.Key == "skipped" && n[s.Key] == 0 {
			continue // fallbacks are made for sendable numbers only
		}
		add(s)
	}
	for _, s := range otherStages {
		if n[s.Key] > 0 {
			add(s)
		}
	}
	for _, k := range unknown {
		if n[k] > 0 {
			add(StageInfo{Key: k, Label: k})
		}
	}
	return p
}
