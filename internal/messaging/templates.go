package messaging

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// TemplateInput is a template sent in a conversation.
type TemplateInput struct {
	TemplateID int64
	// Values fill the variables, by number ("1": "Ana").
	Values map[string]string
	// IP is the request's, for the audit log of a refused SendTemplate
	// (New message passes it in ComposeInput).
	IP string
}

// maxVariableValue bounds one variable's value; WhatsApp refuses long ones.
const maxVariableValue = 1024

// SendTemplate sends an approved template (any template on SMS) in the
// conversation with ContentSid and ContentVariables; the message stored is
// the rendered text, marked with its template. Like a reply it is school
// business (transactional): only an opt-out stops it, and that refusal is
// audited. Problems come back as FieldErrors: "template", "var_<n>",
// "body" (opted out, sender offline).
func (s *Service) SendTemplate(ctx context.Context, u db.User, conversationID int64, in TemplateInput) (int64, error) {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return 0, err
	}
	if !CanSee(u, conv.DepartmentID) {
		return 0, ErrForbidden
	}
	errs := FieldErrors{}
	out, err := s.prepareTemplate(ctx, conv.Sender.Channel, in, errs)
	if err != nil {
		return 0, err
	}
	if conv.Sender.Status == "OFFLINE" {
		errs["body"] = "This conversation's number is offline at Twilio, so nothing can be sent from it now."
	}
	if len(errs) == 0 {
		_, msg, err := s.consentRefusal(ctx, u, policy.PurposeTransactional, refusal{
			ConversationID: conv.ID, ContactID: conv.Contact.ID, Phone: conv.Contact.Phone, Channel: conv.Sender.Channel, IP: in.IP})
		if err != nil {
			return 0, err
		}
		if msg != "" {
			errs["body"] = msg
		}
	}
	if len(errs) > 0 {
		return 0, errs
	}
	out.Reason = "this conversation's number"
	return s.submit(ctx, u, conv.ID, conv.Sender, conv.Contact.Phone, out)
}

// prepareTemplate checks a template send on channel, adding problems to
// errs ("template", "var_<n>"), and returns the message to submit.
func (s *Service) prepareTemplate(ctx context.Context, channel string, in TemplateInput, errs FieldErrors) (outbound, error) {
	t, err := s.DB.TemplateByID(ctx, in.TemplateID)
	switch {
	case errors.Is(err, db.ErrNotFound) || (err == nil && t.ContentSID == ""):
		errs["template"] = "Choose a template."
		return outbound{}, nil
	case err != nil:
		return outbound{}, err
	case channel == policy.ChannelWhatsApp && t.ApprovalStatus != templates.StatusApproved:
		errs["template"] = "WhatsApp has not approved this template (" + t.ApprovalStatus + "), so it cannot be sent on WhatsApp. Choose an approved one."
		return outbound{}, nil
	}
	body := templates.FromTypes(t.Types).Body
	nums, _ := templates.Variables(body)
	values := map[string]string{}
	for _, n := range nums {
		k := strconv.Itoa(n)
		v := strings.TrimSpace(in.Values[k])
		switch {
		case v == "":
			errs["var_"+k] = "Fill in {{" + k + "}}."
		case utf8.RuneCountInString(v) > maxVariableValue:
			errs["var_"+k] = "Too long."
		case strings.ContainsAny(v, "\n\t") || strings.Contains(v, "    "):
			// WhatsApp refuses variables with new lines, tabs or more than 4 spaces.
			errs["var_"+k] = "WhatsApp refuses line breaks, tabs and long runs of spaces in a variable."
		}
		values[k] = v
	}
	return outbound{Body: templates.Render(body, values), TemplateID: t.ID, ContentSID: t.ContentSID, Variables: values}, nil
}
