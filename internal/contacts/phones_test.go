package contacts_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/contacts"
)

// upsert resolves a number the way an inbound message does.
func (f *fixture) upsert(phone string) (int64, error) {
	var id int64
	err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.UpsertContactTx(f.ctx, tx, phone, "")
		return err
	})
	return id, err
}

// Whose number is it: a main number wins over a secondary one, a secondary
// number finds its contact, anything else makes a new contact; and eight
// simultaneous messages agree.
func TestContactPhoneInboundResolution(t *testing.T) {
	f := newFixture(t)
	const main, shared, second, fresh = "+15550300001", "+15550300002", "+15550300003", "+15550300004"
	ana := f.contact(main, "Ana")
	ben := f.contact(shared, "Ben")
	f.addPhone(ana, shared) // main on Ben, secondary on Ana
	f.addPhone(ana, second)

	for phone, want := range map[string]int64{main: ana, shared: ben, second: ana} {
		got, err := f.upsert(phone)
		if err != nil || got != want {
			t.Errorf("%s resolves to %d (%v), want %d", phone, got, err, want)
		}
	}
	// Storms: a secondary number and a brand-new number, eight at once each.
	for _, phone := range []string{second, fresh} {
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i], errs[i] = f.upsert(phone)
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("%s: concurrent upserts gave %v (%v)", phone, ids, errs)
			}
		}
		if phone == second && ids[0] != ana {
			t.Fatalf("the secondary number resolved to %d, want Ana %d", ids[0], ana)
		}
	}
	if n := f.count(`SELECT count(*) FROM contacts`); n != 3 {
		t.Fatalf("%d contacts, want 3 (Ana, Ben, the new number)", n)
	}
	// A conversation on a secondary number keeps the number; one on the main
	// number stores NULL; asking for a conversation by number finds each.
	var onSecond, onMain int64
	err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		var err error
		if onSecond, err = db.UpsertConversationOnTx(f.ctx, tx, ana, second, f.wa); err != nil {
			return err
		}
		onMain, err = db.UpsertConversationOnTx(f.ctx, tx, ana, main, f.wa)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if onSecond == onMain {
		t.Fatal("one conversation for two numbers")
	}
	if _, ph := f.convOf(onMain); ph != nil {
		t.Fatalf("main-number conversation stores %q, want NULL", *ph)
	}
	for phone, want := range map[string]int64{second: onSecond, main: onMain} {
		c, err := f.d.ConversationFor(f.ctx, phone, f.wa.ID)
		if err != nil || c.ID != want || c.Contact.Phone != phone || c.Contact.ID != ana {
			t.Errorf("ConversationFor(%s) = %d %s (%v), want %d", phone, c.ID, c.Contact.Phone, err, want)
		}
	}
	// The shared number is Ben's main number: his conversation, not Ana's.
	if _, err := f.d.ConversationFor(f.ctx, shared, f.wa.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("ConversationFor(shared) before Ben wrote: %v, want not found", err)
	}
}

