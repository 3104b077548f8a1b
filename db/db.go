// Package db owns every SQL statement of Classline: the pool, migrations and
// named queries, one file per area. Handlers and services call these functions;
// none of them builds SQL of its own.
package db

import (
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/classline/classline/migrations"
)

// ErrNotFound is returned by lookups that found no row.
var ErrNotFound = errors.New("not found")

// DB wraps the pool so queries hang off one value that handlers and services share.
type DB struct {
	Pool *pgxpool.Pool
}

// Open connects a pool and checks the database answers.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse url: %w", err)
	}
	// pgx defaults to max(4, CPUs) connections, too few for webhooks, pages
	// and live streams at once; a URL's pool_max_conns still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: open pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: ping: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// Close releases every connection.
func (d *DB) Close() { d.Pool.Close() }

// Ping reports whether the database answers, for /healthz.
func (d *DB) Ping(ctx context.Context) error { return d.Pool.Ping(ctx) }

// Migrate applies every embedded migration not yet applied. tern holds an
// advisory lock, so several instances starting at once migrate only once.
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return fmt.Errorf("db: new migrator: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return fmt.Errorf("db: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	return migrateRiver(ctx, conn)
}

// riverMigrationLock is the advisory lock key of River's migrations
// ("cl_rvrmg" in ASCII).
const riverMigrationLock int64 = 0x636c5f7276726d67

// migrateRiver creates or updates River's job tables (the broadcast engine's
// queue) with River's own migrator, pinned by the River version in go.mod.
func migrateRiver(ctx context.Context, conn *pgx.Conn) error {
	// River's migrator takes no lock of its own, and instances started
	// together on a new database would race it ("relation already exists").
	// conn holds this session lock while the pool's connections migrate; the
	// others wait here, then find nothing left to do.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
		return fmt.Errorf("db: river migrate lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock)
	}()
	// River's migrator needs a pool: some of its versions cannot share one
	// transaction (an enum value added and used).
	pool, err := pgxpool.New(ctx, conn.Config().ConnString())
	if err != nil {
		return fmt.Errorf("db: river migrate: %w", err)
	}
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("db: river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("db: river migrate: %w", err)
	}
	return nil
}

// MigrateURL opens a single connection to url and migrates it.
func MigrateURL(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("db: connect for migration: %w", err)
	}
	defer conn.Close(ctx)
	return Migrate(ctx, conn)
}

// WriteRefused reports whether err is the database refusing to store
// anything: a read-only transaction (25006: a replica, a database set
// read-only by an operator) or a full disk (53100 disk_full, 53200
// out_of_memory, 53300 too_many_connections are "insufficient resources").
// Handlers turn it into "not saved, try again later" instead of a bare 500.
func WriteRefused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "25006" || strings.HasPrefix(pgErr.Code, "53")
}

// Unavailable reports whether err means the database could not be reached
// or went away mid-request (a restart, a failover): the request may
// succeed if repeated a moment later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P01-57P03: admin/crash shutdown, cannot connect now; 08: connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
