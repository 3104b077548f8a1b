package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/policy"
)

// The newest ledger entry per number and purpose is the state, read for
// one number or thousands at once with the same answers.
func TestConsentStates(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	add := func(phone, purpose string, in bool, method string, day int) {
		t.Helper()
		if _, err := d.Pool.Exec(ctx, `INSERT INTO consent_events (phone, purpose, opted_in, method, created_at) VALUES ($1, $2, $3, $4, $5)`,
			phone, purpose, in, method, base.AddDate(0, 0, day)); err != nil {
			t.Fatal(err)
		}
	}
	// STOP then START: transactional back in, marketing still out.
	add("+15550200001", "transactional", false, "keyword", 1)
	add("+15550200001", "marketing", false, "keyword", 1)
	add("+15550200001", "transactional", true, "keyword", 2)
	// Marketing opt-in by staff, an older opt-out before it.
	add("+15550200002", "marketing", false, "import", 1)
	add("+15550200002", "marketing", true, "staff", 3)
	// Two entries at the same moment: the later row wins.
	add("+15550200003", "transactional", true, "staff", 4)
	add("+15550200003", "transactional", false, "staff", 4)
	// +15550200004 has no entry at all.

	phones := []string{"+15550200001", "+15550200002", "+15550200003", "+15550200004", "+15550200001"}
	got, err := d.ConsentStates(ctx, phones)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]db.ConsentState{
		"+15550200001": {
			"transactional": {OptedIn: true, Method: "keyword", At: base.AddDate(0, 0, 2)},
			"marketing":     {OptedIn: false, Method: "keyword", At: base.AddDate(0, 0, 1)},
		},
		"+15550200002": {"marketing": {OptedIn: true, Method: "staff", At: base.AddDate(0, 0, 3)}},
		"+15550200003": {"transactional": {OptedIn: false, Method: "staff", At: base.AddDate(0, 0, 4)}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d numbers, want %d: %+v", len(got), len(want), got)
	}
	for phone, purposes := range want {
		if len(got[phone]) != len(purposes) {
			t.Fatalf("%s: got %+v, want %+v", phone, got[phone], purposes)
		}
		for p, w := range purposes {
			g := got[phone][p]
			if g.OptedIn != w.OptedIn || g.Method != w.Method || !g.At.Equal(w.At) {
				t.Errorf("%s %s: got %+v, want %+v", phone, p, g, w)
			}
		}
		one, err := d.ConsentStateOf(ctx, phone)
		if err != nil || len(one) != len(purposes) {
			t.Fatalf("ConsentStateOf(%s) = %+v, %v", phone, one, err)
		}
	}
	if one, err := d.ConsentStateOf(ctx, "+15550200004"); err != nil || len(one) != 0 {
		t.Fatalf("no entries: %+v, %v", one, err)
	}
	// The states feed the policy as they are.
	cases := []struct {
		phone, purpose, reason string
	}{
		{"+15550200001", policy.PurposeTransactional, ""},
		{"+15550200001", policy.PurposeMarketing, policy.SkipMarketingOptedOut},
		{"+15550200002", policy.PurposeMarketing, ""},
		{"+15550200003", policy.PurposeTransactional, policy.SkipOptedOut},
		{"+15550200004", policy.PurposeTransactional, ""},
		{"+15550200004", policy.PurposeMarketing, policy.SkipNoMarketingConsent},
	}
	for _, c := range cases {
		if _, reason := policy.ConsentAllows(c.purpose, got[c.phone]); reason != c.reason {
			t.Errorf("%s %s: reason %q, want %q", c.phone, c.purpose, reason, c.reason)
		}
	}
	if empty, err := d.ConsentStates(ctx, nil); err != nil || len(empty) != 0 {
		t.Fatalf("no phones: %+v, %v", empty, err)
	}
}

// A broadcast-sized batch is one query and quick.
func TestConsentStatesBatch(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	const n = 3000
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+1555030%04d", i)
	}
	// Every third number has a history of ten entries, ending opted out when i%2 == 1.
	if _, err := d.Pool.Exec(ctx, `INSERT INTO consent_events (phone, purpose, opted_in, method, created_at)
		SELECT p, 'transactional', (k < 10 OR i % 2 = 0), 'import', now() - make_interval(mins => 10 - k)
		FROM unnest($1::text[]) WITH ORDINALITY AS x(p, i), generate_series(1, 10) AS k
		WHERE (i - 1) % 3 = 0`, phones); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := d.ConsentStates(ctx, phones)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(got) != n/3 {
		t.Fatalf("numbers with a state: %d, want %d", len(got), n/3)
	}
	for i, p := range phones {
		st, ok := got[p][policy.PurposeTransactional]
		if (i%3 == 0) != ok {
			t.Fatalf("%s: state present %v", p, ok)
		}
		if ok && st.OptedIn != ((i+1)%2 == 0) {
			t.Fatalf("%s: opted in %v", p, st.OptedIn)
		}
	}
	if took > 5*time.Second {
		t.Fatalf("3,000 numbers took %s", took)
	}
	t.Logf("3,000 numbers in %s", took)
}
