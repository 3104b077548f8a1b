package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// broadcast: an SMS broadcast to Recipients families through the app's own
// engine (River workers in the app process), against the simulator with
// SimLatency on every REST call and MaxConcurrent requests at most, whose
// status callbacks (queued, sent, delivered: three per message, StepDelay
// apart) flow back to the app's webhook while it is still sending. The
// ceiling is MaxConcurrent / SimLatency (100 / 0.2 s = 500 messages/s).
func (r *runner) broadcast(ctx context.Context, res *Result, run int) error {
	o := r.o
	dbURL, err := r.dbs.get(ctx, "classline_bench_broadcast", true)
	if err != nil {
		return err
	}
	f, err := prepare(ctx, dbURL)
	if err != nil {
		return err
	}
	defer f.close()
	id, err := f.smsBroadcast(ctx, o.Recipients)
	if err != nil {
		return err
	}
	sim, err := startSim(twiliosim.Config{Latency: o.SimLatency, MaxConcurrent: o.MaxConcurrent, StepDelay: o.StepDelay})
	if err != nil {
		return err
	}
	defer sim.Close()
	// Launching only inserts the job in a transaction (the wizard's launch
	// ends with the same LaunchTx); the app's engine picks it up from there.
	gw, err := twilio.New(twilio.Config{AccountSID: sim.AccountSID, AuthToken: sim.Token, APIBase: sim.URL})
	if err != nil {
		return err
	}
	launcher, err := broadcast.New(&broadcast.Engine{DB: f.db, Gateway: gw}, broadcast.Config{})
	if err != nil {
		return err
	}

	var sendTime, drainTime time.Duration
	var submitted, cbDuringSends int64
	ceiling := float64(o.MaxConcurrent) / o.SimLatency.Seconds()
	begun := time.Now()
	err = r.withApp(ctx, res, run, dbURL, sim, func(*appProc) error {
		start := time.Now()
		if err := launcher.Launch(ctx, id, nil, broadcast.Actor{}); err != nil {
			return err
		}
		var err error
		submitted, err = waitSent(ctx, f, id, o.Recipients, 15*time.Minute)
		if err != nil {
			return err
		}
		sendTime = time.Since(start)
		cbDuringSends = sim.Callbacks.ok.Load()
		// Then the rest of the storm: every message's last callbacks.
		want := 3 * submitted
		deadline := time.Now().Add(4*o.StepDelay + 2*time.Minute)
		for sim.Callbacks.ok.Load()+sim.Callbacks.refused.Load()+sim.Callbacks.failed.Load() < want {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("bench: %d of %d status callbacks posted after the sends", sim.Callbacks.ok.Load(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		drainTime = time.Since(start)
		return nil
	})
	if err != nil {
		return err
	}
	dups, losses := exactlyOnce(sim.Messages(), o.Recipients)
	var events, delivered int64
	if err := f.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM message_events WHERE received_at >= $2),
		(SELECT count(*) FROM messages WHERE broadcast_id = $1 AND status = 'delivered')`, id, begun).Scan(&events, &delivered); err != nil {
		return err
	}
	cb := sim.Callbacks
	rate := float64(submitted) / sendTime.Seconds()
	res.add("messages sent (every recipient has a Twilio SID)", rate, "msgs/s")
	res.add(fmt.Sprintf("ratio to the %.0f/s ceiling", ceiling), rate/ceiling, "")
	res.add("time to send all", sendTime.Seconds(), "s")
	res.add("status callbacks ingested while sending", float64(cbDuringSends)/sendTime.Seconds(), "/s")
	res.add("status callbacks ingested, first to last", float64(cb.ok.Load())/cb.span().Seconds(), "/s")
	cbl := cb.Latency.Summary()
	res.add("callback answer p50", ms(cbl.P50), "ms")
	res.add("callback answer p95", ms(cbl.P95), "ms")
	res.add("callbacks not answered 200", float64(cb.refused.Load()+cb.failed.Load()), "")
	res.add("callbacks answered 200 but not kept", float64(max(0, cb.ok.Load()-events)), "")
	res.add("messages not at delivered after the storm", float64(submitted-delivered), "")
	res.add("duplicates at Twilio", float64(dups), "")
	res.add("losses at Twilio", float64(losses), "")
	res.add("launch to last callback", drainTime.Seconds(), "s")
	res.note("%d SMS recipients, simulator latency %s per REST call, at most %d concurrent (429/20429 beyond), status callbacks every %s (queued, sent, delivered); engine defaults (concurrency 100), the sender's rate limit raised out of the way",
		o.Recipients, o.SimLatency, o.MaxConcurrent, o.StepDelay)
	return nil
}

// waitSent waits until every recipient is prepared and none is pending or
// sending, and returns how many were submitted to Twilio.
func waitSent(ctx context.Context, f *fixture, id int64, n int, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	for {
		var total, unfinished, submitted int64
		err := f.db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state IN ('pending', 'sending')),
			count(*) FILTER (WHERE state = 'submitted') FROM broadcast_recipients WHERE broadcast_id = $1`, id).Scan(&total, &unfinished, &submitted)
		if err != nil {
			return 0, err
		}
		if total >= int64(n) && unfinished == 0 {
			if submitted < int64(n) {
				return submitted, fmt.Errorf("bench: only %d of %d recipients were sent to", submitted, n)
			}
			return submitted, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: %d of %d recipients sent after %s", submitted, n, limit)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exactlyOnce counts, over the simulator's outbound messages, numbers of
// the broadcast that got more than one message (the extra ones) and numbers
// that got none.
func exactlyOnce(msgs []twiliosim.Message, n int) (dups, losses int) {
	got := map[string]int{}
	for _, m := range msgs {
		if m.Direction == "outbound-api" {
			got[m.To]++
		}
	}
	for i := range n {
		switch c := got[broadcastPhone(i)]; {
		case c == 0:
			losses++
		case c > 1:
			dups += c - 1
		}
	}
	return dups, losses
}
