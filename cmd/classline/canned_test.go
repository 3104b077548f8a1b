package main

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
)

// Canned replies and the settings page over real HTTP, as staff of two
// departments and an admin.

// conversationWith makes a parent write to one of the school's numbers and
// returns the conversation's id.
func conversationWith(t *testing.T, ta *testApp, parent, schoolNumber string) int64 {
	t.Helper()
	checkTwiML(t, "inbound", postTwilio(t, ta, inboundPath, inboundForm(newSID(), "whatsapp:"+parent, "whatsapp:"+schoolNumber, "Hello", "Parent")))
	var id int64
	err := ta.db.Pool.QueryRow(context.Background(), `SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		JOIN senders s ON s.id = c.sender_id WHERE ct.phone = $1 AND s.address = $2`, parent, schoolNumber).Scan(&id)
	if err != nil {
		t.Fatalf("conversation of %s with %s: %v", parent, schoolNumber, err)
	}
	return id
}

func cannedID(t *testing.T, ta *testApp, department int64, name string) int64 {
	t.Helper()
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM canned_replies WHERE department_id = $1 AND name = $2`, department, name).Scan(&id); err != nil {
		t.Fatalf("canned reply %s: %v", name, err)
	}
	return id
}

func cannedBody(t *testing.T, ta *testApp, id int64) string {
	t.Helper()
	var body string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT body FROM canned_replies WHERE id = $1`, id).Scan(&body); err != nil {
		t.Fatalf("canned reply %d: %v", id, err)
	}
	return body
}

func wantStatus(t *testing.T, what string, r httpResult, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, r.status, status, r.body)
	}
}

