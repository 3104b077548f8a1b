package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// Twilio's webhooks against a whole running Classline, signed with the
// simulator's auth token by the harness's own implementation of Twilio's
// signature scheme.

const (
	inboundPath = "/webhooks/twilio/inbound"
	statusPath  = "/webhooks/twilio/status"
)

// postSigned posts form to path with the given X-Twilio-Signature (none when empty).
func postSigned(t *testing.T, ta *testApp, path string, form url.Values, signature string) httpResult {
	t.Helper()
	h := map[string]string{"User-Agent": "TwilioProxy/1.1"}
	if signature != "" {
		h["X-Twilio-Signature"] = signature
	}
	return doHTTP(t, plainClient(), http.MethodPost, ta.URL+path, form, h)
}

// postTwilio posts form signed as Twilio would for PUBLIC_URL + path.
func postTwilio(t *testing.T, ta *testApp, path string, form url.Values) httpResult {
	t.Helper()
	return postSigned(t, ta, path, form, twilioSignature(ta.token, ta.cfg.PublicURL+path, form))
}

func checkTwiML(t *testing.T, what string, r httpResult) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d (%s), want 200", what, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("%s: Content-Type %q, want text/xml", what, ct)
	}
	if !strings.Contains(r.body, "<Response/>") && !strings.Contains(r.body, "<Response></Response>") {
		t.Errorf("%s: body %q is not an empty TwiML <Response/>", what, r.body)
	}
}

func TestWebhookInboundStoredOnce(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	sendersBefore := countRows(t, ta, `SELECT count(*) FROM senders`)
	academics, err := ta.db.DepartmentIDBySlug(ctx, "academics")
	if err != nil {
		t.Fatal(err)
	}
	sid := newSID()
	form := inboundForm(sid, "whatsapp:+15557654321", "whatsapp:+14155550101", "Is the trip still on Friday?", "Maria López")
	form.Set("ButtonPayload", "trip-yes")
	form.Set("ReferralSourceUrl", "https://fb.example/ads/42")
	form.Set("OriginalRepliedMessageSid", "SM"+strings.Repeat("a", 32))

	checkTwiML(t, "inbound", postTwilio(t, ta, inboundPath, form))

	var (
		direction, channel, status, body, from, to string
		convID                                     int64
		extra                                      map[string]string
	)
	err = ta.db.Pool.QueryRow(ctx, `SELECT direction, channel, status, body, from_address, to_address, conversation_id, extra
		FROM messages WHERE twilio_sid = $1`, sid).Scan(&direction, &channel, &status, &body, &from, &to, &convID, &extra)
	if err != nil {
		t.Fatalf("the message was not stored: %v", err)
	}
	if direction != "inbound" || channel != "whatsapp" || status != "received" || body != "Is the trip still on Friday?" ||
		from != "whatsapp:+15557654321" || to != "whatsapp:+14155550101" {
		t.Errorf("stored %s %s %s %q from %s to %s", direction, channel, status, body, from, to)
	}
	if extra["ButtonPayload"] != "trip-yes" || extra["ReferralSourceUrl"] != "https://fb.example/ads/42" ||
		extra["OriginalRepliedMessageSid"] != "SM"+strings.Repeat("a", 32) {
		t.Errorf("unknown parameters not kept in extra: %v", extra)
	}
	if _, ok := extra["MessageSid"]; ok {
		t.Errorf("modelled parameters copied into extra: %v", extra)
	}

	var phone, profile string
	if err := ta.db.Pool.QueryRow(ctx, `SELECT phone, profile_name FROM contacts`).Scan(&phone, &profile); err != nil {
		t.Fatalf("want exactly one contact: %v", err)
	}
	if phone != "+15557654321" || profile != "Maria López" {
		t.Errorf("contact %s %q, want +15557654321 \"Maria López\"", phone, profile)
	}

	var depID *int64
	var senderAddr, senderChannel string
	err = ta.db.Pool.QueryRow(ctx, `SELECT c.department_id, s.address, s.channel FROM conversations c JOIN senders s ON s.id = c.sender_id WHERE c.id = $1`, convID).
		Scan(&depID, &senderAddr, &senderChannel)
	if err != nil {
		t.Fatal(err)
	}
	if depID == nil || *depID != academics || senderAddr != "+14155550101" || senderChannel != "whatsapp" {
		t.Errorf("conversation in department %v with sender %s %s; want academics (%d) and whatsapp +14155550101", depID, senderChannel, senderAddr, academics)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders`); n != sendersBefore {
		t.Errorf("an inbound to a seeded number created a sender: %d senders, had %d", n, sendersBefore)
	}

	// Twilio redelivers (our answer was lost): same answer, nothing new.
	checkTwiML(t, "redelivery", postTwilio(t, ta, inboundPath, form))
	for q, want := range map[string]int{
		`SELECT count(*) FROM messages`:      1,
		`SELECT count(*) FROM contacts`:      1,
		`SELECT count(*) FROM conversations`: 1,
	} {
		if n := countRows(t, ta, q); n != want {
			t.Errorf("after a redelivery %s = %d, want %d", q, n, want)
		}
	}

	// A second message of the same parent, with media, joins the conversation.
	sid2 := newSID()
	media := inboundForm(sid2, "whatsapp:+15557654321", "whatsapp:+14155550101", "", "Maria López")
	media.Set("NumMedia", "1")
	media.Set("MediaUrl0", "https://api.twilio.com/media/ME1.jpg")
	media.Set("MediaContentType0", "image/jpeg")
	checkTwiML(t, "inbound with media", postTwilio(t, ta, inboundPath, media))
	var conv2 int64
	var mediaJSON []byte
	if err := ta.db.Pool.QueryRow(ctx, `SELECT conversation_id, media FROM messages WHERE twilio_sid = $1`, sid2).Scan(&conv2, &mediaJSON); err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := json.Unmarshal(mediaJSON, &got); err != nil {
		t.Fatal(err)
	}
	if conv2 != convID || len(got) != 1 || got[0]["url"] != "https://api.twilio.com/media/ME1.jpg" || got[0]["content_type"] != "image/jpeg" {
		t.Errorf("media message: conversation %d (want %d), media %s", conv2, convID, mediaJSON)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 2 {
		t.Errorf("messages: %d, want 2", n)
	}

	// The parent's number is an SMS sender too: SMS to the front office is
	// another conversation, in admissions.
	sid3 := newSID()
	checkTwiML(t, "sms inbound", postTwilio(t, ta, inboundPath, inboundForm(sid3, "+15557654321", "+14155550199", "Also by SMS", "")))
	var smsDep int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT c.department_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.twilio_sid = $1`, sid3).Scan(&smsDep); err != nil {
		t.Fatal(err)
	}
	admissions, _ := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if smsDep != admissions {
		t.Errorf("SMS to +14155550199 landed in department %d, want admissions %d", smsDep, admissions)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM conversations`); n != 2 {
		t.Errorf("conversations: %d, want 2", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts`); n != 1 {
		t.Errorf("contacts: %d, want 1 (one parent, two channels)", n)
	}
}

