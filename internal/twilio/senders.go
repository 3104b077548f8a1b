package twilio

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	twiliogo "github.com/twilio/twilio-go"
	messaging "github.com/twilio/twilio-go/rest/messaging/v2"
)

// WhatsApp senders, through Twilio's Senders API (messaging.twilio.com/v2/Channels/Senders).
//
// Registration is asynchronous: CreateWhatsAppSender answers with status CREATING and Twilio
// moves the sender on by itself. Poll FetchSender (or ListSenders) to follow it:
//
//	CREATING → PENDING_VERIFICATION  a code was sent to the number by SMS or voice call: ask the
//	                                 person holding the phone for it, then VerifySender
//	         → VERIFYING → ONLINE    the code was right (or, for a Twilio number, Twilio read it)
//	         → OFFLINE               registration failed, or Meta disconnected the number later
//
// Failures after the request was accepted do not come back as errors: they appear in the
// sender's OfflineReasons (e.g. 63113 after a wrong code, with the status back at
// PENDING_VERIFICATION; 63110 with status OFFLINE for a number already on WhatsApp).
// policy.ExplainSenderError says what each code means for staff.

// Sender statuses, as Twilio reports them.
const (
	SenderCreating            = "CREATING"
	SenderPendingVerification = "PENDING_VERIFICATION"
	SenderVerifying           = "VERIFYING"
	SenderOnline              = "ONLINE"
	SenderOnlineUpdating      = "ONLINE:UPDATING" // online, a profile change is under way
	SenderOffline             = "OFFLINE"
	SenderTwilioReview        = "TWILIO_REVIEW"
	SenderDraft               = "DRAFT"
	SenderStubbed             = "STUBBED"
)

// Verification methods: how Meta sends the one-time code to a number Twilio does not own.
const (
	VerifyBySMS   = "sms"
	VerifyByVoice = "voice"
)

// SenderProfile is a WhatsApp sender's business profile, as parents see it in WhatsApp.
type SenderProfile struct {
	// Name is the display name (Meta's display-name rules apply).
	Name        string
	About       string // at most 139 characters
	Address     string
	Description string
	// Vertical is Meta's business category, e.g. "Education".
	Vertical string
	LogoURL  string
	Emails   []string
	Websites []string // at most 2, http(s)
}

// OfflineReason is an error Twilio reports on a sender: a Twilio error code
// (https://www.twilio.com/docs/errors/<Code>) and its message.
type OfflineReason struct {
	Code     int
	Message  string
	MoreInfo string
}

// Sender is a WhatsApp sender (a phone number registered with WhatsApp through Twilio).
type Sender struct {
	SID      string // XE…
	SenderID string // "whatsapp:+E164"
	Number   string // "+E164"
	Status   string // one of the Sender… constants
	// DisplayName is Profile.Name.
	DisplayName string
	// QualityRating (HIGH, MEDIUM, LOW, UNKNOWN) and MessagingLimit (e.g. "1K Customers/24hr")
	// are Meta's, known once the sender is online.
	QualityRating, MessagingLimit string
	OfflineReasons                []OfflineReason
	Profile                       SenderProfile
	// WebhookURL receives incoming messages, FallbackURL when WebhookURL fails;
	// StatusCallbackURL receives delivery statuses.
	WebhookURL, FallbackURL, StatusCallbackURL string
	WABAID                                     string
	VerificationMethod                         string // "sms", "voice" or ""
}

// Online reports whether the sender can send and receive messages.
func (s Sender) Online() bool { return s.Status == SenderOnline || s.Status == SenderOnlineUpdating }

// AwaitingCode reports whether the sender waits for the verification code sent to its number.
func (s Sender) AwaitingCode() bool { return s.Status == SenderPendingVerification }

// SenderRegistration is what registering a WhatsApp sender needs.
type SenderRegistration struct {
	// Number is the phone number, "+E164" (or "whatsapp:+E164").
	Number string
	// DisplayName is the name parents see; it overrides Profile.Name.
	DisplayName string
	Profile     SenderProfile
	// WebhookURL (incoming messages), FallbackURL and StatusCallbackURL; all optional.
	WebhookURL, FallbackURL, StatusCallbackURL string
	// VerificationMethod is how the one-time code reaches a number Twilio does not own:
	// VerifyBySMS or VerifyByVoice. Leave it empty for a Twilio number, which Twilio verifies
	// by itself.
	VerificationMethod string
	// WABAID is the WhatsApp Business Account; empty means the account's own.
	WABAID string
}

// SenderUpdate changes a sender; nil fields are left as they are.
type SenderUpdate struct {
	DisplayName *string
	// Profile: its non-empty fields replace the sender's (Emails and Websites when non-nil).
	Profile                                    *SenderProfile
	WebhookURL, FallbackURL, StatusCallbackURL *string
}

var resourceSID = regexp.MustCompile(`^[A-Za-z0-9]+$`)

func checkSenderSID(op, sid string) error {
	if !resourceSID.MatchString(sid) {
		return fmt.Errorf("twilio: %s: invalid sender SID %q", op, sid)
	}
	return nil
}

