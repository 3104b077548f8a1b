package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Webhook signatures behind a proxy, and forgeries against a database that
// already holds the genuine message. TestWebhookForgedRejected (webhook_test.go)
// covers unsigned, garbage and tampered requests on an empty database.

// webhookRows counts what a webhook can write, to compare before and after.
func webhookRows(t *testing.T, ta *testApp) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"messages", "contacts", "conversations", "message_events", "consent_events"} {
		out[table] = countRows(t, ta, `SELECT count(*) FROM `+table)
	}
	return out
}

func sameRows(t *testing.T, what string, before, after map[string]int) {
	t.Helper()
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s: %s went from %d to %d rows", what, table, n, after[table])
		}
	}
}

// postWithHeaders posts a Twilio form with the given signature and extra headers.
func postWithHeaders(t *testing.T, ta *testApp, path string, form url.Values, sig string, extra map[string]string) httpResult {
	t.Helper()
	h := map[string]string{"User-Agent": "TwilioProxy/1.1", "X-Twilio-Signature": sig}
	for k, v := range extra {
		h[k] = v
	}
	return doHTTP(t, plainClient(), http.MethodPost, ta.URL+path, form, h)
}

// A genuine webhook captured and replayed with another body (or to the
// other endpoint) is refused and changes nothing, however many rows the
// genuine one made.
func TestWebhookReplayWithChangedBodyRejected(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	sid := newSID()
	genuine := inboundForm(sid, "whatsapp:+15557654400", "whatsapp:+14155550100", "Is school open tomorrow?", "Maria")
	sig := twilioSignature(ta.token, ta.cfg.PublicURL+inboundPath, genuine)
	checkTwiML(t, "genuine inbound", postSigned(t, ta, inboundPath, genuine, sig))
	before := webhookRows(t, ta)
	if before["messages"] != 1 {
		t.Fatalf("the genuine webhook stored %d messages, want 1", before["messages"])
	}

	replays := map[string]url.Values{}
	changed := inboundForm(sid, "whatsapp:+15557654400", "whatsapp:+14155550100", "STOP", "Maria")
	replays["same sid, body changed to STOP"] = changed
	other := inboundForm(newSID(), "whatsapp:+15557654400", "whatsapp:+14155550100", "Is school open tomorrow?", "Maria")
	replays["new sid, same body"] = other
	otherParent := inboundForm(sid, "whatsapp:+15557654499", "whatsapp:+14155550100", "Is school open tomorrow?", "Maria")
	replays["another sender"] = otherParent
	for name, f := range replays {
		if r := postSigned(t, ta, inboundPath, f, sig); r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, r.status)
		}
	}
	// The signature of an inbound webhook does not carry over to the status URL.
	if r := postSigned(t, ta, statusPath, genuine, sig); r.status != http.StatusForbidden {
		t.Errorf("inbound signature on the status URL: %d, want 403", r.status)
	}
	sameRows(t, "replays", before, webhookRows(t, ta))
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE body = 'STOP'`); n != 0 {
		t.Errorf("the tampered body was stored")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM consent_events`); n != 0 {
		t.Errorf("a forged STOP changed consent (%d events)", n)
	}
	// The genuine request again is a redelivery: accepted, nothing new.
	checkTwiML(t, "genuine redelivery", postSigned(t, ta, inboundPath, genuine, sig))
	sameRows(t, "genuine redelivery", before, webhookRows(t, ta))
}

