package twilio

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/internal/twiliosim"
)

// tripConsent is a template as a school would write it: reply buttons, a text fallback.
func tripConsent() NewTemplate {
	return NewTemplate{
		FriendlyName: "Trip consent",
		Language:     "en",
		Variables:    map[string]string{"1": "Ada", "2": "Friday"},
		Types: TemplateTypes{
			QuickReply: &QuickReplyType{
				Body: "Hello, may {{1}} join the museum trip on {{2}}?",
				Actions: []QuickReplyAction{
					{Title: "Yes", ID: "consent_yes"},
					{Title: "No", ID: "consent_no"},
				},
			},
			Text: &TextType{Body: "Hello, may {{1}} join the museum trip on {{2}}? Reply YES or NO."},
		},
	}
}

// waitApprovalStatus polls FetchApprovalStatus until the status is want, and returns the
// statuses seen on the way (each once, in order).
func waitApprovalStatus(t *testing.T, gw *Gateway, sid, want string) (Approval, []string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(waitLimit)
	var seen []string
	for {
		a, err := gw.FetchApprovalStatus(ctx, sid)
		if err != nil {
			t.Fatalf("fetch approval %s: %v", sid, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != a.Status {
			seen = append(seen, a.Status)
		}
		if a.Status == want {
			return a, seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for template %s to be %s: %+v (seen %v)", sid, want, a, seen)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func TestTemplateApprovalThroughSDK(t *testing.T) {
	// Steps long enough for polling to see each one.
	e := newEnv(t, twiliosim.Config{StepDelay: 250 * time.Millisecond}, nil)
	ctx := context.Background()
	created, err := e.gw.CreateContent(ctx, tripConsent())
	if err != nil {
		t.Fatal(err)
	}
	if !contentSID.MatchString(created.SID) || created.FriendlyName != "Trip consent" || created.Language != "en" ||
		created.Variables["1"] != "Ada" || created.Variables["2"] != "Friday" || len(created.Variables) != 2 ||
		created.DateCreated.IsZero() || created.DateUpdated.IsZero() || created.DateCreated.Location() != time.UTC {
		t.Errorf("created %+v", created)
	}
	ty := created.Types
	if ty.QuickReply == nil || ty.Text == nil || ty.Media != nil || ty.CallToAction != nil || len(ty.Other) != 0 ||
		!slices.Equal(ty.QuickReply.Actions, tripConsent().Types.QuickReply.Actions) ||
		ty.Text.Body != "Hello, may {{1}} join the museum trip on {{2}}? Reply YES or NO." {
		t.Errorf("types %+v", ty)
	}
	if created.Body() != "Hello, may {{1}} join the museum trip on {{2}}?" {
		t.Errorf("Body() = %q", created.Body())
	}

	fetched, err := e.gw.FetchContent(ctx, created.SID)
	if err != nil {
		t.Fatal(err)
	}
	if fetched.SID != created.SID || fetched.Body() != created.Body() || !fetched.DateCreated.Equal(created.DateCreated) ||
		fetched.Types.QuickReply == nil || len(fetched.Types.QuickReply.Actions) != 2 {
		t.Errorf("fetched %+v", fetched)
	}

	a, err := e.gw.FetchApprovalStatus(ctx, created.SID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != ApprovalUnsubmitted || a.Submitted() || a.Approved() || a.Name != "" {
		t.Errorf("before submitting: %+v", a)
	}

	sub, err := e.gw.SubmitWhatsAppApproval(ctx, created.SID, "trip_consent", CategoryUtility)
	if err != nil {
		t.Fatal(err)
	}
	if sub != (Approval{Name: "trip_consent", Category: CategoryUtility, ContentType: "twilio/quick-reply",
		Status: ApprovalReceived, AllowCategoryChange: true}) || !sub.Submitted() || sub.Approved() {
		t.Errorf("submitted: %+v", sub)
	}
	approved, seen := waitApprovalStatus(t, e.gw, created.SID, ApprovalApproved)
	if !slices.Equal(seen, []string{ApprovalReceived, ApprovalPending, ApprovalApproved}) {
		t.Errorf("statuses seen %v, want received, pending, approved", seen)
	}
	if !approved.Approved() || approved.Name != "trip_consent" || approved.Category != CategoryUtility ||
		approved.RejectionReason != "" {
		t.Errorf("approved: %+v", approved)
	}

	// A second request for the same template is refused.
	_, err = e.gw.SubmitWhatsAppApproval(ctx, created.SID, "trip_consent_again", CategoryUtility)
	wantAPIError(t, "second approval", err, http.StatusBadRequest, 20001)

	// Every request went to the content host, on Twilio's paths.
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, p := range e.paths {
		if !strings.HasPrefix(p, "/v1/Content/") && p != "/v1/Content" || e.hosts[i] != "content.twilio.com" {
			t.Errorf("request %d: host %q path %q", i, e.hosts[i], p)
		}
	}
}

func TestTemplateRejectedAndPausedThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	for name, want := range map[string]string{
		"reject_bake_sale":  ApprovalRejected,
		"paused_newsletter": ApprovalPaused,
	} {
		tp, err := e.gw.CreateContent(ctx, tripConsent())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.gw.SubmitWhatsAppApproval(ctx, tp.SID, name, CategoryMarketing); err != nil {
			t.Fatal(err)
		}
		got, seen := waitApprovalStatus(t, e.gw, tp.SID, want)
		if got.Approved() || got.Category != CategoryMarketing || slices.Contains(seen, ApprovalUnsubmitted) {
			t.Errorf("%s: %+v (seen %v)", name, got, seen)
		}
		if (want == ApprovalRejected) != (got.RejectionReason != "") {
			t.Errorf("%s: rejection reason %q", name, got.RejectionReason)
		}
	}

	// Meta's rules on the request, checked by Twilio.
	tp, err := e.gw.CreateContent(ctx, tripConsent())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, category string }{
		{"Trip Consent", CategoryUtility},
		{"trip-consent", CategoryUtility},
		{"", CategoryUtility},
		{strings.Repeat("a", 513), CategoryUtility},
		{"trip_consent", "TRANSACTIONAL"},
		{"trip_consent", ""},
	} {
		_, err := e.gw.SubmitWhatsAppApproval(ctx, tp.SID, c.name, c.category)
		wantAPIError(t, "approval "+c.name+" "+c.category, err, http.StatusBadRequest, 20001)
	}
	if a, err := e.gw.FetchApprovalStatus(ctx, tp.SID); err != nil || a.Submitted() {
		t.Errorf("refused requests changed the approval: %+v, %v", a, err)
	}
}

func TestContentErrorsThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()

	// Refused here, before any request.
	noLang := tripConsent()
	noLang.Language = " "
	noTypes := tripConsent()
	noTypes.Types = TemplateTypes{Other: []string{"twilio/location"}}
	e.mu.Lock()
	before := len(e.paths)
	e.mu.Unlock()
	if _, err := e.gw.CreateContent(ctx, noLang); err == nil {
		t.Error("no language accepted")
	}
	if _, err := e.gw.CreateContent(ctx, noTypes); err == nil {
		t.Error("no types accepted")
	}
	for _, sid := range []string{"", "HX123", "XE0123456789abcdef0123456789abcdef", "HX0123456789abcdef0123456789abcdeg",
		"HX0123456789abcdef0123456789abcdef/ApprovalRequests", "HX../Content?x=1"} {
		if _, err := e.gw.FetchContent(ctx, sid); err == nil {
			t.Errorf("FetchContent(%q) accepted", sid)
		}
		if _, err := e.gw.FetchApprovalStatus(ctx, sid); err == nil {
			t.Errorf("FetchApprovalStatus(%q) accepted", sid)
		}
		if _, err := e.gw.SubmitWhatsAppApproval(ctx, sid, "x", CategoryUtility); err == nil {
			t.Errorf("SubmitWhatsAppApproval(%q) accepted", sid)
		}
		if err := e.gw.DeleteContent(ctx, sid); err == nil {
			t.Errorf("DeleteContent(%q) accepted", sid)
		}
	}
	e.mu.Lock()
	after := len(e.paths)
	e.mu.Unlock()
	if after != before {
		t.Errorf("%d requests were sent for invalid input", after-before)
	}

	// Refused by Twilio.
	for name, mutate := range map[string]func(*NewTemplate){
		"placeholder without sample": func(n *NewTemplate) { delete(n.Variables, "2") },
		"variables with a gap":       func(n *NewTemplate) { n.Variables["4"] = "x" },
		"bad language":               func(n *NewTemplate) { n.Language = "English" },
		"quick reply without buttons": func(n *NewTemplate) {
			n.Types.QuickReply.Actions = nil
		},
		"media without files": func(n *NewTemplate) {
			n.Types = TemplateTypes{Media: &MediaType{Body: "Menu"}}
			n.Variables = nil
		},
		"button to nowhere": func(n *NewTemplate) {
			n.Types = TemplateTypes{CallToAction: &CallToActionType{Body: "Reports",
				Actions: []CallToActionAction{{Type: ActionURL, Title: "Read"}}}}
			n.Variables = nil
		},
	} {
		nt := tripConsent()
		mutate(&nt)
		_, err := e.gw.CreateContent(ctx, nt)
		wantAPIError(t, name, err, http.StatusBadRequest, 20001)
	}
	long := tripConsent()
	long.FriendlyName = strings.Repeat("n", 256)
	_, err := e.gw.CreateContent(ctx, long)
	wantAPIError(t, "long friendly name", err, http.StatusBadRequest, 20002)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Message == "" || apiErr.MoreInfo != "https://www.twilio.com/docs/errors/20002") {
		t.Errorf("20002 error: %+v", apiErr)
	}

	unknown := "HX" + strings.Repeat("0", 32)
	_, err = e.gw.FetchContent(ctx, unknown)
	wantAPIError(t, "fetch unknown", err, http.StatusNotFound, 20404)
	_, err = e.gw.FetchApprovalStatus(ctx, unknown)
	wantAPIError(t, "approval of unknown", err, http.StatusNotFound, 20404)
	_, err = e.gw.SubmitWhatsAppApproval(ctx, unknown, "x", CategoryUtility)
	wantAPIError(t, "submit unknown", err, http.StatusNotFound, 20404)
	wantAPIError(t, "delete unknown", e.gw.DeleteContent(ctx, unknown), http.StatusNotFound, 20404)
}

func TestOtherContentTypesThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	nt := NewTemplate{
		Language: "en_GB",
		Types: TemplateTypes{
			CallToAction: &CallToActionType{Body: "Reports for {{1}} are out.", Actions: []CallToActionAction{
				{Type: ActionURL, Title: "Read the report", URL: "https://school.example/reports/{{2}}"},
				{Type: ActionPhoneNumber, Title: "Call the office", Phone: "+15550009999"},
			}},
			Media: &MediaType{Body: "Reports for {{1}} are out.", URLs: []string{"https://school.example/report.pdf"}},
		},
		Variables: map[string]string{"1": "Year 7", "2": "y7"},
	}
	tp, err := e.gw.CreateContent(ctx, nt)
	if err != nil {
		t.Fatal(err)
	}
	if tp.FriendlyName != "" || tp.Types.Text != nil || tp.Types.QuickReply != nil ||
		tp.Types.CallToAction == nil || !slices.Equal(tp.Types.CallToAction.Actions, nt.Types.CallToAction.Actions) ||
		tp.Types.Media == nil || !slices.Equal(tp.Types.Media.URLs, nt.Types.Media.URLs) ||
		tp.Body() != "Reports for {{1}} are out." {
		t.Errorf("created %+v", tp)
	}
	if a, err := e.gw.SubmitWhatsAppApproval(ctx, tp.SID, "reports_out", CategoryUtility); err != nil || a.ContentType != "twilio/call-to-action" {
		t.Errorf("submitted %+v, %v", a, err)
	}
}

