package twiliosim

import "unicode/utf16"

// gsmBasic is the GSM 03.38 default alphabet (one septet each), without the escape character.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 03.38 extension table (two septets each: escape + char).
const gsmExtension = "\f^{}\\[~]|€"

var gsmBasicSet, gsmExtSet = runeSet(gsmBasic), runeSet(gsmExtension)

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool)
	for _, r := range s {
		m[r] = true
	}
	return m
}

// smsSegments counts the SMS segments of body: GSM-7 (extension characters count double)
// 160 in one segment, 153 per segment when concatenated; otherwise UCS-2 counted in UTF-16
// code units, 70 in one, 67 per concatenated segment. An empty body is one segment.
func smsSegments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case gsmBasicSet[r]:
			septets++
		case gsmExtSet[r]:
			septets += 2
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	if gsm {
		return segmentsOf(septets, 160, 153)
	}
	return segmentsOf(len(utf16.Encode([]rune(body))), 70, 67)
}

func segmentsOf(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
