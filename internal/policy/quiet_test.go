package policy

import (
	"encoding/json"
	"testing"
	"time"
)

func utc(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

func TestQuietHoursValidate(t *testing.T) {
	tests := []struct {
		name      string
		q         QuietHours
		wantStart bool
		wantEnd   bool
	}{
		{"default", DefaultQuietHours(), false, false},
		{"same day", QuietHours{Enabled: true, Start: "12:00", End: "13:00"}, false, false},
		{"single-digit hour", QuietHours{Enabled: true, Start: "9:30", End: "07:00"}, false, false},
		{"off still checked", QuietHours{Enabled: false, Start: "nope", End: "07:00"}, true, false},
		{"empty", QuietHours{Enabled: true}, true, true},
		{"24:00 is not a start", QuietHours{Enabled: true, Start: "24:00", End: "07:00"}, true, false},
		{"minutes past 59", QuietHours{Enabled: true, Start: "21:60", End: "07:00"}, true, false},
		{"hour past 23", QuietHours{Enabled: true, Start: "21:00", End: "25:00"}, false, true},
		{"seconds", QuietHours{Enabled: true, Start: "21:00:00", End: "07:00"}, true, false},
		{"am/pm", QuietHours{Enabled: true, Start: "9pm", End: "7am"}, true, true},
		{"start equals end", QuietHours{Enabled: true, Start: "07:00", End: "07:00"}, false, true},
		{"equal once normalised", QuietHours{Enabled: true, Start: "7:00", End: "07:00"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.q.Validate()
			if _, got := errs["quiet_start"]; got != tt.wantStart {
				t.Errorf("quiet_start error = %v, want %v (%v)", got, tt.wantStart, errs)
			}
			if _, got := errs["quiet_end"]; got != tt.wantEnd {
				t.Errorf("quiet_end error = %v, want %v (%v)", got, tt.wantEnd, errs)
			}
			for k := range errs {
				if k != "quiet_start" && k != "quiet_end" {
					t.Errorf("unexpected key %q", k)
				}
			}
		})
	}
}

func TestQuietHoursStringNormalizeJSON(t *testing.T) {
	if s := DefaultQuietHours().String(); s != "21:00–07:00" {
		t.Errorf("String = %q", s)
	}
	if s := (QuietHours{Start: "21:00", End: "07:00"}).String(); s != "off" {
		t.Errorf("off String = %q", s)
	}
	if n := (QuietHours{Enabled: true, Start: "7:05", End: "bad"}).Normalize(); n.Start != "07:05" || n.End != "bad" {
		t.Errorf("Normalize = %+v", n)
	}
	b, err := json.Marshal(DefaultQuietHours())
	if err != nil || string(b) != `{"enabled":true,"start":"21:00","end":"07:00"}` {
		t.Errorf("JSON = %s, %v", b, err)
	}
}

func TestQuietHoursActiveAndNextAllowed(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	london := mustLoc(t, "Europe/London")
	night := DefaultQuietHours() // 21:00-07:00
	lunch := QuietHours{Enabled: true, Start: "12:00", End: "13:00"}
	tests := []struct {
		name   string
		q      QuietHours
		loc    *time.Location
		t      time.Time
		active bool
		next   time.Time // zero: t itself
	}{
		// Spanning midnight, an ordinary winter day in London (GMT = UTC).
		{"evening before start", night, london, utc(2026, 1, 14, 20, 59), false, time.Time{}},
		{"start minute is quiet", night, london, utc(2026, 1, 14, 21, 0), true, utc(2026, 1, 15, 7, 0)},
		{"late evening", night, london, utc(2026, 1, 14, 23, 30), true, utc(2026, 1, 15, 7, 0)},
		{"midnight", night, london, utc(2026, 1, 15, 0, 0), true, utc(2026, 1, 15, 7, 0)},
		{"early morning", night, london, utc(2026, 1, 15, 6, 59), true, utc(2026, 1, 15, 7, 0)},
		{"end minute is not quiet", night, london, utc(2026, 1, 15, 7, 0), false, time.Time{}},
		{"afternoon", night, london, utc(2026, 1, 15, 15, 0), false, time.Time{}},
		{"across a month end", night, london, utc(2026, 1, 31, 22, 0), true, utc(2026, 2, 1, 7, 0)},
		{"across a year end", night, london, utc(2026, 12, 31, 23, 59), true, utc(2027, 1, 1, 7, 0)},
		// Read in the school's zone, not UTC: 02:00 UTC is 21:00 in New York (EST, UTC-5).
		{"zone: 21:00 EST", night, ny, utc(2026, 1, 15, 2, 0), true, utc(2026, 1, 15, 12, 0)},
		{"zone: 20:59 EST", night, ny, utc(2026, 1, 15, 1, 59), false, time.Time{}},
		{"nil zone is UTC", night, nil, utc(2026, 1, 15, 21, 0), true, utc(2026, 1, 16, 7, 0)},

		// Same-day range.
		{"lunch: before", lunch, london, utc(2026, 1, 15, 11, 59), false, time.Time{}},
		{"lunch: start", lunch, london, utc(2026, 1, 15, 12, 0), true, utc(2026, 1, 15, 13, 0)},
		{"lunch: inside", lunch, london, utc(2026, 1, 15, 12, 59), true, utc(2026, 1, 15, 13, 0)},
		{"lunch: end", lunch, london, utc(2026, 1, 15, 13, 0), false, time.Time{}},
		{"lunch: night", lunch, london, utc(2026, 1, 15, 23, 0), false, time.Time{}},

		// Off, or unusable as stored: never quiet.
		{"disabled", QuietHours{Start: "21:00", End: "07:00"}, london, utc(2026, 1, 15, 23, 0), false, time.Time{}},
		{"garbage stored", QuietHours{Enabled: true, Start: "x", End: "07:00"}, london, utc(2026, 1, 15, 23, 0), false, time.Time{}},

		// America/New_York springs forward on 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00 UTC).
		{"NY spring: 21:00 EST the evening before", night, ny, utc(2026, 3, 8, 2, 0), true, utc(2026, 3, 8, 11, 0)},
		{"NY spring: 06:59 EDT", night, ny, utc(2026, 3, 8, 10, 59), true, utc(2026, 3, 8, 11, 0)},
		{"NY spring: 07:00 EDT", night, ny, utc(2026, 3, 8, 11, 0), false, time.Time{}},
		// A 02:00 end that night never shows on the clock: quiet ends at the
		// change, 03:00 EDT, not an hour early at 01:00 EST.
		{"NY spring: 02:00 end, 01:30 EST", QuietHours{Enabled: true, Start: "22:00", End: "02:00"}, ny, utc(2026, 3, 8, 6, 30), true, utc(2026, 3, 8, 7, 0)},
		{"NY spring: 02:00 end, 01:59 EST", QuietHours{Enabled: true, Start: "22:00", End: "02:00"}, ny, utc(2026, 3, 8, 6, 59), true, utc(2026, 3, 8, 7, 0)},
		{"NY spring: 02:00 end, 03:00 EDT", QuietHours{Enabled: true, Start: "22:00", End: "02:00"}, ny, utc(2026, 3, 8, 7, 0), false, time.Time{}},
		{"NY spring: 02:30 end, the change", QuietHours{Enabled: true, Start: "22:00", End: "02:30"}, ny, utc(2026, 3, 8, 6, 45), true, utc(2026, 3, 8, 7, 0)},
		// A start in the skipped hour starts at the change.
		{"NY spring: 02:30 start, 01:59 EST", QuietHours{Enabled: true, Start: "02:30", End: "05:00"}, ny, utc(2026, 3, 8, 6, 59), false, time.Time{}},
		{"NY spring: 02:30 start, 03:00 EDT", QuietHours{Enabled: true, Start: "02:30", End: "05:00"}, ny, utc(2026, 3, 8, 7, 0), true, utc(2026, 3, 8, 9, 0)},
		// America/New_York falls back on 1 November 2026: 02:00 EDT becomes 01:00 EST (06:00 UTC).
		{"NY fall: 01:30 EDT", night, ny, utc(2026, 11, 1, 5, 30), true, utc(2026, 11, 1, 12, 0)},
		{"NY fall: 01:30 EST (again)", night, ny, utc(2026, 11, 1, 6, 30), true, utc(2026, 11, 1, 12, 0)},
		{"NY fall: 06:59 EST", night, ny, utc(2026, 11, 1, 11, 59), true, utc(2026, 11, 1, 12, 0)},
		{"NY fall: 07:00 EST", night, ny, utc(2026, 11, 1, 12, 0), false, time.Time{}},
		// A 01:30 end happens twice that night: quiet ends the first time.
		{"NY fall: 01:30 end, 01:29 EDT", QuietHours{Enabled: true, Start: "21:00", End: "01:30"}, ny, utc(2026, 11, 1, 5, 29), true, utc(2026, 11, 1, 5, 30)},
		{"NY fall: 01:30 end, 01:15 EST", QuietHours{Enabled: true, Start: "21:00", End: "01:30"}, ny, utc(2026, 11, 1, 6, 15), false, time.Time{}},
		{"NY fall: evening after", night, ny, utc(2026, 11, 2, 2, 0), true, utc(2026, 11, 2, 12, 0)},

		// Europe/London springs forward on 29 March 2026: 01:00 GMT becomes 02:00 BST.
		{"London spring: 23:00 GMT", night, london, utc(2026, 3, 28, 23, 0), true, utc(2026, 3, 29, 6, 0)},
		{"London spring: 06:59 BST", night, london, utc(2026, 3, 29, 5, 59), true, utc(2026, 3, 29, 6, 0)},
		{"London spring: 07:00 BST", night, london, utc(2026, 3, 29, 6, 0), false, time.Time{}},
		{"London spring: 01:30 end, the change", QuietHours{Enabled: true, Start: "22:00", End: "01:30"}, london, utc(2026, 3, 29, 0, 59), true, utc(2026, 3, 29, 1, 0)},
		{"London spring: 01:30 end, 02:00 BST", QuietHours{Enabled: true, Start: "22:00", End: "01:30"}, london, utc(2026, 3, 29, 1, 0), false, time.Time{}},
		// Europe/London falls back on 25 October 2026: 02:00 BST becomes 01:00 GMT.
		{"London fall: 21:00 BST", night, london, utc(2026, 10, 24, 20, 0), true, utc(2026, 10, 25, 7, 0)},
		{"London fall: 01:30 BST", night, london, utc(2026, 10, 25, 0, 30), true, utc(2026, 10, 25, 7, 0)},
		{"London fall: 01:30 GMT (again)", night, london, utc(2026, 10, 25, 1, 30), true, utc(2026, 10, 25, 7, 0)},
		{"London fall: 07:00 GMT", night, london, utc(2026, 10, 25, 7, 0), false, time.Time{}},
		{"London fall: 01:30 end, 01:29 BST", QuietHours{Enabled: true, Start: "21:00", End: "01:30"}, london, utc(2026, 10, 25, 0, 29), true, utc(2026, 10, 25, 0, 30)},
		{"London fall: 01:30 end, 01:00 GMT", QuietHours{Enabled: true, Start: "21:00", End: "01:30"}, london, utc(2026, 10, 25, 1, 0), false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Active(tt.t, tt.loc); got != tt.active {
				t.Errorf("Active(%s) = %v, want %v", tt.t, got, tt.active)
			}
			want := tt.next
			if want.IsZero() {
				want = tt.t
			}
			got := tt.q.NextAllowed(tt.t, tt.loc)
			if !got.Equal(want) {
				t.Errorf("NextAllowed(%s) = %s (%s), want %s", tt.t, got, got.UTC(), want)
			}
			if tt.q.Active(got, tt.loc) {
				t.Errorf("NextAllowed(%s) = %s is still quiet", tt.t, got)
			}
		})
	}
}

// Every minute of a year in zones with DST: NextAllowed is never quiet, is
// never before t, and quiet periods never last more than a day.
func TestQuietHoursYearSweep(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe"} {
		loc := mustLoc(t, zone)
		for _, q := range []QuietHours{DefaultQuietHours(), {Enabled: true, Start: "01:30", End: "02:30"}, {Enabled: true, Start: "02:30", End: "01:45"}} {
			for m := utc(2026, 1, 1, 0, 0); m.Before(utc(2027, 1, 1, 0, 0)); m = m.Add(7 * time.Minute) {
				n := q.NextAllowed(m, loc)
				if n.Before(m) || q.Active(n, loc) || n.Sub(m) > 25*time.Hour {
					t.Fatalf("%s %s: NextAllowed(%s) = %s", zone, q, m, n)
				}
				if q.Active(m, loc) == n.Equal(m) {
					t.Fatalf("%s %s: Active(%s) = %v but NextAllowed = %s", zone, q, m, q.Active(m, loc), n)
				}
			}
		}
	}
}
