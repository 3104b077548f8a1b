package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Session points already covered elsewhere (not repeated here):
//   - cookie flags HttpOnly, SameSite=Lax, Path=/, Max-Age, Secure exactly
//     when PUBLIC_URL is https: TestAuthSessionCookieFlags (auth_test.go);
//   - logout ends the session server-side, a replayed cookie is refused:
//     TestAuthLogoutEndsSessionServerSide;
//   - login rotates the cookie and the CSRF token: TestAuthSessionRotation;
//   - throttling per account (5) and per address (20) in 15 minutes:
//     TestAuthThrottling; under parallel guesses: TestThrottleHoldsUnderParallelGuesses;
//   - deactivation and a password reset end one open session (GET):
//     TestPeopleAdmin (people_test.go).
// This file adds: every session of the user ends, not just one; a signed-in
// user's state-changing request with a valid token is refused at once after
// deactivation and stores nothing; a role or department change takes effect
// on the next request of an open session.

// A password reset ends every session of that user (two browsers), and
// only that user's; the old cookies cannot be replayed.
func TestSessionPasswordResetEndsEverySession(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	pw := ta.addUser("ana@school.example", "staff", "admissions")
	laptop := ta.login("ana@school.example", pw)
	phone := ta.login("ana@school.example", pw)
	laptopCookie := jarCookie(t, laptop, ta.URL, sessionCookie)
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/users")
	id := userID(t, ta, "ana@school.example")

	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/users/"+strconv.FormatInt(id, 10)+"/password", url.Values{"_csrf": {tok}}, nil)
	wantStatus(t, "reset password", r, http.StatusOK)
	for name, c := range map[string]*http.Client{"laptop": laptop, "phone": phone} {
		if _, status := ta.get(c, "/inbox"); status != http.StatusSeeOther {
			t.Errorf("%s session after the reset: GET /inbox %d, want 303 to sign in", name, status)
		}
	}
	replay := doHTTP(t, plainClient(), http.MethodGet, ta.URL+"/inbox", nil, map[string]string{"Cookie": sessionCookie + "=" + laptopCookie})
	if replay.status != http.StatusSeeOther {
		t.Errorf("replayed cookie after the reset: %d, want 303", replay.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM user_sessions WHERE user_id = $1`, id); n != 0 {
		t.Errorf("%d sessions of the user remain after the reset", n)
	}
	if _, status := ta.get(admin, "/inbox"); status != http.StatusOK {
		t.Errorf("the admin's own session ended too: %d", status)
	}
}

// A deactivated user's open session cannot act: a reply with a valid CSRF
// token, sent after the deactivation, is refused and nothing is stored or sent.
func TestSessionDeactivationRefusesNextRequest(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	conv := inboundWith(t, ta, "whatsapp:+15557659001", "whatsapp:+14155550100", "Hello admissions")
	pw := ta.addUser("ana@school.example", "staff", "admissions")
	ana := ta.login("ana@school.example", pw)
	anaTok := ta.csrfOf(ana, convURL(conv))
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/users")

	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/users/"+strconv.FormatInt(userID(t, ta, "ana@school.example"), 10)+"/deactivate", url.Values{"_csrf": {tok}}, nil)
	wantStatus(t, "deactivate", r, http.StatusSeeOther)

	for _, htmx := range []bool{false, true} {
		h := map[string]string{}
		if htmx {
			h = map[string]string{"HX-Request": "true", "X-CSRF-Token": anaTok}
		}
		r = doHTTP(t, ana, http.MethodPost, ta.URL+convURL(conv)+"/messages", url.Values{"_csrf": {anaTok}, "body": {"After deactivation"}}, h)
		want := http.StatusSeeOther
		if htmx {
			want = http.StatusUnauthorized
		}
		if r.status != want || (!htmx && !strings.HasPrefix(r.header.Get("Location"), "/login")) {
			t.Errorf("reply from a deactivated user's open session (htmx %v): %d Location %q, want %d to sign in", htmx, r.status, r.header.Get("Location"), want)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Errorf("a deactivated user's reply stored %d messages", n)
	}
	if n := len(ta.sim.Messages()); n != 0 {
		t.Errorf("a deactivated user's reply reached the simulator %d times", n)
	}
	// Signing in again is refused too, with the same answer as a wrong password.
	c := ta.client()
	r = doHTTP(t, c, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {ta.csrfOf(c, "/login")}, "email": {"ana@school.example"}, "password": {pw}}, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("deactivated user signing in: %d, want 401", r.status)
	}
}

// Permissions are read on every request, not frozen into the session: an
// admin made staff loses the admin pages, and staff taken out of a
// department lose its conversations, on their open session's next request.
func TestSessionPermissionChangesApplyAtOnce(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	conv := inboundWith(t, ta, "whatsapp:+15557659002", "whatsapp:+14155550100", "Hello admissions")
	admissions := strconv.FormatInt(ta.departmentID("admissions"), 10)
	academics := strconv.FormatInt(ta.departmentID("academics"), 10)
	pw := ta.addUser("eva@school.example", "admin", "admissions")
	eva := ta.login("eva@school.example", pw)
	pwStaff := ta.addUser("sam@school.example", "staff", "admissions")
	sam := ta.login("sam@school.example", pwStaff)
	if _, status := ta.get(eva, "/users"); status != http.StatusOK {
		t.Fatalf("admin on /users: %d", status)
	}
	if _, status := ta.get(sam, convURL(conv)); status != http.StatusOK {
		t.Fatalf("staff of admissions on its conversation: %d", status)
	}

	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/users")
	edit := func(email, role, dep string) {
		t.Helper()
		r := doHTTP(t, admin, http.MethodPost, ta.URL+"/users/"+strconv.FormatInt(userID(t, ta, email), 10),
			url.Values{"_csrf": {tok}, "name": {email}, "email": {email}, "role": {role}, "departments": {dep}}, nil)
		wantStatus(t, "edit "+email, r, http.StatusSeeOther)
	}
	edit("eva@school.example", "staff", admissions)
	edit("sam@school.example", "staff", academics)

	if _, status := ta.get(eva, "/users"); status != http.StatusForbidden {
		t.Errorf("admin made staff, same session, on /users: %d, want 403", status)
	}
	if _, status := ta.get(sam, convURL(conv)); status != http.StatusNotFound {
		t.Errorf("staff moved out of admissions, same session, on its conversation: %d, want 404", status)
	}
}
