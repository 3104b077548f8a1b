// Package pglocal runs a project-local PostgreSQL cluster: the database used
// when DATABASE_URL is unset (`go tool task dev`) and by the tests.
//
// A cluster lives in one folder (for example ./var/pg):
//
//	<dir>/data        the data directory (initdb)
//	<dir>/socket      the Unix socket directory; the server listens nowhere else
//	<dir>/server.log  the server's log
//
// The server never listens on TCP (listen_addresses is empty), so the fixed port
// number only names the socket file and never clashes with another server.
//
// Authentication is "trust" for the superuser "postgres". That is acceptable
// for a development cluster because the socket is the only way in and access
// to it is decided by the file system: the cluster folder and the socket
// folder are mode 0700 and owned by the account that runs the server. When we
// run as root the server runs as the `postgres` system user and root (the app)
// can still connect, since root may enter any folder; when we are not root the
// server runs as the current user, who owns the folders. Nobody else can reach
// the socket.
//
// PostgreSQL refuses to run as root. When the current process is root, initdb
// and pg_ctl run as the `postgres` system user (created with useradd if
// missing) and the cluster folder is handed to it. If that user cannot reach
// the requested folder (a project under /root, which is 0700), or if the
// socket path would be too long for a Unix socket, the cluster lives under
// /var/tmp/classline-pg-<hash of the requested folder> instead and Start logs
// a line saying so.
package pglocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Port is the port number of every local cluster. It only names the socket
// file (<socket dir>/.s.PGSQL.5432): the server does not listen on TCP.
const Port = 5432

// Superuser is the database superuser created by initdb.
const Superuser = "postgres"

// ErrNoBinaries is returned by Start when no PostgreSQL server binaries exist.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found; install Debian's `postgresql` package (apt-get install -y postgresql) or set DATABASE_URL")

// Seams for tests.
var (
	// lookPath finds pg_ctl and initdb on PATH.
	lookPath = exec.LookPath
	// binDirGlob matches Debian's per-version binary folders.
	binDirGlob = "/usr/lib/postgresql/*/bin"
	// fallbackRoot holds clusters that cannot live in the requested folder.
	fallbackRoot = "/var/tmp"
)

const (
	// maxSocketPath is the longest socket file path we accept: sun_path holds
	// 108 bytes including the terminating NUL on Linux; stay under 107.
	maxSocketPath = 106
	startTimeout  = 60 // seconds, for pg_ctl -w
	serverAccount = "postgres"
)

// Options configure Start.
type Options struct {
	Dir    string    // data + socket folder, e.g. "./var/pg" (made absolute)
	DBName string    // database to create if missing, e.g. "classline"; empty: none
	Fast   bool      // fsync=off, synchronous_commit=off, full_page_writes=off (tests)
	Log    io.Writer // progress lines for humans (may be nil)
}

// Cluster is a local PostgreSQL cluster, running once Start returns.
type Cluster struct {
	Dir        string // folder actually used (the requested one or its /var/tmp fallback)
	DataDir    string // <Dir>/data
	SocketDir  string // <Dir>/socket
	LogFile    string // <Dir>/server.log
	User       string // database superuser, "postgres"
	Port       int    // names the socket file; no TCP
	ServerUser string // operating-system account that runs the server

	bins binaries
	acct *account // nil: run commands as the current user
	log  io.Writer
}

type binaries struct {
	pgCtl, initdb string
}

