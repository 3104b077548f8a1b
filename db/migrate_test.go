package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

// Several instances starting together on an empty database (a first
// deployment of two or three processes) must all migrate it without error:
// one applies the migrations, ours and River's, the others wait and find
// nothing left to do.
func TestConcurrentMigrationsOnAFreshDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := dbtest.NewURL(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// An empty database: the test role may not create one, but it owns this
	// one, so it can empty it.
	if _, err := admin.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	fresh := base

	const instances = 3
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.MigrateURL(ctx, fresh)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var jobs, broadcasts bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL, to_regclass('broadcasts') IS NOT NULL`).Scan(&jobs, &broadcasts); err != nil {
		t.Fatal(err)
	}
	if !jobs || !broadcasts {
		t.Fatalf("after migrating: river_job %v, broadcasts %v; want both", jobs, broadcasts)
	}
}
