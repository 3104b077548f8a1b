package contactimport_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/contactimport"
)

// BenchmarkImport50k imports 50,000 generated rows (with class and consent
// columns) into a fresh PostgreSQL database: upload (parse + store), start,
// run. It reports rows/s; it asserts no duration.
func BenchmarkImport50k(b *testing.B) {
	const n = 50_000
	var sb strings.Builder
	sb.WriteString("name,phone,role,language,class,whatsapp consent\n")
	for i := range n {
		fmt.Fprintf(&sb, "Parent %d,+1555%07d,guardian,en,%dB,yes\n", i, 3000000+i, i%12+1)
	}
	file := sb.String()
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		d := dbtest.New(b)
		actor, err := d.CreateUser(ctx, db.NewUser{Email: "bench@example.org", Name: "Bench", Role: "admin", PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		svc := &contactimport.Service{DB: d, Region: "US"}
		b.StartTimer()
		start := time.Now()
		id, err := svc.Upload(ctx, actor, "bench.csv", strings.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		ci, err := d.ContactImportByID(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Start(ctx, actor, id, contactimport.StartInput{Mapping: contactimport.GuessMapping(ci.Header)}, ""); err != nil {
			b.Fatal(err)
		}
		if err := svc.Run(ctx, id); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		ci, err = d.ContactImportByID(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if ci.Status != "done" || ci.Created != n || ci.Consents != n {
			b.Fatalf("import %+v", ci)
		}
		// The same file again: nothing written.
		id2, err := svc.Upload(ctx, actor, "bench.csv", strings.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Start(ctx, actor, id2, contactimport.StartInput{Mapping: contactimport.GuessMapping(ci.Header)}, ""); err != nil {
			b.Fatal(err)
		}
		start2 := time.Now()
		if err := svc.Run(ctx, id2); err != nil {
			b.Fatal(err)
		}
		el2 := time.Since(start2)
		ci2, _ := d.ContactImportByID(ctx, id2)
		if ci2.Unchanged != n || ci2.Created != 0 || ci2.Updated != 0 || ci2.Consents != 0 {
			b.Fatalf("re-import %+v", ci2)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(n)/el2.Seconds(), "reimport-rows/s")
		b.StartTimer()
	}
}
