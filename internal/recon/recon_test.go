package recon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

const (
	skuSalesPro   = "be9f9771-1c64-4618-9907-244325141096" // D365_SALES_PRO (catalog)
	skuTeam       = "7ac9fe77-66b7-4e5e-9e46-10eed1cff547" // DYN365_TEAM_MEMBERS (catalog)
	skuAppsPerUsr = "b30411f5-fea1-4a59-9ad9-3db7c7ead579" // POWERAPPS_PER_USER (catalog)
	skuOfficeE3   = "6fd2c87f-b296-42f0-b197-1e91e994b900" // ENTERPRISEPACK: in the catalog, another family
)

// openStore opens a fresh SQLite database, closed when the test ends.
func openStore(t testing.TB) store.Store {
	t.Helper()
	return openStoreURL(t, "sqlite://"+t.TempDir()+"/seatwise.db")
}

// openStoreURL opens (and migrates) the database at url, closed when the
// test ends.
func openStoreURL(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := db.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newProfile creates a client-secret profile called name.
func newProfile(t testing.TB, st store.Store, name string) *sam.Profile {
	t.Helper()
	p := &sam.Profile{Name: name, TenantID: "00000000-0000-4000-8000-000000000001", ClientID: "00000000-0000-4000-8000-000000000002",
		AuthMode: sam.AuthClientSecret}
	if err := st.CreateProfile(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

const header = "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment,cost_center,purchase_order,notes\n"

// TestImportReportsEveryBadRow imports a file with 21 kinds of bad rows
// among good ones: nothing is written and every bad row is reported with
// its line and reason.
func TestImportReportsEveryBadRow(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	p := newProfile(t, st, "contoso")
	cat := catalog.Default()
	m, _, err := ResolveModel(ctx, st, cat, skuSalesPro)
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureModel(ctx, st, m, false); err != nil {
		t.Fatal(err)
	}
	stored := &sam.Entitlement{ProfileID: p.ID, SKUID: skuSalesPro, Quantity: 5, UnitCost: 6500, Currency: "USD",
		TermStart: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), TermEnd: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
		Commitment: sam.CommitmentAnnual, PurchaseOrder: "PO-OLD"}
	if err := st.CreateEntitlements(ctx, []*sam.Entitlement{stored}); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		line   string
		reason string // "" for a good row
	}{
		{"contoso,D365_SALES_PRO,10,65.00,USD,2026-01-01,2026-12-31,annual,CC-1,PO-1,good", ""},
		{",D365_SALES_PRO,10,65,USD,2026-01-01,2026-12-31,annual,,PO-2,", "profile is required"},
		{"nosuch,D365_SALES_PRO,10,65,USD,2026-01-01,2026-12-31,annual,,PO-3,", `unknown profile "nosuch"`},
		{"contoso,,10,65,USD,2026-01-01,2026-12-31,annual,,PO-4,", "sku is required"},
		{"contoso,NOT_A_SKU,10,65,USD,2026-01-01,2026-12-31,annual,,PO-5,", `unknown SKU "NOT_A_SKU"`},
		{"contoso," + skuOfficeE3 + ",10,65,USD,2026-01-01,2026-12-31,annual,,PO-6,", "not a Dynamics 365 or Power Platform licence"},
		{"contoso,00000000-0000-4000-8000-0000000000ff,10,65,USD,2026-01-01,2026-12-31,annual,,PO-7,", "unknown SKU 00000000-0000-4000-8000-0000000000ff"},
		{"contoso,D365_SALES_PRO,ten,65,USD,2026-01-01,2026-12-31,annual,,PO-8,", `quantity "ten" is not a whole number`},
		{"contoso,D365_SALES_PRO,0,65,USD,2026-01-01,2026-12-31,annual,,PO-9,", "quantity 0 must be positive"},
		{"contoso,D365_SALES_PRO,2.5,65,USD,2026-01-01,2026-12-31,annual,,PO-10,", `quantity "2.5" is not a whole number`},
		{"contoso,D365_SALES_PRO,10,sixty,USD,2026-01-01,2026-12-31,annual,,PO-11,", `unit_cost "sixty" is not an amount`},
		{"contoso,D365_SALES_PRO,10,-65,USD,2026-01-01,2026-12-31,annual,,PO-12,", "must not be negative"},
		{"contoso,D365_SALES_PRO,10,65.001,USD,2026-01-01,2026-12-31,annual,,PO-13,", `unit_cost "65.001"`},
		{"contoso,D365_SALES_PRO,10,65,DOLLARS,2026-01-01,2026-12-31,annual,,PO-14,", `currency "DOLLARS" is not an ISO 4217 code`},
		{"contoso,D365_SALES_PRO,10,65,,2026-01-01,2026-12-31,annual,,PO-15,", "currency is required"},
		{"contoso,D365_SALES_PRO,10,65,USD,01/01/2026,2026-12-31,annual,,PO-16,", `term_start "01/01/2026" is not a date`},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-01-01,2026-02-30,annual,,PO-17,", `term_end "2026-02-30" is not a date`},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-01-01,,annual,,PO-18,", "term_end is required"},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-12-31,2026-01-01,annual,,PO-19,", "term_end 2026-01-01 is before term_start 2026-12-31"},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-01-01,2026-12-31,weekly,,PO-20,", `commitment "weekly"`},
		{"contoso,D365_SALES_PRO,7,60.00,USD,2026-01-01,2026-12-31,monthly,CC-1,PO-1,same purchase again", "duplicate of line 2"},
		{"contoso,D365_SALES_PRO,5,65,USD,2025-01-01,2025-12-31,annual,,PO-OLD,", "duplicate of stored entitlement #"},
		{"contoso,D365_SALES_PRO,10,60,EUR,2026-01-01,2026-12-31,annual,,PO-23,", "currency EUR differs from USD"},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-01-01", "6 fields, the header has 11"},
		{"contoso,D365_SALES_PRO,10,65,USD,2026-01-01,2026-12-31,annual,,PO-25," + strings.Repeat("x", 4001), "notes longer than 4000 bytes"},
		{"contoso,POWERAPPS_PER_USER,3,20,USD,2026-01-01,2026-12-31,monthly,,,", ""},
	}
	var sb strings.Builder
	sb.WriteString(header)
	want := map[int]string{}
	for i, r := range rows {
		sb.WriteString(r.line + "\n")
		if r.reason != "" {
			want[i+2] = r.reason
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d kinds of bad rows", len(want))
	}
	_, err = ImportEntitlements(ctx, st, cat, strings.NewReader(sb.String()))
	var ie *ImportError
	if !errors.As(err, &ie) || !sam.IsCode(err, sam.EINVALID) {
		t.Fatalf("error = %v, want an EINVALID ImportError", err)
	}
	got := map[int]string{}
	for _, r := range ie.Rows {
		got[r.Line] = r.Reason
	}
	for line, reason := range want {
		if !strings.Contains(got[line], reason) {
			t.Errorf("line %d: reason %q, want it to contain %q", line, got[line], reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d bad rows reported, want %d: %v", len(got), len(want), got)
	}
	es, err := st.Entitlements(ctx, store.EntitlementFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("%d entitlements stored after a refused import, want only the 1 stored before", len(es))
	}

	// The good rows alone import, the catalog model is stored on the way,
	// and export writes a file that imports again as duplicates only.
	good := header + rows[0].line + "\n" + rows[len(rows)-1].line + "\n"
	created, err := ImportEntitlements(ctx, st, cat, strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || created[0].Quantity != 10 || created[0].UnitCost != 6500 || created[1].Commitment != sam.CommitmentMonthly {
		t.Fatalf("created %+v", created)
	}
	if _, err := st.SoftwareModel(ctx, skuAppsPerUsr); err != nil {
		t.Fatalf("catalog model not stored: %v", err)
	}
	var out strings.Builder
	if err := WriteCSV(&out, created, func(int64) string { return "contoso" }, func(s string) string { return s }); err != nil {
		t.Fatal(err)
	}
	_, err = ImportEntitlements(ctx, st, cat, strings.NewReader(out.String()))
	if !errors.As(err, &ie) || len(ie.Rows) != 2 || !strings.Contains(ie.Rows[0].Reason, "duplicate of stored") {
		t.Fatalf("re-import of the export: %v", err)
	}
}

func TestImportHeaderErrors(t *testing.T) {
	st := openStore(t)
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"profile,sku\n", "lacks column(s) quantity"},
		{"profile,profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n", "appears twice"},
	} {
		_, err := ImportEntitlements(t.Context(), st, catalog.Default(), strings.NewReader(tc.in))
		if !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("import %q: %v, want EINVALID containing %q", tc.in, err, tc.want)
		}
	}
}

