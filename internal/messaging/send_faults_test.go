package messaging_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// The Twilio faults, on the composer: 429s, 500s, connection resets
// before and after Twilio created the message, answers slower than our
// timeout, and creates that finish after we gave up. Every message ends
// sent exactly once (its SID recorded, its status that of Twilio's copy) or
// failed with its reason, and nothing Twilio sent is shown as failed.
func TestComposeExactlyOnceUnderTwilioFaults(t *testing.T) {
	e := newEnv(t, envOptions{
		stepDelay: 40 * time.Millisecond, callbacks: true, timeout: 600 * time.Millisecond,
		faults: &twiliosim.Config{
			RateLimitRate: 0.10, ServerErrorRate: 0.07, LostResponseRate: 0.07, ResetRate: 0.07,
			SlowResponseRate: 0.07, SlowResponseDelay: 2 * time.Second,
			LateCreateRate: 0.05, LateCreateDelay: 1200 * time.Millisecond,
		},
	})
	// Asked 3 s after the unanswered call: after every late create (1.2 s).
	e.svc.UnconfirmedGrace, e.svc.OrphanAfter = 3*time.Second, time.Hour
	ctx := context.Background()

	// 60 parents get one message each; 10 more get the same text three
	// times, so a message found at Twilio cannot be claimed twice.
	type send struct{ to, body string }
	var sends []send
	for i := range 60 {
		sends = append(sends, send{fmt.Sprintf("+1555020%04d", i), fmt.Sprintf("Reminder %d: the trip leaves at 8.", i)})
	}
	for i := range 10 {
		for range 3 {
			sends = append(sends, send{fmt.Sprintf("+1555021%04d", i), "Please reply YES if you can help on Friday."})
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ids  = map[int64]send{}
		work = make(chan send)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				_, id, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: s.to, Channel: "sms", Body: s.body, SenderID: e.smsAdmissions.ID})
				if err != nil {
					t.Errorf("compose to %s: %v", s.to, err)
					continue
				}
				mu.Lock()
				ids[id] = s
				mu.Unlock()
			}
		}()
	}
	for _, s := range sends {
		work <- s
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(ids) != len(sends) {
		t.Fatalf("%d messages stored for %d sends", len(ids), len(sends))
	}

	// The reconciler runs until nothing is left without an outcome.
	var found, missing int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f, m, err := e.svc.ReconcileUnsent(ctx)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		found, missing = found+f, missing+m
		left := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound' AND twilio_sid IS NULL AND status = 'queued'`)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still without an outcome after 2 minutes", left)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// What Twilio holds, by SID.
	atTwilio := map[string]twiliosim.Message{}
	for _, m := range e.sim.Messages() {
		if m.Direction == "outbound-api" {
			atTwilio[m.SID] = m
		}
	}
	sent, failed, refused := 0, 0, 0
	perPhoneOurs, perPhoneTwilio := map[string]int{}, map[string]int{}
	for id, s := range ids {
		m := e.message(id)
		switch {
		case m.sid != nil:
			sent++
			tm, ok := atTwilio[*m.sid]
			if !ok {
				t.Errorf("message %d has SID %s, which Twilio does not hold", id, *m.sid)
				continue
			}
			if tm.To != s.to || tm.Body != s.body {
				t.Errorf("message %d (to %s, %q) recorded as %s, which is to %s, %q", id, s.to, s.body, *m.sid, tm.To, tm.Body)
			}
			perPhoneOurs[s.to]++
		case m.status == "failed":
			failed++
			code := 0
			if m.code != nil {
				code = *m.code
			}
			// The reasons a message may fail here: Twilio stayed busy
			// through every retry, Twilio never got it, or Twilio refused
			// the number (the simulator's numbers ending 0001).
			if code == 21211 && strings.HasSuffix(s.to, "0001") {
				refused++
				continue
			}
			if !(code == 20429 || (code == 0 && strings.Contains(m.errMsg, "no record of this message"))) {
				t.Errorf("message %d failed with code %d %q: not a reason this test causes", id, code, m.errMsg)
			}
		default:
			t.Errorf("message %d ended %q without a SID", id, m.status)
		}
	}
	for _, tm := range atTwilio {
		perPhoneTwilio[tm.To]++
		if n := e.count(`SELECT count(*) FROM messages WHERE twilio_sid = $1`, tm.SID); n != 1 {
			t.Errorf("Twilio's message %s to %s is recorded %d times, want exactly once (sent but shown as failed, or twice)", tm.SID, tm.To, n)
		}
	}
	for phone, n := range perPhoneTwilio {
		want := 1
		if strings.HasPrefix(phone, "+1555021") {
			want = 3
		}
		if n > want {
			t.Errorf("%s received %d messages, at most %d were sent", phone, n, want)
		}
		if perPhoneOurs[phone] != n {
			t.Errorf("%s: Twilio holds %d messages, Classline records %d as sent", phone, n, perPhoneOurs[phone])
		}
	}
	if sent+failed != len(sends) || sent != len(atTwilio) {
		t.Errorf("%d sent + %d failed of %d; Twilio holds %d", sent, failed, len(sends), len(atTwilio))
	}

	// Every fault path was taken: answers lost and found again at Twilio,
	// and calls Twilio never completed, failed with their reason.
	results := map[string]int{}
	for _, r := range e.sendResults() {
		results[r]++
	}
	if results["sms unconfirmed"] == 0 || found == 0 || missing == 0 || refused == 0 {
		t.Errorf("fault paths not all taken: %v, %d found at Twilio, %d missing, %d refused", results, found, missing, refused)
	}

	// Statuses: callbacks that came while a SID was unknown were kept and
	// applied when the message was found, so each ends as Twilio's copy.
	simStatus := func(sid string) string {
		for _, m := range e.sim.Messages() {
			if m.SID == sid {
				return m.Status
			}
		}
		return ""
	}
	deadline = time.Now().Add(time.Minute)
	for id := range ids {
		m := e.message(id)
		if m.sid == nil {
			continue
		}
		for {
			want := simStatus(*m.sid)
			m = e.message(id)
			if m.status == want {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("message %d (%s) is %q, Twilio says %q", id, *m.sid, m.status, want)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d sends: %d sent, %d failed; %d unanswered calls: %d found at Twilio, %d not there; results %v",
		len(sends), sent, failed, results["sms unconfirmed"], found, missing, results)
}

// A process that died between storing a message and recording Twilio's
// answer leaves it queued without a SID. Once it is older than any send
// can take, Twilio is asked: the one Twilio holds gets its SID, the one it
// never got is failed with the reason, and a send still under way (a
// recent message) is left alone.
func TestReconcileOrphanedSends(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	convID, _, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+15550301234", Channel: "sms", Body: "Hello", SenderID: e.smsAdmissions.ID})
	if err != nil {
		t.Fatal(err)
	}
	const from, to = "+14155550199", "+15550301234"
	// What the dead process had got as far as: Twilio holds the first.
	if _, err := e.svc.Gateway.SendMessage(ctx, twilio.SendRequest{From: from, To: to, Body: "Orphan Twilio has"}); err != nil {
		t.Fatal(err)
	}
	insert := func(body, age string) int64 {
		var id int64
		err := e.db.Pool.QueryRow(ctx, `INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, status, created_at)
			VALUES ($1, 'outbound', 'sms', $2, $3, $4, 'queued', now() - $5::interval) RETURNING id`, convID, from, to, body, age).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	had := insert("Orphan Twilio has", "10 minutes")
	never := insert("Orphan Twilio never got", "10 minutes")
	inFlight := insert("Orphan Twilio has", "5 seconds")

	found, missing, err := e.svc.ReconcileUnsent(ctx)
	if err != nil || found != 1 || missing != 1 {
		t.Fatalf("reconcile: %d found, %d missing, %v; want 1, 1", found, missing, err)
	}
	if m := e.message(had); m.sid == nil || m.status != "queued" || m.errMsg != "" {
		t.Errorf("the message Twilio holds: sid %v, status %q, %q; want its SID recorded", m.sid, m.status, m.errMsg)
	}
	if m := e.message(never); m.sid != nil || m.status != "failed" || !strings.Contains(m.errMsg, "no record") {
		t.Errorf("the message Twilio never got: sid %v, status %q, %q; want failed with the reason", m.sid, m.status, m.errMsg)
	}
	if m := e.message(inFlight); m.sid != nil || m.status != "queued" || m.errMsg != "" {
		t.Errorf("a send under way was touched: sid %v, status %q, %q", m.sid, m.status, m.errMsg)
	}
	// Settled once: a second run finds nothing to do.
	if f, m, err := e.svc.ReconcileUnsent(ctx); err != nil || f+m != 0 {
		t.Errorf("second reconcile: %d found, %d missing, %v; want nothing", f, m, err)
	}
}