func TestCannedReplies(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admissions, err := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if err != nil {
		t.Fatal(err)
	}
	academics, err := ta.db.DepartmentIDBySlug(ctx, "academics")
	if err != nil {
		t.Fatal(err)
	}
	front := ta.login("front@school.example", ta.addUser("front@school.example", "staff", "admissions"))
	teacher := ta.login("teacher@school.example", ta.addUser("teacher@school.example", "staff", "academics"))
	admin := ta.loginAdmin()
	admConv := conversationWith(t, ta, "+15557651001", "+14155550100")
	acaConv := conversationWith(t, ta, "+15557651002", "+14155550101")

	body, status := ta.get(front, "/replies")
	if status != http.StatusOK || !strings.Contains(body, "No canned replies yet") {
		t.Fatalf("empty replies page (%d) has no empty state", status)
	}
	tok := ta.csrfOf(front, "/replies")
	post := func(c *http.Client, path string, f url.Values) httpResult {
		t.Helper()
		f.Set("_csrf", tok)
		return doHTTP(t, c, http.MethodPost, ta.URL+path, f, nil)
	}
	dep := strconv.FormatInt(admissions, 10)

	// Invalid: both errors next to their fields, what was typed kept.
	r := post(front, "/replies", url.Values{"department_id": {dep}, "name": {"Term Dates!"}, "body": {"   "}})
	wantStatus(t, "invalid reply", r, http.StatusUnprocessableEntity)
	for _, want := range []string{`value="Term Dates!"`, `id="canned-name-error"`, `id="canned-body-error"`, "Write the text to insert."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("invalid reply page lacks %q", want)
		}
	}
	r = post(front, "/replies", url.Values{"department_id": {dep}, "name": {"term dates"}, "body": {"Term starts on 4 September."}})
	wantStatus(t, "name with a space", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, `value="term dates"`) || !strings.Contains(r.body, ">Term starts on 4 September.</textarea>") {
		t.Errorf("the typed name and text were not kept:\n%s", r.body)
	}

	// Created; "/" and capitals are forgiven.
	r = post(front, "/replies", url.Values{"department_id": {dep}, "name": {"/Term-Dates"}, "body": {"Term starts on 4 September.\nSee you then!"}})
	wantStatus(t, "create", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/replies?done=added" {
		t.Errorf("create redirected to %q", loc)
	}
	termID := cannedID(t, ta, admissions, "term-dates")
	body, _ = ta.get(front, "/replies?done=added")
	if !strings.Contains(body, "/term-dates") || !strings.Contains(body, "Term starts on 4 September.") || !strings.Contains(body, "Reply added.") {
		t.Errorf("replies page does not list the new reply:\n%s", body)
	}
	r = post(front, "/replies", url.Values{"department_id": {dep}, "name": {"term-dates"}, "body": {"again"}})
	wantStatus(t, "duplicate name", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "already has a reply called /term-dates") {
		t.Errorf("duplicate name error missing:\n%s", r.body)
	}
	r = post(front, "/replies", url.Values{"department_id": {strconv.FormatInt(academics, 10)}, "name": {"sneaky"}, "body": {"x"}})
	wantStatus(t, "another department", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "Choose one of your departments.") || countRows(t, ta, `SELECT count(*) FROM canned_replies WHERE name = 'sneaky'`) != 0 {
		t.Error("staff added a reply to a department they are not in")
	}

	// htmx: the fresh list and a toast.
	r = doHTTP(t, front, http.MethodPost, ta.URL+"/replies", url.Values{"department_id": {dep}, "name": {"fees"}, "body": {"Fees are due on the 1st."}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "htmx create", r, http.StatusOK)
	if !strings.Contains(r.header.Get("HX-Trigger"), `"toast"`) || !strings.Contains(r.body, "/fees") || strings.Contains(r.body, "<html") {
		t.Errorf("htmx create: HX-Trigger %q, body:\n%s", r.header.Get("HX-Trigger"), r.body)
	}

	// Edit.
	editPath := "/replies/" + strconv.FormatInt(termID, 10)
	body, status = ta.get(front, editPath+"/edit")
	if status != http.StatusOK || !strings.Contains(body, `value="term-dates"`) {
		t.Fatalf("edit page (%d)", status)
	}
	r = post(front, editPath, url.Values{"name": {""}, "body": {"Term starts on 5 September."}})
	wantStatus(t, "invalid edit", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "Term starts on 5 September.") || !strings.Contains(r.body, `id="canned-name-error"`) {
		t.Errorf("invalid edit did not keep the text or show the error:\n%s", r.body)
	}
	if got := cannedBody(t, ta, termID); got != "Term starts on 4 September.\nSee you then!" {
		t.Errorf("an invalid edit changed the reply to %q", got)
	}
	r = post(front, editPath, url.Values{"name": {"term-dates"}, "body": {"Term starts on 5 September."}})
	wantStatus(t, "edit", r, http.StatusSeeOther)
	if got := cannedBody(t, ta, termID); got != "Term starts on 5 September." {
		t.Errorf("after edit: %q", got)
	}

	// Academics has its own /term-dates; neither department sees the other's.
	ttok := ta.csrfOf(teacher, "/replies")
	r = doHTTP(t, teacher, http.MethodPost, ta.URL+"/replies", url.Values{"_csrf": {ttok}, "department_id": {strconv.FormatInt(academics, 10)}, "name": {"term-dates"}, "body": {"Exams start in May."}}, nil)
	wantStatus(t, "academics create", r, http.StatusSeeOther)
	body, _ = ta.get(teacher, "/replies")
	if strings.Contains(body, "Term starts on 5 September.") || strings.Contains(body, "/fees") || !strings.Contains(body, "Exams start in May.") {
		t.Errorf("academics sees admissions' replies or not its own:\n%s", body)
	}
	if _, status := ta.get(teacher, editPath+"/edit"); status != http.StatusNotFound {
		t.Errorf("another department's edit page: %d, want 404", status)
	}
	r = doHTTP(t, teacher, http.MethodPost, ta.URL+editPath, url.Values{"_csrf": {ttok}, "name": {"hacked"}, "body": {"hacked"}}, nil)
	wantStatus(t, "another department's edit", r, http.StatusNotFound)
	r = doHTTP(t, teacher, http.MethodPost, ta.URL+editPath+"/delete", url.Values{"_csrf": {ttok}}, nil)
	wantStatus(t, "another department's delete", r, http.StatusNotFound)
	if got := cannedBody(t, ta, termID); got != "Term starts on 5 September." {
		t.Errorf("another department changed the reply to %q", got)
	}
	if _, status := ta.get(front, "/replies/999999/edit"); status != http.StatusNotFound {
		t.Errorf("unknown reply: %d", status)
	}

	// Suggestions: by prefix, from the conversation's department only.
	suggest := func(c *http.Client, q string, conv int64) (string, int) {
		return ta.get(c, "/replies/suggest?q="+url.QueryEscape(q)+"&conversation="+strconv.FormatInt(conv, 10))
	}
	body, status = suggest(front, "te", admConv)
	if status != http.StatusOK || !strings.Contains(body, `role="listbox"`) || !strings.Contains(body, `data-name="term-dates"`) ||
		!strings.Contains(body, `data-body="Term starts on 5 September."`) || strings.Contains(body, "Exams") || strings.Contains(body, "/fees") {
		t.Errorf("suggest te (%d):\n%s", status, body)
	}
	if body, _ = suggest(front, "F", admConv); !strings.Contains(body, `data-name="fees"`) || strings.Contains(body, "term-dates") {
		t.Errorf("suggest F:\n%s", body)
	}
	if body, status = suggest(front, "zz", admConv); status != http.StatusOK || strings.Contains(body, `role="option"`) {
		t.Errorf("suggest zz (%d):\n%s", status, body)
	}
	if body, _ = suggest(front, "%", admConv); strings.Contains(body, `role="option"`) {
		t.Errorf("a wildcard matched:\n%s", body)
	}
	if body, _ = suggest(admin, "term", acaConv); !strings.Contains(body, `data-body="Exams start in May."`) || strings.Contains(body, "September") {
		t.Errorf("admin suggest in academics:\n%s", body)
	}
	if _, status = suggest(teacher, "te", admConv); status != http.StatusNotFound {
		t.Errorf("suggest in another department's conversation: %d, want 404", status)
	}
	if _, status = suggest(front, "te", acaConv); status != http.StatusNotFound {
		t.Errorf("suggest in another department's conversation: %d, want 404", status)
	}

	// Delete.
	r = post(front, editPath+"/delete", url.Values{})
	wantStatus(t, "delete", r, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM canned_replies WHERE id = $1`, termID); n != 0 {
		t.Error("reply not deleted")
	}
	if body, _ = suggest(front, "te", admConv); strings.Contains(body, `role="option"`) {
		t.Errorf("deleted reply still suggested:\n%s", body)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action LIKE 'canned_reply.%'`); n != 5 {
		t.Errorf("canned reply audit entries: %d, want 5 (3 created, 1 edited, 1 deleted)", n)
	}
}

