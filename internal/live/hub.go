// Package live fans application events out to browsers. Events travel through
// PostgreSQL LISTEN/NOTIFY, so every instance on one database sees every event
// and a NOTIFY sent inside a transaction arrives only if it commits.
package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the NOTIFY channel all instances listen on.
const Channel = "classline_events"

// Event types.
const (
	MessageCreated      = "message.created"
	MessageStatus       = "message.status"
	ConversationUpdated = "conversation.updated"
	// PresenceChanged: someone opened, left or typed in a conversation.
	PresenceChanged = "presence.changed"
	// BroadcastProgress: a broadcast's counters or status changed.
	BroadcastProgress = "broadcast.progress"
)

// Event says what changed; subscribers load what they may see. Ids only: a
// NOTIFY payload is limited to 8000 bytes and must never carry message text.
type Event struct {
	// ID is unique per publish, so work done once per event (rendering) can
	// be shared by every subscriber.
	ID             string `json:"id"`
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id,omitempty"`
	MessageID      int64  `json:"message_id,omitempty"`
	DepartmentID   int64  `json:"department_id,omitempty"` // 0: no department (admins only)
	BroadcastID    int64  `json:"broadcast_id,omitempty"`
}

// Execer is a pool or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const notifySQL = `SELECT pg_notify($1, $2)`

// Publish queues e for every listener; inside a transaction it is sent at commit.
func Publish(ctx context.Context, q Execer, e Event) error {
	payload, err := encode(e)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, notifySQL, Channel, payload); err != nil {
		return fmt.Errorf("live: notify %s: %w", e.Type, err)
	}
	return nil
}

// QueuePublish is Publish queued on a batch that runs inside a transaction.
func QueuePublish(b *pgx.Batch, e Event) error {
	payload, err := encode(e)
	if err != nil {
		return err
	}
	b.Queue(notifySQL, Channel, payload)
	return nil
}

func encode(e Event) (string, error) {
	var id [12]byte
	_, _ = rand.Read(id[:])
	e.ID = hex.EncodeToString(id[:])
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("live: encode event: %w", err)
	}
	return string(b), nil
}

// Hub holds one LISTEN connection and the browsers subscribed on this instance.
type Hub struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	ready   chan struct{}
	once    sync.Once
	dropped atomic.Int64
}

// Subscription receives events until closed.
type Subscription struct {
	C    <-chan Event
	c    chan Event
	hub  *Hub
	lost atomic.Bool
}

// New makes a hub; call Run to start listening.
func New(pool *pgxpool.Pool, log *slog.Logger) *Hub {
	return &Hub{pool: pool, log: log, subs: map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the first LISTEN is in place.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Subscribe registers a subscriber with a small buffer.
func (h *Hub) Subscribe() *Subscription {
	c := make(chan Event, 64)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close unregisters the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// Lost reports (and clears) whether events were dropped because the reader
// was slow or the listener reconnected; the page should then refresh itself.
func (s *Subscription) Lost() bool { return s.lost.Swap(false) }

// Dropped counts events not delivered to a subscriber too slow to take them.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Subscribers counts current subscribers on this instance.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) broadcast(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- e:
		default:
			// Never block the listener on a slow browser.
			s.lost.Store(true)
			h.dropped.Add(1)
		}
	}
}

func (h *Hub) markAllLost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.lost.Store(true)
	}
}

// Run listens until ctx ends, reconnecting with backoff when the database goes away.
func (h *Hub) Run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("live: listener lost, reconnecting", "err", err, "in", backoff)
		h.markAllLost()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (h *Hub) listen(ctx context.Context) error {
	pooled, err := h.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// LISTEN state must not leak back into the pool, so the connection is ours.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h.once.Do(func() { close(h.ready) })
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		var e Event
		if err := json.Unmarshal([]byte(n.Payload), &e); err != nil {
			h.log.Warn("live: bad payload", "err", err)
			continue
		}
		h.broadcast(e)
	}
}
