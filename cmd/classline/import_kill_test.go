package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/twiliosim"
)

// Issue 9: a CSV import cut off by kill -9 of the process running it. The
// test drives real `classline serve` processes (TestMain re-executes the
// test binary) on one PostgreSQL database: it uploads and starts a large
// import through the pages as an admin, SIGKILLs the process while batches
// are being written, checks what is left, starts a new process, kills that
// one too while it is finishing the import, and starts a third. The import
// must resume by itself and end exactly as the file says: every good row
// once, contacts that already existed updated (not duplicated), every bad
// row reported once with its line. After each kill nothing may be half
// written: the database must hold exactly the first W good rows of the
// file, whole (contact, group membership and consent answers), and the
// import's counts must be those of these W rows.

// killAppName marks this test's own connections, so "the killed process's
// sessions are gone" can be told from them.
const killAppName = "classline-import-kill-test"

// killRow is one data row of the generated file and what it must lead to.
type killRow struct {
	line      int
	cells     []string
	phone     string // a good row's number, E.164
	name      string // what a good row stores
	role      string
	class     string
	trans     string // consent cells: "yes", "no" or ""
	market    string
	bad       string // a bad row's message (a prefix when badPrefix)
	badPrefix bool
	existing  *killPre // the contact this row updates, nil for a new one
}

// killPre is a contact stored before the import.
type killPre struct {
	phone, name, class, studentID string
	inFile                        bool
}

type killFile struct {
	csv  string
	good []*killRow
	bad  []*killRow
	pre  []*killPre
}

func yesNoCell(k int) string {
	switch k {
	case 0:
		return "yes"
	case 1:
		return "no"
	}
	return ""
}

// buildKillFile writes a file of n data rows: mostly new contacts, every
// 50th an existing contact (half of them changed by the file, half
// identical), and bad rows of four kinds at known lines.
func buildKillFile(n int) *killFile {
	f := &killFile{}
	var b strings.Builder
	b.WriteString("Name,Phone,Role,Class,School messages consent,Marketing consent\n")
	for i := range n {
		digits := fmt.Sprintf("%07d", 2000000+i)
		phone := "+1415" + digits
		phoneCell := phone
		if i%3 == 0 { // a local number, read in DEFAULT_REGION (US)
			phoneCell = "(415) " + digits[:3] + "-" + digits[3:]
		}
		r := &killRow{line: i + 2, name: fmt.Sprintf("Parent %d", i), class: fmt.Sprintf("C%d", i%12+1),
			trans: yesNoCell(i % 4), market: yesNoCell(i % 5), role: "guardian"}
		roleCell := [...]string{"staff", "", "parent", "parent", "", "parent", "Guardian"}[i%7]
		existing := i%50 == 7
		if existing && roleCell == "staff" {
			roleCell = "parent"
		}
		if roleCell == "staff" {
			r.role = "staff"
		}
		switch {
		case i%997 == 500:
			r.cells = []string{r.name, "12", "parent", r.class, "yes", "yes"}
			r.bad, r.badPrefix = "Phone number “12”: ", true
		case i%1499 == 700:
			r.cells = []string{"", fmt.Sprintf("+1415%07d", 3000000+i), "parent", r.class, "yes", "yes"}
			r.bad = "Name is missing"
		case i%1201 == 300:
			r.cells = []string{r.name, phoneCell, "boss", r.class, "yes", "yes"}
			r.bad = "Role “boss” is not guardian, student or staff"
		case i%811 == 400:
			orig := f.good[len(f.good)*2/3]
			r.cells = []string{fmt.Sprintf("Duplicate of line %d", orig.line), orig.phone, "staff", "Z", "no", "no"}
			r.bad = fmt.Sprintf("Duplicate: %s is already on line %d", orig.phone, orig.line)
		default:
			r.phone = phone
			r.cells = []string{r.name, phoneCell, roleCell, r.class, r.trans, r.market}
			if existing {
				p := &killPre{phone: phone, studentID: fmt.Sprintf("S%d", i), inFile: true}
				if i%100 == 7 { // the file changes its name and class
					p.name, p.class = fmt.Sprintf("Old name %d", i), "Z9"
				} else { // the file says what is stored already
					p.name, p.class = r.name, r.class
				}
				r.existing = p
				f.pre = append(f.pre, p)
			}
		}
		if r.bad != "" {
			f.bad = append(f.bad, r)
		} else {
			f.good = append(f.good, r)
		}
		b.WriteString(strings.Join(r.cells, ",") + "\n")
	}
	// Contacts the file does not name: left alone.
	for k := range 10 {
		f.pre = append(f.pre, &killPre{phone: fmt.Sprintf("+1415%07d", 4000000+k), name: fmt.Sprintf("Outside %d", k), class: "Z1", studentID: fmt.Sprintf("O%d", k)})
	}
	f.csv = b.String()
	return f
}

