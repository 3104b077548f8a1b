package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Person is a user as the admin pages list them.
type Person struct {
	User
	Departments []string
	LastLoginAt *time.Time
	CreatedAt   time.Time
}

// ListPeople lists every user, active first, by name.
func (d *DB) ListPeople(ctx context.Context) ([]Person, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+userColumns+`,
		coalesce((SELECT array_agg(dp.name ORDER BY dp.name) FROM memberships m JOIN departments dp ON dp.id = m.department_id WHERE m.user_id = u.id), '{}'),
		u.last_login_at, u.created_at
		FROM users u ORDER BY u.deactivated_at IS NOT NULL, lower(u.name), u.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list people: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Person, error) {
		var p Person
		err := r.Scan(&p.ID, &p.Email, &p.Name, &p.Role, &p.PasswordHash, &p.SessionEpoch, &p.DeactivatedAt, &p.DepartmentIDs,
			&p.Departments, &p.LastLoginAt, &p.CreatedAt)
		return p, err
	})
}

// UserChange is an admin's edit of a user.
type UserChange struct {
	Name, Email, Role string
	DepartmentIDs     []int64
}

// UpdateUserTx changes a user's name, email, role and departments (replacing
// the memberships).
func UpdateUserTx(ctx context.Context, q Querier, id int64, ch UserChange) error {
	_, err := q.Exec(ctx, `UPDATE users SET name = $2, email = $3, role = $4 WHERE id = $1`, id, ch.Name, strings.TrimSpace(ch.Email), ch.Role)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("db: update user %d: %w", id, err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM memberships WHERE user_id = $1 AND NOT (department_id = ANY($2::bigint[]))`, id, ch.DepartmentIDs); err != nil {
		return fmt.Errorf("db: update memberships: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO memberships (user_id, department_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, id, ch.DepartmentIDs); err != nil {
		return fmt.Errorf("db: update memberships: %w", err)
	}
	return nil
}

// SetDeactivatedTx deactivates (or reactivates) a user. Deactivation moves
// the session epoch and deletes the user's sessions: they are signed out at once.
func SetDeactivatedTx(ctx context.Context, q Querier, id int64, deactivated bool) error {
	if _, err := q.Exec(ctx, `UPDATE users SET deactivated_at = CASE WHEN $2 THEN now() ELSE NULL END,
		session_epoch = session_epoch + CASE WHEN $2 THEN 1 ELSE 0 END WHERE id = $1`, id, deactivated); err != nil {
		return fmt.Errorf("db: deactivate user %d: %w", id, err)
	}
	if deactivated {
		if _, err := q.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("db: end sessions of %d: %w", id, err)
		}
	}
	return nil
}

// SetPasswordTx sets a new password hash and ends every session of the user.
func SetPasswordTx(ctx context.Context, q Querier, id int64, hash string) error {
	if _, err := q.Exec(ctx, `UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE id = $1`, id, hash); err != nil {
		return fmt.Errorf("db: set password of %d: %w", id, err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("db: end sessions of %d: %w", id, err)
	}
	return nil
}

// CountActiveAdminsTx counts active admins, locking them so two admins cannot
// demote each other at the same moment and leave none.
func CountActiveAdminsTx(ctx context.Context, q Querier) (int, error) {
	rows, err := q.Query(ctx, `SELECT id FROM users WHERE role = 'admin' AND deactivated_at IS NULL FOR UPDATE`)
	if err != nil {
		return 0, fmt.Errorf("db: count admins: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return len(ids), err
}

// UserByIDTx is UserByID inside a transaction.
func UserByIDTx(ctx context.Context, q Querier, id int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("db: user %d: %w", id, err)
	}
	return u, err
}

// AuditTx writes one audit entry inside a transaction, so the change and
// its record commit together.
func AuditTx(ctx context.Context, q Querier, userID *int64, action, subject string, before, after any, ip string) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log (user_id, action, subject, before, after, ip) VALUES ($1, $2, $3, $4, $5, $6)`,
		userID, action, subject, b, a, ip)
	if err != nil {
		return fmt.Errorf("db: audit %s: %w", action, err)
	}
	return nil
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID            int64
	UserID        *int64
	UserName      string
	Action        string
	Subject       string
	Before, After string // JSON, "" when none
	IP            string
	CreatedAt     time.Time
}

// AuditFilter narrows the audit log; zero values mean "any".
type AuditFilter struct {
	UserID   int64
	Action   string // exact action, or a prefix ending in "." ("conversation.")
	From, To *time.Time
	BeforeID int64 // keyset: entries older than this id
	Limit    int
}

// ListAudit lists audit entries newest first.
func (d *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	action, prefix := f.Action, ""
	if strings.HasSuffix(action, ".") {
		action, prefix = "", f.Action
	}
	rows, err := d.Pool.Query(ctx, `SELECT a.id, a.user_id, coalesce(u.name, ''), a.action, a.subject,
		coalesce(a.before::text, ''), coalesce(a.after::text, ''), a.ip, a.created_at
		FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
		WHERE ($1 = 0 OR a.user_id = $1) AND ($2 = '' OR a.action = $2) AND ($3 = '' OR starts_with(a.action, $3))
		  AND ($4::timestamptz IS NULL OR a.created_at >= $4) AND ($5::timestamptz IS NULL OR a.created_at < $5)
		  AND ($6 = 0 OR a.id < $6)
		ORDER BY a.id DESC LIMIT $7`, f.UserID, action, prefix, f.From, f.To, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("db: list audit: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.UserID, &e.UserName, &e.Action, &e.Subject, &e.Before, &e.After, &e.IP, &e.CreatedAt)
		return e, err
	})
}

// AuditActions lists the distinct actions in the log, for the filter.
func (d *DB) AuditActions(ctx context.Context) ([]string, error) {
	rows, err := d.Pool.Query(ctx, `SELECT DISTINCT action FROM audit_log ORDER BY action`)
	if err != nil {
		return nil, fmt.Errorf("db: audit actions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
