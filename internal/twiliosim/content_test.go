package twiliosim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func contentURL(srv *httptest.Server) string { return srv.URL + "/v1/Content" }

// quickReply is a template as a school would write it: a quick-reply with a text fallback.
func quickReply(mutate func(m map[string]any)) map[string]any {
	m := map[string]any{
		"friendly_name": "Trip consent",
		"language":      "en",
		"variables":     map[string]string{"1": "Ada", "2": "Friday"},
		"types": map[string]any{
			"twilio/quick-reply": map[string]any{
				"body": "Hello, may {{1}} join the museum trip on {{2}}?",
				"actions": []map[string]string{
					{"title": "Yes", "id": "consent_yes"},
					{"title": "No", "id": "consent_no"},
				},
			},
			"twilio/text": map[string]any{"body": "Hello, may {{1}} join the museum trip on {{2}}? Reply YES or NO."},
		},
	}
	if mutate != nil {
		mutate(m)
	}
	return m
}

func mustCreateContent(t *testing.T, srv *httptest.Server, body map[string]any) string {
	t.Helper()
	r := doJSON(t, http.MethodPost, contentURL(srv), body, true)
	if r.status != http.StatusCreated {
		t.Fatalf("create content: HTTP %d %v", r.status, r.body)
	}
	return r.str("sid")
}

func submit(t *testing.T, srv *httptest.Server, sid, name, category string) apiResult {
	t.Helper()
	return doJSON(t, http.MethodPost, contentURL(srv)+"/"+sid+"/ApprovalRequests/whatsapp",
		map[string]any{"name": name, "category": category}, true)
}

func approvalOf(t *testing.T, srv *httptest.Server, sid string) apiResult {
	t.Helper()
	r := doJSON(t, http.MethodGet, contentURL(srv)+"/"+sid+"/ApprovalRequests", nil, true)
	if r.status != http.StatusOK {
		t.Fatalf("fetch approval %s: HTTP %d %v", sid, r.status, r.body)
	}
	return r
}

