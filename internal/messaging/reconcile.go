package messaging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/twilio"
)

// A create call without a clear answer (a timeout, a cut connection, a 5xx)
// may or may not have made the message at Twilio. Calling it failed would
// invite staff to send it again, a duplicate if Twilio had it; calling it
// sent would hide a message nobody received. So it stays "queued" and
// Twilio is asked, once the call can no longer be creating it, whether it
// holds the message. Messages whose process died before recording
// anything are found the same way, later.
const (
	// DefaultUnconfirmedGrace is how long after an unanswered call Twilio
	// is asked: past the gateway's 10 s per-attempt timeout, so a call
	// Twilio was still working on has finished.
	DefaultUnconfirmedGrace = 30 * time.Second
	// DefaultOrphanAfter is how old a message without a SID and without an
	// outcome must be before it counts as abandoned: past the 2-minute
	// bound of the send itself, so a send still under way is never touched.
	DefaultOrphanAfter = 5 * time.Minute

	unconfirmedText = "Twilio did not answer clearly, so Classline is checking whether this message was sent. Do not send it again yet."
	missingText     = "Not sent: Twilio has no record of this message (the call to Twilio failed before it was taken). Nothing reached the recipient; you can send it again."
)

// ReconcileUnsent settles outbound messages that have no Twilio SID and are
// old enough to check: those Twilio holds get their SID (and the status
// callbacks kept for it); those it does not are failed with the reason.
// A message Twilio cannot be asked about now waits for the next call. It
// is safe to run from several processes at once.
func (s *Service) ReconcileUnsent(ctx context.Context) (found, missing int, err error) {
	grace, orphan := s.UnconfirmedGrace, s.OrphanAfter
	if grace <= 0 {
		grace = DefaultUnconfirmedGrace
	}
	if orphan <= 0 {
		orphan = DefaultOrphanAfter
	}
	list, err := s.DB.UnsentMessages(ctx, grace, orphan, 200)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, m := range list {
		at, err := s.findAtTwilio(ctx, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("check message %d at Twilio: %w", m.ID, err))
			continue
		}
		if at != nil {
			ok, err := s.settleFound(ctx, m, *at)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				found++
				s.count(m.Channel, "found_at_twilio")
			}
			continue
		}
		ok, err := s.DB.SettleUnsentMissing(ctx, m.ID, missingText)
		if err == nil && ok {
			missing++
			s.count(m.Channel, "not_at_twilio")
			err = live.Publish(ctx, s.DB.Pool, live.Event{Type: live.MessageStatus, ConversationID: m.ConversationID, MessageID: m.ID, DepartmentID: m.DepartmentID})
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return found, missing, errors.Join(errs...)
}

// findAtTwilio returns the message Twilio holds for m, if any: to the same
// address since m was stored, from the same number (when m names one),
// with the same text when both have text, and a SID no message of ours
// has. Oldest first, so of two identical unanswered sends each gets its own.
func (s *Service) findAtTwilio(ctx context.Context, m db.UnsentMessage) (*twilio.Message, error) {
	// Twilio's clock and ours may differ by a few seconds.
	msgs, err := s.Gateway.RecentMessagesTo(ctx, m.To, m.CreatedAt.Add(-10*time.Second), 50)
	if err != nil {
		return nil, err
	}
	namedFrom := strings.TrimPrefix(m.From, "whatsapp:") != ""
	for i := len(msgs) - 1; i >= 0; i-- {
		at := msgs[i]
		if namedFrom && at.From != m.From {
			continue
		}
		if m.Body != "" && at.Body != "" && !sameText(m.Body, at.Body) {
			continue
		}
		known, err := s.DB.SIDKnown(ctx, at.SID)
		if err != nil {
			return nil, err
		}
		if !known {
			return &at, nil
		}
	}
	return nil, nil
}

// sameText compares texts as a phone shows them: runs of spaces and line
// ends are not a difference.
func sameText(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// settleFound records the SID Twilio holds for m and applies the status
// callbacks that came for it while its SID was unknown.
func (s *Service) settleFound(ctx context.Context, m db.UnsentMessage, at twilio.Message) (bool, error) {
	var ok bool
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.LockSIDTx(ctx, tx, at.SID); err != nil {
			return err
		}
		var err error
		if ok, err = db.SettleUnsentFoundTx(ctx, tx, m.ID, at.SID, at.NumSegments); err != nil || !ok {
			return err
		}
		if _, err := applyPendingTx(ctx, tx, at.SID); err != nil {
			return err
		}
		return live.Publish(ctx, tx, live.Event{Type: live.MessageStatus, ConversationID: m.ConversationID, MessageID: m.ID, DepartmentID: m.DepartmentID})
	})
	if err != nil {
		return false, fmt.Errorf("record message %d found at Twilio as %s: %w", m.ID, at.SID, err)
	}
	return ok, nil
}

// redactedSendError describes a failed create call for the log without
// Twilio's message text, which can hold the recipient's number.
func redactedSendError(err error) string {
	var apiErr *twilio.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("HTTP %d, error %d", apiErr.HTTPStatus, apiErr.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return "connection failed"
}
