package messaging

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// The out-of-hours reply: when someone writes to a department while it is
// closed, the department's own text goes back once, saying when it opens.

// OpensPlaceholder in an out-of-hours reply is replaced by when the
// department next opens, e.g. "Monday at 08:00".
const OpensPlaceholder = "{opens}"

// LongestOpensText is as long as policy.OpensText gets, for length checks
// made before the real opening is known.
const LongestOpensText = "Wednesday 30 September at 23:59"

// ExpandOutOfHours fills {school} and {opens} in an out-of-hours reply.
func ExpandOutOfHours(text, schoolName, opens string) string {
	return strings.ReplaceAll(ExpandAutoReply(text, schoolName), OpensPlaceholder, opens)
}

// AnswerOutOfHours sends the department's out-of-hours reply to an inbound
// message that arrived while the department is closed (its business hours
// read in loc, the school's time zone), from the number the contact wrote
// to, as an automatic message: the conversation keeps waiting for staff.
// It returns the new message's id, or 0 when nothing was sent: a duplicate
// webhook, a STOP/START/HELP keyword (AnswerKeyword answers those), a
// conversation without a department or of an archived one, no reply text or no hours set, the
// department open, an opted-out number, an offline sender, or a reply
// already sent in this closed period. At most one reply goes out per
// conversation and closed period, however many messages arrive at once: a
// claim row, unique per conversation and period, is taken before sending.
func (s *Service) AnswerOutOfHours(ctx context.Context, in Inbound, loc *time.Location) (messageID int64, err error) {
	if in.Duplicate || in.ConversationID == 0 || in.Keyword != policy.KeywordNone {
		return 0, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	now := s.now()
	conv, err := s.DB.ConversationByID(ctx, in.ConversationID)
	if err != nil {
		return 0, fmt.Errorf("out-of-hours reply: %w", err)
	}
	if conv.DepartmentID == nil {
		return 0, nil
	}
	dep, err := s.DB.DepartmentSettings(ctx, *conv.DepartmentID)
	if err != nil {
		return 0, fmt.Errorf("out-of-hours reply: %w", err)
	}
	if strings.TrimSpace(dep.OutOfHoursReply) == "" || dep.ArchivedAt != nil {
		return 0, nil
	}
	hours, err := policy.ParseHours(dep.BusinessHours)
	if err != nil {
		return 0, fmt.Errorf("out-of-hours reply of department %d: %w", dep.ID, err)
	}
	if !hours.IsSet() || policy.Open(hours, now, loc) {
		return 0, nil
	}
	// Checked before claiming: a number that opts back in later in the same
	// closed period may still get the reply to its next message.
	if since, err := s.DB.OptOutSince(ctx, conv.Contact.Phone, policy.PurposeTransactional); err != nil {
		return 0, fmt.Errorf("out-of-hours reply: %w", err)
	} else if since != nil {
		return 0, nil
	}
	if conv.Sender.Status == "OFFLINE" {
		if s.Log != nil {
			s.Log.Warn("out-of-hours reply not sent: sender offline", "conversation_id", conv.ID, "sender_id", conv.Sender.ID)
		}
		return 0, nil
	}
	next, opens := policy.NextOpening(hours, now, loc)
	// A department that never opens replies once a day: its closed period
	// would otherwise never end, and a parent writing weeks later would hear
	// nothing.
	periodEnds := next
	if !opens {
		y, m, d := now.In(loc).Date()
		periodEnds = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	claimed, err := s.DB.ClaimOutOfHoursReply(ctx, conv.ID, &periodEnds)
	if err != nil || !claimed {
		return 0, err
	}
	school, err := s.SchoolName(ctx)
	if err != nil {
		return 0, fmt.Errorf("out-of-hours reply: %w", err)
	}
	text := ExpandOutOfHours(dep.OutOfHoursReply, school, policy.OpensText(next, opens, now, loc))
	// A zero user makes the message automatic. The claim stays even if Twilio
	// refuses: a failed reply is shown in the thread, not repeated.
	messageID, err = s.send(ctx, db.User{}, conv.ID, conv.Sender, conv.Contact.Phone, text, nil, false, "automatic out-of-hours reply, from the number the contact wrote to")
	if messageID != 0 {
		if lerr := s.DB.SetOutOfHoursReplyMessage(ctx, conv.ID, &periodEnds, messageID); lerr != nil && err == nil {
			err = lerr
		}
	}
	return messageID, err
}
