package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Message is one message in a conversation.
type Message struct {
	ID             int64
	ConversationID int64
	Direction      string
	Channel        string
	From, To       string
	Body           string
	Media          []Media
	TwilioSID      *string
	Status         string
	ErrorCode      *int
	ErrorMessage   string
	Segments       *int
	SentBy         *int64
	SentByName     string
	IsNote         bool // an internal note: staff only, never sent
	Automatic      bool // sent by Classline itself (keyword answers)
	SenderReason   string
	// TemplateName is the template the message was sent with ("" for text).
	TemplateName string
	// BroadcastID and BroadcastName: the broadcast that sent it (0, "").
	BroadcastID   int64
	BroadcastName string
	CreatedAt     time.Time
	// StatusUpdatedAt moves forward with every change of the message shown
	// to staff; pages keep the copy with the latest.
	StatusUpdatedAt time.Time
}

// Media is one attachment as Twilio described it.
type Media struct {
	URL         string `json:"url"` // Twilio's URL (inbound) or empty
	ContentType string `json:"content_type"`
	// FileID is the stored copy in media_files, once fetched or uploaded.
	FileID   int64  `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// FetchError says why an inbound file could not be fetched (given up).
	FetchError string `json:"fetch_error,omitempty"`
}

const messageColumns = `m.id, coalesce(m.conversation_id, 0), m.direction, m.channel, m.from_address, m.to_address, m.body, m.media,
	m.twilio_sid, m.status, m.error_code, m.error_message, m.segments, m.sent_by, coalesce(u.name, ''), m.is_note, m.automatic, m.sender_reason,
	coalesce((SELECT t.logical_name FROM templates t WHERE t.id = m.template_id), ''), m.created_at, m.status_updated_at,
	coalesce(m.broadcast_id, 0), coalesce((SELECT b.name FROM broadcasts b WHERE b.id = m.broadcast_id), '')`

func scanMessage(row pgx.Row) (Message, error) {
	var m Message
	var media []byte
	err := row.Scan(&m.ID, &m.ConversationID, &m.Direction, &m.Channel, &m.From, &m.To, &m.Body, &media,
		&m.TwilioSID, &m.Status, &m.ErrorCode, &m.ErrorMessage, &m.Segments, &m.SentBy, &m.SentByName, &m.IsNote, &m.Automatic, &m.SenderReason, &m.TemplateName, &m.CreatedAt, &m.StatusUpdatedAt,
		&m.BroadcastID, &m.BroadcastName)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err == nil && len(media) > 0 {
		err = json.Unmarshal(media, &m.Media)
	}
	return m, err
}

// MessageByID loads one message.
func (d *DB) MessageByID(ctx context.Context, id int64) (Message, error) {
	m, err := scanMessage(d.Pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages m LEFT JOIN users u ON u.id = m.sent_by WHERE m.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return m, fmt.Errorf("db: message %d: %w", id, err)
	}
	return m, err
}

// ConversationMessages returns the newest `limit` messages of a conversation, oldest first.
func (d *DB) ConversationMessages(ctx context.Context, conversationID int64, limit int) ([]Message, error) {
	rows, err := d.Pool.Query(ctx, `SELECT * FROM (
		SELECT `+messageColumns+` FROM messages m LEFT JOIN users u ON u.id = m.sent_by
		WHERE m.conversation_id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2) t
		ORDER BY created_at, id`, conversationID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: conversation messages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

// NewOutbound is a message staff are about to send.
type NewOutbound struct {
	ConversationID int64
	Channel        string
	From, To       string
	Body           string
	Segments       int
	SentBy         int64 // 0: Classline itself (an automatic reply)
	Media          []Media
	SenderReason   string
	// TemplateID and ContentVariables: a template message (Twilio ContentSid);
	// Body is then the rendered text, for staff to read.
	TemplateID       int64
	ContentVariables map[string]string
	// BroadcastID marks a message a broadcast sent (SentBy 0).
	BroadcastID int64
}

// InsertOutboundTx stores an outbound message as queued before Twilio is
// called, so a crash between the two leaves a visible row, not a ghost send.
func InsertOutboundTx(ctx context.Context, q Querier, n NewOutbound) (int64, error) {
	media, err := json.Marshal(n.Media)
	if err != nil {
		return 0, err
	}
	if n.Media == nil {
		media = []byte("[]")
	}
	var vars []byte // NULL unless a template message
	if n.TemplateID != 0 {
		if vars, err = json.Marshal(nonNil(n.ContentVariables)); err != nil {
			return 0, err
		}
	}
	// One round trip: the message, and its conversation touched. Staff
	// answering stops the waiting clock; an automatic reply does not.
	var id int64
	err = q.QueryRow(ctx, `
		WITH touched AS (
			UPDATE conversations SET last_message_at = now(),
				waiting_since = CASE WHEN $8 <> 0 THEN NULL ELSE waiting_since END WHERE id = $1)
		INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, media, status, segments, sent_by, automatic, sender_reason, template_id, content_variables, broadcast_id)
		VALUES ($1, 'outbound', $2, $3, $4, $5, $6, 'queued', $7, nullif($8, 0), $8 = 0, $9, nullif($10, 0), $11, nullif($12, 0)) RETURNING id`,
		n.ConversationID, n.Channel, n.From, n.To, n.Body, media, n.Segments, n.SentBy, n.SenderReason, n.TemplateID, vars, n.BroadcastID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: insert outbound: %w", err)
	}
	return id, nil
}

// NewInbound is a message Twilio delivered to us.
type NewInbound struct {
	ConversationID int64
	Channel        string
	From, To       string
	Body           string
	Media          []Media
	TwilioSID      string
	Segments       int
	Extra          map[string]string
}

// InsertInboundTx stores an inbound message once per Twilio SID. It reports
// false when the SID was already stored (a webhook redelivery).
func InsertInboundTx(ctx context.Context, q Querier, n NewInbound) (int64, bool, error) {
	media, err := json.Marshal(n.Media)
	if err != nil {
		return 0, false, err
	}
	if n.Media == nil {
		media = []byte("[]")
	}
	extra, err := json.Marshal(n.Extra)
	if err != nil {
		return 0, false, err
	}
	var id int64
	err = q.QueryRow(ctx, `
		INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, media, twilio_sid, status, segments, extra)
		VALUES ($1, 'inbound', $2, $3, $4, $5, $6, $7, 'received', $8, $9)
		ON CONFLICT (twilio_sid) DO NOTHING RETURNING id`,
		n.ConversationID, n.Channel, n.From, n.To, n.Body, media, n.TwilioSID, n.Segments, extra).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("db: insert inbound %s: %w", n.TwilioSID, err)
	}
	// A contact writing reopens the conversation and starts the waiting clock.
	if _, err := q.Exec(ctx, `
		UPDATE conversations SET last_message_at = now(), last_inbound_at = now(),
		       waiting_since = coalesce(waiting_since, now()), status = 'open', snoozed_until = NULL
		WHERE id = $1`, n.ConversationID); err != nil {
		return 0, false, fmt.Errorf("db: touch conversation: %w", err)
	}
	return id, true, nil
}

// SetMessageSubmitted records Twilio's answer to a create call. The status
// only moves forward: a callback may already have advanced it.
func SetMessageSubmittedTx(ctx context.Context, q Querier, id int64, sid string, segments int) error {
	_, err := q.Exec(ctx, `UPDATE messages SET twilio_sid = $2, segments = CASE WHEN $3 > 0 THEN $3 ELSE segments END WHERE id = $1`, id, sid, segments)
	if err != nil {
		return fmt.Errorf("db: set message sid: %w", err)
	}
	return nil
}

// SetMessageFailed marks a message Twilio refused.
func (d *DB) SetMessageFailed(ctx context.Context, id int64, code int, msg string) error {
	_, err := d.Pool.Exec(ctx, `UPDATE messages SET status = 'failed', error_code = nullif($2, 0), error_message = $3, status_updated_at = now() WHERE id = $1`, id, code, msg)
	if err != nil {
		return fmt.Errorf("db: set message failed: %w", err)
	}
	return nil
}

// LockedMessage is what a status change needs to know about a message.
type LockedMessage struct {
	ID, ConversationID, DepartmentID int64 // 0 when none
	Status                           string
}

// MessageForUpdateTx locks the message with a Twilio SID for a status change.
func MessageForUpdateTx(ctx context.Context, q Querier, sid string) (LockedMessage, error) {
	var m LockedMessage
	err := q.QueryRow(ctx, `SELECT m.id, coalesce(m.conversation_id, 0), coalesce(c.department_id, 0), m.status
		FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
		WHERE m.twilio_sid = $1 FOR UPDATE OF m`, sid).Scan(&m.ID, &m.ConversationID, &m.DepartmentID, &m.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("db: lock message %s: %w", sid, err)
	}
	return m, nil
}

// UpdateMessageStatusTx sets a message's status (the caller checked the order).
func UpdateMessageStatusTx(ctx context.Context, q Querier, id int64, status string, code int, msg string) error {
	_, err := q.Exec(ctx, `UPDATE messages SET status = $2, error_code = coalesce(nullif($3, 0), error_code),
		error_message = CASE WHEN $4 <> '' THEN $4 ELSE error_message END, status_updated_at = now() WHERE id = $1`, id, status, code, msg)
	if err != nil {
		return fmt.Errorf("db: update message status: %w", err)
	}
	return nil
}

// StatusEvent is one status callback as received.
type StatusEvent struct {
	ID        int64
	SID       string
	Status    string
	ErrorCode int
	Payload   map[string]string
	Applied   bool
	Pending   bool
}

// InsertStatusEventTx keeps a callback, applied or not.
func InsertStatusEventTx(ctx context.Context, q Querier, e StatusEvent) error {
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO message_events (message_sid, status, error_code, payload, applied, pending) VALUES ($1, $2, nullif($3, 0), $4, $5, $6)`,
		e.SID, e.Status, e.ErrorCode, payload, e.Applied, e.Pending)
	if err != nil {
		return fmt.Errorf("db: insert status event: %w", err)
	}
	return nil
}

