package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The queries behind the broadcast pages: the list (newest first, keyset
// paged, scoped to the reader's departments), one broadcast with the names
// a page shows, the approval queue, counters for many broadcasts at once,
// saving a draft, and what the live stream needs to catch up.

// BroadcastRow is a broadcast with the names the list and its page show.
type BroadcastRow struct {
	Broadcast
	DepartmentName string
	CreatorName    string
	ApproverName   string
}

// BroadcastScope is who is reading. Admins see every broadcast; staff see
// their departments' broadcasts and the drafts they made before choosing a
// department.
type BroadcastScope struct {
	Admin         bool
	UserID        int64
	DepartmentIDs []int64
}

// BroadcastCursor is a position in the list order (newest first).
type BroadcastCursor struct {
	CreatedAt time.Time
	ID        int64
}

// BroadcastListFilter narrows the list.
type BroadcastListFilter struct {
	Scope  BroadcastScope
	Status string // "": any
	After  *BroadcastCursor
	Limit  int
}

// broadcastRowColumns are broadcastColumns qualified with b (the joins below
// also have id and name columns), then the names.
var broadcastRowColumns = func() string {
	cols := strings.Split(broadcastColumns, ",")
	for i, c := range cols {
		cols[i] = "b." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ") + `, coalesce(d.name, ''), coalesce(cu.name, ''), coalesce(au.name, '')`
}()

const broadcastRowFrom = ` FROM broadcasts b
	LEFT JOIN departments d ON d.id = b.department_id
	LEFT JOIN users cu ON cu.id = b.created_by
	LEFT JOIN users au ON au.id = b.approved_by`

func scanBroadcastRow(row pgx.Row) (BroadcastRow, error) {
	var r BroadcastRow
	b := &r.Broadcast
	err := row.Scan(&b.ID, &b.Name, &b.Status, &b.DepartmentID, &b.CreatedBy, &b.ApprovedBy, &b.Audience, &b.Content, &b.Sender,
		&b.Purpose, &b.Urgent, &b.ScheduledAt, &b.StartedAt, &b.FinishedAt, &b.HeldUntil, &b.Feedback, &b.PausedReason, &b.WizardStep,
		&b.CreatedAt, &b.UpdatedAt, &r.DepartmentName, &r.CreatorName, &r.ApproverName)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func collectBroadcastRows(rows pgx.Rows, err error, what string) ([]BroadcastRow, error) {
	if err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BroadcastRow, error) { return scanBroadcastRow(r) })
	if err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	return out, nil
}

// ListBroadcasts lists broadcasts newest first. With a status the planner
// walks broadcasts_status_idx (status, created_at DESC, id DESC) and stops
// at the limit; without one it sorts the (small) table.
func (d *DB) ListBroadcasts(ctx context.Context, f BroadcastListFilter) ([]BroadcastRow, error) {
	if f.Limit <= 0 {
		f.Limit = 25
	}
	var afterAt *time.Time
	var afterID int64
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, f.After.ID
	}
	deps := f.Scope.DepartmentIDs
	if deps == nil {
		deps = []int64{}
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+broadcastRowColumns+broadcastRowFrom+`
		WHERE ($1 OR b.department_id = ANY($2) OR (b.department_id IS NULL AND b.created_by = $3))
		  AND ($4 = '' OR b.status = $4)
		  AND ($5::timestamptz IS NULL OR (b.created_at, b.id) < ($5::timestamptz, $6::bigint))
		ORDER BY b.created_at DESC, b.id DESC LIMIT $7`,
		f.Scope.Admin, deps, f.Scope.UserID, f.Status, afterAt, afterID, f.Limit)
	return collectBroadcastRows(rows, err, "list broadcasts")
}

