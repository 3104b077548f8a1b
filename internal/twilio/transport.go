package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
)

// APIError is an error answered by Twilio (or the simulator, or Prism): the HTTP status and
// Twilio's error code (https://www.twilio.com/docs/errors/<Code>), e.g. 21211 invalid 'To',
// 21610 unsubscribed recipient, 20429 too many requests. Code is 0 when the answer carried none.
type APIError struct {
	HTTPStatus, Code  int
	Message, MoreInfo string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus)
	}
	if e.Code != 0 {
		return fmt.Sprintf("twilio API error %d (HTTP %d): %s", e.Code, e.HTTPStatus, msg)
	}
	return fmt.Sprintf("twilio API error (HTTP %d): %s", e.HTTPStatus, msg)
}

// tooManyRequests reports whether e is Twilio's rate limit answer, the only one retried.
func (e *APIError) tooManyRequests() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.Code == 20429
}

// baseClient is twilio-go's client with the host rewritten to base when base is set.
type baseClient struct {
	*client.Client
	base *url.URL
}

// SendRequest rewrites the final URL (after twilio-go's BuildUrl applied region and edge) to
// base's scheme and host, prefixing base's path, and records the original host in X-Twilio-Host.
func (c *baseClient) SendRequest(method string, rawURL string, data url.Values,
	headers map[string]interface{}, body ...byte) (*http.Response, error) {
	if c.base != nil {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		h := make(map[string]interface{}, len(headers)+1)
		for k, v := range headers {
			h[k] = v
		}
		h["X-Twilio-Host"] = u.Host
		headers = h
		u.Scheme, u.Host = c.base.Scheme, c.base.Host
		u.Path = c.base.Path + u.Path
		u.RawPath = ""
		rawURL = u.String()
	}
	return c.Client.SendRequest(method, rawURL, data, headers, body...)
}

// callState is what the transport saw of one attempt's response.
type callState struct {
	status     int
	body       []byte // error bodies only
	retryAfter time.Duration
}

// ctxTransport binds requests to ctx (twilio-go builds them with context.Background) and
// buffers error bodies so twilio-go's error path (which never closes them) does not leak the
// connection and so the status survives twilio-go's decoding.
type ctxTransport struct {
	ctx   context.Context
	base  http.RoundTripper
	state *callState
}

func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	t.state.status = res.StatusCode
	if res.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(b))
		t.state.body = b
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			t.state.retryAfter = time.Duration(s) * time.Second
		}
	}
	return res, nil
}

// convertError turns twilio-go's errors into *APIError where the server answered.
func convertError(err error, st *callState) error {
	var tre *client.TwilioRestError
	if errors.As(err, &tre) {
		e := &APIError{HTTPStatus: tre.Status, Code: tre.Code, Message: tre.Message, MoreInfo: tre.MoreInfo}
		if st.status != 0 {
			e.HTTPStatus = st.status
		}
		if e.Message == "" {
			e.Message = problemMessage(st.body)
		}
		return e
	}
	var v1 *client.RestErrorV1
	if errors.As(err, &v1) {
		e := &APIError{HTTPStatus: v1.HttpStatusCode, Code: v1.Code, Message: v1.Message}
		if st.status != 0 {
			e.HTTPStatus = st.status
		}
		return e
	}
	if st.status >= 400 { // an error body twilio-go could not decode (HTML, empty, ...)
		return &APIError{HTTPStatus: st.status, Message: problemMessage(st.body)}
	}
	return err
}

// problemMessage summarises a non-Twilio error body, such as Prism's application/problem+json.
func problemMessage(body []byte) string {
	var p struct {
		Title, Detail string
		Validation    []struct{ Message string }
	}
	if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
		parts := []string{p.Title}
		for _, v := range p.Validation {
			parts = append(parts, v.Message)
		}
		if len(p.Validation) == 0 && p.Detail != "" {
			parts = append(parts, p.Detail)
		}
		return strings.Join(parts, ": ")
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// marshalVariables encodes ContentVariables as Twilio wants: a JSON object string,
// e.g. {"1":"Ada","2":"Friday"}.
func marshalVariables(v map[string]string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
