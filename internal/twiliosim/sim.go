// Package twiliosim is a Twilio simulator: an http.Handler speaking Twilio's REST shapes for the
// parts Classline uses, playing the phone network (signed status callbacks) and the parents
// (signed inbound webhooks). It is the product's demo mode and the tests' Twilio; twilio-go is
// pointed at it by rewriting scheme and host, so the code path is the production one.
//
// It imports nothing of the application.
//
// # REST endpoints
//
//	POST /2010-04-01/Accounts/{AccountSid}/Messages.json        create (form-encoded)
//	GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json  fetch
//	GET  /2010-04-01/Accounts/{AccountSid}/Messages.json        list (To, From, PageSize, Page)
//	GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}/Media/{MediaSid}  a file (".json": JSON)
//
// REST calls need HTTP basic auth with Config.AccountSID and Config.AuthToken (else 401, code
// 20003). Paths are routed as Twilio's; the X-Twilio-Host header a gateway may add is ignored.
//
// # Developer endpoints (no auth)
//
//	POST /sim/inbound    form, multipart (files) or JSON {From, To, Body, ProfileName, MediaUrl,
//	                     Files: [{Name, ContentType, Data (base64)}]}: a parent writes
//	GET  /sim/messages   every message, as Twilio Message JSON
//	GET  /sim/templates  every content template with its WhatsApp approval (content.go)
//
// # Deterministic magic numbers
//
// The recipient's last four digits decide the outcome, overriding FailureRate:
//
//	…0001  create fails: HTTP 400, code 21211 (invalid 'To' number)
//	…0002  ends undelivered, ErrorCode 30003 (queued → sent → undelivered)
//	…0003  ends failed, ErrorCode 30008 for SMS, 63024 for WhatsApp (queued → failed)
//
// The WhatsApp 24-hour window rule (EnforceWindow, error 63016) applies before magic numbers.
package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Sim. The zero value of every field but the credentials is usable.
type Config struct {
	// AccountSID and AuthToken: basic auth required on REST calls; AuthToken also signs
	// callbacks and inbound webhooks.
	AccountSID, AuthToken string
	// StepDelay is the pause before each status step of a message; default 600ms.
	StepDelay time.Duration
	// FailureRate is the fraction of messages ending failed or undelivered.
	FailureRate float64
	// DuplicateRate is the fraction of status callbacks posted twice.
	DuplicateRate float64
	// Reorder shuffles the order of a message's status callbacks (the stored status still
	// progresses in the true order).
	Reorder bool
	// Latency is added to each REST response.
	Latency time.Duration
	// MaxConcurrent > 0 caps concurrent REST requests; requests beyond it get HTTP 429, code 20429.
	MaxConcurrent int
	// Faults on message create, each a fraction of create calls, for the
	// broadcast engine's tests: RateLimitRate answers 429/20429 and ServerErrorRate
	// 500 without creating anything; LostResponseRate creates the message and
	// then drops the connection, so the client cannot know it was sent.
	RateLimitRate, ServerErrorRate, LostResponseRate float64
	// LateCreateRate is the fraction of create calls that take
	// LateCreateDelay before the message is created, whether or not the
	// client is still waiting: a busy server finishing a request its client
	// gave up on. A client that asks at once whether the message exists is
	// told no, and a resend is a duplicate.
	LateCreateRate  float64
	LateCreateDelay time.Duration
	// ResetRate is the fraction of create calls whose connection is cut
	// before anything is created (a reset on the way in). SlowResponseRate
	// creates the message at once and answers SlowResponseDelay later, so
	// a client with a shorter timeout gives up on a message that exists.
	ResetRate, SlowResponseRate float64
	SlowResponseDelay           time.Duration
	// EnforceWindow makes free-form WhatsApp messages (no ContentSid) to an address that has not
	// written within 24 hours fail with 63016, reported by status callback as Twilio does.
	EnforceWindow bool
	// InboundURL is where simulated inbound messages are POSTed.
	InboundURL string
	// BaseURL is the simulator's own address ("http://127.0.0.1:8099"), the base of the media
	// URLs it gives inbound files. Unset, POST /sim/inbound takes it from the request's Host.
	BaseURL string
	// Now is the clock for dates and the 24-hour window; default time.Now.
	Now func() time.Time
	// Seed seeds the randomness; 0 means time-based.
	Seed int64
	// HTTPClient posts callbacks and webhooks; default: 10s timeout.
	HTTPClient *http.Client
	// Logf, if set, receives diagnostic lines (never message bodies).
	Logf func(format string, args ...any)
}

