package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	twiliogo "github.com/twilio/twilio-go"
	content "github.com/twilio/twilio-go/rest/content/v1"
)

// Message templates, through Twilio's Content API (content.twilio.com/v1).
//
// A template (a Content resource, SID HX…) holds one body in one language, in one or more
// content types (twilio/text, twilio/media, twilio/quick-reply, twilio/call-to-action, ...),
// with numbered placeholders {{1}}, {{2}}... whose sample values are its Variables. It is sent
// with SendRequest.ContentSID and ContentVariables.
//
// SMS needs no approval. WhatsApp does, for business-initiated messages (outside the 24-hour
// window after the parent's last message): submit the template with SubmitWhatsAppApproval,
// then poll FetchApprovalStatus (or ListContentAndApprovals). Meta decides asynchronously:
//
//	unsubmitted → received → pending → approved   usable outside the window
//	                                 → rejected   RejectionReason says why; Twilio takes one
//	                                              request per template: create a new one to retry
//	approved → paused    Meta paused it (low quality: parents blocked or reported it)
//	         → disabled  Meta disabled it (repeatedly paused)
//
// A template that is not approved still goes to WhatsApp as a session message within the
// window; outside it the message fails with 63016 (policy.ExplainError says what it means).
// Errors when sending: 21655 unknown ContentSid, 21656 invalid ContentVariables.

// WhatsApp approval statuses, as the Content API reports them.
const (
	ApprovalUnsubmitted = "unsubmitted"
	ApprovalReceived    = "received"
	ApprovalPending     = "pending"
	ApprovalApproved    = "approved"
	ApprovalRejected    = "rejected"
	ApprovalPaused      = "paused"
	ApprovalDisabled    = "disabled"
)

// WhatsApp template categories (Meta's): what a template is for, which sets its price and rules.
const (
	CategoryUtility        = "UTILITY"        // about something the parent asked for or is part of
	CategoryMarketing      = "MARKETING"      // anything else: news, events, fundraising
	CategoryAuthentication = "AUTHENTICATION" // one-time codes
)

// Call-to-action button types.
const (
	ActionURL         = "URL"
	ActionPhoneNumber = "PHONE_NUMBER"
)

// Template is a message template (a Content resource).
type Template struct {
	SID          string // HX…
	FriendlyName string // for staff; parents never see it
	Language     string // e.g. "en", "en_GB", "pt_BR"
	// Variables are the sample values of the placeholders, by number: {"1": "Ada"} for {{1}}.
	Variables map[string]string
	Types     TemplateTypes

	DateCreated, DateUpdated time.Time
}

// TemplateTypes are a template's content types; Twilio picks the one the channel supports.
// Nil means the template does not have that type.
type TemplateTypes struct {
	Text         *TextType         // twilio/text: every channel
	Media        *MediaType        // twilio/media
	QuickReply   *QuickReplyType   // twilio/quick-reply: reply buttons
	CallToAction *CallToActionType // twilio/call-to-action: link and phone buttons
	// Other names the template's other types (e.g. "twilio/location", "whatsapp/card"), which
	// this package reads by name only and cannot create.
	Other []string
}

// TextType is twilio/text.
type TextType struct{ Body string }

// MediaType is twilio/media: files (by URL, placeholders allowed after the domain) and a body.
type MediaType struct {
	Body string
	URLs []string
}

// QuickReplyType is twilio/quick-reply: a body and up to 10 reply buttons.
type QuickReplyType struct {
	Body    string
	Actions []QuickReplyAction
}

// QuickReplyAction is a reply button: its Title (at most 20 characters) is what the parent
// taps; ID comes back in the inbound message's ButtonPayload.
type QuickReplyAction struct{ Title, ID string }

// CallToActionType is twilio/call-to-action: a body and buttons opening a link or calling.
type CallToActionType struct {
	Body    string
	Actions []CallToActionAction
}

// CallToActionAction is a button: Type ActionURL with URL, or ActionPhoneNumber with Phone
// (E.164).
type CallToActionAction struct{ Type, Title, URL, Phone string }

