package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twiliosim"
)

// autoMessage is an outbound message as the keyword answer left it.
type autoMessage struct {
	body, from, to, status string
	automatic              bool
	sentBy                 *int64
	sid                    *string
	conversationID         int64
}

func (e *env) autoMessage(id int64) autoMessage {
	e.t.Helper()
	var m autoMessage
	err := e.db.Pool.QueryRow(context.Background(), `SELECT body, from_address, to_address, status, automatic, sent_by, twilio_sid, conversation_id
		FROM messages WHERE id = $1 AND direction = 'outbound'`, id).Scan(&m.body, &m.from, &m.to, &m.status, &m.automatic, &m.sentBy, &m.sid, &m.conversationID)
	if err != nil {
		e.t.Fatalf("outbound message %d: %v", id, err)
	}
	return m
}

func (e *env) simMessagesTo(to string) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range e.sim.Messages() {
		if m.To == to && m.Direction != "inbound" {
			out = append(out, m)
		}
	}
	return out
}

// receive stores an inbound webhook and answers it as the webhook handler does.
func (e *env) receive(p map[string]string) (messaging.Inbound, int64) {
	e.t.Helper()
	ctx := context.Background()
	res, err := e.svc.ReceiveInbound(ctx, p)
	if err != nil {
		e.t.Fatalf("ReceiveInbound(%q): %v", p["Body"], err)
	}
	id, err := e.svc.AnswerKeyword(ctx, res)
	if err != nil {
		e.t.Fatalf("AnswerKeyword(%q): %v", p["Body"], err)
	}
	return res, id
}

func sid(c byte) string { return "SM" + strings.Repeat(string(c), 32) }

