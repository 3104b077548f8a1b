package policy

import (
	"testing"
	"time"
)

func TestWhatsAppWindow(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		name        string
		lastInbound *time.Time
		wantOpen    bool
		wantLeft    time.Duration
	}{
		{"never wrote", nil, false, 0},
		{"just wrote", at(0), true, 24 * time.Hour},
		{"one hour ago", at(time.Hour), true, 23 * time.Hour},
		{"23h59m59s ago", at(24*time.Hour - time.Second), true, time.Second},
		{"1ns before closing", at(24*time.Hour - time.Nanosecond), true, time.Nanosecond},
		{"exactly 24h ago", at(24 * time.Hour), false, 0},
		{"1ns after closing", at(24*time.Hour + time.Nanosecond), false, 0},
		{"a week ago", at(7 * 24 * time.Hour), false, 0},
		{"in the future (clock skew)", at(-time.Hour), true, 25 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := WhatsAppWindow(tt.lastInbound, now)
			if w.Open != tt.wantOpen || w.Remaining != tt.wantLeft {
				t.Errorf("WhatsAppWindow = {Open:%v Remaining:%v}, want {Open:%v Remaining:%v}",
					w.Open, w.Remaining, tt.wantOpen, tt.wantLeft)
			}
			var wantCloses time.Time
			if tt.lastInbound != nil {
				wantCloses = tt.lastInbound.Add(24 * time.Hour)
			}
			if !w.ClosesAt.Equal(wantCloses) {
				t.Errorf("ClosesAt = %v, want %v", w.ClosesAt, wantCloses)
			}
		})
	}
}

func TestWhatsAppWindowIgnoresTimeZones(t *testing.T) {
	// The same instants expressed in different zones must give the same answer.
	last := time.Date(2026, 3, 10, 9, 0, 0, 0, time.FixedZone("GMT+4", 4*3600)) // 05:00 UTC
	now := time.Date(2026, 3, 11, 4, 30, 0, 0, time.FixedZone("GMT-1", -3600))  // 05:30 UTC next day
	w := WhatsAppWindow(&last, now)
	if w.Open {
		t.Errorf("window open 24h30m after last inbound: %+v", w)
	}
	now = now.Add(-time.Hour) // 04:30 UTC: 23h30m after
	w = WhatsAppWindow(&last, now)
	if !w.Open || w.Remaining != 30*time.Minute {
		t.Errorf("got %+v, want open with 30m left", w)
	}
}

func TestCanSendFreeform(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	recent := now.Add(-time.Hour)
	stale := now.Add(-25 * time.Hour)
	edge := now.Add(-24 * time.Hour)
	tests := []struct {
		channel     string
		lastInbound *time.Time
		want        bool
	}{
		{ChannelSMS, nil, true},
		{ChannelSMS, &stale, true},
		{ChannelSMS, &recent, true},
		{ChannelWhatsApp, nil, false},
		{ChannelWhatsApp, &recent, true},
		{ChannelWhatsApp, &stale, false},
		{ChannelWhatsApp, &edge, false},
		{"", &recent, false},
		{"WhatsApp", &recent, false}, // channels are exact constants
		{"email", nil, false},
	}
	for _, tt := range tests {
		if got := CanSendFreeform(tt.channel, tt.lastInbound, now); got != tt.want {
			t.Errorf("CanSendFreeform(%q, %v) = %v, want %v", tt.channel, tt.lastInbound, got, tt.want)
		}
	}
}
