package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// The authorization matrix: every route the running server registers ×
// four actors (signed out, staff of department A, staff of department B,
// an admin), each with the outcome it must get. The routes come from Echo
// itself, so a new route without a row here fails the test, and so does a
// row for a route that no longer exists.
//
// Department A is admissions, B is academics. The fixture seeds real data
// owned by A (a conversation with an inbound message, a reply with an
// uploaded file, a note, a saved reply, a broadcast draft with an
// attachment) and admin-side data (a contact import with a bad row, a
// group, a template, a spare sender, department and user), so every id in
// a URL exists: a 404 for B is the department check, not a missing row.
//
// Contacts are a school-wide directory by design (handlers/contacts.go:
// every signed-in user may look, admins change): B may open the page of a
// contact who only ever wrote to A, but sees none of A's conversations or
// messages there. The leak check below holds for every response B gets.

type actor int

const (
	anonymous actor = iota
	staffOfA
	staffOfB
	adminUser
)

var actorNames = [...]string{"anonymous", "staff of A", "staff of B", "admin"}

func (a actor) String() string { return actorNames[a] }

type outcome int

const (
	toLogin   outcome = iota // signed out: 303 to /login (htmx: 401 + HX-Redirect)
	allowed                  // past every access check: no 401/403/404, no 5xx, not sent to /login
	hidden                   // 404: another department's, or does not exist
	forbidden                // 403: admins only
	ok200                    // exactly 200 (public routes)
	unsigned                 // 403: a Twilio webhook without a signature
	badLogin                 // 401: a sign-in with a wrong password
	signsOut                 // 303 to /login: logging out
)

var outcomeNames = map[outcome]string{toLogin: "sent to sign in", allowed: "allowed", hidden: "404",
	forbidden: "403", ok200: "200", unsigned: "403 (unsigned webhook)", badLogin: "401 (wrong password)",
	signsOut: "303 to /login (signed out)"}

// authzCase is one request to make as each actor.
type authzCase struct {
	path string // with the fixture's ids (and a query when the route needs one)
	form url.Values
	// want is the outcome per actor: anonymous, staff of A, staff of B, admin.
	want [4]outcome
	// shows is text an allowed GET must contain: proof the id is real data.
	shows string
	// pathFor, when set, gives a fresh target per actor (deleting the same
	// saved reply twice would make the second actor's answer a plain 404).
	pathFor func(actor) string
	fresh   bool // a newly signed-in session per actor (logout)
	stream  bool // SSE: read only the status
	last    bool // destructive: run after every other route
}

func staffCase(path string) []authzCase {
	return []authzCase{{path: path, want: [4]outcome{toLogin, allowed, allowed, allowed}}}
}

// deptCase: a resource of department A.
func deptCase(path string) []authzCase {
	return []authzCase{{path: path, want: [4]outcome{toLogin, allowed, hidden, allowed}}}
}

func adminCase(path string) []authzCase {
	return []authzCase{{path: path, want: [4]outcome{toLogin, forbidden, forbidden, allowed}}}
}

func publicCase(path string) []authzCase {
	return []authzCase{{path: path, want: [4]outcome{ok200, ok200, ok200, ok200}}}
}

func with(cs []authzCase, f func(*authzCase)) []authzCase {
	for i := range cs {
		f(&cs[i])
	}
	return cs
}

// Secrets of department A: no response to staff of B or to a signed-out
// request may contain any of them.
const (
	secretInbound   = "A-SECRET-inbound-Q7"
	secretReply     = "A-SECRET-reply-Q7"
	secretNote      = "A-SECRET-note-Q7"
	secretCanned    = "A-SECRET-canned-Q7"
	secretBroadcast = "A-SECRET-broadcast-Q7"
	secretBCName    = "A-SECRET-bcname-Q7"
	secretImport    = "IMPORT-SECRET-Q7" // admins only
)

var departmentASecrets = []string{secretInbound, secretReply, secretNote, secretCanned, secretBroadcast, secretBCName}

