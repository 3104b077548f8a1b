package policy

import (
	"strings"
	"testing"
)

// statusColumns is the order of the "next" columns in the matrix below.
var statusColumns = []string{
	"accepted", "scheduled", "queued", "sending", "sent", "partially_delivered",
	"delivered", "read", "failed", "undelivered", "canceled", "receiving", "received",
}

// applyMatrix lists every (current, next) pair of known statuses, written out
// by hand: Y = the callback applies, . = it is ignored. "-" is the empty
// status of a message that has had no callback yet.
const applyMatrix = `
current \ next      acc sch que sng snt pd  del rd  fail und can rcg rcd
-                    Y   Y   Y   Y   Y   Y   Y   Y   Y    Y   Y   Y   Y
bogus                Y   Y   Y   Y   Y   Y   Y   Y   Y    Y   Y   Y   Y
accepted             .   Y   Y   Y   Y   Y   Y   Y   Y    Y   Y   .   .
scheduled            .   .   Y   Y   Y   Y   Y   Y   Y    Y   Y   .   .
queued               .   .   .   Y   Y   Y   Y   Y   Y    Y   Y   .   .
sending              .   .   .   .   Y   Y   Y   Y   Y    Y   .   .   .
sent                 .   .   .   .   .   Y   Y   Y   Y    Y   .   .   .
partially_delivered  .   .   .   .   .   .   Y   Y   .    .   .   .   .
delivered            .   .   .   .   .   .   .   Y   .    .   .   .   .
read                 .   .   .   .   .   .   .   .   .    .   .   .   .
failed               .   .   .   .   .   .   .   .   .    .   .   .   .
undelivered          .   .   .   .   .   .   .   .   .    .   .   .   .
canceled             .   .   .   .   .   .   .   .   .    .   .   .   .
receiving            .   .   .   .   .   .   .   .   .    .   .   .   Y
received             .   .   .   .   .   .   .   .   .    .   .   .   .
`

func TestShouldApplyStatusMatrix(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(applyMatrix), "\n")[1:]
	if len(lines) != len(statusColumns)+2 {
		t.Fatalf("matrix has %d rows, want %d", len(lines), len(statusColumns)+2)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		current, cells := f[0], f[1:]
		if current == "-" {
			current = ""
		}
		if len(cells) != len(statusColumns) {
			t.Fatalf("row %q has %d cells, want %d", current, len(cells), len(statusColumns))
		}
		for i, next := range statusColumns {
			want := cells[i] == "Y"
			if got := ShouldApplyStatus(current, next); got != want {
				t.Errorf("ShouldApplyStatus(%q, %q) = %v, want %v", current, next, got, want)
			}
		}
	}
}

func TestShouldApplyStatusScenarios(t *testing.T) {
	tests := []struct {
		name, current, next string
		want                bool
	}{
		{"duplicate sent", "sent", "sent", false},
		{"duplicate delivered", "delivered", "delivered", false},
		{"duplicate failed", "failed", "failed", false},
		{"late sent after delivered", "delivered", "sent", false},
		{"late queued after sent", "sent", "queued", false},
		{"late delivered after read", "read", "delivered", false},
		{"undelivered after sent (carrier report)", "sent", "undelivered", true},
		{"failed after sent", "sent", "failed", true},
		{"undelivered after delivered is stale", "delivered", "undelivered", false},
		{"failed after read is stale", "read", "failed", false},
		{"delivered after undelivered stays failed", "undelivered", "delivered", false},
		{"read after failed stays failed", "failed", "read", false},
		{"skip straight to delivered", "queued", "delivered", true},
		{"skip straight to read", "sent", "read", true},
		{"read receipt after delivered", "delivered", "read", true},
		{"cancel a scheduled message", "scheduled", "canceled", true},
		{"cancel too late", "sent", "canceled", false},
		{"unknown next ignored", "sent", "exploded", false},
		{"empty next ignored", "sent", "", false},
		{"empty both", "", "", false},
		{"first status", "", "queued", true},
		{"case-insensitive", "Sent", "DELIVERED", true},
		{"case-insensitive duplicate", "sent", " SENT ", false},
		{"outbound cannot become inbound", "queued", "received", false},
		{"inbound cannot become outbound", "receiving", "sent", false},
	}
	for _, tt := range tests {
		if got := ShouldApplyStatus(tt.current, tt.next); got != tt.want {
			t.Errorf("%s: ShouldApplyStatus(%q, %q) = %v, want %v", tt.name, tt.current, tt.next, got, tt.want)
		}
	}
}

func TestShouldApplyStatusNeverGoesBackwards(t *testing.T) {
	// Replaying any happy-path sequence in any order must end at the furthest
	// status reached, never at an earlier one.
	path := []string{"accepted", "queued", "sending", "sent", "delivered", "read"}
	for i := range path {
		for j := range path {
			cur := path[i]
			if ShouldApplyStatus(cur, path[j]) != (j > i) {
				t.Errorf("ShouldApplyStatus(%q, %q) = %v, want %v", cur, path[j], !(j > i), j > i)
			}
		}
	}
}

func TestStatusRank(t *testing.T) {
	tests := []struct {
		status string
		want   int
	}{
		{"", 0},
		{"bogus", 0},
		{"accepted", 1},
		{"scheduled", 2},
		{"queued", 3},
		{"sending", 4},
		{"sent", 5},
		{"partially_delivered", 6},
		{"delivered", 7},
		{"read", 8},
		{"failed", 9},
		{"undelivered", 9},
		{"canceled", 9},
		{"receiving", 1},
		{"received", 2},
		{"DELIVERED", 7},
		{" sent ", 5},
	}
	for _, tt := range tests {
		if got := StatusRank(tt.status); got != tt.want {
			t.Errorf("StatusRank(%q) = %d, want %d", tt.status, got, tt.want)
		}
	}
	// The order the guide fixes: queued < sending < sent < delivered < read.
	order := []string{"queued", "sending", "sent", "delivered", "read"}
	for i := 1; i < len(order); i++ {
		if StatusRank(order[i-1]) >= StatusRank(order[i]) {
			t.Errorf("StatusRank(%q) should be below StatusRank(%q)", order[i-1], order[i])
		}
	}
}

func TestIsFinalStatus(t *testing.T) {
	final := map[string]bool{
		"failed": true, "undelivered": true, "canceled": true, "read": true, "received": true,
		"FAILED": true, " undelivered ": true,
		"accepted": false, "scheduled": false, "queued": false, "sending": false, "sent": false,
		"partially_delivered": false, "delivered": false, "receiving": false, "": false, "bogus": false,
	}
	for s, want := range final {
		if got := IsFinalStatus(s); got != want {
			t.Errorf("IsFinalStatus(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestStatusConstantsMatchTwilio(t *testing.T) {
	// The constants are compared against Twilio's literal strings, so a typo
	// in either the constants or the matrix columns shows up here.
	got := strings.Join([]string{
		StatusAccepted, StatusScheduled, StatusQueued, StatusSending, StatusSent,
		StatusPartiallyDelivered, StatusDelivered, StatusRead, StatusFailed,
		StatusUndelivered, StatusCanceled, StatusReceiving, StatusReceived,
	}, ",")
	if want := strings.Join(statusColumns, ","); got != want {
		t.Errorf("status constants = %s, want %s", got, want)
	}
}
