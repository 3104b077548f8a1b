package bench

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classline/classline/internal/twiliosim"
)

// simServer is the Twilio simulator, in the load generator's process so the
// benchmark can configure it (latency, concurrency cap, callback pace) and
// read what it was sent without a REST round trip.
type simServer struct {
	*twiliosim.Sim
	URL        string
	AccountSID string
	Token      string
	Callbacks  *callbackMeter
	srv        *http.Server
}

func startSim(cfg twiliosim.Config) (*simServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	s := &simServer{
		URL:        "http://" + ln.Addr().String(),
		AccountSID: "AC" + strings.Repeat("0", 32),
		Token:      "bench" + hex.EncodeToString(tok), // twilio-go wants it alphanumeric
		Callbacks:  &callbackMeter{},
	}
	cfg.AccountSID, cfg.AuthToken = s.AccountSID, s.Token
	if cfg.Seed == 0 {
		cfg.Seed = 11
	}
	// The simulator's default client keeps 2 idle connections per host, so a
	// storm of callbacks would open (and leave in TIME_WAIT) a connection
	// for almost every one. Twilio reuses connections; so do we here.
	s.Callbacks.next = &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
	cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second, Transport: s.Callbacks}
	s.Sim = twiliosim.New(cfg)
	s.srv = &http.Server{Handler: s.Sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *simServer) Close() {
	s.Sim.Close()
	_ = s.srv.Close()
}

// callbackMeter counts the simulator's webhook posts (status callbacks and
// inbound messages) by outcome and times them.
type callbackMeter struct {
	next        http.RoundTripper
	ok, refused atomic.Int64 // 2xx; any other status
	failed      atomic.Int64 // no answer
	Latency     Recorder
	mu          sync.Mutex
	first, last time.Time
}

func (m *callbackMeter) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := m.next.RoundTrip(r)
	now := time.Now()
	switch {
	case err != nil:
		m.failed.Add(1)
		return resp, err
	case resp.StatusCode < 300:
		m.ok.Add(1)
	default:
		m.refused.Add(1)
	}
	m.Latency.Add(now.Sub(start))
	m.mu.Lock()
	if m.first.IsZero() {
		m.first = start
	}
	m.last = now
	m.mu.Unlock()
	return resp, nil
}

// span is the time from the first callback sent to the last one answered.
func (m *callbackMeter) span() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last.Sub(m.first)
}