func TestSettingsPage(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	staff := ta.login("front@school.example", ta.addUser("front@school.example", "staff", "admissions"))
	admin := ta.loginAdmin()

	stok := ta.csrfOf(staff, "/replies")
	if _, status := ta.get(staff, "/settings"); status != http.StatusForbidden {
		t.Errorf("staff GET /settings: %d, want 403", status)
	}
	r := doHTTP(t, staff, http.MethodPost, ta.URL+"/settings", url.Values{"_csrf": {stok}, "school_name": {"Evil"}, "stop": {"x"}}, nil)
	wantStatus(t, "staff POST /settings", r, http.StatusForbidden)
	if n := countRows(t, ta, `SELECT count(*) FROM settings`); n != 0 {
		t.Fatalf("staff changed %d settings", n)
	}

	body, status := ta.get(admin, "/settings")
	if status != http.StatusOK || !strings.Contains(body, html.EscapeString(messaging.DefaultAutoReplies.Stop)) || !strings.Contains(body, `value="the school"`) {
		t.Fatalf("settings page (%d) does not show the defaults:\n%s", status, body)
	}
	tok := ta.csrfOf(admin, "/settings")
	tooLong := strings.Repeat("x", messaging.MaxBodyLength+1)
	r = doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", url.Values{"_csrf": {tok}, "school_name": {" "}, "stop": {tooLong}, "start": {"Welcome back"}, "help": {""}}, nil)
	wantStatus(t, "invalid settings", r, http.StatusUnprocessableEntity)
	for _, want := range []string{`id="school-name-error"`, `id="reply-stop-error"`, ">" + tooLong + "</textarea>", ">Welcome back</textarea>"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("invalid settings page lacks %.80q", want)
		}
	}

	form := url.Values{"_csrf": {tok}, "school_name": {"Hillside Primary"}, "stop": {"You left {school}. Reply START to return."}, "start": {""}, "help": {"Call {school}."}}
	r = doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form, nil)
	wantStatus(t, "save settings", r, http.StatusSeeOther)
	if body, _ = ta.get(admin, r.header.Get("Location")); !strings.Contains(body, "Settings saved") || !strings.Contains(body, "You left {school}.") {
		t.Errorf("after saving:\n%s", body)
	}
	r = doHTTP(t, admin, http.MethodPost, ta.URL+"/settings", form, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "htmx save", r, http.StatusOK)
	if !strings.Contains(r.header.Get("HX-Trigger"), `"toast"`) {
		t.Errorf("htmx save: HX-Trigger %q", r.header.Get("HX-Trigger"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.user_id WHERE a.action = 'settings.update' AND u.role = 'admin'`); n != 2 {
		t.Errorf("settings audit entries: %d, want 2", n)
	}

	// The saved texts are what a parent's WhatsApp keyword gets back: the
	// service on the app's database, sending through twilio-go to the app's simulator.
	simSrv := httptest.NewServer(ta.sim.Handler())
	t.Cleanup(simSrv.Close)
	gw, err := twilio.New(twilio.Config{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: ta.token, APIBase: simSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	svc := &messaging.Service{DB: ta.db, Gateway: gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	const parent = "+15557651003"
	answer := func(body string) int64 {
		t.Helper()
		p := map[string]string{}
		for k, v := range inboundForm(newSID(), "whatsapp:"+parent, "whatsapp:+14155550100", body, "Parent") {
			p[k] = v[0]
		}
		res, err := svc.ReceiveInbound(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := svc.AnswerKeyword(ctx, res)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := answer("STOP")
	var got string
	var automatic bool
	if err := ta.db.Pool.QueryRow(ctx, `SELECT body, automatic FROM messages WHERE id = $1`, id).Scan(&got, &automatic); err != nil {
		t.Fatalf("STOP answer %d: %v", id, err)
	}
	if got != "You left Hillside Primary. Reply START to return." || !automatic {
		t.Errorf("STOP answer %q (automatic %v)", got, automatic)
	}
	if id := answer("START"); id != 0 {
		t.Errorf("START answered (%d) though its text was emptied", id)
	}
	if out, err := ta.db.OptedOut(ctx, parent, policy.PurposeTransactional); err != nil || out {
		t.Errorf("after START: opted out %v, %v", out, err)
	}
	sent := 0
	for _, m := range ta.sim.Messages() {
		if m.To == "whatsapp:"+parent && m.Direction != "inbound" {
			sent++
			if m.Body != got {
				t.Errorf("simulator got %q", m.Body)
			}
		}
	}
	if sent != 1 {
		t.Errorf("simulator got %d answers, want 1", sent)
	}

	// And through the app's own webhook, as Twilio delivers it.
	const other = "+15557651005"
	checkTwiML(t, "STOP webhook", postTwilio(t, ta, inboundPath, inboundForm(newSID(), "whatsapp:"+other, "whatsapp:+14155550100", "stop", "Parent")))
	eventually(t, "the STOP answer to the webhook", func() bool {
		var body string
		err := ta.db.Pool.QueryRow(ctx, `SELECT body FROM messages WHERE automatic AND sent_by IS NULL AND to_address = $1`, "whatsapp:"+other).Scan(&body)
		return err == nil && body == "You left Hillside Primary. Reply START to return."
	})
}

// The "/" menu in a real browser: typing opens it under the reply box, keys
// and the mouse choose, the text replaces "/name", and a "/" inside a word
// or without a name never opens anything.
func TestBrowserCannedReplyMenu(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admissions, err := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"term-dates": "Term starts on 4 September.", "trip": "The trip leaves at 8:00.\nBring a packed lunch."} {
		if _, err := ta.db.InsertCannedReply(ctx, db.NewCannedReply{DepartmentID: admissions, Name: name, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	conv := conversationWith(t, ta, "+15557651004", "+14155550100")

	b := newBrowser(t)
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	signIn(b, ta)
	b.do("open the conversation", chromedp.Navigate(ta.URL+"/conversations/"+strconv.FormatInt(conv, 10)))
	b.waitFor("the reply box", `document.readyState === 'complete' && !!document.getElementById('reply-body')`)
	if got := evalJS[string](b, `document.getElementById('reply-body').getAttribute('data-canned') || ''`); got != strconv.FormatInt(conv, 10) {
		t.Fatalf("reply box data-canned=%q, want the conversation id %d", got, conv)
	}
	if !evalJS[bool](b, `!!document.querySelector('link[rel=stylesheet][href="/static/css/canned.css"]')`) {
		t.Fatal("the layout does not link /static/css/canned.css: the menu would sit unstyled in the page flow")
	}
	b.do("count input events", chromedp.Evaluate[chromedp.Void](`(() => {
  window.__inputs = 0;
  document.getElementById('reply-body').addEventListener('input', () => { window.__inputs++; });
})()`))
	b.do("focus the reply box", chromedp.Focus(chromedp.ID("reply-body")))
	typeKeys := func(keys string) { b.t.Helper(); b.do("type "+strconv.Quote(keys), chromedp.KeyEvent(keys)) }
	value := func() string { return evalJS[string](b, `document.getElementById('reply-body').value`) }
	const open = `document.getElementById('reply-body').getAttribute('aria-expanded') === 'true'`
	closedFor := func(what string) {
		b.t.Helper()
		time.Sleep(500 * time.Millisecond) // longer than the menu's debounce and a local request
		if evalJS[bool](b, "!!("+open+")") || evalJS[bool](b, `!!document.querySelector('[role=listbox]:not([hidden]) [role=option]')`) {
			b.t.Fatalf("%s opened the menu", what)
		}
	}

	typeKeys("Hi /te")
	b.waitFor("the menu with /term-dates", open+` && !!document.querySelector('[role=listbox]:not([hidden]) [role=option][data-name="term-dates"]')`)
	a11y := evalJS[map[string]any](b, `(() => {
  const ta = document.getElementById('reply-body');
  const list = document.getElementById(ta.getAttribute('aria-controls'));
  const opts = list ? list.querySelectorAll('[role=option]') : [];
  return { listbox: list ? list.getAttribute('role') : '', options: opts.length,
    active: ta.getAttribute('aria-activedescendant'), first: opts.length ? opts[0].id : '',
    selected: opts.length ? opts[0].getAttribute('aria-selected') : '' };
})()`)
	if a11y["listbox"] != "listbox" || a11y["options"] != float64(1) || a11y["active"] != a11y["first"] || a11y["selected"] != "true" {
		t.Fatalf("menu semantics: %v", a11y)
	}
	inputs := evalJS[int](b, `window.__inputs`)
	typeKeys(kb.Enter)
	b.waitFor("the text inserted", `document.getElementById('reply-body').value === 'Hi Term starts on 4 September.'`)
	if evalJS[bool](b, "!!("+open+")") || evalJS[bool](b, `document.getElementById('reply-body').hasAttribute('aria-activedescendant')`) {
		t.Error("the menu stayed open after inserting")
	}
	if evalJS[int](b, `window.__inputs`) <= inputs {
		t.Error("no input event after inserting: the counter would not update")
	}

	// A "/" in a word, alone, or before a name nobody has: nothing opens.
	typeKeys(" 1/2 and/or")
	closedFor(`"1/2 and/or"`)
	typeKeys(" / ")
	closedFor(`a lone "/"`)
	typeKeys("/zz")
	closedFor(`"/zz"`)
	if v := value(); v != "Hi Term starts on 4 September. 1/2 and/or / /zz" {
		t.Fatalf("typing was disturbed: %q", v)
	}

	// Two matches: shortest first; ArrowDown, then Tab takes the second.
	typeKeys(" /t")
	b.waitFor("two suggestions", open+` && document.querySelectorAll('[role=listbox]:not([hidden]) [role=option]').length === 2`)
	if first := evalJS[string](b, `document.querySelector('[role=listbox]:not([hidden]) [role=option]').dataset.name`); first != "trip" {
		t.Errorf("first suggestion %q, want trip (shortest name first)", first)
	}
	typeKeys(kb.ArrowDown)
	b.waitFor("the second option active", `document.getElementById('reply-body').getAttribute('aria-activedescendant') === document.querySelectorAll('[role=listbox]:not([hidden]) [role=option]')[1].id`)
	typeKeys(kb.Tab)
	b.waitFor("/term-dates inserted by Tab", `document.getElementById('reply-body').value.endsWith(' /zz Term starts on 4 September.')`)

	// Escape closes and leaves what was typed.
	typeKeys(" /tr")
	b.waitFor("the menu again", open)
	typeKeys(kb.Escape)
	b.waitFor("the menu closed by Escape", `document.getElementById('reply-body').getAttribute('aria-expanded') === 'false'`)
	if v := value(); !strings.HasSuffix(v, " /tr") {
		t.Fatalf("Escape changed the text: %q", v)
	}

	// A click inserts, keeping the line break of the reply.
	typeKeys("i")
	b.waitFor("the menu for /tri", open+` && !!document.querySelector('[role=listbox]:not([hidden]) [role=option][data-name="trip"]')`)
	b.do("click /trip", chromedp.Click(chromedp.CSS(`[role=listbox]:not([hidden]) [role=option][data-name="trip"]`)))
	b.waitFor("/trip inserted by a click", `document.getElementById('reply-body').value.endsWith(' The trip leaves at 8:00.\nBring a packed lunch.')`)
	if evalJS[string](b, `document.activeElement && document.activeElement.id`) != "reply-body" {
		t.Error("the click took the focus away from the reply box")
	}
	if v := evalJS[[]string](b, `window.__csp || ['the CSP hook did not run']`); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}
