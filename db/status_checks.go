package db

import (
	"context"
	"fmt"
	"time"
)

// UnsettledMessage is an outbound message whose status has not moved for a
// while short of a final one.
type UnsettledMessage struct {
	ID        int64
	TwilioSID string
	Status    string
}

// ClaimUnsettledMessages takes up to limit outbound messages, sent within
// the last maxAge, whose status has stood still short of a final one: for
// firstAfter on the first check, secondAfter on the second; none gets a
// third. Claiming counts the check, so two instances never ask twice.
func (d *DB) ClaimUnsettledMessages(ctx context.Context, firstAfter, secondAfter, maxAge time.Duration, limit int) ([]UnsettledMessage, error) {
	rows, err := d.Pool.Query(ctx, `
		UPDATE messages SET status_checks = status_checks + 1
		WHERE id IN (
			SELECT id FROM messages
			WHERE direction = 'outbound' AND twilio_sid IS NOT NULL
			  AND status IN ('accepted', 'scheduled', 'queued', 'sending', 'sent')
			  AND created_at > now() - $3::interval
			  AND ((status_checks = 0 AND status_updated_at < now() - $1::interval)
			    OR (status_checks = 1 AND status_updated_at < now() - $2::interval))
			ORDER BY status_updated_at LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING id, twilio_sid, status`, firstAfter, secondAfter, maxAge, limit)
	if err != nil {
		return nil, fmt.Errorf("db: claim unsettled messages: %w", err)
	}
	defer rows.Close()
	var out []UnsettledMessage
	for rows.Next() {
		var m UnsettledMessage
		if err := rows.Scan(&m.ID, &m.TwilioSID, &m.Status); err != nil {
			return nil, fmt.Errorf("db: claim unsettled messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: claim unsettled messages: %w", err)
	}
	return out, nil
}

// ReturnStatusCheck gives back a check that could not be made (Twilio
// unreachable), so the message is asked about again later.
func (d *DB) ReturnStatusCheck(ctx context.Context, id int64) error {
	if _, err := d.Pool.Exec(ctx, `UPDATE messages SET status_checks = greatest(status_checks - 1, 0) WHERE id = $1`, id); err != nil {
		return fmt.Errorf("db: return status check of message %d: %w", id, err)
	}
	return nil
}
