package twiliosim

// Content templates: Twilio's Content API (content.twilio.com/v1, JSON in and out), in the
// shapes of twilio_content_v1.json.
//
//	POST   /v1/Content                                  create (201)
//	GET    /v1/Content                                  list (PageSize 1..1000, default 50; Page;
//	                                                    PageToken from meta.next_page_url)
//	GET    /v1/Content/{Sid}                            fetch
//	DELETE /v1/Content/{Sid}                            delete (204)
//	GET    /v1/ContentAndApprovals                      list, each with approval_requests
//	GET    /v1/Content/{Sid}/ApprovalRequests           the WhatsApp approval (whatsapp: {...})
//	POST   /v1/Content/{Sid}/ApprovalRequests/whatsapp  submit to WhatsApp (201, status received)
//	GET    /sim/templates                               (dev, no auth) every template with its
//	                                                    approval, as ContentAndApprovals items
//
// Lists are in creation order. Dates are ISO 8601 ("2026-03-02T09:30:05Z"), as this API
// answers (unlike the 2010-04-01 API's RFC 2822). PUT /v1/Content/{Sid} is not simulated.
//
// The simulator starts with one template, SampleTemplateSID, already approved for WhatsApp
// (as the WhatsApp Sandbox comes with pre-approved templates), so demo mode can send a
// template to a parent outside the 24-hour window at once. Delete it through the API when
// unwanted.
//
// # Approval lifecycle
//
// A template is "unsubmitted" until a WhatsApp approval request is made; there is one such
// request per template. After it, each step happens StepDelay after the one before:
//
//	submit ─▶ received ─▶ pending ─┬▶ approved
//	                               └▶ rejected   name starts with "reject" (rejection_reason set)
//	submit (name starts with "paused") ─▶ received ─▶ pending ─▶ approved ─▶ paused
//
// Sim.SetTemplateStatus puts a template in any status (approved, paused, disabled, ...) as
// Meta would later, e.g. for a template whose quality dropped.
//
// # Synchronous errors
//
// HTTP 400, code 20001 (invalid parameter): a body that is not JSON; language missing or not a
// language code ("en", "en_US", "pt_BR"); types missing, empty or naming a type the API does
// not know; a twilio/text without body; a twilio/media without media URLs; quick-reply or
// call-to-action without body or actions, too many actions, a title missing or too long, an
// action type not allowed, a URL action without an http(s) url, a PHONE_NUMBER action without
// an E.164 phone; fields a type does not have; variables whose names are not the numbers 1..n
// without gaps, an empty sample value, a placeholder other than {{n}}, or a {{n}} without a
// sample value in variables.
// HTTP 400, code 20002 (invalid FriendlyName): friendly_name longer than 255 characters or with
// line breaks.
// Approval requests: HTTP 400, code 20001 for a name that is not lowercase letters, digits and
// underscores (at most 512), a category other than UTILITY, MARKETING or AUTHENTICATION, and a
// second request for the same template.
// HTTP 404, code 20404: unknown Content SID.
//
// # Sending a template (messages.go)
//
// A message create with ContentSid renders the template: the stored message's body is the
// template's body with each {{n}} replaced by ContentVariables' "n", or else by the template's
// sample value. Errors, as Twilio answers them at create time (HTTP 400):
//
//	21654  ContentVariables without ContentSid
//	21655  ContentSid not of the form HX + 32 hex digits, or no such template (deleted, or of
//	       another account)
//	21656  ContentVariables not a JSON object of strings (or numbers), a value empty or null,
//	       or a value with a line break, a tab or more than four spaces in a row
//
// On WhatsApp, a template that is not approved is sent as a session message: within 24 hours of
// the parent's last message it is delivered; outside that window the message is accepted, then
// fails with 63016 by status callback, as Twilio reports it. This holds whether or not
// Config.EnforceWindow is set (that flag governs free-form messages only).

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
	"unicode/utf8"
)

// Approval statuses of a WhatsApp template (the Content API's approval status values).
const (
	TemplateUnsubmitted = "unsubmitted"
	TemplateReceived    = "received"
	TemplatePending     = "pending"
	TemplateApproved    = "approved"
	TemplateRejected    = "rejected"
	TemplatePaused      = "paused"
	TemplateDisabled    = "disabled"
)

// WhatsApp template categories.
const (
	CategoryUtility        = "UTILITY"
	CategoryMarketing      = "MARKETING"
	CategoryAuthentication = "AUTHENTICATION"
)

// SampleTemplateSID is the template the simulator starts with, approved for WhatsApp:
// "Hello {{1}}, this is a message from the school office about {{2}}." (samples "parent" and
// "your child's class").
const SampleTemplateSID = "HX0123456789abcdef0123456789abcdef"