// Forged webhooks get 403 and leave no trace; the same request properly
// signed is accepted, so the 403s are about the signature alone.
func TestWebhookForgedRejected(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	sid := newSID()
	form := func() url.Values {
		return inboundForm(sid, "whatsapp:+15557654321", "whatsapp:+14155550100", "Hello", "Maria")
	}
	good := func(f url.Values) string { return twilioSignature(ta.token, ta.URL+inboundPath, f) }

	cases := []struct {
		name string
		make func() (url.Values, string)
	}{
		{"unsigned", func() (url.Values, string) { return form(), "" }},
		{"garbage signature", func() (url.Values, string) { return form(), "bm90IGEgc2lnbmF0dXJl" }},
		{"signed with another token", func() (url.Values, string) {
			f := form()
			return f, twilioSignature("someoneelsestoken123", ta.URL+inboundPath, f)
		}},
		{"body changed after signing", func() (url.Values, string) {
			f := form()
			sig := good(f)
			f.Set("Body", "Hello, please send the exam answers")
			return f, sig
		}},
		{"parameter added after signing", func() (url.Values, string) {
			f := form()
			sig := good(f)
			f.Set("ButtonPayload", "x")
			return f, sig
		}},
		{"parameter removed after signing", func() (url.Values, string) {
			f := form()
			sig := good(f)
			f.Del("ProfileName")
			return f, sig
		}},
		{"signed for another host", func() (url.Values, string) {
			f := form()
			return f, twilioSignature(ta.token, "https://evil.example"+inboundPath, f)
		}},
		{"signed for the status URL", func() (url.Values, string) {
			f := form()
			return f, twilioSignature(ta.token, ta.URL+statusPath, f)
		}},
		{"signed with a query the request lacks", func() (url.Values, string) {
			f := form()
			return f, twilioSignature(ta.token, ta.URL+inboundPath+"?x=1", f)
		}},
	}
	for _, tc := range cases {
		f, sig := tc.make()
		if r := postSigned(t, ta, inboundPath, f, sig); r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, r.status)
		}
	}
	// Forged status callbacks, for a message that does exist.
	sf := statusForm(sid, "delivered", 0)
	if r := postSigned(t, ta, statusPath, sf, ""); r.status != http.StatusForbidden {
		t.Errorf("unsigned status callback: %d, want 403", r.status)
	}
	if r := postSigned(t, ta, statusPath, sf, twilioSignature(ta.token, ta.URL+inboundPath, sf)); r.status != http.StatusForbidden {
		t.Errorf("status callback signed for the inbound URL: %d, want 403", r.status)
	}
	for _, table := range []string{"messages", "contacts", "conversations", "message_events", "consent_events"} {
		if n := countRows(t, ta, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("forged webhooks left %d rows in %s", n, table)
		}
	}

	// The control: the genuine request is accepted.
	checkTwiML(t, "genuine", postSigned(t, ta, inboundPath, form(), good(form())))
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("the genuine webhook stored %d messages, want 1", n)
	}
}

