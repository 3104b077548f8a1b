package twiliosim

// WhatsApp Senders: Twilio's Senders API (messaging.twilio.com/v2/Channels/Senders, JSON in and
// out), in the shapes of twilio_messaging_v2.json.
//
//	POST   /v2/Channels/Senders        create (202, status CREATING)
//	GET    /v2/Channels/Senders        list (Channel=whatsapp required; PageSize 1..1000, default
//	                                   20; Page; PageToken from meta.next_page_url)
//	GET    /v2/Channels/Senders/{Sid}  fetch
//	POST   /v2/Channels/Senders/{Sid}  update (202): profile, webhook, configuration; a
//	                                   configuration.verification_code verifies the number
//	DELETE /v2/Channels/Senders/{Sid}  delete (204)
//	GET    /sim/senders                (dev, no auth) every sender with its pending code
//
// # Lifecycle
//
// Registration is asynchronous, as at Twilio: each step below happens StepDelay after the one
// before it.
//
//	create ─▶ CREATING ─┬▶ PENDING_VERIFICATION   configuration.verification_method given (sms or
//	                    │                         voice): the simulator "sends" a code, readable
//	                    │                         with Sim.VerificationCode or GET /sim/senders
//	                    │                         (always DevVerificationCode, "123456")
//	                    └▶ VERIFYING ─▶ ONLINE    no verification_method: treated as a Twilio number,
//	                                              whose code Twilio captures itself
//	update {configuration:{verification_code}} while PENDING_VERIFICATION ─▶ VERIFYING ─▶
//	        ONLINE                                right code
//	        PENDING_VERIFICATION + reason 63113   wrong code (try again, or ask for a new code)
//	update {configuration:{verification_method}} while PENDING_VERIFICATION: a new code is sent;
//	        the 4th request for a sender fails with 63114 instead
//	update {profile} while ONLINE ─▶ ONLINE:UPDATING ─▶ ONLINE
//
// Twilio reports registration failures in its Error Log (correlation_sid = the sender's SID),
// not in the HTTP answer. The simulator puts them where an API client can see them: in the
// sender's offline_reasons ({code, message, more_info}), with status OFFLINE when registration
// stopped, or PENDING_VERIFICATION when a new code or another attempt can still help.
//
// # Synchronous errors
//
// HTTP 400, code 63100 (Validation Error): empty or invalid JSON, sender_id missing or not
// "whatsapp:<E.164>", profile.name missing or against Meta's display-name rules (3 to 255
// characters; no leading, trailing or double spaces; no emoji; none of ~!@#$%^*_+={}[]|\:;"<>?/`;
// no web address; not all capitals beyond a 5-letter acronym), an unknown vertical,
// verification_method, callback_method or account_type, profile texts too long (about 139,
// description 512, address 256), more than 2 websites, malformed URLs, emails or accent_color;
// a verification_code for a sender that is not PENDING_VERIFICATION.
// HTTP 409, code 63110: the number already has a sender on this account.
// HTTP 404, code 20404: unknown sender SID.
//
// # Deterministic magic numbers
//
// The last five digits of the sender's number are a Senders error code to simulate, e.g.
// whatsapp:+15550063110:
//
//	…63100  create fails: HTTP 400, code 63100 (validation error)
//	…63104  CREATING → OFFLINE, reason 63104 (the WABA has reached its phone-number limit)
//	…63110  CREATING → OFFLINE, reason 63110 (already registered on WhatsApp elsewhere)
//	…63111  CREATING → OFFLINE, reason 63111 (number or WABA not found)
//	…63113  every verification_code is refused: → PENDING_VERIFICATION, reason 63113
//	…63114  no code can be sent: → PENDING_VERIFICATION, reason 63114, no code
//	…63116  CREATING → OFFLINE, reason 63116 (automatic registration: OTP not received)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sender statuses (channels_sender_enum_status).
const (
	SenderCreating            = "CREATING"
	SenderOnline              = "ONLINE"
	SenderOffline             = "OFFLINE"
	SenderPendingVerification = "PENDING_VERIFICATION"
	SenderVerifying           = "VERIFYING"
	SenderOnlineUpdating      = "ONLINE:UPDATING"
	SenderTwilioReview        = "TWILIO_REVIEW"
	SenderDraft               = "DRAFT"
	SenderStubbed             = "STUBBED"
)

// DevVerificationCode is the code the simulator "sends" to every number it verifies.
const DevVerificationCode = "123456"

// Senders API error codes.
const (
	errSenderValidation   = 63100
	errSenderWABALimit    = 63104
	errSenderRegistered   = 63110
	errSenderNotFound     = 63111
	errSenderCannotVerify = 63113
	errSenderTooManyCodes = 63114
	errSenderAutoOTP      = 63116
)

const (
	senderBaseURL      = "https://messaging.twilio.com/v2/Channels/Senders"
	senderDefaultWABA  = "104523876543210" // the account's WhatsApp Business Account
	senderMaxCodes     = 3                 // codes sent per sender before 63114
	senderDefaultPage  = 20
	senderMaxBody      = 1 << 20
	senderPageTokenPre = "PT"
)

