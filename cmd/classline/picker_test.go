package main

import (
	"context"
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

// TestComposeThroughMessagingService: a department's Messaging Service is
// offered once it has one, and a message sent with it goes to Twilio with
// MessagingServiceSid and no From, so Twilio picks the number from its pool.
func TestComposeThroughMessagingService(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	staff := ta.login("mg@school.example", ta.addUser("mg@school.example", "staff", "admissions"))
	page, _ := ta.get(staff, "/compose")
	if strings.Contains(page, "strategy:messaging_service") {
		t.Fatal("Messaging Service offered before the department has one")
	}
	const sid = "MG0123456789abcdef0123456789abcdef"
	if _, err := ta.db.Pool.Exec(context.Background(), `INSERT INTO senders (channel, messaging_service_sid, display_name, department_id)
		SELECT 'sms', $1, 'Admissions pool', id FROM departments WHERE slug = 'admissions'`, sid); err != nil {
		t.Fatal(err)
	}
	page, _ = ta.get(staff, "/compose")
	if !strings.Contains(page, "strategy:messaging_service") {
		t.Fatal("Messaging Service not offered once the department has one")
	}
	q := url.Values{"channel": {"sms"}, "to": {"+1 555 001 4003"}, "sender_id": {"strategy:messaging_service"}}
	if page, _ = ta.get(staff, "/compose/sender?"+q.Encode()); !strings.Contains(page, "Admissions pool") {
		t.Fatalf("preview does not name the Messaging Service: %s", page)
	}
	tok := ta.csrfOf(staff, "/compose")
	resp := ta.postForm(staff, "/compose", url.Values{"_csrf": {tok}, "to": {"+1 555 001 4003"}, "channel": {"sms"}, "body": {"Pool hello"}, "sender_id": {"strategy:messaging_service"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: %d", resp.StatusCode)
	}
	eventually(t, "the simulator received the message with the Messaging Service", func() bool {
		for _, m := range ta.sim.Messages() {
			if m.Body == "Pool hello" {
				return m.MessagingServiceSID == sid
			}
		}
		return false
	})
}
