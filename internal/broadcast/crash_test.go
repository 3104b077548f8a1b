package broadcast_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// crashConfig is the engine of the crash test's child processes: short
// leases so a killed process's sends are reconciled within seconds.
var crashConfig = broadcast.Config{SendLease: 4 * time.Second, RescueAfter: 5 * time.Second, SweepEvery: 300 * time.Millisecond,
	PollInterval: 50 * time.Millisecond, RetryBase: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond, MaxAttempts: 30, AutoPauseRatio: 0.99}

// TestMain runs the crash test's child engine when asked to, instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("CLASSLINE_ENGINE_CHILD") == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild is an engine process: it works broadcasts until it is killed.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	d, err := db.Open(ctx, os.Getenv("CLASSLINE_ENGINE_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gw, err := twilio.New(twilio.Config{AccountSID: account, AuthToken: token, APIBase: os.Getenv("CLASSLINE_ENGINE_SIM")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A CPU profile of the engine process, for the throughput benchmark
	// (docs/PERFORMANCE.md); written when the child is stopped with SIGTERM.
	if path := os.Getenv("CLASSLINE_ENGINE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	eng, err := broadcast.New(&broadcast.Engine{DB: d, Gateway: gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}, crashConfig)
	if err == nil {
		err = eng.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	return 0
}

func (e *env) child(name string) *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CLASSLINE_ENGINE_CHILD=1", "CLASSLINE_ENGINE_DB="+e.url, "CLASSLINE_ENGINE_SIM="+e.simURL)
	log, err := os.Create(e.t.TempDir() + "/" + name + ".log")
	e.must(err)
	cmd.Stdout, cmd.Stderr = log, log
	e.must(cmd.Start())
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if e.t.Failed() {
			_, _ = log.Seek(0, io.SeekStart)
			b, _ := io.ReadAll(log)
			e.t.Logf("%s output:\n%s", name, b)
		}
		log.Close()
	})
	return cmd
}

// The crash test: a child process runs the engine, is killed with
// SIGKILL mid-broadcast while sends are in flight, a new one takes over, and
// every recipient still gets exactly one message.
func TestEngineSurvivesKill9(t *testing.T) {
	n := 3000
	e := newEnv(t, envOptions{sim: twiliosim.Config{Latency: 30 * time.Millisecond, MaxConcurrent: 100, RateLimitRate: 0.05, ServerErrorRate: 0.02, LostResponseRate: 0.01}})
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 100000`)
	e.must(err)
	gid := e.contacts(n, func(int) bool { return false })
	id := e.broadcast("Trip reminder", broadcast.Spec{
		Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "The trip leaves at 8:00."},
	}, false)
	// This process only inserts the jobs; the children work them.
	launcher, err := broadcast.New(&broadcast.Engine{DB: e.db, Gateway: e.gw}, crashConfig)
	e.must(err)
	e.must(launcher.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))

	first := e.child("first")
	deadline := time.Now().Add(2 * time.Minute)
	var sending int
	for {
		c := e.counts(id)
		if c["queued"] >= n/3 {
			sending = c["sending"]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first engine did not get a third of the way: %v", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.must(first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	at := e.counts(id)
	t.Logf("killed the first engine with %d sends in flight; counts then %v", sending, at)

	e.child("second")
	e.waitStatus(id, "completed", 3*time.Minute)
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = phone(i)
	}
	e.exactlyOnce(id, numbers, "")
	var reconciled int
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM broadcast_attempts WHERE broadcast_id = $1 AND outcome = 'found_at_twilio'`, id).Scan(&reconciled))
	t.Logf("%d sends found at Twilio instead of being sent again", reconciled)
}
