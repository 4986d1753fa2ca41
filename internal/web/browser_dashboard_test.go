package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/seatwise/seatwise/internal/auth"
)

// TestBrowserDashboardCharts opens the dashboard of a profile with history
// (three activity runs) and an entitlement in a real Chromium: each chart is
// an accessible image (title and description), the figures are in tables
// too (the trend's behind a disclosure opened with the keyboard), and the
// savings say plainly that reclamation is not configured. Screenshots of the
// dashboard and the position page are kept.
func TestBrowserDashboardCharts(t *testing.T) {
	exe := chromiumPath(t)
	b := setup(t)
	p := seed(t, b.st, "contoso", 40)
	now := b.clock()
	for _, d := range []int{-14, -7, 0} {
		activityRun(t, b.st, p, now.AddDate(0, 0, d))
	}
	mgr := bearer(b.token(auth.RoleSAMManager))
	in := map[string]any{"profile": "contoso", "model": "DYN365_ENTERPRISE_SALES", "quantity": 30, "unit_cost": 9500,
		"currency": "EUR", "term_start": now.AddDate(0, -2, 0).Format("2006-01-02"), "term_end": now.AddDate(0, 3, 0).Format("2006-01-02")}
	if r := b.do(nil, "POST", "/api/v1/entitlements", in, mgr); r.status != 201 {
		t.Fatalf("entitlement: %d %s", r.status, r.body)
	}

	br := newBrowser(t, exe)
	ctx, must, shot, text := br.ctx, br.must, br.shot, br.text
	must("sign in", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "u-viewer"),
		chromedp.SendKeys(chromedp.CSS("#password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("svg#chart-trend"))))
	for _, id := range []string{"chart-trend", "chart-idle", "chart-compliance"} {
		must("chart "+id, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("svg#"+id))))
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("svg#"+id), "aria-labelledby"))
		must("aria-labelledby of "+id, err)
		if v.Value != id+"-title "+id+"-desc" {
			t.Errorf("%s is labelled by %q", id, v.Value)
		}
		role, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("svg#"+id), "role"))
		must("role of "+id, err)
		if role.Value != "img" {
			t.Errorf("%s role %q", id, role.Value)
		}
	}
	savings := text("#savings-status")
	compliance := text("#table-compliance")
	shot("01-dashboard")
	// The trend's data table opens from the keyboard.
	must("open the trend's table with the keyboard", chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS("#h-trend ~ details summary")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#table-trend"))))
	trend := text("#table-trend tbody")
	shot("02-dashboard-trend-table")
	must("open the position", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/position"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/position"][aria-current="page"]`))))
	shot("03-position")

	if !strings.Contains(savings, "reclamation not configured") {
		t.Errorf("savings status %q", savings)
	}
	if !strings.Contains(compliance, "Dynamics 365") || !strings.Contains(compliance, "not compliant") {
		t.Errorf("compliance table %q, want Dynamics 365 not compliant (40 used, 30 owned)", compliance)
	}
	for _, d := range []int{-14, -7, 0} {
		if day := now.AddDate(0, 0, d).Format("2006-01-02"); !strings.Contains(trend, day) {
			t.Errorf("trend table lacks %s: %q", day, trend)
		}
	}
	for _, n := range []string{"01-dashboard", "02-dashboard-trend-table", "03-position"} {
		if st, err := os.Stat(filepath.Join(br.shots, n+".png")); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", n, err)
		}
	}
}
