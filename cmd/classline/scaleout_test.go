package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// TestMain lets a test re-execute its own binary as `classline serve`
// (CLASSLINE_TEST_SERVE=1), so scale-out tests run real processes that can
// be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("CLASSLINE_TEST_SERVE") == "1" {
		os.Args = os.Args[:1]
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer collects a child's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one Classline process of a scale-out test.
type instance struct {
	url string
	cmd *exec.Cmd
	out *syncBuffer
}

// roundRobin is the "small reverse proxy" in front of the instances: the
// one PUBLIC_URL Twilio (the simulator) calls.
type roundRobin struct {
	mu       sync.Mutex
	backends []*url.URL
	inflight map[string]int // requests under way, by backend host
	next     atomic.Int64
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.mu.Lock()
	n := len(rr.backends)
	var target *url.URL
	if n > 0 {
		target = rr.backends[int(rr.next.Add(1))%n]
		rr.inflight[target.Host]++
	}
	rr.mu.Unlock()
	if target == nil {
		http.Error(w, "no backend", http.StatusBadGateway)
		return
	}
	defer func() {
		rr.mu.Lock()
		rr.inflight[target.Host]--
		rr.mu.Unlock()
	}()
	p := httputil.NewSingleHostReverseProxy(target)
	p.FlushInterval = -1
	p.ServeHTTP(w, r)
}

// drained reports whether no request to the backend is under way.
func (rr *roundRobin) drained(u string) bool {
	parsed, _ := url.Parse(u)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.inflight[parsed.Host] == 0
}

