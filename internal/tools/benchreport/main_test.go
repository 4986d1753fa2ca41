package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	out := `goos: linux
pkg: github.com/seatwise/seatwise/internal/ingest
BenchmarkFullSync/users=100000,days=27/db=sqlite-2   	       1	46200000000 ns/op	         3.60 ratio	       152.0 peak-RSS-MB
    bench_test.go:218: sqlite: full sync 46.2s
BenchmarkAPI//api/v1/subscriptions?q=u00123&limit=100-2         	      50	   1030000 ns/op	   18534 B/op	     234 allocs/op
BenchmarkGenerate100k	       1	 900000000 ns/op	       672.0 bytes/user
BenchmarkBroken-2   	       1	 12 ns/op	 x ratio
BenchmarkOdd-2   	       1	 12 ns/op	 3
--- FAIL: BenchmarkFullSync/users=10000/db=postgres
PASS
ok  	github.com/seatwise/seatwise/internal/ingest	50.1s
`
	got, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "BenchmarkFullSync/users=100000,days=27/db=sqlite", N: 1, Metrics: []Metric{{46200000000, "ns/op"}, {3.6, "ratio"}, {152, "peak-RSS-MB"}}},
		{Name: "BenchmarkAPI//api/v1/subscriptions?q=u00123&limit=100", N: 50, Metrics: []Metric{{1030000, "ns/op"}, {18534, "B/op"}, {234, "allocs/op"}}},
		{Name: "BenchmarkGenerate100k", N: 1, Metrics: []Metric{{900000000, "ns/op"}, {672, "bytes/user"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
	}
	r := got[0]
	for _, tc := range []struct{ key, want string }{{"users", "100000"}, {"days", "27"}, {"db", "sqlite"}, {"nope", ""}} {
		if v := r.Label(tc.key); v != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.key, v, tc.want)
		}
	}
	if v, ok := r.Get("ratio"); !ok || v != 3.6 {
		t.Errorf("Get(ratio) = %v %v", v, ok)
	}
	if _, ok := r.Get("p99-ms"); ok {
		t.Error("Get of a missing unit reports it present")
	}
	if dbName(r) != "SQLite" || r.Sub() != "users=100000,days=27/db=sqlite" {
		t.Errorf("dbName %q Sub %q", dbName(r), r.Sub())
	}
}

