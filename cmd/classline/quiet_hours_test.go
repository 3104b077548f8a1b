package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/classline/classline/internal/policy"
)

// Quiet hours are a school setting on the settings page: shown with the
// school's time zone, checked next to each field with the typed values
// kept, saved and audited; only admins reach them.
func TestQuietHoursSetting(t *testing.T) {
	ta := startTestApp(t, testOptions{Env: map[string]string{"SCHOOL_TIMEZONE": "Europe/London"}})
	ctx := context.Background()
	admin := ta.loginAdmin()
	quietAudits := func() int {
		return countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'settings.update' AND subject = 'settings:quiet_hours'`)
	}

	page, status := ta.get(admin, "/settings")
	for _, want := range []string{
		`id="quiet-enabled" name="quiet_enabled" value="on" checked`, "No broadcasts during quiet hours",
		`id="quiet-start" name="quiet_start" type="time"`, `value="21:00"`, `value="07:00"`,
		"Europe/London", "urgent", "audit log",
		`<label for="quiet-start">`, `<label for="quiet-end">`,
	} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("settings page (%d) lacks %q", status, want)
		}
	}
	if q, err := ta.db.QuietHours(ctx); err != nil || q != policy.DefaultQuietHours() {
		t.Fatalf("unset quiet hours read as %+v, %v; want the default", q, err)
	}

	tok := ta.csrfOf(admin, "/settings")
	form := func(enabled bool, start, end string) url.Values {
		f := url.Values{"_csrf": {tok}, "school_name": {"Hillside Primary"}, "school_language": {"en"},
			"stop": {""}, "start": {""}, "help": {""}, "quiet_start": {start}, "quiet_end": {end}}
		if enabled {
			f.Set("quiet_enabled", "on")
		}
		return f
	}

	// Mistakes are explained by their field, the typed values kept, and
	// nothing on the page is saved.
	for _, c := range []struct{ start, end, field, says string }{
		{"22:00", "22:00", "quiet-end", "different time"},
		{"25:00", "06:30", "quiet-start", "HH:MM"},
		{"22:00", "", "quiet-end", "HH:MM"},
	} {
		r := doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form(true, c.start, c.end), nil)
		wantStatus(t, "invalid quiet hours "+c.start+"-"+c.end, r, http.StatusUnprocessableEntity)
		i := strings.Index(r.body, `id="`+c.field+`-error"`)
		if i < 0 || !strings.Contains(r.body[i:i+300], c.says) {
			t.Fatalf("%s-%s: no %s error saying %q", c.start, c.end, c.field, c.says)
		}
		if !strings.Contains(r.body, `name="quiet_start" type="time" step="60" required value="`+c.start+`"`) ||
			!strings.Contains(r.body, `name="quiet_end" type="time" step="60" required value="`+c.end+`"`) ||
			!strings.Contains(r.body, `aria-invalid="true"`) {
			t.Fatalf("%s-%s: typed values not kept", c.start, c.end)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM settings`); n != 0 {
		t.Fatalf("an invalid page saved %d settings", n)
	}

	// Off, 22:30 to 06:45: saved and audited with before and after.
	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form(false, "22:30", "06:45"), nil)
	wantStatus(t, "save quiet hours", r, http.StatusSeeOther)
	want := policy.QuietHours{Enabled: false, Start: "22:30", End: "06:45"}
	if q, err := ta.db.QuietHours(ctx); err != nil || q != want {
		t.Fatalf("saved quiet hours %+v, %v; want %+v", q, err, want)
	}
	var before, after string
	if err := ta.db.Pool.QueryRow(ctx, `SELECT before::text, after::text FROM audit_log a JOIN users u ON u.id = a.user_id
		WHERE a.action = 'settings.update' AND a.subject = 'settings:quiet_hours' AND u.role = 'admin'`).Scan(&before, &after); err != nil {
		t.Fatalf("quiet hours change not audited: %v", err)
	}
	if !strings.Contains(before, `"start": "21:00"`) || !strings.Contains(after, `"start": "22:30"`) || !strings.Contains(after, `"enabled": false`) {
		t.Fatalf("audit before %s after %s", before, after)
	}
	page, _ = ta.get(admin, r.header.Get("Location"))
	if strings.Contains(page, `value="on" checked`) || !strings.Contains(page, `value="22:30"`) || !strings.Contains(page, `value="06:45"`) {
		t.Fatal("the page does not show the saved quiet hours")
	}

	// Saving the same again changes nothing and audits nothing; a single
	// digit hour is stored as HH:MM.
	wantStatus(t, "save again", doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form(false, "22:30", "06:45"), nil), http.StatusSeeOther)
	if n := quietAudits(); n != 1 {
		t.Fatalf("quiet hours audits: %d, want 1", n)
	}
	wantStatus(t, "same-day range", doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form(true, "12:00", "13:00"), nil), http.StatusSeeOther)
	wantStatus(t, "single digit", doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form(true, "9:15", "13:00"), nil), http.StatusSeeOther)
	if q, _ := ta.db.QuietHours(ctx); q != (policy.QuietHours{Enabled: true, Start: "09:15", End: "13:00"}) {
		t.Fatalf("saved %+v", q)
	}
	if n := quietAudits(); n != 3 {
		t.Fatalf("quiet hours audits: %d, want 3", n)
	}

	// A post without the quiet hours fields (an older page) leaves them alone.
	old := url.Values{"_csrf": {tok}, "school_name": {"Hillside Primary"}, "stop": {""}, "start": {""}, "help": {""}}
	wantStatus(t, "older page", doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", old, nil), http.StatusSeeOther)
	if q, _ := ta.db.QuietHours(ctx); !q.Enabled || q.Start != "09:15" {
		t.Fatalf("a page without quiet hours changed them: %+v", q)
	}

	// Staff reach neither the page nor the save.
	staff := ta.login("quiet.staff@school.example", ta.addUser("quiet.staff@school.example", "staff", "admissions"))
	stok := ta.csrfOf(staff, "/replies")
	if _, status := ta.get(staff, "/settings"); status != http.StatusForbidden {
		t.Fatalf("staff GET /settings: %d", status)
	}
	sf := form(false, "20:00", "08:00")
	sf.Set("_csrf", stok)
	wantStatus(t, "staff save", doHTTP(t, staff, http.MethodPost, ta.URL+"/settings", sf, nil), http.StatusForbidden)
	if q, _ := ta.db.QuietHours(ctx); q.Start != "09:15" {
		t.Fatalf("staff changed quiet hours: %+v", q)
	}
}
