package dashboard

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/contacts"
	"github.com/classline/classline/internal/policy"
)

// Service reads the dashboards from the database.
type Service struct {
	DB  *db.DB
	TZ  *time.Location // the school's zone: days, axis labels, export times
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) tz() *time.Location {
	if s.TZ != nil {
		return s.TZ
	}
	return time.UTC
}

// ErrorGroup is one error code with how many messages it hit and what it
// means.
type ErrorGroup struct {
	Code        int
	N           int
	Explanation string
	// Transient: sending again later may work (the engine's rule), so
	// "Retry transient failures" takes these.
	Transient bool
}

// explain says what a code means; without a code (no answer from Twilio,
// or a failure of our own such as no sender) the stored message says it.
func explain(code int, sample string) string {
	if code == 0 {
		if sample != "" {
			return sample
		}
		return "No error code: Twilio did not answer, or the message never reached Twilio."
	}
	e := policy.ExplainError(code)
	if e == fmt.Sprintf("Twilio reported error %d.", code) && sample != "" {
		// A code policy does not know: Twilio's own words say more than the number.
		return fmt.Sprintf("Twilio reported error %d: %s", code, sample)
	}
	return e
}

// SkipGroup is one skip reason in words and its count.
type SkipGroup struct {
	Reason string
	Text   string
	N      int
}

// Report is a broadcast's delivery report.
type Report struct {
	Broadcast      db.Broadcast
	Funnel         Funnel
	Timeline       Chart
	BucketWidth    time.Duration
	SendErrors     []ErrorGroup // Twilio refused the request
	DeliveryErrors []ErrorGroup // accepted, then failed or undelivered
	Skips          []SkipGroup
	// Transient is how many failed recipients "Retry transient failures"
	// would send to again; CanRetry whether the broadcast's state allows it.
	Transient int
	CanRetry  bool
	// Live: the broadcast is still moving (or finished moments ago and
	// delivery reports are still arriving), so the page refreshes the report.
	Live bool
	Read time.Time
}

// LiveFor is how long after a broadcast finishes its report keeps
// refreshing by itself: delivery and read reports trail the last send.
const LiveFor = 15 * time.Minute

// retryStates are the broadcast states broadcast.Engine.RetryTransient accepts.
var retryStates = map[string]bool{"completed": true, "paused": true, "running": true}

// BroadcastReport reads the whole report of b.
func (s *Service) BroadcastReport(ctx context.Context, b db.Broadcast) (Report, error) {
	r := Report{Broadcast: b, Read: s.now()}
	counts, err := s.DB.BroadcastCounts(ctx, b.ID)
	if err != nil {
		return r, err
	}
	r.Funnel = BuildFunnel(counts)
	points, err := s.DB.BroadcastTimeline(ctx, b.ID)
	if err != nil {
		return r, err
	}
	r.Timeline, r.BucketWidth = Timeline(fmt.Sprintf("timeline-%d", b.ID), points, s.tz())
	groups, err := s.DB.BroadcastErrorGroups(ctx, b.ID)
	if err != nil {
		return r, err
	}
	for _, g := range groups {
		eg := ErrorGroup{Code: g.Code, N: g.N, Explanation: explain(g.Code, g.Sample), Transient: broadcast.TransientCode(g.Code)}
		if eg.Transient {
			r.Transient += g.N
		}
		if g.Kind == "send" {
			r.SendErrors = append(r.SendErrors, eg)
		} else {
			r.DeliveryErrors = append(r.DeliveryErrors, eg)
		}
	}
	skips, err := s.DB.BroadcastSkipGroups(ctx, b.ID)
	if err != nil {
		return r, err
	}
	for _, g := range skips {
		r.Skips = append(r.Skips, SkipGroup{Reason: g.Reason, Text: broadcast.SkipText(g.Reason), N: g.N})
	}
	r.CanRetry = r.Transient > 0 && retryStates[b.Status]
	r.Live = Live(b, s.now())
	return r, nil
}

// Live reports whether a broadcast's report should refresh by itself.
func Live(b db.Broadcast, now time.Time) bool {
	switch b.Status {
	case "preparing", "running", "paused", "scheduled":
		return true
	case "completed", "canceled":
		return b.FinishedAt == nil || now.Sub(*b.FinishedAt) < LiveFor
	}
	return false
}

