package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/internal/pglocal"
)

// databases hands out the databases the scenarios run against: fresh ones
// in the load generator's own cluster (var/pgbench: the project's local
// PostgreSQL, durable settings, fsync on, kept apart from `task dev`'s
// var/pg), or the one DATABASE_URL names.
type databases struct {
	shared  string // DATABASE_URL: every scenario uses it as it is
	cluster *pglocal.Cluster
}

func openDatabases(ctx context.Context, o Options) (*databases, error) {
	if o.DatabaseURL != "" {
		return &databases{shared: o.DatabaseURL}, nil
	}
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(o.VarDir, "pgbench"), Log: o.Log})
	if err != nil {
		return nil, err
	}
	return &databases{cluster: c}, nil
}

// get returns the URL of database name, dropped and created again when
// fresh, created when missing otherwise. With DATABASE_URL it is that URL.
func (d *databases) get(ctx context.Context, name string, fresh bool) (string, error) {
	if d.shared != "" {
		return d.shared, nil
	}
	conn, err := pgx.Connect(ctx, d.cluster.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("bench: connect to the cluster: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if fresh {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("bench: drop %s: %w", name, err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			return "", fmt.Errorf("bench: create %s: %w", name, err)
		}
	}
	return d.cluster.URL(name), nil
}

// serverSettings describes the server for the report: version and whether
// commits wait for the disk.
func serverSettings(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var version, fsync, syncCommit string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&version, &fsync, &syncCommit); err != nil {
		return "", err
	}
	return fmt.Sprintf("PostgreSQL %s, fsync=%s, synchronous_commit=%s", version, fsync, syncCommit), nil
}

// libpqURL drops the pgx-only pool_* parameters libpq (pgbench) rejects.
func libpqURL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
