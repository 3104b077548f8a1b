// Package messaging is the conversation service: staff sends, inbound
// messages and status callbacks, each stored before anyone is told about it.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/senderpick"
	"github.com/classline/classline/internal/twilio"
)

// MaxBodyLength is Twilio's limit for one message body.
const MaxBodyLength = 1600

// FieldErrors maps a form field to what is wrong with it, in words for staff.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// ErrForbidden means the user may not act on that conversation or sender.
var ErrForbidden = errors.New("not allowed")

// Service sends and receives messages.
type Service struct {
	DB                *db.DB
	Gateway           *twilio.Gateway
	StatusCallbackURL string
	DefaultRegion     string
	Log               *slog.Logger
	// OnSend is told the outcome of each create call ("ok" or an error code), for metrics.
	OnSend func(channel, result string)
	// OnStatusBatch is told how many status callbacks each committed
	// transaction held (group commit), for metrics.
	OnStatusBatch func(size int)
	// MediaURL gives the public, expiring URL Twilio fetches a stored file from.
	MediaURL func(ctx context.Context, fileID int64) (string, error)
	// Now is the clock for the WhatsApp window; time.Now when nil.
	Now func() time.Time
	// Location is the school's time zone (SCHOOL_TIMEZONE), for dates in
	// what staff are told; UTC when nil.
	Location *time.Location
	// UnconfirmedGrace and OrphanAfter time ReconcileUnsent; zero means
	// DefaultUnconfirmedGrace and DefaultOrphanAfter.
	UnconfirmedGrace, OrphanAfter time.Duration

	bg       background
	statuses statusCommitter
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CanSee reports whether user may see things of a department (nil = none).
func CanSee(u db.User, departmentID *int64) bool {
	if u.IsAdmin() {
		return true
	}
	return departmentID != nil && slices.Contains(u.DepartmentIDs, *departmentID)
}

// DepartmentScope is the department filter for list queries: nil for admins.
func DepartmentScope(u db.User) []int64 {
	if u.IsAdmin() {
		return nil
	}
	if u.DepartmentIDs == nil {
		return []int64{}
	}
	return u.DepartmentIDs
}

// ComposeInput is a new message typed in the composer.
type ComposeInput struct {
	To       string
	Channel  string
	Body     string
	SenderID int64 // a chosen sender; 0: picked by Strategy
	// Strategy is a senderpick strategy ("sticky", "lru", "department",
	// "messaging_service"); "" means sticky.
	Strategy     string
	DepartmentID int64 // for the department strategies; 0: the user's only one
	Media        []db.Media
	// Template, when TemplateID is set, is sent instead of Body: how a
	// school starts a WhatsApp conversation (outside any 24-hour window).
	Template TemplateInput
	// Purpose is policy.PurposeTransactional (school business; "" means
	// this) or policy.PurposeMarketing (promotional), checked against the
	// contact's consent for it.
	Purpose string
	IP      string // the request's, for the audit log of a refused send
}

// Compose validates a new message, stores it as queued in its conversation
// and submits it to Twilio. Twilio refusing the message is not an error
// here: the message is stored as failed with Twilio's reason, which staff see.
func (s *Service) Compose(ctx context.Context, u db.User, in ComposeInput) (conversationID, messageID int64, err error) {
	errs := FieldErrors{}
	phone, perr := policy.NormalizePhone(in.To, s.DefaultRegion)
	if strings.TrimSpace(in.To) == "" {
		errs["to"] = "Enter the phone number to write to."
	} else if perr != nil {
		errs["to"] = perr.Error()
	}
	if in.Purpose == "" {
		in.Purpose = policy.PurposeTransactional
	}
	if !policy.ValidPurpose(in.Purpose) {
		errs["purpose"] = policy.SkipReasonText(policy.SkipUnknownPurpose)
	}
	if in.Channel != policy.ChannelWhatsApp && in.Channel != policy.ChannelSMS {
		errs["channel"] = "Choose WhatsApp or SMS."
	}
	var tpl outbound
	if in.Template.TemplateID != 0 {
		if _, bad := errs["channel"]; !bad {
			if tpl, err = s.prepareTemplate(ctx, in.Channel, in.Template, errs); err != nil {
				return 0, 0, err
			}
		}
	} else {
		checkBody(in.Body, len(in.Media) > 0, errs)
	}
	var sender db.Sender
	var reason string
	if _, bad := errs["channel"]; !bad {
		var choice senderpick.Choice
		choice, err = s.pick(ctx, u, in, phone)
		sender, reason = choice.Sender, choice.Reason
		if err != nil {
			var ns *senderpick.NoSenderError
			if errors.As(err, &ns) {
				errs[composeField(ns.Field)] = ns.Message
			} else {
				return 0, 0, err
			}
		}
	}
	var existing db.Conversation
	if perr == nil && len(errs) == 0 {
		existing, err = s.DB.ConversationFor(ctx, phone, sender.ID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return 0, 0, err
		}
		// Checked last, once the message could otherwise go: a refusal is
		// audited, and should mean consent was what stopped it.
		code, msg, err := s.consentRefusal(ctx, u, in.Purpose, refusal{
			ConversationID: existing.ID, ContactID: existing.Contact.ID, Phone: phone, Channel: in.Channel, IP: in.IP})
		switch {
		case err != nil:
			return 0, 0, err
		case code == policy.SkipOptedOut:
			// Opted out of everything: a matter of who, shown by the number.
			errs["to"] = msg
		case code != "":
			// Not for this purpose: a matter of what is sent, shown by the message.
			errs["body"] = msg
		}
	}
	if len(errs) == 0 && sender.Channel == policy.ChannelWhatsApp && in.Template.TemplateID == 0 {
		if msg := WindowClosedText(existing.LastInboundAt, s.now()); msg != "" {
			errs["body"] = msg
		}
	}
	if len(errs) > 0 {
		return 0, 0, errs
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		contactID, err := db.UpsertContactTx(ctx, tx, phone, "")
		if err != nil {
			return err
		}
		conversationID, err = db.UpsertConversationOnTx(ctx, tx, contactID, phone, sender)
		if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("compose to %s: %w", in.Channel, err)
	}
	if in.Template.TemplateID != 0 {
		tpl.Reason = reason
		messageID, err = s.submit(ctx, u, conversationID, sender, phone, tpl)
		return conversationID, messageID, err
	}
	messageID, err = s.send(ctx, u, conversationID, sender, phone, in.Body, in.Media, true, reason)
	return conversationID, messageID, err
}

// ReplyInput is a message typed under a conversation.
type ReplyInput struct {
	Body string
	// SenderID other than the conversation's sends from that sender instead,
	// which continues in the contact's conversation with it.
	SenderID int64
	Media    []db.Media
	IP       string // the request's, for the audit log of a refused send
	// resend: Media are files of an earlier message, sent again (a retry).
	resend bool
}

// Reply sends in an existing conversation, from its sender or the one chosen,
// and returns the conversation the message went to and the message. A reply
// is school business (transactional): only an opt-out stops it.
func (s *Service) Reply(ctx context.Context, u db.User, conversationID int64, in ReplyInput) (int64, int64, error) {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return 0, 0, err
	}
	if !CanSee(u, conv.DepartmentID) {
		return 0, 0, ErrForbidden
	}
	errs := FieldErrors{}
	checkBody(in.Body, len(in.Media) > 0, errs)
	sender := conv.Sender
	if in.SenderID != 0 && in.SenderID != conv.Sender.ID {
		sd, err := s.DB.SenderByID(ctx, in.SenderID)
		switch {
		case errors.Is(err, db.ErrNotFound) || (err == nil && !CanSee(u, sd.DepartmentID)):
			errs["sender"] = "Choose one of your departments' senders."
		case err != nil:
			return 0, 0, err
		case sd.Status == "OFFLINE":
			errs["sender"] = "That sender is offline at Twilio, so it cannot send now. Choose another sender."
		default:
			sender = sd
		}
	} else if sender.Status == "OFFLINE" {
		errs["body"] = "This conversation's number is offline at Twilio, so nothing can be sent from it now. Ask an admin to check the sender, or choose another sender."
	}
	if len(errs) == 0 {
		_, msg, err := s.consentRefusal(ctx, u, policy.PurposeTransactional, refusal{
			ConversationID: conv.ID, ContactID: conv.Contact.ID, Phone: conv.Contact.Phone, Channel: sender.Channel, IP: in.IP})
		if err != nil {
			return 0, 0, err
		}
		if msg != "" {
			errs["body"] = msg
		}
	}
	target := conv
	if len(errs) == 0 && sender.ID != conv.Sender.ID {
		target, err = s.DB.ConversationFor(ctx, conv.Contact.Phone, sender.ID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return 0, 0, err
		}
	}
	if len(errs) == 0 && sender.Channel == policy.ChannelWhatsApp {
		if msg := WindowClosedText(target.LastInboundAt, s.now()); msg != "" {
			errs["body"] = msg
		}
	}
	if len(errs) > 0 {
		return 0, 0, errs
	}
	if sender.ID != conv.Sender.ID {
		err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			target.ID, err = db.UpsertConversationOnTx(ctx, tx, conv.Contact.ID, conv.Contact.Phone, sender)
			return err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("reply from sender %d: %w", sender.ID, err)
		}
	}
	reason := "this conversation's number"
	if sender.ID != conv.Sender.ID {
		reason = "chosen by you"
	}
	id, err := s.send(ctx, u, target.ID, sender, conv.Contact.Phone, in.Body, in.Media, !in.resend, reason)
	return target.ID, id, err
}

