package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath returns Debian's Chromium, skipping the test visibly when it
// is absent (failing instead when CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed (apt-get install -y chromium chromium-driver); browser tests are required in CI")
	}
	t.Skip("SKIP: Chromium is not installed (apt-get install -y chromium chromium-driver); browser tests not run")
	return ""
}

// TestBrowserFirstSignIn walks the web UI in a real Chromium: first
// sign-in with the one-time password (keyboard only), the forced password
// change, the dashboard with its chart, the subscriptions table with a
// search, a sort and the CSV link, and the runs page. Screenshots of each
// page are kept in a directory whose path is logged.
func TestBrowserFirstSignIn(t *testing.T) {
	exe := chromiumPath(t)
	b := setup(t)
	seed(t, b.st, "contoso", 40)
	// The bundle has users already; give u-admin a one-time password as a
	// first start would.
	oneTime, err := b.auth.ResetPassword(t.Context(), "u-admin")
	if err != nil {
		t.Fatal(err)
	}
	br := newBrowser(t, exe)
	ctx, must, shot, text := br.ctx, br.must, br.shot, br.text

	must("open a page while signed out", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/subscriptions"),
		chromedp.WaitVisible(chromedp.CSS("#name"))))
	shot("01-sign-in")
	// Keyboard only: the name field has focus, Tab moves to the password.
	must("sign in with the keyboard", chromedp.Do(ctx,
		chromedp.KeyEvent("u-admin"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(oneTime),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#current"))))
	url, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	shot("02-change-password")
	must("change the one-time password", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#current"), oneTime),
		chromedp.SendKeys(chromedp.CSS("#new"), "a browser-set password"),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "a browser-set password"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("svg.bar"))))
	heading, dash := text("h1"), text("main")
	shot("03-dashboard")
	must("search subscriptions", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/subscriptions"]`)),
		chromedp.WaitVisible(chromedp.CSS("#f-q")),
		chromedp.SendKeys(chromedp.CSS("#f-q"), "user01"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`th a[href*="q=user01"]`))))
	must("sort by user", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`th a[href*="sort=upn"]`)),
		chromedp.WaitVisible(chromedp.CSS(`th a[href*="sort=upn"][href*="order=desc"]`))))
	table := text("table tbody")
	caption := text("table caption")
	csvHref, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("a.button[download]"), "href"))
	must("CSV link", err)
	shot("04-subscriptions")
	must("open runs", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/runs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/runs"][aria-current="page"]`))))
	runs := text("main")
	shot("05-runs")
	must("open profiles", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/profiles"]`)),
		chromedp.WaitVisible(chromedp.CSS("#p-name"))))
	shot("06-profiles")

	if !strings.Contains(caption, "15 shown") {
		t.Errorf("caption %q, want 15 subscriptions of user010–user019", caption)
	}
	if !strings.HasSuffix(url, "/password") {
		t.Errorf("after the one-time password the browser is at %s, want /password", url)
	}
	if heading != "Dashboard" || !strings.Contains(dash, "Usage by software model") || !strings.Contains(dash, "open subscriptions") {
		t.Errorf("dashboard: %q %.300q", heading, dash)
	}
	if !strings.Contains(table, "user019@contoso.com") || strings.Contains(table, "user020@") {
		t.Errorf("subscriptions table: %.300q", table)
	}
	if first := strings.Fields(table); len(first) == 0 || first[0] != "user010@contoso.com" {
		t.Errorf("sorted by user ascending, first row %.60q", table)
	}
	if !strings.HasPrefix(csvHref.Value, "/api/v1/subscriptions.csv?") || !strings.Contains(csvHref.Value, "q=user01") {
		t.Errorf("CSV link %q", csvHref.Value)
	}
	if !strings.Contains(runs, "succeeded") {
		t.Errorf("runs page: %.300q", runs)
	}
	for _, n := range []string{"01-sign-in", "03-dashboard", "04-subscriptions", "05-runs", "06-profiles"} {
		if st, err := os.Stat(filepath.Join(br.shots, n+".png")); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", n, err)
		}
	}
}

// browser is a headless Chromium driven by one test; its steps fail the
// test naming the directory of the screenshots taken so far.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string // directory of the screenshots (logged)
}

// must fails the test when the browser step failed.
func (br *browser) must(step string, err error) {
	br.t.Helper()
	if err != nil {
		br.t.Fatalf("browser: %s: %v (screenshots so far in %s)", step, err, br.shots)
	}
}

// shot saves a screenshot of the whole page as name.png.
func (br *browser) shot(name string) {
	br.t.Helper()
	buf, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
	br.must("screenshot "+name, err)
	br.must("save "+name, os.WriteFile(filepath.Join(br.shots, name+".png"), buf, 0o644))
}

// text returns the text of the element sel.
func (br *browser) text(sel chromedp.CSS) string {
	br.t.Helper()
	v, err := chromedp.Run(br.ctx, chromedp.Text(sel))
	br.must("text of "+string(sel), err)
	return v
}

// newBrowser starts a headless Chromium for the test; its screenshots are
// kept (as test artefacts) in $SEATWISE_SCREENSHOTS/<test name> when that
// variable is set, else in a new temporary directory; the path is logged.
func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	var shots string
	var err error
	if dir := os.Getenv("SEATWISE_SCREENSHOTS"); dir != "" {
		shots = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		err = os.MkdirAll(shots, 0o755)
	} else {
		shots, err = os.MkdirTemp("", "seatwise-screenshots-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots kept in %s", shots)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelT)
	return &browser{t: t, ctx: ctx, shots: shots}
}