// Signatures are checked against PUBLIC_URL, not the address the request
// reached: behind a proxy Twilio signs the public URL.
func TestWebhookSignatureUsesPublicURL(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour, Env: map[string]string{"PUBLIC_URL": "https://school.example"}})
	f := inboundForm(newSID(), "whatsapp:+15557654321", "whatsapp:+14155550100", "Hello", "Maria")
	if r := postSigned(t, ta, inboundPath, f, twilioSignature(ta.token, ta.URL+inboundPath, f)); r.status != http.StatusForbidden {
		t.Fatalf("signed for the listener's address: %d, want 403", r.status)
	}
	checkTwiML(t, "signed for PUBLIC_URL", postSigned(t, ta, inboundPath, f, twilioSignature(ta.token, "https://school.example"+inboundPath, f)))
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 1 {
		t.Fatalf("messages: %d, want 1", n)
	}
}

// statusForm is Twilio's status callback for sid reaching status.
func statusForm(sid, status string, errorCode int) url.Values {
	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("SmsMessageSid", sid)
	f.Set("AccountSid", "AC"+strings.Repeat("0", 32))
	f.Set("MessageStatus", status)
	f.Set("SmsStatus", status)
	f.Set("ApiVersion", "2010-04-01")
	if errorCode != 0 {
		f.Set("ErrorCode", strconv.Itoa(errorCode))
		f.Set("ErrorMessage", "Carrier says "+strconv.Itoa(errorCode))
	}
	return f
}

// composeSID sends a message through the composer as c, from the given
// sender (0: the first of the channel), and returns its SID.
func composeSID(t *testing.T, ta *testApp, c *http.Client, to, channel string, senderID int64) string {
	t.Helper()
	tok := ta.csrfOf(c, "/compose")
	r := doHTTP(t, c, http.MethodPost, ta.URL+"/compose", url.Values{"_csrf": {tok}, "to": {to}, "channel": {channel}, "body": {"Note for " + to}, "sender_id": {strconv.FormatInt(senderID, 10)}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("compose to %s: %d", to, r.status)
	}
	var sid *string
	var status string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT twilio_sid, status FROM messages WHERE direction = 'outbound' AND body = $1`, "Note for "+to).Scan(&sid, &status); err != nil {
		t.Fatal(err)
	}
	if sid == nil || !strings.HasPrefix(*sid, "SM") || status != "queued" {
		t.Fatalf("composed message: sid %v status %s, want an SM sid and queued", sid, status)
	}
	return *sid
}

type eventRow struct {
	status           string
	applied, pending bool
	code             *int
}

func eventsOf(t *testing.T, ta *testApp, sid string) []eventRow {
	t.Helper()
	rows, err := ta.db.Pool.Query(context.Background(), `SELECT status, applied, pending, error_code FROM message_events WHERE message_sid = $1 ORDER BY id`, sid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []eventRow
	for rows.Next() {
		var e eventRow
		if err := rows.Scan(&e.status, &e.applied, &e.pending, &e.code); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func messageStatus(t *testing.T, ta *testApp, sid string) (status string, code *int, errMsg string) {
	t.Helper()
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT status, error_code, error_message FROM messages WHERE twilio_sid = $1`, sid).Scan(&status, &code, &errMsg); err != nil {
		t.Fatal(err)
	}
	return status, code, errMsg
}

