// Command classline runs the Classline server and its admin subcommands:
//
//	classline [serve]                 run the app (default)
//	classline migrate                 apply database migrations
//	classline user add --email E --name N --role admin|staff [--department D]... --password-stdin
//	classline twilio-sim --addr A     run the Twilio simulator alone
//	classline seed                    load demo data (50,000 conversations, 1,000,000 messages)
//	classline pg-stop                 stop the project-local PostgreSQL clusters
//	classline loadgen <scenario>      load tests for docs/PERFORMANCE.md (webhooks, broadcast, inbox, live, all)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	// serve handles signals itself: the first drains, a second one kills.
	ctx := context.Background()
	if cmd != "serve" {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args)
	case "migrate":
		err = migrateCmd(ctx, args)
	case "user":
		err = userCmd(ctx, args)
	case "twilio-sim":
		err = simCmd(ctx, args)
	case "seed":
		err = seedCmd(ctx, args)
	case "pg-stop":
		err = pgStopCmd(args)
	case "loadgen":
		err = loadgenCmd(ctx, args)
	case "help", "-h", "--help":
		fmt.Println("usage: classline [serve|migrate|user add|twilio-sim|seed|pg-stop|loadgen] [flags]")
		return
	default:
		err = fmt.Errorf("unknown command %q (try: serve, migrate, user add, twilio-sim, seed, pg-stop, loadgen)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "classline:", err)
		os.Exit(1)
	}
}