// StatusEventsTx lists the callbacks kept for a SID, oldest first; with
// pendingOnly, just those that arrived before their message's SID was known,
// so they can be applied now.
func StatusEventsTx(ctx context.Context, q Querier, sid string, pendingOnly bool) ([]StatusEvent, error) {
	rows, err := q.Query(ctx, `SELECT id, message_sid, status, coalesce(error_code, 0), payload, applied, pending FROM message_events
		WHERE message_sid = $1 AND (pending OR NOT $2) ORDER BY received_at, id`, sid, pendingOnly)
	if err != nil {
		return nil, fmt.Errorf("db: events of %s: %w", sid, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatusEvent, error) {
		var e StatusEvent
		var payload []byte
		if err := r.Scan(&e.ID, &e.SID, &e.Status, &e.ErrorCode, &payload, &e.Applied, &e.Pending); err != nil {
			return e, err
		}
		return e, json.Unmarshal(payload, &e.Payload)
	})
}

// ResolvePendingEventTx records what became of a callback kept while its SID was unknown.
func ResolvePendingEventTx(ctx context.Context, q Querier, id int64, applied bool) error {
	_, err := q.Exec(ctx, `UPDATE message_events SET pending = false, applied = $2 WHERE id = $1`, id, applied)
	if err != nil {
		return fmt.Errorf("db: mark event applied: %w", err)
	}
	return nil
}