// account is the operating-system user the server runs as when we are root.
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// Start initialises the cluster on first use, starts it if it is not running
// and creates o.DBName if missing. It is idempotent, and safe when several
// processes call it at once: they serialise on a lock file next to o.Dir.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("pglocal: Options.Dir is empty")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(parent, "."+filepath.Base(abs)+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	acct, err := serverAccountForMe(ctx)
	if err != nil {
		return nil, err
	}
	dir, why := chooseDir(abs, acct)
	c := newCluster(dir, bins, acct, o.Log)
	if why != "" {
		c.logf("pglocal: using %s instead of %s: %s", dir, abs, why)
	}
	if err := c.prepareDirs(dir != abs); err != nil {
		return nil, err
	}
	if err := c.initIfNeeded(ctx, o.Fast); err != nil {
		return nil, err
	}
	running, err := c.running(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		if err := c.waitReady(ctx, 10*time.Second); err != nil {
			return nil, fmt.Errorf("pglocal: the server in %s is running but does not answer: %w%s", c.DataDir, err, c.logTail())
		}
	} else {
		if err := c.writeConf(o.Fast); err != nil {
			return nil, err
		}
		if err := c.start(ctx); err != nil {
			return nil, err
		}
	}
	if o.DBName != "" {
		if err := c.createDB(ctx, o.DBName); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// StopDir stops the cluster of folder dir (as given to Start) if it runs. It
// looks both in dir and in dir's /var/tmp fallback. No cluster: nil.
func StopDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	var found []string
	for _, d := range []string{abs, fallbackDir(abs)} {
		if _, err := os.Stat(filepath.Join(d, "data", "PG_VERSION")); err == nil {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return nil
	}
	bins, err := findBinaries()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout*time.Second)
	defer cancel()
	acct, err := serverAccountForMe(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range found {
		errs = append(errs, newCluster(d, bins, acct, nil).stop(ctx))
	}
	return errors.Join(errs...)
}

// URL is the connection URL of database dbname over the cluster's socket,
// e.g. postgres://postgres@/classline?host=/abs/var/pg/socket&port=5432&sslmode=disable.
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable",
		url.PathEscape(c.User), url.PathEscape(dbname), queryEscapePath(c.SocketDir), c.Port)
}

// Stop stops the server (pg_ctl stop -m fast). Stopping a stopped cluster is no error.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout*time.Second)
	defer cancel()
	return c.stop(ctx)
}

func newCluster(dir string, bins binaries, acct *account, log io.Writer) *Cluster {
	c := &Cluster{
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "socket"),
		LogFile:   filepath.Join(dir, "server.log"),
		User:      Superuser,
		Port:      Port,
		bins:      bins,
		acct:      acct,
		log:       log,
	}
	if acct != nil {
		c.ServerUser = acct.name
	} else if u, err := user.Current(); err == nil {
		c.ServerUser = u.Username
	}
	return c
}

func (c *Cluster) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, format+"\n", args...)
	}
}

// ---- binaries ----

// findBinaries prefers pg_ctl and initdb on PATH, else the highest
// /usr/lib/postgresql/<version>/bin.
func findBinaries() (binaries, error) {
	if ctl, err := lookPath("pg_ctl"); err == nil {
		if ini, err := lookPath("initdb"); err == nil {
			return binaries{pgCtl: resolve(ctl), initdb: resolve(ini)}, nil
		}
	}
	dirs, _ := filepath.Glob(binDirGlob)
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[j])), filepath.Base(filepath.Dir(dirs[i])))
	})
	for _, d := range dirs {
		ctl, ini := filepath.Join(d, "pg_ctl"), filepath.Join(d, "initdb")
		if isExecutable(ctl) && isExecutable(ini) && isExecutable(filepath.Join(d, "postgres")) {
			return binaries{pgCtl: ctl, initdb: ini}, nil
		}
	}
	return binaries{}, ErrNoBinaries
}

// resolve follows symlinks so a linked pg_ctl still finds its sibling postgres.
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionLess orders "9.6" < "15" < "16.2" numerically.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

// ---- accounts and folders ----

// serverAccountForMe returns the account to run the server as: nil when we
// are not root, else the postgres system user, created if missing.
func serverAccountForMe(ctx context.Context) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverAccount)
	if err != nil {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			useradd = "/usr/sbin/useradd"
		}
		out, aerr := exec.CommandContext(ctx, useradd, "--system", "--no-create-home", serverAccount).CombinedOutput()
		if aerr != nil {
			return nil, fmt.Errorf("pglocal: PostgreSQL cannot run as root and creating the %q system user failed: %v: %s", serverAccount, aerr, bytes.TrimSpace(out))
		}
		if u, err = user.Lookup(serverAccount); err != nil {
			return nil, fmt.Errorf("pglocal: look up user %q: %w", serverAccount, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: uid of %q: %w", serverAccount, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: gid of %q: %w", serverAccount, err)
	}
	a := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				a.groups = append(a.groups, uint32(g))
			}
		}
	}
	return a, nil
}

