package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The queries behind internal/senderpick: the senders a message may go out
// from, the sender a contact last spoke with, and an atomic least-recently-used
// pick that spreads concurrent sends over a department's pool.

// SendableStatuses are the Twilio sender statuses that can send. ONLINE:UPDATING
// is an online sender whose profile change Twilio is still applying.
var SendableStatuses = []string{"ONLINE", "ONLINE:UPDATING"}

// SenderSendable reports whether a sender in status can send now.
func SenderSendable(status string) bool { return slices.Contains(SendableStatuses, status) }

// PoolSender is a sender with what picking one needs beyond Sender.
type PoolSender struct {
	Sender
	// LastUsedAt is when a message last went out from it (nil: never). From
	// PickLRU it is the time before this pick stamped it.
	LastUsedAt *time.Time
	Archived   bool
	// Default: the department's default sender on its channel.
	Default bool
	// OfflineReasons are Twilio's words for why the sender is offline.
	OfflineReasons []string
}

// StickyInfo is the sender of a contact's most recent conversation.
type StickyInfo struct {
	SenderID int64
	LastAt   time.Time // the conversation's last message
}

// poolColumns selects a PoolSender from senders s LEFT JOIN departments d;
// lastUsed is the expression for LastUsedAt.
func poolColumns(lastUsed string) string {
	return `s.id, s.channel, s.address, s.messaging_service_sid, s.display_name, s.department_id,
	coalesce(d.name, ''), s.status, ` + lastUsed + `, s.archived_at IS NOT NULL, s.department_default, s.offline_reasons`
}

func scanPoolSender(row pgx.Row) (PoolSender, error) {
	var p PoolSender
	var reasons []byte
	err := row.Scan(&p.ID, &p.Channel, &p.Address, &p.MessagingServiceSID, &p.DisplayName, &p.DepartmentID,
		&p.DepartmentName, &p.Status, &p.LastUsedAt, &p.Archived, &p.Default, &reasons)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	p.OfflineReasons = parseOfflineReasons(reasons)
	return p, nil
}

// parseOfflineReasons reads Twilio's offline_reasons ([{code, message,
// more_info}]), tolerating plain strings; anything unreadable is ignored.
func parseOfflineReasons(raw []byte) []string {
	var items []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
			continue
		}
		var o struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(it, &o) != nil {
			continue
		}
		msg := strings.TrimSpace(o.Message)
		code := ""
		if o.Code != nil {
			code = strings.TrimSpace(fmt.Sprint(o.Code))
		}
		switch {
		case msg != "" && code != "":
			out = append(out, msg+" (error "+code+")")
		case msg != "":
			out = append(out, msg)
		case code != "":
			out = append(out, "error "+code)
		}
	}
	return out
}

// PickCandidates lists the unarchived senders of channel ("" = any) in the
// given departments (nil = every sender, for admins), by id.
func (d *DB) PickCandidates(ctx context.Context, channel string, departmentIDs []int64) ([]PoolSender, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT `+poolColumns("s.last_used_at")+`
		FROM senders s LEFT JOIN departments d ON d.id = s.department_id
		WHERE s.archived_at IS NULL AND ($1 = '' OR s.channel = $1)
		  AND ($2::bigint[] IS NULL OR s.department_id = ANY($2))
		ORDER BY s.id`, channel, departmentIDs)
	if err != nil {
		return nil, fmt.Errorf("db: pick candidates: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PoolSender, error) { return scanPoolSender(r) })
	if err != nil {
		return nil, fmt.Errorf("db: pick candidates: %w", err)
	}
	return out, nil
}

// PoolSenderByID loads one sender, archived or not.
func (d *DB) PoolSenderByID(ctx context.Context, id int64) (PoolSender, error) {
	p, err := scanPoolSender(d.Pool.QueryRow(ctx, `
		SELECT `+poolColumns("s.last_used_at")+`
		FROM senders s LEFT JOIN departments d ON d.id = s.department_id WHERE s.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("db: pool sender %d: %w", id, err)
	}
	return p, err
}

// StickySender returns the sender of the contact's most recent conversation
// (by last message) on channel, among unarchived senders of the given
// departments (nil = any), or nil when the contact has none. phone is E.164.
func (d *DB) StickySender(ctx context.Context, phone, channel string, departmentIDs []int64) (*StickyInfo, error) {
	var st StickyInfo
	err := d.Pool.QueryRow(ctx, `
		SELECT c.sender_id, c.last_message_at
		FROM contacts ct
		JOIN conversations c ON c.contact_id = ct.id
		JOIN senders s ON s.id = c.sender_id
		WHERE ct.phone = $1 AND ct.merged_into IS NULL AND c.channel = $2 AND s.archived_at IS NULL
		  AND ($3::bigint[] IS NULL OR s.department_id = ANY($3))
		ORDER BY c.last_message_at DESC, c.id DESC
		LIMIT 1`, phone, channel, departmentIDs).Scan(&st.SenderID, &st.LastAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("db: sticky sender: %w", err)
	}
	return &st, nil
}

// TouchSenderUsedTx records that a message goes out from the sender now.
func TouchSenderUsedTx(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE senders SET last_used_at = clock_timestamp() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("db: touch sender %d: %w", id, err)
	}
	return nil
}

// TouchSenderUsed records that a message goes out from the sender now.
func (d *DB) TouchSenderUsed(ctx context.Context, id int64) error {
	return TouchSenderUsedTx(ctx, d.Pool, id)
}

// PickLRU picks the sendable, unarchived sender of channel in the department
// that was used longest ago (never used first, ties by id) and stamps it used,
// atomically: concurrent picks of one pool take turns, so N sends over a pool
// of K senders use each about N/K times. The returned LastUsedAt is the time
// before this pick. ErrNotFound when no sender of the pool can send.
//
// A transaction-scoped advisory lock per (channel, department) serialises the
// picks of one pool. FOR UPDATE SKIP LOCKED alone is not enough: a statement
// whose snapshot predates another pick's commit still sees that sender's old
// last_used_at and, once the row lock is free, takes the same sender again.
// With the lock held first, the next statement's snapshot sees every earlier
// pick. SKIP LOCKED remains so a row held by another writer (a status sync)
// never blocks a send. The lock lasts one short UPDATE.
func (d *DB) PickLRU(ctx context.Context, channel string, departmentID int64) (PoolSender, error) {
	var p PoolSender
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('classline.senderpick.lru:' || $1 || ':' || $2::bigint::text, 0))`,
			channel, departmentID); err != nil {
			return err
		}
		var err error
		p, err = scanPoolSender(tx.QueryRow(ctx, `
			WITH pick AS (
				SELECT id, last_used_at AS prev FROM senders
				WHERE channel = $1 AND department_id = $2 AND status = ANY($3) AND archived_at IS NULL
				ORDER BY last_used_at ASC NULLS FIRST, id
				LIMIT 1
				FOR UPDATE SKIP LOCKED
			), used AS (
				UPDATE senders s SET last_used_at = clock_timestamp()
				FROM pick WHERE s.id = pick.id
				RETURNING s.*, pick.prev
			)
			SELECT `+poolColumns("s.prev")+`
			FROM used s LEFT JOIN departments d ON d.id = s.department_id`, channel, departmentID, SendableStatuses))
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("db: pick least recently used %s sender of department %d: %w", channel, departmentID, err)
	}
	return p, err
}
