package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhoneAccepts(t *testing.T) {
	tests := []struct {
		name, input, region, want string
	}{
		// United States / NANP, including the fictional numbers the demo uses.
		{"US parenthesised 555", "(555) 123-4567", "US", "+15551234567"},
		{"US international 555", "+1 555 123 4567", "US", "+15551234567"},
		{"US leading 1", "1 555 123 4567", "US", "+15551234567"},
		{"US dots", "555.123.4567", "US", "+15551234567"},
		{"US 555-01xx fictional", "(201) 555-0123", "US", "+12015550123"},
		{"US 555-0199", "202-555-0199", "US", "+12025550199"},
		{"US 011 exit code", "011 44 20 7946 0958", "US", "+442079460958"},
		{"US region, 00 international prefix", "00 44 20 7946 0958", "US", "+442079460958"},
		{"US tel URI", "tel:+1-201-555-0123", "US", "+12015550123"},
		{"lowercase region", "(555) 123-4567", "us", "+15551234567"},
		{"surrounding whitespace", "  +1 555 123 4567\t", "US", "+15551234567"},
		{"no-break spaces", "+1\u00a0555\u00a0123\u00a04567", "US", "+15551234567"},
		// United Kingdom.
		{"GB national mobile", "07700 900123", "GB", "+447700900123"},
		{"GB international", "+44 7700 900123", "GB", "+447700900123"},
		{"GB with trunk 0 kept", "+44 (0)20 7946 0958", "GB", "+442079460958"},
		{"GB 00 prefix", "00 44 20 7946 0958", "GB", "+442079460958"},
		{"GB London landline", "020 7946 0958", "GB", "+442079460958"},
		{"whatsapp address", "whatsapp:+447700900123", "US", "+447700900123"},
		{"WhatsApp address any case", "WhatsApp:+44 7700 900123", "US", "+447700900123"},
		// Germany.
		{"DE national", "030 1234567", "DE", "+49301234567"},
		{"DE mobile international", "+49 151 23456789", "US", "+4915123456789"},
		// France.
		{"FR national mobile", "06 12 34 56 78", "FR", "+33612345678"},
		{"FR from elsewhere", "+33 6 12 34 56 78", "GB", "+33612345678"},
		// India.
		{"IN national mobile", "98765 43210", "IN", "+919876543210"},
		{"IN international", "+91 98765-43210", "US", "+919876543210"},
		// Brazil.
		{"BR São Paulo mobile", "(11) 91234-5678", "BR", "+5511912345678"},
		{"BR international", "+55 11 91234 5678", "US", "+5511912345678"},
		// Nigeria.
		{"NG national mobile", "0803 123 4567", "NG", "+2348031234567"},
		{"NG international", "+234 803 123 4567", "GB", "+2348031234567"},
		// Australia.
		{"AU national mobile", "0412 345 678", "AU", "+61412345678"},
		{"AU 0011 exit code", "0011 44 20 7946 0958", "AU", "+442079460958"},
		// Spain.
		{"ES national mobile", "612 34 56 78", "ES", "+34612345678"},
		{"ES international", "+34 612 345 678", "US", "+34612345678"},
		// United Arab Emirates.
		{"AE national mobile", "050 123 4567", "AE", "+971501234567"},
		{"AE international", "+971 50 123 4567", "US", "+971501234567"},
		// International numbers need no region at all.
		{"empty region with plus", "+447700900123", "", "+447700900123"},
		{"empty region with 00", "0044 7700 900123", "", "+447700900123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.input, tt.region)
			if err != nil {
				t.Fatalf("NormalizePhone(%q, %q) error: %v", tt.input, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("NormalizePhone(%q, %q) = %q, want %q", tt.input, tt.region, got, tt.want)
			}
		})
	}
}

func TestNormalizePhoneRejects(t *testing.T) {
	tests := []struct {
		name, input, region string
		wantMsg             string // a phrase the secretary-facing message must contain
	}{
		{"empty", "", "US", "Enter a phone number"},
		{"only spaces", "   ", "US", "Enter a phone number"},
		{"empty whatsapp address", "whatsapp:", "US", "Enter a phone number"},
		{"a word", "hello", "US", "check for letters"},
		{"letters and digits", "abc123", "US", "check for letters"},
		{"letter O for zero", "O7700 900123", "GB", "check for letters"},
		{"vanity number", "1-800-FLOWERS", "US", "check for letters"},
		{"a name in the box", "Mrs Smith", "GB", "check for letters"},
		{"punctuation only", "---", "US", "doesn't look like a phone number"},
		{"plus only", "+", "US", "doesn't look like a phone number"},
		{"too short", "12", "US", "too short"},
		{"too short GB", "+44 1234", "GB", "too short"},
		{"US missing area code", "123-4567", "US", "include the area code"},
		{"US 555-0100 without area code", "555-0100", "US", "include the area code"},
		{"too long", "+44 7700 9001 2312 34", "GB", "too long"},
		{"too long US", "(555) 123-45678", "US", "too long"},
		{"unknown country code", "+999 1234567", "US", "country code"},
		{"national number without region", "07700 900123", "", "country code"},
		{"extension", "+1 555 123 4567 ext 12", "US", "extension"},
		{"extension with x", "(555) 123-4567 x12", "US", "extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.input, tt.region)
			if err == nil {
				t.Fatalf("NormalizePhone(%q, %q) = %q, want an error", tt.input, tt.region, got)
			}
			if got != "" {
				t.Errorf("NormalizePhone(%q, %q) returned %q alongside an error", tt.input, tt.region, got)
			}
			if !errors.Is(err, ErrInvalidPhone) {
				t.Errorf("error %v does not wrap ErrInvalidPhone", err)
			}
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *PhoneError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			// Readable by a secretary: a whole sentence with an example
			// number, and none of the library's jargon.
			if !strings.Contains(msg, "e.g. +") || !strings.HasSuffix(msg, ".") {
				t.Errorf("message %q lacks an example number or full stop", msg)
			}
			for _, jargon := range []string{"NSN", "IDD", "E.164", "invalid phone number", "string supplied"} {
				if strings.Contains(msg, jargon) {
					t.Errorf("message %q contains jargon %q", msg, jargon)
				}
			}
		})
	}
}

