package twiliosim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestSignatureMatchesTwilioDocumentedVector(t *testing.T) {
	// Twilio's documented example (security docs and every official helper library's tests).
	params := form("CallSid", "CA1234567890ABCDE", "Caller", "+14158675309", "Digits", "1234",
		"From", "+14158675309", "To", "+18005551212")
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got := signature("12345", u, params); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("signature = %s", got)
	}
	if got := refSignature("12345", u, params); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("refSignature = %s", got)
	}
	// twilio-python's vector for repeated names: sorted distinct values.
	rep := form("Sid", "CA123", "SidAccount", "AC123", "Digits", "5678", "Digits", "1234", "Digits", "1234")
	if got := signature("12345", u, rep); got != "IK+Dwps556ElfBT0I3Rgjkr1wJU=" {
		t.Errorf("repeated-values signature = %s", got)
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"empty", "", 1},
		{"gsm 160", strings.Repeat("a", 160), 1},
		{"gsm 161", strings.Repeat("a", 161), 2},
		{"gsm 306", strings.Repeat("a", 306), 2},
		{"gsm 307", strings.Repeat("a", 307), 3},
		{"gsm accents", strings.Repeat("é", 160), 1},
		{"extension counts double 80", strings.Repeat("€", 80), 1},
		{"extension counts double 81", strings.Repeat("€", 81), 2},
		{"ucs2 70", strings.Repeat("ç", 70), 1},
		{"ucs2 71", strings.Repeat("ç", 71), 2},
		{"ucs2 134", strings.Repeat("ç", 134), 2},
		{"ucs2 135", strings.Repeat("ç", 135), 3},
		{"emoji are two units", strings.Repeat("😀", 35), 1},
		{"emoji 36", strings.Repeat("😀", 36), 2},
		{"one non-gsm char switches", strings.Repeat("a", 69) + "ç", 1},
		{"one non-gsm char switches long", strings.Repeat("a", 100) + "ç", 2},
	}
	for _, tt := range tests {
		if got := smsSegments(tt.body); got != tt.want {
			t.Errorf("%s: smsSegments = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestAuthRequired(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	r := do(t, http.MethodPost, messagesURL(srv), form("To", "+15551230000", "From", "+15550009999", "Body", "x"), false)
	if r.status != http.StatusUnauthorized || r.code() != 20003 {
		t.Fatalf("no auth: HTTP %d %v", r.status, r.body)
	}
	other := srv.URL + "/2010-04-01/Accounts/ACffffffffffffffffffffffffffffffff/Messages.json"
	r = do(t, http.MethodGet, other, nil, true)
	if r.status != http.StatusUnauthorized || r.code() != 20003 {
		t.Fatalf("other account: HTTP %d %v", r.status, r.body)
	}
	r = do(t, http.MethodGet, srv.URL+"/2010-04-01/Nope.json", nil, true)
	if r.status != http.StatusNotFound || r.code() != 20404 {
		t.Fatalf("unknown path: HTTP %d %v", r.status, r.body)
	}
}

func TestCreateValidation(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	s.OptOut("+15557770000")
	s.OptOut("whatsapp:+15557770009")
	tests := []struct {
		name string
		form url.Values
		code int
	}{
		{"missing To", form("From", "+15550009999", "Body", "x"), 21604},
		{"To not E.164", form("To", "5551234567", "From", "+15550009999", "Body", "x"), 21211},
		{"To too short", form("To", "+1555", "From", "+15550009999", "Body", "x"), 21211},
		{"To other channel", form("To", "messenger:+15551234567", "From", "+15550009999", "Body", "x"), 21211},
		{"WhatsApp To not E.164", form("To", "whatsapp:15551234567", "From", "whatsapp:+15550009999", "Body", "x"), 21211},
		{"magic 0001", form("To", "+15551230001", "From", "+15550009999", "Body", "x"), 21211},
		{"no From nor service", form("To", "+15551234567", "Body", "x"), 21603},
		{"no content", form("To", "+15551234567", "From", "+15550009999"), 21602},
		{"body too long", form("To", "+15551234567", "From", "+15550009999", "Body", strings.Repeat("x", 1601)), 21617},
		{"whatsapp to sms", form("To", "+15551234567", "From", "whatsapp:+15550009999", "Body", "x"), 21910},
		{"sms to whatsapp", form("To", "whatsapp:+15551234567", "From", "+15550009999", "Body", "x"), 21910},
		{"opted out", form("To", "+15557770000", "From", "+15550009999", "Body", "x"), 21610},
		{"opted out whatsapp", form("To", "whatsapp:+15557770009", "From", "whatsapp:+15550009999", "Body", "x"), 21610},
		{"bad content variables", form("To", "+15551234567", "From", "+15550009999",
			"ContentSid", "HX0123456789abcdef0123456789abcdef", "ContentVariables", "{nope"), 21656},
	}
	for _, tt := range tests {
		r := create(t, srv, tt.form)
		if r.status != http.StatusBadRequest || r.code() != tt.code {
			t.Errorf("%s: HTTP %d %v, want 400 code %d", tt.name, r.status, r.body, tt.code)
			continue
		}
		if r.str("message") == "" || r.str("more_info") != "https://www.twilio.com/docs/errors/"+itoa(tt.code) ||
			r.body["status"] != float64(400) {
			t.Errorf("%s: error body %v", tt.name, r.body)
		}
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages stored after only invalid creates", n)
	}
	// Opting back in works; a body of exactly 1600 characters is accepted.
	s.OptIn("+15557770000")
	mustCreate(t, srv, form("To", "+15557770000", "From", "+15550009999", "Body", strings.Repeat("x", 1600)))
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestCreateResponseShape(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 5, 0, time.UTC)
	s, srv := newTestSim(t, Config{Now: func() time.Time { return now }, StepDelay: time.Hour})
	r := create(t, srv, form("To", "+15551234567", "From", "+15550009999", "Body", strings.Repeat("a", 161),
		"MediaUrl", "https://example.com/a.jpg", "MediaUrl", "https://example.com/b.jpg"))
	if r.status != http.StatusCreated {
		t.Fatalf("HTTP %d %v", r.status, r.body)
	}
	want := []string{"sid", "account_sid", "api_version", "body", "date_created", "date_sent", "date_updated",
		"direction", "error_code", "error_message", "from", "to", "messaging_service_sid", "num_media",
		"num_segments", "price", "price_unit", "status", "subresource_uris", "uri"}
	for _, k := range want {
		if _, ok := r.body[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if len(r.body) != len(want) {
		t.Errorf("fields: got %d, want %d: %v", len(r.body), len(want), r.body)
	}
	sid := r.str("sid")
	checks := map[string]bool{
		"sid":          sidPattern.MatchString(sid),
		"account_sid":  r.str("account_sid") == testAccount,
		"api_version":  r.str("api_version") == "2010-04-01",
		"status":       r.str("status") == "queued",
		"direction":    r.str("direction") == "outbound-api",
		"num_segments": r.str("num_segments") == "2",
		"num_media":    r.str("num_media") == "2",
		"date_created": r.str("date_created") == "Mon, 02 Mar 2026 09:30:05 +0000",
		"date_sent":    r.body["date_sent"] == nil,
		"error_code":   r.body["error_code"] == nil,
		"uri":          r.str("uri") == "/2010-04-01/Accounts/"+testAccount+"/Messages/"+sid+".json",
		"from":         r.str("from") == "+15550009999",
		"to":           r.str("to") == "+15551234567",
	}
	for k, ok := range checks {
		if !ok {
			t.Errorf("%s wrong: %v", k, r.body[k])
		}
	}
	m := s.Messages()
	if len(m) != 1 || m[0].SID != sid || len(m[0].MediaURLs) != 2 || m[0].NumSegments != 2 {
		t.Fatalf("stored: %+v", m)
	}

	// A Messaging Service without From is "accepted"; WhatsApp counts one segment.
	r = create(t, srv, form("To", "whatsapp:+15551234567", "MessagingServiceSid", "MG0123456789abcdef0123456789abcdef",
		"Body", strings.Repeat("ç", 200)))
	if r.status != http.StatusCreated || r.str("status") != "accepted" || r.body["from"] != nil ||
		r.str("messaging_service_sid") != "MG0123456789abcdef0123456789abcdef" || r.str("num_segments") != "1" {
		t.Fatalf("service create: HTTP %d %v", r.status, r.body)
	}
}

func TestFetchAndList(t *testing.T) {
	_, srv := newTestSim(t, Config{StepDelay: time.Hour})
	a := mustCreate(t, srv, form("To", "+15551110000", "From", "+15550009999", "Body", "a"))
	b := mustCreate(t, srv, form("To", "+15552220000", "From", "+15550009999", "Body", "b"))
	c := mustCreate(t, srv, form("To", "+15551110000", "From", "+15550009999", "Body", "c"))

	base := srv.URL + "/2010-04-01/Accounts/" + testAccount + "/Messages"
	r := do(t, http.MethodGet, base+"/"+b+".json", nil, true)
	if r.status != http.StatusOK || r.str("sid") != b || r.str("body") != "b" {
		t.Fatalf("fetch: HTTP %d %v", r.status, r.body)
	}
	r = do(t, http.MethodGet, base+"/SM00000000000000000000000000000000.json", nil, true)
	if r.status != http.StatusNotFound || r.code() != 20404 {
		t.Fatalf("fetch unknown: HTTP %d %v", r.status, r.body)
	}

	sids := func(r apiResult) []string {
		var out []string
		for _, m := range r.body["messages"].([]any) {
			out = append(out, m.(map[string]any)["sid"].(string))
		}
		return out
	}
	r = do(t, http.MethodGet, base+".json?To=%2B15551110000", nil, true)
	if got := sids(r); !slices.Equal(got, []string{c, a}) {
		t.Fatalf("list To: %v, want newest first [%s %s]", got, c, a)
	}
	r = do(t, http.MethodGet, base+".json?PageSize=2", nil, true)
	if got := sids(r); !slices.Equal(got, []string{c, b}) || r.body["next_page_uri"] == nil || r.body["page_size"] != float64(2) {
		t.Fatalf("page 0: %v %v", got, r.body)
	}
	r = do(t, http.MethodGet, srv.URL+r.str("next_page_uri"), nil, true)
	if got := sids(r); !slices.Equal(got, []string{a}) || r.body["next_page_uri"] != nil || r.body["page"] != float64(1) {
		t.Fatalf("page 1: %v %v", got, r.body)
	}
}

func TestCallbacksProgressAndAreSigned(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{})
	wa := mustCreate(t, srv, form("To", "whatsapp:+15551234567", "From", "whatsapp:+15550009999", "Body", "hi",
		"StatusCallback", h.srv.URL+"/webhooks/twilio/status?x=1"))
	sms := mustCreate(t, srv, form("To", "+15551234567", "MessagingServiceSid", "MG0123456789abcdef0123456789abcdef",
		"Body", "hi", "StatusCallback", h.srv.URL+"/webhooks/twilio/status"))
	waStatuses, waForms := h.waitStatuses(t, wa, 4)
	smsStatuses, smsForms := h.waitStatuses(t, sms, 3)
	if !slices.Equal(waStatuses, []string{"queued", "sent", "delivered", "read"}) {
		t.Errorf("WhatsApp statuses %v", waStatuses)
	}
	if !slices.Equal(smsStatuses, []string{"queued", "sent", "delivered"}) {
		t.Errorf("SMS statuses %v", smsStatuses)
	}
	f := waForms[3]
	for k, v := range map[string]string{"MessageSid": wa, "SmsSid": wa, "SmsMessageSid": wa, "SmsStatus": "read",
		"AccountSid": testAccount, "From": "whatsapp:+15550009999", "To": "whatsapp:+15551234567",
		"ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp", "ChannelToAddress": "+15551234567"} {
		if f.Get(k) != v {
			t.Errorf("WhatsApp callback %s = %q, want %q", k, f.Get(k), v)
		}
	}
	if _, ok := f["ErrorCode"]; ok {
		t.Errorf("successful callback has ErrorCode: %v", f)
	}
	g := smsForms[2]
	if g.Get("MessagingServiceSid") != "MG0123456789abcdef0123456789abcdef" || g.Get("RawDlrDoneDate") == "" ||
		g.Get("ChannelPrefix") != "" {
		t.Errorf("SMS delivered callback %v", g)
	}
	waitStored(t, s, wa, "read")
	m := waitStored(t, s, sms, "delivered")
	if m.DateSent.IsZero() {
		t.Error("DateSent not set after sent")
	}
}

func TestMagicNumbersOverrideRandomness(t *testing.T) {
	for _, rate := range []float64{0, 1} {
		h := newHook(t, testToken)
		_, srv := newTestSim(t, Config{FailureRate: rate})
		send := func(to, from string) string {
			return mustCreate(t, srv, form("To", to, "From", from, "Body", "x", "StatusCallback", h.url()))
		}
		tests := []struct {
			sid      string
			statuses []string
			code     string
		}{
			{send("+15551230002", "+15550009999"), []string{"queued", "sent", "undelivered"}, "30003"},
			{send("whatsapp:+15551230002", "whatsapp:+15550009999"), []string{"queued", "sent", "undelivered"}, "30003"},
			{send("+15551230003", "+15550009999"), []string{"queued", "failed"}, "30008"},
			{send("whatsapp:+15551230003", "whatsapp:+15550009999"), []string{"queued", "failed"}, "63024"},
		}
		for _, tt := range tests {
			got, forms := h.waitStatuses(t, tt.sid, len(tt.statuses))
			if !slices.Equal(got, tt.statuses) {
				t.Errorf("rate %v: %s statuses %v, want %v", rate, tt.sid, got, tt.statuses)
			}
			last := forms[len(forms)-1]
			if last.Get("ErrorCode") != tt.code || last.Get("ErrorMessage") == "" {
				t.Errorf("rate %v: final callback %v, want ErrorCode %s", rate, last, tt.code)
			}
		}
	}
}

func TestFailureRate(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{FailureRate: 1})
	var sids []string
	for i := 0; i < 12; i++ {
		to := "+1555123" + string(rune('1'+i%9)) + "999"
		from := "+15550009999"
		if i%2 == 0 {
			to, from = "whatsapp:"+to, "whatsapp:"+from
		}
		sids = append(sids, mustCreate(t, srv, form("To", to, "From", from, "Body", "x", "StatusCallback", h.url())))
	}
	allowed := map[string]bool{"30003": true, "30005": true, "30006": true, "30008": true, "63024": true}
	for _, sid := range sids {
		got := h.waitFor(t, "final callback of "+sid, func(got []url.Values) bool {
			st := statusesOf(got, sid)
			return len(st) > 0 && (st[len(st)-1] == "failed" || st[len(st)-1] == "undelivered")
		})
		for _, f := range got {
			if f.Get("MessageSid") == sid && (f.Get("MessageStatus") == "failed" || f.Get("MessageStatus") == "undelivered") &&
				!allowed[f.Get("ErrorCode")] {
				t.Errorf("%s: unexpected ErrorCode %q", sid, f.Get("ErrorCode"))
			}
		}
	}
	s.Close()
	for _, m := range s.Messages() {
		if (m.Status != "failed" && m.Status != "undelivered") || m.ErrorCode == 0 || m.ErrorMessage == "" {
			t.Errorf("stored %s: %s %d %q", m.SID, m.Status, m.ErrorCode, m.ErrorMessage)
		}
	}
}

func TestDuplicatesAndReorder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dupRate float64
		copies  int
	}{{"reorder", 0, 1}, {"reorder+duplicates", 1, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, testToken)
			s, srv := newTestSim(t, Config{DuplicateRate: tc.dupRate, Reorder: true})
			var sids []string
			for i := 0; i < 5; i++ {
				sids = append(sids, mustCreate(t, srv, form("To", "whatsapp:+1555123456"+string(rune('5'+i)),
					"From", "whatsapp:+15550009999", "Body", "x", "StatusCallback", h.url())))
			}
			for _, sid := range sids {
				waitStored(t, s, sid, "read")
				h.waitStatuses(t, sid, 4*tc.copies)
			}
			s.Close() // nothing more can arrive once Close returns
			got, _ := h.snapshot()
			for _, sid := range sids {
				st := statusesOf(got, sid)
				counts := map[string]int{}
				for _, x := range st {
					counts[x]++
				}
				want := map[string]int{"queued": tc.copies, "sent": tc.copies, "delivered": tc.copies, "read": tc.copies}
				if len(counts) != len(want) {
					t.Errorf("%s: statuses %v", sid, st)
				}
				for k, n := range want {
					if counts[k] != n {
						t.Errorf("%s: %d × %s, want %d (all: %v)", sid, counts[k], k, n, st)
					}
				}
			}
			for _, m := range s.Messages() {
				if m.Status != "read" {
					t.Errorf("stored status %s of %s went by callback order, want read", m.Status, m.SID)
				}
			}
		})
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestWhatsAppWindow(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)}
	h := newHook(t, testToken)
	inbound := newHook(t, testToken)
	s, srv := newTestSim(t, Config{EnforceWindow: true, Now: clk.Now, InboundURL: inbound.url()})
	const parent, school = "whatsapp:+15553330000", "whatsapp:+15550009999"
	send := func(to string, extra ...string) string {
		f := form(append([]string{"To", to, "From", school, "Body", "hello", "StatusCallback", h.url()}, extra...)...)
		return mustCreate(t, srv, f)
	}
	final := func(sid string) url.Values {
		var last url.Values
		h.waitFor(t, "final callback of "+sid, func(got []url.Values) bool {
			for _, f := range got {
				if f.Get("MessageSid") == sid {
					switch f.Get("MessageStatus") {
					case "read", "failed", "undelivered":
						last = f
						return true
					}
				}
			}
			return false
		})
		return last
	}

	if f := final(send(parent)); f.Get("MessageStatus") != "failed" || f.Get("ErrorCode") != "63016" {
		t.Fatalf("never wrote: %v", f)
	}
	if _, _, err := s.Inbound(context.Background(), InboundMessage{From: parent, To: school, Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(23 * time.Hour)
	if f := final(send(parent)); f.Get("MessageStatus") != "read" {
		t.Fatalf("within window: %v", f)
	}
	clk.Advance(2 * time.Hour)
	sid := send(parent)
	if f := final(sid); f.Get("MessageStatus") != "failed" || f.Get("ErrorCode") != "63016" {
		t.Fatalf("after 25h: %v", f)
	}
	if m := waitStored(t, s, sid, "failed"); m.ErrorCode != 63016 {
		t.Fatalf("stored %+v", m)
	}
	if f := final(send(parent, "ContentSid", "HX0123456789abcdef0123456789abcdef", "ContentVariables", `{"1":"Ada"}`)); f.Get("MessageStatus") != "read" {
		t.Fatalf("template outside window: %v", f)
	}
	// SMS has no window.
	f := form("To", "+15553330000", "From", "+15550009999", "Body", "x", "StatusCallback", h.url())
	smsSID := mustCreate(t, srv, f)
	if st, _ := h.waitStatuses(t, smsSID, 3); st[2] != "delivered" {
		t.Fatalf("sms: %v", st)
	}
}

func TestInboundWebhook(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{InboundURL: h.srv.URL + "/webhooks/twilio/inbound"})
	sid, status, err := s.Inbound(context.Background(), InboundMessage{
		From: "whatsapp:+15553330000", To: "whatsapp:+15550009999", Body: "Photo of the permission slip",
		ProfileName: "Ada L", MediaURLs: []string{"https://media.example/slip.jpg", "https://media.example/x"},
		MediaTypes: []string{"", "application/pdf"},
		Extra:      map[string]string{"ButtonPayload": "yes"},
	})
	if err != nil || status != http.StatusOK || !regexp.MustCompile(`^MM[0-9a-f]{32}$`).MatchString(sid) {
		t.Fatalf("Inbound: %q %d %v", sid, status, err)
	}
	got, _ := h.snapshot()
	if len(got) != 1 {
		t.Fatalf("got %d webhooks", len(got))
	}
	want := map[string]string{
		"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": testAccount,
		"From": "whatsapp:+15553330000", "To": "whatsapp:+15550009999", "Body": "Photo of the permission slip",
		"NumMedia": "2", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
		"ProfileName": "Ada L", "WaId": "15553330000", "MediaUrl0": "https://media.example/slip.jpg",
		"MediaContentType0": "image/jpeg", "MediaUrl1": "https://media.example/x", "MediaContentType1": "application/pdf",
		"ButtonPayload": "yes", "MessageType": "image", "ReferralNumMedia": "0",
	}
	f := got[0]
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	if len(f) != len(want) {
		t.Errorf("webhook has %d params, want %d: %v", len(f), len(want), f)
	}

	// The webhook's status comes back, and a forged one is the receiver's business.
	h.setStatus(http.StatusInternalServerError)
	if _, status, err := s.Inbound(context.Background(), InboundMessage{From: "+15553330000", To: "+15550009999", Body: "x"}); err != nil || status != 500 {
		t.Fatalf("status: %d %v", status, err)
	}
	h.setStatus(http.StatusOK)

	// SMS STOP opts out, START opts in, as Twilio's opt-out management does.
	if _, _, err := s.Inbound(context.Background(), InboundMessage{From: "+15553330000", To: "+15550009999", Body: " stop "}); err != nil {
		t.Fatal(err)
	}
	got, _ = h.snapshot()
	if g := got[len(got)-1]; g.Get("OptOutType") != "STOP" || g.Get("ProfileName") != "" || g.Get("WaId") != "" {
		t.Errorf("STOP webhook %v", g)
	}
	if r := create(t, srv, form("To", "+15553330000", "From", "+15550009999", "Body", "x")); r.code() != 21610 {
		t.Fatalf("after STOP: %v", r.body)
	}
	if _, _, err := s.Inbound(context.Background(), InboundMessage{From: "+15553330000", To: "+15550009999", Body: "START"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, srv, form("To", "+15553330000", "From", "+15550009999", "Body", "x"))

	var inbound int
	for _, m := range s.Messages() {
		if m.Direction == "inbound" {
			inbound++
			if m.Status != "received" {
				t.Errorf("inbound stored as %s", m.Status)
			}
		}
	}
	if inbound != 4 {
		t.Errorf("%d inbound messages stored, want 4", inbound)
	}

	if _, _, err := New(Config{}).Inbound(context.Background(), InboundMessage{From: "+1", To: "+2"}); err == nil {
		t.Error("Inbound without a URL succeeded")
	}
}

func TestSimInboundEndpoint(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{})
	s.SetInboundURL(h.url())

	res, err := http.PostForm(srv.URL+"/sim/inbound", form("From", "whatsapp:+15553330000", "To", "whatsapp:+15550009999",
		"Body", "hello", "ProfileName", "Ada", "MediaUrl", "https://media.example/a.png"))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		SID           string `json:"sid"`
		WebhookStatus int    `json:"webhook_status"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || out.WebhookStatus != 200 || out.SID == "" {
		t.Fatalf("form: HTTP %d %+v", res.StatusCode, out)
	}

	res, err = http.Post(srv.URL+"/sim/inbound", "application/json",
		strings.NewReader(`{"From":"+15553330000","To":"+15550009999","Body":"hi","MediaUrl":"https://media.example/a.gif"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || out.WebhookStatus != 200 {
		t.Fatalf("json: HTTP %d %+v", res.StatusCode, out)
	}
	got, _ := h.snapshot()
	if len(got) != 2 || got[0].Get("MediaContentType0") != "image/png" || got[1].Get("MediaContentType0") != "image/gif" ||
		got[0].Get("ProfileName") != "Ada" {
		t.Fatalf("webhooks %v", got)
	}

	res, err = http.Get(srv.URL + "/sim/messages")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Messages []map[string]any }
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Messages) != 2 || list.Messages[0]["direction"] != "inbound" {
		t.Fatalf("/sim/messages: %v", list)
	}
}

