package recon

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// benchSKUs are the software models the benchmark spreads subscriptions
// over.
var benchSKUs = []string{skuSalesPro, skuTeam, skuAppsPerUsr,
	"245e6bf9-411e-481e-8611-5c08595e2988", // D365_SALES_PRO_ATTACH
	"8e7a3d30-d97d-43ab-837c-d7701cef83dc", // DYN365_ENTERPRISE_TEAM_MEMBERS
	"2ced8a00-3ed1-4295-ab7c-57170ff28e58", // POWERAPPS_PER_USER_BD_ONLY
}

// seedSubscriptions inserts n subscriptions of one profile directly in SQL
// (one INSERT … SELECT over a generated series), one SKU per row in turn,
// every tenth one closed, 50 departments and 20 countries.
func seedSubscriptions(tb testing.TB, st store.Store, p *sam.Profile, n int) {
	tb.Helper()
	ctx := tb.Context()
	var models []sam.SoftwareModel
	for _, s := range benchSKUs {
		m, ok := catalog.Default().Model(s)
		if !ok {
			tb.Fatalf("SKU %s not in the catalog", s)
		}
		models = append(models, m)
	}
	if err := st.UpsertSoftwareModels(ctx, models); err != nil {
		tb.Fatal(err)
	}
	h, ok := st.(interface{ DB() *sql.DB })
	if !ok {
		tb.Fatalf("%T does not expose its database", st)
	}
	skuCase := "CASE s.n % " + strconv.Itoa(len(benchSKUs))
	for i, s := range benchSKUs {
		skuCase += fmt.Sprintf(" WHEN %d THEN '%s'", i, s)
	}
	skuCase += " END"
	var q string
	switch st.Dialect() {
	case "sqlite":
		ts := "'2026-06-01T00:00:00.000000Z'"
		q = `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ` + strconv.Itoa(n) + `)
			INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, department, country, first_seen, last_seen, closed_at, usage_class)
			SELECT ` + strconv.FormatInt(p.ID, 10) + `, printf('00000000-0000-4000-8000-%012x', s.n), ` + skuCase + `,
				'u' || s.n || '@contoso.com', 'Dept ' || (s.n % 50), 'C' || (s.n % 20), ` + ts + `, ` + ts + `,
				CASE WHEN s.n % 10 = 0 THEN ` + ts + ` END, 'active' FROM s`
	default:
		ts := "'2026-06-01T00:00:00Z'::timestamptz"
		q = `INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, department, country, first_seen, last_seen, closed_at, usage_class)
			SELECT ` + strconv.FormatInt(p.ID, 10) + `, '00000000-0000-4000-8000-' || lpad(to_hex(s.n), 12, '0'), ` + skuCase + `,
				'u' || s.n || '@contoso.com', 'Dept ' || (s.n % 50), 'C' || (s.n % 20), ` + ts + `, ` + ts + `,
				CASE WHEN s.n % 10 = 0 THEN ` + ts + ` END, 'active' FROM generate_series(1, ` + strconv.Itoa(n) + `) AS s(n)`
	}
	start := time.Now()
	if _, err := h.DB().ExecContext(ctx, q); err != nil {
		tb.Fatal(err)
	}
	if st.Dialect() == "postgres" {
		if _, err := h.DB().ExecContext(ctx, "ANALYZE subscriptions"); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("%s: seeded %d subscriptions in %v", st.Dialect(), n, time.Since(start).Round(time.Millisecond))
	var ents []*sam.Entitlement
	for i, s := range benchSKUs {
		ents = append(ents, &sam.Entitlement{ProfileID: p.ID, SKUID: s, Quantity: int64(n / len(benchSKUs) * (8 + i%3) / 10),
			UnitCost: int64(1000 * (i + 1)), Currency: "USD", TermStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			TermEnd: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), Commitment: sam.CommitmentAnnual, CostCenter: "CC" + strconv.Itoa(i%2)})
	}
	if err := st.CreateEntitlements(ctx, ents); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkReconcile reconciles a profile of 100,000 and 1,000,000
// subscriptions on SQLite and PostgreSQL: the counts are aggregated by the
// database, so allocations per reconciliation do not grow with the number
// of subscriptions. SEATWISE_BENCH_SUBSCRIPTIONS overrides the sizes with
// one.
func BenchmarkReconcile(b *testing.B) {
	sizes := []int{100_000, 1_000_000}
	if s := os.Getenv("SEATWISE_BENCH_SUBSCRIPTIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SEATWISE_BENCH_SUBSCRIPTIONS=%q: want a positive number", s)
		}
		sizes = []int{n}
	}
	opens := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite://" + b.TempDir() + "/bench.db" }},
		{"postgres", func(b *testing.B) string { return pgtest.URL(b) }},
	}
	asOf := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	for _, o := range opens {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/subscriptions=%d", o.name, n), func(b *testing.B) {
				st := openStoreURL(b, o.url(b))
				p := newProfile(b, st, "bench")
				seedSubscriptions(b, st, p, n)
				b.ReportAllocs()
				var res *Result
				var err error
				for b.Loop() {
					_, res, err = Reconcile(b.Context(), st, p, Options{AsOf: asOf})
					if err != nil {
						b.Fatal(err)
					}
				}
				var used int64
				for _, x := range res.Positions {
					used += x.Used
				}
				if want := int64(n - n/10); used != want {
					b.Fatalf("rights used %d, want %d open subscriptions", used, want)
				}
				b.ReportMetric(float64(n), "subscriptions")
			})
		}
	}
}

// BenchmarkBreakdown splits the position of 1,000,000 subscriptions (on
// SQLite) by department (50) and by country (20), counted in SQL.
func BenchmarkBreakdown(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SEATWISE_BENCH_SUBSCRIPTIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	st := openStore(b)
	p := newProfile(b, st, "bench")
	seedSubscriptions(b, st, p, n)
	asOf := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	res, err := Compute(b.Context(), st, p, Options{AsOf: asOf})
	if err != nil {
		b.Fatal(err)
	}
	for _, dim := range []Dimension{ByDepartment, ByCountry} {
		b.Run(string(dim), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := Breakdown(b.Context(), st, p, res.Positions, dim, asOf)
				if err != nil {
					b.Fatal(err)
				}
				var used int64
				for _, r := range rows {
					used += r.Used
				}
				if want := int64(n - n/10); used != want {
					b.Fatalf("groups sum to %d used, want %d", used, want)
				}
			}
		})
	}
}
