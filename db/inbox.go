package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Inbox views.
const (
	ViewMine       = "mine"
	ViewUnassigned = "unassigned"
	ViewDepartment = "department"
	ViewAll        = "all"
)

// Inbox sorts.
const (
	SortRecent  = "recent"  // newest activity first
	SortWaiting = "waiting" // contact waiting longest for an answer first
)

// StatusAny lists conversations whatever their status.
const StatusAny = "any"

// Cursor is a keyset position: the last row's sort key and id.
type Cursor struct {
	At time.Time
	ID int64
}

// String encodes the cursor for a URL.
func (c Cursor) String() string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseCursor reads a cursor from a URL; nil when absent or malformed.
func ParseCursor(s string) *Cursor {
	at, id, ok := strings.Cut(s, ".")
	if !ok {
		return nil
	}
	us, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 {
		return nil
	}
	return &Cursor{At: time.UnixMicro(us), ID: n}
}

// InboxQuery selects one page of an inbox view.
type InboxQuery struct {
	UserID       int64   // the reader: "mine" and unread marks
	Scope        []int64 // departments the reader may see; nil: all
	View         string
	DepartmentID int64 // for ViewDepartment
	Status       string
	Sort         string
	After        *Cursor
	Limit        int
}

// InboxPage is one page of a view and the cursor of the next, if any.
type InboxPage struct {
	Conversations []Conversation
	Next          *Cursor
}

// ListInbox lists one page of a view. Keyset pagination: a deep page costs
// what the first does, and a conversation moving to the top while someone
// pages cannot make them see a row twice on the next page.
func (d *DB) ListInbox(ctx context.Context, q InboxQuery) (InboxPage, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	args := []any{q.UserID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where []string
	if q.Scope != nil {
		where = append(where, "c.department_id = ANY("+arg(q.Scope)+"::bigint[])")
	}
	switch q.View {
	case ViewMine:
		where = append(where, "c.assignee_id = $1")
	case ViewUnassigned:
		where = append(where, "c.assignee_id IS NULL")
	case ViewDepartment:
		where = append(where, "c.department_id = "+arg(q.DepartmentID))
	}
	if q.Status != StatusAny {
		if q.Status == "" {
			q.Status = "open"
		}
		where = append(where, "c.status = "+arg(q.Status))
	}
	key, order := "c.last_message_at", "DESC"
	if q.Sort == SortWaiting {
		key, order = "c.waiting_since", "ASC"
		where = append(where, "c.waiting_since IS NOT NULL")
	}
	if q.After != nil {
		cmp := "<"
		if order == "ASC" {
			cmp = ">"
		}
		where = append(where, "("+key+", c.id) "+cmp+" ("+arg(q.After.At)+"::timestamptz, "+arg(q.After.ID)+"::bigint)")
	}
	sql := `SELECT ` + conversationColumns + ` FROM ` + conversationFromFor("$1")
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + key + " " + order + ", c.id " + order + " LIMIT " + arg(q.Limit+1)
	rows, err := d.Pool.Query(ctx, sql, args...)
	if err != nil {
		return InboxPage{}, fmt.Errorf("db: list inbox %s: %w", q.View, err)
	}
	convs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) { return scanConversation(r) })
	if err != nil {
		return InboxPage{}, fmt.Errorf("db: list inbox %s: %w", q.View, err)
	}
	page := InboxPage{Conversations: convs}
	if len(convs) > q.Limit {
		page.Conversations = convs[:q.Limit]
		last := page.Conversations[q.Limit-1]
		at := last.LastMessageAt
		if q.Sort == SortWaiting && last.WaitingSince != nil {
			at = *last.WaitingSince
		}
		page.Next = &Cursor{At: at, ID: last.ID}
	}
	return page, nil
}

// ViewCount is how many conversations a view holds and how many are unread.
type ViewCount struct{ Total, Unread int }

// InboxCounts counts, for one status, every view the reader has: mine,
// unassigned, all, and each department (by id). One pass over the
// conversations the reader may see.
type InboxCounts struct {
	Mine, Unassigned, All ViewCount
	Departments           map[int64]ViewCount
}

