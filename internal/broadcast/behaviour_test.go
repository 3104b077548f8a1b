package broadcast_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twiliosim"
)

// contact adds one contact and returns its id.
func (e *env) contact(phone, name string, whatsapp bool) int64 {
	e.t.Helper()
	var id int64
	e.must(e.db.Pool.QueryRow(e.ctx, `INSERT INTO contacts (phone, name, whatsapp_capable) VALUES ($1, $2, $3) RETURNING id`,
		phone, name, whatsapp).Scan(&id))
	return id
}

// template stores the simulator's sample approved template in the library.
func (e *env) template() int64 {
	e.t.Helper()
	var id int64
	e.must(e.db.InTx(e.ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.InsertTemplateTx(e.ctx, tx, db.NewTemplate{ContentSID: twiliosim.SampleTemplateSID, FriendlyName: "school_office_message",
			LogicalName: "school_office_message", Language: "en", Category: "UTILITY", CreatedBy: e.admin.ID,
			Types: []byte(`{"twilio/text":{"body":"Hello {{1}}, this is a message from the school office about {{2}}."}}`)})
		if err != nil {
			return err
		}
		_, err = tx.Exec(e.ctx, `UPDATE templates SET approval_status = 'approved' WHERE id = $1`, id)
		return err
	}))
	return id
}

