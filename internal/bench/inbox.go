package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/twiliosim"
)

// inboxOp is one page a signed-in person asks for.
type inboxOp struct {
	name string
	path func() string
}

// inbox: the inbox list, a conversation and searches, timed over real HTTP
// as a signed-in admin on a database seeded by `classline seed`, first on a
// quiet app, then while status callbacks arrive at StormRate (default half
// the peak the webhooks scenario measured, or measured here).
func (r *runner) inbox(ctx context.Context, res *Result, run int) error {
	o := r.o
	dbURL, seeded, err := r.seededInbox(ctx)
	if err != nil {
		return err
	}
	if seeded > 0 {
		res.note("`classline seed --conversations %d --messages %d` took %s", o.Conversations, o.Messages, seeded.Round(time.Second))
	}
	f, err := prepare(ctx, dbURL)
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.callbackTargets(ctx, o.Targets); err != nil {
		return err
	}
	var ids []int64
	if err := f.db.Pool.QueryRow(ctx, `SELECT array_agg(id) FROM (SELECT id FROM conversations WHERE sender_id <> $1 ORDER BY random() LIMIT 1000) c`, f.sender.ID).Scan(&ids); err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("bench: the inbox database has no conversations")
	}
	sim, err := startSim(twiliosim.Config{StepDelay: time.Hour})
	if err != nil {
		return err
	}
	defer sim.Close()

	rng := rand.New(rand.NewPCG(uint64(run), 7))
	ops := []inboxOp{
		{"GET /inbox (admin, All)", func() string { return "/inbox" }},
		{"GET /conversations/:id (random)", func() string { return "/conversations/" + strconv.FormatInt(ids[rng.IntN(len(ids))], 10) }},
		{"search: contact name", func() string { return "/inbox?q=" + url.QueryEscape("Priya Patel") }},
		{"search: common word", func() string { return "/inbox?q=homework" }},
		{"search: phrase", func() string { return "/inbox?q=" + url.QueryEscape(`"uniform shop"`) }},
	}
	return r.withApp(ctx, res, run, dbURL, sim, func(app *appProc) error {
		c, err := signIn(ctx, app.URL, f.email, f.password, &http.Transport{MaxIdleConnsPerHost: 4})
		if err != nil {
			return err
		}
		for _, op := range ops { // warm the caches both phases share
			for range 5 {
				if _, err := timedGet(ctx, c, app.URL, op.path()); err != nil {
					return err
				}
			}
		}
		quiet, err := timeOps(ctx, c, app.URL, ops, o.Requests)
		if err != nil {
			return err
		}
		st := newStorm(app, sim, o.Targets, o.Senders)
		rate, peak := o.StormRate, r.peak
		if rate == 0 {
			if peak == 0 {
				st.stormFor(ctx, warmUp, o.Senders, 0)
				peak, _, _ = st.stormFor(ctx, min(o.Duration, 10*time.Second), o.Senders, 0)
				res.add("callback peak measured here", peak, "/s")
			}
			rate = peak / 2
		}
		stop, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		before, failedBefore := st.ok.Load(), st.failed.Load()
		st.lat.Reset()
		stormStart := time.Now()
		go func() {
			defer close(done)
			st.run(ctx, stop, o.Senders, rate)
		}()
		time.Sleep(time.Second) // let the storm settle
		loaded, err := timeOps(ctx, c, app.URL, ops, o.Requests)
		cancel()
		<-done
		achieved := float64(st.ok.Load()-before) / time.Since(stormStart).Seconds()
		if err != nil {
			return err
		}
		for i, op := range ops {
			res.add(op.name+", quiet, p50", ms(quiet[i].P50), "ms")
			res.add(op.name+", quiet, p95", ms(quiet[i].P95), "ms")
			res.add(op.name+", under the storm, p50", ms(loaded[i].P50), "ms")
			res.add(op.name+", under the storm, p95", ms(loaded[i].P95), "ms")
		}
		res.add("storm: callbacks/s asked", rate, "/s")
		res.add("storm: callbacks/s acknowledged", achieved, "/s")
		stl := st.lat.Summary()
		res.add("storm: callback p95", ms(stl.P95), "ms")
		res.add("storm: callbacks not answered 200", float64(st.failed.Load()-failedBefore), "")
		res.note("%d conversations, %d messages (`classline seed`), plus %d callback targets in %d closed conversations; %d requests per operation and phase, one after another, as one signed-in admin",
			o.Conversations, o.Messages, o.Targets, min(o.Targets, targetConversations), o.Requests)
		return nil
	})
}

// timeOps runs each operation n times in turn and summarises each.
func timeOps(ctx context.Context, c *http.Client, base string, ops []inboxOp, n int) ([]Latency, error) {
	out := make([]Latency, len(ops))
	for i, op := range ops {
		samples := make([]time.Duration, 0, n)
		for range n {
			d, err := timedGet(ctx, c, base, op.path())
			if err != nil {
				return nil, err
			}
			samples = append(samples, d)
		}
		out[i] = Summarize(samples)
	}
	return out, nil
}

// seededInbox returns the inbox database, seeding it (with the app's own
// `classline seed`) unless it already holds exactly the messages asked for;
// the 1,000,000-message seed takes half a minute, so runs share it.
func (r *runner) seededInbox(ctx context.Context) (string, time.Duration, error) {
	o := r.o
	// One database per size, so quick and full runs do not reseed each other's.
	name := fmt.Sprintf("classline_bench_inbox_%d", o.Messages)
	dbURL, err := r.dbs.get(ctx, name, false)
	if err != nil {
		return "", 0, err
	}
	if err := db.MigrateURL(ctx, dbURL); err != nil {
		return "", 0, err
	}
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		return "", 0, err
	}
	n, err := messageCount(ctx, d)
	d.Close()
	if err != nil || n == o.Messages {
		return dbURL, 0, err
	}
	if o.DatabaseURL == "" {
		if dbURL, err = r.dbs.get(ctx, name, true); err != nil {
			return "", 0, err
		}
	} else if n > 0 {
		return "", 0, fmt.Errorf("bench: DATABASE_URL holds %d messages, not %d: point it at an empty database or pass --messages %d", n, o.Messages, n)
	}
	fmt.Fprintf(o.Log, "loadgen: seeding %d conversations, %d messages\n", o.Conversations, o.Messages)
	start := time.Now()
	cmd := exec.CommandContext(ctx, o.Binary, "seed", "--conversations", strconv.Itoa(o.Conversations), "--messages", strconv.Itoa(o.Messages))
	cmd.Env = childEnv(map[string]string{"DATABASE_URL": dbURL})
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("bench: classline seed: %w", err)
	}
	return dbURL, time.Since(start), nil
}
