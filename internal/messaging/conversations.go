package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
)

// MaxSnooze is how far ahead a conversation may be snoozed.
const MaxSnooze = 90 * 24 * time.Hour

// PresenceTTL is how long a viewer counts as present after their last sign
// of life; pages send one every PresenceTTL/3.
const PresenceTTL = 45 * time.Second

// Action is a change staff make to a conversation.
type Action struct {
	Kind string // "assign", "close", "reopen", "snooze"
	// AssigneeID for "assign": 0 unassigns.
	AssigneeID int64
	// Until for "snooze".
	Until time.Time
}

// Act applies an action to a conversation the user may see, records it in
// the audit log and tells every viewer.
func (s *Service) Act(ctx context.Context, u db.User, conversationID int64, a Action, now time.Time) error {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return err
	}
	if !CanSee(u, conv.DepartmentID) {
		return ErrForbidden
	}
	var assignee *int64
	switch a.Kind {
	case "assign":
		if a.AssigneeID != 0 {
			staff, err := s.DB.StaffOfDepartment(ctx, conv.DepartmentID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(staff, func(x db.User) bool { return x.ID == a.AssigneeID }) {
				return FieldErrors{"assignee": "Choose someone who works in this conversation's department."}
			}
			assignee = &a.AssigneeID
		}
	case "close", "reopen":
	case "snooze":
		switch {
		case a.Until.IsZero():
			return FieldErrors{"until": "Choose when the conversation should come back."}
		case !a.Until.After(now):
			return FieldErrors{"until": "Choose a time in the future."}
		case a.Until.After(now.Add(MaxSnooze)):
			return FieldErrors{"until": "Snooze for at most 90 days."}
		}
	default:
		return fmt.Errorf("unknown conversation action %q", a.Kind)
	}
	var before, after db.ConversationChange
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		// Decide from the locked row: an action changes only its own fields.
		if before, err = db.LockConversationTx(ctx, tx, conv.ID); err != nil {
			return err
		}
		after = before
		switch a.Kind {
		case "assign":
			after.AssigneeID = assignee
		case "close":
			after.Status, after.SnoozedUntil = "closed", nil
		case "reopen":
			after.Status, after.SnoozedUntil = "open", nil
		case "snooze":
			until := a.Until
			after.Status, after.SnoozedUntil = "snoozed", &until
		}
		if err := db.SetConversationStateTx(ctx, tx, conv.ID, after); err != nil {
			return err
		}
		return live.Publish(ctx, tx, live.Event{Type: live.ConversationUpdated, ConversationID: conv.ID, DepartmentID: deref(conv.DepartmentID)})
	})
	if err != nil {
		return fmt.Errorf("%s conversation %d: %w", a.Kind, conv.ID, err)
	}
	uid := u.ID
	return s.DB.Audit(ctx, &uid, "conversation."+a.Kind, "conversation:"+strconv.FormatInt(conv.ID, 10), before, after, "")
}

// AddNote stores an internal note in a conversation: visible to staff only,
// never sent.
func (s *Service) AddNote(ctx context.Context, u db.User, conversationID int64, body string) (int64, error) {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return 0, err
	}
	if !CanSee(u, conv.DepartmentID) {
		return 0, ErrForbidden
	}
	switch n := utf8.RuneCountInString(body); {
	case strings.TrimSpace(body) == "":
		return 0, FieldErrors{"note": "Write the note first."}
	case n > 4000:
		return 0, FieldErrors{"note": fmt.Sprintf("The note is %d characters; the limit is 4000.", n)}
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id, err = db.InsertNoteTx(ctx, tx, conv.ID, u.ID, conv.Channel, body); err != nil {
			return err
		}
		return live.Publish(ctx, tx, live.Event{Type: live.MessageCreated, ConversationID: conv.ID, MessageID: id, DepartmentID: deref(conv.DepartmentID)})
	})
	if err != nil {
		return 0, fmt.Errorf("add note to %d: %w", conv.ID, err)
	}
	return id, nil
}

// MarkRead records that the user has read the conversation.
func (s *Service) MarkRead(ctx context.Context, u db.User, conversationID int64) error {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return err
	}
	if !CanSee(u, conv.DepartmentID) {
		return ErrForbidden
	}
	return s.DB.MarkRead(ctx, conv.ID, u.ID)
}

// Presence records that the user has the conversation open (typing or not),
// or has left it, and tells the other viewers.
func (s *Service) Presence(ctx context.Context, u db.User, conversationID int64, typing, leave bool) error {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return err
	}
	if !CanSee(u, conv.DepartmentID) {
		return ErrForbidden
	}
	if err := s.DB.TouchPresence(ctx, conv.ID, u.ID, typing, leave); err != nil {
		return err
	}
	return live.Publish(ctx, s.DB.Pool, live.Event{Type: live.PresenceChanged, ConversationID: conv.ID, DepartmentID: deref(conv.DepartmentID)})
}

// WakeSnoozed reopens conversations whose snooze ran out and tells viewers.
func (s *Service) WakeSnoozed(ctx context.Context, now time.Time) (int, error) {
	woken, err := s.DB.WakeSnoozed(ctx, now)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, c := range woken {
		errs = append(errs, live.Publish(ctx, s.DB.Pool, live.Event{Type: live.ConversationUpdated, ConversationID: c.ID, DepartmentID: c.DepartmentID}))
	}
	return len(woken), errors.Join(errs...)
}
