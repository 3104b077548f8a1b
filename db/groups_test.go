package db_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

// Smart groups' filters select exactly the contacts they describe, with
// every value passed as a parameter (never spliced into the SQL).
func TestGroupSmartFilters(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	type seed struct {
		phone, name, role, lang string
		wa                      bool
		custom                  string
		consent                 string // "", "in", "out" (latest wins)
	}
	seeds := []seed{
		{"+15550100001", "Ana", "guardian", "es", true, `{"class": "7B", "student_name": "Leo"}`, "in"},
		{"+15550100002", "Ben", "guardian", "en", false, `{"class": "7b"}`, "out"},
		{"+15550100003", "Cai", "student", "EN", true, `{"class": "8A"}`, ""},
		{"+15550100004", "Dee", "staff", "", true, `{}`, "in"},
		{"+15550100005", "Eve", "guardian", "es", false, `{"class": 7}`, ""},
	}
	for _, s := range seeds {
		if _, err := d.Pool.Exec(ctx, `INSERT INTO contacts (phone, name, role, language, whatsapp_capable, custom_fields) VALUES ($1, $2, $3, $4, $5, $6)`,
			s.phone, s.name, s.role, s.lang, s.wa, s.custom); err != nil {
			t.Fatal(err)
		}
		switch s.consent {
		case "in":
			// An older opt-out that a newer opt-in overrides.
			mustConsent(t, d, s.phone, false, "2026-01-01")
			mustConsent(t, d, s.phone, true, "2026-02-01")
		case "out":
			mustConsent(t, d, s.phone, true, "2026-01-01")
			mustConsent(t, d, s.phone, false, "2026-02-01")
		}
	}
	// A merged duplicate of Ana matches nothing.
	if _, err := d.Pool.Exec(ctx, `INSERT INTO contacts (phone, name, role, language, merged_into) VALUES ('+15550100001', 'Ana old', 'guardian', 'es', (SELECT id FROM contacts WHERE name = 'Ana'))`); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name   string
		filter db.SmartFilter
		want   []string
	}{
		{"empty matches everyone", db.SmartFilter{}, []string{"Ana", "Ben", "Cai", "Dee", "Eve"}},
		{"role", db.SmartFilter{Role: "guardian"}, []string{"Ana", "Ben", "Eve"}},
		{"language any case", db.SmartFilter{Language: "en"}, []string{"Ben", "Cai"}},
		{"on WhatsApp", db.SmartFilter{WhatsApp: &yes}, []string{"Ana", "Cai", "Dee"}},
		{"SMS only", db.SmartFilter{WhatsApp: &no}, []string{"Ben", "Eve"}},
		{"opted in (latest event)", db.SmartFilter{Consent: "in"}, []string{"Ana", "Dee"}},
		{"opted out (latest event)", db.SmartFilter{Consent: "out"}, []string{"Ben"}},
		{"consent unknown", db.SmartFilter{Consent: "unknown"}, []string{"Cai", "Eve"}},
		{"custom field any case", db.SmartFilter{Field: "class", Value: "7B"}, []string{"Ana", "Ben"}},
		{"custom field number", db.SmartFilter{Field: "class", Value: "7"}, []string{"Eve"}},
		{"combined", db.SmartFilter{Role: "guardian", Field: "class", Value: "7b", WhatsApp: &yes}, []string{"Ana"}},
		{"injection stays a value", db.SmartFilter{Field: "class", Value: "7B' OR '1'='1"}, nil},
		{"injection in the key stays a value", db.SmartFilter{Field: "class') OR true --", Value: "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, args, err := db.SmartFilterSQL(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range args {
				if s, ok := a.(string); ok && s != "" && strings.Contains(cond, s) {
					t.Fatalf("value %q spliced into SQL: %s", s, cond)
				}
			}
			g := db.Group{ID: 1, Kind: "smart", Filter: tt.filter}
			rows, err := d.ListContacts(ctx, db.ContactFilter{Group: &g})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v (SQL: %s %v)", got, tt.want, cond, args)
			}
			n, err := d.CountContacts(ctx, db.ContactFilter{Group: &g})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.want) {
				t.Fatalf("count %d, want %d", n, len(tt.want))
			}
		})
	}
	if _, _, err := db.SmartFilterSQL(db.SmartFilter{Consent: "maybe"}); err == nil {
		t.Fatal("unknown consent state accepted")
	}
}

// A saved group keeps its filter, counts its members and lists the smart
// groups a contact matches next to the static ones it was added to.
func TestGroupMembershipAndCounts(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	var ana, ben int64
	if err := d.Pool.QueryRow(ctx, `INSERT INTO contacts (phone, name, custom_fields) VALUES ('+15550100011', 'Ana', '{"class":"7B"}') RETURNING id`).Scan(&ana); err != nil {
		t.Fatal(err)
	}
	if err := d.Pool.QueryRow(ctx, `INSERT INTO contacts (phone, name) VALUES ('+15550100012', 'Ben') RETURNING id`).Scan(&ben); err != nil {
		t.Fatal(err)
	}
	smart, err := db.CreateGroupTx(ctx, d.Pool, "Class 7B", "smart", db.SmartFilter{Field: "class", Value: "7b"})
	if err != nil {
		t.Fatal(err)
	}
	static, err := db.CreateGroupTx(ctx, d.Pool, "Choir", "static", db.SmartFilter{Role: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if added, err := db.AddGroupMemberTx(ctx, d.Pool, static, ben); err != nil || !added {
		t.Fatalf("add: %v %v", added, err)
	}
	if added, err := db.AddGroupMemberTx(ctx, d.Pool, static, ben); err != nil || added {
		t.Fatalf("second add: %v %v", added, err)
	}
	groups, err := d.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, g := range groups {
		counts[g.Name] = g.Members
		if g.ID == static && !g.Filter.IsEmpty() {
			t.Fatalf("static group kept a filter: %+v", g.Filter)
		}
	}
	if counts["Class 7B"] != 1 || counts["Choir"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	for id, want := range map[int64][]int64{ana: {smart}, ben: {static}} {
		gs, err := d.ContactGroups(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, g := range gs {
			got = append(got, g.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("contact %d groups %v, want %v", id, got, want)
		}
	}
}

func mustConsent(t *testing.T, d *db.DB, phone string, in bool, at string) {
	t.Helper()
	if _, err := d.Pool.Exec(context.Background(), `INSERT INTO consent_events (phone, purpose, opted_in, method, created_at) VALUES ($1, 'transactional', $2, 'keyword', $3::timestamptz)`, phone, in, at); err != nil {
		t.Fatal(err)
	}
}
