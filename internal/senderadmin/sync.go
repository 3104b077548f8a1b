// Package senderadmin keeps Classline's senders in step with Twilio's
// Senders API: status, quality rating, messaging limit and offline reasons.
package senderadmin

import (
	"context"
	"errors"
	"fmt"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/twilio"
)

// Result says what a sync found.
type Result struct {
	Seen, New int
}

// Sync reads every WhatsApp sender of the account from Twilio and records
// its health. A number registered outside Classline is added without a
// department, for an admin to give it one.
func Sync(ctx context.Context, gw *twilio.Gateway, d *db.DB) (Result, error) {
	senders, err := gw.ListSenders(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("sync senders: %w", err)
	}
	var res Result
	var errs []error
	for _, s := range senders {
		reasons := make([]db.OfflineReason, 0, len(s.OfflineReasons))
		for _, r := range s.OfflineReasons {
			reasons = append(reasons, db.OfflineReason{Code: r.Code, Message: r.Message})
		}
		isNew, err := d.ApplySenderSync(ctx, db.SyncedSender{Number: s.Number, SID: s.SID, Status: s.Status, DisplayName: s.DisplayName,
			QualityRating: s.QualityRating, MessagingLimit: s.MessagingLimit, OfflineReasons: reasons})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Seen++
		if isNew {
			res.New++
		}
	}
	return res, errors.Join(errs...)
}