// Error codes of the Content API and of template sends.
const (
	errInvalidParam        = 20001
	errInvalidFriendlyName = 20002
	errContentSIDRequired  = 21654
	errContentSIDInvalid   = 21655
	errContentVarsInvalid  = 21656
)

const (
	contentBaseURL     = "https://content.twilio.com/v1"
	contentDefaultPage = 50
	contentMaxBody     = 1 << 20
	contentPageToken   = "PT"
	// templateRejection is the rejection_reason of a template whose approval name starts with
	// "reject", in the form Twilio relays Meta's reasons.
	templateRejection = "INCORRECT_CATEGORY. Meta rejected the template: its content does not match " +
		"the category it was submitted in. Submit a new template with a category that matches its " +
		"content, or change the content."
)

var (
	contentSIDPattern   = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	languagePattern     = regexp.MustCompile(`^[a-z]{2,3}([_-][A-Za-z]{2,4})?$`)
	templateNamePattern = regexp.MustCompile(`^[a-z0-9_]+$`)
	placeholderPattern  = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
	variableName        = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// contentTypes are the keys of the spec's "types" object. The simulator checks the first four
// in detail and keeps the others as given.
var contentTypes = []string{
	"twilio/text", "twilio/media", "twilio/quick-reply", "twilio/call-to-action",
	"twilio/location", "twilio/list-picker", "twilio/card", "twilio/catalog", "twilio/carousel",
	"twilio/flows", "twilio/schedule", "whatsapp/card", "whatsapp/authentication", "whatsapp/flows",
}

// primaryOrder decides a template's content_type for WhatsApp: the richest type it has.
var primaryOrder = []string{
	"whatsapp/authentication", "whatsapp/card", "whatsapp/flows", "twilio/carousel", "twilio/card",
	"twilio/call-to-action", "twilio/quick-reply", "twilio/list-picker", "twilio/catalog",
	"twilio/flows", "twilio/location", "twilio/schedule", "twilio/media", "twilio/text",
}

// Template is a content template the simulator knows.
type Template struct {
	SID          string
	FriendlyName string
	Language     string
	// Variables are the sample values by number ("1", "2", ...).
	Variables map[string]string
	// Types is the "types" object as created, JSON-decoded.
	Types       map[string]any
	Approval    TemplateApproval
	DateCreated time.Time
	DateUpdated time.Time
}

// TemplateApproval is a template's WhatsApp approval request.
type TemplateApproval struct {
	Name, Category      string
	ContentType         string // the content type submitted, e.g. "twilio/quick-reply"
	Status              string // one of the Template… constants
	RejectionReason     string
	AllowCategoryChange bool
}

// Body is the text a message sent with the template carries (before variables are filled in)
// on WhatsApp (whatsapp true) or SMS.
func (t Template) Body(whatsapp bool) string { return templateBody(t.Types, whatsapp) }

// templateState is a template and the simulator's bookkeeping. Guarded by Sim.mu.
type templateState struct {
	Template
	types json.RawMessage // the "types" object as stored (Template.Types is decoded per copy)
	seq   uint64
	gen   int // bumped by every approval transition; a pending step for an older gen is void
}

// templateStore holds the templates. Guarded by Sim.mu.
type templateStore struct {
	list  []*templateState
	bySID map[string]*templateState
	seq   uint64
}

// templateStep is an asynchronous approval transition; it returns the next one, or nil.
type templateStep func(st *templateState) templateStep

func (s *Sim) registerContent(mux *http.ServeMux) {
	s.templates.bySID = make(map[string]*templateState)
	s.seedTemplates()
	mux.HandleFunc("POST /v1/Content", s.rest(s.handleCreateContent))
	mux.HandleFunc("GET /v1/Content", s.rest(s.handleListContent))
	mux.HandleFunc("GET /v1/Content/{Sid}", s.rest(s.handleFetchContent))
	mux.HandleFunc("DELETE /v1/Content/{Sid}", s.rest(s.handleDeleteContent))
	mux.HandleFunc("GET /v1/ContentAndApprovals", s.rest(s.handleListContentAndApprovals))
	mux.HandleFunc("GET /v1/Content/{Sid}/ApprovalRequests", s.rest(s.handleFetchApproval))
	mux.HandleFunc("POST /v1/Content/{Sid}/ApprovalRequests/whatsapp", s.rest(s.handleCreateApproval))
	mux.HandleFunc("GET /sim/templates", s.handleSimTemplates)
}

// seedTemplates adds SampleTemplateSID, approved.
func (s *Sim) seedTemplates() {
	now := s.now().UTC()
	types := json.RawMessage(`{"twilio/text":{"body":"Hello {{1}}, this is a message from the school office about {{2}}."}}`)
	st := &templateState{
		Template: Template{
			SID:          SampleTemplateSID,
			FriendlyName: "School office message",
			Language:     "en",
			Variables:    map[string]string{"1": "parent", "2": "your child's class"},
			Approval: TemplateApproval{
				Name:                "school_office_message",
				Category:            CategoryUtility,
				ContentType:         "twilio/text",
				Status:              TemplateApproved,
				AllowCategoryChange: true,
			},
			DateCreated: now,
			DateUpdated: now,
		},
		types: types,
	}
	s.addTemplate(st)
}

// addTemplate stores st. Callers hold s.mu or own s exclusively.
func (s *Sim) addTemplate(st *templateState) {
	s.templates.seq++
	st.seq = s.templates.seq
	s.templates.list = append(s.templates.list, st)
	s.templates.bySID[st.SID] = st
}

// Templates returns a copy of every template, oldest first.
func (s *Sim) Templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Template, 0, len(s.templates.list))
	for _, st := range s.templates.list {
		out = append(out, st.copy())
	}
	return out
}

