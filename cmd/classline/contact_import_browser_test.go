package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// importThroughPages uploads file, accepts the guessed columns, starts the
// import and waits for the progress bar to reach 100% and "Finished".
func importThroughPages(b *browserTab, ta *testApp, file string) {
	b.t.Helper()
	b.do("open the import page", chromedp.Navigate(ta.URL+"/contacts/import"), chromedp.WaitVisible(chromedp.ID("import-file")))
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}))
	b.do("upload", chromedp.Click(xpathText("button", "Upload and choose columns")))
	b.waitFor("the mapping page", `location.pathname.startsWith('/contacts/import/') && !!document.querySelector('#import-preview')`)
	b.do("start the import", chromedp.Click(chromedp.Search(`//button[starts-with(normalize-space(), "Import ")]`)))
	b.waitFor("the progress bar at 100%", `(() => { const p = document.querySelector('#import-bar');
		return p && p.value === p.max && document.querySelector('[data-percent="100"]') &&
			document.getElementById('import-progress-title').textContent.trim() === 'Finished'; })()`)
}

func TestBrowserImportFixAndReimport(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	b := newBrowser(t)
	signIn(b, ta)
	dir := t.TempDir()
	first := filepath.Join(dir, "families.csv")
	if err := os.WriteFile(first, []byte("Name,Phone,Class\nAna Lima,+15553010001,3B\nBo Chen,not a number,4A\nCy Diaz,+15553010003,5C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	importThroughPages(b, ta, first)
	b.waitFor("the bad line in the errors table", `[...document.querySelectorAll('.import-errors td')].some((td) => td.textContent.trim() === '3')`)
	if got := evalJS[string](b, `document.querySelector('[data-count="created"]').textContent + '/' + document.querySelector('[data-count="failed"]').textContent`); got != "2/1" {
		t.Fatalf("created/failed = %s, want 2/1", got)
	}
	// Read the rows to fix through the link, with the page's session.
	bad := evalJS[string](b, `(() => { const x = new XMLHttpRequest();
		x.open('GET', document.getElementById('import-errors-link').href, false); x.send(); return x.responseText; })()`)
	// Every field is quoted, so a header such as "a;b" cannot make the
	// re-import guess another delimiter (found by FuzzImport).
	if !strings.Contains(bad, `"Bo Chen","not a number","4A",`) || !strings.Contains(bad, "Line 3: Phone number") {
		t.Fatalf("rows to fix: %q", bad)
	}
	fixed := filepath.Join(dir, "families-to-fix.csv")
	if err := os.WriteFile(fixed, []byte(strings.Replace(bad, "not a number", "+15553010002", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	importThroughPages(b, ta, fixed)
	b.waitFor("everything imported", `document.querySelector('.import-progress .alert-success') !== null`)
	if got := evalJS[string](b, `document.querySelector('[data-count="created"]').textContent + '/' + document.querySelector('[data-count="failed"]').textContent`); got != "1/0" {
		t.Fatalf("second import created/failed = %s, want 1/0", got)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE phone LIKE '+1555301000%'`); n != 3 {
		t.Fatalf("contacts: %d, want 3", n)
	}
}
