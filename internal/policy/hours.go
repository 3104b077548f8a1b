package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Business hours of a department, stored as JSON in departments.business_hours:
//
//	{"days": {"mon": [{"open": "08:00", "close": "16:30"}], "tue": [], ...},
//	 "closed_dates": ["2026-12-24", "2026-12-25"]}
//
// Times are wall-clock HH:MM (24 h) in the school's time zone; "24:00" as a
// closing time means the end of the day, so a day open 00:00-24:00 is open
// all day and two such days in a row are one unbroken open stretch. Each
// range starts and ends on its own day (no ranges across midnight). Once
// anything is set, a day with no range is closed; "{}" (nothing set) means
// the department keeps no hours and is never out of hours.

// DayKeys are the JSON keys of the weekdays, Monday first as schools plan weeks.
var DayKeys = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// DayNames are the weekdays' names, in DayKeys' order.
var DayNames = [7]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// dayIndex maps time.Weekday (Sunday = 0) to DayKeys' index.
func dayIndex(w time.Weekday) int { return (int(w) + 6) % 7 }

// TimeRange is one opening of a day: open at Open, closed again at Close.
type TimeRange struct {
	Open  string `json:"open"`
	Close string `json:"close"`
}

// BusinessHours is a department's week and its closed dates (holidays).
type BusinessHours struct {
	Days        map[string][]TimeRange `json:"days,omitempty"`
	ClosedDates []string               `json:"closed_dates,omitempty"`
}

// IsSet reports whether any hours were set; unset hours are never out of hours.
func (h BusinessHours) IsSet() bool { return len(h.Days) > 0 || len(h.ClosedDates) > 0 }

// OpensSomeDay reports whether some weekday has an opening at all.
func (h BusinessHours) OpensSomeDay() bool {
	for _, rs := range h.Days {
		if len(rs) > 0 {
			return true
		}
	}
	return false
}

// MaxClosedDates bounds the holiday list: a school year of days off is far fewer.
const MaxClosedDates = 400

// ParseHours reads stored business hours. Empty input or "{}" is "not set".
func ParseHours(raw []byte) (BusinessHours, error) {
	var h BusinessHours
	if len(strings.TrimSpace(string(raw))) == 0 {
		return h, nil
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return BusinessHours{}, fmt.Errorf("business hours: %w", err)
	}
	if errs := ValidateHours(h); len(errs) > 0 {
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return BusinessHours{}, fmt.Errorf("business hours: %s: %s", keys[0], errs[keys[0]])
	}
	return h, nil
}

// ValidateHours checks stored or built hours; problems are keyed by day key
// ("mon") or "closed_dates", in words for an admin.
func ValidateHours(h BusinessHours) map[string]string {
	errs := map[string]string{}
	for key, ranges := range h.Days {
		if !slices.Contains(DayKeys[:], key) {
			errs[key] = "Unknown day " + strconv.Quote(key) + "."
			continue
		}
		type mins struct{ o, c int }
		var parsed []mins
		for _, r := range ranges {
			o, okO := parseClock(r.Open, false)
			c, okC := parseClock(r.Close, true)
			switch {
			case !okO:
				errs[key] = "Enter the opening time as HH:MM, 24-hour (for example 08:00)."
			case !okC:
				errs[key] = "Enter the closing time as HH:MM, 24-hour (for example 16:30); 24:00 is midnight at the end of the day."
			case c <= o:
				errs[key] = "The closing time must be after the opening time."
			}
			parsed = append(parsed, mins{o, c})
		}
		if _, bad := errs[key]; bad {
			continue
		}
		slices.SortFunc(parsed, func(a, b mins) int { return a.o - b.o })
		for i := 1; i < len(parsed); i++ {
			if parsed[i].o < parsed[i-1].c {
				errs[key] = "A day's openings must not overlap."
			}
		}
	}
	if len(h.ClosedDates) > MaxClosedDates {
		errs["closed_dates"] = fmt.Sprintf("List at most %d closed dates.", MaxClosedDates)
	}
	for _, d := range h.ClosedDates {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			errs["closed_dates"] = strconv.Quote(d) + " is not a date: write dates as YYYY-MM-DD."
			break
		}
	}
	return errs
}

