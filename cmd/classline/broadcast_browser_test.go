package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var broadcastPath = regexp.MustCompile(`^/broadcasts/(\d+)$`)

// TestBrowserBroadcastWizard: a person runs the wizard end to end (chooses
// a group, writes the SMS text, reads the review's counts, sends now) and
// watches the progress bar reach 100% without reloading, on the broadcast's
// page and, in a second tab, in the list of broadcasts.
func TestBrowserBroadcastWizard(t *testing.T) {
	start := time.Now()
	lap := func(what string) { t.Logf("%-36s %6s", what, time.Since(start).Round(time.Millisecond)) }
	ta := startTestApp(t, testOptions{})
	bcQuietOff(t, ta)
	// Five SMS-only families: at the long code's 1 message a second the
	// broadcast runs for a few seconds, long enough to watch.
	var ids []int64
	for i := range 5 {
		ids = append(ids, seedContact(t, ta, fmt.Sprintf("+1555013%04d", 120+i), fmt.Sprintf("Parent %c Example", 'A'+i), "", "guardian", false, ""))
	}
	bcGroup(t, ta, "Year 7 parents", ids...)
	b := newBrowser(t)
	signIn(b, ta)
	lap("signed in")

	b.do("open Broadcasts", chromedp.Click(xpathText("a", "Broadcasts")))
	b.waitFor("the empty list", `location.pathname === '/broadcasts' && document.readyState === 'complete' && document.body.textContent.includes('No broadcasts yet')`)
	b.do("click New broadcast", chromedp.Click(xpathText("button", "New broadcast")))
	b.waitFor("step 1", `/^\/broadcasts\/\d+\/edit$/.test(location.pathname) && document.querySelector('#wizard[data-step="1"]') !== null`)

	// 1. Audience: a name and a group; the count follows the choice.
	b.retype("Name", "Snow day")
	b.do("choose the group", chromedp.Click(`//label[contains(normalize-space(), "Year 7 parents")]`))
	b.waitFor("the audience count", `(document.querySelector('#bc-audience-count .bc-count-people') || {}).textContent === '5 people'`)
	b.do("continue to step 2", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 2", `document.querySelector('#wizard[data-step="2"]') !== null && location.search === '?step=2'`)

	// 2. Content: SMS only (no WhatsApp template is approved), the text with
	// a merge field, and the live counter.
	if got := evalJS[string](b, `(document.querySelector('input[name=mode]:checked') || {}).value || ''`); got != "sms" {
		b.do("choose SMS only", chromedp.Click(`//label[contains(normalize-space(), "SMS only")]`))
	}
	const text = "Snow day: school is closed tomorrow, {{first_name}}. Stay warm!"
	b.fill("SMS text", text)
	b.waitFor("the segment counter", fmt.Sprintf(`(document.getElementById('bc-sms-count') || {}).textContent.includes(%q)`, strconv.Itoa(len(text))+" characters"))
	b.do("continue to step 3", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 3", `document.querySelector('#wizard[data-step="3"]') !== null`)

	// 3. Sender: the defaults (the department's main numbers).
	b.do("continue to step 4", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 4, the review", `document.querySelector('#wizard[data-step="4"]') !== null && !!document.getElementById('bc-will-send')`)
	review := evalJS[map[string]string](b, `({send: document.getElementById('bc-will-send').textContent, sms: document.getElementById('bc-will-sms').textContent,
		wa: document.getElementById('bc-will-whatsapp').textContent, segments: document.getElementById('bc-segments').textContent,
		sample: (document.querySelector('.bc-sample .sms-bubble') || {}).textContent || ''})`)
	if review["send"] != "5" || review["sms"] != "5" || review["wa"] != "0" || review["segments"] != "5" {
		t.Fatalf("the review counts %v, want 5 by SMS in 5 segments", review)
	}
	if review["sample"] != "Snow day: school is closed tomorrow, Parent. Stay warm!" {
		t.Errorf("the sample reads %q", review["sample"])
	}
	lap("reviewed")

	// A second tab shows the list while the broadcast goes.
	list := b.newTab()
	list.do("open the list", chromedp.Navigate(ta.URL+"/broadcasts"))
	list.waitFor("the row", `!!document.querySelector('.bc-row .bc-name') && document.querySelector('.bc-row .bc-name').textContent === 'Snow day'`)
	list.setMarker()
	list.waitLive()

	// 5. Send now.
	b.do("continue to step 5", chromedp.Click(xpathText("button", "Continue")))
	b.waitFor("step 5", `document.querySelector('#wizard[data-step="5"]') !== null && document.getElementById('bc-when-now').checked`)
	b.do("send", chromedp.Click(xpathText("button", "Send broadcast")))
	b.waitFor("the broadcast's page", `/^\/broadcasts\/\d+$/.test(location.pathname) && document.readyState === 'complete' && !!document.querySelector('.bc-live [role=progressbar]')`)
	lap("sent; page shown")
	m := broadcastPath.FindStringSubmatch(b.path())
	if m == nil {
		t.Fatalf("not on a broadcast page: %s", b.describe())
	}
	id := m[1]
	b.setMarker()
	first := evalJS[string](b, `document.querySelector('.bc-live [role=progressbar]').getAttribute('aria-valuenow')`)
	b.waitLive()
	t.Logf("the page first showed %s%%; its live stream opened %dms after navigation began", first, evalJS[int](b, `window.__sseOpenAt`))

	b.waitFor("the bar at 100%", `document.querySelector('#bc-live-`+id+` [role=progressbar]').getAttribute('aria-valuenow') === '100'`)
	lap("page bar at 100%")
	b.waitFor("the status Completed", `document.querySelector('#bc-live-`+id+` .bc-status').getAttribute('data-status') === 'completed'`)
	b.waitFor("five delivered", `[...document.querySelectorAll('#bc-live-`+id+` tr[data-status]')].some((r) => r.dataset.status === 'delivered' && r.querySelector('.bc-count-total').textContent === '5')`)
	lap("completed, delivered shown")
	b.assertNoReload("while the broadcast ran")
	if got := evalJS[string](b, `document.querySelector('#bc-live-`+id+` .bc-progress-text').textContent.replace(/\s+/g, ' ').trim()`); got != "100% done: 5 of 5 recipients." {
		t.Errorf("progress text reads %q", got)
	}

	list.waitFor("the list row at 100%", `(document.querySelector('#bc-row-live-`+id+` [role=progressbar]') || {getAttribute: () => ''}).getAttribute('aria-valuenow') === '100'`)
	list.waitFor("the list row completed", `document.querySelector('#bc-row-live-`+id+` .bc-status').getAttribute('data-status') === 'completed'`)
	list.assertNoReload("while the broadcast ran")
	if n := evalJS[int](list, `document.querySelectorAll('[id="bc-row-live-`+id+`"]').length`); n != 1 {
		t.Errorf("%d copies of the row's live cell after the updates", n)
	}
	lap("list row at 100%")
}
