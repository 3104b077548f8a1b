package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests signing in, sessions, CSRF and department isolation over
// real HTTP against a whole running Classline. Helpers shared with
// webhook_test.go are at the end.

const sessionCookie = "classline_session"

// Pages need a session: a browser is sent to the login page with the way
// back, htmx is told where to go with HX-Redirect.
func TestAuthSignedOutIsSentToLogin(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.client()

	r := doHTTP(t, c, http.MethodGet, ta.URL+"/inbox", nil, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Finbox" {
		t.Fatalf("GET /inbox signed out: %d Location %q, want 303 to /login?next=%%2Finbox", r.status, r.header.Get("Location"))
	}
	r = doHTTP(t, c, http.MethodGet, ta.URL+"/conversations/7?tab=all", nil, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fconversations%2F7%3Ftab%3Dall" {
		t.Fatalf("GET /conversations/7?tab=all signed out: %d Location %q", r.status, r.header.Get("Location"))
	}

	htmx := map[string]string{"HX-Request": "true"}
	r = doHTTP(t, c, http.MethodGet, ta.URL+"/inbox", nil, htmx)
	if r.status != http.StatusUnauthorized || r.header.Get("HX-Redirect") != "/login" {
		t.Fatalf("htmx GET /inbox signed out: %d HX-Redirect %q, want 401 and /login", r.status, r.header.Get("HX-Redirect"))
	}
	r = doHTTP(t, c, http.MethodPost, ta.URL+"/compose", url.Values{"to": {"+15551234567"}, "channel": {"sms"}, "body": {"x"}}, htmx)
	if r.status != http.StatusUnauthorized || r.header.Get("HX-Redirect") != "/login" {
		t.Fatalf("htmx POST /compose signed out: %d HX-Redirect %q, want 401 and /login", r.status, r.header.Get("HX-Redirect"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("a signed-out POST stored %d messages", n)
	}

	// The way back is kept by the form and used after signing in; a foreign
	// next is dropped.
	body, status := ta.get(c, "/login?next=%2Fcompose")
	if status != http.StatusOK || !strings.Contains(body, `name="next" value="/compose"`) {
		t.Fatalf("login page (%d) does not carry next=/compose", status)
	}
	tok := ta.csrfOf(c, "/login")
	r = doHTTP(t, c, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tok}, "email": {ta.AdminEML}, "password": {ta.AdminPW}, "next": {"/compose"}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/compose" {
		t.Fatalf("login with next=/compose: %d Location %q", r.status, r.header.Get("Location"))
	}
	c2 := ta.client()
	tok = ta.csrfOf(c2, "/login")
	r = doHTTP(t, c2, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tok}, "email": {ta.AdminEML}, "password": {ta.AdminPW}, "next": {"//evil.example/x"}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/inbox" {
		t.Fatalf("login with next=//evil.example/x: %d Location %q, want /inbox", r.status, r.header.Get("Location"))
	}
}

