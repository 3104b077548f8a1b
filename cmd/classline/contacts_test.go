package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

var (
	contactRowID = regexp.MustCompile(`<tr id="contact-(\d+)"`)
	contactMore  = regexp.MustCompile(`<tr id="contact-more">\s*<td[^>]*>\s*<a [^>]*hx-get="([^"]+)"`)
	contactCount = regexp.MustCompile(`<p class="muted" id="contact-count">\s*([^<]*)</p>`)
)

// seedContact inserts a contact directly and returns its id.
func seedContact(t *testing.T, ta *testApp, phone, name, profile, role string, whatsapp bool, custom string) int64 {
	t.Helper()
	if custom == "" {
		custom = "{}"
	}
	var id int64
	err := ta.db.Pool.QueryRow(context.Background(), `INSERT INTO contacts (phone, name, profile_name, role, whatsapp_capable, custom_fields)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, phone, name, profile, role, whatsapp, custom).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func rowIDs(body string) []int64 {
	var out []int64
	for _, m := range contactRowID.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

// listAll walks the list from path through every "Load more" and returns
// the ids in order, failing on any overlap between pages.
func listAll(t *testing.T, ta *testApp, c *http.Client, path string) (ids []int64, pages int) {
	t.Helper()
	body, status := ta.get(c, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, status)
	}
	seen := map[int64]bool{}
	for {
		pages++
		for _, id := range rowIDs(body) {
			if seen[id] {
				t.Fatalf("contact %d on two pages (page %d of %s)", id, pages, path)
			}
			seen[id] = true
			ids = append(ids, id)
		}
		m := contactMore.FindStringSubmatch(body)
		if m == nil {
			return ids, pages
		}
		next := html.UnescapeString(m[1])
		if !strings.Contains(next, "after=") {
			t.Fatalf("load-more link without a cursor: %s", next)
		}
		r := doHTTP(t, c, http.MethodGet, ta.URL+next, nil, map[string]string{"HX-Request": "true", "HX-Target": "contact-more"})
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", next, r.status)
		}
		if strings.Contains(r.body, "<html") {
			t.Fatalf("load more answered a whole page")
		}
		body = r.body
	}
}

func listNames(t *testing.T, ta *testApp, c *http.Client, path string) []string {
	t.Helper()
	ids, _ := listAll(t, ta, c, path)
	var names []string
	for _, id := range ids {
		var n string
		if err := ta.db.Pool.QueryRow(context.Background(), `SELECT coalesce(nullif(name, ''), profile_name) FROM contacts WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

// 120 contacts: the list pages through them in name order with a cursor,
// pages neither overlap nor miss anyone, and search and filters narrow it.
func TestContactsListSearchFilterKeyset(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	var all []int64
	for i := range 120 {
		role := "guardian"
		if i%4 == 0 {
			role = "student"
		}
		name := fmt.Sprintf("Parent %03d", i)
		profile := ""
		if i%10 == 0 {
			// Some are known only by their WhatsApp name; they sort by it.
			name, profile = "", fmt.Sprintf("Parent %03d", i)
		}
		all = append(all, seedContact(t, ta, fmt.Sprintf("+1555010%04d", i), name, profile, role, i%3 != 0, ""))
	}
	// Ties on the name are broken by id, so they still page cleanly.
	twinA := seedContact(t, ta, "+15550109001", "Parent 050", "", "guardian", true, "")
	twinB := seedContact(t, ta, "+15550109002", "Parent 050", "", "guardian", true, "")
	all = append(all, twinA, twinB)
	// A merged contact is never listed.
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO contacts (phone, name, merged_into) VALUES ('+15550100001', 'Merged away', $1)`, all[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.db.Pool.Exec(ctx, `INSERT INTO consent_events (phone, purpose, opted_in, method) VALUES ('+15550100007', 'transactional', false, 'keyword'), ('+15550100008', 'transactional', true, 'web_form')`); err != nil {
		t.Fatal(err)
	}

	admin := ta.loginAdmin()
	ids, pages := listAll(t, ta, admin, "/contacts")
	if len(ids) != len(all) {
		t.Fatalf("listed %d contacts over %d pages, want %d", len(ids), pages, len(all))
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3 of 50", pages)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	got := slices.Clone(ids)
	slices.Sort(got)
	if !slices.Equal(got, sorted) {
		t.Fatalf("the pages do not cover every contact")
	}
	names := listNames(t, ta, admin, "/contacts")
	if !slices.IsSorted(names) {
		t.Fatalf("not in name order: %v", names[:10])
	}

	body, _ := ta.get(admin, "/contacts")
	if m := contactCount.FindStringSubmatch(body); m == nil || strings.TrimSpace(m[1]) != "122 contacts" {
		t.Fatalf("count line: %v", m)
	}

	cases := []struct {
		path string
		want int
	}{
		{"/contacts?q=parent+01", 10},        // name, any case
		{"/contacts?q=Parent+020", 1},        // WhatsApp profile name only
		{"/contacts?q=(555)+010-0042", 1},    // number typed locally
		{"/contacts?q=%2B1+555+010+0042", 1}, // number typed internationally
		{"/contacts?q=0100042", 1},           // digits in the middle
		{"/contacts?q=nobody", 0},
		{"/contacts?role=student", 30},
		{"/contacts?channel=sms", 40},
		{"/contacts?channel=whatsapp", 82},
		{"/contacts?consent=out", 1},
		{"/contacts?consent=in", 1},
		{"/contacts?consent=unknown", 120},
		{"/contacts?role=student&channel=sms&q=parent+0", 9}, // i<100, i%12==0
		{"/contacts?q=50%25", 0},                             // LIKE wildcards are literal
	}
	for _, tc := range cases {
		ids, _ := listAll(t, ta, admin, tc.path)
		if len(ids) != tc.want {
			t.Errorf("%s: %d contacts, want %d", tc.path, len(ids), tc.want)
		}
	}

	// Search as you type asks for the results block only, and its count.
	r := doHTTP(t, admin, http.MethodGet, ta.URL+"/contacts?q=parent+01", nil, map[string]string{"HX-Request": "true", "HX-Target": "contact-results"})
	if r.status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(r.body), `<section id="contact-results"`) {
		t.Fatalf("results fragment: %d %.200s", r.status, r.body)
	}
	if m := contactCount.FindStringSubmatch(r.body); m == nil || !strings.Contains(m[1], "10 contacts match") {
		t.Fatalf("filtered count: %v", m)
	}

	// A group filter: static membership.
	tok := ta.csrfOf(admin, "/groups")
	resp := ta.postForm(admin, "/groups", url.Values{"_csrf": {tok}, "name": {"Choir"}, "kind": {"static"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create group: %d", resp.StatusCode)
	}
	gid := strings.TrimPrefix(strings.Split(resp.Header.Get("Location"), "?")[0], "/groups/")
	for _, phone := range []string{"+15550100003", "555-010-0005"} {
		ta.mustPost(admin, "/groups/"+gid+"/members", url.Values{"_csrf": {tok}, "phone": {phone}}, http.StatusSeeOther)
	}
	if ids, _ := listAll(t, ta, admin, "/contacts?group="+gid); len(ids) != 2 {
		t.Fatalf("group filter: %d contacts, want 2", len(ids))
	}
	body, _ = ta.get(admin, "/contacts?q=parent+003")
	if !strings.Contains(body, "Choir") {
		t.Fatalf("the row does not show its group")
	}
}

func adminID(t *testing.T, ta *testApp) int64 {
	t.Helper()
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE lower(email) = lower($1)`, ta.AdminEML).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// Adding by hand, editing with validation, and guardian↔student links.
func TestContactCreateEditAndLinks(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/contacts")

	// Created with a local number, stored E.164.
	resp := ta.postForm(admin, "/contacts", url.Values{"_csrf": {tok}, "name": {"Maria Lopez"}, "phone": {"(555) 010-7001"}, "role": {"guardian"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	var maria int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = '+15550107001'`).Scan(&maria); err != nil {
		t.Fatal(err)
	}
	// The same number again: the error sits next to the phone field and
	// what was typed is kept.
	body := ta.mustPost(admin, "/contacts", url.Values{"_csrf": {tok}, "name": {"Maria again"}, "phone": {"+1 555 010 7001"}, "role": {"guardian"}}, http.StatusUnprocessableEntity)
	if !regexp.MustCompile(`id="new-contact-phone"[^>]*value="\+1 555 010 7001"`).MatchString(body) ||
		!strings.Contains(body, `id="new-contact-phone-error"`) || !strings.Contains(body, "Maria Lopez already has this number") {
		t.Fatalf("duplicate number not explained next to the field: %s", body)
	}
	if !strings.Contains(body, `value="Maria again"`) {
		t.Fatalf("typed name lost")
	}
	ta.mustPost(admin, "/contacts", url.Values{"_csrf": {tok}, "name": {"X"}, "phone": {"12"}, "role": {"guardian"}}, http.StatusUnprocessableEntity)
	if n := countRows(t, ta, `SELECT count(*) FROM contacts`); n != 1 {
		t.Fatalf("%d contacts after failed creates", n)
	}

	path := fmt.Sprintf("/contacts/%d", maria)
	// Invalid edits: 422, errors by the fields, values kept, nothing saved.
	body = ta.mustPost(admin, path, url.Values{"_csrf": {tok}, "name": {"Maria L."}, "role": {"principal"}, "language": {"es"},
		"preferred_channel": {"whatsapp"}, "class": {"7B"}}, http.StatusUnprocessableEntity)
	for _, want := range []string{`id="contact-role-edit-error"`, `id="contact-channel-pref-error"`, `value="Maria L."`, `value="7B"`} {
		if !strings.Contains(body, want) {
			t.Errorf("invalid edit page lacks %s", want)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE name = 'Maria L.'`); n != 0 {
		t.Fatal("an invalid edit was saved")
	}
	// A valid edit, keeping a custom field set by an import.
	if _, err := ta.db.Pool.Exec(ctx, `UPDATE contacts SET custom_fields = '{"house": "Red"}' WHERE id = $1`, maria); err != nil {
		t.Fatal(err)
	}
	ta.mustPost(admin, path, url.Values{"_csrf": {tok}, "name": {" Maria  López "}, "role": {"guardian"}, "language": {"es"},
		"preferred_channel": {"sms"}, "student_name": {"Leo López"}, "class": {"7B"}, "student_id": {""}}, http.StatusSeeOther)
	var name, lang, pref string
	var wa bool
	var custom map[string]string
	if err := ta.db.Pool.QueryRow(ctx, `SELECT name, language, coalesce(preferred_channel, ''), whatsapp_capable, custom_fields FROM contacts WHERE id = $1`, maria).
		Scan(&name, &lang, &pref, &wa, &custom); err != nil {
		t.Fatal(err)
	}
	if name != "Maria López" || lang != "es" || pref != "sms" || wa {
		t.Fatalf("saved %q %q %q %v", name, lang, pref, wa)
	}
	if want := map[string]string{"house": "Red", "student_name": "Leo López", "class": "7B"}; fmt.Sprint(custom) != fmt.Sprint(want) {
		t.Fatalf("custom fields %v, want %v", custom, want)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'contact.update' AND subject = $1`, fmt.Sprintf("contact:%d", maria)); n != 1 {
		t.Fatalf("%d audit entries for the edit", n)
	}

	// Links: from the guardian's page, by the student's number.
	leo := seedContact(t, ta, "+15550107002", "Leo López", "", "student", false, "")
	body = ta.mustPost(admin, path+"/links", url.Values{"_csrf": {tok}, "phone": {"+15550109999"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, "No contact has this number") {
		t.Fatalf("unknown number not explained")
	}
	ta.mustPost(admin, path+"/links", url.Values{"_csrf": {tok}, "phone": {"555 010 7002"}, "relation": {"mother"}}, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM contact_links WHERE guardian_id = $1 AND student_id = $2 AND relation = 'mother'`, maria, leo); n != 1 {
		t.Fatal("link not stored guardian→student")
	}
	// The student's page shows the guardian.
	body, _ = ta.get(admin, fmt.Sprintf("/contacts/%d", leo))
	if !strings.Contains(body, fmt.Sprintf(`href="/contacts/%d"`, maria)) || !strings.Contains(body, "(mother)") {
		t.Fatalf("student page lacks the guardian link")
	}
	ta.mustPost(admin, fmt.Sprintf("/contacts/%d/links/%d/delete", leo, maria), url.Values{"_csrf": {tok}}, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM contact_links`); n != 0 {
		t.Fatal("unlink kept the link")
	}

	// An old link to a merged contact leads to the one it was merged into.
	var merged int64
	if err := ta.db.Pool.QueryRow(ctx, `INSERT INTO contacts (phone, name, merged_into) VALUES ('+15550107001', 'Old Maria', $1) RETURNING id`, maria).Scan(&merged); err != nil {
		t.Fatal(err)
	}
	r := doHTTP(t, admin, http.MethodGet, fmt.Sprintf("%s/contacts/%d", ta.URL, merged), nil, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path {
		t.Fatalf("merged contact: %d → %q, want %s", r.status, r.header.Get("Location"), path)
	}
	if _, status := ta.get(admin, "/contacts/999999"); status != http.StatusNotFound {
		t.Fatalf("unknown contact: %d", status)
	}
}

// Staff record nothing; admins record consent, which lands in the ledger
// (method staff, who, why), the audit log and the page's history.
func TestContactConsentRecordedAndShown(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	id := seedContact(t, ta, "+15550107101", "Sam Green", "", "guardian", true, "")
	if _, err := ta.db.Pool.Exec(context.Background(), `INSERT INTO consent_events (phone, purpose, opted_in, method, source, created_at) VALUES ('+15550107101', 'transactional', false, 'keyword', 'STOP', now() - interval '1 day')`); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/contacts/%d", id)
	tok := ta.csrfOf(admin, path)
	body := ta.mustPost(admin, path+"/consent", url.Values{"_csrf": {tok}, "purpose": {"transactional"}, "opted_in": {"in"}, "reason": {"  "}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="consent-reason-error"`) {
		t.Fatal("missing reason not flagged by the field")
	}
	ta.mustPost(admin, path+"/consent", url.Values{"_csrf": {tok}, "purpose": {"transactional"}, "opted_in": {"in"}, "reason": {"Signed form at parents' evening"}}, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events WHERE phone = '+15550107101' AND method = 'staff' AND opted_in
		AND source = 'Signed form at parents'' evening' AND recorded_by = $1`, adminID(t, ta)); n != 1 {
		t.Fatal("consent event not in the ledger")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'contact.consent'`); n != 1 {
		t.Fatal("consent not audited")
	}
	body, _ = ta.get(admin, path+"?done=consent")
	hist := body[strings.Index(body, `class="table consent-history"`):]
	first, second := strings.Index(hist, "Signed form at parents&#39; evening"), strings.Index(hist, "STOP")
	if first < 0 || second < 0 || first > second {
		t.Fatalf("history not newest first: %d %d", first, second)
	}
	if !strings.Contains(hist, "Recorded by staff") || !strings.Contains(hist, "Keyword (STOP/START)") {
		t.Fatal("history lacks the methods")
	}
	// The current state follows the newest event.
	if !strings.Contains(body[:strings.Index(body, "contact-page")], "Opted in") {
		t.Fatal("header pill not updated to opted in")
	}
	if ids, _ := listAll(t, ta, admin, "/contacts?consent=in"); !slices.Equal(ids, []int64{id}) {
		t.Fatalf("consent filter after recording: %v", ids)
	}
}

// Staff see contacts but cannot change them, and see only their own
// departments' conversations on a contact's page.
func TestContactStaffAccess(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	pw := ta.addUser("fin@example.org", "staff", "finance")
	if _, err := ta.db.EnsureDepartment(ctx, "admissions", "Admissions"); err != nil {
		t.Fatal(err)
	}
	fin, adm := ta.departmentID("finance"), ta.departmentID("admissions")
	sf, err := ta.db.EnsureSender(ctx, "whatsapp", "+14155550190", "Finance desk", &fin)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ta.db.EnsureSender(ctx, "sms", "+14155550191", "Admissions desk", &adm)
	if err != nil {
		t.Fatal(err)
	}
	id := seedContact(t, ta, "+15550107201", "Dana Fox", "", "guardian", true, "")
	var convF, convA int64
	err = ta.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if convF, err = db.UpsertConversationTx(ctx, tx, id, sf); err != nil {
			return err
		}
		convA, err = db.UpsertConversationTx(ctx, tx, id, sa)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	staff := ta.login("fin@example.org", pw)
	path := fmt.Sprintf("/contacts/%d", id)
	body, status := ta.get(staff, path)
	if status != http.StatusOK {
		t.Fatalf("staff GET contact: %d", status)
	}
	if !strings.Contains(body, fmt.Sprintf(`href="/conversations/%d"`, convF)) {
		t.Fatal("staff do not see their department's conversation")
	}
	if strings.Contains(body, fmt.Sprintf(`href="/conversations/%d"`, convA)) || strings.Contains(body, "Admissions desk") {
		t.Fatal("staff see another department's conversation")
	}
	if !strings.Contains(body, "1 more conversation is in other departments") {
		t.Fatal("hidden conversation not mentioned")
	}
	if strings.Contains(body, `id="contact-form"`) || strings.Contains(body, "Record consent") {
		t.Fatal("staff are offered the edit forms")
	}
	if _, status := ta.get(staff, "/contacts"); status != http.StatusOK {
		t.Fatalf("staff GET /contacts: %d", status)
	}
	tok := ta.csrfOf(staff, path)
	for _, p := range []string{path, path + "/consent", path + "/links", "/contacts", "/groups"} {
		resp := ta.postForm(staff, p, url.Values{"_csrf": {tok}, "name": {"Hacked"}, "role": {"guardian"}, "purpose": {"marketing"}, "opted_in": {"in"}, "reason": {"x"}, "kind": {"static"}, "phone": {"+15550107299"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff POST %s: %d, want 403", p, resp.StatusCode)
		}
	}
	if _, status := ta.get(staff, "/contacts/export.csv"); status != http.StatusForbidden {
		t.Errorf("staff export: %d, want 403", status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE name = 'Hacked'`) + countRows(t, ta, `SELECT count(*) FROM consent_events`) + countRows(t, ta, `SELECT count(*) FROM groups`); n != 0 {
		t.Fatal("a staff post changed something")
	}
	// Admins see both.
	body, _ = ta.get(ta.loginAdmin(), path)
	if !strings.Contains(body, fmt.Sprintf(`href="/conversations/%d"`, convA)) || !strings.Contains(body, fmt.Sprintf(`href="/conversations/%d"`, convF)) {
		t.Fatal("admin does not see every conversation")
	}
}

func readCSV(t *testing.T, ta *testApp, c *http.Client, path string) [][]string {
	t.Helper()
	r := doHTTP(t, c, http.MethodGet, ta.URL+path, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatal("not a download")
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Exports follow the filters, defuse formulas and keep UTF-8.
func TestContactExportCSV(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	seedContact(t, ta, "+15550107301", "=cmd()", "", "guardian", true, `{"class": "7B"}`)
	seedContact(t, ta, "+15550107302", "Zoë Ñúñez", "", "guardian", false, `{"class": "@SUM(1)"}`)
	seedContact(t, ta, "+15550107303", "Student One", "", "student", true, `{"class": "7B"}`)
	admin := ta.loginAdmin()

	recs := readCSV(t, ta, admin, "/contacts/export.csv?role=guardian")
	if len(recs) != 3 || recs[0][0] != "name" || recs[0][1] != "phone" {
		t.Fatalf("export: %v", recs)
	}
	if recs[1][0] != "'=cmd()" {
		t.Fatalf("formula not defused: %q", recs[1][0])
	}
	if recs[2][0] != "Zoë Ñúñez" || recs[2][7] != "'@SUM(1)" || recs[2][4] != "no" {
		t.Fatalf("row 2: %q", recs[2])
	}
	if all := readCSV(t, ta, admin, "/contacts/export.csv"); len(all) != 4 {
		t.Fatalf("unfiltered export has %d lines", len(all))
	}

	// A smart group's export is its computed members.
	tok := ta.csrfOf(admin, "/groups")
	resp := ta.postForm(admin, "/groups", url.Values{"_csrf": {tok}, "name": {"Class 7B"}, "kind": {"smart"}, "filter_field": {"class"}, "filter_value": {"7b"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create smart group: %d", resp.StatusCode)
	}
	loc := strings.Split(resp.Header.Get("Location"), "?")[0]
	recs = readCSV(t, ta, admin, loc+"/export.csv")
	if len(recs) != 3 || recs[1][0] != "'=cmd()" || recs[2][0] != "Student One" {
		t.Fatalf("group export: %v", recs)
	}
}

// Groups: static ones gain and lose members by hand, smart ones compute
// them; rename and delete; errors next to their fields.
func TestGroupsManage(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	for i := range 60 {
		class := "7A"
		if i%2 == 0 {
			class = "7B"
		}
		seedContact(t, ta, fmt.Sprintf("+1555011%04d", i), fmt.Sprintf("Kid %02d", i), "", "student", true, fmt.Sprintf(`{"class": %q}`, class))
	}
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/groups")

	body := ta.mustPost(admin, "/groups", url.Values{"_csrf": {tok}, "name": {""}, "kind": {"smart"}, "filter_field": {"class"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="group-name-error"`) || !strings.Contains(body, `id="filter-value-error"`) {
		t.Fatal("group form errors not by their fields")
	}
	resp := ta.postForm(admin, "/groups", url.Values{"_csrf": {tok}, "name": {"Class 7B"}, "kind": {"smart"}, "filter_role": {"student"}, "filter_field": {"class"}, "filter_value": {"7B"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create smart: %d", resp.StatusCode)
	}
	smart := strings.Split(resp.Header.Get("Location"), "?")[0]
	ids, pages := listAll(t, ta, admin, smart)
	if len(ids) != 30 || pages != 1 {
		t.Fatalf("smart group lists %d members on %d pages", len(ids), pages)
	}
	// Members cannot be added to a smart group by hand.
	body = ta.mustPost(admin, smart+"/members", url.Values{"_csrf": {tok}, "phone": {"+15550110001"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, "follow its filter") {
		t.Fatal("adding to a smart group not refused clearly")
	}

	resp = ta.postForm(admin, "/groups", url.Values{"_csrf": {tok}, "name": {"Trip"}, "kind": {"static"}})
	static := strings.Split(resp.Header.Get("Location"), "?")[0]
	for i := range 55 {
		ta.mustPost(admin, static+"/members", url.Values{"_csrf": {tok}, "phone": {fmt.Sprintf("+1555011%04d", i)}}, http.StatusSeeOther)
	}
	body = ta.mustPost(admin, static+"/members", url.Values{"_csrf": {tok}, "phone": {"+15550119999"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="member-phone-error"`) || !strings.Contains(body, `value="+15550119999"`) {
		t.Fatal("unknown member number not explained by the field")
	}
	ids, pages = listAll(t, ta, admin, static)
	if len(ids) != 55 || pages != 2 {
		t.Fatalf("static group lists %d members on %d pages", len(ids), pages)
	}
	ta.mustPost(admin, fmt.Sprintf("%s/members/%d/delete", static, ids[0]), url.Values{"_csrf": {tok}}, http.StatusSeeOther)
	// And from the contact page.
	ta.mustPost(admin, fmt.Sprintf("/contacts/%d/groups/%s/delete", ids[1], strings.TrimPrefix(static, "/groups/")), url.Values{"_csrf": {tok}}, http.StatusSeeOther)
	ta.mustPost(admin, fmt.Sprintf("/contacts/%d/groups", ids[0]), url.Values{"_csrf": {tok}, "group": {strings.TrimPrefix(static, "/groups/")}}, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM group_members`); n != 54 {
		t.Fatalf("%d members after remove/remove/add, want 54", n)
	}
	body, _ = ta.get(admin, "/groups")
	for _, want := range []string{"Class 7B", "Trip", ">30<", ">54<", "student, class is 7B"} {
		if !strings.Contains(body, want) {
			t.Errorf("groups page lacks %q", want)
		}
	}

	ta.mustPost(admin, static, url.Values{"_csrf": {tok}, "name": {" "}}, http.StatusUnprocessableEntity)
	ta.mustPost(admin, static, url.Values{"_csrf": {tok}, "name": {"Museum trip"}}, http.StatusSeeOther)
	ta.mustPost(admin, static+"/delete", url.Values{"_csrf": {tok}}, http.StatusSeeOther)
	if n := countRows(t, ta, `SELECT count(*) FROM groups`); n != 1 {
		t.Fatalf("%d groups after delete", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts`); n != 60 {
		t.Fatal("deleting a group deleted contacts")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action LIKE 'group.%'`); n < 5 {
		t.Fatalf("group changes not audited (%d entries)", n)
	}
	if _, status := ta.get(admin, static); status != http.StatusNotFound {
		t.Fatalf("deleted group: %d", status)
	}
}

// An empty desk says what to do next.
func TestContactsEmptyState(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	body, _ := ta.get(ta.loginAdmin(), "/contacts")
	if !strings.Contains(body, "No contacts yet") || !strings.Contains(body, `href="/contacts/import"`) {
		t.Fatal("empty contacts page does not point to the import")
	}
}
