package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v", name, err)
	}
	return loc
}

// schoolWeek is Monday to Friday 08:00-16:30, Saturday morning, Sunday closed.
func schoolWeek(closed ...string) BusinessHours {
	h := BusinessHours{Days: map[string][]TimeRange{}, ClosedDates: closed}
	for _, k := range DayKeys[:5] {
		h.Days[k] = []TimeRange{{Open: "08:00", Close: "16:30"}}
	}
	h.Days["sat"] = []TimeRange{{Open: "09:00", Close: "12:00"}}
	h.Days["sun"] = []TimeRange{}
	return h
}

func allDay(days ...string) BusinessHours {
	h := BusinessHours{Days: map[string][]TimeRange{}}
	for _, k := range DayKeys {
		h.Days[k] = []TimeRange{}
	}
	for _, k := range days {
		h.Days[k] = []TimeRange{{Open: "00:00", Close: "24:00"}}
	}
	return h
}

func TestOpen(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	ny := mustLoc(t, "America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm, ss int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, 0, loc)
	}
	tests := []struct {
		name  string
		hours BusinessHours
		t     time.Time
		loc   *time.Location
		want  bool
	}{
		{"no hours set: always open", BusinessHours{}, at(london, 2026, 1, 4, 3, 0, 0), london, true},
		{"a second before opening", schoolWeek(), at(london, 2026, 1, 5, 7, 59, 59), london, false},
		{"the opening minute", schoolWeek(), at(london, 2026, 1, 5, 8, 0, 0), london, true},
		{"a second before closing", schoolWeek(), at(london, 2026, 1, 5, 16, 29, 59), london, true},
		{"the closing minute", schoolWeek(), at(london, 2026, 1, 5, 16, 30, 0), london, false},
		{"Saturday morning", schoolWeek(), at(london, 2026, 1, 10, 11, 0, 0), london, true},
		{"Saturday afternoon", schoolWeek(), at(london, 2026, 1, 10, 12, 0, 0), london, false},
		{"Sunday is closed", schoolWeek(), at(london, 2026, 1, 4, 10, 0, 0), london, false},
		{"a closed date (Christmas Eve, a Thursday)", schoolWeek("2026-12-24"), at(london, 2026, 12, 24, 10, 0, 0), london, false},
		{"the day before the closed date", schoolWeek("2026-12-24"), at(london, 2026, 12, 23, 10, 0, 0), london, true},
		{"summer time: 07:00 UTC is 08:00 in London", schoolWeek(), time.Date(2026, 7, 6, 7, 0, 0, 0, time.UTC), london, true},
		{"summer time: 06:59 UTC is 07:59 in London", schoolWeek(), time.Date(2026, 7, 6, 6, 59, 0, 0, time.UTC), london, false},
		{"winter: 08:00 UTC is 08:00 in London", schoolWeek(), time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), london, true},
		{"the zone decides the day: Monday 02:00 UTC is Sunday in New York", schoolWeek(), time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC), ny, false},
		{"open all day: the last second before midnight", allDay("mon", "tue"), at(london, 2026, 1, 5, 23, 59, 59), london, true},
		{"open all day: midnight into the next open day", allDay("mon", "tue"), at(london, 2026, 1, 6, 0, 0, 0), london, true},
		{"open all day: midnight into a closed day", allDay("mon"), at(london, 2026, 1, 6, 0, 0, 0), london, false},
		{"every day closed", allDay(), at(london, 2026, 1, 5, 12, 0, 0), london, false},
		{"nil zone is UTC", schoolWeek(), time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Open(tt.hours, tt.t, tt.loc); got != tt.want {
				t.Errorf("Open(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestNextOpening(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name   string
		hours  BusinessHours
		t      time.Time
		loc    *time.Location
		want   time.Time // compared as instants
		wantOK bool
	}{
		{"open now: now", schoolWeek(), time.Date(2026, 1, 5, 9, 0, 0, 0, london), london, time.Date(2026, 1, 5, 9, 0, 0, 0, london), true},
		{"early morning: today's opening", schoolWeek(), time.Date(2026, 1, 5, 6, 0, 0, 0, london), london, time.Date(2026, 1, 5, 8, 0, 0, 0, london), true},
		{"after closing: tomorrow's opening", schoolWeek(), time.Date(2026, 1, 5, 16, 30, 0, 0, london), london, time.Date(2026, 1, 6, 8, 0, 0, 0, london), true},
		{"Saturday afternoon: over Sunday to Monday", schoolWeek(), time.Date(2026, 1, 10, 13, 0, 0, 0, london), london, time.Date(2026, 1, 12, 8, 0, 0, 0, london), true},
		{"open all day on weekdays: Saturday to Monday midnight", allDayWeekdays(), time.Date(2026, 1, 10, 18, 0, 0, 0, ny), ny, time.Date(2026, 1, 12, 0, 0, 0, 0, ny), true},
		// Clocks go forward in New York on Sunday 8 March 2026: Monday 08:00
		// EDT is 12:00 UTC, one hour earlier than adding whole days of 24 h.
		{"over the spring DST change, New York", weekdaysOnly(), time.Date(2026, 3, 6, 17, 0, 0, 0, ny), ny, time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC), true},
		// London goes to BST on Sunday 29 March 2026: Monday 08:00 is 07:00 UTC.
		{"over the spring DST change, London", weekdaysOnly(), time.Date(2026, 3, 27, 17, 0, 0, 0, london), london, time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC), true},
		// And back to GMT on Sunday 25 October 2026: Monday 08:00 is 08:00 UTC.
		{"over the autumn DST change, London", weekdaysOnly(), time.Date(2026, 10, 23, 17, 0, 0, 0, london), london, time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC), true},
		{"closed dates skipped", schoolWeek("2026-12-24", "2026-12-25", "2026-12-26"), time.Date(2026, 12, 23, 17, 0, 0, 0, london), london, time.Date(2026, 12, 28, 8, 0, 0, 0, london), true},
		{"a long holiday", weekdaysOnly(holiday(2026, 7, 20, 45)...), time.Date(2026, 7, 17, 17, 0, 0, 0, london), london, time.Date(2026, 9, 3, 8, 0, 0, 0, london), true},
		{"never opens", allDay(), time.Date(2026, 1, 5, 9, 0, 0, 0, london), london, time.Time{}, false},
		{"no hours set: now", BusinessHours{}, time.Date(2026, 1, 4, 3, 0, 0, 0, london), london, time.Date(2026, 1, 4, 3, 0, 0, 0, london), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NextOpening(tt.hours, tt.t, tt.loc)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("NextOpening(%s) = %s, %v; want %s, %v", tt.t, got, ok, tt.want, tt.wantOK)
			}
			if ok && !Open(tt.hours, got, tt.loc) {
				t.Errorf("closed at the opening returned, %s", got)
			}
			if ok && got.After(tt.t) && Open(tt.hours, got.Add(-time.Second), tt.loc) {
				t.Errorf("already open a second before the opening returned, %s", got)
			}
			if ok && got.Location() != tt.loc {
				t.Errorf("opening in %s, want the school's zone %s", got.Location(), tt.loc)
			}
		})
	}
}

