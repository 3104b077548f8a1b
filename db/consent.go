package db

import (
	"context"
	"fmt"
)

// ConsentEvent is one line of the consent ledger.
type ConsentEvent struct {
	Phone, Channel, Purpose, Method, Source string
	OptedIn                                 bool
	RecordedBy                              *int64
}

// InsertConsentTx appends to the ledger; history is never overwritten.
func InsertConsentTx(ctx context.Context, q Querier, e ConsentEvent) error {
	var channel *string
	if e.Channel != "" {
		channel = &e.Channel
	}
	_, err := q.Exec(ctx, `INSERT INTO consent_events (phone, channel, purpose, opted_in, method, source, recorded_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.Phone, channel, e.Purpose, e.OptedIn, e.Method, e.Source, e.RecordedBy)
	if err != nil {
		return fmt.Errorf("db: insert consent: %w", err)
	}
	return nil
}

// OptedOut reports whether the newest ledger entry for phone and purpose is an
// opt-out. No entry means no objection recorded.
func (d *DB) OptedOut(ctx context.Context, phone, purpose string) (bool, error) {
	var out bool
	err := d.Pool.QueryRow(ctx, `SELECT coalesce((SELECT NOT opted_in FROM consent_events WHERE phone = $1 AND purpose = $2
		ORDER BY created_at DESC, id DESC LIMIT 1), false)`, phone, purpose).Scan(&out)
	if err != nil {
		return false, fmt.Errorf("db: consent lookup: %w", err)
	}
	return out, nil
}
