package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
)

// reportFixture writes broadcasts, recipients, messages and status
// callbacks straight into the database, so a report's numbers are known
// exactly.
type reportFixture struct {
	t   *testing.T
	ta  *testApp
	ctx context.Context
	t0  time.Time // when the fixture's broadcasts started
}

func newReportFixture(t *testing.T, ta *testApp, t0 time.Time) *reportFixture {
	return &reportFixture{t: t, ta: ta, ctx: context.Background(), t0: t0}
}

func (f *reportFixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// department is a seeded department's id by slug.
func (f *reportFixture) department(slug string) int64 {
	f.t.Helper()
	id, err := f.ta.db.DepartmentIDBySlug(f.ctx, slug)
	f.must(err)
	return id
}

// sender is a seeded sender by number.
func (f *reportFixture) sender(channel, address string) db.Sender {
	f.t.Helper()
	var id int64
	f.must(f.ta.db.Pool.QueryRow(f.ctx, `SELECT id FROM senders WHERE channel = $1 AND address = $2`, channel, address).Scan(&id))
	s, err := f.ta.db.SenderByID(f.ctx, id)
	f.must(err)
	return s
}

// broadcast inserts a broadcast that started at started (finished an hour
// later when status is completed).
func (f *reportFixture) broadcast(name string, dep int64, status string, started time.Time) int64 {
	f.t.Helper()
	var finished *time.Time
	if status == "completed" || status == "canceled" {
		t := started.Add(time.Hour)
		finished = &t
	}
	var id int64
	f.must(f.ta.db.Pool.QueryRow(f.ctx, `INSERT INTO broadcasts (name, status, department_id, started_at, finished_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $4) RETURNING id`, name, status, dep, started, finished).Scan(&id))
	return id
}

type fxEvent struct {
	status string
	at     time.Duration // after t0
}

// fxRecipient is one recipient row and, unless skipped, its message.
type fxRecipient struct {
	name, phone, channel string
	state                string // submitted, failed, skipped, pending
	msgStatus            string // submitted: the message's status
	code                 int
	errText              string
	skip                 string
	fallbackOf           int64
	events               []fxEvent
	failedAt             time.Duration // failed sends: when
	at                   time.Duration // when submitted (after t0)
}

// recipient writes r into broadcast bid from sender s; it returns the
// recipient's and the contact's ids.
func (f *reportFixture) recipient(bid int64, s db.Sender, r fxRecipient) (int64, int64) {
	f.t.Helper()
	if r.channel == "" {
		r.channel = s.Channel
	}
	ctx, pool := f.ctx, f.ta.db.Pool
	contactID, err := db.UpsertContactTx(ctx, pool, r.phone, "")
	f.must(err)
	if r.name != "" {
		_, err = pool.Exec(ctx, `UPDATE contacts SET name = $2 WHERE id = $1`, contactID, r.name)
		f.must(err)
	}
	var msgID *int64
	var sid *string
	lastChange := r.at
	if r.state == "submitted" || r.state == "failed" {
		conv, err := db.BroadcastConversationTx(ctx, pool, contactID, s, bid)
		f.must(err)
		status, code, text := r.msgStatus, r.code, r.errText
		if r.state == "failed" {
			status, lastChange = "failed", r.failedAt
		} else {
			x := newSID()
			sid = &x
			for _, e := range r.events {
				lastChange = max(lastChange, e.at)
			}
		}
		var id int64
		f.must(pool.QueryRow(ctx, `INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, status,
				error_code, error_message, twilio_sid, broadcast_id, automatic, created_at, status_updated_at)
			VALUES ($1, 'outbound', $2, $3, $4, 'Snow day', $5, nullif($6, 0), $7, $8, $9, true, $10, $11) RETURNING id`,
			conv, r.channel, policy.Address(s.Channel, s.Address), policy.Address(r.channel, r.phone), status, code, text, sid, bid,
			f.t0.Add(r.at), f.t0.Add(lastChange)).Scan(&id))
		msgID = &id
		for _, e := range r.events {
			_, err := pool.Exec(ctx, `INSERT INTO message_events (message_sid, status, applied, received_at) VALUES ($1, $2, true, $3)`,
				*sid, e.status, f.t0.Add(e.at))
			f.must(err)
		}
	}
	var recCode *int
	recText := ""
	if r.state == "failed" {
		recCode, recText = &r.code, r.errText
		if r.code == 0 {
			recCode = nil
		}
	}
	var submitted *time.Time
	if r.state == "submitted" {
		t := f.t0.Add(r.at)
		submitted = &t
	}
	var fallback *int64
	if r.fallbackOf != 0 {
		fallback = &r.fallbackOf
	}
	var id int64
	f.must(pool.QueryRow(ctx, `INSERT INTO broadcast_recipients (broadcast_id, contact_id, phone, channel, state, skip_reason, sender_id,
			message_id, message_sid, error_code, error_message, fallback_of, submitted_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		bid, contactID, r.phone, r.channel, r.state, r.skip, s.ID, msgID, sid, recCode, recText, fallback, submitted,
		f.t0.Add(r.at)).Scan(&id))
	return id, contactID
}

// htmx sends a GET as htmx does.
func htmxGet(t *testing.T, ta *testApp, c *http.Client, path string) httpResult {
	t.Helper()
	return doHTTP(t, c, http.MethodGet, ta.URL+path, nil, map[string]string{"HX-Request": "true"})
}

// between is the part of body from the first from to the next to after it.
func between(t *testing.T, body, from, to string) string {
	t.Helper()
	i := strings.Index(body, from)
	if i < 0 {
		t.Fatalf("no %q in the page", from)
	}
	j := strings.Index(body[i:], to)
	if j < 0 {
		t.Fatalf("no %q after %q", to, from)
	}
	return body[i : i+j]
}

var (
	stageCountRe = regexp.MustCompile(`(?s)<tr data-stage="([a-z_]+)">.*?data-count>(\d+)</td>`)
	codeCountRe  = regexp.MustCompile(`(?s)<tr data-code="(\d+)"><td><code>[^<]*</code></td><td class="num">(\d+)</td><td>([^<]*)</td>`)
	reasonRe     = regexp.MustCompile(`(?s)<tr data-reason="([a-z_]+)"><td>([^<]*)</td><td class="num">(\d+)</td>`)
	recipientRe  = regexp.MustCompile(`<tr id="recipient-(\d+)" data-stage="([a-z_]+)">`)
)

func stageCounts(t *testing.T, table string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range stageCountRe.FindAllStringSubmatch(table, -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	return out
}

func codeCounts(table string) (map[int]int, map[int]string) {
	n, text := map[int]int{}, map[int]string{}
	for _, m := range codeCountRe.FindAllStringSubmatch(table, -1) {
		code, _ := strconv.Atoi(m[1])
		n[code], _ = strconv.Atoi(m[2])
		text[code] = m[3]
	}
	return n, text
}

func equalCounts[K comparable](got, want map[K]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// The per-broadcast report of a fixture whose every status and error is
// known: funnel, timeline, error and skip groups, recipients by stage with
// keyset pages, the failures CSV (formula-safe), and who may see it.
func TestBroadcastReportFixture(t *testing.T) {
	ta := startTestApp(t, testOptions{Env: map[string]string{"SCHOOL_TIMEZONE": "Europe/London"}})
	tz, _ := time.LoadLocation("Europe/London")
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	f := newReportFixture(t, ta, t0)
	admissions := f.department("admissions")
	wa, sms := f.sender("whatsapp", "+14155550100"), f.sender("sms", "+14155550199")
	bid := f.broadcast("Snow day: school closed", admissions, "completed", t0)

	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	ev := func(pairs ...any) []fxEvent {
		var out []fxEvent
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, fxEvent{pairs[i].(string), sec(pairs[i+1].(int))})
		}
		return out
	}
	sub := func(name, phone string, s db.Sender, status string, code int, events []fxEvent) int64 {
		id, _ := f.recipient(bid, s, fxRecipient{name: name, phone: phone, state: "submitted", msgStatus: status, code: code, events: events})
		return id
	}
	sub("Ana Lopez", "+14155557005", wa, "delivered", 0, ev("sent", 1, "delivered", 20))
	sub("Ben Okafor", "+14155557015", wa, "delivered", 0, ev("sent", 2, "delivered", 21))
	sub("Cleo Park", "+14155557025", sms, "delivered", 0, ev("sent", 3, "delivered", 22))
	sub("Dan Weiss", "+14155557035", wa, "read", 0, ev("sent", 1, "delivered", 20, "read", 40))
	// A duplicated callback counts once.
	sub("Eve Haddad", "+14155557045", wa, "read", 0, ev("sent", 2, "delivered", 21, "read", 41, "read", 45))
	sub("Finn Berg", "+14155557055", wa, "sent", 0, ev("sent", 4))
	sub("Gus Adeyemi", "+14155557065", wa, "queued", 0, nil)
	sub("Hana Sato", "+14155557075", wa, "failed", 63024, ev("failed", 30))
	formula := `=HYPERLINK("http://evil.example","click")`
	evil := sub(formula, "+14155557085", wa, "undelivered", 30003, ev("sent", 5, "undelivered", 50))
	sub("Ivy Chen", "+14155557095", sms, "undelivered", 30003, ev("sent", 5, "undelivered", 51))
	f.recipient(bid, wa, fxRecipient{name: "Jo Marsh", phone: "+14155557105", state: "failed", code: 21211,
		errText: "Invalid 'To' Phone Number", failedAt: sec(15)})
	f.recipient(bid, wa, fxRecipient{name: "Kim Ross", phone: "+14155557115", state: "failed",
		errText: "no sender could send this message", failedAt: sec(16)})
	for i, reason := range []string{"opted_out", "opted_out", "invalid_number"} {
		f.recipient(bid, wa, fxRecipient{name: fmt.Sprintf("Skipped %d", i), phone: fmt.Sprintf("+1415556%04d", 1005+10*i), state: "skipped", skip: reason})
	}
	for i := range 52 {
		f.recipient(bid, wa, fxRecipient{name: fmt.Sprintf("Duplicate %02d", i), phone: fmt.Sprintf("+1415558%04d", 1005+10*i), state: "skipped", skip: "duplicate_number"})
	}
	// The SMS fallback of the undelivered WhatsApp message: counted apart.
	f.recipient(bid, sms, fxRecipient{name: formula, phone: "+14155557085", state: "submitted", msgStatus: "delivered",
		fallbackOf: evil, at: sec(54), events: ev("sent", 55, "delivered", 58)})

	admin := ta.loginAdmin()
	mine := ta.login("mine@school.example", ta.addUser("mine@school.example", "staff", "admissions"))
	other := ta.login("other@school.example", ta.addUser("other@school.example", "staff", "academics"))
	report := "/broadcasts/" + strconv.FormatInt(bid, 10)

	r := htmxGet(t, ta, mine, report+"/report")
	wantStatus(t, "report (htmx)", r, http.StatusOK)
	if strings.Contains(r.body, "<html") || !strings.Contains(r.body, `id="report-summary"`) || !strings.Contains(r.body, `id="report-recipients"`) {
		t.Fatal("the htmx report is not the partial with summary and recipients")
	}

	// Funnel: exclusive stages adding up to the 67 first sends; the fallback apart.
	main := stageCounts(t, between(t, r.body, `id="funnel-main"`, "</table>"))
	wantMain := map[string]int{"queued": 1, "sent": 1, "delivered": 3, "read": 2, "failed": 3, "undelivered": 2, "skipped": 55}
	if !equalCounts(main, wantMain) {
		t.Errorf("funnel %v, want %v", main, wantMain)
	}
	if !strings.Contains(r.body, "<strong>5 of 67 recipients</strong>") || !strings.Contains(r.body, "(7%, delivered or read)") {
		t.Error("funnel headline: want 5 of 67, 7%")
	}
	if fb := stageCounts(t, between(t, r.body, `id="funnel-fallback"`, "</table>")); fb["delivered"] != 1 || len(fb) != 6 {
		t.Errorf("fallback funnel %v", fb)
	}
	if !strings.Contains(between(t, r.body, `<tr data-stage="skipped">`, "</tr>"), "82%") {
		t.Error("skipped share is not 82% (55 of 67)")
	}

	// Error groups by kind and code, explained; skip reasons in words.
	send, sendText := codeCounts(between(t, r.body, `id="send-errors"`, "</table>"))
	if !equalCounts(send, map[int]int{21211: 1, 0: 1}) || !strings.Contains(sendText[21211], "not a valid phone number") ||
		sendText[0] != "no sender could send this message" {
		t.Errorf("send errors %v %v", send, sendText)
	}
	delivery, deliveryText := codeCounts(between(t, r.body, `id="delivery-errors"`, "</table>"))
	if !equalCounts(delivery, map[int]int{30003: 2, 63024: 1}) || !strings.Contains(deliveryText[30003], "unreachable") ||
		!strings.Contains(deliveryText[63024], "not on WhatsApp") {
		t.Errorf("delivery errors %v %v", delivery, deliveryText)
	}
	skips := map[string]int{}
	for _, m := range reasonRe.FindAllStringSubmatch(between(t, r.body, `id="skip-reasons"`, "</table>"), -1) {
		skips[m[1]], _ = strconv.Atoi(m[3])
		if m[2] == "" || m[2] == m[1] {
			t.Errorf("skip reason %s not in words: %q", m[1], m[2])
		}
	}
	if !equalCounts(skips, map[string]int{"duplicate_number": 52, "opted_out": 2, "invalid_number": 1}) {
		t.Errorf("skips %v", skips)
	}
	// 30003 twice and the failure without a code may pass: three to retry.
	if !strings.Contains(r.body, "Retry transient failures (3)") || !strings.Contains(r.body, `hx-post="`+report+`/retry"`) {
		t.Error("no retry button for the 3 transient failures")
	}
	if !strings.Contains(r.body, `href="`+report+`/failures.csv"`) {
		t.Error("no failures download")
	}
	// Refreshes on the page's progress event, throttled; a broadcast that
	// finished an hour ago does not poll.
	if !strings.Contains(r.body, `hx-trigger="broadcast-progress from:body throttle:2s"`) {
		t.Error("summary does not listen to broadcast-progress")
	}

	// Timeline: 0-58 s after the start in 10-second buckets, in London time.
	svg := between(t, r.body, `<svg class="chart-svg"`, "</svg>")
	for _, want := range []string{`role="img"`, "<title id=", "<desc id=", "Europe/London"} {
		if !strings.Contains(svg, want) {
			t.Errorf("timeline SVG lacks %q", want)
		}
	}
	if n := strings.Count(svg, `class="chart-pt shape-`); n != 24 {
		t.Errorf("timeline has %d points, want 4 series × 6 buckets", n)
	}
	if strings.Count(svg, "<polyline") != 4 {
		t.Error("timeline: not 4 lines")
	}
	data := between(t, r.body, `<details class="chart-data">`, "</details>")
	rows := regexp.MustCompile(`(?s)<tr><th scope="row">([^<]+)</th>(.*?)</tr>`).FindAllStringSubmatch(data, -1)
	if len(rows) != 6 {
		t.Fatalf("timeline table has %d rows, want 6", len(rows))
	}
	if first := t0.In(tz).Format("2 Jan 15:04:05"); rows[0][1] != first {
		t.Errorf("first bucket %q, want %q (school time)", rows[0][1], first)
	}
	wantRows := []string{"8 0 0 0", "0 0 0 2", "0 5 0 0", "0 0 0 1", "0 0 2 0", "1 1 0 2"} // sent delivered read failed
	cell := regexp.MustCompile(`<td class="num">(\d+)</td>`)
	for i, row := range rows {
		var vals []string
		for _, m := range cell.FindAllStringSubmatch(row[2], -1) {
			vals = append(vals, m[1])
		}
		if got := strings.Join(vals, " "); got != wantRows[i] {
			t.Errorf("bucket %d (%s): %s, want %s", i, row[1], got, wantRows[i])
		}
	}

	// A plain request gets the whole page.
	full := doHTTP(t, mine, http.MethodGet, ta.URL+report+"/report", nil, nil)
	wantStatus(t, "report page", full, http.StatusOK)
	if !strings.Contains(full.body, "<!doctype html>") && !strings.Contains(full.body, "<!DOCTYPE html>") || !strings.Contains(full.body, "<h1>Delivery report</h1>") {
		t.Error("plain GET is not a whole page")
	}
	// The summary alone, for the refresh.
	summary := htmxGet(t, ta, mine, report+"/report?part=summary")
	if !strings.HasPrefix(strings.TrimSpace(summary.body), `<div id="report-summary"`) || strings.Contains(summary.body, `id="report-recipients"`) {
		t.Error("part=summary is not the summary alone")
	}

	// Recipients by stage; keyset pages of 50.
	listed := func(c *http.Client, path string) ([]string, string) {
		t.Helper()
		r := htmxGet(t, ta, c, path)
		wantStatus(t, path, r, http.StatusOK)
		var stages []string
		for _, m := range recipientRe.FindAllStringSubmatch(r.body, -1) {
			stages = append(stages, m[2])
		}
		next := ""
		if m := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(r.body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		return stages, next
	}
	for stage, n := range map[string]int{"failed": 3, "undelivered": 2, "read": 2, "delivered": 4, "queued": 1, "pending": 0} {
		got, next := listed(mine, report+"/recipients?status="+stage)
		if len(got) != n || next != "" {
			t.Errorf("status=%s: %d rows (next %q), want %d", stage, len(got), next, n)
		}
		for _, s := range got {
			if s != stage {
				t.Errorf("status=%s lists a %s recipient", stage, s)
			}
		}
	}
	page1, next := listed(mine, report+"/recipients?status=skipped")
	if len(page1) != 50 || next == "" {
		t.Fatalf("skipped page 1: %d rows, next %q", len(page1), next)
	}
	page2, next2 := listed(mine, next)
	if len(page2) != 5 || next2 != "" {
		t.Errorf("skipped page 2: %d rows, next %q", len(page2), next2)
	}
	all1, allNext := listed(mine, report+"/recipients")
	all2, _ := listed(mine, allNext)
	if len(all1)+len(all2) != 68 {
		t.Errorf("all recipients: %d + %d, want 68", len(all1), len(all2))
	}
	fr := htmxGet(t, ta, mine, report+"/recipients?status=failed")
	if !strings.Contains(fr.body, "<code>21211</code>") || !strings.Contains(fr.body, "Jo Marsh") ||
		!strings.Contains(fr.body, "not a valid phone number") {
		t.Error("failed recipients lack name, code or explanation")
	}
	if r := htmxGet(t, ta, mine, report+"/recipients?status=bogus"); r.status != http.StatusBadRequest {
		t.Errorf("unknown status filter: %d", r.status)
	}

	// Failures CSV: five rows, explained, every cell formula-safe.
	recs := readCSV(t, ta, mine, report+"/failures.csv")
	if strings.Join(recs[0], ",") != "name,phone,channel,status,error_code,explanation,time (Europe/London)" {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != 6 {
		t.Fatalf("%d failure rows, want 5", len(recs)-1)
	}
	byName := map[string][]string{}
	for _, rec := range recs[1:] {
		byName[rec[0]] = rec
		for _, cellText := range rec {
			if cellText != "" && strings.ContainsRune("=+-@", rune(cellText[0])) {
				t.Errorf("cell %q would run as a formula", cellText)
			}
		}
	}
	ev9 := byName["'"+formula]
	if ev9 == nil || ev9[1] != "'+14155557085" || ev9[2] != "WhatsApp" || ev9[3] != "undelivered" || ev9[4] != "30003" ||
		!strings.Contains(ev9[5], "unreachable") || ev9[6] != t0.Add(50*time.Second).In(tz).Format("2006-01-02 15:04:05") {
		t.Errorf("formula row %v", ev9)
	}
	if jo := byName["Jo Marsh"]; jo == nil || jo[3] != "failed" || jo[4] != "21211" {
		t.Errorf("send failure row %v", jo)
	}
	if kim := byName["Kim Ross"]; kim == nil || kim[4] != "" || kim[5] != "no sender could send this message" {
		t.Errorf("no-code row %v", kim)
	}
	if _, ok := byName["Ivy Chen"]; !ok {
		t.Error("SMS undelivered row missing")
	}

	// Admins see every broadcast; staff of another department nothing.
	if r := htmxGet(t, ta, admin, report+"/report"); r.status != http.StatusOK {
		t.Errorf("admin report: %d", r.status)
	}
	for _, path := range []string{"/report", "/report?part=summary", "/recipients", "/recipients?status=failed", "/failures.csv"} {
		if r := doHTTP(t, other, http.MethodGet, ta.URL+report+path, nil, nil); r.status != http.StatusNotFound || strings.Contains(r.body, "Snow day") {
			t.Errorf("other department GET %s: %d", path, r.status)
		}
	}
	tok := ta.csrfOf(other, "/dashboard")
	if r := doHTTP(t, other, http.MethodPost, ta.URL+report+"/retry", url.Values{"_csrf": {tok}}, nil); r.status != http.StatusNotFound {
		t.Errorf("other department retry: %d", r.status)
	}
	if r := doHTTP(t, mine, http.MethodPost, ta.URL+report+"/retry", url.Values{}, nil); r.status != http.StatusForbidden {
		t.Errorf("retry without CSRF token: %d", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'pending'`, bid); n != 0 {
		t.Errorf("refused retries reset %d recipients", n)
	}
	if r := doHTTP(t, mine, http.MethodGet, ta.URL+"/broadcasts/999999/report", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown broadcast: %d", r.status)
	}

	// The dashboard lists the broadcast to its department and admins only.
	for who, c := range map[string]*http.Client{"admin": admin, "admissions staff": mine} {
		if body, _ := ta.get(c, "/dashboard"); !strings.Contains(body, "Snow day: school closed") {
			t.Errorf("%s: dashboard does not list the broadcast", who)
		}
	}
	if body, status := ta.get(other, "/dashboard"); status != http.StatusOK || strings.Contains(body, "Snow day") {
		t.Errorf("other department's dashboard (%d) lists the broadcast", status)
	}
}

// "Retry transient failures" against the simulator: the number that ends
// undelivered (30003, the phone was off) is sent again; the invalid one
// (21211) and the delivered one are not.
func TestBroadcastRetryTransient(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	f := newReportFixture(t, ta, time.Now())
	f.must(db.SetQuietHoursTx(ctx, ta.db.Pool, policy.QuietHours{Enabled: false, Start: "21:00", End: "07:00"}))
	admissions := f.department("admissions")
	phones := map[string]string{"off": "+14155550002", "invalid": "+14155550001", "fine": "+14155557005"}
	var ids []int64
	for name, p := range phones {
		ids = append(ids, seedContact(t, ta, p, "Parent "+name, "", "guardian", false, ""))
	}
	spec := broadcast.Spec{
		Audience: broadcast.Audience{ContactIDs: ids},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "School is closed tomorrow."},
		Sender:   broadcast.Sender{Strategy: "department"},
	}
	a, c, s, err := spec.Encode()
	f.must(err)
	var bid int64
	f.must(ta.db.InTx(ctx, func(tx pgx.Tx) error {
		bid, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Closure", DepartmentID: &admissions, CreatedBy: adminID(t, ta),
			Audience: a, Content: c, Sender: s})
		return err
	}))
	f.must(ta.engine.Launch(ctx, bid, nil, broadcast.Actor{}))

	messagesTo := func(phone string) int {
		return countRows(t, ta, `SELECT count(*) FROM messages WHERE to_address = $1 AND broadcast_id = $2`, phone, bid)
	}
	statusOf := func(phone string) string {
		var st string
		_ = ta.db.Pool.QueryRow(ctx, `SELECT m.status FROM messages m WHERE m.to_address = $1 AND m.broadcast_id = $2 ORDER BY m.id DESC LIMIT 1`,
			phone, bid).Scan(&st)
		return st
	}
	eventually(t, "the first sends to end", func() bool {
		return statusOf(phones["off"]) == "undelivered" && statusOf(phones["invalid"]) == "failed" && statusOf(phones["fine"]) == "delivered"
	})
	report := "/broadcasts/" + strconv.FormatInt(bid, 10)
	staff := ta.login("front@school.example", ta.addUser("front@school.example", "staff", "admissions"))
	r := htmxGet(t, ta, staff, report+"/report")
	if !strings.Contains(r.body, "Retry transient failures (1)") {
		t.Fatalf("report does not offer 1 transient retry:\n%s", between(t, r.body, `id="report-summary"`, `<section`))
	}
	tok := ta.csrfOf(staff, report+"/report")
	r = doHTTP(t, staff, http.MethodPost, ta.URL+report+"/retry", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "retry", r, http.StatusOK)
	if !strings.Contains(r.body, "Sending again to 1 recipient whose failure may have passed") || !strings.HasPrefix(strings.TrimSpace(r.body), `<div id="report-summary"`) {
		t.Fatalf("retry answer does not say how many:\n%s", r.body)
	}
	eventually(t, "the resend to end", func() bool { return messagesTo(phones["off"]) == 2 && statusOf(phones["off"]) == "undelivered" })
	if n := messagesTo(phones["invalid"]); n != 1 {
		t.Errorf("the invalid number got %d messages", n)
	}
	if n := messagesTo(phones["fine"]); n != 1 {
		t.Errorf("the delivered number got %d messages", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'broadcast.retried' AND subject = $1`, fmt.Sprintf("broadcast:%d", bid)); n != 1 {
		t.Errorf("%d retry audits", n)
	}
	// A plain form post redirects to the report, which says how many.
	resp := ta.postForm(staff, report+"/retry", url.Values{"_csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), report+"/report?retried=") {
		t.Errorf("plain retry: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The contact page's section lists the broadcasts a contact received,
// newest first, only those of the reader's departments.
func TestContactBroadcastsSection(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	now := time.Now()
	f := newReportFixture(t, ta, now.Add(-3*time.Hour))
	admissions, academics := f.department("admissions"), f.department("academics")
	wa, sms := f.sender("whatsapp", "+14155550100"), f.sender("sms", "+14155550199")
	waB := f.sender("whatsapp", "+14155550101")
	phone := "+14155557005"
	older := f.broadcast("Trip reminder", admissions, "completed", now.Add(-3*time.Hour))
	_, contact := f.recipient(older, wa, fxRecipient{name: "Ana Lopez", phone: phone, state: "submitted", msgStatus: "read"})
	f.t0 = now.Add(-2 * time.Hour)
	mid := f.broadcast("Maths club", academics, "completed", f.t0)
	f.recipient(mid, waB, fxRecipient{phone: phone, state: "skipped", skip: "opted_out"})
	f.t0 = now.Add(-time.Hour)
	newest := f.broadcast("Snow day", admissions, "completed", f.t0)
	first, _ := f.recipient(newest, wa, fxRecipient{phone: phone, state: "submitted", msgStatus: "undelivered", code: 30003})
	f.recipient(newest, sms, fxRecipient{phone: phone, state: "submitted", msgStatus: "delivered", fallbackOf: first, at: time.Minute})
	// Someone else's broadcast is not this contact's.
	f.recipient(newest, wa, fxRecipient{name: "Ben", phone: "+14155557015", state: "submitted", msgStatus: "delivered"})

	rowsOf := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<tr data-broadcast="(\d+)">`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	path := "/contacts/" + id(contact) + "/broadcasts"
	admin := ta.loginAdmin()
	r := htmxGet(t, ta, admin, path)
	wantStatus(t, "contact broadcasts", r, http.StatusOK)
	if got, want := strings.Join(rowsOf(r.body), ","), strings.Join([]string{id(newest), id(newest), id(mid), id(older)}, ","); got != want {
		t.Errorf("admin sees %s, want %s", got, want)
	}
	for _, want := range []string{"Snow day", "fallback", "status-undelivered", "unreachable", "Maths club", "Skipped", "Trip reminder", "status-read", "<h2>Broadcasts received</h2>"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if strings.Contains(r.body, "<html") {
		t.Error("htmx request got a whole page")
	}
	staffB := ta.login("b@school.example", ta.addUser("b@school.example", "staff", "academics"))
	if got := strings.Join(rowsOf(htmxGet(t, ta, staffB, path).body), ","); got != id(mid) {
		t.Errorf("academics staff sees %s, want only %d", got, mid)
	}
	staffA := ta.login("a@school.example", ta.addUser("a@school.example", "staff", "admissions"))
	if got := rowsOf(htmxGet(t, ta, staffA, path).body); len(got) != 3 {
		t.Errorf("admissions staff sees %v", got)
	}
	nobody := ta.login("n@school.example", ta.addUser("n@school.example", "staff"))
	if r := htmxGet(t, ta, nobody, path); len(rowsOf(r.body)) != 0 || !strings.Contains(r.body, "No broadcasts yet") {
		t.Error("staff without departments see broadcasts, or no empty state")
	}
	if r := htmxGet(t, ta, admin, "/contacts/999999/broadcasts"); r.status != http.StatusNotFound {
		t.Errorf("unknown contact: %d", r.status)
	}
	if r := doHTTP(t, admin, http.MethodGet, ta.URL+path, nil, nil); r.status != http.StatusOK || !strings.Contains(r.body, "<h1>Broadcasts received</h1>") {
		t.Errorf("plain GET: %d", r.status)
	}
}
