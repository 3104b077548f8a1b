package twiliosim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "testtoken0123456789"
	waitLimit   = 30 * time.Second // generous: tests wait for events, never assert elapsed time
)

// newTestSim starts a simulator behind an httptest server; both close at test end.
func newTestSim(t *testing.T, cfg Config) (*Sim, *httptest.Server) {
	t.Helper()
	if cfg.AccountSID == "" {
		cfg.AccountSID, cfg.AuthToken = testAccount, testToken
	}
	if cfg.StepDelay == 0 {
		cfg.StepDelay = 5 * time.Millisecond
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	cfg.Logf = t.Logf
	s := New(cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close) // runs first: stops callbacks before the server goes
	return s, srv
}

// refSignature is an independent, single-valued implementation of Twilio's signature.
func refSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := fullURL
	for _, k := range keys {
		data += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// hook is a webhook receiver that checks signatures and records what it gets.
type hook struct {
	srv    *httptest.Server
	token  string
	status int

	mu     sync.Mutex
	got    []url.Values
	badSig int
}

func newHook(t *testing.T, token string) *hook {
	t.Helper()
	h := &hook{token: token, status: http.StatusOK}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		full := h.srv.URL + r.URL.RequestURI()
		ok := r.Header.Get("X-Twilio-Signature") == refSignature(h.token, full, r.PostForm) &&
			r.Header.Get("Content-Type") == "application/x-www-form-urlencoded"
		h.mu.Lock()
		if !ok {
			h.badSig++
		}
		h.got = append(h.got, r.PostForm)
		status := h.status
		h.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// url is where to send webhooks: Twilio signs the URL exactly as given, so give it a path.
func (h *hook) url() string { return h.srv.URL + "/hook" }

func (h *hook) setStatus(code int) {
	h.mu.Lock()
	h.status = code
	h.mu.Unlock()
}

func (h *hook) snapshot() ([]url.Values, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]url.Values(nil), h.got...), h.badSig
}

// waitFor waits until cond holds over the received requests, or fails after waitLimit.
func (h *hook) waitFor(t *testing.T, what string, cond func([]url.Values) bool) []url.Values {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got, bad := h.snapshot()
		if bad > 0 {
			t.Fatalf("%d webhook(s) with a bad signature", bad)
		}
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %d requests: %v", what, len(got), got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statusesOf lists the MessageStatus of callbacks for sid, in arrival order.
func statusesOf(got []url.Values, sid string) []string {
	var out []string
	for _, f := range got {
		if f.Get("MessageSid") == sid {
			out = append(out, f.Get("MessageStatus"))
		}
	}
	return out
}

// waitStatuses waits for n callbacks of sid and returns their statuses.
func (h *hook) waitStatuses(t *testing.T, sid string, n int) ([]string, []url.Values) {
	t.Helper()
	got := h.waitFor(t, "callbacks of "+sid, func(got []url.Values) bool {
		return len(statusesOf(got, sid)) >= n
	})
	var forms []url.Values
	for _, f := range got {
		if f.Get("MessageSid") == sid {
			forms = append(forms, f)
		}
	}
	return statusesOf(got, sid), forms
}

type apiResult struct {
	status int
	body   map[string]any
}

func (r apiResult) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

func (r apiResult) code() int {
	f, _ := r.body["code"].(float64)
	return int(f)
}

func do(t *testing.T, method, target string, form url.Values, auth bool) apiResult {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth {
		req.SetBasicAuth(testAccount, testToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := apiResult{status: res.StatusCode}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &out.body); err != nil {
		t.Fatalf("%s %s: HTTP %d, body not JSON: %q", method, target, res.StatusCode, b)
	}
	return out
}

func messagesURL(srv *httptest.Server) string {
	return srv.URL + "/2010-04-01/Accounts/" + testAccount + "/Messages.json"
}

func create(t *testing.T, srv *httptest.Server, form url.Values) apiResult {
	t.Helper()
	return do(t, http.MethodPost, messagesURL(srv), form, true)
}

// mustCreate creates a message and returns its SID.
func mustCreate(t *testing.T, srv *httptest.Server, form url.Values) string {
	t.Helper()
	r := create(t, srv, form)
	if r.status != http.StatusCreated {
		t.Fatalf("create: HTTP %d %v", r.status, r.body)
	}
	return r.str("sid")
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// waitStored waits until the stored message sid has status want.
func waitStored(t *testing.T, s *Sim, sid, want string) Message {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, m := range s.Messages() {
			if m.SID == sid && m.Status == want {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s to be %s: %+v", sid, want, s.Messages())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
