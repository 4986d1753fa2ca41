package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/recon"
)

// demoApp returns an App isolated from the process environment.
func demoApp(t *testing.T, stdout, stderr *lockedBuffer) *App {
	home := t.TempDir()
	return &App{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Env: func(k string) (string, bool) {
		if k == "HOME" {
			return home, true
		}
		return "", false
	}}
}

// TestDemoOnce runs the demo's pipeline on a small estate, twice in the
// same --data directory (the second run reuses its profiles, entitlements
// and admin), and checks the summary: both tenants synced, entitlements
// with renewals in the 30-day window, positions, and savings found.
func TestDemoOnce(t *testing.T) {
	data := t.TempDir()
	args := []string{"demo", "--once", "--users", "90", "--start", "2026-03-04T20:00:00Z", "--data", data}

	var out, errb lockedBuffer
	if code := demoApp(t, &out, &errb).Run(t.Context(), append(args, "--output", "json")); code != 0 {
		t.Fatalf("demo --once: exit %d\n%s", code, errb.String())
	}
	var sum DemoSummary
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if len(sum.Profiles) != 2 || sum.Profiles[0].Name != "contoso" || sum.Profiles[1].Name != "fabrikam" {
		t.Fatalf("profiles %+v, want contoso and fabrikam", sum.Profiles)
	}
	for i, want := range []int64{60, 30} {
		p := sum.Profiles[i]
		if p.Users != want || p.Subscriptions == 0 || p.AuditRows == 0 || p.Entitlements == 0 || p.ReconciliationRun == 0 {
			t.Errorf("profile %+v: want %d users read, subscriptions, audit rows, entitlements and a reconciliation run", p, want)
		}
	}
	soon := 0
	for _, r := range sum.Renewals {
		if r.Window == 30 {
			soon++
		}
	}
	if soon == 0 {
		t.Errorf("no renewal within 30 days: %+v", sum.Renewals)
	}
	if len(sum.Products) == 0 || len(sum.Usage) == 0 {
		t.Errorf("no positions (%d) or usage rows (%d)", len(sum.Products), len(sum.Usage))
	}
	reclaimed := 0
	for _, s := range sum.Savings {
		switch s.Source {
		case "reclamation":
			reclaimed += s.Users
		case "recommendations":
			if s.Kind == recon.RecommendRemove {
				t.Errorf("a leaver's removal counted as a recommendation besides reclamation: %+v", s)
			}
		default:
			t.Errorf("saving of unknown source: %+v", s)
		}
	}
	if len(sum.Totals) != 1 || sum.Totals[0].Currency != "USD" || sum.Totals[0].MonthlySaving <= 0 || reclaimed == 0 ||
		sum.Totals[0].Candidates != reclaimed || sum.Totals[0].YearlySaving != 12*sum.Totals[0].MonthlySaving {
		t.Errorf("savings %+v totals %+v: want USD savings of reclamation candidates", sum.Savings, sum.Totals)
	}
	// The usage found is each tenant's ground truth.
	for i, n := range []int{60, 30} {
		ten, err := tenant.Generate(tenant.Options{Users: n, Environments: 2 - i, Now: time.Date(2026, 3, 4, 20, 0, 0, 0, time.UTC),
			HistoryDays: demoHistoryDays, TenantIndex: i})
		if err != nil {
			t.Fatal(err)
		}
		truth, err := ten.Truth(time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var rows []UsageRow
		for _, r := range sum.Usage {
			if r.Profile == sum.Profiles[i].Name {
				rows = append(rows, r)
			}
		}
		checkUsageRows(t, rows, truth)
	}
	if !strings.Contains(errb.String(), "[1/5] Syncing contoso") || !strings.Contains(errb.String(), "[3/5] Evaluating reclamation rules") {
		t.Errorf("progress not shown:\n%s", errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "password") {
		t.Error("--once printed a password, though it starts no server")
	}

	// Again in the same directory: the table ends with the savings found,
	// the same as the first time.
	out, errb = lockedBuffer{}, lockedBuffer{}
	if code := demoApp(t, &out, &errb).Run(t.Context(), args); code != 0 {
		t.Fatalf("second demo --once: exit %d\n%s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^Savings found: [0-9]+\.[0-9]{2} USD per month \([0-9]+\.[0-9]{2} USD per year\) in [1-9][0-9]* unused licences to reclaim across 2 tenants`).MatchString(last) {
		t.Errorf("last line %q, want the savings found", last)
	}
	// The kept database works with the ordinary commands.
	e := newCLIEnv(t)
	e.vars["SEATWISE_DATABASE"] = "sqlite://" + filepath.Join(data, "seatwise.db")
	e.vars["SEATWISE_SECRET_KEY_FILE"] = filepath.Join(data, config.KeyFileName)
	delete(e.vars, "SEATWISE_SECRET_KEY")
	if out := e.ok("", "profile", "show", "fabrikam"); !strings.Contains(out, "connected") {
		t.Errorf("demo profile:\n%s", out)
	}
}

// TestDemoServes runs the demo's long-running mode: the server answers
// /healthz and the printed sign-in works, the simulated clock moves (a new
// day with a hire and a leaver), the daily sync schedule runs a job that
// succeeds and reclamation is evaluated after it, and cancelling stops everything and removes the temporary
// directory.
func TestDemoServes(t *testing.T) {
	var out, errb lockedBuffer
	a := demoApp(t, &out, &errb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- a.Run(ctx, []string{"demo", "--users", "60", "--day", "3s", "--start", "2026-03-04T22:00:00Z", "--listen", "127.0.0.1:0"})
	}()
	running := regexp.MustCompile(`Seatwise is running at (http://\S+)\n  sign in as admin, password (\S+)`)
	synced := regexp.MustCompile(`job \d+: sync of contoso \(schedule sync\) succeeded: subscriptions run \d+`)
	var base, pw string
	waitFor := func(what string, re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			select {
			case code := <-done:
				t.Fatalf("demo exited with %d before %s:\n%s\n%s", code, what, out.String(), errb.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Fatalf("no %s within 90s:\n%s\n%s", what, out.String(), errb.String())
		return nil
	}
	m := waitFor("URL and sign-in", running)
	base, pw = m[1], m[2]

	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Post(base+"/api/v1/session", "application/json", strings.NewReader(`{"name":"admin","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		User struct {
			Name               string `json:"name"`
			MustChangePassword bool   `json:"must_change_password"`
		} `json:"user"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || login.User.Name != "admin" || login.User.MustChangePassword {
		t.Fatalf("sign-in with the printed password: %d %+v", res.StatusCode, login)
	}

	waitFor("new simulated day", regexp.MustCompile(`simulated\]  a new simulated day\n.*contoso: hired New Hire 1 \(`))
	waitFor("scheduled sync", synced)
	waitFor("reclamation after the sync", regexp.MustCompile(`job \d+: sync of contoso \(schedule sync\) succeeded: .*reclamation: \d+ new candidates`))

	dbLine := regexp.MustCompile(`Database: sqlite://(\S+)/seatwise.db`).FindStringSubmatch(errb.String())
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited with %d after Ctrl-C:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of Ctrl-C")
	}
	if !strings.HasSuffix(out.String(), "Demo stopped.\n") {
		t.Errorf("output does not end with the stop: %q", out.String()[max(0, len(out.String())-300):])
	}
	if dbLine == nil {
		t.Fatalf("database path not shown:\n%s", errb.String())
	}
	if _, err := os.Stat(dbLine[1]); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s not removed: %v", dbLine[1], err)
	}
	if bytes.Contains([]byte(errb.String()), []byte(pw)) {
		t.Error("the admin password appears in the log")
	}
}
