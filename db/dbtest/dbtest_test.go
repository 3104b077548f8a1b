package dbtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestDatabasesAreMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := New(t), New(t)

	for name, d := range map[string]interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}{"a": a.Pool, "b": b.Pool} {
		var version int
		if err := d.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil || version < 1 {
			t.Fatalf("%s: schema_version = %d, %v; want migrations applied", name, version, err)
		}
	}

	if _, err := a.Pool.Exec(ctx, "INSERT INTO departments (name, slug) VALUES ('Science', 'science')"); err != nil {
		t.Fatal(err)
	}
	var inA, inB int
	if err := a.Pool.QueryRow(ctx, "SELECT count(*) FROM departments").Scan(&inA); err != nil {
		t.Fatal(err)
	}
	if err := b.Pool.QueryRow(ctx, "SELECT count(*) FROM departments").Scan(&inB); err != nil {
		t.Fatal(err)
	}
	if inA != 1 || inB != 0 {
		t.Fatalf("departments: a has %d (want 1), b has %d (want 0)", inA, inB)
	}
}

func TestNewURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM departments").Scan(&n); err != nil || n != 0 {
		t.Fatalf("departments = %d, %v", n, err)
	}
}

// TestParallelNew measures 20 parallel New calls (the guide expects ~2 s).
func TestParallelNew(t *testing.T) {
	const n = 20
	New(t) // the template exists from here on: time the clones only
	start := time.Now()
	var mu sync.Mutex
	var slowest time.Duration
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				s := time.Now()
				d := New(t)
				if err := d.Ping(context.Background()); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				slowest = max(slowest, time.Since(s))
				mu.Unlock()
			})
		}
	})
	t.Logf("%d parallel dbtest.New (with drops): %v total, slowest New %v", n, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
}
