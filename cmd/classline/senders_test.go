package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
)

// TestSendersPageSyncsHealthFromTwilio: a WhatsApp sender registered at
// Twilio (the simulator, through twilio-go) comes online, then goes offline;
// "Check with Twilio now" shows it with its health badge and the reason in
// plain words, and the sender's status is what the picker reads.
func TestSendersPageSyncsHealthFromTwilio(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := context.Background()
	reg, err := ta.gw.CreateWhatsAppSender(ctx, twilio.SenderRegistration{Number: "+15550077001", DisplayName: "Transport Office",
		WebhookURL: ta.URL + "/webhooks/twilio/inbound", StatusCallbackURL: ta.URL + "/webhooks/twilio/status"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new sender online at Twilio", func() bool {
		s, err := ta.gw.FetchSender(ctx, reg.SID)
		return err == nil && s.Online()
	})
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, "/senders")
	resp := ta.postForm(admin, "/senders/sync", url.Values{"_csrf": {tok}})
	body, _ := io.ReadAll(resp.Body)
	// The background sync may have found it first: "new" is 0 or 1, but the
	// sender is listed, online and waiting for a department either way.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Checked with Twilio") || !strings.Contains(string(body), "+1 555-007-7001") ||
		!strings.Contains(string(body), ">Online<") || !strings.Contains(string(body), "No department") {
		t.Fatalf("sync after registration: %d %s", resp.StatusCode, body)
	}

	if err := ta.sim.SetSenderStatus(reg.SID, "OFFLINE", 63116); err != nil {
		t.Fatal(err)
	}
	resp = ta.postForm(admin, "/senders/sync", url.Values{"_csrf": {tok}})
	body, _ = io.ReadAll(resp.Body)
	help := policy.ExplainSenderError(63116)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ">Offline<") || !strings.Contains(string(body), help.Title) {
		t.Fatalf("sync after going offline: %d, want the Offline badge and %q", resp.StatusCode, help.Title)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE address = '+15550077001' AND status = 'OFFLINE' AND twilio_sender_sid = $1`, reg.SID); n != 1 {
		t.Fatalf("%d offline rows for the sender, want 1", n)
	}

	staff := ta.login("s@school.example", ta.addUser("s@school.example", "staff", "admissions"))
	if _, status := ta.get(staff, "/senders"); status != http.StatusForbidden {
		t.Fatalf("staff on /senders: %d, want 403", status)
	}
}