func (e *env) recipients(id int64) map[string]db.Recipient {
	e.t.Helper()
	rows, err := e.db.Pool.Query(e.ctx, `SELECT id FROM broadcast_recipients WHERE broadcast_id = $1 ORDER BY id`, id)
	e.must(err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	e.must(err)
	out := map[string]db.Recipient{}
	for _, rid := range ids {
		r, err := e.db.RecipientByID(e.ctx, rid)
		e.must(err)
		key := r.Phone
		if r.FallbackOf != nil {
			key += " fallback"
		} else if r.State == "skipped" && r.SkipReason == broadcast.SkipDuplicateNumber {
			key += " duplicate"
		}
		out[key] = r
	}
	return out
}

func fastConfig() broadcast.Config {
	return broadcast.Config{RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, SweepEvery: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond}
}

// Each recipient gets its channel by the rule, and everyone left out is
// kept as a row with the reason: opted out, invalid, duplicate.
func TestChannelRuleAndSkipReasons(t *testing.T) {
	e := newEnv(t, envOptions{})
	tpl := e.template()
	wa := e.contact("+14155557005", "Ana Díaz", true)
	sms := e.contact("+14155557015", "Ben Okafor", false)
	stop := e.contact("+14155557025", "Cy Stop", true)
	e.must(e.db.InTx(e.ctx, func(tx pgx.Tx) error {
		return db.InsertConsentTx(e.ctx, tx, db.ConsentEvent{Phone: "+14155557025", Purpose: policy.PurposeTransactional, OptedIn: false, Method: "keyword", Source: "STOP"})
	}))
	spec := broadcast.Spec{
		Audience: broadcast.Audience{ContactIDs: []int64{wa, sms, stop}, Entries: []broadcast.Entry{
			{Phone: "not a number", Line: 2}, {Phone: "(415) 555-7005", Line: 3}, {Phone: "415 555 7035", Name: "New parent", Line: 4}}},
		Content: broadcast.Content{Mode: broadcast.ModeWhatsAppThenSMS, TemplateID: tpl,
			VariableFields: map[string]string{"1": "first_name"}, VariableValues: map[string]string{"1": "parent", "2": "tomorrow's snow day"},
			SMSBody: "{{first_name}}: school is closed tomorrow (snow)."},
	}
	id := e.broadcast("Snow day", spec, false)
	eng := e.start(fastConfig())
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", time.Minute)

	rs := e.recipients(id)
	want := map[string]struct{ state, channel, reason string }{
		"+14155557005":           {"submitted", "whatsapp", ""},
		"+14155557015":           {"submitted", "sms", ""},
		"+14155557025":           {"skipped", "sms", policy.SkipOptedOut},
		"not a number":           {"skipped", "sms", broadcast.SkipInvalidNumber},
		"+14155557005 duplicate": {"skipped", "sms", broadcast.SkipDuplicateNumber},
		"+14155557035":           {"submitted", "whatsapp", ""},
	}
	if len(rs) != len(want) {
		t.Fatalf("recipients %v, want %d rows", keys(rs), len(want))
	}
	for k, w := range want {
		r := rs[k]
		if r.State != w.state || r.Channel != w.channel || r.SkipReason != w.reason {
			t.Errorf("%s: %s on %s (%q), want %s on %s (%q)", k, r.State, r.Channel, r.SkipReason, w.state, w.channel, w.reason)
		}
	}
	if b := rs["+14155557005"].Body; b != "Hello Ana, this is a message from the school office about tomorrow's snow day." {
		t.Errorf("WhatsApp body %q: want variable 1 from the first name, 2 fixed", b)
	}
	if b := rs["+14155557035"].Body; !strings.HasPrefix(b, "Hello New, ") {
		t.Errorf("typed number's body %q: want the typed name's first word", b)
	}
	if b := rs["+14155557015"].Body; b != "Ben: school is closed tomorrow (snow)." {
		t.Errorf("SMS body %q", b)
	}
	at := map[string]twiliosim.Message{}
	for _, m := range e.sim.Messages() {
		at[m.To] = m
	}
	if len(at) != 3 || at["whatsapp:+14155557005"].ContentSID != twiliosim.SampleTemplateSID || at["+14155557015"].Body == "" || at["whatsapp:+14155557035"].SID == "" {
		t.Errorf("simulator got %v", at)
	}
	if c := e.counts(id); c["skipped"] != 3 || c["queued"] != 3 {
		t.Errorf("counts %v, want 3 skipped and 3 queued", c)
	}
	// The reply to a broadcast lands in a conversation marked with it.
	var marked int
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM conversations WHERE last_broadcast_id = $1 AND status = 'closed'`, id).Scan(&marked))
	if marked != 3 {
		t.Errorf("%d conversations marked with the broadcast (closed until a reply), want 3", marked)
	}

	// The same audience for marketing: nobody consented to marketing.
	spec.Audience.Entries = nil
	id2 := e.broadcast("Bake sale", spec, false)
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE broadcasts SET purpose = 'marketing' WHERE id = $1`, id2)
	e.must(err)
	e.must(eng.Launch(e.ctx, id2, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id2, "completed", time.Minute)
	for k, r := range e.recipients(id2) {
		if wantReason := map[string]string{"+14155557025": policy.SkipOptedOut}[k]; r.State != "skipped" ||
			(wantReason != "" && r.SkipReason != wantReason) || (wantReason == "" && r.SkipReason != policy.SkipNoMarketingConsent) {
			t.Errorf("marketing %s: %s (%s)", k, r.State, r.SkipReason)
		}
	}

	// WhatsApp only: the SMS-only contact is skipped for it.
	spec.Content.Mode = broadcast.ModeWhatsApp
	id3 := e.broadcast("WhatsApp only", spec, false)
	e.must(eng.Launch(e.ctx, id3, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id3, "completed", time.Minute)
	if r := e.recipients(id3)["+14155557015"]; r.State != "skipped" || r.SkipReason != broadcast.SkipNoWhatsApp {
		t.Errorf("SMS-only contact in a WhatsApp-only broadcast: %s (%s)", r.State, r.SkipReason)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Quiet hours hold a normal broadcast back; an urgent one goes, audited.
func TestQuietHoursHoldAndUrgentPasses(t *testing.T) {
	e := newEnv(t, envOptions{})
	gid := e.contacts(5, func(int) bool { return false })
	spec := broadcast.Spec{Audience: broadcast.Audience{GroupIDs: []int64{gid}}, Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Reminder"}}
	normal := e.broadcast("Reminder", spec, false)
	urgent := e.broadcast("Lockdown drill moved", spec, true)
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 1000`)
	e.must(err)

	// Quiet hours from an hour ago to an hour from now, in the school's zone.
	now := time.Now().UTC()
	e.must(e.db.InTx(e.ctx, func(tx pgx.Tx) error {
		return db.SetQuietHoursTx(e.ctx, tx, policy.QuietHours{Enabled: true, Start: now.Add(-time.Hour).Format("15:04"), End: now.Add(time.Hour).Format("15:04")})
	}))
	eng := &broadcast.Engine{DB: e.db, Gateway: e.gw, DefaultRegion: "US", QuietUntil: broadcast.QuietFromSettings(e.db, time.UTC)}
	eng, err = broadcast.New(eng, fastConfig())
	e.must(err)
	e.must(eng.Start(e.ctx))
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })

	e.must(eng.Launch(e.ctx, normal, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.must(eng.Launch(e.ctx, urgent, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(urgent, "completed", time.Minute)

	deadline := time.Now().Add(10 * time.Second)
	var b db.Broadcast
	for {
		b, err = e.db.BroadcastByID(e.ctx, normal)
		e.must(err)
		if b.HeldUntil != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b.Status != "running" || b.HeldUntil == nil || b.HeldUntil.Sub(now.Add(time.Hour)) > time.Minute || now.Add(time.Hour).Sub(*b.HeldUntil) > time.Minute {
		t.Fatalf("normal broadcast: %s, held until %v; want running, held until quiet hours end (~%s)", b.Status, b.HeldUntil, now.Add(time.Hour))
	}
	if c := e.counts(normal); c["pending"] != 5 {
		t.Errorf("normal broadcast counts %v, want all 5 pending", c)
	}
	if c := e.counts(urgent); c["queued"] != 5 {
		t.Errorf("urgent broadcast counts %v, want 5 sent", c)
	}
	var audited int
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE action = 'broadcast.quiet_hours_bypassed' AND subject = $1`,
		"broadcast:"+itoa(urgent)).Scan(&audited))
	if audited != 1 {
		t.Errorf("%d audit rows for the urgent broadcast passing quiet hours, want 1", audited)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// An urgent WhatsApp broadcast falls back to SMS for those whose WhatsApp
// message failed or was not delivered in time, counted apart. No status
// callbacks run here: the test says which message was delivered, so the
// simulator's timing cannot decide the outcome.
func TestUrgentFallbackToSMS(t *testing.T) {
	e := newEnv(t, envOptions{})
	tpl := e.template()
	ok := e.contact("+14155557045", "Dee", true)
	failing := e.contact("+14155550001", "Eve", true) // the simulator refuses …0001 at once (21211)
	slow := e.contact("+14155557055", "Fay", true)
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 1000`)
	e.must(err)
	id := e.broadcast("School closed", broadcast.Spec{
		Audience: broadcast.Audience{ContactIDs: []int64{ok, failing, slow}},
		Content: broadcast.Content{Mode: broadcast.ModeWhatsAppThenSMS, TemplateID: tpl, VariableValues: map[string]string{"1": "parent", "2": "the closure"},
			SMSBody: "School is closed today.", FallbackMinutes: 5},
	}, true)
	eng := e.start(fastConfig())
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))

	// The failed one falls back at once.
	deadline := time.Now().Add(30 * time.Second)
	for r := e.recipients(id)["+14155550001 fallback"]; r.State == "" || r.State == "pending" || r.State == "sending"; r = e.recipients(id)["+14155550001 fallback"] {
		if time.Now().After(deadline) {
			t.Fatalf("no SMS fallback for the failed WhatsApp message: %v", e.recipients(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for e.counts(id)["queued"] < 2 {
		time.Sleep(20 * time.Millisecond)
	}
	// Within the wait nothing else falls back, and the broadcast waits.
	time.Sleep(300 * time.Millisecond)
	if b, err := e.db.BroadcastByID(e.ctx, id); err != nil || b.Status != "running" {
		t.Fatalf("broadcast %s (%v) while two WhatsApp messages may still be delivered, want running", b.Status, err)
	}
	// Dee's message is delivered; Fay's is still not, five minutes on.
	_, err = e.db.Pool.Exec(e.ctx, `UPDATE messages SET status = 'delivered' WHERE to_address = 'whatsapp:+14155557045'`)
	e.must(err)
	_, err = e.db.Pool.Exec(e.ctx, `UPDATE broadcast_recipients SET submitted_at = now() - interval '6 minutes' WHERE phone = '+14155557055'`)
	e.must(err)
	e.waitStatus(id, "completed", 30*time.Second)

	rs := e.recipients(id)
	if _, fb := rs["+14155557045 fallback"]; fb {
		t.Errorf("a delivered WhatsApp message got an SMS fallback")
	}
	if r := rs["+14155557055 fallback"]; r.State != "submitted" || r.Channel != "sms" || r.Body != "School is closed today." {
		t.Errorf("Fay's fallback: %+v, want an SMS sent", r)
	}
	if r := rs["+14155550001 fallback"]; r.Channel != "sms" || r.FallbackOf == nil || *r.FallbackOf != rs["+14155550001"].ID {
		t.Errorf("Eve's fallback: %+v, want an SMS row pointing at her WhatsApp row", r)
	}
	cs, err := e.db.BroadcastCounts(e.ctx, id)
	e.must(err)
	fallbacks := 0
	for _, c := range cs {
		if c.Fallback {
			fallbacks += c.N
		}
	}
	if fallbacks != 2 {
		t.Errorf("counts %+v: want 2 fallbacks counted apart", cs)
	}
}

// Many failures in a row pause the broadcast with the reason; cancel then
// stops the rest for good.
func TestAutoPauseAndCancel(t *testing.T) {
	e := newEnv(t, envOptions{})
	var ids []int64
	for i := range 40 {
		ids = append(ids, e.contact("+1415555"+pad4(i), "Bad "+itoa(int64(i)), false))
	}
	// …0001 is refused by the simulator with 21211: make most numbers that.
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE contacts SET phone = '+1415' || lpad(id::text, 3, '0') || '0001' WHERE name LIKE 'Bad %'`)
	e.must(err)
	_, err = e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 20`)
	e.must(err)
	id := e.broadcast("Wrong list", broadcast.Spec{Audience: broadcast.Audience{ContactIDs: ids},
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Hello"}}, false)
	cfg := fastConfig()
	cfg.AutoPauseWindow, cfg.AutoPauseRatio = 10, 0.5
	eng := e.start(cfg)
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	b := e.waitStatus(id, "paused", 30*time.Second)
	if !strings.Contains(b.PausedReason, "21211") || !strings.Contains(b.PausedReason, "Paused by itself") {
		t.Errorf("paused reason %q: want the count and the error", b.PausedReason)
	}
	e.settle(id)
	c := e.counts(id)
	if c["failed"] < 10 || c["pending"] == 0 {
		t.Errorf("at the auto-pause: %v; want at least 10 failed and the rest pending", c)
	}
	e.must(eng.Cancel(e.ctx, id, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "canceled", time.Second)
	c2 := e.counts(id)
	if c2["pending"] != 0 || c2["canceled"] != c["pending"] || c2["failed"] != c["failed"] {
		t.Errorf("after cancel %v (before %v): want every pending one canceled", c2, c)
	}
	if err := eng.Resume(e.ctx, id, broadcast.Actor{}); err != broadcast.ErrWrongState {
		t.Errorf("resume a canceled broadcast: %v, want ErrWrongState", err)
	}
}

func pad4(i int) string { s := "000" + itoa(int64(i)+1000); return s[len(s)-4:] }

// Pause stops sending; resume sends the rest, each once.
func TestPauseResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	gid := e.contacts(30, func(int) bool { return false })
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 10`)
	e.must(err)
	id := e.broadcast("Slow", broadcast.Spec{Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Hi"}}, false)
	eng := e.start(fastConfig())
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	for e.counts(id)["queued"] < 5 {
		time.Sleep(20 * time.Millisecond)
	}
	e.must(eng.Pause(e.ctx, id, broadcast.Actor{UserID: &e.admin.ID}))
	e.settle(id)
	at := e.counts(id)["queued"]
	time.Sleep(700 * time.Millisecond)
	if later := e.counts(id)["queued"]; later != at || later >= 30 {
		t.Fatalf("paused broadcast went on sending: %d then %d", at, later)
	}
	e.must(eng.Resume(e.ctx, id, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", time.Minute)
	numbers := make([]string, 30)
	for i := range numbers {
		numbers[i] = phone(i)
	}
	e.exactlyOnce(id, numbers, "")
	var actions []string
	rows, err := e.db.Pool.Query(e.ctx, `SELECT action FROM audit_log WHERE subject = $1 ORDER BY id`, "broadcast:"+itoa(id))
	e.must(err)
	actions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	e.must(err)
	if strings.Join(actions, ",") != "broadcast.launched,broadcast.paused,broadcast.resumed" {
		t.Errorf("audit %v", actions)
	}
}

// "Retry transient failures" resends to those whose message went
// undelivered for a passing reason (30003, phone off), not to invalid numbers.
func TestRetryTransientFailures(t *testing.T) {
	e := newEnv(t, envOptions{sim: twiliosim.Config{StepDelay: 20 * time.Millisecond}, callbacks: true})
	off := e.contact("+14155550002", "Phone off", false)  // ends undelivered, 30003
	bad := e.contact("+14155560001", "Bad number", false) // refused, 21211
	good := e.contact("+14155557065", "Fine", false)
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 1000`)
	e.must(err)
	id := e.broadcast("Trip", broadcast.Spec{Audience: broadcast.Audience{ContactIDs: []int64{off, bad, good}},
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Trip tomorrow"}}, false)
	eng := e.start(fastConfig())
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", 30*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for e.counts(id)["undelivered"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("counts %v, want one undelivered", e.counts(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, err := eng.RetryTransient(e.ctx, id, broadcast.Actor{UserID: &e.admin.ID})
	e.must(err)
	if n != 1 {
		t.Fatalf("retried %d recipients, want 1 (the phone that was off; not the invalid number)", n)
	}
	e.waitStatus(id, "completed", 30*time.Second)
	sent := 0
	for _, m := range e.sim.Messages() {
		if m.To == "+14155550002" {
			sent++
		}
	}
	if sent != 2 {
		t.Errorf("%d messages to the phone that was off, want 2 (the first and the retry)", sent)
	}
	if r := e.recipients(id)["+14155560001"]; r.State != "failed" || r.ErrorCode == nil || *r.ErrorCode != 21211 {
		t.Errorf("invalid number: %+v", r)
	}
}

// settle waits until no send of the broadcast is in flight for a while:
// sends claimed as a pause lands (in the same instant) still finish.
func (e *env) settle(id int64) {
	e.t.Helper()
	quiet := 0
	for deadline := time.Now().Add(20 * time.Second); quiet < 5; time.Sleep(40 * time.Millisecond) {
		if e.counts(id)["sending"] == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("sends still in flight 20 s after a pause: %v", e.counts(id))
		}
	}
}