func (a *account) inGroup(gid uint32) bool {
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// chooseDir returns the folder the cluster lives in: abs, or its /var/tmp
// fallback with the reason.
func chooseDir(abs string, acct *account) (dir, why string) {
	if n := len(socketPath(abs)); n > maxSocketPath {
		return fallbackDir(abs), fmt.Sprintf("its socket path would be %d bytes, longer than a Unix socket allows (%d)", n, maxSocketPath)
	}
	if acct != nil {
		if blocked := firstUnreachable(filepath.Dir(abs), acct); blocked != "" {
			return fallbackDir(abs), fmt.Sprintf("PostgreSQL cannot run as root, so it runs as the %q system user, and that user cannot enter %s", acct.name, blocked)
		}
	}
	return abs, ""
}

func socketPath(dir string) string {
	return filepath.Join(dir, "socket", ".s.PGSQL."+strconv.Itoa(Port))
}

// fallbackDir is /var/tmp/classline-pg-<short hash of abs>.
func fallbackDir(abs string) string {
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(fallbackRoot, "classline-pg-"+hex.EncodeToString(sum[:])[:12])
}

// firstUnreachable returns the first folder on the way to dir (inclusive)
// that acct may not search, or "" when acct can reach dir.
func firstUnreachable(dir string, acct *account) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return chain[i]
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == acct.uid:
			can = perm&0o100 != 0
		case acct.inGroup(st.Gid):
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return chain[i]
		}
	}
	return ""
}

// prepareDirs makes <Dir> and <Dir>/socket, 0700 and owned by the server's account.
func (c *Cluster) prepareDirs(fallback bool) error {
	for _, d := range []string{c.Dir, c.SocketDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("pglocal: %s is not a folder", d)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if fallback && st != nil && st.Uid != uint32(os.Geteuid()) && (c.acct == nil || st.Uid != c.acct.uid) {
			// /var/tmp is shared: refuse a folder someone else planted.
			return fmt.Errorf("pglocal: %s belongs to uid %d, not to us; remove it", d, st.Uid)
		}
		if c.acct != nil && st != nil && (st.Uid != c.acct.uid || st.Gid != c.acct.gid) {
			if err := os.Chown(d, int(c.acct.uid), int(c.acct.gid)); err != nil {
				return fmt.Errorf("pglocal: hand %s to %s: %w", d, c.acct.name, err)
			}
		}
		if fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(d, 0o700); err != nil {
				return fmt.Errorf("pglocal: %w", err)
			}
		}
	}
	return nil
}

// ---- lifecycle ----

