package senderadmin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
)

// Service registers, verifies, edits and archives senders. Every change is
// audited in the transaction that stores it. Twilio is asked first and the
// row written after: a failure in between leaves a sender at Twilio that the
// next sync (every 10 minutes) brings in without a department, never a row
// that claims a registration Twilio does not have.
type Service struct {
	DB      *db.DB
	Gateway *twilio.Gateway
	// Region is the country assumed for numbers typed without a country code.
	Region string
}

// Verification choices on the registration form.
const (
	VerifyTwilio = "twilio" // a number bought at Twilio: Twilio reads the code itself
	VerifySMS    = twilio.VerifyBySMS
	VerifyVoice  = twilio.VerifyByVoice
)

// ErrUnreachable wraps a failure to get any answer from Twilio (network,
// timeout): nothing is known to have changed there.
var ErrUnreachable = errors.New("twilio could not be reached")

// ErrNotFound is returned for a sender that does not exist or is archived.
var ErrNotFound = errors.New("no such sender")

// Refusal is Twilio refusing a request, explained for the admin.
type Refusal struct {
	HTTPStatus, Code int
	Message          string // Twilio's own words
	Help             policy.SenderErrorHelp
	// Field is the form field Twilio's message points at, when it names one.
	Field string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("twilio refused (HTTP %d, code %d): %s", r.HTTPStatus, r.Code, r.Message)
}

// fieldOfMessage maps the field a Senders API validation message names to
// the form's field.
var fieldOfMessage = []struct {
	re    *regexp.Regexp
	field string
}{
	{regexp.MustCompile(`\bprofile\.name\b`), "display_name"},
	{regexp.MustCompile(`\bsender_id\b`), "number"},
	{regexp.MustCompile(`\bprofile\.about\b`), "about"},
	{regexp.MustCompile(`\bprofile\.address\b`), "address"},
	{regexp.MustCompile(`\bprofile\.description\b`), "description"},
	{regexp.MustCompile(`\bprofile\.emails\b`), "emails"},
	{regexp.MustCompile(`\bprofile\.websites\b`), "websites"},
	{regexp.MustCompile(`\bprofile\.vertical\b`), "vertical"},
	{regexp.MustCompile(`\bprofile\.logo_url\b`), "logo_url"},
	{regexp.MustCompile(`\bwebhook\.callback_url\b`), "webhook_url"},
	{regexp.MustCompile(`\bwebhook\.fallback_url\b`), "fallback_url"},
	{regexp.MustCompile(`\bwebhook\.status_callback_url\b`), "status_callback_url"},
	{regexp.MustCompile(`\bverification_code\b`), "code"},
}

// explain turns a gateway error into a *Refusal or an ErrUnreachable error.
func explain(op string, err error) error {
	var apiErr *twilio.APIError
	if !errors.As(err, &apiErr) {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
	}
	r := &Refusal{HTTPStatus: apiErr.HTTPStatus, Code: apiErr.Code, Message: apiErr.Message, Help: policy.ExplainSenderError(apiErr.Code)}
	if r.Help.Title == "" {
		r.Help = policy.SenderErrorHelp{Title: fmt.Sprintf("Twilio answered %d", apiErr.HTTPStatus),
			Meaning: "Twilio refused the request.", Action: "Read Twilio's message below; if it does not help, contact Twilio support."}
	}
	if apiErr.HTTPStatus == http.StatusConflict && apiErr.Code == 63110 {
		// A 409 is not WhatsApp's "number in use elsewhere" (that one comes
		// later, as an offline reason): the number already has a sender in
		// this very Twilio account.
		r.Help.Title = "Already registered in this Twilio account"
		r.Help.Meaning = "This number already has a WhatsApp sender in the school's Twilio account, so it cannot be registered a second time."
		r.Help.Action = "Go back to the senders list and press “Check with Twilio now”: the existing sender appears there and can be given a department. " +
			"To start over instead, delete that sender first, then register the number again."
		r.Field = "number"
	}
	for _, f := range fieldOfMessage {
		if r.Field == "" && f.re.MatchString(apiErr.Message) {
			r.Field = f.field
		}
	}
	return r
}

