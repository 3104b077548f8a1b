package main

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// Parallel guesses cannot outrun the throttle: of 20 simultaneous wrong
// passwords for one account, exactly 5 are checked and 15 are refused.
func TestThrottleHoldsUnderParallelGuesses(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c := ta.client()
		tok := ta.csrfOf(c, "/login")
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.PostForm(ta.URL+"/login", url.Values{"_csrf": {tok}, "email": {ta.AdminEML}, "password": {"wrong-password-123"}})
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	counts := map[int]int{}
	for code := range codes {
		counts[code]++
	}
	if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != n-5 {
		t.Fatalf("answers %v, want 5×401 and %d×429", counts, n-5)
	}
	var checked int
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM login_attempts`).Scan(&checked); err != nil {
		t.Fatal(err)
	}
	if checked != 5 {
		t.Fatalf("%d attempts were checked against the password, want 5", checked)
	}
}