func TestConcurrencyCap(t *testing.T) {
	s, srv := newTestSim(t, Config{MaxConcurrent: 1, Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, messagesURL(srv), nil)
		req.SetBasicAuth(testAccount, testToken)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	deadline := time.Now().Add(waitLimit)
	for s.inflight.Load() < 1 { // the first request holds the only slot (its latency is an hour)
		if time.Now().After(deadline) {
			t.Fatal("first request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := create(t, srv, form("To", "+15551234567", "From", "+15550009999", "Body", "x"))
	if r.status != http.StatusTooManyRequests || r.code() != 20429 {
		t.Fatalf("over the cap: HTTP %d %v", r.status, r.body)
	}
	cancel()
	<-done
	for s.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("slot never released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsPendingCallbacks(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{StepDelay: time.Hour})
	sid := mustCreate(t, srv, form("To", "+15551234567", "From", "+15550009999", "Body", "x", "StatusCallback", h.url()))
	s.Close() // returns without waiting an hour
	s.Close() // idempotent
	if got, _ := h.snapshot(); len(got) != 0 {
		t.Fatalf("callbacks after Close: %v", got)
	}
	if m := s.Messages(); len(m) != 1 || m[0].SID != sid || m[0].Status != "queued" {
		t.Fatalf("messages %+v", m)
	}
	// Creating after Close still answers, without progressing.
	mustCreate(t, srv, form("To", "+15551234567", "From", "+15550009999", "Body", "x"))
}
