// Package bench is Classline's load generator (`classline loadgen`): it runs
// the app as a child process against a PostgreSQL of its own and the Twilio
// simulator, drives it over real HTTP as Twilio and as signed-in staff do,
// and prints markdown tables for docs/PERFORMANCE.md. Scenarios:
//
//	webhooks   signed status callbacks/s from 50 senders, beside pgbench on the same database
//	broadcast  a 10,000-recipient broadcast through the app's engine, callbacks flowing back
//	inbox      inbox, conversation and search latency on a seeded database, quiet and under a callback storm
//	live       inbound webhook accepted → event received by 100 SSE clients
//
// Every scenario also reports the app's start-up time (exec to the first
// page served) and its peak RSS (VmHWM).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options size and place a load test. Quick and Full are the presets.
type Options struct {
	Binary      string // the classline binary the app children run
	DatabaseURL string // empty: a local cluster under VarDir/pgbench
	VarDir      string
	Pgbench     string // the pgbench program
	ProfileDir  string // non-empty: the app children write CPU profiles here
	LogLevel    string // the app's LOG_LEVEL (info, as in production)
	Runs        int
	Command     string // as typed, for the report
	Out, Log    io.Writer

	// webhooks
	Duration time.Duration // the measured stretch of each storm
	Senders  int           // concurrent callback senders
	Targets  int           // messages the callbacks move

	// broadcast
	Recipients    int
	StepDelay     time.Duration // the simulator's pause before each status callback
	SimLatency    time.Duration // added to every Twilio REST call
	MaxConcurrent int           // the simulator's concurrency cap (429/20429 beyond)

	// inbox
	Conversations, Messages int
	Requests                int     // per operation and phase
	StormRate               float64 // callbacks/s during the loaded phase; 0: half the measured peak

	// live
	Clients       int
	Events        int
	EventInterval time.Duration
}

// Quick is what `go tool task bench` runs: every scenario, small, once.
func Quick() Options {
	return Options{
		VarDir: "var", Pgbench: "pgbench", LogLevel: "info", Runs: 1,
		Duration: 5 * time.Second, Senders: 50, Targets: 20000,
		Recipients: 1000, StepDelay: time.Second, SimLatency: 200 * time.Millisecond, MaxConcurrent: 100,
		Conversations: 2000, Messages: 40000, Requests: 50,
		Clients: 100, Events: 30, EventInterval: 100 * time.Millisecond,
	}
}

// Full is the sizes, three runs each (docs/PERFORMANCE.md).
func Full() Options {
	o := Quick()
	o.Runs = 3
	o.Duration = 30 * time.Second
	o.Targets = 40000
	o.Recipients = 10000
	o.Conversations, o.Messages, o.Requests = 50000, 1000000, 200
	o.Events = 200
	return o
}

// Scenarios are the names Run accepts besides "all", in the order "all" runs them.
var Scenarios = []string{"webhooks", "broadcast", "inbox", "live"}

type runner struct {
	o    Options
	dbs  *databases
	peak float64 // median callbacks/s of the webhooks scenario, for the inbox storm
}

// Run runs scenario ("all" or one of Scenarios) o.Runs times and writes the tables to o.Out.
func Run(ctx context.Context, scenario string, o Options) error {
	names := []string{scenario}
	if scenario == "all" {
		names = Scenarios
	} else if !slices.Contains(Scenarios, scenario) {
		return fmt.Errorf("unknown scenario %q (try: all, %s)", scenario, strings.Join(Scenarios, ", "))
	}
	if o.Binary == "" {
		return errors.New("bench: Options.Binary is empty")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	dbs, err := openDatabases(ctx, o)
	if err != nil {
		return err
	}
	r := &runner{o: o, dbs: dbs}
	server := "PostgreSQL from DATABASE_URL"
	if u, err := dbs.get(ctx, "postgres", false); err == nil {
		if s, err := serverSettings(ctx, u); err == nil {
			server = s
		}
	}
	fmt.Fprintf(o.Out, "### Load test: %s\n\n%s; %s.\nCommand: `%s`\n", scenario, machine(), server, o.Command)
	for _, name := range names {
		var runs []Result
		for i := range o.Runs {
			fmt.Fprintf(o.Log, "loadgen: %s, run %d of %d (load average %.2f)\n", name, i+1, o.Runs, loadAverage())
			res, err := r.scenario(ctx, name, i+1)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", name, i+1, err)
			}
			runs = append(runs, res)
		}
		if name == "webhooks" {
			var rates []float64
			for _, res := range runs {
				rates = append(rates, res.value(rowWebhookRate))
			}
			r.peak = Median(rates)
		}
		writeTable(o.Out, name, runs)
	}
	return nil
}

func (r *runner) scenario(ctx context.Context, name string, run int) (Result, error) {
	res := Result{Scenario: name}
	res.add("load average (1 min) at start", loadAverage(), "")
	var err error
	switch name {
	case "webhooks":
		err = r.webhooks(ctx, &res, run)
	case "broadcast":
		err = r.broadcast(ctx, &res, run)
	case "inbox":
		err = r.inbox(ctx, &res, run)
	case "live":
		err = r.live(ctx, &res, run)
	}
	res.add("load average (1 min) at end", loadAverage(), "")
	return res, err
}

// withApp starts the app against dbURL and the simulator, runs fn, and adds
// the app's start-up time and peak RSS to res.
func (r *runner) withApp(ctx context.Context, res *Result, run int, dbURL string, sim *simServer, fn func(*appProc) error) error {
	c := appConfig{DatabaseURL: dbURL, Sim: sim}
	if r.o.ProfileDir != "" {
		c.Profile = filepath.Join(r.o.ProfileDir, fmt.Sprintf("%s-run%d", res.Scenario, run))
	}
	app, err := startApp(ctx, r.o, c)
	if err != nil {
		return err
	}
	err = fn(app)
	rss, rssErr := app.PeakRSS()
	if stopErr := app.Stop(); err == nil {
		err = stopErr
	}
	if err == nil {
		err = rssErr
	}
	res.add("app start-up, exec to first page", ms(app.Startup), "ms")
	res.add("app RSS when ready", float64(app.Idle)/(1<<20), "MiB")
	res.add("app peak RSS (VmHWM)", float64(rss)/(1<<20), "MiB")
	return err
}