// Body is the template's text in its richest type (what WhatsApp shows): quick-reply,
// call-to-action, media, then text.
func (t Template) Body() string {
	switch ty := t.Types; {
	case ty.QuickReply != nil && ty.QuickReply.Body != "":
		return ty.QuickReply.Body
	case ty.CallToAction != nil && ty.CallToAction.Body != "":
		return ty.CallToAction.Body
	case ty.Media != nil && ty.Media.Body != "":
		return ty.Media.Body
	case ty.Text != nil:
		return ty.Text.Body
	}
	return ""
}

// NewTemplate is what creating a template needs: Language and at least one type. Every
// placeholder {{n}} needs a sample value in Variables, numbered from 1 without gaps.
type NewTemplate struct {
	FriendlyName string
	Language     string
	Variables    map[string]string
	Types        TemplateTypes // Other is ignored
}

// Approval is a template's WhatsApp approval request.
type Approval struct {
	Name     string // the WhatsApp template name: lowercase letters, digits, underscores
	Category string // one of the Category… constants (Meta may change it when allowed)
	// ContentType is the type submitted, e.g. "twilio/quick-reply"; "" until submitted.
	ContentType string
	Status      string // one of the Approval… constants
	// RejectionReason is Meta's reason for a rejection (and sometimes for a pause).
	RejectionReason     string
	AllowCategoryChange bool
}

// Approved reports whether WhatsApp lets the template start a conversation.
func (a Approval) Approved() bool { return a.Status == ApprovalApproved }

// Submitted reports whether an approval was requested (whatever its outcome).
func (a Approval) Submitted() bool { return a.Status != "" && a.Status != ApprovalUnsubmitted }

// TemplateWithApproval is a template and its WhatsApp approval.
type TemplateWithApproval struct {
	Template
	Approval Approval
}

var contentSID = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

func checkContentSID(op, sid string) error {
	if !contentSID.MatchString(sid) {
		return fmt.Errorf("twilio: %s: invalid content SID %q (want HX and 32 hex digits)", op, sid)
	}
	return nil
}

// CreateContent creates a template. Twilio's validation failures come back as *APIError.
func (g *Gateway) CreateContent(ctx context.Context, t NewTemplate) (Template, error) {
	if strings.TrimSpace(t.Language) == "" {
		return Template{}, errors.New("twilio: create content: a language is required")
	}
	types := toTypesParams(t.Types)
	if types == (content.Types{}) {
		return Template{}, errors.New("twilio: create content: at least one content type is required")
	}
	req := content.ContentCreateRequest{
		FriendlyName: t.FriendlyName,
		Variables:    t.Variables,
		Language:     t.Language,
		Types:        types,
	}
	p := (&content.CreateContentParams{}).SetContentCreateRequest(req)
	var out *content.ContentV1Content
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.ContentV1.CreateContent(p)
		return err
	})
	if err != nil {
		return Template{}, fmt.Errorf("twilio: create content: %w", err)
	}
	return toTemplate(out.Sid, out.FriendlyName, out.Language, out.Variables, out.Types,
		out.DateCreated, out.DateUpdated), nil
}

// FetchContent reads a template by SID.
func (g *Gateway) FetchContent(ctx context.Context, sid string) (Template, error) {
	if err := checkContentSID("fetch content", sid); err != nil {
		return Template{}, err
	}
	var out *content.ContentV1Content
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.ContentV1.FetchContent(sid)
		return err
	})
	if err != nil {
		return Template{}, fmt.Errorf("twilio: fetch content %s: %w", sid, err)
	}
	return toTemplate(out.Sid, out.FriendlyName, out.Language, out.Variables, out.Types,
		out.DateCreated, out.DateUpdated), nil
}

// contentPageSize is how many templates ListContentAndApprovals asks for per page.
const contentPageSize = 100

// ListContentAndApprovals returns every template of the account with its WhatsApp approval,
// following all pages.
func (g *Gateway) ListContentAndApprovals(ctx context.Context) ([]TemplateWithApproval, error) {
	return g.listContentAndApprovals(ctx, contentPageSize)
}