// CountInbox counts the views of a reader for a status.
func (d *DB) CountInbox(ctx context.Context, userID int64, scope []int64, status string) (InboxCounts, error) {
	if status == "" {
		status = "open"
	}
	rows, err := d.Pool.Query(ctx, `
		SELECT coalesce(c.department_id, 0), count(*),
		       count(*) FILTER (WHERE c.assignee_id = $1), count(*) FILTER (WHERE c.assignee_id IS NULL),
		       count(*) FILTER (WHERE c.last_inbound_at > coalesce(rd.read_at, '-infinity')),
		       count(*) FILTER (WHERE c.assignee_id = $1 AND c.last_inbound_at > coalesce(rd.read_at, '-infinity')),
		       count(*) FILTER (WHERE c.assignee_id IS NULL AND c.last_inbound_at > coalesce(rd.read_at, '-infinity'))
		FROM conversations c
		LEFT JOIN conversation_reads rd ON rd.conversation_id = c.id AND rd.user_id = $1
		WHERE c.status = $2 AND ($3::bigint[] IS NULL OR c.department_id = ANY($3))
		GROUP BY 1`, userID, status, scope)
	if err != nil {
		return InboxCounts{}, fmt.Errorf("db: count inbox: %w", err)
	}
	defer rows.Close()
	out := InboxCounts{Departments: map[int64]ViewCount{}}
	for rows.Next() {
		var dep int64
		var total, mine, unassigned, unread, mineUnread, unassignedUnread int
		if err := rows.Scan(&dep, &total, &mine, &unassigned, &unread, &mineUnread, &unassignedUnread); err != nil {
			return out, fmt.Errorf("db: count inbox: %w", err)
		}
		out.Departments[dep] = ViewCount{Total: total, Unread: unread}
		out.All.Total += total
		out.All.Unread += unread
		out.Mine.Total += mine
		out.Mine.Unread += mineUnread
		out.Unassigned.Total += unassigned
		out.Unassigned.Unread += unassignedUnread
	}
	return out, rows.Err()
}

// Department is a part of the school that owns conversations.
type Department struct {
	ID           int64
	Name, Slug   string
	ResponseGoal time.Duration
}

// DepartmentsByID lists departments (nil ids: all that are not archived), by name.
func (d *DB) DepartmentsByID(ctx context.Context, ids []int64) ([]Department, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, name, slug, coalesce(response_goal_minutes, 0) FROM departments
		WHERE archived_at IS NULL AND ($1::bigint[] IS NULL OR id = ANY($1)) ORDER BY name, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("db: departments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Department, error) {
		var dp Department
		var minutes int
		err := r.Scan(&dp.ID, &dp.Name, &dp.Slug, &minutes)
		dp.ResponseGoal = time.Duration(minutes) * time.Minute
		return dp, err
	})
}

// SetResponseGoal sets a department's first-answer goal (0 clears it).
func (d *DB) SetResponseGoal(ctx context.Context, departmentID int64, goal time.Duration) error {
	_, err := d.Pool.Exec(ctx, `UPDATE departments SET response_goal_minutes = nullif($2, 0) WHERE id = $1`,
		departmentID, int(goal/time.Minute))
	if err != nil {
		return fmt.Errorf("db: set response goal: %w", err)
	}
	return nil
}

