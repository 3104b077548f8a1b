package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestComposerShowsPickedSender: before sending, the composer says which
// number the message will go from and why (sticky for a parent who wrote,
// least recently used when chosen), and the sent message keeps the reason.
func TestComposerShowsPickedSender(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	staff := ta.login("pick@school.example", ta.addUser("pick@school.example", "staff", "admissions"))
	parentWrites(t, ta, "whatsapp:+15550014001", "whatsapp:+14155550100", "Hello")

	q := url.Values{"channel": {"whatsapp"}, "to": {"+1 555 001 4001"}, "sender_id": {"0"}}
	page, status := ta.get(staff, "/compose/sender?"+q.Encode())
	if status != http.StatusOK || !strings.Contains(page, "Will send from Admissions") || !strings.Contains(page, "sticky") {
		t.Fatalf("sticky preview (%d): %s", status, page)
	}
	q = url.Values{"channel": {"sms"}, "to": {"+1 555 001 4002"}, "sender_id": {"strategy:lru"}}
	page, _ = ta.get(staff, "/compose/sender?"+q.Encode())
	if !strings.Contains(page, "Front office") || !strings.Contains(page, "least recently used") {
		t.Fatalf("lru preview: %s", page)
	}
	tok := ta.csrfOf(staff, "/compose")
	resp := ta.postForm(staff, "/compose", url.Values{"_csrf": {tok}, "to": {"+1 555 001 4002"}, "channel": {"sms"}, "body": {"Hello"}, "sender_id": {"strategy:lru"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: %d", resp.StatusCode)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE to_address = '+15550014002' AND sender_reason LIKE '%least recently used%'`); n != 1 {
		t.Fatalf("%d messages with the picker's reason, want 1", n)
	}
}