func TestAnswerKeywordWhatsAppStop(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	texts := messaging.AutoReplies{
		Stop:  "{school}: you are unsubscribed. Reply START to come back.",
		Start: "Welcome back to {school}.",
		Help:  "{school} office: 555 0100.",
	}
	if err := e.svc.SaveAutoReplyTexts(ctx, e.admin, "203.0.113.9", "Hillside Primary", texts); err != nil {
		t.Fatal(err)
	}
	const parent = "+15557651011"
	p := inbound(sid('1'), "whatsapp:"+parent, "whatsapp:+14155550101", "Stop")
	res, id := e.receive(p)
	if res.Keyword != policy.KeywordOptOut || id == 0 {
		t.Fatalf("STOP on WhatsApp: %+v, answer %d; want an answer", res, id)
	}
	m := e.autoMessage(id)
	if m.body != "Hillside Primary: you are unsubscribed. Reply START to come back." {
		t.Errorf("answer body %q", m.body)
	}
	if !m.automatic || m.sentBy != nil {
		t.Errorf("answer automatic=%v sent_by=%v, want automatic with sent_by NULL", m.automatic, m.sentBy)
	}
	if m.conversationID != res.ConversationID || m.from != "whatsapp:+14155550101" || m.to != "whatsapp:"+parent {
		t.Errorf("answer went %s -> %s in conversation %d, want the inbound's sender and conversation %d", m.from, m.to, m.conversationID, res.ConversationID)
	}
	if m.sid == nil {
		t.Fatalf("answer has no Twilio SID (status %s): it was not submitted", m.status)
	}
	got := e.simMessagesTo("whatsapp:" + parent)
	if len(got) != 1 || got[0].SID != *m.sid || got[0].Body != m.body || got[0].From != "whatsapp:+14155550101" {
		t.Fatalf("simulator got %+v, want the one answer %s", got, *m.sid)
	}
	// The answer does not undo the opt-out.
	if out, err := e.db.OptedOut(ctx, parent, policy.PurposeTransactional); err != nil || !out {
		t.Fatalf("OptedOut after the STOP answer = %v, %v", out, err)
	}
	// An automatic answer does not count as staff answering.
	var waiting bool
	if err := e.db.Pool.QueryRow(ctx, `SELECT waiting_since IS NOT NULL FROM conversations WHERE id = $1`, res.ConversationID).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if !waiting {
		t.Error("the automatic answer stopped the conversation's waiting clock")
	}

	// START and HELP get theirs, in the same conversation.
	res2, id2 := e.receive(inbound(sid('2'), "whatsapp:"+parent, "whatsapp:+14155550101", "START"))
	if id2 == 0 || e.autoMessage(id2).body != "Welcome back to Hillside Primary." || res2.ConversationID != res.ConversationID {
		t.Fatalf("START answer %d", id2)
	}
	if _, id3 := e.receive(inbound(sid('3'), "whatsapp:"+parent, "whatsapp:+14155550101", "help")); id3 == 0 || e.autoMessage(id3).body != "Hillside Primary office: 555 0100." {
		t.Fatalf("HELP answer %d", id3)
	}
	// An ordinary message is for staff.
	if _, id4 := e.receive(inbound(sid('4'), "whatsapp:"+parent, "whatsapp:+14155550101", "please stop the bus reminders")); id4 != 0 {
		t.Fatalf("an ordinary message was answered (%d)", id4)
	}
	if n := len(e.simMessagesTo("whatsapp:" + parent)); n != 3 {
		t.Errorf("simulator got %d answers, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'settings.update' AND user_id = $1 AND ip = '203.0.113.9'`, e.admin.ID); n != 1 {
		t.Errorf("settings audit entries: %d, want 1", n)
	}
}

func TestAnswerKeywordDefaults(t *testing.T) {
	e := newEnv(t, envOptions{})
	const parent = "+15557651022"
	_, id := e.receive(inbound(sid('5'), "whatsapp:"+parent, "whatsapp:+14155550100", "STOP"))
	if id == 0 {
		t.Fatal("STOP was not answered with the default text")
	}
	want := messaging.ExpandAutoReply(messaging.DefaultAutoReplies.Stop, messaging.DefaultSchoolName)
	if m := e.autoMessage(id); m.body != want || !strings.Contains(m.body, "the school") || strings.Contains(m.body, "{school}") {
		t.Errorf("default STOP answer %q, want %q", m.body, want)
	}
}

func TestAnswerKeywordSMSNeverAnswered(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i, body := range []string{"STOP", "START", "HELP"} {
		res, id := e.receive(inbound(sid(byte('a'+i)), "+15557651033", "+14155550199", body))
		if res.Keyword == policy.KeywordNone || id != 0 {
			t.Errorf("SMS %s: keyword %v, answer %d; Twilio answers SMS keywords itself", body, res.Keyword, id)
		}
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 0 {
		t.Errorf("%d outbound messages stored for SMS keywords", n)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Errorf("the simulator got %d messages", n)
	}
}

func TestAnswerKeywordDuplicateAnsweredOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	const parent = "+15557651044"
	p := inbound(sid('d'), "whatsapp:"+parent, "whatsapp:+14155550101", "STOP")
	if _, id := e.receive(p); id == 0 {
		t.Fatal("first delivery not answered")
	}
	for range 2 {
		res, id := e.receive(p) // Twilio redelivers after a timeout
		if !res.Duplicate || id != 0 {
			t.Fatalf("redelivery: %+v answered %d", res, id)
		}
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound' AND automatic`); n != 1 {
		t.Errorf("automatic answers stored: %d, want 1", n)
	}
	if n := len(e.simMessagesTo("whatsapp:" + parent)); n != 1 {
		t.Errorf("simulator got %d answers, want 1", n)
	}
}

func TestAnswerKeywordEmptyTextDisables(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	texts := messaging.DefaultAutoReplies
	texts.Stop = "  \n"
	if err := e.svc.SaveAutoReplyTexts(ctx, e.admin, "", "Hillside", texts); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.AutoReplyTexts(ctx)
	if err != nil || got.Stop != "" || got.Help != messaging.DefaultAutoReplies.Help {
		t.Fatalf("AutoReplyTexts = %+v, %v; want STOP empty, the others kept", got, err)
	}
	const parent = "+15557651055"
	if _, id := e.receive(inbound(sid('e'), "whatsapp:"+parent, "whatsapp:+14155550101", "STOP")); id != 0 {
		t.Fatalf("STOP answered (%d) with its text emptied", id)
	}
	if _, id := e.receive(inbound(sid('f'), "whatsapp:"+parent, "whatsapp:+14155550101", "HELP")); id == 0 {
		t.Fatal("HELP not answered; only STOP was disabled")
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != 1 {
		t.Errorf("outbound messages: %d, want only the HELP answer", n)
	}
}

func TestAnswerKeywordOfflineSender(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.db.Pool.Exec(ctx, `UPDATE senders SET status = 'OFFLINE' WHERE id = $1`, e.waAcademics.ID); err != nil {
		t.Fatal(err)
	}
	if _, id := e.receive(inbound(sid('g'), "whatsapp:+15557651066", "whatsapp:+14155550101", "HELP")); id != 0 {
		t.Fatalf("answered (%d) from a sender offline at Twilio", id)
	}
	if n := len(e.sim.Messages()); n != 0 {
		t.Errorf("the simulator got %d messages", n)
	}
}

func TestSaveAutoReplyTextsValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	// 1600 characters as typed, more once a long school name replaces {school}.
	long := strings.Repeat("a", messaging.MaxBodyLength-len(messaging.SchoolPlaceholder)) + messaging.SchoolPlaceholder
	cases := []struct {
		name   string
		school string
		texts  messaging.AutoReplies
		fields []string
	}{
		{"no school name", " ", messaging.DefaultAutoReplies, []string{"school_name"}},
		{"school name too long", strings.Repeat("x", messaging.SchoolNameMax+1), messaging.DefaultAutoReplies, []string{"school_name"}},
		{"too long", "Hillside", messaging.AutoReplies{Stop: strings.Repeat("é", messaging.MaxBodyLength+1)}, []string{"stop"}},
		{"too long once the name is in", strings.Repeat("x", messaging.SchoolNameMax), messaging.AutoReplies{Help: long}, []string{"help"}},
	}
	for _, c := range cases {
		err := e.svc.SaveAutoReplyTexts(ctx, e.admin, "", c.school, c.texts)
		var fe messaging.FieldErrors
		if !errors.As(err, &fe) || len(fe) != len(c.fields) {
			t.Errorf("%s: %v, want errors on %v", c.name, err, c.fields)
			continue
		}
		for _, f := range c.fields {
			if fe[f] == "" {
				t.Errorf("%s: no error on %s: %v", c.name, f, fe)
			}
		}
	}
	// Exactly at the limit is fine.
	if err := e.svc.SaveAutoReplyTexts(ctx, e.admin, "", "A", messaging.AutoReplies{Help: strings.Repeat("a", messaging.MaxBodyLength-1) + "{school}"}); err != nil {
		t.Errorf("1600 characters with the name: %v", err)
	}
	if err := e.svc.SaveAutoReplyTexts(ctx, e.staffAdmissions, "", "Hillside", messaging.DefaultAutoReplies); !errors.Is(err, messaging.ErrForbidden) {
		t.Errorf("staff saved settings: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM settings WHERE key = $1`, messaging.SettingSchoolName); n != 1 {
		t.Errorf("school name rows: %d", n)
	}
	var name string
	if _, err := e.db.GetSetting(ctx, messaging.SettingSchoolName, &name); err != nil || name != "A" {
		t.Errorf("school name %q, %v", name, err)
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var v struct{ A int }
	if found, err := e.db.GetSetting(ctx, "nothing-here", &v); found || err != nil {
		t.Fatalf("missing key: found=%v err=%v", found, err)
	}
	if err := e.db.SetSetting(ctx, "k", map[string]int{"A": 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetSetting(ctx, "k", map[string]int{"A": 2}); err != nil {
		t.Fatal(err)
	}
	if found, err := e.db.GetSetting(ctx, "k", &v); !found || err != nil || v.A != 2 {
		t.Fatalf("GetSetting = %v %v %+v", found, err, v)
	}
	if name, err := e.svc.SchoolName(ctx); err != nil || name != messaging.DefaultSchoolName {
		t.Errorf("SchoolName before any save = %q, %v", name, err)
	}
}