// Message is a message the simulator knows, outbound (created through the API, Direction
// "outbound-api") or inbound (made by Inbound, Direction "inbound", Status "received").
type Message struct {
	SID                 string
	AccountSID          string
	Direction           string
	From, To, Body      string
	MessagingServiceSID string
	ContentSID          string
	ContentVariables    string
	MediaURLs           []string
	StatusCallback      string
	Status              string
	ErrorCode           int
	ErrorMessage        string
	NumSegments         int
	DateCreated         time.Time
	DateSent            time.Time // zero until sent
	DateUpdated         time.Time

	// Media are the files the simulator holds for the message: an inbound message's Files, or
	// what it fetched from an outbound message's MediaURLs (see media.go).
	Media []MediaItem
}

func (m Message) clone() Message {
	m.MediaURLs = append([]string(nil), m.MediaURLs...)
	m.Media = append([]MediaItem(nil), m.Media...)
	return m
}

// Sim is the simulator. Create it with New, serve Handler, and Close it when done.
type Sim struct {
	cfg    Config
	now    func() time.Time
	client *http.Client
	mux    *http.ServeMux

	inflight atomic.Int64

	mu          sync.Mutex
	rng         *mrand.Rand
	inboundURL  string
	baseURL     string
	messages    []*Message
	bySID       map[string]*Message
	optedOut    map[string]bool
	lastInbound map[string]time.Time // by the parent's address ("whatsapp:+E164" or "+E164")
	senders     senderStore          // WhatsApp senders (senders.go)
	templates   templateStore        // content templates (content.go)
	closed      bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a simulator configured by cfg.
func New(cfg Config) *Sim {
	if cfg.StepDelay <= 0 {
		cfg.StepDelay = 600 * time.Millisecond
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	s := &Sim{
		cfg:         cfg,
		now:         cfg.Now,
		client:      cfg.HTTPClient,
		rng:         mrand.New(mrand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		inboundURL:  cfg.InboundURL,
		baseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		bySID:       make(map[string]*Message),
		optedOut:    make(map[string]bool),
		lastInbound: make(map[string]time.Time),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// routes registers every endpoint on s.mux. Each product registers its own routes here: later
// products (Senders at /v2/Channels/Senders, Content at /v1/Content) add a register function
// of their own, wrapping REST handlers in s.rest for auth, latency and the concurrency cap.
func (s *Sim) routes() {
	s.registerMessages(s.mux)
	s.registerSenders(s.mux)
	s.registerContent(s.mux)
	s.registerMedia(s.mux)
	s.registerDev(s.mux)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
}

// Handler returns the simulator's HTTP handler.
func (s *Sim) Handler() http.Handler { return s.mux }

// SetInboundURL sets where Inbound posts (our /webhooks/twilio/inbound).
func (s *Sim) SetInboundURL(u string) {
	s.mu.Lock()
	s.inboundURL = u
	s.mu.Unlock()
}

// OptOut makes creates to this exact address ("+E164" or "whatsapp:+E164") fail with 21610.
func (s *Sim) OptOut(number string) {
	s.mu.Lock()
	s.optedOut[number] = true
	s.mu.Unlock()
}

// OptIn undoes OptOut.
func (s *Sim) OptIn(number string) {
	s.mu.Lock()
	delete(s.optedOut, number)
	s.mu.Unlock()
}

// Messages returns a copy of every message, outbound and inbound, oldest first.
func (s *Sim) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages))
	for _, m := range s.messages {
		out = append(out, m.clone())
	}
	return out
}

// Close stops pending status progressions and callbacks and waits for their goroutines.
// Messages created after Close get no further status steps.
func (s *Sim) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// goAsync runs f in a tracked goroutine unless the simulator is closed.
func (s *Sim) goAsync(f func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
	return true
}

func (s *Sim) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// newSID returns prefix + 32 lowercase hex digits, as Twilio SIDs.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// rest wraps a REST handler: concurrency cap (429/20429), latency, then basic auth (20003).
func (s *Sim) rest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if limit := s.cfg.MaxConcurrent; limit > 0 {
			n := s.inflight.Add(1)
			defer s.inflight.Add(-1)
			if n > int64(limit) {
				writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
				return
			}
		}
		if d := s.cfg.Latency; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		user, pass, ok := r.BasicAuth()
		if !ok || !constantEqual(user, s.cfg.AccountSID) || !constantEqual(pass, s.cfg.AuthToken) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		if acct := r.PathValue("AccountSid"); acct != "" && acct != s.cfg.AccountSID {
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		h(w, r)
	}
}

// isWhatsApp reports whether addr is a WhatsApp channel address.
func isWhatsApp(addr string) bool { return strings.HasPrefix(addr, "whatsapp:") }

// bare strips a channel prefix ("whatsapp:") from an address.
func bare(addr string) string {
	if i := strings.IndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// validE164 reports whether n is "+" followed by 7 to 15 digits, the first not 0.
func validE164(n string) bool {
	if len(n) < 8 || len(n) > 16 || n[0] != '+' || n[1] == '0' {
		return false
	}
	for _, c := range n[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
