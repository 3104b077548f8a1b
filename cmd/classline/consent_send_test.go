package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/classline/classline/internal/policy"
)

// refusals lists the message.refused audit rows: subject, purpose and reason.
func refusals(t *testing.T, ta *testApp) []string {
	t.Helper()
	rows, err := ta.db.Pool.Query(context.Background(), `SELECT subject, after->>'purpose', after->>'reason', user_id IS NOT NULL
		FROM audit_log WHERE action = 'message.refused' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var subject, purpose, reason string
		var who bool
		if err := rows.Scan(&subject, &purpose, &reason, &who); err != nil {
			t.Fatal(err)
		}
		if !who {
			t.Errorf("refusal of %s without the person who tried", subject)
		}
		out = append(out, subject+" "+purpose+" "+reason)
	}
	return out
}

// Every send checks consent for its purpose: school business goes unless
// the parent opted out; promotional messages need the parent's opt-in for
// them. A refusal is explained by the field and kept in the audit log, and
// nothing reaches Twilio.
func TestConsentAtEverySend(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	ctx := context.Background()
	const parent = "+15550102001"
	sent := func() int { return len(ta.sim.Messages()) }
	compose := func(purpose, channel, body string, extra url.Values) httpResult {
		t.Helper()
		form := url.Values{"_csrf": {ta.csrfOf(admin, "/compose")}, "to": {"(555) 010-2001"}, "channel": {channel},
			"body": {body}, "sender_id": {"0"}, "purpose": {purpose}}
		for k, v := range extra {
			form[k] = v
		}
		return doHTTP(t, admin, http.MethodPost, ta.URL+"/compose", form, nil)
	}
	fieldError := func(page, id string) string {
		t.Helper()
		i := strings.Index(page, `id="`+id+`-error"`)
		if i < 0 {
			return ""
		}
		rest := page[i:]
		return html.UnescapeString(rest[strings.Index(rest, ">")+1 : strings.Index(rest, "</div>")])
	}

	// New message defaults to school business.
	page, _ := ta.get(admin, "/compose")
	if !strings.Contains(page, `name="purpose" value="transactional" checked`) || !strings.Contains(page, "Promotional (fundraising, events, newsletters)") {
		t.Fatal("New message lacks the purpose choice, school business chosen")
	}

	// No consent record: school business goes.
	if r := compose("transactional", "sms", "Fees are due on Friday.", nil); r.status != http.StatusSeeOther {
		t.Fatalf("school business to a number without consent records: %d\n%s", r.status, r.body)
	}
	if sent() != 1 {
		t.Fatalf("simulator got %d messages, want 1", sent())
	}
	var contactID int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1`, parent).Scan(&contactID); err != nil {
		t.Fatal(err)
	}
	contactSubject := "contact:" + strconv.FormatInt(contactID, 10)
	var smsConv, waConv int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND channel = 'sms'`, contactID).Scan(&smsConv); err != nil {
		t.Fatal(err)
	}
	smsSubject := "conversation:" + strconv.FormatInt(smsConv, 10)

	// A promotional message is refused without the parent's opt-in.
	r := compose("marketing", "sms", "Bake sale on Saturday!", nil)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("promotional message without consent: %d", r.status)
	}
	if got := fieldError(r.body, "body"); got != policy.SkipReasonText(policy.SkipNoMarketingConsent) {
		t.Fatalf("body field error %q, want the no_marketing_consent text", got)
	}
	if !strings.Contains(r.body, ">Bake sale on Saturday!</textarea>") || !strings.Contains(r.body, `value="marketing" checked`) {
		t.Fatal("the typed message or the chosen purpose was not kept")
	}
	if sent() != 1 {
		t.Fatal("a refused promotional message reached the simulator")
	}
	want := []string{smsSubject + " marketing no_marketing_consent"}
	if got := refusals(t, ta); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("refusals %q, want %q", got, want)
	}
	audit, _ := ta.get(admin, "/audit?action=message.refused")
	if !strings.Contains(audit, "no_marketing_consent") || !strings.Contains(audit, smsSubject) {
		t.Fatal("the refusal is not on the audit log page")
	}

	// A WhatsApp template is checked the same way (no WhatsApp conversation
	// yet: the refusal names the contact).
	tpl := createTemplate(t, ta, admin, templateForm("open_evening"))
	submitAndWait(t, ta, admin, tpl, "approved")
	withTemplate := url.Values{"template_id": {strconv.FormatInt(tpl, 10)}, "var_1": {"Ms Rivera"}}
	r = compose("marketing", "whatsapp", "", withTemplate)
	if r.status != http.StatusUnprocessableEntity || fieldError(r.body, "body") != policy.SkipReasonText(policy.SkipNoMarketingConsent) {
		t.Fatalf("promotional template without consent: %d %q", r.status, fieldError(r.body, "body"))
	}
	if sent() != 1 {
		t.Fatal("a refused template reached the simulator")
	}

	// Staff record the parent's opt-in to promotional messages.
	cpath := fmt.Sprintf("/contacts/%d", contactID)
	ta.mustPost(admin, cpath+"/consent", url.Values{"_csrf": {ta.csrfOf(admin, cpath)}, "purpose": {"marketing"}, "opted_in": {"in"},
		"reason": {"Ticked the newsletter box at open evening"}}, http.StatusSeeOther)
	if r := compose("marketing", "sms", "Bake sale on Saturday!", nil); r.status != http.StatusSeeOther {
		t.Fatalf("promotional message after opt-in: %d %q", r.status, fieldError(r.body, "body"))
	}
	if r := compose("marketing", "whatsapp", "", withTemplate); r.status != http.StatusSeeOther {
		t.Fatalf("promotional template after opt-in: %d %q", r.status, fieldError(r.body, "body"))
	}
	eventually(t, "both promotional messages at the simulator", func() bool { return sent() == 3 })

	// The parent texts STOP: nothing goes any more, whatever its purpose.
	if status, out := ta.webhook("/webhooks/twilio/inbound", inboundForm(newSID(), parent, "+14155550199", "STOP", ""), ta.token); status != http.StatusOK {
		t.Fatalf("STOP: %d %s", status, out)
	}
	for _, purpose := range []string{"transactional", "marketing"} {
		r := compose(purpose, "sms", "Reminder: trip tomorrow", nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "to"), "opted out") ||
			!strings.Contains(fieldError(r.body, "to"), "(they replied STOP)") {
			t.Fatalf("%s after STOP: %d, to-error %q", purpose, r.status, fieldError(r.body, "to"))
		}
	}
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND channel = 'whatsapp'`, contactID).Scan(&waConv); err != nil {
		t.Fatal(err)
	}
	// A reply, and a template in the conversation, are school business: refused too.
	r = doHTTP(t, admin, http.MethodPost, ta.URL+convURL(smsConv)+"/messages", url.Values{"_csrf": {ta.csrfOf(admin, convURL(smsConv))}, "body": {"Are you sure?"}}, nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "opted out") || !strings.Contains(r.body, "Are you sure?</textarea>") {
		t.Fatalf("reply after STOP: %d", r.status)
	}
	r = doHTTP(t, admin, http.MethodPost, ta.URL+convURL(waConv)+"/template", url.Values{"_csrf": {ta.csrfOf(admin, convURL(waConv))},
		"template_id": {strconv.FormatInt(tpl, 10)}, "var_1": {"Ms Rivera"}}, nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "opted out") {
		t.Fatalf("template in the conversation after STOP: %d", r.status)
	}
	if sent() != 3 {
		t.Fatalf("simulator got %d messages, want still 3", sent())
	}
	want = append(want,
		contactSubject+" marketing no_marketing_consent",
		smsSubject+" transactional opted_out",
		smsSubject+" marketing opted_out",
		smsSubject+" transactional opted_out",
		"conversation:"+strconv.FormatInt(waConv, 10)+" transactional opted_out",
	)
	if got := refusals(t, ta); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("refusals\n %q\nwant\n %q", got, want)
	}

	// START restores school business only: promotional needs a new opt-in.
	if status, out := ta.webhook("/webhooks/twilio/inbound", inboundForm(newSID(), parent, "+14155550199", "START", ""), ta.token); status != http.StatusOK {
		t.Fatalf("START: %d %s", status, out)
	}
	if r := compose("transactional", "sms", "Welcome back.", nil); r.status != http.StatusSeeOther {
		t.Fatalf("school business after START: %d", r.status)
	}
	r = compose("marketing", "sms", "Bake sale on Saturday!", nil)
	if got := fieldError(r.body, "body"); r.status != http.StatusUnprocessableEntity || !strings.Contains(got, "opted out of promotional messages") {
		t.Fatalf("promotional after STOP and START: %d %q", r.status, got)
	}
	// An unknown purpose is refused next to the choice, not sent as school business.
	r = compose("newsletter", "sms", "Hello", nil)
	if r.status != http.StatusUnprocessableEntity || fieldError(r.body, "purpose") == "" {
		t.Fatalf("unknown purpose: %d", r.status)
	}
	eventually(t, "the school business message after START", func() bool { return sent() == 4 })
}