// IsNotFoundAtTwilio reports whether err is Twilio's 404 (code 20404).
func IsNotFoundAtTwilio(err error) bool {
	var apiErr *twilio.APIError
	return errors.As(err, &apiErr) && (apiErr.HTTPStatus == http.StatusNotFound || apiErr.Code == 20404)
}

// health is a Twilio sender as the columns the app reads.
func health(s twilio.Sender, withProfile bool) db.SenderHealth {
	h := db.SenderHealth{Status: s.Status, QualityRating: s.QualityRating, MessagingLimit: s.MessagingLimit}
	h.OfflineReasons = make([]db.OfflineReason, 0, len(s.OfflineReasons))
	for _, r := range s.OfflineReasons {
		h.OfflineReasons = append(h.OfflineReasons, db.OfflineReason{Code: r.Code, Message: r.Message})
	}
	if withProfile {
		h.DisplayName = s.DisplayName
		p := storedProfile(s)
		h.Profile = &p
	}
	return h
}

func target(id int64) string { return "sender:" + strconv.FormatInt(id, 10) }

// departmentOf checks the department chosen on a form (0: none).
func (s *Service) departmentOf(ctx context.Context, id int64, errs FieldErrors) (*int64, error) {
	if id == 0 {
		return nil, nil
	}
	ok, err := db.ActiveDepartmentExists(ctx, s.DB.Pool, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		errs["department"] = "That department no longer exists or was archived; choose another."
	}
	return &id, nil
}

// RegisterInput is the "Register a WhatsApp sender" form.
type RegisterInput struct {
	Number       string
	DepartmentID int64 // 0: unassigned
	Profile      ProfileInput
	// Verification is VerifyTwilio, VerifySMS or VerifyVoice.
	Verification string
}

// Register checks the form, registers the number with Twilio's Senders API
// and stores the sender. Problems with the form come back as FieldErrors
// (Twilio is not asked); Twilio's refusals as *Refusal.
func (s *Service) Register(ctx context.Context, actor db.User, in RegisterInput, ip string) (int64, error) {
	errs := FieldErrors{}
	number, err := policy.NormalizePhone(in.Number, s.Region)
	if err != nil {
		errs["number"] = err.Error()
	}
	p := CheckProfile(in.Profile, errs)
	method := ""
	switch in.Verification {
	case VerifyTwilio:
	case VerifySMS, VerifyVoice:
		method = in.Verification
	default:
		errs["verification"] = "Choose how the number receives its code."
	}
	dep, err := s.departmentOf(ctx, in.DepartmentID, errs)
	if err != nil {
		return 0, err
	}
	if number != "" {
		existing, err := db.ActiveSenderByAddress(ctx, s.DB.Pool, policy.ChannelWhatsApp, number)
		switch {
		case err == nil && existing.TwilioSID != "":
			errs["number"] = "Classline already has this number as a WhatsApp sender (" + existing.DisplayName + "). Open it from the senders list instead."
		case err != nil && !errors.Is(err, db.ErrNotFound):
			return 0, err
		}
	}
	if len(errs) > 0 {
		return 0, errs
	}

	sender, err := s.Gateway.CreateWhatsAppSender(ctx, twilio.SenderRegistration{
		Number: number, DisplayName: p.DisplayName, Profile: p.Profile,
		WebhookURL: p.Webhook.Callback, FallbackURL: p.Webhook.Fallback, StatusCallbackURL: p.Webhook.Status,
		VerificationMethod: method,
	})
	if err != nil {
		return 0, explain("register sender", err)
	}
	stored := storedProfile(sender)
	if stored.VerificationMethod == "" {
		stored.VerificationMethod = method
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.SaveSenderTx(ctx, tx, db.NewSender{
			Channel: policy.ChannelWhatsApp, Address: number, DisplayName: p.DisplayName, DepartmentID: dep,
			TwilioSID: sender.SID, Health: health(sender, false), Profile: stored,
		})
		if err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.register", target(id), nil, map[string]any{
			"number": number, "display_name": p.DisplayName, "department_id": dep, "twilio_sender_sid": sender.SID,
			"status": sender.Status, "verification": in.Verification,
		}, ip)
	})
	if err != nil {
		return 0, fmt.Errorf("register sender %s (%s, registered at Twilio): %w", number, sender.SID, err)
	}
	return id, nil
}

