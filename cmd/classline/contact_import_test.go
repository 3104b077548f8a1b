package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// uploadCSV posts a file to /contacts/import and returns the import's path.
func uploadCSV(t *testing.T, ta *testApp, c *http.Client, name, content string) string {
	t.Helper()
	tok := ta.csrfOf(c, "/contacts/import")
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", tok)
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(fw, content)
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, ta.URL+"/contacts/import", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload %s: %d %s", name, resp.StatusCode, grepLines(string(b), "field-error"))
	}
	return resp.Header.Get("Location")
}

var selectedOption = regexp.MustCompile(`(?s)<select id="map-(\d+)" name="map_\d+">.*?<option value="([^"]*)" selected`)

// runImport accepts the guessed mapping (checking it), starts the import
// and waits until it is done; it returns the progress fragment.
func runImport(t *testing.T, ta *testApp, c *http.Client, path string, wantMapping []string, extra url.Values) string {
	t.Helper()
	page, status := ta.get(c, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, status)
	}
	form := url.Values{"_csrf": {csrfIn(t, page)}}
	for i, w := range wantMapping {
		m := regexp.MustCompile(fmt.Sprintf(`(?s)<select id="map-%d" name="map_%d">(.*?)</select>`, i, i)).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no select for column %d", i)
		}
		got := ""
		if s := regexp.MustCompile(`<option value="([^"]*)" selected`).FindStringSubmatch(m[1]); s != nil {
			got = s[1]
		}
		if got != w {
			t.Errorf("column %d guessed as %q, want %q", i, got, w)
		}
		form.Set(fmt.Sprintf("map_%d", i), w)
	}
	for k, v := range extra {
		form[k] = v
	}
	resp := ta.postForm(c, path+"/run", form)
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("run: %d %s", resp.StatusCode, b)
	}
	var frag string
	eventually(t, "the import to finish", func() bool {
		req, _ := http.NewRequest(http.MethodGet, ta.URL+path, nil)
		req.Header.Set("HX-Request", "true")
		r, err := c.Do(req)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		frag = string(b)
		return strings.Contains(frag, "<h2 id=\"import-progress-title\">Finished</h2>")
	})
	return frag
}

var countRe = regexp.MustCompile(`data-count="(\w+)">(\d+)<`)

func importCounts(frag string) string {
	var parts []string
	for _, m := range countRe.FindAllStringSubmatch(frag, -1) {
		parts = append(parts, m[1]+"="+m[2])
	}
	return strings.Join(parts, " ")
}

const mixedCSV = "Full name;Mobile;Role;Language;Class;WhatsApp consent;Marketing consent\n" +
	"Ana Lima;+1 555 201 0001;guardian;en;3B;yes;no\n" + // 2
	"Bo Chen;(555) 201-0002;parent;zh;4A;yes;\n" + // 3
	";+15552010003;;;;;\n" + // 4 missing name
	"Cy Diaz;12;;;;;\n" + // 5 bad phone
	"\"Dee, \"\"Dot\"\"\nOkafor\";555-201-0004;staff;;;no;\n" + // 6-7, quoted
	"Ed Ek;+15552010001;;;;;\n" + // 8 duplicate of 2
	"Fay Fu;+15552010005;boss;;;;\n" + // 9 bad role
	"=cmd|' /C calc'!A0;+15552010006;;xx!;;;\n" // 10 bad language, formula name

