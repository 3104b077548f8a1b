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

func schoolSender(number string) SenderRegistration {
	return SenderRegistration{
		Number:      number,
		DisplayName: "Springfield High",
		Profile: SenderProfile{
			About:       "Messages from the school office.",
			Address:     "1 School Lane, Springfield",
			Description: "Term dates, trips and news for parents.",
			Vertical:    "Education",
			LogoURL:     "https://springfield.example/logo.png",
			Emails:      []string{"office@springfield.example"},
			Websites:    []string{"https://springfield.example"},
		},
		WebhookURL:         "https://school.example/webhooks/twilio/inbound",
		StatusCallbackURL:  "https://school.example/webhooks/twilio/status",
		VerificationMethod: VerifyBySMS,
	}
}

// waitSenderStatus polls FetchSender until the sender has status want.
func waitSenderStatus(t *testing.T, gw *Gateway, sid, want string) Sender {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(waitLimit)
	for {
		s, err := gw.FetchSender(ctx, sid)
		if err != nil {
			t.Fatalf("fetch sender %s: %v", sid, err)
		}
		if s.Status == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for sender %s to be %s: %+v", sid, want, s)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func wantAPIError(t *testing.T, what string, err error, httpStatus, code int) {
	t.Helper()
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != httpStatus || apiErr.Code != code {
		t.Errorf("%s: got %v, want *APIError HTTP %d code %d", what, err, httpStatus, code)
	}
}

func reasonsOf(s Sender) []int {
	var out []int
	for _, r := range s.OfflineReasons {
		out = append(out, r.Code)
	}
	return out
}

func TestSenderRegistrationThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	s, err := e.gw.CreateWhatsAppSender(ctx, schoolSender("+15557654321"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.SID, "XE") || s.Status != SenderCreating || s.SenderID != "whatsapp:+15557654321" ||
		s.Number != "+15557654321" || s.DisplayName != "Springfield High" || s.VerificationMethod != VerifyBySMS ||
		s.WebhookURL != "https://school.example/webhooks/twilio/inbound" ||
		s.StatusCallbackURL != "https://school.example/webhooks/twilio/status" || s.WABAID == "" {
		t.Errorf("created %+v", s)
	}
	if p := s.Profile; p.Vertical != "Education" || p.About != "Messages from the school office." ||
		!slices.Equal(p.Emails, []string{"office@springfield.example"}) ||
		!slices.Equal(p.Websites, []string{"https://springfield.example"}) || p.LogoURL == "" {
		t.Errorf("profile %+v", p)
	}

	pending := waitSenderStatus(t, e.gw, s.SID, SenderPendingVerification)
	if !pending.AwaitingCode() || pending.Online() {
		t.Errorf("pending sender: %+v", pending)
	}
	code := e.sim.VerificationCode(s.SID)
	if code == "" {
		t.Fatal("the simulator sent no code")
	}

	// A wrong code first.
	v, err := e.gw.VerifySender(ctx, s.SID, "000000")
	if err != nil || v.Status != SenderVerifying {
		t.Fatalf("verify with a wrong code: %+v, %v", v, err)
	}
	back := waitSenderStatus(t, e.gw, s.SID, SenderPendingVerification)
	if got := reasonsOf(back); !slices.Equal(got, []int{63113}) || back.OfflineReasons[0].Message == "" ||
		back.OfflineReasons[0].MoreInfo == "" {
		t.Fatalf("after a wrong code: %+v", back.OfflineReasons)
	}

	if v, err = e.gw.VerifySender(ctx, s.SID, " "+code+" "); err != nil || v.Status != SenderVerifying {
		t.Fatalf("verify: %+v, %v", v, err)
	}
	on := waitSenderStatus(t, e.gw, s.SID, SenderOnline)
	if !on.Online() || len(on.OfflineReasons) != 0 || on.QualityRating == "" || on.MessagingLimit == "" {
		t.Errorf("online sender: %+v", on)
	}

	// The SDK's requests went to the messaging host, on Twilio's paths.
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, p := range e.paths {
		if !strings.HasPrefix(p, "/v2/Channels/Senders") || e.hosts[i] != "messaging.twilio.com" {
			t.Errorf("request %d: host %q path %q", i, e.hosts[i], p)
		}
	}
}

func TestSenderTwilioNumberThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	r := schoolSender("+15557654322")
	r.VerificationMethod = ""
	s, err := e.gw.CreateWhatsAppSender(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if s.VerificationMethod != "" {
		t.Errorf("verification method %q", s.VerificationMethod)
	}
	waitSenderStatus(t, e.gw, s.SID, SenderOnline)
}

func TestSenderErrorsThroughSDK(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()

	bad := schoolSender("+15557654330")
	bad.DisplayName = "SPRINGFIELD HIGH 🎓"
	_, err := e.gw.CreateWhatsAppSender(ctx, bad)
	wantAPIError(t, "bad display name", err, http.StatusBadRequest, 63100)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Message == "" || apiErr.MoreInfo != "https://www.twilio.com/docs/errors/63100") {
		t.Errorf("63100 error: %+v", apiErr)
	}
	_, err = e.gw.CreateWhatsAppSender(ctx, schoolSender("15557654330"))
	wantAPIError(t, "number without +", err, http.StatusBadRequest, 63100)
	noName := schoolSender("+15557654330")
	noName.DisplayName = ""
	_, err = e.gw.CreateWhatsAppSender(ctx, noName)
	wantAPIError(t, "no display name", err, http.StatusBadRequest, 63100)
	_, err = e.gw.CreateWhatsAppSender(ctx, schoolSender("+15550063100"))
	wantAPIError(t, "magic 63100", err, http.StatusBadRequest, 63100)

	first, err := e.gw.CreateWhatsAppSender(ctx, schoolSender("+15557654331"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.gw.CreateWhatsAppSender(ctx, schoolSender("whatsapp:+15557654331"))
	wantAPIError(t, "duplicate", err, http.StatusConflict, 63110)

	_, err = e.gw.FetchSender(ctx, "XE00000000000000000000000000000000")
	wantAPIError(t, "unknown sender", err, http.StatusNotFound, 20404)
	_, err = e.gw.VerifySender(ctx, first.SID, "")
	if err == nil {
		t.Error("empty code accepted")
	}

	// Registration failures arrive later, as offline reasons.
	for number, want := range map[string]struct {
		status string
		code   int
	}{
		"+15550063104": {SenderOffline, 63104},
		"+15550063110": {SenderOffline, 63110},
		"+15550063111": {SenderOffline, 63111},
		"+15550063116": {SenderOffline, 63116},
		"+15550063114": {SenderPendingVerification, 63114},
	} {
		s, err := e.gw.CreateWhatsAppSender(ctx, schoolSender(number))
		if err != nil {
			t.Fatalf("%s: %v", number, err)
		}
		got := waitSenderStatus(t, e.gw, s.SID, want.status)
		if !slices.Equal(reasonsOf(got), []int{want.code}) {
			t.Errorf("%s: offline reasons %+v, want %d", number, got.OfflineReasons, want.code)
		}
	}

	// A number that cannot be verified refuses even the right code.
	s, err := e.gw.CreateWhatsAppSender(ctx, schoolSender("+15550063113"))
	if err != nil {
		t.Fatal(err)
	}
	waitSenderStatus(t, e.gw, s.SID, SenderPendingVerification)
	if _, err := e.gw.VerifySender(ctx, s.SID, twiliosim.DevVerificationCode); err != nil {
		t.Fatal(err)
	}
	if got := waitSenderStatus(t, e.gw, s.SID, SenderPendingVerification); !slices.Equal(reasonsOf(got), []int{63113}) {
		t.Errorf("63113: %+v", got.OfflineReasons)
	}

	// Invalid SIDs never reach Twilio.
	e.mu.Lock()
	before := len(e.paths)
	e.mu.Unlock()
	for _, sid := range []string{"", "XE/../Messages", "XE?x=1", "XE#"} {
		if _, err := e.gw.FetchSender(ctx, sid); err == nil {
			t.Errorf("FetchSender(%q) accepted", sid)
		}
		if _, err := e.gw.VerifySender(ctx, sid, "123456"); err == nil {
			t.Errorf("VerifySender(%q) accepted", sid)
		}
		if err := e.gw.DeleteSender(ctx, sid); err == nil {
			t.Errorf("DeleteSender(%q) accepted", sid)
		}
	}
	e.mu.Lock()
	after := len(e.paths)
	e.mu.Unlock()
	if after != before {
		t.Error("a request with an invalid SID was sent")
	}
}

func TestListSendersFollowsPages(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	var want []string
	for _, n := range []string{"+15557654340", "+15557654341", "+15557654342", "+15557654343", "+15557654344"} {
		s, err := e.gw.CreateWhatsAppSender(ctx, schoolSender(n))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s.SID)
	}
	e.mu.Lock()
	e.paths = nil
	e.mu.Unlock()

	got, err := e.gw.listSenders(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range got {
		sids = append(sids, s.SID)
		if s.DisplayName != "Springfield High" || s.SenderID == "" {
			t.Errorf("listed %+v", s)
		}
	}
	if !slices.Equal(sids, want) {
		t.Errorf("listed %v, want %v", sids, want)
	}
	e.mu.Lock()
	gets := len(e.paths)
	e.mu.Unlock()
	if gets != 3 {
		t.Errorf("%d requests for 5 senders in pages of 2, want 3", gets)
	}

	all, err := e.gw.ListSenders(ctx)
	if err != nil || len(all) != 5 {
		t.Errorf("ListSenders: %d senders, %v", len(all), err)
	}
	empty := newEnv(t, twiliosim.Config{}, nil)
	if none, err := empty.gw.ListSenders(ctx); err != nil || len(none) != 0 {
		t.Errorf("no senders: %v, %v", none, err)
	}
}

func TestUpdateResendAndDeleteSender(t *testing.T) {
	e := newEnv(t, twiliosim.Config{}, nil)
	ctx := context.Background()
	s, err := e.gw.CreateWhatsAppSender(ctx, schoolSender("+15557654350"))
	if err != nil {
		t.Fatal(err)
	}
	waitSenderStatus(t, e.gw, s.SID, SenderPendingVerification)

	r, err := e.gw.ResendVerificationCode(ctx, s.SID, VerifyByVoice)
	if err != nil || r.VerificationMethod != VerifyByVoice || r.Status != SenderPendingVerification {
		t.Fatalf("resend by voice: %+v, %v", r, err)
	}
	if _, err := e.gw.ResendVerificationCode(ctx, s.SID, "email"); err == nil {
		t.Error("resend by email accepted")
	}

	if err := e.sim.SetSenderStatus(s.SID, twiliosim.SenderOnline); err != nil {
		t.Fatal(err)
	}
	name, hook := "Springfield High Office", "https://school.example/inbound2"
	u, err := e.gw.UpdateSender(ctx, s.SID, SenderUpdate{
		DisplayName: &name,
		Profile:     &SenderProfile{About: "Open 8am to 4pm."},
		WebhookURL:  &hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != SenderOnlineUpdating || !u.Online() {
		t.Errorf("updating: %+v", u)
	}
	on := waitSenderStatus(t, e.gw, s.SID, SenderOnline)
	if on.DisplayName != name || on.Profile.About != "Open 8am to 4pm." || on.WebhookURL != hook ||
		on.Profile.Vertical != "Education" || on.StatusCallbackURL != "https://school.example/webhooks/twilio/status" {
		t.Errorf("after update: %+v", on)
	}
	if _, err := e.gw.UpdateSender(ctx, s.SID, SenderUpdate{}); err == nil {
		t.Error("empty update accepted")
	}
	bad := "ST"
	_, err = e.gw.UpdateSender(ctx, s.SID, SenderUpdate{DisplayName: &bad})
	wantAPIError(t, "short display name", err, http.StatusBadRequest, 63100)

	// Taken offline by Meta.
	if err := e.sim.SetSenderStatus(s.SID, twiliosim.SenderOffline, 63111); err != nil {
		t.Fatal(err)
	}
	off, err := e.gw.FetchSender(ctx, s.SID)
	if err != nil || off.Online() || !slices.Equal(reasonsOf(off), []int{63111}) {
		t.Errorf("offline: %+v, %v", off, err)
	}

	if err := e.gw.DeleteSender(ctx, s.SID); err != nil {
		t.Fatal(err)
	}
	_, err = e.gw.FetchSender(ctx, s.SID)
	wantAPIError(t, "fetch deleted", err, http.StatusNotFound, 20404)
	wantAPIError(t, "delete deleted", e.gw.DeleteSender(ctx, s.SID), http.StatusNotFound, 20404)
}

func TestSenderCallsRetryTooManyRequests(t *testing.T) {
	// The first create is answered 429/20429 by a proxy; the Gateway retries it.
	var n atomic.Int64
	e := newEnv(t, twiliosim.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/v2/Channels/Senders" {
				if n.Add(1) == 1 {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write([]byte(`{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	e.gw.retryBase, e.gw.retryMax = time.Millisecond, 5*time.Millisecond
	s, err := e.gw.CreateWhatsAppSender(context.Background(), schoolSender("+15557654360"))
	if err != nil || s.SID == "" || n.Load() != 2 {
		t.Errorf("created %+v after %d attempts, %v", s, n.Load(), err)
	}
}
