package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
)

// snoozeLoop reopens snoozed conversations when their time comes and forgets
// stale presence. Every instance may run it: the update is idempotent and a
// conversation is woken (and announced) by one of them.
func snoozeLoop(ctx context.Context, d *db.DB, svc *messaging.Service, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := svc.WakeSnoozed(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("wake snoozed conversations", "err", err)
		} else if n > 0 {
			log.Info("snoozed conversations reopened", "count", n)
		}
		if err := d.PrunePresence(ctx, time.Now().Add(-10*time.Minute)); err != nil && ctx.Err() == nil {
			log.Warn("prune presence", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
