package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/classline/classline/internal/bench"
)

// loadgenCmd is `classline loadgen <scenario> [flags]`: the load tests of
// docs/PERFORMANCE.md (internal/bench). Small sizes by default, so `go tool
// task bench` stays quick; --full gives the documented sizes and runs, and
// any other flag overrides the preset.
func loadgenCmd(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "serve-profiled" {
		return serveProfiled(ctx, args[1:])
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: classline loadgen all|" + strings.Join(bench.Scenarios, "|") + " [--full] [flags] (-h for the flags)")
	}
	scenario, flags := args[0], args[1:]
	o := bench.Quick()
	for _, a := range flags {
		if f := strings.TrimLeft(a, "-"); f == "full" || f == "full=true" {
			o = bench.Full() // before the flags are defined: their defaults show the preset
		}
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Bool("full", false, "the documented sizes: 30 s storms, 10,000 recipients, 1,000,000 messages, 200 events, 3 runs")
	fs.IntVar(&o.Runs, "runs", o.Runs, "runs of each scenario (the table shows each and the median)")
	fs.StringVar(&o.Pgbench, "pgbench", o.Pgbench, "the pgbench program")
	fs.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile of each app process into this folder")
	fs.StringVar(&o.LogLevel, "app-log-level", o.LogLevel, "the app's LOG_LEVEL (its log goes to a temporary file)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "webhooks: measured length of each storm")
	fs.IntVar(&o.Senders, "senders", o.Senders, "webhooks: concurrent callback senders (and pgbench clients)")
	fs.IntVar(&o.Targets, "targets", o.Targets, "messages the callbacks move")
	fs.IntVar(&o.Recipients, "recipients", o.Recipients, "broadcast: recipients")
	fs.DurationVar(&o.StepDelay, "step-delay", o.StepDelay, "broadcast: the simulator's pause before each status callback")
	fs.DurationVar(&o.SimLatency, "sim-latency", o.SimLatency, "broadcast: latency of every Twilio REST call")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent", o.MaxConcurrent, "broadcast: the simulator's concurrency cap")
	fs.IntVar(&o.Conversations, "conversations", o.Conversations, "inbox: seeded conversations")
	fs.IntVar(&o.Messages, "messages", o.Messages, "inbox: seeded messages")
	fs.IntVar(&o.Requests, "requests", o.Requests, "inbox: requests per operation and phase")
	fs.Float64Var(&o.StormRate, "storm-rate", 0, "inbox: callbacks/s during the loaded phase (0: half the measured peak)")
	fs.IntVar(&o.Clients, "clients", o.Clients, "live: SSE streams")
	fs.IntVar(&o.Events, "events", o.Events, "live: inbound messages")
	fs.DurationVar(&o.EventInterval, "event-interval", o.EventInterval, "live: pause between inbound messages")
	if err := fs.Parse(flags); errors.Is(err, flag.ErrHelp) {
		return nil // the flags were printed
	} else if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Binary = exe
	o.DatabaseURL = os.Getenv("DATABASE_URL")
	o.VarDir = envOr("CLASSLINE_VAR", "var")
	o.Command = strings.Join(append([]string{"classline", "loadgen"}, args...), " ")
	o.Out, o.Log = os.Stdout, os.Stderr
	return bench.Run(ctx, scenario, o)
}

// serveProfiled is `classline serve` with a CPU profile of the whole
// process and a heap profile at its end (allocations included), written
// when it stops: how the load generator profiles the app it measures
// without the app exposing pprof.
func serveProfiled(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-profiled", flag.ContinueOnError)
	cpu := fs.String("cpuprofile", "", "where to write the CPU profile")
	mem := fs.String("memprofile", "", "where to write the heap profile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpu == "" || *mem == "" {
		return errors.New("serve-profiled: --cpuprofile and --memprofile are required")
	}
	f, err := os.Create(*cpu)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = serveCmd(ctx, fs.Args())
	pprof.StopCPUProfile()
	h, herr := os.Create(*mem)
	if herr == nil {
		herr = pprof.Lookup("allocs").WriteTo(h, 0)
		if cerr := h.Close(); herr == nil {
			herr = cerr
		}
	}
	if err == nil && herr != nil {
		err = fmt.Errorf("serve-profiled: heap profile: %w", herr)
	}
	return err
}
