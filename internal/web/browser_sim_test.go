package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/seatwise/seatwise/internal/web"
)

// TestBrowserSimulatedTenant walks the web UI in Chromium against the
// Microsoft simulator: create a profile with the form, validate it, run a
// sync with "Run now", watch the job finish on the runs page, see the
// dashboard's chart, import entitlements and read the licence position.
func TestBrowserSimulatedTenant(t *testing.T) {
	exe := chromiumPath(t)
	info := startSim(t, 12, 80).Info()
	b, runner := setupWithJobs(t)
	br := newBrowser(t, exe)
	ctx, must, shot, text := br.ctx, br.must, br.shot, br.text

	must("sign in", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "u-admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/profiles"]`))))
	must("fill the profile form", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/profiles"),
		chromedp.WaitVisible(chromedp.CSS("#p-name")),
		chromedp.SendKeys(chromedp.CSS("#p-name"), "sim"),
		chromedp.SendKeys(chromedp.CSS("#p-display"), "Simulated tenant"),
		chromedp.SendKeys(chromedp.CSS("#p-tenant"), info.TenantID),
		chromedp.SendKeys(chromedp.CSS("#p-client"), info.ClientID),
		chromedp.SendKeys(chromedp.CSS("#p-secret"), info.ClientSecret),
		chromedp.SendKeys(chromedp.CSS("#p-envs"), info.Environments[0].URL),
		chromedp.Click(chromedp.CSS("details summary")),
		chromedp.SendKeys(chromedp.CSS("#p-login"), info.LoginURL),
		chromedp.SendKeys(chromedp.CSS("#p-graph"), info.GraphURL),
		chromedp.SendKeys(chromedp.CSS("#p-ca"), info.CAFile)))
	shot("11-new-profile")
	must("create the profile", chromedp.Do(ctx,
		chromedp.Submit(chromedp.CSS("#p-name")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/profiles/sim/validate"] button`))))
	flash := text("p.flash")
	shot("12-profiles")
	must("validate", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/profiles/sim/validate"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#checks"))))
	verdict := text("p[role=status]")
	shot("13-validation")
	must("run now", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/profiles"),
		chromedp.Click(chromedp.CSS(`form[action="/profiles/sim/run"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/runs"][aria-current="page"]`))))
	var jobs string
	for range 100 {
		jobs = text("table tbody")
		if strings.Contains(jobs, "succeeded") || strings.Contains(jobs, "failed") {
			break
		}
		runner.Poke()
		time.Sleep(200 * time.Millisecond)
		must("reload runs", chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table tbody"))))
	}
	shot("14-runs")
	must("dashboard", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/"]`)),
		chromedp.WaitVisible(chromedp.CSS("svg.bar rect"))))
	dash := text("main")
	shot("15-dashboard")

	// The tenant's first Dynamics model, bought in too small a quantity.
	var sku, part string
	var used int
	rows := b.do(nil, "GET", "/api/v1/reports/usage?profile=sim", nil, bearer(b.token("viewer")))
	var usage []web.UsageRow
	rows.json(t, &usage)
	for _, u := range usage {
		if strings.HasPrefix(u.PartNumber, "DYN365") || strings.HasPrefix(u.PartNumber, "D365") {
			sku, part, used = u.SKUID, u.PartNumber, u.Total
			break
		}
	}
	if sku == "" {
		t.Fatalf("no Dynamics 365 model in the simulated tenant: %+v", usage)
	}
	start := time.Now().UTC().AddDate(0, -1, 0).Format("2006-01-02")
	end := time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")
	csvRows := "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n" +
		fmt.Sprintf("sim,%s,%d,9500,USD,%s,%s,annual", sku, used+5, start, end)
	must("import entitlements", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/entitlements"]`)),
		chromedp.WaitVisible(chromedp.CSS("#e-csv")),
		chromedp.SetValue(chromedp.CSS("#e-csv"), csvRows),
		chromedp.Click(chromedp.CSS(`form[action="/entitlements/import"] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash"))))
	imported := text("p.flash")
	shot("16-entitlements")
	must("position", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/position"]`)),
		chromedp.WaitVisible(chromedp.CSS("#positions")),
		chromedp.Click(chromedp.CSS("#positions details summary"))))
	position := text("#positions tbody")
	shot("17-position")

	if !strings.Contains(flash, "Profile sim created") {
		t.Errorf("after create: %q", flash)
	}
	if !strings.Contains(verdict, "Every check passed") {
		t.Errorf("validation verdict %q", verdict)
	}
	if !strings.Contains(jobs, "succeeded") || !strings.Contains(jobs, "manual") {
		t.Errorf("jobs table %.400q", jobs)
	}
	if !strings.Contains(dash, "Usage by software model") {
		t.Errorf("dashboard %.300q", dash)
	}
	if !strings.Contains(imported, "1 entitlement imported") {
		t.Errorf("import: %q", imported)
	}
	if !strings.Contains(position, part) || !strings.Contains(position, "compliant") || !strings.Contains(position, "available") {
		t.Errorf("position %.600q", position)
	}
}
