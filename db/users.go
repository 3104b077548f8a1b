package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a staff member who signs in.
type User struct {
	ID            int64
	Email         string
	Name          string
	Role          string
	PasswordHash  string
	SessionEpoch  int
	DeactivatedAt *time.Time
	DepartmentIDs []int64
}

// IsAdmin reports whether the user has the admin role.
func (u User) IsAdmin() bool { return u.Role == "admin" }

const userColumns = `u.id, u.email, u.name, u.role, u.password_hash, u.session_epoch, u.deactivated_at,
	coalesce((SELECT array_agg(m.department_id ORDER BY m.department_id) FROM memberships m WHERE m.user_id = u.id), '{}')`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.SessionEpoch, &u.DeactivatedAt, &u.DepartmentIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

// CountUsers counts every user, active or not; zero means first start.
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: count users: %w", err)
	}
	return n, nil
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email, Name, Role, PasswordHash string
	DepartmentIDs                   []int64
}

// ErrEmailTaken is returned when another user has the email.
var ErrEmailTaken = errors.New("email already in use")

// CreateUser inserts a user and their memberships in one transaction.
func (d *DB) CreateUser(ctx context.Context, n NewUser) (User, error) {
	var id int64
	err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING RETURNING id`,
			strings.TrimSpace(n.Email), n.Name, n.Role, n.PasswordHash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrEmailTaken
		}
		if err != nil {
			return err
		}
		for _, dep := range n.DepartmentIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO memberships (user_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, dep); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("db: create user %s: %w", n.Email, err)
	}
	return d.UserByID(ctx, id)
}

// UserByID loads a user with their department ids.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	return UserByIDTx(ctx, d.Pool, id)
}

// UserByEmail finds a user by email, case-insensitively.
func (d *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	return UserByEmailTx(ctx, d.Pool, email)
}

// UserByEmailTx is UserByEmail inside a transaction.
func UserByEmailTx(ctx context.Context, q Querier, email string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.email) = lower($1)`, strings.TrimSpace(email)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("db: user by email: %w", err)
	}
	return u, err
}

// MarkLogin records a successful sign-in time.
func (d *DB) MarkLogin(ctx context.Context, userID int64) error {
	_, err := d.Pool.Exec(ctx, `UPDATE users SET last_login_at = now() WHERE id = $1`, userID)
	if err != nil {
		return fmt.Errorf("db: mark login: %w", err)
	}
	return nil
}

// DepartmentIDBySlug resolves a department by its slug.
func (d *DB) DepartmentIDBySlug(ctx context.Context, slug string) (int64, error) {
	var id int64
	err := d.Pool.QueryRow(ctx, `SELECT id FROM departments WHERE slug = $1`, slug).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("db: department %s: %w", slug, err)
	}
	return id, nil
}
