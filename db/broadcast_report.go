package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A broadcast's delivery report: error and skip groups, the timeline of
// status callbacks, the recipients table and the failures export. Every
// query starts from broadcast_recipients by broadcast_id (its state index)
// and reaches messages by primary key, so a report costs in proportion to
// the broadcast, never to the messages table.

// recipientStageSQL is where a recipient's message is, in the words the
// report uses. It agrees with BroadcastCounts (a row's own state, or for
// submitted ones the message's status) folded the same way as
// dashboard.Stage: Twilio's accepted/scheduled are queued, partially
// delivered is delivered. Needs r (broadcast_recipients) and m (messages,
// LEFT JOINed on r.message_id).
const recipientStageSQL = `CASE WHEN r.state = 'submitted' THEN
		CASE coalesce(m.status, 'queued') WHEN 'accepted' THEN 'queued' WHEN 'scheduled' THEN 'queued'
			WHEN 'partially_delivered' THEN 'delivered' ELSE coalesce(m.status, 'queued') END
		ELSE r.state END`

// failedRecipientSQL: the send failed, or the message failed or went undelivered.
const failedRecipientSQL = `(r.state = 'failed' OR (r.state = 'submitted' AND m.status IN ('failed', 'undelivered')))`

// ReportErrorGroup is one error code of a broadcast with how many recipients
// it hit. Kind is "send" (Twilio refused the request: the recipient's own
// error) or "delivery" (accepted, then failed or undelivered: the message's
// error from the status callback).
type ReportErrorGroup struct {
	Kind   string
	Code   int // 0: no code (no answer, or a failure of our own)
	Sample string
	N      int
}

