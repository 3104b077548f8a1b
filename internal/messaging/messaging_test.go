package messaging_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

const (
	account = "AC00000000000000000000000000000000"
	token   = "servicetesttoken0123456789"
)

// env is a fresh database with departments, senders and users, a real
// simulator behind httptest, a real Gateway pointed at it and the service.
//
//	admissions: WhatsApp +14155550100 and SMS +14155550199
//	academics:  WhatsApp +14155550101
//	finance:    no sender
type env struct {
	t   *testing.T
	db  *db.DB
	sim *twiliosim.Sim
	svc *messaging.Service

	admissions, academics, finance int64
	waAdmissions, smsAdmissions    db.Sender
	waAcademics                    db.Sender
	admin                          db.User
	staffAdmissions                db.User // admissions only
	staffAcademics                 db.User // academics only
	staffFinance                   db.User // a department without senders
	staffNone                      db.User // no department at all

	mu       sync.Mutex
	sends    []string         // OnSend results, "channel result"
	onCreate func(sid string) // runs after the simulator created a message, before the answer leaves
	atCreate func()           // runs when a create call arrives, before the simulator sees it
}

type envOptions struct {
	stepDelay time.Duration // 0: an hour (no callbacks during the test)
	callbacks bool          // point StatusCallback at a receiver that calls ApplyStatus
	// faults sets the simulator's fault rates (only the fault fields are
	// used). The simulator then serves creates itself, without the hooks,
	// so it can cut connections.
	faults *twiliosim.Config
	// timeout bounds each call of the gateway (0: its default, 10 s).
	timeout time.Duration
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, db: dbtest.New(t)}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e.admissions, err = e.db.EnsureDepartment(ctx, "admissions", "Admissions")
	must(err)
	e.academics, err = e.db.EnsureDepartment(ctx, "academics", "Academics")
	must(err)
	e.finance, err = e.db.EnsureDepartment(ctx, "finance", "Finance")
	must(err)
	e.waAdmissions, err = e.db.EnsureSender(ctx, "whatsapp", "+14155550100", "Admissions", &e.admissions)
	must(err)
	e.smsAdmissions, err = e.db.EnsureSender(ctx, "sms", "+14155550199", "Front office", &e.admissions)
	must(err)
	e.waAcademics, err = e.db.EnsureSender(ctx, "whatsapp", "+14155550101", "Academics", &e.academics)
	must(err)
	user := func(email, role string, deps ...int64) db.User {
		u, err := e.db.CreateUser(ctx, db.NewUser{Email: email, Name: email, Role: role, PasswordHash: "not-a-hash", DepartmentIDs: deps})
		must(err)
		return u
	}
	e.admin = user("admin@school.example", "admin")
	e.staffAdmissions = user("adm@school.example", "staff", e.admissions)
	e.staffAcademics = user("aca@school.example", "staff", e.academics)
	e.staffFinance = user("fin@school.example", "staff", e.finance)
	e.staffNone = user("none@school.example", "staff")

	step := o.stepDelay
	if step == 0 {
		step = time.Hour
	}
	simCfg := twiliosim.Config{AccountSID: account, AuthToken: token, StepDelay: step, Seed: 7, Logf: t.Logf}
	handler := http.HandlerFunc(e.twilio)
	if f := o.faults; f != nil {
		simCfg.RateLimitRate, simCfg.ServerErrorRate, simCfg.LostResponseRate = f.RateLimitRate, f.ServerErrorRate, f.LostResponseRate
		simCfg.LateCreateRate, simCfg.LateCreateDelay = f.LateCreateRate, f.LateCreateDelay
		simCfg.ResetRate, simCfg.SlowResponseRate, simCfg.SlowResponseDelay = f.ResetRate, f.SlowResponseRate, f.SlowResponseDelay
		simCfg.Latency, simCfg.MaxConcurrent = f.Latency, f.MaxConcurrent
	}
	e.sim = twiliosim.New(simCfg)
	if o.faults != nil {
		handler = e.sim.Handler().ServeHTTP
	}
	simSrv := httptest.NewServer(handler)
	t.Cleanup(simSrv.Close)
	t.Cleanup(e.sim.Close) // runs first: no callbacks after the test

	gwCfg := twilio.Config{AccountSID: account, AuthToken: token, APIBase: simSrv.URL}
	if o.timeout > 0 {
		gwCfg.HTTPClient = &http.Client{Timeout: o.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	gw, err := twilio.New(gwCfg)
	must(err)
	e.svc = &messaging.Service{
		DB: e.db, Gateway: gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSend: func(ch, res string) {
			e.mu.Lock()
			e.sends = append(e.sends, ch+" "+res)
			e.mu.Unlock()
		},
	}
	if o.callbacks {
		// Twilio's status callbacks, checked and applied as the webhook handler does.
		var cbURL string
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p := map[string]string{}
			for k, v := range r.PostForm {
				p[k] = v[0]
			}
			if !gw.ValidateSignature(cbURL+r.URL.RequestURI(), p, r.Header.Get("X-Twilio-Signature")) {
				t.Errorf("callback with a bad signature: %v", p)
				http.Error(w, "bad signature", http.StatusForbidden)
				return
			}
			if _, err := e.svc.ApplyStatus(r.Context(), p); err != nil {
				t.Errorf("ApplyStatus: %v", err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(cb.Close)
		cbURL = cb.URL
		e.svc.StatusCallbackURL = cb.URL + "/status"
	}
	return e
}

// hooks sets what runs around the next create calls.
func (e *env) hooks(atCreate func(), onCreate func(sid string)) {
	e.mu.Lock()
	e.atCreate, e.onCreate = atCreate, onCreate
	e.mu.Unlock()
}

// twilio serves the simulator, with the test's hooks around message creation.
func (e *env) twilio(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
		e.sim.Handler().ServeHTTP(w, r)
		return
	}
	e.mu.Lock()
	atCreate, onCreate := e.atCreate, e.onCreate
	e.mu.Unlock()
	if atCreate != nil {
		atCreate()
	}
	rec := httptest.NewRecorder()
	e.sim.Handler().ServeHTTP(rec, r)
	if onCreate != nil && rec.Code == http.StatusCreated {
		var res struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			e.t.Errorf("simulator create answer: %v", err)
		}
		onCreate(res.SID)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

type outbound struct {
	status, from, to, body string
	sid                    *string
	code                   *int
	errMsg                 string
	segments               *int
	sentBy                 *int64
	conversationID         int64
}

func (e *env) message(id int64) outbound {
	e.t.Helper()
	var m outbound
	err := e.db.Pool.QueryRow(context.Background(), `SELECT status, from_address, to_address, body, twilio_sid, error_code, error_message, segments, sent_by, conversation_id
		FROM messages WHERE id = $1`, id).Scan(&m.status, &m.from, &m.to, &m.body, &m.sid, &m.code, &m.errMsg, &m.segments, &m.sentBy, &m.conversationID)
	if err != nil {
		e.t.Fatalf("message %d: %v", id, err)
	}
	return m
}

type event struct {
	Status           string
	Applied, Pending bool
	Code             int
}

func (e *env) events(sid string) []event {
	e.t.Helper()
	evs, err := e.eventsErr(sid)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// eventsErr is events for goroutines other than the test's (no t.Fatal there).
func (e *env) eventsErr(sid string) ([]event, error) {
	rows, err := e.db.Pool.Query(context.Background(), `SELECT status, applied, pending, coalesce(error_code, 0) FROM message_events WHERE message_sid = $1 ORDER BY id`, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		if err := rows.Scan(&ev.Status, &ev.Applied, &ev.Pending, &ev.Code); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (e *env) sendResults() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sends)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestComposeValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	// ok is valid only once the contact has written to the WhatsApp sender the
	// admin gets by default (Academics: senders go by department name), which
	// opens WhatsApp's 24-hour window; each case below breaks just one field.
	e.parentWrites("+15550104242", e.waAcademics, "Hello from a parent")
	ok := messaging.ComposeInput{To: "+1 555 010 4242", Channel: "whatsapp", Body: "Hello"}
	with := func(f func(*messaging.ComposeInput)) messaging.ComposeInput {
		in := ok
		f(&in)
		return in
	}
	cases := []struct {
		name string
		user db.User
		in   messaging.ComposeInput
		want []string
	}{
		{"empty body", e.admin, with(func(in *messaging.ComposeInput) { in.Body = " \n\t " }), []string{"body"}},
		{"body too long", e.admin, with(func(in *messaging.ComposeInput) { in.Body = strings.Repeat("a", 1601) }), []string{"body"}},
		{"body too long in runes", e.admin, with(func(in *messaging.ComposeInput) { in.Body = strings.Repeat("é", 1601) }), []string{"body"}},
		{"no number", e.admin, with(func(in *messaging.ComposeInput) { in.To = "  " }), []string{"to"}},
		{"number too short", e.admin, with(func(in *messaging.ComposeInput) { in.To = "12" }), []string{"to"}},
		{"letters in number", e.admin, with(func(in *messaging.ComposeInput) { in.To = "555-CALL-NOW" }), []string{"to"}},
		{"unknown channel", e.admin, with(func(in *messaging.ComposeInput) { in.Channel = "telegram" }), []string{"channel"}},
		{"empty channel", e.admin, with(func(in *messaging.ComposeInput) { in.Channel = "" }), []string{"channel"}},
		{"no sender in the user's departments", e.staffFinance, ok, []string{"channel"}},
		{"no SMS sender in the user's department", e.staffAcademics, with(func(in *messaging.ComposeInput) { in.Channel = "sms" }), []string{"channel"}},
		{"no department at all", e.staffNone, ok, []string{"sender"}},
		{"another department's sender", e.staffAdmissions, with(func(in *messaging.ComposeInput) { in.SenderID = e.waAcademics.ID }), []string{"sender"}},
		{"sender of the other channel", e.admin, with(func(in *messaging.ComposeInput) { in.SenderID = e.smsAdmissions.ID }), []string{"sender"}},
		{"sender that does not exist", e.admin, with(func(in *messaging.ComposeInput) { in.SenderID = 987654 }), []string{"sender"}},
		{"everything wrong", e.admin, messaging.ComposeInput{To: "", Channel: "fax", Body: ""}, []string{"body", "channel", "to"}},
		{"bad number and no sender", e.staffFinance, with(func(in *messaging.ComposeInput) { in.To = "12"; in.Body = "" }), []string{"body", "channel", "to"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			convID, msgID, err := e.svc.Compose(context.Background(), tc.user, tc.in)
			var fe messaging.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want FieldErrors %v", err, tc.want)
			}
			var keys []string
			for k, v := range fe {
				keys = append(keys, k)
				if strings.TrimSpace(v) == "" {
					t.Errorf("field %s has an empty explanation", k)
				}
			}
			sort.Strings(keys)
			if !slices.Equal(keys, tc.want) {
				t.Errorf("field errors %v, want keys %v", fe, tc.want)
			}
			if convID != 0 || msgID != 0 {
				t.Errorf("ids %d/%d returned for invalid input", convID, msgID)
			}
		})
	}
	// Only the parent's inbound message and conversation exist.
	if n := e.count(`SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("invalid input stored %d messages", n-1)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Errorf("invalid input stored %d outbound messages", n)
	}
	if n := e.count(`SELECT count(*) FROM conversations`); n != 1 {
		t.Errorf("invalid input created %d conversations", n-1)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Errorf("invalid input reached the simulator %d times", n)
	}

	// The limit itself is fine: 1600 characters, counted as characters.
	_, id, err := e.svc.Compose(context.Background(), e.admin, with(func(in *messaging.ComposeInput) { in.Body = strings.Repeat("é", 1600) }))
	if err != nil {
		t.Fatalf("1600 characters: %v", err)
	}
	if m := e.message(id); m.status != "queued" || m.sid == nil {
		t.Fatalf("1600 characters: status %s sid %v", m.status, m.sid)
	}
}

// The message is stored as queued before Twilio is called, then gets the SID
// Twilio answered.
func TestComposeStoresQueuedThenSID(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	type snapshot struct {
		n      int
		status string
		sid    *string
	}
	// The parent writes first: WhatsApp allows free text only within 24 hours.
	parentConv := e.parentWrites("+15550104242", e.waAdmissions, "Hello, when is parents' evening?")
	var seen []snapshot
	e.hooks(func() {
		var s snapshot
		_ = e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&s.n)
		_ = e.db.Pool.QueryRow(ctx, `SELECT status, twilio_sid FROM messages WHERE direction = 'outbound'`).Scan(&s.status, &s.sid)
		e.mu.Lock()
		seen = append(seen, s)
		e.mu.Unlock()
	}, nil)
	convID, msgID, err := e.svc.Compose(ctx, e.staffAdmissions, messaging.ComposeInput{To: "(555) 010-4242", Channel: "whatsapp", Body: "Parents' evening is on Thursday"})
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	got := slices.Clone(seen)
	e.mu.Unlock()
	if len(got) != 1 || got[0].n != 2 || got[0].status != "queued" || got[0].sid != nil {
		t.Fatalf("when Twilio was called the database held %+v; want the parent's message and one queued message without SID", got)
	}
	if convID != parentConv {
		t.Errorf("composed into conversation %d, want the parent's %d", convID, parentConv)
	}
	sims := e.sim.Messages()
	if len(sims) != 1 {
		t.Fatalf("the simulator got %d messages", len(sims))
	}
	m := e.message(msgID)
	if m.sid == nil || *m.sid != sims[0].SID {
		t.Fatalf("stored SID %v, want the simulator's %s", m.sid, sims[0].SID)
	}
	if m.status != "queued" || m.from != "whatsapp:+14155550100" || m.to != "whatsapp:+15550104242" || m.body != "Parents' evening is on Thursday" ||
		m.segments == nil || *m.segments != 1 || m.sentBy == nil || *m.sentBy != e.staffAdmissions.ID || m.conversationID != convID || m.code != nil {
		t.Errorf("stored message %+v", m)
	}
	if sims[0].From != "whatsapp:+14155550100" || sims[0].To != "whatsapp:+15550104242" || sims[0].Body != "Parents' evening is on Thursday" {
		t.Errorf("the simulator got %+v", sims[0])
	}
	conv, err := e.db.ConversationByID(ctx, convID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.DepartmentID == nil || *conv.DepartmentID != e.admissions || conv.Sender.ID != e.waAdmissions.ID || conv.Contact.Phone != "+15550104242" {
		t.Errorf("conversation %+v", conv)
	}
	if got := e.sendResults(); !slices.Equal(got, []string{"whatsapp ok"}) {
		t.Errorf("OnSend got %v", got)
	}

	// A second message to the same number goes to the same conversation.
	conv2, _, err := e.svc.Compose(ctx, e.staffAdmissions, messaging.ComposeInput{To: "+15550104242", Channel: "whatsapp", Body: "Again"})
	if err != nil || conv2 != convID {
		t.Fatalf("second compose: conversation %d err %v, want %d", conv2, err, convID)
	}
}

// Twilio refusing the message (21211) is no error for the caller: the
// message is kept as failed with Twilio's code and reason.
func TestComposeTwilioRefuses(t *testing.T) {
	e := newEnv(t, envOptions{})
	convID, msgID, err := e.svc.Compose(context.Background(), e.admin, messaging.ComposeInput{To: "+1 555 010 0001", Channel: "sms", Body: "Hello"})
	if err != nil {
		t.Fatalf("compose: %v (a refusal is stored, not returned)", err)
	}
	if convID == 0 || msgID == 0 {
		t.Fatalf("ids %d/%d", convID, msgID)
	}
	m := e.message(msgID)
	if m.status != "failed" || m.code == nil || *m.code != 21211 || !strings.Contains(m.errMsg, "Invalid 'To' Phone Number") || m.sid != nil {
		t.Fatalf("refused message stored as %s code %v %q sid %v; want failed 21211 with Twilio's message and no SID", m.status, m.code, m.errMsg, m.sid)
	}
	if got := e.sendResults(); !slices.Equal(got, []string{"sms 21211"}) {
		t.Errorf("OnSend got %v", got)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Errorf("the simulator kept %d messages", n)
	}
}

// The simulator's magic numbers walk their messages to the end through signed
// callbacks, which the service applies.
func TestCallbacksDriveMessagesToTheirEnd(t *testing.T) {
	e := newEnv(t, envOptions{stepDelay: 5 * time.Millisecond, callbacks: true})
	cases := []struct {
		to, channel string
		want        string
		code        int
		events      []event
	}{
		{"+15550100003", "whatsapp", "failed", 63024, []event{{"queued", false, false, 0}, {"failed", true, false, 63024}}},
		{"+15550200003", "sms", "failed", 30008, []event{{"queued", false, false, 0}, {"failed", true, false, 30008}}},
		{"+15550100002", "whatsapp", "undelivered", 30003, []event{{"queued", false, false, 0}, {"sent", true, false, 0}, {"undelivered", true, false, 30003}}},
		{"+15550104242", "whatsapp", "read", 0, []event{{"queued", false, false, 0}, {"sent", true, false, 0}, {"delivered", true, false, 0}, {"read", true, false, 0}}},
		{"+15550104243", "sms", "delivered", 0, []event{{"queued", false, false, 0}, {"sent", true, false, 0}, {"delivered", true, false, 0}}},
	}
	for _, tc := range cases {
		if tc.channel == "whatsapp" {
			// Open the 24-hour window with the admin's default WhatsApp sender
			// (Academics: senders go by department name).
			e.parentWrites(tc.to, e.waAcademics, "Hello from a parent")
		}
		t.Run(tc.to+" "+tc.channel, func(t *testing.T) {
			_, id, err := e.svc.Compose(context.Background(), e.admin, messaging.ComposeInput{To: tc.to, Channel: tc.channel, Body: "Hello"})
			if err != nil {
				t.Fatal(err)
			}
			m := e.message(id)
			if m.sid == nil {
				t.Fatalf("no SID recorded (status %s)", m.status)
			}
			waitFor(t, "the last callback", func() bool {
				evs := e.events(*m.sid)
				return len(evs) == len(tc.events) && !slices.ContainsFunc(evs, func(ev event) bool { return ev.Pending })
			})
			m = e.message(id)
			if m.status != tc.want {
				t.Errorf("status %s, want %s", m.status, tc.want)
			}
			if tc.code == 0 && m.code != nil || tc.code != 0 && (m.code == nil || *m.code != tc.code) {
				t.Errorf("error_code %v, want %d", m.code, tc.code)
			}
			if tc.code != 0 && m.errMsg == "" {
				t.Errorf("no error message stored for %d", tc.code)
			}
			if evs := e.events(*m.sid); !slices.Equal(evs, tc.events) {
				t.Errorf("events %+v, want %+v", evs, tc.events)
			}
		})
	}
}

// The race: Twilio's status callbacks for a message reach us before the
// create call's answer does. They are kept as pending, then applied once
// when the SID is recorded.
func TestStatusCallbackBeforeCreateAnswer(t *testing.T) {
	cases := []struct {
		name   string
		early  []string
		want   string
		events []event
	}{
		{"in order", []string{"sent", "delivered"}, "delivered", []event{{"sent", true, false, 0}, {"delivered", true, false, 0}}},
		{"reordered", []string{"delivered", "sent"}, "delivered", []event{{"delivered", true, false, 0}, {"sent", false, false, 0}}},
		{"duplicated", []string{"sent", "sent", "read"}, "read", []event{{"sent", true, false, 0}, {"sent", false, false, 0}, {"read", true, false, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{}) // no StatusCallback: the simulator posts nothing itself
			ctx := context.Background()
			// The parent writes to the admin's default WhatsApp sender
			// (Academics) first, which opens the 24-hour window.
			e.parentWrites("+15550104242", e.waAcademics, "Hello from a parent")
			var (
				earlyApplied []bool
				earlyEvents  []event
				earlyErr     error
			)
			var mu sync.Mutex
			e.hooks(nil, func(sid string) {
				mu.Lock()
				defer mu.Unlock()
				for _, st := range tc.early {
					applied, err := e.svc.ApplyStatus(ctx, map[string]string{"MessageSid": sid, "SmsSid": sid, "MessageStatus": st, "AccountSid": account})
					earlyApplied = append(earlyApplied, applied)
					earlyErr = errors.Join(earlyErr, err)
				}
				evs, err := e.eventsErr(sid)
				earlyEvents, earlyErr = evs, errors.Join(earlyErr, err)
			})
			_, id, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+15550104242", Channel: "whatsapp", Body: "Hello"})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if earlyErr != nil {
				t.Fatalf("early ApplyStatus: %v", earlyErr)
			}
			if slices.Contains(earlyApplied, true) || len(earlyApplied) != len(tc.early) {
				t.Fatalf("early callbacks reported applied=%v; nothing can apply before the SID is known", earlyApplied)
			}
			if len(earlyEvents) != len(tc.early) || slices.ContainsFunc(earlyEvents, func(ev event) bool { return !ev.Pending || ev.Applied }) {
				t.Fatalf("before the answer the callbacks were kept as %+v; want all pending", earlyEvents)
			}
			m := e.message(id)
			if m.sid == nil {
				t.Fatal("no SID recorded")
			}
			if m.status != tc.want {
				t.Errorf("status %s, want %s", m.status, tc.want)
			}
			if evs := e.events(*m.sid); !slices.Equal(evs, tc.events) {
				t.Errorf("events %+v, want %+v", evs, tc.events)
			}
			// The same callback once more changes nothing and is kept.
			last := tc.early[len(tc.early)-1]
			applied, err := e.svc.ApplyStatus(ctx, map[string]string{"MessageSid": *m.sid, "MessageStatus": last})
			if err != nil || applied {
				t.Fatalf("redelivered %s: applied=%v err=%v", last, applied, err)
			}
			if n := len(e.events(*m.sid)); n != len(tc.events)+1 {
				t.Errorf("events after a redelivery: %d, want %d", n, len(tc.events)+1)
			}
			if got := e.message(id).status; got != tc.want {
				t.Errorf("status after a redelivery %s, want %s", got, tc.want)
			}
		})
	}
}

func TestApplyStatusDirect(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.svc.ApplyStatus(ctx, map[string]string{"MessageStatus": "sent"}); err == nil {
		t.Error("a callback without a SID was accepted")
	}
	if _, err := e.svc.ApplyStatus(ctx, map[string]string{"MessageSid": "SM" + strings.Repeat("1", 32)}); err == nil {
		t.Error("a callback without a status was accepted")
	}
	if n := e.count(`SELECT count(*) FROM message_events`); n != 0 {
		t.Errorf("malformed callbacks kept %d events", n)
	}
	// SmsSid/SmsStatus alone (older callbacks) are understood.
	_, id, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+15550104242", Channel: "sms", Body: "Hello"})
	if err != nil {
		t.Fatal(err)
	}
	sid := *e.message(id).sid
	applied, err := e.svc.ApplyStatus(ctx, map[string]string{"SmsSid": sid, "SmsStatus": "sent"})
	if err != nil || !applied {
		t.Fatalf("SmsSid/SmsStatus callback: applied=%v err=%v", applied, err)
	}
	applied, err = e.svc.ApplyStatus(ctx, map[string]string{"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30005", "ErrorMessage": "Unknown destination handset"})
	if err != nil || !applied {
		t.Fatalf("undelivered after sent: applied=%v err=%v", applied, err)
	}
	m := e.message(id)
	if m.status != "undelivered" || m.code == nil || *m.code != 30005 || m.errMsg != "Unknown destination handset" {
		t.Fatalf("message %+v", m)
	}
	// An unknown status is kept, never applied.
	applied, err = e.svc.ApplyStatus(ctx, map[string]string{"MessageSid": sid, "MessageStatus": "teleported"})
	if err != nil || applied {
		t.Fatalf("unknown status: applied=%v err=%v", applied, err)
	}
	if evs := e.events(sid); len(evs) != 3 {
		t.Fatalf("events %+v, want 3", evs)
	}
}

func inbound(sid, from, to, body string) map[string]string {
	return map[string]string{
		"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": account,
		"From": from, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
	}
}

func TestReceiveInboundIdempotent(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	p := inbound("SM"+strings.Repeat("a", 32), "whatsapp:+15557654321", "whatsapp:+14155550101", "Can I book a visit?")
	p["ProfileName"] = "Maria"
	p["ButtonPayload"] = "visit"
	p["NumMedia"] = "1"
	p["MediaUrl0"] = "https://api.twilio.com/media/ME1.pdf"
	p["MediaContentType0"] = "application/pdf"

	first, err := e.svc.ReceiveInbound(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || first.MessageID == 0 || first.ConversationID == 0 || first.Keyword != policy.KeywordNone {
		t.Fatalf("first delivery: %+v", first)
	}
	again, err := e.svc.ReceiveInbound(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.ConversationID != first.ConversationID {
		t.Fatalf("redelivery: %+v, want a duplicate in conversation %d", again, first.ConversationID)
	}
	if n := e.count(`SELECT count(*) FROM messages`); n != 1 {
		t.Fatalf("messages after a redelivery: %d, want 1", n)
	}
	conv, err := e.db.ConversationByID(ctx, first.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.DepartmentID == nil || *conv.DepartmentID != e.academics || conv.Sender.ID != e.waAcademics.ID || conv.Contact.ProfileName != "Maria" || conv.LastInboundAt == nil {
		t.Fatalf("conversation %+v", conv)
	}
	msg, err := e.db.MessageByID(ctx, first.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Media) != 1 || msg.Media[0].URL != "https://api.twilio.com/media/ME1.pdf" || msg.Media[0].ContentType != "application/pdf" {
		t.Errorf("media %+v", msg.Media)
	}
	var extra map[string]string
	if err := e.db.Pool.QueryRow(ctx, `SELECT extra FROM messages WHERE id = $1`, first.MessageID).Scan(&extra); err != nil {
		t.Fatal(err)
	}
	if extra["ButtonPayload"] != "visit" || extra["MediaUrl0"] != "" || extra["MessageSid"] != "" {
		t.Errorf("extra %v", extra)
	}

	// Only SmsMessageSid (older webhooks): still stored, once.
	old := inbound("", "+15557654321", "+14155550199", "by SMS")
	delete(old, "MessageSid")
	delete(old, "SmsSid")
	old["SmsMessageSid"] = "SM" + strings.Repeat("b", 32)
	r1, err := e.svc.ReceiveInbound(ctx, old)
	if err != nil || r1.Duplicate {
		t.Fatalf("SmsMessageSid only: %+v %v", r1, err)
	}
	if r2, err := e.svc.ReceiveInbound(ctx, old); err != nil || !r2.Duplicate {
		t.Fatalf("SmsMessageSid only, again: %+v %v", r2, err)
	}
	// An unregistered number of ours: kept in a conversation without department.
	r3, err := e.svc.ReceiveInbound(ctx, inbound("SM"+strings.Repeat("c", 32), "+15557654321", "+14155559999", "wrong number?"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := e.db.ConversationByID(ctx, r3.ConversationID); c.DepartmentID != nil {
		t.Errorf("a message to an unregistered number landed in department %d", *c.DepartmentID)
	}
	// Malformed webhooks are errors and store nothing.
	noSID := inbound("", "+15557654321", "+14155550199", "x")
	for _, k := range []string{"MessageSid", "SmsMessageSid", "SmsSid"} {
		delete(noSID, k)
	}
	if _, err := e.svc.ReceiveInbound(ctx, noSID); err == nil {
		t.Error("an inbound without a SID was accepted")
	}
	noFrom := inbound("SM"+strings.Repeat("d", 32), "", "+14155550199", "x")
	if _, err := e.svc.ReceiveInbound(ctx, noFrom); err == nil {
		t.Error("an inbound without From was accepted")
	}
	if n := e.count(`SELECT count(*) FROM messages`); n != 3 {
		t.Errorf("messages: %d, want 3", n)
	}
}

func TestReceiveInboundConsent(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	const phone = "+15557658888"
	stop := inbound("SM"+strings.Repeat("e", 32), phone, "+14155550199", " Stop. ")
	res, err := e.svc.ReceiveInbound(ctx, stop)
	if err != nil || res.Keyword != policy.KeywordOptOut {
		t.Fatalf("STOP: %+v %v", res, err)
	}
	if _, err := e.svc.ReceiveInbound(ctx, stop); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM consent_events WHERE phone = $1 AND NOT opted_in AND method = 'keyword'`, phone); n != 2 {
		t.Fatalf("opt-out events: %d, want 2 (transactional and marketing; a redelivery adds none)", n)
	}
	if out, err := e.db.OptedOut(ctx, phone, policy.PurposeMarketing); err != nil || !out {
		t.Fatalf("OptedOut(marketing) = %v, %v: STOP must end marketing too", out, err)
	}
	if out, err := e.db.OptedOut(ctx, phone, policy.PurposeTransactional); err != nil || !out {
		t.Fatalf("OptedOut = %v, %v", out, err)
	}
	_, _, err = e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: phone, Channel: "sms", Body: "Hello"})
	var fe messaging.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["to"], "opted out") || len(fe) != 1 {
		t.Fatalf("compose to an opted-out number: %v", err)
	}
	if _, _, err := e.svc.Reply(ctx, e.admin, res.ConversationID, messaging.ReplyInput{Body: "Sure?"}); !errors.As(err, &fe) || !strings.Contains(fe["body"], "opted out") {
		t.Fatalf("reply to an opted-out contact: %v", err)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Fatalf("the simulator got %d messages for an opted-out number", n)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Fatalf("%d outbound messages stored for an opted-out number", n)
	}
	if res, err := e.svc.ReceiveInbound(ctx, inbound("SM"+strings.Repeat("f", 32), phone, "+14155550199", "start")); err != nil || res.Keyword != policy.KeywordOptIn {
		t.Fatalf("START: %+v %v", res, err)
	}
	if _, id, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: phone, Channel: "sms", Body: "Hello"}); err != nil || e.message(id).sid == nil {
		t.Fatalf("compose after START: %v", err)
	}
}

