package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/config"
)

// soak reports whether the long versions of the fault tests run
// (`go tool task soak` sets CLASSLINE_SOAK=1); the normal suite runs a
// short version of each.
func soak() bool { return os.Getenv("CLASSLINE_SOAK") == "1" }

// lockedBuffer collects the app's log lines for a test to read.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFaultApp is startTestApp on a given database URL (empty: a fresh
// test database) whose JSON log (info and up) goes to logw as well as to
// the test log, so a test can check what the app said about a fault.
func startFaultApp(t *testing.T, dbURL string, logw io.Writer) *testApp {
	t.Helper()
	if dbURL == "" {
		dbURL = dbtest.NewURL(t)
	}
	env := map[string]string{
		"DATABASE_URL":  dbURL,
		"ADDR":          "127.0.0.1:0",
		"CLASSLINE_VAR": t.TempDir(),
		"SESSION_KEY":   strings.Repeat("k", 40),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = testWriter{t}
	if logw != nil {
		w = io.MultiWriter(testWriter{t}, logw)
	}
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := startApp(context.Background(), cfg, appOptions{Listener: ln, Logger: logger, Progress: io.Discard, SimStepDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Logf("close app: %v", err)
		}
	})
	a.URL = "http://" + ln.Addr().String()
	return &testApp{app: a, t: t, token: a.simToken}
}

// stormRank is the status order written out here, independently of
// internal/policy: a failure ends a message that was never delivered.
var stormRank = map[string]int{"accepted": 0, "queued": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5, "undelivered": 5}

type stormCallback struct {
	sid, status string
	code        int
}

// stormPaths are the full callback paths a message can take: WhatsApp to
// read, SMS to delivered, a carrier failure after sent, an undelivered
// SMS, a WhatsApp message refused at once (outside the window).
var stormPaths = []struct {
	statuses []string
	code     int
}{
	{[]string{"queued", "sent", "delivered", "read"}, 0},
	{[]string{"queued", "sent", "delivered", "read"}, 0},
	{[]string{"queued", "sent", "delivered"}, 0},
	{[]string{"queued", "sent", "failed"}, 30008},
	{[]string{"queued", "sent", "undelivered"}, 30003},
	{[]string{"queued", "failed"}, 63016},
}

// expectedFinal is where a path must end whatever the arrival order: at
// its failure if it has one (a failure applies over queued and sent, and
// these paths never reach delivered), else at its furthest status.
func expectedFinal(statuses []string) string {
	best := ""
	for _, s := range statuses {
		if s == "failed" || s == "undelivered" {
			return s
		}
		if best == "" || stormRank[s] > stormRank[best] {
			best = s
		}
	}
	return best
}

