package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
)

var inboundSeq atomic.Int64

// parentWrites delivers an inbound message from phone to a sender's number,
// as the webhook would, and returns the conversation.
func (e *env) parentWrites(phone string, to db.Sender, body string) int64 {
	e.t.Helper()
	prefix := ""
	if to.Channel == "whatsapp" {
		prefix = "whatsapp:"
	}
	res, err := e.svc.ReceiveInbound(context.Background(), map[string]string{
		"MessageSid": fmt.Sprintf("SM%032d", inboundSeq.Add(1)), "From": prefix + phone, "To": prefix + to.Address, "Body": body,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.ConversationID
}

func (e *env) inbox(u db.User, view string, mod func(*db.InboxQuery)) []int64 {
	e.t.Helper()
	q := db.InboxQuery{UserID: u.ID, Scope: messaging.DepartmentScope(u), View: view, Status: "open", Limit: 50}
	if mod != nil {
		mod(&q)
	}
	page, err := e.db.ListInbox(context.Background(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []int64
	for _, c := range page.Conversations {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestInboxViewsAssignCloseSnooze(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	now := time.Now()
	a := e.parentWrites("+15550001001", e.waAdmissions, "Admissions question")
	b := e.parentWrites("+15550001002", e.waAcademics, "Academics question")
	c := e.parentWrites("+15550001003", e.smsAdmissions, "Another admissions one")

	if got := e.inbox(e.staffAdmissions, db.ViewAll, nil); !equalIDs(got, c, a) {
		t.Fatalf("admissions staff sees %v, want [%d %d] newest first (not academics' %d)", got, c, a, b)
	}
	if got := e.inbox(e.admin, db.ViewAll, nil); !equalIDs(got, c, b, a) {
		t.Fatalf("admin sees %v, want all three", got)
	}

	// Assign to self: leaves Unassigned, enters Mine.
	if err := e.svc.Act(ctx, e.staffAdmissions, a, messaging.Action{Kind: "assign", AssigneeID: e.staffAdmissions.ID}, now); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(e.staffAdmissions, db.ViewMine, nil); !equalIDs(got, a) {
		t.Fatalf("mine = %v, want [%d]", got, a)
	}
	if got := e.inbox(e.staffAdmissions, db.ViewUnassigned, nil); !equalIDs(got, c) {
		t.Fatalf("unassigned = %v, want [%d]", got, c)
	}
	// Someone outside the department cannot be assigned, nor can an outsider act.
	var fe messaging.FieldErrors
	if err := e.svc.Act(ctx, e.admin, a, messaging.Action{Kind: "assign", AssigneeID: e.staffAcademics.ID}, now); !errors.As(err, &fe) {
		t.Fatalf("assigning academics staff to an admissions conversation: %v, want a field error", err)
	}
	if err := e.svc.Act(ctx, e.staffAcademics, a, messaging.Action{Kind: "close"}, now); !errors.Is(err, messaging.ErrForbidden) {
		t.Fatalf("academics staff closing admissions' conversation: %v, want ErrForbidden", err)
	}

	// Counts per view, per status.
	counts, err := e.db.CountInbox(ctx, e.staffAdmissions.ID, messaging.DepartmentScope(e.staffAdmissions), "open")
	if err != nil {
		t.Fatal(err)
	}
	if counts.All.Total != 2 || counts.Mine.Total != 1 || counts.Unassigned.Total != 1 || counts.Departments[e.admissions].Total != 2 || counts.All.Unread != 2 {
		t.Fatalf("counts %+v", counts)
	}

	// Close: gone from open, in closed; the contact writing reopens it.
	if err := e.svc.Act(ctx, e.staffAdmissions, a, messaging.Action{Kind: "close"}, now); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(e.staffAdmissions, db.ViewAll, func(q *db.InboxQuery) { q.Status = "closed" }); !equalIDs(got, a) {
		t.Fatalf("closed = %v, want [%d]", got, a)
	}
	e.parentWrites("+15550001001", e.waAdmissions, "Sorry, one more thing")
	if conv, _ := e.db.ConversationByID(ctx, a); conv.Status != "open" || conv.AssigneeID == nil {
		t.Fatalf("after the contact wrote: status %q assignee %v, want open and still assigned", conv.Status, conv.AssigneeID)
	}

	// Snooze: refused in the past, hidden until its time, woken after.
	if err := e.svc.Act(ctx, e.staffAdmissions, c, messaging.Action{Kind: "snooze", Until: now.Add(-time.Minute)}, now); !errors.As(err, &fe) {
		t.Fatalf("snooze in the past: %v, want a field error", err)
	}
	if err := e.svc.Act(ctx, e.staffAdmissions, c, messaging.Action{Kind: "snooze", Until: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(e.staffAdmissions, db.ViewAll, func(q *db.InboxQuery) { q.Status = "snoozed" }); !equalIDs(got, c) {
		t.Fatalf("snoozed = %v, want [%d]", got, c)
	}
	if n, err := e.svc.WakeSnoozed(ctx, now.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("wake before time: %d, %v", n, err)
	}
	if n, err := e.svc.WakeSnoozed(ctx, now.Add(61*time.Minute)); err != nil || n != 1 {
		t.Fatalf("wake after time: %d, %v; want 1", n, err)
	}
	if conv, _ := e.db.ConversationByID(ctx, c); conv.Status != "open" || conv.SnoozedUntil != nil {
		t.Fatalf("woken conversation: %q until %v", conv.Status, conv.SnoozedUntil)
	}
	// Every action is in the audit log.
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action LIKE 'conversation.%'`); n != 3 {
		t.Fatalf("%d audited actions, want 3 (assign, close, snooze)", n)
	}
}

func TestUnreadPerUserAndWaitingSort(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	first := e.parentWrites("+15550002001", e.waAdmissions, "First")
	time.Sleep(5 * time.Millisecond)
	second := e.parentWrites("+15550002002", e.waAdmissions, "Second")

	unread := func(u db.User, id int64) bool {
		t.Helper()
		page, err := e.db.ListInbox(ctx, db.InboxQuery{UserID: u.ID, Scope: messaging.DepartmentScope(u), View: db.ViewAll, Status: "open"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conversations {
			if c.ID == id {
				return c.Unread
			}
		}
		t.Fatalf("conversation %d not listed", id)
		return false
	}
	if err := e.svc.MarkRead(ctx, e.staffAdmissions, first); err != nil {
		t.Fatal(err)
	}
	if unread(e.staffAdmissions, first) || !unread(e.admin, first) {
		t.Fatal("read marks must be per user")
	}
	if err := e.svc.MarkRead(ctx, e.staffAcademics, first); !errors.Is(err, messaging.ErrForbidden) {
		t.Fatalf("marking another department's conversation read: %v", err)
	}

	// Waiting longest first; answering removes a conversation from the sort.
	if got := e.inbox(e.admin, db.ViewAll, func(q *db.InboxQuery) { q.Sort = db.SortWaiting }); !equalIDs(got, first, second) {
		t.Fatalf("waiting order %v, want [%d %d]", got, first, second)
	}
	if _, _, err := e.svc.Reply(ctx, e.staffAdmissions, first, messaging.ReplyInput{Body: "Answered"}); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(e.admin, db.ViewAll, func(q *db.InboxQuery) { q.Sort = db.SortWaiting }); !equalIDs(got, second) {
		t.Fatalf("waiting after an answer %v, want [%d]", got, second)
	}

	// Keyset pages: no row twice, none skipped.
	var all []int64
	var after *db.Cursor
	for range 5 {
		page, err := e.db.ListInbox(ctx, db.InboxQuery{UserID: e.admin.ID, View: db.ViewAll, Status: db.StatusAny, Limit: 1, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conversations {
			all = append(all, c.ID)
		}
		if page.Next == nil {
			break
		}
		after = db.ParseCursor(page.Next.String())
	}
	if !equalIDs(all, first, second) {
		t.Fatalf("paged one by one: %v, want [%d %d] (the answered one is newest)", all, first, second)
	}
}

func TestNotesArePrivateAndNeverSent(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	conv := e.parentWrites("+15550003001", e.waAdmissions, "Hello")
	before := len(e.sim.Messages())
	id, err := e.svc.AddNote(ctx, e.staffAdmissions, conv, "Mum called, wants a callback after 3pm")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.db.MessageByID(ctx, id)
	if err != nil || !m.IsNote || m.SentByName == "" {
		t.Fatalf("note stored as %+v, %v", m, err)
	}
	if len(e.sim.Messages()) != before {
		t.Fatal("a note reached Twilio")
	}
	if _, err := e.svc.AddNote(ctx, e.staffAcademics, conv, "peek"); !errors.Is(err, messaging.ErrForbidden) {
		t.Fatalf("note in another department: %v", err)
	}
	var fe messaging.FieldErrors
	if _, err := e.svc.AddNote(ctx, e.staffAdmissions, conv, "  "); !errors.As(err, &fe) {
		t.Fatalf("empty note: %v", err)
	}
	// A note neither stops the waiting clock nor shows as the last message.
	c, _ := e.db.ConversationByID(ctx, conv)
	if c.WaitingSince == nil || c.LastBody != "Hello" {
		t.Fatalf("after a note: waiting %v, last %q", c.WaitingSince, c.LastBody)
	}
}

func TestWhatsAppWindowEnforcedServerSide(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	// Never wrote: free text refused, nothing stored or sent.
	_, _, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+15550004001", Channel: "whatsapp", Body: "Hi", SenderID: e.waAdmissions.ID})
	var fe messaging.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["body"], "template") {
		t.Fatalf("compose outside the window: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM messages`); n != 0 || len(e.sim.Messages()) != 0 {
		t.Fatalf("%d messages stored, %d sent; want none", n, len(e.sim.Messages()))
	}
	// SMS has no window.
	if _, _, err := e.svc.Compose(ctx, e.admin, messaging.ComposeInput{To: "+15550004001", Channel: "sms", Body: "Hi", SenderID: e.smsAdmissions.ID}); err != nil {
		t.Fatalf("SMS: %v", err)
	}
	// Wrote 25 hours ago: closed; 23 hours ago: open.
	conv := e.parentWrites("+15550004002", e.waAdmissions, "Hello")
	e.svc.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if _, _, err := e.svc.Reply(ctx, e.staffAdmissions, conv, messaging.ReplyInput{Body: "Late answer"}); !errors.As(err, &fe) || !strings.Contains(fe["body"], "more than 24 hours") {
		t.Fatalf("reply after 25 h: %v", err)
	}
	e.svc.Now = func() time.Time { return time.Now().Add(23 * time.Hour) }
	if _, _, err := e.svc.Reply(ctx, e.staffAdmissions, conv, messaging.ReplyInput{Body: "In time"}); err != nil {
		t.Fatalf("reply after 23 h: %v", err)
	}
	// Switching to the SMS sender continues in the contact's SMS conversation.
	e.svc.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	smsConv, _, err := e.svc.Reply(ctx, e.staffAdmissions, conv, messaging.ReplyInput{Body: "By SMS then", SenderID: e.smsAdmissions.ID})
	if err != nil || smsConv == conv {
		t.Fatalf("reply by SMS: conversation %d (was %d), %v", smsConv, conv, err)
	}
	// A sender of another department cannot be borrowed.
	if _, _, err := e.svc.Reply(ctx, e.staffAdmissions, conv, messaging.ReplyInput{Body: "x", SenderID: e.waAcademics.ID}); !errors.As(err, &fe) || fe["sender"] == "" {
		t.Fatalf("reply from academics' sender: %v", err)
	}
}

func equalIDs(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestConcurrentActionsKeepEachOther: an assignment and a close made at the
// same moment (a and e pressed back to back) both hold; neither action
// writes back the other's fields as it read them before.
func TestConcurrentActionsKeepEachOther(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	now := time.Now()
	for i := range 15 {
		conv := e.parentWrites(fmt.Sprintf("+1555000%04d", 5000+i), e.waAdmissions, "Hello")
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, a := range []messaging.Action{{Kind: "assign", AssigneeID: e.staffAdmissions.ID}, {Kind: "close"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- e.svc.Act(ctx, e.staffAdmissions, conv, a, now)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := e.db.ConversationByID(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != "closed" || c.AssigneeID == nil {
			t.Fatalf("round %d: status %q, assignee %v: one action undid the other", i, c.Status, c.AssigneeID)
		}
	}
}