// BroadcastErrorGroups groups a broadcast's failures by kind and code, the
// most frequent first.
func (d *DB) BroadcastErrorGroups(ctx context.Context, broadcastID int64) ([]ReportErrorGroup, error) {
	rows, err := d.Pool.Query(ctx, `SELECT CASE WHEN r.state = 'failed' THEN 'send' ELSE 'delivery' END,
			coalesce(CASE WHEN r.state = 'failed' THEN r.error_code ELSE m.error_code END, 0) AS code,
			max(CASE WHEN r.state = 'failed' THEN r.error_message ELSE m.error_message END),
			count(*)
		FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id AND r.state = 'submitted'
		WHERE r.broadcast_id = $1 AND r.state IN ('failed', 'submitted') AND `+failedRecipientSQL+`
		GROUP BY 1, 2 ORDER BY 4 DESC, 1 DESC, 2`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: error groups of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReportErrorGroup, error) {
		var g ReportErrorGroup
		err := row.Scan(&g.Kind, &g.Code, &g.Sample, &g.N)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: error groups of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// ReportSkipGroup is one skip reason (a stored code) and its count.
type ReportSkipGroup struct {
	Reason string
	N      int
}

// BroadcastSkipGroups groups a broadcast's skipped recipients by reason.
func (d *DB) BroadcastSkipGroups(ctx context.Context, broadcastID int64) ([]ReportSkipGroup, error) {
	rows, err := d.Pool.Query(ctx, `SELECT skip_reason, count(*) FROM broadcast_recipients
		WHERE broadcast_id = $1 AND state = 'skipped' GROUP BY 1 ORDER BY 2 DESC, 1`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: skip groups of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReportSkipGroup, error) {
		var g ReportSkipGroup
		err := row.Scan(&g.Reason, &g.N)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: skip groups of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// TimelinePoint counts the recipients whose message reached Status in the
// second starting At (UTC).
type TimelinePoint struct {
	Status string // sent, delivered, read, failed, undelivered
	At     time.Time
	N      int
}

// BroadcastTimeline is when each recipient's current message first reached
// each status, per second: from the status callbacks (message_events, kept
// even when not applied, so a "sent" that arrived after "delivered" still
// counts, and duplicates count once), plus failed sends, which Twilio never
// calls back about, at the time they failed.
func (d *DB) BroadcastTimeline(ctx context.Context, broadcastID int64) ([]TimelinePoint, error) {
	rows, err := d.Pool.Query(ctx, `WITH firsts AS (
			SELECT e.status, min(e.received_at) AS at
			FROM broadcast_recipients r
			JOIN messages m ON m.id = r.message_id
			JOIN message_events e ON e.message_sid = m.twilio_sid
			WHERE r.broadcast_id = $1 AND r.state = 'submitted'
			  AND e.status IN ('sent', 'delivered', 'read', 'failed', 'undelivered')
			GROUP BY m.id, e.status
			UNION ALL
			SELECT 'failed', coalesce(m.status_updated_at, r.updated_at)
			FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id
			WHERE r.broadcast_id = $1 AND r.state = 'failed')
		SELECT status, date_trunc('second', at), count(*) FROM firsts GROUP BY 1, 2 ORDER BY 2, 1`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: timeline of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TimelinePoint, error) {
		var p TimelinePoint
		err := row.Scan(&p.Status, &p.At, &p.N)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: timeline of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// ReportRecipient is one row of a broadcast's recipients table.
type ReportRecipient struct {
	ID           int64
	ContactID    *int64
	Name         string
	Phone        string
	Channel      string
	Fallback     bool
	Sender       string // the sender's display name or number
	Stage        string // recipientStageSQL
	SkipReason   string
	ErrorCode    int
	ErrorMessage string
	At           time.Time // the latest change: the message's status or the row's
}

const reportRecipientSelect = `SELECT r.id, r.contact_id, coalesce(nullif(c.name, ''), nullif(c.profile_name, ''), ''), r.phone, r.channel,
		r.fallback_of IS NOT NULL, coalesce(nullif(s.display_name, ''), s.address, ''), ` + recipientStageSQL + `, r.skip_reason,
		coalesce(CASE WHEN r.state = 'failed' THEN r.error_code ELSE m.error_code END, 0),
		CASE WHEN r.state = 'failed' THEN r.error_message WHEN r.state = 'submitted' THEN coalesce(m.error_message, '') ELSE '' END,
		greatest(r.updated_at, m.status_updated_at)
	FROM broadcast_recipients r
	LEFT JOIN messages m ON m.id = r.message_id
	LEFT JOIN contacts c ON c.id = r.contact_id
	LEFT JOIN senders s ON s.id = r.sender_id`

func scanReportRecipient(row pgx.CollectableRow) (ReportRecipient, error) {
	var r ReportRecipient
	err := row.Scan(&r.ID, &r.ContactID, &r.Name, &r.Phone, &r.Channel, &r.Fallback, &r.Sender, &r.Stage, &r.SkipReason,
		&r.ErrorCode, &r.ErrorMessage, &r.At)
	return r, err
}

// RecipientPage asks for one page of a broadcast's recipients: those at
// Stage (recipientStageSQL; "" = all), with an id above After, at most Limit, in id order (keyset paging: each
// page is an index range scan of broadcast_recipients_state_idx or the
// primary key, however deep).
type RecipientPage struct {
	Stage string
	After int64
	Limit int
}

// BroadcastReportRecipients lists one page of a broadcast's recipients.
func (d *DB) BroadcastReportRecipients(ctx context.Context, broadcastID int64, p RecipientPage) ([]ReportRecipient, error) {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	// The row states a stage can come from let the planner use the state
	// index before looking at messages.
	states := []string{"pending", "sending", "submitted", "failed", "skipped", "canceled"}
	switch p.Stage {
	case "pending", "skipped", "canceled":
		states = []string{p.Stage}
	case "sending":
		states = []string{"sending", "submitted"}
	case "failed":
		states = []string{"failed", "submitted"}
	case "queued", "sent", "delivered", "read", "undelivered":
		states = []string{"submitted"}
	}
	rows, err := d.Pool.Query(ctx, reportRecipientSelect+`
		WHERE r.broadcast_id = $1 AND r.state = ANY($2) AND r.id > $3 AND ($4 = '' OR `+recipientStageSQL+` = $4)
		ORDER BY r.id LIMIT $5`, broadcastID, states, p.After, p.Stage, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("db: recipients of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, scanReportRecipient)
	if err != nil {
		return nil, fmt.Errorf("db: recipients of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// EachBroadcastFailure calls fn for every recipient whose send failed or
// whose message failed or went undelivered, in id order, streaming rows so
// an export of thousands holds one at a time.
func (d *DB) EachBroadcastFailure(ctx context.Context, broadcastID int64, fn func(ReportRecipient) error) error {
	rows, err := d.Pool.Query(ctx, reportRecipientSelect+`
		WHERE r.broadcast_id = $1 AND r.state IN ('failed', 'submitted') AND `+failedRecipientSQL+`
		ORDER BY r.id`, broadcastID)
	if err != nil {
		return fmt.Errorf("db: failures of broadcast %d: %w", broadcastID, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReportRecipient(rows)
		if err != nil {
			return fmt.Errorf("db: failures of broadcast %d: %w", broadcastID, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: failures of broadcast %d: %w", broadcastID, err)
	}
	return nil
}

// ContactBroadcast is one broadcast a contact was a recipient of (a
// fallback SMS is its own row).
type ContactBroadcast struct {
	BroadcastID  int64
	Name         string
	Status       string // the broadcast's
	DepartmentID *int64
	At           time.Time // submitted, else the last change of the row
	Channel      string
	Fallback     bool
	Stage        string
	SkipReason   string
	ErrorCode    int
}

// ContactBroadcasts lists the broadcasts a contact received (or was
// skipped or failed in), newest first, limited to the departments in scope
// (nil: all). The contact index on broadcast_recipients finds the rows; a
// contact gets few broadcasts, so the sort is small.
func (d *DB) ContactBroadcasts(ctx context.Context, contactID int64, scope []int64, limit int) ([]ContactBroadcast, error) {
	rows, err := d.Pool.Query(ctx, `SELECT b.id, b.name, b.status, b.department_id,
			coalesce(r.submitted_at, r.updated_at), r.channel, r.fallback_of IS NOT NULL, `+recipientStageSQL+`, r.skip_reason,
			coalesce(CASE WHEN r.state = 'failed' THEN r.error_code ELSE m.error_code END, 0)
		FROM broadcast_recipients r
		JOIN broadcasts b ON b.id = r.broadcast_id
		LEFT JOIN messages m ON m.id = r.message_id
		WHERE r.contact_id = $1 AND ($2::bigint[] IS NULL OR b.department_id = ANY($2))
		ORDER BY coalesce(r.submitted_at, r.updated_at) DESC, r.id DESC LIMIT $3`, contactID, scope, limit)
	if err != nil {
		return nil, fmt.Errorf("db: broadcasts of contact %d: %w", contactID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ContactBroadcast, error) {
		var c ContactBroadcast
		err := row.Scan(&c.BroadcastID, &c.Name, &c.Status, &c.DepartmentID, &c.At, &c.Channel, &c.Fallback, &c.Stage, &c.SkipReason, &c.ErrorCode)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: broadcasts of contact %d: %w", contactID, err)
	}
	return out, nil
}