// waitApproval polls the approval until its status is want.
func waitApproval(t *testing.T, srv *httptest.Server, sid, want string) apiResult {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		r := approvalOf(t, srv, sid)
		if get(r.body, "whatsapp", "status") == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for template %s to be %s: %v", sid, want, r.body)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// specSchema returns the property names and patterns of a schema of twilio_content_v1.json,
// or skips the calling test when the shared folder is absent.
func specSchema(t *testing.T, name string) (props []string, patterns map[string]*regexp.Regexp) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "twilio-oai", "twilio_content_v1.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("Twilio's OpenAPI specs are not at %s; skipping the comparison with the spec", path)
	} else if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Pattern string `json:"pattern"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s, ok := doc.Components.Schemas[name]
	if !ok || len(s.Properties) == 0 {
		t.Fatalf("schema %s not in %s", name, path)
	}
	patterns = map[string]*regexp.Regexp{}
	for k, p := range s.Properties {
		props = append(props, k)
		if p.Pattern != "" {
			patterns[k] = regexp.MustCompile(p.Pattern)
		}
	}
	sort.Strings(props)
	return props, patterns
}

// checkShape asserts that obj has exactly the spec schema's properties, matching its patterns.
func checkShape(t *testing.T, what string, obj any, schema string) {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %v", what, obj)
	}
	props, patterns := specSchema(t, schema)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, props) {
		t.Errorf("%s: keys %v, want the %s properties %v", what, keys, schema, props)
	}
	for k, re := range patterns {
		if s, _ := m[k].(string); !re.MatchString(s) {
			t.Errorf("%s: %s = %q does not match %s", what, k, s, re)
		}
	}
}

func TestContentCreateFetchShape(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 5, 0, time.UTC)
	s, srv := newTestSim(t, Config{Now: func() time.Time { return now }})
	r := doJSON(t, http.MethodPost, contentURL(srv), quickReply(nil), true)
	if r.status != http.StatusCreated {
		t.Fatalf("create: HTTP %d %v", r.status, r.body)
	}
	sid := r.str("sid")
	checkShape(t, "create", r.body, "content.v1.content")
	for k, want := range map[string]any{
		"account_sid":   testAccount,
		"friendly_name": "Trip consent",
		"language":      "en",
		"date_created":  "2026-03-02T09:30:05Z",
		"date_updated":  "2026-03-02T09:30:05Z",
		"url":           "https://content.twilio.com/v1/Content/" + sid,
	} {
		if r.body[k] != want {
			t.Errorf("%s = %v, want %v", k, r.body[k], want)
		}
	}
	if !jsonEqual(r.body["variables"], `{"1":"Ada","2":"Friday"}`) {
		t.Errorf("variables = %v", r.body["variables"])
	}
	if !jsonEqual(r.body["types"], mustJSON(t, quickReply(nil)["types"])) {
		t.Errorf("types = %v", r.body["types"])
	}
	if !jsonEqual(r.body["links"], `{"approval_create":"https://content.twilio.com/v1/Content/`+sid+
		`/ApprovalRequests/whatsapp","approval_fetch":"https://content.twilio.com/v1/Content/`+sid+`/ApprovalRequests"}`) {
		t.Errorf("links = %v", r.body["links"])
	}

	f := doJSON(t, http.MethodGet, contentURL(srv)+"/"+sid, nil, true)
	if f.status != http.StatusOK || !jsonEqual(f.body, mustJSON(t, r.body)) {
		t.Errorf("fetch: HTTP %d %v, want the created resource", f.status, f.body)
	}

	a := approvalOf(t, srv, sid)
	checkShape(t, "approval fetch", a.body, "content.v1.content.approval_fetch")
	if !jsonEqual(a.body["whatsapp"], `{"type":"whatsapp","name":"","category":"","content_type":"","status":"unsubmitted","rejection_reason":"","allow_category_change":true}`) ||
		a.str("url") != "https://content.twilio.com/v1/Content/"+sid+"/ApprovalRequests" {
		t.Errorf("unsubmitted approval: %v", a.body)
	}

	// The simulator's own view.
	var got *Template
	for _, tp := range s.Templates() {
		if tp.SID == sid {
			got = &tp
		}
	}
	if got == nil {
		t.Fatal("Templates() lacks the template")
	}
	if got.Approval.Status != TemplateUnsubmitted || got.Language != "en" || got.Variables["2"] != "Friday" ||
		got.Body(true) != "Hello, may {{1}} join the museum trip on {{2}}?" ||
		got.Body(false) != "Hello, may {{1}} join the museum trip on {{2}}? Reply YES or NO." {
		t.Errorf("Templates(): %+v", *got)
	}
	// A copy: changing it changes nothing.
	got.Variables["1"] = "changed"
	jsonField(got.Types, "twilio/text").(map[string]any)["body"] = "changed"
	for _, tp := range s.Templates() {
		if tp.SID == sid && (tp.Variables["1"] != "Ada" || tp.Body(false) == "changed") {
			t.Errorf("Templates() shares state: %+v", tp)
		}
	}

	// The other types the gateway models, and a template without variables.
	for name, types := range map[string]any{
		"media": map[string]any{"twilio/media": map[string]any{"body": "This week's menu",
			"media": []string{"https://school.example/menu.pdf"}}},
		"call-to-action": map[string]any{"twilio/call-to-action": map[string]any{"body": "Reports are out.",
			"actions": []map[string]string{
				{"type": "URL", "title": "Read the report", "url": "https://school.example/reports"},
				{"type": "PHONE_NUMBER", "title": "Call the office", "phone": "+15550009999"},
			}}},
	} {
		c := doJSON(t, http.MethodPost, contentURL(srv), map[string]any{"language": "en_GB", "types": types}, true)
		if c.status != http.StatusCreated || !jsonEqual(c.body["types"], mustJSON(t, types)) ||
			!jsonEqual(c.body["variables"], `{}`) || c.body["friendly_name"] != "" {
			t.Errorf("%s: HTTP %d %v", name, c.status, c.body)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestContentValidation(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	qr := func(actions any) func(m map[string]any) {
		return func(m map[string]any) {
			m["types"] = map[string]any{"twilio/quick-reply": map[string]any{"body": "Coming?", "actions": actions}}
			delete(m, "variables")
		}
	}
	cta := func(action map[string]string) func(m map[string]any) {
		return func(m map[string]any) {
			m["types"] = map[string]any{"twilio/call-to-action": map[string]any{"body": "See",
				"actions": []map[string]string{action}}}
			delete(m, "variables")
		}
	}
	text := func(body string, vars any) func(m map[string]any) {
		return func(m map[string]any) {
			m["types"] = map[string]any{"twilio/text": map[string]any{"body": body}}
			if vars == nil {
				delete(m, "variables")
			} else {
				m["variables"] = vars
			}
		}
	}
	tests := []struct {
		name   string
		body   any
		code   int
		naming string // a word the message must contain
	}{
		{"empty body", "", 20001, "empty"},
		{"not JSON", "{nope", 20001, "JSON"},
		{"no language", quickReply(func(m map[string]any) { delete(m, "language") }), 20001, "language"},
		{"bad language", quickReply(func(m map[string]any) { m["language"] = "English" }), 20001, "language"},
		{"no types", quickReply(func(m map[string]any) { delete(m, "types") }), 20001, "types"},
		{"empty types", quickReply(func(m map[string]any) { m["types"] = map[string]any{} }), 20001, "types"},
		{"unknown type", quickReply(func(m map[string]any) {
			m["types"] = map[string]any{"twilio/fax": map[string]any{"body": "x"}}
		}), 20001, "twilio/fax"},
		{"type not an object", quickReply(func(m map[string]any) { m["types"] = map[string]any{"twilio/text": "hi"} }), 20001, "object"},
		{"text without body", quickReply(text("", nil)), 20001, "body"},
		{"text field unknown", quickReply(func(m map[string]any) {
			m["types"] = map[string]any{"twilio/text": map[string]any{"body": "x", "footer": "y"}}
			delete(m, "variables")
		}), 20001, "footer"},
		{"media without URLs", quickReply(func(m map[string]any) {
			m["types"] = map[string]any{"twilio/media": map[string]any{"body": "x"}}
			delete(m, "variables")
		}), 20001, "media"},
		{"media not a URL", quickReply(func(m map[string]any) {
			m["types"] = map[string]any{"twilio/media": map[string]any{"media": []string{"menu.pdf"}}}
			delete(m, "variables")
		}), 20001, "menu.pdf"},
		{"quick reply without actions", quickReply(qr([]any{})), 20001, "actions"},
		{"quick reply too many", quickReply(qr(slices.Repeat([]map[string]string{{"title": "x"}}, 11))), 20001, "10"},
		{"quick reply without title", quickReply(qr([]map[string]string{{"id": "x"}})), 20001, "title"},
		{"quick reply title too long", quickReply(qr([]map[string]string{{"title": strings.Repeat("y", 21)}})), 20001, "20"},
		{"quick reply bad type", quickReply(qr([]map[string]string{{"type": "URL", "title": "x"}})), 20001, "QUICK_REPLY"},
		{"quick reply unknown field", quickReply(qr([]map[string]string{{"title": "x", "url": "https://x.example"}})), 20001, "url"},
		{"cta unknown type", quickReply(cta(map[string]string{"type": "EMAIL", "title": "Mail"})), 20001, "EMAIL"},
		{"cta without type", quickReply(cta(map[string]string{"title": "Go"})), 20001, "type"},
		{"cta url missing", quickReply(cta(map[string]string{"type": "URL", "title": "Go"})), 20001, "url"},
		{"cta phone not E.164", quickReply(cta(map[string]string{"type": "PHONE_NUMBER", "title": "Call", "phone": "555-1234"})), 20001, "E.164"},
		{"variables not numbered", quickReply(text("Hi {{1}}", map[string]string{"name": "Ada"})), 20001, "numbered"},
		{"variables with a gap", quickReply(text("Hi {{1}} {{3}}", map[string]string{"1": "Ada", "3": "x"})), 20001, "sequential"},
		{"variables from 0", quickReply(text("Hi {{0}}", map[string]string{"0": "Ada"})), 20001, "numbered"},
		{"empty sample", quickReply(text("Hi {{1}}", map[string]string{"1": " "})), 20001, "empty"},
		{"sample not a string", quickReply(text("Hi {{1}}", map[string]any{"1": 7})), 20001, "string"},
		{"placeholder without sample", quickReply(text("Hi {{1}}, {{2}}", map[string]string{"1": "Ada"})), 20001, "{{2}}"},
		{"named placeholder", quickReply(text("Hi {{name}}", nil)), 20001, "{{name}}"},
		{"empty placeholder", quickReply(text("Hi {{}}", nil)), 20001, "{{}}"},
		{"friendly name too long", quickReply(func(m map[string]any) { m["friendly_name"] = strings.Repeat("n", 256) }), 20002, "friendly_name"},
		{"friendly name two lines", quickReply(func(m map[string]any) { m["friendly_name"] = "a\nb" }), 20002, "friendly_name"},
	}
	for _, tt := range tests {
		r := doJSON(t, http.MethodPost, contentURL(srv), tt.body, true)
		if r.status != http.StatusBadRequest || r.code() != tt.code || !strings.Contains(r.str("message"), tt.naming) ||
			r.str("more_info") != "https://www.twilio.com/docs/errors/"+itoa(tt.code) || r.body["status"] != float64(400) {
			t.Errorf("%s: HTTP %d %v, want 400 code %d naming %q", tt.name, r.status, r.body, tt.code, tt.naming)
		}
	}
	// Nothing was stored but the sample template.
	r := doJSON(t, http.MethodGet, contentURL(srv), nil, true)
	if list, _ := r.body["contents"].([]any); len(list) != 1 {
		t.Errorf("after refused creates, %d templates listed", len(list))
	}
}

// transitions records the approval steps a simulator logs, per template.
type transitions struct {
	mu   sync.Mutex
	seen map[string][]string
}

var templateStepLog = regexp.MustCompile(`^twiliosim: template (HX[0-9a-f]{32}) is (\w+)$`)

func (tr *transitions) logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) {
		line := strings.TrimSpace(fmt.Sprintf(format, args...))
		if m := templateStepLog.FindStringSubmatch(line); m != nil {
			tr.mu.Lock()
			tr.seen[m[1]] = append(tr.seen[m[1]], m[2])
			tr.mu.Unlock()
		}
		t.Log(line)
	}
}