// Issue 9, webhook storm: every message's whole status path, 10% of the
// callbacks twice, all shuffled and posted by 20 concurrent senders. Every
// callback is answered 200 and kept as one event; each message ends at the
// furthest status of its path; no applied event ever moves a message back.
func TestWebhookStorm(t *testing.T) {
	n := 150
	if soak() {
		n = 3000
	}
	ta := startFaultApp(t, "", nil)
	ctx := context.Background()
	// Messages as the composer leaves them before Twilio's first callback.
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO messages (direction, channel, from_address, to_address, body, twilio_sid, status)
		SELECT 'outbound', CASE WHEN i % 6 IN (0, 1, 5) THEN 'whatsapp' ELSE 'sms' END, '+15550000001',
			'+1555100' || lpad(i::text, 4, '0'), 'storm', 'SMstorm' || lpad(i::text, 8, '0'), 'accepted'
		FROM generate_series(0, $1 - 1) AS i`, n); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(9))
	var list []stormCallback
	want := map[string]string{}
	wantCode := map[string]int{}
	for i := range n {
		sid := fmt.Sprintf("SMstorm%08d", i)
		p := stormPaths[i%len(stormPaths)]
		for _, st := range p.statuses {
			code := 0
			if st == "failed" || st == "undelivered" {
				code = p.code
			}
			cb := stormCallback{sid, st, code}
			list = append(list, cb)
			if rng.Float64() < 0.10 {
				list = append(list, cb)
			}
		}
		want[sid] = expectedFinal(p.statuses)
		wantCode[sid] = p.code
	}
	rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })

	work := make(chan stormCallback)
	var bad atomic.Int64
	var firstBad atomic.Value
	client := &http.Client{Timeout: 15 * time.Second} // Twilio's patience
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cb := range work {
				f := statusForm(cb.sid, cb.status, cb.code)
				req, _ := http.NewRequest(http.MethodPost, ta.URL+statusPath, strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", twilioSignature(ta.token, ta.cfg.PublicURL+statusPath, f))
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d", cb.sid, cb.status, resp.StatusCode))
				}
			}
		}()
	}
	for _, cb := range list {
		work <- cb
	}
	close(work)
	wg.Wait()
	if b := bad.Load(); b != 0 {
		t.Fatalf("%d of %d callbacks not answered 200 (first: %v)", b, len(list), firstBad.Load())
	}

	var events, pending int
	if err := ta.db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE pending) FROM message_events WHERE message_sid LIKE 'SMstorm%'`).Scan(&events, &pending); err != nil {
		t.Fatal(err)
	}
	if events != len(list) || pending != 0 {
		t.Errorf("message_events: %d rows (%d pending), want exactly %d callbacks posted, none pending", events, pending, len(list))
	}

	rows, err := ta.db.Pool.Query(ctx, `SELECT twilio_sid, status, coalesce(error_code, 0) FROM messages WHERE twilio_sid LIKE 'SMstorm%'`)
	if err != nil {
		t.Fatal(err)
	}
	got, gotCode := map[string]string{}, map[string]int{}
	for rows.Next() {
		var sid, st string
		var code int
		if err := rows.Scan(&sid, &st, &code); err != nil {
			t.Fatal(err)
		}
		got[sid], gotCode[sid] = st, code
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for sid, w := range want {
		wc := 0
		if w == "failed" || w == "undelivered" {
			wc = wantCode[sid]
		}
		if got[sid] != w || gotCode[sid] != wc {
			if wrong < 5 {
				t.Errorf("%s: final %s (code %d), want %s (code %d)", sid, got[sid], gotCode[sid], w, wc)
			}
			wrong++
		}
	}
	if wrong != 0 || len(got) != n {
		t.Fatalf("%d of %d messages ended at the wrong status (%d messages found)", wrong, n, len(got))
	}

	// Walk the applied events in id order: each must move its message
	// strictly forward, and the last one is where the message stands.
	rows, err = ta.db.Pool.Query(ctx, `SELECT message_sid, status FROM message_events WHERE message_sid LIKE 'SMstorm%' AND applied ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	backwards, applied := 0, 0
	for rows.Next() {
		var sid, st string
		if err := rows.Scan(&sid, &st); err != nil {
			t.Fatal(err)
		}
		applied++
		if prev, ok := last[sid]; ok && stormRank[st] <= stormRank[prev] {
			if backwards < 5 {
				t.Errorf("%s: applied %s after %s", sid, st, prev)
			}
			backwards++
		}
		last[sid] = st
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	mismatch := 0
	for sid, w := range want {
		if last[sid] != w {
			mismatch++
		}
	}
	if backwards != 0 || mismatch != 0 {
		t.Fatalf("%d applied events moved a message backwards; %d messages whose last applied event is not their final status", backwards, mismatch)
	}
	t.Logf("%d messages, %d callbacks posted (%d duplicates), %d applied", n, len(list), len(list)-countPath(n), applied)
}

// countPath is how many callbacks n messages' paths hold without duplicates.
func countPath(n int) int {
	c := 0
	for i := range n {
		c += len(stormPaths[i%len(stormPaths)].statuses)
	}
	return c
}

// Issue 9, a database that refuses writes (a disk-full PostgreSQL turns
// read-only in effect; simulated here with default_transaction_read_only,
// since filling a real disk is neither quick nor safe on a shared machine).
// A state-changing page shows a clear error page, the status webhook
// answers 5xx so Twilio retries, and the log says what happened.
// terminateAppSessions ends the app's sessions on the test database. It
// keeps to the test's own role: an autovacuum worker may be in the database
// too, and the (non-superuser) test role may not end a superuser process.
const terminateAppSessions = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()`

func TestReadOnlyDatabase(t *testing.T) {
	logs := &lockedBuffer{}
	dbURL := dbtest.NewURL(t)
	ta := startFaultApp(t, dbURL, logs)
	ctx := context.Background()
	c := ta.loginAdmin()
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO messages (direction, channel, from_address, to_address, body, twilio_sid, status)
		VALUES ('outbound', 'sms', '+15550000001', '+15551000001', 'ro', 'SMreadonly0001', 'queued')`); err != nil {
		t.Fatal(err)
	}
	tok := ta.csrfOf(c, "/compose")

	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var dbname string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	// Every new session starts read-only; the app's current sessions are
	// ended so its pool reconnects into the new default.
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbname}.Sanitize()+` SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, terminateAppSessions); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), `ALTER DATABASE `+pgx.Identifier{dbname}.Sanitize()+` RESET default_transaction_read_only`)
	})

	// Reading still works once the pool has reconnected (the first use of
	// each killed connection fails, answered 503 "cannot be reached").
	eventually(t, "the departments page to load on the read-only database", func() bool {
		_, st := ta.get(c, "/departments")
		return st == http.StatusOK
	})
	dtok := ta.csrfOf(c, "/departments")

	// Compose: the page says the database refuses changes, never "sent".
	form := url.Values{"_csrf": {tok}, "to": {"+15551234567"}, "channel": {"sms"}, "body": {"Read-only test"}}
	var last httpResult
	eventually(t, "compose to show the read-only error page", func() bool {
		last = doHTTP(t, c, http.MethodPost, ta.URL+"/compose", form, nil)
		if last.status < 500 {
			t.Fatalf("compose on a read-only database: %d, want a 5xx error page: %.300s", last.status, last.body)
		}
		return strings.Contains(last.body, "read-only")
	})
	if last.status != http.StatusServiceUnavailable || !strings.Contains(last.body, "not saved") || !strings.Contains(last.body, "<html") {
		t.Errorf("compose error page: %d, does not say nothing was saved: %.600s", last.status, last.body)
	}
	// An admin form (a new department) gets the same page.
	r := doHTTP(t, c, http.MethodPost, ta.URL+"/departments", url.Values{"_csrf": {dtok}, "name": {"Science"}}, nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "read-only") {
		t.Errorf("new department on a read-only database: %d %.400s", r.status, r.body)
	}
	// htmx requests get the message as a toast.
	r = doHTTP(t, c, http.MethodPost, ta.URL+"/compose", form, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "read-only") {
		t.Errorf("htmx compose on a read-only database: %d %.400s", r.status, r.body)
	}

	// The webhook: a 5xx, so Twilio retries.
	if code, body := ta.webhook(statusPath, statusForm("SMreadonly0001", "delivered", 0), ta.token); code < 500 {
		t.Errorf("status webhook on a read-only database: %d %s, want 5xx", code, body)
	}
	in := inboundForm(newSID(), "whatsapp:+15551112222", "whatsapp:+14155550101", "hello", "Ro")
	if code, body := ta.webhook(inboundPath, in, ta.token); code < 500 {
		t.Errorf("inbound webhook on a read-only database: %d %s, want 5xx", code, body)
	}
	// Nothing was written.
	var msgs int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM messages WHERE body IN ('Read-only test', 'hello')`).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if msgs != 0 {
		t.Errorf("%d messages written to a read-only database", msgs)
	}
	if n := len(ta.sim.Messages()); n != 0 {
		t.Errorf("%d messages reached Twilio although none could be recorded", n)
	}
	// The log names the cause.
	out := logs.String()
	if !strings.Contains(out, "read-only") || !strings.Contains(out, "25006") {
		t.Errorf("log does not say the database refused the write (read-only, 25006):\n%s", out)
	}

	// Writable again: the same form works without restarting the app.
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbname}.Sanitize()+` RESET default_transaction_read_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, terminateAppSessions); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the status webhook to be accepted again", func() bool {
		code, _ := ta.webhook(statusPath, statusForm("SMreadonly0001", "delivered", 0), ta.token)
		return code == http.StatusOK
	})
}