// authzFixture is the seeded data and a signed-in client per actor.
type authzFixture struct {
	ta                            *testApp
	clients                       [4]*http.Client
	tokens                        [4]string
	emails, passwords             [4]string
	depA, depB, spareDep          int64
	convA, convB, msgA            int64
	contactA, contactB            int64
	mediaA, bcMediaA              int64
	mediaToken                    string
	mediaBytes                    []byte
	cannedA, broadcastA, importID int64
	group, template, spareSender  int64
	victim, senderA               int64
	cannedSeq                     int
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	f := &authzFixture{ta: ta, mediaBytes: testPNG(t)}
	f.emails = [4]string{"", "a@school.example", "b@school.example", ta.AdminEML}
	f.passwords[staffOfA] = ta.addUser(f.emails[staffOfA], "staff", "admissions")
	f.passwords[staffOfB] = ta.addUser(f.emails[staffOfB], "staff", "academics")
	f.passwords[adminUser] = ta.AdminPW
	f.clients[anonymous] = ta.client()
	for _, a := range []actor{staffOfA, staffOfB, adminUser} {
		f.clients[a] = ta.login(f.emails[a], f.passwords[a])
		f.tokens[a] = ta.csrfOf(f.clients[a], "/inbox")
	}
	f.depA = ta.departmentID("admissions")
	f.depB = ta.departmentID("academics")
	f.senderA = senderID(t, ta, "whatsapp", "+14155550100")

	// A parent who writes only to A, and one who writes only to B.
	f.convA = inboundWith(t, ta, "whatsapp:+15557654001", "whatsapp:+14155550100", secretInbound)
	f.convB = inboundWith(t, ta, "whatsapp:+15557654002", "whatsapp:+14155550101", "Hello academics")
	f.contactA, _ = contactOf(t, ta, f.convA)
	f.contactB, _ = contactOf(t, ta, f.convB)

	// Staff of A reply with an uploaded picture, and leave a note.
	a := f.clients[staffOfA]
	r := postMultipart(t, ta, a, convURL(f.convA)+"/messages", url.Values{"_csrf": {f.tokens[staffOfA]}, "body": {secretReply}},
		"media", "a-secret.png", "image/png", f.mediaBytes)
	wantStatus(t, "staff of A replies with a picture", r, http.StatusSeeOther)
	if err := ta.db.Pool.QueryRow(ctx, `SELECT m.id, f.id, f.token FROM messages m JOIN media_files f ON f.message_id = m.id WHERE m.body = $1`,
		secretReply).Scan(&f.msgA, &f.mediaA, &f.mediaToken); err != nil {
		t.Fatalf("the reply and its file: %v", err)
	}
	r = doHTTP(t, a, http.MethodPost, ta.URL+convURL(f.convA)+"/notes", url.Values{"_csrf": {f.tokens[staffOfA]}, "note": {secretNote}}, nil)
	wantStatus(t, "staff of A add a note", r, http.StatusSeeOther)

	// A saved reply of A.
	r = doHTTP(t, a, http.MethodPost, ta.URL+"/replies", url.Values{"_csrf": {f.tokens[staffOfA]}, "name": {"a-secret"},
		"body": {secretCanned}, "department_id": {strconv.FormatInt(f.depA, 10)}}, nil)
	wantStatus(t, "staff of A save a reply", r, http.StatusSeeOther)
	f.cannedA = cannedID(t, ta, f.depA, "a-secret")

	// A broadcast draft of A (a staff member of one department drafts in
	// it) with SMS text and an attached picture.
	f.broadcastA = bcNew(t, ta, a)
	r = bcStep(t, ta, a, f.broadcastA, 1, url.Values{"name": {secretBCName}, "numbers": {"+15557654003, Parent"}})
	wantStatus(t, "broadcast step 1", r, http.StatusSeeOther)
	content := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {secretBroadcast}}
	r = bcStep(t, ta, a, f.broadcastA, 2, content)
	wantStatus(t, "broadcast step 2", r, http.StatusSeeOther)
	content.Set("nav", "attach")
	r = bcAttach(t, ta, a, f.broadcastA, content, "a-secret-bc.png", "image/png", f.mediaBytes)
	wantStatus(t, "broadcast attachment", r, http.StatusOK)
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM media_files WHERE broadcast_id = $1`, f.broadcastA).Scan(&f.bcMediaA); err != nil {
		t.Fatalf("the broadcast's file: %v", err)
	}
	if got := countRows(t, ta, `SELECT count(*) FROM broadcasts WHERE id = $1 AND department_id = $2`, f.broadcastA, f.depA); got != 1 {
		t.Fatal("the staff member's draft is not in department A")
	}

	// Admin-side data: a contact import with a row to fix (its errors.csv
	// is an export), a group, a template, and spare objects to change.
	admin := f.clients[adminUser]
	path := uploadCSV(t, ta, admin, "parents.csv", "name,phone\nGood Parent,+15557654011\n"+secretImport+",not-a-phone\n")
	runImport(t, ta, admin, path, []string{"name", "phone"}, nil)
	f.importID, _ = strconv.ParseInt(strings.TrimPrefix(path, "/contacts/import/"), 10, 64)
	f.group = bcGroup(t, ta, "Matrix group", f.contactA, f.contactB)
	f.template = createTemplate(t, ta, admin, templateForm("matrix_notice"))
	spare, err := ta.db.EnsureSender(ctx, "sms", "+14155550177", "Spare", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.spareSender = spare.ID
	if f.spareDep, err = ta.db.EnsureDepartment(ctx, "spare", "Spare"); err != nil {
		t.Fatal(err)
	}
	ta.addUser("victim@school.example", "staff", "finance")
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'victim@school.example'`).Scan(&f.victim); err != nil {
		t.Fatal(err)
	}
	return f
}

