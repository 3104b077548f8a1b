package senderadmin

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// MaxRate bounds a sender's own sending speed: far above any sender Twilio
// sells (short codes reach 100 segments/s, WhatsApp 50 msg/s on request),
// so a typo cannot unleash a broadcast.
const MaxRate = 1000

// ParseRate reads the "messages per second" field: empty means Twilio's
// guidance for the sender's kind (nil).
func ParseRate(raw string) (*float64, string) {
	raw = strings.TrimSpace(strings.ReplaceAll(raw, ",", "."))
	if raw == "" {
		return nil, ""
	}
	r, err := strconv.ParseFloat(raw, 64)
	switch {
	case err != nil:
		return nil, "Enter a number of messages per second, such as 1 or 2.5, or leave it empty."
	case r < 0.1:
		return nil, "Use at least 0.1 messages per second (one every 10 seconds)."
	case r > MaxRate:
		return nil, "Use at most 1000 messages per second."
	}
	return &r, ""
}

// SetRate sets how fast broadcasts may send from a sender (nil: Twilio's
// guidance), audited.
func (s *Service) SetRate(ctx context.Context, actor db.User, id int64, raw, ip string) error {
	rate, msg := ParseRate(raw)
	if msg != "" {
		return FieldErrors{"rate": msg}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		before, err := db.SetSenderRateTx(ctx, tx, id, rate)
		if errors.Is(err, db.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.rate", target(id), map[string]any{"rate_per_second": before}, map[string]any{"rate_per_second": rate}, ip)
	})
}