// A wrong password, an unknown email and a deactivated account all get the
// same answer: 401, the error, the email kept, nothing else.
func TestAuthWrongPasswordRevealsNothing(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	pw := ta.addUser("gone@school.example", "staff", "admissions")
	if _, err := ta.db.Pool.Exec(context.Background(), `UPDATE users SET deactivated_at = now() WHERE email = 'gone@school.example'`); err != nil {
		t.Fatal(err)
	}
	c := ta.client()
	tok := ta.csrfOf(c, "/login")
	attempt := func(email, password string) string {
		t.Helper()
		r := doHTTP(t, c, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}}, nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("login %s: status %d, want 401", email, r.status)
		}
		if !strings.Contains(r.body, "That email and password do not match") {
			t.Fatalf("login %s: the error text is missing", email)
		}
		if !strings.Contains(r.body, `value="`+email+`"`) {
			t.Fatalf("login %s: the typed email is not kept in the field", email)
		}
		if strings.Contains(r.body, password) {
			t.Fatalf("login %s: the typed password is echoed", email)
		}
		if _, ok := cookieIn(r.cookies, sessionCookie); ok {
			// The signed-out cookie was set by GET /login already; a failed
			// sign-in must not hand out a new one.
			t.Fatalf("login %s: a failed sign-in set a session cookie", email)
		}
		return strings.ReplaceAll(r.body, email, "EMAIL")
	}
	wrongPW := attempt(ta.AdminEML, "wrong-password-123")
	unknown := attempt("nobody@school.example", "wrong-password-123")
	deactivated := attempt("gone@school.example", pw)
	if wrongPW != unknown {
		t.Errorf("an unknown email is answered differently from a wrong password:\n%s", firstDiff(wrongPW, unknown))
	}
	if wrongPW != deactivated {
		t.Errorf("a deactivated account is answered differently from a wrong password:\n%s", firstDiff(wrongPW, deactivated))
	}
	if _, status := ta.get(c, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("after failed sign-ins GET /inbox answered %d, want 303 (no session)", status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM user_sessions`); n != 0 {
		t.Fatalf("failed sign-ins created %d sessions", n)
	}
}

// Five failures lock an account (even the right password then gets 429);
// other accounts from the same address still sign in until the address has
// twenty failures, after which everyone from it is refused.
func TestAuthThrottling(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	pwA := ta.addUser("a@school.example", "staff", "admissions")
	pwB := ta.addUser("b@school.example", "staff", "admissions")
	pwC := ta.addUser("c@school.example", "staff", "academics")

	c := ta.client()
	tok := ta.csrfOf(c, "/login")
	try := func(email, password string) httpResult {
		t.Helper()
		return doHTTP(t, c, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}}, nil)
	}
	for i := 1; i <= 5; i++ {
		if r := try("a@school.example", "not-the-password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d for a@: status %d, want 401", i, r.status)
		}
	}
	r := try("a@school.example", pwA)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed attempts") {
		t.Fatalf("6th attempt for a@ with the right password: status %d, want 429 with the throttle message", r.status)
	}
	if _, status := ta.get(c, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("a throttled sign-in opened a session (GET /inbox %d)", status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM user_sessions`); n != 0 {
		t.Fatalf("a throttled sign-in stored %d sessions", n)
	}

	// Another account from the same address: 5 failures so far, limit 20.
	cb := ta.client()
	tokB := ta.csrfOf(cb, "/login")
	if r := doHTTP(t, cb, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tokB}, "email": {"b@school.example"}, "password": {pwB}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("b@ from the same address: status %d, want 303", r.status)
	}

	// Failures 6..20 for accounts that each stay under their own limit.
	for i := 6; i <= 20; i++ {
		if r := try("guess"+strconv.Itoa(i)+"@school.example", "not-the-password"); r.status != http.StatusUnauthorized {
			t.Fatalf("address failure %d: status %d, want 401 (limit not reached yet)", i, r.status)
		}
	}
	cc := ta.client()
	tokC := ta.csrfOf(cc, "/login")
	r = doHTTP(t, cc, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {tokC}, "email": {"c@school.example"}, "password": {pwC}}, nil)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("c@ after 20 failures from the address: status %d, want 429", r.status)
	}
	if r := try("b@school.example", pwB); r.status != http.StatusTooManyRequests {
		t.Fatalf("b@ after 20 failures from the address: status %d, want 429", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM user_sessions`); n != 1 {
		t.Fatalf("want only b@'s first session, got %d sessions", n)
	}
}

// State changes need the session's CSRF token, from the form or the
// X-CSRF-Token header.
func TestAuthCSRF(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.loginAdmin()
	tok := ta.csrfOf(c, "/compose")
	form := func() url.Values {
		// SMS: the channel is incidental here, and WhatsApp free text would
		// need the contact to have written first (the 24-hour window).
		return url.Values{"to": {"+15557651234"}, "channel": {"sms"}, "body": {"Hello"}, "sender_id": {"0"}}
	}

	r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", form(), nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("POST /compose without a token: %d, want 403", r.status)
	}
	f := form()
	f.Set("_csrf", tok+"x")
	if r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", f, nil); r.status != http.StatusForbidden {
		t.Fatalf("POST /compose with a wrong token: %d, want 403", r.status)
	}
	if r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", form(), map[string]string{"X-CSRF-Token": "nope", "HX-Request": "true"}); r.status != http.StatusForbidden {
		t.Fatalf("POST /compose with a wrong header token: %d, want 403", r.status)
	}
	// Another user's valid token does not work with this session.
	pw := ta.addUser("other@school.example", "staff", "admissions")
	other := ta.login("other@school.example", pw)
	otherTok := ta.csrfOf(other, "/compose")
	if otherTok == tok {
		t.Fatal("two sessions share a CSRF token")
	}
	f = form()
	f.Set("_csrf", otherTok)
	if r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", f, nil); r.status != http.StatusForbidden {
		t.Fatalf("POST /compose with another session's token: %d, want 403", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("rejected posts stored %d messages", n)
	}
	if n := len(ta.sim.Messages()); n != 0 {
		t.Fatalf("rejected posts reached the simulator %d times", n)
	}

	// The htmx path: token in the header, no form field.
	r = doHTTP(t, c, http.MethodPost, ta.URL+"/compose", form(), map[string]string{"X-CSRF-Token": tok, "HX-Request": "true"})
	if r.status != http.StatusNoContent || !strings.HasPrefix(r.header.Get("HX-Redirect"), "/conversations/") {
		t.Fatalf("htmx POST /compose with the header token: %d HX-Redirect %q, want 204 to a conversation", r.status, r.header.Get("HX-Redirect"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 1 {
		t.Fatalf("after one accepted post: %d messages, want 1", n)
	}
	if n := len(ta.sim.Messages()); n != 1 {
		t.Fatalf("after one accepted post the simulator has %d messages, want 1", n)
	}

	// Signing in needs the token too.
	lc := ta.client()
	ta.csrfOf(lc, "/login") // the signed-out cookie (with its token) is set
	r = doHTTP(t, lc, http.MethodPost, ta.URL+"/login", url.Values{"email": {ta.AdminEML}, "password": {ta.AdminPW}}, nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("POST /login without a token: %d, want 403", r.status)
	}
	if _, status := ta.get(lc, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("a token-less sign-in opened a session (GET /inbox %d)", status)
	}
	// loginAdmin's attempt, and nothing from the rejected post.
	if n := countRows(t, ta, `SELECT count(*) FROM login_attempts WHERE email = lower($1)`, ta.AdminEML); n != 1 {
		t.Fatalf("login attempts for the admin: %d, want 1 (a CSRF reject must not reach the password check)", n)
	}
}

// The session cookie is HttpOnly, SameSite=Lax, Path=/, and Secure exactly
// when PUBLIC_URL is https.
func TestAuthSessionCookieFlags(t *testing.T) {
	check := func(t *testing.T, where string, ck *http.Cookie, secure bool) {
		t.Helper()
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure != secure {
			t.Errorf("%s: cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Lax, /, Secure=%v",
				where, ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, secure)
		}
		if ck.MaxAge != int((12 * time.Hour).Seconds()) {
			t.Errorf("%s: cookie Max-Age %d, want the 12 h session lifetime", where, ck.MaxAge)
		}
	}

	t.Run("http", func(t *testing.T) {
		ta := startTestApp(t, testOptions{})
		pre, _, post := signInRaw(t, ta.URL, ta.AdminEML, ta.AdminPW)
		check(t, "GET /login", pre, false)
		check(t, "POST /login", post, false)
		r := doHTTP(t, plainClient(), http.MethodGet, ta.URL+"/login", nil, nil)
		if r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("HSTS sent for an http PUBLIC_URL")
		}
	})

	t.Run("https", func(t *testing.T) {
		ta := startTestApp(t, testOptions{StepDelay: time.Hour, Env: map[string]string{"PUBLIC_URL": "https://school.example"}})
		pre, _, post := signInRaw(t, ta.URL, ta.AdminEML, ta.AdminPW)
		check(t, "GET /login", pre, true)
		check(t, "POST /login", post, true)
		r := doHTTP(t, plainClient(), http.MethodGet, ta.URL+"/login", nil, nil)
		if !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS for an https PUBLIC_URL: %q", r.header.Get("Strict-Transport-Security"))
		}
	})

}

// startTestApp takes PUBLIC_URL through testOptions.Env (as the brief for
// these tests assumes); an https PUBLIC_URL must then give Secure cookies.
// This fails while startTestApp never sets appOptions.PublicURLSet: startApp
// then replaces PUBLIC_URL with the listener's http address.
func TestHarnessPublicURLFromEnv(t *testing.T) {
	ta := startTestApp(t, testOptions{Env: map[string]string{"PUBLIC_URL": "https://school.example"}})
	if ta.cfg.PublicURL != "https://school.example" {
		t.Fatalf("startTestApp ignored PUBLIC_URL from testOptions.Env: the app runs with PublicURL %q", ta.cfg.PublicURL)
	}
	_, _, post := signInRaw(t, "http://"+ta.ln.Addr().String(), ta.AdminEML, ta.AdminPW)
	if !post.Secure {
		t.Fatal("session cookie without Secure for an https PUBLIC_URL")
	}
}

// Signing in rotates the cookie and the CSRF token.
func TestAuthSessionRotation(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.client()
	r := doHTTP(t, c, http.MethodGet, ta.URL+"/login", nil, nil)
	pre, ok := cookieIn(r.cookies, sessionCookie)
	if !ok {
		t.Fatal("GET /login set no cookie")
	}
	preTok := csrfIn(t, r.body)

	r = doHTTP(t, c, http.MethodPost, ta.URL+"/login", url.Values{"_csrf": {preTok}, "email": {ta.AdminEML}, "password": {ta.AdminPW}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	post, ok := cookieIn(r.cookies, sessionCookie)
	if !ok {
		t.Fatal("login set no cookie")
	}
	if post.Value == pre.Value {
		t.Fatal("the cookie after login is the pre-login one")
	}
	newTok := ta.csrfOf(c, "/compose")
	if newTok == preTok {
		t.Fatal("the CSRF token survived login")
	}
	// SMS: the channel is incidental (WhatsApp free text needs an open 24-hour window).
	f := url.Values{"_csrf": {preTok}, "to": {"+15557651234"}, "channel": {"sms"}, "body": {"Hello"}, "sender_id": {"0"}}
	if r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", f, nil); r.status != http.StatusForbidden {
		t.Fatalf("POST with the pre-login token after login: %d, want 403", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("the pre-login token stored %d messages", n)
	}
	f.Set("_csrf", newTok)
	if r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", f, nil); r.status != http.StatusSeeOther {
		t.Fatalf("POST with the new token: %d, want 303", r.status)
	}
}

// Logging out and deleting a user's sessions end them on the server: an old
// copy of the cookie no longer signs anyone in.
func TestAuthLogoutEndsSessionServerSide(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	c := ta.loginAdmin()
	saved := jarCookie(t, c, ta.URL, sessionCookie)
	tok := ta.csrfOf(c, "/inbox")

	r := doHTTP(t, c, http.MethodPost, ta.URL+"/logout", url.Values{"_csrf": {tok}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d Location %q", r.status, r.header.Get("Location"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM user_sessions`); n != 0 {
		t.Fatalf("after logout %d sessions remain", n)
	}
	replay := func(cookieValue string) httpResult {
		return doHTTP(t, plainClient(), http.MethodGet, ta.URL+"/inbox", nil, map[string]string{"Cookie": sessionCookie + "=" + cookieValue})
	}
	if r := replay(saved); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("replaying the logged-out cookie: %d Location %q, want 303 to /login", r.status, r.header.Get("Location"))
	}

	// DeleteUserSessions ends every session of that user only.
	pw := ta.addUser("staff@school.example", "staff", "admissions")
	sc := ta.login("staff@school.example", pw)
	staffCookie := jarCookie(t, sc, ta.URL, sessionCookie)
	admin := ta.loginAdmin()
	if r := replay(staffCookie); r.status != http.StatusOK {
		t.Fatalf("staff cookie before deletion: %d, want 200", r.status)
	}
	u, err := ta.db.UserByEmail(ctx, "staff@school.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.db.DeleteUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, status := ta.get(sc, "/inbox"); status != http.StatusSeeOther {
		t.Fatalf("staff after DeleteUserSessions: GET /inbox %d, want 303", status)
	}
	if r := replay(staffCookie); r.status != http.StatusSeeOther {
		t.Fatalf("replayed staff cookie after DeleteUserSessions: %d, want 303", r.status)
	}
	if _, status := ta.get(admin, "/inbox"); status != http.StatusOK {
		t.Fatalf("the admin's session was ended too: GET /inbox %d", status)
	}
}