// TestParseFailed reads the figures of a benchmark that failed (no result
// line) from its log.
func TestParseFailed(t *testing.T) {
	out := `--- FAIL: BenchmarkFullSync/users=100000,days=27/db=postgres
    bench_test.go:209: sync phases: subscriptions 41.319s, activity read and staged 42.935s, activity commit 22.357s
    bench_test.go:218: postgres: full sync 1m46.646s (599 requests, 1830908 audit rows), peak RSS 291.9 MB; floor 13.852s (100000 users, 1830908 audit rows, peak RSS 37.8 MB); ratio 7.70
    bench_test.go:224: postgres: CPU of the full sync 21.40s, simulator 4.50s, database server 9.25s; of the floor 10.02s, simulator 5.51s; 2 cores
    bench_test.go:127: peak RSS 291.9 MB, target < 256 MB
--- FAIL: BenchmarkFullSync/users=100000,days=27
--- FAIL: BenchmarkOther
    x_test.go:1: nothing to read
BenchmarkFullSync/users=10000/db=postgres-2       	       1	18972943892 ns/op	         2.593 ratio
FAIL
`
	got, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "BenchmarkFullSync/users=100000,days=27/db=postgres", N: 1, Metrics: []Metric{{41.319, "subs-s"}, {42.935, "read-s"}, {22.357, "commit-s"},
			{106.646, "wall-s"}, {1830908, "audit-rows"}, {291.9, "peak-RSS-MB"}, {13.852, "floor-s"}, {7.7, "ratio"},
			{21.4, "sync-cpu-s"}, {4.5, "sim-cpu-s"}, {9.25, "db-cpu-s"}, {10.02, "floor-cpu-s"}, {5.51, "floor-sim-cpu-s"}, {2, "cores"}}},
		{Name: "BenchmarkFullSync/users=10000/db=postgres", N: 1, Metrics: []Metric{{18972943892, "ns/op"}, {2.593, "ratio"}}},
	}
	if len(got) != len(want) {
		t.Fatalf("Parse: %+v", got)
	}
	for i := range want {
		if got[i].Name != want[i].Name || len(got[i].Metrics) != len(want[i].Metrics) {
			t.Fatalf("result %d: %+v, want %+v", i, got[i], want[i])
		}
		for j, m := range want[i].Metrics {
			if g := got[i].Metrics[j]; g.Unit != m.Unit || g.Value-m.Value > 1e-9 || m.Value-g.Value > 1e-9 {
				t.Errorf("result %d metric %d: %+v, want %+v", i, j, g, m)
			}
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{num(1234567), "1,234,567"},
		{num(-1234), "-1,234"},
		{num(152.04), "152"},
		{num(12.345), "12.3"},
		{num(3.6), "3.60"},
		{num(0.0123), "0.0123"},
		{num(0), "0"},
		{thousands("100000"), "100,000"},
		{thousands("abc"), "abc"},
		{duration(1.5e9), "1.50 s"},
		{duration(2.5e6), "2.50 ms"},
		{duration(800), "800 ns"},
		{sizeOf(17 << 20), "17 MiB"},
		{sizeOf(512), "512 B"},
		{precise(255.94), "255.9"},
		{precise(1234.56), "1,234.6"},
		{precise(2.05), "2.05"},
		{precise(300), "300"},
		{anchor("Full sync (subscriptions + activity)"), "full-sync-subscriptions--activity"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestMarkdownTargets renders a report from known results: met and missed
// targets with the miss, the figures of each section, and the sections
// not measured.
func TestMarkdownTargets(t *testing.T) {
	secs := map[string]Section{}
	for _, s := range sections() {
		secs[s.ID] = s
	}
	rep := &Report{Start: time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC), Took: 42 * time.Minute,
		Machine: Machine{CPU: "Test CPU", Cores: 2, Go: "go1.26.8", OS: "linux/amd64"},
		Sections: []SectionResult{
			{Section: secs["sync"], Commands: []string{"SEATWISE_BENCH=10000 go test ./internal/ingest"}, Results: []Result{
				{Name: "BenchmarkFullSync/users=10000/db=sqlite", Metrics: []Metric{{2.05, "ratio"}, {104, "peak-RSS-MB"}, {8.3, "wall-s"}, {4.0, "floor-s"},
					{9.5, "sync-cpu-s"}, {2.5, "sim-cpu-s"}, {0, "db-cpu-s"}, {3.0, "floor-cpu-s"}, {1.8, "floor-sim-cpu-s"}, {2, "cores"}}},
				{Name: "BenchmarkFullSync/users=100000,days=27/db=postgres", Metrics: []Metric{{1.2, "ratio"}, {300, "peak-RSS-MB"}}},
			}},
			{Section: secs["refresh"], Results: []Result{
				{Name: "BenchmarkDailyRefresh/users=10000/db=sqlite", Metrics: []Metric{{160, "full-requests"}, {4, "refresh-requests"}, {2.5, "refresh-%"}}},
			}},
			{Section: secs["backfill"], Missing: []string{"no benchmark matching `^BenchmarkBackfill`"}},
			{Section: secs["recon"], Results: []Result{
				{Name: "BenchmarkReconcile/sqlite/subscriptions=1000000", Metrics: []Metric{{1.2e8, "ns/op"}, {1e6, "subscriptions"}}},
			}},
			{Section: secs["load"], Results: []Result{
				{Name: "BenchmarkServeLoad/sqlite", Metrics: []Metric{{20, "p50-ms"}, {140, "p99-ms"}, {0, "errors"}}},
			}},
			{Section: secs["jobs"], Results: []Result{{Name: "BenchmarkDrain/sqlite", Metrics: []Metric{{3e5, "ns/op"}, {3298, "jobs/s"}}}}},
		}}
	md := rep.Markdown()
	for _, want := range []string{
		"| full sync, 10,000 users (90 days), SQLite: ratio to the floor | < 1.50 | 2.05 | **missed** by 0.55 (1.37×) |",
		"| full sync, 10,000 users (90 days), SQLite: peak RSS | < 256 MB | 104 MB | met |",
		"| full sync, 100,000 users (27 days), PostgreSQL: peak RSS | < 256 MB | 300 MB | **missed** by 44 MB (1.17×) |",
		"| API under load, SQLite: p99 | < 100 ms | 140 ms | **missed** by 40 ms (1.40×) |",
		"| daily refresh, 10,000 users, SQLite: requests of a full sync | < 3% | 2.50% | met |",
		"| reconciliation of 1,000,000 subscriptions, SQLite | < 5 s | 0.12 s | met |",
		"| API under load, SQLite: p99 | < 100 ms | 140 ms | **missed** by 40 ms (1.40×) |",
		"| API under load, SQLite: errors | 0 | 0 | met |",
		"| 10,000 | 90 days | SQLite | 0 | 8.30 s | 4.00 s | 2.05 | 104 MB |",
		"| 9.50 / 2.50 / 0.00 s | 3.00 / 1.80 s |",
		"The sync took 12.0 s of CPU (its process 9.50, the simulator 2.50, the database server 0.00) where the floor took 4.80: " +
			"on 2 cores it cannot take less than 6.00 s, a ratio of 1.50, and it kept 1.45 cores busy on average.",
		"| BenchmarkDrain/sqlite | 300 µs | 3,298 |",
		"Not measured in this run (see each section for why): [Parallel activity backfill vs sequential paging](#parallel-activity-backfill-vs-sequential-paging).",
		"**Not measured:** no benchmark matching `^BenchmarkBackfill`",
		"SEATWISE_BENCH=10000 go test ./internal/ingest",
		"| CPU | Test CPU |",
		"on 2026-11-27 21:00 UTC, which took 42m0s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Quick run") {
		t.Error("a full run is marked quick")
	}
	pending["backfill"] = true
	defer delete(pending, "backfill")
	if rep.Failed() {
		t.Error("a pending section not measured fails the report")
	}
	rep.Sections[len(rep.Sections)-1].Failures = []string{"`go test ./internal/job` reported its figures, then failed"}
	if md := rep.Markdown(); !rep.Failed() || !strings.Contains(md, "**Failed:** `go test ./internal/job` reported") || strings.Contains(md, "[Job queue") {
		t.Errorf("a benchmark failing after its figures: Failed() %v, report:\n%s", rep.Failed(), md)
	}
	rep.Sections[len(rep.Sections)-1].Failures = nil
	rep.Sections[len(rep.Sections)-1].Missing = []string{"`go test ./internal/job` failed"}
	if !rep.Failed() {
		t.Error("a report with a section not measured does not count as failed")
	}
}

// TestQuick runs the whole report in -quick mode, every benchmark at small
// sizes (fixed-size ones listed), so that neither the tool nor a benchmark
// it runs can break unnoticed: each section must have figures, except the
// pending ones. It builds and runs a dozen test binaries (about a minute
// on two cores), hence not with -short.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark at small sizes (about a minute)")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	rep, err := Run(t.Context(), Options{Quick: true, Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sections) != len(sections()) {
		t.Fatalf("%d sections, want %d", len(rep.Sections), len(sections()))
	}
	for _, s := range rep.Sections {
		if pending[s.ID] {
			continue
		}
		if len(s.Missing) > 0 {
			t.Errorf("section %s: %s", s.ID, strings.Join(s.Missing, "; "))
		}
		listed := true
		for _, e := range s.Entries {
			listed = listed && e.QuickList
		}
		if !listed && len(s.Results) == 0 {
			t.Errorf("section %s: no figures", s.ID)
		}
	}
	md := rep.Markdown()
	if !strings.Contains(md, "Quick run") || !regexp.MustCompile(`\| daily refresh, 200 users, SQLite: requests of a full sync \| < 3% \| [0-9.]+% \|`).MatchString(md) {
		t.Errorf("quick report:\n%s", md)
	}
}
