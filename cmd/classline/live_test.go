package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// openStream opens /events for a signed-in client and returns a line reader.
func openStream(t *testing.T, ta *testApp, c *http.Client) (*bufio.Reader, io.Closer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ta.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := &http.Client{Jar: c.Jar} // no timeout: the stream stays open
	resp, err := stream.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body), resp.Body
}

// readUntil reads SSE lines until one contains want, failing after a generous deadline.
func readUntil(t *testing.T, r *bufio.Reader, body io.Closer, want string) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		var seen strings.Builder
		for {
			line, err := r.ReadString('\n')
			seen.WriteString(line)
			if strings.Contains(line, want) {
				found <- seen.String()
				return
			}
			if err != nil {
				found <- ""
				return
			}
		}
	}()
	select {
	case s := <-found:
		if s == "" {
			t.Fatalf("stream ended before %q arrived", want)
		}
		return s
	case <-time.After(30 * time.Second):
		body.Close()
		t.Fatalf("timed out waiting for %q on the stream", want)
	}
	return ""
}

// Two instances on one database: a message stored by instance A reaches a
// browser connected to instance B, through LISTEN/NOTIFY.
func TestLiveEventsCrossInstances(t *testing.T) {
	a := startTestApp(t, testOptions{StepDelay: time.Hour})
	b := startTestApp(t, testOptions{StepDelay: time.Hour, Env: map[string]string{"DATABASE_URL": a.cfg.DatabaseURL}})
	if b.AdminPW != "" {
		t.Fatal("second instance created another first admin on a database that has one")
	}
	c := b.login(a.AdminEML, a.AdminPW)
	r, body := openStream(t, b, c)
	if _, err := r.ReadString('\n'); err != nil { // the stream is open once the first line arrives
		t.Fatal(err)
	}
	form := inboundForm(newSID(), "whatsapp:+15557654321", "whatsapp:+14155550100", "Is the bus late today?", "Maria")
	if status, _ := a.webhook("/webhooks/twilio/inbound", form, a.token); status != http.StatusOK {
		t.Fatalf("inbound on instance A: %d", status)
	}
	got := readUntil(t, r, body, "Is the bus late today?")
	if !strings.Contains(got, "event: update") || !strings.Contains(got, `hx-swap-oob="beforeend:#thread-`) {
		t.Fatalf("instance B streamed an unexpected event:\n%s", got)
	}
}

// A stream skips conversations of departments the user is not in.
func TestLiveEventsRespectDepartments(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	pw := ta.addUser("finance@school.example", "staff", "finance")
	c := ta.login("finance@school.example", pw)
	r, body := openStream(t, ta, c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Admissions first (must not arrive), then finance (must arrive); the
	// stream is ordered, so reaching the second proves the first was skipped.
	for _, m := range []struct{ to, body string }{
		{"whatsapp:+14155550100", "Admissions question"},
		{"whatsapp:+14155550102", "Finance question"},
	} {
		if status, _ := ta.webhook("/webhooks/twilio/inbound", inboundForm(newSID(), "whatsapp:+15550001111", m.to, m.body, ""), ta.token); status != http.StatusOK {
			t.Fatalf("inbound: %d", status)
		}
	}
	got := readUntil(t, r, body, "Finance question")
	if strings.Contains(got, "Admissions question") {
		t.Fatal("a finance staff member's stream carried an admissions message")
	}
}

// Shutting down ends open live streams instead of waiting for them, so the
// server drains promptly.
func TestShutdownEndsStreams(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	c := ta.loginAdmin()
	r, _ := openStream(t, ta, c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		ended <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ta.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream stayed open after shutdown")
	}
}
