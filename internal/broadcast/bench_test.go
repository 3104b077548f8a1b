package broadcast_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/twiliosim"
)

// benchBroadcast is the throughput benchmark: n recipients against
// the simulator with 200 ms latency and a 100-request concurrency cap, so
// at most 500 messages/s; the engine runs in a child process (killed with
// SIGKILL a third of the way when kill is set, then replaced).
func benchBroadcast(b *testing.B, n int, kill bool) {
	for range b.N {
		e := newEnv(b, envOptions{sim: twiliosim.Config{Latency: 200 * time.Millisecond, MaxConcurrent: 100}})
		_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 100000`)
		e.must(err)
		gid := e.contacts(n, func(int) bool { return false })
		id := e.broadcast("Snow day", broadcast.Spec{
			Audience: broadcast.Audience{GroupIDs: []int64{gid}},
			Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "School is closed tomorrow."},
		}, false)
		launcher, err := broadcast.New(&broadcast.Engine{DB: e.db, Gateway: e.gw}, crashConfig)
		e.must(err)
		b.ResetTimer()
		start := time.Now()
		e.must(launcher.Launch(e.ctx, id, nil, broadcast.Actor{}))
		first := e.child("engine")
		if kill {
			for e.counts(id)["queued"] < n/3 {
				time.Sleep(10 * time.Millisecond)
			}
			e.must(first.Process.Signal(syscall.SIGKILL))
			_ = first.Wait()
			e.child("engine-after-kill")
		}
		for e.counts(id)["queued"] < n {
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if !kill && os.Getenv("CLASSLINE_ENGINE_CPUPROFILE") != "" {
			// Let the child write its profile: stop it gracefully.
			e.must(first.Process.Signal(syscall.SIGTERM))
			_ = first.Wait()
		}
		numbers := make([]string, n)
		for i := range numbers {
			numbers[i] = phone(i)
		}
		e.exactlyOnce(id, numbers, "") // fails the benchmark on any duplicate or loss
		rate := float64(n) / elapsed.Seconds()
		b.ReportMetric(rate, "msgs/s")
		b.ReportMetric(rate/500, "ratio_to_500/s")
		b.ReportMetric(0, "duplicates")
		b.ReportMetric(0, "losses")
		b.ReportMetric(elapsed.Seconds(), "s_total")
		b.StartTimer()
	}
}

// The children run crashConfig: production defaults with short leases and a
// fast poll. CLASSLINE_ENGINE_CPUPROFILE=/tmp/engine.pprof profiles the
// engine process of BenchmarkBroadcast10k.
func BenchmarkBroadcast10k(b *testing.B)      { benchBroadcast(b, 10000, false) }
func BenchmarkBroadcast10kKill9(b *testing.B) { benchBroadcast(b, 10000, true) }
