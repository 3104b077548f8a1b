package main

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// csrfRefusal is the start of the answer the CSRF check gives (handlers/middleware.go).
const csrfRefusal = "This form has expired or did not come from Classline"

// Every state-changing route the server registers (any method but GET and
// HEAD) refuses a request without the session's CSRF token, htmx or not,
// and changes nothing; with the token the same request is not refused for
// CSRF. The Twilio webhooks are the exception by design: Twilio holds no
// session, so they are authenticated by X-Twilio-Signature instead
// (webhook_test.go, webhook_security_test.go). POST /login is not an
// exception: the signed-out cookie carries a token the form must send back.
func TestCSRFOnEveryStateChange(t *testing.T) {
	f := newAuthzFixture(t)
	ta := f.ta
	table := authzTable(t, f)
	routes := registeredRoutes(t, ta)
	sort.SliceStable(routes, func(i, j int) bool { return !table[routes[i]][0].last && table[routes[j]][0].last })

	changes := func() int {
		return countRows(t, ta, `SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM messages)
			+ (SELECT count(*) FROM broadcasts) + (SELECT count(*) FROM canned_replies) + (SELECT count(*) FROM contacts)
			+ (SELECT count(*) FROM user_sessions) + (SELECT count(*) FROM login_attempts)`)
	}
	checked := 0
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		if method == http.MethodGet || method == http.MethodHead || strings.HasPrefix(path, "/webhooks/") {
			continue
		}
		cases, ok := table[route]
		if !ok {
			t.Errorf("%s: no row in the authorization matrix", route)
			continue
		}
		c := cases[0]
		// The admin may do everything; signing in is for the signed out.
		who := adminUser
		if route == "POST /login" {
			who = anonymous
		}
		client, token := f.clients[who], f.tokens[who]
		if c.fresh {
			client = ta.login(f.emails[who], f.passwords[who])
			token = ta.csrfOf(client, "/inbox")
		}
		if who == anonymous {
			token = ta.csrfOf(client, "/login")
		}
		target := c.path
		if c.pathFor != nil {
			target = c.pathFor(who)
		}
		form := func() url.Values {
			v := url.Values{}
			for k, vs := range c.form {
				v[k] = vs
			}
			return v
		}
		withToken := func(tok string) url.Values {
			v := form()
			v.Set("_csrf", tok)
			return v
		}

		before := changes()
		for _, bad := range []struct {
			name    string
			form    url.Values
			headers map[string]string
		}{
			{"no token", form(), nil},
			{"no token, htmx", form(), map[string]string{"HX-Request": "true"}},
			{"wrong header token, htmx", form(), map[string]string{"HX-Request": "true", "X-CSRF-Token": token + "x"}},
			{"wrong form token", withToken("x" + token), nil},
			{"empty header token, htmx", form(), map[string]string{"HX-Request": "true", "X-CSRF-Token": ""}},
		} {
			r := doHTTP(t, client, method, ta.URL+target, bad.form, bad.headers)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, csrfRefusal) {
				t.Errorf("%s (%s) with %s: %d, want 403 with the CSRF message", route, target, bad.name, r.status)
			}
		}
		if after := changes(); after != before {
			t.Errorf("%s: requests refused for CSRF changed %d rows", route, after-before)
		}

		// With the token (form field, and header as htmx sends it) the CSRF
		// check lets it through; what the handler then says is the matrix's business.
		r := doHTTP(t, client, method, ta.URL+target, withToken(token), nil)
		if r.status == http.StatusForbidden && strings.Contains(r.body, csrfRefusal) {
			t.Errorf("%s (%s) with the session's token: refused for CSRF", route, target)
		}
		if !c.fresh && c.pathFor == nil && !c.last {
			r = doHTTP(t, client, method, ta.URL+target, form(), map[string]string{"HX-Request": "true", "X-CSRF-Token": token})
			if r.status == http.StatusForbidden && strings.Contains(r.body, csrfRefusal) {
				t.Errorf("%s (%s) with the token in X-CSRF-Token: refused for CSRF", route, target)
			}
		}
		checked++
	}
	if checked < 60 {
		t.Fatalf("only %d state-changing routes checked: the route list is not being read", checked)
	}
	t.Logf("%d state-changing routes checked", checked)
}
