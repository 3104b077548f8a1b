package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/contactimport"
)

// crashedImport prepares, on the database at url, an import of good good
// rows and bad bad rows whose worker died after writing stopAfter batches
// of batch rows: the row stays "running", its heartbeat five minutes old.
// It returns the import's id and the phones of the good rows.
func crashedImport(t *testing.T, url string, good, bad, batch, stopAfter int) (int64, []string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	actor, err := d.CreateUser(ctx, db.NewUser{Email: "importer@school.example", Name: "Importer", Role: "admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("name,phone,marketing consent\n")
	var phones []string
	for i := range good {
		p := fmt.Sprintf("+1555060%04d", i)
		phones = append(phones, p)
		consent := ""
		if i%2 == 0 {
			consent = "yes"
		}
		fmt.Fprintf(&b, "Parent %d,%s,%s\n", i, p, consent)
		if bad > 0 && i%300 == 150 {
			fmt.Fprintf(&b, "Broken %d,12,\n", i)
			bad--
		}
	}
	if bad != 0 {
		t.Fatalf("file too short for its bad rows")
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := 0
	svc := &contactimport.Service{DB: d, Region: "US", BatchSize: batch, AfterBatch: func(int64, int) {
		// The process dies here, between two batches (a death inside a
		// batch rolls it back, which leaves the same state).
		if batches++; batches == stopAfter {
			cancel()
		}
	}}
	id, err := svc.Upload(ctx, actor, "parents.csv", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx, actor, id, contactimport.StartInput{
		Mapping:  contactimport.Mapping{contactimport.FieldName, contactimport.FieldPhone, contactimport.FieldConsentMarket},
		NewGroup: "Imported parents"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(cctx, id); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	ci, err := d.ContactImportByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != "running" || ci.Created != batch*stopAfter || ci.Processed != ci.Failed+batch*stopAfter {
		t.Fatalf("interrupted import: %+v", ci)
	}
	// The dead worker's heartbeat grows old.
	if _, err := d.Pool.Exec(ctx, `UPDATE contact_imports SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return id, phones
}

// checkImportExact checks an import finished with exact counts and every
// contact, group membership and consent row written once.
func checkImportExact(t *testing.T, d *db.DB, id int64, phones []string, bad int) {
	t.Helper()
	ctx := context.Background()
	ci, err := d.ContactImportByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	good := len(phones)
	if ci.Status != "done" || ci.Total != good+bad || ci.Processed != good+bad || ci.Created != good ||
		ci.Updated != 0 || ci.Unchanged != 0 || ci.Failed != bad || ci.Consents != (good+1)/2 {
		t.Fatalf("resumed import counts: status %s total %d processed %d created %d updated %d unchanged %d failed %d consents %d",
			ci.Status, ci.Total, ci.Processed, ci.Created, ci.Updated, ci.Unchanged, ci.Failed, ci.Consents)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := d.Pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM contacts WHERE phone = ANY($1)`, phones); n != good {
		t.Fatalf("contacts: %d, want %d", n, good)
	}
	if n := count(`SELECT count(*) FROM (SELECT phone FROM consent_events GROUP BY phone, purpose HAVING count(*) > 1) x`); n != 0 {
		t.Fatalf("%d numbers got their consent twice", n)
	}
	if n := count(`SELECT count(*) FROM consent_events WHERE method = 'import'`); n != (good+1)/2 {
		t.Fatalf("consent events: %d, want %d", n, (good+1)/2)
	}
	if n := count(`SELECT count(*) FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE g.name = 'Imported parents'`); n != good {
		t.Fatalf("group members: %d, want %d", n, good)
	}
	if n := count(`SELECT count(*) FROM audit_log WHERE action = 'contact_import.done' AND subject = $1`, fmt.Sprintf("contact_import:%d", id)); n != 1 {
		t.Fatalf("import finished %d times", n)
	}
	if n := count(`SELECT count(*) FROM contact_import_rows WHERE import_id = $1`, id); n != 0 {
		t.Fatalf("%d stored rows left after the import ended", n)
	}
}

// An import left running by a process that died is resumed when Classline
// starts, by exactly one of two instances starting together, and ends with
// the counts it would have had uninterrupted.
func TestImportResumedAtStartup(t *testing.T) {
	url := dbtest.NewURL(t)
	const good, bad, batch = 2500, 7, 1000
	id, phones := crashedImport(t, url, good, bad, batch, 1)

	// Two instances come up on the database at once.
	env := map[string]string{"DATABASE_URL": url}
	var wg sync.WaitGroup
	apps := make([]*testApp, 2)
	errs := make([]error, 2)
	for i := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			apps[i], errs[i] = startSharedApp(t, env)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	ta := apps[0]
	eventually(t, "the interrupted import finished", func() bool {
		ci, err := ta.db.ContactImportByID(context.Background(), id)
		return err == nil && ci.Status != "running"
	})
	checkImportExact(t, ta.db, id, phones, bad)
	// The other instance's sweep a minute later finds nothing to take.
	for _, a := range apps {
		if again, err := (&contactimport.Service{DB: a.db, Region: "US"}).ClaimStaleImports(context.Background()); err != nil || len(again) != 0 {
			t.Fatalf("claimed again after it finished: %v %v", again, err)
		}
	}
}

// startSharedApp starts an instance on an existing database, like
// startTestApp but safe to call from several goroutines at once: it
// returns its error instead of failing the test.
func startSharedApp(t *testing.T, extra map[string]string) (*testApp, error) {
	env := map[string]string{"ADDR": "127.0.0.1:0", "CLASSLINE_VAR": t.TempDir(), "SESSION_KEY": strings.Repeat("k", 40)}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := startApp(context.Background(), cfg, appOptions{Listener: ln, Logger: logger, Progress: io.Discard, SimStepDelay: 30 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	a.URL = "http://" + ln.Addr().String()
	return &testApp{app: a, t: t, token: a.simToken}, nil
}

// However many processes sweep at once, each stale import is claimed once.
func TestImportResumeClaimedOnce(t *testing.T) {
	url := dbtest.NewURL(t)
	const good, bad, batch = 900, 3, 200
	id, phones := crashedImport(t, url, good, bad, batch, 2)
	ctx := context.Background()

	const workers = 8
	svcs := make([]*contactimport.Service, workers)
	for i := range svcs {
		d, err := db.Open(ctx, url) // a pool each, as separate processes have
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		svcs[i] = &contactimport.Service{DB: d, Region: "US", BatchSize: batch}
	}
	var ready, wg sync.WaitGroup
	ready.Add(workers)
	start := make(chan struct{})
	won := make([][]int64, workers)
	errs := make([]error, workers)
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			won[i], errs[i] = svc.ClaimStaleImports(ctx)
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	winner := -1
	for i := range won {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if len(won[i]) > 0 {
			if winner >= 0 || len(won[i]) != 1 || won[i][0] != id {
				t.Fatalf("claims: %v", won)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no worker claimed the stale import")
	}
	if err := svcs[winner].Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Swept again later: nothing left to claim.
	for _, svc := range svcs {
		if again, err := svc.ClaimStaleImports(ctx); err != nil || len(again) != 0 {
			t.Fatalf("claimed again after it finished: %v %v", again, err)
		}
	}
	checkImportExact(t, svcs[0].DB, id, phones, bad)
}