// SetTemplateStatus puts a template's WhatsApp approval in status (e.g. "paused" or "disabled",
// as Meta does to a template of low quality), with rejection_reason reason. Pending approval
// steps are cancelled. An unsubmitted template gets an approval name (from its friendly name)
// and category UTILITY.
func (s *Sim) SetTemplateStatus(sid, status, reason string) error {
	switch status {
	case TemplateUnsubmitted, TemplateReceived, TemplatePending, TemplateApproved, TemplateRejected,
		TemplatePaused, TemplateDisabled:
	default:
		return fmt.Errorf("twiliosim: unknown template status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.templates.bySID[sid]
	if st == nil {
		return fmt.Errorf("twiliosim: no template %s", sid)
	}
	st.gen++
	a := &st.Approval
	if status == TemplateUnsubmitted {
		*a = unsubmitted()
	} else if a.Status == TemplateUnsubmitted {
		a.Name = approvalNameFor(st.FriendlyName, st.SID)
		a.Category = CategoryUtility
		a.ContentType = primaryType(st.typeNames())
		a.AllowCategoryChange = true
	}
	a.Status = status
	a.RejectionReason = reason
	st.DateUpdated = s.now().UTC()
	return nil
}

func unsubmitted() TemplateApproval {
	return TemplateApproval{Status: TemplateUnsubmitted, AllowCategoryChange: true}
}

// approvalNameFor makes a WhatsApp template name out of a friendly name.
func approvalNameFor(friendly, sid string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(friendly) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return strings.ToLower(sid)
	}
	return b.String()
}

func (st *templateState) copy() Template {
	t := st.Template
	t.Variables = make(map[string]string, len(st.Variables))
	for k, v := range st.Variables {
		t.Variables[k] = v
	}
	_ = json.Unmarshal(st.types, &t.Types)
	return t
}

func (st *templateState) typeNames() []string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(st.types, &m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// primaryType is the content type a WhatsApp approval is for.
func primaryType(names []string) string {
	for _, p := range primaryOrder {
		if slices.Contains(names, p) {
			return p
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// templateBody picks the body a message carries: on SMS twilio/text first; on WhatsApp the
// primary type's body; then any type's body.
func templateBody(types map[string]any, whatsapp bool) string {
	body := func(name string) string {
		b, _ := jsonField(types[name], "body").(string)
		return b
	}
	names := make([]string, 0, len(types))
	for k := range types {
		names = append(names, k)
	}
	slices.Sort(names)
	order := []string{"twilio/text", "twilio/media"}
	if whatsapp {
		order = []string{primaryType(names)}
	}
	for _, n := range append(order, primaryOrder...) {
		if b := body(n); b != "" {
			return b
		}
	}
	for _, n := range names {
		if b := body(n); b != "" {
			return b
		}
	}
	return ""
}

// render fills each {{n}} of body with vars["n"], else with the sample value, else leaves it.
func render(body string, vars, samples map[string]string) string {
	return placeholderPattern.ReplaceAllStringFunc(body, func(ph string) string {
		n := strings.TrimSpace(ph[2 : len(ph)-2])
		if v, ok := vars[n]; ok {
			return v
		}
		if v, ok := samples[n]; ok {
			return v
		}
		return ph
	})
}

// jsonField digs into a decoded JSON object.
func jsonField(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// --- asynchronous approval ---

// runTemplate runs step StepDelay from now, and each step it leads to after another StepDelay,
// as long as the template still exists and nothing else moved it on. Callers must not hold s.mu.
func (s *Sim) runTemplate(sid string, gen int, step templateStep) {
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
			st := s.templates.bySID[sid]
			if st == nil || st.gen != gen {
				s.mu.Unlock()
				return
			}
			st.gen++
			step = step(st)
			gen = st.gen
			st.DateUpdated = s.now().UTC()
			s.logf("twiliosim: template %s is %s", sid, st.Approval.Status)
			s.mu.Unlock()
		}
	})
}

func templatePending(st *templateState) templateStep {
	st.Approval.Status = TemplatePending
	return templateDecided
}

func templateDecided(st *templateState) templateStep {
	name := st.Approval.Name
	if strings.HasPrefix(name, "reject") {
		st.Approval.Status = TemplateRejected
		st.Approval.RejectionReason = templateRejection
		return nil
	}
	st.Approval.Status = TemplateApproved
	if strings.HasPrefix(name, "paused") {
		return func(st *templateState) templateStep {
			st.Approval.Status = TemplatePaused
			return nil
		}
	}
	return nil
}

// --- requests ---

type contentRequest struct {
	FriendlyName *string                    `json:"friendly_name"`
	Language     *string                    `json:"language"`
	Variables    map[string]json.RawMessage `json:"variables"`
	Types        map[string]json.RawMessage `json:"types"`
}

type approvalRequest struct {
	Name                *string `json:"name"`
	Category            *string `json:"category"`
	AllowCategoryChange *bool   `json:"allow_category_change"`
}

// apiError is a 400 answer with a Twilio code.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badParam(format string, args ...any) *apiError {
	return &apiError{errInvalidParam, fmt.Sprintf(format, args...)}
}

func writeAPIError(w http.ResponseWriter, err error) {
	var e *apiError
	if errors.As(err, &e) {
		writeError(w, http.StatusBadRequest, e.code, e.msg)
		return
	}
	writeError(w, http.StatusBadRequest, errInvalidParam, err.Error())
}

// readJSON decodes a JSON request body into v.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, contentMaxBody+1))
	if err != nil {
		return badParam("Could not read the request body")
	}
	if len(b) > contentMaxBody {
		return badParam("The request body is too large")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return badParam("The request body is empty: send a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badParam("Invalid value for %s: expected %s", te.Field, te.Type)
		}
		return badParam("The request body is not valid JSON")
	}
	return nil
}

// checkContent validates a create request and returns what to store.
func checkContent(req contentRequest) (friendly, language string, vars map[string]string, types json.RawMessage, err error) {
	if req.FriendlyName != nil {
		friendly = *req.FriendlyName
		if utf8.RuneCountInString(friendly) > 255 || strings.ContainsAny(friendly, "\r\n") {
			return "", "", nil, nil, &apiError{errInvalidFriendlyName,
				"Invalid friendly_name: at most 255 characters, on one line"}
		}
	}
	language = strings.TrimSpace(deref(req.Language))
	switch {
	case language == "":
		return "", "", nil, nil, badParam("Missing required parameter language: a language code such as en or pt_BR")
	case !languagePattern.MatchString(language):
		return "", "", nil, nil, badParam("Invalid language %q: use a language code such as en, en_US or pt_BR", language)
	}
	if len(req.Types) == 0 {
		return "", "", nil, nil, badParam("Missing required parameter types: at least one content type, such as twilio/text")
	}
	names := make([]string, 0, len(req.Types))
	for name := range req.Types {
		names = append(names, name)
	}
	slices.Sort(names)
	var texts []string // every text that may hold placeholders
	for _, name := range names {
		if !slices.Contains(contentTypes, name) {
			return "", "", nil, nil, badParam("Unknown content type %q: use one of %s", name, strings.Join(contentTypes, ", "))
		}
		t, err := checkType(name, req.Types[name])
		if err != nil {
			return "", "", nil, nil, err
		}
		texts = append(texts, t...)
	}

	vars = make(map[string]string, len(req.Variables))
	for k, raw := range req.Variables {
		if !variableName.MatchString(k) {
			return "", "", nil, nil, badParam("Invalid variable %q: variables are numbered 1, 2, 3, ...", k)
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", "", nil, nil, badParam("Invalid variable %s: its sample value must be a string", k)
		}
		if strings.TrimSpace(v) == "" {
			return "", "", nil, nil, badParam("Invalid variable %s: its sample value is empty", k)
		}
		vars[k] = v
	}
	for i := 1; i <= len(vars); i++ {
		if _, ok := vars[strconv.Itoa(i)]; !ok {
			return "", "", nil, nil, badParam("Invalid variables: numbered 1 to %d, %d is missing (variables must be sequential)", len(vars), i)
		}
	}
	for _, text := range texts {
		for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
			n := strings.TrimSpace(m[1])
			if !variableName.MatchString(n) {
				return "", "", nil, nil, badParam("Invalid placeholder %s: placeholders are numbered, as {{1}}", m[0])
			}
			if _, ok := vars[n]; !ok {
				return "", "", nil, nil, badParam("Placeholder {{%s}} has no sample value: add variables.%s", n, n)
			}
		}
	}
	types, _ = json.Marshal(req.Types)
	return friendly, language, vars, types, nil
}

