package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserContactsSearchAndConsent: typing in the search box narrows the
// list without a reload; the contact opens, consent is recorded and shows
// in the history.
func TestBrowserContactsSearchAndConsent(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	for i := range 12 {
		seedContact(t, ta, fmt.Sprintf("+1555012%04d", i), fmt.Sprintf("Family %02d", i), "", "guardian", true, "")
	}
	maria := seedContact(t, ta, "+15550127777", "Maria Quintero", "", "guardian", true, "")
	b := newBrowser(t)
	signIn(b, ta)

	b.do("open /contacts", chromedp.Navigate(ta.URL+"/contacts"))
	b.waitFor("the contacts list", `document.querySelectorAll('#contact-rows tr.contact-row').length === 13`)
	b.setMarker()
	b.fill("Search contacts", "quint")
	b.waitFor("the list narrowed to Maria", `document.querySelectorAll('#contact-rows tr.contact-row').length === 1 &&
		document.querySelector('#contact-rows .contact-name').textContent.trim() === 'Maria Quintero'`)
	b.assertNoReload("after searching")
	if got := evalJS[string](b, `location.search`); !strings.Contains(got, "q=quint") {
		t.Errorf("the address does not keep the search: %q", got)
	}
	if got := evalJS[string](b, `document.getElementById('contact-count').textContent.trim()`); !strings.HasPrefix(got, "1 contact matches") {
		t.Errorf("count reads %q", got)
	}

	b.do("open Maria", chromedp.Click(xpathText("a", "Maria Quintero")))
	b.waitFor("Maria's page", fmt.Sprintf(`location.pathname === '/contacts/%d' && document.readyState === 'complete'`, maria))
	b.fill("Reason", "Asked in person at pickup")
	b.do("record consent", chromedp.Click(xpathText("button", "Record consent")))
	b.waitFor("the consent in the history", `!!document.querySelector('.consent-history') &&
		document.querySelector('.consent-history tbody tr').textContent.includes('Asked in person at pickup') &&
		document.querySelector('.consent-history tbody tr').textContent.includes('Recorded by staff')`)
	if got := evalJS[string](b, `document.querySelector('main .alert-success') ? document.querySelector('main .alert-success').textContent.trim() : ''`); got != "Consent recorded." {
		t.Errorf("notice reads %q", got)
	}
}
