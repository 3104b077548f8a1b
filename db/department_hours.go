package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A department's business hours (JSON, shape in internal/policy/hours.go),
// its out-of-hours reply, and the claims that keep that reply to one per
// conversation and closed period.

// DepartmentSettings is a department with its hours and out-of-hours reply.
type DepartmentSettings struct {
	DepartmentRow
	// BusinessHours is the stored JSON; "{}" means no hours set.
	BusinessHours   []byte
	OutOfHoursReply string
}

const departmentSettingsQuery = `SELECT id, name, slug, coalesce(response_goal_minutes, 0), archived_at, business_hours, out_of_hours_reply
	FROM departments WHERE id = $1`

func scanDepartmentSettings(row pgx.Row) (DepartmentSettings, error) {
	var s DepartmentSettings
	var minutes int
	err := row.Scan(&s.ID, &s.Name, &s.Slug, &minutes, &s.ArchivedAt, &s.BusinessHours, &s.OutOfHoursReply)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	s.ResponseGoal = time.Duration(minutes) * time.Minute
	return s, err
}

// DepartmentSettings loads a department's page: hours and reply included.
func (d *DB) DepartmentSettings(ctx context.Context, id int64) (DepartmentSettings, error) {
	s, err := scanDepartmentSettings(d.Pool.QueryRow(ctx, departmentSettingsQuery, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: department %d settings: %w", id, err)
	}
	return s, err
}

// DepartmentSettingsTx locks and loads a department's settings, so a change
// and its audit entry see the same "before".
func DepartmentSettingsTx(ctx context.Context, q Querier, id int64) (DepartmentSettings, error) {
	s, err := scanDepartmentSettings(q.QueryRow(ctx, departmentSettingsQuery+` FOR UPDATE`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: department %d settings: %w", id, err)
	}
	return s, err
}

// SetBusinessHoursTx stores a department's hours (JSON; "{}" clears them).
func SetBusinessHoursTx(ctx context.Context, q Querier, id int64, hours []byte) error {
	if _, err := q.Exec(ctx, `UPDATE departments SET business_hours = $2 WHERE id = $1`, id, hours); err != nil {
		return fmt.Errorf("db: business hours of department %d: %w", id, err)
	}
	return nil
}

// SetOutOfHoursReplyTx stores a department's out-of-hours reply ("" = none).
func SetOutOfHoursReplyTx(ctx context.Context, q Querier, id int64, text string) error {
	if _, err := q.Exec(ctx, `UPDATE departments SET out_of_hours_reply = $2 WHERE id = $1`, id, text); err != nil {
		return fmt.Errorf("db: out-of-hours reply of department %d: %w", id, err)
	}
	return nil
}

// ClaimOutOfHoursReply records that the conversation gets its out-of-hours
// reply for the closed period ending at periodEnds (nil: a department that
// never opens). It reports false when that period's reply was already
// claimed: a concurrent claim waits on the first one's row and then finds it.
func (d *DB) ClaimOutOfHoursReply(ctx context.Context, conversationID int64, periodEnds *time.Time) (bool, error) {
	tag, err := d.Pool.Exec(ctx, `INSERT INTO out_of_hours_replies (conversation_id, period_ends)
		VALUES ($1, coalesce($2, 'infinity'::timestamptz)) ON CONFLICT DO NOTHING`, conversationID, periodEnds)
	if err != nil {
		return false, fmt.Errorf("db: claim out-of-hours reply of conversation %d: %w", conversationID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetOutOfHoursReplyMessage links a claim to the message that answered it.
func (d *DB) SetOutOfHoursReplyMessage(ctx context.Context, conversationID int64, periodEnds *time.Time, messageID int64) error {
	if _, err := d.Pool.Exec(ctx, `UPDATE out_of_hours_replies SET message_id = $3
		WHERE conversation_id = $1 AND period_ends = coalesce($2, 'infinity'::timestamptz)`, conversationID, periodEnds, messageID); err != nil {
		return fmt.Errorf("db: out-of-hours reply of conversation %d: %w", conversationID, err)
	}
	return nil
}

// DepartmentSenders lists a department's unarchived senders (any channel),
// its default per channel marked, first set up first.
func (d *DB) DepartmentSenders(ctx context.Context, departmentID int64) ([]PoolSender, error) {
	return d.PickCandidates(ctx, "", []int64{departmentID})
}

// DefaultSendersTx is DefaultSenders inside a transaction, for an audit's before/after.
func DefaultSendersTx(ctx context.Context, q Querier, departmentID int64) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT channel, id FROM senders
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