func TestListContentAndApprovalsFollowsPages(t *testing.T) {
	e := newEnv(t, twiliosim.Config{StepDelay: time.Hour}, nil)
	ctx := context.Background()
	want := []string{twiliosim.SampleTemplateSID}
	for range 5 {
		tp, err := e.gw.CreateContent(ctx, tripConsent())
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, tp.SID)
	}
	if _, err := e.gw.SubmitWhatsAppApproval(ctx, want[2], "trip_consent", CategoryUtility); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetTemplateStatus(want[3], twiliosim.TemplateRejected, "INVALID_FORMAT. Body ends with a placeholder."); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.paths = nil
	e.mu.Unlock()

	got, err := e.gw.listContentAndApprovals(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var sids, statuses []string
	for _, c := range got {
		sids = append(sids, c.SID)
		statuses = append(statuses, c.Approval.Status)
	}
	if !slices.Equal(sids, want) {
		t.Errorf("listed %v, want %v", sids, want)
	}
	if !slices.Equal(statuses, []string{ApprovalApproved, ApprovalUnsubmitted, ApprovalReceived, ApprovalRejected,
		ApprovalUnsubmitted, ApprovalUnsubmitted}) {
		t.Errorf("statuses %v", statuses)
	}
	if r := got[3].Approval; r.RejectionReason != "INVALID_FORMAT. Body ends with a placeholder." || r.Name == "" {
		t.Errorf("rejected: %+v", r)
	}
	if s := got[2]; s.Approval.Name != "trip_consent" || s.Approval.Category != CategoryUtility ||
		s.FriendlyName != "Trip consent" || s.Types.QuickReply == nil || s.Variables["2"] != "Friday" {
		t.Errorf("submitted: %+v", s)
	}
	if s := got[0]; s.Body() == "" || s.Types.Text == nil || !s.Approval.Approved() || s.Language != "en" {
		t.Errorf("sample: %+v", s)
	}
	e.mu.Lock()
	gets := slices.Clone(e.paths)
	e.mu.Unlock()
	if len(gets) != 3 {
		t.Errorf("%d requests (%v) for 6 templates in pages of 2, want 3", len(gets), gets)
	}
	for _, p := range gets {
		if p != "/v1/ContentAndApprovals" {
			t.Errorf("list went to %q", p)
		}
	}

	all, err := e.gw.ListContentAndApprovals(ctx)
	if err != nil || len(all) != 6 {
		t.Errorf("ListContentAndApprovals: %d templates, %v", len(all), err)
	}
	empty := newEnv(t, twiliosim.Config{}, nil)
	if err := empty.gw.DeleteContent(ctx, twiliosim.SampleTemplateSID); err != nil {
		t.Fatal(err)
	}
	if none, err := empty.gw.ListContentAndApprovals(ctx); err != nil || len(none) != 0 {
		t.Errorf("no templates: %v, %v", none, err)
	}
}

func TestSendTemplateThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	tp, err := e.gw.CreateContent(ctx, tripConsent())
	if err != nil {
		t.Fatal(err)
	}
	send := func(to, sid string, vars map[string]string) (Message, error) {
		return e.gw.SendMessage(ctx, SendRequest{From: "whatsapp:+15550009999", To: to, ContentSID: sid, ContentVariables: vars})
	}
	waitMessage := func(sid, status string) Message {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			m, err := e.gw.FetchMessage(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if m.Status == status {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s to be %s: %+v", sid, status, m)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}

	// Not approved, to a parent who has not written: accepted, then failed with 63016.
	m, err := send("whatsapp:+15553331020", tp.SID, map[string]string{"1": "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != "Hello, may Grace join the museum trip on Friday?" {
		t.Errorf("rendered %q", m.Body)
	}
	if failed := waitMessage(m.SID, "failed"); failed.ErrorCode != 63016 {
		t.Errorf("unapproved template: %+v", failed)
	}

	// Approved: delivered.
	if _, err := e.gw.SubmitWhatsAppApproval(ctx, tp.SID, "trip_consent", CategoryUtility); err != nil {
		t.Fatal(err)
	}
	waitApprovalStatus(t, e.gw, tp.SID, ApprovalApproved)
	m, err = send("whatsapp:+15553331020", tp.SID, map[string]string{"1": "Grace", "2": "Monday"})
	if err != nil {
		t.Fatal(err)
	}
	if read := waitMessage(m.SID, "read"); read.Body != "Hello, may Grace join the museum trip on Monday?" || read.ErrorCode != 0 {
		t.Errorf("approved template: %+v", read)
	}

	// Deleted: refused at once.
	if err := e.gw.DeleteContent(ctx, tp.SID); err != nil {
		t.Fatal(err)
	}
	_, err = e.gw.FetchContent(ctx, tp.SID)
	wantAPIError(t, "fetch deleted", err, http.StatusNotFound, 20404)
	_, err = send("whatsapp:+15553331020", tp.SID, nil)
	wantAPIError(t, "send deleted", err, http.StatusBadRequest, 21655)
	_, err = send("whatsapp:+15553331020", twiliosim.SampleTemplateSID, map[string]string{"1": "Ada\nLovelace"})
	wantAPIError(t, "variable with a newline", err, http.StatusBadRequest, 21656)
}

func TestContentCallsRetryTooManyRequests(t *testing.T) {
	var n atomic.Int64
	e := newEnv(t, twiliosim.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/v1/Content" && n.Add(1) == 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	e.gw.retryBase, e.gw.retryMax = time.Millisecond, 5*time.Millisecond
	tp, err := e.gw.CreateContent(context.Background(), tripConsent())
	if err != nil || tp.SID == "" || n.Load() != 2 {
		t.Errorf("created %+v after %d attempts, %v", tp, n.Load(), err)
	}
	if got := len(e.sim.Templates()); got != 2 {
		t.Errorf("%d templates, want the sample and one", got)
	}
}

func TestApprovalShapes(t *testing.T) {
	flat := map[string]interface{}{"name": "trip_consent", "category": "UTILITY", "content_type": "twilio/text",
		"status": "approved", "rejection_reason": "", "allow_category_change": true}
	keyed := map[string]interface{}{"whatsapp": map[string]any{"type": "whatsapp", "name": "trip_consent",
		"category": "UTILITY", "content_type": "twilio/text", "status": "approved", "allow_category_change": true}}
	want := Approval{Name: "trip_consent", Category: CategoryUtility, ContentType: "twilio/text", Status: ApprovalApproved,
		AllowCategoryChange: true}
	for name, m := range map[string]map[string]interface{}{"flat": flat, "keyed by channel": keyed} {
		if got := toApproval(approvalOf(&m)); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	if got := toApproval(approvalOf(nil)); got != (Approval{Status: ApprovalUnsubmitted}) {
		t.Errorf("none: %+v", got)
	}
	// Variables that are not strings (Twilio's own examples have some) and types this package
	// does not model survive decoding.
	vars := map[string]interface{}{"1": "Ada", "2": 3.5}
	types := map[string]interface{}{"twilio/location": map[string]any{"latitude": 1.5}, "twilio/text": map[string]any{"body": "Hi"}}
	tp := toTemplate(nil, nil, nil, &vars, &types, nil, nil)
	if tp.Variables["2"] != "3.5" || tp.Types.Text == nil || !slices.Equal(tp.Types.Other, []string{"twilio/location"}) {
		t.Errorf("decoded %+v", tp)
	}
}
