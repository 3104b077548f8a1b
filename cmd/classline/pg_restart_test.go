package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/internal/pglocal"
)

// posted is one webhook the load generator sent and how it was answered.
type posted struct {
	kind, sid, marker string
	status            int // 0: no answer (error or past Twilio's 15 s)
	err               string
	start, end        time.Time
}

// sseWatch reads the admin's live stream, reconnecting as a browser's
// EventSource does, and records every data line with when it came.
type sseWatch struct {
	mu    sync.Mutex
	lines []sseLine
	conns atomic.Int64
}

type sseLine struct {
	at   time.Time
	text string
}

func (w *sseWatch) run(ctx context.Context, ta *testApp, c *http.Client) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ta.URL+"/events", nil)
		// The harness client's 15 s timeout would cut a stream; this one has none.
		sc := &http.Client{Jar: c.Jar}
		resp, err := sc.Do(req)
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				w.conns.Add(1)
				r := bufio.NewReader(resp.Body)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						break
					}
					w.mu.Lock()
					w.lines = append(w.lines, sseLine{time.Now(), line})
					w.mu.Unlock()
				}
			}
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// seen reports whether a line containing s arrived after t.
func (w *sseWatch) seen(s string, after time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if l.at.After(after) && strings.Contains(l.text, s) {
			return true
		}
	}
	return false
}

