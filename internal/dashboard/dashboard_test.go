package dashboard

import (
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone data in the binary: these tests never depend on the machine's

	"github.com/classline/classline/db"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		n, d int
		want string
	}{
		{0, 0, "–"}, {0, 10, "0%"}, {1, 3, "33%"}, {2, 3, "67%"}, {1, 1000, "<1%"}, {5, 1000, "1%"},
		{999, 1000, ">99%"}, {199, 200, ">99%"}, {10, 10, "100%"}, {1, 2, "50%"},
	} {
		if got := Percent(c.n, c.d); got != c.want {
			t.Errorf("Percent(%d, %d) = %q, want %q", c.n, c.d, got, c.want)
		}
	}
}

func TestWait(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"}, {42 * time.Second, "42 s"}, {59*time.Second + 600*time.Millisecond, "1 min"}, {90 * time.Second, "2 min"}, {12 * time.Minute, "12 min"},
		{time.Hour, "1 h"}, {190 * time.Minute, "3 h 10 min"}, {52 * time.Hour, "2 d 4 h"}, {48 * time.Hour, "2 d"},
	} {
		if got := Wait(c.d); got != c.want {
			t.Errorf("Wait(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ m, top, step int }{
		{0, 1, 1}, {1, 1, 1}, {4, 4, 1}, {5, 5, 1}, {6, 6, 2}, {9, 10, 2}, {11, 15, 5}, {23, 25, 5},
		{26, 30, 10}, {99, 100, 20}, {101, 150, 50}, {3000, 3000, 1000},
	} {
		top, step := NiceScale(c.m)
		if top != c.top || step != c.step {
			t.Errorf("NiceScale(%d) = %d, %d; want %d, %d", c.m, top, step, c.top, c.step)
		}
		if top < c.m || top/step > 5 {
			t.Errorf("NiceScale(%d) = %d, %d: does not cover in five steps", c.m, top, step)
		}
	}
}

func TestBucketWidth(t *testing.T) {
	for _, c := range []struct {
		span, want time.Duration
	}{
		{time.Second, 10 * time.Second}, {5 * time.Minute, 10 * time.Second}, {9*time.Minute + 59*time.Second, 10 * time.Second},
		{10 * time.Minute, 30 * time.Second}, {45 * time.Minute, time.Minute}, {3 * time.Hour, 5 * time.Minute},
		{12 * time.Hour, 15 * time.Minute}, {40 * time.Hour, time.Hour}, {50 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := BucketWidth(c.span); got != c.want {
			t.Errorf("BucketWidth(%s) = %s, want %s", c.span, got, c.want)
		}
	}
	if w := BucketWidth(200 * 24 * time.Hour); 200*24*time.Hour/w >= maxBuckets {
		t.Errorf("200 days in %s buckets is too many", w)
	}
}

func TestBuildFunnel(t *testing.T) {
	f := BuildFunnel([]db.BroadcastCount{
		{Status: "queued", N: 1, Channel: "whatsapp"},
		{Status: "accepted", N: 1, Channel: "sms"}, // Twilio's accepted is queued too
		{Status: "sent", N: 2, Channel: "sms"},
		{Status: "delivered", N: 3, Channel: "whatsapp"},
		{Status: "delivered", N: 1, Channel: "sms"},
		{Status: "read", N: 4, Channel: "whatsapp"},
		{Status: "failed", N: 2, Channel: "whatsapp"},
		{Status: "undelivered", N: 1, Channel: "sms"},
		{Status: "skipped", N: 5, Channel: "whatsapp"},
		{Status: "delivered", N: 2, Channel: "sms", Fallback: true},
		{Status: "failed", N: 1, Channel: "sms", Fallback: true},
	})
	want := map[string]int{"queued": 2, "sent": 2, "delivered": 4, "read": 4, "failed": 2, "undelivered": 1, "skipped": 5}
	if f.Main.Total != 20 || f.Main.Reached != 8 {
		t.Fatalf("main total %d reached %d, want 20 and 8", f.Main.Total, f.Main.Reached)
	}
	var keys []string
	sum := 0
	for _, s := range f.Main.Stages {
		keys = append(keys, s.Key)
		if s.N != want[s.Key] {
			t.Errorf("stage %s = %d, want %d", s.Key, s.N, want[s.Key])
		}
		sum += s.N
	}
	if strings.Join(keys, ",") != "queued,sent,delivered,read,failed,undelivered,skipped" {
		t.Errorf("stages %v", keys)
	}
	if sum != f.Main.Total {
		t.Errorf("stages add to %d, total %d", sum, f.Main.Total)
	}
	if s := f.Main.Stages[6]; s.Percent != "25%" || s.Share != 25 {
		t.Errorf("skipped share %q %v", s.Percent, s.Share)
	}
	if f.Fallback.Total != 3 || f.Fallback.Reached != 2 {
		t.Errorf("fallback total %d reached %d", f.Fallback.Total, f.Fallback.Reached)
	}
	for _, s := range f.Fallback.Stages {
		if s.Key == "skipped" {
			t.Error("fallbacks show a skipped stage")
		}
	}
	// Stages nobody is at are left out, unless they are the funnel's own.
	g := BuildFunnel([]db.BroadcastCount{{Status: "pending", N: 3}, {Status: "canceled", N: 1}})
	var extra []string
	for _, s := range g.Main.Stages[7:] {
		extra = append(extra, s.Key)
	}
	if strings.Join(extra, ",") != "pending,canceled" || len(g.Main.Stages) != 9 {
		t.Errorf("extra stages %v (%d)", extra, len(g.Main.Stages))
	}
}

func TestLayoutCounts(t *testing.T) {
	c := Chart{ID: "c", Kind: KindLine, Buckets: make([]Bucket, 12),
		Series: []Series{{Key: "a", Values: []int{1, 2, 3}}, {Key: "b", Values: []int{0, 0, 7}}}}
	g := c.Layout()
	if len(g.Lines) != 2 {
		t.Fatalf("%d lines", len(g.Lines))
	}
	for _, l := range g.Lines {
		if len(l.Marks) != 12 || len(strings.Fields(l.Points)) != 12 {
			t.Errorf("line %s: %d marks, %d points", l.Key, len(l.Marks), len(strings.Fields(l.Points)))
		}
	}
	if g.Lines[0].Shape == g.Lines[1].Shape {
		t.Error("two series share a marker shape")
	}
	if len(g.XTicks) > maxXTicks || len(g.XTicks) == 0 {
		t.Errorf("%d x ticks", len(g.XTicks))
	}
	// The highest point touches the top of the scale (7 → top 7, step... 7 needs 2s: top 8).
	if len(g.YTicks) == 0 || g.YTicks[len(g.YTicks)-1].Label != "8" {
		t.Errorf("y ticks %+v", g.YTicks)
	}
	c.Kind = KindBars
	g = c.Layout()
	if len(g.Bars) != 24 {
		t.Errorf("%d bars, want 24", len(g.Bars))
	}
	for _, b := range g.Bars {
		if b.H < 0 || b.Y < g.Top || b.Y+b.H > g.Bottom+0.001 {
			t.Errorf("bar out of the plot: %+v", b)
		}
	}
}

func TestMarkerPaths(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Shapes {
		p := MarkerPath(s, 10, 10, 3)
		if !strings.HasPrefix(p, "M") || seen[p] {
			t.Errorf("shape %s: path %q", s, p)
		}
		seen[p] = true
	}
	if F(1.25) != "1.3" || F(3) != "3" || F(-0.04) != "0" || F(12.34) != "12.3" {
		t.Errorf("F: %s %s %s", F(1.25), F(3), F(-0.04))
	}
}

func TestTimelineBuckets(t *testing.T) {
	tz, err := time.LoadLocation("Asia/Kolkata") // +05:30: minute buckets still start on the minute
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 2, 8, 0, 3, 0, time.UTC) // 13:30:03 in Kolkata
	pts := []db.TimelinePoint{
		{Status: "sent", At: base, N: 2},
		{Status: "sent", At: base.Add(5 * time.Second), N: 1},
		{Status: "delivered", At: base.Add(12 * time.Second), N: 3},
		{Status: "read", At: base.Add(40 * time.Second), N: 1},
		{Status: "failed", At: base.Add(41 * time.Second), N: 1},
		{Status: "undelivered", At: base.Add(59 * time.Second), N: 2},
	}
	c, w := Timeline("t", pts, tz)
	if w != 10*time.Second {
		t.Fatalf("width %s", w)
	}
	// 13:30:00 … 13:31:00: seven 10-second buckets.
	if len(c.Buckets) != 7 || c.Buckets[0].Label != "13:30:00" || c.Buckets[6].Label != "13:31:00" {
		t.Fatalf("buckets %+v", c.Buckets)
	}
	want := map[string][]int{
		"sent":      {3, 0, 0, 0, 0, 0, 0},
		"delivered": {0, 3, 0, 0, 0, 0, 0},
		"read":      {0, 0, 0, 0, 1, 0, 0},
		"failed":    {0, 0, 0, 0, 1, 0, 2},
	}
	for _, s := range c.Series {
		if !slices.Equal(s.Values, want[s.Key]) {
			t.Errorf("series %s = %v, want %v", s.Key, s.Values, want[s.Key])
		}
	}
	if !strings.Contains(c.Desc, "Asia/Kolkata") || !strings.Contains(c.Desc, "Sent 3") || !strings.Contains(c.Desc, "Failed or undelivered 3") {
		t.Errorf("desc %q", c.Desc)
	}
	if e, _ := Timeline("e", nil, tz); !e.Empty() || len(e.Buckets) != 0 {
		t.Errorf("empty timeline %+v", e)
	}
}

func TestPeriodStartAcrossDST(t *testing.T) {
	tz, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	// Clocks went forward on 29 March 2026: seven days back from 2 April
	// is midnight of 27 March, a GMT day.
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, tz)
	got := PeriodStart(now, 7, tz)
	if want := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("PeriodStart = %s, want %s", got, want)
	}
	c := volumeChart(got, 7, tz, []db.OverviewRow{
		{Direction: "outbound", Day: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), Total: 4},
		{Direction: "inbound", Day: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), Total: 2},
		{Direction: "inbound", Day: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), Total: 9}, // outside
	})
	if len(c.Buckets) != 7 || c.Buckets[2].Full != "Sun 29 Mar 2026" || c.Series[0].Values[2] != 4 || c.Series[1].Values[6] != 2 ||
		c.Series[0].Total()+c.Series[1].Total() != 6 {
		t.Errorf("volume chart %+v", c)
	}
}