// StaleError says the sender shown is what was last stored: Twilio could
// not be asked just now.
type StaleError struct{ Err error }

func (e *StaleError) Error() string { return "sender status not refreshed: " + e.Err.Error() }
func (e *StaleError) Unwrap() error { return e.Err }

// Get loads an unarchived sender.
func (s *Service) Get(ctx context.Context, id int64) (db.SenderDetail, error) {
	d, err := s.DB.SenderDetailByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) || (err == nil && d.ArchivedAt != nil) {
		return d, ErrNotFound
	}
	return d, err
}

// Refresh asks Twilio for a registered sender's state, stores it and returns
// the sender. When Twilio cannot be asked it returns the stored sender with
// a *StaleError. Senders without a Twilio registration (SMS numbers,
// Messaging Services) are returned as stored.
func (s *Service) Refresh(ctx context.Context, id int64) (db.SenderDetail, error) {
	d, err := s.Get(ctx, id)
	if err != nil || d.TwilioSID == "" {
		return d, err
	}
	tw, err := s.Gateway.FetchSender(ctx, d.TwilioSID)
	var h db.SenderHealth
	switch {
	case IsNotFoundAtTwilio(err):
		// Deleted outside Classline (the Twilio Console): it cannot send.
		h = db.SenderHealth{Status: twilio.SenderOffline, OfflineReasons: []db.OfflineReason{{Code: 20404,
			Message: "Twilio no longer has this sender: it was deleted outside Classline."}}}
	case err != nil:
		return d, &StaleError{Err: fmt.Errorf("refresh sender %d: %w", id, err)}
	default:
		h = health(tw, true)
	}
	if err := s.DB.UpdateSenderHealth(ctx, id, h); err != nil {
		return d, err
	}
	return s.Get(ctx, id)
}

// onlyDigits keeps the digits of a typed code ("123 456", "123-456").
func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if r != ' ' && r != '-' {
			return ""
		}
	}
	return b.String()
}

// Verify submits the verification code sent to a sender's number. A wrong
// code is not an error here: Twilio reports it a moment later as offline
// reason 63113, which Refresh picks up. The code itself is never stored or
// audited.
func (s *Service) Verify(ctx context.Context, actor db.User, id int64, code, ip string) (db.SenderDetail, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if d.TwilioSID != "" && d.Status != twilio.SenderPendingVerification {
		// What is stored may be a step behind Twilio (nobody watched the page).
		var stale *StaleError
		if d, err = s.Refresh(ctx, id); err != nil && !errors.As(err, &stale) {
			return d, err
		}
	}
	code = strings.TrimSpace(code)
	digits := onlyDigits(code)
	switch {
	case d.TwilioSID == "":
		return d, FieldErrors{"code": "This sender is not registered through Twilio's Senders API; it has no code to enter."}
	case d.Status != twilio.SenderPendingVerification:
		return d, FieldErrors{"code": "This sender is not waiting for a code now: " + policy.ExplainSenderStatus(d.Status)}
	case code == "":
		return d, FieldErrors{"code": "Enter the 6-digit code sent to the number."}
	case digits == "" || utf8.RuneCountInString(digits) != 6:
		return d, FieldErrors{"code": "The code is 6 digits, as received by SMS or voice call."}
	}
	tw, err := s.Gateway.VerifySender(ctx, d.TwilioSID, digits)
	if err != nil {
		return d, explain("verify sender", err)
	}
	return s.record(ctx, actor, d, tw, "senders.verify", nil, map[string]any{"status": tw.Status}, ip)
}

