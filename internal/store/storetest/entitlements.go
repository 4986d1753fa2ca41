package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func entitlement(profileID int64, sku string, qty, cost int64, from, to, po string) *sam.Entitlement {
	return &sam.Entitlement{ProfileID: profileID, SKUID: sku, Quantity: qty, UnitCost: cost, Currency: "usd",
		TermStart: day(from), TermEnd: day(to), Commitment: sam.CommitmentAnnual, CostCenter: " CC-1 ", PurchaseOrder: po,
		Notes: "bought via reseller"}
}

// testEntitlements covers create (all or nothing), read, filters, update
// and delete.
func testEntitlements(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	must(t, s.UpsertSoftwareModels(ctx(t), models()))
	a := entitlement(p.ID, upper(skuSales), 100, 6500, "2026-01-01", "2026-12-31", "PO-1")
	b := entitlement(p.ID, skuSales, 20, 6000, "2026-06-01", "2027-05-31", "PO-2")
	c := entitlement(p.ID, skuApps, 5, 2000, "2025-01-01", "2025-12-31", "PO-3")
	must(t, s.CreateEntitlements(ctx(t), []*sam.Entitlement{a, b, c}))
	if a.ID == 0 || b.ID == 0 || a.CreatedAt.IsZero() {
		t.Fatalf("ids/timestamps not set: %+v", a)
	}
	got, err := s.Entitlement(ctx(t), a.ID)
	must(t, err)
	if got.SKUID != skuSales || got.Currency != "USD" || got.CostCenter != "CC-1" || !got.TermStart.Equal(day("2026-01-01")) ||
		!got.TermEnd.Equal(day("2026-12-31")) || got.Quantity != 100 || got.UnitCost != 6500 || got.Commitment != sam.CommitmentAnnual ||
		got.Notes != "bought via reseller" || got.PurchaseOrder != "PO-1" || got.ProfileID != p.ID {
		t.Fatalf("read back %+v", got)
	}

	// All or nothing: the second entitlement is bad, the first is not written.
	before, err := s.Entitlements(ctx(t), store.EntitlementFilter{})
	must(t, err)
	good := entitlement(p.ID, skuService, 1, 100, "2026-01-01", "2026-12-31", "PO-9")
	bad := entitlement(p.ID, skuService, 0, 100, "2026-01-01", "2026-12-31", "PO-10")
	mustCode(t, s.CreateEntitlements(ctx(t), []*sam.Entitlement{good, bad}), sam.EINVALID)
	dup := entitlement(p.ID, skuSales, 1, 100, "2026-01-01", "2026-12-31", "PO-1")
	mustCode(t, s.CreateEntitlements(ctx(t), []*sam.Entitlement{good, dup}), sam.ECONFLICT)
	mustCode(t, s.CreateEntitlements(ctx(t), []*sam.Entitlement{entitlement(p.ID, guid(99, 9), 1, 1, "2026-01-01", "2026-01-02", "")}), sam.ENOTFOUND)
	mustCode(t, s.CreateEntitlements(ctx(t), []*sam.Entitlement{entitlement(p.ID+100, skuSales, 1, 1, "2026-01-01", "2026-01-02", "")}), sam.ENOTFOUND)
	after, err := s.Entitlements(ctx(t), store.EntitlementFilter{})
	must(t, err)
	if len(after) != len(before) || len(after) != 3 {
		t.Fatalf("failed creates wrote rows: %d before, %d after", len(before), len(after))
	}

	ids := func(es []*sam.Entitlement) string {
		var out string
		for _, e := range es {
			out += fmt.Sprintf("%d,", e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.EntitlementFilter
		want []*sam.Entitlement
	}{
		{"all, ordered by sku then start", store.EntitlementFilter{}, []*sam.Entitlement{a, b, c}},
		{"by sku", store.EntitlementFilter{SKUID: upper(skuApps)}, []*sam.Entitlement{c}},
		{"active on", store.EntitlementFilter{ActiveOn: day("2026-06-15").Add(13 * time.Hour)}, []*sam.Entitlement{a, b}},
		{"active on the last day", store.EntitlementFilter{ActiveOn: day("2025-12-31")}, []*sam.Entitlement{c}},
		{"ending within", store.EntitlementFilter{EndFrom: day("2026-12-31"), EndTo: day("2027-05-31")}, []*sam.Entitlement{a, b}},
		{"other profile", store.EntitlementFilter{ProfileID: p.ID + 1}, nil},
	} {
		got, err := s.Entitlements(ctx(t), tc.f)
		must(t, err)
		if ids(got) != ids(tc.want) {
			t.Errorf("%s: ids %s, want %s", tc.name, ids(got), ids(tc.want))
		}
	}

	// Update.
	a.Quantity, a.Notes = 120, "true-up in March"
	must(t, s.UpdateEntitlement(ctx(t), a))
	got, err = s.Entitlement(ctx(t), a.ID)
	must(t, err)
	if got.Quantity != 120 || got.Notes != "true-up in March" {
		t.Fatalf("after update %+v", got)
	}
	b2 := *b
	b2.TermStart, b2.TermEnd, b2.PurchaseOrder = a.TermStart, a.TermEnd, a.PurchaseOrder
	mustCode(t, s.UpdateEntitlement(ctx(t), &b2), sam.ECONFLICT)
	b2 = *b
	b2.TermEnd = day("2020-01-01")
	mustCode(t, s.UpdateEntitlement(ctx(t), &b2), sam.EINVALID)
	b2 = *b
	b2.ID = 999999
	mustCode(t, s.UpdateEntitlement(ctx(t), &b2), sam.ENOTFOUND)

	// Delete.
	must(t, s.DeleteEntitlement(ctx(t), c.ID))
	mustCode(t, s.DeleteEntitlement(ctx(t), c.ID), sam.ENOTFOUND)
	_, err = s.Entitlement(ctx(t), c.ID)
	mustCode(t, err, sam.ENOTFOUND)

	// Deleting the profile removes its entitlements.
	must(t, s.DeleteProfile(ctx(t), p.ID))
	left, err := s.Entitlements(ctx(t), store.EntitlementFilter{})
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("%d entitlements outlive their profile", len(left))
	}
}

// testCountOpenSubscriptions checks the aggregate reconciliation reads:
// closed subscriptions do not count, groups split by department and country.
func testCountOpenSubscriptions(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	q := newProfile(t, s, "fabrikam", 0)
	u := func(n int, dept, country string, skus ...string) store.StagedUser {
		x := staged(n, skus...)
		x.Department, x.Country = dept, country
		return x
	}
	syncSubs(t, s, p, true, now.Add(-48*time.Hour), u(1, "Sales", "FR", skuSales), u(2, "Sales", "DE", skuSales, skuApps),
		u(3, "Support", "FR", skuSales), u(4, "", "", skuSales), u(5, "Support", "FR", skuService))
	// User 5 leaves: the closed subscription no longer counts.
	syncSubs(t, s, p, true, now.Add(-24*time.Hour), u(1, "Sales", "FR", skuSales), u(2, "Sales", "DE", skuSales, skuApps),
		u(3, "Support", "FR", skuSales), u(4, "", "", skuSales))
	syncSubs(t, s, q, true, now, u(1, "Sales", "FR", skuSales))

	str := func(cs []store.SubscriptionCount) string {
		var out string
		for _, c := range cs {
			pn := "p"
			if c.ProfileID == q.ID {
				pn = "q"
			}
			sku := map[string]string{skuSales: "sales", skuApps: "apps", skuService: "service"}[c.SKUID]
			out += fmt.Sprintf("%s/%s/%s=%d ", pn, sku, c.Group, c.Users)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.CountFilter
		want string
	}{
		{store.CountFilter{ProfileID: p.ID}, "p/sales/=4 p/apps/=1 "},
		{store.CountFilter{}, "p/sales/=4 p/apps/=1 q/sales/=1 "},
		{store.CountFilter{ProfileID: p.ID, SKUID: upper(skuSales), GroupBy: store.GroupDepartment}, "p/sales/=1 p/sales/Sales=2 p/sales/Support=1 "},
		{store.CountFilter{ProfileID: p.ID, GroupBy: store.GroupCountry}, "p/sales/=1 p/sales/DE=1 p/sales/FR=2 p/apps/DE=1 "},
	} {
		got, err := s.CountOpenSubscriptions(ctx(t), tc.f)
		must(t, err)
		// The order of SKUs is by SKU id; compare as a set of lines.
		if g := str(got); !sameFields(g, tc.want) {
			t.Errorf("counts %+v = %q, want %q", tc.f, g, tc.want)
		}
	}
	_, err := s.CountOpenSubscriptions(ctx(t), store.CountFilter{GroupBy: "cost_center"})
	mustCode(t, err, sam.EINVALID)
}

func sameFields(a, b string) bool {
	count := map[string]int{}
	for _, f := range splitFields(a) {
		count[f]++
	}
	for _, f := range splitFields(b) {
		count[f]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func splitFields(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		if r == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// testPositionSnapshots stores positions through a reconciliation run and
// reads them back.
func testPositionSnapshots(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	must(t, s.UpsertSoftwareModels(ctx(t), models()))
	var runs []*sam.Run
	for i, used := range []int64{80, 90} {
		r := startRun(t, s, p.ID, sam.RunReconciliation, true)
		asOf := now.AddDate(0, 0, i*7)
		pos, err := sam.ComputePosition(sam.PositionInput{ProfileID: p.ID, Model: models()[0], AsOf: asOf, Used: used,
			Entitlements: []sam.Entitlement{*entitlement(p.ID, skuSales, 85, 6500, "2026-01-01", "2026-12-31", "PO")}})
		must(t, err)
		pos2, err := sam.ComputePosition(sam.PositionInput{ProfileID: p.ID, Model: models()[2], AsOf: asOf, Used: 3})
		must(t, err)
		must(t, s.CommitReconciliation(ctx(t), r, []sam.Position{pos, pos2}))
		runs = append(runs, r)
	}
	r0, err := s.Run(ctx(t), runs[0].ID)
	must(t, err)
	if r0.Status != sam.RunSucceeded || r0.Kind != sam.RunReconciliation || r0.Counts["positions"] != 2 {
		t.Fatalf("run after commit: %+v", r0)
	}
	mustCode(t, s.CommitReconciliation(ctx(t), runs[0], nil), sam.ECONFLICT)
	sub := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	mustCode(t, s.CommitReconciliation(ctx(t), sub, nil), sam.EINVALID)
	other := newProfile(t, s, "other", 0)
	r := startRun(t, s, other.ID, sam.RunReconciliation, true)
	pos, err := sam.ComputePosition(sam.PositionInput{ProfileID: p.ID, Model: models()[2], AsOf: now, Used: 1})
	must(t, err)
	mustCode(t, s.CommitReconciliation(ctx(t), r, []sam.Position{pos}), sam.EINVALID)

	snaps, err := s.PositionSnapshots(ctx(t), store.SnapshotFilter{ProfileID: p.ID, SKUID: upper(skuSales)})
	must(t, err)
	if len(snaps) != 2 || snaps[0].RunID != runs[0].ID || snaps[1].RunID != runs[1].ID {
		t.Fatalf("snapshots %+v", snaps)
	}
	s0, s1 := snaps[0].Position, snaps[1].Position
	if s0.Used != 80 || s0.Available != 5 || s0.OverLicensed != 32500 || !s0.Compliant || s1.Shortfall != 5 || s1.TrueUpCost != 32500 ||
		s1.Compliant || !s0.AsOf.Equal(now) || len(s0.Explain) == 0 || s0.Currency != "USD" {
		t.Fatalf("snapshot positions %+v / %+v", s0, s1)
	}
	all, err := s.PositionSnapshots(ctx(t), store.SnapshotFilter{RunID: runs[1].ID})
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("run %d has %d positions, want 2", runs[1].ID, len(all))
	}
	ranged, err := s.PositionSnapshots(ctx(t), store.SnapshotFilter{ProfileID: p.ID, From: now.Add(time.Hour)})
	must(t, err)
	if len(ranged) != 2 || ranged[0].RunID != runs[1].ID {
		t.Fatalf("snapshots from %v: %+v", now.Add(time.Hour), ranged)
	}
}

// testEachUserLicences streams users with their licences among some SKUs
// and their record/access days.
func testEachUserLicences(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	syncSubs(t, s, p, true, now.Add(-time.Hour), staged(1, skuSales, skuService, skuApps), staged(2, skuSales), staged(3, skuApps),
		staged(4, skuService))
	env := p.Environments[0].ID
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(env, now)}, []int{1, 2, 4},
		act(env, 1, now.Add(-2*time.Hour), sam.SourceAccessWeb, 3),
		act(env, 1, now.Add(-26*time.Hour), sam.SourceAccessAPI, 1),
		act(env, 1, now.Add(-26*time.Hour), sam.SourceAccessWeb, 1), // same day: counts once
		act(env, 1, now.Add(-50*time.Hour), sam.SourceRecord, 2),
		act(env, 2, now.Add(-40*24*time.Hour), sam.SourceRecord, 2), // before since
		act(env, 4, now.Add(-3*time.Hour), sam.SourceRecord, 1))
	var got []string
	err := s.EachUserLicences(ctx(t), p.ID, []string{skuSales, upper(skuService)}, now.AddDate(0, 0, -30), func(u store.UserLicences) error {
		skus := ""
		for _, l := range u.Licences {
			skus += map[string]string{skuSales: "sales", skuService: "service", skuApps: "apps"}[l.SKUID] + "+"
			if l.SubscriptionID == 0 || l.UsageClass == "" {
				t.Errorf("licence %+v lacks id or class", l)
			}
		}
		got = append(got, fmt.Sprintf("%s:%s:r%d:a%d", u.UPN, skus, u.RecordDays, u.AccessDays))
		return nil
	})
	must(t, err)
	want := []string{"user1@contoso.com:sales+service+:r1:a2", "user2@contoso.com:sales+:r0:a0", "user4@contoso.com:service+:r1:a0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("users %v, want %v", got, want)
	}
	// An error from fn stops the iteration.
	calls := 0
	stop := fmt.Errorf("stop")
	err = s.EachUserLicences(ctx(t), p.ID, nil, now.AddDate(0, 0, -30), func(u store.UserLicences) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("error %v after %d calls, want stop after 1", err, calls)
	}
}