// RecipientsPageSize is how many recipients one page of the table shows.
const RecipientsPageSize = 50

// RecipientRow is a row of the recipients table, explained.
type RecipientRow struct {
	db.ReportRecipient
	Explanation string // the error's, or the skip reason's, in words
}

// Recipients is one page of the recipients table.
type Recipients struct {
	Stage string
	Rows  []RecipientRow
	Next  int64 // the cursor of the next page; 0: this is the last
	After int64 // this page's cursor (0: the first page)
}

// BroadcastRecipients reads one page of b's recipients at stage ("" = all).
func (s *Service) BroadcastRecipients(ctx context.Context, b db.Broadcast, stage string, after int64) (Recipients, error) {
	out := Recipients{Stage: stage, After: after}
	rows, err := s.DB.BroadcastReportRecipients(ctx, b.ID, db.RecipientPage{Stage: stage, After: after, Limit: RecipientsPageSize + 1})
	if err != nil {
		return out, err
	}
	if len(rows) > RecipientsPageSize {
		rows = rows[:RecipientsPageSize]
		out.Next = rows[len(rows)-1].ID
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, RecipientRow{ReportRecipient: r, Explanation: recipientExplanation(r)})
	}
	return out, nil
}

func recipientExplanation(r db.ReportRecipient) string {
	switch {
	case r.Stage == "skipped":
		return broadcast.SkipText(r.SkipReason)
	case r.Stage == "failed" || r.Stage == "undelivered" || r.ErrorCode != 0:
		return explain(r.ErrorCode, r.ErrorMessage)
	}
	return ""
}

// FailuresHeader is the failures export's header row (the time column
// names the school's zone).
func FailuresHeader(tz *time.Location) []string {
	return []string{"name", "phone", "channel", "status", "error_code", "explanation", "time (" + tz.String() + ")"}
}

// WriteFailures writes b's failed and undelivered recipients as CSV. Every
// cell goes through contacts.SafeCell: names come from parents and error
// texts from carriers, and a cell starting with = or + would run as a
// formula in a spreadsheet.
func (s *Service) WriteFailures(ctx context.Context, w io.Writer, b db.Broadcast) error {
	cw := csv.NewWriter(w)
	tz := s.tz()
	if err := cw.Write(FailuresHeader(tz)); err != nil {
		return err
	}
	err := s.DB.EachBroadcastFailure(ctx, b.ID, func(r db.ReportRecipient) error {
		code := ""
		if r.ErrorCode != 0 {
			code = strconv.Itoa(r.ErrorCode)
		}
		channel := ChannelWord(r.Channel)
		if r.Fallback {
			channel += " (fallback)"
		}
		rec := []string{r.Name, r.Phone, channel, r.Stage, code, explain(r.ErrorCode, r.ErrorMessage), r.At.In(tz).Format("2006-01-02 15:04:05")}
		for i := range rec {
			rec[i] = contacts.SafeCell(rec[i])
		}
		return cw.Write(rec)
	})
	if err != nil {
		return fmt.Errorf("failures of broadcast %d: %w", b.ID, err)
	}
	cw.Flush()
	return cw.Error()
}

// ChannelWord names a channel for people.
func ChannelWord(c string) string {
	if c == policy.ChannelWhatsApp {
		return "WhatsApp"
	}
	return "SMS"
}

// ContactBroadcastRow is a broadcast a contact received, explained.
type ContactBroadcastRow struct {
	db.ContactBroadcast
	Explanation string
}

// ContactBroadcastsLimit caps the contact page's list (newest first).
const ContactBroadcastsLimit = 50

// ContactBroadcasts lists the broadcasts a contact received that the scope
// (nil: all departments) may see.
func (s *Service) ContactBroadcasts(ctx context.Context, contactID int64, scope []int64) ([]ContactBroadcastRow, error) {
	rows, err := s.DB.ContactBroadcasts(ctx, contactID, scope, ContactBroadcastsLimit)
	if err != nil {
		return nil, err
	}
	out := make([]ContactBroadcastRow, len(rows))
	for i, r := range rows {
		out[i] = ContactBroadcastRow{ContactBroadcast: r}
		switch {
		case r.Stage == "skipped":
			out[i].Explanation = broadcast.SkipText(r.SkipReason)
		case r.ErrorCode != 0:
			out[i].Explanation = explain(r.ErrorCode, "")
		}
	}
	return out, nil
}