// Resend asks for a new verification code by method (VerifySMS or VerifyVoice).
func (s *Service) Resend(ctx context.Context, actor db.User, id int64, method, ip string) (db.SenderDetail, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return d, err
	}
	switch {
	case method != VerifySMS && method != VerifyVoice:
		return d, FieldErrors{"resend": "Choose SMS or voice call."}
	case d.TwilioSID == "" || d.Status != twilio.SenderPendingVerification:
		return d, FieldErrors{"resend": "This sender is not waiting for a code now: " + policy.ExplainSenderStatus(d.Status)}
	}
	tw, err := s.Gateway.ResendVerificationCode(ctx, d.TwilioSID, method)
	if err != nil {
		return d, explain("resend verification code", err)
	}
	return s.record(ctx, actor, d, tw, "senders.resend", nil, map[string]any{"method": method}, ip)
}

// record stores Twilio's answer about a sender with an audit entry.
func (s *Service) record(ctx context.Context, actor db.User, d db.SenderDetail, tw twilio.Sender, action string, before, after any, ip string) (db.SenderDetail, error) {
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.UpdateSenderHealthTx(ctx, tx, d.ID, health(tw, true)); err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, action, target(d.ID), before, after, ip)
	})
	if err != nil {
		return d, fmt.Errorf("%s %d: %w", action, d.ID, err)
	}
	return s.Get(ctx, d.ID)
}

// UpdateProfile changes a registered WhatsApp sender's display name, profile
// and webhooks at Twilio, with the registration's checks. Emptying a text
// field leaves Twilio's value as it is (the Senders API only takes values).
func (s *Service) UpdateProfile(ctx context.Context, actor db.User, id int64, in ProfileInput, ip string) error {
	d, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if d.TwilioSID == "" {
		return FieldErrors{"display_name": "Only a WhatsApp sender registered through Twilio's Senders API has a profile to edit."}
	}
	errs := FieldErrors{}
	p := CheckProfile(in, errs)
	if len(errs) > 0 {
		return errs
	}
	tw, err := s.Gateway.UpdateSender(ctx, d.TwilioSID, twilio.SenderUpdate{
		DisplayName: &p.DisplayName, Profile: &p.Profile,
		WebhookURL: &p.Webhook.Callback, FallbackURL: &p.Webhook.Fallback, StatusCallbackURL: &p.Webhook.Status,
	})
	if err != nil {
		return explain("update sender", err)
	}
	after := storedProfile(tw)
	if after.VerificationMethod == "" {
		after.VerificationMethod = d.Profile.VerificationMethod
	}
	_, err = s.record(ctx, actor, d, tw, "senders.profile",
		map[string]any{"display_name": d.DisplayName, "profile": d.Profile},
		map[string]any{"display_name": tw.DisplayName, "profile": after}, ip)
	return err
}

// SetDepartment gives a sender a department, or none (departmentID 0).
func (s *Service) SetDepartment(ctx context.Context, actor db.User, id, departmentID int64, ip string) error {
	errs := FieldErrors{}
	dep, err := s.departmentOf(ctx, departmentID, errs)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		d, err := db.SenderDetailByIDTx(ctx, tx, id, true)
		if errors.Is(err, db.ErrNotFound) || (err == nil && d.ArchivedAt != nil) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := db.SetSenderDepartmentTx(ctx, tx, id, dep); err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.department", target(id),
			map[string]any{"department_id": d.DepartmentID, "department": d.DepartmentName, "department_default": d.DepartmentDefault},
			map[string]any{"department_id": dep}, ip)
	})
}

// Delete removes a sender's registration at Twilio (a sender Twilio no
// longer has counts as removed) and archives the row. Conversations and
// messages stay.
func (s *Service) Delete(ctx context.Context, actor db.User, id int64, ip string) error {
	d, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	alreadyGone := false
	if d.TwilioSID != "" {
		if err := s.Gateway.DeleteSender(ctx, d.TwilioSID); err != nil {
			if !IsNotFoundAtTwilio(err) {
				return explain("delete sender", err)
			}
			alreadyGone = true
		}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.ArchiveSenderTx(ctx, tx, id); err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.delete", target(id),
			map[string]any{"channel": d.Channel, "address": d.Address, "messaging_service_sid": d.MessagingServiceSID,
				"display_name": d.DisplayName, "department_id": d.DepartmentID, "twilio_sender_sid": d.TwilioSID, "status": d.Status},
			map[string]any{"archived": true, "already_deleted_at_twilio": alreadyGone}, ip)
	})
}

