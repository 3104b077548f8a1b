package policy

import (
	"errors"
	"regexp"
	"testing"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// FuzzNormalizePhone: whatever is typed, NormalizePhone gives an E.164
// number or an ErrInvalidPhone with a message; its output is a fixed point
// (normalising it again, in any region, with or without a "whatsapp:"
// prefix, gives it back), and it round-trips through Address/ParseAddress.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []struct{ in, region string }{
		{"(555) 123-4567", "US"}, {"+44 7700 900123", ""}, {"00 44 7700 900123", "US"},
		{"whatsapp:+14155550123", "GB"}, {"tel:+33612345678", "fr"}, {"07700 900123", "GB"},
		{"011 44 20 7946 0958", "US"}, {"+1 555 123 4567 ext. 12", "US"}, {"1-800-FLOWERS", "US"},
		{"+39 06 6982 1234", "IT"}, {"", "US"}, {"++1", "ZZ"}, {"0000000", "AU"}, {"+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "EG"},
	} {
		f.Add(s.in, s.region)
	}
	f.Fuzz(func(t *testing.T, in, region string) {
		out, err := NormalizePhone(in, region)
		if err != nil {
			if out != "" || !errors.Is(err, ErrInvalidPhone) || err.Error() == "" {
				t.Fatalf("NormalizePhone(%q, %q) = %q, %v: want \"\" and an ErrInvalidPhone with a message", in, region, out, err)
			}
			return
		}
		if !e164.MatchString(out) {
			t.Fatalf("NormalizePhone(%q, %q) = %q: not E.164", in, region, out)
		}
		for _, r := range []string{region, "", "US", "GB"} {
			for _, again := range []string{out, "whatsapp:" + out} {
				if got, err := NormalizePhone(again, r); got != out || err != nil {
					t.Fatalf("NormalizePhone(%q, %q) = %q from %q; again in %q: %q, %v", in, region, out, in, r, got, err)
				}
			}
		}
		if ch, n := ParseAddress(Address(ChannelWhatsApp, out)); ch != ChannelWhatsApp || n != out {
			t.Fatalf("ParseAddress(Address(whatsapp, %q)) = %q, %q", out, ch, n)
		}
		if ch, n := ParseAddress(Address(ChannelSMS, out)); ch != ChannelSMS || n != out {
			t.Fatalf("ParseAddress(Address(sms, %q)) = %q, %q", out, ch, n)
		}
	})
}
