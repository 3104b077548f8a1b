package main

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// What an operator alerts on is on /metrics: the database pool's state,
// live events dropped, and how many status callbacks each commit carried.
func TestMetricsPoolLiveAndStatusBatches(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.client()
	for i := range 3 {
		if status, _ := ta.webhook("/webhooks/twilio/status", statusForm(newSID(), "delivered", 0), ta.token); status != http.StatusOK {
			t.Fatalf("status callback %d: %d", i, status)
		}
	}
	body, status := ta.get(c, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no %s:\n%s", series, grepLines(body, "classline_"))
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := value("classline_db_pool_max_conns"); v != 20 {
		t.Errorf("pool max conns %v, want the default 20", v)
	}
	if open, used := value("classline_db_pool_conns"), value("classline_db_pool_acquired_conns"); open < 1 || used > open {
		t.Errorf("pool: %v open, %v acquired", open, used)
	}
	value("classline_db_pool_acquire_waits_total")
	value("classline_db_pool_acquire_wait_seconds_total")
	if v := value("classline_live_events_dropped_total"); v != 0 {
		t.Errorf("%v live events dropped with no browser connected", v)
	}
	// Posted one after another, each callback is its own batch.
	if n, sum := value("classline_status_commit_batch_size_count"), value("classline_status_commit_batch_size_sum"); n != 3 || sum != 3 {
		t.Errorf("status batches: %v batches holding %v callbacks, want 3 and 3", n, sum)
	}
}
