package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkInboundWebhook measures signed inbound webhooks through real HTTP:
// signature check, idempotent insert, contact/conversation upsert and NOTIFY.
func BenchmarkInboundWebhook(b *testing.B) {
	ta := startTestApp(b, testOptions{StepDelay: time.Hour})
	var n atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			form := url.Values{
				"MessageSid": {fmt.Sprintf("SMbench%026d", i)}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
				"From": {fmt.Sprintf("whatsapp:+1555%07d", i%5000)}, "To": {"whatsapp:+14155550100"},
				"Body": {"Is school open tomorrow?"}, "NumMedia": {"0"}, "ProfileName": {"Parent"},
			}
			if code := benchPost(client, ta, "/webhooks/twilio/inbound", form); code != http.StatusOK {
				b.Errorf("status %d", code)
				return
			}
		}
	})
}

// BenchmarkStatusCallback measures status callbacks applied to known messages.
func BenchmarkStatusCallback(b *testing.B) {
	ta := startTestApp(b, testOptions{StepDelay: time.Hour})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const messages = 200
	for i := 0; i < messages; i++ {
		form := url.Values{"MessageSid": {fmt.Sprintf("SMseed%027d", i)}, "From": {fmt.Sprintf("+1555%07d", i)}, "To": {"+14155550199"}, "Body": {"hi"}}
		if code := benchPost(client, ta, "/webhooks/twilio/inbound", form); code != http.StatusOK {
			b.Fatalf("seed: %d", code)
		}
	}
	statuses := []string{"sent", "delivered", "read", "delivered"}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			form := url.Values{"MessageSid": {fmt.Sprintf("SMseed%027d", i%messages)}, "MessageStatus": {statuses[i%4]}}
			if code := benchPost(client, ta, "/webhooks/twilio/status", form); code != http.StatusOK {
				b.Errorf("status %d", code)
				return
			}
		}
	})
}

func benchPost(c *http.Client, ta *testApp, path string, form url.Values) int {
	req, _ := http.NewRequest(http.MethodPost, ta.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSignature(ta.token, ta.URL+path, form))
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
