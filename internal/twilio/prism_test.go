//go:build unix

package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Prism (Stoplight's OpenAPI mock server) validates requests against Twilio's official
// OpenAPI description, so this test proves the Messages create requests our Gateway makes
// through twilio-go are ones Twilio's spec accepts.
const prismVersion = "5.16.0"

// TestGatewayRequestsMatchTwilioSpec runs the Gateway against Prism serving
// ../shared/twilio-oai/twilio_api_v2010.json. It skips only when that folder is absent (a
// user's clone); it needs node and npm, installing @stoplight/prism-cli into <repo>/var/prism.
func TestGatewayRequestsMatchTwilioSpec(t *testing.T) {
	root := repoRoot(t)
	specDir := filepath.Join(root, "..", "shared", "twilio-oai")
	spec := filepath.Join(specDir, "twilio_api_v2010.json")
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
	base := startPrism(t, prism, patchSpec(t, spec))

	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []SendRequest{
		{From: "whatsapp:+15550009999", To: "whatsapp:+15551234567", Body: "Trip tomorrow: bring lunch 🍎",
			MediaURLs: []string{"https://school.example/slip.pdf"}, StatusCallback: "https://school.example/webhooks/twilio/status"},
		{From: "+15550009999", To: "+15551234567", Body: "Parents' evening on Thursday at 6pm.",
			StatusCallback: "https://school.example/webhooks/twilio/status"},
		{To: "whatsapp:+15551234567", MessagingServiceSID: "MG0123456789abcdef0123456789abcdef",
			ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: map[string]string{"1": "Ada"}},
	} {
		m, err := gw.SendMessage(ctx, r)
		if err != nil {
			t.Errorf("Prism rejected our request %+v: %v", r, err)
			continue
		}
		if m.SID == "" {
			t.Errorf("no SID in %+v", m)
		}
	}

	// Prism validates: a malformed MessagingServiceSid through the Gateway is refused...
	_, err = gw.SendMessage(ctx, SendRequest{To: "+15551234567", MessagingServiceSID: "MGnot-a-sid", Body: "x"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus < 400 || apiErr.HTTPStatus > 499 {
		t.Errorf("invalid MessagingServiceSid: got %v, want a 4xx *APIError", err)
	} else {
		t.Logf("invalid MessagingServiceSid refused as expected: %v", err)
	}
	// ...and so is a raw request missing To.
	form := url.Values{"From": {"+15550009999"}, "Body": {"no recipient"}}
	req, err := http.NewRequest(http.MethodPost, base+"/2010-04-01/Accounts/"+testAccount+"/Messages.json",
		strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testAccount, testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode > 499 || !bytes.Contains(body, []byte("To")) {
		t.Errorf("missing To: HTTP %d %s, want a 4xx naming To", res.StatusCode, body)
	}
}

// repoRoot walks up from the package directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

// installPrism installs the pinned prism-cli under dir unless it is already there.
func installPrism(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "node_modules", ".bin", "prism")
	pkg := filepath.Join(dir, "node_modules", "@stoplight", "prism-cli", "package.json")
	if b, err := os.ReadFile(pkg); err == nil {
		var p struct{ Version string }
		if json.Unmarshal(b, &p) == nil && p.Version == prismVersion {
			if _, err := os.Stat(bin); err == nil {
				return bin
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("installing @stoplight/prism-cli@%s into %s", prismVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund",
		"--ignore-scripts", "--loglevel=error", "@stoplight/prism-cli@"+prismVersion)
	cmd.Env = append(os.Environ(), "SCARF_ANALYTICS=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @stoplight/prism-cli@%s: %v\n%s", prismVersion, err, out)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("prism not found after install: %v", err)
	}
	return bin
}

// patchSpec writes a copy of the spec whose Messages create body declares MediaUrl and
// PersistentAction as exploded form arrays (style: form, explode: true), which is how Twilio
// takes them (MediaUrl=a&MediaUrl=b) and how twilio-go sends them. Twilio's file omits the
// `encoding` object, and without it Prism reads every form field as a string, so any request
// with a MediaUrl fails "must be array" even though Twilio accepts it. Nothing else changes.
func patchSpec(t *testing.T, spec string) string {
	t.Helper()
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("parse %s: %v", spec, err)
	}
	content, ok := dig(doc, "paths", "/2010-04-01/Accounts/{AccountSid}/Messages.json", "post", "requestBody",
		"content", "application/x-www-form-urlencoded").(map[string]any)
	if !ok {
		t.Fatalf("%s: no form body for Messages create", spec)
	}
	enc, _ := content["encoding"].(map[string]any)
	if enc == nil {
		enc = map[string]any{}
	}
	for _, prop := range []string{"MediaUrl", "PersistentAction"} {
		if _, set := enc[prop]; !set {
			enc[prop] = map[string]any{"style": "form", "explode": true}
		}
	}
	content["encoding"] = enc
	out := filepath.Join(t.TempDir(), "twilio_api_v2010.json")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	e := json.NewEncoder(f)
	e.SetEscapeHTML(false)
	if err := e.Encode(doc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// syncBuffer collects a process's output for diagnostics.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPrism starts `prism mock --errors` on a free port in its own process group, waits until
// it listens (up to 120 s) and kills the group when the test ends. It returns the base URL.
func startPrism(t *testing.T, prism, spec string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	var out syncBuffer
	cmd := exec.Command(prism, "mock", "-p", fmt.Sprint(port), "-h", "127.0.0.1", "--errors", spec)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "SCARF_ANALYTICS=false")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prism: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("prism output:\n%s", out.String())
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("prism exited before listening:\n%s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("prism did not listen on %s within 120 s:\n%s", base, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
