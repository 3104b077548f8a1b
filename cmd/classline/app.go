package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/handlers"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/contactimport"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/media"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/metrics"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/internal/pglocal"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// app is a running Classline: the same wiring serves `classline serve` and
// the end-to-end tests.
type app struct {
	engine   *broadcast.Engine
	msg      *messaging.Service
	gw       *twilio.Gateway
	cfg      config.Config
	db       *db.DB
	sim      *twiliosim.Sim
	simToken string
	simSrv   *http.Server
	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	doneOnce sync.Once
	cancel   context.CancelFunc
	log      *slog.Logger
	URL      string
	AdminPW  string // set when the first admin was just created
	AdminEML string
}

// appOptions are what startApp needs besides the configuration.
type appOptions struct {
	Listener     net.Listener
	PublicURLSet bool // PUBLIC_URL was given; otherwise it follows the listener
	Logger       *slog.Logger
	Progress     io.Writer // human progress lines (PostgreSQL start-up)
	// SimStepDelay paces the simulator's status callbacks; the default lets
	// people watch a message move from queued to read.
	SimStepDelay time.Duration
	// UnsentEvery is how often unanswered sends are checked at Twilio;
	// zero means every 15 s. UnconfirmedGrace: see messaging.Service.
	UnsentEvery, UnconfirmedGrace time.Duration
	// SimFaults, when set, adjusts the built-in simulator's configuration
	// (its fault rates) before it starts: for fault tests.
	SimFaults func(*twiliosim.Config)
}

// databaseURL returns DATABASE_URL or starts the project-local cluster.
func databaseURL(ctx context.Context, cfg config.Config, progress io.Writer) (string, error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, nil
	}
	cl, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(cfg.VarDir, "pg"), DBName: "classline", Log: progress})
	if err != nil {
		return "", err
	}
	return cl.URL("classline"), nil
}

// startApp wires everything and starts serving on o.Listener.
func startApp(ctx context.Context, cfg config.Config, o appOptions) (*app, error) {
	ln, logger, progress := o.Listener, o.Logger, o.Progress
	if o.SimStepDelay == 0 {
		o.SimStepDelay = 900 * time.Millisecond
	}
	if !o.PublicURLSet {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	if err := cfg.EnsureSessionKey(); err != nil {
		return nil, err
	}
	url, err := databaseURL(ctx, cfg, progress)
	if err != nil {
		return nil, err
	}
	if err := db.MigrateURL(ctx, url); err != nil {
		return nil, err
	}
	database, err := db.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, db: database, ln: ln, done: make(chan struct{}), log: logger, URL: cfg.PublicURL}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	fail := func(err error) (*app, error) {
		a.Close(context.Background())
		return nil, err
	}

	gwCfg := twilio.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIBase: cfg.TwilioAPIBase}
	if cfg.Simulated() {
		gwCfg, err = a.startSimulator(cfg, o.SimStepDelay, o.SimFaults)
		if err != nil {
			return fail(err)
		}
	}
	gateway, err := twilio.New(gwCfg)
	if err != nil {
		return fail(err)
	}
	if err := seed(ctx, database, cfg); err != nil {
		return fail(err)
	}
	authSvc := &auth.Service{DB: database}
	a.AdminEML = envOr("CLASSLINE_ADMIN_EMAIL", "admin@school.example")
	if a.AdminPW, err = authSvc.EnsureFirstAdmin(ctx, a.AdminEML); err != nil {
		return fail(err)
	}

	m := metrics.New()
	m.WatchPool(database.Pool)
	hub := live.New(database.Pool, logger)
	m.WatchLive(hub.Dropped)
	go hub.Run(runCtx)
	go pruneLoop(runCtx, database, logger)
	msgSvc := &messaging.Service{
		DB: database, Gateway: gateway, DefaultRegion: cfg.DefaultRegion, Log: logger, Location: cfg.SchoolTimezone,
		StatusCallbackURL: cfg.PublicURL + "/webhooks/twilio/status",
		OnSend:            func(ch, res string) { m.Sends.WithLabelValues(ch, res).Inc() },
		OnStatusBatch:     func(n int) { m.StatusBatch.Observe(float64(n)) },
		UnconfirmedGrace:  o.UnconfirmedGrace,
	}
	a.msg = msgSvc
	tplSvc := &templates.Service{DB: database, Gateway: gateway}
	go snoozeLoop(runCtx, database, msgSvc, logger, 20*time.Second)
	go unsentLoop(runCtx, msgSvc, logger, cmp.Or(o.UnsentEvery, 15*time.Second))
	go statusCheckLoop(runCtx, msgSvc, logger)
	go senderSyncLoop(runCtx, gateway, database, logger)
	go templateSyncLoop(runCtx, tplSvc, logger)
	// Imports a stopped process left half done: resumed in the background,
	// tracked like any import so shutdown waits for them between batches.
	importSvc := &contactimport.Service{DB: database, Region: cfg.DefaultRegion, Log: logger}
	go importResumeLoop(runCtx, importSvc, func(id int64) { importSvc.RunInBackground(id, msgSvc.Go, a.done) }, logger, contactimport.StaleAfter/3)
	a.gw = gateway
	// media: begin (wiring of the attachment service)
	mediaSvc := &media.Service{
		DB: database, AccountSID: gwCfg.AccountSID, AuthToken: gwCfg.AuthToken,
		PublicBaseURL: cfg.PublicURL, Log: logger,
	}
	if gwCfg.APIBase != "" {
		// Twilio's requests go to the simulator (or TWILIO_API_BASE), and so
		// do media downloads: inbound MediaUrls point there.
		mediaSvc.SimulatorBase = gwCfg.APIBase
	}
	if a.sim != nil {
		a.sim.SetBaseURL(gwCfg.APIBase) // inbound files are served at the simulator's address
	}
	msgSvc.MediaURL = mediaSvc.PublicURL
	go mediaSvc.Run(runCtx)
	// media: end
	engine, err := broadcast.New(&broadcast.Engine{
		DB: database, Gateway: gateway, DefaultRegion: cfg.DefaultRegion, Log: logger,
		StatusCallbackURL: msgSvc.StatusCallbackURL, MediaURL: mediaSvc.PublicURL,
		QuietUntil: broadcast.QuietFromSettings(database, cfg.SchoolTimezone), SchoolName: msgSvc.SchoolName, FollowSettings: true,
	}, broadcast.Config{SendLease: cfg.BroadcastSendLease})
	if err != nil {
		return fail(err)
	}
	if err := engine.Start(runCtx); err != nil {
		return fail(err)
	}
	a.engine = engine
	e := handlers.New(handlers.Deps{
		Config: cfg, DB: database, Auth: authSvc, Messaging: msgSvc, Media: mediaSvc, People: &people.Service{DB: database}, Templates: tplSvc, Hub: hub, Gateway: gateway,
		Sim: a.sim, Log: logger, Metrics: m, Done: a.done, Broadcasts: engine,
	})
	a.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// SSE streams never finish on their own: tell them to end when draining.
	a.srv.RegisterOnShutdown(func() { a.doneOnce.Do(func() { close(a.done) }) })
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serve", "err", err)
		}
	}()
	select {
	case <-hub.Ready():
	case <-time.After(15 * time.Second):
		logger.Warn("live: listener not ready yet; continuing")
	}
	return a, nil
}

