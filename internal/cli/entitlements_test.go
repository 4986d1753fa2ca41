package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

func addContoso(t *testing.T, e *cliEnv) {
	t.Helper()
	e.ok(testSecret+"\n", "profile", "add", "contoso", "--tenant-id", "11111111-2222-3333-4444-555555555555",
		"--client-id", "aaaaaaaa-2222-3333-4444-555555555555", "--client-secret-file", "-")
}

func TestEntitlementsCommands(t *testing.T) {
	e := newCLIEnv(t)
	addContoso(t, e)
	out := e.ok("", "entitlements", "add", "--profile", "contoso", "--sku", "D365_SALES_PRO", "--quantity", "10", "--unit-cost", "65",
		"--currency", "usd", "--start", "2026-01-01", "--end", "2026-12-31", "--cost-centre", "EMEA", "--purchase-order", "PO-1", "-o", "json")
	var row EntitlementRow
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if row.ID == 0 || row.PartNumber != "D365_SALES_PRO" || row.UnitCost != "65.00" || row.Currency != "USD" || row.Commitment != "annual" {
		t.Fatalf("added %+v", row)
	}
	id := fmt.Sprint(row.ID)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown sku", []string{"entitlements", "add", "--profile", "contoso", "--sku", "NOPE", "--quantity", "1", "--unit-cost", "1", "--currency", "USD", "--start", "2026-01-01", "--end", "2026-01-31"}, sam.ExitNotFound, `unknown SKU "NOPE"`},
		{"end before start", []string{"entitlements", "add", "--profile", "contoso", "--sku", "D365_SALES_PRO", "--quantity", "1", "--unit-cost", "1", "--currency", "USD", "--start", "2026-02-01", "--end", "2026-01-31"}, sam.ExitUsage, "before term start"},
		{"other currency", []string{"entitlements", "add", "--profile", "contoso", "--sku", "D365_SALES_PRO", "--quantity", "1", "--unit-cost", "1", "--currency", "EUR", "--start", "2026-02-01", "--end", "2026-03-31"}, sam.ExitUsage, "currency EUR differs from USD"},
		{"bad cost", []string{"entitlements", "add", "--profile", "contoso", "--sku", "D365_SALES_PRO", "--quantity", "1", "--unit-cost", "1,5", "--currency", "USD", "--start", "2026-02-01", "--end", "2026-03-31"}, sam.ExitUsage, "--unit-cost"},
		{"duplicate", []string{"entitlements", "add", "--profile", "contoso", "--sku", "D365_SALES_PRO", "--quantity", "3", "--unit-cost", "65", "--currency", "USD", "--start", "2026-01-01", "--end", "2026-12-31", "--cost-centre", "EMEA", "--purchase-order", "PO-1"}, sam.ExitConflict, "already recorded"},
		{"edit nothing", []string{"entitlements", "edit", id}, sam.ExitUsage, "at least one field"},
		{"edit unknown", []string{"entitlements", "edit", "999", "--quantity", "3"}, sam.ExitNotFound, "entitlement 999 not found"},
		{"delete bad id", []string{"entitlements", "delete", "abc"}, sam.ExitUsage, "positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := e.run("", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d (%s), want %d containing %q", code, errs, tc.code, tc.msg)
			}
		})
	}
	e.ok("", "entitlements", "edit", id, "--quantity", "12", "--notes", "true-up")
	list := e.ok("", "entitlements", "list", "--profile", "contoso", "--active-on", "2026-06-01", "-o", "csv")
	if !strings.Contains(list, ",D365_SALES_PRO,12,65.00,USD,2026-01-01,2026-12-31,annual,EMEA,PO-1,true-up") {
		t.Errorf("list after edit:\n%s", list)
	}
	if out := e.ok("", "entitlements", "list", "--active-on", "2027-01-01"); strings.Count(out, "\n") != 1 {
		t.Errorf("list of an expired day:\n%s", out)
	}

	// Export, delete, import the export back.
	exported := e.ok("", "entitlements", "export")
	e.ok("", "entitlements", "delete", id)
	file := filepath.Join(e.dir, "ents.csv")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("", "entitlements", "import", file); !strings.Contains(out, "imported 1 entitlement") {
		t.Errorf("import: %s", out)
	}

	// A bad file: every row is listed on stderr and nothing is written.
	bad := "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n" +
		"contoso,POWERAPPS_PER_USER,5,20,USD,2026-01-01,2026-12-31,annual\n" +
		"contoso,POWERAPPS_PER_USER,x,20,USD,2026-01-01,2026-12-31,annual\n" +
		"nobody,POWERAPPS_PER_USER,5,20,USD,2026-01-01,2026-12-31,annual\n"
	_, errs, code := e.run(bad, "entitlements", "import", "-")
	if code != sam.ExitUsage || !strings.Contains(errs, "-: line 3: quantity \"x\" is not a whole number") ||
		!strings.Contains(errs, "-: line 4: unknown profile \"nobody\"") || !strings.Contains(errs, "2 bad row(s) listed above; nothing was written") {
		t.Errorf("bad import: exit %d\n%s", code, errs)
	}
	if out := e.ok("", "entitlements", "list", "-o", "csv"); strings.Count(out, "\n") != 2 {
		t.Errorf("entitlements after a refused import:\n%s", out)
	}
}

