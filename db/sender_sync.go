package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SyncedSender is a WhatsApp sender as Twilio's Senders API reports it.
type SyncedSender struct {
	Number, SID, Status, DisplayName string
	QualityRating, MessagingLimit    string
	OfflineReasons                   []OfflineReason
}

// OfflineReason is why Twilio took a sender offline.
type OfflineReason struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ApplySenderSync records what Twilio says about a WhatsApp number: health
// for a sender we have, or a new sender (no department yet) for one
// registered outside Classline. It reports whether the sender was new.
func (d *DB) ApplySenderSync(ctx context.Context, s SyncedSender) (bool, error) {
	reasons, err := json.Marshal(s.OfflineReasons)
	if err != nil {
		return false, err
	}
	if s.OfflineReasons == nil {
		reasons = []byte("[]")
	}
	var inserted bool
	err = d.Pool.QueryRow(ctx, `
		INSERT INTO senders (channel, address, display_name, twilio_sender_sid, status, quality_rating, messaging_limit, offline_reasons, synced_at)
		VALUES ('whatsapp', $1, $2, $3, $4, $5, $6, $7, now())
		ON CONFLICT (channel, address) WHERE address <> '' DO UPDATE SET
			twilio_sender_sid = EXCLUDED.twilio_sender_sid, status = EXCLUDED.status,
			quality_rating = EXCLUDED.quality_rating, messaging_limit = EXCLUDED.messaging_limit,
			offline_reasons = EXCLUDED.offline_reasons, synced_at = now(),
			display_name = CASE WHEN senders.display_name = '' THEN EXCLUDED.display_name ELSE senders.display_name END
		RETURNING xmax = 0`, s.Number, s.DisplayName, s.SID, s.Status, s.QualityRating, s.MessagingLimit, reasons).Scan(&inserted)
	if err != nil {
		return false, fmt.Errorf("db: sync sender %s: %w", s.SID, err)
	}
	return inserted, nil
}

// SenderRow is a sender with its health, for the senders page.
type SenderRow struct {
	Sender
	TwilioSID      string
	QualityRating  string
	MessagingLimit string
	OfflineReasons []OfflineReason
	LastUsedAt     *time.Time
	SyncedAt       *time.Time
}

// ListSenderRows lists every unarchived sender with its health.
func (d *DB) ListSenderRows(ctx context.Context) ([]SenderRow, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+senderColumns+`, s.twilio_sender_sid, s.quality_rating, s.messaging_limit,
		s.offline_reasons, s.last_used_at, s.synced_at
		FROM senders s LEFT JOIN departments d ON d.id = s.department_id
		WHERE s.archived_at IS NULL ORDER BY s.channel DESC, coalesce(d.name, ''), s.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list senders: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SenderRow, error) {
		var s SenderRow
		var reasons []byte
		err := r.Scan(&s.ID, &s.Channel, &s.Address, &s.MessagingServiceSID, &s.DisplayName, &s.DepartmentID, &s.DepartmentName, &s.Status,
			&s.TwilioSID, &s.QualityRating, &s.MessagingLimit, &reasons, &s.LastUsedAt, &s.SyncedAt)
		if err == nil && len(reasons) > 0 {
			// Twilio's shape may vary; a reason we cannot read is shown as none.
			_ = json.Unmarshal(reasons, &s.OfflineReasons)
		}
		return s, err
	})
}