func (tr *transitions) of(sid string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen[sid])
}

// newRecordingSim is newTestSim with the approval steps recorded.
func newRecordingSim(t *testing.T) (*Sim, *httptest.Server, *transitions) {
	t.Helper()
	tr := &transitions{seen: map[string][]string{}}
	s := New(Config{AccountSID: testAccount, AuthToken: testToken, StepDelay: 5 * time.Millisecond,
		Seed: 42, Logf: tr.logf(t)})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	return s, srv, tr
}

func TestApprovalLifecycle(t *testing.T) {
	s, srv, tr := newRecordingSim(t)
	tests := []struct {
		name, category string
		steps          []string
		reason         bool
	}{
		{"trip_consent", CategoryUtility, []string{TemplatePending, TemplateApproved}, false},
		{"reject_bake_sale", CategoryMarketing, []string{TemplatePending, TemplateRejected}, true},
		{"paused_newsletter", CategoryMarketing, []string{TemplatePending, TemplateApproved, TemplatePaused}, false},
	}
	for _, tt := range tests {
		sid := mustCreateContent(t, srv, quickReply(nil))
		r := submit(t, srv, sid, tt.name, tt.category)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: submit: HTTP %d %v", tt.name, r.status, r.body)
		}
		checkShape(t, "approval create", r.body, "content.v1.content.approval_create")
		if !jsonEqual(r.body, `{"name":"`+tt.name+`","category":"`+tt.category+
			`","content_type":"twilio/quick-reply","status":"received","rejection_reason":"","allow_category_change":true}`) {
			t.Errorf("%s: submit answered %v", tt.name, r.body)
		}
		final := waitApproval(t, srv, sid, tt.steps[len(tt.steps)-1])
		// Each step was taken in order, once, StepDelay apart (and none after the last).
		time.Sleep(50 * time.Millisecond)
		if got := tr.of(sid); !slices.Equal(got, tt.steps) {
			t.Errorf("%s: steps %v, want %v", tt.name, got, tt.steps)
		}
		reason, _ := get(final.body, "whatsapp", "rejection_reason").(string)
		if tt.reason != (reason != "") || (tt.reason && !strings.Contains(reason, "INCORRECT_CATEGORY")) {
			t.Errorf("%s: rejection_reason %q", tt.name, reason)
		}
		if get(final.body, "whatsapp", "name") != tt.name || get(final.body, "whatsapp", "category") != tt.category ||
			get(final.body, "whatsapp", "type") != "whatsapp" {
			t.Errorf("%s: final approval %v", tt.name, final.body)
		}
		// A second request for the same template is refused, whatever its status.
		again := submit(t, srv, sid, "trip_consent_2", CategoryUtility)
		if again.status != http.StatusBadRequest || again.code() != 20001 || !strings.Contains(again.str("message"), "already submitted") {
			t.Errorf("%s: second submit: HTTP %d %v", tt.name, again.status, again.body)
		}
	}

	// The submitted name and category reach ContentAndApprovals and Templates().
	r := doJSON(t, http.MethodGet, srv.URL+"/v1/ContentAndApprovals", nil, true)
	list, _ := r.body["contents"].([]any)
	if len(list) != 4 {
		t.Fatalf("ContentAndApprovals listed %d, want 4", len(list))
	}
	checkShape(t, "content and approvals", list[1], "content.v1.content_and_approvals")
	if get(list[1], "approval_requests", "status") != TemplateApproved || get(list[2], "approval_requests", "status") != TemplateRejected ||
		get(list[0], "approval_requests", "status") != TemplateApproved || get(list[0], "sid") != SampleTemplateSID {
		t.Errorf("ContentAndApprovals: %v", list)
	}
	var statuses []string
	for _, tp := range s.Templates() {
		statuses = append(statuses, tp.Approval.Status)
	}
	if !slices.Equal(statuses, []string{TemplateApproved, TemplateApproved, TemplateRejected, TemplatePaused}) {
		t.Errorf("Templates() statuses %v", statuses)
	}
}

