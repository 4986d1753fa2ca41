package cli

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// dashboardPNG is where TestDemoDashboard saves its screenshot: the README's
// is made with
//
//	go test ./internal/cli -run TestDemoDashboard -dashboard-png ../../docs/images/dashboard.png
var dashboardPNG = flag.String("dashboard-png", "", "TestDemoDashboard writes the dashboard's screenshot (PNG) to this file")

// TestDemoDashboard signs in to the demo's server in a real Chromium with
// the sign-in the demo prints and checks the dashboard of the demo estate:
// both tenants' models with their usage bars. The screenshot is checked to
// be a PNG small enough for the README.
func TestDemoDashboard(t *testing.T) {
	exe := ""
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if p, err := exec.LookPath("chromium"); err == nil {
			exe = p
		} else if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed (apt-get install -y chromium); browser tests are required in CI")
		} else {
			t.Skip("SKIP: Chromium is not installed (apt-get install -y chromium); browser test not run")
		}
	}
	var out, errb lockedBuffer
	a := demoApp(t, &out, &errb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	users := "600"
	if *dashboardPNG != "" {
		users = "3000" // the demo's default: the README shows what a user sees
	}
	go func() {
		done <- a.Run(ctx, []string{"demo", "--users", users, "--day", "24h", "--start", "2026-03-04T09:00:00Z", "--listen", "127.0.0.1:0"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30s")
		}
	})
	running := regexp.MustCompile(`Seatwise is running at (http://\S+)\n  sign in as admin, password (\S+)`)
	var m []string
	for deadline := time.Now().Add(90 * time.Second); m == nil; {
		if m = running.FindStringSubmatch(out.String()); m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no URL within 90s:\n%s\n%s", out.String(), errb.String())
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d:\n%s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	base, pw := m[1], m[2]

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1024), chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("svg.bar")),
	); err != nil {
		t.Fatalf("sign in and open the dashboard: %v\n%s", err, errb.String())
	}
	heading, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	main, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if heading != "Dashboard" || !strings.Contains(main, "Dynamics 365 for Sales Enterprise Edition") || !strings.Contains(main, "Usage by software model") {
		t.Errorf("dashboard: %q %.400q", heading, main)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || len(shot) > 300<<10 {
		t.Errorf("screenshot %dx%d, %d bytes: want at least 1000 pixels wide and under 300 KB", b.Dx(), b.Dy(), len(shot))
	}
	if *dashboardPNG != "" {
		if err := os.WriteFile(*dashboardPNG, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("dashboard screenshot written to %s (%d bytes)", *dashboardPNG, len(shot))
	}
}
