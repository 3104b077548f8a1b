package policy

import (
	"time"
)

// Quiet hours: the school's nightly no-broadcast period, a school setting
// stored as JSON ({"enabled": true, "start": "21:00", "end": "07:00"}) and
// read in SCHOOL_TIMEZONE. A start later than the end spans midnight
// (21:00 to 07:00 the next morning); otherwise the period lies within one
// day (12:00 to 13:00). The start minute is quiet, the end minute is not.

// QuietHours is the school's no-broadcast period, read in SCHOOL_TIMEZONE.
type QuietHours struct {
	Enabled bool   `json:"enabled"`
	Start   string `json:"start"` // "21:00"
	End     string `json:"end"`   // "07:00"
}

// DefaultQuietHours is what a school gets until an admin changes it: no
// broadcast wakes families between 21:00 and 07:00.
func DefaultQuietHours() QuietHours {
	return QuietHours{Enabled: true, Start: "21:00", End: "07:00"}
}

// Validate says what is wrong, keyed by form field ("quiet_start",
// "quiet_end"), in words for an admin; empty when the hours are usable.
// Times are checked even while quiet hours are off, so switching them on
// later never finds garbage.
func (q QuietHours) Validate() map[string]string {
	errs := map[string]string{}
	s, okS := parseClock(q.Start, false)
	e, okE := parseClock(q.End, false)
	if !okS {
		errs["quiet_start"] = "Enter when quiet hours start as HH:MM, 24-hour (for example 21:00)."
	}
	if !okE {
		errs["quiet_end"] = "Enter when quiet hours end as HH:MM, 24-hour (for example 07:00)."
	}
	if okS && okE && s == e {
		errs["quiet_end"] = "Quiet hours must end at a different time than they start."
	}
	return errs
}

// Normalize writes valid times as HH:MM ("7:00" becomes "07:00"); invalid
// ones are left as typed.
func (q QuietHours) Normalize() QuietHours {
	if m, ok := parseClock(q.Start, false); ok {
		q.Start = clockText(m)
	}
	if m, ok := parseClock(q.End, false); ok {
		q.End = clockText(m)
	}
	return q
}

// String is "21:00–07:00", or "off" when quiet hours are not kept.
func (q QuietHours) String() string {
	if !q.Enabled {
		return "off"
	}
	return q.Start + "–" + q.End
}

// periodFrom returns the quiet period that starts on the civil date
// y-m-d in loc: from Start that day to End the same day or, spanning
// midnight, the next. ok is false when the hours are off or unusable.
func (q QuietHours) periodFrom(y int, m time.Month, d int, loc *time.Location) (start, end time.Time, ok bool) {
	s, okS := parseClock(q.Start, false)
	e, okE := parseClock(q.End, false)
	if !q.Enabled || !okS || !okE || s == e {
		return time.Time{}, time.Time{}, false
	}
	endDay := d
	if s > e {
		endDay++
	}
	return wallTime(y, m, d, s, loc), wallTime(y, m, endDay, e, loc), true
}

// period returns the quiet period holding t, if any. Only the period
// starting on t's local date or the day before can hold t: a period is
// shorter than a day plus a DST shift.
func (q QuietHours) period(t time.Time, loc *time.Location) (start, end time.Time, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	for _, day := range []int{d - 1, d} {
		s, e, usable := q.periodFrom(y, m, day, loc)
		if !usable {
			return time.Time{}, time.Time{}, false
		}
		if !t.Before(s) && t.Before(e) {
			return s, e, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// Active reports whether t falls in quiet hours (start included, end
// excluded), reading the times as wall-clock times in loc. Off or
// unusable hours are never active.
func (q QuietHours) Active(t time.Time, loc *time.Location) bool {
	_, _, ok := q.period(t, loc)
	return ok
}

// NextAllowed is t itself when t is outside quiet hours, else the moment
// the quiet period holding t ends: End on the right local day, in loc.
// On a night the clocks skip End (02:00 on a spring-forward night) that is
// the moment of the change, when the clock first reads End or later.
func (q QuietHours) NextAllowed(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	// Normally one step. When a DST change squeezes the gap between one
	// period's end and the next one's start to nothing, the next starts at
	// once; follow it, a bounded number of times.
	for range 4 {
		_, end, ok := q.period(t, loc)
		if !ok {
			return t
		}
		t = end
	}
	return t.In(loc)
}

// wallTime is the instant the clock in loc first reads minute min of the
// civil date y-m-d (normalised past the month's end), or later.
//
// time.Date leaves both DST edge cases unspecified, and in practice goes
// either way depending on the zone: a wall time the clocks skip (02:30 on
// a spring-forward night) can come back an hour early (01:30, still before
// the change) or an hour late; a wall time that happens twice (01:30 on a
// fall-back night) can come back as either occurrence. Quiet hours need
// one answer: a skipped time means the moment of the change, when the
// clock jumps past it; a repeated time means its first occurrence.
func wallTime(y int, m time.Month, d, min int, loc *time.Location) time.Time {
	want := time.Date(y, m, d, min/60, min%60, 0, 0, time.UTC)
	t := time.Date(y, m, d, min/60, min%60, 0, 0, loc)
	switch got := wallOf(t, loc); {
	case got.Before(want):
		// Put before a skipped hour: the change, the end of t's zone period.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
		return t
	case got.After(want):
		// Put after a skipped hour: the change, the start of t's zone period.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			return start
		}
		return t
	}
	// The clock read the same in the zone period before t's (clocks turned
	// back): the earlier occurrence comes first.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, now := t.Zone()
	if before > now {
		earlier := t.Add(-time.Duration(before-now) * time.Second)
		if earlier.Before(start) && wallOf(earlier, loc).Equal(want) {
			return earlier
		}
	}
	return t
}

// wallOf is t's wall clock in loc, as the same reading in UTC, so readings
// compare as times.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, m, d := l.Date()
	h, mi, s := l.Clock()
	return time.Date(y, m, d, h, mi, s, l.Nanosecond(), time.UTC)
}
