package broadcast

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// QuietFromSettings reads the school's quiet hours (a setting, in the
// school's zone) for Engine.QuietUntil.
func QuietFromSettings(d *db.DB, loc *time.Location) func(ctx context.Context, now time.Time) (time.Time, error) {
	return func(ctx context.Context, now time.Time) (time.Time, error) {
		q, err := d.QuietHours(ctx)
		if err != nil {
			// A broken setting keeps the default: nights stay quiet.
			return q.NextAllowed(now, loc), fmt.Errorf("quiet hours: %w", err)
		}
		return q.NextAllowed(now, loc), nil
	}
}

// auditQuietBypass records, once per broadcast, that an urgent broadcast
// went out during quiet hours.
func (e *Engine) auditQuietBypass(ctx context.Context, b db.Broadcast, until time.Time) error {
	if _, done := e.bypassed.Load(b.ID); done {
		return nil
	}
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		// Many workers notice at once: one writes the line.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "quiet:"+subject(b.ID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (user_id, action, subject, after)
			SELECT $1, 'broadcast.quiet_hours_bypassed', $2, jsonb_build_object('urgent', true, 'quiet_until', $3::timestamptz)
			WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'broadcast.quiet_hours_bypassed' AND subject = $2)`,
			b.ApprovedBy, subject(b.ID), until)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit quiet hours bypass of broadcast %d: %w", b.ID, err)
	}
	e.bypassed.Store(b.ID, true)
	return nil
}