var senderErrorMessages = map[int]string{
	errSenderValidation:   "Validation Error",
	errSenderWABALimit:    "Maximum number of phone numbers reached for your WhatsApp Business Account (WABA)",
	errSenderRegistered:   "The phone number is already registered on WhatsApp",
	errSenderNotFound:     "Sender's phone number or WABA returned \"not found\"",
	errSenderCannotVerify: "Sender Cannot Be Verified",
	errSenderTooManyCodes: "Too Many Verification Codes",
	errSenderAutoOTP:      "WhatsApp Sender failed to be automatically registered as OTP was not received",
}

// Sender is a WhatsApp sender the simulator knows.
type Sender struct {
	SID, SenderID, Status string
	WABAID                string
	VerificationMethod    string // "sms", "voice" or "" (a Twilio number, verified automatically)
	VoiceApplicationSID   string
	Webhook               SenderWebhook
	Profile               SenderProfile
	QualityRating         string // set once ONLINE
	MessagingLimit        string
	OfflineReasons        []SenderReason
	DateCreated           time.Time
	DateUpdated           time.Time
}

// SenderWebhook is where Twilio posts a sender's incoming messages and status callbacks.
type SenderWebhook struct {
	CallbackURL, CallbackMethod             string
	FallbackURL, FallbackMethod             string
	StatusCallbackURL, StatusCallbackMethod string
}

// SenderProfile is a sender's WhatsApp business profile; Name is the display name.
type SenderProfile struct {
	Name, About, Address, Description, Vertical string
	LogoURL, BannerURL, PrivacyURL              string
	TermsOfServiceURL, AccentColor              string
	Emails, Websites, PhoneNumbers              []Labeled
}

// Labeled is an email, website or phone number of a profile, with its label.
type Labeled struct{ Value, Label string }

// SenderReason is an entry of offline_reasons: a Twilio error code and its message.
type SenderReason struct {
	Code    int
	Message string
}

func (x Sender) clone() Sender {
	x.OfflineReasons = slices.Clone(x.OfflineReasons)
	x.Profile.Emails = slices.Clone(x.Profile.Emails)
	x.Profile.Websites = slices.Clone(x.Profile.Websites)
	x.Profile.PhoneNumbers = slices.Clone(x.Profile.PhoneNumbers)
	return x
}

// senderState is a sender and the simulator's bookkeeping. Guarded by Sim.mu.
type senderState struct {
	Sender
	seq          uint64 // creation order, for listing and page tokens
	gen          int    // bumped by every transition; a pending step for an older gen is void
	code         string // the outstanding verification code, "" if none
	codeRequests int
	magic        int // the error code the number simulates, 0 for none
}

// senderStore holds the senders. Guarded by Sim.mu.
type senderStore struct {
	list  []*senderState // creation order
	bySID map[string]*senderState
	seq   uint64
}

// senderStep is an asynchronous transition; it returns the next one, or nil.
type senderStep func(st *senderState) senderStep

func (s *Sim) registerSenders(mux *http.ServeMux) {
	s.senders.bySID = make(map[string]*senderState)
	const base = "/v2/Channels/Senders"
	mux.HandleFunc("POST "+base, s.rest(s.handleCreateSender))
	mux.HandleFunc("GET "+base, s.rest(s.handleListSenders))
	mux.HandleFunc("GET "+base+"/{Sid}", s.rest(s.handleFetchSender))
	mux.HandleFunc("POST "+base+"/{Sid}", s.rest(s.handleUpdateSender))
	mux.HandleFunc("DELETE "+base+"/{Sid}", s.rest(s.handleDeleteSender))
	mux.HandleFunc("GET /sim/senders", s.handleSimSenders)
}

// Senders returns a copy of every sender, oldest first.
func (s *Sim) Senders() []Sender {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sender, 0, len(s.senders.list))
	for _, st := range s.senders.list {
		out = append(out, st.Sender.clone())
	}
	return out
}

// VerificationCode returns the code the simulator sent for the sender, or "" when none is
// outstanding (not PENDING_VERIFICATION, or the code could not be sent).
func (s *Sim) VerificationCode(senderSID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.senders.bySID[senderSID]; st != nil {
		return st.code
	}
	return ""
}