// Callbacks arriving late, twice or out of order never move a message
// backwards; each is kept as an event, applied only when it moved it.
func TestWebhookStatusCallbacksOutOfOrder(t *testing.T) {
	// The simulator's own callbacks would come an hour later: the test posts them.
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	admin := ta.loginAdmin()
	const waNumber = "+14155550100" // admissions' WhatsApp sender
	waSender := senderID(t, ta, "whatsapp", waNumber)

	type cb struct {
		status  string
		code    int
		applied bool
	}
	cases := []struct {
		name       string
		to         string
		callbacks  []cb
		wantStatus string
		wantCode   int
	}{
		{"duplicated and reordered", "+15557651001", []cb{
			{"delivered", 0, true}, {"sent", 0, false}, {"delivered", 0, false}, {"read", 0, true}, {"sent", 0, false},
		}, "read", 0},
		{"failed after delivered is stale", "+15557651002", []cb{
			{"sent", 0, true}, {"delivered", 0, true}, {"failed", 30008, false},
		}, "delivered", 0},
		{"undelivered after sent applies", "+15557651003", []cb{
			{"sent", 0, true}, {"undelivered", 30003, true}, {"undelivered", 30003, false}, {"delivered", 0, false}, {"read", 0, false},
		}, "undelivered", 30003},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// WhatsApp free text needs the 24-hour window open: the parent writes first.
			checkTwiML(t, "inbound from "+tc.to, postTwilio(t, ta, inboundPath, inboundForm(newSID(), "whatsapp:"+tc.to, "whatsapp:"+waNumber, "Hello from "+tc.to, "Parent")))
			sid := composeSID(t, ta, admin, tc.to, "whatsapp", waSender)
			for _, c := range tc.callbacks {
				checkTwiML(t, "status "+c.status, postTwilio(t, ta, statusPath, statusForm(sid, c.status, c.code)))
			}
			status, code, errMsg := messageStatus(t, ta, sid)
			if status != tc.wantStatus {
				t.Errorf("final status %s, want %s", status, tc.wantStatus)
			}
			switch {
			case tc.wantCode == 0 && code != nil:
				t.Errorf("error_code %d, want none", *code)
			case tc.wantCode != 0 && (code == nil || *code != tc.wantCode):
				t.Errorf("error_code %v, want %d", code, tc.wantCode)
			case tc.wantCode != 0 && errMsg != "Carrier says "+strconv.Itoa(tc.wantCode):
				t.Errorf("error_message %q", errMsg)
			}
			evs := eventsOf(t, ta, sid)
			if len(evs) != len(tc.callbacks) {
				t.Fatalf("%d events kept, want %d (one per callback)", len(evs), len(tc.callbacks))
			}
			for i, c := range tc.callbacks {
				e := evs[i]
				if e.status != c.status || e.applied != c.applied || e.pending {
					t.Errorf("event %d: %s applied=%v pending=%v, want %s applied=%v pending=false", i, e.status, e.applied, e.pending, c.status, c.applied)
				}
				if c.code != 0 && (e.code == nil || *e.code != c.code) {
					t.Errorf("event %d: error_code %v, want %d", i, e.code, c.code)
				}
			}
		})
	}
	if n := len(ta.sim.Messages()); n != len(cases) {
		t.Errorf("the simulator has %d messages, want %d", n, len(cases))
	}
}

