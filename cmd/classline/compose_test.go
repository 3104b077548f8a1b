package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A message typed in the composer reaches the simulator and its status moves
// to read through signed callbacks, all over real HTTP.
func TestComposeToReadEndToEnd(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.loginAdmin()
	tok := ta.csrfOf(c, "/compose")
	resp := ta.postForm(c, "/compose", url.Values{
		"_csrf": {tok}, "to": {"(555) 123-4567"}, "channel": {"whatsapp"}, "body": {"Hello from school"}, "sender_id": {"0"},
	})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/conversations/") {
		t.Fatalf("compose redirected to %q", loc)
	}
	msgs := ta.sim.Messages()
	if len(msgs) != 1 || msgs[0].To != "whatsapp:+15551234567" || msgs[0].Body != "Hello from school" {
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
