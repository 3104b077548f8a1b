package twilio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/internal/twiliosim"
	"github.com/twilio/twilio-go/client"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "gatewaytesttoken0123"
	waitLimit   = 30 * time.Second // generous: tests wait for events, never assert elapsed time
)

// env is a simulator behind an httptest server, and a Gateway pointed at it.
type env struct {
	sim *twiliosim.Sim
	srv *httptest.Server
	gw  *Gateway

	mu      sync.Mutex
	hosts   []string // X-Twilio-Host of each REST request
	paths   []string
	posts   atomic.Int64
	tooMany atomic.Int64
}

// newEnv starts a simulator with cfg; wrap, if set, wraps its handler.
func newEnv(t *testing.T, cfg twiliosim.Config, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	cfg.AccountSID, cfg.AuthToken = testAccount, testToken
	if cfg.StepDelay == 0 {
		cfg.StepDelay = 5 * time.Millisecond
	}
	cfg.Seed = 7
	cfg.Logf = t.Logf
	e := &env{sim: twiliosim.New(cfg)}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.hosts = append(e.hosts, r.Header.Get("X-Twilio-Host"))
		e.paths = append(e.paths, r.URL.Path)
		e.mu.Unlock()
		if r.Method == http.MethodPost {
			e.posts.Add(1)
		}
		e.sim.Handler().ServeHTTP(&statusSpy{ResponseWriter: w, e: e}, r)
	})
	if wrap != nil {
		h = wrap(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.sim.Close)
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	return e
}

type statusSpy struct {
	http.ResponseWriter
	e *env
}

func (s *statusSpy) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		s.e.tooMany.Add(1)
	}
	s.ResponseWriter.WriteHeader(code)
}

// receiver is a webhook endpoint that checks X-Twilio-Signature both ways.
type receiver struct {
	srv *httptest.Server
	gw  *Gateway

	mu     sync.Mutex
	got    []url.Values
	badSig []string
}

