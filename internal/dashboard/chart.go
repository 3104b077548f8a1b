package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Chart kinds.
const (
	KindLine = "line" // one line per series, a marker of its own shape on every point
	KindBars = "bars" // one bar per series in every bucket, side by side
)

// Bucket is one step of a chart's x axis.
type Bucket struct {
	Label string // short, for the axis ("14:05")
	Full  string // unambiguous, for the data table ("3 Mar 14:05")
}

// Series is one line (or one bar of every bucket).
type Series struct {
	Key    string // CSS class suffix: series-<key>
	Label  string
	Values []int // one per bucket
}

// Chart is what a chart shows; Layout works out where.
type Chart struct {
	ID      string // unique on the page; prefixes the ids inside the SVG
	Title   string // the SVG's <title>
	Desc    string // the SVG's <desc>: what a sighted reader would take from it
	Kind    string
	XLabel  string // the first column of the data table
	Buckets []Bucket
	Series  []Series
}

// Empty reports whether there is nothing to draw.
func (c Chart) Empty() bool {
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v != 0 {
				return false
			}
		}
	}
	return true
}

// Max is the largest value of any series.
func (c Chart) Max() int {
	m := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			m = max(m, v)
		}
	}
	return m
}

// Total sums a series.
func (s Series) Total() int {
	t := 0
	for _, v := range s.Values {
		t += v
	}
	return t
}

// Geometry is a chart laid out on a Width × Height canvas (the SVG's
// viewBox; CSS scales it to the page), plot area inside the margins.
type Geometry struct {
	Width, Height            float64
	Left, Top, Right, Bottom float64
	YTicks, XTicks           []Tick
	Lines                    []Line
	Bars                     []Bar
}

// Tick is an axis label at a position (y for the value axis, x for time).
type Tick struct {
	Pos   float64
	Label string
}

// Line is one series drawn as a polyline with a marker per point.
type Line struct {
	Key, Label string
	Shape      string // circle, square, triangle, diamond, cross
	Points     string // the polyline's points attribute
	Marks      []Mark
}

// Mark is one point's marker: its path and the words a tooltip shows.
type Mark struct {
	Path  string
	Title string
}

// Bar is one bar.
type Bar struct {
	Key, Label string
	X, Y, W, H float64
	Title      string
}

// Shapes are the markers, by series index: lines differ in shape and dash
// as well as colour, so the chart reads in grey and for colour-blind readers.
var Shapes = []string{"circle", "square", "triangle", "diamond", "cross"}

// Canvas size and margins (viewBox units).
const (
	chartW, chartH = 640.0, 240.0
	marginL        = 44.0
	marginR        = 12.0
	marginT        = 12.0
	marginB        = 30.0
	maxXTicks      = 8
	markR          = 3.5
)

// Layout places every point, bar and tick.
func (c Chart) Layout() Geometry {
	g := Geometry{Width: chartW, Height: chartH, Left: marginL, Top: marginT, Right: chartW - marginR, Bottom: chartH - marginB}
	n := len(c.Buckets)
	if n == 0 {
		return g
	}
	top, step := NiceScale(c.Max())
	for v := 0; v <= top; v += step {
		g.YTicks = append(g.YTicks, Tick{Pos: g.y(v, top), Label: strconv.Itoa(v)})
	}
	slot := (g.Right - g.Left) / float64(n)
	every := (n + maxXTicks - 1) / maxXTicks
	for i, b := range c.Buckets {
		if i%every == 0 {
			g.XTicks = append(g.XTicks, Tick{Pos: g.Left + (float64(i)+0.5)*slot, Label: b.Label})
		}
	}
	switch c.Kind {
	case KindBars:
		k := float64(max(len(c.Series), 1))
		w := slot * 0.8 / k
		for i := range c.Buckets {
			x0 := g.Left + float64(i)*slot + slot*0.1
			for j, s := range c.Series {
				v := at(s.Values, i)
				y := g.y(v, top)
				g.Bars = append(g.Bars, Bar{Key: s.Key, Label: s.Label, X: x0 + float64(j)*w, Y: y, W: w, H: g.Bottom - y,
					Title: fmt.Sprintf("%s, %s: %d", c.Buckets[i].Full, s.Label, v)})
			}
		}
	default:
		for j, s := range c.Series {
			l := Line{Key: s.Key, Label: s.Label, Shape: Shapes[j%len(Shapes)]}
			pts := make([]string, 0, n)
			for i := range c.Buckets {
				v := at(s.Values, i)
				x, y := g.Left+(float64(i)+0.5)*slot, g.y(v, top)
				pts = append(pts, F(x)+","+F(y))
				l.Marks = append(l.Marks, Mark{Path: MarkerPath(l.Shape, x, y, markR), Title: fmt.Sprintf("%s, %s: %d", c.Buckets[i].Full, s.Label, v)})
			}
			l.Points = strings.Join(pts, " ")
			g.Lines = append(g.Lines, l)
		}
	}
	return g
}

func at(vs []int, i int) int {
	if i < len(vs) {
		return vs[i]
	}
	return 0
}

// y is where value v sits on a scale from 0 to top.
func (g Geometry) y(v, top int) float64 {
	if top <= 0 {
		return g.Bottom
	}
	return g.Bottom - (g.Bottom-g.Top)*float64(v)/float64(top)
}

// NiceScale picks the value axis: a top at or above m and a step of 1, 2 or
// 5 × 10^k giving at most five steps, so ticks are round numbers.
func NiceScale(m int) (top, step int) {
	if m <= 0 {
		return 1, 1
	}
	for mag := 1; ; mag *= 10 {
		for _, f := range []int{1, 2, 5} {
			s := f * mag
			if (m+s-1)/s <= 5 {
				return ((m + s - 1) / s) * s, s
			}
		}
	}
}

// MarkerPath is an SVG path of a marker shape of radius r centred on x, y.
func MarkerPath(shape string, x, y, r float64) string {
	switch shape {
	case "square":
		s := r * 0.9
		return fmt.Sprintf("M%s %sh%sv%sh-%sZ", F(x-s), F(y-s), F(2*s), F(2*s), F(2*s))
	case "triangle":
		return fmt.Sprintf("M%s %sL%s %sL%s %sZ", F(x), F(y-r*1.15), F(x+r), F(y+r*0.75), F(x-r), F(y+r*0.75))
	case "diamond":
		return fmt.Sprintf("M%s %sL%s %sL%s %sL%s %sZ", F(x), F(y-r*1.2), F(x+r*1.2), F(y), F(x), F(y+r*1.2), F(x-r*1.2), F(y))
	case "cross":
		return fmt.Sprintf("M%s %sL%s %sM%s %sL%s %s", F(x-r), F(y-r), F(x+r), F(y+r), F(x-r), F(y+r), F(x+r), F(y-r))
	}
	return fmt.Sprintf("M%s %sa%s %s 0 1 0 %s 0a%s %s 0 1 0 -%s 0Z", F(x-r), F(y), F(r), F(r), F(2*r), F(r), F(r), F(2*r))
}

// F formats a coordinate with one decimal, the precision a 640-unit canvas needs.
func F(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // no "-0"
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