func TestApprovalRequestErrors(t *testing.T) {
	_, srv := newTestSim(t, Config{StepDelay: time.Hour})
	sid := mustCreateContent(t, srv, quickReply(nil))
	for _, tt := range []struct {
		what   string
		body   any
		naming string
	}{
		{"no body", "", "empty"},
		{"no name", map[string]string{"category": "UTILITY"}, "name"},
		{"capitals", map[string]string{"name": "Trip_Consent", "category": "UTILITY"}, "lowercase"},
		{"spaces", map[string]string{"name": "trip consent", "category": "UTILITY"}, "lowercase"},
		{"hyphen", map[string]string{"name": "trip-consent", "category": "UTILITY"}, "lowercase"},
		{"too long", map[string]string{"name": strings.Repeat("a", 513), "category": "UTILITY"}, "512"},
		{"no category", map[string]string{"name": "trip_consent"}, "category"},
		{"lowercase category", map[string]string{"name": "trip_consent", "category": "utility"}, "utility"},
		{"old category", map[string]string{"name": "trip_consent", "category": "TRANSACTIONAL"}, "TRANSACTIONAL"},
	} {
		r := doJSON(t, http.MethodPost, contentURL(srv)+"/"+sid+"/ApprovalRequests/whatsapp", tt.body, true)
		if r.status != http.StatusBadRequest || r.code() != 20001 || !strings.Contains(r.str("message"), tt.naming) {
			t.Errorf("%s: HTTP %d %v", tt.what, r.status, r.body)
		}
	}
	if a := approvalOf(t, srv, sid); get(a.body, "whatsapp", "status") != TemplateUnsubmitted {
		t.Errorf("refused requests changed the approval: %v", a.body)
	}
	// 512 characters is allowed.
	if r := submit(t, srv, sid, strings.Repeat("a", 512), CategoryAuthentication); r.status != http.StatusCreated {
		t.Errorf("512-character name: HTTP %d %v", r.status, r.body)
	}
	unknown := "HX" + strings.Repeat("0", 32)
	for _, target := range []string{
		contentURL(srv) + "/" + unknown + "/ApprovalRequests/whatsapp",
	} {
		if r := doJSON(t, http.MethodPost, target, map[string]string{"name": "x", "category": "UTILITY"}, true); r.status != 404 || r.code() != 20404 {
			t.Errorf("POST %s: HTTP %d %v", target, r.status, r.body)
		}
	}
	for _, target := range []string{contentURL(srv) + "/" + unknown, contentURL(srv) + "/" + unknown + "/ApprovalRequests"} {
		if r := doJSON(t, http.MethodGet, target, nil, true); r.status != 404 || r.code() != 20404 {
			t.Errorf("GET %s: HTTP %d %v", target, r.status, r.body)
		}
	}
}

