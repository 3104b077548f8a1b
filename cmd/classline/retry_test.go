package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A message that failed for a passing reason (30003, phone unreachable) can
// be sent again; one that would fail the same way (21211) cannot, and staff
// of another department cannot touch it.
func TestRetryFailedMessage(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	c := ta.loginAdmin()
	send := func(to string) (convPath string, msgID int64) {
		tok := ta.csrfOf(c, "/compose")
		resp := ta.postForm(c, "/compose", url.Values{"_csrf": {tok}, "to": {to}, "channel": {"sms"}, "body": {"Bus is late"}, "sender_id": {"0"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("compose to %s: %d", to, resp.StatusCode)
		}
		err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM messages WHERE to_address = $1 ORDER BY id DESC LIMIT 1`, to).Scan(&msgID)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Location"), msgID
	}
	status := func(id int64) string {
		var s string
		if err := ta.db.Pool.QueryRow(context.Background(), `SELECT status FROM messages WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	retry := func(client *http.Client, id int64) (int, string) {
		tok := ta.csrfOf(client, "/inbox")
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/messages/%d/retry", ta.URL, id), nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Ends undelivered with 30003 (simulator magic number ...0002).
	page, unreachable := send("+15550000002")
	eventually(t, "undelivered", func() bool { return status(unreachable) == "undelivered" })
	body, _ := ta.get(c, page)
	if !strings.Contains(body, "Send again") {
		t.Fatal("an unreachable-phone failure offers no retry")
	}
	// Another department's staff cannot retry it.
	pw := ta.addUser("finance@school.example", "staff", "finance")
	if code, _ := retry(ta.login("finance@school.example", pw), unreachable); code != http.StatusNotFound {
		t.Fatalf("retry by another department: %d, want 404", code)
	}
	before := len(ta.sim.Messages())
	code, html := retry(c, unreachable)
	if code != http.StatusOK || !strings.Contains(html, "Bus is late") || !strings.Contains(html, "hx-swap-oob") {
		t.Fatalf("retry: %d %s", code, html)
	}
	if got := len(ta.sim.Messages()); got != before+1 {
		t.Fatalf("simulator messages %d after retry, want %d", got, before+1)
	}

	// Refused at create with 21211 (magic number ...0001): never retried.
	page, invalid := send("+15550000001")
	if s := status(invalid); s != "failed" {
		t.Fatalf("21211 message status %s", s)
	}
	body, _ = ta.get(c, page)
	if strings.Contains(body, "Send again") {
		t.Fatal("an invalid-number failure offers a retry")
	}
	before = len(ta.sim.Messages())
	if code, _ := retry(c, invalid); code != http.StatusConflict {
		t.Fatalf("retry of 21211: %d, want 409", code)
	}
	if got := len(ta.sim.Messages()); got != before {
		t.Fatalf("a refused retry reached the simulator")
	}
}
