package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Conversation is one contact talking to one sender.
type Conversation struct {
	ID             int64
	Channel        string
	Status         string
	DepartmentID   *int64
	DepartmentName string
	LastMessageAt  time.Time
	LastInboundAt  *time.Time
	Contact        Contact
	Sender         Sender
	LastBody       string
	LastDirection  string
}

const conversationColumns = `c.id, c.channel, c.status, c.department_id, coalesce(dep.name, ''), c.last_message_at, c.last_inbound_at,
	ct.id, ct.phone, ct.name, ct.profile_name, ct.role,
	s.id, s.channel, s.address, s.messaging_service_sid, s.display_name, s.department_id, coalesce(sdep.name, ''), s.status,
	coalesce(lm.body, ''), coalesce(lm.direction, '')`

const conversationFrom = `conversations c
	JOIN contacts ct ON ct.id = c.contact_id
	JOIN senders s ON s.id = c.sender_id
	LEFT JOIN departments dep ON dep.id = c.department_id
	LEFT JOIN departments sdep ON sdep.id = s.department_id
	LEFT JOIN LATERAL (SELECT m.body, m.direction FROM messages m WHERE m.conversation_id = c.id AND NOT m.is_note
	                   ORDER BY m.created_at DESC, m.id DESC LIMIT 1) lm ON true`

func scanConversation(row pgx.Row) (Conversation, error) {
	var c Conversation
	err := row.Scan(&c.ID, &c.Channel, &c.Status, &c.DepartmentID, &c.DepartmentName, &c.LastMessageAt, &c.LastInboundAt,
		&c.Contact.ID, &c.Contact.Phone, &c.Contact.Name, &c.Contact.ProfileName, &c.Contact.Role,
		&c.Sender.ID, &c.Sender.Channel, &c.Sender.Address, &c.Sender.MessagingServiceSID, &c.Sender.DisplayName,
		&c.Sender.DepartmentID, &c.Sender.DepartmentName, &c.Sender.Status, &c.LastBody, &c.LastDirection)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// UpsertConversationTx returns the conversation of contact × sender, creating it
// in the sender's department.
func UpsertConversationTx(ctx context.Context, q Querier, contactID int64, sender Sender) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO conversations (contact_id, sender_id, department_id, channel) VALUES ($1, $2, $3, $4)
		ON CONFLICT (contact_id, sender_id) DO UPDATE SET channel = EXCLUDED.channel
		RETURNING id`, contactID, sender.ID, sender.DepartmentID, sender.Channel).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: upsert conversation: %w", err)
	}
	return id, nil
}

// ConversationByID loads a conversation with its contact and sender.
func (d *DB) ConversationByID(ctx context.Context, id int64) (Conversation, error) {
	c, err := scanConversation(d.Pool.QueryRow(ctx, `SELECT `+conversationColumns+` FROM `+conversationFrom+` WHERE c.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("db: conversation %d: %w", id, err)
	}
	return c, err
}

// ConversationPage is a keyset cursor: the last row's (last_message_at, id).
type ConversationPage struct {
	Before   *time.Time
	BeforeID int64
	Limit    int
}

// ListConversations lists conversations newest activity first, limited to the
// given departments unless departments is nil (admins). Keyset pagination so a
// deep page costs what the first does.
func (d *DB) ListConversations(ctx context.Context, departments []int64, p ConversationPage) ([]Conversation, error) {
	if p.Limit <= 0 || p.Limit > 200 {
		p.Limit = 50
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+conversationColumns+` FROM `+conversationFrom+`
		WHERE ($1::bigint[] IS NULL OR c.department_id = ANY($1))
		  AND ($2::timestamptz IS NULL OR (c.last_message_at, c.id) < ($2, $3))
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT $4`, departments, p.Before, p.BeforeID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("db: list conversations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) { return scanConversation(r) })
}