func newReceiver(t *testing.T, gw *Gateway) *receiver {
	t.Helper()
	rc := &receiver{gw: gw}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		full := rc.srv.URL + r.URL.RequestURI()
		sig := r.Header.Get("X-Twilio-Signature")
		single := map[string]string{}
		for k := range r.PostForm {
			single[k] = r.PostForm.Get(k)
		}
		okOurs := ComputeSignature(gw.AuthToken(), full, r.PostForm) == sig
		okSDK := gw.ValidateSignature(full, single, sig)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !okOurs || !okSDK {
			rc.badSig = append(rc.badSig, fmt.Sprintf("%s ours=%v sdk=%v", full, okOurs, okSDK))
			w.WriteHeader(http.StatusForbidden)
			return
		}
		rc.got = append(rc.got, r.PostForm)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// statuses waits for n callbacks for sid and returns their MessageStatus values and forms.
func (rc *receiver) statuses(t *testing.T, sid string, n int) ([]string, []url.Values) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		rc.mu.Lock()
		var st []string
		var forms []url.Values
		for _, f := range rc.got {
			if f.Get("MessageSid") == sid {
				st = append(st, f.Get("MessageStatus"))
				forms = append(forms, f)
			}
		}
		bad := slices.Clone(rc.badSig)
		rc.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("bad signatures: %v", bad)
		}
		if len(st) >= n {
			return st, forms
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d callbacks of %s, got %v", n, sid, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSignatureDocumentedVector(t *testing.T) {
	// Twilio's documented example (its security docs and the official helper libraries' tests).
	const fullURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	const want = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	if got := ComputeSignature("12345", fullURL, params); got != want {
		t.Errorf("ComputeSignature = %s, want %s", got, want)
	}
	gw, err := New(Config{AccountSID: testAccount, AuthToken: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	single := map[string]string{}
	for k := range params {
		single[k] = params.Get(k)
	}
	if !gw.ValidateSignature(fullURL, single, want) {
		t.Error("twilio-go's validator rejects the documented vector")
	}
	single["Digits"] = "9999"
	if gw.ValidateSignature(fullURL, single, want) {
		t.Error("tampered parameters validated")
	}
	if gw.ValidateSignature(fullURL, map[string]string{}, "") {
		t.Error("empty signature validated")
	}
	// Repeated names: twilio-python's vector (sorted distinct values).
	rep := url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"}}
	if got := ComputeSignature("12345", fullURL, rep); got != "IK+Dwps556ElfBT0I3Rgjkr1wJU=" {
		t.Errorf("repeated names: %s", got)
	}
	// Ours and twilio-go's agree on other inputs too.
	v := client.NewRequestValidator("s3cret")
	for i, u := range []string{"http://127.0.0.1:8080/webhooks/twilio/status", "https://school.example/in?x=1&y=%20"} {
		f := url.Values{"MessageSid": {"SM" + strings.Repeat("a", 32)}, "Body": {fmt.Sprintf("héllo %d & 😀", i)}, "NumMedia": {"0"}}
		m := map[string]string{}
		for k := range f {
			m[k] = f.Get(k)
		}
		if !v.Validate(u, m, ComputeSignature("s3cret", u, f)) {
			t.Errorf("twilio-go disagrees for %s", u)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{
		{AccountSID: "", AuthToken: "x"},
		{AccountSID: testAccount, AuthToken: ""},
		{AccountSID: "AC-123", AuthToken: "x"},
		{AccountSID: testAccount, AuthToken: "tok en"},
		{AccountSID: testAccount, AuthToken: "x", APIBase: "127.0.0.1:8099"},
		{AccountSID: testAccount, AuthToken: "x", APIBase: "ftp://h"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{AccountSID: testAccount, AuthToken: "x", APIBase: "http://127.0.0.1:8099/"}); err != nil {
		t.Error(err)
	}
}

func TestSendWhatsAppAndSMSWithSignedCallbacks(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	rc := newReceiver(t, e.gw)
	ctx := context.Background()
	// Like Twilio, the simulator fetches MediaUrl before sending.
	slip := []byte("%PDF-1.4\n% permission slip\n")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(slip)
	}))
	t.Cleanup(files.Close)
	slipURL := files.URL + "/public/media/slip.pdf"

	wa, err := e.gw.SendMessage(ctx, SendRequest{
		From: "whatsapp:+15550009999", To: "whatsapp:+15551234567", Body: "Trip tomorrow: bring lunch 🍎",
		MediaURLs: []string{slipURL}, StatusCallback: rc.srv.URL + "/webhooks/twilio/status",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wa.SID, "SM") || len(wa.SID) != 34 || wa.Status != "queued" || wa.To != "whatsapp:+15551234567" ||
		wa.From != "whatsapp:+15550009999" || wa.NumSegments != 1 || wa.DateCreated.IsZero() || wa.ErrorCode != 0 {
		t.Fatalf("WhatsApp message %+v", wa)
	}
	sms, err := e.gw.SendMessage(ctx, SendRequest{
		From: "+15550009999", To: "+15551234567", Body: strings.Repeat("x", 200),
		StatusCallback: rc.srv.URL + "/webhooks/twilio/status?school=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sms.NumSegments != 2 || sms.Body != strings.Repeat("x", 200) {
		t.Fatalf("SMS message %+v", sms)
	}

	st, forms := rc.statuses(t, wa.SID, 4)
	if !slices.Equal(st, []string{"queued", "sent", "delivered", "read"}) {
		t.Errorf("WhatsApp callbacks %v", st)
	}
	if f := forms[0]; f.Get("ChannelPrefix") != "whatsapp" || f.Get("AccountSid") != testAccount || f.Get("SmsSid") != wa.SID {
		t.Errorf("WhatsApp callback %v", f)
	}
	if st, _ := rc.statuses(t, sms.SID, 3); !slices.Equal(st, []string{"queued", "sent", "delivered"}) {
		t.Errorf("SMS callbacks %v", st)
	}

	got, err := e.gw.FetchMessage(ctx, wa.SID)
	if err != nil || got.SID != wa.SID || got.Status != "read" || !got.DateCreated.Equal(wa.DateCreated) {
		t.Fatalf("fetch: %+v %v", got, err)
	}
	sims := e.sim.Messages()
	if len(sims) != 2 || len(sims[0].MediaURLs) != 1 || sims[0].MediaURLs[0] != slipURL ||
		len(sims[0].Media) != 1 || !bytes.Equal(sims[0].Media[0].Data, slip) || sims[0].Media[0].ContentType != "application/pdf" ||
		sims[0].StatusCallback != rc.srv.URL+"/webhooks/twilio/status" {
		t.Fatalf("simulator saw %+v", sims)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, h := range e.hosts {
		if h != "api.twilio.com" {
			t.Errorf("request %d: X-Twilio-Host %q", i, h)
		}
	}
	if e.paths[0] != "/2010-04-01/Accounts/"+testAccount+"/Messages.json" {
		t.Errorf("path %q", e.paths[0])
	}
}

func TestServiceAndTemplate(t *testing.T) {
	e := newEnv(t, twiliosim.Config{StepDelay: time.Hour}, nil)
	m, err := e.gw.SendMessage(context.Background(), SendRequest{
		To: "whatsapp:+15551234567", MessagingServiceSID: "MG0123456789abcdef0123456789abcdef",
		ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: map[string]string{"1": "Ada", "2": "Friday"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "accepted" || m.From != "" {
		t.Errorf("message %+v", m)
	}
	s := e.sim.Messages()[0]
	if s.ContentVariables != `{"1":"Ada","2":"Friday"}` || s.ContentSID != "HX0123456789abcdef0123456789abcdef" ||
		s.MessagingServiceSID != "MG0123456789abcdef0123456789abcdef" {
		t.Errorf("simulator saw %+v", s)
	}
}

func TestErrorsMapToAPIError(t *testing.T) {
	e := newEnv(t, twiliosim.Config{StepDelay: time.Hour}, nil)
	e.sim.OptOut("+15557770000")
	ctx := context.Background()
	tests := []struct {
		name       string
		req        SendRequest
		status     int
		code       int
		gatewayErr bool
	}{
		{"invalid To", SendRequest{From: "+15550009999", To: "5551234", Body: "x"}, 400, 21211, false},
		{"magic invalid", SendRequest{From: "+15550009999", To: "+15551230001", Body: "x"}, 400, 21211, false},
		{"opted out", SendRequest{From: "+15550009999", To: "+15557770000", Body: "x"}, 400, 21610, false},
		{"no sender", SendRequest{To: "+15551234567", Body: "x"}, 400, 21603, false},
		{"no To", SendRequest{From: "+15550009999", Body: "x"}, 400, 21604, false},
	}
	for _, tt := range tests {
		before := e.posts.Load()
		_, err := e.gw.SendMessage(ctx, tt.req)
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: %v is not an *APIError", tt.name, err)
			continue
		}
		if apiErr.HTTPStatus != tt.status || apiErr.Code != tt.code || apiErr.Message == "" ||
			apiErr.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tt.code) {
			t.Errorf("%s: %+v", tt.name, apiErr)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(tt.code)) {
			t.Errorf("%s: error text %q lacks the code", tt.name, err)
		}
		if n := e.posts.Load() - before; n != 1 {
			t.Errorf("%s: %d requests, want exactly 1 (no retry)", tt.name, n)
		}
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Errorf("%d messages created by invalid requests", n)
	}

	_, err := e.gw.FetchMessage(ctx, "SM00000000000000000000000000000000")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 404 || apiErr.Code != 20404 {
		t.Errorf("fetch unknown: %v", err)
	}

	bad, err := New(Config{AccountSID: testAccount, AuthToken: "wrongtoken", APIBase: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.SendMessage(ctx, SendRequest{From: "+15550009999", To: "+15551234567", Body: "x"})
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 401 || apiErr.Code != 20003 {
		t.Errorf("wrong token: %v", err)
	}
}

func TestRetriesTooManyRequests(t *testing.T) {
	// Deterministic contention: every successful response is held (keeping the simulator's only
	// slot) until some other request has been answered 429, so at least one 429 always happens.
	saw429 := make(chan struct{})
	var once sync.Once
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&holdWriter{ResponseWriter: w, saw429: saw429, once: &once}, r)
		})
	}
	// hold wraps the simulator's writer, so a held response keeps the simulator's slot.
	e := newEnv(t, twiliosim.Config{MaxConcurrent: 1, StepDelay: time.Hour}, hold)
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: e.srv.URL, MaxRetries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	gw.retryBase, gw.retryMax = 2*time.Millisecond, 50*time.Millisecond

	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sids := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := gw.SendMessage(context.Background(), SendRequest{
				From: "+15550009999", To: fmt.Sprintf("+1555123456%d", i), Body: "x"})
			if err != nil {
				errs <- err
				return
			}
			sids <- m.SID
		}()
	}
	wg.Wait()
	close(errs)
	close(sids)
	for err := range errs {
		t.Errorf("send failed: %v", err)
	}
	seen := map[string]bool{}
	for s := range sids {
		seen[s] = true
	}
	if len(seen) != n || len(e.sim.Messages()) != n {
		t.Errorf("%d distinct SIDs, %d messages created, want %d", len(seen), len(e.sim.Messages()), n)
	}
	if e.tooMany.Load() == 0 {
		t.Error("no 429 was answered; the test proved nothing")
	}
	t.Logf("%d requests, %d answered 429", e.posts.Load(), e.tooMany.Load())
}

// holdWriter holds a non-429 response until a 429 has been written by someone.
type holdWriter struct {
	http.ResponseWriter
	saw429 chan struct{}
	once   *sync.Once
}

func (h *holdWriter) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		h.once.Do(func() { close(h.saw429) })
	} else {
		select {
		case <-h.saw429:
		case <-time.After(waitLimit):
		}
	}
	h.ResponseWriter.WriteHeader(code)
}

