package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The composer's counter: SMS segments with the character that forced
// UCS-2, WhatsApp characters only, and the 1,600 limit.
func TestComposeCounter(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	c := ta.loginAdmin()
	tok := ta.csrfOf(c, "/compose")
	count := func(body, channel string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, ta.URL+"/compose/count", strings.NewReader(url.Values{"body": {body}, "channel": {channel}, "counter": {"body-count"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ body, channel, want, not string }{
		{"School closes at 1pm.", "sms", "21 characters · 1 SMS segment · 139 left", "basic SMS alphabet"},
		{strings.Repeat("a", 161), "sms", "161 characters · 2 SMS segments", "basic SMS alphabet"},
		{"Don’t forget the forms", "sms", "“’” is not in the basic SMS alphabet", ""},
		{"Don’t forget the forms", "whatsapp", "22 / 1600 characters", "SMS"},
		{strings.Repeat("a", 1601), "sms", "1 over the limit", ""},
		{"<script>alert(1)</script>", "sms", "25 characters", "<script>"},
	} {
		status, html := count(tc.body, tc.channel)
		if status != http.StatusOK || !strings.Contains(html, tc.want) || (tc.not != "" && strings.Contains(html, tc.not)) {
			t.Errorf("count(%.30q, %s) = %d %s; want it to contain %q and not %q", tc.body, tc.channel, status, html, tc.want, tc.not)
		}
	}
	// Like every state-changing route, it needs the CSRF token.
	req, _ := http.NewRequest(http.MethodPost, ta.URL+"/compose/count", strings.NewReader("body=x&channel=sms"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("counter without CSRF token: %d, want 403", resp.StatusCode)
	}
}
