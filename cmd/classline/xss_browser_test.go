package main

// XSS browser tests (issue 9): text that someone outside the school's staff
// could have written (a CSV from a school information system, a template's
// wording and examples, a broadcast's name and text) is shown as text on
// every page that shows it, after htmx swaps and after live (SSE) swaps too.
//
// As in TestBrowserUntrustedTextIsInert, the page's CSP is bypassed: with
// the CSP on, an injected handler would be blocked anyway and these tests
// would prove nothing about the escaping itself. Each payload sets
// window.__xss to its own number, so a failure names the field that ran.

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/classline/classline/internal/twiliosim"
)

// The payloads. Each sets window.__xss=n if it ever runs.
func xssImg(n int) string    { return fmt.Sprintf(`<img src=x onerror="window.__xss=%d">`, n) }
func xssScript(n int) string { return fmt.Sprintf(`<script>window.__xss=%d</script>`, n) }
func xssSVG(n int) string    { return fmt.Sprintf(`"><svg onload="window.__xss=%d">`, n) }
func xssJSURL(n int) string  { return fmt.Sprintf(`javascript:window.__xss=%d`, n) }

// xssCurly must show as written: nothing on our side evaluates templates
// in text (a server- or client-side template engine would show 49).
const xssCurly = "{{7*7}}"

// xssBrowser is a signed-in admin's browser whose tab ignores the CSP.
func xssBrowser(t *testing.T, ta *testApp) *browserTab {
	t.Helper()
	b := newBrowser(t)
	b.bypassCSP()
	signIn(b, ta)
	return b
}

func (b *browserTab) bypassCSP() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		b.t.Fatalf("bypass CSP: %v", err)
	}
}

