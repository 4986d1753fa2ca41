package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// BenchmarkDailyRefresh measures the daily refresh against a full sync: a
// generated tenant of SEATWISE_BENCH_USERS users (default 10,000; two
// Dataverse environments, 120 days of history) is synced in full
// (subscriptions and activity), then its clock moves one day during which
// 0.5% of its users change (leavers disabled, hires licensed, department
// changes), and the next day's sync runs as the daily job runs it: a Graph
// delta round for subscriptions and the audits since the last run for
// activity. Both run in this process against the in-process simulator, on
// every database of SEATWISE_BENCH_DB ("sqlite,postgres" by default;
// PostgreSQL from pgtest, skipped when none can be started).
//
//	SEATWISE_BENCH_USERS=10000 go test ./internal/tools/benchreport -run '^$' -bench DailyRefresh -benchtime 1x
//
// Metrics: full-requests and refresh-requests (Graph and Dataverse
// requests, token requests excluded), refresh-% (refresh / full × 100,
// target < 3), changed-users (users the delta round returned), refresh-s
// (wall time of the refresh), and the refresh's requests as the simulator
// counted them: refresh-graph-requests, refresh-systemusers-requests,
// refresh-audits-requests and refresh-settings-requests (other Dataverse
// requests: organisation audit settings).
func BenchmarkDailyRefresh(b *testing.B) {
	users := 10000
	if s := os.Getenv("SEATWISE_BENCH_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("SEATWISE_BENCH_USERS=%q: want a number of users, at least 10", s)
		}
		users = n
	}
	dbs := os.Getenv("SEATWISE_BENCH_DB")
	if dbs == "" {
		dbs = "sqlite,postgres"
	}
	for _, kind := range strings.Split(dbs, ",") {
		kind = strings.TrimSpace(kind)
		b.Run(fmt.Sprintf("users=%d/db=%s", users, kind), func(b *testing.B) {
			var full, refresh, changed int64
			var wall time.Duration
			routes := map[string]int64{}
			for range b.N {
				url := ""
				switch kind {
				case "sqlite":
					url = "sqlite://" + filepath.Join(b.TempDir(), "refresh.db")
				case "postgres":
					url = pgtest.URL(b)
				default:
					b.Fatalf("SEATWISE_BENCH_DB: %q: want sqlite or postgres", kind)
				}
				f, r, c, d, byRoute := dailyRefresh(b, url, users)
				full, refresh, changed, wall = full+f, refresh+r, changed+c, wall+d
				for k, v := range byRoute {
					routes[k] += v
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(full)/n, "full-requests")
			b.ReportMetric(float64(refresh)/n, "refresh-requests")
			b.ReportMetric(100*float64(refresh)/float64(full), "refresh-%")
			b.ReportMetric(float64(changed)/n, "changed-users")
			b.ReportMetric(wall.Seconds()/n, "refresh-s")
			// Where the refresh's requests go, as the simulator counted them.
			var graph, sysusers, audits, other int64
			for route, v := range routes {
				switch {
				case strings.HasPrefix(route, "graph "):
					graph += v
				case strings.Contains(route, "/systemusers"):
					sysusers += v
				case strings.Contains(route, "/audits"):
					audits += v
				case strings.HasPrefix(route, "dataverse "):
					other += v
				}
			}
			b.ReportMetric(float64(graph)/n, "refresh-graph-requests")
			b.ReportMetric(float64(sysusers)/n, "refresh-systemusers-requests")
			b.ReportMetric(float64(audits)/n, "refresh-audits-requests")
			b.ReportMetric(float64(other)/n, "refresh-settings-requests")
		})
	}
}

// dailyRefresh runs a full sync, one simulated day of changes and the
// refresh; it returns the requests of both, the users the delta round
// returned, the refresh's wall time and its requests per route as the
// simulator counted them (token requests included).
func dailyRefresh(b *testing.B, url string, users int) (full, refresh, changed int64, wall time.Duration, routes map[string]int64) {
	b.StopTimer()
	ctx := b.Context()
	ten, err := tenant.Generate(tenant.Options{Seed: 5, Users: users, Environments: 2})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 5, Tenants: []mscloud.TenantConfig{{Tenant: ten}}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	st, err := db.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	info := srv.Info()
	p := &sam.Profile{Name: "refresh", TenantID: info.TenantID, ClientID: info.ClientID, AuthMode: sam.AuthClientSecret,
		LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile, State: sam.ProfileDraft}
	for _, e := range info.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(ctx, p); err != nil {
		b.Fatal(err)
	}
	sync := func(fullSync bool) (int64, *ingest.SubscriptionResult) {
		src, err := ingest.NewSources(p, info.ClientSecret, ingest.ClientOptions{HTTPClient: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		sy := &ingest.Syncer{Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
			Dataverse: src.Dataverse, Counters: src, Now: ten.Now}
		subs, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{Full: fullSync})
		if err != nil {
			b.Fatal(err)
		}
		if subs.Run.Full != fullSync {
			b.Fatalf("subscriptions run full=%v, want %v", subs.Run.Full, fullSync)
		}
		if p, err = st.Profile(ctx, p.ID); err != nil {
			b.Fatal(err)
		}
		act, err := sy.Activity(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		return subs.Run.Requests + act.Run.Requests, subs
	}
	full, _ = sync(true)

	ten.Advance(24 * time.Hour)
	changeUsers(b, ten, max(3, users/200))
	srv.ResetCounters()
	b.StartTimer()
	start := time.Now()
	refresh, res := sync(false)
	wall = time.Since(start)
	b.StopTimer()
	return full, refresh, res.Run.Counts["users"], wall, srv.Counters().Requests
}

// changeUsers makes n changes spread over the tenant's users, in turn: a
// licensed user leaves (account disabled), a hire gets the catalog-known
// licence with the most free seats, a user changes department.
func changeUsers(b *testing.B, t *tenant.Tenant, n int) {
	step := max(1, t.UserCount()/n)
	cursor := ""
	for i := range n {
		page, next, err := t.UsersPage(cursor, step, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		u := page[0]
		switch i % 3 {
		case 0:
			err = t.DisableUser(u.ID)
		case 1:
			var nu tenant.User
			if nu, err = t.AddUser(tenant.NewUser{DisplayName: fmt.Sprintf("Hire %d", i), AccountEnabled: true,
				UsageLocation: t.CountryLetterCode(), Environments: []int{0}}); err == nil {
				err = assignFree(t, nu.ID)
			}
		default:
			dept := "Moved " + strconv.Itoa(i)
			_, err = t.UpdateUser(u.ID, tenant.UserAttributes{Department: &dept})
		}
		if err != nil {
			b.Fatalf("change %d: %v", i, err)
		}
		if next == "" {
			break
		}
		cursor = next
	}
}

// assignFree gives user the catalog-known SKU with the most free seats.
func assignFree(t *tenant.Tenant, user string) error {
	var best tenant.SKU
	for _, s := range t.SKUs() {
		if _, ok := catalog.Default().Model(s.SKUID); ok && s.Available() > best.Available() {
			best = s
		}
	}
	if best.SKUID == "" {
		return nil
	}
	_, err := t.AssignLicense(user, []tenant.AssignedLicense{{SKUID: best.SKUID, DisabledPlans: []string{}}}, nil)
	return err
}