func weekdaysOnly(closed ...string) BusinessHours {
	h := schoolWeek(closed...)
	h.Days["sat"] = []TimeRange{}
	return h
}

func allDayWeekdays() BusinessHours { return allDay("mon", "tue", "wed", "thu", "fri") }

func holiday(y int, m time.Month, d, n int) []string {
	var out []string
	for i := range n {
		out = append(out, time.Date(y, m, d+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	return out
}

func TestOpensText(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	now := time.Date(2026, 1, 9, 18, 0, 0, 0, london) // a Friday evening
	tests := []struct {
		next time.Time
		ok   bool
		want string
	}{
		{time.Date(2026, 1, 12, 8, 0, 0, 0, london), true, "Monday at 08:00"},
		{time.Date(2026, 1, 12, 8, 0, 0, 0, time.UTC), true, "Monday at 08:00"},
		{time.Date(2026, 7, 6, 7, 0, 0, 0, time.UTC), true, "Monday 6 July at 08:00"},
		{time.Date(2026, 1, 16, 8, 0, 0, 0, london), true, "Friday 16 January at 08:00"},
		{time.Time{}, false, "soon"},
	}
	for _, tt := range tests {
		if got := OpensText(tt.next, tt.ok, now, london); got != tt.want {
			t.Errorf("OpensText(%s, %v) = %q, want %q", tt.next, tt.ok, got, tt.want)
		}
	}
}

func week(d DayInput) [7]DayInput {
	var w [7]DayInput
	for i := range w {
		w[i] = DayInput{Mode: DayClosed}
	}
	w[0] = d
	return w
}

func TestBuildHours(t *testing.T) {
	tests := []struct {
		name    string
		in      HoursInput
		wantErr map[string]string // key -> part of the message
		wantMon []TimeRange
		dates   []string
	}{
		{name: "open, normalised", in: HoursInput{Days: week(DayInput{DayOpen, "8:00", " 16:30 "})}, wantMon: []TimeRange{{"08:00", "16:30"}}, dates: []string{}},
		{name: "closing at midnight", in: HoursInput{Days: week(DayInput{DayOpen, "18:00", "24:00"})}, wantMon: []TimeRange{{"18:00", "24:00"}}, dates: []string{}},
		{name: "open all day", in: HoursInput{Days: week(DayInput{Mode: DayAllDay, Open: "junk"})}, wantMon: []TimeRange{{"00:00", "24:00"}}, dates: []string{}},
		{name: "closed ignores times", in: HoursInput{Days: week(DayInput{DayClosed, "junk", "junk"})}, wantMon: []TimeRange{}, dates: []string{}},
		{name: "close before open", in: HoursInput{Days: week(DayInput{DayOpen, "16:30", "08:00"})}, wantErr: map[string]string{"mon": "after the opening"}},
		{name: "close equals open", in: HoursInput{Days: week(DayInput{DayOpen, "08:00", "08:00"})}, wantErr: map[string]string{"mon": "after the opening"}},
		{name: "no opening time", in: HoursInput{Days: week(DayInput{DayOpen, "", "16:30"})}, wantErr: map[string]string{"mon": "opening time"}},
		{name: "no closing time", in: HoursInput{Days: week(DayInput{DayOpen, "08:00", ""})}, wantErr: map[string]string{"mon": "closing time"}},
		{name: "25:00", in: HoursInput{Days: week(DayInput{DayOpen, "08:00", "25:00"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "24:00 cannot open", in: HoursInput{Days: week(DayInput{DayOpen, "24:00", "24:00"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "minutes 60", in: HoursInput{Days: week(DayInput{DayOpen, "08:60", "16:00"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "no colon", in: HoursInput{Days: week(DayInput{DayOpen, "0800", "1600"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "12-hour clock", in: HoursInput{Days: week(DayInput{DayOpen, "8:00 am", "4:30 pm"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "signs", in: HoursInput{Days: week(DayInput{DayOpen, "+8:00", "16:00"})}, wantErr: map[string]string{"mon": "HH:MM"}},
		{name: "unknown mode", in: HoursInput{Days: week(DayInput{Mode: "sometimes"})}, wantErr: map[string]string{"mon": "Choose"}},
		{name: "closed dates sorted, repeats and blank lines dropped",
			in:      HoursInput{Days: week(DayInput{Mode: DayClosed}), ClosedDates: "2026-12-25\r\n\n 2026-12-24 \n2026-12-25\n"},
			wantMon: []TimeRange{}, dates: []string{"2026-12-24", "2026-12-25"}},
		{name: "a bad date says which line", in: HoursInput{Days: week(DayInput{Mode: DayClosed}), ClosedDates: "2026-12-24\n2026-13-01"}, wantErr: map[string]string{"closed_dates": "Line 2"}},
		{name: "a day and a date wrong at once", in: HoursInput{Days: week(DayInput{DayOpen, "9", "10:00"}), ClosedDates: "24/12/2026"}, wantErr: map[string]string{"mon": "HH:MM", "closed_dates": "YYYY-MM-DD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, errs := BuildHours(tt.in)
			if len(tt.wantErr) > 0 {
				if len(errs) != len(tt.wantErr) {
					t.Fatalf("errors %v, want keys of %v", errs, tt.wantErr)
				}
				for k, part := range tt.wantErr {
					if !strings.Contains(errs[k], part) {
						t.Errorf("error for %s = %q, want it to mention %q", k, errs[k], part)
					}
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("unexpected errors %v", errs)
			}
			if len(h.Days) != 7 {
				t.Errorf("%d days stored, want all 7 (a missing day would read as closed)", len(h.Days))
			}
			if got, _ := json.Marshal(h.Days["mon"]); string(got) != mustJSON(tt.wantMon) {
				t.Errorf("Monday = %s, want %s", got, mustJSON(tt.wantMon))
			}
			if got := mustJSON(h.ClosedDates); got != mustJSON(tt.dates) {
				t.Errorf("closed dates = %s, want %s", got, mustJSON(tt.dates))
			}
			if errs := ValidateHours(h); len(errs) > 0 {
				t.Errorf("built hours fail validation: %v", errs)
			}
			if back := h.Input(); back.Days[0].Mode != tt.in.Days[0].Mode && tt.in.Days[0].Mode != DayOpen {
				t.Errorf("form of the built hours shows Monday as %q, want %q", back.Days[0].Mode, tt.in.Days[0].Mode)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestParseHours(t *testing.T) {
	tests := []struct {
		raw     string
		set     bool
		wantErr string
	}{
		{raw: "", set: false},
		{raw: "{}", set: false},
		{raw: `{"days":{"mon":[{"open":"08:00","close":"16:30"}],"tue":[]},"closed_dates":["2026-12-24"]}`, set: true},
		{raw: `{"days":{"mon":[],"tue":[],"wed":[],"thu":[],"fri":[],"sat":[],"sun":[]}}`, set: true},
		{raw: `{"days":{"funday":[]}}`, wantErr: "Unknown day"},
		{raw: `{"days":{"mon":[{"open":"16:30","close":"08:00"}]}}`, wantErr: "after the opening"},
		{raw: `{"days":{"mon":[{"open":"08:00","close":"12:00"},{"open":"11:00","close":"16:00"}]}}`, wantErr: "overlap"},
		{raw: `{"closed_dates":["tomorrow"]}`, wantErr: "YYYY-MM-DD"},
		{raw: `[1, 2]`, wantErr: "business hours"},
	}
	for _, tt := range tests {
		h, err := ParseHours([]byte(tt.raw))
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHours(%s) error %v, want one mentioning %q", tt.raw, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseHours(%s): %v", tt.raw, err)
		case h.IsSet() != tt.set:
			t.Errorf("ParseHours(%s).IsSet() = %v, want %v", tt.raw, h.IsSet(), tt.set)
		}
	}
	// Two ranges on a day work in the engine, though the form offers one.
	h, err := ParseHours([]byte(`{"days":{"mon":[{"open":"13:00","close":"16:00"},{"open":"08:00","close":"12:00"}]}}`))
	if err != nil {
		t.Fatal(err) // the order in storage does not matter to the engine
	}
	monday := time.Date(2026, 1, 5, 12, 30, 0, 0, time.UTC)
	if Open(h, monday, time.UTC) {
		t.Error("open at lunch between two ranges")
	}
	if next, ok := NextOpening(h, monday, time.UTC); !ok || !next.Equal(time.Date(2026, 1, 5, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("next opening after lunch = %s, %v", next, ok)
	}
}

func TestHoursInputOfUnsetHours(t *testing.T) {
	in := BusinessHours{}.Input()
	if in.Days[0] != (DayInput{DayOpen, "08:00", "16:30"}) || in.Days[6].Mode != DayClosed {
		t.Errorf("form for unset hours = %+v, want a Monday-Friday week to start from", in.Days)
	}
	h := allDay("wed")
	h.Days["thu"] = []TimeRange{{"09:00", "15:00"}}
	in = h.Input()
	if in.Days[2].Mode != DayAllDay || in.Days[3] != (DayInput{DayOpen, "09:00", "15:00"}) || in.Days[0].Mode != DayClosed {
		t.Errorf("form = %+v", in.Days)
	}
}

func TestNextClosing(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	tests := []struct {
		name   string
		hours  BusinessHours
		t      time.Time
		want   time.Time
		wantOK bool
	}{
		{"closed now: now", schoolWeek(), time.Date(2026, 1, 5, 7, 0, 0, 0, london), time.Date(2026, 1, 5, 7, 0, 0, 0, london), true},
		{"open: today's closing", schoolWeek(), time.Date(2026, 1, 5, 9, 0, 0, 0, london), time.Date(2026, 1, 5, 16, 30, 0, 0, london), true},
		{"all day Monday and Tuesday: Wednesday midnight", allDay("mon", "tue"), time.Date(2026, 1, 5, 9, 0, 0, 0, london), time.Date(2026, 1, 7, 0, 0, 0, 0, london), true},
		{"open all day every day: never", allDay(DayKeys[:]...), time.Date(2026, 1, 5, 9, 0, 0, 0, london), time.Time{}, false},
		{"open all day except a date: that date", func() BusinessHours { h := allDay(DayKeys[:]...); h.ClosedDates = []string{"2026-01-08"}; return h }(),
			time.Date(2026, 1, 5, 9, 0, 0, 0, london), time.Date(2026, 1, 8, 0, 0, 0, 0, london), true},
		{"no hours set: never", BusinessHours{}, time.Date(2026, 1, 5, 9, 0, 0, 0, london), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NextClosing(tt.hours, tt.t, london)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("NextClosing(%s) = %s, %v; want %s, %v", tt.t, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
