package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The overall dashboard's queries. They read the messages of a period (7 or
// 30 days) in one pass each, grouped as small as the page needs, and leave
// the sums and rates to internal/dashboard.
//
// Planner note: messages has no index on created_at. Every query filters on
// status_updated_at as well, which is indexed (messages_status_updated_idx)
// and never earlier than created_at (both default to now() at insert; a
// status change only moves status_updated_at forward), so the extra
// predicate selects a superset of the period's rows through the index and
// the created_at predicate trims it. Messages whose status changed long
// after they were created are read and dropped: a few callbacks' worth.

// OverviewRow counts the messages of one department, sender, direction and
// school-zone day; failed ones are split further by error code.
type OverviewRow struct {
	DepartmentID int64 // 0: a sender without department
	SenderID     int64
	Direction    string // inbound, outbound
	Channel      string
	Day          time.Time // the date in the school's zone, at 00:00 UTC
	ErrorCode    *int      // set on rows of failed or undelivered messages (0: no code)
	ErrorSample  string
	Total        int
	Delivered    int // delivered or read
	Read         int
	Failed       int // failed or undelivered
}

// OverviewMessages groups the messages created since since (notes left
// out) in the departments of scope (nil: all, including conversations
// without a department).
func (d *DB) OverviewMessages(ctx context.Context, since time.Time, tz *time.Location, scope []int64) ([]OverviewRow, error) {
	rows, err := d.Pool.Query(ctx, `SELECT coalesce(c.department_id, 0), c.sender_id, m.direction, m.channel,
			(m.created_at AT TIME ZONE $2)::date,
			CASE WHEN m.status IN ('failed', 'undelivered') THEN coalesce(m.error_code, 0) END,
			coalesce(max(m.error_message) FILTER (WHERE m.status IN ('failed', 'undelivered')), ''),
			count(*),
			count(*) FILTER (WHERE m.status IN ('delivered', 'read', 'partially_delivered')),
			count(*) FILTER (WHERE m.status = 'read'),
			count(*) FILTER (WHERE m.status IN ('failed', 'undelivered'))
		FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.status_updated_at >= $1 AND m.created_at >= $1 AND NOT m.is_note
		  AND ($3::bigint[] IS NULL OR c.department_id = ANY($3))
		GROUP BY 1, 2, 3, 4, 5, 6`, since, zoneName(tz), scope)
	if err != nil {
		return nil, fmt.Errorf("db: dashboard messages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OverviewRow, error) {
		var r OverviewRow
		err := row.Scan(&r.DepartmentID, &r.SenderID, &r.Direction, &r.Channel, &r.Day, &r.ErrorCode, &r.ErrorSample,
			&r.Total, &r.Delivered, &r.Read, &r.Failed)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: dashboard messages: %w", err)
	}
	return out, nil
}

// zoneName is the zone's IANA name for PostgreSQL; Go's "Local" means
// nothing there, so it reads as UTC.
func zoneName(tz *time.Location) string {
	if tz == nil || tz.String() == "Local" || tz.String() == "" {
		return "UTC"
	}
	return tz.String()
}

// ResponseTimes is how fast a department's staff answered in the inbox.
type ResponseTimes struct {
	DepartmentID int64
	Answered     int // waits that ended with a staff reply
	Unanswered   int // contacts' messages with no staff reply yet (in the period)
	Median, P90  time.Duration
}

// OverviewResponseTimes measures, per department, each wait from a
// contact's message to the next staff reply in the same conversation. A run
// of messages from the contact is one wait, from its first message; replies
// by Classline itself (out-of-hours, keywords), broadcasts and notes do not
// end a wait. Both ends must fall in the period.
//
// One pass: the period's inbound messages and staff replies, numbered per
// conversation by how many staff replies came before each (a window
// count), so a reply and the contact's messages before it share a number.
func (d *DB) OverviewResponseTimes(ctx context.Context, since time.Time, scope []int64) ([]ResponseTimes, error) {
	rows, err := d.Pool.Query(ctx, `WITH t AS (
			SELECT m.conversation_id, coalesce(c.department_id, 0) AS dep, m.created_at, m.id, m.direction = 'inbound' AS inbound
			FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.status_updated_at >= $1 AND m.created_at >= $1 AND NOT m.is_note
			  AND (m.direction = 'inbound' OR (m.sent_by IS NOT NULL AND NOT m.automatic AND m.broadcast_id IS NULL))
			  AND ($2::bigint[] IS NULL OR c.department_id = ANY($2))
		), numbered AS (
			SELECT dep, conversation_id, created_at, inbound,
			       count(*) FILTER (WHERE NOT inbound) OVER (PARTITION BY conversation_id ORDER BY created_at, id
			                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS answered_before
			FROM t
		), waits AS (
			SELECT dep, min(created_at) FILTER (WHERE inbound) AS asked, min(created_at) FILTER (WHERE NOT inbound) AS answered
			FROM numbered GROUP BY dep, conversation_id, answered_before
		)
		SELECT dep,
		       count(*) FILTER (WHERE answered IS NOT NULL),
		       count(*) FILTER (WHERE answered IS NULL),
		       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM answered - asked)), 0),
		       coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM answered - asked)), 0)
		FROM waits WHERE asked IS NOT NULL GROUP BY dep`, since, scope)
	if err != nil {
		return nil, fmt.Errorf("db: dashboard response times: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ResponseTimes, error) {
		var r ResponseTimes
		var med, p90 float64
		err := row.Scan(&r.DepartmentID, &r.Answered, &r.Unanswered, &med, &p90)
		r.Median, r.P90 = seconds(med), seconds(p90)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: dashboard response times: %w", err)
	}
	return out, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// PeriodBroadcast is a broadcast started in the period with its outcome,
// derived from its recipients like BroadcastCounts. The counts are of first
// sends; SMS fallbacks are counted apart.
type PeriodBroadcast struct {
	ID                int64
	Name              string
	Status            string
	DepartmentID      int64
	StartedAt         time.Time
	Recipients        int
	Delivered         int // delivered or read
	Read              int
	Failed            int // send failures, failed and undelivered
	Skipped           int
	Fallbacks         int
	FallbackDelivered int
}

// OverviewBroadcasts lists the broadcasts started since since in scope,
// newest first, at most limit.
func (d *DB) OverviewBroadcasts(ctx context.Context, since time.Time, scope []int64, limit int) ([]PeriodBroadcast, error) {
	rows, err := d.Pool.Query(ctx, `SELECT b.id, b.name, b.status, coalesce(b.department_id, 0), b.started_at,
			count(r.id) FILTER (WHERE r.fallback_of IS NULL),
			count(*) FILTER (WHERE r.fallback_of IS NULL AND r.state = 'submitted' AND m.status IN ('delivered', 'read', 'partially_delivered')),
			count(*) FILTER (WHERE r.fallback_of IS NULL AND r.state = 'submitted' AND m.status = 'read'),
			count(*) FILTER (WHERE r.fallback_of IS NULL AND (r.state = 'failed' OR (r.state = 'submitted' AND m.status IN ('failed', 'undelivered')))),
			count(*) FILTER (WHERE r.fallback_of IS NULL AND r.state = 'skipped'),
			count(*) FILTER (WHERE r.fallback_of IS NOT NULL),
			count(*) FILTER (WHERE r.fallback_of IS NOT NULL AND r.state = 'submitted' AND m.status IN ('delivered', 'read', 'partially_delivered'))
		FROM (SELECT * FROM broadcasts WHERE started_at >= $1 AND ($2::bigint[] IS NULL OR department_id = ANY($2))
		      ORDER BY started_at DESC, id DESC LIMIT $3) b
		LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
		LEFT JOIN messages m ON m.id = r.message_id AND r.state = 'submitted'
		GROUP BY b.id, b.name, b.status, b.department_id, b.started_at
		ORDER BY b.started_at DESC, b.id DESC`, since, scope, limit)
	if err != nil {
		return nil, fmt.Errorf("db: dashboard broadcasts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PeriodBroadcast, error) {
		var b PeriodBroadcast
		err := row.Scan(&b.ID, &b.Name, &b.Status, &b.DepartmentID, &b.StartedAt, &b.Recipients, &b.Delivered, &b.Read, &b.Failed, &b.Skipped,
			&b.Fallbacks, &b.FallbackDelivered)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: dashboard broadcasts: %w", err)
	}
	return out, nil
}

// DashboardSender is a sender as the dashboard lists it.
type DashboardSender struct {
	ID            int64
	Channel       string
	Address       string
	DisplayName   string
	DepartmentID  int64
	QualityRating string // WhatsApp's: HIGH, MEDIUM, LOW, or "" (unknown, SMS)
	Status        string
	Archived      bool
}

// DashboardSenders lists the active senders of scope (nil: all) and any
// other sender in also (archived ones that sent in the period).
func (d *DB) DashboardSenders(ctx context.Context, scope []int64, also []int64) ([]DashboardSender, error) {
	rows, err := d.Pool.Query(ctx, `SELECT s.id, s.channel, s.address, s.display_name, coalesce(s.department_id, 0), s.quality_rating,
			s.status, s.archived_at IS NOT NULL
		FROM senders s
		WHERE (s.archived_at IS NULL AND ($1::bigint[] IS NULL OR s.department_id = ANY($1))) OR s.id = ANY($2)
		ORDER BY s.channel DESC, s.display_name, s.id`, scope, also)
	if err != nil {
		return nil, fmt.Errorf("db: dashboard senders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DashboardSender, error) {
		var s DashboardSender
		err := row.Scan(&s.ID, &s.Channel, &s.Address, &s.DisplayName, &s.DepartmentID, &s.QualityRating, &s.Status, &s.Archived)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: dashboard senders: %w", err)
	}
	return out, nil
}

// DashboardDepartment is a department's id and name.
type DashboardDepartment struct {
	ID       int64
	Name     string
	Archived bool
}

// DashboardDepartments lists the departments of scope (nil: all), by name.
func (d *DB) DashboardDepartments(ctx context.Context, scope []int64) ([]DashboardDepartment, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, name, archived_at IS NOT NULL FROM departments
		WHERE $1::bigint[] IS NULL OR id = ANY($1) ORDER BY name, id`, scope)
	if err != nil {
		return nil, fmt.Errorf("db: dashboard departments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DashboardDepartment, error) {
		var d DashboardDepartment
		err := row.Scan(&d.ID, &d.Name, &d.Archived)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: dashboard departments: %w", err)
	}
	return out, nil
}
