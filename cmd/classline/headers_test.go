package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// parseCSP splits a Content-Security-Policy into directive → sources.
func parseCSP(csp string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[strings.ToLower(f[0])] = f[1:]
		}
	}
	return out
}

// checkSecurityHeaders checks one answer's headers; wantHSTS says whether
// Strict-Transport-Security must be there (PUBLIC_URL https) or absent.
func checkSecurityHeaders(t *testing.T, what string, h http.Header, wantHSTS bool) {
	t.Helper()
	csp := parseCSP(h.Get("Content-Security-Policy"))
	scripts, ok := csp["script-src"]
	if !ok {
		scripts, ok = csp["default-src"]
	}
	if !ok || len(scripts) == 0 {
		t.Errorf("%s: no script-src or default-src in CSP %q", what, h.Get("Content-Security-Policy"))
	}
	for _, src := range scripts {
		switch src {
		case "'self'", "'none'":
		default: // 'unsafe-inline', 'unsafe-eval', *, data:, any host...
			t.Errorf("%s: script-src allows %s", what, src)
		}
	}
	for _, d := range []string{"default-src", "style-src", "img-src", "connect-src"} {
		for _, src := range csp[d] {
			if src == "*" || src == "'unsafe-eval'" || src == "'unsafe-inline'" || src == "http:" || src == "https:" {
				t.Errorf("%s: %s allows %s", what, d, src)
			}
		}
	}
	if got := strings.Join(csp["default-src"], " "); got != "'self'" {
		t.Errorf("%s: default-src %q, want 'self'", what, got)
	}
	if got := strings.Join(csp["frame-ancestors"], " "); got != "'none'" {
		t.Errorf("%s: frame-ancestors %q, want 'none'", what, got)
	}
	if got := strings.Join(csp["object-src"], " "); got != "'none'" {
		t.Errorf("%s: object-src %q, want 'none'", what, got)
	}
	for _, d := range []string{"base-uri", "form-action"} {
		if got := strings.Join(csp[d], " "); got != "'self'" && got != "'none'" {
			t.Errorf("%s: %s %q, want 'self'", what, d, got)
		}
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options %q, want DENY", what, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
	switch got := h.Get("Referrer-Policy"); got {
	case "same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin":
	default:
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
	hsts := h.Get("Strict-Transport-Security")
	switch {
	case wantHSTS && !strings.HasPrefix(hsts, "max-age="):
		t.Errorf("%s: no Strict-Transport-Security with an https PUBLIC_URL", what)
	case wantHSTS:
		age, err := strconv.Atoi(strings.TrimPrefix(strings.Split(hsts, ";")[0], "max-age="))
		if err != nil || age < 180*24*3600 {
			t.Errorf("%s: Strict-Transport-Security %q: want max-age of at least 180 days", what, hsts)
		}
	case hsts != "":
		t.Errorf("%s: Strict-Transport-Security %q over plain http (browsers would pin a host that has no TLS)", what, hsts)
	}
}

// Every answer carries the security headers: pages, htmx fragments,
// redirects, errors, static files, webhooks, health and metrics.
func TestSecurityHeadersEverywhere(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		hsts bool
	}{
		{"http PUBLIC_URL", nil, false},
		{"https PUBLIC_URL", map[string]string{"PUBLIC_URL": "https://school.example"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := startTestApp(t, testOptions{StepDelay: time.Hour, Env: tc.env})
			conv := conversationWith(t, ta, "+15557652001", "+14155550100")
			admin := ta.loginAdmin()
			staff := ta.login("staff-headers@example.org", ta.addUser("staff-headers@example.org", "staff", "admissions"))
			convPath := "/conversations/" + strconv.FormatInt(conv, 10)
			hx := map[string]string{"HX-Request": "true"}
			for _, r := range []struct {
				what       string
				c          *http.Client
				method     string
				path       string
				headers    map[string]string
				wantStatus int
			}{
				{"login page", ta.client(), http.MethodGet, "/login", nil, http.StatusOK},
				{"signed-out redirect", ta.client(), http.MethodGet, "/inbox", nil, http.StatusSeeOther},
				{"inbox", admin, http.MethodGet, "/inbox", nil, http.StatusOK},
				{"conversation", admin, http.MethodGet, convPath, nil, http.StatusOK},
				{"htmx fragment", admin, http.MethodGet, convPath + "/composer", hx, http.StatusOK},
				{"new broadcast", admin, http.MethodGet, "/broadcasts/new", nil, http.StatusOK},
				{"not found", admin, http.MethodGet, "/no-such-page", nil, http.StatusNotFound},
				{"forbidden", staff, http.MethodGet, "/senders", nil, http.StatusForbidden},
				{"csrf refusal", admin, http.MethodPost, convPath + "/close", nil, http.StatusForbidden},
				{"static file", ta.client(), http.MethodGet, "/static/js/app.js", nil, http.StatusOK},
				{"forged webhook", plainClient(), http.MethodPost, inboundPath, nil, http.StatusForbidden},
				{"health", ta.client(), http.MethodGet, "/healthz", nil, http.StatusOK},
				{"metrics", ta.client(), http.MethodGet, "/metrics", nil, http.StatusOK},
			} {
				res := doHTTP(t, r.c, r.method, ta.URL+r.path, nil, r.headers)
				if r.wantStatus != 0 && res.status != r.wantStatus {
					t.Errorf("%s: status %d, want %d", r.what, res.status, r.wantStatus)
				}
				checkSecurityHeaders(t, r.what, res.header, tc.hsts)
			}
		})
	}
}

// cspViolations collects what the browser refused under the CSP: the
// document's securitypolicyviolation events (recorded by a script injected
// before the page's own) and Chromium's console/log messages about it.
type cspViolations struct {
	mu   sync.Mutex
	logs []string
}

const cspHook = `window.__csp = []; document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber), true);`

func watchCSP(b *browserTab) *cspViolations {
	b.t.Helper()
	v := &cspViolations{}
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspHook}); err != nil {
		b.t.Fatal(err)
	}
	isCSP := func(s string) bool {
		return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Content-Security-Policy")
	}
	if err := chromedp.Listen(b.ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *log.EventEntryAdded:
			msg = e.Entry.Text
		case *runtime.EventConsoleAPICalled:
			for _, a := range e.Args {
				msg += " " + string(a.Value)
			}
		case *runtime.EventExceptionThrown:
			msg = e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		}
		if isCSP(msg) {
			v.mu.Lock()
			v.logs = append(v.logs, msg)
			v.mu.Unlock()
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	return v
}

