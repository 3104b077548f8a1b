package contacts

import (
	"testing"

	"github.com/classline/classline/db"
)

func TestContactsSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"Ana":             "Ana",
		"=cmd()":          "'=cmd()",
		"+SUM(A1)":        "'+SUM(A1)",
		"-2+3":            "'-2+3",
		"@SUM(1)":         "'@SUM(1)",
		"\tx":             "'\tx",
		"\rx":             "'\rx",
		"a=b":             "a=b",
		"José":            "José",
		"'already quoted": "'already quoted",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContactsCursorRoundTrip(t *testing.T) {
	for _, c := range []db.ContactCursor{{SortKey: "", ID: 1}, {SortKey: "ana: o'brien", ID: 42}, {SortKey: "zoë", ID: 9e15}} {
		got := DecodeCursor(EncodeCursor(c))
		if got == nil || *got != c {
			t.Errorf("round trip of %+v gave %+v", c, got)
		}
	}
	for _, bad := range []string{"", "!!", "bm9jb2xvbg", "YWJjOmRlZg"} {
		if got := DecodeCursor(bad); got != nil {
			t.Errorf("DecodeCursor(%q) = %+v, want nil", bad, got)
		}
	}
}

func TestContactsGroupFilterValidation(t *testing.T) {
	tests := []struct {
		name    string
		in      GroupInput
		errKey  string
		wantSet func(db.SmartFilter) bool
	}{
		{"class equals", GroupInput{Kind: "smart", Field: "class", Value: " 7B "}, "", func(f db.SmartFilter) bool { return f.Field == "class" && f.Value == "7B" }},
		{"unknown field", GroupInput{Kind: "smart", Field: "password", Value: "x"}, "filter_field", nil},
		{"field without value", GroupInput{Kind: "smart", Field: "class"}, "filter_value", nil},
		{"bad role", GroupInput{Kind: "smart", Role: "admin"}, "filter_role", nil},
		{"empty smart group", GroupInput{Kind: "smart"}, "filter_role", nil},
		{"whatsapp no", GroupInput{Kind: "smart", WhatsApp: "no"}, "", func(f db.SmartFilter) bool { return f.WhatsApp != nil && !*f.WhatsApp }},
		{"consent", GroupInput{Kind: "smart", Consent: "sometimes"}, "filter_consent", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := FieldErrors{}
			f := tt.in.Filter(errs)
			if tt.errKey == "" && len(errs) > 0 {
				t.Fatalf("unexpected errors %v", errs)
			}
			if tt.errKey != "" && errs[tt.errKey] == "" {
				t.Fatalf("want error on %s, got %v", tt.errKey, errs)
			}
			if tt.wantSet != nil && !tt.wantSet(f) {
				t.Fatalf("filter %+v", f)
			}
		})
	}
}
