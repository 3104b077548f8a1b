package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

// BenchmarkInbox measures the inbox's server-side times over a seeded
// database: the conversation list and a conversation page through real HTTP
// (session, query, templ rendering), and conversation search at the db layer.
// By default it seeds a small dataset so `go tool task bench` stays quick;
// CLASSLINE_BENCH_SEED=1 seeds the full 50,000 conversations / 1,000,000
// messages (about a minute). Each operation reports p50-ms and p95-ms of
// its requests besides ns/op.
func BenchmarkInbox(b *testing.B) {
	ctx := context.Background()
	o := seedOptions{Conversations: 100, Messages: 2000, Departments: 3, Seed: 1}
	if os.Getenv("CLASSLINE_BENCH_SEED") == "1" {
		o.Conversations, o.Messages = 50000, 1000000
	}
	dbURL := dbtest.NewURL(b)
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	var progress io.Writer = io.Discard
	if testing.Verbose() {
		progress = os.Stderr
	}
	started := time.Now()
	if err := seedDatabase(ctx, d, o, progress); err != nil {
		d.Close()
		b.Fatal(err)
	}
	b.Logf("seeded %d conversations, %d messages in %s", o.Conversations, o.Messages, time.Since(started).Round(time.Millisecond))
	var ids []int64
	err = d.Pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM conversations`).Scan(&ids)
	d.Close()
	if err != nil {
		b.Fatal(err)
	}

	ta := startTestApp(b, testOptions{StepDelay: time.Hour, Env: map[string]string{"DATABASE_URL": dbURL}})
	if ta.AdminPW == "" {
		b.Fatal("no first admin on the seeded database")
	}
	admin := ta.loginAdmin()
	staff := ta.login("bench-staff@school.example", ta.addUser("bench-staff@school.example", "staff", "admissions"))
	rng := rand.New(rand.NewPCG(7, 7))

	get := func(b *testing.B, c *http.Client, path string) {
		req, err := http.NewRequest(http.MethodGet, ta.URL+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if strings.Contains(path, "more=1") {
			req.Header.Set("HX-Request", "true") // "Load more" is an htmx request
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	b.Run("list/admin", func(b *testing.B) {
		timed(b, func() { get(b, admin, "/inbox") })
	})
	b.Run("list/staff-1-department", func(b *testing.B) {
		timed(b, func() { get(b, staff, "/inbox") })
	})
	// Other views and filters: each page also counts every view.
	for _, v := range []struct{ name, path string }{
		{"unassigned", "/inbox?view=unassigned"},
		{"department", "/inbox?view=department&department=1"},
		{"waiting-longest", "/inbox?sort=waiting"},
		{"closed", "/inbox?status=closed"},
	} {
		b.Run("list/admin-"+v.name, func(b *testing.B) {
			timed(b, func() { get(b, admin, v.path) })
		})
	}
	b.Run("list/admin-page-2", func(b *testing.B) {
		var c struct {
			at time.Time
			id int64
		}
		if err := ta.db.Pool.QueryRow(ctx, `SELECT last_message_at, id FROM conversations WHERE status = 'open' ORDER BY last_message_at DESC, id DESC OFFSET 49 LIMIT 1`).Scan(&c.at, &c.id); err != nil {
			b.Fatal(err)
		}
		path := "/inbox?more=1&after=" + db.Cursor{At: c.at, ID: c.id}.String()
		timed(b, func() { get(b, admin, path) })
	})
	b.Run("conversation", func(b *testing.B) {
		timed(b, func() { get(b, admin, fmt.Sprintf("/conversations/%d", ids[rng.IntN(len(ids))])) })
	})
	for _, s := range []struct{ name, q string }{
		{"name", "Priya Patel"},
		{"phone", "555 012"},
		{"text-common", "homework"},
		{"text-phrase", `"uniform shop"`},
		{"text-rare", "dentist"},
		{"no-hit", "zebra"},
	} {
		b.Run("search/"+s.name, func(b *testing.B) {
			timed(b, func() { get(b, admin, "/inbox?q="+url.QueryEscape(s.q)) })
		})
	}
}

// timed runs op in a b.Loop and reports the median and 95th percentile of
// its durations in milliseconds.
func timed(b *testing.B, op func()) {
	var d []time.Duration
	for b.Loop() {
		t := time.Now()
		op()
		d = append(d, time.Since(t))
	}
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}
