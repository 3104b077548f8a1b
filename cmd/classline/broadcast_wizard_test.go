package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// Broadcast wizard, approval queue and controls, through real HTTP with a
// real session, CSRF tokens, PostgreSQL, the engine and the simulator.

// bcQuietOff switches quiet hours off: they default to 21:00-07:00 in the
// school's zone, and a non-urgent broadcast launched at night would wait.
func bcQuietOff(t *testing.T, ta *testApp) {
	t.Helper()
	err := ta.db.InTx(context.Background(), func(tx pgx.Tx) error {
		return db.SetQuietHoursTx(context.Background(), tx, policy.QuietHours{Enabled: false, Start: "21:00", End: "07:00"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

var bcEditPath = regexp.MustCompile(`^/broadcasts/(\d+)/edit\?step=1$`)

// bcNew starts a draft through POST /broadcasts/new (the form on the
// broadcasts page) and returns its id.
func bcNew(t *testing.T, ta *testApp, c *http.Client) int64 {
	t.Helper()
	r := doHTTP(t, c, http.MethodPost, ta.URL+"/broadcasts/new", url.Values{"_csrf": {ta.csrfOf(c, "/broadcasts")}}, nil)
	wantStatus(t, "new broadcast", r, http.StatusSeeOther)
	m := bcEditPath.FindStringSubmatch(r.header.Get("Location"))
	if m == nil {
		t.Fatalf("new broadcast redirects to %q", r.header.Get("Location"))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// bcStep posts a wizard step as a plain form (CSRF in the form).
func bcStep(t *testing.T, ta *testApp, c *http.Client, id int64, step int, form url.Values) httpResult {
	t.Helper()
	if form.Get("_csrf") == "" {
		form.Set("_csrf", ta.csrfOf(c, fmt.Sprintf("/broadcasts/%d/edit?step=%d", id, step)))
	}
	return doHTTP(t, c, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/%d", ta.URL, id, step), form, nil)
}

// bcFieldError returns the text of the error shown for field id (its
// "<id>-error" element), or "" when there is none.
func bcFieldError(body, id string) string {
	i := strings.Index(body, `id="`+id+`-error"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	j := strings.Index(rest, ">")
	k := strings.Index(rest, "</div>")
	if j < 0 || k < j {
		return ""
	}
	return rest[j+1 : k]
}

func bcStatus(t *testing.T, ta *testApp, id int64) string {
	t.Helper()
	b, err := ta.db.BroadcastByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b.Status
}

// bcGroup makes a static group of the contacts.
func bcGroup(t *testing.T, ta *testApp, name string, contacts ...int64) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := ta.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id, err = db.CreateGroupTx(ctx, tx, name, "static", db.SmartFilter{}); err != nil {
			return err
		}
		for _, c := range contacts {
			if _, err := db.AddGroupMemberTx(ctx, tx, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// bcSMSDraft fills steps 1 to 3 of a new draft: the numbers, SMS text, and
// the admissions department (the one with an SMS number), and returns it.
func bcSMSDraft(t *testing.T, ta *testApp, c *http.Client, name, numbers string, urgent bool) int64 {
	t.Helper()
	id := bcNew(t, ta, c)
	r := bcStep(t, ta, c, id, 1, url.Values{"name": {name}, "numbers": {numbers}})
	wantStatus(t, "step 1 of "+name, r, http.StatusSeeOther)
	content := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hello {{first_name}}, school is closed tomorrow."}}
	if urgent {
		content.Set("urgent", "on")
	}
	r = bcStep(t, ta, c, id, 2, content)
	wantStatus(t, "step 2 of "+name, r, http.StatusSeeOther)
	dep, err := ta.db.DepartmentIDBySlug(context.Background(), "admissions")
	if err != nil {
		t.Fatal(err)
	}
	r = bcStep(t, ta, c, id, 3, url.Values{"department_id": {strconv.FormatInt(dep, 10)}, "strategy": {"department"}})
	wantStatus(t, "step 3 of "+name, r, http.StatusSeeOther)
	r = bcStep(t, ta, c, id, 4, url.Values{"nav": {"next"}})
	wantStatus(t, "step 4 of "+name, r, http.StatusSeeOther)
	return id
}

// bcNumbers are n pasted lines; from should stay clear of the simulator's
// magic endings 0001-0003 (invalid, undelivered, failed).
func bcNumbers(n, from int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "+1555010%04d, Parent %d\n", from+i, from+i)
	}
	return b.String()
}

// bcSend is step 5: send now.
func bcSend(t *testing.T, ta *testApp, c *http.Client, id int64) httpResult {
	t.Helper()
	return bcStep(t, ta, c, id, 5, url.Values{"when": {"now"}})
}

// The wizard checks each step, shows each error beside its field and keeps
// what was typed; valid steps move on and are audited.
func TestBroadcastWizardValidation(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	id := bcNew(t, ta, admin)

	page, status := ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=1", id))
	for _, want := range []string{`<label for="bc-name">Name</label>`, `<label for="bc-numbers">Phone numbers</label>`,
		`<label for="bc-csv">Add numbers from a CSV file</label>`, `<label for="bc-contact-q">Find contacts</label>`, `aria-current="step"`} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("step 1 (%d) lacks %q", status, want)
		}
	}

	// Nothing chosen, no name.
	r := bcStep(t, ta, admin, id, 1, url.Values{"name": {"  "}, "numbers": {""}})
	wantStatus(t, "empty step 1", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-name"), "Give the broadcast a name") {
		t.Errorf("no name error beside the name field")
	}
	if !strings.Contains(r.body, `id="bc-audience-error"`) || !strings.Contains(r.body, "Choose at least one group or contact") {
		t.Errorf("no error saying the audience is empty")
	}

	// A bad line among the numbers: said with its line, everything typed kept.
	typed := "+1 555 010 0001, Ann Lee\n12ab34, Bob"
	r = bcStep(t, ta, admin, id, 1, url.Values{"name": {"Trip reminder"}, "numbers": {typed}})
	wantStatus(t, "bad numbers", r, http.StatusUnprocessableEntity)
	if e := bcFieldError(r.body, "bc-numbers"); !strings.Contains(e, "line 2") || !strings.Contains(e, "12ab34") {
		t.Errorf("numbers error %q does not point at line 2", e)
	}
	if !strings.Contains(r.body, ">+1 555 010 0001, Ann Lee\n12ab34, Bob</textarea>") || !strings.Contains(r.body, `value="Trip reminder"`) {
		t.Errorf("typed numbers or name not kept:\n%s", grepLines(r.body, "bc-numbers"))
	}
	if bcFieldError(r.body, "bc-name") != "" {
		t.Errorf("name error shown for a good name")
	}

	// Valid: on to step 2 (htmx gets the partial and the new URL).
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/1", ta.URL, id),
		url.Values{"name": {"Trip reminder"}, "numbers": {"+1 555 010 0001, Ann Lee\n+1 555 010 0002"}, "nav": {"next"}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": ta.csrfOf(admin, fmt.Sprintf("/broadcasts/%d/edit", id))})
	wantStatus(t, "valid step 1 (htmx)", r, http.StatusOK)
	if got := r.header.Get("HX-Push-Url"); got != fmt.Sprintf("/broadcasts/%d/edit?step=2", id) {
		t.Errorf("HX-Push-Url %q", got)
	}
	if !strings.Contains(r.body, `id="wizard"`) || !strings.Contains(r.body, `data-step="2"`) || strings.Contains(r.body, "<html") {
		t.Errorf("htmx did not get step 2 as a partial")
	}

	// Step 2: SMS only needs text; an unknown merge field is named; a bad
	// fallback is explained; all typed text kept.
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {""}})
	wantStatus(t, "no SMS text", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-sms"), "Write the SMS text") {
		t.Errorf("no SMS text error beside the field")
	}
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hi {{nickname}}, bring a coat"},
		"urgent": {"on"}, "fallback_minutes": {"soon"}})
	wantStatus(t, "unknown merge field", r, http.StatusUnprocessableEntity)
	if e := bcFieldError(r.body, "bc-sms"); !strings.Contains(e, "{{nickname}}") {
		t.Errorf("SMS error %q does not name the unknown field", e)
	}
	if !strings.Contains(bcFieldError(r.body, "bc-fallback"), "whole minutes") {
		t.Errorf("no fallback error beside its field")
	}
	if !strings.Contains(r.body, ">Hi {{nickname}}, bring a coat</textarea>") || !strings.Contains(r.body, `value="soon"`) {
		t.Errorf("typed SMS text or fallback not kept")
	}
	if !strings.Contains(r.body, `id="bc-urgent" name="urgent" value="on" checked`) {
		t.Errorf("urgent box not kept ticked")
	}
	// WhatsApp only needs a template (there is none approved here).
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"whatsapp"}})
	wantStatus(t, "WhatsApp without template", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-template"), "approved template") {
		t.Errorf("no template error for WhatsApp only")
	}
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"marketing"}, "mode": {"sms"}, "sms_body": {"Bake sale Friday, {{first_name}}!"}})
	wantStatus(t, "valid step 2", r, http.StatusSeeOther)

	// Step 3: a staff member can only choose their own department.
	pw := ta.addUser("ines@school.example", "staff", "academics")
	staff := ta.login("ines@school.example", pw)
	sid := bcNew(t, ta, staff)
	admissions, err := ta.db.DepartmentIDBySlug(context.Background(), "admissions")
	if err != nil {
		t.Fatal(err)
	}
	r = bcStep(t, ta, staff, sid, 3, url.Values{"department_id": {strconv.FormatInt(admissions, 10)}, "strategy": {"department"}})
	wantStatus(t, "another department", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-department"), "one of your departments") {
		t.Errorf("no department error:\n%s", grepLines(r.body, "error"))
	}
	if b, _ := ta.db.BroadcastByID(context.Background(), sid); b.DepartmentID == nil || *b.DepartmentID == admissions {
		t.Errorf("the draft's department is %v after choosing another department's", b.DepartmentID)
	}
	// Academics has no SMS number: an SMS broadcast from it is refused on step 3.
	r = bcStep(t, ta, staff, sid, 2, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hello"}})
	if r.status != http.StatusSeeOther && r.status != http.StatusOK {
		t.Fatalf("staff step 2: %d", r.status)
	}
	r = bcStep(t, ta, staff, sid, 3, url.Values{"department_id": {fmt.Sprint(*mustDep(t, ta, sid))}, "strategy": {"department"}})
	wantStatus(t, "no SMS number", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "no SMS number that can send") {
		t.Errorf("no error saying the department cannot send SMS")
	}

	// Every saved step is in the audit log; the review still lists what is missing.
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'broadcast.draft_saved' AND subject = $1`, fmt.Sprintf("broadcast:%d", id)); n < 5 {
		t.Errorf("%d audited saves of the draft, want one per POST", n)
	}
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d/edit?step=4", sid))
	if !strings.Contains(page, "Some steps need attention") || !strings.Contains(page, "Step 1 (Audience)") {
		t.Errorf("the review does not list the unfinished steps")
	}
}

func mustDep(t *testing.T, ta *testApp, id int64) *int64 {
	t.Helper()
	b, err := ta.db.BroadcastByID(context.Background(), id)
	if err != nil || b.DepartmentID == nil {
		t.Fatalf("broadcast %d has no department (%v)", id, err)
	}
	return b.DepartmentID
}

// A draft is saved step by step: signing in again elsewhere opens it where
// it was left, with everything typed, including text typed but not yet
// submitted (the counter saves it).
func TestBroadcastDraftSurvives(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	id := bcNew(t, ta, admin)
	r := bcStep(t, ta, admin, id, 1, url.Values{"name": {"Sports day"}, "numbers": {"+1 555 010 0101, Kim\n+1 555 010 0102"}})
	wantStatus(t, "step 1", r, http.StatusSeeOther)
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Sports day moved to Friday."}})
	wantStatus(t, "step 2", r, http.StatusSeeOther)
	// Typing in step 3's page after going back to step 2: the counter saves the text.
	tok := ta.csrfOf(admin, fmt.Sprintf("/broadcasts/%d/edit?step=2", id))
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/sms-count", ta.URL, id), url.Values{"sms_body": {"Sports day moved to Friday, {{first_name}}."}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "SMS counter", r, http.StatusOK)
	if !strings.Contains(r.body, `id="bc-sms-count"`) || !strings.Contains(r.body, "SMS segment") {
		t.Errorf("counter fragment: %s", r.body)
	}

	// The tab is gone: a new session opens the list, then the draft.
	other := ta.loginAdmin()
	list, _ := ta.get(other, "/broadcasts")
	if !strings.Contains(list, "Sports day") || !strings.Contains(list, fmt.Sprintf(`href="/broadcasts/%d/edit"`, id)) {
		t.Fatalf("the draft is not in the list")
	}
	page, status := ta.get(other, fmt.Sprintf("/broadcasts/%d/edit", id))
	if status != http.StatusOK || !strings.Contains(page, `data-step="3"`) {
		t.Fatalf("the draft reopened at another step (%d): %s", status, grepLines(page, "data-step"))
	}
	r = doHTTP(t, other, http.MethodGet, fmt.Sprintf("%s/broadcasts/%d", ta.URL, id), nil, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != fmt.Sprintf("/broadcasts/%d/edit", id) {
		t.Errorf("a draft's page goes to %d %q, want the wizard", r.status, r.header.Get("Location"))
	}
	page, _ = ta.get(other, fmt.Sprintf("/broadcasts/%d/edit?step=2", id))
	if !strings.Contains(page, ">Sports day moved to Friday, {{first_name}}.</textarea>") {
		t.Errorf("the SMS text typed is lost:\n%s", grepLines(page, "bc-sms"))
	}
	page, _ = ta.get(other, fmt.Sprintf("/broadcasts/%d/edit?step=1", id))
	if !strings.Contains(page, ">+1 555 010 0101, Kim\n+1 555 010 0102\n</textarea>") || !strings.Contains(page, "2 people") {
		t.Errorf("the numbers or their count are lost:\n%s", grepLines(page, "bc-count"))
	}
}

// Approval: a broadcast over the threshold, or marked urgent by staff, waits
// for an admin; rejecting sends it back with feedback the creator reads and
// edits; approving sends it. Smaller ones by admins go at once.
func TestBroadcastApprovalRules(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	ctx := context.Background()
	admin := ta.loginAdmin()

	// The threshold is a setting (audited); its errors show beside the field.
	tok := ta.csrfOf(admin, "/settings")
	page, _ := ta.get(admin, "/settings")
	for _, want := range []string{"<legend>Broadcasts</legend>", `<label for="bc-threshold">`, `<label for="bc-price-sms">`, `<label for="bc-currency">`} {
		if !strings.Contains(page, want) {
			t.Fatalf("settings page lacks %q", want)
		}
	}
	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/settings/broadcasts", url.Values{"_csrf": {tok}, "approval_threshold": {"lots"},
		"price_sms": {"0.01"}, "price_whatsapp": {"$1"}, "currency": {"usd"}}, nil)
	wantStatus(t, "bad settings", r, http.StatusUnprocessableEntity)
	if bcFieldError(r.body, "bc-threshold") == "" || bcFieldError(r.body, "bc-price-wa") == "" || !strings.Contains(r.body, `value="lots"`) {
		t.Fatalf("settings errors not shown beside their fields")
	}
	r = doHTTP(t, admin, http.MethodPost, ta.URL+"/settings/broadcasts", url.Values{"_csrf": {tok}, "approval_threshold": {"2"},
		"price_sms": {"0.01"}, "price_whatsapp": {"0.02"}, "currency": {"eur"}}, nil)
	wantStatus(t, "save settings", r, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'settings.update' AND subject = 'settings:broadcasts'`); n != 1 {
		t.Fatalf("%d audit entries for the broadcast settings", n)
	}

	pw := ta.addUser("sam@school.example", "staff", "admissions")
	staff := ta.login("sam@school.example", pw)

	// Three recipients by staff: over the threshold of 2.
	big := bcSMSDraft(t, ta, staff, "Open evening", bcNumbers(3, 101), false)
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d/edit?step=5", big))
	if !strings.Contains(page, "more than the 2") || !strings.Contains(page, "Ask for approval") {
		t.Fatalf("step 5 does not say it needs approval:\n%s", grepLines(page, "approv"))
	}
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d/edit?step=4", big))
	if !strings.Contains(page, `id="bc-will-sms">3<`) || !strings.Contains(page, `id="bc-segments">3<`) || !strings.Contains(page, `id="bc-cost">EUR 0.0300<`) {
		t.Errorf("review counts:\n%s", grepLines(page, "bc-will"))
	}
	r = bcSend(t, ta, staff, big)
	wantStatus(t, "send big", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, big); st != "pending_approval" {
		t.Fatalf("over the threshold: %s, want pending_approval", st)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1`, big); n != 0 {
		t.Fatalf("%d recipients prepared before approval", n)
	}

	// Urgent by staff, one recipient: approval too.
	urgent := bcSMSDraft(t, ta, staff, "Burst pipe", bcNumbers(1, 10), true)
	wantStatus(t, "send urgent", bcSend(t, ta, staff, urgent), http.StatusSeeOther)
	if st := bcStatus(t, ta, urgent); st != "pending_approval" {
		t.Fatalf("urgent by staff: %s, want pending_approval", st)
	}

	// The queue lists both with their summary.
	page, status := ta.get(admin, "/broadcasts/approvals")
	if status != http.StatusOK || !strings.Contains(page, "Open evening") || !strings.Contains(page, "Burst pipe") || !strings.Contains(page, `id="bc-will-send">3<`) {
		t.Fatalf("approval queue (%d):\n%s", status, grepLines(page, "bc-will-send"))
	}
	if _, status := ta.get(staff, "/broadcasts/approvals"); status != http.StatusForbidden {
		t.Errorf("staff open the approval queue: %d", status)
	}

	// Rejecting needs feedback; what was typed stays.
	tok = ta.csrfOf(admin, "/broadcasts/approvals")
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/reject", ta.URL, big), url.Values{"_csrf": {tok}, "from": {"queue"}, "feedback": {"  "}}, nil)
	wantStatus(t, "reject without feedback", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, fmt.Sprintf("bc-feedback-%d", big)), "Say what should change") {
		t.Fatalf("no feedback error beside the field")
	}
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/reject", ta.URL, big),
		url.Values{"_csrf": {tok}, "from": {"queue"}, "feedback": {"Please add the start time <7pm> & the room."}}, nil)
	wantStatus(t, "reject", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, big); st != "rejected" {
		t.Fatalf("rejected broadcast is %s", st)
	}
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d", big))
	if !strings.Contains(page, "Please add the start time &lt;7pm&gt; &amp; the room.") || !strings.Contains(page, "Edit the broadcast") {
		t.Fatalf("the creator does not see the feedback (escaped):\n%s", grepLines(page, "feedback"))
	}
	r = doHTTP(t, staff, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/reopen", ta.URL, big), url.Values{"_csrf": {csrfIn(t, page)}}, nil)
	wantStatus(t, "reopen", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, big); st != "draft" {
		t.Fatalf("reopened broadcast is %s", st)
	}
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d/edit", big))
	if !strings.Contains(page, "An approver asked for changes") || !strings.Contains(page, "start time &lt;7pm&gt;") {
		t.Errorf("the wizard does not show the feedback")
	}
	wantStatus(t, "send again", bcSend(t, ta, staff, big), http.StatusSeeOther)
	if st := bcStatus(t, ta, big); st != "pending_approval" {
		t.Fatalf("sent again: %s", st)
	}

	// Approving launches it.
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d", big))
	if !strings.Contains(page, "Approve and send") {
		t.Fatalf("the page offers admins no approval")
	}
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/approve", ta.URL, big), url.Values{"_csrf": {csrfIn(t, page)}}, nil)
	wantStatus(t, "approve", r, http.StatusSeeOther)
	eventually(t, "the approved broadcast to complete", func() bool { return bcStatus(t, ta, big) == "completed" })
	if n := countRows(t, ta, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'submitted'`, big); n != 3 {
		t.Errorf("%d recipients submitted, want 3", n)
	}
	b, err := ta.db.BroadcastRowByID(ctx, big)
	if err != nil || b.ApproverName == "" {
		t.Fatalf("approved by %q (%v)", b.ApproverName, err)
	}
	page, _ = ta.get(staff, fmt.Sprintf("/broadcasts/%d", big))
	if !strings.Contains(page, `class="bc-approver">`+b.ApproverName) {
		t.Errorf("the page does not say who approved it")
	}
	for _, action := range []string{"broadcast.created", "broadcast.submitted_for_approval", "broadcast.rejected", "broadcast.reopened", "broadcast.approved", "broadcast.launched"} {
		if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2`, action, fmt.Sprintf("broadcast:%d", big)); n == 0 {
			t.Errorf("no %s in the audit log", action)
		}
	}

	// An admin's broadcast within the threshold goes at once.
	small := bcSMSDraft(t, ta, admin, "Library books", bcNumbers(2, 20), false)
	r = bcSend(t, ta, admin, small)
	wantStatus(t, "send small", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/broadcasts/%d?done=sent", small) {
		t.Errorf("sent: redirected to %q", loc)
	}
	eventually(t, "the small broadcast to complete", func() bool { return bcStatus(t, ta, small) == "completed" })
}

// Staff of another department get 404 for a broadcast and each of its
// controls; its own department's staff pause, resume and cancel it, with a
// CSRF token (none: 403).
func TestBroadcastScopeAndControls(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	pw := ta.addUser("ana@school.example", "staff", "admissions")
	owner := ta.login("ana@school.example", pw)
	pw2 := ta.addUser("leo@school.example", "staff", "academics")
	outsider := ta.login("leo@school.example", pw2)

	// Eight SMS at the long code's 1 per second: running long enough to control.
	id := bcSMSDraft(t, ta, owner, "Uniform shop", bcNumbers(8, 140), false)
	wantStatus(t, "send", bcSend(t, ta, owner, id), http.StatusSeeOther)
	eventually(t, "the broadcast to run", func() bool { return bcStatus(t, ta, id) == "running" })

	base := fmt.Sprintf("/broadcasts/%d", id)
	outTok := ta.csrfOf(outsider, "/broadcasts")
	for _, path := range []string{base, base + "/edit"} {
		if _, status := ta.get(outsider, path); status != http.StatusNotFound {
			t.Errorf("outsider GET %s: %d, want 404", path, status)
		}
	}
	for _, action := range []string{"pause", "resume", "cancel", "reopen"} {
		r := doHTTP(t, outsider, http.MethodPost, ta.URL+base+"/"+action, url.Values{"_csrf": {outTok}}, nil)
		wantStatus(t, "outsider "+action, r, http.StatusNotFound)
	}
	if list, _ := ta.get(outsider, "/broadcasts"); strings.Contains(list, "Uniform shop") {
		t.Errorf("the outsider's list shows another department's broadcast")
	}
	if st := bcStatus(t, ta, id); st != "running" {
		t.Fatalf("after the outsider's attempts: %s", st)
	}

	page, _ := ta.get(owner, base)
	for _, want := range []string{`role="progressbar"`, `aria-valuenow="`, `id="bc-live-`, ">Pause</button>", "Cancel broadcast", `data-confirm="Cancel`,
		`id="broadcast-report"`, `hx-get="/broadcasts/` + strconv.FormatInt(id, 10) + `/report"`, `hx-trigger="load"`} {
		if !strings.Contains(page, want) {
			t.Errorf("broadcast page lacks %q", want)
		}
	}
	tok := csrfIn(t, page)
	r := doHTTP(t, owner, http.MethodPost, ta.URL+base+"/pause", url.Values{}, map[string]string{"HX-Request": "true"})
	wantStatus(t, "pause without CSRF", r, http.StatusForbidden)

	r = doHTTP(t, owner, http.MethodPost, ta.URL+base+"/pause", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "pause", r, http.StatusOK)
	if !strings.Contains(r.body, `id="bc-live-`) || !strings.Contains(r.body, `hx-swap-oob="true"`) || !strings.Contains(r.body, ">Resume</button>") {
		t.Errorf("pause answer is not the live section with Resume:\n%s", r.body)
	}
	if st := bcStatus(t, ta, id); st != "paused" {
		t.Fatalf("after pause: %s", st)
	}
	r = doHTTP(t, owner, http.MethodPost, ta.URL+base+"/pause", url.Values{"_csrf": {tok}}, nil)
	wantStatus(t, "pause twice", r, http.StatusConflict)

	r = doHTTP(t, owner, http.MethodPost, ta.URL+base+"/resume", url.Values{"_csrf": {tok}}, nil)
	wantStatus(t, "resume", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, id); st != "running" {
		t.Fatalf("after resume: %s", st)
	}
	r = doHTTP(t, owner, http.MethodPost, ta.URL+base+"/cancel", url.Values{"_csrf": {tok}}, nil)
	wantStatus(t, "cancel", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, id); st != "canceled" {
		t.Fatalf("after cancel: %s", st)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'canceled'`, id); n == 0 {
		t.Errorf("no recipient canceled")
	}
	for _, action := range []string{"broadcast.paused", "broadcast.resumed", "broadcast.canceled"} {
		if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2`, action, "broadcast:"+strconv.FormatInt(id, 10)); n != 1 {
			t.Errorf("%d %s audit entries", n, action)
		}
	}
	// Send jobs already waiting for the sender's rate finish before the app
	// stops (they find the recipient canceled).
	eventually(t, "the send jobs to finish", func() bool {
		return countRows(t, ta, `SELECT count(*) FROM river_job WHERE kind = 'broadcast_send' AND state = 'running'`) == 0
	})
	page, _ = ta.get(owner, "/broadcasts?status=canceled")
	if !strings.Contains(page, "Uniform shop") || !strings.Contains(page, `id="bc-row-live-`) {
		t.Errorf("the canceled filter does not list it")
	}
	if page, _ = ta.get(owner, "/broadcasts?status=completed"); strings.Contains(page, "Uniform shop") || !strings.Contains(page, "No broadcasts with this status") {
		t.Errorf("the completed filter lists a canceled broadcast")
	}
}

// The list pages by keyset, newest first, without overlaps.
func TestBroadcastListPaging(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	page, _ := ta.get(admin, "/broadcasts")
	if !strings.Contains(page, "No broadcasts yet") || !strings.Contains(page, `action="/broadcasts/new"`) {
		t.Fatalf("empty list does not say what to do")
	}
	for range 30 {
		bcNew(t, ta, admin)
	}
	seen := map[string]bool{}
	path, pages := "/broadcasts", 0
	rowRe := regexp.MustCompile(`id="bc-row-(\d+)"`)
	moreRe := regexp.MustCompile(`hx-get="(/broadcasts\?after=[^"]+)"`)
	var last int64 = 1 << 62
	for path != "" {
		pages++
		body, status := ta.get(admin, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, status)
		}
		for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("broadcast %s listed twice", m[1])
			}
			seen[m[1]] = true
			id, _ := strconv.ParseInt(m[1], 10, 64)
			if id > last {
				t.Fatalf("not newest first: %d after %d", id, last)
			}
			last = id
		}
		path = ""
		if m := moreRe.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 30 || pages != 2 {
		t.Fatalf("%d broadcasts over %d pages, want 30 over 2", len(seen), pages)
	}
}

// bcMultipart posts step 1 as multipart with a CSV file, as the file field's
// htmx request does.
func bcMultipart(t *testing.T, ta *testApp, c *http.Client, id int64, fields url.Values, filename, content string) httpResult {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	fw, err := w.CreateFormFile("csv", filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte(content))
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/1", ta.URL, id), &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", ta.csrfOf(c, fmt.Sprintf("/broadcasts/%d/edit", id)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// A CSV adds its numbers to the pasted ones; an approved template's
// variables are mapped to contact fields or fixed text, and the review
// shows WhatsApp for families with it and SMS for the others; a schedule in
// the past is refused and one ahead is kept (quiet hours stay on here: a
// scheduled broadcast sends nothing now).
func TestBroadcastCSVTemplateAndSchedule(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admin := ta.loginAdmin()
	id := bcNew(t, ta, admin)

	csv := "\xef\xbb\xbfPhone;Name\n+1 555 010 0301;Zoë Underwood\n+1 555 010 0302;Bo\n"
	r := bcMultipart(t, ta, admin, id, url.Values{"name": {"Closure"}, "numbers": {"+1 555 010 0300, Al"}, "nav": {"csv"}}, "parents.csv", csv)
	wantStatus(t, "add CSV", r, http.StatusOK)
	if !strings.Contains(r.body, "Added 2 numbers from parents.csv") ||
		!strings.Contains(r.body, ">+1 555 010 0300, Al\n+1 555 010 0301, Zoë Underwood\n+1 555 010 0302, Bo\n</textarea>") {
		t.Fatalf("the CSV's numbers are not in the list:\n%s", grepLines(r.body, "bc-numbers"))
	}
	r = bcMultipart(t, ta, admin, id, url.Values{"name": {"Closure"}, "numbers": {""}, "nav": {"csv"}}, "empty.csv", "Phone,Name\n")
	wantStatus(t, "empty CSV", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-csv"), "no numbers") {
		t.Errorf("no error beside the file field for an empty file")
	}

	// Two contacts in a group: one on WhatsApp, one SMS only.
	wa := seedContact(t, ta, "+15550140101", "Maria Quintero", "", "guardian", true, "")
	sms := seedContact(t, ta, "+15550140102", "John Smith", "", "guardian", false, "")
	group := bcGroup(t, ta, "Class 7B", wa, sms)
	r = bcStep(t, ta, admin, id, 1, url.Values{"name": {"Closure"}, "group_id": {strconv.FormatInt(group, 10)}})
	wantStatus(t, "step 1 with a group", r, http.StatusSeeOther)

	var tpl int64
	err := ta.db.Pool.QueryRow(ctx, `INSERT INTO templates (content_sid, friendly_name, logical_name, language, types, variable_map, approval_status)
		VALUES ('HX00000000000000000000000000000001', 'closure_notice_en', 'closure_notice', 'en',
		'{"twilio/text": {"body": "Dear {{1}}, the school is closed on {{2}}."}}', '{"1": "first_name"}', 'approved') RETURNING id`).Scan(&tpl)
	if err != nil {
		t.Fatal(err)
	}
	tplID := strconv.FormatInt(tpl, 10)
	page, _ := ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=2", id))
	if !strings.Contains(page, `<option value="`+tplID+`">closure_notice · English</option>`) {
		t.Fatalf("the approved template is not offered:\n%s", grepLines(page, "option"))
	}
	r = doHTTP(t, admin, http.MethodGet, fmt.Sprintf("%s/broadcasts/%d/template?template_id=%s", ta.URL, id, tplID), nil, map[string]string{"HX-Request": "true"})
	wantStatus(t, "template variables", r, http.StatusOK)
	if !strings.Contains(r.body, `<option value="first_name" selected>First name</option>`) || !strings.Contains(r.body, `id="bc-var-value-2"`) ||
		!strings.Contains(r.body, "Dear [First name], the school is closed on {{2}}.") {
		t.Fatalf("variables not mapped from the template:\n%s", r.body)
	}
	content := url.Values{"purpose": {"transactional"}, "mode": {"whatsapp_then_sms"}, "template_id": {tplID},
		"var_field_1": {"first_name"}, "var_value_2": {""}, "sms_body": {"School closed Monday, {{first_name}}."}}
	r = bcStep(t, ta, admin, id, 2, content)
	wantStatus(t, "variable 2 unmapped", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-var-2"), "{{2}}") {
		t.Fatalf("no error beside variable 2:\n%s", grepLines(r.body, "bc-var"))
	}
	content.Set("var_value_2", "Monday")
	r = bcStep(t, ta, admin, id, 2, content)
	wantStatus(t, "template step", r, http.StatusSeeOther)
	dep, err := ta.db.DepartmentIDBySlug(ctx, "admissions")
	if err != nil {
		t.Fatal(err)
	}
	r = bcStep(t, ta, admin, id, 3, url.Values{"department_id": {strconv.FormatInt(dep, 10)}, "strategy": {"department"}})
	wantStatus(t, "sender", r, http.StatusSeeOther)
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=4", id))
	for _, want := range []string{`id="bc-will-whatsapp">1<`, `id="bc-will-sms">1<`, `id="bc-will-send">2<`,
		"Dear Maria, the school is closed on Monday.", "School closed Monday, John."} {
		if !strings.Contains(page, want) {
			t.Errorf("review lacks %q", want)
		}
	}

	// Step 5: quiet hours are shown; a schedule in the past is refused with
	// what was typed; one ahead is kept and shown.
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=5", id))
	if !strings.Contains(page, "Quiet hours are 21:00–07:00 (UTC)") || !strings.Contains(page, `<label for="bc-date">Date</label>`) {
		t.Fatalf("step 5 does not show quiet hours or the schedule fields:\n%s", grepLines(page, "Quiet"))
	}
	past := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	r = bcStep(t, ta, admin, id, 5, url.Values{"when": {"later"}, "schedule_date": {past}, "schedule_time": {"09:30"}})
	wantStatus(t, "schedule in the past", r, http.StatusUnprocessableEntity)
	if !strings.Contains(bcFieldError(r.body, "bc-time"), "has passed") || !strings.Contains(r.body, `value="`+past+`"`) {
		t.Fatalf("past schedule not explained, or typed date lost")
	}
	ahead := time.Now().UTC().AddDate(0, 0, 2)
	r = bcStep(t, ta, admin, id, 5, url.Values{"when": {"later"}, "schedule_date": {ahead.Format("2006-01-02")}, "schedule_time": {"09:30"}})
	wantStatus(t, "schedule", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, id); st != "scheduled" {
		t.Fatalf("scheduled broadcast is %s", st)
	}
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d", id))
	if !strings.Contains(page, "Scheduled for "+ahead.Format("Mon 2 Jan 2006")+" 09:30 (UTC)") || !strings.Contains(page, "Cancel broadcast") {
		t.Errorf("the page does not show the schedule:\n%s", grepLines(page, "Scheduled"))
	}
	list, _ := ta.get(admin, "/broadcasts?status=scheduled")
	if !strings.Contains(list, "Closure") || !strings.Contains(list, "Sends ") {
		t.Errorf("the list does not show when it sends")
	}
	r = doHTTP(t, admin, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/cancel", ta.URL, id), url.Values{"_csrf": {csrfIn(t, page)}}, nil)
	wantStatus(t, "cancel the scheduled broadcast", r, http.StatusSeeOther)
	if st := bcStatus(t, ta, id); st != "canceled" {
		t.Errorf("after cancel: %s", st)
	}
}

// A GET made a draft: any link (another site's included) or a reload of
// /broadcasts/new added an empty broadcast. Starting one is now a POST
// with the CSRF token; the GET only offers the button.
func TestNewBroadcastOnlyByPost(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	drafts := func() int {
		var n int
		if err := ta.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM broadcasts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 2 {
		r := doHTTP(t, admin, http.MethodGet, ta.URL+"/broadcasts/new", nil, nil)
		wantStatus(t, "GET /broadcasts/new", r, http.StatusOK)
		if !strings.Contains(r.body, `action="/broadcasts/new"`) || !strings.Contains(r.body, "Start a new broadcast") {
			t.Fatalf("GET /broadcasts/new does not offer to start one: %.300s", r.body)
		}
	}
	if n := drafts(); n != 0 {
		t.Fatalf("%d drafts after two GETs, want 0", n)
	}
	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/broadcasts/new", url.Values{}, nil)
	wantStatus(t, "POST without a CSRF token", r, http.StatusForbidden)
	if n := drafts(); n != 0 {
		t.Fatalf("%d drafts after a POST without a token, want 0", n)
	}
	bcNew(t, ta, admin)
	if n := drafts(); n != 1 {
		t.Fatalf("%d drafts after starting one, want 1", n)
	}
}