// CreateWhatsAppSender registers a number as a WhatsApp sender. The answer has status CREATING;
// see the package notes above for what follows. Validation failures come back as *APIError
// (63100 for invalid details such as a display name Meta does not allow).
func (g *Gateway) CreateWhatsAppSender(ctx context.Context, r SenderRegistration) (Sender, error) {
	number := strings.TrimSpace(r.Number)
	if number == "" {
		return Sender{}, errors.New("twilio: create sender: a phone number is required")
	}
	if !strings.HasPrefix(number, "whatsapp:") {
		number = "whatsapp:" + number
	}
	profile := r.Profile
	if r.DisplayName != "" {
		profile.Name = r.DisplayName
	}
	body := messaging.MessagingV2Create{
		SenderId: &number,
		Profile:  toProfileParams(profile, true),
		Webhook:  toWebhookParams(&r.WebhookURL, &r.FallbackURL, &r.StatusCallbackURL),
	}
	if r.VerificationMethod != "" || r.WABAID != "" {
		body.Configuration = &messaging.MessagingV2Configuration{
			VerificationMethod: optional(r.VerificationMethod),
			WabaId:             optional(r.WABAID),
		}
	}
	p := (&messaging.CreateChannelsSenderParams{}).SetMessagingV2Create(body)
	var out *messaging.MessagingV2ChannelsSenderResponse
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.MessagingV2.CreateChannelsSender(p)
		return err
	})
	if err != nil {
		return Sender{}, fmt.Errorf("twilio: create sender %s: %w", number, err)
	}
	return toSender(out), nil
}

// senderPageSize is how many senders ListSenders asks for per page.
const senderPageSize = 50

// ListSenders returns every WhatsApp sender of the account, following all pages.
func (g *Gateway) ListSenders(ctx context.Context) ([]Sender, error) {
	return g.listSenders(ctx, senderPageSize)
}

func (g *Gateway) listSenders(ctx context.Context, pageSize int) ([]Sender, error) {
	var out []Sender
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		p := &messaging.ListChannelsSenderParams{}
		p.SetChannel("whatsapp").SetPageSize(pageSize)
		list, err := rc.MessagingV2.ListChannelsSender(p)
		if err != nil {
			return err
		}
		out = make([]Sender, 0, len(list))
		for i := range list {
			out = append(out, toSender(&list[i]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("twilio: list senders: %w", err)
	}
	return out, nil
}

// FetchSender reads a sender by SID.
func (g *Gateway) FetchSender(ctx context.Context, sid string) (Sender, error) {
	if err := checkSenderSID("fetch sender", sid); err != nil {
		return Sender{}, err
	}
	var out *messaging.MessagingV2ChannelsSenderResponse
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.MessagingV2.FetchChannelsSender(sid)
		return err
	})
	if err != nil {
		return Sender{}, fmt.Errorf("twilio: fetch sender %s: %w", sid, err)
	}
	return toSender(out), nil
}

// VerifySender submits the one-time code sent to a PENDING_VERIFICATION sender's number. The
// answer has status VERIFYING; the sender then goes ONLINE, or back to PENDING_VERIFICATION
// with OfflineReasons 63113 when the code was wrong.
func (g *Gateway) VerifySender(ctx context.Context, sid, code string) (Sender, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return Sender{}, errors.New("twilio: verify sender: the verification code is empty")
	}
	return g.updateSender(ctx, "verify sender", sid, messaging.MessagingV2Update{
		Configuration: &messaging.MessagingV2Configuration{VerificationCode: &code},
	})
}

// ResendVerificationCode asks for a new code for a PENDING_VERIFICATION sender, by method
// (VerifyBySMS or VerifyByVoice). Too many requests end in OfflineReasons 63114.
func (g *Gateway) ResendVerificationCode(ctx context.Context, sid, method string) (Sender, error) {
	if method != VerifyBySMS && method != VerifyByVoice {
		return Sender{}, fmt.Errorf("twilio: resend verification code: method %q is not sms or voice", method)
	}
	return g.updateSender(ctx, "resend verification code", sid, messaging.MessagingV2Update{
		Configuration: &messaging.MessagingV2Configuration{VerificationMethod: &method},
	})
}

// UpdateSender changes a sender's profile or webhooks. A profile change on an online sender
// shows as ONLINE:UPDATING until WhatsApp has it.
func (g *Gateway) UpdateSender(ctx context.Context, sid string, u SenderUpdate) (Sender, error) {
	var body messaging.MessagingV2Update
	if u.Profile != nil || u.DisplayName != nil {
		var p SenderProfile
		if u.Profile != nil {
			p = *u.Profile
		}
		if u.DisplayName != nil {
			p.Name = *u.DisplayName
		}
		body.Profile = toProfileParams(p, false)
	}
	body.Webhook = toWebhookParams(u.WebhookURL, u.FallbackURL, u.StatusCallbackURL)
	if body.Profile == nil && body.Webhook == nil {
		return Sender{}, errors.New("twilio: update sender: nothing to change")
	}
	return g.updateSender(ctx, "update sender", sid, body)
}

