package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserStaffSeeOnlyTheirDepartments: a member of Admissions sees
// Admissions' conversations and senders only, in the inbox, in the sender
// picker and by typing another department's address; admin pages are not
// in their bar. The admin, in the same app, sees everything through the
// Admin menu, which the keyboard opens and Escape closes.
func TestBrowserStaffSeeOnlyTheirDepartments(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	const email = "adm.only@school.example"
	pw := ta.addUser(email, "staff", "admissions")
	admissionsConv := parentWrites(t, ta, "whatsapp:+15550031001", "whatsapp:+14155550100", "About enrolment")
	financeConv := parentWrites(t, ta, "whatsapp:+15550031002", "whatsapp:+14155550102", "About the fees")

	b := newBrowser(t)
	signInAs(b, ta, email, pw)
	b.waitFor("the Admissions conversation in the list", fmt.Sprintf(`!!document.getElementById('conv-item-%d')`, admissionsConv))
	list := evalJS[string](b, `document.getElementById('conv-list').textContent`)
	if !strings.Contains(list, "About enrolment") || strings.Contains(list, "About the fees") {
		t.Fatalf("staff inbox list shows: %q", list)
	}
	if evalJS[bool](b, `!!document.querySelector('[data-menu-toggle]')`) {
		t.Fatal("staff see the Admin menu")
	}
	navText := evalJS[string](b, `document.querySelector('nav.nav').textContent`)
	for _, admin := range []string{"Senders", "People", "Departments", "Settings"} {
		if strings.Contains(navText, admin) {
			t.Fatalf("staff nav offers %q: %q", admin, navText)
		}
	}

	b.do("open New message", chromedp.Navigate(ta.URL+"/compose"))
	b.waitFor("the sender picker", `!!document.getElementById('sender')`)
	options := evalJS[string](b, `[...document.querySelectorAll('#sender option')].map(o => o.textContent.trim()).join('|')`)
	if !strings.Contains(options, "415-555-0100") || !strings.Contains(options, "415-555-0199") {
		t.Fatalf("Admissions' own senders missing from the picker: %q", options)
	}
	for _, other := range []string{"415-555-0101", "415-555-0102"} {
		if strings.Contains(options, other) {
			t.Fatalf("picker offers another department's sender %s: %q", other, options)
		}
	}

	// Guessing another department's conversation address shows nothing of it.
	b.do("open Finance's conversation by address", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, financeConv)))
	b.waitFor("the not-found page", `document.readyState === 'complete'`)
	if body := evalJS[string](b, `document.body.textContent`); strings.Contains(body, "About the fees") || strings.Contains(body, "+15550031002") {
		t.Fatalf("another department's conversation leaks: %q", body)
	}
	staff := ta.login(email, pw)
	if _, status := ta.get(staff, fmt.Sprintf("/conversations/%d", financeConv)); status != http.StatusNotFound {
		t.Fatalf("another department's conversation: %d, want 404", status)
	}
	if _, status := ta.get(staff, "/senders"); status != http.StatusForbidden && status != http.StatusNotFound {
		t.Fatalf("/senders for staff: %d, want 403 or 404", status)
	}

	// The admin reaches the admin pages through the Admin menu, by keyboard.
	a := newBrowser(t)
	signIn(a, ta)
	a.waitFor("the Admin menu button", `!!document.querySelector('[data-menu-toggle]')`)
	a.do("focus the Admin menu button", chromedp.Focus(chromedp.CSS(`[data-menu-toggle]`)))
	a.pressKey(kb.Enter)
	a.waitFor("the Admin menu open with focus on its first entry", `document.querySelector('[data-menu-toggle]').getAttribute('aria-expanded') === 'true' && !document.getElementById('admin-menu').hidden && document.activeElement.closest('#admin-menu') !== null`)
	entries := evalJS[string](a, `[...document.querySelectorAll('#admin-menu a')].map(x => x.textContent.trim()).join('|')`)
	if entries != "Senders|Templates|People|Departments|Settings" {
		t.Fatalf("Admin menu entries: %q", entries)
	}
	a.pressKey(kb.Escape)
	a.waitFor("the Admin menu closed, focus back on its button", `document.getElementById('admin-menu').hidden && document.activeElement.matches('[data-menu-toggle]')`)
	a.do("open Senders from the menu", chromedp.Click(chromedp.CSS(`[data-menu-toggle]`)), chromedp.Click(chromedp.CSS(`#admin-menu a[href="/senders"]`)))
	a.waitFor("the senders page with every department's number", `location.pathname === '/senders' && document.body.textContent.includes('415-555-0102')`)
	if !evalJS[bool](a, `document.querySelector('[data-menu-toggle]').classList.contains('active')`) {
		t.Fatal("the Admin menu does not show that an admin page is open")
	}
}