// checkType validates one content type and returns its texts that may hold placeholders.
func checkType(name string, raw json.RawMessage) ([]string, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, badParam("types.%s must be an object", name)
	}
	allowed := map[string][]string{
		"twilio/text":           {"body"},
		"twilio/media":          {"body", "media"},
		"twilio/quick-reply":    {"body", "actions"},
		"twilio/call-to-action": {"body", "actions"},
	}[name]
	if allowed == nil { // a type the simulator keeps as given
		return []string{string(raw)}, nil
	}
	for k := range obj {
		if !slices.Contains(allowed, k) {
			return nil, badParam("types.%s has no field %q (it has %s)", name, k, strings.Join(allowed, ", "))
		}
	}
	var body string
	if b, ok := obj["body"]; ok && json.Unmarshal(b, &body) != nil {
		return nil, badParam("types.%s.body must be a string", name)
	}
	if name != "twilio/media" && strings.TrimSpace(body) == "" {
		return nil, badParam("Missing required parameter types.%s.body", name)
	}
	if utf8.RuneCountInString(body) > 1600 {
		return nil, badParam("types.%s.body must be at most 1600 characters", name)
	}
	texts := []string{body}
	switch name {
	case "twilio/media":
		var media []string
		if m, ok := obj["media"]; !ok || json.Unmarshal(m, &media) != nil || len(media) == 0 {
			return nil, badParam("Missing required parameter types.twilio/media.media: at least one media URL")
		}
		for _, u := range media {
			if !httpURL(placeholderPattern.ReplaceAllString(u, "x")) {
				return nil, badParam("types.twilio/media.media: %q is not an http or https URL", u)
			}
		}
		texts = append(texts, media...)
	case "twilio/quick-reply":
		var actions []struct {
			Type, Title, ID *string
		}
		if json.Unmarshal(obj["actions"], &actions) != nil || len(actions) == 0 {
			return nil, badParam("Missing required parameter types.twilio/quick-reply.actions: 1 to 10 buttons")
		}
		if len(actions) > 10 {
			return nil, badParam("types.twilio/quick-reply.actions: at most 10 buttons")
		}
		for i, a := range actions {
			if err := checkRawKeys(obj["actions"], i, "twilio/quick-reply", "type", "title", "id"); err != nil {
				return nil, err
			}
			if a.Type != nil && *a.Type != "QUICK_REPLY" {
				return nil, badParam("types.twilio/quick-reply.actions[%d].type must be QUICK_REPLY", i)
			}
			title := deref(a.Title)
			if err := checkTitle("twilio/quick-reply", i, title, 20); err != nil {
				return nil, err
			}
			if utf8.RuneCountInString(deref(a.ID)) > 200 {
				return nil, badParam("types.twilio/quick-reply.actions[%d].id must be at most 200 characters", i)
			}
			texts = append(texts, title, deref(a.ID))
		}
	case "twilio/call-to-action":
		var actions []struct {
			Type, Title, URL, Phone, Code, ID *string
		}
		if json.Unmarshal(obj["actions"], &actions) != nil || len(actions) == 0 {
			return nil, badParam("Missing required parameter types.twilio/call-to-action.actions: 1 to 3 buttons")
		}
		if len(actions) > 3 {
			return nil, badParam("types.twilio/call-to-action.actions: at most 3 buttons")
		}
		for i, a := range actions {
			if err := checkRawKeys(obj["actions"], i, "twilio/call-to-action", "type", "title", "url", "phone", "code", "id"); err != nil {
				return nil, err
			}
			title := deref(a.Title)
			if err := checkTitle("twilio/call-to-action", i, title, 25); err != nil {
				return nil, err
			}
			switch typ := deref(a.Type); typ {
			case "URL":
				u := deref(a.URL)
				if !httpURL(placeholderPattern.ReplaceAllString(u, "x")) {
					return nil, badParam("types.twilio/call-to-action.actions[%d]: a URL button needs an http or https url", i)
				}
				texts = append(texts, u)
			case "PHONE_NUMBER":
				if !validE164(deref(a.Phone)) {
					return nil, badParam("types.twilio/call-to-action.actions[%d]: a PHONE_NUMBER button needs an E.164 phone", i)
				}
			case "COPY_CODE", "VOICE_CALL", "VOICE_CALL_REQUEST":
			case "":
				return nil, badParam("Missing required parameter types.twilio/call-to-action.actions[%d].type", i)
			default:
				return nil, badParam("types.twilio/call-to-action.actions[%d].type %q is not one of URL, PHONE_NUMBER, COPY_CODE, VOICE_CALL, VOICE_CALL_REQUEST", i, typ)
			}
			texts = append(texts, title)
		}
	}
	return texts, nil
}

