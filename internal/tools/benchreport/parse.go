package main

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Result is one line of `go test -bench` output: a benchmark's name (the
// -GOMAXPROCS suffix removed), its iterations and its metrics in the order
// printed.
type Result struct {
	Name    string
	N       int
	Metrics []Metric
	Pkg     string // the package it ran in (set by Run)
}

// Metric is one value of a result with its unit (ns/op, or a unit given
// to b.ReportMetric such as ratio or p99-ms).
type Metric struct {
	Value float64
	Unit  string
}

// Get returns the value of unit and whether the result has it.
func (r Result) Get(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// Label returns the value of a "key=value" element of the name's path
// (elements may hold several, comma-separated), or "".
func (r Result) Label(key string) string {
	for _, seg := range strings.Split(r.Name, "/") {
		for _, kv := range strings.Split(seg, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == key {
				return v
			}
		}
	}
	return ""
}

// Sub returns the name without its first element (the benchmark
// function), "" for a benchmark without sub-benchmarks.
func (r Result) Sub() string {
	_, rest, _ := strings.Cut(r.Name, "/")
	return rest
}

var procSuffix = regexp.MustCompile(`-[0-9]+$`)

// Parse reads `go test -bench` output and returns its result lines; every
// other line (logs, PASS, ok) is skipped. A result line is a name starting
// with "Benchmark", an iteration count, then value-unit pairs. A benchmark
// that failed has no result line; when its log states its figures (see
// logFigures) they are returned as its result.
func Parse(r io.Reader) ([]Result, error) {
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out := failedResults(string(all))
	sc := bufio.NewScanner(bytes.NewReader(all))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		res := Result{Name: procSuffix.ReplaceAllString(f[0], ""), N: n}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			res.Metrics = append(res.Metrics, Metric{Value: v, Unit: f[i+1]})
		}
		if ok {
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// A benchmark that fails (b.Errorf, e.g. a target it asserts) prints no
// result line, only "--- FAIL: NAME" and its log. For the benchmarks whose
// log states their figures, those are read from the log instead.
var logFigures = []struct {
	re    *regexp.Regexp
	units []string // per submatch; "" skips it
}{
	// BenchmarkFullSync (internal/ingest): "sqlite: full sync 11.371s (191
	// requests, 674099 audit rows), peak RSS 352.1 MB; floor 4.831s (…);
	// ratio 2.35" and "sync phases: subscriptions 769ms, activity read and
	// staged 7.02s, activity commit 3.523s".
	{regexp.MustCompile(`full sync (\S+) \((\d+) requests, (\d+) audit rows\), peak RSS ([0-9.]+) MB; floor (\S+) \(.*\); ratio ([0-9.]+)`),
		[]string{"wall-s", "", "audit-rows", "peak-RSS-MB", "floor-s", "ratio"}},
	{regexp.MustCompile(`sync phases: subscriptions (\S+), activity read and staged (\S+), activity commit (\S+)`),
		[]string{"subs-s", "read-s", "commit-s"}},
	// "sqlite: CPU of the full sync 21.40s, simulator 4.50s, database
	// server 0.00s; of the floor 10.02s, simulator 5.51s; 2 cores".
	{regexp.MustCompile(`CPU of the full sync (\S+), simulator (\S+), database server (\S+); of the floor (\S+), simulator ([^;\s]+); (\d+) cores`),
		[]string{"sync-cpu-s", "sim-cpu-s", "db-cpu-s", "floor-cpu-s", "floor-sim-cpu-s", "cores"}},
}

// parseFigure reads a number or a Go duration (as seconds).
func parseFigure(s string) (float64, bool) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, true
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d.Seconds(), true
	}
	return 0, false
}

// failedResults returns results for the failed benchmarks of out whose log
// states their figures (see logFigures), and the failure messages.
func failedResults(out string) []Result {
	var res []Result
	var cur *Result
	flush := func() {
		if cur != nil && len(cur.Metrics) > 0 {
			res = append(res, *cur)
		}
		cur = nil
	}
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "--- FAIL: "); ok {
			flush()
			cur = &Result{Name: procSuffix.ReplaceAllString(strings.Fields(name)[0], ""), N: 1}
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "    ") {
			flush()
			continue
		}
		for _, lf := range logFigures {
			m := lf.re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			for i, u := range lf.units {
				if v, ok := parseFigure(m[i+1]); ok && u != "" {
					cur.Metrics = append(cur.Metrics, Metric{Value: v, Unit: u})
				}
			}
		}
	}
	flush()
	return res
}
