package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// A message typed in the composer reaches the simulator and its status moves
// to read through signed callbacks, all over real HTTP.
func TestComposeToReadEndToEnd(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	// WhatsApp free text needs the 24-hour window open: the parent writes to
	// the admissions WhatsApp number first (a signed inbound webhook).
	conv := inboundConversation(t, ta, "whatsapp:+15551234567", "whatsapp:+14155550100", "Maria")
	admissionsWA := senderID(t, ta, "whatsapp", "+14155550100")
	c := ta.loginAdmin()
	tok := ta.csrfOf(c, "/compose")
	resp := ta.postForm(c, "/compose", url.Values{
		"_csrf": {tok}, "to": {"(555) 123-4567"}, "channel": {"whatsapp"}, "body": {"Hello from school"},
		"sender_id": {strconv.FormatInt(admissionsWA, 10)},
	})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc != convURL(conv) {
		t.Fatalf("compose redirected to %q, want the parent's conversation %s", loc, convURL(conv))
	}
	msgs := ta.sim.Messages()
	if len(msgs) != 1 || msgs[0].To != "whatsapp:+15551234567" || msgs[0].From != "whatsapp:+14155550100" || msgs[0].Body != "Hello from school" {
		t.Fatalf("simulator got %+v", msgs)
	}
	eventually(t, "status read", func() bool {
		var status string
		err := ta.db.Pool.QueryRow(context.Background(), `SELECT status FROM messages WHERE direction = 'outbound'`).Scan(&status)
		return err == nil && status == "read"
	})
	var events int
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM message_events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events < 3 {
		t.Fatalf("want the sent, delivered and read callbacks kept as events, got %d", events)
	}
	body, status := ta.get(c, loc)
	if status != http.StatusOK || !strings.Contains(body, `data-status="read"`) || !strings.Contains(body, "Hello from school") {
		t.Fatalf("conversation page (%d) does not show the read message", status)
	}
}