// Staff see and answer only their departments' conversations; admins see all.
func TestAuthDepartmentIsolation(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	convA := inboundConversation(t, ta, "whatsapp:+15557650011", "whatsapp:+14155550100", "Alice Admissions")
	convB := inboundConversation(t, ta, "whatsapp:+15557650022", "whatsapp:+14155550101", "Bruno Academics")

	pw := ta.addUser("adm@school.example", "staff", "admissions")
	sc := ta.login("adm@school.example", pw)
	tok := ta.csrfOf(sc, "/inbox")

	if _, status := ta.get(sc, convURL(convA)); status != http.StatusOK {
		t.Fatalf("staff of admissions opening their conversation: %d", status)
	}
	if _, status := ta.get(sc, convURL(convB)); status != http.StatusNotFound {
		t.Fatalf("staff of admissions opening academics' conversation: %d, want 404", status)
	}
	if _, status := ta.get(sc, "/conversations/999999"); status != http.StatusNotFound {
		t.Fatalf("a conversation that does not exist: %d, want 404", status)
	}
	r := doHTTP(t, sc, http.MethodPost, ta.URL+convURL(convB)+"/messages", url.Values{"_csrf": {tok}, "body": {"Sneaky reply"}}, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("staff of admissions replying in academics' conversation: %d, want 404", r.status)
	}
	r = doHTTP(t, sc, http.MethodPost, ta.URL+convURL(convB)+"/messages", url.Values{"_csrf": {tok}, "body": {"Sneaky reply"}}, map[string]string{"HX-Request": "true"})
	if r.status != http.StatusNotFound {
		t.Fatalf("htmx reply in another department's conversation: %d, want 404", r.status)
	}
	// Nor may they pick another department's sender in the composer.
	academicsSender := senderID(t, ta, "whatsapp", "+14155550101")
	r = doHTTP(t, sc, http.MethodPost, ta.URL+"/compose", url.Values{"_csrf": {tok}, "to": {"+15557650033"}, "channel": {"whatsapp"}, "body": {"x"}, "sender_id": {strconv.FormatInt(academicsSender, 10)}}, nil)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("compose from another department's sender: %d, want 422", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Fatalf("refused actions stored %d outbound messages", n)
	}
	if n := len(ta.sim.Messages()); n != 0 {
		t.Fatalf("refused actions reached the simulator %d times", n)
	}

	inbox, status := ta.get(sc, "/inbox")
	if status != http.StatusOK {
		t.Fatalf("staff inbox: %d", status)
	}
	if !strings.Contains(inbox, `href="`+convURL(convA)+`"`) || !strings.Contains(inbox, "Alice Admissions") {
		t.Errorf("staff inbox does not list their own conversation")
	}
	if strings.Contains(inbox, convURL(convB)) || strings.Contains(inbox, "Bruno Academics") {
		t.Errorf("staff inbox lists another department's conversation")
	}
	// The conversation page's side list is scoped too.
	page, _ := ta.get(sc, convURL(convA))
	if strings.Contains(page, "Bruno Academics") {
		t.Errorf("the conversation page's list shows another department's conversation")
	}

	admin := ta.loginAdmin()
	adminInbox, _ := ta.get(admin, "/inbox")
	if !strings.Contains(adminInbox, "Alice Admissions") || !strings.Contains(adminInbox, "Bruno Academics") {
		t.Errorf("the admin inbox does not list both departments")
	}
	if _, status := ta.get(admin, convURL(convB)); status != http.StatusOK {
		t.Fatalf("admin opening academics' conversation: %d", status)
	}
	atok := ta.csrfOf(admin, "/inbox")
	r = doHTTP(t, admin, http.MethodPost, ta.URL+convURL(convB)+"/messages", url.Values{"_csrf": {atok}, "body": {"Admin reply"}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != convURL(convB) {
		t.Fatalf("admin reply: %d Location %q", r.status, r.header.Get("Location"))
	}
	msgs := ta.sim.Messages()
	if len(msgs) != 1 || msgs[0].To != "whatsapp:+15557650022" || msgs[0].From != "whatsapp:+14155550101" || msgs[0].Body != "Admin reply" {
		t.Fatalf("the simulator got %+v", msgs)
	}
}

func TestAuthSecurityHeaders(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	for _, tc := range []struct {
		name string
		c    *http.Client
		path string
	}{
		{"login page", ta.client(), "/login"},
		{"inbox", admin, "/inbox"},
		{"not found", admin, "/no-such-page"},
	} {
		r := doHTTP(t, tc.c, http.MethodGet, ta.URL+tc.path, nil, nil)
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q lacks script-src 'self' or frame-ancestors 'none'", tc.name, csp)
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe scripts: %q", tc.name, csp)
		}
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", tc.name, got)
		}
		switch got := r.header.Get("Referrer-Policy"); got {
		case "same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin":
		default:
			t.Errorf("%s: Referrer-Policy %q", tc.name, got)
		}
	}
}

