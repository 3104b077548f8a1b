package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// Sending policy the school sets or the family gives: consent per purpose,
// checked at every send, and the school's quiet hours (kept by broadcasts).

// refusal says where a refused send was going, for the audit log.
type refusal struct {
	ConversationID int64 // 0: a new message to someone with no conversation yet
	ContactID      int64 // 0: not a contact yet
	Phone          string
	Channel        string
	IP             string
}

// consentRefusal checks that a message of purpose may go to phone. When it
// may not, the refusal is written to the audit log (message.refused, with
// the purpose and the reason code) and its code (a policy.Skip... value)
// and text for staff come back; code "" means the send may go on.
func (s *Service) consentRefusal(ctx context.Context, u db.User, purpose string, to refusal) (code, text string, err error) {
	states, err := s.DB.ConsentStateOf(ctx, to.Phone)
	if err != nil {
		return "", "", fmt.Errorf("consent of %s send: %w", purpose, err)
	}
	ok, code := policy.ConsentAllows(purpose, states)
	if ok {
		return "", "", nil
	}
	if to.ConversationID == 0 && to.ContactID == 0 {
		// A new message: name the contact when the number is one already.
		c, err := s.DB.ContactByPhone(ctx, to.Phone)
		switch {
		case err == nil:
			to.ContactID = c.ID
		case !errors.Is(err, db.ErrNotFound):
			return "", "", fmt.Errorf("refused %s send: %w", purpose, err)
		}
	}
	subject := "phone:" + to.Phone
	switch {
	case to.ConversationID != 0:
		subject = "conversation:" + strconv.FormatInt(to.ConversationID, 10)
	case to.ContactID != 0:
		subject = "contact:" + strconv.FormatInt(to.ContactID, 10)
	}
	after := map[string]any{"purpose": purpose, "reason": code, "phone": to.Phone, "channel": to.Channel}
	if to.ConversationID != 0 {
		after["conversation_id"] = to.ConversationID
	}
	if to.ContactID != 0 {
		after["contact_id"] = to.ContactID
	}
	// Stored, not only shown: a refusal is evidence the school honoured a
	// family's choice, and a pattern of them is worth an admin's look.
	actor := u.ID
	if err := s.DB.Audit(ctx, &actor, "message.refused", subject, nil, after, to.IP); err != nil {
		return "", "", fmt.Errorf("audit refused %s send: %w", purpose, err)
	}
	return code, policy.ConsentRefusalText(code, states, s.Location), nil
}

// QuietHours returns the school's quiet hours (the default until saved).
func (s *Service) QuietHours(ctx context.Context) (policy.QuietHours, error) {
	return s.DB.QuietHours(ctx)
}

// SaveQuietHours validates and stores the school's quiet hours and audits
// the change. Only admins may; problems come back as FieldErrors keyed
// quiet_start and quiet_end.
func (s *Service) SaveQuietHours(ctx context.Context, u db.User, ip string, q policy.QuietHours) error {
	if !u.IsAdmin() {
		return ErrForbidden
	}
	if errs := q.Validate(); len(errs) > 0 {
		return FieldErrors(errs)
	}
	q = q.Normalize()
	var was any
	before, err := s.DB.QuietHours(ctx)
	switch {
	case err != nil:
		// A hand-edited, unreadable value is replaced; the audit shows
		// nothing before. Other errors fail the write below too.
		was = nil
	case before == q:
		return nil
	default:
		was = before
	}
	actorID := u.ID
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.SetQuietHoursTx(ctx, tx, q); err != nil {
			return err
		}
		return db.AuditTx(ctx, tx, &actorID, "settings.update", "settings:"+db.SettingQuietHours, was, q, ip)
	})
}