// Issue 9: PostgreSQL restarted under load. A private cluster (the shared
// test cluster must not be restarted) is stopped (fast shutdown) while
// inbound and status webhooks keep coming, then started again. The app
// reconnects by itself: every webhook answered 200 is stored; during the
// outage webhooks get a 5xx (Twilio retries those), never a 200 and never a
// hang past Twilio's 15 s; afterwards 200s and live events resume.
func TestPostgresRestartMidLoad(t *testing.T) {
	ctx := context.Background()
	outage := 4 * time.Second
	if soak() {
		outage = 20 * time.Second
	}
	dir := filepath.Join(t.TempDir(), "pg")
	opts := pglocal.Options{Dir: dir, DBName: "classline", Fast: true}
	cl, err := pglocal.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop() })
	ta := startFaultApp(t, cl.URL("classline"), nil)
	admin := ta.loginAdmin()
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO messages (direction, channel, from_address, to_address, body, twilio_sid, status)
		SELECT 'outbound', 'sms', '+15550000001', '+1555200' || lpad(i::text, 4, '0'), 'r', 'SMrestart' || lpad(i::text, 6, '0'), 'accepted'
		FROM generate_series(0, 199) AS i`); err != nil {
		t.Fatal(err)
	}

	sseCtx, stopSSE := context.WithCancel(ctx)
	defer stopSSE()
	watch := &sseWatch{}
	go watch.run(sseCtx, ta, admin)

	var (
		mu      sync.Mutex
		results []posted
		seq     atomic.Int64
	)
	client := &http.Client{Timeout: 15 * time.Second} // Twilio's patience
	post := func(kind string) posted {
		i := seq.Add(1)
		p := posted{kind: kind, marker: fmt.Sprintf("m%06d", i)}
		var path string
		var f = statusForm(fmt.Sprintf("SMrestart%06d", i%200), []string{"queued", "sent", "delivered"}[i%3], 0)
		if kind == "inbound" {
			p.sid = fmt.Sprintf("SMrestartin%06d", i)
			f = inboundForm(p.sid, fmt.Sprintf("whatsapp:+1555300%04d", i%50), "whatsapp:+14155550101", "restart "+p.marker, "Parent")
			path = inboundPath
		} else {
			p.sid = f.Get("MessageSid")
			path = statusPath
		}
		// An extra parameter, as Twilio adds new ones: kept in the event's
		// payload, it tells this request's event from the others.
		f.Set("TestMarker", p.marker)
		req, _ := http.NewRequest(http.MethodPost, ta.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSignature(ta.token, ta.cfg.PublicURL+path, f))
		p.start = time.Now()
		resp, err := client.Do(req)
		p.end = time.Now()
		if err != nil {
			p.err = err.Error()
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			p.status = resp.StatusCode
		}
		mu.Lock()
		results = append(results, p)
		mu.Unlock()
		return p
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kind := "status"
			if g%2 == 0 {
				kind = "inbound"
			}
			for loadCtx.Err() == nil {
				post(kind)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	time.Sleep(2 * time.Second)
	stopAt := time.Now()
	if err := cl.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	stopped := time.Now()
	time.Sleep(outage)
	startAt := time.Now()
	if cl, err = pglocal.Start(ctx, opts); err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	started := time.Now()
	t.Logf("PostgreSQL stopped %v (stop took %v), started again after %v", stopAt.Format(time.StampMilli), stopped.Sub(stopAt), started.Sub(stopAt))

	// 200s resume without restarting the app: 20 in a row for each kind.
	eventually(t, "webhooks to be answered 200 again after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		ok := map[string]int{}
		for i := len(results) - 1; i >= 0 && results[i].start.After(started); i-- {
			if results[i].status == http.StatusOK {
				ok[results[i].kind]++
			}
		}
		return ok["inbound"] >= 20 && ok["status"] >= 20
	})
	stopLoad()
	wg.Wait()

	// Live events resume: an inbound message sent now reaches the stream.
	afterRestart := time.Now()
	marker := ""
	eventually(t, "a live event after the restart", func() bool {
		if marker == "" || time.Since(afterRestart) > 5*time.Second {
			p := post("inbound")
			if p.status == http.StatusOK {
				marker, afterRestart = p.marker, p.start
			}
		}
		return marker != "" && watch.seen("restart "+marker, afterRestart)
	})
	stopSSE()

	// Every 200 is stored; every answer is a 200 or a 5xx; requests that
	// began and ended inside the outage are all 5xx.
	inbound := map[string]bool{}
	rows, err := ta.db.Pool.Query(ctx, `SELECT twilio_sid FROM messages WHERE twilio_sid LIKE 'SMrestartin%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		inbound[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	markers := map[string]bool{}
	rows, err = ta.db.Pool.Query(ctx, `SELECT payload->>'TestMarker' FROM message_events WHERE payload ? 'TestMarker'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		markers[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var ok200, lost, fivexx, other, hung, outageReqs, outage200 int
	for _, p := range results {
		switch {
		case p.status == http.StatusOK:
			ok200++
			stored := inbound[p.sid]
			if p.kind == "status" {
				stored = markers[p.marker]
			}
			if !stored {
				lost++
				if lost <= 5 {
					t.Errorf("%s %s (%s) answered 200 at %s but not stored", p.kind, p.sid, p.marker, p.end.Format(time.StampMilli))
				}
			}
		case p.status >= 500:
			fivexx++
		case p.status == 0:
			hung++
			t.Errorf("%s %s got no answer (%s) after %v", p.kind, p.marker, p.err, p.end.Sub(p.start))
		default:
			other++
			t.Errorf("%s %s answered %d", p.kind, p.marker, p.status)
		}
		if p.start.After(stopped) && p.end.Before(startAt) {
			outageReqs++
			if p.status == http.StatusOK {
				outage200++
			}
		}
	}
	t.Logf("%d webhooks: %d answered 200 (%d not stored), %d 5xx, %d other, %d unanswered; %d wholly inside the outage (%d of them 200); SSE connections %d",
		len(results), ok200, lost, fivexx, other, hung, outageReqs, outage200, watch.conns.Load())
	if lost != 0 || hung != 0 || other != 0 || outage200 != 0 {
		t.Fatalf("%d acknowledged webhooks lost, %d unanswered, %d neither 200 nor 5xx, %d answered 200 while PostgreSQL was down", lost, hung, other, outage200)
	}
	if outageReqs == 0 || fivexx == 0 {
		t.Fatalf("no webhook was posted during the outage (%d) or none got a 5xx (%d): the fault did not happen", outageReqs, fivexx)
	}
}