func (rr *roundRobin) set(urls ...string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.backends = rr.backends[:0]
	for _, u := range urls {
		parsed, _ := url.Parse(u)
		rr.backends = append(rr.backends, parsed)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startInstance runs `classline serve` as a child process and waits until
// it serves its sign-in page.
func startInstance(t *testing.T, env []string) *instance {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), "ADDR="+addr, "CLASSLINE_TEST_SERVE=1", "CLASSLINE_VAR="+t.TempDir())
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{url: "http://" + addr, cmd: cmd, out: out}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("instance %s output:\n%s", addr, out.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(in.url + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance on %s did not start:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var firstAdminPassword = regexp.MustCompile(`password:\s+(\S+)`)

// Three Classline processes on one PostgreSQL behind one PUBLIC_URL: a
// broadcast's sends spread over all three, the sender's rate holds across
// them (one shared bucket, not one each), a process killed with SIGKILL
// mid-broadcast loses nothing and duplicates nothing, and a live event
// stored by one process reaches a browser connected to another.
func TestScaleOutThreeProcesses(t *testing.T) {
	const (
		sid, token = "AC" + "5ca1e0000000000000000000000000ff", "scaleouttoken0123456789abcdef012"
		smsNumber  = "+14155550199"
		recipients = 400
		rate       = 50.0 // messages per second for the sender, shared by all processes
	)
	dbURL := dbtest.NewURL(t)
	rr := &roundRobin{inflight: map[string]int{}}
	proxy := httptest.NewServer(rr)
	t.Cleanup(proxy.Close)
	sim := twiliosim.New(twiliosim.Config{AccountSID: sid, AuthToken: token, Latency: 20 * time.Millisecond, MaxConcurrent: 100,
		StepDelay: 300 * time.Millisecond, InboundURL: proxy.URL + "/webhooks/twilio/inbound"})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(sim.Close)
	env := []string{"DATABASE_URL=" + dbURL, "PUBLIC_URL=" + proxy.URL, "TWILIO_ACCOUNT_SID=" + sid, "TWILIO_AUTH_TOKEN=" + token,
		"TWILIO_API_BASE=" + simSrv.URL, "TWILIO_SMS_NUMBER=" + smsNumber, "SESSION_KEY=" + "scale-out-test-session-key-0123456789abcdef",
		"CLASSLINE_ADMIN_EMAIL=admin@school.example", "BROADCAST_SEND_LEASE=15s", "LOG_LEVEL=warn"}

	// The first process migrates the database and creates the first admin.
	first := startInstance(t, env)
	// It prints the password just after it starts serving.
	var adminPW string
	waitFor(t, 30*time.Second, "the first admin's password", func() bool {
		m := firstAdminPassword.FindStringSubmatch(first.out.String())
		if m != nil {
			adminPW = m[1]
		}
		return m != nil
	})
	second, third := startInstance(t, env), startInstance(t, env)
	instances := []*instance{first, second, third}
	rr.set(first.url, second.url, third.url)

	ctx := context.Background()
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		return db.SetQuietHoursTx(ctx, tx, policy.QuietHours{Enabled: false, Start: "21:00", End: "07:00"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE senders SET rate_per_second = $1 WHERE address = $2`, rate, smsNumber); err != nil {
		t.Fatal(err)
	}
	numbers := make([]string, recipients)
	var gid int64
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO groups (name) VALUES ('Year 9 families') RETURNING id`).Scan(&gid); err != nil {
			return err
		}
		rows := make([][]any, recipients)
		for i := range rows {
			numbers[i] = fmt.Sprintf("+1415%07d", 7100005+10*i)
			rows[i] = []any{numbers[i], fmt.Sprintf("Family %d", i)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"phone", "name"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, contact_id) SELECT $1, id FROM contacts`, gid)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := broadcast.Spec{Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Sports day moves to Friday."}}
	a, c, s, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var bid int64
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		bid, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Sports day", Audience: a, Content: c, Sender: s})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Launching only inserts the preparation job: any process may take it.
	gw, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, APIBase: simSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	launcher, err := broadcast.New(&broadcast.Engine{DB: d, Gateway: gw}, broadcast.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := launcher.Launch(ctx, bid, nil, broadcast.Actor{}); err != nil {
		t.Fatal(err)
	}

	// A third of the way, the second process dies mid-send. The proxy
	// stops sending it requests first, as a load balancer's health check
	// would, and lets the callbacks under way finish: Twilio does not retry
	// a status callback that failed, so a callback cut off here would leave
	// a status behind, which is not what this test is about. Its own sends
	// to Twilio are cut off mid-call.
	waitFor(t, 3*time.Minute, "a third of the broadcast at Twilio", func() bool { return len(sim.Messages()) >= recipients/3 })
	rr.set(first.url, third.url)
	waitFor(t, 30*time.Second, "the proxy drained of the second process", func() bool { return rr.drained(second.url) })
	if err := second.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := len(sim.Messages())
	t.Logf("second process killed at %s", time.Now().Format("15:04:05.000"))
	waitFor(t, 4*time.Minute, "every recipient submitted", func() bool {
		var n int
		_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'submitted'`, bid).Scan(&n)
		return n == recipients
	})

	// Exactly once at Twilio.
	msgs := sim.Messages()
	perNumber := map[string]int{}
	var created []time.Time
	for _, m := range msgs {
		if m.Direction != "outbound-api" {
			continue
		}
		perNumber[m.To]++
		created = append(created, m.DateCreated)
	}
	dumped := 0
	for _, n := range numbers {
		if perNumber[n] != 1 {
			t.Errorf("%s got %d messages, want exactly 1", n, perNumber[n])
			if dumped < 3 {
				dumped++
				rows, err := d.Pool.Query(ctx, `SELECT format('attempt %s %s http=%s code=%s %s started %s recorded %s by %s', a.attempt, a.outcome, a.http_status, a.error_code,
					a.error_message, to_char(a.started_at, 'HH24:MI:SS.MS'), to_char(a.finished_at, 'HH24:MI:SS.MS'), a.instance)
					FROM broadcast_attempts a JOIN broadcast_recipients r ON r.id = a.recipient_id WHERE r.phone = $1 ORDER BY a.id`, n)
				if err != nil {
					t.Log(err)
				} else {
					lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
					t.Log(lines, err)
				}
				var rs string
				_ = d.Pool.QueryRow(ctx, `SELECT format('recipient %s state %s attempts %s sid %s msg %s', id, state, attempts, message_sid, message_id) FROM broadcast_recipients WHERE phone = $1`, n).Scan(&rs)
				t.Log(rs)
				for _, m := range msgs {
					if m.To == n {
						t.Logf("  at sim: %s created %s status %s", m.SID, m.DateCreated.Format("15:04:05.000"), m.Status)
					}
				}
			}
		}
	}
	if len(perNumber) != recipients {
		t.Errorf("%d numbers reached at Twilio, want %d", len(perNumber), recipients)
	}
	t.Logf("%d messages at Twilio when the second process was killed", killedAt)

	// The work spread over the three processes.
	var byInstance []int
	rows, err := d.Pool.Query(ctx, `SELECT count(*) FROM broadcast_attempts WHERE broadcast_id = $1 AND outcome IN ('submitted', 'found_at_twilio')
		GROUP BY instance ORDER BY 1 DESC`, bid)
	if err != nil {
		t.Fatal(err)
	}
	byInstance, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(byInstance) != len(instances) {
		t.Errorf("sends by process: %v; want all %d processes to have sent", byInstance, len(instances))
	}

	// One bucket for the sender across processes: after its burst, no
	// faster than its rate. Measured on the sends made
	// before the kill (after it, the lease wait would hide a fast rate).
	// Three separate buckets would have sent about three times faster; a
	// slow machine only makes it slower.
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })
	before := created[:killedAt]
	span := before[len(before)-1].Sub(before[0]).Seconds()
	// The bucket's burst is one second's worth, and each process may hold
	// a tenth of a second's worth it has taken but not used yet.
	floor := (float64(len(before)) - rate - float64(len(instances))*rate/10) / rate
	if span < 0.9*floor {
		t.Errorf("%d messages in %.2fs: faster than the sender's %.0f/s shared by all processes (at least %.2fs expected)", len(before), span, rate, floor)
	}
	t.Logf("first %d messages over %.2fs (rate %.0f/s, floor %.2fs); all %d over %.1fs; sends by process %v",
		len(before), span, rate, floor, len(created), created[len(created)-1].Sub(created[0]).Seconds(), byInstance)

	// The status callbacks of all those messages went through the proxy to
	// the live processes.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		var statuses string
		_ = d.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'delivered'), string_agg(DISTINCT status, ',') FROM messages WHERE broadcast_id = $1`, bid).Scan(&n, &statuses)
		if n == recipients {
			break
		}
		if time.Now().After(deadline) {
			var sims = map[string]int{}
			for _, m := range sim.Messages() {
				sims[m.Status]++
			}
			t.Fatalf("%d of %d messages delivered after 2 minutes (statuses %s; at the simulator %v)", n, recipients, statuses, sims)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A live event stored by the first process reaches a browser on the third.
	onThird := &testApp{app: &app{URL: third.url, AdminEML: "admin@school.example", AdminPW: adminPW, cfg: config.Config{PublicURL: proxy.URL}}, t: t, token: token}
	viaFirst := &testApp{app: &app{URL: first.url, cfg: config.Config{PublicURL: proxy.URL}}, t: t, token: token}
	b := newBrowser(t)
	signIn(b, onThird)
	b.waitLive()
	b.setMarker()
	if status, body := viaFirst.webhook("/webhooks/twilio/inbound", inboundForm(newSID(), "+15550009001", smsNumber, "Is sports day still on?", ""), token); status != http.StatusOK {
		t.Fatalf("inbound webhook on the first process: %d %s", status, body)
	}
	b.waitFor("the message in the third process's inbox", `[...document.querySelectorAll('#conv-list .conv-item')].some((e) => e.textContent.includes('Is sports day still on?'))`)
	b.assertNoReload("the inbox on the third process")
}

// waitFor polls cond until it holds or limit passes (generous: a loaded
// machine is slow, never wrong).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
