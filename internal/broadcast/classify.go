package broadcast

import (
	"context"
	"errors"
	"net/http"

	"github.com/classline/classline/internal/twilio"
)

// Outcome is how one call to Twilio ended, as the engine treats it.
type Outcome string

const (
	OutcomeSubmitted   Outcome = "submitted"
	OutcomeRateLimited Outcome = "rate_limited"
	OutcomeServerError Outcome = "server_error"
	OutcomeNetwork     Outcome = "network_error"
	OutcomePermanent   Outcome = "permanent_error"
	// OutcomeNotAtTwilio: after an unanswered call, Twilio was asked and has
	// no such message, so it may be sent again.
	OutcomeNotAtTwilio Outcome = "not_at_twilio"
)

// Retryable: the same request may succeed later.
func (o Outcome) Retryable() bool {
	return o == OutcomeRateLimited || o == OutcomeServerError || o == OutcomeNetwork
}

// Ambiguous: Twilio may have created the message although we got no answer
// saying so; Twilio must be asked before any resend.
func (o Outcome) Ambiguous() bool { return o == OutcomeServerError || o == OutcomeNetwork }

// Classified is an error as the engine sees it.
type Classified struct {
	Outcome    Outcome
	HTTPStatus int
	Code       int
	Message    string
}

// Classify sorts a send error: 429/20429 is rate limiting (nothing was
// created); 5xx a server error and anything without an answer (timeouts,
// resets) a network error, both ambiguous; every other answer from Twilio
// (400 21211 invalid number, 21610 unsubscribed, 63016 outside the window...)
// is permanent: sending again would fail the same way.
func Classify(err error) Classified {
	if err == nil {
		return Classified{Outcome: OutcomeSubmitted}
	}
	var apiErr *twilio.APIError
	if errors.As(err, &apiErr) {
		c := Classified{HTTPStatus: apiErr.HTTPStatus, Code: apiErr.Code, Message: apiErr.Message}
		switch {
		case apiErr.HTTPStatus == http.StatusTooManyRequests || apiErr.Code == 20429:
			c.Outcome = OutcomeRateLimited
		case apiErr.HTTPStatus >= 500:
			c.Outcome = OutcomeServerError
		default:
			c.Outcome = OutcomePermanent
		}
		return c
	}
	msg := "no answer from Twilio"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "Twilio did not answer in time"
	}
	return Classified{Outcome: OutcomeNetwork, Message: msg}
}

// transientCodes are Twilio errors worth another try later, for "retry
// transient failures": queues and carriers that were full or busy, rate
// limits, and the phone that was off. Invalid numbers, opt-outs, unapproved
// templates and closed windows are not: they would fail the same way.
var transientCodes = map[int]string{
	20429: "too many requests",
	30001: "queue overflow",
	30003: "unreachable handset (off or out of coverage)",
	30008: "unknown carrier error",
	30009: "a segment went missing",
	30017: "carrier network congestion",
	30022: "10DLC rate limit exceeded",
	30027: "carrier daily limit reached",
	63018: "WhatsApp rate limit exceeded",
	63038: "WhatsApp daily message limit reached",
}

// TransientCode reports whether a failure with this Twilio error code may
// succeed if sent again later. 0 (no answer at all) counts as transient.
func TransientCode(code int) bool {
	if code == 0 || code >= 20500 && code < 20600 {
		return true
	}
	_, ok := transientCodes[code]
	return ok
}