func TestRetryGivesUpAndHonoursContext(t *testing.T) {
	// Every request is answered 429.
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`)
	}))
	defer srv.Close()
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: srv.URL, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	gw.retryBase, gw.retryMax = time.Millisecond, 2*time.Millisecond
	_, err = gw.SendMessage(context.Background(), SendRequest{From: "+15550009999", To: "+15551234567", Body: "x"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 20429 || calls.Load() != 3 {
		t.Fatalf("after retries: %v, %d calls (want 3)", err, calls.Load())
	}

	// A cancelled context stops the backoff.
	gw.retryBase, gw.retryMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := gw.SendMessage(ctx, SendRequest{From: "+15550009999", To: "+15551234567", Body: "x"})
		done <- err
	}()
	deadline := time.Now().Add(waitLimit)
	for calls.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		// Cancelled while backing off (the usual case) or while the request was in flight.
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("SendMessage ignored its context")
	}
	if _, err := gw.SendMessage(ctx, SendRequest{To: "+1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("already cancelled: %v", err)
	}
}

func TestNonTwilioErrorBodiesAreNotRetried(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = gw.SendMessage(context.Background(), SendRequest{From: "+15550009999", To: "+15551234567", Body: "x"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 502 || calls.Load() != 1 {
		t.Fatalf("502: %v (%d calls)", err, calls.Load())
	}
}

func TestAPIBasePathAndRegionEnv(t *testing.T) {
	// TWILIO_REGION/TWILIO_EDGE make twilio-go rewrite the host; the rewrite to APIBase wins.
	t.Setenv("TWILIO_REGION", "ie1")
	t.Setenv("TWILIO_EDGE", "dublin")
	e := newEnv(t, twiliosim.Config{StepDelay: time.Hour}, func(h http.Handler) http.Handler {
		return http.StripPrefix("/twilio", h)
	})
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: e.srv.URL + "/twilio/"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := gw.SendMessage(context.Background(), SendRequest{From: "+15550009999", To: "+15551234567", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.FetchMessage(context.Background(), m.SID); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.hosts) != 2 || e.hosts[0] != "api.dublin.ie1.twilio.com" {
		t.Errorf("hosts %v", e.hosts)
	}
}

func TestFetchRejectsPathInjection(t *testing.T) {
	gw, err := New(Config{AccountSID: testAccount, AuthToken: testToken, APIBase: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"", "../x", "SM1?x=1"} {
		if _, err := gw.FetchMessage(context.Background(), sid); err == nil {
			t.Errorf("FetchMessage(%q) accepted", sid)
		}
	}
}

func TestInboundWebhookIsSigned(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	rc := newReceiver(t, e.gw)
	e.sim.SetInboundURL(rc.srv.URL + "/webhooks/twilio/inbound")
	sid, status, err := e.sim.Inbound(context.Background(), twiliosim.InboundMessage{
		From: "whatsapp:+15553330000", To: "whatsapp:+15550009999", Body: "Is school open tomorrow?", ProfileName: "Ada",
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("Inbound: %d %v", status, err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.badSig) != 0 || len(rc.got) != 1 {
		t.Fatalf("got %v, bad %v", rc.got, rc.badSig)
	}
	f := rc.got[0]
	if f.Get("MessageSid") != sid || f.Get("WaId") != "15553330000" || f.Get("ProfileName") != "Ada" ||
		f.Get("SmsStatus") != "received" || f.Get("NumMedia") != "0" {
		t.Errorf("webhook %v", f)
	}
}

func TestWindowAndMagicThroughGateway(t *testing.T) {
	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, twiliosim.Config{EnforceWindow: true, Now: clock}, nil)
	rc := newReceiver(t, e.gw)
	e.sim.SetInboundURL(rc.srv.URL + "/in")
	ctx := context.Background()
	send := func(to string) string {
		from := "+15550009999"
		if strings.HasPrefix(to, "whatsapp:") {
			from = "whatsapp:" + from
		}
		m, err := e.gw.SendMessage(ctx, SendRequest{From: from, To: to, Body: "x", StatusCallback: rc.srv.URL + "/status"})
		if err != nil {
			t.Fatal(err)
		}
		return m.SID
	}
	if _, _, err := e.sim.Inbound(ctx, twiliosim.InboundMessage{From: "whatsapp:+15553330000", To: "whatsapp:+15550009999", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()

	tests := []struct {
		to    string
		final string
		code  string
		n     int
	}{
		{"whatsapp:+15553330000", "failed", "63016", 2},
		{"+15551230002", "undelivered", "30003", 3},
		{"+15551230003", "failed", "30008", 2},
	}
	for _, tt := range tests {
		sid := send(tt.to)
		st, forms := rc.statuses(t, sid, tt.n)
		if st[len(st)-1] != tt.final || forms[len(forms)-1].Get("ErrorCode") != tt.code {
			t.Errorf("%s: %v %v", tt.to, st, forms[len(forms)-1])
		}
		m, err := e.gw.FetchMessage(ctx, sid)
		if err != nil || m.Status != tt.final || fmt.Sprint(m.ErrorCode) != tt.code || m.ErrorMessage == "" {
			t.Errorf("%s: fetched %+v %v", tt.to, m, err)
		}
	}
}
