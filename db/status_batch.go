package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Batched forms of the status-callback queries, for the group commit of
// messaging.ApplyStatus: many callbacks in one transaction and a few round
// trips, instead of seven round trips and a commit each.

// LockMessagesBySIDTx takes each SID's advisory lock (the one LockSIDTx
// takes) and locks its message, in the order given, in one round trip. The
// caller passes the SIDs sorted, so that two batches never wait on each
// other in a cycle. SIDs with no message yet are absent from the map.
func LockMessagesBySIDTx(ctx context.Context, tx pgx.Tx, sids []string) (map[string]LockedMessage, error) {
	b := &pgx.Batch{}
	for _, sid := range sids {
		b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, sid)
		b.Queue(`SELECT m.id, coalesce(m.conversation_id, 0), coalesce(c.department_id, 0), m.status
			FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
			WHERE m.twilio_sid = $1 FOR UPDATE OF m`, sid)
	}
	res := tx.SendBatch(ctx, b)
	out := make(map[string]LockedMessage, len(sids))
	var err error
	for _, sid := range sids {
		if _, err = res.Exec(); err != nil {
			break
		}
		var m LockedMessage
		err = res.QueryRow().Scan(&m.ID, &m.ConversationID, &m.DepartmentID, &m.Status)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
			continue
		}
		if err != nil {
			break
		}
		out[sid] = m
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("db: lock %d messages by sid: %w", len(sids), err)
	}
	return out, nil
}

// QueueInsertStatusEvent is InsertStatusEventTx, queued on b.
func QueueInsertStatusEvent(b *pgx.Batch, e StatusEvent) error {
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		return fmt.Errorf("db: encode status event of %s: %w", e.SID, err)
	}
	b.Queue(`INSERT INTO message_events (message_sid, status, error_code, payload, applied, pending) VALUES ($1, $2, nullif($3, 0), $4, $5, $6)`,
		e.SID, e.Status, e.ErrorCode, payload, e.Applied, e.Pending)
	return nil
}

// QueueUpdateMessageStatus is UpdateMessageStatusTx, queued on b.
func QueueUpdateMessageStatus(b *pgx.Batch, id int64, status string, code int, msg string) {
	b.Queue(`UPDATE messages SET status = $2, error_code = coalesce(nullif($3, 0), error_code),
		error_message = CASE WHEN $4 <> '' THEN $4 ELSE error_message END, status_updated_at = now() WHERE id = $1`, id, status, code, msg)
}

// SendQueuedTx runs the statements queued on b in one round trip.
func SendQueuedTx(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("db: batch of %d statements: %w", b.Len(), err)
	}
	return nil
}