// TestReconcileSimulatedTenant syncs a simulated tenant, accepts the
// entitlements suggested from its prepaid units, adds one that makes Sales
// Professional short, and checks reconcile and the reports against figures
// computed here from the tenant's own SKUs and ground truth.
func TestReconcileSimulatedTenant(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 7, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 7, Users: 400, Environments: 1}}}})
	ten := srv.Tenant()
	now := ten.Now()
	day := now.UTC().Format(time.DateOnly)
	e.ok("", "sync", "--profile", "sim", "--now", now.Format(time.RFC3339Nano))
	truth, err := ten.Truth(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Ground truth, computed independently of the store: used = users
	// holding the SKU; owned = prepaid enabled + warning units of the SKU.
	used := map[string]int64{}
	for _, u := range truth.Users {
		for _, s := range u.Subscriptions {
			used[s.SKUID]++
		}
	}
	owned := map[string]int64{}
	for _, k := range ten.SKUs() {
		if _, tracked := used[k.SKUID]; tracked || k.Name != "" {
			owned[k.SKUID] = int64(k.Enabled + k.Warning)
		}
	}
	if len(used) == 0 {
		t.Fatal("the simulated tenant has no subscriptions")
	}

	var sug []SuggestionRow
	if err := json.Unmarshal([]byte(e.ok("", "entitlements", "suggest", "--accept", "--as-of", day, "--currency", "EUR", "-o", "json")), &sug); err != nil {
		t.Fatal(err)
	}
	if len(sug) == 0 {
		t.Fatal("no entitlement suggested from prepaid units")
	}
	for _, s := range sug {
		if s.Accepted == 0 || s.Quantity != owned[s.SKUID] {
			t.Errorf("suggestion %+v, want %d prepaid units accepted", s, owned[s.SKUID])
		}
	}
	// Nothing more to suggest once accepted.
	if out := e.ok("", "entitlements", "suggest", "--as-of", day, "-o", "csv"); strings.Count(out, "\n") != 1 {
		t.Errorf("suggestions after accepting:\n%s", out)
	}

	// A model not covered by suggestions gets no rights: all of it is a
	// shortfall. Pick a used SKU and delete its suggested entitlement to
	// make one, priced by an entitlement that expired.
	var shortSKU string
	for _, s := range sug {
		if used[s.SKUID] > 0 {
			shortSKU = s.SKUID
			e.ok("", "entitlements", "delete", fmt.Sprint(s.Accepted))
			owned[shortSKU] = 0
			break
		}
	}
	if shortSKU == "" {
		t.Fatal("no used SKU among the suggestions")
	}
	e.ok("", "entitlements", "add", "--profile", "sim", "--sku", shortSKU, "--quantity", "1000", "--unit-cost", "10", "--currency", "EUR",
		"--start", "2020-01-01", "--end", "2020-12-31")

	check := func(what string, sku string, gotOwned, gotUsed, gotAvail, gotShort int64, status string) {
		t.Helper()
		wo, wu := owned[sku], used[sku]
		wa, ws := max(wo-wu, 0), max(wu-wo, 0)
		ws2 := "compliant"
		if ws > 0 {
			ws2 = "not compliant"
		}
		if gotOwned != wo || gotUsed != wu || gotAvail != wa || gotShort != ws || status != ws2 {
			t.Errorf("%s %s: owned %d used %d available %d shortfall %d %s; want %d %d %d %d %s",
				what, sku, gotOwned, gotUsed, gotAvail, gotShort, status, wo, wu, wa, ws, ws2)
		}
	}

	var rec []struct {
		Run int64 `json:"run"`
		PositionRow
	}
	if err := json.Unmarshal([]byte(e.ok("", "reconcile", "--profile", "sim", "--as-of", day, "-o", "json")), &rec); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rec {
		check("reconcile", r.SKUID, r.Owned, r.Used, r.Available, r.Shortfall, r.Status)
		seen[r.SKUID] = true
	}
	for sku := range used {
		if !seen[sku] {
			t.Errorf("reconcile has no position for used SKU %s", sku)
		}
	}

	var rows []PositionRow
	if err := json.Unmarshal([]byte(e.ok("", "report", "position", "--as-of", day, "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	products := 0
	for _, r := range rows {
		if r.Level == "product" {
			products++
			continue
		}
		check("report position", r.SKUID, r.Owned, r.Used, r.Available, r.Shortfall, r.Status)
	}
	if products == 0 {
		t.Error("no product-level rows in the position report")
	}

	// Explain: the shortfall is priced by no active entitlement (the 2020
	// one expired), and the ignored entitlement is listed.
	expl := e.ok("", "report", "position", "--as-of", day, "--explain", shortSKU)
	for _, want := range []string{"rights owned", "no entitlement active on " + day + " = 0", "term does not cover " + day + ": ignored",
		fmt.Sprintf("max(used − owned, 0) = max(%d − 0, 0) = %d", used[shortSKU], used[shortSKU]), "true-up cost", "rights run out", "reclamation removal candidates"} {
		if !strings.Contains(expl, want) {
			t.Errorf("explain lacks %q:\n%s", want, expl)
		}
	}

	// Breakdown by department sums to rights used.
	var groups []struct {
		Used      int64  `json:"used"`
		SKUID     string `json:"sku_id"`
		Dimension string `json:"dimension"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "report", "position", "--as-of", day, "--group-by", "department", "-o", "json")), &groups); err != nil {
		t.Fatal(err)
	}
	sum := map[string]int64{}
	for _, g := range groups {
		sum[g.SKUID] += g.Used
	}
	for sku, n := range used {
		if sum[sku] != n {
			t.Errorf("department breakdown of %s sums to %d, want %d", sku, sum[sku], n)
		}
	}

	// Savings and renewals run; the savings report says where candidates
	// come from.
	if out := e.ok("", "report", "savings", "--as-of", day); !strings.Contains(out, "reclamation removal candidates") || !strings.Contains(out, "(total)") {
		t.Errorf("savings:\n%s", out)
	}
	ren := e.ok("", "report", "renewals", "--as-of", day, "--within", "400", "-o", "json")
	var rens []RenewalRow
	if err := json.Unmarshal([]byte(ren), &rens); err != nil {
		t.Fatal(err)
	}
	if len(rens) != len(sug)-1 {
		t.Errorf("%d renewals within 400 days, want the %d accepted suggestions (one-year terms)", len(rens), len(sug)-1)
	}
	for _, r := range rens {
		if r.Window != 0 || r.ProjectedUsed < used[skuOfPart(t, rec, r.PartNumber)] {
			t.Errorf("renewal %+v", r)
		}
	}

	// Recommendations: leavers first, one removal per disabled user holding
	// Dynamics 365 licences in the ground truth.
	var recs []struct {
		Priority int    `json:"priority"`
		Kind     string `json:"kind"`
		UserID   string `json:"user_id"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "report", "recommendations", "--as-of", day, "-o", "json")), &recs); err != nil {
		t.Fatal(err)
	}
	leavers := map[string]bool{}
	for _, u := range truth.Users {
		for _, s := range u.Subscriptions {
			if !u.AccountEnabled && s.Family == sam.FamilyDynamics365 {
				leavers[u.UserID] = true
			}
		}
	}
	removed, last := 0, 0
	for _, r := range recs {
		if r.Priority < last {
			t.Errorf("recommendations out of priority order: %+v after priority %d", r, last)
		}
		last = r.Priority
		if r.Kind == "remove" {
			removed++
			if !leavers[r.UserID] {
				t.Errorf("removal for %s, not a disabled user in the truth", r.UserID)
			}
		}
	}
	if removed != len(leavers) || len(leavers) == 0 {
		t.Errorf("%d removals, want %d (disabled users with Dynamics 365 licences)", removed, len(leavers))
	}

	// Three users lose the short model in the tenant; a day later the next
	// sync and reconciliation see three rights fewer used, and the trend
	// has both snapshots.
	removedUsers := 0
	for _, u := range truth.Users {
		for _, s := range u.Subscriptions {
			if s.SKUID == shortSKU && s.AssignedByGroup == "" && removedUsers < 3 {
				if _, err := ten.AssignLicense(u.UserID, nil, []string{shortSKU}); err != nil {
					t.Fatal(err)
				}
				removedUsers++
			}
		}
	}
	if removedUsers != 3 {
		t.Fatalf("only %d direct holders of %s", removedUsers, shortSKU)
	}
	ten.Advance(24 * time.Hour)
	next := ten.Now()
	e.ok("", "sync", "--profile", "sim", "--now", next.Format(time.RFC3339Nano))
	rec = nil
	if err := json.Unmarshal([]byte(e.ok("", "reconcile", "--as-of", next.UTC().Format(time.DateOnly), "-o", "json")), &rec); err != nil {
		t.Fatal(err)
	}
	used[shortSKU] -= 3
	for _, r := range rec {
		if r.SKUID == shortSKU {
			check("reconcile after removals", r.SKUID, r.Owned, r.Used, r.Available, r.Shortfall, r.Status)
		}
	}
	trend := e.ok("", "report", "trend", "--model", shortSKU, "-o", "csv", "--days", "100000")
	if strings.Count(trend, ",snapshot") != 2 || !strings.Contains(trend, fmt.Sprintf(",0,%d,snapshot", used[shortSKU])) ||
		!strings.Contains(trend, fmt.Sprintf(",0,%d,snapshot", used[shortSKU]+3)) {
		t.Errorf("trend:\n%s", trend)
	}
	// Use shrinks: the forecast says rights do not run out... but none are
	// owned, so they already have.
	expl = e.ok("", "report", "position", "--as-of", next.UTC().Format(time.DateOnly), "--explain", shortSKU, "-o", "json")
	var ex []ExplainedPosition
	if err := json.Unmarshal([]byte(expl), &ex); err != nil || len(ex) != 1 {
		t.Fatalf("explain json (%v):\n%s", err, expl)
	}
	if ex[0].Forecast.Points < 2 || ex[0].Position.Used != used[shortSKU] || !strings.Contains(ex[0].Forecast.Explanation, "already ran out") {
		t.Errorf("explained position %+v", ex[0])
	}
}

func skuOfPart(t *testing.T, rows []struct {
	Run int64 `json:"run"`
	PositionRow
}, part string) string {
	for _, r := range rows {
		if r.PartNumber == part {
			return r.SKUID
		}
	}
	t.Errorf("no position for %s", part)
	return ""
}