// WindowClosedText explains why a free-form WhatsApp message cannot be sent
// now, or is "" while the 24-hour window is open.
func WindowClosedText(lastInbound *time.Time, now time.Time) string {
	if policy.WhatsAppWindow(lastInbound, now).Open {
		return ""
	}
	why := "This contact has not written to this WhatsApp number yet"
	if lastInbound != nil {
		why = "This contact last wrote more than 24 hours ago"
	}
	return why + ", so WhatsApp only allows an approved template, not free text. Template sending arrives in a coming release; until then use SMS or wait for the contact to write."
}

// OptOutText says a contact opted out by replying STOP and since when, in
// the school's zone (see policy.ConsentRefusalText for other ways).
func OptOutText(since time.Time, tz *time.Location) string {
	return policy.ConsentRefusalText(policy.SkipOptedOut,
		map[string]policy.ConsentState{policy.PurposeTransactional: {Method: "keyword", At: since}}, tz)
}

func checkBody(body string, hasMedia bool, errs FieldErrors) {
	switch n := utf8.RuneCountInString(body); {
	case strings.TrimSpace(body) == "" && !hasMedia:
		errs["body"] = "Write a message first."
	case n > MaxBodyLength:
		errs["body"] = fmt.Sprintf("The message is %d characters; the limit is %d.", n, MaxBodyLength)
	}
}

