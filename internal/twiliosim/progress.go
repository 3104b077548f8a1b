package twiliosim

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Twilio error codes and messages the network side reports.
const (
	errUnreachable   = 30003
	errUnknownDest   = 30005
	errLandline      = 30006
	errUnknown       = 30008
	errWAOutsideWin  = 63016
	errWANotOnWA     = 63024
	whatsappWindow   = 24 * time.Hour
	callbackUA       = "TwilioProxy/1.1"
	formContentType  = "application/x-www-form-urlencoded"
	signatureHeader  = "X-Twilio-Signature"
	maxDrainResponse = 64 << 10
)

var errorMessages = map[int]string{
	errUnreachable:  "Unreachable destination handset",
	errUnknownDest:  "Unknown destination handset",
	errLandline:     "Landline or unreachable carrier",
	errUnknown:      "Unknown error",
	errWAOutsideWin: "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.",
	errWANotOnWA:    "Message cannot be sent because the recipient is not a valid WhatsApp user",

	// Media the simulator could not use (media.go).
	errHTTPRetrieval: "HTTP retrieval failure",
	errContentType:   "Invalid Content-Type",
	errMediaTooLarge: "Media exceeds messaging provider size limit",
	errWAMediaFetch:  "Media failed to download",
	errWAContent:     "Channel invalid content error",
}

// step is one status a message reaches.
type step struct {
	status string
	code   int
}

// plan is a message's future, decided at creation: the true status steps, the order their
// callbacks are posted in (a permutation of step indexes) and which callbacks are doubled.
type plan struct {
	steps []step
	order []int
	dup   []bool
}

// planFor decides m's outcome at creation time now.
func (s *Sim) planFor(m *Message, now time.Time) plan {
	wa := isWhatsApp(m.To)
	s.mu.Lock()
	defer s.mu.Unlock()

	final := step{status: "delivered"}
	switch {
	case s.cfg.EnforceWindow && wa && m.ContentSID == "" && !s.inWindow(m.To, now):
		final = step{"failed", errWAOutsideWin}
	case strings.HasSuffix(m.To, "0002"):
		final = step{"undelivered", errUnreachable}
	case strings.HasSuffix(m.To, "0003"):
		final = step{"failed", errUnknown}
		if wa {
			final.code = errWANotOnWA
		}
	case s.cfg.FailureRate > 0 && s.rng.Float64() < s.cfg.FailureRate:
		if s.rng.IntN(2) == 0 {
			final = step{"failed", errUnknown}
			if wa {
				final.code = errWANotOnWA
			}
		} else {
			codes := []int{errUnreachable, errUnknownDest, errLandline}
			if wa {
				codes = []int{errUnreachable, errUnknown}
			}
			final = step{"undelivered", codes[s.rng.IntN(len(codes))]}
		}
	}

	var p plan
	switch final.status {
	case "delivered":
		p.steps = []step{{"queued", 0}, {"sent", 0}, {"delivered", 0}}
		if wa {
			p.steps = append(p.steps, step{"read", 0})
		}
	case "undelivered":
		p.steps = []step{{"queued", 0}, {"sent", 0}, final}
	default:
		p.steps = []step{{"queued", 0}, final}
	}
	p.order = make([]int, len(p.steps))
	p.dup = make([]bool, len(p.steps))
	for i := range p.order {
		p.order[i] = i
		p.dup[i] = s.cfg.DuplicateRate > 0 && s.rng.Float64() < s.cfg.DuplicateRate
	}
	if s.cfg.Reorder {
		s.rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	}
	return p
}

// inWindow reports whether addr wrote within 24 hours of now. Callers hold s.mu.
func (s *Sim) inWindow(addr string, now time.Time) bool {
	last, ok := s.lastInbound[addr]
	return ok && now.Sub(last) < whatsappWindow
}

func (p plan) String() string {
	var b strings.Builder
	for i, st := range p.steps {
		if i > 0 {
			b.WriteString("→")
		}
		b.WriteString(st.status)
	}
	return b.String()
}

// progress walks m through its plan: after each StepDelay the stored status moves one true step
// and one callback (in plan order) is posted, twice when doubled.
func (s *Sim) progress(ctx context.Context, m *Message, p plan) {
	for i := range p.steps {
		t := time.NewTimer(s.cfg.StepDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.apply(m, p.steps[i])
		cbURL := m.StatusCallback
		form := s.callbackForm(m, p.steps[p.order[i]])
		s.mu.Unlock()
		if cbURL == "" {
			continue
		}
		s.post(ctx, cbURL, form)
		if p.dup[p.order[i]] {
			s.post(ctx, cbURL, form)
		}
	}
}

// apply records st on m. Callers hold s.mu.
func (s *Sim) apply(m *Message, st step) {
	now := s.now().UTC()
	m.Status = st.status
	m.DateUpdated = now
	if st.status == "sent" {
		m.DateSent = now
	}
	if st.code != 0 {
		m.ErrorCode, m.ErrorMessage = st.code, errorMessages[st.code]
	}
}

// callbackForm is Twilio's status callback for m reaching st. Callers hold s.mu.
func (s *Sim) callbackForm(m *Message, st step) url.Values {
	f := url.Values{}
	f.Set("MessageSid", m.SID)
	f.Set("SmsSid", m.SID)
	f.Set("SmsMessageSid", m.SID)
	f.Set("AccountSid", m.AccountSID)
	if m.From != "" {
		f.Set("From", m.From)
	}
	f.Set("To", m.To)
	f.Set("MessageStatus", st.status)
	f.Set("SmsStatus", st.status)
	f.Set("ApiVersion", apiVersion)
	if m.MessagingServiceSID != "" {
		f.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if st.code != 0 {
		f.Set("ErrorCode", strconv.Itoa(st.code))
		f.Set("ErrorMessage", errorMessages[st.code])
	}
	if isWhatsApp(m.To) {
		f.Set("ChannelPrefix", "whatsapp")
		f.Set("ChannelToAddress", bare(m.To))
	} else if st.status == "delivered" {
		f.Set("RawDlrDoneDate", s.now().UTC().Format("0601021504"))
	}
	return f
}

// post sends a signed form POST as Twilio does and returns the response status.
func (s *Sim) post(ctx context.Context, target string, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		s.logf("twiliosim: POST %s: %v", target, err)
		return 0, err
	}
	req.Header.Set("Content-Type", formContentType)
	req.Header.Set("User-Agent", callbackUA)
	req.Header.Set(signatureHeader, signature(s.cfg.AuthToken, target, form))
	res, err := s.client.Do(req)
	if err != nil {
		s.logf("twiliosim: POST %s: %v", target, err)
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrainResponse))
	_ = res.Body.Close()
	if res.StatusCode >= 300 {
		s.logf("twiliosim: POST %s: HTTP %d", target, res.StatusCode)
	}
	return res.StatusCode, nil
}

// signature is Twilio's X-Twilio-Signature: base64(HMAC-SHA1(authToken, url + for each
// parameter sorted by name, name+value)); a repeated name contributes its sorted distinct
// values, as Twilio's own libraries compute it.
func signature(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := slices.Clone(form[k])
		slices.Sort(vals)
		for _, v := range slices.Compact(vals) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	h := hmac.New(sha1.New, []byte(authToken))
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
