package broadcast

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// DefaultRate is Twilio's published per-sender guidance, in messages (SMS:
// segments) per second: WhatsApp senders start at 10 MPS for text and 1.5
// for media; a US/Canada long code sends 1 segment per second, a toll-free
// number 3, a short code 100. A Messaging Service spreads over its numbers;
// 10 is a cautious start. A sender's own rate_per_second overrides these.
func DefaultRate(s db.Sender, media bool) float64 {
	switch {
	case s.Channel == policy.ChannelWhatsApp && media:
		return 1.5
	case s.Channel == policy.ChannelWhatsApp:
		return 10
	case s.Address == "":
		return 10
	case len(strings.TrimPrefix(s.Address, "+")) <= 6:
		return 100
	case isTollFree(s.Address):
		return 3
	}
	return 1
}

func isTollFree(e164 string) bool {
	for _, p := range []string{"+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888"} {
		if strings.HasPrefix(e164, p) {
			return true
		}
	}
	return false
}

type cachedSender struct {
	sender  db.Sender
	rate    *float64
	fetched time.Time
}

// sender loads a sender and its rate, cached for a few seconds.
func (e *Engine) sender(ctx context.Context, id int64) (db.Sender, *float64, error) {
	e.mu.Lock()
	c, ok := e.senders[id]
	e.mu.Unlock()
	if ok && time.Since(c.fetched) < 5*time.Second {
		return c.sender, c.rate, nil
	}
	s, rate, err := e.DB.SenderForSend(ctx, id)
	if err != nil {
		return s, nil, err
	}
	e.mu.Lock()
	e.senders[id] = cachedSender{sender: s, rate: rate, fetched: time.Now()}
	e.mu.Unlock()
	return s, rate, nil
}

// bucket is this process's share of tokens taken from a sender's shared
// bucket in PostgreSQL: taken a tenth of a second's worth at a time, so the
// shared row is not updated once per message.
type bucket struct {
	mu     sync.Mutex
	tokens int
}

// take waits for cost tokens of the sender's rate.
func (e *Engine) take(ctx context.Context, senderID int64, rate float64, cost int) error {
	e.mu.Lock()
	b := e.buckets[senderID]
	if b == nil {
		b = &bucket{}
		e.buckets[senderID] = b
	}
	e.mu.Unlock()
	burst := max(rate, float64(cost), 1)
	want := max(cost, int(rate/10))
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.tokens < cost {
		got, wait, err := e.DB.TakeSendTokens(ctx, senderID, rate, burst, want-b.tokens)
		if err != nil {
			return err
		}
		b.tokens += got
		if b.tokens >= cost {
			break
		}
		t := time.NewTimer(min(wait, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	b.tokens -= cost
	return nil
}

// slot takes one of this process's concurrent-request slots: its share of
// the account-wide cap, recomputed as processes come and go.
func (e *Engine) slot(ctx context.Context) (func(), error) {
	for {
		if n := e.inflight.Add(1); n <= e.share.Load() {
			return func() {
				e.inflight.Add(-1)
				select {
				case e.freed <- struct{}{}:
				default:
				}
			}, nil
		}
		e.inflight.Add(-1)
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-e.freed:
			t.Stop()
		case <-t.C:
		}
	}
}

// heartbeat keeps this process in engine_instances and its share of the
// concurrency cap up to date.
func (e *Engine) heartbeat(ctx context.Context) {
	for {
		e.applySettings(ctx)
		if n, err := e.DB.HeartbeatInstance(ctx, e.instance, heartbeatAlive); err == nil {
			c := e.lim().concurrency
			e.share.Store(int64((c + n - 1) / n))
		} else if ctx.Err() == nil {
			e.Log.Warn("broadcast engine heartbeat", "err", err)
		}
		t := time.NewTimer(heartbeatEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// A process is alive while it wrote a heartbeat within heartbeatAlive.
const (
	heartbeatEvery = 3 * time.Second
	heartbeatAlive = 10 * time.Second
)