// inboundWith makes a parent write body through a signed webhook and
// returns the conversation it landed in.
func inboundWith(t *testing.T, ta *testApp, from, to, body string) int64 {
	t.Helper()
	sid := newSID()
	if status, b := ta.webhook("/webhooks/twilio/inbound", inboundForm(sid, from, to, body, "Parent"), ta.token); status != http.StatusOK {
		t.Fatalf("inbound webhook: %d %s", status, b)
	}
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT conversation_id FROM messages WHERE twilio_sid = $1`, sid).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// postMultipart posts fields and one file as a browser form would.
func postMultipart(t *testing.T, ta *testApp, c *http.Client, path string, fields url.Values, field, filename, contentType string, data []byte) httpResult {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	h.Set("Content-Type", contentType)
	fw, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, ta.URL+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// freshCanned makes another saved reply of A for a destructive request.
func (f *authzFixture) freshCanned(t *testing.T) int64 {
	t.Helper()
	f.cannedSeq++
	name := fmt.Sprintf("spare-%d", f.cannedSeq)
	r := doHTTP(t, f.clients[staffOfA], http.MethodPost, f.ta.URL+"/replies", url.Values{"_csrf": {f.tokens[staffOfA]},
		"name": {name}, "body": {secretCanned}, "department_id": {strconv.FormatInt(f.depA, 10)}}, nil)
	wantStatus(t, "a spare saved reply", r, http.StatusSeeOther)
	return cannedID(t, f.ta, f.depA, name)
}

// authzTable is the expected outcome of every route, keyed "METHOD /route".
func authzTable(t *testing.T, f *authzFixture) map[string][]authzCase {
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	conv := "/conversations/" + id(f.convA)
	bc := "/broadcasts/" + id(f.broadcastA)
	ct := "/contacts/" + id(f.contactA)
	grp := "/groups/" + id(f.group)
	snd := "/senders/" + id(f.spareSender)
	tpl := "/templates/" + id(f.template)
	usr := "/users/" + id(f.victim)
	dep := "/departments/" + id(f.spareDep)
	imp := "/contacts/import/" + id(f.importID)
	last := func(c *authzCase) { c.last = true }
	shows := func(s string) func(*authzCase) { return func(c *authzCase) { c.shows = s } }

	return map[string][]authzCase{
		// Public.
		"GET /healthz":                  publicCase("/healthz"),
		"GET /metrics":                  publicCase("/metrics"),
		"GET /static/*":                 publicCase("/static/css/app.css"),
		"GET /login":                    {{path: "/login", want: [4]outcome{ok200, allowed, allowed, allowed}}},
		"POST /login":                   {{path: "/login", form: url.Values{"email": {"nobody@school.example"}, "password": {"wrong-password-1"}}, want: [4]outcome{badLogin, badLogin, badLogin, badLogin}}},
		"POST /webhooks/twilio/inbound": {{path: "/webhooks/twilio/inbound", form: inboundForm(newSID(), "whatsapp:+15557654001", "whatsapp:+14155550100", "forged", "X"), want: [4]outcome{unsigned, unsigned, unsigned, unsigned}}},
		"POST /webhooks/twilio/status":  {{path: "/webhooks/twilio/status", form: statusForm(newSID(), "delivered", 0), want: [4]outcome{unsigned, unsigned, unsigned, unsigned}}},
		// The token is the credential (Twilio fetches with it); a guessed one is 404.
		"GET /public/media/:token": {
			{path: "/public/media/" + f.mediaToken, want: [4]outcome{ok200, ok200, ok200, ok200}},
			{path: "/public/media/" + strings.Repeat("x", 43), want: [4]outcome{hidden, hidden, hidden, hidden}},
		},
		"HEAD /public/media/:token": {{path: "/public/media/" + f.mediaToken, want: [4]outcome{ok200, ok200, ok200, ok200}}},

		// Any signed-in staff.
		"GET /":                          staffCase("/"),
		"POST /logout":                   {{path: "/logout", want: [4]outcome{toLogin, signsOut, signsOut, signsOut}, fresh: true}},
		"GET /inbox":                     staffCase("/inbox"),
		"GET /compose":                   staffCase("/compose"),
		"POST /compose":                  staffCase("/compose"),
		"POST /compose/count":            staffCase("/compose/count"),
		"GET /compose/sender":            staffCase("/compose/sender?channel=whatsapp&to=%2B15557654001"),
		"GET /compose/template":          staffCase("/compose/template"),
		"POST /compose/template/preview": staffCase("/compose/template/preview"),
		"GET /events":                    with(staffCase("/events"), func(c *authzCase) { c.stream = true }),
		"GET /dashboard":                 staffCase("/dashboard"),
		"GET /broadcasts":                staffCase("/broadcasts"),
		"GET /broadcasts/new":            staffCase("/broadcasts/new"),
		"POST /broadcasts/new":           staffCase("/broadcasts/new"),
		"GET /contacts":                  staffCase("/contacts"),
		"GET /contacts/:id":              with(staffCase(ct), shows("+15557654001")),
		"GET /contacts/:id/broadcasts":   staffCase(ct + "/broadcasts"),
		"GET /groups":                    staffCase("/groups"),
		"GET /groups/:id":                staffCase(grp),
		"GET /replies":                   staffCase("/replies"),
		"POST /replies":                  staffCase("/replies"),
		"GET /replies/suggest":           deptCase("/replies/suggest?conversation=" + id(f.convA) + "&q=a-"),
		"GET /media/:id": {
			{path: "/media/" + id(f.mediaA), want: [4]outcome{toLogin, allowed, hidden, allowed}, shows: string(f.mediaBytes[:40])},
			{path: "/media/" + id(f.bcMediaA), want: [4]outcome{toLogin, allowed, hidden, allowed}, shows: string(f.mediaBytes[:40])},
		},

		// Department A's conversation, message and saved reply.
		"GET /conversations/:id":                   with(deptCase(conv), shows(secretInbound)),
		"POST /conversations/:id/messages":         deptCase(conv + "/messages"),
		"GET /conversations/:id/composer":          deptCase(conv + "/composer"),
		"GET /conversations/:id/template":          deptCase(conv + "/template"),
		"POST /conversations/:id/template":         deptCase(conv + "/template"),
		"POST /conversations/:id/template/preview": deptCase(conv + "/template/preview"),
		"POST /conversations/:id/assign":           deptCase(conv + "/assign"),
		"POST /conversations/:id/close":            deptCase(conv + "/close"),
		"POST /conversations/:id/reopen":           deptCase(conv + "/reopen"),
		"POST /conversations/:id/snooze":           deptCase(conv + "/snooze"),
		"POST /conversations/:id/notes":            deptCase(conv + "/notes"),
		"POST /conversations/:id/read":             deptCase(conv + "/read"),
		"POST /conversations/:id/presence":         deptCase(conv + "/presence"),
		"POST /messages/:id/retry":                 deptCase("/messages/" + id(f.msgA) + "/retry"),
		"GET /replies/:id/edit":                    with(deptCase("/replies/"+id(f.cannedA)+"/edit"), shows(secretCanned)),
		"POST /replies/:id":                        with(deptCase("/replies/"+id(f.cannedA)), func(c *authzCase) { c.form = url.Values{"name": {"a-secret"}, "body": {secretCanned}} }),
		"POST /replies/:id/delete": with(deptCase(""), func(c *authzCase) {
			c.pathFor = func(actor) string { return "/replies/" + id(f.freshCanned(t)) + "/delete" }
			c.last = true
		}),

		// Department A's broadcast: the wizard, the page, controls, report, export.
		"GET /broadcasts/:id":      deptCase(bc),
		"GET /broadcasts/:id/edit": with(deptCase(bc+"/edit?step=2"), shows(secretBroadcast)),
		"POST /broadcasts/:id/steps/:step": with(deptCase(bc+"/steps/2"), func(c *authzCase) {
			c.form = url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {secretBroadcast}, "nav": {"refresh"}}
		}),
		"POST /broadcasts/:id/audience/count":     with(deptCase(bc+"/audience/count"), func(c *authzCase) { c.form = url.Values{"name": {secretBCName}, "numbers": {"+15557654003, Parent"}} }),
		"GET /broadcasts/:id/contacts":            deptCase(bc + "/contacts?contact_q=Parent"),
		"GET /broadcasts/:id/template":            deptCase(bc + "/template"),
		"POST /broadcasts/:id/sms-count":          with(deptCase(bc+"/sms-count"), func(c *authzCase) { c.form = url.Values{"sms_body": {secretBroadcast}} }),
		"POST /broadcasts/:id/attachments/remove": with(deptCase(bc+"/attachments/remove"), func(c *authzCase) { c.form = url.Values{"file_id": {"0"}} }),
		"POST /broadcasts/:id/pause":              deptCase(bc + "/pause"),
		"POST /broadcasts/:id/resume":             deptCase(bc + "/resume"),
		"POST /broadcasts/:id/cancel":             with(deptCase(bc+"/cancel"), last),
		"POST /broadcasts/:id/reopen":             deptCase(bc + "/reopen"),
		"GET /broadcasts/:id/report":              with(deptCase(bc+"/report"), shows(secretBCName)),
		"GET /broadcasts/:id/recipients":          deptCase(bc + "/recipients"),
		"GET /broadcasts/:id/failures.csv":        deptCase(bc + "/failures.csv"),
		"POST /broadcasts/:id/retry":              deptCase(bc + "/retry"),
		"GET /broadcasts/approvals":               adminCase("/broadcasts/approvals"),
		"POST /broadcasts/:id/approve":            adminCase(bc + "/approve"),
		"POST /broadcasts/:id/reject":             adminCase(bc + "/reject"),
		"POST /settings/broadcasts":               adminCase("/settings/broadcasts"),

		// Contacts and groups: staff look, admins change and export.
		"POST /contacts":                           adminCase("/contacts"),
		"GET /contacts/export.csv":                 adminCase("/contacts/export.csv"),
		"GET /contacts/duplicates":                 adminCase("/contacts/duplicates"),
		"POST /contacts/:id":                       adminCase(ct),
		"POST /contacts/:id/consent":               adminCase(ct + "/consent"),
		"POST /contacts/:id/links":                 adminCase(ct + "/links"),
		"POST /contacts/:id/links/:other/delete":   adminCase(ct + "/links/" + id(f.contactB) + "/delete"),
		"POST /contacts/:id/groups":                adminCase(ct + "/groups"),
		"POST /contacts/:id/groups/:group/delete":  adminCase(ct + "/groups/" + id(f.group) + "/delete"),
		"POST /contacts/:id/phones":                adminCase(ct + "/phones"),
		"POST /contacts/:id/phones/delete":         adminCase(ct + "/phones/delete"),
		"POST /contacts/:id/phones/main":           adminCase(ct + "/phones/main"),
		"GET /contacts/:id/merge":                  adminCase(ct + "/merge?other=" + id(f.contactB)),
		"POST /contacts/:id/merge":                 adminCase(ct + "/merge"),
		"POST /groups":                             adminCase("/groups"),
		"POST /groups/:id":                         adminCase(grp),
		"POST /groups/:id/delete":                  with(adminCase(grp+"/delete"), last),
		"POST /groups/:id/members":                 adminCase(grp + "/members"),
		"POST /groups/:id/members/:contact/delete": adminCase(grp + "/members/" + id(f.contactB) + "/delete"),
		"GET /groups/:id/export.csv":               adminCase(grp + "/export.csv"),
		"GET /contacts/import":                     adminCase("/contacts/import"),
		"POST /contacts/import":                    adminCase("/contacts/import"),
		"GET /contacts/import/:id":                 adminCase(imp),
		"POST /contacts/import/:id/preview":        adminCase(imp + "/preview"),
		"POST /contacts/import/:id/run":            adminCase(imp + "/run"),
		"GET /contacts/import/:id/errors.csv":      with(adminCase(imp+"/errors.csv"), shows(secretImport)),

		// Admins only: people, departments, senders, templates, settings, simulator.
		"GET /senders":                       adminCase("/senders"),
		"POST /senders/sync":                 adminCase("/senders/sync"),
		"GET /senders/new":                   adminCase("/senders/new"),
		"POST /senders/new":                  adminCase("/senders/new"),
		"GET /senders/sms":                   adminCase("/senders/sms"),
		"POST /senders/sms":                  adminCase("/senders/sms"),
		"GET /senders/service":               adminCase("/senders/service"),
		"POST /senders/service":              adminCase("/senders/service"),
		"GET /senders/:id":                   adminCase(snd),
		"GET /senders/:id/status":            adminCase(snd + "/status"),
		"POST /senders/:id/verify":           adminCase(snd + "/verify"),
		"POST /senders/:id/resend":           adminCase(snd + "/resend"),
		"POST /senders/:id/profile":          adminCase(snd + "/profile"),
		"POST /senders/:id/department":       adminCase(snd + "/department"),
		"POST /senders/:id/rate":             adminCase(snd + "/rate"),
		"GET /senders/:id/delete":            adminCase(snd + "/delete"),
		"POST /senders/:id/delete":           with(adminCase(snd+"/delete"), last),
		"GET /users":                         adminCase("/users"),
		"POST /users":                        adminCase("/users"),
		"GET /users/:id":                     adminCase(usr),
		"POST /users/:id":                    adminCase(usr),
		"POST /users/:id/deactivate":         with(adminCase(usr+"/deactivate"), last),
		"POST /users/:id/reactivate":         adminCase(usr + "/reactivate"),
		"POST /users/:id/password":           with(adminCase(usr+"/password"), last),
		"GET /audit":                         adminCase("/audit"),
		"GET /departments":                   adminCase("/departments"),
		"POST /departments":                  adminCase("/departments"),
		"GET /departments/:id":               adminCase(dep),
		"POST /departments/:id":              adminCase(dep),
		"POST /departments/:id/archive":      with(adminCase(dep+"/archive"), last),
		"POST /departments/:id/restore":      adminCase(dep + "/restore"),
		"POST /departments/:id/defaults":     adminCase(dep + "/defaults"),
		"POST /departments/:id/hours":        adminCase(dep + "/hours"),
		"POST /departments/:id/out-of-hours": adminCase(dep + "/out-of-hours"),
		"GET /simulator":                     adminCase("/simulator"),
		"POST /simulator":                    adminCase("/simulator"),
		"GET /settings":                      adminCase("/settings"),
		"POST /settings":                     adminCase("/settings"),
		"POST /settings/goals":               adminCase("/settings/goals"),
		"GET /templates":                     adminCase("/templates"),
		"POST /templates/sync":               adminCase("/templates/sync"),
		"GET /templates/new":                 adminCase("/templates/new"),
		"POST /templates":                    adminCase("/templates"),
		"POST /templates/preview":            adminCase("/templates/preview"),
		"GET /templates/:id":                 adminCase(tpl),
		"GET /templates/:id/status":          adminCase(tpl + "/status"),
		"POST /templates/:id/submit":         adminCase(tpl + "/submit"),
		"POST /templates/:id/fields":         adminCase(tpl + "/fields"),
		"POST /templates/:id/delete":         with(adminCase(tpl+"/delete"), last),
	}
}

// registeredRoutes lists the running server's routes as "METHOD /path",
// leaving out Echo's own catch-all not-found entries.
func registeredRoutes(t *testing.T, ta *testApp) []string {
	t.Helper()
	e, ok := ta.srv.Handler.(*echo.Echo)
	if !ok {
		t.Fatalf("the server's handler is %T, not *echo.Echo", ta.srv.Handler)
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		k := r.Method + " " + r.Path
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// authzRequest makes one request as one actor.
func (f *authzFixture) request(t *testing.T, method string, c authzCase, a actor, htmx bool) httpResult {
	t.Helper()
	client, token := f.clients[a], f.tokens[a]
	if c.fresh && a != anonymous {
		client = f.ta.login(f.emails[a], f.passwords[a])
		token = f.ta.csrfOf(client, "/inbox")
	}
	path := c.path
	if c.pathFor != nil {
		path = c.pathFor(a)
	}
	var form url.Values
	if method != http.MethodGet && method != http.MethodHead {
		form = url.Values{}
		for k, v := range c.form {
			form[k] = v
		}
		if a == anonymous && path == "/login" {
			token = f.ta.csrfOf(client, "/login")
		}
		if token != "" {
			form.Set("_csrf", token)
		}
	}
	headers := map[string]string{}
	if htmx {
		headers["HX-Request"] = "true"
	}
	if c.stream {
		return streamStatus(t, client, method, f.ta.URL+path)
	}
	return doHTTP(t, client, method, f.ta.URL+path, form, headers)
}

// streamStatus opens a long-lived response (SSE), reads its status and
// headers, and closes it.
func streamStatus(t *testing.T, c *http.Client, method, target string) httpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	return httpResult{status: resp.StatusCode, header: resp.Header}
}

// judge says what is wrong with r for the wanted outcome ("" when right).
func judge(method string, r httpResult, want outcome, htmx bool) string {
	loc := r.header.Get("Location")
	switch want {
	case toLogin:
		if htmx {
			if r.status != http.StatusUnauthorized || r.header.Get("HX-Redirect") != "/login" {
				return fmt.Sprintf("htmx: %d HX-Redirect %q, want 401 to /login", r.status, r.header.Get("HX-Redirect"))
			}
			return ""
		}
		if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			return fmt.Sprintf("%d Location %q, want 303 to /login", r.status, loc)
		}
		if method == http.MethodGet && !strings.HasPrefix(loc, "/login?next=") {
			return fmt.Sprintf("Location %q does not keep the way back", loc)
		}
	case allowed:
		switch {
		case r.status >= 500:
			return fmt.Sprintf("server error %d", r.status)
		case r.status == http.StatusUnauthorized, r.status == http.StatusForbidden, r.status == http.StatusNotFound:
			return fmt.Sprintf("refused with %d, want allowed", r.status)
		case strings.HasPrefix(loc, "/login") || r.header.Get("HX-Redirect") == "/login":
			return "sent to sign in, want allowed"
		}
	case hidden:
		if r.status != http.StatusNotFound {
			return fmt.Sprintf("%d, want 404", r.status)
		}
	case forbidden, unsigned:
		if r.status != http.StatusForbidden {
			return fmt.Sprintf("%d, want 403", r.status)
		}
	case ok200:
		if r.status != http.StatusOK {
			return fmt.Sprintf("%d, want 200", r.status)
		}
	case signsOut:
		if r.status != http.StatusSeeOther || loc != "/login" {
			return fmt.Sprintf("%d Location %q, want 303 to /login", r.status, loc)
		}
	case badLogin:
		if r.status != http.StatusUnauthorized {
			return fmt.Sprintf("%d, want 401", r.status)
		}
	}
	return ""
}

func TestAuthzMatrix(t *testing.T) {
	f := newAuthzFixture(t)
	ta := f.ta
	table := authzTable(t, f)

	// Every registered route has expectations, and every row is a route.
	routes := registeredRoutes(t, ta)
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r] = true
		if _, ok := table[r]; !ok {
			t.Errorf("route %s has no row in the authorization matrix: add one with the outcome for each actor", r)
		}
	}
	for k := range table {
		if !registered[k] {
			t.Errorf("the matrix has a row for %s, which the server does not register", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Destructive rows after the others, so their targets exist until then.
	sort.SliceStable(routes, func(i, j int) bool { return !table[routes[i]][0].last && table[routes[j]][0].last })
	outboundBefore := countRows(t, ta, `SELECT count(*) FROM messages WHERE direction = 'outbound'`)
	simBefore := len(ta.sim.Messages())

	for _, route := range routes {
		method := strings.SplitN(route, " ", 2)[0]
		for _, c := range table[route] {
			// Refused actors first: a refusal must hold whatever the state.
			for _, a := range []actor{anonymous, staffOfB, staffOfA, adminUser} {
				want := c.want[a]
				variants := []bool{false}
				if a == anonymous && want == toLogin && !c.stream {
					variants = append(variants, true) // and as htmx
				}
				for _, htmx := range variants {
					r := f.request(t, method, c, a, htmx)
					where := fmt.Sprintf("%s (%s) as %s", route, c.path, a)
					if c.pathFor != nil {
						where = fmt.Sprintf("%s as %s", route, a)
					}
					if htmx {
						where += " (htmx)"
					}
					if problem := judge(method, r, want, htmx); problem != "" {
						t.Errorf("%s: %s (want %s)", where, problem, outcomeNames[want])
					}
					if want == allowed && c.shows != "" && method == http.MethodGet && !strings.Contains(r.body, c.shows) {
						t.Errorf("%s: allowed, but the page lacks %q: the fixture's id does not show the seeded data", where, c.shows)
					}
					// Nothing of A reaches B or a signed-out request, whatever
					// the status; the import's bad rows reach admins only.
					if a == staffOfB || a == anonymous {
						for _, s := range departmentASecrets {
							if strings.Contains(r.body, s) {
								t.Errorf("%s: the response (%d) contains A's %q", where, r.status, s)
							}
						}
						if bytes.Contains([]byte(r.body), f.mediaBytes[8:64]) && !strings.HasPrefix(c.path, "/public/media/") {
							t.Errorf("%s: the response (%d) contains A's file", where, r.status)
						}
					}
					if a != adminUser && strings.Contains(r.body, secretImport) {
						t.Errorf("%s: the response (%d) contains the import's rows", where, r.status)
					}
				}
			}
		}
	}

	// B sent nothing anywhere, and nothing at all was sent in A's
	// conversation by anyone but A's own staff and admins (the matrix's
	// allowed requests carry no text, so nothing was sent at all).
	bID := userID(t, ta, f.emails[staffOfB])
	if n := countRows(t, ta, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.sent_by = $1 AND c.department_id = $2`, bID, f.depA); n != 0 {
		t.Errorf("staff of B stored %d messages in A's conversations", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE direction = 'outbound'`); n != outboundBefore {
		t.Errorf("the matrix stored %d outbound messages, want none (its requests carry no text)", n-outboundBefore)
	}
	if n := len(ta.sim.Messages()); n != simBefore {
		t.Errorf("the matrix reached the simulator with %d messages, want none", n-simBefore)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE user_id = $1 AND subject = $2`, bID, "broadcast:"+strconv.FormatInt(f.broadcastA, 10)); n != 0 {
		t.Errorf("staff of B changed A's broadcast (%d audit entries)", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM canned_replies WHERE id = $1 AND body = $2`, f.cannedA, secretCanned); n != 1 {
		t.Errorf("A's saved reply was changed or deleted")
	}
}

func userID(t *testing.T, ta *testApp, email string) int64 {
	t.Helper()
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return id
}