// xssShown is JavaScript true when an element matching sel shows text
// literally: as its rendered text, an <option>'s label or a field's value.
func xssShown(sel, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%s)].some((e) => (e.innerText || '').includes(%s) ||
		(e.tagName === 'OPTION' && e.textContent.includes(%[2]s)) || (('value' in e) && typeof e.value === 'string' && e.value.includes(%[2]s)))`,
		strconv.Quote(sel), strconv.Quote(text))
}

// xssExpect is one place a payload must be shown literally.
type xssExpect struct{ sel, text string }

// inert checks the page as it is now: no payload ran (window.__xss unset),
// no element was made from one (no handler attributes, no <img src=x>, no
// inline script mentioning __xss, no javascript: link), and each expected
// text is on the page literally, which proves the text was rendered at all.
func (b *browserTab) inert(where string, want ...xssExpect) {
	b.t.Helper()
	// A text not shown is reported, not fatal, so that what ran instead
	// (the checks below) is reported too.
	for _, w := range want {
		if !b.poll(xssShown(w.sel, w.text)) {
			b.t.Errorf("%s: %q is not shown as text in %s; page: %s", where, w.text, w.sel, b.describe())
		}
	}
	// Let an <img src=x> (had one been made) fail to load and fire onerror.
	b.do("let pending loads finish", chromedp.Evaluate[chromedp.Void](`new Promise((r) => setTimeout(r, 300))`, chromedp.EvalAwaitPromise))
	if v := evalJS[string](b, `typeof window.__xss === 'undefined' ? '' : String(window.__xss)`); v != "" {
		b.t.Errorf("%s: window.__xss = %s: payload %s ran as code (%s)", where, v, v, b.describe())
	}
	made := evalJS[[]string](b, `[...document.querySelectorAll('*')].filter((e) =>
		[...e.attributes].some((a) => a.name.startsWith('on')) ||
		(e.tagName === 'IMG' && e.getAttribute('src') === 'x') ||
		(e.tagName === 'SCRIPT' && e.textContent.includes('__xss')) ||
		['href', 'src', 'action', 'formaction', 'xlink:href'].some((n) => /^\s*javascript:/i.test(e.getAttribute(n) || ''))
	).map((e) => e.outerHTML.slice(0, 160))`)
	if len(made) > 0 {
		b.t.Errorf("%s: %d elements were made from untrusted text: %q", where, len(made), made)
	}
}

// poll is waitFor that answers instead of failing the test.
func (b *browserTab) poll(cond string) bool {
	b.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return true
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// htmxAfter waits until htmx finished more requests than before.
func (b *browserTab) htmxAfter(what string, before int) {
	b.t.Helper()
	b.waitFor(what, fmt.Sprintf(`window.__requests > %d && !document.querySelector('.htmx-request')`, before))
}

func (b *browserTab) requests() int { return evalJS[int](b, `window.__requests`) }

// setValue sets a control's value and fires change, as choosing does.
func (b *browserTab) setValue(sel, value string) {
	b.t.Helper()
	b.do("set "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value)))
}

// TestXSSImportedContactText: the cells of an imported CSV (names, student
// fields, header names, the cells of rejected rows, the new group's name)
// are text on the import's own pages (mapping, the htmx preview, the
// rejected rows; their CSV download is an attachment, never rendered), the
// contacts list (full and htmx-filtered), the groups, a group's page and
// its remove dialog (filled by app.js), the contact page (as admin and as
// staff), the inbox (a message from the contact
// arriving live over SSE, and the conversation opened by htmx) and the
// broadcast wizard's audience step (group list and htmx contact search).
func TestXSSImportedContactText(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	var (
		anaName    = xssImg(1) + " Ana Lima"
		anaStudent = xssScript(2)
		anaClass   = xssSVG(3)
		anaID      = xssCurly
		boName     = xssSVG(4) + " Bo " + xssCurly
		boStudent  = xssImg(5)
		badName    = xssScript(6)
		badPhone   = xssImg(7)
		badRole    = xssSVG(8)
		header     = xssImg(9)
		cellNoted  = xssScript(10) + " noted"
		groupName  = xssScript(11) + " families"
	)
	const anaPhone, boPhone = "+15550107001", "+15550107002"
	var buf strings.Builder
	w := csv.NewWriter(&buf)
	_ = w.WriteAll([][]string{
		{"Name", "Phone", "Role", "Student name", "Class", "Student ID", header},
		{anaName, anaPhone, "guardian", anaStudent, anaClass, anaID, cellNoted},
		{boName, boPhone, "guardian", boStudent, "4A", "", ""},
		{badName, badPhone, badRole, "", "", "", ""},
	})
	file := filepath.Join(t.TempDir(), "families.csv")
	if err := os.WriteFile(file, []byte(buf.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	b := xssBrowser(t, ta)

	// The mapping page: header names, the cells and the rejected row's
	// reasons (which quote its cells) in the preview.
	b.do("open the import page", chromedp.Navigate(ta.URL+"/contacts/import"), chromedp.WaitVisible(chromedp.ID("import-file")))
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}))
	b.do("upload", chromedp.Click(xpathText("button", "Upload and choose columns")))
	b.waitFor("the mapping page", `location.pathname.startsWith('/contacts/import/') && !!document.querySelector('#import-preview')`)
	preview := []xssExpect{
		{".import-columns label", header}, {"#import-preview th", header},
		{"#import-preview td", anaName}, {"#import-preview td", anaStudent}, {"#import-preview td", anaClass},
		{"#import-preview td", anaID}, {"#import-preview td", cellNoted}, {"#import-preview td", boName},
		{"#import-preview td", badName}, {"#import-preview .import-error", badPhone}, {"#import-preview .import-error", badRole},
	}
	b.inert("the mapping page", preview...)

	// The preview again, swapped in by htmx after a column's choice changes.
	b.setMarker()
	n := b.requests()
	b.setValue("#map-5", "")
	b.htmxAfter("the preview without the student ID", n)
	b.waitFor("the preview without the student ID", `![...document.querySelectorAll('#import-preview .import-error')].some((e) => e.textContent.includes('Student ID'))`)
	n = b.requests()
	b.setValue("#map-5", "student_id")
	b.htmxAfter("the preview swapped back", n)
	b.assertNoReload("the preview's htmx swaps")
	b.inert("the mapping page after htmx swapped the preview", preview...)

	// Import, into a new group whose name is a payload too.
	b.fill("Or a new group named", groupName)
	b.do("start the import", chromedp.Click(chromedp.Search(`//button[starts-with(normalize-space(), "Import ")]`)))
	b.waitFor("the import finished", `document.getElementById('import-progress-title') && document.getElementById('import-progress-title').textContent.trim() === 'Finished'`)
	b.inert("the import's outcome",
		xssExpect{".import-counts dd", groupName},
		xssExpect{".import-errors td", badPhone}, xssExpect{".import-errors td", badRole})
	if got := evalJS[string](b, `document.querySelector('[data-count="created"]').textContent + '/' + document.querySelector('[data-count="failed"]').textContent`); got != "2/1" {
		t.Fatalf("created/failed = %s, want 2/1", got)
	}
	// The rows to fix are a CSV download, never a page the browser renders.
	errorsCSV := evalJS[map[string]string](b, `(() => { const x = new XMLHttpRequest();
		x.open('GET', document.getElementById('import-errors-link').href, false); x.send();
		return {type: x.getResponseHeader('Content-Type'), disposition: x.getResponseHeader('Content-Disposition'),
			nosniff: x.getResponseHeader('X-Content-Type-Options'), body: x.responseText}; })()`)
	if !strings.HasPrefix(errorsCSV["type"], "text/csv") || !strings.HasPrefix(errorsCSV["disposition"], "attachment") || errorsCSV["nosniff"] != "nosniff" {
		t.Errorf("the rows to fix are served as %q, %q, %q: want a text/csv attachment with nosniff", errorsCSV["type"], errorsCSV["disposition"], errorsCSV["nosniff"])
	}
	if !strings.Contains(errorsCSV["body"], strings.ReplaceAll(badName, `"`, `""`)) {
		t.Errorf("the rows to fix lack the rejected row's name as written: %q", errorsCSV["body"])
	}
	var anaID64, boID64 int64
	ctx := context.Background()
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1`, anaPhone).Scan(&anaID64); err != nil {
		t.Fatal(err)
	}
	if err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1`, boPhone).Scan(&boID64); err != nil {
		t.Fatal(err)
	}

	// The contacts list, then filtered by htmx as a name is typed.
	b.do("open Contacts", chromedp.Navigate(ta.URL+"/contacts"), chromedp.WaitVisible(chromedp.ID("contact-q")))
	b.inert("the contacts list",
		xssExpect{"#contact-results .contact-name", anaName}, xssExpect{"#contact-results .contact-name", boName},
		xssExpect{"#contact-group option", groupName})
	b.setMarker()
	n = b.requests()
	b.do("search for Bo", chromedp.Click(chromedp.ID("contact-q")), chromedp.SendKeys(chromedp.ID("contact-q"), "Bo"))
	b.htmxAfter("the filtered list", n)
	b.waitFor("only Bo listed", fmt.Sprintf(`!document.getElementById('contact-%d') && !!document.getElementById('contact-%d')`, anaID64, boID64))
	b.assertNoReload("filtering the list")
	b.inert("the contacts list filtered by htmx", xssExpect{"#contact-results .contact-name", boName})

	// The contact page, as the admin (an edit form) ...
	contactPage := fmt.Sprintf("%s/contacts/%d", ta.URL, anaID64)
	b.do("open Ana's page", chromedp.Navigate(contactPage), chromedp.WaitVisible(chromedp.ID("contact-name")))
	b.inert("the contact page (admin)",
		xssExpect{"h1", anaName}, xssExpect{"#contact-name", anaName}, xssExpect{"#contact-student-name", anaStudent},
		xssExpect{"#contact-class", anaClass}, xssExpect{"#contact-student-id", anaID}, xssExpect{"#groups a", groupName})

	// The groups, the group's page, and its "Remove ... from ...?" dialog,
	// which app.js fills from a data-confirm attribute.
	b.do("open Groups", chromedp.Navigate(ta.URL+"/groups"))
	b.inert("the groups list", xssExpect{"main td a", groupName})
	b.do("open the group", chromedp.Click(chromedp.CSS("main td a")))
	b.waitFor("the group's page", `/^\/groups\/\d+$/.test(location.pathname) && document.readyState === 'complete'`)
	b.inert("the group's page", xssExpect{"h1", groupName}, xssExpect{".contact-name", anaName}, xssExpect{".contact-name", boName})
	b.do("click Remove on Ana's row", chromedp.Click(chromedp.CSS(fmt.Sprintf("#contact-%d button[type=submit]", anaID64))))
	b.waitFor("the confirm dialog", `!!document.querySelector('dialog.confirm-dialog[open]')`)
	b.inert("the remove dialog", xssExpect{"dialog .confirm-text", "Remove " + anaName + " from " + groupName + "?"})
	b.do("cancel", chromedp.Click(chromedp.CSS(`dialog.confirm-dialog button[value=cancel]`)))
	if n := countRows(t, ta, `SELECT count(*) FROM group_members`); n != 2 {
		t.Errorf("%d group members after cancelling the removal, want 2", n)
	}

	// The wizard's audience: the group's checkbox, and contacts found by
	// the htmx search.
	b.do("start a broadcast", chromedp.Navigate(ta.URL+"/broadcasts/new"), chromedp.Click(xpathText("button", "Start a new broadcast")))
	b.waitFor("step 1", `document.querySelector('#wizard[data-step="1"]') !== null`)
	b.setMarker()
	n = b.requests()
	b.do("find Ana", chromedp.Click(chromedp.ID("bc-contact-q")), chromedp.SendKeys(chromedp.ID("bc-contact-q"), "Ana"))
	b.htmxAfter("the contact search", n)
	b.assertNoReload("searching contacts")
	b.inert("the broadcast wizard's audience", xssExpect{".bc-groups label, fieldset label", groupName},
		xssExpect{"#bc-contact-results label", anaName})

	// The inbox open while Ana writes: her conversation arrives over SSE.
	b.do("open the inbox", chromedp.Navigate(ta.URL+"/inbox"), chromedp.WaitVisible(chromedp.ID("conv-list")))
	b.waitLive()
	b.setMarker()
	inbound := func(body string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, browserWait)
		defer cancel()
		if _, status, err := ta.sim.Inbound(sctx, twiliosim.InboundMessage{From: anaPhone, To: "+14155550199", Body: body}); err != nil || status != http.StatusOK {
			t.Fatalf("simulated inbound: status %d, err %v", status, err)
		}
	}
	inbound("Is the trip on? " + xssCurly)
	b.waitFor("Ana's conversation in the list, live", `!!document.querySelector('#conv-list .conv-item')`)
	b.assertNoReload("the conversation arriving")
	b.inert("the inbox after a live swap", xssExpect{"#conv-list .conv-name", anaName}, xssExpect{"#conv-list .conv-preview", xssCurly})

	// Opened from the list (htmx swaps it into the pane), then a second
	// message swapped into the open thread over SSE.
	b.do("open Ana's conversation", chromedp.Click(chromedp.CSS("#conv-list .conv-item")))
	b.waitFor("the conversation in the pane", `/^\/conversations\/\d+$/.test(location.pathname) && !!document.querySelector('#conv-pane .conversation-header h1')`)
	b.assertNoReload("opening the conversation")
	b.inert("the conversation opened by htmx", xssExpect{".conversation-header h1", anaName})
	inbound("Thanks! " + xssCurly + " again")
	b.waitFor("the second message, live", `[...document.querySelectorAll('.thread .msg-in .msg-body')].some((e) => e.textContent.endsWith(' again'))`)
	b.assertNoReload("the second message arriving")
	b.inert("the conversation after a live swap", xssExpect{".conversation-header h1", anaName},
		xssExpect{".thread .msg-in .msg-body", "Thanks! " + xssCurly + " again"})

	// The contact page as staff, who read the details instead of editing them.
	pw := ta.addUser("staff-xss@school.example", "staff", "admissions")
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatalf("clear cookies: %v", err)
	}
	signInAs(b, ta, "staff-xss@school.example", pw)
	b.do("open Ana's page as staff", chromedp.Navigate(contactPage), chromedp.WaitVisible(chromedp.CSS(".contact-page")))
	b.inert("the contact page (staff)",
		xssExpect{"h1", anaName}, xssExpect{".kv dd", anaStudent}, xssExpect{".kv dd", anaClass},
		xssExpect{".kv dd", anaID}, xssExpect{"#groups a", groupName})
}