// PickerFor is the sender picker the service uses.
func (s *Service) PickerFor() *senderpick.Picker {
	return &senderpick.Picker{DB: s.DB, Now: s.Now}
}

// pickRequest turns the composer's choice into a picker request: a chosen
// sender, else a strategy (sticky by default: a parent keeps seeing one number).
func pickRequest(u db.User, in ComposeInput, phone string) senderpick.Request {
	req := senderpick.Request{Strategy: in.Strategy, Channel: in.Channel, DepartmentID: in.DepartmentID, ContactPhone: phone, User: u}
	if in.SenderID != 0 {
		req.Strategy, req.SenderID = senderpick.StrategySpecific, in.SenderID
	} else if req.Strategy == "" {
		req.Strategy = senderpick.StrategySticky
	}
	return req
}

// pick chooses the sender of a new message. With no strategy chosen and no
// department to apply it in (an admin, or staff of several departments
// writing to someone new), it falls back to the first sendable sender of the
// channel the user may use.
func (s *Service) pick(ctx context.Context, u db.User, in ComposeInput, phone string) (senderpick.Choice, error) {
	return s.choose(ctx, u, in, phone, false)
}

func (s *Service) choose(ctx context.Context, u db.User, in ComposeInput, phone string, preview bool) (senderpick.Choice, error) {
	p := s.PickerFor()
	run := p.Pick
	if preview {
		run = p.Preview
	}
	choice, err := run(ctx, pickRequest(u, in, phone))
	var ns *senderpick.NoSenderError
	if err == nil || in.SenderID != 0 || in.Strategy != "" || !errors.As(err, &ns) || ns.Field != "department" {
		return choice, err
	}
	cands, cerr := s.DB.PickCandidates(ctx, in.Channel, DepartmentScope(u))
	if cerr != nil {
		return choice, cerr
	}
	for _, c := range cands {
		if db.SenderSendable(c.Status) && c.Sender.DepartmentID != nil {
			ch, err := run(ctx, senderpick.Request{Strategy: senderpick.StrategySpecific, SenderID: c.ID, Channel: in.Channel, User: u})
			if err == nil {
				ch.Reason = "the first " + channelName(in.Channel) + " sender you may use: no department to pick in"
			}
			return ch, err
		}
	}
	return choice, err
}

