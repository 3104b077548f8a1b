package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/policy"
)

// knownInbound are the webhook parameters modelled in columns; everything else
// Twilio sends (ButtonPayload, Referral*, ChannelMetadata...) is kept in extra.
var knownInbound = map[string]bool{
	"MessageSid": true, "SmsMessageSid": true, "SmsSid": true, "AccountSid": true, "From": true, "To": true,
	"Body": true, "NumMedia": true, "NumSegments": true, "SmsStatus": true, "ApiVersion": true,
}

// Inbound is the outcome of storing an inbound webhook.
type Inbound struct {
	ConversationID, MessageID int64
	Duplicate                 bool
	Keyword                   policy.Keyword
}

// ReceiveInbound stores an inbound message once per MessageSid, in the
// conversation of its contact × the sender it was sent to.
func (s *Service) ReceiveInbound(ctx context.Context, p map[string]string) (Inbound, error) {
	var res Inbound
	sid := p["MessageSid"]
	if sid == "" {
		sid = p["SmsMessageSid"]
	}
	if sid == "" {
		return res, errors.New("inbound webhook without MessageSid")
	}
	// Redeliveries are common (Twilio retries on timeouts): answer them
	// without touching the contact, conversation or sender rows.
	switch convID, msgID, err := s.DB.MessageBySID(ctx, sid); {
	case err == nil:
		return Inbound{ConversationID: convID, MessageID: msgID, Duplicate: true, Keyword: policy.ClassifyKeyword(p["Body"])}, nil
	case !errors.Is(err, db.ErrNotFound):
		return res, err
	}
	fromChannel, fromPhone := policy.ParseAddress(p["From"])
	_, toPhone := policy.ParseAddress(p["To"])
	if fromPhone == "" || toPhone == "" {
		return res, fmt.Errorf("inbound %s: From/To missing", sid)
	}
	sender, err := s.DB.EnsureSender(ctx, fromChannel, toPhone, "", nil)
	if err != nil {
		return res, err
	}
	var media []db.Media
	n, _ := strconv.Atoi(p["NumMedia"])
	for i := 0; i < n && i < 10; i++ {
		idx := strconv.Itoa(i)
		if u := p["MediaUrl"+idx]; u != "" {
			media = append(media, db.Media{URL: u, ContentType: p["MediaContentType"+idx]})
		}
	}
	extra := map[string]string{}
	for k, v := range p {
		if !knownInbound[k] && !strings.HasPrefix(k, "MediaUrl") && !strings.HasPrefix(k, "MediaContentType") {
			extra[k] = v
		}
	}
	segments, _ := strconv.Atoi(p["NumSegments"])
	res.Keyword = policy.ClassifyKeyword(p["Body"])
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		contactID, err := db.UpsertContactTx(ctx, tx, fromPhone, p["ProfileName"])
		if err != nil {
			return err
		}
		res.ConversationID, err = db.UpsertConversationOnTx(ctx, tx, contactID, fromPhone, sender)
		if err != nil {
			return err
		}
		var stored bool
		res.MessageID, stored, err = db.InsertInboundTx(ctx, tx, db.NewInbound{
			ConversationID: res.ConversationID, Channel: fromChannel, From: p["From"], To: p["To"],
			Body: p["Body"], Media: media, TwilioSID: sid, Segments: segments, Extra: extra,
		})
		if err != nil {
			return err
		}
		if !stored {
			res.Duplicate = true
			return nil
		}
		if res.Keyword == policy.KeywordOptOut || res.Keyword == policy.KeywordOptIn {
			// Twilio's own keyword handling has already answered the sender; we
			// record it so no one sends to an opted-out number from Classline.
			// STOP ends every purpose; START restores transactional messages
			// only, since marketing needs consent given on purpose.
			purposes := []string{policy.PurposeTransactional}
			if res.Keyword == policy.KeywordOptOut {
				purposes = append(purposes, policy.PurposeMarketing)
			}
			for _, purpose := range purposes {
				if err := db.InsertConsentTx(ctx, tx, db.ConsentEvent{
					Phone: fromPhone, Channel: fromChannel, Purpose: purpose,
					OptedIn: res.Keyword == policy.KeywordOptIn, Method: "keyword", Source: "inbound " + sid,
				}); err != nil {
					return err
				}
			}
		}
		return live.Publish(ctx, tx, live.Event{Type: live.MessageCreated, ConversationID: res.ConversationID, MessageID: res.MessageID, DepartmentID: deref(sender.DepartmentID)})
	})
	if err != nil {
		return res, fmt.Errorf("store inbound %s: %w", sid, err)
	}
	return res, nil
}

// applyPendingTx applies callbacks that arrived before the SID was recorded.
func applyPendingTx(ctx context.Context, tx pgx.Tx, sid string) (int, error) {
	events, err := db.StatusEventsTx(ctx, tx, sid, true)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	m, err := db.MessageForUpdateTx(ctx, tx, sid)
	if err != nil {
		return 0, err
	}
	id, current := m.ID, m.Status
	n := 0
	for _, e := range events {
		apply := policy.ShouldApplyStatus(current, e.Status)
		if apply {
			if err := db.UpdateMessageStatusTx(ctx, tx, id, e.Status, e.ErrorCode, e.Payload["ErrorMessage"]); err != nil {
				return n, err
			}
			current = e.Status
			n++
		}
		if err := db.ResolvePendingEventTx(ctx, tx, e.ID, apply); err != nil {
			return n, err
		}
	}
	return n, nil
}
