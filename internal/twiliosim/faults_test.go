package twiliosim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawCreate posts a create call with its own client and timeout, and
// returns the HTTP status, or the transport error.
func rawCreate(t *testing.T, url string, timeout time.Duration) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f := form("To", "+15557770000", "From", "+15550009999", "Body", "fault test")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testAccount, testToken)
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// A reset on the way in cuts the connection and creates nothing.
func TestFaultResetCreatesNothing(t *testing.T) {
	s, srv := newTestSim(t, Config{ResetRate: 1})
	for range 5 {
		if code, err := rawCreate(t, messagesURL(srv), 10*time.Second); err == nil {
			t.Fatalf("create answered HTTP %d; want the connection cut", code)
		}
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages created behind reset connections, want 0", n)
	}
}

// A lost response creates the message, then cuts the connection.
func TestFaultLostResponseCreates(t *testing.T) {
	s, srv := newTestSim(t, Config{LostResponseRate: 1})
	if code, err := rawCreate(t, messagesURL(srv), 10*time.Second); err == nil {
		t.Fatalf("create answered HTTP %d; want the connection cut", code)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages created, want 1 (created, then the answer lost)", n)
	}
}

// A slow answer: the message exists at once; a patient client gets 201, an
// impatient one times out on a message that exists all the same.
func TestFaultSlowResponse(t *testing.T) {
	s, srv := newTestSim(t, Config{SlowResponseRate: 1, SlowResponseDelay: 1500 * time.Millisecond})
	if _, err := rawCreate(t, messagesURL(srv), 200*time.Millisecond); err == nil {
		t.Fatal("an impatient client got an answer before the delay")
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages after the client gave up, want 1", n)
	}
	if code, err := rawCreate(t, messagesURL(srv), 30*time.Second); err != nil || code != http.StatusCreated {
		t.Errorf("patient client: HTTP %d, %v; want 201", code, err)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}
