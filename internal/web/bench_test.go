package web_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
	"github.com/seatwise/seatwise/internal/web"
)

var benchSKUs = []string{
	"1e1a282c-9c54-43a2-9310-98ef728faace", // DYN365_ENTERPRISE_SALES
	"b30411f5-fea1-4a59-9ad9-3db7c7ead579", // POWERAPPS_PER_USER
}

// seedBigProfile creates the draft profile "big" and the software models of
// benchSKUs, which the seeding statements of the benchmarks refer to.
func seedBigProfile(b *testing.B, st store.Store) *sam.Profile {
	b.Helper()
	ctx := b.Context()
	p := &sam.Profile{Name: "big", DisplayName: "big", TenantID: tenant, ClientID: client, AuthMode: sam.AuthClientSecret,
		LoginURL: sam.DefaultLoginURL, GraphURL: sam.DefaultGraphURL, State: sam.ProfileDraft}
	if err := st.CreateProfile(ctx, p); err != nil {
		b.Fatal(err)
	}
	var models []sam.SoftwareModel
	for _, s := range benchSKUs {
		m, _ := catalog.Default().Model(s)
		models = append(models, m)
	}
	if err := st.UpsertSoftwareModels(ctx, models); err != nil {
		b.Fatal(err)
	}
	return p
}

// usageClassCase is an SQL CASE giving series row s.n one of the usage
// classes in turn.
func usageClassCase() string {
	classes := "CASE s.n % 8"
	for i, c := range sam.UsageClasses {
		classes += fmt.Sprintf(" WHEN %d THEN '%s'", i, c)
	}
	return classes + " END"
}

// seedMany inserts n open subscriptions of one profile in one SQL statement
// (SQLite), with 50 departments and every usage class.
func seedMany(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := b.Context()
	p := seedBigProfile(b, st)
	classes := usageClassCase()
	ts := "'2026-06-01T00:00:00.000000Z'"
	q := `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ` + strconv.Itoa(n) + `)
		INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, display_name, department, country, first_seen, last_seen, usage_class)
		SELECT ` + strconv.FormatInt(p.ID, 10) + `, printf('00000000-0000-4000-8000-%012x', s.n),
			CASE s.n % 2 WHEN 0 THEN '` + benchSKUs[0] + `' ELSE '` + benchSKUs[1] + `' END,
			printf('u%07d@contoso.com', s.n), 'User ' || s.n, 'Dept ' || (s.n % 50), 'C' || (s.n % 20), ` + ts + `, ` + ts + `, ` + classes + ` FROM s`
	start := time.Now()
	if _, err := st.(interface{ DB() *sql.DB }).DB().ExecContext(ctx, q); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d subscriptions in %v", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkAPI measures the listing, search, report and dashboard answers
// over SEATWISE_BENCH_SUBSCRIPTIONS subscriptions (default 100,000) on
// SQLite, through the whole handler chain (authentication, access check,
// JSON or HTML) over loopback HTTP.
func BenchmarkAPI(b *testing.B) {
	n := 100_000
	if s := os.Getenv("SEATWISE_BENCH_SUBSCRIPTIONS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("SEATWISE_BENCH_SUBSCRIPTIONS=%q: want a positive number", s)
		}
		n = v
	}
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedMany(b, st, n)
	svc := auth.NewService(st)
	srv, err := web.New(web.Config{Store: st, Auth: svc})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := svc.CreateToken(b.Context(), "bench", auth.RoleViewer, time.Hour, 0)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptestServer(b, srv)
	paths := []string{
		"/api/v1/subscriptions?limit=100",
		"/api/v1/subscriptions?profile=big&sort=upn&order=desc&limit=100",
		"/api/v1/subscriptions?profile=big&class=inactive_90&limit=100",
		"/api/v1/subscriptions?q=u00123&limit=100",
		"/api/v1/reports/usage",
		"/",
	}
	b.Run("concurrent-200", func(b *testing.B) { benchConcurrent(b, ts, tok, paths[:3], 200) })
	for _, path := range paths {
		b.Run(path, func(b *testing.B) {
			req, _ := http.NewRequest("GET", ts+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			for b.Loop() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("%s: %d", path, res.StatusCode)
				}
			}
		})
	}
}

func httptestServer(b *testing.B, h http.Handler) string {
	b.Helper()
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	return ts.URL
}

// benchConcurrent sends b.N requests per client from clients concurrent
// clients, cycling through paths, and reports the latency percentiles.
func benchConcurrent(b *testing.B, base, tok string, paths []string, clients int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range b.N {
				req, _ := http.NewRequest("GET", base+paths[(c+i)%len(paths)], nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				res, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", res.StatusCode)
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
}
