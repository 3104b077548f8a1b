package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CannedReply is a department's snippet, inserted in a reply by typing "/" and its name.
type CannedReply struct {
	ID             int64
	DepartmentID   int64
	DepartmentName string
	Name           string
	Body           string
	CreatedBy      *int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ErrCannedNameTaken is returned when the department already has a reply of that name.
var ErrCannedNameTaken = errors.New("canned reply name already used in the department")

const cannedColumns = `r.id, r.department_id, d.name, r.name, r.body, r.created_by, r.created_at, r.updated_at`

const cannedFrom = `canned_replies r JOIN departments d ON d.id = r.department_id`

func scanCanned(row pgx.Row) (CannedReply, error) {
	var r CannedReply
	err := row.Scan(&r.ID, &r.DepartmentID, &r.DepartmentName, &r.Name, &r.Body, &r.CreatedBy, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func collectCanned(rows pgx.Rows, what string) ([]CannedReply, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CannedReply, error) { return scanCanned(r) })
	if err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	return out, nil
}

// ListCannedReplies returns the replies of the given departments (all when
// departments is nil), grouped by department name, then by reply name.
func (d *DB) ListCannedReplies(ctx context.Context, departments []int64) ([]CannedReply, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+cannedColumns+` FROM `+cannedFrom+`
		WHERE ($1::bigint[] IS NULL OR r.department_id = ANY($1))
		ORDER BY d.name, d.id, r.name`, departments)
	if err != nil {
		return nil, fmt.Errorf("db: list canned replies: %w", err)
	}
	return collectCanned(rows, "list canned replies")
}

// SearchCannedReplies returns up to limit replies of the given departments
// (all when nil) whose name starts with prefix, shortest names first so an
// exact match leads. prefix is compared as is, with no wildcards.
func (d *DB) SearchCannedReplies(ctx context.Context, departments []int64, prefix string, limit int) ([]CannedReply, error) {
	if limit <= 0 || limit > 50 {
		limit = 8
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+cannedColumns+` FROM `+cannedFrom+`
		WHERE ($1::bigint[] IS NULL OR r.department_id = ANY($1)) AND starts_with(r.name, $2)
		ORDER BY length(r.name), r.name, r.id LIMIT $3`, departments, prefix, limit)
	if err != nil {
		return nil, fmt.Errorf("db: search canned replies: %w", err)
	}
	return collectCanned(rows, "search canned replies")
}

// CannedReplyByID loads one reply.
func (d *DB) CannedReplyByID(ctx context.Context, id int64) (CannedReply, error) {
	r, err := scanCanned(d.Pool.QueryRow(ctx, `SELECT `+cannedColumns+` FROM `+cannedFrom+` WHERE r.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("db: canned reply %d: %w", id, err)
	}
	return r, err
}

// NewCannedReply is what InsertCannedReply stores.
type NewCannedReply struct {
	DepartmentID int64
	Name, Body   string
	CreatedBy    int64 // 0: nobody (imported)
}

// InsertCannedReply stores a reply; ErrCannedNameTaken when the department
// already has one of that name.
func (d *DB) InsertCannedReply(ctx context.Context, n NewCannedReply) (int64, error) {
	var id int64
	err := d.Pool.QueryRow(ctx, `
		INSERT INTO canned_replies (department_id, name, body, created_by) VALUES ($1, $2, $3, nullif($4, 0))
		RETURNING id`, n.DepartmentID, n.Name, n.Body, n.CreatedBy).Scan(&id)
	if isCannedNameConflict(err) {
		return 0, ErrCannedNameTaken
	}
	if err != nil {
		return 0, fmt.Errorf("db: insert canned reply: %w", err)
	}
	return id, nil
}

// UpdateCannedReply renames and rewrites a reply; ErrNotFound when it is
// gone, ErrCannedNameTaken when the new name is used in its department.
func (d *DB) UpdateCannedReply(ctx context.Context, id int64, name, body string) error {
	tag, err := d.Pool.Exec(ctx, `UPDATE canned_replies SET name = $2, body = $3, updated_at = now() WHERE id = $1`, id, name, body)
	if isCannedNameConflict(err) {
		return ErrCannedNameTaken
	}
	if err != nil {
		return fmt.Errorf("db: update canned reply %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteCannedReply removes a reply; ErrNotFound when it was already gone.
func (d *DB) DeleteCannedReply(ctx context.Context, id int64) error {
	tag, err := d.Pool.Exec(ctx, `DELETE FROM canned_replies WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("db: delete canned reply %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// isCannedNameConflict reports a UNIQUE (department_id, name) violation.
func isCannedNameConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
