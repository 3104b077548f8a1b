package db

import (
	"errors"

	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"time"
)

// TakeSendTokens takes up to want tokens from a sender's token bucket, shared
// by every Classline process: the bucket refills at rate per second up to
// burst. It returns how many were granted and, when none, how long until
// one will be there.
func (d *DB) TakeSendTokens(ctx context.Context, senderID int64, rate, burst float64, want int) (int, time.Duration, error) {
	var granted int
	var left float64
	var seeded bool
	err := d.Pool.QueryRow(ctx, `WITH seed AS (
			INSERT INTO send_rate_buckets (sender_id, tokens) VALUES ($1, $3) ON CONFLICT (sender_id) DO NOTHING
		), cur AS (
			SELECT sender_id, least($3::float8, tokens + extract(epoch FROM clock_timestamp() - refilled_at) * $2::float8) AS avail
			FROM send_rate_buckets WHERE sender_id = $1 FOR UPDATE
		), upd AS (
			UPDATE send_rate_buckets b SET tokens = cur.avail - least(floor(cur.avail), $4::float8), refilled_at = clock_timestamp()
			FROM cur WHERE b.sender_id = cur.sender_id
			RETURNING least(floor(cur.avail), $4::float8)::int AS granted, b.tokens AS left_over
		)
		SELECT coalesce((SELECT granted FROM upd), 0), coalesce((SELECT left_over FROM upd), 0), NOT EXISTS (SELECT 1 FROM upd)`,
		senderID, rate, burst, want).Scan(&granted, &left, &seeded)
	if err != nil {
		return 0, 0, fmt.Errorf("db: take send tokens of sender %d: %w", senderID, err)
	}
	if granted > 0 {
		return granted, 0, nil
	}
	if seeded { // a bucket seeded by this very statement is not visible to it yet
		return 0, time.Millisecond, nil
	}
	wait := time.Duration((1 - left) / rate * float64(time.Second))
	return 0, max(wait, time.Millisecond), nil
}

// SenderForSend loads a sender with its own rate limit (nil: the default).
func (d *DB) SenderForSend(ctx context.Context, id int64) (Sender, *float64, error) {
	var rate *float64
	s, err := scanSenderWith(d.Pool.QueryRow(ctx, `SELECT `+senderColumns+`, s.rate_per_second::float8
		FROM senders s LEFT JOIN departments d ON d.id = s.department_id WHERE s.id = $1`, id), &rate)
	if err != nil {
		return s, nil, fmt.Errorf("db: sender %d: %w", id, err)
	}
	return s, rate, nil
}

func scanSenderWith(row pgx.Row, extra ...any) (Sender, error) {
	var s Sender
	dst := append([]any{&s.ID, &s.Channel, &s.Address, &s.MessagingServiceSID, &s.DisplayName, &s.DepartmentID, &s.DepartmentName, &s.Status}, extra...)
	err := row.Scan(dst...)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// SetSenderRateTx sets a sender's own rate (nil: the default) and returns the old one.
func SetSenderRateTx(ctx context.Context, q Querier, id int64, rate *float64) (*float64, error) {
	var before *float64
	err := q.QueryRow(ctx, `WITH old AS (SELECT rate_per_second::float8 AS r FROM senders WHERE id = $1 AND archived_at IS NULL FOR UPDATE)
		UPDATE senders SET rate_per_second = $2 FROM old WHERE senders.id = $1 RETURNING old.r`, id, rate).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: set rate of sender %d: %w", id, err)
	}
	return before, nil
}
