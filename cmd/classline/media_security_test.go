package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A genuinely signed inbound webhook whose MediaUrl points somewhere other
// than Twilio (a local service, the cloud metadata address) makes Classline
// fetch nothing: each attachment is recorded as refused, none stored, and the
// local service is never contacted. The whole path runs: webhook, queue,
// fetcher.
func TestInboundMediaURLCannotReachLocalServices(t *testing.T) {
	ta := startTestApp(t, testOptions{StepDelay: time.Hour})
	var hits atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
	}))
	defer local.Close()
	// The simulator redirecting to the local service must not work either.
	f := inboundForm(newSID(), "whatsapp:+15557653001", "whatsapp:+14155550100", "", "Maria")
	urls := []string{local.URL + "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
		"http://169.254.169.254/latest/meta-data/", "http://localhost:1/x", "https://api.twilio.com.evil.example/x"}
	f.Set("NumMedia", "4")
	for i, u := range urls {
		f.Set("MediaUrl"+string(rune('0'+i)), u)
		f.Set("MediaContentType"+string(rune('0'+i)), "image/png")
	}
	checkTwiML(t, "inbound with forged media URLs", postTwilio(t, ta, inboundPath, f))
	eventually(t, "every attachment settled as refused", func() bool {
		return countRows(t, ta, `SELECT count(*) FROM messages m, jsonb_array_elements(m.media) e
			WHERE coalesce(e ->> 'fetch_error', '') <> ''`) == len(urls)
	})
	if n := countRows(t, ta, `SELECT count(*) FROM media_files`); n != 0 {
		t.Errorf("%d files stored from non-Twilio URLs", n)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM messages m, jsonb_array_elements(m.media) e
		WHERE e ->> 'fetch_error' NOT LIKE '%not a Twilio media address%'`); n != 0 {
		t.Errorf("%d attachments refused for another reason than the address", n)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the local service was contacted %d times", n)
	}
}
