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
	AssigneeID     *int64
	AssigneeName   string
	SnoozedUntil   *time.Time
	// WaitingSince is when the contact's oldest unanswered message came.
	WaitingSince *time.Time
	// ResponseGoal is the department's goal for a first answer (0: none).
	ResponseGoal time.Duration
	// Unread: a message came after the user last read the conversation.
	Unread bool
	// LastBroadcastID and LastBroadcastName: the latest broadcast sent in
	// this conversation, so a reply shows what it answers (0, "").
	LastBroadcastID   int64
	LastBroadcastName string
}

// conversationColumns: the contact's phone is the conversation's number
// (conversations.phone, NULL for the contact's main number), so every send
// path (reply, automatic answers, templates) answers the number the
// conversation is with, and consent is checked for that number.
const conversationColumns = `c.id, c.channel, c.status, c.department_id, coalesce(dep.name, ''), c.last_message_at, c.last_inbound_at,
	ct.id, coalesce(c.phone, ct.phone), ct.name, ct.profile_name, ct.role,
	s.id, s.channel, s.address, s.messaging_service_sid, s.display_name, s.department_id, coalesce(sdep.name, ''), s.status,
	coalesce(lm.body, ''), coalesce(lm.direction, ''),
	c.assignee_id, coalesce(au.name, ''), c.snoozed_until, c.waiting_since, coalesce(dep.response_goal_minutes, 0),
	(c.last_inbound_at IS NOT NULL AND c.last_inbound_at > coalesce(rd.read_at, '-infinity')),
	coalesce(c.last_broadcast_id, 0), coalesce((SELECT b.name FROM broadcasts b WHERE b.id = c.last_broadcast_id), '')`

// conversationFromFor joins what a conversation row shows; userParam is the
// placeholder (or literal) of the reading user, for unread marks.
func conversationFromFor(userParam string) string {
	return `conversations c
	JOIN contacts ct ON ct.id = c.contact_id
	JOIN senders s ON s.id = c.sender_id
	LEFT JOIN departments dep ON dep.id = c.department_id
	LEFT JOIN departments sdep ON sdep.id = s.department_id
	LEFT JOIN users au ON au.id = c.assignee_id
	LEFT JOIN conversation_reads rd ON rd.conversation_id = c.id AND rd.user_id = ` + userParam + `
	LEFT JOIN LATERAL (SELECT m.body, m.direction FROM messages m WHERE m.conversation_id = c.id AND NOT m.is_note
	                   ORDER BY m.created_at DESC, m.id DESC LIMIT 1) lm ON true`
}

// conversationFrom is conversationFromFor nobody: every inbound reads as unread.
var conversationFrom = conversationFromFor("0")

func scanConversation(row pgx.Row) (Conversation, error) {
	var c Conversation
	var goalMinutes int
	err := row.Scan(&c.ID, &c.Channel, &c.Status, &c.DepartmentID, &c.DepartmentName, &c.LastMessageAt, &c.LastInboundAt,
		&c.Contact.ID, &c.Contact.Phone, &c.Contact.Name, &c.Contact.ProfileName, &c.Contact.Role,
		&c.Sender.ID, &c.Sender.Channel, &c.Sender.Address, &c.Sender.MessagingServiceSID, &c.Sender.DisplayName,
		&c.Sender.DepartmentID, &c.Sender.DepartmentName, &c.Sender.Status, &c.LastBody, &c.LastDirection,
		&c.AssigneeID, &c.AssigneeName, &c.SnoozedUntil, &c.WaitingSince, &goalMinutes, &c.Unread,
		&c.LastBroadcastID, &c.LastBroadcastName)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	c.ResponseGoal = time.Duration(goalMinutes) * time.Minute
	return c, err
}

// UpsertConversationTx returns the conversation of contact × sender on the
// contact's main number, creating it in the sender's department.
func UpsertConversationTx(ctx context.Context, q Querier, contactID int64, sender Sender) (int64, error) {
	return UpsertConversationOnTx(ctx, q, contactID, "", sender)
}

// UpsertConversationOnTx returns the conversation of contact × sender on
// phone (E.164; "" or the contact's main number: the main number), creating
// it in the sender's department. The number is stored as NULL when it is
// the main one, so the unique key (contact, sender, number) has one spelling
// per conversation.
func UpsertConversationOnTx(ctx context.Context, q Querier, contactID int64, phone string, sender Sender) (int64, error) {
	var id int64
	// FOR KEY SHARE: a concurrent "make main number" or merge (which lock
	// the contact FOR UPDATE) finishes first and the row is re-read, so NULL
	// never means a number it no longer is, and a contact merged meanwhile
	// gets no new conversation (the caller fails; a webhook is retried by
	// Twilio and then resolves to the contact it was merged into).
	err := q.QueryRow(ctx, `
		INSERT INTO conversations (contact_id, sender_id, department_id, channel, phone)
		SELECT ct.id, $2, $3, $4, nullif(nullif($5, ''), ct.phone) FROM contacts ct
		 WHERE ct.id = $1 AND ct.merged_into IS NULL FOR KEY SHARE
		ON CONFLICT (contact_id, sender_id, (coalesce(phone, ''))) DO UPDATE SET channel = EXCLUDED.channel
		RETURNING id`, contactID, sender.ID, sender.DepartmentID, sender.Channel, phone).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("db: upsert conversation: contact %d: %w", contactID, ErrNotFound)
	}
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

// ListConversations lists conversations newest activity first, limited to the
// given departments unless departments is nil (admins), whatever their status.
func (d *DB) ListConversations(ctx context.Context, departments []int64, p ConversationPage) ([]Conversation, error) {
	page, err := d.ListInbox(ctx, InboxQuery{Scope: departments, View: ViewAll, Status: StatusAny, After: p.After, Limit: p.Limit})
	return page.Conversations, err
}

// ConversationPage is a keyset page request.
type ConversationPage struct {
	After *Cursor
	Limit int
}
