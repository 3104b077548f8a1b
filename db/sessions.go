package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in browser.
type Session struct {
	ID        string
	UserID    int64
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession stores a new session.
func (d *DB) CreateSession(ctx context.Context, s Session, ip, userAgent string) error {
	_, err := d.Pool.Exec(ctx, `
		INSERT INTO user_sessions (id, user_id, csrf_token, ip, user_agent, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.ID, s.UserID, s.CSRFToken, ip, userAgent, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("db: create session: %w", err)
	}
	return nil
}

// SessionWithUser loads a live session and its (active) user in one round trip.
// Expired sessions and deactivated users read as ErrNotFound.
func (d *DB) SessionWithUser(ctx context.Context, id string) (Session, User, error) {
	var s Session
	var u User
	err := d.Pool.QueryRow(ctx, `
		SELECT s.id, s.user_id, s.csrf_token, s.expires_at, `+userColumns+`
		FROM user_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = $1 AND s.expires_at > now() AND u.deactivated_at IS NULL`, id).
		Scan(&s.ID, &s.UserID, &s.CSRFToken, &s.ExpiresAt,
			&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.SessionEpoch, &u.DeactivatedAt, &u.DepartmentIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, u, ErrNotFound
	}
	if err != nil {
		return s, u, fmt.Errorf("db: load session: %w", err)
	}
	return s, u, nil
}

// TouchSession slides the session's expiry; called at most once a minute per session.
func (d *DB) TouchSession(ctx context.Context, id string, expires time.Time) error {
	_, err := d.Pool.Exec(ctx, `UPDATE user_sessions SET last_seen_at = now(), expires_at = $2 WHERE id = $1`, id, expires)
	if err != nil {
		return fmt.Errorf("db: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session (logout).
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := d.Pool.Exec(ctx, `DELETE FROM user_sessions WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("db: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user (password change, deactivation).
func (d *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := d.Pool.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, userID)
	if err != nil {
		return fmt.Errorf("db: delete user sessions: %w", err)
	}
	return nil
}

// LockLoginTx serialises sign-in attempts for one address and one account
// until the transaction ends, so parallel guesses cannot all read "fewer than
// five failures" before any is recorded. Address first, then account: every
// attempt takes them in the same order, so they cannot deadlock.
func LockLoginTx(ctx context.Context, q Querier, email, ip string) error {
	_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('login-ip:' || $1, 0)),
		pg_advisory_xact_lock(hashtextextended('login-email:' || lower($2), 0))`, ip, email)
	if err != nil {
		return fmt.Errorf("db: lock login: %w", err)
	}
	return nil
}

// RecordLoginAttemptTx keeps one sign-in attempt for throttling and audit.
func RecordLoginAttemptTx(ctx context.Context, q Querier, email, ip string, ok bool) error {
	_, err := q.Exec(ctx, `INSERT INTO login_attempts (email, ip, succeeded) VALUES (lower($1), $2, $3)`, email, ip, ok)
	if err != nil {
		return fmt.Errorf("db: record login attempt: %w", err)
	}
	return nil
}

// FailedLoginsTx counts failures since `since` for the account (only those
// after its last success) and for the address.
func FailedLoginsTx(ctx context.Context, q Querier, email, ip string, since time.Time) (byEmail, byIP int, err error) {
	err = q.QueryRow(ctx, `
		SELECT
		  (SELECT count(*) FROM login_attempts a WHERE lower(a.email) = lower($1) AND NOT a.succeeded AND a.created_at > $3
		     AND a.created_at > coalesce((SELECT max(created_at) FROM login_attempts s WHERE lower(s.email) = lower($1) AND s.succeeded), '-infinity')),
		  (SELECT count(*) FROM login_attempts a WHERE a.ip = $2 AND NOT a.succeeded AND a.created_at > $3)`,
		email, ip, since).Scan(&byEmail, &byIP)
	if err != nil {
		return 0, 0, fmt.Errorf("db: count failed logins: %w", err)
	}
	return byEmail, byIP, nil
}

// PruneAuth deletes expired sessions and sign-in attempts older than keep,
// which throttling no longer reads; it returns how many rows went.
func (d *DB) PruneAuth(ctx context.Context, keep time.Duration) (int64, error) {
	a, err := d.Pool.Exec(ctx, `DELETE FROM user_sessions WHERE expires_at < now()`)
	if err != nil {
		return 0, fmt.Errorf("db: prune sessions: %w", err)
	}
	b, err := d.Pool.Exec(ctx, `DELETE FROM login_attempts WHERE created_at < now() - make_interval(secs => $1)`, keep.Seconds())
	if err != nil {
		return 0, fmt.Errorf("db: prune login attempts: %w", err)
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}
