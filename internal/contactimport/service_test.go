package contactimport_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/contactimport"
)

// An import whose worker stopped (shutdown mid-import) stays "running";
// once stale it is claimed and finished, with exact counts and the batches
// already written skipped.
func TestImportResumeAfterStop(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	actor, err := d.CreateUser(ctx, db.NewUser{Email: "resume@example.org", Name: "R", Role: "admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &contactimport.Service{DB: d, Region: "US", BatchSize: 2}
	file := "name,phone\nA,+15554010001\nB,+15554010002\nbad,1\nC,+15554010003\nD,+15554010004\nE,+15554010005\n"
	id, err := svc.Upload(ctx, actor, "r.csv", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx, actor, id, contactimport.StartInput{Mapping: contactimport.Mapping{"name", "phone"}}, ""); err != nil {
		t.Fatal(err)
	}
	// A worker that wrote the first batch (A, B) and stopped.
	if _, err := d.Pool.Exec(ctx, `INSERT INTO contacts (phone, name) VALUES ('+15554010001', 'A'), ('+15554010002', 'B')`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE contact_imports SET processed = 3, created = 2, failed = 1, heartbeat_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.ClaimStale(ctx, id); err != nil || ok {
		t.Fatalf("claimed a fresh import: %v %v", ok, err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE contact_imports SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.ClaimStale(ctx, id); err != nil || !ok {
		t.Fatalf("stale import not claimed: %v %v", ok, err)
	}
	if err := svc.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	ci, err := d.ContactImportByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != "done" || ci.Processed != 6 || ci.Created != 5 || ci.Unchanged != 0 || ci.Failed != 1 ||
		len(ci.Errors) != 1 || ci.Errors[0].Line != 4 {
		t.Fatalf("resumed import: %+v", ci)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("contacts: %d %v", n, err)
	}
	// Cancelled before it starts: it stays running, nothing is marked failed.
	id2, _ := svc.Upload(ctx, actor, "r.csv", strings.NewReader(file))
	if err := svc.Start(ctx, actor, id2, contactimport.StartInput{Mapping: contactimport.Mapping{"name", "phone"}}, ""); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = svc.Run(cctx, id2)
	if ci, _ := d.ContactImportByID(ctx, id2); ci.Status != "running" {
		t.Fatalf("cancelled import status %q", ci.Status)
	}
}

// A worker that went quiet for StaleAfter while still running (a long
// pause, a very slow machine) loses its import to another process, which
// finishes it. When the first wakes, it must not write its next batches
// again: counts past the file, consent events twice.
func TestImportStalledWorkerStopsAfterTakeover(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	actor, err := d.CreateUser(ctx, db.NewUser{Email: "stall@example.org", Name: "S", Role: "admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	file := "name,phone,marketing consent\nA,+15554020001,yes\nB,+15554020002,yes\nbad,1,yes\nC,+15554020003,yes\nD,+15554020004,no\nE,+15554020005,yes\nF,+15554020006,no\n"
	other := &contactimport.Service{DB: d, Region: "US", BatchSize: 2}
	var takeover error
	var once sync.Once
	stalled := &contactimport.Service{DB: d, Region: "US", BatchSize: 2, AfterBatch: func(id int64, _ int) {
		once.Do(func() {
			// Quiet past StaleAfter: another process claims the import and
			// finishes it before this one goes on.
			if _, err := d.Pool.Exec(ctx, `UPDATE contact_imports SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1`, id); err != nil {
				takeover = err
				return
			}
			contactimport.ForgetRunning(id)
			ok, err := other.ClaimStale(ctx, id)
			if err != nil || !ok {
				takeover = fmt.Errorf("takeover claim: %v %v", ok, err)
				return
			}
			takeover = other.Run(ctx, id)
		})
	}}
	id, err := stalled.Upload(ctx, actor, "s.csv", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if err := stalled.Start(ctx, actor, id, contactimport.StartInput{Mapping: contactimport.Mapping{"name", "phone", "consent_marketing"}}, ""); err != nil {
		t.Fatal(err)
	}
	if err := stalled.Run(ctx, id); err != nil {
		t.Fatalf("the stalled worker: %v", err)
	}
	if takeover != nil {
		t.Fatalf("the other worker: %v", takeover)
	}
	ci, err := d.ContactImportByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != "done" || ci.Processed != 7 || ci.Created != 6 || ci.Failed != 1 || ci.Consents != 6 {
		t.Errorf("import after a takeover: status %s, processed %d, created %d, failed %d, consents %d; want done, 7, 6, 1, 6",
			ci.Status, ci.Processed, ci.Created, ci.Failed, ci.Consents)
	}
	var events int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM consent_events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 6 {
		t.Errorf("%d consent events, want 6 (one per row with an answer)", events)
	}
}
