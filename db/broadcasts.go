package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Broadcast is one broadcast. Audience, Content and Sender are JSON the
// broadcast package defines (internal/broadcast specs).
type Broadcast struct {
	ID           int64
	Name         string
	Status       string
	DepartmentID *int64
	CreatedBy    *int64
	ApprovedBy   *int64
	Audience     []byte
	Content      []byte
	Sender       []byte
	Purpose      string
	Urgent       bool
	ScheduledAt  *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	HeldUntil    *time.Time
	Feedback     string
	PausedReason string
	WizardStep   int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const broadcastColumns = `id, name, status, department_id, created_by, approved_by, audience, content, sender_strategy,
	purpose, urgent, scheduled_at, started_at, finished_at, held_until, feedback, paused_reason, wizard_step, created_at, updated_at`

func scanBroadcast(row pgx.Row) (Broadcast, error) {
	var b Broadcast
	err := row.Scan(&b.ID, &b.Name, &b.Status, &b.DepartmentID, &b.CreatedBy, &b.ApprovedBy, &b.Audience, &b.Content, &b.Sender,
		&b.Purpose, &b.Urgent, &b.ScheduledAt, &b.StartedAt, &b.FinishedAt, &b.HeldUntil, &b.Feedback, &b.PausedReason, &b.WizardStep,
		&b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// NewBroadcast is a broadcast as first saved.
type NewBroadcast struct {
	Name                      string
	Status                    string // "" = draft
	DepartmentID              *int64
	CreatedBy                 int64
	Audience, Content, Sender []byte
	Purpose                   string
	Urgent                    bool
	ScheduledAt               *time.Time
}

// InsertBroadcastTx saves a new broadcast.
func InsertBroadcastTx(ctx context.Context, q Querier, n NewBroadcast) (int64, error) {
	if n.Status == "" {
		n.Status = "draft"
	}
	if n.Purpose == "" {
		n.Purpose = "transactional"
	}
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO broadcasts (name, status, department_id, created_by, audience, content, sender_strategy, purpose, urgent, scheduled_at)
		VALUES ($1, $2, $3, nullif($4, 0), coalesce($5::jsonb, '{}'), coalesce($6::jsonb, '{}'), coalesce($7::jsonb, '{}'), $8, $9, $10) RETURNING id`,
		n.Name, n.Status, n.DepartmentID, n.CreatedBy, rawJSON(n.Audience), rawJSON(n.Content), rawJSON(n.Sender),
		n.Purpose, n.Urgent, n.ScheduledAt).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: insert broadcast: %w", err)
	}
	return id, nil
}

func rawJSON(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// BroadcastByID loads a broadcast.
func (d *DB) BroadcastByID(ctx context.Context, id int64) (Broadcast, error) {
	return BroadcastByIDTx(ctx, d.Pool, id)
}

// BroadcastByIDTx loads a broadcast inside a transaction.
func BroadcastByIDTx(ctx context.Context, q Querier, id int64) (Broadcast, error) {
	b, err := scanBroadcast(q.QueryRow(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return b, fmt.Errorf("db: broadcast %d: %w", id, err)
	}
	return b, err
}

// LockBroadcastTx loads a broadcast and locks its row until the transaction ends.
func LockBroadcastTx(ctx context.Context, q Querier, id int64) (Broadcast, error) {
	b, err := scanBroadcast(q.QueryRow(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE id = $1 FOR UPDATE`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return b, fmt.Errorf("db: lock broadcast %d: %w", id, err)
	}
	return b, err
}

// BroadcastStatusChange moves a broadcast from one of from to to.
type BroadcastStatusChange struct {
	From         []string
	To           string
	PausedReason *string
	HeldUntil    *time.Time // set (or cleared with ClearHeld)
	ClearHeld    bool
	Started      bool // stamp started_at if unset
	Finished     bool // stamp finished_at
	ApprovedBy   int64
	Feedback     *string
	CanceledBy   int64
}

// SetBroadcastStatusTx applies c and reports whether the broadcast was in one
// of c.From (false: nothing changed).
func SetBroadcastStatusTx(ctx context.Context, q Querier, id int64, c BroadcastStatusChange) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE broadcasts SET status = $3,
		paused_reason = coalesce($4, paused_reason),
		held_until = CASE WHEN $6 THEN NULL ELSE coalesce($5, held_until) END,
		started_at = CASE WHEN $7 THEN coalesce(started_at, now()) ELSE started_at END,
		finished_at = CASE WHEN $8 THEN now() ELSE finished_at END,
		approved_by = coalesce(nullif($9, 0), approved_by),
		approved_at = CASE WHEN $9 <> 0 THEN now() ELSE approved_at END,
		feedback = coalesce($10, feedback),
		canceled_by = coalesce(nullif($11, 0), canceled_by),
		updated_at = now()
		WHERE id = $1 AND status = ANY($2)`,
		id, c.From, c.To, c.PausedReason, c.HeldUntil, c.ClearHeld, c.Started, c.Finished, c.ApprovedBy, c.Feedback, c.CanceledBy)
	if err != nil {
		return false, fmt.Errorf("db: broadcast %d to %s: %w", id, c.To, err)
	}
	return tag.RowsAffected() == 1, nil
}

// NewRecipient is one row of a broadcast's audience, as prepared.
type NewRecipient struct {
	ContactID  *int64
	Phone      string
	Channel    string
	State      string // "pending" or "skipped"
	SkipReason string
	SenderID   *int64
	Body       string
	TemplateID int64
	Variables  map[string]string
	Segments   int
	FallbackOf *int64
}

// InsertRecipientsTx writes prepared recipients in one COPY and returns how
// many were written.
func InsertRecipientsTx(ctx context.Context, tx pgx.Tx, broadcastID int64, rs []NewRecipient) (int64, error) {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		var vars []byte
		if r.Variables != nil {
			b, err := json.Marshal(r.Variables)
			if err != nil {
				return 0, err
			}
			vars = b
		}
		state := r.State
		if state == "" {
			state = "pending"
		}
		var tpl *int64
		if r.TemplateID != 0 {
			tpl = &r.TemplateID
		}
		rows[i] = []any{broadcastID, r.ContactID, r.Phone, r.Channel, state, r.SkipReason, r.SenderID, r.Body, tpl, vars, r.Segments, r.FallbackOf}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"broadcast_recipients"},
		[]string{"broadcast_id", "contact_id", "phone", "channel", "state", "skip_reason", "sender_id", "body", "template_id", "variables", "segments", "fallback_of"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("db: insert recipients of broadcast %d: %w", broadcastID, err)
	}
	return n, nil
}

// InsertFallbackRecipientTx adds the SMS fallback of a WhatsApp recipient,
// once: false when it already exists.
func InsertFallbackRecipientTx(ctx context.Context, q Querier, broadcastID, of int64, r NewRecipient) (int64, bool, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO broadcast_recipients (broadcast_id, contact_id, phone, channel, state, sender_id, body, segments, fallback_of)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8)
		ON CONFLICT (broadcast_id, phone, channel) WHERE state <> 'skipped' DO NOTHING RETURNING id`,
		broadcastID, r.ContactID, r.Phone, r.Channel, r.SenderID, r.Body, r.Segments, of).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("db: insert fallback of %d: %w", of, err)
	}
	return id, true, nil
}