// StaffOfDepartment lists active users who may work a department's
// conversations: its members and every admin.
func (d *DB) StaffOfDepartment(ctx context.Context, departmentID *int64) ([]User, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+userColumns+` FROM users u
		WHERE u.deactivated_at IS NULL AND (u.role = 'admin' OR EXISTS (
			SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.department_id = $1))
		ORDER BY u.name, u.id`, departmentID)
	if err != nil {
		return nil, fmt.Errorf("db: staff of department: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

// ConversationChange is the new state of a conversation after an action.
type ConversationChange struct {
	Status       string
	AssigneeID   *int64
	SnoozedUntil *time.Time
}

// LockConversationTx locks a conversation for a change and returns its
// current state: actions decide from this, not from what was read before the
// transaction, so two quick actions (assign, then close) cannot undo each other.
func LockConversationTx(ctx context.Context, q Querier, id int64) (ConversationChange, error) {
	var cur ConversationChange
	err := q.QueryRow(ctx, `SELECT status, assignee_id, snoozed_until FROM conversations WHERE id = $1 FOR UPDATE`, id).
		Scan(&cur.Status, &cur.AssigneeID, &cur.SnoozedUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, ErrNotFound
	}
	if err != nil {
		return cur, fmt.Errorf("db: lock conversation %d: %w", id, err)
	}
	return cur, nil
}

// SetConversationStateTx sets status, assignee and snooze of a conversation
// locked by LockConversationTx.
func SetConversationStateTx(ctx context.Context, q Querier, id int64, ch ConversationChange) error {
	_, err := q.Exec(ctx, `UPDATE conversations SET status = $2, assignee_id = $3, snoozed_until = $4 WHERE id = $1`,
		id, ch.Status, ch.AssigneeID, ch.SnoozedUntil)
	if err != nil {
		return fmt.Errorf("db: update conversation %d: %w", id, err)
	}
	return nil
}

// WakeSnoozed reopens conversations whose snooze has run out and returns them.
func (d *DB) WakeSnoozed(ctx context.Context, now time.Time) ([]LockedConversation, error) {
	rows, err := d.Pool.Query(ctx, `UPDATE conversations SET status = 'open', snoozed_until = NULL
		WHERE status = 'snoozed' AND snoozed_until <= $1 RETURNING id, coalesce(department_id, 0)`, now)
	if err != nil {
		return nil, fmt.Errorf("db: wake snoozed: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LockedConversation, error) {
		var c LockedConversation
		return c, r.Scan(&c.ID, &c.DepartmentID)
	})
}

// LockedConversation identifies a conversation that changed.
type LockedConversation struct{ ID, DepartmentID int64 }

// MarkRead records that a user has read a conversation up to now.
func (d *DB) MarkRead(ctx context.Context, conversationID, userID int64) error {
	_, err := d.Pool.Exec(ctx, `INSERT INTO conversation_reads (conversation_id, user_id) VALUES ($1, $2)
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_at = now()`, conversationID, userID)
	if err != nil {
		return fmt.Errorf("db: mark read: %w", err)
	}
	return nil
}

// InsertNoteTx stores an internal note: staff only, never sent to Twilio.
func InsertNoteTx(ctx context.Context, q Querier, conversationID, userID int64, channel, body string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, status, sent_by, is_note)
		VALUES ($1, 'outbound', $2, '', '', $3, 'note', $4, true) RETURNING id`, conversationID, channel, body, userID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: insert note: %w", err)
	}
	return id, nil
}

// Viewer is a staff member who has a conversation open.
type Viewer struct {
	UserID int64
	Name   string
	Typing bool
	SeenAt time.Time
}

// TouchPresence records that a user has a conversation open (and whether they
// are typing); leave removes them.
func (d *DB) TouchPresence(ctx context.Context, conversationID, userID int64, typing, leave bool) error {
	var err error
	if leave {
		_, err = d.Pool.Exec(ctx, `DELETE FROM conversation_presence WHERE conversation_id = $1 AND user_id = $2`, conversationID, userID)
	} else {
		_, err = d.Pool.Exec(ctx, `INSERT INTO conversation_presence (conversation_id, user_id, typing) VALUES ($1, $2, $3)
			ON CONFLICT (conversation_id, user_id) DO UPDATE SET typing = $3, seen_at = now()`, conversationID, userID, typing)
	}
	if err != nil {
		return fmt.Errorf("db: presence: %w", err)
	}
	return nil
}

// Viewers lists who was seen in a conversation since a moment.
func (d *DB) Viewers(ctx context.Context, conversationID int64, since time.Time) ([]Viewer, error) {
	rows, err := d.Pool.Query(ctx, `SELECT p.user_id, u.name, p.typing, p.seen_at FROM conversation_presence p
		JOIN users u ON u.id = p.user_id WHERE p.conversation_id = $1 AND p.seen_at > $2 ORDER BY p.seen_at`, conversationID, since)
	if err != nil {
		return nil, fmt.Errorf("db: viewers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Viewer, error) {
		var v Viewer
		return v, r.Scan(&v.UserID, &v.Name, &v.Typing, &v.SeenAt)
	})
}

// PrunePresence forgets viewers not seen since a moment.
func (d *DB) PrunePresence(ctx context.Context, before time.Time) error {
	_, err := d.Pool.Exec(ctx, `DELETE FROM conversation_presence WHERE seen_at < $1`, before)
	if err != nil {
		return fmt.Errorf("db: prune presence: %w", err)
	}
	return nil
}

// OptOutSince returns when the number's current opt-out for a purpose began,
// or nil when it is not opted out.
func (d *DB) OptOutSince(ctx context.Context, phone, purpose string) (*time.Time, error) {
	var optedIn bool
	var at time.Time
	err := d.Pool.QueryRow(ctx, `SELECT opted_in, created_at FROM consent_events WHERE phone = $1 AND purpose = $2
		ORDER BY created_at DESC, id DESC LIMIT 1`, phone, purpose).Scan(&optedIn, &at)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && optedIn) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("db: opt-out since: %w", err)
	}
	return &at, nil
}

// ConversationFor returns the conversation of a number with a sender, if
// there is one: the conversation of the contact the number resolves to
// (its main number first, else the contact that has it as a secondary
// number, as inbound messages and the composer resolve it) that talks to
// that very number.
func (d *DB) ConversationFor(ctx context.Context, phone string, senderID int64) (Conversation, error) {
	// The contact is resolved first (index lookups), then its conversations
	// with the sender come from conversations_contact_sender_phone_key.
	c, err := scanConversation(d.Pool.QueryRow(ctx, `SELECT `+conversationColumns+` FROM `+conversationFrom+`
		WHERE c.contact_id = (SELECT id FROM (`+resolveContact+`) rc) AND c.sender_id = $2
		  AND coalesce(c.phone, ct.phone) = $1`, phone, senderID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("db: conversation for %d: %w", senderID, err)
	}
	return c, err
}