// PreviewSender says which sender Compose would use and why, for the composer.
func (s *Service) PreviewSender(ctx context.Context, u db.User, in ComposeInput) (senderpick.Choice, error) {
	phone, err := policy.NormalizePhone(in.To, s.DefaultRegion)
	if err != nil {
		phone = ""
	}
	return s.choose(ctx, u, in, phone, true)
}

// composeField maps the picker's field names to the compose form's.
func composeField(f string) string {
	if f == "channel" {
		return "channel"
	}
	return "sender"
}

func channelName(c string) string {
	if c == policy.ChannelWhatsApp {
		return "WhatsApp"
	}
	return "SMS"
}

// send stores the message as queued, then calls Twilio and records its answer.
// attach links uploaded files to the new message; a resend reuses files
// already linked to the message it repeats.
func (s *Service) send(ctx context.Context, u db.User, conversationID int64, sender db.Sender, phone, body string, media []db.Media, attach bool, reason string) (int64, error) {
	return s.submit(ctx, u, conversationID, sender, phone, outbound{Body: body, Media: media, Attach: attach, Reason: reason})
}

// outbound is what one message carries.
type outbound struct {
	Body   string // for a template: the rendered text, shown to staff
	Media  []db.Media
	Attach bool // Media are new uploads, to attach to this message
	Reason string
	// A template: Twilio renders ContentSID with Variables; Body is not sent.
	TemplateID int64
	ContentSID string
	Variables  map[string]string
}

