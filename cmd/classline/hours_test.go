package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
)

// The app has no injectable clock, so these tests use hours whose answer is
// the same whatever the time: every day closed, every day open all day, and
// open all day except closed dates around today.

// hoursForm is the hours form with every day in mode (times for "open").
func hoursForm(tok, mode, open, close, closedDates string) url.Values {
	f := url.Values{"_csrf": {tok}, "closed_dates": {closedDates}}
	for _, k := range policy.DayKeys {
		f.Set(k+"_mode", mode)
		f.Set(k+"_open", open)
		f.Set(k+"_close", close)
	}
	return f
}

func depPath(id int64) string { return "/departments/" + strconv.FormatInt(id, 10) }

func (ta *testApp) departmentID(slug string) int64 {
	ta.t.Helper()
	id, err := ta.db.DepartmentIDBySlug(context.Background(), slug)
	if err != nil {
		ta.t.Fatalf("department %s: %v", slug, err)
	}
	return id
}

// mustPost posts form and fails unless the answer has status want; it returns the body.
func (ta *testApp) mustPost(c *http.Client, path string, form url.Values, want int) string {
	ta.t.Helper()
	resp := ta.postForm(c, path, form)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		ta.t.Fatalf("POST %s: %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	return string(b)
}

// automaticReplies lists the automatic messages of the conversation, oldest first.
func (ta *testApp) automaticReplies(convID int64) []string {
	ta.t.Helper()
	rows, err := ta.db.Pool.Query(context.Background(), `SELECT body FROM messages
		WHERE conversation_id = $1 AND direction = 'outbound' AND automatic AND sent_by IS NULL ORDER BY id`, convID)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			ta.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// settle waits for the work started after webhooks were answered (keyword
// and out-of-hours replies), so "no reply" is a fact, not a race.
func (ta *testApp) settle() {
	ta.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ta.msg.Wait(ctx); err != nil {
		ta.t.Fatalf("background replies did not finish: %v", err)
	}
}

func (ta *testApp) simBodiesTo(to string) []string {
	var out []string
	for _, m := range ta.sim.Messages() {
		if m.To == to && m.Direction != "inbound" {
			out = append(out, m.Body)
		}
	}
	return out
}

// TestOutOfHoursReplies: a department closed every day answers the first
// message once, with {school} and {opens} filled; one closed on the dates
// around today names the day it opens again; one open all day says nothing;
// an opted-out number hears nothing but the STOP answer; two messages at once
// get one reply.
func TestOutOfHoursReplies(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	if err := ta.db.SetSetting(ctx, messaging.SettingSchoolName, "Hillside Primary"); err != nil {
		t.Fatal(err)
	}
	admin := ta.loginAdmin()
	admissions, academics, finance := ta.departmentID("admissions"), ta.departmentID("academics"), ta.departmentID("finance")
	tok := ta.csrfOf(admin, depPath(admissions))

	// Admissions: closed every day, so always out of hours and never opening.
	ta.mustPost(admin, depPath(admissions)+"/hours", hoursForm(tok, "closed", "", "", ""), http.StatusSeeOther)
	ta.mustPost(admin, depPath(admissions)+"/out-of-hours", url.Values{"_csrf": {tok},
		"reply": {"Thank you for writing to {school}. We will answer {opens}."}}, http.StatusSeeOther)
	// Academics: open all day, except the dates from yesterday to the day
	// after tomorrow (school zone: UTC here). Whenever the test runs (even
	// across midnight), it is closed now and opens at midnight three days on.
	today := time.Now().UTC()
	var closed []string
	for i := -1; i <= 2; i++ {
		closed = append(closed, today.AddDate(0, 0, i).Format(time.DateOnly))
	}
	opens := time.Date(today.Year(), today.Month(), today.Day()+3, 0, 0, 0, 0, time.UTC).Weekday().String() + " at 00:00"
	ta.mustPost(admin, depPath(academics)+"/hours", hoursForm(tok, "allday", "", "", strings.Join(closed, "\n")), http.StatusSeeOther)
	ta.mustPost(admin, depPath(academics)+"/out-of-hours", url.Values{"_csrf": {tok},
		"reply": {"{school}: we open again on {opens}."}}, http.StatusSeeOther)
	// Finance: open all day, every day, no closed dates: never out of hours,
	// including the last minute before midnight.
	ta.mustPost(admin, depPath(finance)+"/hours", hoursForm(tok, "allday", "", "", ""), http.StatusSeeOther)
	ta.mustPost(admin, depPath(finance)+"/out-of-hours", url.Values{"_csrf": {tok}, "reply": {"We are closed."}}, http.StatusSeeOther)

	const (
		waAdmissions = "whatsapp:+14155550100"
		waAcademics  = "whatsapp:+14155550101"
		waFinance    = "whatsapp:+14155550102"
	)

	// Closed every day: the first message gets one reply, the second none.
	parentA := "whatsapp:+15550001001"
	conv := parentWrites(t, ta, parentA, waAdmissions, "Is the open day on Saturday?")
	ta.settle()
	want := "Thank you for writing to Hillside Primary. We will answer soon."
	if got := ta.automaticReplies(conv); len(got) != 1 || got[0] != want {
		t.Fatalf("replies after the first message: %q, want exactly [%q]", got, want)
	}
	parentWrites(t, ta, parentA, waAdmissions, "Sorry, one more question")
	ta.settle()
	if got := ta.automaticReplies(conv); len(got) != 1 {
		t.Errorf("replies after a second message in the same closed period: %q, want still one", got)
	}
	eventually(t, "the reply at the simulator", func() bool { return len(ta.simBodiesTo(parentA)) == 1 })
	if got := ta.simBodiesTo(parentA); len(got) != 1 || got[0] != want {
		t.Errorf("the simulator got %q, want the one reply", got)
	}
	var waiting bool
	if err := ta.db.Pool.QueryRow(ctx, `SELECT waiting_since IS NOT NULL FROM conversations WHERE id = $1`, conv).Scan(&waiting); err != nil || !waiting {
		t.Errorf("after the automatic reply the conversation is not waiting for staff (err %v)", err)
	}

	// Closed dates: {opens} names the day after them.
	convB := parentWrites(t, ta, "whatsapp:+15550001002", waAcademics, "Where do I find the reading list?")
	ta.settle()
	if got, want := ta.automaticReplies(convB), "Hillside Primary: we open again on "+opens+"."; len(got) != 1 || got[0] != want {
		t.Errorf("academics' reply: %q, want [%q]", got, want)
	}

	// Open all day, every day: no reply.
	convC := parentWrites(t, ta, "whatsapp:+15550001003", waFinance, "Has the fee been paid?")
	ta.settle()
	if got := ta.automaticReplies(convC); len(got) != 0 {
		t.Errorf("a department open all day replied %q", got)
	}

	// An opted-out number gets the STOP answer only.
	parentD := "whatsapp:+15550001004"
	convD := parentWrites(t, ta, parentD, waAdmissions, "STOP")
	ta.settle()
	parentWrites(t, ta, parentD, waAdmissions, "Actually, when is the open day?")
	ta.settle()
	if got := ta.automaticReplies(convD); len(got) != 1 || !strings.Contains(got[0], "no longer receive") {
		t.Errorf("replies to an opted-out number: %q, want only the STOP answer", got)
	}

	// Two messages at the same moment: exactly one reply.
	parentE := "whatsapp:+15550001005"
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := inboundForm(newSID(), parentE, waAdmissions, fmt.Sprintf("Message %d", i), "Parent E")
			<-start
			statuses[i], _ = ta.webhook("/webhooks/twilio/inbound", form, ta.token)
		}()
	}
	close(start)
	wg.Wait()
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusOK {
		t.Fatalf("concurrent webhooks answered %v", statuses)
	}
	ta.settle()
	var convE int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT DISTINCT conversation_id FROM messages WHERE from_address = $1`, parentE).Scan(&convE); err != nil {
		t.Fatal(err)
	}
	if got := ta.automaticReplies(convE); len(got) != 1 {
		t.Errorf("replies to two simultaneous messages: %q, want exactly one", got)
	}
}

var (
	dayErrorRe  = regexp.MustCompile(`id="hours-mon-error"[^>]*>([^<]+)<`)
	monOpenRe   = regexp.MustCompile(`<input[^>]*id="hours-mon-open"[^>]*value="([^"]*)"`)
	monCloseRe  = regexp.MustCompile(`<input[^>]*id="hours-mon-close"[^>]*value="([^"]*)"`)
	closedErrRe = regexp.MustCompile(`id="hours-closed-dates-error"[^>]*>([^<]+)<`)
)