// A status callback for an existing message, tampered after signing, moves
// nothing and records no event.
func TestWebhookForgedStatusLeavesMessage(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	sid := newSID()
	checkTwiML(t, "genuine inbound", postTwilio(t, ta, inboundPath,
		inboundForm(sid, "whatsapp:+15557654401", "whatsapp:+14155550100", "Hello", "Maria")))
	before := webhookRows(t, ta)
	sent := statusForm(sid, "sent", 0)
	sig := twilioSignature(ta.token, ta.cfg.PublicURL+statusPath, sent)
	failed := statusForm(sid, "failed", 30008)
	for name, tc := range map[string]struct {
		form url.Values
		sig  string
	}{
		"status changed after signing": {failed, sig},
		"missing signature":            {failed, ""},
		"wrong token":                  {failed, twilioSignature("anothertoken0000", ta.cfg.PublicURL+statusPath, failed)},
	} {
		if r := postSigned(t, ta, statusPath, tc.form, tc.sig); r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, r.status)
		}
	}
	sameRows(t, "forged status callbacks", before, webhookRows(t, ta))
	if n := countRows(t, ta, `SELECT count(*) FROM messages WHERE status = 'failed'`); n != 0 {
		t.Errorf("a forged callback failed %d messages", n)
	}
}

// Without TRUST_PROXY, X-Forwarded-Proto/Host are ignored: a signature made
// for another URL does not pass by naming that URL's host in the headers,
// and a genuine one for PUBLIC_URL passes whatever they say.
func TestWebhookForwardedHeadersIgnoredWithoutTrustProxy(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour, Env: map[string]string{"PUBLIC_URL": "https://school.example"}})
	f := inboundForm(newSID(), "whatsapp:+15557654402", "whatsapp:+14155550100", "Hello", "Maria")
	evil := twilioSignature(ta.token, "https://other-app.example"+inboundPath, f)
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-app.example"}
	if r := postWithHeaders(t, ta, inboundPath, f, evil, fwd); r.status != http.StatusForbidden {
		t.Fatalf("signature for another host with a forged X-Forwarded-Host: %d, want 403", r.status)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("the forged webhook stored %d messages", n)
	}
	good := twilioSignature(ta.token, "https://school.example"+inboundPath, f)
	checkTwiML(t, "PUBLIC_URL signature with other forwarded headers", postWithHeaders(t, ta, inboundPath, f, good, fwd))
	if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != 1 {
		t.Fatalf("messages: %d, want 1", n)
	}
}

// With TRUST_PROXY, the URL the proxy reports counts as well as PUBLIC_URL;
// malformed or appended (list) headers are not used.
func TestWebhookForwardedHeadersWithTrustProxy(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour, Env: map[string]string{
		"PUBLIC_URL": "https://school.example", "TRUST_PROXY": "true"}})
	stored := 0
	check := func(name string, want int, signedFor string, hdr map[string]string) {
		t.Helper()
		f := inboundForm(newSID(), "whatsapp:+15557654403", "whatsapp:+14155550100", "Hello "+name, "Maria")
		r := postWithHeaders(t, ta, inboundPath, f, twilioSignature(ta.token, signedFor, f), hdr)
		if r.status != want {
			t.Errorf("%s: status %d, want %d", name, r.status, want)
		}
		if want == http.StatusOK {
			stored++
		}
		if n := countRows(t, ta, `SELECT count(*) FROM messages`); n != stored {
			t.Errorf("%s: %d messages stored, want %d", name, n, stored)
		}
	}
	alias := "https://messages.school.example" + inboundPath
	check("forwarded alias host", http.StatusOK, alias,
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "messages.school.example"})
	check("PUBLIC_URL without forwarded headers", http.StatusOK, "https://school.example"+inboundPath, nil)
	check("PUBLIC_URL with other forwarded headers", http.StatusOK, "https://school.example"+inboundPath,
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "messages.school.example"})
	check("proto mismatch", http.StatusForbidden, alias,
		map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "messages.school.example"})
	check("host only, no proto", http.StatusForbidden, alias,
		map[string]string{"X-Forwarded-Host": "messages.school.example"})
	check("appended host list", http.StatusForbidden, alias,
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "messages.school.example, school.example"})
	check("host with a path", http.StatusForbidden, "https://messages.school.example/x"+inboundPath,
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "messages.school.example/x"})
	check("host with credentials", http.StatusForbidden, "https://a@messages.school.example"+inboundPath,
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "a@messages.school.example"})
	check("unknown scheme", http.StatusForbidden, "javascript://messages.school.example"+inboundPath,
		map[string]string{"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "messages.school.example"})
}
