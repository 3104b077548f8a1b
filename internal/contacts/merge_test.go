package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/contacts"
)

// fixture is a database with an admin, a department and two senders.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	d      *db.DB
	svc    *contacts.Service
	admin  db.User
	wa, sm db.Sender
	sids   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	d := dbtest.New(t)
	f := &fixture{t: t, ctx: ctx, d: d, svc: contacts.New(d, "US")}
	var err error
	if f.admin, err = d.CreateUser(ctx, db.NewUser{Email: "admin@example.org", Name: "Admin", Role: "admin", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	dep, err := d.EnsureDepartment(ctx, "office", "Office")
	if err != nil {
		t.Fatal(err)
	}
	if f.wa, err = d.EnsureSender(ctx, "whatsapp", "+14155550100", "Office WhatsApp", &dep); err != nil {
		t.Fatal(err)
	}
	if f.sm, err = d.EnsureSender(ctx, "sms", "+14155550101", "Office SMS", &dep); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.d.Pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.d.Pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (f *fixture) contact(phone, name string) int64 {
	f.t.Helper()
	var id int64
	if err := f.d.Pool.QueryRow(f.ctx, `INSERT INTO contacts (phone, name) VALUES ($1, $2) RETURNING id`, phone, name).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) addPhone(contactID int64, phone string) {
	f.t.Helper()
	if _, err := f.svc.AddPhone(f.ctx, f.admin, contactID, contacts.PhoneInput{Phone: phone, Label: "work", WhatsApp: true}, "127.0.0.1"); err != nil {
		f.t.Fatalf("add %s to %d: %v", phone, contactID, err)
	}
}

// inbound stores a message from phone to sender through the same calls the
// webhook makes, and returns its conversation.
func (f *fixture) inbound(phone string, s db.Sender, body string) int64 {
	f.t.Helper()
	f.sids++
	var conv int64
	err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		contact, err := db.UpsertContactTx(f.ctx, tx, phone, "")
		if err != nil {
			return err
		}
		if conv, err = db.UpsertConversationOnTx(f.ctx, tx, contact, phone, s); err != nil {
			return err
		}
		_, _, err = db.InsertInboundTx(f.ctx, tx, db.NewInbound{ConversationID: conv, Channel: s.Channel, From: phone, To: s.Address,
			Body: body, TwilioSID: fmt.Sprintf("SM%032d", f.sids)})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return conv
}

func (f *fixture) outbound(conv int64, s db.Sender, to, body string) {
	f.t.Helper()
	err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		_, err := db.InsertOutboundTx(f.ctx, tx, db.NewOutbound{ConversationID: conv, Channel: s.Channel, From: s.Address, To: to, Body: body, SentBy: f.admin.ID})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) note(conv int64, body string) {
	f.t.Helper()
	err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		_, err := db.InsertNoteTx(f.ctx, tx, conv, f.admin.ID, "sms", body)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) convOf(id int64) (contactID int64, phone *string) {
	f.t.Helper()
	if err := f.d.Pool.QueryRow(f.ctx, `SELECT contact_id, phone FROM conversations WHERE id = $1`, id).Scan(&contactID, &phone); err != nil {
		f.t.Fatalf("conversation %d: %v", id, err)
	}
	return contactID, phone
}

// A merge moves conversations (folding the one both had with the same
// sender and number), numbers, groups and links, fills empty fields,
// reports custom field conflicts, and keeps every message, note and
// consent record; both contacts are audited.
func TestMergeMovesEverythingAndKeepsHistory(t *testing.T) {
	f := newFixture(t)
	const pa, pb, px = "+15550100001", "+15550100002", "+15550100009"
	ana := f.contact(pa, "Ana Ruiz")
	ben := f.contact(pb, "")
	f.exec(`UPDATE contacts SET custom_fields = '{"class": "7B", "house": "Red"}' WHERE id = $1`, ana)
	f.exec(`UPDATE contacts SET language = 'es', preferred_channel = 'sms', custom_fields = '{"class": "8C", "student_name": "Leo", "student_id": 7}' WHERE id = $1`, ben)
	f.addPhone(ana, pb) // the duplicate: Ben's main number is Ana's work number
	f.addPhone(ben, px)

	// Ana: WhatsApp on her main number; SMS on the shared number.
	anaWA := f.inbound(pa, f.wa, "hola")
	f.outbound(anaWA, f.wa, pa, "hello Ana")
	// pb is Ben's main number, so inbound from it lands on Ben.
	benSMS := f.inbound(pb, f.sm, "ben sms 1")
	if c, _ := f.convOf(benSMS); c != ben {
		t.Fatalf("inbound from Ben's main number went to contact %d", c)
	}
	f.inbound(pb, f.sm, "ben sms 2")
	f.note(benSMS, "called him")
	// Ana's own SMS conversation on pb (started by staff from her page).
	var anaSMS int64
	if err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		var err error
		anaSMS, err = db.UpsertConversationOnTx(f.ctx, tx, ana, pb, f.sm)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f.outbound(anaSMS, f.sm, pb, "to ana at work")
	benWA := f.inbound(pb, f.wa, "ben wa")
	benX := f.inbound(px, f.wa, "from ben's other phone")
	if c, ph := f.convOf(benX); c != ben || ph == nil || *ph != px {
		t.Fatalf("inbound from Ben's secondary number: contact %d phone %v, want %d %s", c, ph, ben, px)
	}
	// Consent for Ben's numbers, and read marks.
	f.exec(`INSERT INTO consent_events (phone, purpose, opted_in, method) VALUES ($1, 'transactional', true, 'import'), ($1, 'marketing', false, 'keyword'), ($2, 'transactional', true, 'staff')`, pb, px)
	f.exec(`INSERT INTO conversation_reads (conversation_id, user_id, read_at) VALUES ($1, $3, now()), ($2, $3, now())`, anaSMS, benSMS, f.admin.ID)

	// Groups: both in Choir, only Ben in Trip.
	var choir, trip int64
	if err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		var err error
		if choir, err = db.CreateGroupTx(f.ctx, tx, "Choir", "static", db.SmartFilter{}); err != nil {
			return err
		}
		trip, err = db.CreateGroupTx(f.ctx, tx, "Trip", "static", db.SmartFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO group_members (group_id, contact_id) VALUES ($1, $3), ($1, $4), ($2, $4)`, choir, trip, ana, ben)
	// Links: both guardians of Cai (Ana's link has no relation yet), Ben of
	// Dee, and a link between Ana and Ben that would become a self-link.
	cai, dee := f.contact("+15550100003", "Cai"), f.contact("+15550100004", "Dee")
	f.exec(`INSERT INTO contact_links (guardian_id, student_id, relation) VALUES ($1, $3, ''), ($2, $3, 'father'), ($2, $4, 'father'), ($1, $2, 'spouse')`, ana, ben, cai, dee)

	messagesBefore := f.count(`SELECT count(*) FROM messages`)
	consentBefore := f.count(`SELECT count(*) FROM consent_events`)
	if messagesBefore != 8 || consentBefore != 3 {
		t.Fatalf("seeded %d messages and %d consent events", messagesBefore, consentBefore)
	}

	preview, err := f.svc.MergePreview(f.ctx, ana, ben)
	if err != nil {
		t.Fatal(err)
	}
	if preview.Messages != 5 || len(preview.Conversations) != 3 {
		t.Fatalf("preview: %d messages in %d conversations, want 5 in 3", preview.Messages, len(preview.Conversations))
	}
	folds := 0
	for _, c := range preview.Conversations {
		if c.IntoID != 0 {
			folds++
			if c.ID != benSMS || c.IntoID != anaSMS {
				t.Fatalf("fold %d into %d, want %d into %d", c.ID, c.IntoID, benSMS, anaSMS)
			}
		}
	}
	if folds != 1 {
		t.Fatalf("%d folds, want 1", folds)
	}
	if want := []db.CustomConflict{{Key: "class", Kept: "7B", Dropped: "8C"}}; !slices.Equal(preview.CustomConflicts, want) {
		t.Fatalf("conflicts %+v, want %+v", preview.CustomConflicts, want)
	}
	if f.count(`SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL`) != 0 {
		t.Fatal("the preview changed something")
	}

	plan, err := f.svc.Merge(f.ctx, f.admin, ana, ben, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Conversations) != 3 {
		t.Fatalf("merge reports %d conversations", len(plan.Conversations))
	}

	// History is whole.
	if n := f.count(`SELECT count(*) FROM messages`); n != messagesBefore {
		t.Fatalf("%d messages after the merge, want %d", n, messagesBefore)
	}
	if n := f.count(`SELECT count(*) FROM consent_events`); n != consentBefore {
		t.Fatalf("%d consent events after the merge, want %d", n, consentBefore)
	}
	if n := f.count(`SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, ana); n != messagesBefore {
		t.Fatalf("Ana has %d messages, want all %d", n, messagesBefore)
	}
	// Conversations: Ben's SMS folded into Ana's (2 + 1 note + 1 = 4),
	// the others moved with their numbers.
	if n := f.count(`SELECT count(*) FROM conversations`); n != 4 {
		t.Fatalf("%d conversations, want 4 (one folded)", n)
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1`, benSMS); n != 0 {
		t.Fatal("the folded conversation still exists")
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE conversation_id = $1`, anaSMS); n != 4 {
		t.Fatalf("folded conversation has %d messages, want 4", n)
	}
	for conv, want := range map[int64]string{benWA: pb, benX: px, anaSMS: pb} {
		c, ph := f.convOf(conv)
		if c != ana || ph == nil || *ph != want {
			t.Errorf("conversation %d: contact %d phone %v, want %d %s", conv, c, ph, ana, want)
		}
	}
	if c, ph := f.convOf(anaWA); c != ana || ph != nil {
		t.Errorf("Ana's own conversation changed: %d %v", c, ph)
	}
	var lastMsg time.Time
	var lastIn *time.Time
	var waiting *time.Time
	if err := f.d.Pool.QueryRow(f.ctx, `SELECT last_message_at, last_inbound_at, waiting_since FROM conversations WHERE id = $1`, anaSMS).Scan(&lastMsg, &lastIn, &waiting); err != nil {
		t.Fatal(err)
	}
	var newest time.Time
	if err := f.d.Pool.QueryRow(f.ctx, `SELECT max(created_at) FROM messages WHERE conversation_id = $1`, anaSMS).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if lastIn == nil || lastMsg.Before(newest) {
		t.Errorf("folded conversation: last_message_at %v (newest message %v), last_inbound_at %v", lastMsg, newest, lastIn)
	}
	// Ben's texts came before Ana's answer? No: the answer was sent after
	// them, so nobody is waiting.
	if waiting != nil {
		t.Errorf("folded conversation waits since %v although staff answered last", waiting)
	}
	// Read marks: the admin had read both, so the merged one reads as read.
	if n := f.count(`SELECT count(*) FROM conversation_reads WHERE conversation_id = $1 AND user_id = $2`, anaSMS, f.admin.ID); n != 1 {
		t.Errorf("%d read marks on the folded conversation", n)
	}

	// Numbers: Ben's main and secondary numbers are Ana's secondary numbers.
	detail, err := f.d.ContactByID(f.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(detail.OtherPhones, []string{pb, px}) {
		t.Errorf("Ana's other numbers %v, want [%s %s]", detail.OtherPhones, pb, px)
	}
	if n := f.count(`SELECT count(*) FROM contact_phones WHERE contact_id = $1`, ben); n != 0 {
		t.Errorf("Ben keeps %d secondary numbers", n)
	}
	// Fields: Ana's kept, empty ones filled, custom fields united.
	if detail.Name != "Ana Ruiz" || detail.Language != "es" || detail.PreferredChannel != "sms" {
		t.Errorf("Ana after merge: %q %q %q", detail.Name, detail.Language, detail.PreferredChannel)
	}
	if want := map[string]string{"class": "7B", "house": "Red", "student_name": "Leo", "student_id": "7"}; fmt.Sprint(detail.CustomFields) != fmt.Sprint(want) {
		t.Errorf("custom fields %v, want %v", detail.CustomFields, want)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE id = $1 AND custom_fields->'student_id' = '7'::jsonb`, ana); n != 1 {
		t.Error("an imported number custom field was turned into text")
	}
	// Groups.
	if n := f.count(`SELECT count(*) FROM group_members WHERE contact_id = $1`, ana); n != 2 {
		t.Errorf("Ana is in %d groups, want 2", n)
	}
	if n := f.count(`SELECT count(*) FROM group_members WHERE contact_id = $1`, ben); n != 0 {
		t.Errorf("Ben is still in %d groups", n)
	}
	// Links: Cai once (relation filled), Dee moved, no self-link.
	type link struct {
		g, s int64
		rel  string
	}
	rows, err := f.d.Pool.Query(f.ctx, `SELECT guardian_id, student_id, relation FROM contact_links ORDER BY student_id`)
	if err != nil {
		t.Fatal(err)
	}
	links, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (link, error) {
		var l link
		return l, r.Scan(&l.g, &l.s, &l.rel)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []link{{ana, cai, "father"}, {ana, dee, "father"}}; !slices.Equal(links, want) {
		t.Errorf("links %v, want %v", links, want)
	}
	// Ben is merged; his page leads to Ana.
	if into, err := f.d.MergedInto(f.ctx, ben); err != nil || into != ana {
		t.Errorf("Ben merged into %d (%v), want %d", into, err, ana)
	}
	// Audit on both.
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'contact.merge' AND subject = $1 AND before ? 'other' AND after->'custom_conflicts' @> '[{"Key": "class"}]'`, fmt.Sprintf("contact:%d", ana)); n != 1 {
		t.Errorf("%d contact.merge audit entries with before/after", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'contact.merged_into' AND subject = $1`, fmt.Sprintf("contact:%d", ben)); n != 1 {
		t.Errorf("%d contact.merged_into audit entries", n)
	}
	// Consent history of Ana covers Ben's numbers now.
	hist, err := f.d.ConsentHistory(f.ctx, append([]string{detail.Phone}, detail.OtherPhones...)...)
	if err != nil || len(hist) != 3 {
		t.Errorf("Ana's consent history: %d rows (%v), want 3", len(hist), err)
	}

	// After the merge, Ben's old main number resolves to Ana and continues
	// the conversation that moved.
	if conv := f.inbound(pb, f.wa, "still me"); conv != benWA {
		t.Errorf("inbound from %s after the merge went to conversation %d, want %d", pb, conv, benWA)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE merged_into IS NULL`); n != 3 {
		t.Errorf("%d unmerged contacts, want 3 (Ana, Cai, Dee)", n)
	}
	// A second merge of the same pair is refused.
	if _, err := f.svc.Merge(f.ctx, f.admin, ana, ben, ""); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("merging a merged contact again: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Merge(f.ctx, f.admin, ana, ana, ""); !errors.Is(err, db.ErrMergeSelf) {
		t.Errorf("merging a contact into itself: %v", err)
	}
}

// Two admins merging the same two contacts in opposite directions at the
// same moment: one merge happens, the other is refused, nothing deadlocks.
func TestMergeConcurrentOppositeDirections(t *testing.T) {
	f := newFixture(t)
	for round := range 5 {
		a := f.contact(fmt.Sprintf("+1555020%04d", round*2), "A")
		b := f.contact(fmt.Sprintf("+1555020%04d", round*2+1), "B")
		f.inbound(fmt.Sprintf("+1555020%04d", round*2), f.wa, "a")
		f.inbound(fmt.Sprintf("+1555020%04d", round*2+1), f.wa, "b")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]int64{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.svc.Merge(f.ctx, f.admin, pair[0], pair[1], "")
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, db.ErrNotFound):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d merges succeeded, want exactly 1 (%v)", round, ok, errs)
		}
		if n := f.count(`SELECT count(*) FROM contacts WHERE id IN ($1, $2) AND merged_into IS NULL`, a, b); n != 1 {
			t.Fatalf("round %d: %d of the pair unmerged", round, n)
		}
		if n := f.count(`SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
			WHERE ct.id IN ($1, $2) AND ct.merged_into IS NULL`, a, b); n != 2 {
			t.Fatalf("round %d: the survivor has %d messages, want 2", round, n)
		}
	}
}
