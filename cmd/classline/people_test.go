package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var passwordOnce = regexp.MustCompile(`<code class="password-once">([^<]+)</code>`)

// TestPeopleAdmin: an admin adds a person (password shown once), edits,
// deactivates (the person's open session ends at once), reactivates and
// resets the password; every step is in the audit log; staff cannot get in;
// the last admin cannot be demoted.
func TestPeopleAdmin(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/users")
	adm, err := ta.db.DepartmentIDBySlug(t.Context(), "admissions")
	if err != nil {
		t.Fatal(err)
	}
	depField := strconv.FormatInt(adm, 10)

	// A bad form keeps what was typed and says what is wrong next to the field.
	resp := ta.postForm(admin, "/users", url.Values{"_csrf": {tok}, "name": {"Ana Ruiz"}, "email": {"not-an-email"}, "role": {"staff"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "Enter an email address") ||
		!strings.Contains(string(body), `value="Ana Ruiz"`) || !strings.Contains(string(body), "choose at least one") {
		t.Fatalf("bad person form: %d", resp.StatusCode)
	}

	resp = ta.postForm(admin, "/users", url.Values{"_csrf": {tok}, "name": {"Ana Ruiz"}, "email": {"ana@school.example"}, "role": {"staff"}, "departments": {depField}})
	body, _ = io.ReadAll(resp.Body)
	m := passwordOnce.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create person: %d, password shown: %v, cache %q", resp.StatusCode, m != nil, resp.Header.Get("Cache-Control"))
	}
	ana := ta.login("ana@school.example", m[1])
	if _, status := ta.get(ana, "/inbox"); status != http.StatusOK {
		t.Fatalf("new person's inbox: %d", status)
	}
	// Staff cannot reach people admin.
	if _, status := ta.get(ana, "/users"); status != http.StatusForbidden {
		t.Fatalf("staff on /users: %d, want 403", status)
	}
	var anaID int64
	if err := ta.db.Pool.QueryRow(t.Context(), `SELECT id FROM users WHERE email = 'ana@school.example'`).Scan(&anaID); err != nil {
		t.Fatal(err)
	}
	path := "/users/" + strconv.FormatInt(anaID, 10)

	// Deactivation ends her open session at once.
	if resp := ta.postForm(admin, path+"/deactivate", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deactivate: %d", resp.StatusCode)
	}
	if _, status := ta.get(ana, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("deactivated person's open session: %d, want a redirect to sign in", status)
	}
	if resp := ta.postForm(admin, path+"/reactivate", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reactivate: %d", resp.StatusCode)
	}
	ana = ta.login("ana@school.example", m[1])

	// A reset password signs her out; the new one works.
	resp = ta.postForm(admin, path+"/password", url.Values{"_csrf": {tok}})
	body, _ = io.ReadAll(resp.Body)
	m2 := passwordOnce.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m2 == nil || m2[1] == m[1] {
		t.Fatalf("reset password: %d", resp.StatusCode)
	}
	if _, status := ta.get(ana, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("session after a password reset: %d, want a redirect", status)
	}
	ta.login("ana@school.example", m2[1])

	// Make her an admin, then deactivate her: the first admin is the only
	// active admin left and cannot demote himself.
	if resp := ta.postForm(admin, path, url.Values{"_csrf": {tok}, "name": {"Ana Ruiz"}, "email": {"ana@school.example"}, "role": {"admin"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("make admin: %d", resp.StatusCode)
	}
	if resp := ta.postForm(admin, path+"/deactivate", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deactivate the second admin: %d", resp.StatusCode)
	}
	var selfID int64
	if err := ta.db.Pool.QueryRow(t.Context(), `SELECT id FROM users WHERE email = $1`, ta.AdminEML).Scan(&selfID); err != nil {
		t.Fatal(err)
	}
	resp = ta.postForm(admin, "/users/"+strconv.FormatInt(selfID, 10), url.Values{"_csrf": {tok}, "name": {"Administrator"}, "email": {ta.AdminEML}, "role": {"staff"}, "departments": {depField}})
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "last active admin") {
		t.Fatalf("demoting the last admin: %d", resp.StatusCode)
	}

	// The audit log has every step with before/after, and filters by action.
	want := map[string]int{"user.create": 1, "user.deactivate": 2, "user.reactivate": 1, "user.reset_password": 1, "user.update": 1}
	for action, n := range want {
		if got := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2 AND after IS NOT NULL`, action, "user:"+strconv.FormatInt(anaID, 10)); got != n {
			t.Fatalf("%d %s entries, want %d", got, action, n)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE after::text LIKE '%argon2%' OR before::text LIKE '%argon2%'`); n != 0 {
		t.Fatal("a password hash reached the audit log")
	}
	page, status := ta.get(admin, "/audit?action=user.reset_password")
	if status != http.StatusOK || strings.Count(page, "<code>user.reset_password</code>") != 1 || strings.Contains(page, "<code>user.create</code>") {
		t.Fatalf("filtered audit page (%d) does not show exactly the reset", status)
	}
}

// TestDepartmentsAdmin: add, rename, archive and restore a department; a
// duplicate name is refused next to the field; archived departments leave
// the inbox views; every step is audited.
func TestDepartmentsAdmin(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/departments")
	if resp := ta.postForm(admin, "/departments", url.Values{"_csrf": {tok}, "name": {"Bus & Transport"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add department: %d", resp.StatusCode)
	}
	var id int64
	if err := ta.db.Pool.QueryRow(t.Context(), `SELECT id FROM departments WHERE slug = 'bus-transport'`).Scan(&id); err != nil {
		t.Fatalf("department slug: %v", err)
	}
	resp := ta.postForm(admin, "/departments", url.Values{"_csrf": {tok}, "name": {"bus transport"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "already exists") || !strings.Contains(string(body), `value="bus transport"`) {
		t.Fatalf("duplicate department: %d", resp.StatusCode)
	}
	path := "/departments/" + strconv.FormatInt(id, 10)
	if resp := ta.postForm(admin, path, url.Values{"_csrf": {tok}, "name": {"Transport"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	staff := ta.login("driver@school.example", ta.addUser("driver@school.example", "staff", "bus-transport"))
	if page, _ := ta.get(staff, "/inbox"); !strings.Contains(page, ">Transport</span>") {
		t.Fatal("the renamed department is not a view in its member's inbox")
	}
	if resp := ta.postForm(admin, path+"/archive", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("archive: %d", resp.StatusCode)
	}
	if page, _ := ta.get(staff, "/inbox"); strings.Contains(page, ">Transport</span>") {
		t.Fatal("an archived department is still a view")
	}
	if resp := ta.postForm(admin, path+"/restore", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("restore: %d", resp.StatusCode)
	}
	stok := ta.csrfOf(staff, "/inbox")
	if resp := ta.postForm(staff, "/departments", url.Values{"_csrf": {stok}, "name": {"Mine"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("staff adding a department: %d, want 403", resp.StatusCode)
	}
	for _, action := range []string{"department.create", "department.rename", "department.archive", "department.restore"} {
		if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2`, action, "department:"+strconv.FormatInt(id, 10)); n != 1 {
			t.Fatalf("%d %s entries, want 1", n, action)
		}
	}
}