func TestContentPaging(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	want := []string{SampleTemplateSID}
	for range 5 {
		want = append(want, mustCreateContent(t, srv, quickReply(nil)))
	}
	for _, path := range []string{"/v1/Content", "/v1/ContentAndApprovals"} {
		var got []string
		next := srv.URL + path + "?PageSize=4"
		pages := 0
		for next != "" {
			r := doJSON(t, http.MethodGet, next, nil, true)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d %v", next, r.status, r.body)
			}
			list, _ := r.body["contents"].([]any)
			for _, c := range list {
				got = append(got, get(c, "sid").(string))
			}
			meta, _ := r.body["meta"].(map[string]any)
			if meta["key"] != "contents" || meta["page"] != float64(pages) || meta["page_size"] != float64(4) ||
				meta["first_page_url"] != "https://content.twilio.com"+path+"?Page=0&PageSize=4" ||
				!strings.HasPrefix(meta["url"].(string), "https://content.twilio.com"+path+"?") {
				t.Errorf("%s page %d meta %v", path, pages, meta)
			}
			if (pages == 0) != (meta["previous_page_url"] == nil) {
				t.Errorf("%s page %d previous_page_url %v", path, pages, meta["previous_page_url"])
			}
			next = ""
			if u, ok := meta["next_page_url"].(string); ok {
				pu, err := url.Parse(u)
				if err != nil || pu.Host != "content.twilio.com" || pu.Query().Get("PageToken") == "" {
					t.Fatalf("next_page_url %q", u)
				}
				next = srv.URL + pu.RequestURI()
			}
			pages++
		}
		if pages != 2 || !slices.Equal(got, want) {
			t.Errorf("%s: %d pages, %v; want 2 pages, %v", path, pages, got, want)
		}
		// Page numbers alone work too, and a page past the end is empty.
		r := doJSON(t, http.MethodGet, srv.URL+path+"?PageSize=4&Page=1", nil, true)
		if list, _ := r.body["contents"].([]any); len(list) != 2 || get(list[0], "sid") != want[4] {
			t.Errorf("%s Page=1: %v", path, r.body)
		}
		r = doJSON(t, http.MethodGet, srv.URL+path+"?PageSize=4&Page=9", nil, true)
		if list, ok := r.body["contents"].([]any); !ok || len(list) != 0 || get(r.body, "meta", "next_page_url") != nil {
			t.Errorf("%s Page=9: %v", path, r.body)
		}
		for _, q := range []string{"PageSize=0", "PageSize=1001", "PageSize=x", "Page=-1", "PageToken=nope"} {
			if r := doJSON(t, http.MethodGet, srv.URL+path+"?"+q, nil, true); r.status != 400 || r.code() != 20001 {
				t.Errorf("%s?%s: HTTP %d %v", path, q, r.status, r.body)
			}
		}
	}
	// The default page holds 50.
	r := doJSON(t, http.MethodGet, contentURL(srv), nil, true)
	if get(r.body, "meta", "page_size") != float64(50) || get(r.body, "meta", "next_page_url") != nil {
		t.Errorf("default page: %v", r.body["meta"])
	}
}

