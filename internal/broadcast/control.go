package broadcast

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/classline/classline/db"
)

// ErrWrongState means the broadcast is not in a state that allows the action.
var ErrWrongState = errors.New("the broadcast cannot do that in its current state")

func subject(id int64) string { return fmt.Sprintf("broadcast:%d", id) }

// Actor is who asks for a change, for the audit log.
type Actor struct {
	UserID *int64
	IP     string
}

// LaunchTx starts a broadcast now (at nil or a past time) or schedules it.
// The audience is read when it starts, so a scheduled broadcast reaches the
// group as it is then.
func (e *Engine) LaunchTx(ctx context.Context, tx pgx.Tx, id int64, at *time.Time, who Actor) error {
	to, opts := "preparing", &river.InsertOpts{}
	if at != nil && at.After(e.now()) {
		to, opts.ScheduledAt = "scheduled", *at
	}
	ok, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"draft", "scheduled"}, To: to})
	if err != nil {
		return err
	}
	if !ok {
		return ErrWrongState
	}
	if _, err := e.river.InsertTx(ctx, tx, PrepareArgs{BroadcastID: id}, opts); err != nil {
		return fmt.Errorf("enqueue broadcast %d: %w", id, err)
	}
	after := map[string]any{"status": to}
	if at != nil {
		after["scheduled_at"] = at
	}
	return db.AuditTx(ctx, tx, who.UserID, "broadcast.launched", subject(id), nil, after, who.IP)
}

// Launch is LaunchTx in its own transaction.
func (e *Engine) Launch(ctx context.Context, id int64, at *time.Time, who Actor) error {
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error { return e.LaunchTx(ctx, tx, id, at, who) })
	if err == nil {
		e.markDirty(id)
	}
	return err
}

// Pause stops sending; what is in flight finishes.
func (e *Engine) Pause(ctx context.Context, id int64, who Actor) error {
	reason := "Paused by staff."
	return e.change(ctx, id, who, "broadcast.paused", db.BroadcastStatusChange{From: []string{"running"}, To: "paused", PausedReason: &reason}, false)
}

// Resume sends to the recipients still pending.
func (e *Engine) Resume(ctx context.Context, id int64, who Actor) error {
	empty := ""
	return e.change(ctx, id, who, "broadcast.resumed", db.BroadcastStatusChange{From: []string{"paused"}, To: "running", PausedReason: &empty}, true)
}

// Cancel stops a broadcast for good: recipients not yet sent are canceled.
func (e *Engine) Cancel(ctx context.Context, id int64, who Actor) error {
	var by int64
	if who.UserID != nil {
		by = *who.UserID
	}
	return e.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{
			From: []string{"draft", "pending_approval", "scheduled", "preparing", "running", "paused"}, To: "canceled",
			Finished: true, CanceledBy: by, ClearHeld: true})
		if err != nil {
			return err
		}
		if !ok {
			return ErrWrongState
		}
		n, err := db.CancelPendingTx(ctx, tx, id)
		if err != nil {
			return err
		}
		e.markDirty(id)
		return db.AuditTx(ctx, tx, who.UserID, "broadcast.canceled", subject(id), nil, map[string]any{"recipients_canceled": n}, who.IP)
	})
}

func (e *Engine) change(ctx context.Context, id int64, who Actor, action string, c db.BroadcastStatusChange, enqueue bool) error {
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.SetBroadcastStatusTx(ctx, tx, id, c)
		if err != nil {
			return err
		}
		if !ok {
			return ErrWrongState
		}
		if enqueue {
			if err := e.enqueuePendingTx(ctx, tx, id); err != nil {
				return err
			}
		}
		return db.AuditTx(ctx, tx, who.UserID, action, subject(id), nil, map[string]any{"status": c.To}, who.IP)
	})
	if err == nil {
		e.markDirty(id)
	}
	return err
}

// RetryTransient sends again to the recipients whose message failed for a
// reason that may have passed (TransientCode); their first message stays in
// the history. The broadcast runs again until they are done.
func (e *Engine) RetryTransient(ctx context.Context, id int64, who Actor) (int, error) {
	var n int
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		b, err := db.LockBroadcastTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if b.Status != "completed" && b.Status != "paused" && b.Status != "running" {
			return ErrWrongState
		}
		cands, err := db.FailedRecipientsTx(ctx, tx, id)
		if err != nil {
			return err
		}
		var retry []int64
		for _, c := range cands {
			if TransientCode(c.Code) {
				retry = append(retry, c.ID)
			}
		}
		if len(retry) == 0 {
			return nil
		}
		if retry, err = db.ResetRecipientsTx(ctx, tx, retry, fromStates(EventOperatorRetry)); err != nil {
			return err
		}
		if len(retry) == 0 {
			return nil
		}
		if b.Status == "completed" {
			if _, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"completed"}, To: "running"}); err != nil {
				return err
			}
		}
		if b.Status != "paused" {
			if err := e.enqueuePendingTx(ctx, tx, id); err != nil {
				return err
			}
		}
		n = len(retry)
		return db.AuditTx(ctx, tx, who.UserID, "broadcast.retried", subject(id), nil, map[string]any{"recipients": n}, who.IP)
	})
	if err == nil && n > 0 {
		e.markDirty(id)
	}
	return n, err
}
