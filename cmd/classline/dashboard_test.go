package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// dashMsg is a message of the dashboard fixture.
type dashMsg struct {
	dir, status string
	code        int
	at          time.Time
	staff       int64 // sent_by: a staff reply
	automatic   bool
	note        bool
}

// dashConversation opens a conversation of a new contact with sender s.
func dashConversation(t *testing.T, ta *testApp, phone string, s db.Sender) int64 {
	t.Helper()
	ctx := context.Background()
	contact, err := db.UpsertContactTx(ctx, ta.db.Pool, phone, "")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := ta.db.Pool.QueryRow(ctx, `INSERT INTO conversations (contact_id, sender_id, department_id, channel) VALUES ($1, $2, $3, $4) RETURNING id`,
		contact, s.ID, s.DepartmentID, s.Channel).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func dashMessages(t *testing.T, ta *testApp, conv int64, s db.Sender, ms ...dashMsg) {
	t.Helper()
	for _, m := range ms {
		var sentBy *int64
		if m.staff != 0 {
			sentBy = &m.staff
		}
		from, to := policy.Address(s.Channel, s.Address), policy.Address(s.Channel, "+14155557999")
		if m.dir == "inbound" {
			from, to = to, from
		}
		_, err := ta.db.Pool.Exec(context.Background(), `INSERT INTO messages (conversation_id, direction, channel, from_address, to_address,
				body, status, error_code, sent_by, automatic, is_note, created_at, status_updated_at)
			VALUES ($1, $2, $3, $4, $5, 'x', $6, nullif($7, 0), $8, $9, $10, $11::timestamptz, $11::timestamptz + interval '1 minute')`,
			conv, m.dir, s.Channel, from, to, m.status, m.code, sentBy, m.automatic, m.note, m.at)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func repeatMsg(n int, m dashMsg) []dashMsg {
	out := make([]dashMsg, n)
	for i := range out {
		out[i] = m
		out[i].at = m.at.Add(time.Duration(i) * time.Second)
	}
	return out
}

var (
	deptRowRe = regexp.MustCompile(`(?s)<tr data-department="(\d+)">(.*?)</tr>`)
	metricRe  = regexp.MustCompile(`data-metric="([a-z0-9-]+)">([^<]*)<`)
)

// metrics reads the data-metric cells of each row of a dashboard table.
func metricsByRow(re *regexp.Regexp, html string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range re.FindAllStringSubmatch(html, -1) {
		row := map[string]string{}
		for _, c := range metricRe.FindAllStringSubmatch(m[2], -1) {
			row[c[1]] = c[2]
		}
		out[m[1]] = row
	}
	return out
}

func wantMetrics(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

// The overall dashboard on a fixture with known statuses: totals and rates
// exact, by department and by sender, top errors, response times (median
// and 90th percentile, automatic replies not counting as answers), the
// period toggle, the chart, and staff seeing their departments only.
func TestDashboardRatesAndScope(t *testing.T) {
	ta := startTestApp(t, testOptions{Env: map[string]string{"SCHOOL_TIMEZONE": "America/New_York"}})
	ctx := context.Background()
	f := newReportFixture(t, ta, time.Now())
	depA, depB, depC := f.department("admissions"), f.department("academics"), f.department("finance")
	waA, smsA := f.sender("whatsapp", "+14155550100"), f.sender("sms", "+14155550199")
	waB, waC := f.sender("whatsapp", "+14155550101"), f.sender("whatsapp", "+14155550102")
	if _, err := ta.db.Pool.Exec(ctx, `UPDATE senders SET quality_rating = CASE id WHEN $1 THEN 'HIGH' WHEN $2 THEN 'LOW' ELSE '' END`, waA.ID, waB.ID); err != nil {
		t.Fatal(err)
	}
	staffID := adminID(t, ta)
	base := time.Now().Add(-26 * time.Hour)
	out := func(status string, code int) dashMsg {
		return dashMsg{dir: "outbound", status: status, code: code, at: base, automatic: true}
	}
	in := dashMsg{dir: "inbound", status: "received", at: base}

	// Admissions: 8 WhatsApp and 2 SMS sent, 4 received, a note, and two old messages.
	a1 := dashConversation(t, ta, "+14155557005", waA)
	dashMessages(t, ta, a1, waA, repeatMsg(2, out("delivered", 0))...)
	dashMessages(t, ta, a1, waA, repeatMsg(3, out("read", 0))...)
	dashMessages(t, ta, a1, waA, out("failed", 63016), out("undelivered", 30003), out("sent", 0))
	dashMessages(t, ta, a1, waA, repeatMsg(3, in)...)
	dashMessages(t, ta, a1, waA, dashMsg{dir: "outbound", status: "sent", at: base, staff: staffID, note: true})
	old10, old40 := out("delivered", 0), out("delivered", 0)
	old10.at, old40.at = time.Now().Add(-10*24*time.Hour), time.Now().Add(-40*24*time.Hour)
	dashMessages(t, ta, a1, waA, old10, old40)
	a2 := dashConversation(t, ta, "+14155557015", smsA)
	dashMessages(t, ta, a2, smsA, out("delivered", 0), out("failed", 30003), in)

	// Academics: 2 sent (read, failed), 1 received.
	b1 := dashConversation(t, ta, "+14155557025", waB)
	dashMessages(t, ta, b1, waB, out("read", 0), out("failed", 63016), in)

	// Finance: response times. x: answered after 10 min, then a run of two
	// messages answered 30 min after its first; y: an automatic reply after
	// 1 min does not count, staff answered after 2 h; z: unanswered.
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	staff := func(min int) dashMsg {
		return dashMsg{dir: "outbound", status: "delivered", at: at(min), staff: staffID}
	}
	inAt := func(min int) dashMsg { return dashMsg{dir: "inbound", status: "received", at: at(min)} }
	x := dashConversation(t, ta, "+14155557035", waC)
	dashMessages(t, ta, x, waC, inAt(0), staff(10), inAt(60), inAt(65), staff(90))
	y := dashConversation(t, ta, "+14155557045", waC)
	dashMessages(t, ta, y, waC, inAt(0), dashMsg{dir: "outbound", status: "delivered", at: at(1), automatic: true}, staff(120))
	z := dashConversation(t, ta, "+14155557055", waC)
	dashMessages(t, ta, z, waC, inAt(5))

	f.broadcast("Admissions open day", depA, "completed", base)
	f.broadcast("Academics exam dates", depB, "completed", base)

	admin := ta.loginAdmin()
	page := htmxGet(t, ta, admin, "/dashboard")
	wantStatus(t, "dashboard", page, http.StatusOK)
	body := page.body
	if !strings.HasPrefix(strings.TrimSpace(body), `<div id="dashboard-content"`) {
		t.Error("htmx dashboard is not the content partial")
	}
	totals := map[string]string{}
	for _, m := range metricRe.FindAllStringSubmatch(between(t, body, `id="dash-totals"`, "</dl>"), -1) {
		totals[m[1]] = m[2]
	}
	wantMetrics(t, "totals", totals, map[string]string{"outbound": "16", "inbound": "10", "delivery-rate": "69%", "read-rate": "29%", "failure-rate": "25%"})

	deps := metricsByRow(deptRowRe, between(t, body, `id="dash-departments"`, "</table>"))
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	wantMetrics(t, "admissions", deps[id(depA)], map[string]string{"outbound": "10", "inbound": "4", "delivery-rate": "60%",
		"read-rate": "38%", "failure-rate": "30%", "median": "–", "unanswered": "2"})
	wantMetrics(t, "academics", deps[id(depB)], map[string]string{"outbound": "2", "inbound": "1", "delivery-rate": "50%",
		"read-rate": "50%", "failure-rate": "50%", "unanswered": "1"})
	wantMetrics(t, "finance", deps[id(depC)], map[string]string{"outbound": "4", "inbound": "5", "delivery-rate": "100%",
		"read-rate": "0%", "failure-rate": "0%", "median": "30 min", "p90": "1 h 42 min", "unanswered": "1"})

	senders := metricsByRow(regexp.MustCompile(`(?s)<tr data-sender="(\d+)">(.*?)</tr>`), between(t, body, `id="dash-senders"`, "</table>"))
	wantMetrics(t, "admissions WhatsApp", senders[id(waA.ID)], map[string]string{"outbound": "8", "inbound": "3", "delivery-rate": "63%", "read-rate": "38%", "failure-rate": "25%"})
	wantMetrics(t, "admissions SMS", senders[id(smsA.ID)], map[string]string{"outbound": "2", "inbound": "1", "delivery-rate": "50%", "read-rate": "–", "failure-rate": "50%"})
	senderTable := between(t, body, `id="dash-senders"`, "</table>")
	for _, want := range []string{`data-quality="HIGH">High<`, `data-quality="LOW">Low<`, "Not rated (SMS)"} {
		if !strings.Contains(senderTable, want) {
			t.Errorf("sender quality lacks %q", want)
		}
	}

	errs, texts := codeCounts(strings.ReplaceAll(between(t, body, `id="dash-errors"`, "</table>"), "\n", ""))
	if !equalCounts(errs, map[int]int{30003: 2, 63016: 2}) || !strings.Contains(texts[63016], "24-hour window") {
		t.Errorf("top errors %v %v", errs, texts)
	}
	if i, j := strings.Index(body, `data-code="30003"`), strings.Index(body, `data-code="63016"`); i < 0 || j < i {
		t.Error("errors not most frequent first, then by code")
	}

	chart := between(t, body, `<svg class="chart-svg"`, "</svg>")
	if n := strings.Count(chart, `class="chart-bar series-`); n != 14 {
		t.Errorf("%d bars, want 2 × 7 days", n)
	}
	if !strings.Contains(chart, "Sent 16, Received 10") || !strings.Contains(chart, "America/New_York") || !strings.Contains(chart, "<title id=") {
		t.Error("chart title/desc do not say the totals and the zone")
	}
	for _, name := range []string{"Admissions open day", "Academics exam dates"} {
		if !strings.Contains(body, name) {
			t.Errorf("admin dashboard lacks broadcast %q", name)
		}
	}

	// 30 days takes in the 10-day-old message, not the 40-day-old one.
	month := htmxGet(t, ta, admin, "/dashboard?days=30").body
	totals = map[string]string{}
	for _, m := range metricRe.FindAllStringSubmatch(between(t, month, `id="dash-totals"`, "</dl>"), -1) {
		totals[m[1]] = m[2]
	}
	wantMetrics(t, "30 days", totals, map[string]string{"outbound": "17", "delivery-rate": "71%"})
	if n := strings.Count(between(t, month, `<svg class="chart-svg"`, "</svg>"), `class="chart-bar series-`); n != 60 {
		t.Errorf("30 days: %d bars", n)
	}
	if !strings.Contains(month, `href="/dashboard?days=30" aria-current="page"`) {
		t.Error("the 30-day toggle is not marked current")
	}
	full := doHTTP(t, admin, http.MethodGet, ta.URL+"/dashboard?days=30", nil, nil)
	if !strings.Contains(full.body, "<h1>Dashboard</h1>") || !strings.Contains(strings.ToLower(full.body), "<!doctype html>") {
		t.Error("plain GET is not a whole page")
	}

	// Staff of academics see academics only.
	staffB := ta.login("b@school.example", ta.addUser("b@school.example", "staff", "academics"))
	bBody := htmxGet(t, ta, staffB, "/dashboard").body
	totals = map[string]string{}
	for _, m := range metricRe.FindAllStringSubmatch(between(t, bBody, `id="dash-totals"`, "</dl>"), -1) {
		totals[m[1]] = m[2]
	}
	wantMetrics(t, "academics staff", totals, map[string]string{"outbound": "2", "inbound": "1", "failure-rate": "50%"})
	if got := metricsByRow(deptRowRe, between(t, bBody, `id="dash-departments"`, "</table>")); len(got) != 1 || got[id(depB)] == nil {
		t.Errorf("academics staff see departments %v", got)
	}
	if strings.Contains(bBody, "Admissions open day") || !strings.Contains(bBody, "Academics exam dates") || strings.Contains(bBody, "30003") ||
		strings.Contains(bBody, `data-sender="`+id(waA.ID)+`"`) {
		t.Error("academics staff see admissions' broadcast, errors or senders")
	}

	// Empty states that say what to do.
	nobody := ta.login("n@school.example", ta.addUser("n@school.example", "staff"))
	if body, _ := ta.get(nobody, "/dashboard"); !strings.Contains(body, "You are not in a department yet") || strings.Contains(body, "Academics exam dates") {
		t.Error("staff without departments: no empty state")
	}
	quiet := ta.login("q@school.example", ta.addUser("q@school.example", "staff", "library"))
	if body, _ := ta.get(quiet, "/dashboard"); !strings.Contains(body, "No messages in the last 7 days") || !strings.Contains(body, "send a broadcast") {
		t.Error("a quiet department: no empty state")
	}
}
