package bench

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// storm posts signed status callbacks for the seeded target messages from a
// number of concurrent senders, as fast as the app answers or at a set rate.
// Callback j moves target j mod n to the next status of sent → delivered →
// read, so for the first 3n callbacks every one takes the full path (event
// kept, message updated, NOTIFY), like a real delivery wave.
type storm struct {
	hooks      webhooks
	accountSID string
	targets    int

	next       atomic.Int64
	ok, failed atomic.Int64
	lat        Recorder
}

var stormStatuses = [...]string{"sent", "delivered", "read"}

// stormCallback is the j-th callback of a storm over n targets: which
// target it is for and the status it reports.
func stormCallback(j, n int) (target int, status string) {
	return j % n, stormStatuses[(j/n)%len(stormStatuses)]
}

func newStorm(app *appProc, sim *simServer, targets, senders int) *storm {
	t := &http.Transport{MaxIdleConns: senders * 2, MaxIdleConnsPerHost: senders * 2, IdleConnTimeout: time.Minute}
	return &storm{
		hooks:      webhooks{client: &http.Client{Timeout: 30 * time.Second, Transport: t}, addr: app.URL, publicURL: app.URL, token: sim.Token},
		accountSID: sim.AccountSID,
		targets:    targets,
	}
}

// one posts the next callback and records its outcome.
func (s *storm) one(ctx context.Context) {
	i, status := stormCallback(int(s.next.Add(1)-1), s.targets)
	form := StatusCallbackForm(s.accountSID, targetSID(i), benchSMS, targetPhone(i%targetConversations), status)
	start := time.Now()
	code, err := s.hooks.post(ctx, "/webhooks/twilio/status", form)
	if ctx.Err() != nil {
		return // interrupted: neither counted nor timed
	}
	if err != nil || code != http.StatusOK {
		s.failed.Add(1)
		return
	}
	s.ok.Add(1)
	s.lat.Add(time.Since(start))
}

// run keeps senders posting until stop ends, then lets the requests in
// flight finish (cutting them off would leave callbacks the app may have
// stored but we never counted). rate > 0 paces the whole storm to that many
// callbacks per second (open loop: a slow answer does not slow the schedule
// down, as Twilio does not wait for us either).
func (s *storm) run(ctx, stop context.Context, senders int, rate float64) {
	var wg sync.WaitGroup
	var tokens chan struct{}
	if rate > 0 {
		tokens = make(chan struct{}, senders)
		go pace(stop, rate, tokens)
	}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stop.Err() == nil {
				if tokens != nil {
					select {
					case <-stop.Done():
						return
					case <-tokens:
					}
				}
				s.one(ctx)
			}
		}()
	}
	wg.Wait()
}

// pace puts a token in tokens every 1/rate seconds, on a fixed schedule.
func pace(ctx context.Context, rate float64, tokens chan<- struct{}) {
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case tokens <- struct{}{}:
		}
	}
}

// stormFor runs the storm for d and returns acknowledged callbacks per
// second, the latencies of that stretch alone, and the failures in it.
func (s *storm) stormFor(ctx context.Context, d time.Duration, senders int, rate float64) (float64, Latency, int64) {
	before, failedBefore := s.ok.Load(), s.failed.Load()
	s.lat.Reset()
	stop, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	s.run(ctx, stop, senders, rate)
	return float64(s.ok.Load()-before) / time.Since(start).Seconds(), s.lat.Summary(), s.failed.Load() - failedBefore
}
