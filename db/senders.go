package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sender is a number (or Messaging Service) Classline writes from.
type Sender struct {
	ID                  int64
	Channel             string
	Address             string // E.164
	MessagingServiceSID string
	DisplayName         string
	DepartmentID        *int64
	DepartmentName      string
	Status              string
}

const senderColumns = `s.id, s.channel, s.address, s.messaging_service_sid, s.display_name, s.department_id,
	coalesce(d.name, ''), s.status`

func scanSender(row pgx.Row) (Sender, error) {
	var s Sender
	err := row.Scan(&s.ID, &s.Channel, &s.Address, &s.MessagingServiceSID, &s.DisplayName, &s.DepartmentID, &s.DepartmentName, &s.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// ListSenders returns active senders, those of the given departments only
// unless departments is nil (admins).
func (d *DB) ListSenders(ctx context.Context, departments []int64) ([]Sender, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT `+senderColumns+` FROM senders s LEFT JOIN departments d ON d.id = s.department_id
		WHERE s.archived_at IS NULL AND ($1::bigint[] IS NULL OR s.department_id = ANY($1))
		ORDER BY s.channel DESC, d.name NULLS LAST, s.id`, departments)
	if err != nil {
		return nil, fmt.Errorf("db: list senders: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sender, error) { return scanSender(r) })
}

// SenderByID loads one sender.
func (d *DB) SenderByID(ctx context.Context, id int64) (Sender, error) {
	s, err := scanSender(d.Pool.QueryRow(ctx, `SELECT `+senderColumns+` FROM senders s LEFT JOIN departments d ON d.id = s.department_id WHERE s.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: sender %d: %w", id, err)
	}
	return s, err
}

// EnsureSender returns the sender for channel+address, creating it when
// missing. Inbound messages to a number we have not registered still land
// somewhere an admin can see them instead of being dropped. It reads first:
// every inbound webhook calls it, and an upsert would lock the sender row.
func (d *DB) EnsureSender(ctx context.Context, channel, address, displayName string, departmentID *int64) (Sender, error) {
	const byAddress = `SELECT ` + senderColumns + ` FROM senders s LEFT JOIN departments d ON d.id = s.department_id
		WHERE s.channel = $1 AND s.address = $2`
	s, err := scanSender(d.Pool.QueryRow(ctx, byAddress, channel, address))
	if err == nil || !errors.Is(err, ErrNotFound) {
		if err != nil {
			err = fmt.Errorf("db: sender %s %s: %w", channel, address, err)
		}
		return s, err
	}
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO senders (channel, address, display_name, department_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (channel, address) WHERE address <> '' DO NOTHING`, channel, address, displayName, departmentID); err != nil {
		return Sender{}, fmt.Errorf("db: create sender %s %s: %w", channel, address, err)
	}
	s, err = scanSender(d.Pool.QueryRow(ctx, byAddress, channel, address))
	if err != nil {
		return s, fmt.Errorf("db: sender %s %s: %w", channel, address, err)
	}
	return s, nil
}

// EnsureDepartment returns the id of the department with slug, creating it.
func (d *DB) EnsureDepartment(ctx context.Context, slug, name string) (int64, error) {
	var id int64
	err := d.Pool.QueryRow(ctx, `
		INSERT INTO departments (slug, name) VALUES ($1, $2)
		ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id`, slug, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: ensure department %s: %w", slug, err)
	}
	return id, nil
}