// checkLabel checks an SMS number's or Messaging Service's label.
func checkLabel(label string, errs FieldErrors) {
	if n := utf8.RuneCountInString(label); n > 60 {
		errs["label"] = fmt.Sprintf("Keep the label to 60 characters; it has %d.", n)
	}
}

// SMSInput is the "Add an SMS number" form.
type SMSInput struct {
	Number, Label string
	DepartmentID  int64
}

// AddSMS adds an SMS number the school has at Twilio. SMS numbers need no
// registration, so the sender is ONLINE at once.
func (s *Service) AddSMS(ctx context.Context, actor db.User, in SMSInput, ip string) (int64, error) {
	in.Label = strings.TrimSpace(in.Label)
	errs := FieldErrors{}
	number, err := policy.NormalizePhone(in.Number, s.Region)
	if err != nil {
		errs["number"] = err.Error()
	}
	checkLabel(in.Label, errs)
	dep, err := s.departmentOf(ctx, in.DepartmentID, errs)
	if err != nil {
		return 0, err
	}
	if len(errs) > 0 {
		return 0, errs
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		// The unique index covers archived rows too; the lock makes the
		// duplicate check and the insert one step for concurrent forms.
		if err := db.LockSenderKeyTx(ctx, tx, "sms:"+number); err != nil {
			return err
		}
		if _, err := db.ActiveSenderByAddress(ctx, tx, policy.ChannelSMS, number); err == nil {
			return FieldErrors{"number": "Classline already has this SMS number; open it from the senders list to change it."}
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var err error
		if id, err = db.SaveSenderTx(ctx, tx, db.NewSender{Channel: policy.ChannelSMS, Address: number, DisplayName: in.Label,
			DepartmentID: dep, Health: db.SenderHealth{Status: twilio.SenderOnline}}); err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.add_sms", target(id), nil,
			map[string]any{"number": number, "label": in.Label, "department_id": dep}, ip)
	})
	return id, err
}

// ServiceInput is the "Add a Messaging Service" form.
type ServiceInput struct {
	SID, Channel, Label string
	DepartmentID        int64
}

// AddService adds a Twilio Messaging Service as a sender of one channel:
// Twilio picks the number from the service's pool for each message.
func (s *Service) AddService(ctx context.Context, actor db.User, in ServiceInput, ip string) (int64, error) {
	in.SID, in.Label = strings.TrimSpace(in.SID), strings.TrimSpace(in.Label)
	errs := FieldErrors{}
	if msg := CheckServiceSID(in.SID); msg != "" {
		errs["sid"] = msg
	}
	if in.Channel != policy.ChannelWhatsApp && in.Channel != policy.ChannelSMS {
		errs["channel"] = "Choose WhatsApp or SMS."
	}
	checkLabel(in.Label, errs)
	dep, err := s.departmentOf(ctx, in.DepartmentID, errs)
	if err != nil {
		return 0, err
	}
	if len(errs) > 0 {
		return 0, errs
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.LockSenderKeyTx(ctx, tx, in.Channel+":"+in.SID); err != nil {
			return err
		}
		if _, err := db.ActiveServiceSender(ctx, tx, in.Channel, in.SID); err == nil {
			return FieldErrors{"sid": "Classline already has this Messaging Service for " + channelName(in.Channel) + "."}
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var err error
		if id, err = db.SaveSenderTx(ctx, tx, db.NewSender{Channel: in.Channel, MessagingServiceSID: in.SID, DisplayName: in.Label,
			DepartmentID: dep, Health: db.SenderHealth{Status: twilio.SenderOnline}}); err != nil {
			return err
		}
		uid := actor.ID
		return db.AuditTx(ctx, tx, &uid, "senders.add_service", target(id), nil,
			map[string]any{"messaging_service_sid": in.SID, "channel": in.Channel, "label": in.Label, "department_id": dep}, ip)
	})
	return id, err
}

func channelName(c string) string {
	if c == policy.ChannelWhatsApp {
		return "WhatsApp"
	}
	return "SMS"
}
