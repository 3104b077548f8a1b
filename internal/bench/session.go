package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"|name="csrf-token" content="([^"]+)"`)

// signIn signs in through the sign-in form, as a person does (GET /login for
// the CSRF token, POST the form, expect the redirect), and returns a client
// holding the session cookie. It does not follow redirects, so a request
// that is turned away shows as a 303, not as the sign-in page's 200.
func signIn(ctx context.Context, base, email, password string, transport http.RoundTripper) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar: jar, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(page))
	if m == nil {
		return nil, fmt.Errorf("bench: no CSRF token on /login (status %d)", resp.StatusCode)
	}
	form := url.Values{"_csrf": {m[1] + m[2]}, "email": {email}, "password": {password}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("bench: sign-in as %s answered %d, want 303", email, resp.StatusCode)
	}
	return c, nil
}

// timedGet fetches path, reads the whole page and returns how long it took.
func timedGet(ctx context.Context, c *http.Client, base, path string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: GET %s: %d", path, resp.StatusCode)
	}
	return d, nil
}
