package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/policy"
)

// Status callbacks are group-committed: after a broadcast they arrive in
// storms (3-4 per message), and one transaction each spends its time on
// round trips and on commits, which PostgreSQL serialises (a commit that
// carries a NOTIFY takes a global lock). Callbacks that arrive while a
// commit is under way queue up and go together in the next transaction;
// each request is still answered only after the transaction holding its
// callback has committed, so nothing Twilio was told we stored is lost.
const (
	// statusCommitters is how many batches may be in flight at once: enough
	// that one batch fills while another waits for its commit, few enough
	// to leave the pool (20 connections) to pages and the engine.
	statusCommitters = 4
	// statusBatchMax bounds one transaction (and how long its locks are held).
	statusBatchMax = 128
	// statusBatchTimeout bounds one batch's transaction; a request that
	// gives up earlier (Twilio's 15 s) is answered with an error while its
	// callback may still commit, which is harmless: a redelivery is kept as
	// a duplicate and moves nothing.
	statusBatchTimeout = 10 * time.Second
)

// statusCallback is one parsed status callback.
type statusCallback struct {
	sid, status, errorMessage string
	code                      int
	payload                   map[string]string
}

type statusRequest struct {
	cb   statusCallback
	done chan statusOutcome // buffered: the committer never blocks on it
}

type statusOutcome struct {
	applied bool
	err     error
}

// statusCommitter queues callbacks and runs them in batches. Its zero value
// is ready; it holds no goroutine while idle (the request that finds a free
// slot runs the batch, and hands over to a new goroutine if more wait).
type statusCommitter struct {
	mu      sync.Mutex
	queue   []*statusRequest
	running int
}

func parseStatusCallback(p map[string]string) (statusCallback, error) {
	cb := statusCallback{sid: p["MessageSid"], status: p["MessageStatus"], errorMessage: p["ErrorMessage"], payload: p}
	if cb.sid == "" {
		cb.sid = p["SmsSid"]
	}
	if cb.status == "" {
		cb.status = p["SmsStatus"]
	}
	if cb.sid == "" || cb.status == "" {
		return cb, errors.New("status callback without MessageSid or MessageStatus")
	}
	cb.code, _ = strconv.Atoi(p["ErrorCode"])
	return cb, nil
}

// ApplyStatus keeps a status callback as an event and moves the message
// forward when the new status is later in the order. Duplicates, late
// arrivals and callbacks for SIDs not yet known are kept but change nothing.
// It returns once the callback is committed.
func (s *Service) ApplyStatus(ctx context.Context, p map[string]string) (applied bool, err error) {
	cb, err := parseStatusCallback(p)
	if err != nil {
		return false, err
	}
	r := &statusRequest{cb: cb, done: make(chan statusOutcome, 1)}
	c := &s.statuses
	c.mu.Lock()
	c.queue = append(c.queue, r)
	lead := c.running < statusCommitters
	if lead {
		c.running++
	}
	c.mu.Unlock()
	if lead {
		s.commitStatuses(context.WithoutCancel(ctx))
	}
	select {
	case o := <-r.done:
		return o.applied, o.err
	case <-ctx.Done():
		return false, fmt.Errorf("apply status %s %s: %w", cb.sid, cb.status, ctx.Err())
	}
}

// commitStatuses runs one batch of what is queued, then, if more is
// queued, keeps the slot and goes on in a new goroutine so that the
// request that led is answered now.
func (s *Service) commitStatuses(ctx context.Context) {
	c := &s.statuses
	c.mu.Lock()
	n := min(len(c.queue), statusBatchMax)
	batch := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n)
	c.mu.Unlock()

	if len(batch) > 0 {
		s.runStatusBatch(ctx, batch)
	}

	c.mu.Lock()
	more := len(c.queue) > 0
	if !more {
		c.running--
	}
	c.mu.Unlock()
	if more {
		go s.commitStatuses(ctx)
	}
}

// runStatusBatch commits a batch in one transaction; if that fails (a bad
// payload, a deadlock with some other writer), each callback is retried in
// its own transaction so that one cannot fail the others.
func (s *Service) runStatusBatch(ctx context.Context, batch []*statusRequest) {
	ctx, cancel := context.WithTimeout(ctx, statusBatchTimeout)
	defer cancel()
	applied, err := s.applyStatusBatch(ctx, batch)
	if err == nil {
		s.committedBatch(len(batch))
		for i, r := range batch {
			r.done <- statusOutcome{applied: applied[i]}
		}
		return
	}
	if len(batch) > 1 && s.Log != nil {
		s.Log.Warn("status batch failed; applying its callbacks one by one", "callbacks", len(batch), "err", err)
	}
	for _, r := range batch {
		if len(batch) > 1 {
			a, err1 := s.applyStatusBatch(ctx, []*statusRequest{r})
			if err1 == nil {
				s.committedBatch(1)
				r.done <- statusOutcome{applied: a[0]}
				continue
			}
			err = err1
		}
		r.done <- statusOutcome{err: fmt.Errorf("apply status %s %s: %w", r.cb.sid, r.cb.status, err)}
	}
}

func (s *Service) committedBatch(n int) {
	if s.OnStatusBatch != nil {
		s.OnStatusBatch(n)
	}
}

// applyStatusBatch is four round trips whatever the batch's size: begin;
// the SIDs' advisory locks and their messages' row locks, in SID order;
// every event, status change and NOTIFY; commit. It returns, for each
// callback, whether it moved its message.
func (s *Service) applyStatusBatch(ctx context.Context, batch []*statusRequest) ([]bool, error) {
	// Callbacks for one SID are judged in the order they arrived, as they
	// would have been one transaction after another.
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(batch[a].cb.sid, batch[b].cb.sid) })
	sids := make([]string, 0, len(batch))
	for _, i := range order {
		if sid := batch[i].cb.sid; len(sids) == 0 || sids[len(sids)-1] != sid {
			sids = append(sids, sid)
		}
	}
	applied := make([]bool, len(batch))
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		msgs, err := db.LockMessagesBySIDTx(ctx, tx, sids)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, i := range order {
			cb := batch[i].cb
			m, known := msgs[cb.sid]
			e := db.StatusEvent{SID: cb.sid, Status: cb.status, ErrorCode: cb.code, Payload: cb.payload, Pending: !known}
			if known {
				e.Applied = policy.ShouldApplyStatus(m.Status, cb.status)
			}
			if err := db.QueueInsertStatusEvent(b, e); err != nil {
				return err
			}
			if !e.Applied {
				continue
			}
			applied[i] = true
			m.Status = cb.status
			msgs[cb.sid] = m
			db.QueueUpdateMessageStatus(b, m.ID, cb.status, cb.code, cb.errorMessage)
			if err := live.QueuePublish(b, live.Event{Type: live.MessageStatus, ConversationID: m.ConversationID, MessageID: m.ID, DepartmentID: m.DepartmentID}); err != nil {
				return err
			}
		}
		return db.SendQueuedTx(ctx, tx, b)
	})
	if err != nil {
		return nil, fmt.Errorf("apply %d status callbacks: %w", len(batch), err)
	}
	return applied, nil
}
