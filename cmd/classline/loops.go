package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/contactimport"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/senderadmin"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/internal/twilio"
)

// snoozeLoop reopens snoozed conversations when their time comes and forgets
// stale presence. Every instance may run it: the update is idempotent and a
// conversation is woken (and announced) by one of them.
func snoozeLoop(ctx context.Context, d *db.DB, svc *messaging.Service, log *slog.Logger, period time.Duration) {
	every(ctx, period, func() {
		if n, err := svc.WakeSnoozed(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("wake snoozed conversations", "err", err)
		} else if n > 0 {
			log.Info("snoozed conversations reopened", "count", n)
		}
		if err := d.PrunePresence(ctx, time.Now().Add(-10*time.Minute)); err != nil && ctx.Err() == nil {
			log.Warn("prune presence", "err", err)
		}
	})
}

// senderSyncLoop checks every WhatsApp sender's health with Twilio every
// 10 minutes, so an offline number stops being picked without anyone looking.
func senderSyncLoop(ctx context.Context, gw *twilio.Gateway, d *db.DB, log *slog.Logger) {
	every(ctx, 10*time.Minute, func() {
		if _, err := senderadmin.Sync(ctx, gw, d); err != nil && ctx.Err() == nil {
			log.Warn("sender sync", "err", err)
		}
	})
}

// templateSyncLoop reads every template's WhatsApp approval from Twilio
// every 5 minutes, so an approval (or a pause by WhatsApp) shows, and stops
// sends, without an admin opening the page.
func templateSyncLoop(ctx context.Context, svc *templates.Service, log *slog.Logger) {
	every(ctx, 5*time.Minute, func() {
		if _, err := svc.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("template sync", "err", err)
		}
	})
}

// importResumeLoop takes over contact imports left "running" by a process
// that stopped mid-import: at start-up, then every period, since an import
// is stale only contactimport.StaleAfter after its last batch (a quick
// restart finds it still fresh) and another instance may stop while this
// one runs. Each import is claimed through its heartbeat before it runs, so
// however many instances sweep at once, exactly one resumes it; run starts
// the claimed one in the background.
func importResumeLoop(ctx context.Context, svc *contactimport.Service, run func(id int64), log *slog.Logger, period time.Duration) {
	every(ctx, period, func() {
		ids, err := svc.ClaimStaleImports(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("resume contact imports", "err", err)
		}
		for _, id := range ids {
			log.Info("resuming contact import left by a stopped worker", "import_id", id)
			run(id)
		}
	})
}

// unsentLoop settles sends whose create call got no clear answer (or
// whose process died mid-send): Twilio is asked whether it holds each one
// (messaging.ReconcileUnsent).
func unsentLoop(ctx context.Context, svc *messaging.Service, log *slog.Logger, period time.Duration) {
	every(ctx, period, func() {
		found, missing, err := svc.ReconcileUnsent(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("unsent messages: some could not be checked at Twilio; next try in a moment", "err", err)
		}
		if found+missing > 0 {
			log.Info("unsent messages settled", "found_at_twilio", found, "not_at_twilio", missing)
		}
	})
}

// statusCheckLoop asks Twilio, every minute, about messages whose status
// stood still (a status callback lost while the app was down):
// messaging.CheckStaleStatuses.
func statusCheckLoop(ctx context.Context, svc *messaging.Service, log *slog.Logger) {
	every(ctx, time.Minute, func() {
		moved, err := svc.CheckStaleStatuses(ctx, 200)
		if err != nil && ctx.Err() == nil {
			log.Warn("status check: some messages could not be asked about at Twilio; they are asked again later", "err", err)
		}
		if moved > 0 {
			log.Info("statuses caught up from Twilio (their callbacks were lost)", "count", moved)
		}
	})
}

// every runs f at once, then every period, until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
