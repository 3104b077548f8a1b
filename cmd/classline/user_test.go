package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// `classline user add` creates a staff member in departments who can then
// sign in and see those departments only; bad input is refused clearly.
func TestUserAddCommand(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	env := map[string]string{"DATABASE_URL": ta.cfg.DatabaseURL, "CLASSLINE_VAR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	args := []string{"add", "--email", "Ana@School.example", "--name", "Ana Ruiz", "--role", "staff", "--department", "admissions", "--password-stdin"}
	if err := userAdd(ctx, args, strings.NewReader("correct horse battery\n"), getenv); err != nil {
		t.Fatalf("user add: %v", err)
	}
	u, err := ta.db.UserByEmail(ctx, "ana@school.example")
	if err != nil {
		t.Fatal(err)
	}
	admissions, err := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "staff" || u.Name != "Ana Ruiz" || len(u.DepartmentIDs) != 1 || u.DepartmentIDs[0] != admissions {
		t.Fatalf("created %+v", u)
	}
	var audited int
	if err := ta.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'user.create'`).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("audit rows %d (%v), want 1", audited, err)
	}
	c := ta.login("ana@school.example", "correct horse battery")
	// The admissions WhatsApp sender is hers; finance's is not.
	body, status := ta.get(c, "/compose")
	if status != http.StatusOK || !strings.Contains(body, "+1 415-555-0100") || strings.Contains(body, "+1 415-555-0102") {
		t.Fatalf("composer (%d) offers the wrong senders", status)
	}

	for name, tc := range map[string]struct {
		args  []string
		stdin string
		want  string
	}{
		"duplicate email":    {args, "another long password\n", "already in use"},
		"short password":     {[]string{"add", "--email", "b@school.example", "--name", "B", "--password-stdin"}, "short\n", "at least"},
		"bad role":           {[]string{"add", "--email", "c@school.example", "--name", "C", "--role", "boss", "--password-stdin"}, "long enough pass\n", "admin or staff"},
		"no stdin flag":      {[]string{"add", "--email", "d@school.example", "--name", "D"}, "", "--password-stdin"},
		"empty department":   {[]string{"add", "--email", "e@school.example", "--name", "E", "--department", "", "--password-stdin"}, "long enough pass\n", "--department"},
		"missing subcommand": {[]string{}, "", "usage"},
		"missing email":      {[]string{"add", "--name", "F", "--password-stdin"}, "long enough pass\n", "--email"},
	} {
		if err := userAdd(ctx, tc.args, strings.NewReader(tc.stdin), getenv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
