package policy

import (
	"strings"
	"testing"
	"time"
)

func TestConsentAllows(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC) }
	in := func(d int) ConsentState { return ConsentState{OptedIn: true, Method: "staff", At: day(d)} }
	out := func(d int) ConsentState { return ConsentState{OptedIn: false, Method: "keyword", At: day(d)} }
	tests := []struct {
		name    string
		purpose string
		latest  map[string]ConsentState
		ok      bool
		reason  string
	}{
		{"transactional, no record", PurposeTransactional, nil, true, ""},
		{"transactional, empty map", PurposeTransactional, map[string]ConsentState{}, true, ""},
		{"transactional, opted in", PurposeTransactional, map[string]ConsentState{PurposeTransactional: in(1)}, true, ""},
		{"transactional, opted out (STOP)", PurposeTransactional, map[string]ConsentState{PurposeTransactional: out(1), PurposeMarketing: out(1)}, false, SkipOptedOut},
		{"transactional, only marketing opted out", PurposeTransactional, map[string]ConsentState{PurposeMarketing: out(1)}, true, ""},
		{"transactional, marketing opt-in only", PurposeTransactional, map[string]ConsentState{PurposeMarketing: in(1)}, true, ""},

		{"marketing, no record", PurposeMarketing, nil, false, SkipNoMarketingConsent},
		{"marketing, transactional opt-in only", PurposeMarketing, map[string]ConsentState{PurposeTransactional: in(1)}, false, SkipNoMarketingConsent},
		{"marketing, opted in", PurposeMarketing, map[string]ConsentState{PurposeMarketing: in(1)}, true, ""},
		{"marketing, opted in, transactional in", PurposeMarketing, map[string]ConsentState{PurposeTransactional: in(1), PurposeMarketing: in(2)}, true, ""},
		{"marketing, opted out", PurposeMarketing, map[string]ConsentState{PurposeMarketing: out(2)}, false, SkipMarketingOptedOut},
		{"marketing after STOP then START", PurposeMarketing, map[string]ConsentState{PurposeTransactional: in(3), PurposeMarketing: out(2)}, false, SkipMarketingOptedOut},
		// A STOP ends everything, even a marketing opt-in recorded later.
		{"marketing opt-in but STOP", PurposeMarketing, map[string]ConsentState{PurposeTransactional: out(1), PurposeMarketing: in(5)}, false, SkipOptedOut},
		{"marketing opt-out and STOP", PurposeMarketing, map[string]ConsentState{PurposeTransactional: out(1), PurposeMarketing: out(1)}, false, SkipOptedOut},

		{"unknown purpose", "newsletter", nil, false, SkipUnknownPurpose},
		{"empty purpose", "", map[string]ConsentState{PurposeMarketing: in(1)}, false, SkipUnknownPurpose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := ConsentAllows(tt.purpose, tt.latest)
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("ConsentAllows = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestConsentRefusalText(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC) // 09:05 in New York
	tests := []struct {
		name   string
		code   string
		latest map[string]ConsentState
		loc    *time.Location
		want   []string
		not    []string
	}{
		{"STOP keeps its wording", SkipOptedOut, map[string]ConsentState{PurposeTransactional: {Method: "keyword", At: at}}, ny,
			[]string{"This contact opted out on 2 Mar 2026 at 09:05 (they replied STOP), so nothing can be sent to them. They can opt back in by replying START."}, nil},
		{"opt-out in UTC without a zone", SkipOptedOut, map[string]ConsentState{PurposeTransactional: {Method: "keyword", At: at}}, nil,
			[]string{"on 2 Mar 2026 at 14:05"}, nil},
		{"opt-out recorded by staff", SkipOptedOut, map[string]ConsentState{PurposeTransactional: {Method: "staff", At: at}}, ny,
			[]string{"opted out", "recorded by staff"}, []string{"replied STOP"}},
		{"opt-out from an import", SkipOptedOut, map[string]ConsentState{PurposeTransactional: {Method: "import", At: at}}, ny,
			[]string{"from a contact import"}, nil},
		{"opt-out, date unknown", SkipOptedOut, nil, ny, []string{"This contact opted out (they replied STOP)"}, []string{" on "}},
		{"no marketing consent", SkipNoMarketingConsent, nil, ny, []string{"not agreed to promotional messages", "contact page"}, nil},
		{"marketing opt-out dated", SkipMarketingOptedOut, map[string]ConsentState{PurposeMarketing: {Method: "staff", At: at}}, ny,
			[]string{"opted out of promotional messages on 2 Mar 2026 at 09:05", "School business messages still reach them"}, nil},
		{"unknown purpose", SkipUnknownPurpose, nil, nil, []string{"Choose what the message is for"}, nil},
		{"unknown code comes back", "something_new", nil, nil, []string{"something_new"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ConsentRefusalText(tt.code, tt.latest, tt.loc)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("text %q lacks %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("text %q has %q", got, n)
				}
			}
		})
	}
	// Every code has its own text, undated through SkipReasonText.
	seen := map[string]bool{}
	for _, code := range []string{SkipOptedOut, SkipNoMarketingConsent, SkipMarketingOptedOut, SkipUnknownPurpose} {
		txt := SkipReasonText(code)
		if txt == code || seen[txt] || strings.Contains(txt, " on ") && code != SkipNoMarketingConsent {
			t.Errorf("SkipReasonText(%s) = %q", code, txt)
		}
		seen[txt] = true
	}
}
