// Package twilio is the Gateway: the only place Classline calls twilio-go.
//
// The Gateway sends and fetches messages through twilio-go's generated API, so requests are
// exactly the ones Twilio's own SDK makes. Config.APIBase points every *.twilio.com request at
// another server (the simulator in internal/twiliosim, Prism, a proxy): twilio-go has no base-URL
// option, so a client embedding twilio-go's *client.Client overrides SendRequest and rewrites the
// scheme and host of the final URL (after twilio-go's region/edge handling, so TWILIO_REGION and
// TWILIO_EDGE cannot mangle a local host). The original host goes along in the X-Twilio-Host
// header; paths of api, messaging and content do not collide, so one server can serve all three.
//
// Retries: only HTTP 429 / error 20429 (Too Many Requests) is retried, with exponential backoff
// and jitter, honouring the context. Nothing else is retried, on purpose: after a 5xx or a timeout
// on create, Twilio may already have accepted the message, and sending again could deliver it
// twice. Callers decide (reconcile by fetching, or mark the send as unknown).
package twilio

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	twiliogo "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Config configures a Gateway.
type Config struct {
	// AccountSID and AuthToken are the credentials (alphanumeric, as twilio-go requires).
	AccountSID, AuthToken string
	// APIBase: "" talks to real Twilio; otherwise (e.g. "http://127.0.0.1:8099") every
	// *.twilio.com request goes there instead, keeping its path (after APIBase's own path, if any).
	APIBase string
	// HTTPClient makes the requests; default: no redirects followed, 10 s timeout (twilio-go's).
	// Its Timeout bounds each attempt.
	HTTPClient *http.Client
	// MaxRetries is how many times a 429/20429 is retried: 0 means the default 4, negative none.
	MaxRetries int
}

// Gateway sends messages through Twilio (or whatever APIBase points at). It is safe for
// concurrent use.
type Gateway struct {
	accountSID string
	authToken  string
	base       *url.URL
	httpClient *http.Client
	maxRetries int
	validator  client.RequestValidator

	// Backoff before retry n (0-based) is a random duration in [d/2, d] where
	// d = min(retryBase·2ⁿ, retryMax).
	retryBase, retryMax time.Duration
}

// SendRequest is a message to send. Exactly what Twilio needs: To; From or MessagingServiceSID;
// Body, MediaURLs or ContentSID (a template, with ContentVariables).
type SendRequest struct {
	From, To, Body      string
	MediaURLs           []string
	MessagingServiceSID string
	ContentSID          string
	ContentVariables    map[string]string
	StatusCallback      string
}

// Message is Twilio's Message resource, as far as Classline uses it.
type Message struct {
	SID, Status, From, To, Body string
	MessagingServiceSID         string
	NumSegments                 int
	ErrorCode                   int
	ErrorMessage                string
	DateCreated                 time.Time
}

var alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// New returns a Gateway. Credentials must be non-empty and alphanumeric (twilio-go rejects
// anything else with errors 21222/21224 before any request is made).
func New(cfg Config) (*Gateway, error) {
	if !alphanumeric.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: account SID must be non-empty and alphanumeric")
	}
	if !alphanumeric.MatchString(cfg.AuthToken) {
		return nil, errors.New("twilio: auth token must be non-empty and alphanumeric")
	}
	g := &Gateway{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		httpClient: cfg.HTTPClient,
		maxRetries: cfg.MaxRetries,
		validator:  client.NewRequestValidator(cfg.AuthToken),
		retryBase:  250 * time.Millisecond,
		retryMax:   8 * time.Second,
	}
	if g.maxRetries == 0 {
		g.maxRetries = 4
	} else if g.maxRetries < 0 {
		g.maxRetries = 0
	}
	if g.httpClient == nil {
		// Go's default keeps 2 idle connections per host: a broadcast with
		// 100 requests in flight would open (and TLS-handshake) a new one
		// for almost every message.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 128
		g.httpClient = &http.Client{
			Transport: tr,
			Timeout:   10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.APIBase != "" {
		u, err := url.Parse(cfg.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twilio: API base %q must be an http(s) URL with a host", cfg.APIBase)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath, u.RawQuery, u.Fragment = "", "", ""
		g.base = u
	}
	return g, nil
}

// AuthToken returns the auth token, for callers that check webhook signatures themselves.
func (g *Gateway) AuthToken() string { return g.authToken }

// ValidateSignature reports whether signature is Twilio's X-Twilio-Signature for a POST to
// fullURL (as Twilio was told it: scheme, host, path and query) with these form parameters.
// It uses twilio-go's RequestValidator, which tries the URL with and without a default port.
// params holds one value per name (Twilio's webhooks repeat no names).
func (g *Gateway) ValidateSignature(fullURL string, params map[string]string, signature string) bool {
	if signature == "" {
		return false
	}
	return g.validator.Validate(fullURL, params, signature)
}

// SendMessage creates a message. Twilio's errors come back as *APIError.
func (g *Gateway) SendMessage(ctx context.Context, r SendRequest) (Message, error) {
	p := &openapi.CreateMessageParams{}
	p.SetTo(r.To)
	if r.From != "" {
		p.SetFrom(r.From)
	}
	if r.MessagingServiceSID != "" {
		p.SetMessagingServiceSid(r.MessagingServiceSID)
	}
	if r.Body != "" {
		p.SetBody(r.Body)
	}
	if len(r.MediaURLs) > 0 {
		p.SetMediaUrl(r.MediaURLs)
	}
	if r.ContentSID != "" {
		p.SetContentSid(r.ContentSID)
	}
	if len(r.ContentVariables) > 0 {
		vars, err := marshalVariables(r.ContentVariables)
		if err != nil {
			return Message{}, fmt.Errorf("twilio: send message: content variables: %w", err)
		}
		p.SetContentVariables(vars)
	}
	if r.StatusCallback != "" {
		p.SetStatusCallback(r.StatusCallback)
	}
	var out *openapi.ApiV2010Message
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.Api.CreateMessage(p)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("twilio: send message: %w", err)
	}
	return toMessage(out), nil
}

// FetchMessage reads a message by SID.
func (g *Gateway) FetchMessage(ctx context.Context, sid string) (Message, error) {
	if sid == "" || strings.ContainsAny(sid, "/?#") {
		return Message{}, fmt.Errorf("twilio: fetch message: invalid SID %q", sid)
	}
	var out *openapi.ApiV2010Message
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.Api.FetchMessage(sid, nil)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("twilio: fetch message %s: %w", sid, err)
	}
	return toMessage(out), nil
}

// do runs call with a RestClient bound to ctx, retrying 429/20429 only.
func (g *Gateway) do(ctx context.Context, call func(*twiliogo.RestClient) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &callState{}
		err := g.attempt(ctx, st, call)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || !apiErr.tooManyRequests() || attempt >= g.maxRetries {
			return err
		}
		wait := g.backoff(attempt)
		if st.retryAfter > wait {
			wait = min(st.retryAfter, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt makes one call. The per-attempt RestClient carries ctx (and the HTTP client's
// timeout) into the HTTP request, since twilio-go itself takes no context.
func (g *Gateway) attempt(ctx context.Context, st *callState, call func(*twiliogo.RestClient) error) error {
	hc := *g.httpClient
	if hc.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hc.Timeout)
		defer cancel() // twilio-go has read and closed the body by the time call returns
		hc.Timeout = 0
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &ctxTransport{ctx: ctx, base: base, state: st}

	c := &baseClient{
		Client: &client.Client{
			Credentials: client.NewCredentials(g.accountSID, g.authToken),
			HTTPClient:  &hc,
		},
		base: g.base,
	}
	c.SetAccountSid(g.accountSID)
	rc := twiliogo.NewRestClientWithParams(twiliogo.ClientParams{
		Username: g.accountSID,
		Password: g.authToken,
		Client:   c,
	})
	if err := call(rc); err != nil {
		return convertError(err, st)
	}
	return nil
}

func (g *Gateway) backoff(attempt int) time.Duration {
	d := g.retryBase << min(attempt, 20)
	if d <= 0 || d > g.retryMax {
		d = g.retryMax
	}
	half := d / 2
	return half + rand.N(half+1)
}

func toMessage(m *openapi.ApiV2010Message) Message {
	if m == nil {
		return Message{}
	}
	out := Message{
		SID:          deref(m.Sid),
		Status:       deref(m.Status),
		From:         deref(m.From),
		To:           deref(m.To),
		Body:         deref(m.Body),
		ErrorMessage: deref(m.ErrorMessage),
	}
	if m.NumSegments != nil {
		out.NumSegments, _ = strconv.Atoi(*m.NumSegments)
	}
	if m.ErrorCode != nil {
		out.ErrorCode = *m.ErrorCode
	}
	if m.DateCreated != nil {
		out.DateCreated = parseTwilioTime(*m.DateCreated)
	}
	return out
}

// parseTwilioTime parses Twilio's RFC 2822 dates ("Thu, 24 Aug 2023 05:01:45 +0000").
func parseTwilioTime(s string) time.Time {
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
