package dashboard

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
)

// Periods are the dashboard's choices, in days.
var Periods = []int{7, 30}

// ValidPeriod is days when it is one of Periods, else the first.
func ValidPeriod(days int) int {
	for _, p := range Periods {
		if p == days {
			return p
		}
	}
	return Periods[0]
}

// Metrics are the message counts of a department, a sender or everything.
type Metrics struct {
	Outbound, Inbound int
	Delivered         int // outbound delivered or read
	Read              int
	Failed            int // outbound failed or undelivered
	// WhatsAppOutbound is the read rate's base: SMS has no read receipts.
	WhatsAppOutbound int
}

func (m *Metrics) add(r db.OverviewRow) {
	if r.Direction == "inbound" {
		m.Inbound += r.Total
		return
	}
	m.Outbound += r.Total
	m.Delivered += r.Delivered
	m.Read += r.Read
	m.Failed += r.Failed
	if r.Channel == policy.ChannelWhatsApp {
		m.WhatsAppOutbound += r.Total
	}
}

// DeliveryRate is delivered (or read) of all messages sent.
func (m Metrics) DeliveryRate() string { return Percent(m.Delivered, m.Outbound) }

// ReadRate is read of WhatsApp messages sent.
func (m Metrics) ReadRate() string { return Percent(m.Read, m.WhatsAppOutbound) }

// FailureRate is failed or undelivered of all messages sent.
func (m Metrics) FailureRate() string { return Percent(m.Failed, m.Outbound) }

// DepartmentStats is a department's row.
type DepartmentStats struct {
	ID   int64 // 0: conversations of senders without a department
	Name string
	Metrics
	Response db.ResponseTimes // Answered 0: no answered waits in the period
}

// SenderStats is a sender's row.
type SenderStats struct {
	db.DashboardSender
	Department string
	Metrics
}

// Name is how the sender is shown: its display name and number.
func (s SenderStats) Name() string {
	switch {
	case s.DisplayName != "" && s.Address != "":
		return s.DisplayName + " (" + policy.FormatPhone(s.Address) + ")"
	case s.Address != "":
		return policy.FormatPhone(s.Address)
	}
	return s.DisplayName
}

// Quality is WhatsApp's quality rating of a sender in words, and the pill
// class to show it with (the word carries the meaning; colour only helps).
func (s SenderStats) Quality() (word, class string) {
	switch s.QualityRating {
	case "HIGH", "GREEN":
		return "High", "pill-ok"
	case "MEDIUM", "YELLOW":
		return "Medium", "pill-warn"
	case "LOW", "RED":
		return "Low", "pill-danger"
	case "", "UNKNOWN":
		if s.Channel != policy.ChannelWhatsApp {
			return "Not rated (SMS)", ""
		}
		return "Not rated yet", ""
	}
	return s.QualityRating, "pill-info"
}

// BroadcastStats is a broadcast of the period.
type BroadcastStats struct {
	db.PeriodBroadcast
	Department string
}

// DeliveryRate is delivered (or read) of the broadcast's recipients.
func (b BroadcastStats) DeliveryRate() string { return Percent(b.Delivered, b.Recipients) }

// FailureRate is failed or undelivered of the broadcast's recipients.
func (b BroadcastStats) FailureRate() string { return Percent(b.Failed, b.Recipients) }

// Overview is the overall dashboard of a period.
type Overview struct {
	Days        int
	From, To    time.Time // From: midnight in the school's zone, Days-1 days before today
	Totals      Metrics
	Departments []DepartmentStats
	Senders     []SenderStats
	Errors      []ErrorGroup // most frequent first, at most TopErrors
	Volume      Chart
	Broadcasts  []BroadcastStats
	// NoDepartments: a staff member in no department sees nothing.
	NoDepartments bool
}

// Empty reports whether nothing happened in the period.
func (o Overview) Empty() bool {
	return o.Totals.Outbound+o.Totals.Inbound == 0 && len(o.Broadcasts) == 0
}

// TopErrors is how many error codes the dashboard lists.
const TopErrors = 10

// BroadcastsListed is how many of the period's broadcasts the dashboard lists.
const BroadcastsListed = 20

// PeriodStart is midnight in tz, days-1 days before now's date: the period
// is today and the days before it, whole days in the school's zone.
func PeriodStart(now time.Time, days int, tz *time.Location) time.Time {
	l := now.In(tz)
	return time.Date(l.Year(), l.Month(), l.Day()-(days-1), 0, 0, 0, 0, tz)
}