// killContact is a contact as the test compares it.
type killContact struct{ name, role, class, studentID string }

// killExpect is the state of the database once the first w good rows of
// the file are written, computed from the file alone.
type killExpect struct {
	contacts                            map[string]killContact
	members                             map[string]bool
	consents                            []string // "phone purpose opted_in method", sorted
	created, updated, unchanged, events int
}

func (f *killFile) expect(w int) killExpect {
	e := killExpect{contacts: map[string]killContact{}, members: map[string]bool{}}
	for _, p := range f.pre {
		e.contacts[p.phone] = killContact{p.name, "guardian", p.class, p.studentID}
		// Every existing contact has said yes to marketing before.
		e.consents = append(e.consents, p.phone+" marketing true staff")
	}
	for _, r := range f.good[:w] {
		c := killContact{r.name, r.role, r.class, ""}
		switch {
		case r.existing == nil:
			e.created++
		case r.existing.name != r.name || r.existing.class != r.class:
			e.updated++
		default:
			e.unchanged++
		}
		if r.existing != nil {
			c.studentID = r.existing.studentID // a custom field the file does not name is kept
		}
		e.contacts[r.phone] = c
		e.members[r.phone] = true
		if r.trans != "" {
			e.consents = append(e.consents, fmt.Sprintf("%s transactional %t import", r.phone, r.trans == "yes"))
			e.events++
		}
		// A marketing "yes" from an existing contact repeats its latest
		// answer: not recorded again.
		if r.market != "" && (r.existing == nil || r.market != "yes") {
			e.consents = append(e.consents, fmt.Sprintf("%s marketing %t import", r.phone, r.market == "yes"))
			e.events++
		}
	}
	sort.Strings(e.consents)
	return e
}