// Adding, removing and swapping numbers: errors by the field with plain
// words, the swap keeps each conversation on its number, and a number that
// is another contact's main number is refused with who has it.
func TestContactPhonesAddRemoveMakeMain(t *testing.T) {
	f := newFixture(t)
	const main, work, bens = "+15550400001", "+15550400002", "+15550400003"
	ana := f.contact(main, "Ana")
	ben := f.contact(bens, "Ben")

	for _, tc := range []struct {
		in   contacts.PhoneInput
		key  string
		text string
	}{
		{contacts.PhoneInput{Phone: "12"}, "new_phone", ""},
		{contacts.PhoneInput{Phone: "(555) 040-0001"}, "new_phone", "already this contact's main number"},
		{contacts.PhoneInput{Phone: "555 040 0002", Label: "pager"}, "new_phone_label", "mobile, home, work or other"},
	} {
		_, err := f.svc.AddPhone(f.ctx, f.admin, ana, tc.in, "")
		var fe contacts.FieldErrors
		if !errors.As(err, &fe) || fe[tc.key] == "" || (tc.text != "" && !bytes.Contains([]byte(fe[tc.key]), []byte(tc.text))) {
			t.Errorf("AddPhone(%+v): %v, want an error on %s", tc.in, err, tc.key)
		}
	}
	shared, err := f.svc.AddPhone(f.ctx, f.admin, ana, contacts.PhoneInput{Phone: "555-040-0002", Label: "work", WhatsApp: false}, "")
	if err != nil || len(shared) != 0 {
		t.Fatalf("add work number: %v %v", shared, err)
	}
	if _, err := f.svc.AddPhone(f.ctx, f.admin, ana, contacts.PhoneInput{Phone: work}, ""); err == nil {
		t.Fatal("the same number added twice")
	}
	// Ben's main number on Ana is allowed (a possible duplicate) and said.
	shared, err = f.svc.AddPhone(f.ctx, f.admin, ana, contacts.PhoneInput{Phone: bens, Label: "home", WhatsApp: true}, "")
	if err != nil || len(shared) != 1 || shared[0].Contact.ID != ben || !shared[0].Primary {
		t.Fatalf("adding Ben's number: %+v %v", shared, err)
	}
	phones, err := f.d.ContactPhones(f.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range phones {
		got = append(got, p.Phone+"/"+p.Label)
	}
	if want := []string{main + "/mobile", work + "/work", bens + "/home"}; !slices.Equal(got, want) {
		t.Fatalf("numbers %v, want %v", got, want)
	}
	if !phones[0].Primary || phones[1].WhatsAppCapable || len(phones[2].SharedWith) != 1 || phones[2].SharedWith[0].Contact.ID != ben {
		t.Fatalf("numbers: %+v", phones)
	}

	// Conversations on the main and the work number, then swap.
	var onMain, onWork int64
	err = f.d.InTx(f.ctx, func(tx pgx.Tx) error {
		var err error
		if onMain, err = db.UpsertConversationTx(f.ctx, tx, ana, f.sm); err != nil {
			return err
		}
		onWork, err = db.UpsertConversationOnTx(f.ctx, tx, ana, work, f.sm)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.MakeMain(f.ctx, f.admin, ana, work, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	var phone, label string
	var wa bool
	if err := f.d.Pool.QueryRow(f.ctx, `SELECT phone, phone_label, whatsapp_capable FROM contacts WHERE id = $1`, ana).Scan(&phone, &label, &wa); err != nil {
		t.Fatal(err)
	}
	if phone != work || label != "work" || wa {
		t.Fatalf("after the swap: %s %s %v", phone, label, wa)
	}
	if n := f.count(`SELECT count(*) FROM contact_phones WHERE contact_id = $1 AND phone = $2 AND label = 'mobile' AND whatsapp_capable`, ana, main); n != 1 {
		t.Fatal("the old main number is not a secondary number with its label")
	}
	for conv, want := range map[int64]string{onMain: main, onWork: work} {
		c, err := f.d.ConversationByID(f.ctx, conv)
		if err != nil || c.Contact.Phone != want {
			t.Errorf("conversation %d talks to %s (%v), want %s", conv, c.Contact.Phone, err, want)
		}
	}
	if _, ph := f.convOf(onWork); ph != nil {
		t.Error("the new main number's conversation should store NULL")
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action IN ('contact.phone_add', 'contact.phone_main') AND subject = $1`, "contact:"+strconv.FormatInt(ana, 10)); n != 3 {
		t.Errorf("%d audit entries for two adds and a swap", n)
	}

	// Ben's main number cannot become Ana's main number.
	err = f.svc.MakeMain(f.ctx, f.admin, ana, bens, "")
	var taken *contacts.MainNumberTakenError
	if !errors.As(err, &taken) || taken.Other.ID != ben || !bytes.Contains([]byte(taken.Error()), []byte("merge them")) {
		t.Fatalf("make Ben's number main: %v", err)
	}
	if n := f.count(`SELECT count(*) FROM contact_phones WHERE contact_id = $1 AND phone = $2`, ana, bens); n != 1 {
		t.Fatal("a refused swap lost the number")
	}
	// Remove: a secondary number goes (audited); the main number cannot.
	if err := f.svc.RemovePhone(f.ctx, f.admin, ana, main, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemovePhone(f.ctx, f.admin, ana, work, ""); !errors.Is(err, db.ErrPhoneNotListed) {
		t.Fatalf("removing the main number: %v", err)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'contact.phone_remove' AND before->>'phone' = $1`, main); n != 1 {
		t.Error("removal not audited")
	}
	// The removed number's conversation keeps it (history, and replies).
	if c, err := f.d.ConversationByID(f.ctx, onMain); err != nil || c.Contact.Phone != main {
		t.Errorf("conversation on a removed number: %s %v", c.Contact.Phone, err)
	}
	// A staff-recorded consent for a secondary number; a stranger's refused.
	if err := f.svc.RecordConsent(f.ctx, f.admin, ana, contacts.ConsentInput{Phone: bens, Purpose: "marketing", OptedIn: "in", Reason: "form"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RecordConsent(f.ctx, f.admin, ana, contacts.ConsentInput{Phone: "+15550499999", Purpose: "marketing", OptedIn: "in", Reason: "form"}, ""); err == nil {
		t.Fatal("consent recorded for a number the contact does not have")
	}
	if n := f.count(`SELECT count(*) FROM consent_events WHERE phone = $1 AND method = 'staff'`, bens); n != 1 {
		t.Fatal("consent for the secondary number not in the ledger")
	}
}

// The duplicates list: numbers several unmerged contacts share, the
// main-number holder first; merged contacts and unshared numbers are not
// listed; search finds a contact by a secondary number; exports list them.
func TestContactDuplicatesSearchExport(t *testing.T) {
	f := newFixture(t)
	ana := f.contact("+15550500001", "Ana")
	ben := f.contact("+15550500002", "Ben")
	cai := f.contact("+15550500003", "Cai")
	dee := f.contact("+15550500004", "Dee")
	f.addPhone(ana, "+15550500002")            // Ben's main number
	f.addPhone(cai, "+15550500099")            // shared secondary...
	f.addPhone(dee, "+15550500099")            // ...on two contacts
	f.addPhone(ana, "+15550500077")            // unshared
	merged := f.contact("+15550500005", "Old") // merged: never a duplicate
	f.exec(`UPDATE contacts SET merged_into = $1 WHERE id = $2`, ana, merged)
	f.exec(`INSERT INTO contact_phones (contact_id, phone) VALUES ($1, '+15550500077')`, merged)

	page, err := f.svc.Duplicates(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		id      int64
		primary bool
	}
	got := map[string][]member{}
	for _, g := range page.Groups {
		for _, m := range g.Members {
			got[g.Phone] = append(got[g.Phone], member{m.Contact.ID, m.Primary})
		}
	}
	want := map[string][]member{
		"+15550500002": {{ben, true}, {ana, false}},
		"+15550500099": {{cai, false}, {dee, false}},
	}
	if len(got) != len(want) || !slices.Equal(got["+15550500002"], want["+15550500002"]) || !slices.Equal(got["+15550500099"], want["+15550500099"]) {
		t.Fatalf("duplicates %v, want %v", got, want)
	}
	if page.Next != "" {
		t.Fatalf("a next page after two groups: %q", page.Next)
	}
	// Paging: after the first group only the second.
	page, err = f.svc.Duplicates(f.ctx, "+15550500002")
	if err != nil || len(page.Groups) != 1 || page.Groups[0].Phone != "+15550500099" {
		t.Fatalf("second page: %+v %v", page, err)
	}
	// Merging Ben into Ana ends their group.
	if _, err := f.svc.Merge(f.ctx, f.admin, ana, ben, ""); err != nil {
		t.Fatal(err)
	}
	page, _ = f.svc.Duplicates(f.ctx, "")
	if len(page.Groups) != 1 || page.Groups[0].Phone != "+15550500099" {
		t.Fatalf("after the merge: %+v", page.Groups)
	}

	// Search by a secondary number, typed locally or as digits.
	for _, q := range []string{"(555) 050-0099", "0500099", "+1 555 050 0077"} {
		filter, err := f.svc.Filter(f.ctx, contacts.Query{Q: q}, 50)
		if err != nil {
			t.Fatal(err)
		}
		page, err := f.svc.List(f.ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range page.Rows {
			ids = append(ids, r.ID)
		}
		want := []int64{cai, dee}
		if q == "+1 555 050 0077" {
			want = []int64{ana}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("search %q: %v, want %v", q, ids, want)
		}
	}

	var buf bytes.Buffer
	if err := f.svc.Export(f.ctx, &buf, db.ContactFilter{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(recs[0], "other_phones")
	if col < 0 {
		t.Fatalf("no other_phones column: %v", recs[0])
	}
	byName := map[string]string{}
	for _, r := range recs[1:] {
		byName[r[0]] = r[col]
	}
	// Like the phone column, a cell starting with "+" is defused for
	// spreadsheets by a leading apostrophe.
	if byName["Ana"] != "'+15550500002; +15550500077" || byName["Cai"] != "'+15550500099" || byName["Dee"] != "'+15550500099" {
		t.Errorf("other_phones: %v", byName)
	}
	if _, ok := byName["Ben"]; ok {
		t.Error("a merged contact is exported")
	}
}

// Every foreign key to contacts and conversations is one the merge
// handles: a new table referencing them must be added to the merge (and
// to this list), or merged contacts would keep rows behind.
func TestMergeKnowsEveryReference(t *testing.T) {
	f := newFixture(t)
	rows, err := f.d.Pool.Query(f.ctx, `
		SELECT c.conrelid::regclass::text || '.' || a.attname || ' -> ' || c.confrelid::regclass::text
		  FROM pg_constraint c
		  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
		 WHERE c.contype = 'f' AND c.confrelid IN ('contacts'::regclass, 'conversations'::regclass)
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	handled := []string{
		"broadcast_recipients.contact_id -> contacts",
		"contact_links.guardian_id -> contacts",
		"contact_links.student_id -> contacts",
		"contact_phones.contact_id -> contacts",
		"contacts.merged_into -> contacts",
		"conversation_presence.conversation_id -> conversations",
		"conversation_reads.conversation_id -> conversations",
		"conversations.contact_id -> contacts",
		"group_members.contact_id -> contacts",
		"messages.conversation_id -> conversations",
		"out_of_hours_replies.conversation_id -> conversations",
	}
	if !slices.Equal(got, handled) {
		t.Fatalf("references to contacts/conversations:\n got  %v\n want %v\nteach db.MergeContactsTx about the new ones", got, handled)
	}
}
