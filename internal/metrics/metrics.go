// Package metrics holds Classline's Prometheus collectors in one registry.
package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters /metrics exposes.
type Metrics struct {
	Registry     *prometheus.Registry
	HTTPRequests *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec
	Webhooks     *prometheus.CounterVec
	Sends        *prometheus.CounterVec
	SSEClients   prometheus.Gauge
	StatusBatch  prometheus.Histogram
}

// New registers every collector on a fresh registry (not the global one, so
// tests can build several servers in one process).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "classline_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "classline_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "classline_webhooks_total", Help: "Twilio webhooks by kind (inbound, status) and result (inbound: stored, duplicate, forged, error; status: applied, kept, forged, error).",
		}, []string{"kind", "result"}),
		Sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "classline_messages_sent_total", Help: "Message create calls to Twilio by channel and result (ok, the Twilio error code, unconfirmed; then found_at_twilio or not_at_twilio once Twilio was asked).",
		}, []string{"channel", "result"}),
		SSEClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "classline_sse_clients", Help: "Browsers connected to the live event stream on this instance.",
		}),
		StatusBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "classline_status_commit_batch_size", Help: "Status callbacks committed together in one transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
	}
	m.Registry.MustRegister(m.HTTPRequests, m.HTTPDuration, m.Webhooks, m.Sends, m.SSEClients, m.StatusBatch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchPool exposes the database pool's state, read at each scrape: a pool
// that is always fully acquired, or whose acquire waits keep growing, is
// the first sign that an instance needs more connections or PostgreSQL
// more room.
func (m *Metrics) WatchPool(pool *pgxpool.Pool) {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	counter := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	m.Registry.MustRegister(
		gauge("classline_db_pool_max_conns", "Largest number of connections the pool may open.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		gauge("classline_db_pool_conns", "Connections open now.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		gauge("classline_db_pool_acquired_conns", "Connections in use now.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		counter("classline_db_pool_acquire_waits_total", "Acquires that had to wait for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		counter("classline_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", func(s *pgxpool.Stat) float64 { return s.EmptyAcquireWaitTime().Seconds() }),
	)
}

// WatchLive exposes how many live events were dropped for browsers too slow
// to take them (each such page refreshes itself).
func (m *Metrics) WatchLive(dropped func() int64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "classline_live_events_dropped_total", Help: "Live events not delivered to a browser that was too slow (its page then refreshes).",
	}, func() float64 { return float64(dropped()) }))
}
