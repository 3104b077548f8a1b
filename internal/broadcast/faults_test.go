package broadcast_test

import (
	"testing"
	"time"

	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/twiliosim"
)

// Every Twilio fault the simulator has, in one broadcast: 429s, 500s,
// connections cut before and after Twilio created the message, answers
// slower than the call's timeout (1.5 s, half the 3 s lease) and creates
// that finish after the call gave up. Everyone gets exactly one message.
func TestEngineExactlyOnceUnderEveryFault(t *testing.T) {
	n := 300
	e := newEnv(t, envOptions{sim: twiliosim.Config{
		RateLimitRate: 0.08, ServerErrorRate: 0.05, LostResponseRate: 0.05, ResetRate: 0.08,
		SlowResponseRate: 0.05, SlowResponseDelay: 2500 * time.Millisecond,
		LateCreateRate: 0.04, LateCreateDelay: 2 * time.Second,
	}})
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 100000`)
	e.must(err)
	gid := e.contacts(n, func(int) bool { return false })
	id := e.broadcast("Every fault", broadcast.Spec{
		Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Parents' evening is on Thursday."},
	}, false)
	cfg := fastConfig()
	cfg.SendLease, cfg.MaxAttempts, cfg.AutoPauseRatio = 3*time.Second, 30, 0.99
	eng := e.start(cfg)
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", 3*time.Minute)

	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = phone(i)
	}
	e.exactlyOnce(id, numbers, "")
	outcomes := map[string]int{}
	rows, err := e.db.Pool.Query(e.ctx, `SELECT outcome, count(*) FROM broadcast_attempts WHERE broadcast_id = $1 GROUP BY outcome`, id)
	e.must(err)
	for rows.Next() {
		var o string
		var c int
		e.must(rows.Scan(&o, &c))
		outcomes[o] = c
	}
	e.must(rows.Err())
	// Found again after a lost or slow answer; asked and not found after a
	// reset or a 500; plus the plain 429s.
	for _, o := range []string{"found_at_twilio", "not_at_twilio", "rate_limited"} {
		if outcomes[o] == 0 {
			t.Errorf("no attempt ended %q: %v", o, outcomes)
		}
	}
	t.Logf("%d recipients, attempts by outcome: %v", n, outcomes)
}