func (g *Gateway) listContentAndApprovals(ctx context.Context, pageSize int) ([]TemplateWithApproval, error) {
	var out []TemplateWithApproval
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		p := (&content.ListContentAndApprovalsParams{}).SetPageSize(pageSize)
		list, err := rc.ContentV1.ListContentAndApprovals(p)
		if err != nil {
			return err
		}
		out = make([]TemplateWithApproval, 0, len(list))
		for _, c := range list {
			out = append(out, TemplateWithApproval{
				Template: toTemplate(c.Sid, c.FriendlyName, c.Language, c.Variables, c.Types,
					c.DateCreated, c.DateUpdated),
				Approval: toApproval(approvalOf(c.ApprovalRequests)),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("twilio: list content and approvals: %w", err)
	}
	return out, nil
}

// SubmitWhatsAppApproval asks WhatsApp to approve a template under name (lowercase letters,
// digits and underscores, at most 512) in category (a Category… constant). The answer has
// status received; see the notes above for what follows. Twilio takes one request per
// template: a second one is refused with an *APIError.
func (g *Gateway) SubmitWhatsAppApproval(ctx context.Context, sid, name, category string) (Approval, error) {
	if err := checkContentSID("submit for approval", sid); err != nil {
		return Approval{}, err
	}
	p := (&content.CreateApprovalCreateParams{}).SetContentApprovalRequest(content.ContentApprovalRequest{
		Name:     name,
		Category: category,
	})
	var out *content.ContentV1ApprovalCreate
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.ContentV1.CreateApprovalCreate(sid, p)
		return err
	})
	if err != nil {
		return Approval{}, fmt.Errorf("twilio: submit %s for approval: %w", sid, err)
	}
	a := Approval{
		Name:            deref(out.Name),
		Category:        deref(out.Category),
		ContentType:     deref(out.ContentType),
		Status:          deref(out.Status),
		RejectionReason: deref(out.RejectionReason),
	}
	if out.AllowCategoryChange != nil {
		a.AllowCategoryChange = *out.AllowCategoryChange
	}
	return a, nil
}

// FetchApprovalStatus reads a template's WhatsApp approval (status unsubmitted before any
// request).
func (g *Gateway) FetchApprovalStatus(ctx context.Context, sid string) (Approval, error) {
	if err := checkContentSID("fetch approval status", sid); err != nil {
		return Approval{}, err
	}
	var out *content.ContentV1ApprovalFetch
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.ContentV1.FetchApprovalFetch(sid)
		return err
	})
	if err != nil {
		return Approval{}, fmt.Errorf("twilio: fetch approval status %s: %w", sid, err)
	}
	var wa map[string]any
	if out.Whatsapp != nil {
		wa = *out.Whatsapp
	}
	return toApproval(wa), nil
}

// DeleteContent deletes a template. Messages already sent keep their text; sending it again
// fails with 21655.
func (g *Gateway) DeleteContent(ctx context.Context, sid string) error {
	if err := checkContentSID("delete content", sid); err != nil {
		return err
	}
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		return rc.ContentV1.DeleteContent(sid)
	})
	if err != nil {
		return fmt.Errorf("twilio: delete content %s: %w", sid, err)
	}
	return nil
}

// toTypesParams is t as the request's types (Other is not sent).
func toTypesParams(t TemplateTypes) content.Types {
	var out content.Types
	if t.Text != nil {
		out.TwilioText = &content.TwilioText{Body: t.Text.Body}
	}
	if t.Media != nil {
		out.TwilioMedia = &content.TwilioMedia{Body: t.Media.Body, Media: slices.Clone(t.Media.URLs)}
		if out.TwilioMedia.Media == nil {
			out.TwilioMedia.Media = []string{}
		}
	}
	if t.QuickReply != nil {
		qr := &content.TwilioQuickReply{Body: t.QuickReply.Body, Actions: []content.QuickReplyAction{}}
		for _, a := range t.QuickReply.Actions {
			qr.Actions = append(qr.Actions, content.QuickReplyAction{Title: a.Title, Id: a.ID})
		}
		out.TwilioQuickReply = qr
	}
	if t.CallToAction != nil {
		cta := &content.TwilioCallToAction{Body: t.CallToAction.Body, Actions: []content.CallToActionAction{}}
		for _, a := range t.CallToAction.Actions {
			cta.Actions = append(cta.Actions, content.CallToActionAction{
				Type:  content.CallToActionActionType(a.Type),
				Title: a.Title,
				Url:   a.URL,
				Phone: a.Phone,
			})
		}
		out.TwilioCallToAction = cta
	}
	return out
}

