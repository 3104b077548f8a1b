// Package dashboard computes what the delivery dashboards show: a
// broadcast's report (funnel, timeline, error and skip groups, the
// failures export) and the overall dashboard (volume, rates, errors,
// senders, response times), plus the geometry of their server-rendered SVG
// charts. SQL lives in db/; pages in views/. Everything here is derived
// from stored rows at read time, never counted by hand.
package dashboard

import (
	"fmt"
	"math"
	"time"
)

// Percent is n out of d as staff read it: "45%", "<1%" for a share too
// small to round to 1%, "100%"; "–" when there is nothing to divide by.
func Percent(n, d int) string {
	if d <= 0 {
		return "–"
	}
	p := 100 * float64(n) / float64(d)
	switch {
	case n == 0:
		return "0%"
	case p < 0.5:
		return "<1%"
	case p >= 99.5 && n < d:
		return ">99%"
	}
	return fmt.Sprintf("%.0f%%", math.Round(p))
}

// share is n out of d between 0 and 100, for bar lengths.
func share(n, d int) float64 {
	if d <= 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

// Wait is a response time in words: "45 s", "12 min", "3 h 10 min", "2 d 4 h".
func Wait(d time.Duration) string {
	if d.Round(time.Second) < time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf("%d min", m)
	case m < 24*60:
		if m%60 == 0 {
			return fmt.Sprintf("%d h", m/60)
		}
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
	h := m / 60
	if h%24 == 0 {
		return fmt.Sprintf("%d d", h/24)
	}
	return fmt.Sprintf("%d d %d h", h/24, h%24)
}
