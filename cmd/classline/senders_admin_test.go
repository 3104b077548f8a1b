package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

// Sender administration end to end: real PostgreSQL, the in-process Twilio
// simulator reached through twilio-go, real HTTP with a signed-in admin.

var senderPath = regexp.MustCompile(`^/senders/(\d+)\?done=`)

// registerForm is a valid "Register a WhatsApp sender" form.
func registerForm(tok, number, name, verification string) url.Values {
	return url.Values{"_csrf": {tok}, "number": {number}, "display_name": {name}, "verification": {verification},
		"about": {"The school office"}, "description": {"Messages from Hillside School."},
		"emails": {"office@hillside.example"}, "websites": {"https://hillside.example"}, "vertical": {"Education"},
		"webhook_url": {"https://desk.example/webhooks/twilio/inbound"}, "status_callback_url": {"https://desk.example/webhooks/twilio/status"}}
}

// postSender posts a sender form and returns the id it redirected to.
func postSender(t *testing.T, ta *testApp, c *http.Client, path string, form url.Values) int64 {
	t.Helper()
	resp := ta.postForm(c, path, form)
	m := senderPath.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %q: %s", path, resp.StatusCode, resp.Header.Get("Location"), b)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// readBody reads a response and returns its status and text.
func readBody(resp *http.Response) (int, string) {
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func senderStatusInDB(t *testing.T, ta *testApp, id int64) string {
	t.Helper()
	var status string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT status FROM senders WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatal(err)
	}
	return status
}

func twilioSIDOf(t *testing.T, ta *testApp, id int64) string {
	t.Helper()
	var sid string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT twilio_sender_sid FROM senders WHERE id = $1`, id).Scan(&sid); err != nil {
		t.Fatal(err)
	}
	return sid
}

// TestSenderAdminRegisterVerifyOnline: an admin registers a number verified
// by SMS; the status area follows Twilio to PENDING_VERIFICATION and shows the
// code form; a wrong code comes back explained (63113); the right one takes
// the sender ONLINE, stored in the database.
func TestSenderAdminRegisterVerifyOnline(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	form, status := ta.get(admin, "/senders/new")
	if status != http.StatusOK || !strings.Contains(form, `value="`+ta.cfg.PublicURL+`/webhooks/twilio/inbound"`) ||
		!strings.Contains(form, `value="`+ta.cfg.PublicURL+`/webhooks/twilio/status"`) || !strings.Contains(form, "Twilio number (verified automatically)") {
		t.Fatalf("register form: %d, webhook URLs not pre-filled with %s", status, ta.cfg.PublicURL)
	}
	list, _ := ta.get(admin, "/senders")
	for _, b := range []string{"Register a WhatsApp sender", "Add an SMS number", "Add a Messaging Service"} {
		if !strings.Contains(list, b) {
			t.Errorf("/senders has no %q button", b)
		}
	}
	tok := ta.csrfOf(admin, "/senders/new")
	adm, err := ta.db.DepartmentIDBySlug(t.Context(), "admissions")
	if err != nil {
		t.Fatal(err)
	}
	f := registerForm(tok, "+1 555 007 1234", "Hillside School", "sms")
	f.Set("department", strconv.FormatInt(adm, 10))
	id := postSender(t, ta, admin, "/senders/new", f)

	sid := twilioSIDOf(t, ta, id)
	if !strings.HasPrefix(sid, "XE") {
		t.Fatalf("stored Twilio sender SID %q", sid)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND channel = 'whatsapp' AND address = '+15550071234'
		AND display_name = 'Hillside School' AND department_id = $2 AND profile->>'about' = 'The school office'
		AND profile->'emails'->>0 = 'office@hillside.example' AND profile->>'verification_method' = 'sms'`, id, adm); n != 1 {
		t.Fatal("the registered sender's row does not hold its number, name, department and profile")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.register' AND subject = $1`, "sender:"+strconv.FormatInt(id, 10)); n != 1 {
		t.Fatalf("%d senders.register audit entries", n)
	}
	var simSender twiliosim.Sender
	for _, s := range ta.sim.Senders() {
		if s.SID == sid {
			simSender = s
		}
	}
	if simSender.Profile.Name != "Hillside School" || simSender.Webhook.CallbackURL != "https://desk.example/webhooks/twilio/inbound" || simSender.VerificationMethod != "sms" {
		t.Fatalf("Twilio got %+v", simSender)
	}

	page := "/senders/" + strconv.FormatInt(id, 10)
	detail, status := ta.get(admin, page+"?done=registered")
	if status != http.StatusOK || !strings.Contains(detail, "Registration started") || !strings.Contains(detail, "Registration steps") {
		t.Fatalf("detail page: %d", status)
	}

	// The status area polls until the code is asked for.
	var area string
	eventually(t, "the code form", func() bool {
		area, _ = ta.get(admin, page+"/status")
		return strings.Contains(area, `autocomplete="one-time-code"`)
	})
	if !strings.Contains(area, `inputmode="numeric"`) || !strings.Contains(area, "Verification code") || !strings.Contains(area, `hx-trigger="every 2s"`) ||
		!strings.Contains(area, "Send a new code by SMS") || !strings.Contains(area, "Send a new code by voice call") {
		t.Fatalf("pending area lacks the code form, resend buttons or polling: %s", area)
	}
	if got := senderStatusInDB(t, ta, id); got != "PENDING_VERIFICATION" {
		t.Fatalf("status in DB %s, want PENDING_VERIFICATION", got)
	}
	// Polling with an unchanged state answers 204 so a half-typed code stays.
	shown := regexp.MustCompile(`hx-get="([^"]+)"`).FindStringSubmatch(area)
	if shown == nil {
		t.Fatal("no hx-get on the polling area")
	}
	resp, err := admin.Get(ta.URL + html.UnescapeString(shown[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("poll with unchanged state: %d, want 204", resp.StatusCode)
	}

	// A code of the wrong shape never reaches Twilio.
	st, body := readBody(ta.postForm(admin, page+"/verify", url.Values{"_csrf": {tok}, "code": {"12ab"}}))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "The code is 6 digits") || !strings.Contains(body, `value="12ab"`) {
		t.Fatalf("malformed code: %d", st)
	}
	// A wrong code: explained once Twilio has checked it.
	resp = ta.postForm(admin, page+"/verify", url.Values{"_csrf": {tok}, "code": {"654321"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify wrong code: %d", resp.StatusCode)
	}
	help := policy.ExplainSenderError(63113)
	eventually(t, "the 63113 explanation", func() bool {
		area, _ = ta.get(admin, page+"/status")
		return strings.Contains(area, html.EscapeString(help.Meaning)) && strings.Contains(area, html.EscapeString(help.Action))
	})
	if got := senderStatusInDB(t, ta, id); got != "PENDING_VERIFICATION" || !strings.Contains(area, `autocomplete="one-time-code"`) {
		t.Fatalf("after a wrong code: status %s, code form shown: %v", got, strings.Contains(area, "one-time-code"))
	}
	// The right code, through htmx: the answer is the status area.
	req, _ := http.NewRequest(http.MethodPost, ta.URL+page+"/verify", strings.NewReader(url.Values{"code": {ta.sim.VerificationCode(sid)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", tok)
	resp, err = admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	st, body = readBody(resp)
	if st != http.StatusOK || !strings.Contains(body, `id="sender-live"`) || strings.Contains(body, "<html") {
		t.Fatalf("htmx verify: %d %s", st, body)
	}
	eventually(t, "ONLINE", func() bool {
		area, _ = ta.get(admin, page+"/status")
		return strings.Contains(area, `pill-ok">Online<`)
	})
	if got := senderStatusInDB(t, ta, id); got != "ONLINE" {
		t.Fatalf("status in DB %s, want ONLINE", got)
	}
	if strings.Contains(area, "hx-trigger") || strings.Contains(area, "one-time-code") {
		t.Fatal("an online sender's area still polls or asks for a code")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.verify' AND subject = $1`, "sender:"+strconv.FormatInt(id, 10)); n != 2 {
		t.Fatalf("%d senders.verify audit entries, want 2", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE coalesce(after::text, '') LIKE '%123456%' OR coalesce(after::text, '') LIKE '%654321%'`); n != 0 {
		t.Fatal("a verification code was written to the audit log")
	}
	// The list links to the page and shows it online.
	list, _ = ta.get(admin, "/senders")
	if !strings.Contains(list, `href="`+page+`"`) {
		t.Fatal("the senders list does not link to the sender's page")
	}
}

// TestSenderAdminResendCode: asking for a new code by voice call reaches
// Twilio, and too many requests end in 63114, explained.
func TestSenderAdminResendCode(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/new")
	id := postSender(t, ta, admin, "/senders/new", registerForm(tok, "+15550071300", "Hillside School", "sms"))
	page := "/senders/" + strconv.FormatInt(id, 10)
	eventually(t, "PENDING_VERIFICATION", func() bool {
		ta.get(admin, page+"/status")
		return senderStatusInDB(t, ta, id) == "PENDING_VERIFICATION"
	})
	if resp := ta.postForm(admin, page+"/resend", url.Values{"_csrf": {tok}, "method": {"voice"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend by voice: %d", resp.StatusCode)
	}
	sid := twilioSIDOf(t, ta, id)
	for _, s := range ta.sim.Senders() {
		if s.SID == sid && s.VerificationMethod != "voice" {
			t.Fatalf("Twilio's verification method is %q after asking for a voice call", s.VerificationMethod)
		}
	}
	if st, body := readBody(ta.postForm(admin, page+"/resend", url.Values{"_csrf": {tok}, "method": {"pigeon"}})); st != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose SMS or voice call") {
		t.Fatalf("resend by an unknown method: %d", st)
	}
	// The simulator sends 3 codes per sender; the 4th request is refused.
	ta.postForm(admin, page+"/resend", url.Values{"_csrf": {tok}, "method": {"sms"}})
	ta.postForm(admin, page+"/resend", url.Values{"_csrf": {tok}, "method": {"sms"}})
	detail, _ := ta.get(admin, page)
	if !strings.Contains(detail, html.EscapeString(policy.ExplainSenderError(63114).Meaning)) {
		t.Fatal("too many codes is not explained")
	}
}

// TestSenderAdminInvalidFormNeverReachesTwilio: a display name against
// Meta's rules, a bad number or a bad profile field is refused next to the
// field with what was typed kept, and the simulator never hears of it.
func TestSenderAdminInvalidFormNeverReachesTwilio(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/new")
	cases := []struct {
		name string
		edit func(url.Values)
		want string
	}{
		{"capitals", func(f url.Values) { f.Set("display_name", "HILLSIDE SCHOOL") }, "normal capitals"},
		{"emoji", func(f url.Values) { f.Set("display_name", "Hillside 🎓") }, "emoji"},
		{"too long", func(f url.Values) { f.Set("display_name", "Hillside Community School Office") }, "Keep it to 25 characters"},
		{"too short", func(f url.Values) { f.Set("display_name", "HS") }, "at least 3"},
		{"web address", func(f url.Values) { f.Set("display_name", "hillside.school") }, "web address"},
		{"bad number", func(f url.Values) { f.Set("number", "12") }, "too short"},
		{"three websites", func(f url.Values) { f.Set("websites", "https://a.example\nhttps://b.example\nhttps://c.example") }, "at most 2 websites"},
		{"no verification choice", func(f url.Values) { f.Del("verification") }, "Choose how the number receives its code"},
		{"about too long", func(f url.Values) { f.Set("about", strings.Repeat("a", 140)) }, "139"},
	}
	for _, c := range cases {
		f := registerForm(tok, "+15550071400", "Hillside School", "sms")
		c.edit(f)
		st, body := readBody(ta.postForm(admin, "/senders/new", f))
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(c.want)) || !strings.Contains(body, "field-error") {
			t.Errorf("%s: %d, want 422 with %q", c.name, st, c.want)
		}
		if !strings.Contains(body, `value="`+html.EscapeString(f.Get("display_name"))+`"`) || !strings.Contains(body, `value="`+f.Get("number")+`"`) {
			t.Errorf("%s: what was typed is not kept", c.name)
		}
	}
	if n := len(ta.sim.Senders()); n != 0 {
		t.Fatalf("the simulator has %d senders after refused forms", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE address = '+15550071400'`); n != 0 {
		t.Fatal("a refused form stored a sender")
	}
}

// TestSenderAdminTwilioRefusals: a number WhatsApp already has (63110) ends
// OFFLINE with the explanation; Twilio refusing the request (63100) or the
// number already having a sender in the account (409) keeps the form and
// says what to do.
func TestSenderAdminTwilioRefusals(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/new")

	id := postSender(t, ta, admin, "/senders/new", registerForm(tok, "+15550063110", "Hillside School", "twilio"))
	page := "/senders/" + strconv.FormatInt(id, 10)
	help := policy.ExplainSenderError(63110)
	var area string
	eventually(t, "OFFLINE with 63110", func() bool {
		area, _ = ta.get(admin, page+"/status")
		return strings.Contains(area, `pill-danger">Offline<`)
	})
	if !strings.Contains(area, html.EscapeString(help.Title)) || !strings.Contains(area, html.EscapeString(help.Action)) || strings.Contains(area, "hx-trigger") {
		t.Fatalf("offline area: want %q explained and no polling: %s", help.Title, area)
	}
	if got := senderStatusInDB(t, ta, id); got != "OFFLINE" {
		t.Fatalf("status in DB %s", got)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND offline_reasons @> '[{"code": 63110}]'`, id); n != 1 {
		t.Fatal("the offline reason is not stored")
	}

	st, body := readBody(ta.postForm(admin, "/senders/new", registerForm(tok, "+15550063100", "Hillside School", "sms")))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(policy.ExplainSenderError(63100).Title)) ||
		!strings.Contains(body, "error 63100") || !strings.Contains(body, `value="+15550063100"`) {
		t.Fatalf("63100: %d", st)
	}

	// Registered at Twilio outside Classline: the 409 is explained.
	if _, err := ta.gw.CreateWhatsAppSender(context.Background(), twilio.SenderRegistration{Number: "+15550071500", DisplayName: "Elsewhere Office"}); err != nil {
		t.Fatal(err)
	}
	st, body = readBody(ta.postForm(admin, "/senders/new", registerForm(tok, "+15550071500", "Hillside School", "sms")))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "Already registered in this Twilio account") || !strings.Contains(body, "Check with Twilio now") {
		t.Fatalf("409: %d", st)
	}
	// Classline's own registration of a number is refused before Twilio.
	before := len(ta.sim.Senders())
	st, body = readBody(ta.postForm(admin, "/senders/new", registerForm(tok, "+15550063110", "Hillside School", "sms")))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "already has this number as a WhatsApp sender") || len(ta.sim.Senders()) != before {
		t.Fatalf("registering a number Classline has: %d", st)
	}
}

// TestSenderAdminSMSAndService: SMS numbers and Messaging Services are added
// ONLINE with their department; bad input and duplicates are refused next
// to the field.
func TestSenderAdminSMSAndService(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/sms")
	fin, err := ta.db.DepartmentIDBySlug(t.Context(), "finance")
	if err != nil {
		t.Fatal(err)
	}
	dep := strconv.FormatInt(fin, 10)

	st, body := readBody(ta.postForm(admin, "/senders/sms", url.Values{"_csrf": {tok}, "number": {"555-01"}, "label": {"Front desk"}, "department": {dep}}))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "field-error") || !strings.Contains(body, `value="Front desk"`) {
		t.Fatalf("bad SMS number: %d", st)
	}
	id := postSender(t, ta, admin, "/senders/sms", url.Values{"_csrf": {tok}, "number": {"+1 (555) 007-2000"}, "label": {"Front desk"}, "department": {dep}})
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND channel = 'sms' AND address = '+15550072000' AND display_name = 'Front desk'
		AND department_id = $2 AND status = 'ONLINE' AND archived_at IS NULL`, id, fin); n != 1 {
		t.Fatal("SMS sender not stored as typed")
	}
	st, body = readBody(ta.postForm(admin, "/senders/sms", url.Values{"_csrf": {tok}, "number": {"+15550072000"}, "label": {"Again"}}))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "already has this SMS number") {
		t.Fatalf("duplicate SMS number: %d", st)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.add_sms'`); n != 1 {
		t.Fatalf("%d senders.add_sms audit entries", n)
	}
	detail, _ := ta.get(admin, "/senders/"+strconv.FormatInt(id, 10))
	if !strings.Contains(detail, "SMS number") || strings.Contains(detail, "Registration steps") || strings.Contains(detail, "WhatsApp profile") {
		t.Fatal("an SMS number's page shows WhatsApp registration parts")
	}

	mg := "MG" + strings.Repeat("0123456789abcdef", 2)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"sid": {"MG123"}, "channel": {"sms"}}, "MG followed by 32"},
		{url.Values{"sid": {"PN" + strings.Repeat("a", 32)}, "channel": {"sms"}}, "starts with MG"},
		{url.Values{"sid": {mg}, "channel": {"fax"}}, "Choose WhatsApp or SMS"},
	} {
		c.form.Set("_csrf", tok)
		c.form.Set("label", "Pool")
		st, body := readBody(ta.postForm(admin, "/senders/service", c.form))
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) || !strings.Contains(body, `value="`+c.form.Get("sid")+`"`) {
			t.Errorf("service %v: %d, want %q", c.form, st, c.want)
		}
	}
	sid := postSender(t, ta, admin, "/senders/service", url.Values{"_csrf": {tok}, "sid": {mg}, "channel": {"whatsapp"}, "label": {"WhatsApp pool"}, "department": {dep}})
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND channel = 'whatsapp' AND address = '' AND messaging_service_sid = $2
		AND status = 'ONLINE' AND department_id = $3`, sid, mg, fin); n != 1 {
		t.Fatal("Messaging Service not stored")
	}
	st, body = readBody(ta.postForm(admin, "/senders/service", url.Values{"_csrf": {tok}, "sid": {mg}, "channel": {"whatsapp"}, "label": {"Again"}}))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "already has this Messaging Service for WhatsApp") {
		t.Fatalf("duplicate service: %d", st)
	}
	// The same service for the other channel is another sender.
	postSender(t, ta, admin, "/senders/service", url.Values{"_csrf": {tok}, "sid": {mg}, "channel": {"sms"}, "label": {"SMS pool"}})
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE messaging_service_sid = $1`, mg); n != 2 {
		t.Fatalf("%d rows for the service, want one per channel", n)
	}
	if n := len(ta.sim.Senders()); n != 0 {
		t.Fatalf("adding SMS numbers and services registered %d senders at Twilio", n)
	}
}

// TestSenderAdminDepartment: any sender (here one found without a
// department, as the sync or an inbound message makes them) can be given a
// department and have it taken away; archived departments are refused.
func TestSenderAdminDepartment(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	ctx := context.Background()
	s, err := ta.db.EnsureSender(ctx, "whatsapp", "+15550073000", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	acad, err := ta.db.DepartmentIDBySlug(t.Context(), "academics")
	if err != nil {
		t.Fatal(err)
	}
	page := "/senders/" + strconv.FormatInt(s.ID, 10)
	tok := ta.csrfOf(admin, page)
	resp := ta.postForm(admin, page+"/department", url.Values{"_csrf": {tok}, "department": {strconv.FormatInt(acad, 10)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?done=department" {
		t.Fatalf("assign department: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND department_id = $2`, s.ID, acad); n != 1 {
		t.Fatal("department not assigned")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.department' AND subject = $1
		AND before->>'department_id' IS NULL AND (after->>'department_id')::bigint = $2`, "sender:"+strconv.FormatInt(s.ID, 10), acad); n != 1 {
		t.Fatal("assignment not audited with before and after")
	}
	detail, _ := ta.get(admin, page+"?done=department")
	if !strings.Contains(detail, "Department saved") || !regexp.MustCompile(`<option value="`+strconv.FormatInt(acad, 10)+`" selected`).MatchString(detail) {
		t.Fatal("the page does not show the new department")
	}
	// Unassign.
	if resp := ta.postForm(admin, page+"/department", url.Values{"_csrf": {tok}, "department": {""}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unassign: %d", resp.StatusCode)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND department_id IS NULL`, s.ID); n != 1 {
		t.Fatal("department not removed")
	}
	// An archived department cannot be chosen.
	old, err := ta.db.EnsureDepartment(ctx, "closed-club", "Closed club")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ta.db.Pool.Exec(ctx, `UPDATE departments SET archived_at = now() WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	st, body := readBody(ta.postForm(admin, page+"/department", url.Values{"_csrf": {tok}, "department": {strconv.FormatInt(old, 10)}}))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "archived") {
		t.Fatalf("archived department: %d", st)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND department_id IS NULL`, s.ID); n != 1 {
		t.Fatal("an archived department was assigned")
	}
	if _, st := ta.get(admin, "/senders/999999"); st != http.StatusNotFound {
		t.Fatalf("unknown sender: %d", st)
	}
}

// TestSenderAdminProfileEdit: the profile is validated like registration,
// then sent to Twilio and stored with an audit entry.
func TestSenderAdminProfileEdit(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/new")
	id := postSender(t, ta, admin, "/senders/new", registerForm(tok, "+15550074000", "Hillside School", "twilio"))
	page := "/senders/" + strconv.FormatInt(id, 10)
	eventually(t, "ONLINE", func() bool {
		ta.get(admin, page+"/status")
		return senderStatusInDB(t, ta, id) == "ONLINE"
	})
	f := registerForm(tok, "", "HILLSIDE SCHOOL", "")
	st, body := readBody(ta.postForm(admin, page+"/profile", f))
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "normal capitals") || !strings.Contains(body, `value="HILLSIDE SCHOOL"`) {
		t.Fatalf("bad profile edit: %d", st)
	}
	f = registerForm(tok, "", "Hillside Academy", "")
	f.Set("about", "Open from 8")
	if resp := ta.postForm(admin, page+"/profile", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("profile edit: %d", resp.StatusCode)
	}
	sid := twilioSIDOf(t, ta, id)
	for _, s := range ta.sim.Senders() {
		if s.SID == sid && (s.Profile.Name != "Hillside Academy" || s.Profile.About != "Open from 8") {
			t.Fatalf("Twilio's profile: %+v", s.Profile)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND display_name = 'Hillside Academy' AND profile->>'about' = 'Open from 8'`, id); n != 1 {
		t.Fatal("new profile not stored")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.profile' AND before->>'display_name' = 'Hillside School'
		AND after->>'display_name' = 'Hillside Academy'`); n != 1 {
		t.Fatal("profile edit not audited with before and after")
	}
}

// TestSenderAdminDeleteArchives: deleting removes the registration at
// Twilio and archives the row (conversations keep pointing at it); a sender
// Twilio no longer has is archived too; the number can be registered again.
func TestSenderAdminDeleteArchives(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders/new")
	id := postSender(t, ta, admin, "/senders/new", registerForm(tok, "+15550075000", "Hillside School", "twilio"))
	page := "/senders/" + strconv.FormatInt(id, 10)
	sid := twilioSIDOf(t, ta, id)
	conv := parentWrites(t, ta, "whatsapp:+15550009001", "whatsapp:+15550075000", "Hello")

	confirm, st := ta.get(admin, page+"/delete")
	if st != http.StatusOK || !strings.Contains(confirm, "two-step verification") || !strings.Contains(confirm, "stops working on WhatsApp through Classline") ||
		!strings.Contains(confirm, "history stay") {
		t.Fatalf("delete confirmation: %d", st)
	}
	resp := ta.postForm(admin, page+"/delete", url.Values{"_csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/senders?done=deleted" {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, s := range ta.sim.Senders() {
		if s.SID == sid {
			t.Fatal("the simulator still has the deleted sender")
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND archived_at IS NOT NULL`, id); n != 1 {
		t.Fatal("the sender row was not archived")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM conversations WHERE id = $1 AND sender_id = $2`, conv, id); n != 1 {
		t.Fatal("the conversation lost its sender")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.delete' AND subject = $1`, "sender:"+strconv.FormatInt(id, 10)); n != 1 {
		t.Fatal("delete not audited")
	}
	list, _ := ta.get(admin, "/senders?done=deleted")
	if strings.Contains(list, `href="`+page+`"`) || !strings.Contains(list, "Sender deleted") {
		t.Fatal("the deleted sender is still listed")
	}
	if _, st := ta.get(admin, page); st != http.StatusNotFound {
		t.Fatalf("deleted sender's page: %d, want 404", st)
	}

	// Registering the number again brings the same row back.
	again := postSender(t, ta, admin, "/senders/new", registerForm(tok, "+15550075000", "Hillside School", "twilio"))
	if again != id {
		t.Fatalf("re-registration made sender %d, want the archived %d back", again, id)
	}
	// Deleted at Twilio meanwhile (the Console): deleting still archives.
	if err := ta.gw.DeleteSender(context.Background(), twilioSIDOf(t, ta, id)); err != nil {
		t.Fatal(err)
	}
	if resp := ta.postForm(admin, page+"/delete", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete of a sender Twilio no longer has: %d", resp.StatusCode)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND archived_at IS NOT NULL`, id); n != 1 {
		t.Fatal("not archived")
	}
	// An SMS number is archived without asking Twilio.
	sms := postSender(t, ta, admin, "/senders/sms", url.Values{"_csrf": {tok}, "number": {"+15550075100"}, "label": {"Desk"}})
	if resp := ta.postForm(admin, "/senders/"+strconv.FormatInt(sms, 10)+"/delete", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete SMS number: %d", resp.StatusCode)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND archived_at IS NOT NULL`, sms); n != 1 {
		t.Fatal("SMS number not archived")
	}
}

// TestSenderAdminStaffRefused: every sender administration route is for
// admins only; staff get 403 and nothing changes.
func TestSenderAdminStaffRefused(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	staff := ta.login("s@school.example", ta.addUser("s@school.example", "staff", "admissions"))
	tok := ta.csrfOf(staff, "/inbox")
	var id int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT min(id) FROM senders`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	page := "/senders/" + strconv.FormatInt(id, 10)
	for _, path := range []string{"/senders/new", "/senders/sms", "/senders/service", page, page + "/status", page + "/delete"} {
		if _, st := ta.get(staff, path); st != http.StatusForbidden {
			t.Errorf("staff GET %s: %d, want 403", path, st)
		}
	}
	forms := map[string]url.Values{
		"/senders/new":       registerForm(tok, "+15550076000", "Hillside School", "sms"),
		"/senders/sms":       {"number": {"+15550076001"}},
		"/senders/service":   {"sid": {"MG" + strings.Repeat("a", 32)}, "channel": {"sms"}},
		page + "/verify":     {"code": {"123456"}},
		page + "/resend":     {"method": {"sms"}},
		page + "/profile":    registerForm(tok, "", "Hillside School", ""),
		page + "/department": {"department": {""}},
		page + "/delete":     {},
	}
	before := countRows(t, ta, `SELECT count(*) FROM senders WHERE archived_at IS NULL`)
	for path, f := range forms {
		f.Set("_csrf", tok)
		if resp := ta.postForm(staff, path, f); resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if after := countRows(t, ta, `SELECT count(*) FROM senders WHERE archived_at IS NULL`); after != before || len(ta.sim.Senders()) != 0 {
		t.Fatalf("staff changed senders: %d → %d, %d at Twilio", before, after, len(ta.sim.Senders()))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action LIKE 'senders.%'`); n != 0 {
		t.Fatalf("%d sender audit entries after staff requests", n)
	}
}
