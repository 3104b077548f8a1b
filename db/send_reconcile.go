package db

import (
	"context"
	"fmt"
	"time"
)

// UnsentMessage is an outbound message of the inbox (not a broadcast's)
// that has no Twilio SID yet: its create call is under way, got no clear
// answer, or its process died before recording the answer.
type UnsentMessage struct {
	ID, ConversationID, DepartmentID int64 // 0 when none
	Channel, From, To, Body          string
	CreatedAt                        time.Time
}

// MarkSendUnconfirmed records that a message's create call got no clear
// answer, so the message may or may not exist at Twilio.
func (d *DB) MarkSendUnconfirmed(ctx context.Context, id int64, text string) error {
	_, err := d.Pool.Exec(ctx, `UPDATE messages SET send_unconfirmed_at = now(), error_message = $2, status_updated_at = now()
		WHERE id = $1 AND twilio_sid IS NULL AND status = 'queued'`, id, text)
	if err != nil {
		return fmt.Errorf("db: mark send %d unconfirmed: %w", id, err)
	}
	return nil
}

// UnsentMessages lists, oldest first, the inbox's outbound messages without
// a SID that are ready to be checked at Twilio: marked unconfirmed more than
// grace ago, or created more than orphanAfter ago (their process died
// before it could record anything).
func (d *DB) UnsentMessages(ctx context.Context, grace, orphanAfter time.Duration, limit int) ([]UnsentMessage, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT m.id, coalesce(m.conversation_id, 0), coalesce(c.department_id, 0), m.channel, m.from_address, m.to_address, m.body, m.created_at
		FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
		WHERE m.twilio_sid IS NULL AND m.status = 'queued' AND m.direction = 'outbound'
		  AND m.broadcast_id IS NULL AND NOT m.is_note
		  AND (m.send_unconfirmed_at < now() - $1::interval OR m.created_at < now() - $2::interval)
		ORDER BY m.created_at, m.id LIMIT $3`, grace, orphanAfter, limit)
	if err != nil {
		return nil, fmt.Errorf("db: unsent messages: %w", err)
	}
	defer rows.Close()
	var out []UnsentMessage
	for rows.Next() {
		var m UnsentMessage
		if err := rows.Scan(&m.ID, &m.ConversationID, &m.DepartmentID, &m.Channel, &m.From, &m.To, &m.Body, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("db: unsent messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: unsent messages: %w", err)
	}
	return out, nil
}

// SIDKnown reports whether a message with this Twilio SID is stored.
func (d *DB) SIDKnown(ctx context.Context, sid string) (bool, error) {
	var known bool
	if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE twilio_sid = $1)`, sid).Scan(&known); err != nil {
		return false, fmt.Errorf("db: sid %s known: %w", sid, err)
	}
	return known, nil
}

// SettleUnsentFoundTx records the SID Twilio holds for an unsent message.
// It reports false when the message was settled meanwhile (by its own
// call's late answer, or another instance).
func SettleUnsentFoundTx(ctx context.Context, q Querier, id int64, sid string, segments int) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE messages SET twilio_sid = $2, segments = CASE WHEN $3 > 0 THEN $3 ELSE segments END,
			send_unconfirmed_at = NULL, error_message = '', status_updated_at = now()
		WHERE id = $1 AND twilio_sid IS NULL AND status = 'queued'`, id, sid, segments)
	if err != nil {
		return false, fmt.Errorf("db: settle unsent %d as %s: %w", id, sid, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SettleUnsentMissing fails an unsent message Twilio has no trace of:
// nothing was sent. It reports false when the message was settled meanwhile.
func (d *DB) SettleUnsentMissing(ctx context.Context, id int64, text string) (bool, error) {
	tag, err := d.Pool.Exec(ctx, `UPDATE messages SET status = 'failed', error_code = NULL, error_message = $2,
			send_unconfirmed_at = NULL, status_updated_at = now()
		WHERE id = $1 AND twilio_sid IS NULL AND status = 'queued'`, id, text)
	if err != nil {
		return false, fmt.Errorf("db: settle unsent %d as missing: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
