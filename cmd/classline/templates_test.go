package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/classline/classline/internal/twiliosim"
)

// templateForm is a valid new-template form.
func templateForm(name string) url.Values {
	return url.Values{
		"name": {name}, "language": {"en"}, "category": {"UTILITY"}, "kind": {"twilio/text"},
		"body":     {"Dear {{1}}, the school is closed tomorrow because of snow. Stay safe and warm."},
		"sample_1": {"Ana"}, "field_1": {"first_name"},
	}
}

// createTemplate posts the form as the admin and returns the template's id.
func createTemplate(t *testing.T, ta *testApp, admin *http.Client, form url.Values) int64 {
	t.Helper()
	form.Set("_csrf", ta.csrfOf(admin, "/templates/new"))
	resp := ta.postForm(admin, "/templates", form)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/templates/") {
		t.Fatalf("create template: %d, Location %q", resp.StatusCode, loc)
	}
	id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(loc, "/templates/"), "?done=created"), 10, 64)
	if err != nil {
		t.Fatalf("template id from %q: %v", loc, err)
	}
	return id
}

func templateStatus(t *testing.T, ta *testApp, id int64) (status, reason string) {
	t.Helper()
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT approval_status, rejection_reason FROM templates WHERE id = $1`, id).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	return status, reason
}

// submitAndWait submits the template for WhatsApp approval and polls its
// status card, as the page does, until WhatsApp decides.
func submitAndWait(t *testing.T, ta *testApp, admin *http.Client, id int64, want string) {
	t.Helper()
	path := fmt.Sprintf("/templates/%d", id)
	resp := ta.postForm(admin, path+"/submit", url.Values{"_csrf": {ta.csrfOf(admin, path)}, "category": {"UTILITY"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	eventually(t, "the template "+want, func() bool {
		page, status := ta.get(admin, path+"/status")
		return status == http.StatusOK && strings.Contains(page, templateStatusWord(want))
	})
	if got, _ := templateStatus(t, ta, id); got != want {
		t.Fatalf("status %q in the database, want %q", got, want)
	}
}

func templateStatusWord(status string) string {
	switch status {
	case "approved":
		return ">Approved<"
	case "rejected":
		return ">Rejected<"
	}
	return status
}

func TestTemplateLibrary(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	before := len(ta.sim.Templates())

	// WhatsApp's rules are checked before anything reaches Twilio.
	bad := templateForm("Snow Day")
	bad.Set("body", "{{1}}, school is closed tomorrow.")
	bad.Set("_csrf", ta.csrfOf(admin, "/templates/new"))
	resp := ta.postForm(admin, "/templates", bad)
	page := bodyOf(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "lowercase") || !strings.Contains(page, "cannot start with a variable") ||
		!strings.Contains(page, `value="Snow Day"`) {
		t.Fatalf("invalid template: %d\n%s", resp.StatusCode, page)
	}
	if n := len(ta.sim.Templates()); n != before {
		t.Fatalf("an invalid template reached Twilio: %d templates, had %d", n, before)
	}

	id := createTemplate(t, ta, admin, templateForm("snow_day"))
	if n := len(ta.sim.Templates()); n != before+1 {
		t.Fatalf("%d templates at Twilio after creating one, had %d", n, before)
	}
	if st, _ := templateStatus(t, ta, id); st != "unsubmitted" {
		t.Fatalf("new template status %q", st)
	}
	// The same name and language twice is refused, another language is a variant.
	dup := templateForm("snow_day")
	dup.Set("_csrf", ta.csrfOf(admin, "/templates/new"))
	resp = ta.postForm(admin, "/templates", dup)
	if page := bodyOf(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "already has a English version") {
		t.Fatalf("duplicate: %d\n%s", resp.StatusCode, page)
	}
	submitAndWait(t, ta, admin, id, "approved")

	// A name WhatsApp refuses: rejected with its reason, copied into a new draft.
	rej := createTemplate(t, ta, admin, templateForm("reject_me"))
	submitAndWait(t, ta, admin, rej, "rejected")
	if _, reason := templateStatus(t, ta, rej); reason == "" {
		t.Fatal("rejected without a reason")
	}
	page, _ = ta.get(admin, fmt.Sprintf("/templates/new?from=%d", rej))
	if !strings.Contains(page, `value="reject_me_v2"`) || !strings.Contains(page, "the school is closed tomorrow") {
		t.Fatalf("copy of a rejected template:\n%s", page)
	}

	// Deleting removes it at Twilio and from the list.
	path := fmt.Sprintf("/templates/%d", rej)
	resp = ta.postForm(admin, path+"/delete", url.Values{"_csrf": {ta.csrfOf(admin, path)}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, st := range ta.sim.Templates() {
		if st.FriendlyName == "reject_me_en" {
			t.Fatal("deleted template still at Twilio")
		}
	}
	if page, _ := ta.get(admin, "/templates"); strings.Contains(page, "reject_me") || !strings.Contains(page, "snow_day") {
		t.Fatalf("list after delete:\n%s", page)
	}
	if _, status := ta.get(admin, path); status != http.StatusNotFound {
		t.Fatalf("deleted template page: %d", status)
	}

	// The simulator's built-in template was made outside Classline: a sync adds it.
	resp = ta.postForm(admin, "/templates/sync", url.Values{"_csrf": {ta.csrfOf(admin, "/templates")}})
	if page := bodyOf(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Checked with Twilio") {
		t.Fatalf("sync: %d\n%s", resp.StatusCode, page)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM templates WHERE content_sid = '`+twiliosim.SampleTemplateSID+`' AND deleted_at IS NULL`); n != 1 {
		t.Fatalf("the Console-made template: %d rows", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action IN ('template.create', 'template.submit', 'template.delete')`); n != 5 {
		t.Fatalf("%d audit entries for 2 creates, 2 submits and a delete, want 5", n)
	}

	// Staff cannot manage templates.
	staff := ta.login("tpl.staff@school.example", ta.addUser("tpl.staff@school.example", "staff", "admissions"))
	if _, status := ta.get(staff, "/templates"); status != http.StatusForbidden {
		t.Fatalf("staff on /templates: %d", status)
	}
}

func bodyOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestSendTemplateOutsideWindow: with the 24-hour window closed, staff send
// an approved template; Twilio gets ContentSid and ContentVariables and no
// Body, and the conversation shows the rendered text marked as a template.
// An unapproved template is refused by the server whatever the page offers.
func TestSendTemplateOutsideWindow(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	conv := parentWrites(t, ta, "whatsapp:+15550041001", "whatsapp:+14155550100", "Hello")
	for _, q := range []string{`UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1`,
		`UPDATE contacts SET name = 'Maria Lopez', language = 'es' FROM conversations c WHERE c.id = $1 AND contacts.id = c.contact_id`} {
		if _, err := ta.db.Pool.Exec(context.Background(), q, conv); err != nil {
			t.Fatal(err)
		}
	}
	en := createTemplate(t, ta, admin, templateForm("snow_day"))
	es := templateForm("snow_day")
	es.Set("language", "es")
	es.Set("body", "Estimada {{1}}, la escuela estará cerrada mañana por la nieve. Cuídense mucho.")
	esID := createTemplate(t, ta, admin, es)
	draft := createTemplate(t, ta, admin, templateForm("not_yet"))
	submitAndWait(t, ta, admin, en, "approved")
	submitAndWait(t, ta, admin, esID, "approved")

	staff := ta.login("tpl.send@school.example", ta.addUser("tpl.send@school.example", "staff", "admissions"))
	cpath := fmt.Sprintf("/conversations/%d", conv)
	page, _ := ta.get(staff, cpath)
	if !strings.Contains(page, `id="tpl-send"`) || !strings.Contains(page, "snow_day · Spanish") || strings.Contains(page, "not_yet") {
		t.Fatalf("template panel: Spanish variant for a Spanish-speaking parent, no unapproved one:\n%s", page)
	}
	panel, _ := ta.get(staff, fmt.Sprintf("%s/template?template_id=%d", cpath, esID))
	if !strings.Contains(panel, `value="Maria"`) {
		t.Fatalf("{{1}} not prefilled with the contact's first name:\n%s", panel)
	}

	tok := ta.csrfOf(staff, cpath)
	resp := ta.postForm(staff, cpath+"/template", url.Values{"_csrf": {tok}, "template_id": {strconv.FormatInt(draft, 10)}, "var_1": {"Maria"}})
	if body := bodyOf(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "has not approved") {
		t.Fatalf("unapproved template: %d\n%s", resp.StatusCode, body)
	}
	resp = ta.postForm(staff, cpath+"/template", url.Values{"_csrf": {tok}, "template_id": {strconv.FormatInt(esID, 10)}, "var_1": {"Maria\nLopez"}})
	if body := bodyOf(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "line breaks") {
		t.Fatalf("a line break in a variable: %d\n%s", resp.StatusCode, body)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE template_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d refused template messages stored", n)
	}

	resp = ta.postForm(staff, cpath+"/template", url.Values{"_csrf": {tok}, "template_id": {strconv.FormatInt(esID, 10)}, "var_1": {"Maria"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send template: %d", resp.StatusCode)
	}
	var sid string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT content_sid FROM templates WHERE id = $1`, esID).Scan(&sid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the template at the simulator", func() bool {
		for _, m := range ta.sim.Messages() {
			if m.ContentSID == sid {
				var vars map[string]string
				return json.Unmarshal([]byte(m.ContentVariables), &vars) == nil && vars["1"] == "Maria"
			}
		}
		return false
	})
	want := "Estimada Maria, la escuela estará cerrada mañana por la nieve. Cuídense mucho."
	if n := countRows(t, ta, fmt.Sprintf(`SELECT count(*) FROM messages WHERE conversation_id = %d AND template_id = %d AND body = '%s'
		AND content_variables = '{"1": "Maria"}'`, conv, esID, want)); n != 1 {
		t.Fatalf("%d stored template messages with the rendered text", n)
	}
	if page, _ := ta.get(staff, cpath); !strings.Contains(page, "Template · snow_day") || !strings.Contains(page, want) {
		t.Fatalf("the conversation does not show the template message:\n%s", page)
	}
	// A French-speaking family has no French version: the school's language
	// (set to Spanish under Settings) is used, else English.
	other := parentWrites(t, ta, "whatsapp:+15550041002", "whatsapp:+14155550100", "Bonjour")
	if _, err := ta.db.Pool.Exec(context.Background(), `UPDATE contacts SET language = 'fr' FROM conversations c WHERE c.id = $1 AND contacts.id = c.contact_id`, other); err != nil {
		t.Fatal(err)
	}
	opath := fmt.Sprintf("/conversations/%d", other)
	if page, _ := ta.get(staff, opath); !strings.Contains(page, "snow_day · English") {
		t.Fatalf("French family, school language English: %s", page)
	}
	resp = ta.postForm(admin, "/settings", url.Values{"_csrf": {ta.csrfOf(admin, "/settings")}, "school_name": {"Oak School"}, "school_language": {"es"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save settings: %d", resp.StatusCode)
	}
	if page, _ := ta.get(staff, opath); !strings.Contains(page, "snow_day · Spanish") {
		t.Fatalf("French family, school language Spanish: %s", page)
	}
}

// TestComposeWithTemplate: a school starts a WhatsApp conversation with a
// parent who never wrote, which WhatsApp allows only with an approved
// template; free text is refused with the reason.
func TestComposeWithTemplate(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	id := createTemplate(t, ta, admin, templateForm("trip_reminder"))
	staff := ta.login("tpl.compose@school.example", ta.addUser("tpl.compose@school.example", "staff", "admissions"))
	if page, _ := ta.get(staff, "/compose"); strings.Contains(page, "trip_reminder") {
		t.Fatal("New message offers a template WhatsApp has not approved")
	}
	submitAndWait(t, ta, admin, id, "approved")
	page, _ := ta.get(staff, "/compose")
	if !strings.Contains(page, "trip_reminder · English") {
		t.Fatalf("approved template not offered:\n%s", page)
	}
	tok := ta.csrfOf(staff, "/compose")
	form := url.Values{"_csrf": {tok}, "to": {"+1 555 004 2001"}, "channel": {"whatsapp"}, "sender_id": {"0"}, "body": {"Free text"}}
	resp := ta.postForm(staff, "/compose", form)
	if body := bodyOf(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "template") {
		t.Fatalf("free text to a parent who never wrote: %d\n%s", resp.StatusCode, body)
	}
	form.Set("template_id", strconv.FormatInt(id, 10))
	resp = ta.postForm(staff, "/compose", form)
	if body := bodyOf(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Fill in {{1}}") {
		t.Fatalf("template without its variable: %d\n%s", resp.StatusCode, body)
	}
	form.Set("var_1", "Mr Okafor")
	resp = ta.postForm(staff, "/compose", form)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose with a template: %d", resp.StatusCode)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE to_address = 'whatsapp:+15550042001' AND template_id IS NOT NULL
		AND body LIKE 'Dear Mr Okafor, the school is closed tomorrow%'`); n != 1 {
		t.Fatalf("%d template messages stored for the new contact", n)
	}
	eventually(t, "the template sent with its variables and no body", func() bool {
		for _, m := range ta.sim.Messages() {
			if m.To == "whatsapp:+15550042001" {
				return m.ContentSID != "" && strings.Contains(m.ContentVariables, "Mr Okafor")
			}
		}
		return false
	})
}
