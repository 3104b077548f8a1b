package policy

import "testing"

func TestMMSReachable(t *testing.T) {
	for _, tc := range []struct {
		phone string
		want  bool
	}{
		{"+14155550100", true},            // US
		{"+12125551234", true},            // US
		{"+18005550199", true},            // US toll-free
		{"+16135550123", true},            // Canada
		{"+16045550199", true},            // Canada
		{"+15550100101", true},            // fictional 555: +1 without a country, taken as US
		{"whatsapp:+14155550100", true},   // an address is read as its number
		{"+18765551234", false},           // Jamaica
		{"+12423570000", false},           // Bahamas
		{"+17875551234", false},           // Puerto Rico: a region of its own in the numbering plan
		{"+447700900123", false},          // United Kingdom
		{"+4915123456789", false},         // Germany
		{"+1", false},                     // not a number
		{"", false},                       //
		{"0044 7700 900123", false},       // not E.164
		{"+1 not a number at all", false}, //
	} {
		if got := MMSReachable(tc.phone); got != tc.want {
			t.Errorf("MMSReachable(%q) = %v, want %v", tc.phone, got, tc.want)
		}
	}
}
