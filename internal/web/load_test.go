package web_test

// The load benchmark: `seatwise serve`'s handler over N subscriptions, loaded
// from a SECOND process (this test binary re-executed as a load generator)
// over loopback. For BENCHMARKS.md:
//
//	SEATWISE_LOAD_SUBSCRIPTIONS=1000000 go test ./internal/web -run '^$' -bench ServeLoad -benchtime 1x -timeout 60m
//
// The load comes from wrk when it is installed (apt-get install -y wrk),
// else from this test binary re-executed as a Go load generator
// (SEATWISE_LOAD_TOOL=go forces the latter). Both send the same mix: 70 %
// subscription listings (twelve filter and sort orders, five pages each by
// cursor) and 30 % dashboard answers (HTML page, JSON dashboard, usage
// report), each with a viewer's API token.
//
// Environment: SEATWISE_LOAD_SUBSCRIPTIONS (default 100000),
// SEATWISE_LOAD_CLIENTS (concurrent keep-alive clients, default 200),
// SEATWISE_LOAD_SECONDS (measured seconds per database, default 20, after a
// 3-second warm-up). PostgreSQL runs on pgtest's throwaway cluster (or
// SEATWISE_TEST_POSTGRES_URL) and is skipped when none can be started.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/web"
)

// envLoadGen makes the test binary a load generator (see runLoadGen).
const envLoadGen = "SEATWISE_LOADGEN"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envLoadGen); cfg != "" {
		os.Exit(runLoadGen(cfg))
	}
	pgtest.Main(m)
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// BenchmarkServeLoad measures the list and dashboard answers over
// SEATWISE_LOAD_SUBSCRIPTIONS subscriptions on SQLite and PostgreSQL, with
// SEATWISE_LOAD_CLIENTS concurrent clients in a separate process, and
// reports p50-ms, p99-ms, max-ms, errors and rps per database. See the top
// of this file for the invocation.
func BenchmarkServeLoad(b *testing.B) {
	n := envInt(b, "SEATWISE_LOAD_SUBSCRIPTIONS", 100_000)
	clients := envInt(b, "SEATWISE_LOAD_CLIENTS", 200)
	secs := envInt(b, "SEATWISE_LOAD_SECONDS", 20)
	for _, dbName := range []string{"sqlite", "postgres"} {
		b.Run(dbName, func(b *testing.B) {
			var u string
			if dbName == "sqlite" {
				u = "sqlite://" + filepath.Join(b.TempDir(), "load.db")
			} else {
				u = pgtest.URL(b)
			}
			st, err := db.Open(b.Context(), u)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			seedLoad(b, st, n)
			svc := auth.NewService(st)
			srv, err := web.New(web.Config{Store: st, Auth: svc})
			if err != nil {
				b.Fatal(err)
			}
			tok, _, err := svc.CreateToken(b.Context(), "load", auth.RoleViewer, 24*time.Hour, 0)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewUnstartedServer(srv)
			ts.Config.ReadHeaderTimeout = 10 * time.Second
			ts.Start()
			defer ts.Close()
			// The server computes its dashboard once after each run
			// (Warm); the load starts after that, as it would in service.
			primed := time.Now()
			if err := srv.Warm(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.Logf("dashboard over %d subscriptions computed in %v", n, time.Since(primed).Round(time.Millisecond))
			for b.Loop() {
				cfg := loadConfig{Base: ts.URL, Token: tok, Clients: clients, Seconds: secs, Warmup: 3}
				var res loadResult
				if wrk, err := exec.LookPath("wrk"); err == nil && os.Getenv("SEATWISE_LOAD_TOOL") != "go" {
					res = loadFromWrk(b, wrk, cfg)
				} else {
					res = loadFromProcess(b, cfg)
				}
				b.ReportMetric(res.P50, "p50-ms")
				b.ReportMetric(res.P99, "p99-ms")
				b.ReportMetric(res.Max, "max-ms")
				b.ReportMetric(float64(res.Errors), "errors")
				b.ReportMetric(res.RPS, "rps")
				b.Logf("%s, %d subscriptions, %d clients: %d requests in %ds, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms, %d errors",
					dbName, n, clients, res.Requests, secs, res.P50, res.P90, res.P99, res.Max, res.Errors)
				for _, k := range slices.Sorted(maps.Keys(res.KindP99)) {
					b.Logf("  p99 %8.1f ms  %s", res.KindP99[k], k)
				}
				for _, e := range res.FirstErrors {
					b.Logf("  error: %s", e)
				}
			}
		})
	}
}

// seedLoad inserts n open subscriptions of one profile "big" in one SQL
// statement: two SKUs, 50 departments, every usage class, last activity
// spread over 200 days (one in nine never active).
func seedLoad(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := b.Context()
	p := seedBigProfile(b, st)
	classes := usageClassCase()
	pid := strconv.FormatInt(p.ID, 10)
	var q string
	if st.Dialect() == "sqlite" {
		ts := "'2026-06-01T00:00:00.000000Z'"
		q = `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ` + strconv.Itoa(n) + `)
		INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, display_name, department, country, first_seen, last_seen, last_activity, usage_class)
		SELECT ` + pid + `, printf('00000000-0000-4000-8000-%012x', s.n),
			CASE s.n % 2 WHEN 0 THEN '` + benchSKUs[0] + `' ELSE '` + benchSKUs[1] + `' END,
			printf('u%07d@contoso.com', s.n), 'User ' || s.n, 'Dept ' || (s.n % 50), 'C' || (s.n % 20), ` + ts + `, ` + ts + `,
			CASE WHEN s.n % 9 = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-06-01', '-' || (s.n % 200) || ' days') END,
			` + classes + ` FROM s`
	} else {
		ts := "timestamptz '2026-06-01 00:00:00+00'"
		q = `INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, display_name, department, country, first_seen, last_seen, last_activity, usage_class)
		SELECT ` + pid + `, '00000000-0000-4000-8000-' || lpad(to_hex(s.n), 12, '0'),
			CASE s.n % 2 WHEN 0 THEN '` + benchSKUs[0] + `' ELSE '` + benchSKUs[1] + `' END,
			'u' || lpad(s.n::text, 7, '0') || '@contoso.com', 'User ' || s.n, 'Dept ' || (s.n % 50), 'C' || (s.n % 20), ` + ts + `, ` + ts + `,
			CASE WHEN s.n % 9 = 0 THEN NULL ELSE ` + ts + ` - (s.n % 200) * interval '1 day' END,
			` + classes + ` FROM generate_series(1, ` + strconv.Itoa(n) + `) AS s(n)`
	}
	start := time.Now()
	sqlDB := st.(interface{ DB() *sql.DB }).DB()
	if _, err := sqlDB.ExecContext(ctx, q); err != nil {
		b.Fatal(err)
	}
	// Statistics for the planner, and (SQLite) the bulk insert's write-ahead
	// log folded into the database file, as after a first sync has settled.
	if st.Dialect() == "postgres" {
		if _, err := sqlDB.ExecContext(ctx, "ANALYZE subscriptions"); err != nil {
			b.Fatal(err)
		}
	} else {
		for _, q := range []string{"ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if _, err := sqlDB.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("seeded %d subscriptions on %s in %v", n, st.Dialect(), time.Since(start).Round(time.Millisecond))
}

// loadConfig is what the load generator process is told.
type loadConfig struct {
	Base    string
	Token   string
	Clients int
	Seconds int
	Warmup  int
}

// loadResult is what it answers (milliseconds).
type loadResult struct {
	Requests    int
	Errors      int
	FirstErrors []string
	P50, P90    float64
	P99, Max    float64
	RPS         float64
	KindP99     map[string]float64
}

// loadFromProcess runs the load generator as a child process (this test
// binary with envLoadGen set) and returns its figures.
func loadFromProcess(b *testing.B, c loadConfig) loadResult {
	b.Helper()
	cfg, _ := json.Marshal(c)
	cmd := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envLoadGen+"="+string(cfg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v\n%s", err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "LOADGEN "); ok {
			var r loadResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				b.Fatal(err)
			}
			return r
		}
	}
	b.Fatalf("load generator printed no result:\n%s\n%s", out, stderr.Bytes())
	return loadResult{}
}

// loadRequest picks one request of the mix: 70 % subscription listings
// (walking up to five pages by cursor, under varied filters and sort
// orders), 30 % dashboard answers (HTML page, JSON dashboard, usage report).
type loadWalker struct {
	rng    *rand.Rand
	next   string // cursor of the listing being walked
	base   url.Values
	pages  int
	counts map[string]int
}

var loadListings = []string{
	"limit=100",
	"limit=100&sort=id&order=desc",
	"limit=100&sort=upn",
	"limit=100&sort=upn&order=desc",
	"limit=100&profile=big",
	"limit=100&profile=big&class=inactive_90",
	"limit=100&profile=big&class=never_active",
	"limit=100&profile=big&sort=upn",
	"limit=100&sku=DYN365_ENTERPRISE_SALES",
	"limit=100&sort=last_activity",
	"limit=100&sort=display_name&order=desc",
	"limit=100&class=active&sort=department",
}

func (w *loadWalker) pick() (kind, path string) {
	if w.next == "" && w.rng.IntN(10) < 3 {
		switch w.rng.IntN(3) {
		case 0:
			return "dashboard-html", "/"
		case 1:
			return "dashboard-json", "/api/v1/dashboard"
		default:
			return "usage-report", "/api/v1/reports/usage"
		}
	}
	if w.next == "" {
		w.base, _ = url.ParseQuery(loadListings[w.rng.IntN(len(loadListings))])
		w.pages = 0
	}
	q := cloneQuery(w.base)
	if w.next != "" {
		q.Set("cursor", w.next)
	}
	return "list " + w.base.Encode(), "/api/v1/subscriptions?" + q.Encode()
}

func cloneQuery(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// runLoadGen is the load generator process: cfg is a JSON loadConfig. It
// prints "LOADGEN {json loadResult}" and returns the exit code.
func runLoadGen(cfg string) int {
	var c loadConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	tr := &http.Transport{MaxIdleConns: c.Clients, MaxIdleConnsPerHost: c.Clients, MaxConnsPerHost: c.Clients, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	start := time.Now()
	measureFrom := start.Add(time.Duration(c.Warmup) * time.Second)
	end := measureFrom.Add(time.Duration(c.Seconds) * time.Second)
	type sample struct {
		kind string
		d    time.Duration
	}
	var mu sync.Mutex
	var all []sample
	var errs []string
	nerr := 0
	var wg sync.WaitGroup
	for i := range c.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &loadWalker{rng: rand.New(rand.NewPCG(uint64(i), 42))}
			var mine []sample
			myErr := 0
			var myErrs []string
			for time.Now().Before(end) {
				kind, path := w.pick()
				req, _ := http.NewRequest("GET", c.Base+path, nil)
				req.Header.Set("Authorization", "Bearer "+c.Token)
				req.Header.Set("Accept", "application/json")
				t0 := time.Now()
				res, err := hc.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d: %.160q", path, res.StatusCode, body)
					}
				}
				d := time.Since(t0)
				if strings.HasPrefix(kind, "list") {
					w.next = ""
					if cur := nextCursor(body); err == nil && cur != "" && w.pages < 4 {
						w.next = cur
						w.pages++
					}
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					myErr++
					if len(myErrs) < 3 {
						myErrs = append(myErrs, err.Error())
					}
					continue
				}
				mine = append(mine, sample{kind, d})
			}
			mu.Lock()
			all = append(all, mine...)
			nerr += myErr
			if len(errs) < 5 {
				errs = append(errs, myErrs...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom).Seconds()
	r := loadResult{Requests: len(all), Errors: nerr, FirstErrors: errs, KindP99: map[string]float64{}}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(ds []time.Duration, p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		return ms(ds[int(float64(len(ds)-1)*p)])
	}
	var ds []time.Duration
	byKind := map[string][]time.Duration{}
	for _, s := range all {
		ds = append(ds, s.d)
		byKind[s.kind] = append(byKind[s.kind], s.d)
	}
	slices.Sort(ds)
	r.P50, r.P90, r.P99, r.Max = pct(ds, 0.5), pct(ds, 0.9), pct(ds, 0.99), pct(ds, 1)
	for k, v := range byKind {
		slices.Sort(v)
		r.KindP99[k] = pct(v, 0.99)
	}
	r.RPS = float64(len(all)) / elapsed
	out, _ := json.Marshal(r)
	fmt.Printf("LOADGEN %s\n", out)
	return 0
}

// nextCursor finds the next_cursor of a listing page without decoding the
// page (the load generator must not be the bottleneck).
func nextCursor(body []byte) string {
	const key = `"next_cursor": "`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// loadPaths walks the load mix once through the server (following
// next_cursor up to five pages per listing) and returns the request paths,
// 70 % listings and 30 % dashboard answers.
func loadPaths(b *testing.B, c loadConfig) []string {
	b.Helper()
	var paths []string
	for _, l := range loadListings {
		base, _ := url.ParseQuery(l)
		cur := ""
		for page := 0; page < 5; page++ {
			q := cloneQuery(base)
			if cur != "" {
				q.Set("cursor", cur)
			}
			p := "/api/v1/subscriptions?" + q.Encode()
			req, _ := http.NewRequest("GET", c.Base+p, nil)
			req.Header.Set("Authorization", "Bearer "+c.Token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("%s: %d %.200s", p, res.StatusCode, body)
			}
			paths = append(paths, p)
			if cur = nextCursor(body); cur == "" {
				break
			}
		}
	}
	n := len(paths) * 3 / 7
	for i := range n {
		paths = append(paths, []string{"/", "/api/v1/dashboard", "/api/v1/reports/usage"}[i%3])
	}
	rand.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths
}

// loadFromWrk loads the server with wrk (2 threads, c.Clients connections)
// cycling through loadPaths, and reads its latency distribution.
func loadFromWrk(b *testing.B, wrk string, c loadConfig) loadResult {
	b.Helper()
	paths := loadPaths(b, c)
	var lua strings.Builder
	lua.WriteString("local paths = {\n")
	for _, p := range paths {
		fmt.Fprintf(&lua, "  %q,\n", p)
	}
	fmt.Fprintf(&lua, "}\nlocal i = math.random(#paths)\nlocal hdr = {[\"Authorization\"] = \"Bearer %s\", [\"Accept\"] = \"application/json\"}\n", c.Token)
	lua.WriteString("request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i], hdr)\nend\n")
	script := filepath.Join(b.TempDir(), "mix.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	// A warm-up run, then the measured one.
	args := func(secs int) []string {
		return []string{"-t2", "-c" + strconv.Itoa(c.Clients), "-d" + strconv.Itoa(secs) + "s", "--timeout", "30s", "--latency", "-s", script, c.Base}
	}
	if out, err := exec.CommandContext(b.Context(), wrk, args(c.Warmup)...).CombinedOutput(); err != nil {
		b.Fatalf("wrk warm-up: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(b.Context(), wrk, args(c.Seconds)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	b.Logf("wrk %s\n%s", strings.Join(args(c.Seconds), " "), out)
	return parseWrk(b, string(out))
}

// parseWrk reads wrk's --latency report.
func parseWrk(b *testing.B, out string) loadResult {
	b.Helper()
	r := loadResult{KindP99: map[string]float64{}}
	dur := func(v string) float64 {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			b.Fatalf("wrk duration %q: %v", v, err)
		}
		return float64(d.Microseconds()) / 1000
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.P50 = dur(f[1])
		case len(f) == 2 && f[0] == "90%":
			r.P90 = dur(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.P99 = dur(f[1])
		case len(f) >= 4 && f[0] == "Latency" && !strings.HasPrefix(f[1], "Distribution"):
			r.Max = dur(f[3])
		case len(f) >= 2 && f[0] == "Requests/sec:":
			r.RPS, _ = strconv.ParseFloat(f[1], 64)
		case strings.Contains(line, "requests in"):
			r.Requests, _ = strconv.Atoi(f[0])
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			n, _ := strconv.Atoi(f[len(f)-1])
			r.Errors += n
			r.FirstErrors = append(r.FirstErrors, strings.TrimSpace(line))
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.Errors += n
			}
			r.FirstErrors = append(r.FirstErrors, strings.TrimSpace(line))
		}
	}
	if r.P99 == 0 || r.RPS == 0 {
		b.Fatalf("wrk report not understood:\n%s", out)
	}
	return r
}
