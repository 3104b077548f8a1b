// Package dbtest gives each test a brand-new PostgreSQL database, cloned from
// a template migrated once with Classline's migrations (pgtestdb). Cloning a
// template takes tens of milliseconds, so every test can have its own database
// and run in parallel.
//
// The server is TEST_DATABASE_URL when set (an admin URL, postgres://..., to a
// server where the tests may create roles and databases), else a project-local
// cluster in <repo root>/var/pgtest started with pglocal (fsync off). That
// cluster is left running so the next `go test` starts at once; stop it with
// pglocal.StopDir (`classline pg-stop`).
//
// Databases of passing tests are dropped; those of failing tests are kept so
// you can look at them (the test log prints their URL).
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/pglocal"
	"github.com/classline/classline/migrations"
)

// New returns a pool on a brand-new, migrated database, closed and dropped
// when the test passes.
func New(t testing.TB) *db.DB {
	t.Helper()
	url := NewURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	// Cleanups run last-registered first: the pool closes before the drop.
	t.Cleanup(d.Close)
	return d
}

// NewURL returns the connection URL of a brand-new, migrated database, for
// tests that start the whole app. The database is dropped when the test
// passes; connections still open then are terminated.
func NewURL(t testing.TB) string {
	t.Helper()
	base, err := server()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	conf := pgtestdb.Custom(t, base, migrator{})
	return connURL(*conf)
}

var (
	serverOnce sync.Once
	serverConf pgtestdb.Config
	serverErr  error
)

// server returns the admin configuration, starting the local cluster once
// per test binary.
func server() (pgtestdb.Config, error) {
	serverOnce.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			serverConf, serverErr = configFromURL(u)
			if serverErr != nil {
				serverErr = fmt.Errorf("TEST_DATABASE_URL: %w", serverErr)
			}
			return
		}
		root, err := repoRoot()
		if err != nil {
			serverErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// go test runs packages in parallel processes; Start serialises them.
		c, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(root, "var", "pgtest"), Fast: true, Log: progress()})
		if err != nil {
			serverErr = err
			return
		}
		serverConf, serverErr = configFromURL(c.URL("postgres"))
	})
	return serverConf, serverErr
}

// progress shows pglocal's lines only with go test -v: they are noise otherwise.
func progress() io.Writer {
	for _, a := range os.Args[1:] {
		if a == "-test.v=true" || a == "-test.v" {
			return os.Stderr
		}
	}
	return nil
}

// repoRoot is the nearest folder at or above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; set TEST_DATABASE_URL")
		}
		dir = parent
	}
}

// configFromURL splits a postgres:// URL into pgtestdb's fields. A Unix
// socket folder travels in Options as host=/path (pgx reads it there), with
// Host and Port left empty.
func configFromURL(raw string) (pgtestdb.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return pgtestdb.Config{}, err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return pgtestdb.Config{}, errors.New("want a postgres:// URL")
	}
	c := pgtestdb.Config{
		DriverName: "pgx",
		Host:       u.Hostname(),
		Port:       u.Port(),
		Database:   strings.TrimPrefix(u.Path, "/"),
		Options:    u.RawQuery,
		// Tests that start the app may leave LISTEN or job connections behind.
		ForceTerminateConnections: true,
	}
	if strings.Contains(c.Host, ":") {
		c.Host = "[" + c.Host + "]" // IPv6
	}
	if c.Database == "" {
		c.Database = "postgres"
	}
	// pgtestdb pastes User and Password into its URL as they are: escape them.
	if u.User != nil {
		c.User = url.User(u.User.Username()).String()
		if pw, ok := u.User.Password(); ok {
			c.Password = strings.TrimPrefix(url.UserPassword("", pw).String(), ":")
		}
	}
	return c, nil
}

// connURL is pgtestdb's URL without the empty "host:port" of socket configs.
func connURL(c pgtestdb.Config) string {
	if c.Host == "" && c.Port == "" {
		return fmt.Sprintf("postgres://%s:%s@/%s?%s", c.User, c.Password, c.Database, c.Options)
	}
	return c.URL()
}

// migrator is the tern adapter pgtestdb builds its template with.
type migrator struct{}

// Hash identifies the migrated schema: every embedded migration file's name
// and contents. A new or edited migration makes a new template.
func (migrator) Hash() (string, error) {
	h := sha256.New()
	io.WriteString(h, "classline tern migrator v2 + river v0.51.1\x00")
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Migrate runs db.Migrate (tern) on the template over its own pgx connection.
func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	conn, err := pgx.Connect(ctx, connURL(conf))
	if err != nil {
		return fmt.Errorf("connect to template: %w", err)
	}
	defer conn.Close(ctx)
	return db.Migrate(ctx, conn)
}
