package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestResponseGoals: an admin sets a department's goal on the settings page;
// a bad value is shown next to its field with what was typed kept; staff
// cannot change goals; the inbox flags a parent waiting past the goal.
func TestResponseGoals(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admin := ta.loginAdmin()
	adm, err := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if err != nil {
		t.Fatal(err)
	}
	field := "goal-" + strconv.FormatInt(adm, 10)
	tok := ta.csrfOf(admin, "/settings")

	resp := ta.postForm(admin, "/settings/goals", url.Values{"_csrf": {tok}, field: {"soon"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "whole number of minutes") || !strings.Contains(string(body), `value="soon"`) {
		t.Fatalf("bad goal: %d %s", resp.StatusCode, body)
	}
	// The form posts every department: the others keep their seeded goals.
	form := url.Values{"_csrf": {tok}}
	rows, err := ta.db.Pool.Query(ctx, `SELECT id, coalesce(response_goal_minutes, 0) FROM departments`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var m int
		if err := rows.Scan(&id, &m); err != nil {
			t.Fatal(err)
		}
		if m > 0 {
			form.Set("goal-"+strconv.FormatInt(id, 10), strconv.Itoa(m))
		}
	}
	rows.Close()
	form.Set(field, "30")
	resp = ta.postForm(admin, "/settings/goals", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save goal: %d", resp.StatusCode)
	}
	var minutes int
	if err := ta.db.Pool.QueryRow(ctx, `SELECT response_goal_minutes FROM departments WHERE id = $1`, adm).Scan(&minutes); err != nil || minutes != 30 {
		t.Fatalf("stored goal %d (%v), want 30", minutes, err)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'department.response_goal'`); n != 1 {
		t.Fatalf("%d audit rows, want 1", n)
	}

	staff := ta.login("goal-staff@school.example", ta.addUser("goal-staff@school.example", "staff", "admissions"))
	stok := ta.csrfOf(staff, "/inbox")
	if resp := ta.postForm(staff, "/settings/goals", url.Values{"_csrf": {stok}, field: {"5"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("staff changing goals: %d, want 403", resp.StatusCode)
	}

	// A parent waiting 40 minutes is past the 30-minute goal: flagged red.
	conv := parentWrites(t, ta, "+15550012001", "+14155550199", "Hello?")
	if _, err := ta.db.Pool.Exec(ctx, `UPDATE conversations SET waiting_since = now() - interval '40 minutes' WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	page, status := ta.get(staff, "/inbox?sort=waiting")
	if status != http.StatusOK || !strings.Contains(page, `class="tag wait-over"`) {
		t.Fatalf("waiting list without the over-goal flag (%d)", status)
	}
}