func (g *Gateway) updateSender(ctx context.Context, op, sid string, body messaging.MessagingV2Update) (Sender, error) {
	if err := checkSenderSID(op, sid); err != nil {
		return Sender{}, err
	}
	p := (&messaging.UpdateChannelsSenderParams{}).SetMessagingV2Update(body)
	var out *messaging.MessagingV2ChannelsSenderResponse
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.MessagingV2.UpdateChannelsSender(sid, p)
		return err
	})
	if err != nil {
		return Sender{}, fmt.Errorf("twilio: %s %s: %w", op, sid, err)
	}
	return toSender(out), nil
}

// DeleteSender deletes a sender. Its number stops working on WhatsApp through Twilio; to
// register it again elsewhere, two-step verification must be off in WhatsApp Manager.
func (g *Gateway) DeleteSender(ctx context.Context, sid string) error {
	if err := checkSenderSID("delete sender", sid); err != nil {
		return err
	}
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		return rc.MessagingV2.DeleteChannelsSender(sid)
	})
	if err != nil {
		return fmt.Errorf("twilio: delete sender %s: %w", sid, err)
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toProfileParams is p as the request's profile: non-empty fields only; on create, the name
// is always sent (Twilio answers a missing one with 63100).
func toProfileParams(p SenderProfile, create bool) *messaging.MessagingV2Profile {
	out := &messaging.MessagingV2Profile{
		Name:        optional(p.Name),
		About:       optional(p.About),
		Address:     optional(p.Address),
		Description: optional(p.Description),
		Vertical:    optional(p.Vertical),
		LogoUrl:     optional(p.LogoURL),
	}
	if create && out.Name == nil {
		out.Name = &p.Name
	}
	if p.Emails != nil {
		var list any = labeled(p.Emails, "email", "Email")
		out.Emails = &list
	}
	if p.Websites != nil {
		var list any = labeled(p.Websites, "website", "Website")
		out.Websites = &list
	}
	if *out == (messaging.MessagingV2Profile{}) {
		return nil
	}
	return out
}

func labeled(values []string, key, label string) []map[string]string {
	out := make([]map[string]string, 0, len(values))
	for _, v := range values {
		out = append(out, map[string]string{key: v, "label": label})
	}
	return out
}

// toWebhookParams is the request's webhook for the URLs given (nil: unchanged), or nil.
func toWebhookParams(callback, fallback, status *string) *messaging.MessagingV2Webhook {
	post := "POST"
	var w messaging.MessagingV2Webhook
	if callback != nil && *callback != "" {
		w.CallbackUrl, w.CallbackMethod = callback, &post
	}
	if fallback != nil && *fallback != "" {
		w.FallbackUrl, w.FallbackMethod = fallback, &post
	}
	if status != nil && *status != "" {
		w.StatusCallbackUrl, w.StatusCallbackMethod = status, &post
	}
	if w == (messaging.MessagingV2Webhook{}) {
		return nil
	}
	return &w
}

func toSender(r *messaging.MessagingV2ChannelsSenderResponse) Sender {
	if r == nil {
		return Sender{}
	}
	s := Sender{
		SID:      deref(r.Sid),
		SenderID: deref(r.SenderId),
		Status:   deref(r.Status),
	}
	s.Number = strings.TrimPrefix(s.SenderID, "whatsapp:")
	if p := r.Profile; p != nil {
		s.Profile = SenderProfile{
			Name:        deref(p.Name),
			About:       deref(p.About),
			Address:     deref(p.Address),
			Description: deref(p.Description),
			Vertical:    deref(p.Vertical),
			LogoURL:     deref(p.LogoUrl),
		}
		if p.Emails != nil {
			for _, e := range *p.Emails {
				s.Profile.Emails = append(s.Profile.Emails, e.Email)
			}
		}
		if p.Websites != nil {
			for _, w := range *p.Websites {
				s.Profile.Websites = append(s.Profile.Websites, w.Website)
			}
		}
	}
	s.DisplayName = s.Profile.Name
	if w := r.Webhook; w != nil {
		s.WebhookURL = deref(w.CallbackUrl)
		s.FallbackURL = deref(w.FallbackUrl)
		s.StatusCallbackURL = deref(w.StatusCallbackUrl)
	}
	if c := r.Configuration; c != nil {
		s.WABAID = deref(c.WabaId)
		s.VerificationMethod = deref(c.VerificationMethod)
	}
	if p := r.Properties; p != nil {
		s.QualityRating = deref(p.QualityRating)
		s.MessagingLimit = deref(p.MessagingLimit)
	}
	if r.OfflineReasons != nil {
		for _, o := range *r.OfflineReasons {
			code, _ := strconv.Atoi(strings.TrimSpace(deref(o.Code)))
			s.OfflineReasons = append(s.OfflineReasons, OfflineReason{
				Code:     code,
				Message:  deref(o.Message),
				MoreInfo: deref(o.MoreInfo),
			})
		}
	}
	return s
}