// startSimulator runs the Twilio simulator in-process on its own loopback port
// and returns the gateway settings that point twilio-go at it.
func (a *app) startSimulator(cfg config.Config, step time.Duration, faults func(*twiliosim.Config)) (twilio.Config, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return twilio.Config{}, fmt.Errorf("simulator listen: %w", err)
	}
	sid, token := "AC"+strings.Repeat("0", 32), strings.ReplaceAll(auth.NewToken(), "-", "")
	token = strings.ReplaceAll(token, "_", "")
	a.simToken = token
	simCfg := twiliosim.Config{
		AccountSID: sid, AuthToken: token, StepDelay: step,
		InboundURL: cfg.PublicURL + "/webhooks/twilio/inbound",
		Logf:       func(f string, args ...any) { a.log.Debug(fmt.Sprintf(f, args...), "component", "twiliosim") },
	}
	if faults != nil {
		faults(&simCfg)
	}
	a.sim = twiliosim.New(simCfg)
	a.simSrv = &http.Server{Handler: a.sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.simSrv.Serve(ln) }()
	return twilio.Config{AccountSID: sid, AuthToken: token, APIBase: "http://" + ln.Addr().String()}, nil
}

// Close drains in-flight requests, then stops the simulator and the pool.
func (a *app) Close(ctx context.Context) error {
	var errs []error
	if a.srv != nil {
		if err := a.srv.Shutdown(ctx); err != nil {
			// Out of patience: cut what is left, so the pool below can close.
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
			_ = a.srv.Close()
		}
	}
	if a.engine != nil {
		// Sends in flight finish and are recorded; the rest wait in the queue.
		if err := a.engine.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broadcast engine: %w", err))
		}
	}
	if a.msg != nil {
		if err := a.msg.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("background sends: %w", err))
		}
	}
	if a.sim != nil {
		a.sim.Close()
	}
	if a.simSrv != nil {
		_ = a.simSrv.Close()
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.db != nil {
		a.db.Close()
	}
	return errors.Join(errs...)
}

// seed gives a new install something to write from: the configured numbers,
// or in simulator mode three departments with a WhatsApp number each and an
// SMS number. Nothing is seeded once any sender exists.
func seed(ctx context.Context, d *db.DB, cfg config.Config) error {
	existing, err := d.ListSenders(ctx, nil)
	if err != nil || len(existing) > 0 {
		return err
	}
	if !cfg.Simulated() {
		if cfg.WhatsAppNumber != "" {
			if _, err := d.EnsureSender(ctx, "whatsapp", cfg.WhatsAppNumber, "School", nil); err != nil {
				return err
			}
		}
		if cfg.SMSNumber != "" {
			if _, err := d.EnsureSender(ctx, "sms", cfg.SMSNumber, "School", nil); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range []struct {
		slug, name, wa string
		goal           time.Duration
	}{
		{"admissions", "Admissions", "+14155550100", time.Hour},
		{"academics", "Academics", "+14155550101", 4 * time.Hour},
		{"finance", "Finance", "+14155550102", 24 * time.Hour},
	} {
		id, err := d.EnsureDepartment(ctx, s.slug, s.name)
		if err != nil {
			return err
		}
		if err := d.SetResponseGoal(ctx, id, s.goal); err != nil {
			return err
		}
		if _, err := d.EnsureSender(ctx, "whatsapp", s.wa, s.name, &id); err != nil {
			return err
		}
		if s.slug == "admissions" {
			if _, err := d.EnsureSender(ctx, "sms", "+14155550199", "Front office", &id); err != nil {
				return err
			}
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// pruneLoop removes expired sessions and old sign-in attempts hourly; every
// instance may run it, deletes are idempotent.
func pruneLoop(ctx context.Context, d *db.DB, log *slog.Logger) {
	every(ctx, time.Hour, func() {
		// Kept 30 days: long past the 15-minute throttle window, useful for audit.
		if n, err := d.PruneAuth(ctx, 30*24*time.Hour); err != nil && ctx.Err() == nil {
			log.Warn("prune sessions", "err", err)
		} else if n > 0 {
			log.Info("pruned expired sessions and old sign-in attempts", "rows", n)
		}
	})
}