// TestDepartmentSettingsForms: the department's page through HTTP: linked
// from the list, errors next to the field with what was typed kept, nothing
// saved from a bad form, default senders saved and audited, admins only.
func TestDepartmentSettingsForms(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admin := ta.loginAdmin()
	admissions, academics := ta.departmentID("admissions"), ta.departmentID("academics")
	list, status := ta.get(admin, "/departments")
	if status != http.StatusOK || !strings.Contains(list, `href="`+depPath(admissions)+`"`) {
		t.Fatalf("/departments (%d) does not link to %s", status, depPath(admissions))
	}
	page, status := ta.get(admin, depPath(admissions))
	if status != http.StatusOK || !containsAll(page, "Default WhatsApp sender", "Default SMS sender", "First one set up", "Business hours", "Out-of-hours reply", "never out of hours") {
		t.Fatalf("department page (%d) lacks its sections", status)
	}
	if _, status := ta.get(admin, "/departments/999999"); status != http.StatusNotFound {
		t.Errorf("an unknown department: %d, want 404", status)
	}
	tok := ta.csrfOf(admin, depPath(admissions))

	// Closing before opening: an error next to Monday, the times kept, nothing saved.
	form := hoursForm(tok, "closed", "", "", "2026-12-24\n2026-12-32")
	form.Set("mon_mode", "open")
	form.Set("mon_open", "16:30")
	form.Set("mon_close", "08:00")
	body := ta.mustPost(admin, depPath(admissions)+"/hours", form, http.StatusUnprocessableEntity)
	if m := dayErrorRe.FindStringSubmatch(body); m == nil || !strings.Contains(m[1], "closing time must be after the opening time") {
		t.Errorf("no Monday error saying closing must come after opening (got %v)", m)
	}
	if m := monOpenRe.FindStringSubmatch(body); m == nil || m[1] != "16:30" {
		t.Errorf("Monday's opening time after the error: %v, want 16:30 kept", m)
	}
	if m := monCloseRe.FindStringSubmatch(body); m == nil || m[1] != "08:00" {
		t.Errorf("Monday's closing time after the error: %v, want 08:00 kept", m)
	}
	if m := closedErrRe.FindStringSubmatch(body); m == nil || !strings.Contains(m[1], "Line 2") {
		t.Errorf("no error naming the bad closed date's line (got %v)", m)
	}
	if !strings.Contains(body, "2026-12-24\n2026-12-32</textarea>") {
		t.Error("the closed dates typed were not kept")
	}
	var stored string
	if err := ta.db.Pool.QueryRow(ctx, `SELECT business_hours::text FROM departments WHERE id = $1`, admissions).Scan(&stored); err != nil || stored != "{}" {
		t.Errorf("business hours after a refused form: %s (%v), want {}", stored, err)
	}

	// A good week is stored in the documented shape and shown again.
	form = hoursForm(tok, "open", "8:00", "16:30", "2026-12-25\n2026-12-24")
	form.Set("sat_mode", "closed")
	form.Set("sun_mode", "allday")
	ta.mustPost(admin, depPath(admissions)+"/hours", form, http.StatusSeeOther)
	if err := ta.db.Pool.QueryRow(ctx, `SELECT business_hours::text FROM departments WHERE id = $1`, admissions).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`"mon": [{"open": "08:00", "close": "16:30"}]`, `"sat": []`, `"sun": [{"open": "00:00", "close": "24:00"}]`, `"closed_dates": ["2026-12-24", "2026-12-25"]`} {
		if !strings.Contains(stored, part) {
			t.Errorf("stored hours %s lack %s", stored, part)
		}
	}
	page, _ = ta.get(admin, depPath(admissions))
	if m := monOpenRe.FindStringSubmatch(page); m == nil || m[1] != "08:00" || !strings.Contains(page, "Saturday closed") {
		t.Errorf("the page after saving shows Monday opening %v and no \"Saturday closed\" summary", m)
	}

	// Out-of-hours reply: too long is refused next to the field, kept.
	long := strings.Repeat("a", 1001)
	body = ta.mustPost(admin, depPath(admissions)+"/out-of-hours", url.Values{"_csrf": {tok}, "reply": {long}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="ooh-reply-error"`) || !strings.Contains(body, "1001 characters") || !strings.Contains(body, ">"+long+"</textarea>") {
		t.Error("a 1001-character reply: no error next to the field, or the text was lost")
	}

	// Default senders: another department's sender is refused, its own saved.
	var waAdm, waAca int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM senders WHERE address = '+14155550100' AND channel = 'whatsapp'`).Scan(&waAdm); err != nil {
		t.Fatal(err)
	}
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM senders WHERE address = '+14155550101' AND channel = 'whatsapp'`).Scan(&waAca); err != nil {
		t.Fatal(err)
	}
	body = ta.mustPost(admin, depPath(admissions)+"/defaults", url.Values{"_csrf": {tok},
		"default_whatsapp": {strconv.FormatInt(waAca, 10)}, "default_sms": {"0"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, `id="default-whatsapp-error"`) {
		t.Error("another department's sender as default: no error next to the WhatsApp field")
	}
	ta.mustPost(admin, depPath(admissions)+"/defaults", url.Values{"_csrf": {tok},
		"default_whatsapp": {strconv.FormatInt(waAdm, 10)}, "default_sms": {"0"}}, http.StatusSeeOther)
	defaults, err := ta.db.DefaultSenders(ctx, admissions)
	if err != nil || defaults["whatsapp"] != waAdm || len(defaults) != 1 {
		t.Errorf("default senders %v (%v), want WhatsApp %d only", defaults, err, waAdm)
	}
	page, _ = ta.get(admin, depPath(admissions))
	if !regexp.MustCompile(`<option value="` + strconv.FormatInt(waAdm, 10) + `" selected`).MatchString(page) {
		t.Error("the saved default WhatsApp sender is not selected on the page")
	}
	if _, err := ta.db.DefaultSenders(ctx, academics); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"department.hours", "department.default_senders"} {
		var n int
		if err := ta.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2 AND before IS NOT NULL AND after IS NOT NULL`,
			action, "department:"+strconv.FormatInt(admissions, 10)).Scan(&n); err != nil || n != 1 {
			t.Errorf("audit entries for %s: %d (%v), want 1", action, n, err)
		}
	}

	// Staff cannot see or change a department's settings.
	pw := ta.addUser("staff@school.example", "staff", "admissions")
	staff := ta.login("staff@school.example", pw)
	if _, status := ta.get(staff, depPath(admissions)); status != http.StatusForbidden {
		t.Errorf("staff on a department's page: %d, want 403", status)
	}
	stok := ta.csrfOf(staff, "/inbox")
	if resp := ta.postForm(staff, depPath(admissions)+"/hours", hoursForm(stok, "closed", "", "", "")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("staff saving hours: %d, want 403", resp.StatusCode)
	}
}
