package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/internal/twiliosim"
)

// The composer through the whole app while Twilio cuts connections before
// and after creating messages and answers some calls with 500: the app's
// own reconcile loop settles every unanswered send, and each message ends
// sent exactly once or failed with its reason.
func TestComposeUnderTwilioFaultsEndToEnd(t *testing.T) {
	ta := startTestApp(t, testOptions{App: func(o *appOptions) {
		o.SimFaults = func(c *twiliosim.Config) {
			c.ResetRate, c.LostResponseRate, c.ServerErrorRate, c.Seed = 0.25, 0.25, 0.15, 11
		}
		o.UnsentEvery, o.UnconfirmedGrace = 300*time.Millisecond, time.Second
	}})
	sms := senderID(t, ta, "sms", "+14155550199")
	c := ta.loginAdmin()
	tok := ta.csrfOf(c, "/compose")
	const n = 24
	for i := range n {
		resp := ta.postForm(c, "/compose", url.Values{
			"_csrf": {tok}, "to": {fmt.Sprintf("+1555040%04d", i+10)}, "channel": {"sms"},
			"body": {fmt.Sprintf("Your child's report %d is ready.", i)}, "sender_id": {strconv.FormatInt(sms, 10)},
		})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("compose %d: status %d, want a redirect to the conversation", i, resp.StatusCode)
		}
	}
	ctx := context.Background()
	eventually(t, "every send to have an outcome", func() bool {
		var left int
		err := ta.db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE direction = 'outbound' AND twilio_sid IS NULL AND status = 'queued'`).Scan(&left)
		return err == nil && left == 0
	})

	atTwilio := map[string]string{} // SID → To
	for _, m := range ta.sim.Messages() {
		if m.Direction == "outbound-api" {
			atTwilio[m.SID] = m.To
		}
	}
	rows, err := ta.db.Pool.Query(ctx, `SELECT to_address, twilio_sid, status, error_message FROM messages WHERE direction = 'outbound' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sent, failed := 0, 0
	for rows.Next() {
		var to, status, reason string
		var sid *string
		if err := rows.Scan(&to, &sid, &status, &reason); err != nil {
			t.Fatal(err)
		}
		switch {
		case sid != nil:
			sent++
			if atTwilio[*sid] != to {
				t.Errorf("message to %s recorded as %s, which Twilio has to %q", to, *sid, atTwilio[*sid])
			}
			delete(atTwilio, *sid)
		case status == "failed" && strings.Contains(reason, "no record of this message"):
			failed++
		default:
			t.Errorf("message to %s ended %q (%q) without a SID", to, status, reason)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Anything left at Twilio was sent but not recorded: shown as failed.
	for sid, to := range atTwilio {
		t.Errorf("Twilio sent %s to %s, which Classline does not show as sent", sid, to)
	}
	if sent+failed != n || sent == 0 || failed == 0 {
		t.Errorf("%d sent + %d failed, want %d with some of each (the faults make both)", sent, failed, n)
	}
	t.Logf("%d composed: %d sent (some found again at Twilio), %d failed because Twilio never got them", n, sent, failed)
}