// parseClock reads "HH:MM" or "H:MM" (24 h) as minutes after midnight.
// allow24 accepts "24:00", the end of the day, as a closing time.
func parseClock(s string, allow24 bool) (int, bool) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 {
		return 0, false
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || strings.ContainsAny(hh+mm, "+-") {
		return 0, false
	}
	if h == 24 && m == 0 && allow24 {
		return 24 * 60, true
	}
	if h > 23 {
		return 0, false
	}
	return h*60 + m, true
}

func clockText(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// span is one opening as instants.
type span struct{ start, end time.Time }

// spansOn returns the openings of the civil date y-m-d in loc, in order.
// Wall-clock times become instants with time.Date in loc, so a day that is
// 23 or 25 hours long (a DST change) still opens at the times written.
func (h BusinessHours) spansOn(y int, m time.Month, d int, loc *time.Location) []span {
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC) // normalises d past the month's end
	y, m, d = day.Date()
	if slices.Contains(h.ClosedDates, day.Format(time.DateOnly)) {
		return nil
	}
	var out []span
	for _, r := range h.Days[DayKeys[dayIndex(day.Weekday())]] {
		o, okO := parseClock(r.Open, false)
		c, okC := parseClock(r.Close, true)
		if !okO || !okC {
			continue
		}
		s := time.Date(y, m, d, o/60, o%60, 0, 0, loc)
		e := time.Date(y, m, d, c/60, c%60, 0, 0, loc)
		// A range that falls inside a skipped DST hour can come out empty.
		if e.After(s) {
			out = append(out, span{s, e})
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.start.Compare(b.start) })
	return out
}

// Open reports whether the department is open at t: from an opening minute
// (included) to its closing minute (excluded), not on a closed date. Unset
// hours are always open.
func Open(h BusinessHours, t time.Time, loc *time.Location) bool {
	if !h.IsSet() {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	// Ranges end by midnight of their own day, so only t's date can hold t.
	y, m, d := t.In(loc).Date()
	for _, s := range h.spansOn(y, m, d, loc) {
		if !t.Before(s.start) && t.Before(s.end) {
			return true
		}
	}
	return false
}

// NextOpening returns the first moment at or after t when the department is
// open (t itself when open now), in loc; false when it never opens (no
// weekday has hours). Unset hours are always open.
func NextOpening(h BusinessHours, t time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if Open(h, t, loc) {
		return t.In(loc), true
	}
	if !h.OpensSomeDay() {
		return time.Time{}, false
	}
	// Among any len(closed)+8 consecutive days at least 8 are not closed
	// dates, and those hold every weekday: the search always ends.
	y, m, d := t.In(loc).Date()
	for i := 0; i < len(h.ClosedDates)+8; i++ {
		for _, s := range h.spansOn(y, m, d+i, loc) {
			if !s.start.Before(t) {
				return s.start, true
			}
		}
	}
	return time.Time{}, false
}

// NextClosing returns the first moment at or after t when the department is
// closed (t itself when closed now); false when it is open without end
// (every day open all day, or no hours set).
func NextClosing(h BusinessHours, t time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if !h.IsSet() {
		return time.Time{}, false
	}
	// Each step moves to the end of the opening holding t; openings that
	// touch (Monday to 24:00, Tuesday from 00:00) are followed on. A year of
	// steps covers any week that closes at all.
	for range 800 {
		if !Open(h, t, loc) {
			return t.In(loc), true
		}
		y, m, d := t.In(loc).Date()
		for _, s := range h.spansOn(y, m, d, loc) {
			if !t.Before(s.start) && t.Before(s.end) {
				t = s.end
				break
			}
		}
	}
	return time.Time{}, false
}

// OpensText says when a department next opens, for {opens} in the
// out-of-hours reply: "Monday at 08:00", with the date added when it is a
// week or more away ("Monday 4 January at 08:00"), and "soon" when no
// opening is known.
func OpensText(next time.Time, ok bool, now time.Time, loc *time.Location) string {
	if !ok {
		return "soon"
	}
	if loc == nil {
		loc = time.UTC
	}
	next, now = next.In(loc), now.In(loc)
	ny, nm, nd := next.Date()
	y, m, d := now.Date()
	days := int(time.Date(ny, nm, nd, 12, 0, 0, 0, time.UTC).Sub(time.Date(y, m, d, 12, 0, 0, 0, time.UTC)).Hours() / 24)
	if days >= 7 {
		return next.Format("Monday 2 January at 15:04")
	}
	return next.Format("Monday at 15:04")
}

// Day modes of the hours form.
const (
	DayClosed = "closed"
	DayOpen   = "open"
	DayAllDay = "allday"
)

// DayInput is one weekday of the hours form, as typed.
type DayInput struct {
	Mode, Open, Close string
}

// HoursInput is the hours form: the week in DayKeys' order and the closed
// dates, one a line.
type HoursInput struct {
	Days        [7]DayInput
	ClosedDates string
}

// BuildHours turns the form into hours, or says what is wrong next to each
// field (keys: day keys and "closed_dates"). Times are normalised to HH:MM,
// closed dates sorted without repeats.
func BuildHours(in HoursInput) (BusinessHours, map[string]string) {
	h := BusinessHours{Days: make(map[string][]TimeRange, 7), ClosedDates: []string{}}
	errs := map[string]string{}
	for i, day := range in.Days {
		key := DayKeys[i]
		h.Days[key] = []TimeRange{}
		switch day.Mode {
		case DayClosed:
		case DayAllDay:
			h.Days[key] = []TimeRange{{Open: "00:00", Close: "24:00"}}
		case DayOpen:
			o, okO := parseClock(day.Open, false)
			c, okC := parseClock(day.Close, true)
			switch {
			case strings.TrimSpace(day.Open) == "":
				errs[key] = "Enter the opening time, for example 08:00."
			case !okO:
				errs[key] = "Enter the opening time as HH:MM, 24-hour (for example 08:00)."
			case strings.TrimSpace(day.Close) == "":
				errs[key] = "Enter the closing time, for example 16:30."
			case !okC:
				errs[key] = "Enter the closing time as HH:MM, 24-hour (for example 16:30); 24:00 is midnight at the end of the day."
			case c <= o:
				errs[key] = "The closing time must be after the opening time."
			default:
				h.Days[key] = []TimeRange{{Open: clockText(o), Close: clockText(c)}}
			}
		default:
			errs[key] = "Choose Closed, Open or Open all day."
		}
	}
	for n, line := range strings.Split(in.ClosedDates, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, line)
		if err != nil {
			errs["closed_dates"] = fmt.Sprintf("Line %d, %q, is not a date: write one date a line as YYYY-MM-DD (for example 2026-12-24).", n+1, line)
			break
		}
		if s := d.Format(time.DateOnly); !slices.Contains(h.ClosedDates, s) {
			h.ClosedDates = append(h.ClosedDates, s)
		}
	}
	if _, bad := errs["closed_dates"]; !bad && len(h.ClosedDates) > MaxClosedDates {
		errs["closed_dates"] = fmt.Sprintf("List at most %d closed dates.", MaxClosedDates)
	}
	slices.Sort(h.ClosedDates)
	if len(errs) > 0 {
		return BusinessHours{}, errs
	}
	return h, nil
}