// A callback for a SID we do not know is kept as pending. When the create
// call's answer naming that SID is recorded after it (the callback won the
// race), the kept callback is applied then, exactly once.
func TestWebhookStatusBeforeCreateAnswer(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	ctx := context.Background()

	unknown := newSID()
	checkTwiML(t, "unknown sid", postTwilio(t, ta, statusPath, statusForm(unknown, "delivered", 0)))
	if evs := eventsOf(t, ta, unknown); len(evs) != 1 || !evs[0].pending || evs[0].applied || evs[0].status != "delivered" {
		t.Fatalf("events for an unknown SID: %+v, want one pending, not applied", evs)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("a callback for an unknown SID created %d messages", n)
	}

	// WhatsApp free text needs the 24-hour window open: the parent writes to
	// admissions' WhatsApp number first.
	checkTwiML(t, "parent's inbound", postTwilio(t, ta, inboundPath, inboundForm(newSID(), "whatsapp:+15557652020", "whatsapp:+14155550100", "Is the trip tomorrow?", "Parent")))
	waSender := senderID(t, ta, "whatsapp", "+14155550100")

	// The race, for real: a Twilio (the simulator, wrapped) that posts the
	// message's callbacks to our status webhook and waits for our 200 before
	// it answers the create call.
	early := []string{"sent", "delivered"}
	sim := twiliosim.New(twiliosim.Config{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: ta.token, StepDelay: time.Hour})
	var (
		mu          sync.Mutex
		createdSID  string
		pendingSeen []eventRow
	)
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
			sim.Handler().ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		sim.Handler().ServeHTTP(rec, r)
		var res struct {
			SID string `json:"sid"`
		}
		if rec.Code == http.StatusCreated && json.Unmarshal(rec.Body.Bytes(), &res) == nil {
			for _, st := range early {
				f := statusForm(res.SID, st, 0)
				// t.Fatal must not run here (not the test goroutine): record instead.
				req, _ := http.NewRequest(http.MethodPost, ta.URL+statusPath, strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", twilioSignature(ta.token, ta.URL+statusPath, f))
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("early callback %s: %v %v", st, err, resp)
				} else {
					resp.Body.Close()
				}
			}
			var seen []eventRow
			rows, err := ta.db.Pool.Query(ctx, `SELECT status, applied, pending, error_code FROM message_events WHERE message_sid = $1 ORDER BY id`, res.SID)
			if err == nil {
				for rows.Next() {
					var e eventRow
					_ = rows.Scan(&e.status, &e.applied, &e.pending, &e.code)
					seen = append(seen, e)
				}
				rows.Close()
			}
			mu.Lock()
			createdSID, pendingSeen = res.SID, seen
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
	srv := httptest.NewServer(wrapped)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	gw, err := twilio.New(twilio.Config{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: ta.token, APIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	svc := &messaging.Service{DB: ta.db, Gateway: gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		StatusCallbackURL: ta.URL + statusPath}
	admin, err := ta.db.UserByEmail(ctx, ta.AdminEML)
	if err != nil {
		t.Fatal(err)
	}
	_, msgID, err := svc.Compose(ctx, admin, messaging.ComposeInput{To: "+1 555 765 2020", Channel: "whatsapp", Body: "Trip tomorrow", SenderID: waSender})
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	mu.Lock()
	sid, seen := createdSID, pendingSeen
	mu.Unlock()
	if sid == "" {
		t.Fatal("the create call never reached the wrapped simulator")
	}
	if len(seen) != 2 || !seen[0].pending || !seen[1].pending || seen[0].applied || seen[1].applied {
		t.Fatalf("before the create answer, the callbacks were kept as %+v; want 2 pending, none applied", seen)
	}
	var storedSID *string
	if err := ta.db.Pool.QueryRow(ctx, `SELECT twilio_sid FROM messages WHERE id = $1`, msgID).Scan(&storedSID); err != nil {
		t.Fatal(err)
	}
	if storedSID == nil || *storedSID != sid {
		t.Fatalf("message %d has SID %v, want %s", msgID, storedSID, sid)
	}
	if status, _, _ := messageStatus(t, ta, sid); status != "delivered" {
		t.Fatalf("status after the create answer: %s, want delivered (the early callbacks applied)", status)
	}
	evs := eventsOf(t, ta, sid)
	if len(evs) != 2 {
		t.Fatalf("events: %+v, want exactly the 2 callbacks", evs)
	}
	for i, e := range evs {
		if e.pending || !e.applied || e.status != early[i] {
			t.Errorf("event %d: %+v, want %s applied and no longer pending", i, e, early[i])
		}
	}
	// A redelivery now is kept, not applied; a later read applies.
	checkTwiML(t, "redelivered delivered", postTwilio(t, ta, statusPath, statusForm(sid, "delivered", 0)))
	checkTwiML(t, "read", postTwilio(t, ta, statusPath, statusForm(sid, "read", 0)))
	evs = eventsOf(t, ta, sid)
	if len(evs) != 4 || evs[2].applied || !evs[3].applied {
		t.Fatalf("events after redelivery and read: %+v", evs)
	}
	if status, _, _ := messageStatus(t, ta, sid); status != "read" {
		t.Fatalf("final status %s, want read", status)
	}
	// The unrelated unknown SID stays pending.
	if evs := eventsOf(t, ta, unknown); len(evs) != 1 || !evs[0].pending {
		t.Fatalf("the unknown SID's event changed: %+v", evs)
	}
}

// STOP opts a number out (the composer then refuses it and nothing reaches
// Twilio); START opts it back in.
func TestWebhookStopAndStart(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	ctx := context.Background()
	admin := ta.loginAdmin()
	const parent = "+15557658888"

	stop := inboundForm(newSID(), parent, "+14155550199", "Stop", "")
	stop.Set("OptOutType", "STOP")
	checkTwiML(t, "STOP", postTwilio(t, ta, inboundPath, stop))
	checkTwiML(t, "STOP redelivered", postTwilio(t, ta, inboundPath, stop))
	// STOP ends every purpose: one row each, and the redelivery adds none.
	rows, err := ta.db.Pool.Query(ctx, `SELECT phone, channel, purpose, opted_in, method FROM consent_events ORDER BY purpose`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var phone, method, purpose string
		var channel *string
		var optedIn bool
		if err := rows.Scan(&phone, &channel, &purpose, &optedIn, &method); err != nil {
			t.Fatal(err)
		}
		if phone != parent || channel == nil || *channel != "sms" || optedIn || method != "keyword" {
			t.Fatalf("consent event %s %v %s opted_in=%v %s", phone, channel, purpose, optedIn, method)
		}
		got = append(got, purpose)
	}
	if strings.Join(got, ",") != "marketing,transactional" {
		t.Fatalf("opt-out purposes after STOP and its redelivery: %v, want marketing and transactional once each", got)
	}
	// Sentences and HELP are not consent changes.
	checkTwiML(t, "sentence", postTwilio(t, ta, inboundPath, inboundForm(newSID(), parent, "+14155550199", "please don't stop the bus reminders", "")))
	checkTwiML(t, "HELP", postTwilio(t, ta, inboundPath, inboundForm(newSID(), parent, "+14155550199", "HELP", "")))
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events`); n != 2 {
		t.Fatalf("consent events: %d, want 2", n)
	}

	compose := func() httpResult {
		tok := ta.csrfOf(admin, "/compose")
		return doHTTP(t, admin, http.MethodPost, ta.URL+"/compose", url.Values{"_csrf": {tok}, "to": {"(555) 765-8888"}, "channel": {"sms"}, "body": {"Bus times changed"}, "sender_id": {"0"}}, nil)
	}
	r := compose()
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "opted out") || !strings.Contains(r.body, `id="to-error"`) {
		t.Fatalf("compose to an opted-out number: %d, want 422 with the to field's error mentioning opted out", r.status)
	}
	// A reply in the existing conversation is refused too.
	var convID int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM conversations`).Scan(&convID); err != nil {
		t.Fatal(err)
	}
	tok := ta.csrfOf(admin, convURL(convID))
	r = doHTTP(t, admin, http.MethodPost, ta.URL+convURL(convID)+"/messages", url.Values{"_csrf": {tok}, "body": {"Are you sure?"}}, nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "opted out") {
		t.Fatalf("reply to an opted-out contact: %d, want 422 mentioning opted out", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Fatalf("%d outbound messages stored for an opted-out number", n)
	}
	if n := len(ta.sim.Messages()); n != 0 {
		t.Fatalf("the simulator got %d messages for an opted-out number", n)
	}

	start := inboundForm(newSID(), parent, "+14155550199", "START", "")
	start.Set("OptOutType", "START")
	checkTwiML(t, "START", postTwilio(t, ta, inboundPath, start))
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events WHERE phone = $1 AND opted_in AND method = 'keyword'`, parent); n != 1 {
		t.Fatalf("opt-in events after START: %d, want 1", n)
	}
	if r := compose(); r.status != http.StatusSeeOther {
		t.Fatalf("compose after START: %d, want 303", r.status)
	}
	msgs := ta.sim.Messages()
	if len(msgs) != 1 || msgs[0].To != parent || msgs[0].From != "+14155550199" {
		t.Fatalf("after START the simulator got %+v", msgs)
	}
}