// BroadcastRowByID loads one broadcast with its names.
func (d *DB) BroadcastRowByID(ctx context.Context, id int64) (BroadcastRow, error) {
	r, err := scanBroadcastRow(d.Pool.QueryRow(ctx, `SELECT `+broadcastRowColumns+broadcastRowFrom+` WHERE b.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("db: broadcast %d: %w", id, err)
	}
	return r, err
}

// ApprovalQueue lists broadcasts waiting for an approver, the longest
// waiting first (a status change stamps updated_at, so it is when the
// broadcast was submitted).
func (d *DB) ApprovalQueue(ctx context.Context, limit int) ([]BroadcastRow, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+broadcastRowColumns+broadcastRowFrom+`
		WHERE b.status = 'pending_approval' ORDER BY b.updated_at, b.id LIMIT $1`, limit)
	return collectBroadcastRows(rows, err, "approval queue")
}

// CountPendingApprovals counts broadcasts waiting for an approver.
func (d *DB) CountPendingApprovals(ctx context.Context) (int, error) {
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM broadcasts WHERE status = 'pending_approval'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count pending approvals: %w", err)
	}
	return n, nil
}

// BroadcastCountsOf is BroadcastCounts for several broadcasts in one query
// (a page of the list), keyed by broadcast; broadcasts without recipients
// are absent.
func (d *DB) BroadcastCountsOf(ctx context.Context, ids []int64) (map[int64][]BroadcastCount, error) {
	out := map[int64][]BroadcastCount{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := d.Pool.Query(ctx, `SELECT r.broadcast_id, CASE WHEN r.state = 'submitted' THEN coalesce(m.status, 'queued') ELSE r.state END,
			r.fallback_of IS NOT NULL, r.channel, count(*), coalesce(sum(r.segments), 0)
		FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id AND r.state = 'submitted'
		WHERE r.broadcast_id = ANY($1) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, ids)
	if err != nil {
		return nil, fmt.Errorf("db: counts of broadcasts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c BroadcastCount
		if err := rows.Scan(&id, &c.Status, &c.Fallback, &c.Channel, &c.N, &c.Segments); err != nil {
			return nil, fmt.Errorf("db: counts of broadcasts: %w", err)
		}
		out[id] = append(out[id], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: counts of broadcasts: %w", err)
	}
	return out, nil
}

// SaveDraftTx stores the editable parts of a draft (name, department,
// audience, content, sender, purpose, urgency, schedule, wizard step).
// false: the broadcast is no longer a draft, and nothing changed.
func SaveDraftTx(ctx context.Context, q Querier, b Broadcast) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE broadcasts SET name = $2, department_id = $3,
		audience = coalesce($4::jsonb, '{}'), content = coalesce($5::jsonb, '{}'), sender_strategy = coalesce($6::jsonb, '{}'),
		purpose = $7, urgent = $8, scheduled_at = $9, wizard_step = $10, updated_at = now()
		WHERE id = $1 AND status = 'draft'`,
		b.ID, b.Name, b.DepartmentID, rawJSON(b.Audience), rawJSON(b.Content), rawJSON(b.Sender),
		b.Purpose, b.Urgent, b.ScheduledAt, b.WizardStep)
	if err != nil {
		return false, fmt.Errorf("db: save draft broadcast %d: %w", b.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// BroadcastChange is a broadcast whose status changed, for the live stream.
type BroadcastChange struct {
	ID           int64
	DepartmentID int64 // 0: none
}

// BroadcastsChangedSince lists broadcasts the scope may see whose status
// changed after since, or that are running (their counters move without
// a status change), newest first, at most limit.
func (d *DB) BroadcastsChangedSince(ctx context.Context, scope BroadcastScope, since time.Time, limit int) ([]BroadcastChange, error) {
	deps := scope.DepartmentIDs
	if deps == nil {
		deps = []int64{}
	}
	rows, err := d.Pool.Query(ctx, `SELECT id, coalesce(department_id, 0) FROM broadcasts b
		WHERE ($1 OR b.department_id = ANY($2))
		  AND (b.updated_at > $3 OR b.status IN ('preparing', 'running'))
		ORDER BY b.updated_at DESC, b.id DESC LIMIT $4`, scope.Admin, deps, since, limit)
	if err != nil {
		return nil, fmt.Errorf("db: broadcasts changed since %s: %w", since, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BroadcastChange, error) {
		var c BroadcastChange
		err := r.Scan(&c.ID, &c.DepartmentID)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: broadcasts changed since %s: %w", since, err)
	}
	return out, nil
}

// BroadcastOfMessage returns the broadcast that sent a message and its
// department (0, 0 when the message is not a broadcast's).
func (d *DB) BroadcastOfMessage(ctx context.Context, messageID int64) (broadcastID, departmentID int64, err error) {
	err = d.Pool.QueryRow(ctx, `SELECT coalesce(m.broadcast_id, 0), coalesce(b.department_id, 0)
		FROM messages m LEFT JOIN broadcasts b ON b.id = m.broadcast_id WHERE m.id = $1`, messageID).Scan(&broadcastID, &departmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("db: broadcast of message %d: %w", messageID, err)
	}
	return broadcastID, departmentID, nil
}