// stage stores open subscriptions through a full subscriptions run: users
// maps a user number to the SKUs it holds and its department.
func stage(t *testing.T, st store.Store, p *sam.Profile, at time.Time, users map[int][]string, dept func(n int) string) {
	t.Helper()
	ctx := t.Context()
	r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
	if err := st.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	var su []store.StagedUser
	for n, skus := range users {
		u := store.StagedUser{UserID: fmt.Sprintf("00000000-0000-4000-9000-%012d", n), UPN: fmt.Sprintf("u%d@contoso.com", n),
			AccountEnabled: true, Department: dept(n), Country: "FR"}
		for _, s := range skus {
			u.Licenses = append(u.Licenses, store.StagedLicense{SKUID: s})
		}
		su = append(su, u)
	}
	if err := st.StageUsers(ctx, r, su); err != nil {
		t.Fatal(err)
	}
	var models []sam.SoftwareModel
	for _, s := range []string{skuSalesPro, skuTeam, skuAppsPerUsr} {
		m, _ := catalog.Default().Model(s)
		models = append(models, m)
	}
	if _, err := st.CommitSubscriptions(ctx, r, store.SubscriptionCommit{Full: true, Now: at, Models: models}); err != nil {
		t.Fatal(err)
	}
}

// TestReconcile checks the engine end to end on a real store against hand
// computed figures: Sales Professional short by 2, Team Members over by 3,
// Power Apps refused for mixed currencies.
func TestReconcile(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	p := newProfile(t, st, "contoso")
	asOf := time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC)
	users := map[int][]string{}
	for n := 1; n <= 12; n++ {
		users[n] = []string{skuSalesPro} // 12 Sales Professional
	}
	for n := 13; n <= 19; n++ {
		users[n] = []string{skuTeam} // 7 Team Members
	}
	users[20] = []string{skuAppsPerUsr}
	dept := func(n int) string {
		if n%2 == 0 {
			return "Sales"
		}
		return "Service"
	}
	stage(t, st, p, asOf.Add(-time.Hour), users, dept)
	d := func(s string) time.Time { x, _ := sam.ParseDay(s); return x }
	ents := []*sam.Entitlement{
		{ProfileID: p.ID, SKUID: skuSalesPro, Quantity: 8, UnitCost: 6500, Currency: "USD", TermStart: d("2026-01-01"), TermEnd: d("2026-07-10"), Commitment: sam.CommitmentAnnual, CostCenter: "EMEA"},
		{ProfileID: p.ID, SKUID: skuSalesPro, Quantity: 2, UnitCost: 5000, Currency: "USD", TermStart: d("2026-01-01"), TermEnd: d("2027-12-31"), Commitment: sam.CommitmentAnnual, CostCenter: "US"},
		{ProfileID: p.ID, SKUID: skuSalesPro, Quantity: 50, UnitCost: 6500, Currency: "USD", TermStart: d("2024-01-01"), TermEnd: d("2025-12-31"), Commitment: sam.CommitmentAnnual},
		{ProfileID: p.ID, SKUID: skuTeam, Quantity: 10, UnitCost: 800, Currency: "USD", TermStart: d("2026-01-01"), TermEnd: d("2026-08-31"), Commitment: sam.CommitmentMonthly},
		{ProfileID: p.ID, SKUID: skuAppsPerUsr, Quantity: 1, UnitCost: 2000, Currency: "USD", TermStart: d("2026-01-01"), TermEnd: d("2026-12-31"), Commitment: sam.CommitmentAnnual},
		{ProfileID: p.ID, SKUID: skuAppsPerUsr, Quantity: 1, UnitCost: 1800, Currency: "EUR", TermStart: d("2026-01-01"), TermEnd: d("2026-12-31"), Commitment: sam.CommitmentAnnual, PurchaseOrder: "EU"},
	}
	if err := st.CreateEntitlements(ctx, ents); err != nil {
		t.Fatal(err)
	}
	run, res, err := Reconcile(ctx, st, p, Options{AsOf: asOf})
	if !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), "several currencies (EUR, USD)") {
		t.Fatalf("reconcile error = %v, want the mixed currencies of Power Apps refused", err)
	}
	if len(res.Refused) != 1 || res.Refused[0].SKUID != skuAppsPerUsr || len(res.Positions) != 2 {
		t.Fatalf("refused %+v, %d positions", res.Refused, len(res.Positions))
	}
	byPN := map[string]sam.Position{}
	for _, x := range res.Positions {
		byPN[x.PartNumber] = x
	}
	sales, team := byPN["D365_SALES_PRO"], byPN["DYN365_TEAM_MEMBERS"]
	// Sales: owned 8 + 2 = 10 (the 2025 term is ignored), used 12, short 2;
	// average (8 × 65 + 2 × 50) / 10 = 62.00; true-up 2 × 62.00 = 124.00.
	if sales.Owned != 10 || sales.Used != 12 || sales.Shortfall != 2 || sales.AverageUnitPrice != 6200 || sales.TrueUpCost != 12400 ||
		sales.Compliant || sales.IgnoredEntitlements != 1 {
		t.Errorf("sales position %+v", sales)
	}
	// Team Members: owned 10, used 7, 3 available × 8.00 = 24.00 over-licensed.
	if team.Owned != 10 || team.Used != 7 || team.Available != 3 || team.OverLicensed != 2400 || !team.Compliant {
		t.Errorf("team members position %+v", team)
	}
	stored, err := st.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != sam.RunSucceeded || stored.Counts["models_not_compliant"] != 1 || len(stored.Warnings) != 1 {
		t.Errorf("run %+v", stored)
	}
	snaps, err := st.PositionSnapshots(ctx, store.SnapshotFilter{RunID: run.ID})
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots %v, %v", snaps, err)
	}

	// Product level: the Dynamics 365 family totals both models.
	sum := Summarize(res.Positions)
	if len(sum) != 1 || sum[0].Owned != 20 || sum[0].Used != 19 || sum[0].Shortfall != 2 || sum[0].Available != 3 || sum[0].Compliant {
		t.Errorf("summary %+v", sum)
	}
	// Breakdown by department: Sales Professional users 2,4,..,12 are Sales.
	rows, err := Breakdown(ctx, st, p, res.Positions, ByDepartment, asOf)
	if err != nil {
		t.Fatal(err)
	}
	gotRows := map[string]int64{}
	for _, r := range rows {
		gotRows[r.PartNumber+"/"+r.Group] = r.Used
	}
	if gotRows["D365_SALES_PRO/Sales"] != 6 || gotRows["D365_SALES_PRO/Service"] != 6 || gotRows["DYN365_TEAM_MEMBERS/Sales"] != 3 ||
		gotRows["DYN365_TEAM_MEMBERS/Service"] != 4 {
		t.Errorf("department breakdown %v", gotRows)
	}
	rows, err = Breakdown(ctx, st, p, res.Positions, ByCostCenter, asOf)
	if err != nil {
		t.Fatal(err)
	}
	gotRows = map[string]int64{}
	for _, r := range rows {
		gotRows[r.PartNumber+"/"+r.Group] = r.Amount
	}
	if gotRows["D365_SALES_PRO/EMEA"] != 52000 || gotRows["D365_SALES_PRO/US"] != 10000 || gotRows["DYN365_TEAM_MEMBERS/"] != 8000 {
		t.Errorf("cost centre breakdown %v", gotRows)
	}

	// Renewals within 90 days: Sales EMEA ends 2026-07-10 (25 days): the US
	// entitlement still covers 2 after, 12 used → renew 10 of 8: buy 2.
	// Team Members ends 2026-08-31 (77 days): 7 used → renew 7 of 10: cut 3.
	rens, err := Renewals(ctx, st, p, res.Positions, nil, asOf, 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(rens) != 2 {
		t.Fatalf("renewals %+v", rens)
	}
	if r := rens[0]; r.PartNumber != "D365_SALES_PRO" || r.DaysLeft != 25 || r.Window != 30 || r.OwnedAfter != 2 || r.RenewQuantity != 10 ||
		r.Action != "buy" || r.Change != 2 || r.MonthlyChange != 13000 {
		t.Errorf("sales renewal %+v", r)
	}
	if r := rens[1]; r.PartNumber != "DYN365_TEAM_MEMBERS" || r.Window != 90 || r.Action != "cut" || r.Change != -3 || r.MonthlyChange != -2400 {
		t.Errorf("team members renewal %+v", r)
	}
	// With growth of 0.5 users a day, Team Members needs 7 + ceil(0.5 × 77) = 46.
	rens, err = Renewals(ctx, st, p, res.Positions, map[string]float64{skuTeam: 0.5}, asOf, 90)
	if err != nil {
		t.Fatal(err)
	}
	if r := rens[1]; r.ProjectedUsed != 46 || r.Action != "buy" || r.Change != 36 {
		t.Errorf("team members renewal with growth %+v", r)
	}
}

