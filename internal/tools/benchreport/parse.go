package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one line of `go test -bench` output: a benchmark's name (the
// -GOMAXPROCS suffix removed), its iterations and its metrics in the order
// printed.
type Result struct {
	Name    string
	N       int
	Metrics []Metric
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
// with "Benchmark", an iteration count, then value-unit pairs.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
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