// seedKillContacts stores the contacts that exist before the import, each
// with a marketing consent answer.
func seedKillContacts(t *testing.T, d *db.DB, f *killFile) {
	t.Helper()
	ctx := context.Background()
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		for _, p := range f.pre {
			custom, _ := json.Marshal(map[string]string{"class": p.class, "student_id": p.studentID})
			if _, err := tx.Exec(ctx, `INSERT INTO contacts (phone, name, role, custom_fields) VALUES ($1, $2, 'guardian', $3)`, p.phone, p.name, string(custom)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO consent_events (phone, purpose, opted_in, method, created_at)
				VALUES ($1, 'marketing', true, 'staff', now() - interval '1 day')`, p.phone); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("existing contacts: %v", err)
	}
}

// killState is one consistent snapshot of what the import wrote.
type killState struct {
	status                             string
	finished                           bool
	total, processed, created, updated int
	unchanged, failed, consents        int
	errs                               []db.ImportLineError
	stored                             int // records kept for a resume
	contacts                           map[string]killContact
	dupPhones                          []string
	members                            map[string]bool
	otherMembers                       int
	consentRows                        []string
	auditStart, auditDone              int
}

func (s killState) written() int { return s.processed - s.failed }

// readKillState reads everything in one repeatable-read transaction, so a
// batch committing meanwhile cannot make it look torn.
func readKillState(t *testing.T, d *db.DB, id int64) killState {
	t.Helper()
	ctx := context.Background()
	st := killState{contacts: map[string]killContact{}, members: map[string]bool{}}
	tx, err := d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var errs []byte
	var groupID *int64
	if err := tx.QueryRow(ctx, `SELECT status, finished_at IS NOT NULL, total, processed, created, updated, unchanged, failed, consents, errors, group_id,
			(SELECT count(*) FROM contact_import_rows WHERE import_id = $1)
		FROM contact_imports WHERE id = $1`, id).Scan(&st.status, &st.finished, &st.total, &st.processed, &st.created, &st.updated,
		&st.unchanged, &st.failed, &st.consents, &errs, &groupID, &st.stored); err != nil {
		t.Fatalf("import row: %v", err)
	}
	if err := json.Unmarshal(errs, &st.errs); err != nil {
		t.Fatal(err)
	}
	if groupID == nil {
		t.Fatal("the import has no group")
	}
	rows, err := tx.Query(ctx, `SELECT phone, name, role, coalesce(custom_fields->>'class', ''), coalesce(custom_fields->>'student_id', '') FROM contacts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var phone string
		var c killContact
		if err := rows.Scan(&phone, &c.name, &c.role, &c.class, &c.studentID); err != nil {
			t.Fatal(err)
		}
		if _, dup := st.contacts[phone]; dup {
			st.dupPhones = append(st.dupPhones, phone)
		}
		st.contacts[phone] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = tx.Query(ctx, `SELECT c.phone, gm.group_id = $1 FROM group_members gm JOIN contacts c ON c.id = gm.contact_id`, *groupID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var phone string
		var mine bool
		if err := rows.Scan(&phone, &mine); err != nil {
			t.Fatal(err)
		}
		if mine && !st.members[phone] {
			st.members[phone] = true
		} else {
			st.otherMembers++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = tx.Query(ctx, `SELECT phone || ' ' || purpose || ' ' || opted_in || ' ' || method FROM consent_events ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if st.consentRows, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	subject := fmt.Sprintf("contact_import:%d", id)
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'contact_import.start'), count(*) FILTER (WHERE action = 'contact_import.done')
		FROM audit_log WHERE subject = $1`, subject).Scan(&st.auditStart, &st.auditDone); err != nil {
		t.Fatal(err)
	}
	return st
}

// checkKillState checks the snapshot is exactly the file's first
// st.written() good rows, whole, with matching counts and the bad rows
// reported once each.
func checkKillState(t *testing.T, when string, f *killFile, st killState) {
	t.Helper()
	total := len(f.good) + len(f.bad)
	w := st.written()
	if w < 0 || w > len(f.good) {
		t.Fatalf("%s: processed %d, failed %d: not a count of good rows (%d good, %d bad)", when, st.processed, st.failed, len(f.good), len(f.bad))
	}
	e := f.expect(w)
	if st.total != total || st.failed != len(f.bad) || st.created != e.created || st.updated != e.updated ||
		st.unchanged != e.unchanged || st.consents != e.events {
		t.Errorf("%s: counts total=%d failed=%d created=%d updated=%d unchanged=%d consents=%d; the file's first %d good rows give total=%d failed=%d created=%d updated=%d unchanged=%d consents=%d",
			when, st.total, st.failed, st.created, st.updated, st.unchanged, st.consents,
			w, total, len(f.bad), e.created, e.updated, e.unchanged, e.events)
	}
	// Every bad row once, with its line and reason, in file order.
	if len(st.errs) != len(f.bad) {
		t.Errorf("%s: %d line errors, want %d", when, len(st.errs), len(f.bad))
	}
	for i := 0; i < min(len(st.errs), len(f.bad)); i++ {
		got, want := st.errs[i], f.bad[i]
		ok := got.Line == want.line && (got.Message == want.bad || want.badPrefix && strings.HasPrefix(got.Message, want.bad))
		if !ok {
			t.Errorf("%s: error %d is line %d %q, want line %d %q", when, i, got.Line, got.Message, want.line, want.bad)
		}
	}
	if len(st.dupPhones) > 0 {
		t.Errorf("%s: %d numbers on more than one contact, e.g. %v", when, len(st.dupPhones), st.dupPhones[:min(5, len(st.dupPhones))])
	}
	var diffs []string
	for phone, want := range e.contacts {
		if got, ok := st.contacts[phone]; !ok {
			diffs = append(diffs, phone+" missing")
		} else if got != want {
			diffs = append(diffs, fmt.Sprintf("%s is %+v, want %+v", phone, got, want))
		}
	}
	for phone, got := range st.contacts {
		if _, ok := e.contacts[phone]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %+v should not exist", phone, got))
		}
	}
	for phone := range e.members {
		if !st.members[phone] {
			diffs = append(diffs, phone+" not in the import's group")
		}
	}
	for phone := range st.members {
		if !e.members[phone] {
			diffs = append(diffs, phone+" in the import's group but not written")
		}
	}
	if st.otherMembers != 0 {
		diffs = append(diffs, fmt.Sprintf("%d other or repeated group memberships", st.otherMembers))
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%s: contacts and group differ from the file's first %d good rows in %d ways, e.g.:\n  %s",
			when, w, len(diffs), strings.Join(diffs[:min(10, len(diffs))], "\n  "))
	}
	if d := listDiff(e.consents, st.consentRows); d != "" {
		t.Errorf("%s: consent events differ from the file's first %d good rows:\n%s", when, w, d)
	}
	if st.auditStart != 1 {
		t.Errorf("%s: import started %d times in the audit log", when, st.auditStart)
	}
}

// listDiff shows what is missing from and extra in got (both sorted).
func listDiff(want, got []string) string {
	var missing, extra []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			missing = append(missing, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("  %d missing, e.g. %v\n  %d extra, e.g. %v", len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
}

// killMidImport SIGKILLs in once the import has written more than after
// good rows and the process is inside its next batch's transaction, with
// writes not yet committed (a transaction id on one of its sessions); it
// returns that session's last statement once the process and its database
// sessions are gone.
func killMidImport(t *testing.T, d *db.DB, in *instance, id int64, after int, what string) string {
	t.Helper()
	ctx := context.Background()
	var inflight string
	waitFor(t, 4*time.Minute, what, func() bool {
		var w int
		var status string
		err := d.Pool.QueryRow(ctx, `SELECT i.processed - i.failed, i.status,
				coalesce((SELECT left(regexp_replace(a.query, '\s+', ' ', 'g'), 80) FROM pg_stat_activity a
					WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.application_name <> $2
					AND a.backend_xid IS NOT NULL AND a.query ~* 'contacts|group_members|consent_events|contact_imports' LIMIT 1), '')
			FROM contact_imports i WHERE i.id = $1`, id, killAppName).Scan(&w, &status, &inflight)
		if err != nil {
			return false
		}
		return w > after && inflight != "" || status != "running"
	})
	if err := in.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = in.cmd.Wait()
	// A statement under way ends (a COMMIT already sent may still land)
	// before PostgreSQL notices its client is gone: wait for that, so the
	// state checked next is the one the next process finds.
	waitFor(t, time.Minute, "the killed process's database sessions to end", func() bool {
		var n int
		err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> $1`, killAppName).Scan(&n)
		return err == nil && n == 0
	})
	return inflight
}

var importRowsShown = regexp.MustCompile(`<p class="muted">(\d+) of (\d+) rows</p>`)

// importFragment is the progress card as the page's polling fetches it.
func importFragment(t *testing.T, base string, c *http.Client, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("HX-Request", "true")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

func TestImportKilledMidwayResumesExactly(t *testing.T) {
	const (
		sid, token = "AC" + "1e0000000000000000000000000000ki", "importkilltoken0123456789abcdef0"
		rows       = 24000 // 24 batches of 1,000: the kill lands between the first and the last
		resumedLog = "resuming contact import left by a stopped worker"
	)
	f := buildKillFile(rows)
	t.Logf("file: %d rows, %d good (%d of them existing contacts), %d bad", rows, len(f.good), len(f.pre)-10, len(f.bad))

	dbURL := dbtest.NewURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", killAppName)
	u.RawQuery = q.Encode()
	ctx := context.Background()
	d, err := db.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	seedKillContacts(t, d, f)

	sim := twiliosim.New(twiliosim.Config{AccountSID: sid, AuthToken: token})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(sim.Close)
	env := []string{"DATABASE_URL=" + dbURL, "TWILIO_ACCOUNT_SID=" + sid, "TWILIO_AUTH_TOKEN=" + token,
		"TWILIO_API_BASE=" + simSrv.URL, "TWILIO_SMS_NUMBER=+14155550199", "SESSION_KEY=" + "import-kill-test-session-key-0123456789abcdef",
		"CLASSLINE_ADMIN_EMAIL=admin@school.example", "LOG_LEVEL=info"}

	first := startInstance(t, env)
	var adminPW string
	waitFor(t, 30*time.Second, "the first admin's password", func() bool {
		m := firstAdminPassword.FindStringSubmatch(first.out.String())
		if m != nil {
			adminPW = m[1]
		}
		return m != nil
	})
	signIn := func(in *instance) (*testApp, *http.Client) {
		ta := &testApp{app: &app{URL: in.url, AdminEML: "admin@school.example", AdminPW: adminPW}, t: t}
		c := ta.loginAdmin()
		c.Timeout = 2 * time.Minute // a large upload on a busy machine
		return ta, c
	}

	// Upload, map and start, as an admin does in the browser.
	ta, c := signIn(first)
	path := uploadCSV(t, ta, c, "spring families.csv", f.csv)
	id, err := strconv.ParseInt(strings.TrimPrefix(path, "/contacts/import/"), 10, 64)
	if err != nil {
		t.Fatalf("import path %q", path)
	}
	page, status := ta.get(c, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, status)
	}
	form := url.Values{"_csrf": {csrfIn(t, page)}, "new_group": {"Spring families"}}
	for i, want := range []string{"name", "phone", "role", "class", "consent_transactional", "consent_marketing"} {
		m := regexp.MustCompile(fmt.Sprintf(`(?s)<select id="map-%d" name="map_%d">(.*?)</select>`, i, i)).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no select for column %d", i)
		}
		if s := regexp.MustCompile(`<option value="([^"]*)" selected`).FindStringSubmatch(m[1]); s == nil || s[1] != want {
			t.Errorf("column %d guessed as %v, want %q", i, s, want)
		}
		form.Set(fmt.Sprintf("map_%d", i), want)
	}
	if resp := ta.postForm(c, path+"/run", form); resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("run: %d %s", resp.StatusCode, grepLines(string(b), "error"))
	}

	// kill -9 while batches are being written.
	inflight := killMidImport(t, d, first, id, 0, "the first batches written")
	st := readKillState(t, d, id)
	w1 := st.written()
	t.Logf("first process killed with %d of %d good rows written, inside a transaction at %q", w1, len(f.good), inflight)
	if w1 <= 0 || w1 >= len(f.good) {
		t.Fatalf("the kill did not land mid-import: %d of %d good rows written", w1, len(f.good))
	}
	// Not done, its records kept for a resume, and nothing half written.
	if st.status != "running" || st.finished || st.stored != rows || st.auditDone != 0 {
		t.Errorf("after the kill: status %s, finished %t, %d stored records (want %d), done %d times", st.status, st.finished, st.stored, rows, st.auditDone)
	}
	checkKillState(t, "after the first kill", f, st)

	// A new process: the admin sees the import still under way where it
	// stopped. The process takes it over by itself once its heartbeat is
	// stale, and is killed in turn while finishing it.
	second := startInstance(t, env)
	_, c2 := signIn(second)
	frag := importFragment(t, second.url, c2, path)
	shown := importRowsShown.FindStringSubmatch(frag)
	if !strings.Contains(frag, `<h2 id="import-progress-title">Importing…</h2>`) || shown == nil || strings.Contains(frag, "import-errors") {
		t.Errorf("after a restart the progress card shows importing %t, rows %v, errors table %t; want Importing… with no results yet",
			strings.Contains(frag, `<h2 id="import-progress-title">Importing…</h2>`), shown, strings.Contains(frag, "import-errors"))
	} else if n, _ := strconv.Atoi(shown[1]); n < w1+len(f.bad) || n >= rows || shown[2] != strconv.Itoa(rows) {
		t.Errorf("after a restart the progress card shows %s of %s rows, want at least %d of %d and not all", shown[1], shown[2], w1+len(f.bad), rows)
	}
	inflight = killMidImport(t, d, second, id, w1, "the second process to resume the import")
	st = readKillState(t, d, id)
	w2 := st.written()
	t.Logf("second process killed with %d of %d good rows written, inside a transaction at %q", w2, len(f.good), inflight)
	if w2 <= w1 || w2 >= len(f.good) {
		t.Fatalf("the second kill did not land mid-import: %d good rows written (%d before), of %d", w2, w1, len(f.good))
	}
	if st.status != "running" || st.finished || st.stored != rows || st.auditDone != 0 {
		t.Errorf("after the second kill: status %s, finished %t, %d stored records (want %d), done %d times", st.status, st.finished, st.stored, rows, st.auditDone)
	}
	checkKillState(t, "after the second kill", f, st)

	// A third process resumes it by itself (nobody looks at the page, which
	// would also take it over) and finishes it.
	third := startInstance(t, env)
	waitFor(t, 4*time.Minute, "the import to finish", func() bool {
		var status string
		err := d.Pool.QueryRow(ctx, `SELECT status FROM contact_imports WHERE id = $1`, id).Scan(&status)
		return err == nil && status != "running"
	})
	st = readKillState(t, d, id)
	if st.status != "done" || !st.finished || st.stored != 0 || st.auditDone != 1 || st.processed != rows {
		t.Errorf("finished import: status %s, finished %t, processed %d of %d, %d stored records left, done %d times",
			st.status, st.finished, st.processed, rows, st.stored, st.auditDone)
	}
	if st.written() != len(f.good) {
		t.Errorf("finished with %d good rows written, want %d", st.written(), len(f.good))
	}
	checkKillState(t, "finished", f, st)
	if !strings.Contains(third.out.String(), resumedLog) {
		t.Errorf("the third process did not log %q", resumedLog)
	}

	// What the admin sees on the new process.
	ta, c = signIn(third)
	frag = importFragment(t, third.url, c, path)
	e := f.expect(len(f.good))
	want := fmt.Sprintf("created=%d updated=%d unchanged=%d failed=%d consents=%d", e.created, e.updated, e.unchanged, len(f.bad), e.events)
	if !strings.Contains(frag, `<h2 id="import-progress-title">Finished</h2>`) || importCounts(frag) != want {
		t.Errorf("progress card: finished %t, counts %q, want Finished and %q",
			strings.Contains(frag, `<h2 id="import-progress-title">Finished</h2>`), importCounts(frag), want)
	}
	if m := importRowsShown.FindStringSubmatch(frag); m == nil || m[1] != strconv.Itoa(rows) || m[2] != strconv.Itoa(rows) {
		t.Errorf("progress card rows: %v, want %d of %d", m, rows, rows)
	}
	for _, r := range f.bad {
		cell := fmt.Sprintf(`<td class="num">%d</td><td>%s`, r.line, r.bad)
		if n := strings.Count(frag, cell); n != 1 {
			t.Errorf("errors table shows line %d %q %d times", r.line, r.bad, n)
		}
	}
	body, status := ta.get(c, path+"/errors.csv")
	if status != http.StatusOK {
		t.Fatalf("errors.csv: %d", status)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\xef\xbb\xbf"))).ReadAll()
	if err != nil {
		t.Fatalf("errors.csv: %v", err)
	}
	if len(recs) != len(f.bad)+1 {
		t.Fatalf("errors.csv has %d rows, want a header and %d", len(recs), len(f.bad))
	}
	for i, r := range f.bad {
		if got := recs[i+1][6]; !strings.HasPrefix(got, fmt.Sprintf("Line %d: %s", r.line, r.bad)) {
			t.Errorf("errors.csv row %d: %q, want line %d %q", i+1, got, r.line, r.bad)
		}
	}
}
