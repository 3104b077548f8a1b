package broadcast

import (
	"fmt"
	"slices"
	"testing"
)

// The recipient state machine as a table: every state × every event, with
// the state it leads to or "" where the event must be refused. Adding a
// state or an event without deciding each of its cells fails the test.
func TestRecipientStateMachine(t *testing.T) {
	states := []State{StatePending, StateSending, StateSubmitted, StateFailed, StateSkipped, StateCanceled}
	events := []Event{EventClaim, EventUnsendable, EventCancel, EventAccepted, EventPermanentError, EventRetry, EventGiveUp, EventOperatorRetry}
	const no = State("")
	table := map[State]map[Event]State{
		StatePending: {
			EventClaim: StateSending, EventUnsendable: StateFailed, EventCancel: StateCanceled,
			// A rescuer put it back to pending, then the first worker's answer
			// came: Twilio has it, so it must not be sent again.
			EventAccepted:       StateSubmitted,
			EventPermanentError: no, EventRetry: no, EventGiveUp: no, EventOperatorRetry: no,
		},
		StateSending: {
			EventClaim: no, EventUnsendable: no,
			// Canceling a broadcast leaves a send under way to finish: its
			// message may already be at Twilio.
			EventCancel:   no,
			EventAccepted: StateSubmitted, EventPermanentError: StateFailed, EventRetry: StatePending, EventGiveUp: StateFailed,
			EventOperatorRetry: no,
		},
		StateSubmitted: {
			EventClaim: no, EventUnsendable: no, EventCancel: no,
			// A second SID would be a second message: never recorded over the first.
			EventAccepted: no,
			// Late answers of a worker must not move it backwards.
			EventPermanentError: no, EventRetry: no, EventGiveUp: no,
			// Staff retry a message that failed after Twilio took it (30003...).
			EventOperatorRetry: StatePending,
		},
		StateFailed: {
			EventClaim: no, EventUnsendable: no, EventCancel: no,
			EventAccepted:       StateSubmitted,
			EventPermanentError: no, EventRetry: no, EventGiveUp: no,
			EventOperatorRetry: StatePending,
		},
		StateSkipped: {
			EventClaim: no, EventUnsendable: no, EventCancel: no, EventAccepted: no,
			EventPermanentError: no, EventRetry: no, EventGiveUp: no, EventOperatorRetry: no,
		},
		StateCanceled: {
			EventClaim: no, EventUnsendable: no, EventCancel: no, EventAccepted: no,
			EventPermanentError: no, EventRetry: no, EventGiveUp: no, EventOperatorRetry: no,
		},
	}
	if len(transitions) != len(events) {
		t.Fatalf("the machine has %d events, the table %d: decide the new one's cells", len(transitions), len(events))
	}
	for _, from := range states {
		row, ok := table[from]
		if !ok || len(row) != len(events) {
			t.Fatalf("state %s: table row incomplete", from)
		}
		for _, ev := range events {
			want, ok := row[ev]
			if !ok {
				t.Fatalf("%s × %s: not in the table", from, ev)
			}
			t.Run(fmt.Sprintf("%s_%s", from, ev), func(t *testing.T) {
				got, err := Next(from, ev)
				if want == no {
					if err == nil {
						t.Fatalf("Next(%s, %s) = %s, want refused", from, ev, got)
					}
					if slices.Contains(fromStates(ev), string(from)) {
						t.Fatalf("SQL guard of %s admits %s", ev, from)
					}
					return
				}
				if err != nil || got != want {
					t.Fatalf("Next(%s, %s) = %q, %v; want %s", from, ev, got, err, want)
				}
				if !slices.Contains(fromStates(ev), string(from)) {
					t.Fatalf("SQL guard of %s refuses %s", ev, from)
				}
			})
		}
	}
	if _, err := Next(StatePending, Event("teleport")); err == nil {
		t.Fatal("an unknown event was accepted")
	}
}

func TestFinalStates(t *testing.T) {
	for s, want := range map[State]bool{StatePending: false, StateSending: false, StateSubmitted: true,
		StateFailed: true, StateSkipped: true, StateCanceled: true} {
		if Final(s) != want {
			t.Errorf("Final(%s) = %v, want %v", s, !want, want)
		}
	}
}
