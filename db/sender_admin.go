package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sender administration: registering, editing and archiving senders. Rows are
// never deleted: messages and conversations reference them, so "delete" is
// archived_at.

// SenderProfile is what the senders.profile column holds: a WhatsApp sender's
// business profile (the display name lives in display_name) and the webhook
// addresses it was registered with, as Twilio last confirmed them.
type SenderProfile struct {
	About              string   `json:"about,omitempty"`
	Address            string   `json:"address,omitempty"`
	Description        string   `json:"description,omitempty"`
	Vertical           string   `json:"vertical,omitempty"`
	LogoURL            string   `json:"logo_url,omitempty"`
	Emails             []string `json:"emails,omitempty"`
	Websites           []string `json:"websites,omitempty"`
	WebhookURL         string   `json:"webhook_url,omitempty"`
	FallbackURL        string   `json:"fallback_url,omitempty"`
	StatusCallbackURL  string   `json:"status_callback_url,omitempty"`
	VerificationMethod string   `json:"verification_method,omitempty"`
}

// SenderDetail is one sender with everything its admin page shows.
type SenderDetail struct {
	SenderRow
	Profile           SenderProfile
	DepartmentDefault bool
	CreatedAt         time.Time
	ArchivedAt        *time.Time
}

// SenderHealth is what Twilio says about a sender now.
type SenderHealth struct {
	Status, QualityRating, MessagingLimit string
	OfflineReasons                        []OfflineReason
	// DisplayName and Profile replace the stored ones when set (Twilio is
	// the truth for a registered sender's profile).
	DisplayName string
	Profile     *SenderProfile
}

// NewSender is a sender to store: a WhatsApp registration, an SMS number or
// a Messaging Service.
type NewSender struct {
	Channel, Address, MessagingServiceSID, DisplayName string
	DepartmentID                                       *int64
	TwilioSID                                          string
	Health                                             SenderHealth
	Profile                                            SenderProfile
}

const senderDetailQuery = `SELECT ` + senderColumns + `, s.twilio_sender_sid, s.quality_rating, s.messaging_limit,
	s.offline_reasons, s.last_used_at, s.synced_at, s.profile, s.department_default, s.created_at, s.archived_at
	FROM senders s LEFT JOIN departments d ON d.id = s.department_id`

func scanSenderDetail(row pgx.Row) (SenderDetail, error) {
	var s SenderDetail
	var reasons, profile []byte
	err := row.Scan(&s.ID, &s.Channel, &s.Address, &s.MessagingServiceSID, &s.DisplayName, &s.DepartmentID, &s.DepartmentName, &s.Status,
		&s.TwilioSID, &s.QualityRating, &s.MessagingLimit, &reasons, &s.LastUsedAt, &s.SyncedAt,
		&profile, &s.DepartmentDefault, &s.CreatedAt, &s.ArchivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, err
	}
	// Both columns may hold shapes written by older code or by hand; what
	// cannot be read is shown as empty rather than failing the page.
	_ = json.Unmarshal(reasons, &s.OfflineReasons)
	_ = json.Unmarshal(profile, &s.Profile)
	return s, nil
}

// SenderDetailByID loads one sender, archived or not.
func (d *DB) SenderDetailByID(ctx context.Context, id int64) (SenderDetail, error) {
	return SenderDetailByIDTx(ctx, d.Pool, id, false)
}

// SenderDetailByIDTx loads one sender; lock takes its row lock (FOR UPDATE
// OF s: the department row is only read).
func SenderDetailByIDTx(ctx context.Context, q Querier, id int64, lock bool) (SenderDetail, error) {
	query := senderDetailQuery + ` WHERE s.id = $1`
	if lock {
		query += ` FOR UPDATE OF s`
	}
	s, err := scanSenderDetail(q.QueryRow(ctx, query, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: sender %d: %w", id, err)
	}
	return s, err
}

// ActiveSenderByAddress finds the unarchived sender of channel with this
// number (ErrNotFound when there is none).
func ActiveSenderByAddress(ctx context.Context, q Querier, channel, address string) (SenderDetail, error) {
	s, err := scanSenderDetail(q.QueryRow(ctx, senderDetailQuery+`
		WHERE s.channel = $1 AND s.address = $2 AND s.archived_at IS NULL`, channel, address))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: sender %s %s: %w", channel, address, err)
	}
	return s, err
}