// submit stores the message as queued, then asks Twilio to send it.
func (s *Service) submit(ctx context.Context, u db.User, conversationID int64, sender db.Sender, phone string, o outbound) (int64, error) {
	body, media, attach := o.Body, o.Media, o.Attach
	seg := policy.CountSegments(body)
	from := policy.Address(sender.Channel, sender.Address)
	to := policy.Address(sender.Channel, phone)
	var messageID int64
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		messageID, err = db.InsertOutboundTx(ctx, tx, db.NewOutbound{
			ConversationID: conversationID, Channel: sender.Channel, From: from, To: to,
			Body: body, Segments: seg.Count, SentBy: u.ID, Media: media, SenderReason: o.Reason,
			TemplateID: o.TemplateID, ContentVariables: o.Variables,
		})
		if err != nil {
			return err
		}
		if ids := fileIDs(media); attach && len(ids) > 0 {
			if err := db.AttachMediaFilesTx(ctx, tx, messageID, ids); err != nil {
				return err
			}
		}
		return live.Publish(ctx, tx, live.Event{Type: live.MessageCreated, ConversationID: conversationID, MessageID: messageID, DepartmentID: deref(sender.DepartmentID)})
	})
	if err != nil {
		return 0, fmt.Errorf("store outbound: %w", err)
	}
	req := twilio.SendRequest{To: to, Body: body, StatusCallback: s.StatusCallbackURL}
	if o.ContentSID != "" {
		// Never the template's text in Body: WhatsApp refuses it outside
		// the 24-hour window; Twilio fills the approved template itself.
		req.Body, req.ContentSID, req.ContentVariables = "", o.ContentSID, o.Variables
	}
	for _, id := range fileIDs(media) {
		if s.MediaURL == nil {
			return messageID, errors.New("send media: no media URL source configured")
		}
		u, err := s.MediaURL(ctx, id)
		if err != nil {
			return messageID, fmt.Errorf("send media %d: %w", id, err)
		}
		req.MediaURLs = append(req.MediaURLs, u)
	}
	if sender.Address != "" {
		req.From = from
	} else {
		req.MessagingServiceSID = sender.MessagingServiceSID
	}
	// From here on the work outlives a closed browser tab: once queued, the
	// message must be submitted and Twilio's answer recorded, or its SID and
	// callbacks would be lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	msg, err := s.Gateway.SendMessage(ctx, req)
	if err != nil {
		var apiErr *twilio.APIError
		if !errors.As(err, &apiErr) || apiErr.HTTPStatus >= 500 {
			// No clear answer: the message may exist at Twilio. It stays
			// queued until ReconcileUnsent asks (reconcile.go).
			s.count(sender.Channel, "unconfirmed")
			s.Log.Warn("send unconfirmed: Twilio will be asked", "message_id", messageID, "err", redactedSendError(err))
			if ferr := s.DB.MarkSendUnconfirmed(ctx, messageID, unconfirmedText); ferr != nil {
				return messageID, ferr
			}
			return messageID, s.publishStatus(ctx, conversationID, messageID, sender.DepartmentID)
		}
		// Twilio refused it: nothing was sent.
		s.count(sender.Channel, strconv.Itoa(apiErr.Code))
		// Twilio's message text can hold the phone number: log the code only.
		s.Log.Warn("send failed", "message_id", messageID, "code", apiErr.Code, "http_status", apiErr.HTTPStatus)
		if ferr := s.DB.SetMessageFailed(ctx, messageID, apiErr.Code, apiErr.Message); ferr != nil {
			return messageID, ferr
		}
		return messageID, s.publishStatus(ctx, conversationID, messageID, sender.DepartmentID)
	}
	s.count(sender.Channel, "ok")
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.LockSIDTx(ctx, tx, msg.SID); err != nil {
			return err
		}
		if err := db.SetMessageSubmittedTx(ctx, tx, messageID, msg.SID, msg.NumSegments); err != nil {
			return err
		}
		// Callbacks can beat the create call's answer; they were kept, apply them now.
		if _, err := applyPendingTx(ctx, tx, msg.SID); err != nil {
			return err
		}
		return live.Publish(ctx, tx, live.Event{Type: live.MessageStatus, ConversationID: conversationID, MessageID: messageID, DepartmentID: deref(sender.DepartmentID)})
	})
	if err != nil {
		return messageID, fmt.Errorf("record sid %s: %w", msg.SID, err)
	}
	return messageID, nil
}

func (s *Service) count(channel, result string) {
	if s.OnSend != nil {
		s.OnSend(channel, result)
	}
}

func (s *Service) publishStatus(ctx context.Context, conversationID, messageID int64, dep *int64) error {
	return live.Publish(ctx, s.DB.Pool, live.Event{Type: live.MessageStatus, ConversationID: conversationID, MessageID: messageID, DepartmentID: deref(dep)})
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// ErrNotRetryable means the failed message would fail the same way again.
var ErrNotRetryable = errors.New("this message cannot be retried")

// Retry sends a failed message's text again as a new message in the same
// conversation; the failed one stays in the history with its reason.
func (s *Service) Retry(ctx context.Context, u db.User, messageID int64) (int64, error) {
	m, err := s.DB.MessageByID(ctx, messageID)
	if err != nil {
		return 0, err
	}
	conv, err := s.DB.ConversationByID(ctx, m.ConversationID)
	if err != nil {
		return 0, err
	}
	if !CanSee(u, conv.DepartmentID) {
		return 0, ErrForbidden
	}
	code := 0
	if m.ErrorCode != nil {
		code = *m.ErrorCode
	}
	if m.Direction != "outbound" || (m.Status != "failed" && m.Status != "undelivered") || !policy.Retryable(code) {
		return 0, ErrNotRetryable
	}
	_, id, err := s.Reply(ctx, u, conv.ID, ReplyInput{Body: m.Body, Media: m.Media, resend: true})
	return id, err
}

func fileIDs(media []db.Media) []int64 {
	var ids []int64
	for _, m := range media {
		if m.FileID != 0 {
			ids = append(ids, m.FileID)
		}
	}
	return ids
}
