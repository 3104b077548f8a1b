package config

import (
	"testing"
	"time"
)

func TestBroadcastSendLease(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true},
		{"45s", 45 * time.Second, true},
		{"2m", 2 * time.Minute, true},
		{"15s", 15 * time.Second, true},
		{"14s", 0, false}, // shorter than a Twilio request may take
		{"5", 0, false},
		{"soon", 0, false},
	} {
		cfg, err := Load(func(k string) string {
			if k == "BROADCAST_SEND_LEASE" {
				return c.in
			}
			return ""
		})
		if (err == nil) != c.ok || cfg.BroadcastSendLease != c.want {
			t.Errorf("BROADCAST_SEND_LEASE=%q: lease %s, err %v; want %s, ok %v", c.in, cfg.BroadcastSendLease, err, c.want, c.ok)
		}
	}
}