// check fails the test if anything was refused so far, on this page or before.
func (v *cspViolations) check(b *browserTab, where string) {
	b.t.Helper()
	// Violations are reported asynchronously: give a pending one time to land.
	b.do("let pending reports arrive", chromedp.Evaluate[chromedp.Void](`new Promise((r) => setTimeout(r, 200))`, chromedp.EvalAwaitPromise))
	if got := evalJS[[]string](b, `window.__csp || ['(hook missing)']`); len(got) > 0 {
		b.t.Errorf("%s: the page raised CSP violations: %q", where, got)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.logs) > 0 {
		b.t.Errorf("%s: the browser logged CSP refusals: %q", where, v.logs)
		v.logs = nil
	}
}

// The CSP does not break the app: the main pages load, swap fragments and
// take live updates without a single refusal.
func TestBrowserMainPagesRaiseNoCSPViolation(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	var ids []int64
	for i := range 2 {
		ids = append(ids, seedContact(t, ta, fmt.Sprintf("+1555014%04d", 100+i), fmt.Sprintf("Parent %c CSP", 'A'+i), "", "guardian", false, ""))
	}
	bcGroup(t, ta, "CSP families", ids...)
	conv := conversationWith(t, ta, "+15557652002", "+14155550100")

	b := newBrowser(t)
	v := watchCSP(b)
	signIn(b, ta)
	b.waitFor("the inbox's scripts", `typeof htmx !== 'undefined' && !!document.getElementById('conv-list')`)
	b.waitLive()
	v.check(b, "inbox")

	// A parent writes while the inbox is open: the list updates live (SSE swap).
	checkTwiML(t, "inbound", postTwilio(t, ta, inboundPath, inboundForm(newSID(), "whatsapp:+15557652003", "whatsapp:+14155550100", "Live one", "Live Parent")))
	b.waitFor("the live row", `[...document.querySelectorAll('#conv-list .conv-name')].some((e) => e.textContent === 'Live Parent')`)
	v.check(b, "inbox after a live update")

	b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.waitFor("the reply box", `document.readyState === 'complete' && !!document.getElementById('reply-body')`)
	b.waitLive()
	b.do("type the reply", chromedp.Click(chromedp.ID("reply-body")), chromedp.SendKeys(chromedp.ID("reply-body"), "Thanks, see you tomorrow"))
	b.do("send the reply", chromedp.Click(chromedp.CSS("#reply-form button[type=submit]")))
	b.waitFor("the reply in the thread", `[...document.querySelectorAll('.thread .msg-out .msg-body')].some((e) => e.textContent.includes('see you tomorrow'))`)
	v.check(b, "conversation after a reply")

	b.do("open Broadcasts", chromedp.Navigate(ta.URL+"/broadcasts"))
	b.waitFor("the list", `location.pathname === '/broadcasts' && document.readyState === 'complete'`)
	b.do("click New broadcast", chromedp.Click(xpathText("button", "New broadcast")))
	b.waitFor("step 1", `/^\/broadcasts\/\d+\/edit$/.test(location.pathname) && document.querySelector('#wizard[data-step="1"]') !== null`)
	b.retype("Name", "CSP check")
	b.do("choose the group", chromedp.Click(`//label[contains(normalize-space(), "CSP families")]`))
	b.waitFor("the audience count", `(document.querySelector('#bc-audience-count .bc-count-people') || {}).textContent === '2 people'`)
	b.do("continue to step 2", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 2", `document.querySelector('#wizard[data-step="2"]') !== null`)
	if got := evalJS[string](b, `(document.querySelector('input[name=mode]:checked') || {}).value || ''`); got != "sms" {
		b.do("choose SMS only", chromedp.Click(`//label[contains(normalize-space(), "SMS only")]`))
	}
	b.fill("SMS text", "School closes at noon")
	b.waitFor("the segment counter", `(document.getElementById('bc-sms-count') || {}).textContent.includes('21 characters')`)
	b.do("continue to step 3", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 3", `document.querySelector('#wizard[data-step="3"]') !== null`)
	b.do("continue to step 4", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 4", `document.querySelector('#wizard[data-step="4"]') !== null`)
	v.check(b, "broadcast wizard")

	for _, p := range []string{"/compose", "/contacts", "/dashboard", "/templates", "/senders", "/users"} {
		ctx, cancel := context.WithTimeout(b.ctx, browserWait)
		_, err := chromedp.Run(ctx, chromedp.Navigate(ta.URL+p))
		cancel()
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		b.waitFor(p+" loaded", `document.readyState === 'complete' && typeof htmx !== 'undefined'`)
		v.check(b, p)
	}
}
