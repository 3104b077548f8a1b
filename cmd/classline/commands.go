package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/pglocal"
	"github.com/classline/classline/internal/twiliosim"
)

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: l}))
}

func serveCmd(ctx context.Context, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	started := time.Now()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set ADDR to use another address): %w", cfg.Addr, err)
	}
	a, err := startApp(ctx, cfg, appOptions{Listener: ln, PublicURLSet: os.Getenv("PUBLIC_URL") != "", Logger: logger, Progress: os.Stderr})
	if err != nil {
		_ = ln.Close()
		return err
	}
	mode := "real Twilio"
	if a.sim != nil {
		mode = "built-in Twilio simulator (no real messages are sent)"
	}
	fmt.Fprintf(os.Stderr, "\n  Classline is running at %s  (ready in %s)\n  Twilio: %s\n", a.URL, time.Since(started).Round(time.Millisecond), mode)
	if a.AdminPW != "" {
		// Printed to the terminal once, never logged.
		fmt.Fprintf(os.Stderr, "\n  First admin created. Sign in with:\n    email:    %s\n    password: %s\n  (shown only this once: keep it somewhere safe)\n", a.AdminEML, a.AdminPW)
	}
	fmt.Fprintln(os.Stderr)
	<-ctx.Done()
	stop() // a second Ctrl-C now ends the process at once
	logger.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return a.Close(shutdownCtx)
}

func migrateCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := migratedDatabase(ctx, os.Getenv); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "migrations applied")
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func userCmd(ctx context.Context, args []string) error {
	return userAdd(ctx, args, os.Stdin, os.Getenv)
}

// userAdd is `classline user add`, with its input and environment passed in.
func userAdd(ctx context.Context, args []string, stdin io.Reader, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: classline user add --email E --name N --role admin|staff [--department D]... --password-stdin")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	email := fs.String("email", "", "email address (sign-in name)")
	name := fs.String("name", "", "full name")
	role := fs.String("role", "staff", "admin or staff")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	var deps multiFlag
	fs.Var(&deps, "department", "department slug (repeatable); created if missing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || *name == "" {
		return errors.New("--email and --name are required")
	}
	if *role != "admin" && *role != "staff" {
		return errors.New("--role must be admin or staff")
	}
	if !*pwStdin {
		return errors.New("--password-stdin is required: pipe the password in, so it never shows in the process list")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read password: %w", err)
	}
	hash, err := auth.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	d, err := openDatabase(ctx, getenv)
	if err != nil {
		return err
	}
	defer d.Close()
	var ids []int64
	for _, slug := range deps {
		slug = strings.ToLower(strings.TrimSpace(slug))
		if slug == "" {
			return errors.New("--department needs a name, e.g. --department admissions")
		}
		id, err := d.EnsureDepartment(ctx, slug, strings.ToUpper(slug[:1])+slug[1:])
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	u, err := d.CreateUser(ctx, db.NewUser{Email: *email, Name: *name, Role: *role, PasswordHash: hash, DepartmentIDs: ids})
	if err != nil {
		return err
	}
	if err := d.Audit(ctx, nil, "user.create", fmt.Sprintf("user:%d", u.ID), nil, map[string]any{"email": u.Email, "role": u.Role, "departments": ids, "via": "cli"}, ""); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "created %s user %s (id %d)\n", u.Role, u.Email, u.ID)
	return nil
}

func simCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("twilio-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	sid := fs.String("account-sid", "AC"+strings.Repeat("0", 32), "account SID clients must use")
	token := fs.String("auth-token", "simulatortoken0000000000000000000", "auth token (also signs webhooks)")
	inbound := fs.String("inbound-url", "http://127.0.0.1:8080/webhooks/twilio/inbound", "where simulated parent messages are posted")
	step := fs.Duration("step-delay", 600*time.Millisecond, "pause between status callbacks")
	latency := fs.Duration("latency", 0, "added to every REST response")
	failure := fs.Float64("failure-rate", 0, "fraction of messages that fail")
	dups := fs.Float64("duplicate-rate", 0, "fraction of callbacks sent twice")
	reorder := fs.Bool("reorder", false, "shuffle callbacks of a message")
	maxConc := fs.Int("max-concurrent", 0, "concurrent requests before 429/20429 (0: no cap)")
	window := fs.Bool("enforce-window", true, "fail WhatsApp free-form outside the 24-hour window (63016)")
	rate429 := fs.Float64("rate-limit-rate", 0, "fraction of message creates answered 429/20429")
	rate500 := fs.Float64("server-error-rate", 0, "fraction of message creates answered 500, nothing created")
	lost := fs.Float64("lost-response-rate", 0, "fraction of message creates that create, then drop the connection")
	quiet := fs.Bool("quiet", false, "no line per message (load tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	if *quiet {
		logf = nil
	}
	sim := twiliosim.New(twiliosim.Config{
		AccountSID: *sid, AuthToken: *token, StepDelay: *step, Latency: *latency, FailureRate: *failure,
		DuplicateRate: *dups, Reorder: *reorder, MaxConcurrent: *maxConc, EnforceWindow: *window, InboundURL: *inbound,
		RateLimitRate: *rate429, ServerErrorRate: *rate500, LostResponseRate: *lost,
		Logf: logf,
	})
	defer sim.Close()
	srv := &http.Server{Addr: *addr, Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "Twilio simulator on http://%s\nPoint Classline at it with:\n  TWILIO_API_BASE=http://%s TWILIO_ACCOUNT_SID=%s TWILIO_AUTH_TOKEN=%s\n", *addr, *addr, *sid, *token)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func pgStopCmd(args []string) error {
	varDir := envOr("CLASSLINE_VAR", "var")
	dirs := args
	if len(dirs) == 0 {
		dirs = []string{filepath.Join(varDir, "pg"), filepath.Join(varDir, "pgtest")}
	}
	var errs []error
	for _, d := range dirs {
		if err := pglocal.StopDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// migratedDatabase resolves the database (DATABASE_URL or the local cluster),
// migrates it and returns its URL: what every admin subcommand starts with.
func migratedDatabase(ctx context.Context, getenv func(string) string) (string, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return "", err
	}
	url, err := databaseURL(ctx, cfg, os.Stderr)
	if err != nil {
		return "", err
	}
	return url, db.MigrateURL(ctx, url)
}

// openDatabase is migratedDatabase plus a pool on it.
func openDatabase(ctx context.Context, getenv func(string) string) (*db.DB, error) {
	url, err := migratedDatabase(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return db.Open(ctx, url)
}
