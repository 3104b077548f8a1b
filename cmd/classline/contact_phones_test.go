package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var duplicateMember = regexp.MustCompile(`<tr class="duplicate-member" data-contact="(\d+)"`)

// contactOf is the contact of a conversation and the number it stores.
func contactOf(t *testing.T, ta *testApp, conv int64) (contactID int64, phone string) {
	t.Helper()
	var ph *string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT contact_id, phone FROM conversations WHERE id = $1`, conv).Scan(&contactID, &ph); err != nil {
		t.Fatalf("conversation %d: %v", conv, err)
	}
	if ph != nil {
		phone = *ph
	}
	return contactID, phone
}

// lastSentTo waits for the simulator to receive an outbound message with
// body and returns who it went to.
func lastSentTo(t *testing.T, ta *testApp, body string) string {
	t.Helper()
	var to string
	eventually(t, "the simulator to receive "+strconv.Quote(body), func() bool {
		for _, m := range ta.sim.Messages() {
			if m.Body == body && m.Direction != "inbound" {
				to = m.To
				return true
			}
		}
		return false
	})
	return to
}

// A second number on a contact: added from the contact page (errors by the
// field, typed value kept), a parent writing from it lands in that
// contact's conversation, and a staff reply goes to that number, not the
// main one. Then a duplicate appears (someone adds the number as a new
// contact), the duplicates page lists the pair (not a merged contact), staff
// without the right get 403, and the merge keeps every message and consent
// record while moving conversations (folding the one both had with the
// same sender), groups and links.
func TestContactPhonesInboundReplyDuplicatesMerge(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	const main, second, sender = "+15550601001", "+15550601002", "+14155550177"
	staffPW := ta.addUser("office@example.org", "staff", "office")
	office := ta.departmentID("office")
	for _, channel := range []string{"whatsapp", "sms"} {
		if _, err := ta.db.EnsureSender(ctx, channel, sender, "Office "+channel, &office); err != nil {
			t.Fatal(err)
		}
	}
	maria := seedContact(t, ta, main, "Maria Lopez", "", "guardian", true, "")
	admin := ta.loginAdmin()
	path := fmt.Sprintf("/contacts/%d", maria)
	tok := ta.csrfOf(admin, path)

	// A bad number: 422, the error by the field, what was typed kept.
	body := ta.mustPost(admin, path+"/phones", url.Values{"_csrf": {tok}, "phone": {"12 34"}, "label": {"work"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="contact-new-phone-error"`) || !regexp.MustCompile(`id="contact-new-phone"[^>]*value="12 34"`).MatchString(body) {
		t.Fatalf("bad number not explained by the field: %s", body)
	}
	resp := ta.postForm(admin, path+"/phones", url.Values{"_csrf": {tok}, "phone": {"(555) 060-1002"}, "label": {"work"}, "whatsapp": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path+"?done=phone#numbers" {
		t.Fatalf("add number: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page, _ := ta.get(admin, path+"?done=phone")
	numbers := page[strings.Index(page, `id="numbers"`):]
	numbers = numbers[:strings.Index(numbers, "</section>")]
	iMain, iSecond := strings.Index(numbers, `data-phone="`+main+`"`), strings.Index(numbers, `data-phone="`+second+`"`)
	if iMain < 0 || iSecond < 0 || iMain > iSecond || !strings.Contains(numbers, "Work") || !strings.Contains(numbers, "Main") {
		t.Fatalf("numbers section: main first with labels expected: %s", numbers)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'contact.phone_add' AND subject = $1 AND after->>'phone' = $2`, "contact:"+strconv.FormatInt(maria, 10), second); n != 1 {
		t.Fatalf("%d audit entries for the added number", n)
	}

	// The parent writes from the second number: Maria's conversation, on
	// that number; no new contact.
	conv := inboundConversation(t, ta, "whatsapp:"+second, "whatsapp:"+sender, "Maria work phone")
	if c, ph := contactOf(t, ta, conv); c != maria || ph != second {
		t.Fatalf("inbound from the second number: contact %d number %q, want %d %s", c, ph, maria, second)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts`); n != 1 {
		t.Fatalf("%d contacts after the inbound message, want 1", n)
	}
	// A staff member of the department replies: it goes to the second number.
	staff := ta.login("office@example.org", staffPW)
	stok := ta.csrfOf(staff, convURL(conv))
	if r := doHTTP(t, staff, http.MethodPost, ta.URL+convURL(conv)+"/messages", url.Values{"_csrf": {stok}, "body": {"Reply to the work phone"}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("staff reply: %d %s", r.status, r.body)
	}
	if to := lastSentTo(t, ta, "Reply to the work phone"); to != "whatsapp:"+second {
		t.Fatalf("the reply went to %s, want whatsapp:%s", to, second)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND to_address = $2`, conv, "whatsapp:"+second); n != 1 {
		t.Fatal("the stored reply is not addressed to the second number")
	}
	// Writing from the main number is another conversation with the sender.
	convMain := inboundConversation(t, ta, "whatsapp:"+main, "whatsapp:"+sender, "Maria")
	if c, ph := contactOf(t, ta, convMain); c != maria || ph != "" || convMain == conv {
		t.Fatalf("inbound from the main number: contact %d number %q conversation %d", c, ph, convMain)
	}

	// A duplicate: the second number is added as a contact of its own (the
	// school did not know), who then writes by WhatsApp and SMS; a contact
	// merged long ago had it too and is no duplicate.
	resp = ta.postForm(admin, "/contacts", url.Values{"_csrf": {tok}, "name": {"M. Lopez"}, "phone": {second}, "role": {"guardian"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create the duplicate: %d", resp.StatusCode)
	}
	var mario int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1 AND merged_into IS NULL`, second).Scan(&mario); err != nil {
		t.Fatal(err)
	}
	var old int64
	if err := ta.db.Pool.QueryRow(ctx, `INSERT INTO contacts (phone, name, merged_into) VALUES ($1, 'Long gone', $2) RETURNING id`, "+15550601003", maria).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO contact_phones (contact_id, phone) VALUES ($1, $2)`, old, second); err != nil {
		t.Fatal(err)
	}
	// The number is now Mario's main number, so his messages land with him.
	marioWA := inboundConversation(t, ta, "whatsapp:"+second, "whatsapp:"+sender, "Mario")
	marioSMS := inboundConversation(t, ta, second, sender, "")
	for _, cv := range []int64{marioWA, marioSMS} {
		if c, ph := contactOf(t, ta, cv); c != mario || ph != "" {
			t.Fatalf("inbound from Mario's main number: contact %d number %q, want %d", c, ph, mario)
		}
	}
	// Mario's consent, group and link.
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO consent_events (phone, channel, purpose, opted_in, method, source)
		VALUES ($1, 'sms', 'marketing', true, 'web_form', 'signup'), ($1, 'sms', 'transactional', true, 'import', 'list'), ($2, NULL, 'transactional', true, 'import', 'list')`, second, main); err != nil {
		t.Fatal(err)
	}
	gresp := ta.postForm(admin, "/groups", url.Values{"_csrf": {tok}, "name": {"Choir parents"}, "kind": {"static"}})
	if gresp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create group: %d", gresp.StatusCode)
	}
	gid := strings.TrimPrefix(strings.Split(gresp.Header.Get("Location"), "?")[0], "/groups/")
	ta.mustPost(admin, fmt.Sprintf("/contacts/%d/groups", mario), url.Values{"_csrf": {tok}, "group": {gid}}, http.StatusSeeOther)
	kid := seedContact(t, ta, "+15550601009", "Leo Lopez", "", "student", false, "")
	ta.mustPost(admin, fmt.Sprintf("/contacts/%d/links", mario), url.Values{"_csrf": {tok}, "phone": {"+15550601009"}, "relation": {"father"}}, http.StatusSeeOther)

	// The duplicates page lists Mario (main number) and Maria (secondary).
	dup, status := ta.get(admin, "/contacts/duplicates")
	if status != http.StatusOK {
		t.Fatalf("duplicates page: %d", status)
	}
	var listed []int64
	for _, m := range duplicateMember.FindAllStringSubmatch(dup, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		listed = append(listed, id)
	}
	if !slices.Equal(listed, []int64{mario, maria}) {
		t.Fatalf("duplicates lists %v, want [%d %d] (and not the merged %d)", listed, mario, maria, old)
	}
	mergeLink := fmt.Sprintf(`href="/contacts/%d/merge?other=%d"`, mario, maria)
	if !strings.Contains(dup, mergeLink) {
		t.Fatalf("no Merge action %s on the duplicates page", mergeLink)
	}
	// The contacts list offers the page to admins.
	if list, _ := ta.get(admin, "/contacts"); !strings.Contains(list, `href="/contacts/duplicates"`) {
		t.Error("the contacts page does not link to the duplicates")
	}

	// Staff may not see duplicates, preview, merge or change numbers.
	if _, status := ta.get(staff, "/contacts/duplicates"); status != http.StatusForbidden {
		t.Errorf("staff GET duplicates: %d, want 403", status)
	}
	if _, status := ta.get(staff, fmt.Sprintf("/contacts/%d/merge?other=%d", maria, mario)); status != http.StatusForbidden {
		t.Errorf("staff merge preview: %d, want 403", status)
	}
	for _, p := range []string{path + "/merge", path + "/phones", path + "/phones/delete", path + "/phones/main"} {
		if r := ta.postForm(staff, p, url.Values{"_csrf": {stok}, "other": {strconv.FormatInt(mario, 10)}, "phone": {second}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("staff POST %s: %d, want 403", p, r.StatusCode)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL`); n != 1 {
		t.Fatal("a staff request merged something")
	}
	// Nor can Maria take the number as her main one: Mario has it.
	body = ta.mustPost(admin, path+"/phones/main", url.Values{"_csrf": {tok}, "phone": {second}}, http.StatusConflict)
	if !strings.Contains(body, "as their main number") || !strings.Contains(body, fmt.Sprintf(`href="/contacts/%d/merge?other=%d"`, maria, mario)) {
		t.Fatalf("refused swap does not explain and offer the merge: %s", body)
	}

	// Keep Maria (her page's history is the longer one): the preview.
	msgsBefore := countRows(t, ta, `SELECT count(*) FROM messages`)
	consentBefore := countRows(t, ta, `SELECT count(*) FROM consent_events`)
	prev, status := ta.get(admin, fmt.Sprintf("/contacts/%d/merge?other=%d", maria, mario))
	if status != http.StatusOK {
		t.Fatalf("preview: %d", status)
	}
	for _, want := range []string{
		fmt.Sprintf("joins the existing conversation #%d", conv), // same sender, same number
		"Choir parents", "Leo Lopez", "2 consent records stay", "2 messages (notes included) move",
	} {
		if !strings.Contains(prev, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL`); n != 1 {
		t.Fatal("the preview merged")
	}
	// The contact page's form finds Mario by number too (and says when it cannot).
	r := doHTTP(t, admin, http.MethodGet, ta.URL+path+"/merge?with="+url.QueryEscape("555 060 1002"), nil, nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="other" value="`+strconv.FormatInt(mario, 10)+`"`) {
		t.Fatalf("merge form by number: %d", r.status)
	}
	r = doHTTP(t, admin, http.MethodGet, ta.URL+path+"/merge?with=%2399999", nil, nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="merge-with-error"`) || !strings.Contains(r.body, `value="#99999"`) {
		t.Fatalf("merge form with an unknown contact: %d", r.status)
	}

	resp = ta.postForm(admin, path+"/merge", url.Values{"_csrf": {tok}, "other": {strconv.FormatInt(mario, 10)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path+"?done=merged" {
		t.Fatalf("merge: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Every message and consent record is still there, all Maria's now.
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != msgsBefore {
		t.Fatalf("%d messages after the merge, want %d", n, msgsBefore)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events`); n != consentBefore {
		t.Fatalf("%d consent events after the merge, want %d", n, consentBefore)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, maria); n != msgsBefore {
		t.Fatalf("Maria has %d of %d messages", n, msgsBefore)
	}
	// Mario's WhatsApp conversation (same sender, same number as Maria's)
	// was folded into hers; his SMS one moved with its number.
	if n := countRows(t, ta, `SELECT count(*) FROM conversations WHERE id = $1`, marioWA); n != 0 {
		t.Fatal("the folded conversation is still there")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE conversation_id = $1`, conv); n != 3 {
		t.Fatalf("Maria's work-phone conversation has %d messages, want 3 (hers 2 + Mario's 1)", n)
	}
	if c, ph := contactOf(t, ta, marioSMS); c != maria || ph != second {
		t.Fatalf("Mario's SMS conversation: contact %d number %q", c, ph)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM conversations WHERE contact_id = $1`, maria); n != 3 {
		t.Fatalf("Maria has %d conversations, want 3", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM group_members WHERE contact_id = $1 AND group_id = $2`, maria, gid); n != 1 {
		t.Fatal("the group membership did not move")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contact_links WHERE guardian_id = $1 AND student_id = $2 AND relation = 'father'`, maria, kid); n != 1 {
		t.Fatal("the link did not move")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contact_links WHERE $1 IN (guardian_id, student_id)`, mario); n != 0 {
		t.Fatal("Mario keeps links")
	}
	for _, action := range []string{"contact.merge", "contact.merged_into"} {
		if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND before IS NOT NULL AND after IS NOT NULL`, action); n != 1 {
			t.Errorf("%d %s audit entries", n, action)
		}
	}
	// Mario's page leads to Maria; hers shows his consent records.
	if r := doHTTP(t, admin, http.MethodGet, ta.URL+fmt.Sprintf("/contacts/%d", mario), nil, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != path {
		t.Fatalf("merged contact's page: %d → %q", r.status, r.header.Get("Location"))
	}
	page, _ = ta.get(admin, path+"?done=merged")
	hist := page[strings.Index(page, `class="table consent-history"`):]
	if strings.Count(hist, "<tr id=\"consent-") != 3 || !strings.Contains(hist, "signup") {
		t.Fatalf("consent history after the merge does not cover both numbers")
	}
	if !strings.Contains(page, "Contacts merged.") {
		t.Error("no notice after the merge")
	}
	// Nothing left to merge.
	if dup, _ := ta.get(admin, "/contacts/duplicates"); !strings.Contains(dup, "No duplicates") {
		t.Error("the duplicates page still lists the merged pair")
	}

	// After the merge the number resolves to Maria's folded conversation,
	// and a reply goes to it.
	if again := inboundConversation(t, ta, "whatsapp:"+second, "whatsapp:"+sender, "Maria"); again != conv {
		t.Fatalf("inbound after the merge landed in %d, want %d", again, conv)
	}
	if r := doHTTP(t, staff, http.MethodPost, ta.URL+convURL(conv)+"/messages", url.Values{"_csrf": {stok}, "body": {"After the merge"}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("reply after the merge: %d", r.status)
	}
	if to := lastSentTo(t, ta, "After the merge"); to != "whatsapp:"+second {
		t.Fatalf("reply after the merge went to %s", to)
	}

	// Exports carry the secondary numbers.
	recs := readCSV(t, ta, admin, "/contacts/export.csv")
	col := slices.Index(recs[0], "other_phones")
	if col < 0 || len(recs) < 2 {
		t.Fatalf("export header %v", recs[0])
	}
	found := false
	for _, rec := range recs[1:] {
		if rec[0] == "Maria Lopez" {
			found = rec[col] == "'"+second
		}
	}
	if !found {
		t.Errorf("Maria's export row lacks other_phones %s: %v", second, recs)
	}
	// The list finds Maria by her secondary number.
	if ids, _ := listAll(t, ta, admin, "/contacts?q="+url.QueryEscape("(555) 060-1002")); !slices.Equal(ids, []int64{maria}) {
		t.Errorf("search by the secondary number: %v, want [%d]", ids, maria)
	}
}

// Removing a secondary number and making one the main number from the
// contact page: conversations keep talking to the number they did.
func TestContactPhonesMakeMainAndRemove(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	const main, home = "+15550602001", "+15550602002"
	ana := seedContact(t, ta, main, "Ana Diaz", "", "guardian", true, "")
	admin := ta.loginAdmin()
	path := fmt.Sprintf("/contacts/%d", ana)
	tok := ta.csrfOf(admin, path)
	ta.mustPost(admin, path+"/phones", url.Values{"_csrf": {tok}, "phone": {home}, "label": {"home"}}, http.StatusSeeOther)
	convMain := inboundConversation(t, ta, main, "+14155550178", "")
	convHome := inboundConversation(t, ta, home, "+14155550178", "")
	if convMain == convHome {
		t.Fatal("one conversation for two numbers")
	}

	ta.mustPost(admin, path+"/phones/main", url.Values{"_csrf": {tok}, "phone": {home}}, http.StatusSeeOther)
	var phone string
	var wa bool
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT phone, whatsapp_capable FROM contacts WHERE id = $1`, ana).Scan(&phone, &wa); err != nil {
		t.Fatal(err)
	}
	if phone != home || wa {
		t.Fatalf("main number %s (WhatsApp %v), want %s without WhatsApp (its own flag)", phone, wa, home)
	}
	for conv, want := range map[int64]string{convMain: main, convHome: home} {
		c, err := ta.db.ConversationByID(context.Background(), conv)
		if err != nil || c.Contact.Phone != want {
			t.Errorf("conversation %d talks to %s, want %s", conv, c.Contact.Phone, want)
		}
	}
	page, _ := ta.get(admin, path+"?done=main")
	numbers := page[strings.Index(page, `id="numbers"`):]
	if strings.Index(numbers, `data-phone="`+home+`"`) > strings.Index(numbers, `data-phone="`+main+`"`) || !strings.Contains(page, "Main number changed.") {
		t.Fatal("the new main number is not listed first")
	}
	// Remove the old main number (now secondary); the main one cannot go.
	ta.mustPost(admin, path+"/phones/delete", url.Values{"_csrf": {tok}, "phone": {main}}, http.StatusSeeOther)
	body := ta.mustPost(admin, path+"/phones/delete", url.Values{"_csrf": {tok}, "phone": {home}}, http.StatusConflict)
	if !strings.Contains(body, `id="phones-error"`) || !strings.Contains(body, "main number cannot be removed") {
		t.Fatal("removing the main number not refused with a reason")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contact_phones WHERE contact_id = $1`, ana); n != 0 {
		t.Fatalf("%d secondary numbers left", n)
	}
	for _, action := range []string{"contact.phone_add", "contact.phone_main", "contact.phone_remove"} {
		if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2`, action, "contact:"+strconv.FormatInt(ana, 10)); n != 1 {
			t.Errorf("%d %s audit entries", n, action)
		}
	}
}
