package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Twilio posts each status callback once; one that meets the app down, or
// a proxy failing, is not sent again, and the message would stay "sent" or
// "queued" forever. So a message whose status has stood still short of a
// final one is asked about at Twilio: after 10 minutes, and once more after
// 2 hours (an SMS to a network without delivery receipts rightly stays
// "sent"; it is not asked a third time). Messages older than 3 days are
// left alone.
const (
	statusCheckFirst  = 10 * time.Minute
	statusCheckSecond = 2 * time.Hour
	statusCheckMaxAge = 72 * time.Hour
)

// CheckStaleStatuses asks Twilio about up to limit messages whose status
// stood still, and applies what Twilio reports as a status callback would
// be (kept as an event, forward only). It returns how many statuses moved.
func (s *Service) CheckStaleStatuses(ctx context.Context, limit int) (moved int, err error) {
	list, err := s.DB.ClaimUnsettledMessages(ctx, statusCheckFirst, statusCheckSecond, statusCheckMaxAge, limit)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, m := range list {
		at, err := s.Gateway.FetchMessage(ctx, m.TwilioSID)
		if err != nil {
			errs = append(errs, fmt.Errorf("check status of message %d: %w", m.ID, err))
			if rerr := s.DB.ReturnStatusCheck(context.WithoutCancel(ctx), m.ID); rerr != nil {
				errs = append(errs, rerr)
			}
			continue
		}
		if at.Status == "" || at.Status == m.Status {
			continue
		}
		p := map[string]string{"MessageSid": at.SID, "MessageStatus": at.Status, "Source": "status-check"}
		if at.ErrorCode != 0 {
			p["ErrorCode"] = strconv.Itoa(at.ErrorCode)
			p["ErrorMessage"] = at.ErrorMessage
		}
		applied, err := s.ApplyStatus(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("apply checked status of message %d: %w", m.ID, err))
			continue
		}
		if applied {
			moved++
		}
	}
	return moved, errors.Join(errs...)
}
