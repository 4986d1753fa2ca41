package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// TestTenTenantsWithinGlobalBudget syncs ten tenants at once, as ten
// profiles of one database sharing one global concurrency budget of 8
// requests. Nine are served normally; the tenth, on a simulator of its
// own, answers its first eight Dataverse requests with 429 and
// Retry-After 1 (then normally).
// Every sync must succeed, the budget must never be exceeded, and the
// throttled tenant must not hold up the others: each of the nine finishes
// before the throttled one and in less time than the throttled tenant
// spent waiting out its own Retry-After answers.
func TestTenTenantsWithinGlobalBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var healthy []mscloud.TenantConfig
	for i := range 9 {
		healthy = append(healthy, mscloud.TenantConfig{Options: tenant.Options{Seed: int64(100 + i), Users: 80, Environments: 1}})
	}
	fast := mscloud.FaultRates{Latency: mscloud.Duration(10 * time.Millisecond)}
	okSim, err := mscloud.Start(ctx, mscloud.Config{Seed: 100, Tenants: healthy, Limits: mscloud.MicrosoftLimits(),
		Faults: mscloud.Faults{Dataverse: fast, Graph: fast}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { okSim.Close() })
	slow := fast
	slow.Next = []string{"throttle", "throttle", "throttle", "throttle", "throttle", "throttle", "throttle", "throttle"}
	slow.RetryAfter = 1
	badSim, err := mscloud.Start(ctx, mscloud.Config{Seed: 200, Limits: mscloud.MicrosoftLimits(),
		Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 200, Users: 80, Environments: 1}}},
		Faults:  mscloud.Faults{Dataverse: slow, Graph: fast}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { badSim.Close() })

	st := openStore(t, filepath.Join(t.TempDir(), "seatwise.db"))
	budgets := odata.NewBudgets(odata.BudgetConfig{Global: 8})
	type job struct {
		name     string
		sy       *ingest.Syncer
		p        *sam.Profile
		throttle bool
		src      *ingest.Sources
	}
	var jobs []*job
	addProfiles := func(srv *mscloud.Server, throttled bool) {
		info := srv.Info()
		for i, ti := range info.Tenants {
			p := &sam.Profile{Name: fmt.Sprintf("t%d-%v-%d", len(jobs), throttled, i), DisplayName: "tenant", TenantID: ti.TenantID,
				ClientID: ti.ClientID, AuthMode: sam.AuthClientSecret, LoginURL: info.LoginURL, GraphURL: info.GraphURL,
				CAFile: info.CAFile, State: sam.ProfileDraft}
			for _, e := range ti.Environments {
				p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
			}
			if err := st.CreateProfile(ctx, p); err != nil {
				t.Fatal(err)
			}
			src, err := ingest.NewSources(p, ti.ClientSecret, ingest.ClientOptions{HTTPClient: srv.Client(), Budgets: budgets,
				AuditPageSize: 200, MaxAttempts: 30, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ten := srv.Tenants()[i]
			jobs = append(jobs, &job{name: p.Name, p: p, throttle: throttled, src: src, sy: &ingest.Syncer{Store: st,
				Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph, Dataverse: src.Dataverse, Counters: src, Now: ten.Now}})
		}
	}
	addProfiles(okSim, false)
	addProfiles(badSim, true)
	if len(jobs) != 10 {
		t.Fatalf("%d tenants", len(jobs))
	}

	start := time.Now()
	took := make([]time.Duration, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := j.sy.Subscriptions(ctx, j.p, ingest.SubscriptionOptions{}); err != nil {
				errs[i] = fmt.Errorf("subscriptions: %w", err)
				return
			}
			p, err := st.Profile(ctx, j.p.ID)
			if err != nil {
				errs[i] = err
				return
			}
			if _, err := j.sy.Activity(ctx, p); err != nil {
				errs[i] = fmt.Errorf("activity: %w", err)
				return
			}
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", jobs[i].name, err)
		}
	}
	if p := budgets.Peak(); p > 8 || p < 2 {
		t.Errorf("%d requests in flight at once over all tenants, want 2 to 8", p)
	}
	bad := jobs[9]
	var paused time.Duration
	var throttled int64
	for _, e := range bad.p.Environments {
		s := budgets.Controller("app:"+bad.p.TenantID+"/"+bad.p.ClientID, e.URL).State()
		paused += s.Stats.Paused
		throttled += s.Stats.Throttled
	}
	var slowest time.Duration
	for i, j := range jobs[:9] {
		slowest = max(slowest, took[i])
		if r, _, _ := j.src.Counts(); r == 0 {
			t.Errorf("%s sent no requests", j.name)
		}
	}
	t.Logf("nine tenants done within %v; the throttled one after %v (%d throttled answers, %v waiting out Retry-After); peak %d in flight of 8",
		slowest.Round(time.Millisecond), took[9].Round(time.Millisecond), throttled, paused.Round(time.Millisecond), budgets.Peak())
	if throttled < 8 || paused < 6*time.Second {
		t.Fatalf("the throttled tenant got %d 429s and waited %v: the test did not throttle it", throttled, paused)
	}
	if slowest >= took[9] {
		t.Errorf("a healthy tenant took %v, not less than the throttled one (%v)", slowest, took[9])
	}
	if slowest >= paused {
		t.Errorf("a healthy tenant took %v, as long as the throttled tenant's own back-off (%v)", slowest, paused)
	}
}