// LockSIDTx serialises work on one Twilio SID within the transaction: the
// create call's answer and a racing status callback must not both decide that
// the other has not happened yet.
func LockSIDTx(ctx context.Context, q Querier, sid string) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, sid); err != nil {
		return fmt.Errorf("db: lock sid %s: %w", sid, err)
	}
	return nil
}

// Change is a message created or updated after some moment.
type Change struct {
	ConversationID, MessageID int64
	Created                   bool // created (not only updated) after the moment
}

// ChangesSince lists messages of the given departments (nil: all) created or
// updated after since, oldest first: what a live stream missed while it was
// connecting or reconnecting.
func (d *DB) ChangesSince(ctx context.Context, departments []int64, since time.Time, limit int) ([]Change, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT m.conversation_id, m.id, m.created_at > $2
		FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.status_updated_at > $2 AND ($1::bigint[] IS NULL OR c.department_id = ANY($1))
		ORDER BY m.status_updated_at, m.id LIMIT $3`, departments, since, limit)
	if err != nil {
		return nil, fmt.Errorf("db: changes since %s: %w", since, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		var c Change
		return c, r.Scan(&c.ConversationID, &c.MessageID, &c.Created)
	})
}

// MessageBySID finds the conversation and id of a stored message by its Twilio SID.
func (d *DB) MessageBySID(ctx context.Context, sid string) (conversationID, messageID int64, err error) {
	err = d.Pool.QueryRow(ctx, `SELECT coalesce(conversation_id, 0), id FROM messages WHERE twilio_sid = $1`, sid).Scan(&conversationID, &messageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("db: message by sid: %w", err)
	}
	return conversationID, messageID, nil
}
