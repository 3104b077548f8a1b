package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserTemplateApprovedAndSentOutsideWindow: an admin writes a
// template, sees it previewed as typed, submits it and watches WhatsApp
// approve it without reloading; then, in a conversation whose 24-hour
// window has closed, sends it to the parent with the variable filled in.
func TestBrowserTemplateApprovedAndSentOutsideWindow(t *testing.T) {
	// Each approval step takes a second, so the page visibly waits for it.
	ta := startTestApp(t, testOptions{StepDelay: time.Second})
	conv := parentWrites(t, ta, "whatsapp:+15550043001", "whatsapp:+14155550100", "Hello")
	for _, q := range []string{`UPDATE conversations SET last_inbound_at = now() - interval '30 hours' WHERE id = $1`,
		`UPDATE contacts SET name = 'Grace Hopper' FROM conversations c WHERE c.id = $1 AND contacts.id = c.contact_id`} {
		if _, err := ta.db.Pool.Exec(context.Background(), q, conv); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t)
	signIn(b, ta)
	b.do("open New template", chromedp.Navigate(ta.URL+"/templates/new"))
	b.fill("Name", "snow_day")
	b.fill("Message", "Dear {{1}}, the school is closed tomorrow because of snow. Stay safe.")
	b.fill("Example for {{1}}", "Ana")
	b.waitFor("the preview with the example filled in", `document.querySelector('#tpl-preview .wa-body') && document.querySelector('#tpl-preview .wa-body').textContent === 'Dear Ana, the school is closed tomorrow because of snow. Stay safe.'`)
	b.chooseByKeyboard("Filled from", kb.ArrowDown) // First name
	b.do("click Create template", chromedp.Click(xpathText("button", "Create template")))
	b.waitFor("the template page", `/^\/templates\/\d+$/.test(location.pathname) && document.getElementById('tpl-status') !== null`)
	if got := evalJS[string](b, `document.getElementById('tpl-status').textContent`); got != "Draft: not submitted" {
		t.Fatalf("new template status reads %q", got)
	}
	b.do("click Submit for WhatsApp approval", chromedp.Click(xpathText("button", "Submit for WhatsApp approval")))
	b.waitFor("the template under review", `['Received by WhatsApp', 'In review'].includes((document.getElementById('tpl-status') || {}).textContent)`)
	b.setMarker()
	b.waitFor("the template approved", `(document.getElementById('tpl-status') || {}).textContent === 'Approved'`)
	b.assertNoReload("the approval arriving")

	b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.waitFor("the reply box disabled and the template panel open", `document.getElementById('reply-body').disabled && document.querySelector('#tpl-send details').open`)
	b.chooseByKeyboard("Template", "snow") // type-ahead, as a keyboard user picks by name
	b.waitFor("the variable prefilled with the parent's first name", `document.getElementById('tpl-var-1') && document.getElementById('tpl-var-1').value === 'Grace'`)
	b.waitFor("the preview for Grace", `document.querySelector('#tpl-send .wa-body').textContent.startsWith('Dear Grace, the school is closed')`)
	b.waitLive()
	b.setMarker()
	b.do("click Send template", chromedp.Click(xpathText("button", "Send template")))
	b.waitFor("the template message in the thread", `[...document.querySelectorAll('.msg-out')].some(m => m.textContent.includes('Template · snow_day') && m.textContent.includes('Dear Grace, the school is closed tomorrow'))`)
	b.waitFor("the panel saying it was sent", `document.querySelector('#tpl-send .alert-success') !== null`)
	b.assertNoReload("sending the template")
	eventually(t, "the template delivered at the simulator", func() bool {
		for _, m := range ta.sim.Messages() {
			if m.To == "whatsapp:+15550043001" && m.ContentSID != "" {
				return strings.Contains(m.ContentVariables, "Grace")
			}
		}
		return false
	})
}