func TestContentAuthAndDelete(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	sid := mustCreateContent(t, srv, quickReply(nil))
	for _, c := range []struct{ method, target string }{
		{http.MethodPost, contentURL(srv)},
		{http.MethodGet, contentURL(srv)},
		{http.MethodGet, contentURL(srv) + "/" + sid},
		{http.MethodDelete, contentURL(srv) + "/" + sid},
		{http.MethodGet, srv.URL + "/v1/ContentAndApprovals"},
		{http.MethodGet, contentURL(srv) + "/" + sid + "/ApprovalRequests"},
		{http.MethodPost, contentURL(srv) + "/" + sid + "/ApprovalRequests/whatsapp"},
	} {
		var body any
		if c.method == http.MethodPost {
			body = quickReply(nil)
		}
		if r := doJSON(t, c.method, c.target, body, false); r.status != http.StatusUnauthorized || r.code() != 20003 {
			t.Errorf("%s %s without auth: HTTP %d %v", c.method, c.target, r.status, r.body)
		}
		req, _ := http.NewRequest(c.method, c.target, nil)
		req.SetBasicAuth(testAccount, "wrongtoken")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: HTTP %d", c.method, c.target, res.StatusCode)
		}
	}
	if len(s.Templates()) != 2 {
		t.Fatalf("unauthenticated requests changed the templates: %+v", s.Templates())
	}

	// Deleting stops a pending approval and frees nothing else.
	if r := submit(t, srv, sid, "trip_consent", CategoryUtility); r.status != http.StatusCreated {
		t.Fatalf("submit: %v", r.body)
	}
	if r := doJSON(t, http.MethodDelete, contentURL(srv)+"/"+sid, nil, true); r.status != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d %v", r.status, r.body)
	}
	for _, target := range []string{contentURL(srv) + "/" + sid, contentURL(srv) + "/" + sid + "/ApprovalRequests"} {
		if r := doJSON(t, http.MethodGet, target, nil, true); r.status != http.StatusNotFound || r.code() != 20404 {
			t.Errorf("GET %s after delete: HTTP %d %v", target, r.status, r.body)
		}
	}
	if r := doJSON(t, http.MethodDelete, contentURL(srv)+"/"+sid, nil, true); r.status != http.StatusNotFound || r.code() != 20404 {
		t.Errorf("second delete: HTTP %d %v", r.status, r.body)
	}
	time.Sleep(30 * time.Millisecond) // the approval's steps would have run by now
	if tps := s.Templates(); len(tps) != 1 || tps[0].SID != SampleTemplateSID {
		t.Errorf("after delete: %+v", tps)
	}

	// /sim/templates needs no auth.
	res, err := http.Get(srv.URL + "/sim/templates")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list []map[string]any
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || res.StatusCode != 200 || len(list) != 1 ||
		list[0]["sid"] != SampleTemplateSID || get(list[0], "approval_requests", "status") != TemplateApproved {
		t.Errorf("/sim/templates: HTTP %d %v %v", res.StatusCode, list, err)
	}
}

