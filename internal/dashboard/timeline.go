package dashboard

import (
	"fmt"
	"time"

	"github.com/classline/classline/db"
)

// bucketWidths are the steps a timeline may use: the finest that keeps the
// chart under maxBuckets points, so a five-minute broadcast is shown per
// 10 s and an overnight one per 15 min.
var bucketWidths = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

const maxBuckets = 60

// BucketWidth is the finest step that shows span in at most maxBuckets buckets.
func BucketWidth(span time.Duration) time.Duration {
	for _, w := range bucketWidths {
		if span/w < maxBuckets {
			return w
		}
	}
	return bucketWidths[len(bucketWidths)-1] * time.Duration(span/(24*time.Hour)/maxBuckets+1)
}

// alignStart is the start of the bucket holding t, on the school's wall
// clock: per minute buckets start at :00 seconds, hourly ones on the hour,
// also in zones whose offset is not a whole hour.
func alignStart(t time.Time, w time.Duration, tz *time.Location) time.Time {
	_, off := t.In(tz).Zone()
	shift := time.Duration(off) * time.Second
	return t.Add(shift).Truncate(w).Add(-shift)
}

// TimelineSeries are the timeline's lines; undelivered counts as failed
// (both mean the message did not arrive).
var TimelineSeries = []Series{
	{Key: "sent", Label: "Sent"},
	{Key: "delivered", Label: "Delivered"},
	{Key: "read", Label: "Read"},
	{Key: "failed", Label: "Failed or undelivered"},
}

// Timeline buckets the per-second counts of db.BroadcastTimeline into a
// line chart, with axis labels in the school's zone.
func Timeline(id string, points []db.TimelinePoint, tz *time.Location) (Chart, time.Duration) {
	if tz == nil {
		tz = time.UTC
	}
	c := Chart{ID: id, Kind: KindLine, Title: "Deliveries over time", XLabel: "Time (" + tz.String() + ")"}
	for _, s := range TimelineSeries {
		c.Series = append(c.Series, Series{Key: s.Key, Label: s.Label})
	}
	if len(points) == 0 {
		c.Desc = "No status reports from Twilio yet."
		return c, 0
	}
	first, last := points[0].At, points[0].At
	for _, p := range points {
		if p.At.Before(first) {
			first = p.At
		}
		if p.At.After(last) {
			last = p.At
		}
	}
	w := BucketWidth(last.Sub(first) + time.Second)
	start := alignStart(first, w, tz)
	n := int(last.Sub(start)/w) + 1
	for i := range c.Series {
		c.Series[i].Values = make([]int, n)
	}
	index := map[string]int{"sent": 0, "delivered": 1, "read": 2, "failed": 3, "undelivered": 3}
	for _, p := range points {
		j, ok := index[p.Status]
		if !ok {
			continue
		}
		c.Series[j].Values[int(p.At.Sub(start)/w)] += p.N
	}
	sameDay := start.In(tz).YearDay() == last.In(tz).YearDay() && start.In(tz).Year() == last.In(tz).Year()
	short, full := "15:04", "2 Jan 15:04"
	if w < time.Minute {
		short, full = "15:04:05", "2 Jan 15:04:05"
	}
	if !sameDay {
		short = "2 Jan " + short
	}
	if w >= 24*time.Hour {
		short, full = "2 Jan", "2 Jan 2006"
	}
	for i := range n {
		t := start.Add(time.Duration(i) * w).In(tz)
		c.Buckets = append(c.Buckets, Bucket{Label: t.Format(short), Full: t.Format(full)})
	}
	c.Desc = fmt.Sprintf("Status reports per %s from %s to %s (%s): %s.", widthWords(w),
		start.In(tz).Format(full), start.Add(time.Duration(n)*w).In(tz).Format(full), tz.String(), seriesTotals(c.Series))
	return c, w
}

// widthWords names a bucket width: "10 seconds", "minute", "15 minutes".
func widthWords(w time.Duration) string {
	switch {
	case w == time.Minute:
		return "minute"
	case w == time.Hour:
		return "hour"
	case w == 24*time.Hour:
		return "day"
	case w < time.Minute:
		return fmt.Sprintf("%d seconds", int(w/time.Second))
	case w < time.Hour:
		return fmt.Sprintf("%d minutes", int(w/time.Minute))
	case w < 24*time.Hour:
		return fmt.Sprintf("%d hours", int(w/time.Hour))
	}
	return fmt.Sprintf("%d days", int(w/(24*time.Hour)))
}

// WidthWords is widthWords for pages: "per 10 seconds".
func WidthWords(w time.Duration) string { return widthWords(w) }

func seriesTotals(ss []Series) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", s.Label, s.Total())
	}
	return out
}