func TestForecastRunOut(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pts := func(used ...int64) []TrendPoint {
		var out []TrendPoint
		for i, u := range used {
			out = append(out, TrendPoint{At: t0.AddDate(0, 0, 7*i), Used: u})
		}
		return out
	}
	asOf := t0.AddDate(0, 0, 14)
	// +7 users a week = 1 a day; 30 owned, 20 used → 10 days.
	f := ForecastRunOut(pts(6, 13, 20), 30, 20, asOf)
	if f.DaysLeft == nil || *f.DaysLeft != 10 || f.RunsOutOn == nil || !f.RunsOutOn.Equal(asOf.AddDate(0, 0, 10)) || f.GrowthPerDay != 1 {
		t.Errorf("growing: %+v", f)
	}
	// 0.5 a day, 3 left → ceil(6) = 6 days.
	f = ForecastRunOut(pts(10, 13, 17), 20, 17, asOf)
	if f.DaysLeft == nil || *f.DaysLeft != 6 {
		t.Errorf("half a day: %+v", f)
	}
	if f := ForecastRunOut(pts(20, 18, 15), 30, 15, asOf); f.DaysLeft != nil || !strings.Contains(f.Explanation, "not growing") {
		t.Errorf("shrinking: %+v", f)
	}
	if f := ForecastRunOut(pts(20), 30, 20, asOf); f.DaysLeft != nil || !strings.Contains(f.Explanation, "not enough history") {
		t.Errorf("one point: %+v", f)
	}
	if f := ForecastRunOut(pts(20, 40), 30, 40, asOf); f.DaysLeft == nil || *f.DaysLeft != 0 || !strings.Contains(f.Explanation, "shortfall 10") {
		t.Errorf("short already: %+v", f)
	}
}

