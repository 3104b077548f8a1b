package policy

import (
	"testing"
	"unicode/utf16"
)

// FuzzCountSegments checks CountSegments against the encoding rules on any
// body: GSM-7 exactly when every character is in the GSM alphabet (Trigger
// the first that is not), units counted per encoding, at least one segment
// for a non-empty body and none for an empty one, one segment up to 160/70
// units and 153/67-unit parts beyond (a part losing at most one unit to a
// pair that cannot be split), and never fewer segments after appending a
// character.
func FuzzCountSegments(f *testing.F) {
	for _, s := range []string{"", "Hello", "School closed today’s snow", "€", "{[~]}|^\\\f", "ç", "😀",
		string(make([]byte, 161)), "\xff\xfe", "a\u0301", "Ωμέγα", "Отмена", "مرحبا"} {
		f.Add(s, "a")
		f.Add(s, "€")
		f.Add(s, "😀")
	}
	f.Fuzz(func(t *testing.T, body, tail string) {
		s := CountSegments(body)
		check(t, body, s)
		for _, r := range tail {
			next := body + string(r)
			n := CountSegments(next)
			check(t, next, n)
			if n.Count < s.Count {
				t.Fatalf("appending %q to %q: %d segments, down from %d", r, body, n.Count, s.Count)
			}
			if n.Encoding == s.Encoding && n.Units <= s.Units {
				t.Fatalf("appending %q to %q: %d units, was %d", r, body, n.Units, s.Units)
			}
			body, s = next, n
		}
	})
}

func check(t *testing.T, body string, s Segments) {
	t.Helper()
	gsm, septets := true, 0
	var trigger rune
	for _, r := range body {
		c, ok := gsm7Cost[r]
		if !ok {
			gsm, trigger = false, r
			break
		}
		septets += c
	}
	var units, single, multi int
	if gsm {
		units, single, multi = septets, 160, 153
		if s.Encoding != EncodingGSM7 || s.Trigger != 0 {
			t.Fatalf("%q: %s trigger %q, want GSM-7", body, s.Encoding, s.Trigger)
		}
	} else {
		units, single, multi = len(utf16.Encode([]rune(body))), 70, 67
		if s.Encoding != EncodingUCS2 || s.Trigger != trigger {
			t.Fatalf("%q: %s trigger %q, want UCS-2 triggered by %q", body, s.Encoding, s.Trigger, trigger)
		}
	}
	if s.Units != units {
		t.Fatalf("%q: %d units, want %d", body, s.Units, units)
	}
	switch {
	case body == "":
		if s.Count != 0 || s.Remaining != single || s.PerSegment != single {
			t.Fatalf("empty body: %+v", s)
		}
	case units <= single:
		if s.Count != 1 || s.PerSegment != single || s.Remaining != single-units {
			t.Fatalf("%q (%d units): %+v, want one segment of %d", body, units, s, single)
		}
	default:
		lo, hi := (units+multi-1)/multi, (units+multi-2)/(multi-1)
		if s.PerSegment != multi || s.Count < lo || s.Count > hi || s.Count < 2 {
			t.Fatalf("%q (%d units): %+v, want %d..%d parts of %d", body, units, s, lo, hi, multi)
		}
		if s.Remaining < 0 || s.Remaining >= multi {
			t.Fatalf("%q: remaining %d outside [0,%d)", body, s.Remaining, multi)
		}
	}
}