// SetSenderStatus puts a sender in status (e.g. OFFLINE, as when Meta disconnects a number),
// with offline_reasons made of these Twilio error codes. Pending asynchronous steps of the
// sender are cancelled. ONLINE clears the reasons unless some are given.
func (s *Sim) SetSenderStatus(sid, status string, offlineReasons ...int) error {
	if !validSenderStatus(status) {
		return fmt.Errorf("twiliosim: unknown sender status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.senders.bySID[sid]
	if st == nil {
		return fmt.Errorf("twiliosim: no sender %s", sid)
	}
	st.gen++
	st.Status = status
	st.OfflineReasons = nil
	for _, c := range offlineReasons {
		st.OfflineReasons = append(st.OfflineReasons, senderReason(c))
	}
	if status == SenderOnline || status == SenderOffline {
		st.setLiveProperties()
	}
	if status != SenderPendingVerification {
		st.code = ""
	}
	st.DateUpdated = s.now().UTC()
	return nil
}

// SetSenderQuality sets a sender's properties.quality_rating (HIGH, MEDIUM, LOW, UNKNOWN) and,
// unless limit is "", its properties.messaging_limit (e.g. "10K Customers/24hr").
func (s *Sim) SetSenderQuality(sid, rating, limit string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.senders.bySID[sid]
	if st == nil {
		return fmt.Errorf("twiliosim: no sender %s", sid)
	}
	st.QualityRating = rating
	if limit != "" {
		st.MessagingLimit = limit
	}
	st.DateUpdated = s.now().UTC()
	return nil
}

func validSenderStatus(status string) bool {
	switch status {
	case SenderCreating, SenderOnline, SenderOffline, SenderPendingVerification, SenderVerifying,
		SenderOnlineUpdating, SenderTwilioReview, SenderDraft, SenderStubbed:
		return true
	}
	return false
}

func senderReason(code int) SenderReason {
	msg := senderErrorMessages[code]
	if msg == "" {
		msg = errorMessages[code]
	}
	if msg == "" {
		msg = "Sender is offline"
	}
	return SenderReason{Code: code, Message: msg}
}

// setLiveProperties gives a sender that reached WhatsApp the properties of a new number.
func (st *senderState) setLiveProperties() {
	if st.QualityRating == "" {
		st.QualityRating = "UNKNOWN"
	}
	if st.MessagingLimit == "" {
		st.MessagingLimit = "250 Customers/24hr"
	}
}

// magicSenderCode is the Senders error code the number's last five digits name, or 0.
func magicSenderCode(senderID string) int {
	if len(senderID) < 5 {
		return 0
	}
	n, err := strconv.Atoi(senderID[len(senderID)-5:])
	if err != nil {
		return 0
	}
	if _, ok := senderErrorMessages[n]; ok {
		return n
	}
	return 0
}

// runSender runs step StepDelay from now, and each step it leads to after another StepDelay,
// as long as the sender still exists and nothing else moved it on (its gen is unchanged).
// Callers must not hold s.mu.
func (s *Sim) runSender(sid string, gen int, step senderStep) {
	s.goAsync(func(ctx context.Context) {
		for step != nil {
			t := time.NewTimer(s.cfg.StepDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			s.mu.Lock()
			st := s.senders.bySID[sid]
			if st == nil || st.gen != gen {
				s.mu.Unlock()
				return
			}
			st.gen++
			step = step(st)
			gen = st.gen
			st.DateUpdated = s.now().UTC()
			s.logf("twiliosim: sender %s is %s", sid, st.Status)
			s.mu.Unlock()
		}
	})
}

// afterCreating is the end of CREATING: registration fails, or verification starts.
func (s *Sim) afterCreating(st *senderState) senderStep {
	switch st.magic {
	case errSenderWABALimit, errSenderRegistered, errSenderNotFound, errSenderAutoOTP:
		st.Status = SenderOffline
		st.OfflineReasons = []SenderReason{senderReason(st.magic)}
		return nil
	}
	if st.VerificationMethod == "" { // a Twilio number: Twilio receives the OTP itself
		st.Status = SenderVerifying
		return s.senderOnline
	}
	s.sendCode(st)
	return nil
}

// sendCode "sends" a verification code by st.VerificationMethod, or records 63114.
// Callers hold s.mu.
func (s *Sim) sendCode(st *senderState) {
	st.Status = SenderPendingVerification
	if st.magic == errSenderTooManyCodes || st.codeRequests >= senderMaxCodes {
		st.code = ""
		st.OfflineReasons = []SenderReason{senderReason(errSenderTooManyCodes)}
		return
	}
	st.codeRequests++
	st.code = DevVerificationCode
	st.OfflineReasons = nil
	s.logf("twiliosim: sent verification code %s to %s by %s", st.code, st.SenderID, st.VerificationMethod)
}

func (s *Sim) senderOnline(st *senderState) senderStep {
	st.Status = SenderOnline
	st.OfflineReasons = nil
	st.code = ""
	st.setLiveProperties()
	return nil
}

// verifyWith is the end of VERIFYING for a submitted code.
func (s *Sim) verifyWith(code string) senderStep {
	return func(st *senderState) senderStep {
		if st.magic == errSenderCannotVerify || st.code == "" || code != st.code {
			st.Status = SenderPendingVerification
			st.OfflineReasons = []SenderReason{senderReason(errSenderCannotVerify)}
			return nil
		}
		return s.senderOnline(st)
	}
}

// --- requests ---

type senderConfigIn struct {
	WabaID              *string `json:"waba_id"`
	VerificationMethod  *string `json:"verification_method"`
	VerificationCode    *string `json:"verification_code"`
	VoiceApplicationSID *string `json:"voice_application_sid"`
	AccountType         *string `json:"account_type"`
}

type senderWebhookIn struct {
	CallbackURL          *string `json:"callback_url"`
	CallbackMethod       *string `json:"callback_method"`
	FallbackURL          *string `json:"fallback_url"`
	FallbackMethod       *string `json:"fallback_method"`
	StatusCallbackURL    *string `json:"status_callback_url"`
	StatusCallbackMethod *string `json:"status_callback_method"`
}

type senderProfileIn struct {
	Name              *string         `json:"name"`
	About             *string         `json:"about"`
	Address           *string         `json:"address"`
	Description       *string         `json:"description"`
	LogoURL           *string         `json:"logo_url"`
	BannerURL         *string         `json:"banner_url"`
	PrivacyURL        *string         `json:"privacy_url"`
	TermsOfServiceURL *string         `json:"terms_of_service_url"`
	AccentColor       *string         `json:"accent_color"`
	Vertical          *string         `json:"vertical"`
	Websites          json.RawMessage `json:"websites"`
	Emails            json.RawMessage `json:"emails"`
	PhoneNumbers      json.RawMessage `json:"phone_numbers"`
}

type senderRequest struct {
	SenderID      *string          `json:"sender_id"`
	Configuration *senderConfigIn  `json:"configuration"`
	Webhook       *senderWebhookIn `json:"webhook"`
	Profile       *senderProfileIn `json:"profile"`
}

// validationError is a 63100 answer.
type validationError string

func (e validationError) Error() string { return string(e) }

func invalid(format string, args ...any) error { return validationError(fmt.Sprintf(format, args...)) }

// readSenderRequest decodes a create or update body.
func readSenderRequest(r *http.Request) (senderRequest, error) {
	var req senderRequest
	b, err := io.ReadAll(io.LimitReader(r.Body, senderMaxBody+1))
	if err != nil {
		return req, invalid("Could not read the request body")
	}
	if len(b) > senderMaxBody {
		return req, invalid("The request body is too large")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return req, invalid("The request body is empty")
	}
	if err := json.Unmarshal(b, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, invalid("Invalid value for %s: expected %s", te.Field, te.Type)
		}
		return req, invalid("The request body is not valid JSON")
	}
	return req, nil
}

var verticals = []string{
	"Alcohol", "Automotive", "Beauty, Spa and Salon", "Clothing and Apparel", "Education",
	"Entertainment", "Event Planning and Service", "Finance and Banking", "Food and Grocery",
	"Hotel and Lodging", "Matrimony Service", "Medical and Health", "Non-profit", "Online Gambling",
	"OTC Drugs", "Other", "Physical Gambling", "Professional Services", "Public Service",
	"Restaurant", "Shopping and Retail", "Travel and Transportation",
}

var (
	webAddress  = regexp.MustCompile(`(?i)(https?://|www\.|\b[a-z0-9-]+\.(com|org|net|edu|gov|io|co|info|biz|app|school|uk|us)\b)`)
	hexColor    = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	emailLike   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	nameSpecial = "~!@#$%^*_+={}[]|\\:;\"<>?/`"
)

// displayNameProblem says why name breaks Meta's display-name rules, or "".
func displayNameProblem(name string) string {
	if strings.TrimSpace(name) == "" {
		return "profile.name (the display name) is required for WhatsApp senders"
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n < 3:
		return "profile.name must be at least 3 characters"
	case n > 255:
		return "profile.name must be at most 255 characters"
	case name != strings.TrimSpace(name) || strings.Contains(name, "  ") || strings.ContainsAny(name, "\t\r\n"):
		return "profile.name must not have leading, trailing or repeated spaces"
	case strings.ContainsAny(name, nameSpecial):
		return "profile.name must not contain special characters such as " + nameSpecial
	case webAddress.MatchString(name):
		return "profile.name must not contain a web address"
	}
	letters, upper := 0, 0
	for _, r := range name {
		if isEmoji(r) {
			return "profile.name must not contain emoji"
		}
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters == 0 {
		return "profile.name must contain letters"
	}
	if letters > 5 && upper == letters {
		return "profile.name must not be written in capitals (only acronyms may be)"
	}
	return ""
}

func isEmoji(r rune) bool {
	return r >= 0x1F000 || (r >= 0x2600 && r <= 0x27BF) || (r >= 0x2B00 && r <= 0x2BFF) ||
		r == 0xFE0F || r == 0x200D || unicode.Is(unicode.So, r)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// parseLabeled reads websites, emails or phone_numbers: null, an array of strings, or an array
// of objects {<key>, label}.
func parseLabeled(raw json.RawMessage, field, key string) ([]Labeled, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, invalid("profile.%s must be an array", field)
	}
	out := make([]Labeled, 0, len(items))
	for _, it := range items {
		var str string
		if json.Unmarshal(it, &str) == nil {
			out = append(out, Labeled{Value: str})
			continue
		}
		var obj map[string]any
		if json.Unmarshal(it, &obj) != nil {
			return nil, invalid("profile.%s must hold strings or objects with %q and \"label\"", field, key)
		}
		v, _ := obj[key].(string)
		l, _ := obj["label"].(string)
		out = append(out, Labeled{Value: v, Label: l})
	}
	return out, nil
}

// applyProfile validates p and merges it into dst; create requires the name.
func applyProfile(dst *SenderProfile, p *senderProfileIn, create bool) error {
	if p == nil {
		if create {
			return invalid("%s", displayNameProblem(""))
		}
		return nil
	}
	next := *dst
	if p.Name != nil || create {
		name := deref(p.Name)
		if msg := displayNameProblem(name); msg != "" {
			return invalid("%s", msg)
		}
		next.Name = name
	}
	texts := []struct {
		v     *string
		dst   *string
		field string
		max   int
	}{
		{p.About, &next.About, "about", 139},
		{p.Address, &next.Address, "address", 256},
		{p.Description, &next.Description, "description", 512},
	}
	for _, x := range texts {
		if x.v == nil {
			continue
		}
		if utf8.RuneCountInString(*x.v) > x.max {
			return invalid("profile.%s must be at most %d characters", x.field, x.max)
		}
		*x.dst = *x.v
	}
	urls := []struct {
		v     *string
		dst   *string
		field string
	}{
		{p.LogoURL, &next.LogoURL, "logo_url"},
		{p.BannerURL, &next.BannerURL, "banner_url"},
		{p.PrivacyURL, &next.PrivacyURL, "privacy_url"},
		{p.TermsOfServiceURL, &next.TermsOfServiceURL, "terms_of_service_url"},
	}
	for _, x := range urls {
		if x.v == nil {
			continue
		}
		if *x.v != "" && !httpURL(*x.v) {
			return invalid("profile.%s must be an http or https URL", x.field)
		}
		*x.dst = *x.v
	}
	if p.AccentColor != nil {
		if *p.AccentColor != "" && !hexColor.MatchString(*p.AccentColor) {
			return invalid("profile.accent_color must be a hex color such as #1A73E8")
		}
		next.AccentColor = *p.AccentColor
	}
	if p.Vertical != nil {
		if *p.Vertical != "" && !slices.Contains(verticals, *p.Vertical) {
			return invalid("profile.vertical %q is not one of: %s", *p.Vertical, strings.Join(verticals, "; "))
		}
		next.Vertical = *p.Vertical
	}
	if p.Websites != nil {
		ws, err := parseLabeled(p.Websites, "websites", "website")
		if err != nil {
			return err
		}
		if len(ws) > 2 {
			return invalid("profile.websites can hold at most 2 websites")
		}
		for _, w := range ws {
			if !httpURL(w.Value) || len(w.Value) > 256 {
				return invalid("profile.websites: %q must be an http or https URL of at most 256 characters", w.Value)
			}
		}
		next.Websites = ws
	}
	if p.Emails != nil {
		es, err := parseLabeled(p.Emails, "emails", "email")
		if err != nil {
			return err
		}
		for _, e := range es {
			if !emailLike.MatchString(e.Value) || len(e.Value) > 128 {
				return invalid("profile.emails: %q is not an email address of at most 128 characters", e.Value)
			}
		}
		next.Emails = es
	}
	if p.PhoneNumbers != nil {
		ps, err := parseLabeled(p.PhoneNumbers, "phone_numbers", "phone_number")
		if err != nil {
			return err
		}
		for _, n := range ps {
			if !validE164(n.Value) {
				return invalid("profile.phone_numbers: %q is not an E.164 number", n.Value)
			}
		}
		next.PhoneNumbers = ps
	}
	*dst = next
	return nil
}

func webhookMethod(v *string, field string, allowed ...string) (string, error) {
	m := strings.ToUpper(deref(v))
	if m != "" && !slices.Contains(allowed, m) {
		return "", invalid("webhook.%s must be one of %s", field, strings.Join(allowed, ", "))
	}
	return m, nil
}

// applyWebhook validates w and merges it into dst.
func applyWebhook(dst *SenderWebhook, w *senderWebhookIn) error {
	if w == nil {
		return nil
	}
	next := *dst
	urls := []struct {
		v     *string
		dst   *string
		field string
	}{
		{w.CallbackURL, &next.CallbackURL, "callback_url"},
		{w.FallbackURL, &next.FallbackURL, "fallback_url"},
		{w.StatusCallbackURL, &next.StatusCallbackURL, "status_callback_url"},
	}
	for _, x := range urls {
		if x.v == nil {
			continue
		}
		if *x.v != "" && !httpURL(*x.v) {
			return invalid("webhook.%s must be an http or https URL", x.field)
		}
		*x.dst = *x.v
	}
	methods := []struct {
		v       *string
		dst     *string
		field   string
		allowed []string
	}{
		{w.CallbackMethod, &next.CallbackMethod, "callback_method", []string{"POST", "PUT"}},
		{w.FallbackMethod, &next.FallbackMethod, "fallback_method", []string{"POST", "PUT"}},
		{w.StatusCallbackMethod, &next.StatusCallbackMethod, "status_callback_method", []string{"POST", "PUT", "GET"}},
	}
	for _, x := range methods {
		if x.v == nil {
			continue
		}
		m, err := webhookMethod(x.v, x.field, x.allowed...)
		if err != nil {
			return err
		}
		*x.dst = m
	}
	for _, pair := range [][2]*string{
		{&next.CallbackURL, &next.CallbackMethod},
		{&next.FallbackURL, &next.FallbackMethod},
		{&next.StatusCallbackURL, &next.StatusCallbackMethod},
	} {
		if *pair[0] != "" && *pair[1] == "" {
			*pair[1] = http.MethodPost
		}
	}
	*dst = next
	return nil
}

func verificationMethod(v *string) (string, error) {
	m := strings.ToLower(deref(v))
	if m != "" && m != "sms" && m != "voice" {
		return "", invalid("configuration.verification_method must be sms or voice")
	}
	return m, nil
}

func checkAccountType(c *senderConfigIn) error {
	if c == nil || c.AccountType == nil {
		return nil
	}
	switch *c.AccountType {
	case "", "ISV", "ISVSubAccount":
		return nil
	}
	return invalid("configuration.account_type must be ISV or ISVSubAccount")
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// writeSenderError answers a 63100 for a validationError, else HTTP 400 with the error text.
func writeSenderError(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, errSenderValidation, "Validation Error: "+err.Error())
}

// --- handlers ---

func (s *Sim) handleCreateSender(w http.ResponseWriter, r *http.Request) {
	req, err := readSenderRequest(r)
	if err != nil {
		writeSenderError(w, err)
		return
	}
	senderID := deref(req.SenderID)
	if senderID == "" {
		writeSenderError(w, invalid("sender_id is required"))
		return
	}
	if !isWhatsApp(senderID) || !validE164(bare(senderID)) {
		writeSenderError(w, invalid("sender_id %q must be in whatsapp:<E.164_PHONE_NUMBER> format", senderID))
		return
	}
	now := s.now().UTC()
	st := &senderState{
		Sender: Sender{
			SID:         newSID("XE"),
			SenderID:    senderID,
			Status:      SenderCreating,
			WABAID:      senderDefaultWABA,
			DateCreated: now,
			DateUpdated: now,
		},
		magic: magicSenderCode(senderID),
	}
	if err := applyProfile(&st.Profile, req.Profile, true); err != nil {
		writeSenderError(w, err)
		return
	}
	if err := applyWebhook(&st.Webhook, req.Webhook); err != nil {
		writeSenderError(w, err)
		return
	}
	if c := req.Configuration; c != nil {
		if st.VerificationMethod, err = verificationMethod(c.VerificationMethod); err != nil {
			writeSenderError(w, err)
			return
		}
		if err := checkAccountType(c); err != nil {
			writeSenderError(w, err)
			return
		}
		if deref(c.WabaID) != "" {
			st.WABAID = *c.WabaID
		}
		st.VoiceApplicationSID = deref(c.VoiceApplicationSID)
	}
	if st.magic == errSenderValidation {
		writeSenderError(w, invalid("the phone number %s cannot be registered as a WhatsApp sender", bare(senderID)))
		return
	}

	s.mu.Lock()
	for _, other := range s.senders.list {
		if other.SenderID == senderID {
			s.mu.Unlock()
			writeError(w, http.StatusConflict, errSenderRegistered,
				fmt.Sprintf("%s: %s already has a sender (%s) on this account",
					senderErrorMessages[errSenderRegistered], senderID, other.SID))
			return
		}
	}
	s.senders.seq++
	st.seq = s.senders.seq
	s.senders.list = append(s.senders.list, st)
	s.senders.bySID[st.SID] = st
	res := st.resource()
	gen := st.gen
	s.mu.Unlock()

	s.logf("twiliosim: created sender %s (%s)", st.SID, senderID)
	s.runSender(st.SID, gen, s.afterCreating)
	writeJSON(w, http.StatusAccepted, res)
}

func (s *Sim) handleFetchSender(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.senders.bySID[r.PathValue("Sid")]
	var res senderResource
	if st != nil {
		res = st.resource()
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sim) handleDeleteSender(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("Sid")
	s.mu.Lock()
	st := s.senders.bySID[sid]
	if st != nil {
		delete(s.senders.bySID, sid)
		s.senders.list = slices.DeleteFunc(s.senders.list, func(x *senderState) bool { return x == st })
		st.gen++
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	s.logf("twiliosim: deleted sender %s", sid)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleUpdateSender(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("Sid")
	s.mu.Lock()
	exists := s.senders.bySID[sid] != nil
	s.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	req, err := readSenderRequest(r)
	if err != nil {
		writeSenderError(w, err)
		return
	}
	if req.SenderID != nil {
		writeSenderError(w, invalid("sender_id cannot be changed; delete the sender and create another"))
		return
	}
	var method string
	if c := req.Configuration; c != nil {
		if method, err = verificationMethod(c.VerificationMethod); err != nil {
			writeSenderError(w, err)
			return
		}
		if err := checkAccountType(c); err != nil {
			writeSenderError(w, err)
			return
		}
	}

	s.mu.Lock()
	st := s.senders.bySID[sid]
	if st == nil { // deleted meanwhile
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	// Validate everything before changing anything.
	profile, webhook := st.Profile, st.Webhook
	err = applyProfile(&profile, req.Profile, false)
	if err == nil {
		err = applyWebhook(&webhook, req.Webhook)
	}
	if err != nil {
		s.mu.Unlock()
		writeSenderError(w, err)
		return
	}
	code := ""
	if req.Configuration != nil {
		code = strings.TrimSpace(deref(req.Configuration.VerificationCode))
	}
	if code != "" && st.Status != SenderPendingVerification {
		status := st.Status
		s.mu.Unlock()
		writeSenderError(w, invalid("the sender is %s, not PENDING_VERIFICATION: there is no code to verify", status))
		return
	}

	var next senderStep
	profileChanged := req.Profile != nil && !profilesEqual(profile, st.Profile)
	st.Profile, st.Webhook = profile, webhook
	if c := req.Configuration; c != nil {
		if deref(c.WabaID) != "" {
			st.WABAID = *c.WabaID
		}
		if c.VoiceApplicationSID != nil {
			st.VoiceApplicationSID = *c.VoiceApplicationSID
		}
	}
	switch {
	case code != "":
		if method != "" {
			st.VerificationMethod = method
		}
		st.gen++
		st.Status = SenderVerifying
		st.OfflineReasons = nil
		next = s.verifyWith(code)
	case method != "" && st.Status == SenderPendingVerification:
		st.gen++
		st.VerificationMethod = method
		s.sendCode(st) // a new code, by the method asked for
	case method != "":
		st.VerificationMethod = method
	}
	if profileChanged && st.Status == SenderOnline {
		st.gen++
		st.Status = SenderOnlineUpdating
		next = func(st *senderState) senderStep {
			st.Status = SenderOnline
			return nil
		}
	}
	st.DateUpdated = s.now().UTC()
	res := st.resource()
	gen := st.gen
	s.mu.Unlock()

	if next != nil {
		s.runSender(sid, gen, next)
	}
	writeJSON(w, http.StatusAccepted, res)
}

func profilesEqual(a, b SenderProfile) bool {
	return a.Name == b.Name && a.About == b.About && a.Address == b.Address &&
		a.Description == b.Description && a.Vertical == b.Vertical && a.LogoURL == b.LogoURL &&
		a.BannerURL == b.BannerURL && a.PrivacyURL == b.PrivacyURL &&
		a.TermsOfServiceURL == b.TermsOfServiceURL && a.AccentColor == b.AccentColor &&
		slices.Equal(a.Emails, b.Emails) && slices.Equal(a.Websites, b.Websites) &&
		slices.Equal(a.PhoneNumbers, b.PhoneNumbers)
}

// senderPage is ListChannelsSenderResponse.
type senderPage struct {
	Senders []senderResource `json:"senders"`
	Meta    senderPageMeta   `json:"meta"`
}

type senderPageMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

func (s *Sim) handleListSenders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	channel := q.Get("Channel")
	switch channel {
	case "":
		writeError(w, http.StatusBadRequest, 20001, "Missing required parameter Channel in the query string")
		return
	case "whatsapp", "rcs":
	default:
		writeError(w, http.StatusBadRequest, 20001, "Invalid Channel "+strconv.Quote(channel)+": use whatsapp or rcs")
		return
	}
	pageSize := senderDefaultPage
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, 20001, "PageSize must be an integer from 1 to 1000")
			return
		}
		pageSize = n
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Page must be a non-negative integer")
			return
		}
		page = n
	}
	token := q.Get("PageToken")
	var after uint64
	if token != "" {
		hexSeq, ok := strings.CutPrefix(token, senderPageTokenPre)
		n, err := strconv.ParseUint(hexSeq, 16, 64)
		if !ok || err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageToken")
			return
		}
		after = n
	}

	var items []senderResource
	var lastSeq uint64
	more := false
	s.mu.Lock()
	if channel == "whatsapp" {
		var all []*senderState
		if token != "" {
			for _, st := range s.senders.list {
				if st.seq > after {
					all = append(all, st)
				}
			}
		} else if n := len(s.senders.list); page <= n/pageSize {
			all = s.senders.list[page*pageSize:]
		}
		for _, st := range all[:min(pageSize, len(all))] {
			items = append(items, st.resource())
			lastSeq = st.seq
		}
		more = len(all) > pageSize
	}
	s.mu.Unlock()

	pageURL := func(p int, tok string) string {
		v := url.Values{}
		v.Set("Channel", channel)
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		if tok != "" {
			v.Set("PageToken", tok)
		}
		return senderBaseURL + "?" + v.Encode()
	}
	res := senderPage{
		Senders: items,
		Meta: senderPageMeta{
			Page:         page,
			PageSize:     pageSize,
			FirstPageURL: pageURL(0, ""),
			URL:          pageURL(page, token),
			Key:          "senders",
		},
	}
	if res.Senders == nil {
		res.Senders = []senderResource{}
	}
	if more {
		u := pageURL(page+1, senderPageTokenPre+strconv.FormatUint(lastSeq, 16))
		res.Meta.NextPageURL = &u
	}
	if page > 0 {
		u := pageURL(page-1, "")
		res.Meta.PreviousPageURL = &u
	}
	writeJSON(w, http.StatusOK, res)
}

// handleSimSenders is GET /sim/senders: every sender and its outstanding verification code.
func (s *Sim) handleSimSenders(w http.ResponseWriter, r *http.Request) {
	type row struct {
		senderResource
		SimVerificationCode *string `json:"sim_verification_code"`
	}
	s.mu.Lock()
	out := make([]row, 0, len(s.senders.list))
	for _, st := range s.senders.list {
		out = append(out, row{senderResource: st.resource(), SimVerificationCode: nullable(st.code)})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// --- resource JSON (messaging.v2.channels_sender_response) ---

type senderResource struct {
	SID            string               `json:"sid"`
	Status         string               `json:"status"`
	SenderID       string               `json:"sender_id"`
	Configuration  senderConfigOut      `json:"configuration"`
	Webhook        senderWebhookOut     `json:"webhook"`
	Profile        senderProfileOut     `json:"profile"`
	Properties     *senderPropertiesOut `json:"properties"`
	OfflineReasons []senderReasonOut    `json:"offline_reasons"`
	Compliance     *struct{}            `json:"compliance"` // always null for WhatsApp
	URL            string               `json:"url"`
}

type senderConfigOut struct {
	WabaID              *string `json:"waba_id"`
	VerificationMethod  *string `json:"verification_method"`
	VerificationCode    *string `json:"verification_code"` // never echoed
	VoiceApplicationSID *string `json:"voice_application_sid"`
	AccountType         *string `json:"account_type"`
}

type senderWebhookOut struct {
	CallbackURL          *string `json:"callback_url"`
	CallbackMethod       *string `json:"callback_method"`
	FallbackURL          *string `json:"fallback_url"`
	FallbackMethod       *string `json:"fallback_method"`
	StatusCallbackURL    *string `json:"status_callback_url"`
	StatusCallbackMethod *string `json:"status_callback_method"`
}

type senderProfileOut struct {
	Name              *string          `json:"name"`
	About             *string          `json:"about"`
	Address           *string          `json:"address"`
	Description       *string          `json:"description"`
	Emails            []websiteOrEmail `json:"emails"`
	LogoURL           *string          `json:"logo_url"`
	Vertical          *string          `json:"vertical"`
	Websites          []websiteOrEmail `json:"websites"`
	BannerURL         *string          `json:"banner_url"`
	PrivacyURL        *string          `json:"privacy_url"`
	TermsOfServiceURL *string          `json:"terms_of_service_url"`
	AccentColor       *string          `json:"accent_color"`
	PhoneNumbers      []websiteOrEmail `json:"phone_numbers"`
}

// websiteOrEmail is one of emails ({email, label}), websites ({website, label}) or
// phone_numbers ({phone_number, label}); exactly one value field is set.
type websiteOrEmail struct {
	Email       string `json:"email,omitempty"`
	Website     string `json:"website,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	Label       string `json:"label"`
}

type senderPropertiesOut struct {
	QualityRating  *string `json:"quality_rating"`
	MessagingLimit *string `json:"messaging_limit"`
}

type senderReasonOut struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func labeledOut(in []Labeled, set func(*websiteOrEmail, string)) []websiteOrEmail {
	if len(in) == 0 {
		return nil
	}
	out := make([]websiteOrEmail, len(in))
	for i, l := range in {
		out[i].Label = l.Label
		set(&out[i], l.Value)
	}
	return out
}

// resource is st as Twilio's JSON. Callers hold s.mu.
func (st *senderState) resource() senderResource {
	p := st.Profile
	r := senderResource{
		SID:      st.SID,
		Status:   st.Status,
		SenderID: st.SenderID,
		Configuration: senderConfigOut{
			WabaID:              nullable(st.WABAID),
			VerificationMethod:  nullable(st.VerificationMethod),
			VoiceApplicationSID: nullable(st.VoiceApplicationSID),
		},
		Webhook: senderWebhookOut{
			CallbackURL:          nullable(st.Webhook.CallbackURL),
			CallbackMethod:       nullable(st.Webhook.CallbackMethod),
			FallbackURL:          nullable(st.Webhook.FallbackURL),
			FallbackMethod:       nullable(st.Webhook.FallbackMethod),
			StatusCallbackURL:    nullable(st.Webhook.StatusCallbackURL),
			StatusCallbackMethod: nullable(st.Webhook.StatusCallbackMethod),
		},
		Profile: senderProfileOut{
			Name:              nullable(p.Name),
			About:             nullable(p.About),
			Address:           nullable(p.Address),
			Description:       nullable(p.Description),
			Emails:            labeledOut(p.Emails, func(o *websiteOrEmail, v string) { o.Email = v }),
			LogoURL:           nullable(p.LogoURL),
			Vertical:          nullable(p.Vertical),
			Websites:          labeledOut(p.Websites, func(o *websiteOrEmail, v string) { o.Website = v }),
			BannerURL:         nullable(p.BannerURL),
			PrivacyURL:        nullable(p.PrivacyURL),
			TermsOfServiceURL: nullable(p.TermsOfServiceURL),
			AccentColor:       nullable(p.AccentColor),
			PhoneNumbers:      labeledOut(p.PhoneNumbers, func(o *websiteOrEmail, v string) { o.PhoneNumber = v }),
		},
		URL: senderBaseURL + "/" + st.SID,
	}
	if st.QualityRating != "" || st.MessagingLimit != "" {
		r.Properties = &senderPropertiesOut{
			QualityRating:  nullable(st.QualityRating),
			MessagingLimit: nullable(st.MessagingLimit),
		}
	}
	for _, o := range st.OfflineReasons {
		r.OfflineReasons = append(r.OfflineReasons, senderReasonOut{
			Code:     strconv.Itoa(o.Code),
			Message:  o.Message,
			MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/api/errors/%d", o.Code),
		})
	}
	return r
}
