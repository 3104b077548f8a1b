// Package metrics holds Classline's Prometheus collectors in one registry.
package metrics

import (
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
			Name: "classline_messages_sent_total", Help: "Message create calls to Twilio by channel and result (ok or the Twilio error code).",
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
