package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/classline/classline/internal/messaging"
)

// Callbacks Twilio could not deliver are not sent again: a message whose
// status stood still for 10 minutes is asked about at Twilio and moves to
// what Twilio reports, kept as an event like a callback; recent, settled
// and twice-checked messages are not asked about.
func TestStaleStatusesCheckedAtTwilio(t *testing.T) {
	// No StatusCallback: every callback is "lost".
	e := newEnv(t, envOptions{stepDelay: 10 * time.Millisecond})
	ctx := context.Background()
	send := func(to string) (int64, string) {
		t.Helper()
		_, id, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: to, Channel: "sms", Body: "Lunch menu for next week is online.", SenderID: e.smsAdmissions.ID})
		if err != nil {
			t.Fatal(err)
		}
		m := e.message(id)
		if m.sid == nil {
			t.Fatalf("message %d has no SID", id)
		}
		return id, *m.sid
	}
	stale, staleSID := send("+15550501111")
	recent, _ := send("+15550502222")
	twice, _ := send("+15550503333")
	settled, _ := send("+15550504444")
	// Twilio's copies reach "delivered" while ours stay "queued".
	deadline := time.Now().Add(30 * time.Second)
	for {
		delivered := 0
		for _, m := range e.sim.Messages() {
			if m.Status == "delivered" {
				delivered++
			}
		}
		if delivered == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator delivered %d of 4", delivered)
		}
		time.Sleep(20 * time.Millisecond)
	}
	age := func(id int64, extra string) {
		t.Helper()
		if _, err := e.db.Pool.Exec(ctx, `UPDATE messages SET status_updated_at = now() - interval '11 minutes'`+extra+` WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	age(stale, "")
	age(twice, ", status_checks = 2")
	age(settled, ", status = 'delivered'")

	moved, err := e.svc.CheckStaleStatuses(ctx, 100)
	if err != nil || moved != 1 {
		t.Fatalf("CheckStaleStatuses: %d moved, %v; want 1", moved, err)
	}
	if st := e.message(stale).status; st != "delivered" {
		t.Errorf("stale message is %q, want delivered (as Twilio reports)", st)
	}
	for id, want := range map[int64]string{recent: "queued", twice: "queued"} {
		if st := e.message(id).status; st != want {
			t.Errorf("message %d is %q, want %q (not to be asked about)", id, st, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM message_events WHERE message_sid = $1 AND status = 'delivered' AND applied AND payload->>'Source' = 'status-check'`, staleSID); n != 1 {
		t.Errorf("%d status-check events for the stale message, want 1", n)
	}
	if n := e.count(`SELECT status_checks FROM messages WHERE id = $1`, recent); n != 0 {
		t.Errorf("the recent message was checked %d times", n)
	}
	// Settled now: a second round asks nothing.
	if moved, err := e.svc.CheckStaleStatuses(ctx, 100); err != nil || moved != 0 {
		t.Errorf("second round: %d moved, %v; want 0", moved, err)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE status_checks > 0 AND id <> ALL($1)`, []int64{stale, twice}); n != 0 {
		t.Errorf("%d other messages were asked about", n)
	}
}