// PendingRecipientIDs lists the recipients still to send, in order.
func PendingRecipientIDsTx(ctx context.Context, q Querier, broadcastID int64) ([]int64, error) {
	return collectIDs(q.Query(ctx, `SELECT id FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'pending' ORDER BY id`, broadcastID))
}

func collectIDs(rows pgx.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, fmt.Errorf("db: ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("db: ids: %w", err)
	}
	return ids, nil
}

// Recipient is one recipient row.
type Recipient struct {
	ID           int64
	BroadcastID  int64
	ContactID    *int64
	Phone        string
	Channel      string
	FallbackOf   *int64
	State        string
	SkipReason   string
	SenderID     *int64
	MessageID    *int64
	MessageSID   string
	Body         string
	TemplateID   *int64
	Variables    map[string]string
	Segments     int
	Attempts     int
	SendingSince *time.Time
	// ClaimedAt: when the current (or last) send began; unlike the lease
	// in SendingSince it is never moved by a rescuer.
	ClaimedAt    *time.Time
	ErrorCode    *int
	ErrorMessage string
	SubmittedAt  *time.Time
	UpdatedAt    time.Time
}

const recipientColumns = `r.id, r.broadcast_id, r.contact_id, r.phone, r.channel, r.fallback_of, r.state, r.skip_reason, r.sender_id,
	r.message_id, coalesce(r.message_sid, ''), r.body, r.template_id, r.variables, r.segments, r.attempts, r.sending_since, r.error_code, r.error_message,
	r.submitted_at, r.updated_at, r.claimed_at`