func toTemplate(sid, friendly, language *string, vars, types *map[string]interface{},
	created, updated *time.Time) Template {
	t := Template{
		SID:          deref(sid),
		FriendlyName: deref(friendly),
		Language:     deref(language),
		Variables:    map[string]string{},
	}
	if vars != nil {
		for k, v := range *vars {
			if s, ok := v.(string); ok {
				t.Variables[k] = s
			} else {
				t.Variables[k] = fmt.Sprint(v)
			}
		}
	}
	if types != nil {
		t.Types = toTypes(*types)
	}
	if created != nil {
		t.DateCreated = created.UTC()
	}
	if updated != nil {
		t.DateUpdated = updated.UTC()
	}
	return t
}

// toTypes reads the response's types object through twilio-go's typed models, each type on
// its own so that one the models do not fit cannot hide the others.
func toTypes(m map[string]interface{}) TemplateTypes {
	var out TemplateTypes
	var typed content.Types
	decode := func(key string, dst any) {
		if v, ok := m[key]; ok {
			if b, err := json.Marshal(v); err == nil {
				_ = json.Unmarshal(b, dst)
			}
		}
	}
	decode("twilio/text", &typed.TwilioText)
	decode("twilio/media", &typed.TwilioMedia)
	decode("twilio/quick-reply", &typed.TwilioQuickReply)
	decode("twilio/call-to-action", &typed.TwilioCallToAction)
	if x := typed.TwilioText; x != nil {
		out.Text = &TextType{Body: x.Body}
	}
	if x := typed.TwilioMedia; x != nil {
		out.Media = &MediaType{Body: x.Body, URLs: x.Media}
	}
	if x := typed.TwilioQuickReply; x != nil {
		qr := &QuickReplyType{Body: x.Body}
		for _, a := range x.Actions {
			qr.Actions = append(qr.Actions, QuickReplyAction{Title: a.Title, ID: a.Id})
		}
		out.QuickReply = qr
	}
	if x := typed.TwilioCallToAction; x != nil {
		cta := &CallToActionType{Body: x.Body}
		for _, a := range x.Actions {
			cta.Actions = append(cta.Actions, CallToActionAction{
				Type: string(a.Type), Title: a.Title, URL: a.Url, Phone: a.Phone,
			})
		}
		out.CallToAction = cta
	}
	for k := range m {
		switch k {
		case "twilio/text", "twilio/media", "twilio/quick-reply", "twilio/call-to-action":
		default:
			out.Other = append(out.Other, k)
		}
	}
	slices.Sort(out.Other)
	return out
}

// approvalOf is the WhatsApp approval in a ContentAndApprovals item's approval_requests: the
// object itself (as Twilio's spec shows it), or its "whatsapp" member when keyed by channel.
func approvalOf(ar *map[string]interface{}) map[string]any {
	if ar == nil {
		return nil
	}
	if wa, ok := (*ar)["whatsapp"].(map[string]any); ok {
		return wa
	}
	return *ar
}

func toApproval(m map[string]any) Approval {
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	a := Approval{
		Name:            str("name"),
		Category:        str("category"),
		ContentType:     str("content_type"),
		Status:          str("status"),
		RejectionReason: str("rejection_reason"),
	}
	a.AllowCategoryChange, _ = m["allow_category_change"].(bool)
	if a.Status == "" {
		a.Status = ApprovalUnsubmitted
	}
	return a
}
