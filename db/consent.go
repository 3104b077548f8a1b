package db

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/internal/policy"
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

// ConsentState is the newest ledger entry of a number for one purpose; the
// policy's type, so states read here go straight to policy.ConsentAllows.
type ConsentState = policy.ConsentState

// ConsentStateOf returns the newest ledger entry per purpose for phone, for
// policy.ConsentAllows. A purpose with no entry is absent from the map.
func (d *DB) ConsentStateOf(ctx context.Context, phone string) (map[string]ConsentState, error) {
	all, err := d.ConsentStates(ctx, []string{phone})
	if err != nil {
		return nil, err
	}
	return all[phone], nil
}

// ConsentStates is ConsentStateOf for many numbers in one query (a broadcast
// checks thousands at once): phone → purpose → newest entry. Numbers with
// no entry at all are absent.
//
// One index probe per number and purpose (consent_events_phone_idx, LIMIT
// 1 under a lateral join), so the cost follows the number of phones, not
// how long each number's history is.
func (d *DB) ConsentStates(ctx context.Context, phones []string) (map[string]map[string]ConsentState, error) {
	out := make(map[string]map[string]ConsentState, len(phones))
	if len(phones) == 0 {
		return out, nil
	}
	uniq := slices.Clone(phones)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	rows, err := d.Pool.Query(ctx, `SELECT p.phone, pur.purpose, e.opted_in, e.method, e.created_at
		FROM unnest($1::text[]) AS p(phone)
		CROSS JOIN (VALUES ('transactional'), ('marketing')) AS pur(purpose)
		CROSS JOIN LATERAL (
			SELECT ce.opted_in, ce.method, ce.created_at FROM consent_events ce
			WHERE ce.phone = p.phone AND ce.purpose = pur.purpose
			ORDER BY ce.created_at DESC, ce.id DESC LIMIT 1) e`, uniq)
	if err != nil {
		return nil, fmt.Errorf("db: consent states of %d numbers: %w", len(uniq), err)
	}
	var phone, purpose string
	var st ConsentState
	_, err = pgx.ForEachRow(rows, []any{&phone, &purpose, &st.OptedIn, &st.Method, &st.At}, func() error {
		if out[phone] == nil {
			out[phone] = map[string]ConsentState{}
		}
		out[phone][purpose] = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: consent states of %d numbers: %w", len(uniq), err)
	}
	return out, nil
}