// ActiveServiceSender finds the unarchived Messaging Service sender of
// channel with this SID (ErrNotFound when there is none).
func ActiveServiceSender(ctx context.Context, q Querier, channel, serviceSID string) (SenderDetail, error) {
	s, err := scanSenderDetail(q.QueryRow(ctx, senderDetailQuery+`
		WHERE s.channel = $1 AND s.address = '' AND s.messaging_service_sid = $2 AND s.archived_at IS NULL
		ORDER BY s.id LIMIT 1`, channel, serviceSID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("db: messaging service sender %s %s: %w", channel, serviceSID, err)
	}
	return s, err
}

// LockSenderKeyTx serialises, until the transaction ends, everyone adding a
// sender with the same key: Messaging Service senders have no unique index
// (their address is empty), so "check, then insert" needs this to stay one
// row per service.
func LockSenderKeyTx(ctx context.Context, q Querier, key string) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('classline.senders.add:' || $1, 0))`, key); err != nil {
		return fmt.Errorf("db: lock sender %s: %w", key, err)
	}
	return nil
}

func reasonsJSON(r []OfflineReason) ([]byte, error) {
	if r == nil {
		return []byte("[]"), nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("db: offline reasons: %w", err)
	}
	return b, nil
}

// SaveSenderTx stores a new sender and returns its id. A row with the same
// channel and number (the unique key) is taken over: an archived sender
// comes back (its messages stay linked to it), and a row the background sync
// or an inbound message created meanwhile gets the registration's details.
// A Messaging Service (no number) is always a new row.
func SaveSenderTx(ctx context.Context, q Querier, s NewSender) (int64, error) {
	reasons, err := reasonsJSON(s.Health.OfflineReasons)
	if err != nil {
		return 0, err
	}
	profile, err := json.Marshal(s.Profile)
	if err != nil {
		return 0, fmt.Errorf("db: sender profile: %w", err)
	}
	status := s.Health.Status
	if status == "" {
		status = "ONLINE"
	}
	var syncedAt *time.Time
	if s.TwilioSID != "" {
		now := time.Now()
		syncedAt = &now
	}
	var id int64
	err = q.QueryRow(ctx, `
		INSERT INTO senders (channel, address, messaging_service_sid, display_name, department_id, twilio_sender_sid,
			status, quality_rating, messaging_limit, offline_reasons, profile, synced_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (channel, address) WHERE address <> '' DO UPDATE SET
			messaging_service_sid = EXCLUDED.messaging_service_sid, display_name = EXCLUDED.display_name,
			-- a default stays a default only while it stays in its department
			department_default = senders.department_default AND senders.archived_at IS NULL
				AND senders.department_id IS NOT DISTINCT FROM EXCLUDED.department_id,
			department_id = EXCLUDED.department_id, twilio_sender_sid = EXCLUDED.twilio_sender_sid,
			status = EXCLUDED.status, quality_rating = EXCLUDED.quality_rating,
			messaging_limit = EXCLUDED.messaging_limit, offline_reasons = EXCLUDED.offline_reasons,
			profile = EXCLUDED.profile, synced_at = EXCLUDED.synced_at, archived_at = NULL
		RETURNING id`,
		s.Channel, s.Address, s.MessagingServiceSID, s.DisplayName, s.DepartmentID, s.TwilioSID,
		status, s.Health.QualityRating, s.Health.MessagingLimit, reasons, profile, syncedAt).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: save sender %s %s%s: %w", s.Channel, s.Address, s.MessagingServiceSID, err)
	}
	return id, nil
}

// UpdateSenderHealthTx records what Twilio reported about a sender.
func UpdateSenderHealthTx(ctx context.Context, q Querier, id int64, h SenderHealth) error {
	reasons, err := reasonsJSON(h.OfflineReasons)
	if err != nil {
		return err
	}
	var profile []byte
	if h.Profile != nil {
		if profile, err = json.Marshal(h.Profile); err != nil {
			return fmt.Errorf("db: sender profile: %w", err)
		}
	}
	_, err = q.Exec(ctx, `UPDATE senders SET status = $2, quality_rating = $3, messaging_limit = $4, offline_reasons = $5,
		display_name = CASE WHEN $6 = '' THEN display_name ELSE $6 END,
		profile = coalesce($7::jsonb, profile), synced_at = now()
		WHERE id = $1`, id, h.Status, h.QualityRating, h.MessagingLimit, reasons, h.DisplayName, profile)
	if err != nil {
		return fmt.Errorf("db: sender %d health: %w", id, err)
	}
	return nil
}

// UpdateSenderHealth is UpdateSenderHealthTx outside a transaction.
func (d *DB) UpdateSenderHealth(ctx context.Context, id int64, h SenderHealth) error {
	return UpdateSenderHealthTx(ctx, d.Pool, id, h)
}

// SetSenderDepartmentTx moves a sender to a department (nil: none). It stops
// being a department's default sender when it leaves that department.
func SetSenderDepartmentTx(ctx context.Context, q Querier, id int64, departmentID *int64) error {
	_, err := q.Exec(ctx, `UPDATE senders SET department_id = $2,
		department_default = department_default AND department_id IS NOT DISTINCT FROM $2
		WHERE id = $1`, id, departmentID)
	if err != nil {
		return fmt.Errorf("db: sender %d department: %w", id, err)
	}
	return nil
}

// ArchiveSenderTx takes a sender out of use; its row, conversations and
// messages stay.
func ArchiveSenderTx(ctx context.Context, q Querier, id int64) error {
	_, err := q.Exec(ctx, `UPDATE senders SET archived_at = now(), department_default = false WHERE id = $1 AND archived_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("db: archive sender %d: %w", id, err)
	}
	return nil
}

// ActiveDepartmentExists reports whether id is a department that is not archived.
func ActiveDepartmentExists(ctx context.Context, q Querier, id int64) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND archived_at IS NULL)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("db: department %d: %w", id, err)
	}
	return ok, nil
}
