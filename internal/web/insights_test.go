package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/web"
)

// activityRun commits an empty activity run for p at "at", which takes the
// day's usage snapshot.
func activityRun(t *testing.T, st store.Store, p *sam.Profile, at time.Time) {
	t.Helper()
	run := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity, StartedAt: at.Add(-time.Minute)}
	if err := st.StartRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CommitActivity(t.Context(), run, store.ActivityCommit{Now: at}); err != nil {
		t.Fatal(err)
	}
}

func TestDashboardAPI(t *testing.T) {
	b := setup(t)
	p := seed(t, b.st, "contoso", 10)
	viewer := bearer(b.token(auth.RoleViewer))
	mgr := bearer(b.token(auth.RoleSAMManager))
	now := b.clock()
	activityRun(t, b.st, p, now.AddDate(0, 0, -2))
	activityRun(t, b.st, p, now)

	var d web.DashboardJSON
	r := b.do(nil, "GET", "/api/v1/dashboard", nil, viewer)
	if r.status != 200 {
		t.Fatalf("dashboard: %d %s", r.status, r.body)
	}
	r.json(t, &d)
	if d.Profiles != 1 || d.Subscriptions != 15 {
		t.Errorf("dashboard counts %d profiles, %d subscriptions; want 1 and 15", d.Profiles, d.Subscriptions)
	}
	idle := 0
	for _, x := range d.Idle {
		idle += x.Count
	}
	if idle != 15 || len(d.Idle) != len(store.IdleBuckets) || d.Idle[len(d.Idle)-1].Bucket != "never" || d.Idle[len(d.Idle)-1].Count != 15 {
		t.Errorf("idle histogram %+v, want 15 never active", d.Idle)
	}
	if len(d.Trend) != 2 || d.Trend[1].Day != now.Format("2006-01-02") || d.Trend[1].Stale+d.Trend[1].Other+d.Trend[1].Active != 15 {
		t.Errorf("trend %+v, want two days of 15 subscriptions", d.Trend)
	}
	if d.Savings.Configured || !strings.Contains(d.Savings.Message, "reclamation not configured") {
		t.Errorf("savings %+v, want reclamation not configured", d.Savings)
	}
	if len(d.Spend) != 0 || len(d.Compliance) == 0 {
		t.Errorf("spend %+v compliance %+v: want no spend and a position without entitlements", d.Spend, d.Compliance)
	}
	if r.header.Get("X-Seatwise-Cache") != "miss" {
		t.Errorf("first dashboard answer cache header %q", r.header.Get("X-Seatwise-Cache"))
	}
	if r := b.do(nil, "GET", "/api/v1/dashboard", nil, viewer); r.header.Get("X-Seatwise-Cache") != "hit" {
		t.Errorf("second dashboard answer cache header %q, want hit", r.header.Get("X-Seatwise-Cache"))
	}

	// A change through the API is seen at once: an entitlement brings spend.
	start, end := now.AddDate(0, -1, 0).Format("2006-01-02"), now.AddDate(0, 2, 0).Format("2006-01-02")
	in := map[string]any{"profile": "contoso", "model": "DYN365_ENTERPRISE_SALES", "quantity": 12, "unit_cost": 9500,
		"currency": "eur", "term_start": start, "term_end": end, "commitment": "annual", "notes": " renewal due "}
	r = b.do(nil, "POST", "/api/v1/entitlements", in, mgr)
	if r.status != 201 {
		t.Fatalf("create entitlement: %d %s", r.status, r.body)
	}
	var e web.EntitlementJSON
	r.json(t, &e)
	if e.Quantity != 12 || e.Currency != "EUR" || e.SKUID != "1e1a282c-9c54-43a2-9310-98ef728faace" || e.Notes != "renewal due" || e.TermEnd != end {
		t.Errorf("created %+v", e)
	}
	if r.header.Get("Location") != fmt.Sprintf("/api/v1/entitlements/%d", e.ID) {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	b.do(nil, "GET", "/api/v1/dashboard", nil, viewer).json(t, &d)
	if len(d.Spend) != 1 || d.Spend[0].Currency != "EUR" || d.Spend[0].MonthlyCost != 12*9500 || d.Spend[0].OverLicensed != 2*9500 {
		t.Errorf("spend after the entitlement %+v, want 12 × 95.00 EUR with 2 unused", d.Spend)
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		hdr    map[string]string
		status int
	}{
		{"viewer may not create", "POST", "/api/v1/entitlements", in, viewer, 403},
		{"missing fields", "POST", "/api/v1/entitlements", map[string]any{"profile": "contoso"}, mgr, 400},
		{"unknown model", "POST", "/api/v1/entitlements", merge(in, "model", "NOPE_SKU"), mgr, 404},
		{"bad date", "POST", "/api/v1/entitlements", merge(in, "term_start", "May"), mgr, 400},
		{"end before start", "PATCH", fmt.Sprintf("/api/v1/entitlements/%d", e.ID), map[string]any{"term_end": "2000-01-01"}, mgr, 400},
		{"bad commitment", "PATCH", fmt.Sprintf("/api/v1/entitlements/%d", e.ID), map[string]any{"commitment": "forever"}, mgr, 400},
		{"edit absent", "PATCH", "/api/v1/entitlements/99999", map[string]any{"quantity": 3}, mgr, 404},
		{"show absent", "GET", "/api/v1/entitlements/99999", nil, viewer, 404},
		{"unknown field", "PATCH", fmt.Sprintf("/api/v1/entitlements/%d", e.ID), map[string]any{"colour": "red"}, mgr, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := b.do(nil, tc.method, tc.path, tc.body, tc.hdr); r.status != tc.status {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
		})
	}
	r = b.do(nil, "PATCH", fmt.Sprintf("/api/v1/entitlements/%d", e.ID), map[string]any{"quantity": 20}, mgr)
	if r.status != 200 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	b.do(nil, "GET", fmt.Sprintf("/api/v1/entitlements/%d", e.ID), nil, viewer).json(t, &e)
	if e.Quantity != 20 || e.UnitCost != 9500 {
		t.Errorf("after edit %+v, want quantity 20 and the cost kept", e)
	}

	// Savings and renewals.
	var sv web.SavingsJSON
	b.do(nil, "GET", "/api/v1/savings?profile=contoso", nil, viewer).json(t, &sv)
	if sv.Reclamation.Configured || len(sv.Rows) == 0 {
		t.Errorf("savings %+v", sv)
	}
	for _, row := range sv.Rows {
		if row.PartNumber == "DYN365_ENTERPRISE_SALES" && (row.Available != 10 || row.OverLicensed != 10*9500) {
			t.Errorf("sales savings row %+v, want 10 unused rights", row)
		}
	}
	var rens []web.RenewalJSON
	r = b.do(nil, "GET", "/api/v1/renewals?within=90", nil, viewer)
	r.json(t, &rens)
	if len(rens) != 1 || rens[0].Entitlement.ID != e.ID || rens[0].Action != "cut" || rens[0].Profile != "contoso" {
		t.Errorf("renewals %s, want the entitlement ending in 2 months, to cut", r.body)
	}
	b.do(nil, "GET", "/api/v1/renewals?within=30", nil, viewer).json(t, &rens)
	if len(rens) != 0 {
		t.Errorf("renewals within 30 days %+v, want none", rens)
	}
	var tr web.UsageTrendJSON
	b.do(nil, "GET", "/api/v1/trends/usage?profile=contoso&days=1", nil, viewer).json(t, &tr)
	if tr.Profile != "contoso" || len(tr.Points) != 1 {
		t.Errorf("usage trend of one day %+v", tr)
	}
	var pt web.PositionTrendJSON
	r = b.do(nil, "GET", "/api/v1/profiles/contoso/trend?model=DYN365_ENTERPRISE_SALES", nil, viewer)
	r.json(t, &pt)
	if r.status != 200 || pt.Forecast.Owned != 20 || pt.Forecast.Used != 10 {
		t.Errorf("position trend %d %s", r.status, r.body)
	}
	for _, path := range []string{"/api/v1/renewals?within=0", "/api/v1/savings?as_of=x", "/api/v1/trends/usage?days=-1",
		"/api/v1/profiles/contoso/trend"} {
		if r := b.do(nil, "GET", path, nil, viewer); r.status != 400 {
			t.Errorf("GET %s: %d, want 400", path, r.status)
		}
	}
	var roles []web.RoleJSON
	b.do(nil, "GET", "/api/v1/roles", nil, viewer).json(t, &roles)
	if len(roles) != len(auth.Roles) {
		t.Errorf("roles %+v", roles)
	}
}

func merge(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// TestDashboardSavingsConfigured shows potential and realised savings
// from a candidates source.
func TestDashboardSavingsConfigured(t *testing.T) {
	cands := func(ctx context.Context, profileID int64, sku string) ([]sam.SavingsCandidate, error) {
		if sku != "1e1a282c-9c54-43a2-9310-98ef728faace" {
			return nil, nil
		}
		closed := time.Now().AddDate(0, 0, -3)
		return []sam.SavingsCandidate{{SubscriptionID: 1}, {SubscriptionID: 2}, {SubscriptionID: 3, ClosedAt: &closed}}, nil
	}
	b := setup(t, func(c *web.Config) { c.Candidates, c.CandidatesSource = recon.CandidatesFunc(cands), "test rules" })
	seed(t, b.st, "contoso", 4)
	now := b.clock()
	mgr := bearer(b.token(auth.RoleSAMManager))
	in := map[string]any{"profile": "contoso", "model": "DYN365_ENTERPRISE_SALES", "quantity": 4, "unit_cost": 1000,
		"currency": "USD", "term_start": now.AddDate(0, -1, 0).Format("2006-01-02"), "term_end": now.AddDate(1, 0, 0).Format("2006-01-02")}
	if r := b.do(nil, "POST", "/api/v1/entitlements", in, mgr); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var d web.DashboardJSON
	b.do(nil, "GET", "/api/v1/dashboard", nil, mgr).json(t, &d)
	if !d.Savings.Configured || len(d.Savings.Currencies) != 1 || d.Savings.Currencies[0].Potential == 0 || d.Savings.Currencies[0].OpenCandidates != 2 || d.Savings.Currencies[0].Realised == 0 {
		t.Errorf("savings %+v, want 2 open candidates with potential savings and one realised", d.Savings)
	}
	r := b.do(nil, "GET", "/", nil, map[string]string{"Authorization": mgr["Authorization"], "Accept": "text/html"})
	if r.status != 200 || !strings.Contains(string(r.body), `id="chart-savings"`) || strings.Contains(string(r.body), "reclamation not configured") {
		t.Errorf("dashboard page with savings: %d", r.status)
	}
}
