package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// senderHooks records the sender status the page showed when it was first
// parsed, so the test knows the code form was not already there at load.
const senderHooks = `document.addEventListener('DOMContentLoaded', () => {
  const live = document.getElementById('sender-live');
  window.__senderStatusAtLoad = live ? live.getAttribute('data-status') : '';
  window.__codeFormAtLoad = !!document.getElementById('sender-code');
});`

var senderPagePath = regexp.MustCompile(`^/senders/(\d+)$`)

// TestBrowserRegisterSenderAndVerify: an admin registers a WhatsApp sender
// verified by SMS through the form; on the sender's page the code form
// appears by itself (htmx polling, no reload), the admin types the code and
// sees the sender come Online, again without reloading.
func TestBrowserRegisterSenderAndVerify(t *testing.T) {
	// Each registration step takes 3 s at the simulator, so the sender's
	// page (loaded right after the form is sent) first shows CREATING and
	// every later state can only arrive through the page's own polling.
	ta := startTestApp(t, testOptions{StepDelay: 3 * time.Second})
	b := newBrowser(t)
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: senderHooks}); err != nil {
		t.Fatal(err)
	}
	signIn(b, ta)
	b.do("open the senders page", chromedp.Navigate(ta.URL+"/senders"))
	b.do("click Register a WhatsApp sender", chromedp.Click(xpathText("a", "Register a WhatsApp sender")))
	b.waitFor("the registration form", `location.pathname === '/senders/new' && document.readyState === 'complete'`)
	b.fill("Phone number", "+1 555 007 8000")
	b.fill("Display name", "Hillside School")
	// Centre the choice first: at the window's top edge it would sit under the sticky top bar.
	b.do("scroll to the verification choice", chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name="verification"]').scrollIntoView({block: 'center'})`))
	b.do("choose verification by SMS", chromedp.Click(xpathText("label", "SMS to the number")))
	if !evalJS[bool](b, `document.querySelector('input[name="verification"][value="sms"]').checked`) {
		t.Fatal("SMS verification is not chosen")
	}
	b.do("send the form", chromedp.Click(xpathText("button", "Register with WhatsApp")))
	b.waitFor("the sender's page", `/^\/senders\/\d+$/.test(location.pathname) && document.readyState === 'complete' && !!document.getElementById('sender-live')`)
	m := senderPagePath.FindStringSubmatch(b.path())
	if m == nil {
		t.Fatalf("landed on %s", b.path())
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if at := evalJS[string](b, `window.__senderStatusAtLoad`); at != "CREATING" || evalJS[bool](b, `window.__codeFormAtLoad`) {
		t.Fatalf("the page loaded in status %q (code form: %v), want CREATING without a code form", at, evalJS[bool](b, `window.__codeFormAtLoad`))
	}
	b.setMarker()

	b.waitFor("the code form to appear", `!!document.getElementById('sender-code')`)
	b.assertNoReload("the code form appearing")
	if evalJS[int](b, `window.__requests`) == 0 {
		t.Fatal("the code form appeared without an htmx request")
	}
	attrs := evalJS[string](b, `(() => { const i = document.getElementById('sender-code'); return i.getAttribute('inputmode') + ' ' + i.getAttribute('autocomplete'); })()`)
	if attrs != "numeric one-time-code" {
		t.Fatalf("code input attributes: %q", attrs)
	}
	if got := senderStatusInDB(t, ta, id); got != "PENDING_VERIFICATION" {
		t.Fatalf("status in the database while the code form shows: %s", got)
	}

	b.fill("Verification code", "123456")
	b.do("click Verify", chromedp.Click(xpathText("button", "Verify")))
	b.waitFor("Online", `(() => { const p = document.querySelector('#sender-live .sender-health .pill'); return p && p.textContent.trim() === 'Online'; })()`)
	b.assertNoReload("verifying the code")
	if got := senderStatusInDB(t, ta, id); got != "ONLINE" {
		t.Fatalf("status in the database: %s, want ONLINE", got)
	}
	// Polling stopped with the last state: the area no longer asks.
	if evalJS[bool](b, `document.getElementById('sender-live').hasAttribute('hx-trigger')`) {
		t.Fatal("the status area still polls once online")
	}
	if n := countRows(t, ta, fmt.Sprintf(`SELECT count(*) FROM senders WHERE id = %d AND display_name = 'Hillside School' AND address = '+15550078000'`, id)); n != 1 {
		t.Fatal("the sender row does not hold what was typed")
	}
}