func TestNormalizePhoneExampleMatchesRegion(t *testing.T) {
	tests := []struct{ region, example string }{
		{"US", "+1 201-555-0123"},
		{"GB", "+44 7400 123456"},
		{"", "+44 7700 900123"},   // no region: fixed fallback
		{"XX", "+44 7700 900123"}, // unknown region: fixed fallback
	}
	for _, tt := range tests {
		_, err := NormalizePhone("", tt.region)
		if err == nil || !strings.Contains(err.Error(), tt.example) {
			t.Errorf("region %q: error %v should show example %q", tt.region, err, tt.example)
		}
	}
}

func TestNormalizePhoneIsIdempotent(t *testing.T) {
	for _, in := range []string{"+15551234567", "+447700900123", "+5511912345678", "+971501234567"} {
		for _, region := range []string{"US", "GB", "BR", ""} {
			got, err := NormalizePhone(in, region)
			if err != nil || got != in {
				t.Errorf("NormalizePhone(%q, %q) = %q, %v; want it unchanged", in, region, got, err)
			}
		}
	}
}

func TestAddress(t *testing.T) {
	tests := []struct{ channel, in, want string }{
		{ChannelWhatsApp, "+447700900123", "whatsapp:+447700900123"},
		{ChannelSMS, "+447700900123", "+447700900123"},
		{ChannelWhatsApp, "whatsapp:+447700900123", "whatsapp:+447700900123"}, // not doubled
		{ChannelSMS, "whatsapp:+447700900123", "+447700900123"},               // prefix dropped for SMS
		{ChannelWhatsApp, " +15551234567 ", "whatsapp:+15551234567"},
		{"", "+15551234567", "+15551234567"},
	}
	for _, tt := range tests {
		if got := Address(tt.channel, tt.in); got != tt.want {
			t.Errorf("Address(%q, %q) = %q, want %q", tt.channel, tt.in, got, tt.want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct{ in, channel, e164 string }{
		{"whatsapp:+447700900123", ChannelWhatsApp, "+447700900123"},
		{"WHATSAPP:+447700900123", ChannelWhatsApp, "+447700900123"},
		{" whatsapp: +15551234567 ", ChannelWhatsApp, "+15551234567"},
		{"+15551234567", ChannelSMS, "+15551234567"},
		{" +15551234567\n", ChannelSMS, "+15551234567"},
		{"", ChannelSMS, ""},
		{"whatsapp", ChannelSMS, "whatsapp"}, // no colon: not a WhatsApp address
	}
	for _, tt := range tests {
		ch, n := ParseAddress(tt.in)
		if ch != tt.channel || n != tt.e164 {
			t.Errorf("ParseAddress(%q) = (%q, %q), want (%q, %q)", tt.in, ch, n, tt.channel, tt.e164)
		}
	}
}

func TestAddressRoundTrip(t *testing.T) {
	for _, ch := range []string{ChannelWhatsApp, ChannelSMS} {
		for _, n := range []string{"+15551234567", "+447700900123", "+919876543210"} {
			gotCh, gotN := ParseAddress(Address(ch, n))
			if gotCh != ch || gotN != n {
				t.Errorf("ParseAddress(Address(%q, %q)) = (%q, %q)", ch, n, gotCh, gotN)
			}
		}
	}
}

func TestFormatPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+447700900123", "+44 7700 900123"},
		{"+15551234567", "+1 555-123-4567"},
		{"+12015550123", "+1 201-555-0123"},
		{"+33612345678", "+33 6 12 34 56 78"},
		{"+4915123456789", "+49 1512 3456789"},
		{"+919876543210", "+91 98765 43210"},
		{"+5511912345678", "+55 11 91234-5678"},
		{"+2348031234567", "+234 803 123 4567"},
		{"+61412345678", "+61 412 345 678"},
		{"+34612345678", "+34 612 34 56 78"},
		{"+971501234567", "+971 50 123 4567"},
		{"whatsapp:+447700900123", "+44 7700 900123"},
		// Fallbacks: returned exactly as given.
		{"", ""},
		{"not a number", "not a number"},
		{"07700 900123", "07700 900123"}, // national format: country unknown
		{"+999123", "+999123"},
	}
	for _, tt := range tests {
		if got := FormatPhone(tt.in); got != tt.want {
			t.Errorf("FormatPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
