package policy

import (
	"strings"
	"testing"
)

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{
		0: true, 20429: true, 30003: true, 30008: true,
		21211: false, 21610: false, 63016: false, 63024: false, 30004: false, 30005: false, 30006: false, 30007: false, 21614: false,
	} {
		if got := Retryable(code); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestExplainError(t *testing.T) {
	if got := ExplainError(63016); !strings.Contains(got, "24-hour") {
		t.Errorf("63016 explained as %q", got)
	}
	if got := ExplainError(12345); got != "Twilio reported error 12345." {
		t.Errorf("unknown code explained as %q", got)
	}
	if got := ExplainError(0); got != "" {
		t.Errorf("no code explained as %q", got)
	}
}
