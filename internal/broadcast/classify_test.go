package broadcast

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/twilio"
)

func TestClassify(t *testing.T) {
	api := func(status, code int) error {
		return fmt.Errorf("twilio: send message: %w", &twilio.APIError{HTTPStatus: status, Code: code, Message: "m"})
	}
	cases := []struct {
		name      string
		err       error
		want      Outcome
		retry     bool
		ambiguous bool
	}{
		{"success", nil, OutcomeSubmitted, false, false},
		{"429 with 20429", api(429, 20429), OutcomeRateLimited, true, false},
		{"20429 on another status", api(503, 20429), OutcomeRateLimited, true, false},
		{"500", api(500, 20500), OutcomeServerError, true, true},
		{"502 without a code", api(502, 0), OutcomeServerError, true, true},
		{"503", api(503, 0), OutcomeServerError, true, true},
		{"21211 invalid To", api(400, 21211), OutcomePermanent, false, false},
		{"21610 unsubscribed", api(400, 21610), OutcomePermanent, false, false},
		{"63016 outside the window", api(400, 63016), OutcomePermanent, false, false},
		{"21408 region not enabled", api(400, 21408), OutcomePermanent, false, false},
		{"401 bad credentials", api(401, 20003), OutcomePermanent, false, false},
		{"404", api(404, 20404), OutcomePermanent, false, false},
		{"timeout", fmt.Errorf("send: %w", context.DeadlineExceeded), OutcomeNetwork, true, true},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, OutcomeNetwork, true, true},
		{"EOF", errors.New("unexpected EOF"), OutcomeNetwork, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Classify(c.err)
			if got.Outcome != c.want || got.Outcome.Retryable() != c.retry || got.Outcome.Ambiguous() != c.ambiguous {
				t.Errorf("Classify = %+v (retry %v, ambiguous %v), want %s (retry %v, ambiguous %v)",
					got, got.Outcome.Retryable(), got.Outcome.Ambiguous(), c.want, c.retry, c.ambiguous)
			}
		})
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	e := &Engine{cfg: Config{RetryBase: time.Second, RetryMax: 20 * time.Second}.withDefaults()}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 16 * time.Second, 6: 20 * time.Second, 30: 20 * time.Second} {
		for range 200 {
			got := e.backoff(n)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, got, want/2, want)
			}
		}
	}
}

func TestDefaultRate(t *testing.T) {
	cases := []struct {
		s     db.Sender
		media bool
		want  float64
	}{
		{db.Sender{Channel: "whatsapp", Address: "+14155550100"}, false, 10},
		{db.Sender{Channel: "whatsapp", Address: "+14155550100"}, true, 1.5},
		{db.Sender{Channel: "sms", Address: "+14155550100"}, false, 1},
		{db.Sender{Channel: "sms", Address: "+18005550100"}, false, 3},
		{db.Sender{Channel: "sms", Address: "+18885550100"}, false, 3},
		{db.Sender{Channel: "sms", Address: "+12345"}, false, 100},
		{db.Sender{Channel: "sms", MessagingServiceSID: "MG0123"}, false, 10},
	}
	for _, c := range cases {
		if got := DefaultRate(c.s, c.media); got != c.want {
			t.Errorf("DefaultRate(%s %s%s, media %v) = %v, want %v", c.s.Channel, c.s.Address, c.s.MessagingServiceSID, c.media, got, c.want)
		}
	}
}

func TestRenderMerge(t *testing.T) {
	v := map[string]string{"first_name": "Ana", "student_name": "Leo", "class": "", "school_name": "Hillside"}
	cases := map[string]string{
		"Hi {{first_name}}":                    "Hi Ana",
		"{{ student_name }} in {{class}}.":     "Leo in .",
		"{{school_name}}: {{unknown}} stays":   "Hillside: {{unknown}} stays",
		"no fields":                            "no fields",
		"{{first_name}}{{first_name}}":         "AnaAna",
		"{{FIRST_NAME}} is not a field (case)": "{{FIRST_NAME}} is not a field (case)",
	}
	for in, want := range cases {
		if got := RenderMerge(in, v); got != want {
			t.Errorf("RenderMerge(%q) = %q, want %q", in, got, want)
		}
	}
	if got := UnknownMergeFields("Hi {{first_name}} {{grade}} {{ bus }}"); len(got) != 2 || got[0] != "grade" || got[1] != "bus" {
		t.Errorf("UnknownMergeFields = %v", got)
	}
}
