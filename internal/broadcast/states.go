package broadcast

import (
	"fmt"
	"slices"
)

// State is where one recipient of a broadcast stands. The row in
// broadcast_recipients is the only record of it: the broadcast's counters
// are a GROUP BY over these states, never kept by hand.
type State string

// Recipient states.
const (
	// StatePending: waiting for its send (first try, or a retry after a backoff).
	StatePending State = "pending"
	// StateSending: claimed by a worker whose call to Twilio may be under
	// way; no SID yet. A crash leaves it here until a rescuer reconciles it.
	StateSending State = "sending"
	// StateSubmitted: Twilio holds the message (its SID is stored); delivery
	// status then follows the message's status callbacks.
	StateSubmitted State = "submitted"
	// StateFailed: Twilio refused it for good, or every attempt was spent.
	StateFailed State = "failed"
	// StateSkipped: never sent, decided when the broadcast was prepared
	// (invalid or duplicate number, no consent, ...). Created so, never entered.
	StateSkipped State = "skipped"
	// StateCanceled: the broadcast was canceled before it was sent.
	StateCanceled State = "canceled"
)

// Event is what happens to a recipient.
type Event string

// Events.
const (
	// EventClaim: a worker marks it sending and commits before calling Twilio.
	EventClaim Event = "claim"
	// EventUnsendable: it cannot be tried at all (no sender, sender blocked).
	EventUnsendable Event = "unsendable"
	// EventCancel: the broadcast was canceled.
	EventCancel Event = "cancel"
	// EventAccepted: Twilio returned a SID, or reconciliation found the
	// message at Twilio.
	EventAccepted Event = "accepted"
	// EventPermanentError: Twilio refused it (21211, 21610, 63016, ...).
	EventPermanentError Event = "permanent_error"
	// EventRetry: nothing was created at Twilio (a 429, or an ambiguous
	// error that reconciliation proved left nothing): back to pending after
	// a backoff.
	EventRetry Event = "retry"
	// EventGiveUp: the last allowed attempt ended without a SID.
	EventGiveUp Event = "give_up"
	// EventOperatorRetry: staff chose "retry transient failures": a fresh
	// message for a recipient that failed, or whose message failed on its way.
	EventOperatorRetry Event = "operator_retry"
)

// transitions is the whole state machine: for each event, the states it
// may leave and the state it leads to. Anything else is refused, and the
// SQL that writes a state change is guarded by the same "from" list, so a
// late or duplicate worker cannot move a recipient backwards.
var transitions = map[Event]struct {
	from []State
	to   State
}{
	EventClaim:          {[]State{StatePending}, StateSending},
	EventUnsendable:     {[]State{StatePending}, StateFailed},
	EventCancel:         {[]State{StatePending}, StateCanceled},
	EventRetry:          {[]State{StateSending}, StatePending},
	EventGiveUp:         {[]State{StateSending}, StateFailed},
	EventPermanentError: {[]State{StateSending}, StateFailed},
	// Twilio's SID is the truth about what was sent: it wins even over a
	// rescuer that already put the row back to pending (a resend would be a
	// duplicate) or gave up on it.
	EventAccepted:      {[]State{StateSending, StatePending, StateFailed}, StateSubmitted},
	EventOperatorRetry: {[]State{StateFailed, StateSubmitted}, StatePending},
}

// Next is the state a recipient in from moves to on ev, or an error when
// the event cannot happen in that state.
func Next(from State, ev Event) (State, error) {
	t, ok := transitions[ev]
	if !ok {
		return "", fmt.Errorf("broadcast: unknown recipient event %q", ev)
	}
	if !slices.Contains(t.from, from) {
		return "", fmt.Errorf("broadcast: a %s recipient cannot take %q", from, ev)
	}
	return t.to, nil
}

// Final reports whether a recipient in s needs no more work from the engine
// (only an operator's retry moves it again).
func Final(s State) bool {
	switch s {
	case StateSubmitted, StateFailed, StateSkipped, StateCanceled:
		return true
	}
	return false
}

// fromStates is the guard for the SQL that applies ev.
func fromStates(ev Event) []string {
	t := transitions[ev]
	out := make([]string, len(t.from))
	for i, s := range t.from {
		out[i] = string(s)
	}
	return out
}
