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

// TestSenderRequestsMatchTwilioSpec runs the Gateway's Senders calls against Prism serving
// ../shared/twilio-oai/twilio_messaging_v2.json, so the requests twilio-go makes for us
// (create, list, fetch, verify, delete) are ones Twilio's spec accepts, and its example answers
// decode into Senders. It skips and fails exactly as TestGatewayRequestsMatchTwilioSpec does.
func TestSenderRequestsMatchTwilioSpec(t *testing.T) {
	root := repoRoot(t)
	specDir := filepath.Join(root, "..", "shared", "twilio-oai")
	spec := filepath.Join(specDir, "twilio_messaging_v2.json")
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

	created, err := gw.CreateWhatsAppSender(ctx, schoolSender("+15557654321"))
	if err != nil {
		t.Fatalf("Prism rejected our create: %v", err)
	}
	if created.SID == "" || created.Status == "" || created.SenderID == "" {
		t.Errorf("create answer decoded as %+v", created)
	}
	auto := schoolSender("+15557654322")
	auto.VerificationMethod, auto.Profile = "", SenderProfile{}
	if _, err := gw.CreateWhatsAppSender(ctx, auto); err != nil {
		t.Errorf("Prism rejected a minimal create: %v", err)
	}

	if _, err := gw.ListSenders(ctx); err != nil {
		t.Errorf("Prism rejected our list: %v", err)
	}

	fetched, err := gw.FetchSender(ctx, created.SID)
	if err != nil {
		t.Fatalf("Prism rejected our fetch: %v", err)
	}
	if fetched.SID == "" || fetched.Status == "" || fetched.DisplayName == "" {
		t.Errorf("fetch answer decoded as %+v", fetched)
	}

	if _, err := gw.VerifySender(ctx, created.SID, "123456"); err != nil {
		t.Errorf("Prism rejected our verification: %v", err)
	}
	name := "Springfield High Office"
	if _, err := gw.UpdateSender(ctx, created.SID, SenderUpdate{DisplayName: &name}); err != nil {
		t.Errorf("Prism rejected our profile update: %v", err)
	}
	if err := gw.DeleteSender(ctx, created.SID); err != nil {
		t.Errorf("Prism rejected our delete: %v", err)
	}

	// Prism validates: a SID not of Twilio's XE pattern is refused...
	_, err = gw.FetchSender(ctx, "XEnotasid")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus < 400 || apiErr.HTTPStatus > 499 {
		t.Errorf("malformed sender SID: got %v, want a 4xx *APIError", err)
	} else {
		t.Logf("malformed sender SID refused as expected: %v", err)
	}
	// ...and so is a raw create without sender_id.
	req, err := http.NewRequest(http.MethodPost, base+"/v2/Channels/Senders",
		strings.NewReader(`{"profile":{"name":"Springfield High"}}`))
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
	if res.StatusCode < 400 || res.StatusCode > 499 || !strings.Contains(string(body), "sender_id") {
		t.Errorf("missing sender_id: HTTP %d %s, want a 4xx naming sender_id", res.StatusCode, body)
	}
}