// Input is the form showing h. Unset hours show a typical school week
// (Monday to Friday 08:00-16:30) to start from; the page says they are not
// in force until saved.
func (h BusinessHours) Input() HoursInput {
	var in HoursInput
	for i, key := range DayKeys {
		if !h.IsSet() {
			in.Days[i] = DayInput{Mode: DayOpen, Open: "08:00", Close: "16:30"}
			if i >= 5 {
				in.Days[i] = DayInput{Mode: DayClosed}
			}
			continue
		}
		rs := h.Days[key]
		switch {
		case len(rs) == 0:
			in.Days[i] = DayInput{Mode: DayClosed}
		case len(rs) == 1 && rs[0].Open == "00:00" && rs[0].Close == "24:00":
			in.Days[i] = DayInput{Mode: DayAllDay}
		default:
			in.Days[i] = DayInput{Mode: DayOpen, Open: rs[0].Open, Close: rs[0].Close}
		}
	}
	in.ClosedDates = strings.Join(h.ClosedDates, "\n")
	return in
}

// Summary describes the week in a line, e.g. "Monday 08:00–16:30, Tuesday
// closed, …", for the audit log and the page header.
func (h BusinessHours) Summary() string {
	if !h.IsSet() {
		return "No business hours set"
	}
	parts := make([]string, 0, 7)
	for i, key := range DayKeys {
		rs := h.Days[key]
		if len(rs) == 0 {
			parts = append(parts, DayNames[i]+" closed")
			continue
		}
		var times []string
		for _, r := range rs {
			times = append(times, r.Open+"–"+r.Close)
		}
		parts = append(parts, DayNames[i]+" "+strings.Join(times, ", "))
	}
	return strings.Join(parts, ", ")
}
