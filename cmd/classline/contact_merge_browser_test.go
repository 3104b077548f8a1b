package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserContactSecondNumberAndMerge: on a contact's page a second
// number is added (it is another contact's main number, which the page
// points out); the duplicates page lists the two; Merge opens the preview
// and confirming lands on the kept contact with both numbers and every
// message.
func TestBrowserContactSecondNumberAndMerge(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	const mariaPhone, marioPhone, sender = "+15550701001", "+15550701002", "+14155550179"
	maria := seedContact(t, ta, mariaPhone, "Maria Quintero", "", "guardian", true, "")
	mario := seedContact(t, ta, marioPhone, "M Quintero", "", "guardian", true, "")
	inboundConversation(t, ta, "whatsapp:"+mariaPhone, "whatsapp:"+sender, "Maria")
	marioConv := inboundConversation(t, ta, "whatsapp:"+marioPhone, "whatsapp:"+sender, "Mario")
	messages := countRows(t, ta, `SELECT count(*) FROM messages`)

	b := newBrowser(t)
	signIn(b, ta)
	b.do("open Maria's page", chromedp.Navigate(fmt.Sprintf("%s/contacts/%d", ta.URL, maria)))
	b.waitFor("the contact page", `document.readyState === 'complete' && !!document.getElementById('numbers')`)

	// A typo first: the error is by the field and the text stays.
	b.fill("New number", "555 070")
	b.do("click Add number", chromedp.Click(xpathText("button", "Add number")))
	b.waitFor("the error by the number field", `!!document.getElementById('contact-new-phone-error') &&
		document.getElementById('contact-new-phone').value === '555 070'`)
	if got := evalJS[string](b, `document.getElementById('contact-new-phone').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("the number field is not marked invalid: %q", got)
	}
	b.do("clear the number", chromedp.Clear(chromedp.ID("contact-new-phone")))
	b.fill("New number", "(555) 070-1002")
	label := b.byLabel("Label")
	b.do("choose Work with the keyboard", chromedp.Focus(label), chromedp.SendKeys(label, "Work"))
	if got := evalJS[string](b, `document.getElementById('contact-new-phone-label').value`); got != "work" {
		t.Fatalf("label select reads %q after typing Work", got)
	}
	b.do("click Add number", chromedp.Click(xpathText("button", "Add number")))
	b.waitFor("the second number on the page", fmt.Sprintf(`location.search.includes('done=phone') &&
		!!document.querySelector('#numbers [data-phone=%q]')`, marioPhone))
	shared := evalJS[string](b, fmt.Sprintf(`document.querySelector('#numbers [data-phone=%q]').textContent.replace(/\s+/g, ' ')`, marioPhone))
	for _, want := range []string{"Work", "WhatsApp", "Also the main number of", "M Quintero"} {
		if !strings.Contains(shared, want) {
			t.Errorf("the second number's line lacks %q: %q", want, shared)
		}
	}
	if first := evalJS[string](b, `document.querySelector('#numbers li').dataset.phone`); first != mariaPhone {
		t.Errorf("the first number listed is %s, want the main number %s", first, mariaPhone)
	}

	// The duplicates page, from the contacts list.
	b.do("open the contacts list", chromedp.Navigate(ta.URL+"/contacts"))
	b.do("click Possible duplicates", chromedp.Click(xpathText("a", "Possible duplicates")))
	b.waitFor("the duplicates page", `location.pathname === '/contacts/duplicates' && document.querySelectorAll('tr.duplicate-member').length === 2`)
	rows := evalJS[[]string](b, `[...document.querySelectorAll('tr.duplicate-member')].map((r) => r.dataset.contact)`)
	if want := []string{strconv.FormatInt(mario, 10), strconv.FormatInt(maria, 10)}; fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("duplicates rows %v, want %v (the main-number holder first)", rows, want)
	}
	// Mario has the number as his main number, so he is the one kept.
	b.do("click Merge", chromedp.Click(xpathText("a", "Merge")))
	b.waitFor("the merge preview", fmt.Sprintf(`location.pathname === '/contacts/%d/merge' && !!document.getElementById('merge-preview')`, mario))
	preview := evalJS[string](b, `document.getElementById('merge-preview').textContent.replace(/\s+/g, ' ')`)
	for _, want := range []string{"becomes a secondary number", "1 message (notes included) moves", "moves"} {
		if !strings.Contains(preview, want) {
			t.Errorf("preview lacks %q: %s", want, preview)
		}
	}
	if n := countRows(t, ta, `SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL`); n != 0 {
		t.Fatal("the preview merged already")
	}
	b.do("click Confirm merge", chromedp.Click(xpathText("button", "Confirm merge")))
	b.waitFor("the kept contact's page", fmt.Sprintf(`location.pathname === '/contacts/%d' && location.search.includes('done=merged') &&
		document.readyState === 'complete'`, mario))
	if got := evalJS[string](b, `(document.querySelector('main .alert-success') || {textContent: ''}).textContent.trim()`); got != "Contacts merged." {
		t.Errorf("notice reads %q", got)
	}
	numbers := evalJS[[]string](b, `[...document.querySelectorAll('#numbers li[data-phone]')].map((li) => li.dataset.phone)`)
	if fmt.Sprint(numbers) != fmt.Sprint([]string{marioPhone, mariaPhone}) {
		t.Errorf("numbers after the merge %v, want [%s %s]", numbers, marioPhone, mariaPhone)
	}

	ctx := context.Background()
	var into int64
	if err := ta.db.Pool.QueryRow(ctx, `SELECT merged_into FROM contacts WHERE id = $1`, maria).Scan(&into); err != nil || into != mario {
		t.Fatalf("Maria merged into %d (%v), want %d", into, err, mario)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, mario); n != messages {
		t.Fatalf("the kept contact has %d of %d messages", n, messages)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM conversations WHERE contact_id = $1 AND phone = $2`, mario, mariaPhone); n != 1 {
		t.Fatal("Maria's conversation did not move with her number")
	}
	if c, _ := contactOf(t, ta, marioConv); c != mario {
		t.Fatal("Mario's own conversation moved")
	}
}
