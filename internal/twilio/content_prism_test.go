//go:build unix

package twilio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestContentRequestsMatchTwilioSpec runs the Gateway's Content API calls against Prism serving
// ../shared/twilio-oai/twilio_content_v1.json, so the requests twilio-go makes for us (create
// in every type we model, fetch, list with approvals, approval request and fetch, delete) are
// ones Twilio's spec accepts, and its example answers decode into Templates and Approvals. It
// skips and fails exactly as TestGatewayRequestsMatchTwilioSpec does.
func TestContentRequestsMatchTwilioSpec(t *testing.T) {
	root := repoRoot(t)
	specDir := filepath.Join(root, "..", "shared", "twilio-oai")
	spec := filepath.Join(specDir, "twilio_content_v1.json")
	if _, err := os.Stat(spec); errors.Is(err, os.ErrNotExist) {
		t.Skipf("Twilio's OpenAPI specs are not at %s (the shared folder CI and developers have); skipping the Prism contract test", specDir)
	} else if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is not on PATH: install nodejs and npm (CI installs them) to run the Prism contract test")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH: install nodejs and npm (CI installs them) to run the Prism contract test")
	}
	prism := installPrism(t, filepath.Join(root, "var", "prism"))
	base := startPrism(t, prism, spec)

	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	created, err := gw.CreateContent(ctx, tripConsent())
	if err != nil {
		t.Fatalf("Prism rejected our create: %v", err)
	}
	if !contentSID.MatchString(created.SID) || created.Language == "" || created.DateCreated.IsZero() {
		t.Errorf("create answer decoded as %+v", created)
	}
	for name, nt := range map[string]NewTemplate{
		"text only": {Language: "en", Types: TemplateTypes{Text: &TextType{Body: "School is closed today."}}},
		"media": {Language: "en", Types: TemplateTypes{
			Media: &MediaType{URLs: []string{"https://school.example/menu.pdf"}}}},
		"call to action": {Language: "en_GB", FriendlyName: "Reports", Variables: map[string]string{"1": "y7"},
			Types: TemplateTypes{CallToAction: &CallToActionType{Body: "Reports are out.", Actions: []CallToActionAction{
				{Type: ActionURL, Title: "Read", URL: "https://school.example/reports/{{1}}"},
				{Type: ActionPhoneNumber, Title: "Call the office", Phone: "+15550009999"},
			}}}},
	} {
		if _, err := gw.CreateContent(ctx, nt); err != nil {
			t.Errorf("Prism rejected our %s create: %v", name, err)
		}
	}

	fetched, err := gw.FetchContent(ctx, created.SID)
	if err != nil {
		t.Fatalf("Prism rejected our fetch: %v", err)
	}
	if fetched.SID == "" || fetched.Body() == "" || len(fetched.Variables) == 0 {
		t.Errorf("fetch answer decoded as %+v", fetched)
	}

	if _, err := gw.ListContentAndApprovals(ctx); err != nil {
		t.Errorf("Prism rejected our list: %v", err)
	}

	sub, err := gw.SubmitWhatsAppApproval(ctx, created.SID, "trip_consent", CategoryUtility)
	if err != nil {
		t.Errorf("Prism rejected our approval request: %v", err)
	} else if sub.Name == "" || sub.Status == "" || sub.Category == "" {
		t.Errorf("approval request answer decoded as %+v", sub)
	}
	a, err := gw.FetchApprovalStatus(ctx, created.SID)
	if err != nil {
		t.Errorf("Prism rejected our approval fetch: %v", err)
	} else if a.Status == "" || a.Name == "" || a.ContentType == "" {
		t.Errorf("approval fetch answer decoded as %+v", a)
	}

	if err := gw.DeleteContent(ctx, created.SID); err != nil {
		t.Errorf("Prism rejected our delete: %v", err)
	}

	// Prism validates: raw requests that break the spec are refused, naming what is wrong.
	for _, c := range []struct{ what, path, body, naming string }{
		{"create without language", "/v1/Content", `{"types":{"twilio/text":{"body":"x"}}}`, "language"},
		{"create without types", "/v1/Content", `{"language":"en"}`, "types"},
		{"text with a field it lacks", "/v1/Content", `{"language":"en","types":{"twilio/text":{"body":"x","footer":"y"}}}`, "footer"},
		{"approval without category", "/v1/Content/" + created.SID + "/ApprovalRequests/whatsapp", `{"name":"trip_consent"}`, "category"},
	} {
		req, err := http.NewRequest(http.MethodPost, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(testAccount, testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || res.StatusCode > 499 || !strings.Contains(string(body), c.naming) {
			t.Errorf("%s: HTTP %d %s, want a 4xx naming %s", c.what, res.StatusCode, body, c.naming)
		}
	}
}