func TestSetTemplateStatus(t *testing.T) {
	s, srv := newTestSim(t, Config{StepDelay: 20 * time.Millisecond})
	sid := mustCreateContent(t, srv, quickReply(nil))
	if err := s.SetTemplateStatus(sid, TemplateApproved, ""); err != nil {
		t.Fatal(err)
	}
	a := approvalOf(t, srv, sid)
	if get(a.body, "whatsapp", "status") != TemplateApproved || get(a.body, "whatsapp", "name") != "trip_consent" ||
		get(a.body, "whatsapp", "category") != CategoryUtility || get(a.body, "whatsapp", "content_type") != "twilio/quick-reply" {
		t.Errorf("set approved: %v", a.body)
	}
	if err := s.SetTemplateStatus(sid, TemplateDisabled, "Disabled by Meta: low quality"); err != nil {
		t.Fatal(err)
	}
	a = approvalOf(t, srv, sid)
	if get(a.body, "whatsapp", "status") != TemplateDisabled || get(a.body, "whatsapp", "rejection_reason") != "Disabled by Meta: low quality" {
		t.Errorf("set disabled: %v", a.body)
	}
	// A status set by hand cancels the steps under way.
	other := mustCreateContent(t, srv, quickReply(nil))
	if r := submit(t, srv, other, "reject_me", CategoryUtility); r.status != http.StatusCreated {
		t.Fatal(r.body)
	}
	if err := s.SetTemplateStatus(other, TemplateApproved, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if a := approvalOf(t, srv, other); get(a.body, "whatsapp", "status") != TemplateApproved {
		t.Errorf("pending steps ran after SetTemplateStatus: %v", a.body)
	}
	if err := s.SetTemplateStatus(sid, "archived", ""); err == nil {
		t.Error("unknown status accepted")
	}
	if err := s.SetTemplateStatus("HX"+strings.Repeat("1", 32), TemplateApproved, ""); err == nil {
		t.Error("unknown template accepted")
	}
	if err := s.SetTemplateStatus(sid, TemplateUnsubmitted, ""); err != nil {
		t.Fatal(err)
	}
	if a := approvalOf(t, srv, sid); !jsonEqual(a.body["whatsapp"], `{"type":"whatsapp","name":"","category":"","content_type":"","status":"unsubmitted","rejection_reason":"","allow_category_change":true}`) {
		t.Errorf("set unsubmitted: %v", a.body)
	}
}

func TestSendWithContentSid(t *testing.T) {
	h := newHook(t, testToken)
	inbound := newHook(t, testToken)
	s, srv := newTestSim(t, Config{InboundURL: inbound.url()})
	const school = "whatsapp:+15550009999"
	pending := mustCreateContent(t, srv, quickReply(nil))
	approved := mustCreateContent(t, srv, quickReply(nil))
	if err := s.SetTemplateStatus(approved, TemplateApproved, ""); err != nil {
		t.Fatal(err)
	}
	send := func(to, from string, extra ...string) apiResult {
		return create(t, srv, form(append([]string{"To", to, "From", from, "StatusCallback", h.url()}, extra...)...))
	}
	stored := func(sid string) Message {
		for _, m := range s.Messages() {
			if m.SID == sid {
				return m
			}
		}
		t.Fatalf("no message %s", sid)
		return Message{}
	}

	// An approved template to a parent who never wrote: delivered, the body rendered for WhatsApp.
	r := send("whatsapp:+15553331011", school, "ContentSid", approved, "ContentVariables", `{"1":"Grace","2":"Monday"}`)
	if r.status != http.StatusCreated || r.str("body") != "Hello, may Grace join the museum trip on Monday?" {
		t.Fatalf("approved: HTTP %d %v", r.status, r.body)
	}
	if st, _ := h.waitStatuses(t, r.str("sid"), 4); !slices.Equal(st, []string{"queued", "sent", "delivered", "read"}) {
		t.Errorf("approved template: %v", st)
	}
	if m := stored(r.str("sid")); m.ContentSID != approved || m.Body != "Hello, may Grace join the museum trip on Monday?" {
		t.Errorf("stored %+v", m)
	}

	// Missing variables take the template's samples; numbers are accepted as values.
	r = send("whatsapp:+15553331011", school, "ContentSid", approved, "ContentVariables", `{"2":3}`)
	if r.str("body") != "Hello, may Ada join the museum trip on 3?" {
		t.Errorf("samples: %v", r.body)
	}
	r = send("whatsapp:+15553331011", school, "ContentSid", approved)
	if r.str("body") != "Hello, may Ada join the museum trip on Friday?" {
		t.Errorf("no variables: %v", r.body)
	}

	// SMS gets the twilio/text body, and its segments count.
	r = send("+15553331012", "+15550009999", "ContentSid", pending, "ContentVariables", `{"1":"Grace"}`)
	if r.status != http.StatusCreated || r.str("body") != "Hello, may Grace join the museum trip on Friday? Reply YES or NO." ||
		r.str("num_segments") != "1" {
		t.Fatalf("sms: HTTP %d %v", r.status, r.body)
	}
	if st, _ := h.waitStatuses(t, r.str("sid"), 3); st[2] != "delivered" {
		t.Errorf("sms with an unapproved template: %v", st)
	}

	// A template not approved, on WhatsApp, outside the window: accepted, then failed 63016.
	r = send("whatsapp:+15553331013", school, "ContentSid", pending)
	if r.status != http.StatusCreated {
		t.Fatalf("unapproved: HTTP %d %v", r.status, r.body)
	}
	st, forms := h.waitStatuses(t, r.str("sid"), 2)
	if !slices.Equal(st, []string{"queued", "failed"}) || forms[1].Get("ErrorCode") != "63016" {
		t.Errorf("unapproved outside the window: %v %v", st, forms)
	}
	if m := waitStored(t, s, r.str("sid"), "failed"); m.ErrorCode != 63016 || m.ErrorMessage == "" {
		t.Errorf("stored %+v", m)
	}
	// ...and the same for paused, rejected or disabled templates.
	if err := s.SetTemplateStatus(approved, TemplatePaused, ""); err != nil {
		t.Fatal(err)
	}
	r = send("whatsapp:+15553331013", school, "ContentSid", approved)
	if st, _ := h.waitStatuses(t, r.str("sid"), 2); !slices.Equal(st, []string{"queued", "failed"}) {
		t.Errorf("paused outside the window: %v", st)
	}
	// Within 24 hours of the parent's message it goes as a session message.
	if _, _, err := s.Inbound(context.Background(), InboundMessage{From: "whatsapp:+15553331013", To: school, Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	r = send("whatsapp:+15553331013", school, "ContentSid", pending)
	if st, _ := h.waitStatuses(t, r.str("sid"), 4); st[3] != "read" {
		t.Errorf("unapproved within the window: %v", st)
	}

	// Refused at create.
	if err := s.SetTemplateStatus(approved, TemplateApproved, ""); err != nil {
		t.Fatal(err)
	}
	deleted := mustCreateContent(t, srv, quickReply(nil))
	if r := doJSON(t, http.MethodDelete, contentURL(srv)+"/"+deleted, nil, true); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	before := len(s.Messages())
	for _, tt := range []struct {
		name  string
		extra []string
		code  int
	}{
		{"unknown", []string{"ContentSid", "HX" + strings.Repeat("ab", 16)}, 21655},
		{"deleted", []string{"ContentSid", deleted}, 21655},
		{"malformed", []string{"ContentSid", "HXnotasid"}, 21655},
		{"not HX", []string{"ContentSid", "MG" + approved[2:]}, 21655},
		{"variables without sid", []string{"Body", "x", "ContentVariables", `{"1":"Ada"}`}, 21654},
		{"variables not JSON", []string{"ContentSid", approved, "ContentVariables", `{"1":`}, 21656},
		{"variables an array", []string{"ContentSid", approved, "ContentVariables", `["Ada"]`}, 21656},
		{"variable null", []string{"ContentSid", approved, "ContentVariables", `{"1":null}`}, 21656},
		{"variable empty", []string{"ContentSid", approved, "ContentVariables", `{"1":""}`}, 21656},
		{"variable object", []string{"ContentSid", approved, "ContentVariables", `{"1":{"a":1}}`}, 21656},
		{"variable newline", []string{"ContentSid", approved, "ContentVariables", `{"1":"Ada\nLovelace"}`}, 21656},
		{"variable tab", []string{"ContentSid", approved, "ContentVariables", `{"1":"Ada\tL"}`}, 21656},
		{"variable five spaces", []string{"ContentSid", approved, "ContentVariables", `{"1":"Ada     L"}`}, 21656},
	} {
		r := send("whatsapp:+15553331014", school, tt.extra...)
		if r.status != http.StatusBadRequest || r.code() != tt.code || r.str("message") == "" {
			t.Errorf("%s: HTTP %d %v, want 400 code %d", tt.name, r.status, r.body, tt.code)
		}
	}
	if after := len(s.Messages()); after != before {
		t.Errorf("refused creates stored %d messages", after-before)
	}
	// Four spaces are fine.
	if r := send("whatsapp:+15553331014", school, "ContentSid", approved, "ContentVariables", `{"1":"Ada    L"}`); r.status != http.StatusCreated {
		t.Errorf("four spaces: HTTP %d %v", r.status, r.body)
	}
}