func TestAuthHealthAndMetrics(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.client()
	body, status := ta.get(c, "/healthz")
	if status != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", status, body)
	}
	metrics, status := ta.get(c, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	if !regexp.MustCompile(`(?m)^classline_http_requests_total\{code="200",method="GET",route="/healthz"\} 1$`).MatchString(metrics) {
		t.Errorf("/metrics does not count the /healthz request:\n%s", grepLines(metrics, "classline_http_requests_total"))
	}
	if strings.Contains(metrics, "classline_webhooks_total{") {
		t.Errorf("webhook counters before any webhook:\n%s", grepLines(metrics, "classline_webhooks_total"))
	}

	form := inboundForm(newSID(), "whatsapp:+15557650044", "whatsapp:+14155550100", "Hello", "Parent")
	if status, _ := ta.webhook("/webhooks/twilio/inbound", form, ta.token); status != http.StatusOK {
		t.Fatalf("inbound webhook: %d", status)
	}
	if status, _ := ta.webhook("/webhooks/twilio/inbound", form, ta.token); status != http.StatusOK {
		t.Fatalf("inbound webhook redelivery: %d", status)
	}
	if status, _ := ta.webhook("/webhooks/twilio/inbound", form, ""); status != http.StatusForbidden {
		t.Fatalf("unsigned inbound webhook: %d", status)
	}
	metrics, _ = ta.get(c, "/metrics")
	for _, want := range []string{
		`classline_webhooks_total{kind="inbound",result="stored"} 1`,
		`classline_webhooks_total{kind="inbound",result="duplicate"} 1`,
		`classline_webhooks_total{kind="inbound",result="forged"} 1`,
		`classline_http_requests_total{code="200",method="POST",route="/webhooks/twilio/inbound"} 2`,
		`classline_http_requests_total{code="403",method="POST",route="/webhooks/twilio/inbound"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s; it has:\n%s", want, grepLines(metrics, "classline_"))
		}
	}
}

// ---- helpers shared by auth_test.go and webhook_test.go ----

type httpResult struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

// doHTTP sends one request (a form when form is non-nil) and reads the whole answer.
func doHTTP(t *testing.T, c *http.Client, method, target string, form url.Values, headers map[string]string) httpResult {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, target, err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b), cookies: resp.Cookies()}
}

// plainClient has no cookie jar and follows no redirects.
func plainClient() *http.Client {
	return &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func cookieIn(cs []*http.Cookie, name string) (*http.Cookie, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

func jarCookie(t *testing.T, c *http.Client, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	ck, ok := cookieIn(c.Jar.Cookies(u), name)
	if !ok {
		t.Fatalf("no %s cookie in the jar", name)
	}
	return ck.Value
}

func csrfIn(t *testing.T, body string) string {
	t.Helper()
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return m[1] + m[2]
}

// signInRaw signs in without a cookie jar (a Secure cookie would not be sent
// back over http by a jar) and returns the pre-login cookie, its CSRF token
// and the cookie the login set.
func signInRaw(t *testing.T, base, email, password string) (pre *http.Cookie, tok string, post *http.Cookie) {
	t.Helper()
	c := plainClient()
	r := doHTTP(t, c, http.MethodGet, base+"/login", nil, nil)
	pre, ok := cookieIn(r.cookies, sessionCookie)
	if !ok {
		t.Fatal("GET /login set no session cookie")
	}
	tok = csrfIn(t, r.body)
	r = doHTTP(t, c, http.MethodPost, base+"/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}},
		map[string]string{"Cookie": sessionCookie + "=" + pre.Value})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	post, ok = cookieIn(r.cookies, sessionCookie)
	if !ok {
		t.Fatal("login set no session cookie")
	}
	return pre, tok, post
}

func countRows(t *testing.T, ta *testApp, query string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var sidCounter atomic.Int64

// newSID returns a fresh Twilio-shaped message SID (SM + 32 hex digits).
func newSID() string { return fmt.Sprintf("SM%032x", sidCounter.Add(1)) }

// inboundForm is Twilio's inbound webhook for a WhatsApp or SMS message.
func inboundForm(sid, from, to, body, profileName string) url.Values {
	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsMessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("AccountSid", "AC"+strings.Repeat("0", 32))
	f.Set("From", from)
	f.Set("To", to)
	f.Set("Body", body)
	f.Set("NumMedia", "0")
	f.Set("NumSegments", "1")
	f.Set("SmsStatus", "received")
	f.Set("ApiVersion", "2010-04-01")
	if strings.HasPrefix(from, "whatsapp:") {
		f.Set("ProfileName", profileName)
		f.Set("WaId", strings.TrimPrefix(from, "whatsapp:+"))
		f.Set("MessageType", "text")
	}
	return f
}

// inboundConversation makes a parent write through a signed webhook and
// returns the conversation it landed in.
func inboundConversation(t *testing.T, ta *testApp, from, to, profileName string) int64 {
	t.Helper()
	sid := newSID()
	if status, body := ta.webhook("/webhooks/twilio/inbound", inboundForm(sid, from, to, "Hello from "+profileName, profileName), ta.token); status != http.StatusOK {
		t.Fatalf("inbound webhook: %d %s", status, body)
	}
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT conversation_id FROM messages WHERE twilio_sid = $1`, sid).Scan(&id); err != nil {
		t.Fatalf("conversation of %s: %v", sid, err)
	}
	return id
}

func senderID(t *testing.T, ta *testApp, channel, address string) int64 {
	t.Helper()
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM senders WHERE channel = $1 AND address = $2`, channel, address).Scan(&id); err != nil {
		t.Fatalf("sender %s %s: %v", channel, address, err)
	}
	return id
}

func convURL(id int64) string { return "/conversations/" + strconv.FormatInt(id, 10) }

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// firstDiff shows where two texts start to differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "…" + a[from:min(len(a), i+80)] + "\n  vs\n…" + b[from:min(len(b), i+80)]
}
