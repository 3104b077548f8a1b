package messaging_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/internal/policy"
)

// Status callbacks posted all at once are group-committed (several in one
// transaction), and the outcome is exactly what one transaction per
// callback gives: every callback kept, each message at its furthest status,
// the applied ones in order, early ones pending, and a callback PostgreSQL
// refuses failing alone while the rest of its batch is kept.
func TestStatusCallbacksGroupCommitted(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var maxBatch, batches atomic.Int64
	e.svc.OnStatusBatch = func(n int) {
		batches.Add(1)
		for {
			m := maxBatch.Load()
			if int64(n) <= m || maxBatch.CompareAndSwap(m, int64(n)) {
				return
			}
		}
	}

	const messages = 30
	sids := make([]string, messages)
	ids := make([]int64, messages)
	for i := range messages {
		sids[i] = fmt.Sprintf("SMgroup%027d", i)
		if err := e.db.Pool.QueryRow(ctx, `INSERT INTO messages (direction, channel, from_address, to_address, twilio_sid, status)
			VALUES ('outbound', 'sms', '+15550100000', $1, $2, 'accepted') RETURNING id`, fmt.Sprintf("+1555020%04d", i), sids[i]).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	type callback struct{ p map[string]string }
	var cbs []callback
	rng := rand.New(rand.NewPCG(1, 2))
	perSID := map[string]int{}
	for _, sid := range sids {
		for _, st := range []string{"queued", "sent", "delivered"} {
			cbs = append(cbs, callback{p: map[string]string{"MessageSid": sid, "MessageStatus": st, "AccountSid": account}})
			perSID[sid]++
			if rng.IntN(10) == 0 { // a redelivery
				cbs = append(cbs, callback{p: map[string]string{"MessageSid": sid, "MessageStatus": st, "AccountSid": account}})
				perSID[sid]++
			}
		}
	}
	// Callbacks for messages whose SID is not stored yet: kept as pending.
	const early = 12
	for i := range early {
		cbs = append(cbs, callback{p: map[string]string{"MessageSid": fmt.Sprintf("SMearly%027d", i), "MessageStatus": "sent", "AccountSid": account}})
	}
	rng.Shuffle(len(cbs), func(i, j int) { cbs[i], cbs[j] = cbs[j], cbs[i] })

	var appliedN atomic.Int64
	post := func(cbs []callback) (errs []error) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		errs = make([]error, len(cbs))
		start := make(chan struct{})
		for i, cb := range cbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				applied, err := e.svc.ApplyStatus(ctx, cb.p)
				mu.Lock()
				defer mu.Unlock()
				errs[i] = err
				if applied {
					appliedN.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	for _, err := range post(cbs) {
		if err != nil {
			t.Fatalf("callback failed: %v", err)
		}
	}
	if maxBatch.Load() < 2 {
		t.Errorf("%d callbacks at once were never committed together (largest batch %d in %d transactions)", len(cbs), maxBatch.Load(), batches.Load())
	}
	t.Logf("%d callbacks in %d transactions, largest %d", len(cbs), batches.Load(), maxBatch.Load())

	// Then a NUL byte, which PostgreSQL refuses, among redeliveries: that
	// callback alone fails; the others, committed with it or not, are kept.
	second := []callback{{p: map[string]string{"MessageSid": sids[0], "MessageStatus": "read", "AccountSid": account, "ErrorMessage": "bad\x00byte"}}}
	for _, sid := range sids[1:] {
		second = append(second, callback{p: map[string]string{"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": account}})
		perSID[sid]++
	}
	// Every committer is held busy until the whole wave has queued, so it
	// is committed as one batch with the bad callback inside.
	var logBuf syncBuffer
	e.svc.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
	release, queued := e.svc.HoldStatusCommits()
	done := make(chan []error)
	go func() { done <- post(second) }()
	deadline := time.Now().Add(30 * time.Second)
	for queued() < len(second) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := queued(); n != len(second) {
		t.Fatalf("%d of %d callbacks queued behind the held committers", n, len(second))
	}
	release()
	for i, err := range <-done {
		if (err != nil) != (i == 0) {
			t.Errorf("second wave, callback %d (%s): err %v", i, second[i].p["MessageStatus"], err)
		}
	}
	if !strings.Contains(logBuf.String(), "status batch failed") || !strings.Contains(logBuf.String(), fmt.Sprintf("callbacks=%d", len(second))) {
		t.Errorf("the wave was not one failed batch retried one by one; log:\n%s", logBuf.String())
	}

	total := 0
	for i, sid := range sids {
		if got := e.status(ids[i]); got != "delivered" {
			t.Errorf("message %d: status %s, want delivered", i, got)
		}
		evs := e.events(sid)
		total += len(evs)
		if len(evs) != perSID[sid] {
			t.Errorf("message %d: %d events kept, want %d", i, len(evs), perSID[sid])
		}
		// Applied ones, in the order they were stored, only ever move on.
		last := ""
		for _, ev := range evs {
			if ev.Pending {
				t.Errorf("message %d: event %s pending though its SID was known", i, ev.Status)
			}
			if !ev.Applied {
				continue
			}
			if !policy.ShouldApplyStatus(last, ev.Status) {
				t.Errorf("message %d: applied %s after %s", i, ev.Status, last)
			}
			last = ev.Status
		}
		if last != "delivered" {
			t.Errorf("message %d: last applied %q, want delivered", i, last)
		}
	}
	if n := e.count(`SELECT count(*) FROM message_events WHERE applied`); int64(n) != appliedN.Load() {
		t.Errorf("%d events stored as applied, %d callbacks reported applied", n, appliedN.Load())
	}
	if n := e.count(`SELECT count(*) FROM message_events WHERE pending AND message_sid LIKE 'SMearly%'`); n != early {
		t.Errorf("%d early callbacks pending, want %d", n, early)
	}
	if n := e.count(`SELECT count(*) FROM message_events WHERE status = 'read' OR payload::text LIKE '%bad%'`); n != 0 {
		t.Errorf("the refused callback left %d rows", n)
	}
	if want := len(cbs) - early + len(second) - 1; total != want {
		t.Errorf("%d events for the sent messages, want %d", total, want)
	}
}

func (e *env) status(id int64) string {
	e.t.Helper()
	var s string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT status FROM messages WHERE id = $1`, id).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
