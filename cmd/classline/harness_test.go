package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/config"
)

// testApp is a whole Classline (real PostgreSQL database of its own, the
// in-process Twilio simulator, real HTTP) started for one test.
type testApp struct {
	*app
	t     testing.TB
	token string // the simulator's auth token, which signs webhooks
}

type testOptions struct {
	StepDelay time.Duration
	Env       map[string]string
	// App adjusts the app's start options (simulator faults, loop timings).
	App func(*appOptions)
}

// startTestApp starts Classline on a random loopback port with a fresh database.
func startTestApp(t testing.TB, o testOptions) *testApp {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":  dbtest.NewURL(t),
		"ADDR":          "127.0.0.1:0",
		"CLASSLINE_VAR": t.TempDir(),
		"SESSION_KEY":   strings.Repeat("k", 40),
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.StepDelay == 0 {
		o.StepDelay = 30 * time.Millisecond
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ao := appOptions{Listener: ln, PublicURLSet: env["PUBLIC_URL"] != "", Logger: logger, Progress: io.Discard, SimStepDelay: o.StepDelay}
	if o.App != nil {
		o.App(&ao)
	}
	a, err := startApp(context.Background(), cfg, ao)
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	// Tests talk to the listener; PUBLIC_URL (when given) is only what Twilio
	// would call, and webhooks are signed against it.
	a.URL = "http://" + ln.Addr().String()
	ta := &testApp{app: a, t: t, token: a.simToken}
	if _, shared := o.Env["DATABASE_URL"]; !shared && a.AdminPW == "" {
		t.Fatal("first admin was not created on a fresh database")
	}
	return ta
}

// testWriter sends server logs to the test log, shown only on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client returns an HTTP client with its own cookie jar that does not follow redirects.
func (ta *testApp) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var csrfMeta = regexp.MustCompile(`name="_csrf" value="([^"]+)"|name="csrf-token" content="([^"]+)"`)

// csrfOf fetches path and returns the CSRF token the page carries.
func (ta *testApp) csrfOf(c *http.Client, path string) string {
	ta.t.Helper()
	body, status := ta.get(c, path)
	if status != http.StatusOK {
		ta.t.Fatalf("GET %s: %d", path, status)
	}
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		ta.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1] + m[2]
}

func (ta *testApp) get(c *http.Client, path string) (string, int) {
	ta.t.Helper()
	resp, err := c.Get(ta.URL + path)
	if err != nil {
		ta.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func (ta *testApp) postForm(c *http.Client, path string, form url.Values) *http.Response {
	ta.t.Helper()
	resp, err := c.PostForm(ta.URL+path, form)
	if err != nil {
		ta.t.Fatalf("POST %s: %v", path, err)
	}
	ta.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// login signs in and returns a client holding the session.
func (ta *testApp) login(email, password string) *http.Client {
	ta.t.Helper()
	c := ta.client()
	tok := ta.csrfOf(c, "/login")
	resp := ta.postForm(c, "/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		ta.t.Fatalf("login %s: status %d: %s", email, resp.StatusCode, b)
	}
	return c
}

func (ta *testApp) loginAdmin() *http.Client { return ta.login(ta.AdminEML, ta.AdminPW) }

// addUser creates a user in the given departments (slugs) and returns its password.
func (ta *testApp) addUser(email, role string, departments ...string) string {
	ta.t.Helper()
	ctx := context.Background()
	var ids []int64
	for _, d := range departments {
		id, err := ta.db.EnsureDepartment(ctx, d, d)
		if err != nil {
			ta.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	pw := auth.GeneratePassword()
	hash, err := auth.HashPassword(pw)
	if err != nil {
		ta.t.Fatal(err)
	}
	if _, err := ta.db.CreateUser(ctx, db.NewUser{Email: email, Name: email, Role: role, PasswordHash: hash, DepartmentIDs: ids}); err != nil {
		ta.t.Fatal(err)
	}
	return pw
}

// twilioSignature is Twilio's documented scheme, written here independently
// of twilio-go and of our gateway: base64(HMAC-SHA1(token, URL + sorted k+v)).
func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// webhook posts a Twilio-style form to path, signed with token unless token is empty.
func (ta *testApp) webhook(path string, form url.Values, token string) (int, string) {
	ta.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ta.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		ta.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("X-Twilio-Signature", twilioSignature(token, ta.cfg.PublicURL+path, form))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds or the (generous) deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