func TestExplain(t *testing.T) {
	if got := explain(30003, "x"); !strings.Contains(got, "unreachable") {
		t.Errorf("30003: %q", got)
	}
	if got := explain(12345, "Carrier said no"); got != "Twilio reported error 12345: Carrier said no" {
		t.Errorf("unknown code: %q", got)
	}
	if got := explain(0, "no sender could send this message"); got != "no sender could send this message" {
		t.Errorf("no code: %q", got)
	}
	if got := explain(0, ""); got == "" {
		t.Error("no code, no text: empty explanation")
	}
}

func TestLive(t *testing.T) {
	now := time.Now()
	old, recent := now.Add(-time.Hour), now.Add(-time.Minute)
	for _, c := range []struct {
		b    db.Broadcast
		want bool
	}{
		{db.Broadcast{Status: "running"}, true},
		{db.Broadcast{Status: "paused"}, true},
		{db.Broadcast{Status: "draft"}, false},
		{db.Broadcast{Status: "completed", FinishedAt: &recent}, true},
		{db.Broadcast{Status: "completed", FinishedAt: &old}, false},
		{db.Broadcast{Status: "canceled", FinishedAt: &old}, false},
	} {
		if got := Live(c.b, now); got != c.want {
			t.Errorf("Live(%s) = %v", c.b.Status, got)
		}
	}
}