func TestSuggest(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	p := newProfile(t, st, "contoso")
	day := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	stage(t, st, p, day, map[int][]string{1: {skuSalesPro}}, func(int) string { return "" })
	if err := st.PutSKUUnits(ctx, []sam.SKUUnits{
		{ProfileID: p.ID, SKUID: skuSalesPro, Day: day.AddDate(0, 0, -1), Enabled: 99},
		{ProfileID: p.ID, SKUID: skuSalesPro, Day: day, Enabled: 25, Warning: 5, Consumed: 1},
		{ProfileID: p.ID, SKUID: skuTeam, Day: day, Enabled: 10},
		{ProfileID: p.ID, SKUID: skuOfficeE3, Day: day, Enabled: 500},
	}); err != nil {
		t.Fatal(err)
	}
	e := &sam.Entitlement{ProfileID: p.ID, SKUID: skuTeam, Quantity: 10, UnitCost: 800, Currency: "USD", TermStart: day.AddDate(0, -1, 0),
		TermEnd: day.AddDate(0, 6, 0), Commitment: sam.CommitmentAnnual}
	if err := st.CreateEntitlements(ctx, []*sam.Entitlement{e}); err != nil {
		t.Fatal(err)
	}
	sug, err := Suggest(ctx, st, p, day.Add(5*time.Hour), "eur")
	if err != nil {
		t.Fatal(err)
	}
	// Sales: 30 prepaid, none covered → 30; Team Members fully covered;
	// Office E3 is not a tracked model.
	if len(sug) != 1 || sug[0].Entitlement.Quantity != 30 || sug[0].Entitlement.SKUID != skuSalesPro || sug[0].PriceKnown ||
		sug[0].Entitlement.Currency != "EUR" || !sug[0].Entitlement.TermEnd.Equal(time.Date(2027, 6, 14, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("suggestions %+v", sug)
	}
	x := sug[0].Entitlement
	if err := st.CreateEntitlements(ctx, []*sam.Entitlement{&x}); err != nil {
		t.Fatal(err)
	}
	sug, err = Suggest(ctx, st, p, day, "EUR")
	if err != nil || len(sug) != 0 {
		t.Fatalf("after accepting: %+v, %v", sug, err)
	}
}