func scanRecipient(row pgx.Row) (Recipient, error) {
	var r Recipient
	var vars []byte
	err := row.Scan(&r.ID, &r.BroadcastID, &r.ContactID, &r.Phone, &r.Channel, &r.FallbackOf, &r.State, &r.SkipReason, &r.SenderID,
		&r.MessageID, &r.MessageSID, &r.Body, &r.TemplateID, &vars, &r.Segments, &r.Attempts, &r.SendingSince, &r.ErrorCode, &r.ErrorMessage,
		&r.SubmittedAt, &r.UpdatedAt, &r.ClaimedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err == nil && len(vars) > 0 {
		err = json.Unmarshal(vars, &r.Variables)
	}
	return r, err
}

// LockRecipientTx loads a recipient and locks it, with its broadcast's status.
func LockRecipientTx(ctx context.Context, q Querier, id int64) (Recipient, string, error) {
	var status string
	row := q.QueryRow(ctx, `SELECT `+recipientColumns+`, b.status FROM broadcast_recipients r JOIN broadcasts b ON b.id = r.broadcast_id
		WHERE r.id = $1 FOR UPDATE OF r`, id)
	var r Recipient
	var vars []byte
	err := row.Scan(&r.ID, &r.BroadcastID, &r.ContactID, &r.Phone, &r.Channel, &r.FallbackOf, &r.State, &r.SkipReason, &r.SenderID,
		&r.MessageID, &r.MessageSID, &r.Body, &r.TemplateID, &vars, &r.Segments, &r.Attempts, &r.SendingSince, &r.ErrorCode, &r.ErrorMessage,
		&r.SubmittedAt, &r.UpdatedAt, &r.ClaimedAt, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, "", ErrNotFound
	}
	if err != nil {
		return r, "", fmt.Errorf("db: lock recipient %d: %w", id, err)
	}
	if len(vars) > 0 {
		if err := json.Unmarshal(vars, &r.Variables); err != nil {
			return r, "", err
		}
	}
	return r, status, nil
}

// RecipientByID loads a recipient.
func (d *DB) RecipientByID(ctx context.Context, id int64) (Recipient, error) {
	r, err := scanRecipient(d.Pool.QueryRow(ctx, `SELECT `+recipientColumns+` FROM broadcast_recipients r WHERE r.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("db: recipient %d: %w", id, err)
	}
	return r, err
}

// MarkSendingTx records that a send to the recipient is about to start.
// Only a pending recipient can be claimed; the caller holds its row lock.
func MarkSendingTx(ctx context.Context, q Querier, id, messageID int64) error {
	tag, err := q.Exec(ctx, `UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1, sending_since = now(), claimed_at = now(),
		message_id = $2, next_attempt_at = NULL, updated_at = now() WHERE id = $1 AND state = 'pending'`, id, messageID)
	if err != nil {
		return fmt.Errorf("db: mark recipient %d sending: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: mark recipient %d sending: %w", id, ErrNotFound)
	}
	return nil
}

// RecipientOutcome is how a send to a recipient ended.
type RecipientOutcome struct {
	State        string // submitted, failed, pending (a retry), skipped, canceled
	MessageSID   string
	Segments     int
	ErrorCode    int
	ErrorMessage string
	NextAttempt  *time.Time
	SkipReason   string
}

// FinishRecipientTx moves a recipient to its outcome if it is still in one
// of the states from (the state machine's guard, internal/broadcast/states.go).
// It reports false, changing nothing, when another worker moved it first.
func FinishRecipientTx(ctx context.Context, q Querier, id int64, o RecipientOutcome, from []string) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE broadcast_recipients SET state = $2, message_sid = nullif($3, ''),
		segments = CASE WHEN $4 > 0 THEN $4 ELSE segments END,
		error_code = nullif($5, 0), error_message = $6, next_attempt_at = $7,
		skip_reason = CASE WHEN $8 <> '' THEN $8 ELSE skip_reason END,
		sending_since = CASE WHEN $2 = 'sending' THEN sending_since ELSE NULL END,
		submitted_at = CASE WHEN $2 = 'submitted' THEN now() ELSE submitted_at END,
		updated_at = now() WHERE id = $1 AND state = ANY($9)`,
		id, o.State, o.MessageSID, o.Segments, o.ErrorCode, o.ErrorMessage, o.NextAttempt, o.SkipReason, from)
	if err != nil {
		return false, fmt.Errorf("db: finish recipient %d as %s: %w", id, o.State, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Attempt is one call to Twilio for a recipient (or a reconciliation).
type Attempt struct {
	BroadcastID, RecipientID int64
	Attempt                  int
	Outcome                  string
	HTTPStatus, ErrorCode    int
	ErrorMessage             string
	StartedAt                time.Time
	Instance                 string
}

// InsertAttemptTx records an attempt.
func InsertAttemptTx(ctx context.Context, q Querier, a Attempt) error {
	_, err := q.Exec(ctx, `INSERT INTO broadcast_attempts (broadcast_id, recipient_id, attempt, outcome, http_status, error_code, error_message, started_at, instance)
		VALUES ($1, $2, $3, $4, nullif($5, 0), nullif($6, 0), $7, $8, $9)`,
		a.BroadcastID, a.RecipientID, a.Attempt, a.Outcome, a.HTTPStatus, a.ErrorCode, a.ErrorMessage, a.StartedAt, a.Instance)
	if err != nil {
		return fmt.Errorf("db: record attempt of recipient %d: %w", a.RecipientID, err)
	}
	return nil
}

// RecentSendFailures counts, among the broadcast's last n finished sends
// (submitted or failed for good), how many failed.
func RecentSendFailuresTx(ctx context.Context, q Querier, broadcastID int64, n int) (failed, total int, err error) {
	err = q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE outcome = 'permanent_error'), count(*) FROM (
		SELECT outcome FROM broadcast_attempts WHERE broadcast_id = $1 AND outcome IN ('submitted', 'permanent_error', 'found_at_twilio')
		ORDER BY id DESC LIMIT $2) last`, broadcastID, n).Scan(&failed, &total)
	if err != nil {
		return 0, 0, fmt.Errorf("db: recent failures of broadcast %d: %w", broadcastID, err)
	}
	return failed, total, nil
}

// StaleSendingIDs lists recipients left "sending" longer than lease: their
// worker died mid-call (or is about to time out).
func (d *DB) StaleSendingIDs(ctx context.Context, lease time.Duration) ([]int64, error) {
	return collectIDs(d.Pool.Query(ctx, `SELECT r.id FROM broadcast_recipients r JOIN broadcasts b ON b.id = r.broadcast_id
		WHERE r.state = 'sending' AND r.sending_since < now() - $1::interval ORDER BY r.id`, lease.String()))
}

// CancelPendingTx marks every recipient not yet sent as canceled.
func CancelPendingTx(ctx context.Context, q Querier, broadcastID int64) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE broadcast_recipients SET state = 'canceled', updated_at = now()
		WHERE broadcast_id = $1 AND state = 'pending'`, broadcastID)
	if err != nil {
		return 0, fmt.Errorf("db: cancel recipients of broadcast %d: %w", broadcastID, err)
	}
	return tag.RowsAffected(), nil
}

// BroadcastCount is the number of recipients in one state: a row's own state,
// or for submitted ones the message's delivery status (queued, sent,
// delivered, read, failed, undelivered...), from the status callbacks.
type BroadcastCount struct {
	Status   string
	Fallback bool
	Channel  string
	N        int
	Segments int
}

// BroadcastCountsTx derives a broadcast's counters from its recipients.
func BroadcastCountsTx(ctx context.Context, q Querier, broadcastID int64) ([]BroadcastCount, error) {
	rows, err := q.Query(ctx, `SELECT CASE WHEN r.state = 'submitted' THEN coalesce(m.status, 'queued') ELSE r.state END,
			r.fallback_of IS NOT NULL, r.channel, count(*), coalesce(sum(r.segments), 0)
		FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id AND r.state = 'submitted'
		WHERE r.broadcast_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: counts of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BroadcastCount, error) {
		var c BroadcastCount
		err := row.Scan(&c.Status, &c.Fallback, &c.Channel, &c.N, &c.Segments)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: counts of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// BroadcastCounts is BroadcastCountsTx on the pool.
func (d *DB) BroadcastCounts(ctx context.Context, broadcastID int64) ([]BroadcastCount, error) {
	return BroadcastCountsTx(ctx, d.Pool, broadcastID)
}

// UnfinishedRecipientsTx counts recipients still pending or sending.
func UnfinishedRecipientsTx(ctx context.Context, q Querier, broadcastID int64) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND state IN ('pending', 'sending')`, broadcastID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: unfinished recipients of broadcast %d: %w", broadcastID, err)
	}
	return n, nil
}

// BroadcastConversationTx finds or opens the conversation a broadcast message
// goes to: the one on the contact's main number (broadcasts go to main numbers). A conversation the broadcast opens starts closed, so 3,000 sends
// do not fill the inbox; a reply reopens it. Either way it is marked with the
// broadcast, so the inbox can say what a reply answers.
func BroadcastConversationTx(ctx context.Context, q Querier, contactID int64, sender Sender, broadcastID int64) (int64, error) {
	// One statement (it runs once per recipient): create the conversation
	// closed, or mark the existing one with the broadcast.
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO conversations (contact_id, sender_id, department_id, channel, status, last_broadcast_id)
		VALUES ($1, $2, $3, $4, 'closed', $5)
		ON CONFLICT (contact_id, sender_id, coalesce(phone, '')) DO UPDATE SET last_broadcast_id = EXCLUDED.last_broadcast_id
		RETURNING id`,
		contactID, sender.ID, sender.DepartmentID, sender.Channel, broadcastID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: broadcast conversation of contact %d: %w", contactID, err)
	}
	return id, nil
}

// doneStatuses end the wait for a WhatsApp message before an urgent fallback.
var fallbackDone = map[bool][]string{false: {"delivered", "read"}, true: {"read"}}

// FallbackCandidatesTx lists WhatsApp recipients of an urgent broadcast that
// need their SMS fallback now: failed, or not delivered (or not read) within
// after, and without a fallback or any SMS row for the number yet.
func FallbackCandidatesTx(ctx context.Context, q Querier, broadcastID int64, after time.Duration, unlessRead bool) ([]Recipient, error) {
	rows, err := q.Query(ctx, `SELECT `+recipientColumns+` FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id
		WHERE r.broadcast_id = $1 AND r.channel = 'whatsapp' AND r.fallback_of IS NULL
		  AND NOT EXISTS (SELECT 1 FROM broadcast_recipients s WHERE s.broadcast_id = r.broadcast_id AND s.phone = r.phone
		                  AND s.channel = 'sms' AND s.state <> 'skipped')
		  AND (r.state = 'failed'
		       OR (r.state = 'submitted' AND (m.status IN ('failed', 'undelivered')
		           OR (r.submitted_at < now() - $2::interval AND NOT m.status = ANY($3)))))
		ORDER BY r.id LIMIT 1000`, broadcastID, after.String(), fallbackDone[unlessRead])
	if err != nil {
		return nil, fmt.Errorf("db: fallback candidates of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Recipient, error) { return scanRecipient(row) })
	if err != nil {
		return nil, fmt.Errorf("db: fallback candidates of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// AwaitingFallbackTx counts WhatsApp recipients whose fallback may still be
// needed: submitted, not yet delivered (or read), within the wait.
func AwaitingFallbackTx(ctx context.Context, q Querier, broadcastID int64, after time.Duration, unlessRead bool) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM broadcast_recipients r JOIN messages m ON m.id = r.message_id
		WHERE r.broadcast_id = $1 AND r.channel = 'whatsapp' AND r.fallback_of IS NULL AND r.state = 'submitted'
		  AND NOT m.status = ANY($3) AND m.status NOT IN ('failed', 'undelivered')
		  AND r.submitted_at >= now() - $2::interval`, broadcastID, after.String(), fallbackDone[unlessRead]).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: awaiting fallback in broadcast %d: %w", broadcastID, err)
	}
	return n, nil
}

// BroadcastIDsWithStatus lists broadcasts in a status, oldest first.
func (d *DB) BroadcastIDsWithStatus(ctx context.Context, status string) ([]int64, error) {
	return collectIDs(d.Pool.Query(ctx, `SELECT id FROM broadcasts WHERE status = $1 ORDER BY id`, status))
}

// TopRecentErrorTx is the most common error code among the broadcast's last n attempts that failed for good.
func TopRecentErrorTx(ctx context.Context, q Querier, broadcastID int64, n int) (code int, message string, err error) {
	err = q.QueryRow(ctx, `SELECT coalesce(error_code, 0), max(error_message) FROM (
		SELECT error_code, error_message FROM broadcast_attempts WHERE broadcast_id = $1 AND outcome = 'permanent_error'
		ORDER BY id DESC LIMIT $2) f GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, broadcastID, n).Scan(&code, &message)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("db: top error of broadcast %d: %w", broadcastID, err)
	}
	return code, message, nil
}

// HeartbeatInstance marks this process alive and returns how many are.
func (d *DB) HeartbeatInstance(ctx context.Context, id string, alive time.Duration) (int, error) {
	var n int
	err := d.Pool.QueryRow(ctx, `WITH up AS (
			INSERT INTO engine_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = now()
		), gone AS (
			DELETE FROM engine_instances WHERE seen_at < now() - $2::interval * 10
		)
		SELECT count(*) + CASE WHEN bool_or(id = $1) THEN 0 ELSE 1 END FROM engine_instances WHERE seen_at >= now() - $2::interval`,
		id, alive.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: engine heartbeat: %w", err)
	}
	return max(n, 1), nil
}

// LeaveInstance removes this process from the live ones (a clean stop).
func (d *DB) LeaveInstance(ctx context.Context, id string) error {
	_, err := d.Pool.Exec(ctx, `DELETE FROM engine_instances WHERE id = $1`, id)
	return err
}

// OrphanedSendJobs lists recipients whose send job is "running" in River on
// a process that stopped sending heartbeats (killed, crashed, cut off).
func (d *DB) OrphanedSendJobs(ctx context.Context, alive time.Duration) ([]int64, error) {
	return collectIDs(d.Pool.Query(ctx, `SELECT (j.args->>'recipient_id')::bigint FROM river_job j
		WHERE j.state = 'running' AND j.kind = 'broadcast_send' AND cardinality(j.attempted_by) > 0
		  AND j.attempted_at < now() - $1::interval
		  AND NOT EXISTS (SELECT 1 FROM engine_instances i WHERE i.id = j.attempted_by[cardinality(j.attempted_by)]
		                  AND i.seen_at >= now() - $1::interval)`, alive.String()))
}

// FailedRecipient is a recipient whose send or delivery failed, with the code.
type FailedRecipient struct {
	ID   int64
	Code int
}

// FailedRecipientsTx lists recipients that failed to send, or whose message
// failed or went undelivered, with Twilio's error code (0: none given).
func FailedRecipientsTx(ctx context.Context, q Querier, broadcastID int64) ([]FailedRecipient, error) {
	rows, err := q.Query(ctx, `SELECT r.id, coalesce(CASE WHEN r.state = 'failed' THEN r.error_code ELSE m.error_code END, 0)
		FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id
		WHERE r.broadcast_id = $1 AND (r.state = 'failed' OR (r.state = 'submitted' AND m.status IN ('failed', 'undelivered')))
		ORDER BY r.id`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: failed recipients of broadcast %d: %w", broadcastID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FailedRecipient, error) {
		var f FailedRecipient
		err := row.Scan(&f.ID, &f.Code)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: failed recipients of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// ResetRecipientsTx makes recipients pending again for a fresh send: a new
// message, a new SID; the old message stays in the conversation.
// Only recipients still in one of the states from are reset; it returns
// those that were.
func ResetRecipientsTx(ctx context.Context, q Querier, ids []int64, from []string) ([]int64, error) {
	return collectIDs(q.Query(ctx, `UPDATE broadcast_recipients SET state = 'pending', message_id = NULL, message_sid = NULL, attempts = 0,
		error_code = NULL, error_message = '', next_attempt_at = NULL, sending_since = NULL, submitted_at = NULL, updated_at = now()
		WHERE id = ANY($1) AND state = ANY($2) RETURNING id`, ids, from))
}

// Submitted is Twilio's acceptance of a recipient's send, as recorded.
type Submitted struct {
	RecipientID, MessageID int64
	SID                    string
	Segments               int
	Attempt                Attempt
}

// RecordSubmittedTx stores a SID on the recipient and its message and the
// attempt that got it, in one round trip (it runs once per recipient of
// every broadcast). The SID's advisory lock comes first, so a status
// callback racing it waits for the SID to be stored. It reports false when
// the recipient is no longer in one of the states from; the caller then
// rolls back.
func RecordSubmittedTx(ctx context.Context, tx pgx.Tx, s Submitted, from []string) (bool, error) {
	a := s.Attempt
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.SID)
	b.Queue(`UPDATE broadcast_recipients SET state = 'submitted', message_sid = $2,
		segments = CASE WHEN $3 > 0 THEN $3 ELSE segments END, error_code = NULL, error_message = '',
		next_attempt_at = NULL, sending_since = NULL, submitted_at = now(), updated_at = now()
		WHERE id = $1 AND state = ANY($4)`, s.RecipientID, s.SID, s.Segments, from)
	b.Queue(`UPDATE messages SET twilio_sid = $2, segments = CASE WHEN $3 > 0 THEN $3 ELSE segments END WHERE id = $1`,
		s.MessageID, s.SID, s.Segments)
	b.Queue(`INSERT INTO broadcast_attempts (broadcast_id, recipient_id, attempt, outcome, http_status, error_code, error_message, started_at, instance)
		VALUES ($1, $2, $3, $4, nullif($5, 0), nullif($6, 0), $7, $8, $9)`,
		a.BroadcastID, a.RecipientID, a.Attempt, a.Outcome, a.HTTPStatus, a.ErrorCode, a.ErrorMessage, a.StartedAt, a.Instance)
	res := tx.SendBatch(ctx, b)
	_, err := res.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = res.Exec()
	}
	if err == nil {
		_, err = res.Exec()
	}
	if err == nil {
		_, err = res.Exec()
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("db: record sid %s of recipient %d: %w", s.SID, s.RecipientID, err)
	}
	return tag.RowsAffected() == 1, nil
}