// checkRawKeys refuses fields an action object does not have (the spec's additionalProperties:
// false).
func checkRawKeys(actions json.RawMessage, i int, typ string, allowed ...string) error {
	var list []map[string]json.RawMessage
	if json.Unmarshal(actions, &list) != nil || i >= len(list) {
		return badParam("types.%s.actions must be an array of objects", typ)
	}
	for k := range list[i] {
		if !slices.Contains(allowed, k) {
			return badParam("types.%s.actions[%d] has no field %q", typ, i, k)
		}
	}
	return nil
}

func checkTitle(typ string, i int, title string, limit int) error {
	switch n := utf8.RuneCountInString(title); {
	case strings.TrimSpace(title) == "":
		return badParam("Missing required parameter types.%s.actions[%d].title", typ, i)
	case n > limit:
		return badParam("types.%s.actions[%d].title must be at most %d characters", typ, i, limit)
	}
	return nil
}

// --- handlers ---

func (s *Sim) handleCreateContent(w http.ResponseWriter, r *http.Request) {
	var req contentRequest
	if err := readJSON(r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	friendly, language, vars, types, err := checkContent(req)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	now := s.now().UTC()
	st := &templateState{
		Template: Template{
			SID:          newSID("HX"),
			FriendlyName: friendly,
			Language:     language,
			Variables:    vars,
			Approval:     unsubmitted(),
			DateCreated:  now,
			DateUpdated:  now,
		},
		types: types,
	}
	s.mu.Lock()
	s.addTemplate(st)
	res := s.contentResource(st)
	s.mu.Unlock()
	s.logf("twiliosim: created template %s", st.SID)
	writeJSON(w, http.StatusCreated, res)
}

func (s *Sim) handleFetchContent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.templates.bySID[r.PathValue("Sid")]
	var res contentResource
	if st != nil {
		res = s.contentResource(st)
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sim) handleDeleteContent(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("Sid")
	s.mu.Lock()
	st := s.templates.bySID[sid]
	if st != nil {
		delete(s.templates.bySID, sid)
		s.templates.list = slices.DeleteFunc(s.templates.list, func(x *templateState) bool { return x == st })
		st.gen++
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	s.logf("twiliosim: deleted template %s", sid)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleFetchApproval(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.templates.bySID[r.PathValue("Sid")]
	var res approvalFetchResource
	if st != nil {
		res = approvalFetchResource{
			SID:        st.SID,
			AccountSID: s.cfg.AccountSID,
			WhatsApp:   whatsappApproval{Type: "whatsapp", approvalResource: approvalOut(st.Approval)},
			URL:        contentBaseURL + "/Content/" + st.SID + "/ApprovalRequests",
		}
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sim) handleCreateApproval(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("Sid")
	s.mu.Lock()
	exists := s.templates.bySID[sid] != nil
	s.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	var req approvalRequest
	if err := readJSON(r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	name, category := deref(req.Name), deref(req.Category)
	switch {
	case name == "":
		writeAPIError(w, badParam("Missing required parameter name: the WhatsApp template name"))
		return
	case len(name) > 512 || !templateNamePattern.MatchString(name):
		writeAPIError(w, badParam("Invalid name %q: WhatsApp template names have only lowercase letters, digits and underscores, at most 512", name))
		return
	case category == "":
		writeAPIError(w, badParam("Missing required parameter category: UTILITY, MARKETING or AUTHENTICATION"))
		return
	case category != CategoryUtility && category != CategoryMarketing && category != CategoryAuthentication:
		writeAPIError(w, badParam("Invalid category %q: use UTILITY, MARKETING or AUTHENTICATION", category))
		return
	}

	s.mu.Lock()
	st := s.templates.bySID[sid]
	if st == nil { // deleted meanwhile
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if st.Approval.Status != TemplateUnsubmitted {
		a := st.Approval
		s.mu.Unlock()
		writeAPIError(w, badParam("Content %s was already submitted for WhatsApp approval (as %s, %s): create a new template to submit again", sid, a.Name, a.Status))
		return
	}
	allow := true
	if req.AllowCategoryChange != nil {
		allow = *req.AllowCategoryChange
	}
	st.gen++
	st.Approval = TemplateApproval{
		Name:                name,
		Category:            category,
		ContentType:         primaryType(st.typeNames()),
		Status:              TemplateReceived,
		AllowCategoryChange: allow,
	}
	st.DateUpdated = s.now().UTC()
	res := approvalOut(st.Approval)
	gen := st.gen
	s.mu.Unlock()

	s.logf("twiliosim: template %s submitted to WhatsApp as %s (%s)", sid, name, category)
	s.runTemplate(sid, gen, templatePending)
	writeJSON(w, http.StatusCreated, res)
}

// contentPageMeta is the meta of ListContentResponse and ListContentAndApprovalsResponse.
type contentPageMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

// contentPage reads the paging parameters and returns the page's templates and meta.
// It answers the error itself and returns ok false when the parameters are invalid.
func (s *Sim) contentPage(w http.ResponseWriter, r *http.Request, path string) (items []*templateState, meta contentPageMeta, ok bool) {
	q := r.URL.Query()
	pageSize := contentDefaultPage
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeAPIError(w, badParam("PageSize must be an integer from 1 to 1000"))
			return nil, meta, false
		}
		pageSize = n
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeAPIError(w, badParam("Page must be a non-negative integer"))
			return nil, meta, false
		}
		page = n
	}
	token := q.Get("PageToken")
	var after uint64
	if token != "" {
		hexSeq, found := strings.CutPrefix(token, contentPageToken)
		n, err := strconv.ParseUint(hexSeq, 16, 64)
		if !found || err != nil {
			writeAPIError(w, badParam("Invalid PageToken"))
			return nil, meta, false
		}
		after = n
	}

	// Callers hold s.mu from here on; the slice returned aliases the store.
	var all []*templateState
	if token != "" {
		for _, st := range s.templates.list {
			if st.seq > after {
				all = append(all, st)
			}
		}
	} else if start := page * pageSize; start < len(s.templates.list) {
		all = s.templates.list[start:]
	}
	items = all[:min(pageSize, len(all))]

	pageURL := func(p int, tok string) string {
		v := url.Values{}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		if tok != "" {
			v.Set("PageToken", tok)
		}
		return contentBaseURL + path + "?" + v.Encode()
	}
	meta = contentPageMeta{
		Page:         page,
		PageSize:     pageSize,
		FirstPageURL: pageURL(0, ""),
		URL:          pageURL(page, token),
		Key:          "contents",
	}
	if len(all) > pageSize {
		u := pageURL(page+1, contentPageToken+strconv.FormatUint(items[len(items)-1].seq, 16))
		meta.NextPageURL = &u
	}
	if page > 0 {
		u := pageURL(page-1, "")
		meta.PreviousPageURL = &u
	}
	return items, meta, true
}

func (s *Sim) handleListContent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items, meta, ok := s.contentPage(w, r, "/Content")
	if !ok {
		s.mu.Unlock()
		return
	}
	res := struct {
		Contents []contentResource `json:"contents"`
		Meta     contentPageMeta   `json:"meta"`
	}{Contents: make([]contentResource, 0, len(items)), Meta: meta}
	for _, st := range items {
		res.Contents = append(res.Contents, s.contentResource(st))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

func (s *Sim) handleListContentAndApprovals(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items, meta, ok := s.contentPage(w, r, "/ContentAndApprovals")
	if !ok {
		s.mu.Unlock()
		return
	}
	res := struct {
		Contents []contentAndApprovalsResource `json:"contents"`
		Meta     contentPageMeta               `json:"meta"`
	}{Contents: make([]contentAndApprovalsResource, 0, len(items)), Meta: meta}
	for _, st := range items {
		res.Contents = append(res.Contents, s.contentAndApprovals(st))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

// handleSimTemplates is GET /sim/templates: every template with its approval.
func (s *Sim) handleSimTemplates(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]contentAndApprovalsResource, 0, len(s.templates.list))
	for _, st := range s.templates.list {
		out = append(out, s.contentAndApprovals(st))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// --- resource JSON (content.v1.content, content.v1.content_and_approvals, approvals) ---

type contentResource struct {
	DateCreated  string            `json:"date_created"`
	DateUpdated  string            `json:"date_updated"`
	SID          string            `json:"sid"`
	AccountSID   string            `json:"account_sid"`
	FriendlyName string            `json:"friendly_name"`
	Language     string            `json:"language"`
	Variables    map[string]string `json:"variables"`
	Types        json.RawMessage   `json:"types"`
	URL          string            `json:"url"`
	Links        map[string]string `json:"links"`
}

type contentAndApprovalsResource struct {
	DateCreated      string            `json:"date_created"`
	DateUpdated      string            `json:"date_updated"`
	SID              string            `json:"sid"`
	AccountSID       string            `json:"account_sid"`
	FriendlyName     string            `json:"friendly_name"`
	Language         string            `json:"language"`
	Variables        map[string]string `json:"variables"`
	Types            json.RawMessage   `json:"types"`
	ApprovalRequests approvalResource  `json:"approval_requests"`
}

// approvalResource is content.v1.content.approval_create, and the approval in the other shapes.
type approvalResource struct {
	Name                string `json:"name"`
	Category            string `json:"category"`
	ContentType         string `json:"content_type"`
	Status              string `json:"status"`
	RejectionReason     string `json:"rejection_reason"`
	AllowCategoryChange bool   `json:"allow_category_change"`
}

type whatsappApproval struct {
	Type string `json:"type"`
	approvalResource
}

type approvalFetchResource struct {
	SID        string           `json:"sid"`
	AccountSID string           `json:"account_sid"`
	WhatsApp   whatsappApproval `json:"whatsapp"`
	URL        string           `json:"url"`
}

// iso8601 formats t as the Content API does: "2026-03-02T09:30:05Z".
func iso8601(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func approvalOut(a TemplateApproval) approvalResource {
	return approvalResource{
		Name:                a.Name,
		Category:            a.Category,
		ContentType:         a.ContentType,
		Status:              a.Status,
		RejectionReason:     a.RejectionReason,
		AllowCategoryChange: a.AllowCategoryChange,
	}
}

// contentResource is st as Twilio's JSON. Callers hold s.mu.
func (s *Sim) contentResource(st *templateState) contentResource {
	self := contentBaseURL + "/Content/" + st.SID
	return contentResource{
		DateCreated:  iso8601(st.DateCreated),
		DateUpdated:  iso8601(st.DateUpdated),
		SID:          st.SID,
		AccountSID:   s.cfg.AccountSID,
		FriendlyName: st.FriendlyName,
		Language:     st.Language,
		Variables:    copyVars(st.Variables),
		Types:        st.types,
		URL:          self,
		Links: map[string]string{
			"approval_create": self + "/ApprovalRequests/whatsapp",
			"approval_fetch":  self + "/ApprovalRequests",
		},
	}
}

// contentAndApprovals is st as a ContentAndApprovals item. Callers hold s.mu.
func (s *Sim) contentAndApprovals(st *templateState) contentAndApprovalsResource {
	return contentAndApprovalsResource{
		DateCreated:      iso8601(st.DateCreated),
		DateUpdated:      iso8601(st.DateUpdated),
		SID:              st.SID,
		AccountSID:       s.cfg.AccountSID,
		FriendlyName:     st.FriendlyName,
		Language:         st.Language,
		Variables:        copyVars(st.Variables),
		Types:            st.types,
		ApprovalRequests: approvalOut(st.Approval),
	}
}

// copyVars copies m, never nil (the API answers {} for no variables).
func copyVars(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- sending with ContentSid (messages.go) ---

// contentSend is what a message create with ContentSid resolved to.
type contentSend struct {
	body     string // rendered
	approved bool
}

// resolveContent checks a create's ContentSid and ContentVariables and renders the template for
// the channel of to. It returns nil, nil when the create has neither.
func (s *Sim) resolveContent(f url.Values) (*contentSend, *createError) {
	sid, rawVars := f.Get("ContentSid"), f.Get("ContentVariables")
	if sid == "" {
		if rawVars != "" {
			return nil, &createError{400, errContentSIDRequired, "ContentSid Required: ContentVariables were given without a ContentSid"}
		}
		return nil, nil
	}
	vars, ok := parseContentVariables(rawVars)
	if !ok {
		return nil, &createError{400, errContentVarsInvalid, "The ContentVariables Parameter is invalid."}
	}
	s.mu.Lock()
	st := s.templates.bySID[sid]
	var t Template
	if st != nil {
		t = st.copy()
	}
	s.mu.Unlock()
	if !contentSIDPattern.MatchString(sid) || st == nil {
		return nil, &createError{400, errContentSIDInvalid, "The ContentSid is Invalid: " + sid}
	}
	body := render(t.Body(isWhatsApp(f.Get("To"))), vars, t.Variables)
	return &contentSend{body: body, approved: t.Approval.Status == TemplateApproved}, nil
}

// parseContentVariables reads ContentVariables: "" or a JSON object whose values are non-empty
// strings (or numbers) without line breaks, tabs or more than four spaces in a row.
func parseContentVariables(raw string) (map[string]string, bool) {
	out := map[string]string{}
	if raw == "" {
		return out, true
	}
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil || m == nil {
		return nil, false
	}
	for k, v := range m {
		var str string
		switch x := v.(type) {
		case string:
			str = x
		case float64:
			str = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, false
		}
		if strings.TrimSpace(str) == "" || strings.ContainsAny(str, "\n\r\t") || strings.Contains(str, "     ") {
			return nil, false
		}
		out[k] = str
	}
	return out, true
}

// templatePlan replaces p by the plan of a WhatsApp template that is not approved, sent outside
// the 24-hour window: queued, then failed with 63016. It returns p unchanged otherwise.
func (s *Sim) templatePlan(p plan, m *Message, c *contentSend, now time.Time) plan {
	if c == nil || c.approved || !isWhatsApp(m.To) {
		return p
	}
	s.mu.Lock()
	inWindow := s.inWindow(m.To, now)
	s.mu.Unlock()
	if inWindow {
		return p
	}
	return plan{
		steps: []step{{"queued", 0}, {"failed", errWAOutsideWin}},
		order: []int{0, 1},
		dup:   []bool{false, false},
	}
}
