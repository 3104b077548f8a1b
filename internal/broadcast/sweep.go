package broadcast

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// SweepArgs is the periodic check of running broadcasts: urgent fallbacks,
// completion, and sends left in flight by a dead process.
type SweepArgs struct{}

// Kind names the job in River.
func (SweepArgs) Kind() string { return "broadcast_sweep" }

// InsertOpts puts the job on the control queue.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueControl, MaxAttempts: 1}
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	e *Engine
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	return w.e.Sweep(ctx)
}

// Sweep runs one round of the periodic checks.
func (e *Engine) Sweep(ctx context.Context) error {
	ids, err := e.DB.BroadcastIDsWithStatus(ctx, "running")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := e.sweepBroadcast(ctx, id); err != nil {
			e.Log.Warn("broadcast sweep", "broadcast_id", id, "err", err)
		}
	}
	stale, err := e.DB.StaleSendingIDs(ctx, 2*e.cfg.SendLease)
	if err != nil {
		return err
	}
	// Jobs a dead process was working stay "running" in River until its
	// rescuer's next round (up to RescueAfter + 30 s); their recipients get
	// a fresh job as soon as the process misses its heartbeats.
	orphans, err := e.DB.OrphanedSendJobs(ctx, heartbeatAlive)
	if err != nil {
		return err
	}
	stale = append(stale, orphans...)
	if len(stale) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(stale))
	for i, id := range stale {
		params[i] = river.InsertManyParams{Args: SendArgs{RecipientID: id}}
	}
	_, err = e.river.InsertManyFast(ctx, params)
	return err
}

func (e *Engine) sweepBroadcast(ctx context.Context, id int64) error {
	b, err := e.DB.BroadcastByID(ctx, id)
	if err != nil || b.Status != "running" {
		return err
	}
	spec, err := DecodeSpec(b.Audience, b.Content, b.Sender)
	if err != nil {
		return err
	}
	fb := b.Urgent && spec.Content.FallbackMinutes > 0 && spec.Content.SMSBody != ""
	wait := time.Duration(spec.Content.FallbackMinutes) * time.Minute
	if fb {
		if err := e.fallbacks(ctx, b, spec, wait); err != nil {
			return err
		}
	}
	done := false
	err = e.DB.InTx(ctx, func(tx pgx.Tx) error {
		locked, err := db.LockBroadcastTx(ctx, tx, id)
		if err != nil || locked.Status != "running" {
			return err
		}
		n, err := db.UnfinishedRecipientsTx(ctx, tx, id)
		if err != nil || n > 0 {
			return err
		}
		if fb {
			if n, err = db.AwaitingFallbackTx(ctx, tx, id, wait, spec.Content.FallbackUnlessRead); err != nil || n > 0 {
				return err
			}
			// One may have crossed the wait since fallbacks ran: not done
			// until the next round gives it its SMS.
			cands, err := db.FallbackCandidatesTx(ctx, tx, id, wait, spec.Content.FallbackUnlessRead)
			if err != nil || len(cands) > 0 {
				return err
			}
		}
		done, err = db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"running"}, To: "completed", Finished: true, ClearHeld: true})
		return err
	})
	if err != nil {
		return err
	}
	if done {
		e.publish(ctx, id)
	}
	return nil
}

// fallbacks adds an SMS recipient for each WhatsApp one that failed or was
// not delivered in time, and enqueues it.
func (e *Engine) fallbacks(ctx context.Context, b db.Broadcast, spec Spec, wait time.Duration) error {
	var cands []db.Recipient
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		cands, err = db.FallbackCandidatesTx(ctx, tx, b.ID, wait, spec.Content.FallbackUnlessRead)
		return err
	})
	if err != nil || len(cands) == 0 {
		return err
	}
	senders, err := e.resolveSenders(ctx, b, spec.Sender)
	if err != nil {
		return err
	}
	pool := senders[policy.ChannelSMS]
	if len(pool) == 0 {
		return fmt.Errorf("broadcast %d: no SMS sender for fallbacks", b.ID)
	}
	school := ""
	if e.SchoolName != nil {
		if school, err = e.SchoolName(ctx); err != nil {
			return err
		}
	}
	return e.DB.InTx(ctx, func(tx pgx.Tx) error {
		var params []river.InsertManyParams
		for i, c := range cands {
			values := map[string]string{"school_name": school}
			if c.ContactID != nil {
				if ct, err := db.ContactByIDTx(ctx, tx, *c.ContactID); err == nil {
					values = templates.ContactValues(ct.Name, ct.ProfileName, ct.CustomFields, school)
				}
			}
			body := RenderMerge(spec.Content.SMSBody, values)
			s := pool[i%len(pool)]
			nid, ok, err := db.InsertFallbackRecipientTx(ctx, tx, b.ID, c.ID, db.NewRecipient{ContactID: c.ContactID, Phone: c.Phone,
				Channel: policy.ChannelSMS, SenderID: &s.ID, Body: body, Segments: policy.CountSegments(body).Count})
			if err != nil {
				return err
			}
			if ok {
				params = append(params, river.InsertManyParams{Args: SendArgs{RecipientID: nid}})
			}
		}
		if len(params) == 0 {
			return nil
		}
		_, err := e.river.InsertManyFastTx(ctx, tx, params)
		return err
	})
}

// maybeAutoPause pauses a broadcast whose recent sends fail too often, with
// the reason in words, so a wrong template or a blocked sender does not burn
// through the whole list.
func (e *Engine) maybeAutoPause(ctx context.Context, broadcastID int64) error {
	l := e.lim()
	window := l.pauseWindow
	paused := false
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		failed, total, err := db.RecentSendFailuresTx(ctx, tx, broadcastID, window)
		if err != nil {
			return err
		}
		threshold := int(math.Ceil(l.pauseRatio * float64(window)))
		if total < min(window, 10) || failed < threshold && float64(failed) < l.pauseRatio*float64(total) || failed < min(threshold, 10) {
			return nil
		}
		code, msg, err := db.TopRecentErrorTx(ctx, tx, broadcastID, window)
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("Paused by itself: %d of the last %d sends failed.", failed, total)
		if code != 0 {
			reason += fmt.Sprintf(" Most common: error %d (%s).", code, msg)
		}
		reason += " Check the sender and the content, then resume."
		paused, err = db.SetBroadcastStatusTx(ctx, tx, broadcastID, db.BroadcastStatusChange{From: []string{"running"}, To: "paused", PausedReason: &reason})
		if err != nil || !paused {
			return err
		}
		return db.AuditTx(ctx, tx, nil, "broadcast.auto_paused", fmt.Sprintf("broadcast:%d", broadcastID), nil,
			map[string]any{"failed": failed, "of": total, "top_error": code}, "")
	})
	if err != nil {
		return err
	}
	if paused {
		e.markDirty(broadcastID)
	}
	return nil
}
