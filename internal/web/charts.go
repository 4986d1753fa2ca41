package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Server-rendered SVG charts: no script, no external asset. Every chart is
// an <svg role="img"> with a <title> and a <desc> (named by
// aria-labelledby) that say what it shows in words, a text label on every
// axis and bar, and the page shows the same figures in a table next to it.

// series is one named, coloured set of values of a chart.
type series struct {
	Name   string
	Class  string // CSS class giving the colour (c-active …)
	Values []float64
}

// chartSpec describes a chart: categories along x, one or more series.
type chartSpec struct {
	ID     string // unique on the page; title and desc ids derive from it
	Title  string
	Desc   string
	Labels []string // categories (x axis)
	Series []series
	Unit   string // unit of the values, after the number in labels
	Width  int
	Height int
}

const (
	padLeft   = 64
	padRight  = 16
	padTop    = 16
	padBottom = 44
)

func esc(s string) string { return template.HTMLEscapeString(s) }

// niceMax rounds v up to 1, 2, 2.5 or 5 × a power of ten (at least 1).
func niceMax(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return groupDigits(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// groupDigits writes n with thin spaces between groups of three digits.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// open writes the svg element with its title and description.
func (c chartSpec) open(b *strings.Builder) {
	fmt.Fprintf(b, `<svg class="chart" id="%s" role="img" aria-labelledby="%s-title %s-desc" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet">`,
		esc(c.ID), esc(c.ID), esc(c.ID), c.Width, c.Height)
	fmt.Fprintf(b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.Title), esc(c.ID), esc(c.Desc))
}

// yAxis draws horizontal grid lines with their values and returns the
// scale's maximum.
func (c chartSpec) yAxis(b *strings.Builder, max float64) float64 {
	top := niceMax(max)
	plotH := float64(c.Height - padTop - padBottom)
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := float64(c.Height-padBottom) - plotH*float64(i)/4
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, c.Width-padRight, y, y)
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padLeft-6, y+4, esc(fmtNum(v)))
	}
	return top
}

// barChart draws grouped vertical bars: one group per label, one bar per
// series, each bar labelled with its value.
func barChart(c chartSpec) template.HTML {
	if c.Width == 0 {
		c.Width, c.Height = 640, 260
	}
	var b strings.Builder
	c.open(&b)
	max := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			max = math.Max(max, v)
		}
	}
	top := c.yAxis(&b, max)
	plotW := float64(c.Width - padLeft - padRight)
	plotH := float64(c.Height - padTop - padBottom)
	n := len(c.Labels)
	if n == 0 {
		n = 1
	}
	groupW := plotW / float64(n)
	barW := groupW * 0.8 / float64(max1(len(c.Series)))
	for i, label := range c.Labels {
		x0 := float64(padLeft) + groupW*float64(i) + groupW*0.1
		for j, s := range c.Series {
			v := 0.0
			if i < len(s.Values) {
				v = s.Values[i]
			}
			h := plotH * v / top
			x := x0 + barW*float64(j)
			y := float64(c.Height-padBottom) - h
			name := label
			if len(c.Series) > 1 {
				name = s.Name + ", " + label
			}
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s%s</title></rect>`,
				esc(s.Class), x, y, barW-2, h, esc(name), esc(fmtNum(v)), esc(c.Unit))
			if barW >= 24 {
				fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+(barW-2)/2, y-3, esc(fmtNum(v)))
			}
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+groupW*0.4, c.Height-padBottom+16, esc(label))
	}
	fmt.Fprintf(&b, `<line class="axis-line" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padLeft, c.Width-padRight, c.Height-padBottom, c.Height-padBottom)
	c.legend(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineChart draws one line per series over the labels (days), with a dot
// per point and the first, middle and last labels on the x axis.
func lineChart(c chartSpec) template.HTML {
	if c.Width == 0 {
		c.Width, c.Height = 640, 260
	}
	var b strings.Builder
	c.open(&b)
	max := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			max = math.Max(max, v)
		}
	}
	top := c.yAxis(&b, max)
	plotW := float64(c.Width - padLeft - padRight)
	plotH := float64(c.Height - padTop - padBottom)
	n := len(c.Labels)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(padLeft) + plotW/2
		}
		return float64(padLeft) + plotW*float64(i)/float64(n-1)
	}
	for _, s := range c.Series {
		var pts []string
		for i, v := range s.Values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), float64(c.Height-padBottom)-plotH*v/top))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, esc(s.Class), strings.Join(pts, " "))
		for i, v := range s.Values {
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="3"><title>%s, %s: %s%s</title></circle>`, esc(s.Class), x(i),
				float64(c.Height-padBottom)-plotH*v/top, esc(s.Name), esc(c.Labels[i]), esc(fmtNum(v)), esc(c.Unit))
		}
	}
	for _, i := range uniqueInts(0, n/2, n-1) {
		if i >= 0 && i < n {
			anchor := "middle"
			if n > 1 && i == 0 {
				anchor = "start"
			} else if n > 1 && i == n-1 {
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), c.Height-padBottom+16, anchor, esc(c.Labels[i]))
		}
	}
	fmt.Fprintf(&b, `<line class="axis-line" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padLeft, c.Width-padRight, c.Height-padBottom, c.Height-padBottom)
	c.legend(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// legend writes the series names under the x axis labels.
func (c chartSpec) legend(b *strings.Builder) {
	if len(c.Series) < 2 {
		return
	}
	x := padLeft
	for _, s := range c.Series {
		fmt.Fprintf(b, `<rect class="%s" x="%d" y="%d" width="10" height="10"/><text class="axis" x="%d" y="%d">%s</text>`,
			esc(s.Class), x, c.Height-14, x+14, c.Height-5, esc(s.Name))
		x += 24 + 8*len(s.Name)
	}
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func uniqueInts(xs ...int) []int {
	var out []int
	for _, x := range xs {
		dup := false
		for _, y := range out {
			dup = dup || x == y
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}
