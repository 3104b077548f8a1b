package twiliosim

import "net/http"

type fault int

const (
	faultNone fault = iota
	faultRateLimit
	faultServerError
	faultLostResponse
	faultLateCreate
	faultReset
	faultSlowResponse
)

// createFault draws the injected fault of one create call, if any.
func (s *Sim) createFault() fault {
	c := s.cfg
	rates := []struct {
		rate float64
		f    fault
	}{
		{c.RateLimitRate, faultRateLimit},
		{c.ServerErrorRate, faultServerError},
		{c.LostResponseRate, faultLostResponse},
		{c.LateCreateRate, faultLateCreate},
		{c.ResetRate, faultReset},
		{c.SlowResponseRate, faultSlowResponse},
	}
	total := 0.0
	for _, r := range rates {
		total += max(r.rate, 0)
	}
	if total == 0 {
		return faultNone
	}
	s.mu.Lock()
	x := s.rng.Float64()
	s.mu.Unlock()
	for _, r := range rates {
		if x < max(r.rate, 0) {
			return r.f
		}
		x -= max(r.rate, 0)
	}
	return faultNone
}

// dropConnection closes the client's connection without an answer, as a
// network cut looks to the client: before Twilio accepted the request
// (ResetRate) or after (LostResponseRate), the client cannot tell which.
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
