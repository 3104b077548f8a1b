package twiliosim

import "net/http"

type fault int

const (
	faultNone fault = iota
	faultRateLimit
	faultServerError
	faultLostResponse
	faultLateCreate
)

// createFault draws the injected fault of one create call, if any.
func (s *Sim) createFault() fault {
	c := s.cfg
	if c.RateLimitRate <= 0 && c.ServerErrorRate <= 0 && c.LostResponseRate <= 0 && c.LateCreateRate <= 0 {
		return faultNone
	}
	s.mu.Lock()
	x := s.rng.Float64()
	s.mu.Unlock()
	switch {
	case x < c.RateLimitRate:
		return faultRateLimit
	case x < c.RateLimitRate+c.ServerErrorRate:
		return faultServerError
	case x < c.RateLimitRate+c.ServerErrorRate+c.LostResponseRate:
		return faultLostResponse
	case x < c.RateLimitRate+c.ServerErrorRate+c.LostResponseRate+c.LateCreateRate:
		return faultLateCreate
	}
	return faultNone
}

// dropConnection closes the client's connection without an answer, as a
// network cut after Twilio accepted a request looks to the client.
func dropConnection(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
