package bench

import (
	"context"
	"strconv"
	"time"

	"github.com/classline/classline/internal/twiliosim"
)

const rowWebhookRate = "status callbacks acknowledged"

// warmUp runs before every measured storm: connections opened, statements
// prepared, caches filled; not counted.
const warmUp = 2 * time.Second

// webhooks: signed status callbacks from Senders concurrent senders for
// Duration, each answered 200 only after its transaction committed; then,
// against the same database with the app stopped, pgbench with as many
// clients running the single-row upsert and the app's own statement
// sequence. Finally every acknowledged callback is looked for in the
// database.
func (r *runner) webhooks(ctx context.Context, res *Result, run int) error {
	o := r.o
	dbURL, err := r.dbs.get(ctx, "classline_bench_webhooks", true)
	if err != nil {
		return err
	}
	f, err := prepare(ctx, dbURL)
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.callbackTargets(ctx, o.Targets); err != nil {
		return err
	}
	sim, err := startSim(twiliosim.Config{StepDelay: time.Hour})
	if err != nil {
		return err
	}
	defer sim.Close()

	var st *storm
	var rate float64
	var lat Latency
	var failed int64
	start := time.Now()
	err = r.withApp(ctx, res, run, dbURL, sim, func(app *appProc) error {
		st = newStorm(app, sim, o.Targets, o.Senders)
		st.stormFor(ctx, warmUp, o.Senders, 0)
		rate, lat, failed = st.stormFor(ctx, o.Duration, o.Senders, 0)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	var stored, applied int64
	// Only this run's events count (a DATABASE_URL may hold earlier runs').
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE applied) FROM message_events
		WHERE message_sid LIKE 'SMbench%' AND received_at >= $1`, start).Scan(&stored, &applied); err != nil {
		return err
	}
	acked := st.ok.Load()

	vars := map[string]string{"targets": strconv.Itoa(o.Targets)}
	var up, seq pgbenchResult
	for _, b := range []struct {
		script string
		res    *pgbenchResult
	}{{pgbenchUpsert, &up}, {pgbenchCallback, &seq}} {
		// Warmed up as the app was: caches filled. (Its result does not
		// matter; a real failure shows in the measured run just after.)
		_, _ = runPgbench(ctx, o.Pgbench, dbURL, b.script, o.Senders, warmUp, vars)
		if *b.res, err = runPgbench(ctx, o.Pgbench, dbURL, b.script, o.Senders, o.Duration, vars); err != nil {
			return err
		}
	}

	res.add(rowWebhookRate, rate, "/s")
	res.add("callback latency p50", ms(lat.P50), "ms")
	res.add("callback latency p95", ms(lat.P95), "ms")
	res.add("callback latency p99", ms(lat.P99), "ms")
	res.add("callbacks not answered 200", float64(failed), "")
	res.add("acknowledged but not in the database", float64(max(0, acked-stored)), "")
	res.add("pgbench single-row upsert", up.TPS, "tx/s")
	res.add("pgbench upsert p50", ms(up.Latency.P50), "ms")
	res.add("pgbench upsert p95", ms(up.Latency.P95), "ms")
	res.add("pgbench upsert p99", ms(up.Latency.P99), "ms")
	res.add("ratio app / upsert", rate/up.TPS, "")
	res.add("pgbench app's statement sequence", seq.TPS, "tx/s")
	res.add("pgbench sequence p50", ms(seq.Latency.P50), "ms")
	res.add("pgbench sequence p95", ms(seq.Latency.P95), "ms")
	res.add("ratio app / sequence", rate/seq.TPS, "")
	res.note("%d concurrent senders, %s warm-up then %s measured; pgbench: %d clients, 2 threads, -M prepared, %s warm-up then %s each, app stopped",
		o.Senders, warmUp, o.Duration, o.Senders, warmUp, o.Duration)
	res.add("kept callbacks that moved a message forward", pct(applied, stored), "%")
	res.note("callbacks move %d seeded messages through sent → delivered → read, so each takes the full path (event kept, message updated, NOTIFY)", o.Targets)
	return nil
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
