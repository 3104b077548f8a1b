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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
)

// Attachments in the broadcast wizard: uploaded in the content step as the
// composer uploads, kept on the draft, checked against MMS rules, shown in
// the review with the MMS warning and price, sent with each SMS, and
// downloadable by whoever may see the broadcast. Real HTTP, session, CSRF,
// PostgreSQL, engine and simulator.

// A small PNG (the signature is what the type is read from) and a PDF.
var (
	bcPNG = append([]byte("\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR"), bytes.Repeat([]byte{9}, 2000)...)
	bcPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
)

// bcAttach posts step 2 as the Attachment field's htmx request does:
// multipart, with the step's fields, the file, and the CSRF header.
func bcAttach(t *testing.T, ta *testApp, c *http.Client, id int64, fields url.Values, filename, contentType string, data []byte) httpResult {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachment"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	fw, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/2", ta.URL, id), &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", ta.csrfOf(c, fmt.Sprintf("/broadcasts/%d/edit?step=2", id)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// bcSpec reads a broadcast's stored parts.
func bcSpec(t *testing.T, ta *testApp, id int64) broadcast.Spec {
	t.Helper()
	b, err := ta.db.BroadcastByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := broadcast.DecodeSpec(b.Audience, b.Content, b.Sender)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// bcFileHolder is the broadcast holding a file (0: none).
func bcFileHolder(t *testing.T, ta *testApp, fileID int64) int64 {
	t.Helper()
	f, err := ta.db.MediaFileByID(context.Background(), fileID)
	if err != nil {
		t.Fatalf("file %d: %v", fileID, err)
	}
	return f.BroadcastID
}

var bcAttachedID = regexp.MustCompile(`name="media_file_id" value="(\d+)"`)

// bcAttachedIDs are the files the content step lists as attached.
func bcAttachedIDs(body string) []string {
	var out []string
	for _, m := range bcAttachedID.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// The Attachment field uploads through the content step: the file is shown
// (name, size, thumbnail through the staff media route, a Remove button),
// stored on the draft and kept across steps and sessions; a file MMS
// refuses is explained beside the field with everything typed kept; Remove
// takes it off (its own form, so Enter in a field still continues). Every
// POST needs the CSRF token.
func TestBroadcastMediaWizardUpload(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	pw := ta.addUser("mia@school.example", "staff", "admissions")
	staff := ta.login("mia@school.example", pw)
	id := bcNew(t, ta, staff)
	wantStatus(t, "step 1", bcStep(t, ta, staff, id, 1, url.Values{"name": {"Trip letter"}, "numbers": {bcNumbers(2, 400)}}), http.StatusSeeOther)

	page, status := ta.get(staff, fmt.Sprintf("/broadcasts/%d/edit?step=2", id))
	for _, want := range []string{`<label for="bc-attachment">Attachment</label>`, `id="bc-attachment" name="attachment" type="file"`,
		`aria-describedby="bc-attachment-hint"`, `enctype="multipart/form-data"`, "picture message (MMS)", `accept="`} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("step 2 (%d) lacks %q:\n%s", status, want, grepLines(page, "attachment"))
		}
	}
	if strings.Contains(page, "cannot be attached to broadcasts yet") {
		t.Errorf("step 2 still says attachments are not possible")
	}

	typed := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Trip letter attached, {{first_name}}."}, "nav": {"attach"}}

	// A web page posing as a picture: refused beside the field, text kept, nothing stored.
	r := bcAttach(t, ta, staff, id, typed, "photo.png", "image/png", []byte("<!doctype html><html><body>hi</body></html>"))
	wantStatus(t, "a page as a picture", r, http.StatusUnprocessableEntity)
	if e := bcFieldError(r.body, "bc-attachment"); !strings.Contains(e, "do not accept web pages") {
		t.Errorf("attachment error %q", e)
	}
	if !strings.Contains(r.body, ">Trip letter attached, {{first_name}}.</textarea>") || !strings.Contains(r.body, `aria-invalid="true"`) {
		t.Errorf("typed SMS text lost after a refused file:\n%s", grepLines(r.body, "bc-sms"))
	}
	if ids := bcSpec(t, ta, id).Content.MediaFileIDs; len(ids) != 0 {
		t.Errorf("a refused file is on the draft: %v", ids)
	}
	// Too big for an MMS: Twilio's 5 MB.
	big := append(append([]byte{}, bcPNG...), make([]byte, 5_000_001)...)
	r = bcAttach(t, ta, staff, id, typed, "poster.png", "image/png", big)
	wantStatus(t, "too big", r, http.StatusUnprocessableEntity)
	if e := bcFieldError(r.body, "bc-attachment"); !strings.Contains(e, "5 MB") {
		t.Errorf("size error %q", e)
	}

	// Without the CSRF token: refused before anything is stored.
	files := countRows(t, ta, `SELECT count(*) FROM media_files`)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("attachment", "map.png")
	_, _ = fw.Write(bcPNG)
	_ = mw.WriteField("nav", "attach")
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/2", ta.URL, id), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	resp, err := staff.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || countRows(t, ta, `SELECT count(*) FROM media_files`) != files {
		t.Fatalf("upload without CSRF: %d, files %d → %d", resp.StatusCode, files, countRows(t, ta, `SELECT count(*) FROM media_files`))
	}

	// A picture: attached and shown, the text kept.
	r = bcAttach(t, ta, staff, id, typed, "Route map.png", "image/png", bcPNG)
	wantStatus(t, "attach a picture", r, http.StatusOK)
	ids := bcSpec(t, ta, id).Content.MediaFileIDs
	if len(ids) != 1 {
		t.Fatalf("attached files on the draft: %v", ids)
	}
	pic := ids[0]
	picURL := fmt.Sprintf("/media/%d", pic)
	for _, want := range []string{"Attached Route map.png.", `src="` + picURL + `"`, `href="` + picURL + `"`, ">Route map.png</a>", "2 KB",
		`name="media_file_id" value="` + strconv.FormatInt(pic, 10) + `"`, `aria-label="Remove Route map.png"`, `form="bc-attachment-remove"`,
		">Trip letter attached, {{first_name}}.</textarea>"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("after attaching, step 2 lacks %q", want)
		}
	}
	if got := bcFileHolder(t, ta, pic); got != id {
		t.Errorf("the file is held by broadcast %d, want %d", got, id)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'broadcast.attachment_added' AND subject = $1`, fmt.Sprintf("broadcast:%d", id)); n != 1 {
		t.Errorf("%d audit entries for the attachment", n)
	}
	// The uploader opens the thumbnail through the staff route.
	if body, status := ta.get(staff, picURL); status != http.StatusOK || body != string(bcPNG) {
		t.Errorf("thumbnail: %d", status)
	}

	// A PDF too (two files, 5 MB in all); the form lists both.
	fields := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Trip letter attached, {{first_name}}."}, "nav": {"attach"},
		"media_file_id": {strconv.FormatInt(pic, 10)}}
	r = bcAttach(t, ta, staff, id, fields, "letter.pdf", "application/pdf", bcPDF)
	wantStatus(t, "attach a PDF", r, http.StatusOK)
	if got := bcAttachedIDs(r.body); len(got) != 2 || got[0] != strconv.FormatInt(pic, 10) {
		t.Fatalf("attached after the PDF: %v", got)
	}
	pdf := bcSpec(t, ta, id).Content.MediaFileIDs[1]

	// Continue and come back: the files stay; another session sees them.
	fields.Del("nav")
	fields["media_file_id"] = []string{strconv.FormatInt(pic, 10), strconv.FormatInt(pdf, 10)}
	fields.Set("_csrf", ta.csrfOf(staff, fmt.Sprintf("/broadcasts/%d/edit?step=2", id)))
	wantStatus(t, "continue", doHTTP(t, staff, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/steps/2", ta.URL, id), fields, nil), http.StatusSeeOther)
	wantStatus(t, "back from 3", bcStep(t, ta, staff, id, 3, url.Values{"nav": {"back"}}), http.StatusSeeOther)
	other := ta.login("mia@school.example", pw)
	page, _ = ta.get(other, fmt.Sprintf("/broadcasts/%d/edit?step=2", id))
	if got := bcAttachedIDs(page); len(got) != 2 || !strings.Contains(page, ">letter.pdf</a>") {
		t.Fatalf("reopened draft lists %v:\n%s", got, grepLines(page, "attachment"))
	}

	// Remove the picture (htmx: the step's fields come along and stay as typed).
	tok := csrfIn(t, page)
	r = doHTTP(t, other, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/attachments/remove", ta.URL, id),
		url.Values{"file_id": {strconv.FormatInt(pic, 10)}, "mode": {"sms"}, "purpose": {"transactional"}, "sms_body": {"Typed but not saved"},
			"media_file_id": {strconv.FormatInt(pic, 10), strconv.FormatInt(pdf, 10)}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	wantStatus(t, "remove", r, http.StatusOK)
	if got := bcAttachedIDs(r.body); len(got) != 1 || got[0] != strconv.FormatInt(pdf, 10) || !strings.Contains(r.body, ">Typed but not saved</textarea>") {
		t.Errorf("after removing: %v\n%s", got, grepLines(r.body, "textarea"))
	}
	if got := bcSpec(t, ta, id).Content; len(got.MediaFileIDs) != 1 || got.MediaFileIDs[0] != pdf || got.SMSBody != "Trip letter attached, {{first_name}}." {
		t.Errorf("stored after removing: %+v", got)
	}
	if got := bcFileHolder(t, ta, pic); got != 0 {
		t.Errorf("the removed file is still held by broadcast %d", got)
	}
	// Without JavaScript: the small form, then back to the step.
	r = doHTTP(t, other, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/attachments/remove", ta.URL, id),
		url.Values{"_csrf": {tok}, "file_id": {strconv.FormatInt(pdf, 10)}}, nil)
	wantStatus(t, "remove without htmx", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/broadcasts/%d/edit?step=2", id) {
		t.Errorf("remove redirects to %q", loc)
	}
	if got := bcSpec(t, ta, id).Content; len(got.MediaFileIDs) != 0 || got.SMSBody != "Trip letter attached, {{first_name}}." {
		t.Errorf("stored after the second remove: %+v", got)
	}
	r = doHTTP(t, other, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/attachments/remove", ta.URL, id),
		url.Values{"file_id": {strconv.FormatInt(pdf, 10)}}, map[string]string{"HX-Request": "true"})
	wantStatus(t, "remove without CSRF", r, http.StatusForbidden)
	if got := bcFileHolder(t, ta, pdf); got != 0 {
		t.Errorf("the PDF removed without JavaScript is still held by %d", got)
	}
	_ = ctx
}

// Ids are not capabilities: a draft takes only files its author uploaded
// or that it holds already. Another person's upload, another department's
// broadcast file or an inbound file sent by id is refused beside the field
// and not claimed; staff of another department cannot download the file.
func TestBroadcastMediaForeignIDs(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	pwA := ta.addUser("ada@school.example", "staff", "admissions")
	ada := ta.login("ada@school.example", pwA)
	pwB := ta.addUser("ben@school.example", "staff", "academics")
	ben := ta.login("ben@school.example", pwB)
	pwC := ta.addUser("cy@school.example", "staff", "admissions")
	cy := ta.login("cy@school.example", pwC)
	benUser, err := ta.db.UserByEmail(ctx, "ben@school.example")
	if err != nil {
		t.Fatal(err)
	}

	// Ben's abandoned upload (as the composer leaves one), and a file on
	// Ben's own draft.
	loose, _, err := ta.db.InsertMediaFile(ctx, db.NewMediaFile{Direction: "outbound", ContentType: "image/png", Filename: "ben.png",
		Data: bcPNG, PublicFor: time.Hour, UploadedBy: benUser.ID})
	if err != nil {
		t.Fatal(err)
	}
	benDraft := bcNew(t, ta, ben)
	r := bcAttach(t, ta, ben, benDraft, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hi"}, "nav": {"attach"}},
		"timetable.pdf", "application/pdf", bcPDF)
	wantStatus(t, "Ben attaches", r, http.StatusOK)
	benFile := bcSpec(t, ta, benDraft).Content.MediaFileIDs[0]

	// Ada's draft, in admissions, with a file of her own.
	adaDraft := bcNew(t, ta, ada)
	r = bcAttach(t, ta, ada, adaDraft, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hello"}, "nav": {"attach"}},
		"menu.png", "image/png", bcPNG)
	wantStatus(t, "Ada attaches", r, http.StatusOK)
	adaFile := bcSpec(t, ta, adaDraft).Content.MediaFileIDs[0]

	for name, foreign := range map[string]int64{"another person's upload": loose, "another department's broadcast file": benFile} {
		fields := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Hello"},
			"media_file_id": {strconv.FormatInt(adaFile, 10), strconv.FormatInt(foreign, 10)}}
		r := bcStep(t, ta, ada, adaDraft, 2, fields)
		wantStatus(t, name, r, http.StatusUnprocessableEntity)
		if e := bcFieldError(r.body, "bc-attachment"); !strings.Contains(e, "not one you uploaded") {
			t.Errorf("%s: error %q", name, e)
		}
		if got := bcAttachedIDs(r.body); len(got) != 1 || got[0] != strconv.FormatInt(adaFile, 10) {
			t.Errorf("%s: the step lists %v", name, got)
		}
		if got := bcSpec(t, ta, adaDraft).Content.MediaFileIDs; len(got) != 1 || got[0] != adaFile {
			t.Errorf("%s: Ada's draft holds %v", name, got)
		}
	}
	if got := bcFileHolder(t, ta, loose); got != 0 {
		t.Errorf("Ben's loose upload was claimed by broadcast %d", got)
	}
	if got := bcFileHolder(t, ta, benFile); got != benDraft {
		t.Errorf("Ben's file moved to broadcast %d", got)
	}
	if got := bcSpec(t, ta, benDraft).Content.MediaFileIDs; len(got) != 1 || got[0] != benFile {
		t.Errorf("Ben's draft lost its file: %v", got)
	}

	// Downloads: the broadcast's department (not only its uploader), not
	// another department; the admin sees all.
	path := fmt.Sprintf("/media/%d", adaFile)
	if _, status := ta.get(cy, path); status != http.StatusOK {
		t.Errorf("a colleague in admissions gets %d for the draft's file", status)
	}
	if _, status := ta.get(ben, path); status != http.StatusNotFound {
		t.Errorf("staff of academics get %d for an admissions draft's file", status)
	}
	if _, status := ta.get(ta.loginAdmin(), path); status != http.StatusOK {
		t.Errorf("the admin gets %d", status)
	}
	if _, status := ta.get(ada, fmt.Sprintf("/media/%d", loose)); status != http.StatusNotFound {
		t.Errorf("Ada downloads Ben's upload: %d", status)
	}
	// Nor may she remove a file her draft does not hold (nothing happens).
	page, _ := ta.get(ada, fmt.Sprintf("/broadcasts/%d/edit?step=2", adaDraft))
	r = doHTTP(t, ada, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/attachments/remove", ta.URL, adaDraft),
		url.Values{"_csrf": {csrfIn(t, page)}, "file_id": {strconv.FormatInt(benFile, 10)}}, nil)
	wantStatus(t, "remove another's file", r, http.StatusSeeOther)
	if got := bcFileHolder(t, ta, benFile); got != benDraft {
		t.Errorf("Ben's file let go by Ada's remove: %d", got)
	}
	// And she cannot reach Ben's draft at all.
	r = doHTTP(t, ada, http.MethodPost, fmt.Sprintf("%s/broadcasts/%d/attachments/remove", ta.URL, benDraft),
		url.Values{"_csrf": {csrfIn(t, page)}, "file_id": {strconv.FormatInt(benFile, 10)}}, nil)
	wantStatus(t, "remove on another department's draft", r, http.StatusNotFound)
}

// End to end: a broadcast with a picture is reviewed (MMS count, MMS price,
// the US/Canada warning counting a number elsewhere) and sent; the
// simulator gets the picture's public URL as MediaUrl on every SMS and
// fetches the file; the file outlives the pruning of abandoned uploads;
// staff who see a conversation the broadcast reached can open it.
func TestBroadcastMediaLaunch(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	ctx := context.Background()
	admin := ta.loginAdmin()

	// The MMS price is a setting beside the others.
	page, _ := ta.get(admin, "/settings")
	if !strings.Contains(page, `<label for="bc-price-mms">Price per picture message (MMS)</label>`) || !strings.Contains(page, `value="0.0200"`) {
		t.Fatalf("settings lack the MMS price:\n%s", grepLines(page, "bc-price"))
	}
	r := doHTTP(t, admin, http.MethodPost, ta.URL+"/settings/broadcasts", url.Values{"_csrf": {csrfIn(t, page)}, "approval_threshold": {"500"},
		"price_sms": {"0.01"}, "price_whatsapp": {"0.02"}, "price_mms": {"0.05"}, "currency": {"usd"}}, nil)
	wantStatus(t, "save the MMS price", r, http.StatusSeeOther)

	// The school's broadcast (no department): two US families and one in the UK.
	id := bcNew(t, ta, admin)
	numbers := "+1 555 010 0501, Ann\n+1 555 010 0502, Bo\n+44 7911 123456, Cleo"
	wantStatus(t, "step 1", bcStep(t, ta, admin, id, 1, url.Values{"name": {"Sports kit"}, "numbers": {numbers}}), http.StatusSeeOther)
	typed := url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"The new sports kit, {{first_name}}."}, "nav": {"attach"}}
	wantStatus(t, "attach", bcAttach(t, ta, admin, id, typed, "kit.png", "image/png", bcPNG), http.StatusOK)
	file := bcSpec(t, ta, id).Content.MediaFileIDs[0]
	typed.Del("nav")
	typed.Set("media_file_id", strconv.FormatInt(file, 10))
	wantStatus(t, "step 2", bcStep(t, ta, admin, id, 2, typed), http.StatusSeeOther)
	wantStatus(t, "step 3", bcStep(t, ta, admin, id, 3, url.Values{"department_id": {"0"}, "strategy": {"department"}}), http.StatusSeeOther)

	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=4", id))
	for _, want := range []string{`id="bc-will-sms">3<`, `id="bc-mms">3<`, `id="bc-segments">0<`, `id="bc-cost">USD 0.1500<`,
		"only to numbers in the US and Canada", `id="bc-mms-abroad">1 SMS recipient has a number elsewhere:`, ">kit.png</a>",
		"0.05 USD per picture message", "With 1 attachment: kit.png"} {
		if !strings.Contains(page, want) {
			t.Errorf("review lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("review:\n%s", grepLines(page, "bc-"))
	}

	// Without the UK number, send.
	wantStatus(t, "step 1 again", bcStep(t, ta, admin, id, 1, url.Values{"name": {"Sports kit"}, "numbers": {"+1 555 010 0501, Ann\n+1 555 010 0502, Bo"}}), http.StatusSeeOther)
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d/edit?step=4", id))
	if !strings.Contains(page, "Every SMS recipient of this broadcast has a US or Canadian number.") || !strings.Contains(page, `id="bc-cost">USD 0.1000<`) {
		t.Errorf("review after removing the UK number:\n%s", grepLines(page, "bc-"))
	}
	wantStatus(t, "send", bcSend(t, ta, admin, id), http.StatusSeeOther)
	eventually(t, "the broadcast to complete", func() bool { return bcStatus(t, ta, id) == "completed" })

	var sent int
	for _, m := range ta.sim.Messages() {
		if m.Direction != "outbound-api" {
			continue
		}
		if m.To != "+15550100501" && m.To != "+15550100502" {
			continue
		}
		sent++
		if len(m.MediaURLs) != 1 || !strings.HasPrefix(m.MediaURLs[0], ta.cfg.PublicURL+"/public/media/") {
			t.Errorf("SMS to %s has MediaUrl %v", m.To, m.MediaURLs)
		}
		if len(m.Media) != 1 || !bytes.Equal(m.Media[0].Data, bcPNG) {
			t.Errorf("the simulator did not fetch the picture for %s (%d files)", m.To, len(m.Media))
		}
		if m.Status == "failed" || m.Status == "undelivered" {
			t.Errorf("SMS to %s %s (%d)", m.To, m.Status, m.ErrorCode)
		}
	}
	if sent != 2 {
		t.Fatalf("%d SMS sent to the audience, want 2", sent)
	}
	// The public URL is still Twilio's to fetch, without a session.
	for _, m := range ta.sim.Messages() {
		if len(m.MediaURLs) > 0 {
			resp, err := plainClient().Get(m.MediaURLs[0])
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
				t.Errorf("public URL: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			break
		}
	}

	// Pruning a day later spares it (the upload is backdated two days).
	if _, err := ta.db.Pool.Exec(ctx, `UPDATE media_files SET created_at = now() - interval '2 days' WHERE id = $1`, file); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.db.DeleteUnattachedUploads(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := bcFileHolder(t, ta, file); got != id {
		t.Fatalf("after pruning the file is held by %d", got)
	}

	// The broadcast had no department: admissions staff (its SMS number's
	// department, where the conversations are) open the file; academics do not.
	pw := ta.addUser("dee@school.example", "staff", "admissions")
	dee := ta.login("dee@school.example", pw)
	if _, status := ta.get(dee, fmt.Sprintf("/broadcasts/%d", id)); status != http.StatusNotFound {
		t.Fatalf("admissions staff see the school's broadcast page: %d", status)
	}
	if body, status := ta.get(dee, fmt.Sprintf("/media/%d", file)); status != http.StatusOK || body != string(bcPNG) {
		t.Errorf("admissions staff get %d for the file of a broadcast in their conversations", status)
	}
	pw = ta.addUser("eli@school.example", "staff", "academics")
	if _, status := ta.get(ta.login("eli@school.example", pw), fmt.Sprintf("/media/%d", file)); status != http.StatusNotFound {
		t.Errorf("academics staff get %d", status)
	}
	// The broadcast's page shows the file to those who see it.
	page, _ = ta.get(admin, fmt.Sprintf("/broadcasts/%d", id))
	if !strings.Contains(page, "<dt>Attachment</dt>") || !strings.Contains(page, fmt.Sprintf(`src="/media/%d"`, file)) {
		t.Errorf("the broadcast page does not show the attachment")
	}
}

// A WhatsApp-only broadcast sends no SMS, so an attachment would not go:
// the step says so beside the field and keeps the file, and choosing a
// channel with SMS again brings it back without error.
func TestBroadcastMediaWhatsAppOnly(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	admin := ta.loginAdmin()
	var tpl int64
	err := ta.db.Pool.QueryRow(ctx, `INSERT INTO templates (content_sid, friendly_name, logical_name, language, types, approval_status)
		VALUES ('HX00000000000000000000000000000009', 'kit_en', 'kit', 'en', '{"twilio/text": {"body": "New kit is here."}}', 'approved') RETURNING id`).Scan(&tpl)
	if err != nil {
		t.Fatal(err)
	}
	id := bcNew(t, ta, admin)
	wantStatus(t, "step 1", bcStep(t, ta, admin, id, 1, url.Values{"name": {"Kit"}, "numbers": {bcNumbers(1, 600)}}), http.StatusSeeOther)
	r := bcAttach(t, ta, admin, id, url.Values{"purpose": {"transactional"}, "mode": {"sms"}, "sms_body": {"Kit"}, "nav": {"attach"}}, "kit.png", "image/png", bcPNG)
	wantStatus(t, "attach", r, http.StatusOK)
	file := strconv.FormatInt(bcSpec(t, ta, id).Content.MediaFileIDs[0], 10)
	tplID := strconv.FormatInt(tpl, 10)
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"whatsapp"}, "template_id": {tplID}, "media_file_id": {file}})
	wantStatus(t, "WhatsApp only with a file", r, http.StatusUnprocessableEntity)
	if e := bcFieldError(r.body, "bc-attachment"); !strings.Contains(e, "WhatsApp templates carry their own picture") {
		t.Errorf("no error beside the attachment: %q", e)
	}
	if got := bcAttachedIDs(r.body); len(got) != 1 || got[0] != file {
		t.Errorf("the file is not kept: %v", got)
	}
	r = bcStep(t, ta, admin, id, 2, url.Values{"purpose": {"transactional"}, "mode": {"whatsapp_then_sms"}, "template_id": {tplID},
		"sms_body": {"New kit is here."}, "media_file_id": {file}})
	wantStatus(t, "WhatsApp then SMS with a file", r, http.StatusSeeOther)
}
