package policy

import (
	"strings"
	"testing"
)

func TestExplainSenderError(t *testing.T) {
	for code, want := range map[int][]string{
		63100: {"display name", "country code"},
		63104: {"Business Account", "verification"},
		63110: {"already in use on WhatsApp", "two-step verification"},
		63111: {"could not find", "Business Account"},
		63113: {"wrong or had expired", "new code"},
		63114: {"Too many", "wait"},
		63116: {"never arrived", "SMS or by voice call"},
	} {
		h := ExplainSenderError(code)
		if h.Code != code || h.Title == "" || h.Meaning == "" || h.Action == "" {
			t.Errorf("%d: incomplete %+v", code, h)
		}
		text := h.Meaning + " " + h.Action
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%d: %q does not mention %q", code, text, w)
			}
		}
	}

	other := ExplainSenderError(30008)
	if other.Code != 30008 || other.Meaning != ExplainError(30008) || !strings.Contains(other.Action, "30008") {
		t.Errorf("30008 explained as %+v", other)
	}
	if got := ExplainSenderError(0); got != (SenderErrorHelp{}) {
		t.Errorf("no code explained as %+v", got)
	}
}

func TestExplainSenderStatus(t *testing.T) {
	for _, s := range []string{"CREATING", "PENDING_VERIFICATION", "VERIFYING", "ONLINE", "ONLINE:UPDATING",
		"OFFLINE", "TWILIO_REVIEW", "DRAFT", "STUBBED"} {
		if got := ExplainSenderStatus(s); got == "" || strings.Contains(got, "reports the status") {
			t.Errorf("%s explained as %q", s, got)
		}
	}
	if got := ExplainSenderStatus("NEW_THING"); got != `Twilio reports the status "NEW_THING".` {
		t.Errorf("unknown status explained as %q", got)
	}
	if ExplainSenderStatus("") != "" {
		t.Error("empty status explained")
	}
}
