package messaging_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/internal/policy"
)

// clock is a settable clock for the service.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) set(t time.Time) { c.t.Store(&t) }
func (c *clock) now() time.Time  { return *c.t.Load() }
func weekdays() policy.HoursInput {
	var in policy.HoursInput
	for i := range in.Days {
		in.Days[i] = policy.DayInput{Mode: policy.DayOpen, Open: "08:00", Close: "16:30"}
		if i >= 5 {
			in.Days[i] = policy.DayInput{Mode: policy.DayClosed}
		}
	}
	return in
}

// outOfHoursEnv is env with academics keeping weekday hours in London and
// an out-of-hours reply, and the service's clock in the test's hands.
func outOfHoursEnv(t *testing.T) (*env, *clock, *time.Location) {
	t.Helper()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.set(time.Date(2026, 1, 9, 18, 0, 0, 0, london)) // Friday evening
	e.svc.Now = c.now
	if err := e.db.SetSetting(ctx, messaging.SettingSchoolName, "Hillside Primary"); err != nil {
		t.Fatal(err)
	}
	ppl := &people.Service{DB: e.db}
	if err := ppl.SaveBusinessHours(ctx, e.admin, e.academics, weekdays(), "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	if err := ppl.SaveOutOfHoursReply(ctx, e.admin, e.academics, "{school} is closed; we answer from {opens}.", "Hillside Primary", "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	return e, c, london
}

func (e *env) answerOOH(p map[string]string, loc *time.Location) (messaging.Inbound, int64) {
	e.t.Helper()
	ctx := context.Background()
	res, err := e.svc.ReceiveInbound(ctx, p)
	if err != nil {
		e.t.Fatalf("ReceiveInbound(%q): %v", p["Body"], err)
	}
	if _, err := e.svc.AnswerKeyword(ctx, res); err != nil {
		e.t.Fatalf("AnswerKeyword(%q): %v", p["Body"], err)
	}
	id, err := e.svc.AnswerOutOfHours(ctx, res, loc)
	if err != nil {
		e.t.Fatalf("AnswerOutOfHours(%q): %v", p["Body"], err)
	}
	return res, id
}

func TestAnswerOutOfHoursOncePerClosedPeriod(t *testing.T) {
	e, clk, london := outOfHoursEnv(t)
	const parent = "+15557652001"
	to := "whatsapp:+14155550101"

	res, id := e.answerOOH(inbound(sid('a'), "whatsapp:"+parent, to, "Is the trip on Monday?"), london)
	if id == 0 {
		t.Fatal("a message on Friday evening got no out-of-hours reply")
	}
	m := e.autoMessage(id)
	if want := "Hillside Primary is closed; we answer from Monday at 08:00."; m.body != want {
		t.Errorf("reply %q, want %q", m.body, want)
	}
	if !m.automatic || m.sentBy != nil || m.conversationID != res.ConversationID || m.from != to {
		t.Errorf("reply automatic=%v sent_by=%v conversation %d from %s; want automatic, from the number written to, in conversation %d",
			m.automatic, m.sentBy, m.conversationID, m.from, res.ConversationID)
	}
	if m.sid == nil {
		t.Errorf("the reply was not submitted to Twilio (status %s)", m.status)
	}
	if n := e.count(`SELECT count(*) FROM conversations WHERE id = $1 AND waiting_since IS NOT NULL`, res.ConversationID); n != 1 {
		t.Error("the automatic reply stopped the conversation's waiting clock")
	}

	// Later the same evening, and on Sunday: the same closed period.
	clk.set(time.Date(2026, 1, 9, 23, 59, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('b'), "whatsapp:"+parent, to, "Hello?"), london); id != 0 {
		t.Errorf("a second message in the same closed period got reply %d", id)
	}
	clk.set(time.Date(2026, 1, 11, 12, 0, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('c'), "whatsapp:"+parent, to, "Anyone?"), london); id != 0 {
		t.Errorf("a Sunday message after Friday's reply got reply %d", id)
	}
	// A redelivered webhook changes nothing.
	clk.set(time.Date(2026, 1, 11, 12, 1, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('a'), "whatsapp:"+parent, to, "Is the trip on Monday?"), london); id != 0 {
		t.Errorf("a duplicate webhook got reply %d", id)
	}
	// Open: staff answer.
	clk.set(time.Date(2026, 1, 12, 8, 0, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('d'), "whatsapp:"+parent, to, "Good morning"), london); id != 0 {
		t.Errorf("a message at the opening minute got reply %d", id)
	}
	// Monday evening is the next closed period: one reply again.
	clk.set(time.Date(2026, 1, 12, 16, 30, 0, 0, london))
	_, id = e.answerOOH(inbound(sid('e'), "whatsapp:"+parent, to, "One more thing"), london)
	if id == 0 {
		t.Fatal("the next closed period got no reply")
	}
	if got := e.autoMessage(id).body; !strings.HasSuffix(got, "from Tuesday at 08:00.") {
		t.Errorf("Monday evening's reply %q, want it to name Tuesday at 08:00", got)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND automatic`, res.ConversationID); n != 2 {
		t.Errorf("%d automatic replies in the conversation, want 2", n)
	}
	// Keywords get their own answers, never the out-of-hours reply.
	clk.set(time.Date(2026, 1, 12, 20, 0, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('f'), "whatsapp:+15557652002", to, "HELP"), london); id != 0 {
		t.Errorf("HELP got the out-of-hours reply %d", id)
	}
	// The change was audited with before and after.
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'department.hours' AND subject = $1 AND after->'business_hours'->'days'->'mon'->0->>'open' = '08:00'`,
		"department:"+itoa(e.academics)); n != 1 {
		t.Errorf("hours audit entries: %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'department.out_of_hours_reply' AND before->>'out_of_hours_reply' = '' AND after->>'out_of_hours_reply' LIKE '{school}%'`); n != 1 {
		t.Errorf("reply audit entries: %d, want 1", n)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestAnswerOutOfHoursNeverToOptedOut(t *testing.T) {
	e, _, london := outOfHoursEnv(t)
	const parent = "+15557652003"
	to := "whatsapp:+14155550101"
	if _, id := e.answerOOH(inbound(sid('g'), "whatsapp:"+parent, to, "STOP"), london); id != 0 {
		t.Fatalf("STOP got the out-of-hours reply %d", id)
	}
	if _, id := e.answerOOH(inbound(sid('h'), "whatsapp:"+parent, to, "but what about the trip?"), london); id != 0 {
		t.Fatalf("an opted-out number got the out-of-hours reply %d", id)
	}
	// Only the STOP confirmation went out.
	if got := e.simMessagesTo("whatsapp:" + parent); len(got) != 1 || !strings.Contains(got[0].Body, "no longer receive") {
		t.Fatalf("simulator got %+v, want only the STOP answer", got)
	}
}

func TestAnswerOutOfHoursNothingToSend(t *testing.T) {
	e, _, london := outOfHoursEnv(t)
	ctx := context.Background()
	ppl := &people.Service{DB: e.db}
	// Admissions has no hours set: never out of hours, reply or not.
	if err := ppl.SaveOutOfHoursReply(ctx, e.admin, e.admissions, "Closed.", "Hillside Primary", ""); err != nil {
		t.Fatal(err)
	}
	if _, id := e.answerOOH(inbound(sid('i'), "whatsapp:+15557652004", "whatsapp:+14155550100", "hi"), london); id != 0 {
		t.Errorf("a department without hours replied %d", id)
	}
	// Academics without a reply text: nothing.
	if err := ppl.SaveOutOfHoursReply(ctx, e.admin, e.academics, "   ", "Hillside Primary", ""); err != nil {
		t.Fatal(err)
	}
	if _, id := e.answerOOH(inbound(sid('j'), "whatsapp:+15557652005", "whatsapp:+14155550101", "hi"), london); id != 0 {
		t.Errorf("an empty reply text was sent as %d", id)
	}
	// Too long a reply is refused next to the field.
	err := ppl.SaveOutOfHoursReply(ctx, e.admin, e.academics, strings.Repeat("x", 1001), "Hillside Primary", "")
	if fe, ok := err.(messaging.FieldErrors); !ok || !strings.Contains(fe["reply"], "1000") {
		t.Errorf("a 1001-character reply: %v", err)
	}
}

// TestAnswerOutOfHoursConcurrent: many messages of one conversation at the
// same moment get exactly one reply.
func TestAnswerOutOfHoursConcurrent(t *testing.T) {
	e, _, london := outOfHoursEnv(t)
	ctx := context.Background()
	const parent = "+15557652006"
	var results []messaging.Inbound
	for i := range 8 {
		res, err := e.svc.ReceiveInbound(ctx, inbound(sid(byte('k'+i)), "whatsapp:"+parent, "whatsapp:+14155550101", "message "+itoa(int64(i))))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	var wg sync.WaitGroup
	var sent atomic.Int32
	start := make(chan struct{})
	for _, res := range results {
		wg.Add(1)
		go func(res messaging.Inbound) {
			defer wg.Done()
			<-start
			id, err := e.svc.AnswerOutOfHours(ctx, res, london)
			if err != nil {
				t.Errorf("AnswerOutOfHours: %v", err)
			}
			if id != 0 {
				sent.Add(1)
			}
		}(res)
	}
	close(start)
	wg.Wait()
	if n := sent.Load(); n != 1 {
		t.Errorf("%d replies to 8 simultaneous messages, want 1", n)
	}
	if got := e.simMessagesTo("whatsapp:" + parent); len(got) != 1 {
		t.Errorf("simulator got %d replies, want 1", len(got))
	}
}

// A department closed every day answers once a day, not once ever; an
// archived department does not answer.
func TestAnswerOutOfHoursNeverOpenAndArchived(t *testing.T) {
	e, clk, london := outOfHoursEnv(t)
	ctx := context.Background()
	ppl := &people.Service{DB: e.db}
	var closed policy.HoursInput
	for i := range closed.Days {
		closed.Days[i] = policy.DayInput{Mode: policy.DayClosed}
	}
	if err := ppl.SaveBusinessHours(ctx, e.admin, e.academics, closed, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	const parent = "whatsapp:+15557652101"
	to := "whatsapp:+14155550101"
	if _, id := e.answerOOH(inbound(sid('n'), parent, to, "Hello"), london); id == 0 {
		t.Fatal("no reply from a department that never opens")
	}
	clk.set(time.Date(2026, 1, 9, 23, 30, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('o'), parent, to, "Hello again"), london); id != 0 {
		t.Errorf("a second reply the same day: %d", id)
	}
	clk.set(time.Date(2026, 1, 10, 9, 0, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('p'), parent, to, "Next day"), london); id == 0 {
		t.Error("no reply the next day")
	}
	if err := ppl.SetDepartmentArchived(ctx, e.admin, e.academics, true, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 1, 11, 9, 0, 0, 0, london))
	if _, id := e.answerOOH(inbound(sid('q'), parent, to, "Archived?"), london); id != 0 {
		t.Errorf("an archived department replied: %d", id)
	}
}