func TestImportContactsCSV(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	mapping := []string{"name", "phone", "role", "language", "class", "consent_transactional", "consent_marketing"}

	// Staff may not import.
	staff := ta.login("staff-import@example.org", ta.addUser("staff-import@example.org", "staff", "office"))
	if _, status := ta.get(staff, "/contacts/import"); status != http.StatusForbidden {
		t.Errorf("staff GET /contacts/import: %d, want 403", status)
	}

	path := uploadCSV(t, ta, admin, "class list.csv", mixedCSV)
	page, _ := ta.get(admin, path)
	for _, want := range []string{"Duplicate: +15552010001 is already on line 2", "Name is missing", ">6</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	// An incomplete mapping is refused with the reason, nothing starts.
	resp := ta.postForm(admin, path+"/run", url.Values{"_csrf": {csrfIn(t, page)}, "map_0": {"name"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("run without a phone column: %d", resp.StatusCode)
	}

	frag := runImport(t, ta, admin, path, mapping, url.Values{"new_group": {"Imported families"}})
	if got, want := importCounts(frag), "created=3 updated=0 unchanged=0 failed=5 consents=4"; got != want {
		t.Errorf("counts %q, want %q", got, want)
	}
	if !strings.Contains(frag, `max="8" value="8"`) || !strings.Contains(frag, `data-percent="100"`) {
		t.Errorf("progress not full: %s", grepLines(frag, "progress"))
	}
	wantLines := []string{"<td class=\"num\">4</td><td>Name is missing",
		"<td class=\"num\">5</td><td>Phone number “12”",
		"<td class=\"num\">8</td><td>Duplicate: +15552010001 is already on line 2",
		"<td class=\"num\">9</td><td>Role “boss” is not guardian, student or staff",
		"<td class=\"num\">10</td><td>Language “xx!” is not a language code"}
	for _, w := range wantLines {
		if !strings.Contains(frag, w) {
			t.Errorf("errors table lacks %q", w)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone IN ('+15552010001','+15552010002','+15552010004')`); n != 3 {
		t.Errorf("contacts created: %d", n)
	}
	// Names are cleaned: the quoted newline becomes a space.
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone = '+15552010004' AND name = 'Dee, "Dot" Okafor' AND role = 'staff'`); n != 1 {
		t.Errorf("quoted multi-line name not stored as expected")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone = '+15552010001' AND custom_fields->>'class' = '3B' AND language = 'en'`); n != 1 {
		t.Errorf("class/language not stored")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events WHERE method = 'import'`); n != 4 {
		t.Errorf("consent events: %d, want 4", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.name = 'Imported families'`); n != 3 {
		t.Errorf("group members: %d, want 3", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action IN ('contact_import.start', 'contact_import.done')`); n != 2 {
		t.Errorf("audit entries: %d, want 2", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contact_import_rows`); n != 0 {
		t.Errorf("stored rows left after the import: %d", n)
	}

	// The rows to fix: original columns + error, defused.
	bad, status := ta.get(admin, path+"/errors.csv")
	if status != http.StatusOK {
		t.Fatalf("errors.csv: %d", status)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(bad, "\xef\xbb\xbf"))).ReadAll()
	if err != nil {
		t.Fatalf("errors.csv is not CSV: %v\n%s", err, bad)
	}
	if len(recs) != 6 || recs[0][7] != "error" || recs[0][0] != "Full name" {
		t.Fatalf("errors.csv: %q", recs)
	}
	if recs[1][7] != "Line 4: Name is missing" || recs[1][1] != "'+15552010003" {
		t.Errorf("first bad row %q", recs[1])
	}
	if recs[5][0] != "'=cmd|' /C calc'!A0" {
		t.Errorf("formula not defused: %q", recs[5][0])
	}

	// The same file again changes nothing.
	path2 := uploadCSV(t, ta, admin, "class list.csv", mixedCSV)
	frag = runImport(t, ta, admin, path2, mapping, nil)
	if got, want := importCounts(frag), "created=0 updated=0 unchanged=3 failed=5 consents=0"; got != want {
		t.Errorf("re-import counts %q, want %q", got, want)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events`); n != 4 {
		t.Errorf("consent events after re-import: %d, want 4", n)
	}

	// Fix the bad rows in the downloaded file and import it.
	var fixed bytes.Buffer
	w := csv.NewWriter(&fixed)
	for i, r := range recs {
		if i > 0 {
			switch {
			case strings.HasPrefix(r[7], "Line 4:"):
				r[0] = "Gil Gray"
			case strings.HasPrefix(r[7], "Line 5:"):
				r[1] = "+15552010007"
			case strings.HasPrefix(r[7], "Line 8:"):
				r[1] = "+15552010008"
			case strings.HasPrefix(r[7], "Line 9:"):
				r[2] = "staff"
			case strings.HasPrefix(r[7], "Line 10:"):
				r[3] = "es"
			}
		}
		_ = w.Write(r)
	}
	w.Flush()
	path3 := uploadCSV(t, ta, admin, "class list-to-fix.csv", fixed.String())
	frag = runImport(t, ta, admin, path3, append(mapping, ""), nil)
	if got, want := importCounts(frag), "created=5 updated=0 unchanged=0 failed=0 consents=0"; got != want {
		t.Errorf("fixed rows counts %q, want %q", got, want)
	}
	if !strings.Contains(frag, "Every row was imported.") || strings.Contains(frag, "errors.csv") {
		t.Errorf("fixed import result: %s", grepLines(frag, "alert"))
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone = '+15552010006' AND name = '=cmd|'' /C calc''!A0' AND language = 'es'`); n != 1 {
		t.Errorf("defused name not restored on re-import")
	}

	// A changed value updates, the rest stay unchanged.
	path4 := uploadCSV(t, ta, admin, "update.csv", "name,phone,class\nAna Lima,+15552010001,3C\nBo Chen,+15552010002,4A\n")
	frag = runImport(t, ta, admin, path4, []string{"name", "phone", "class"}, nil)
	if got, want := importCounts(frag), "created=0 updated=1 unchanged=1 failed=0 consents=0"; got != want {
		t.Errorf("update counts %q, want %q", got, want)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone = '+15552010001' AND custom_fields->>'class' = '3C' AND language = 'en' AND role = 'guardian'`); n != 1 {
		t.Errorf("update lost other fields")
	}
}

func TestImportUploadErrors(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/contacts/import")
	for name, content := range map[string]string{"empty.csv": "", "header-only.csv": "name,phone\n"} {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		_ = w.WriteField("_csrf", tok)
		fw, _ := w.CreateFormFile("file", name)
		_, _ = io.WriteString(fw, content)
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, ta.URL+"/contacts/import", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), `class="field-error"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, grepLines(string(b), "field-error"))
		}
	}
}
