package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DepartmentRow is a department as the admin page lists it.
type DepartmentRow struct {
	Department
	ArchivedAt        *time.Time
	Members, Senders  int
	OpenConversations int
}

// ErrSlugTaken is returned when another department has the short name.
var ErrSlugTaken = errors.New("department short name already in use")

// ListDepartmentRows lists every department, archived last, with counts.
func (d *DB) ListDepartmentRows(ctx context.Context) ([]DepartmentRow, error) {
	rows, err := d.Pool.Query(ctx, `SELECT dp.id, dp.name, dp.slug, coalesce(dp.response_goal_minutes, 0), dp.archived_at,
		(SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.department_id = dp.id AND u.deactivated_at IS NULL),
		(SELECT count(*) FROM senders s WHERE s.department_id = dp.id AND s.archived_at IS NULL),
		(SELECT count(*) FROM conversations c WHERE c.department_id = dp.id AND c.status = 'open')
		FROM departments dp ORDER BY dp.archived_at IS NOT NULL, dp.name, dp.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list departments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DepartmentRow, error) {
		var dr DepartmentRow
		var minutes int
		err := r.Scan(&dr.ID, &dr.Name, &dr.Slug, &minutes, &dr.ArchivedAt, &dr.Members, &dr.Senders, &dr.OpenConversations)
		dr.ResponseGoal = time.Duration(minutes) * time.Minute
		return dr, err
	})
}

// DepartmentRowByIDTx locks and loads one department.
func DepartmentRowByIDTx(ctx context.Context, q Querier, id int64) (DepartmentRow, error) {
	var dr DepartmentRow
	var minutes int
	err := q.QueryRow(ctx, `SELECT id, name, slug, coalesce(response_goal_minutes, 0), archived_at FROM departments WHERE id = $1 FOR UPDATE`, id).
		Scan(&dr.ID, &dr.Name, &dr.Slug, &minutes, &dr.ArchivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return dr, ErrNotFound
	}
	dr.ResponseGoal = time.Duration(minutes) * time.Minute
	return dr, err
}

// CreateDepartmentTx adds a department.
func CreateDepartmentTx(ctx context.Context, q Querier, name, slug string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO departments (name, slug) VALUES ($1, $2) RETURNING id`, name, slug).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return 0, ErrSlugTaken
	}
	if err != nil {
		return 0, fmt.Errorf("db: create department: %w", err)
	}
	return id, nil
}

// RenameDepartmentTx changes a department's name (its short name stays: it
// is what `classline user add --department` and links use).
func RenameDepartmentTx(ctx context.Context, q Querier, id int64, name string) error {
	if _, err := q.Exec(ctx, `UPDATE departments SET name = $2 WHERE id = $1`, id, name); err != nil {
		return fmt.Errorf("db: rename department %d: %w", id, err)
	}
	return nil
}

// SetDepartmentArchivedTx archives or restores a department. Its
// conversations, senders and members stay; it disappears from pickers.
func SetDepartmentArchivedTx(ctx context.Context, q Querier, id int64, archived bool) error {
	if _, err := q.Exec(ctx, `UPDATE departments SET archived_at = CASE WHEN $2 THEN now() ELSE NULL END WHERE id = $1`, id, archived); err != nil {
		return fmt.Errorf("db: archive department %d: %w", id, err)
	}
	return nil
}

// SetDefaultSenderTx makes senderID the department's default sender on
// channel, or clears the default when senderID is 0. The sender must belong
// to the department and channel; ErrNotFound otherwise.
func SetDefaultSenderTx(ctx context.Context, q Querier, departmentID int64, channel string, senderID int64) error {
	if _, err := q.Exec(ctx, `UPDATE senders SET department_default = false
		WHERE department_id = $1 AND channel = $2 AND department_default AND id <> $3`, departmentID, channel, senderID); err != nil {
		return fmt.Errorf("db: clear default sender of department %d: %w", departmentID, err)
	}
	if senderID == 0 {
		return nil
	}
	tag, err := q.Exec(ctx, `UPDATE senders SET department_default = true
		WHERE id = $1 AND department_id = $2 AND channel = $3 AND archived_at IS NULL`, senderID, departmentID, channel)
	if err != nil {
		return fmt.Errorf("db: set default sender of department %d: %w", departmentID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DefaultSenders returns the department's default sender id per channel.
func (d *DB) DefaultSenders(ctx context.Context, departmentID int64) (map[string]int64, error) {
	rows, err := d.Pool.Query(ctx, `SELECT channel, id FROM senders
		WHERE department_id = $1 AND department_default AND archived_at IS NULL`, departmentID)
	if err != nil {
		return nil, fmt.Errorf("db: default senders of department %d: %w", departmentID, err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var ch string
		var id int64
		if err := rows.Scan(&ch, &id); err != nil {
			return nil, fmt.Errorf("db: default senders of department %d: %w", departmentID, err)
		}
		out[ch] = id
	}
	return out, rows.Err()
}
