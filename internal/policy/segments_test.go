package policy

import (
	"strings"
	"testing"
)

func TestCountSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("ж", n) } // Cyrillic: UCS-2, 1 unit
	const emoji = "😀"                                          // outside the BMP: 2 UTF-16 units

	tests := []struct {
		name string
		body string
		want Segments
	}{
		{"empty", "", Segments{"GSM-7", 0, 0, 160, 160, 0}},
		{"one char", "a", Segments{"GSM-7", 1, 1, 160, 159, 0}},
		{"plain sentence", "School closes at 1pm today.", Segments{"GSM-7", 27, 1, 160, 133, 0}},

		// GSM-7 boundaries.
		{"GSM 159", a(159), Segments{"GSM-7", 159, 1, 160, 1, 0}},
		{"GSM 160 fits one", a(160), Segments{"GSM-7", 160, 1, 160, 0, 0}},
		{"GSM 161 splits", a(161), Segments{"GSM-7", 161, 2, 153, 145, 0}},
		{"GSM 153*2 fills two", a(306), Segments{"GSM-7", 306, 2, 153, 0, 0}},
		{"GSM 153*2+1 needs three", a(307), Segments{"GSM-7", 307, 3, 153, 152, 0}},
		{"GSM 153*3", a(459), Segments{"GSM-7", 459, 3, 153, 0, 0}},

		// Every GSM-7 basic character costs 1.
		{"GSM basic table", "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
			Segments{"GSM-7", 127, 1, 160, 33, 0}},
		// Extension characters cost 2.
		{"GSM extension table", "^{}\\[~]|€\f", Segments{"GSM-7", 20, 1, 160, 140, 0}},
		{"euro price", "Trip costs €15", Segments{"GSM-7", 15, 1, 160, 145, 0}},
		{"158 + € fills one", a(158) + "€", Segments{"GSM-7", 160, 1, 160, 0, 0}},
		{"159 + € splits", a(159) + "€", Segments{"GSM-7", 161, 2, 153, 145, 0}},
		// An extension character whose ESC would be the last septet of a
		// part moves whole to the next part.
		{"€ straddling first boundary", a(152) + "€" + a(10), Segments{"GSM-7", 164, 2, 153, 141, 0}},
		{"€ exactly ending first part", a(151) + "€" + a(10), Segments{"GSM-7", 163, 2, 153, 143, 0}},
		{"€ straddle forces a third part", a(152) + "€" + a(152), Segments{"GSM-7", 306, 3, 153, 152, 0}},
		{"[ straddle at second boundary", a(153) + a(152) + "[" + "b", Segments{"GSM-7", 308, 3, 153, 150, 0}},

		// UCS-2 boundaries.
		{"UCS-2 one char", "ж", Segments{"UCS-2", 1, 1, 70, 69, 0}},
		{"UCS-2 70 fits one", zh(70), Segments{"UCS-2", 70, 1, 70, 0, 0}},
		{"UCS-2 71 splits", zh(71), Segments{"UCS-2", 71, 2, 67, 63, 0}},
		{"UCS-2 67*2", zh(134), Segments{"UCS-2", 134, 2, 67, 0, 0}},
		{"UCS-2 67*2+1", zh(135), Segments{"UCS-2", 135, 3, 67, 66, 0}},
		// One non-GSM character turns the whole body into UCS-2.
		{"159 GSM + 1 Cyrillic", a(159) + "ж", Segments{"UCS-2", 160, 3, 67, 41, 0}},
		{"curly apostrophe", "It’s sports day", Segments{"UCS-2", 15, 1, 70, 55, 0}},
		{"lowercase ç is not GSM", "Français", Segments{"UCS-2", 8, 1, 70, 62, 0}},
		{"tab is not GSM", "a\tb", Segments{"UCS-2", 3, 1, 70, 67, 0}},
		{"backtick is not GSM", "`", Segments{"UCS-2", 1, 1, 70, 69, 0}},
		// In UCS-2, extension characters are ordinary 1-unit characters.
		{"€ in UCS-2 costs 1", "ж€", Segments{"UCS-2", 2, 1, 70, 68, 0}},

		// Emoji: 2 UTF-16 units, never split.
		{"single emoji", emoji, Segments{"UCS-2", 2, 1, 70, 68, 0}},
		{"68 + emoji fills one", zh(68) + emoji, Segments{"UCS-2", 70, 1, 70, 0, 0}},
		{"69 + emoji splits", zh(69) + emoji, Segments{"UCS-2", 71, 2, 67, 63, 0}},
		{"emoji straddling 67 boundary", zh(66) + emoji + zh(5), Segments{"UCS-2", 73, 2, 67, 60, 0}},
		{"emoji ending first part", zh(65) + emoji + zh(5), Segments{"UCS-2", 72, 2, 67, 62, 0}},
		{"emoji straddle forces a third part", zh(66) + emoji + zh(66), Segments{"UCS-2", 134, 3, 67, 66, 0}},
		{"emoji in GSM text", a(60) + emoji + a(9), Segments{"UCS-2", 71, 2, 67, 63, 0}},
		// A flag is two regional indicators, 4 units; only surrogate pairs
		// are kept together, so it may span parts (as carriers do).
		{"flag", "🇬🇧", Segments{"UCS-2", 4, 1, 70, 66, 0}},
		{"BMP symbol", "✓", Segments{"UCS-2", 1, 1, 70, 69, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CountSegments(tt.body)
			got.Trigger = 0 // checked in TestCountSegmentsTrigger
			if got != tt.want {
				t.Errorf("CountSegments = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The first character outside GSM-7 is reported, so staff can see why a
// message costs more.
func TestCountSegmentsTrigger(t *testing.T) {
	for body, want := range map[string]rune{
		"":                             0,
		"Plain text, €5 and ÇA":        0,
		"Don’t forget":                 '’',
		"Garçon, then 😀":               'ç',
		"Meeting 😀 at 5":               '😀',
		strings.Repeat("a", 200) + "ж": 'ж',
	} {
		if got := CountSegments(body).Trigger; got != want {
			t.Errorf("CountSegments(%q).Trigger = %q, want %q", body, got, want)
		}
	}
}

func TestCountSegmentsInvalidUTF8(t *testing.T) {
	// An invalid byte is sent as U+FFFD: UCS-2, one unit.
	got := CountSegments("ok\xff")
	want := Segments{"UCS-2", 3, 1, 70, 67, 0xFFFD} // the replacement character is what forced UCS-2
	if got != want {
		t.Errorf("CountSegments(invalid) = %+v, want %+v", got, want)
	}
}

func TestCountSegmentsConsistency(t *testing.T) {
	// For every length up to 5 parts, the segments must hold the units, and
	// Remaining must be what is left of the last segment's capacity.
	for _, unit := range []string{"a", "€", "ж", "😀"} {
		for n := 1; n <= 400; n++ {
			s := CountSegments(strings.Repeat(unit, n))
			if s.Count < 1 || s.Remaining < 0 || s.Remaining >= s.PerSegment && s.Count > 1 {
				t.Fatalf("%q x %d: implausible %+v", unit, n, s)
			}
			if s.Count*s.PerSegment < s.Units {
				t.Fatalf("%q x %d: %d segments of %d cannot hold %d units", unit, n, s.Count, s.PerSegment, s.Units)
			}
			if s.Count == 1 && s.Remaining != s.PerSegment-s.Units {
				t.Fatalf("%q x %d: single segment Remaining %d, want %d", unit, n, s.Remaining, s.PerSegment-s.Units)
			}
		}
	}
}