// Overview reads the dashboard for the departments of scope (nil: all).
func (s *Service) Overview(ctx context.Context, scope []int64, days int) (Overview, error) {
	tz := s.tz()
	days = ValidPeriod(days)
	now := s.now()
	o := Overview{Days: days, From: PeriodStart(now, days, tz), To: now}
	if scope != nil && len(scope) == 0 {
		o.NoDepartments = true
		o.Volume = volumeChart(o.From, days, tz, nil)
		return o, nil
	}
	rows, err := s.DB.OverviewMessages(ctx, o.From, tz, scope)
	if err != nil {
		return o, err
	}
	times, err := s.DB.OverviewResponseTimes(ctx, o.From, scope)
	if err != nil {
		return o, err
	}
	deps, err := s.DB.DashboardDepartments(ctx, scope)
	if err != nil {
		return o, err
	}
	var seen []int64
	bySender := map[int64]*Metrics{}
	byDep := map[int64]*Metrics{}
	errs := map[int]*ErrorGroup{}
	samples := map[int]string{}
	for _, r := range rows {
		o.Totals.add(r)
		if bySender[r.SenderID] == nil {
			bySender[r.SenderID] = &Metrics{}
			seen = append(seen, r.SenderID)
		}
		bySender[r.SenderID].add(r)
		if byDep[r.DepartmentID] == nil {
			byDep[r.DepartmentID] = &Metrics{}
		}
		byDep[r.DepartmentID].add(r)
		if r.Direction == "outbound" && r.ErrorCode != nil && r.Failed > 0 {
			g := errs[*r.ErrorCode]
			if g == nil {
				g = &ErrorGroup{Code: *r.ErrorCode, Transient: broadcast.TransientCode(*r.ErrorCode)}
				errs[*r.ErrorCode] = g
			}
			g.N += r.Failed
			if samples[*r.ErrorCode] == "" {
				samples[*r.ErrorCode] = r.ErrorSample
			}
		}
	}
	for code, g := range errs {
		g.Explanation = explain(code, samples[code])
		o.Errors = append(o.Errors, *g)
	}
	sort.Slice(o.Errors, func(i, j int) bool {
		if o.Errors[i].N != o.Errors[j].N {
			return o.Errors[i].N > o.Errors[j].N
		}
		return o.Errors[i].Code < o.Errors[j].Code
	})
	if len(o.Errors) > TopErrors {
		o.Errors = o.Errors[:TopErrors]
	}

	resp := map[int64]db.ResponseTimes{}
	for _, t := range times {
		resp[t.DepartmentID] = t
	}
	depName := map[int64]string{0: "No department"}
	for _, d := range deps {
		depName[d.ID] = d.Name
		_, active := byDep[d.ID]
		_, answered := resp[d.ID]
		if d.Archived && !active && !answered {
			continue
		}
		o.Departments = append(o.Departments, deptStats(d.ID, d.Name, byDep[d.ID], resp[d.ID]))
	}
	if _, ok := byDep[0]; ok || resp[0].Answered+resp[0].Unanswered > 0 {
		o.Departments = append(o.Departments, deptStats(0, depName[0], byDep[0], resp[0]))
	}

	senders, err := s.DB.DashboardSenders(ctx, scope, seen)
	if err != nil {
		return o, err
	}
	for _, sd := range senders {
		st := SenderStats{DashboardSender: sd, Department: depName[sd.DepartmentID]}
		if m := bySender[sd.ID]; m != nil {
			st.Metrics = *m
		}
		o.Senders = append(o.Senders, st)
	}
	sort.SliceStable(o.Senders, func(i, j int) bool {
		return o.Senders[i].Outbound+o.Senders[i].Inbound > o.Senders[j].Outbound+o.Senders[j].Inbound
	})

	o.Volume = volumeChart(o.From, days, tz, rows)

	bs, err := s.DB.OverviewBroadcasts(ctx, o.From, scope, BroadcastsListed)
	if err != nil {
		return o, err
	}
	for _, b := range bs {
		o.Broadcasts = append(o.Broadcasts, BroadcastStats{PeriodBroadcast: b, Department: depName[b.DepartmentID]})
	}
	return o, nil
}

func deptStats(id int64, name string, m *Metrics, r db.ResponseTimes) DepartmentStats {
	d := DepartmentStats{ID: id, Name: name, Response: r}
	if m != nil {
		d.Metrics = *m
	}
	return d
}

// MedianText and P90Text are the response times in words ("–": no answered waits).
func (d DepartmentStats) MedianText() string {
	if d.Response.Answered == 0 {
		return "–"
	}
	return Wait(d.Response.Median)
}

// P90Text: nine in ten waits were at most this long.
func (d DepartmentStats) P90Text() string {
	if d.Response.Answered == 0 {
		return "–"
	}
	return Wait(d.Response.P90)
}

// volumeChart is inbound against outbound messages per day of the period.
func volumeChart(from time.Time, days int, tz *time.Location, rows []db.OverviewRow) Chart {
	c := Chart{ID: "volume", Kind: KindBars, Title: "Messages per day, sent and received", XLabel: "Day"}
	out, in := make([]int, days), make([]int, days)
	index := map[string]int{}
	for i := range days {
		d := time.Date(from.Year(), from.Month(), from.Day()+i, 0, 0, 0, 0, tz)
		index[d.Format(time.DateOnly)] = i
		c.Buckets = append(c.Buckets, Bucket{Label: d.Format("2 Jan"), Full: d.Format("Mon 2 Jan 2006")})
	}
	for _, r := range rows {
		i, ok := index[r.Day.Format(time.DateOnly)]
		if !ok {
			continue
		}
		if r.Direction == "inbound" {
			in[i] += r.Total
		} else {
			out[i] += r.Total
		}
	}
	c.Series = []Series{{Key: "outbound", Label: "Sent", Values: out}, {Key: "inbound", Label: "Received", Values: in}}
	c.Desc = fmt.Sprintf("Messages sent and received per day, %s to %s (%s): %s.",
		c.Buckets[0].Full, c.Buckets[days-1].Full, tz.String(), seriesTotals(c.Series))
	return c
}
