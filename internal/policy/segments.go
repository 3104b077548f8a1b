package policy

import "unicode/utf16"

// SMS encodings.
const (
	EncodingGSM7 = "GSM-7"
	EncodingUCS2 = "UCS-2"
)

// Segment sizes. A concatenated (multi-part) message loses room in every
// part to the 6-byte user data header that tells the phone how to reassemble
// it: 160 septets become 153, 70 UTF-16 units become 67.
const (
	gsm7Single = 160
	gsm7Multi  = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// Segments describes how an SMS body will be split and billed.
type Segments struct {
	Encoding   string // EncodingGSM7 or EncodingUCS2
	Units      int    // septets for GSM-7, UTF-16 code units for UCS-2
	Count      int    // number of segments (billed messages); 0 for an empty body
	PerSegment int    // capacity of each segment in Units
	Remaining  int    // Units still free in the last segment
	// Trigger is the first character that forced UCS-2 (0 for GSM-7), so
	// the composer can point at the curly quote that tripled the cost.
	Trigger rune
}

// gsm7Basic is the GSM 03.38 (3GPP TS 23.038) default alphabet, one septet
// each. Note that only capital Ç is in it: ç forces UCS-2.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Ext is the default extension table: each is sent as ESC + char, so it
// costs two septets, and the pair must stay in one segment.
const gsm7Ext = "\f^{}\\[~]|€"

var gsm7Cost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsm7Basic {
		m[r] = 1
	}
	for _, r := range gsm7Ext {
		m[r] = 2
	}
	return m
}()

// CountSegments works out how an SMS body will be encoded and split, so the
// composer can show "2 messages, 141 characters left" before a school sends
// to hundreds of parents and pays per segment.
//
// A body made only of GSM-7 characters is sent as GSM-7 (160 septets in one
// segment, 153 per part when split); a single character outside it (an emoji,
// a curly quote ’ pasted from Word, ç, Cyrillic...) switches the whole body to
// UCS-2 (70, or 67 per part), counted in UTF-16 code units so that an emoji
// outside the Basic Multilingual Plane costs 2.
//
// Units are packed greedily, and a unit pair that would straddle a boundary
// (a GSM extension character's ESC + char, or a UTF-16 surrogate pair) moves
// whole to the next segment, as real encoders do; so the count can be higher
// than Units divided by PerSegment.
//
// The count is for the body as written. Twilio's optional Smart Encoding can
// replace some Unicode characters with GSM ones; this function does not
// assume it.
func CountSegments(body string) Segments {
	costs := make([]int, 0, len(body))
	gsm := true
	var trigger rune
	for _, r := range body {
		c, ok := gsm7Cost[r]
		if !ok {
			gsm, trigger = false, r
			break
		}
		costs = append(costs, c)
	}
	enc, single, multi := EncodingGSM7, gsm7Single, gsm7Multi
	if !gsm {
		enc, single, multi = EncodingUCS2, ucs2Single, ucs2Multi
		costs = costs[:0]
		for _, r := range body {
			n := utf16.RuneLen(r)
			if n < 1 { // invalid rune: sent as U+FFFD, one unit
				n = 1
			}
			costs = append(costs, n)
		}
	}

	units := 0
	for _, c := range costs {
		units += c
	}
	switch {
	case units == 0:
		return Segments{Encoding: enc, PerSegment: single, Remaining: single, Trigger: trigger}
	case units <= single:
		return Segments{Encoding: enc, Units: units, Count: 1, PerSegment: single, Remaining: single - units, Trigger: trigger}
	}
	count, used := 1, 0
	for _, c := range costs {
		if used+c > multi {
			count++
			used = 0
		}
		used += c
	}
	return Segments{Encoding: enc, Units: units, Count: count, PerSegment: multi, Remaining: multi - used, Trigger: trigger}
}