func TestReplyChecksDepartment(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	res, err := e.svc.ReceiveInbound(ctx, inbound("SM"+strings.Repeat("a", 32), "whatsapp:+15557654321", "whatsapp:+14155550100", "Hi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Reply(ctx, e.staffAcademics, res.ConversationID, messaging.ReplyInput{Body: "Not mine"}); !errors.Is(err, messaging.ErrForbidden) {
		t.Fatalf("reply by another department: %v, want ErrForbidden", err)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Fatalf("a forbidden reply reached the simulator")
	}
	if _, _, err := e.svc.Reply(ctx, e.staffAdmissions, res.ConversationID, messaging.ReplyInput{Body: ""}); !errors.As(err, new(messaging.FieldErrors)) {
		t.Fatalf("empty reply: %v, want FieldErrors", err)
	}
	_, id, err := e.svc.Reply(ctx, e.staffAdmissions, res.ConversationID, messaging.ReplyInput{Body: "Hello Maria"})
	if err != nil {
		t.Fatal(err)
	}
	m := e.message(id)
	sims := e.sim.Messages()
	if len(sims) != 1 || m.sid == nil || sims[0].SID != *m.sid || sims[0].From != "whatsapp:+14155550100" || sims[0].To != "whatsapp:+15557654321" {
		t.Fatalf("reply: stored %+v, simulator %+v", m, sims)
	}
}

func ptr(v int64) *int64 { return &v }

func TestCanSeeAndDepartmentScope(t *testing.T) {
	admin := db.User{ID: 1, Role: "admin"}
	staff12 := db.User{ID: 2, Role: "staff", DepartmentIDs: []int64{1, 2}}
	staffNil := db.User{ID: 3, Role: "staff"}
	staffEmpty := db.User{ID: 4, Role: "staff", DepartmentIDs: []int64{}}
	noRole := db.User{ID: 5, DepartmentIDs: []int64{1}}
	adminWithDeps := db.User{ID: 6, Role: "admin", DepartmentIDs: []int64{2}}

	cases := []struct {
		name string
		u    db.User
		dep  *int64
		want bool
	}{
		{"admin, a department", admin, ptr(1), true},
		{"admin, no department", admin, nil, true},
		{"admin with memberships, another department", adminWithDeps, ptr(1), true},
		{"staff, own department", staff12, ptr(2), true},
		{"staff, other department", staff12, ptr(3), false},
		{"staff, no department", staff12, nil, false},
		{"staff without departments (nil)", staffNil, ptr(1), false},
		{"staff without departments (nil), no department", staffNil, nil, false},
		{"staff without departments (empty)", staffEmpty, ptr(1), false},
		{"no role counts as staff", noRole, ptr(1), true},
		{"no role, other department", noRole, ptr(2), false},
	}
	for _, tc := range cases {
		if got := messaging.CanSee(tc.u, tc.dep); got != tc.want {
			t.Errorf("CanSee %s = %v, want %v", tc.name, got, tc.want)
		}
	}

	scopes := []struct {
		name string
		u    db.User
		want []int64 // nil: every department
	}{
		{"admin", admin, nil},
		{"admin with memberships", adminWithDeps, nil},
		{"staff", staff12, []int64{1, 2}},
		{"staff without departments (nil)", staffNil, []int64{}},
		{"staff without departments (empty)", staffEmpty, []int64{}},
		{"no role", noRole, []int64{1}},
	}
	for _, tc := range scopes {
		got := messaging.DepartmentScope(tc.u)
		if (got == nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("DepartmentScope %s = %#v, want %#v (nil means all departments)", tc.name, got, tc.want)
		}
	}
}

// The scope is what list queries filter with: staff without departments see
// nothing (an empty scope is not "all").
func TestDepartmentScopeFiltersConversations(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a, err := e.svc.ReceiveInbound(ctx, inbound("SM"+strings.Repeat("a", 32), "whatsapp:+15557650001", "whatsapp:+14155550100", "to admissions"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.ReceiveInbound(ctx, inbound("SM"+strings.Repeat("b", 32), "whatsapp:+15557650002", "whatsapp:+14155550101", "to academics"))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(u db.User) []int64 {
		t.Helper()
		convs, err := e.db.ListConversations(ctx, messaging.DepartmentScope(u), db.ConversationPage{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, c := range convs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	want := []int64{a.ConversationID, b.ConversationID}
	slices.Sort(want)
	for _, tc := range []struct {
		name string
		u    db.User
		want []int64
	}{
		{"admin", e.admin, want},
		{"admissions", e.staffAdmissions, []int64{a.ConversationID}},
		{"academics", e.staffAcademics, []int64{b.ConversationID}},
		{"finance", e.staffFinance, nil},
		{"no department", e.staffNone, nil},
	} {
		if got := ids(tc.u); !slices.Equal(got, tc.want) {
			t.Errorf("%s sees conversations %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An OFFLINE sender is never used, even when chosen explicitly.
func TestComposeRefusesOfflineSender(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE senders SET status = 'OFFLINE' WHERE id = $1`, e.waAdmissions.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.svc.Compose(context.Background(), e.admin, messaging.ComposeInput{To: "+1 555 010 4242", Channel: "whatsapp", Body: "Hi", SenderID: e.waAdmissions.ID})
	var fe messaging.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["sender"], "offline") {
		t.Fatalf("err = %v, want a sender field error saying it is offline", err)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Fatalf("an offline sender sent %d messages", n)
	}
}

// A reply in a conversation whose sender went OFFLINE is refused with the reason.
func TestReplyRefusesOfflineSender(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	parentConv := e.parentWrites("+15550104343", e.waAdmissions, "Hello from a parent") // opens the 24-hour window
	convID, _, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+1 555 010 4343", Channel: "whatsapp", Body: "Hi", SenderID: e.waAdmissions.ID})
	if err != nil {
		t.Fatal(err)
	}
	if convID != parentConv {
		t.Fatalf("composed into conversation %d, want the parent's %d", convID, parentConv)
	}
	if _, err := e.db.Pool.Exec(ctx, `UPDATE senders SET status = 'OFFLINE' WHERE id = $1`, e.waAdmissions.ID); err != nil {
		t.Fatal(err)
	}
	sent := len(e.sim.Messages())
	_, _, err = e.svc.Reply(ctx, e.admin, convID, messaging.ReplyInput{Body: "Are you there?"})
	var fe messaging.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["body"], "offline") {
		t.Fatalf("err = %v, want a body field error saying the number is offline", err)
	}
	if got := len(e.sim.Messages()); got != sent {
		t.Fatalf("an offline sender sent %d more messages", got-sent)
	}
}