func (c *Cluster) initIfNeeded(ctx context.Context, fast bool) error {
	if _, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// A data folder without PG_VERSION is an interrupted initdb: start over.
	if _, err := os.Stat(c.DataDir); err == nil {
		c.logf("pglocal: removing the incomplete data folder %s", c.DataDir)
		if err := os.RemoveAll(c.DataDir); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	c.logf("pglocal: creating a PostgreSQL cluster in %s (server runs as %s)", c.Dir, c.ServerUser)
	args := []string{"-D", c.DataDir, "-U", Superuser, "--auth=trust", "--encoding=UTF8"}
	if fast {
		args = append(args, "--no-sync")
	}
	out, err := c.run(ctx, c.bins.initdb, append(args, "--locale=C.UTF-8")...)
	if err != nil && strings.Contains(out, "locale") {
		// No C.UTF-8 on this system: plain C sorts bytewise but always exists.
		_ = os.RemoveAll(c.DataDir)
		out, err = c.run(ctx, c.bins.initdb, append(args, "--locale=C")...)
	}
	if err != nil {
		_ = os.RemoveAll(c.DataDir)
		return fmt.Errorf("pglocal: initdb: %w\n%s", err, strings.TrimSpace(out))
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	_, err = io.WriteString(f, "\n# Classline's settings, rewritten by pglocal on every start.\ninclude_if_exists = 'classline.conf'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// writeConf writes <data>/classline.conf, included by postgresql.conf.
func (c *Cluster) writeConf(fast bool) error {
	var b strings.Builder
	b.WriteString("# Written by Classline's internal/pglocal before each start; edits are lost.\n")
	b.WriteString("listen_addresses = ''\n")
	fmt.Fprintf(&b, "port = %d\n", c.Port)
	fmt.Fprintf(&b, "unix_socket_directories = '%s'\n", strings.ReplaceAll(c.SocketDir, "'", "''"))
	b.WriteString("unix_socket_permissions = 0700\n")
	b.WriteString("max_connections = 200\n")
	if fast {
		b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	}
	p := filepath.Join(c.DataDir, "classline.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if c.acct != nil {
		if err := os.Chown(p, int(c.acct.uid), int(c.acct.gid)); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	c.logf("pglocal: starting PostgreSQL (socket %s, log %s)", c.SocketDir, c.LogFile)
	out, err := c.run(ctx, c.bins.pgCtl, "start", "-D", c.DataDir, "-l", c.LogFile, "-w", "-t", strconv.Itoa(startTimeout), "-s")
	if err != nil {
		return fmt.Errorf("pglocal: pg_ctl start: %w\n%s%s", err, strings.TrimSpace(out), c.logTail())
	}
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		return fmt.Errorf("pglocal: started but the server does not answer: %w%s", err, c.logTail())
	}
	return nil
}

// running asks pg_ctl status: exit 0 running, 3 not running.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	out, err := c.run(ctx, c.bins.pgCtl, "status", "-D", c.DataDir)
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		return false, nil
	}
	return false, fmt.Errorf("pglocal: pg_ctl status: %w\n%s", err, strings.TrimSpace(out))
}

func (c *Cluster) stop(ctx context.Context) error {
	running, err := c.running(ctx)
	if err != nil || !running {
		return err
	}
	c.logf("pglocal: stopping PostgreSQL in %s", c.Dir)
	out, err := c.run(ctx, c.bins.pgCtl, "stop", "-D", c.DataDir, "-m", "fast", "-w", "-t", strconv.Itoa(startTimeout), "-s")
	if err != nil {
		return fmt.Errorf("pglocal: pg_ctl stop: %w\n%s%s", err, strings.TrimSpace(out), c.logTail())
	}
	return nil
}

// waitReady connects until the server answers or d passes.
func (c *Cluster) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, c.URL("postgres"))
		if err == nil {
			err = conn.Ping(cctx)
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) createDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: look for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
			return nil
		}
		return fmt.Errorf("pglocal: create database %q: %w", name, err)
	}
	c.logf("pglocal: created database %s", name)
	return nil
}

// run runs a PostgreSQL program as the server's account, in the cluster
// folder (initdb and pg_ctl need a working directory they can enter).
func (c *Cluster) run(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves a daemon behind; should it ever keep our pipe
	// open, stop waiting for output shortly after pg_ctl itself exits.
	cmd.WaitDelay = 5 * time.Second
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv) // PGDATA, PGPORT... would override our flags
		}
	}
	if c.acct != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.acct.uid, Gid: c.acct.gid, Groups: c.acct.groups}}
		env = append(env, "HOME="+c.Dir)
	} else if h, ok := os.LookupEnv("HOME"); ok {
		env = append(env, "HOME="+h)
	}
	cmd.Env = env
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		err = nil
	}
	return out.String(), err
}

// logTail returns the last lines of the server log, for error messages.
func (c *Cluster) logTail() string {
	data, err := os.ReadFile(c.LogFile)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\nlast lines of " + c.LogFile + ":\n" + strings.Join(lines, "\n")
}

// lockFile takes an exclusive flock on path, waiting while ctx allows.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pglocal: open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("pglocal: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("pglocal: waiting for %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// queryEscapePath escapes a folder for a URL query but keeps it readable.
func queryEscapePath(p string) string {
	return strings.ReplaceAll(url.QueryEscape(p), "%2F", "/")
}
