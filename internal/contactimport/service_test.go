package contactimport_test

import (
	"context"
	"strings"
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