// retypeID replaces what the field with id holds by typing text.
func (b *browserTab) retypeID(id, text string) {
	b.t.Helper()
	b.do("clear #"+id, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ''`, id)))
	b.do("type into #"+id, chromedp.Click(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), text))
}

// TestXSSTemplateText: a template's wording, examples and button titles
// are text in the editor's live (htmx) preview, in its error messages, on
// the template's page and in a conversation's template picker (choice,
// preview and the sent message); a javascript: address for a link button
// or an attachment is refused and never becomes a link that runs.
func TestXSSTemplateText(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	b := xssBrowser(t, ta)

	// 1. Refused drafts: a javascript: link button, a "variable" that is a
	// payload, a javascript: attachment address.
	var (
		badVar    = xssSVG(31)
		linkBody  = "Open the form {{" + badVar + "}} here, thanks."
		linkTitle = "<svg onload=__xss=3>" // at most 25 characters
		jsLink    = xssJSURL(32)
		jsMedia   = xssJSURL(33)
	)
	b.do("open New template", chromedp.Navigate(ta.URL+"/templates/new"), chromedp.WaitVisible(chromedp.ID("tpl-body")))
	b.fill("Name", "xss_links")
	b.setValue("#tpl-kind", "twilio/call-to-action")
	b.fill("Message", linkBody)
	b.do("type the link button", chromedp.SendKeys(chromedp.CSS("input[name=link_title_1]"), linkTitle),
		chromedp.SendKeys(chromedp.CSS("input[name=link_url_1]"), jsLink))
	b.waitFor("the preview with the link button", xssShown("#tpl-preview .wa-button", linkTitle))
	b.inert("the editor's htmx preview of a javascript: link", xssExpect{"#tpl-preview .wa-body", linkBody},
		xssExpect{"#tpl-preview .wa-button", linkTitle})
	before := evalJS[string](b, `location.href`)
	b.do("click the preview's link button", chromedp.Click(chromedp.CSS("#tpl-preview .wa-button")))
	b.inert("after clicking the link button")
	if after := evalJS[string](b, `location.href`); after != before {
		t.Errorf("clicking the preview's link button went to %s", after)
	}
	b.do("click Create template", chromedp.Click(xpathText("button", "Create template")))
	b.waitFor("the refusal", `!!document.querySelector('.tpl-kind-cta .field-error') && !!document.getElementById('tpl-body-error')`)
	b.inert("the refused link template",
		xssExpect{"#tpl-body-error", "{{" + badVar + "}}"}, xssExpect{"#tpl-body", linkBody},
		xssExpect{"input[name=link_title_1]", linkTitle}, xssExpect{"input[name=link_url_1]", jsLink},
		xssExpect{"#tpl-preview .wa-body", linkBody})
	if got := evalJS[string](b, `document.querySelector('.tpl-kind-cta .field-error').textContent`); !strings.Contains(got, "https") {
		t.Errorf("the link button's error reads %q, want it to ask for an https address", got)
	}
	b.setValue("#tpl-kind", "twilio/media")
	b.retypeID("tpl-body", "The trip form is attached, thanks.")
	b.fill("Image or PDF address", jsMedia)
	b.waitFor("the preview with the attachment address", xssShown("#tpl-preview .wa-media", jsMedia))
	b.do("click the preview's attachment", chromedp.Click(chromedp.CSS("#tpl-preview .wa-media")))
	b.inert("the editor's preview of a javascript: attachment", xssExpect{"#tpl-preview .wa-media", jsMedia})
	b.do("click Create template", chromedp.Click(xpathText("button", "Create template")))
	b.waitFor("the refusal", `!!document.getElementById('tpl-media-error')`)
	b.inert("the refused attachment template", xssExpect{"#tpl-media", jsMedia})
	if n := countRows(t, ta, `SELECT count(*) FROM templates WHERE logical_name = 'xss_links'`); n != 0 {
		t.Fatalf("%d templates stored from refused drafts", n)
	}

	// 2. A template whose wording, example and buttons are payloads.
	var (
		body    = "Dear {{1}}, " + xssImg(21) + " " + xssScript(22) + " " + xssSVG(23) + " see you at school."
		sample  = xssImg(24) + " " + xssCurly
		button1 = "<svg onload=__xss=5>" // at most 20 characters
		button2 = "<i>No</i> thanks"     // {{7*7}} here is refused by validation (no variables in buttons)
		filled  = func(v string) string { return strings.Replace(body, "{{1}}", v, 1) }
	)
	b.do("open New template", chromedp.Navigate(ta.URL+"/templates/new"), chromedp.WaitVisible(chromedp.ID("tpl-body")))
	b.fill("Name", "xss_notice")
	b.setValue("#tpl-kind", "twilio/quick-reply")
	b.fill("Message", body)
	b.fill("Example for {{1}}", sample) // the field arrives by an htmx swap
	b.setValue("#field-1", "full_name")
	b.fill("Quick-reply buttons", button1+"\n"+button2)
	b.waitFor("the preview with the example", xssShown("#tpl-preview .wa-body", filled(sample)))
	b.inert("the editor's htmx preview", xssExpect{"#tpl-preview .wa-body", filled(sample)},
		xssExpect{"#tpl-preview .wa-button", button1}, xssExpect{"#tpl-preview .wa-button", button2},
		xssExpect{"#sample-1", sample})
	b.do("click Create template", chromedp.Click(xpathText("button", "Create template")))
	b.waitFor("the template page", `/^\/templates\/\d+$/.test(location.pathname) && document.getElementById('tpl-status') !== null`)
	tplID := strings.TrimPrefix(b.path(), "/templates/")
	onPage := []xssExpect{{"#tpl-preview .wa-body", filled(sample)}, {"#tpl-preview .wa-button", button1},
		{"#tpl-preview .wa-button", button2}, {"label[for=map-1]", sample}}
	b.inert("the template's page", onPage...)
	b.setMarker()
	b.do("click Submit for WhatsApp approval", chromedp.Click(xpathText("button", "Submit for WhatsApp approval")))
	b.waitFor("the template approved", `(document.getElementById('tpl-status') || {}).textContent === 'Approved'`)
	b.inert("the template's page once approved", onPage...)

	b.do("search the templates", chromedp.Navigate(ta.URL+"/templates?q="+url.QueryEscape(xssImg(25))), chromedp.WaitVisible(chromedp.ID("tpl-search")))
	b.inert("the templates list searched for a payload", xssExpect{"#tpl-search", xssImg(25)})
	b.do("open the templates list", chromedp.Navigate(ta.URL+"/templates"), chromedp.WaitVisible(chromedp.CSS(".templates-table")))
	b.inert("the templates list", xssExpect{".templates-table a", "xss_notice"})

	// 3. The picker in a conversation whose window has closed, with the
	// variable filled from the contact's WhatsApp name (a payload too).
	profile := xssSVG(26) + " Grace"
	sctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	if _, status, err := ta.sim.Inbound(sctx, twiliosim.InboundMessage{From: "whatsapp:+15550043101", To: "whatsapp:+14155550100",
		Body: "Hello", ProfileName: profile}); err != nil || status != http.StatusOK {
		t.Fatalf("simulated inbound: status %d, err %v", status, err)
	}
	var conv int64
	if err := ta.db.Pool.QueryRow(sctx, `UPDATE conversations SET last_inbound_at = now() - interval '30 hours' RETURNING id`).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.waitFor("the template panel open", `document.getElementById('reply-body').disabled && document.querySelector('#tpl-send details').open`)
	b.setMarker()
	n := b.requests()
	b.setValue("#tpl-send-template", tplID)
	b.htmxAfter("the chosen template's fields", n)
	b.waitFor("the variable prefilled with the contact's name", fmt.Sprintf(`(document.getElementById('tpl-var-1') || {}).value === %q`, profile))
	b.inert("the picker after htmx swapped the template in", xssExpect{"#tpl-send .wa-body", filled(profile)},
		xssExpect{"#tpl-send .wa-button", button1}, xssExpect{"#tpl-send .wa-button", button2},
		xssExpect{"#tpl-send-template option", "xss_notice"}, xssExpect{".conversation-header h1", profile})
	typed := xssScript(27) + " " + xssCurly
	b.retypeID("tpl-var-1", typed)
	b.waitFor("the preview with what was typed", xssShown("#tpl-send .wa-body", filled(typed)))
	b.inert("the picker's htmx preview", xssExpect{"#tpl-send .wa-body", filled(typed)})
	b.do("click Send template", chromedp.Click(xpathText("button", "Send template")))
	b.waitFor("the template message in the thread", xssShown(".thread .msg-out", filled(typed)))
	b.assertNoReload("choosing, filling and sending the template")
	b.inert("the thread with the template sent", xssExpect{".thread .msg-out", filled(typed)})
}

// TestXSSBroadcastText: a broadcast's name and SMS text, and the names of
// its group and recipients, are text in the wizard (including its htmx
// error answer), on the broadcast's page and in the list while live (SSE)
// progress swaps in, in the delivery report, the recipients, the
// dashboard, the contact's page (whose broadcasts load by htmx) and the
// recipient's conversation.
func TestXSSBroadcastText(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	var (
		anaName   = xssImg(51) + " Ana"
		boName    = "Bo " + xssSVG(52)
		groupName = xssScript(53) + " Year 7"
		smsBody   = "Closed tomorrow, {{full_name}}. " + xssScript(55) + " " + xssSVG(56) + " " + xssCurly + " {{" + xssImg(54) + "}}"
		bcName    = xssScript(57) + " Snow day " + xssCurly + " " + xssImg(58)
		sent      = func(name string) string { return strings.Replace(smsBody, "{{full_name}}", name, 1) }
	)
	const anaPhone = "+15550108120"
	ana := seedContact(t, ta, anaPhone, anaName, "", "guardian", false, "")
	bo := seedContact(t, ta, "+15550108121", boName, "", "guardian", false, "")
	bcGroup(t, ta, groupName, ana, bo)

	b := xssBrowser(t, ta)
	b.do("start a broadcast", chromedp.Navigate(ta.URL+"/broadcasts/new"), chromedp.Click(xpathText("button", "Start a new broadcast")))
	b.waitFor("step 1", `document.querySelector('#wizard[data-step="1"]') !== null`)
	b.setMarker()
	b.retype("Name", bcName)
	b.do("choose the group", chromedp.Click(`//label[contains(normalize-space(), "Year 7")]`))
	b.waitFor("the audience count", `(document.querySelector('#bc-audience-count .bc-count-people') || {}).textContent === '2 people'`)
	b.inert("the wizard's audience", xssExpect{"#wizard label", groupName})
	b.do("continue to step 2", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 2", `document.querySelector('#wizard[data-step="2"]') !== null`)
	b.inert("the wizard's content step", xssExpect{"#wizard h1", bcName})
	if got := evalJS[string](b, `(document.querySelector('input[name=mode]:checked') || {}).value || ''`); got != "sms" {
		b.do("choose SMS only", chromedp.Click(`//label[contains(normalize-space(), "SMS only")]`))
	}

	// Only {{lowercase_words}} are merge fields: the rest stays as typed.
	b.fill("SMS text", smsBody)
	b.do("continue to step 3", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 3", `document.querySelector('#wizard[data-step="3"]') !== null`)
	b.do("continue to step 4", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 4, the review", `document.querySelector('#wizard[data-step="4"]') !== null && !!document.getElementById('bc-will-send')`)
	b.assertNoReload("the wizard's steps, swapped in by htmx")
	b.inert("the wizard's review", xssExpect{"#wizard h1", bcName},
		xssExpect{".bc-sample-who", anaName}, xssExpect{".bc-sample-who", boName},
		xssExpect{".bc-sample .sms-bubble", sent(anaName)}, xssExpect{".bc-sample .sms-bubble", sent(boName)})

	// The list, in a second tab, while the broadcast goes.
	list := b.newTab()
	list.bypassCSP()
	list.do("open the list", chromedp.Navigate(ta.URL+"/broadcasts"))
	list.waitFor("the row", xssShown(".bc-row .bc-name", bcName))
	list.setMarker()
	list.waitLive()

	b.do("continue to step 5", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 5", `document.querySelector('#wizard[data-step="5"]') !== null`)
	b.inert("the wizard's last step", xssExpect{"#wizard h1", bcName})
	b.do("send", chromedp.Click(xpathText("button", "Send broadcast")))
	b.waitFor("the broadcast's page", `/^\/broadcasts\/\d+$/.test(location.pathname) && document.readyState === 'complete' && !!document.querySelector('.bc-live [role=progressbar]')`)
	id := strings.TrimPrefix(b.path(), "/broadcasts/")
	b.setMarker()
	b.waitLive()
	b.waitFor("the status Completed, live", `document.querySelector('#bc-live-`+id+` .bc-status').getAttribute('data-status') === 'completed'`)
	b.assertNoReload("while the broadcast ran")
	b.inert("the broadcast's page after live updates", xssExpect{"h1", bcName}, xssExpect{".bc-sms-text", smsBody})
	label := evalJS[string](b, `document.querySelector('#bc-live-`+id+` [role=progressbar]').getAttribute('aria-label')`)
	if label != "Progress of "+bcName {
		t.Errorf("the live progress bar is labelled %q, want the name as text", label)
	}

	list.waitFor("the list row completed, live", `(document.querySelector('#bc-row-live-`+id+` .bc-status') || {getAttribute: () => ''}).getAttribute('data-status') === 'completed'`)
	list.assertNoReload("while the broadcast ran")
	list.inert("the list after live updates", xssExpect{".bc-row .bc-name", bcName})

	b.do("open the delivery report", chromedp.Navigate(ta.URL+"/broadcasts/"+id+"/report"))
	b.inert("the delivery report", xssExpect{"main", bcName})
	b.do("open the recipients", chromedp.Navigate(ta.URL+"/broadcasts/"+id+"/recipients"))
	b.inert("the recipients", xssExpect{"main", bcName}, xssExpect{"main td, main th", anaName}, xssExpect{"main td, main th", boName})
	b.do("open the dashboard", chromedp.Navigate(ta.URL+"/dashboard"))
	b.inert("the dashboard", xssExpect{"main a", bcName})

	// The contact's page loads the broadcasts they got with htmx.
	b.do("open Ana's page", chromedp.Navigate(fmt.Sprintf("%s/contacts/%d", ta.URL, ana)))
	b.waitFor("the broadcasts received, loaded by htmx", xssShown("#contact-broadcasts", bcName))
	b.inert("the contact's broadcasts", xssExpect{"#contact-broadcasts", bcName}, xssExpect{"h1", anaName})

	var conv int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM conversations WHERE contact_id = $1`, ana).Scan(&conv); err != nil {
		t.Fatalf("Ana's conversation: %v", err)
	}
	b.do("open Ana's conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.inert("the recipient's conversation", xssExpect{".thread .msg-broadcast a", bcName},
		xssExpect{".thread .msg-out .msg-body", sent(anaName)}, xssExpect{".conversation-header h1", anaName})
}
