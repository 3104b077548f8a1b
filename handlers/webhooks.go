package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
)

const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// twilioParams checks the request's X-Twilio-Signature against the URL
// Twilio called (webhookURLs) and returns the form parameters. A nil map
// means the request is forged, unsigned or malformed.
func (s *Server) twilioParams(c echo.Context) map[string]string {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return nil
	}
	params := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil
	}
	for _, u := range s.webhookURLs(r) {
		if s.Gateway.ValidateSignature(u, params, sig) {
			return params
		}
	}
	return nil
}

// webhookURLs are the URLs a genuine signature may cover: always PUBLIC_URL
// + the path and query, and, with TRUST_PROXY on, also the URL the proxy says
// the request came to (X-Forwarded-Proto + X-Forwarded-Host + path and query).
// Without TRUST_PROXY those headers are ignored: anyone can send them, and
// honouring them would let a signature Twilio made for another URL (another
// app on the same account) be replayed here. Even trusted, they only widen
// which URL the signature may name; it still needs the auth token.
func (s *Server) webhookURLs(r *http.Request) []string {
	urls := []string{s.Config.PublicURL + r.URL.RequestURI()}
	if !s.Config.TrustProxy {
		return urls
	}
	if fwd := forwardedOrigin(r.Header); fwd != "" && fwd != s.Config.PublicURL {
		urls = append(urls, fwd+r.URL.RequestURI())
	}
	return urls
}

// forwardedOrigin is "proto://host" from X-Forwarded-Proto and
// X-Forwarded-Host, or "" unless both are present once, single-valued and
// well-formed. A list ("a, b") means a proxy appended rather than
// overwrote, so its first value may be the client's own: not used.
func forwardedOrigin(h http.Header) string {
	proto, host := h.Values("X-Forwarded-Proto"), h.Values("X-Forwarded-Host")
	if len(proto) != 1 || len(host) != 1 {
		return ""
	}
	p, hst := strings.ToLower(strings.TrimSpace(proto[0])), strings.ToLower(strings.TrimSpace(host[0]))
	if p != "http" && p != "https" {
		return ""
	}
	u, err := url.Parse(p + "://" + hst)
	if err != nil || u.Host != hst || hst == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(hst, ", /\\@?#") {
		return ""
	}
	return p + "://" + hst
}

func twiml(c echo.Context) error {
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(emptyTwiML))
}

// inboundWebhook stores a message a parent sent. Twilio retries on 5xx, so a
// database failure answers 500 and the message comes again; a redelivery of
// one already stored changes nothing.
func (s *Server) inboundWebhook(c echo.Context) error {
	p := s.twilioParams(c)
	if p == nil {
		s.Metrics.Webhooks.WithLabelValues("inbound", "forged").Inc()
		s.Log.Warn("webhook signature rejected", "kind", "inbound", "request_id", c.Get(ctxReqID), "ip", c.RealIP())
		return c.String(http.StatusForbidden, "invalid signature\n")
	}
	res, err := s.Messaging.ReceiveInbound(c.Request().Context(), p)
	if err != nil {
		s.Metrics.Webhooks.WithLabelValues("inbound", "error").Inc()
		s.Log.Error("inbound webhook", "request_id", c.Get(ctxReqID), "sid", p["MessageSid"], "err", err)
		return c.String(http.StatusInternalServerError, "could not store the message; retry\n")
	}
	result := "stored"
	if res.Duplicate {
		result = "duplicate"
	}
	s.Metrics.Webhooks.WithLabelValues("inbound", result).Inc()
	s.Log.Info("inbound message", "request_id", c.Get(ctxReqID), "sid", p["MessageSid"], "result", result, "conversation_id", res.ConversationID)
	if !res.Duplicate {
		if p["NumMedia"] != "" && p["NumMedia"] != "0" {
			// Fetched in the background (a sweep catches any a crash drops):
			// Twilio waits at most 15 s for this answer.
			s.Media.Enqueue(res.MessageID)
		}
		if res.Keyword != policy.KeywordNone {
			s.answerKeyword(res)
		}
		s.answerOutOfHours(res)
	}
	return twiml(c)
}

// statusWebhook keeps a delivery status callback and applies it if it moves
// the message forward.
func (s *Server) statusWebhook(c echo.Context) error {
	p := s.twilioParams(c)
	if p == nil {
		s.Metrics.Webhooks.WithLabelValues("status", "forged").Inc()
		s.Log.Warn("webhook signature rejected", "kind", "status", "request_id", c.Get(ctxReqID), "ip", c.RealIP())
		return c.String(http.StatusForbidden, "invalid signature\n")
	}
	applied, err := s.Messaging.ApplyStatus(c.Request().Context(), p)
	if err != nil {
		s.Metrics.Webhooks.WithLabelValues("status", "error").Inc()
		s.Log.Error("status webhook", "request_id", c.Get(ctxReqID), "sid", p["MessageSid"], "err", err)
		return c.String(http.StatusInternalServerError, "could not store the status; retry\n")
	}
	result := "applied"
	if !applied {
		result = "kept"
	}
	s.Metrics.Webhooks.WithLabelValues("status", result).Inc()
	return twiml(c)
}

// answerKeyword sends WhatsApp's STOP/START/HELP answer after the webhook
// has been acknowledged, so a slow Twilio call cannot make Twilio redeliver.
func (s *Server) answerKeyword(res messaging.Inbound) {
	s.Messaging.Go(2*time.Minute, func(ctx context.Context) {
		if _, err := s.Messaging.AnswerKeyword(ctx, res); err != nil {
			s.Log.Warn("keyword answer", "conversation_id", res.ConversationID, "err", err)
		}
	})
}

// answerOutOfHours sends the department's out-of-hours reply, when it is
// closed, after the webhook has been acknowledged (as answerKeyword does).
// Keywords and duplicates are left out by AnswerOutOfHours itself.
func (s *Server) answerOutOfHours(res messaging.Inbound) {
	s.Messaging.Go(2*time.Minute, func(ctx context.Context) {
		if _, err := s.Messaging.AnswerOutOfHours(ctx, res, s.Config.SchoolTimezone); err != nil {
			s.Log.Warn("out-of-hours reply", "conversation_id", res.ConversationID, "err", err)
		}
	})
}
