package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
)

// cliEnv is a database and a secret key in a temporary directory.
type cliEnv struct {
	t    *testing.T
	dir  string
	vars map[string]string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, dir: dir, vars: map[string]string{
		"HOME":                dir,
		"SEATWISE_DATABASE":   "sqlite://" + filepath.Join(dir, "seatwise.db"),
		"SEATWISE_SECRET_KEY": secret.EncodeKey(key),
	}}
}

// run runs the command line in-process with stdin and returns its outputs
// and exit code.
func (e *cliEnv) run(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	a := &App{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Env: func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok }}
	code = a.Run(context.Background(), args)
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (e *cliEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("seatwise %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

const testSecret = "s3cr3t-value-never-shown"

func TestProfileCommands(t *testing.T) {
	e := newCLIEnv(t)
	tid, cid := "11111111-2222-3333-4444-555555555555", "AAAAAAAA-2222-3333-4444-555555555555"
	add := []string{"profile", "add", "contoso", "--tenant-id", tid, "--client-id", cid, "--client-secret-file", "-",
		"--environment", "https://contoso.crm.dynamics.com/", "--environment", "https://contoso-test.crm4.dynamics.com",
		"--analyze-from", "2025-10-01", "--display-name", "Contoso"}
	var all bytes.Buffer
	all.WriteString(e.ok(testSecret+"\n", add...))

	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"duplicate name", testSecret, add, sam.ExitConflict},
		{"bad name", testSecret, []string{"profile", "add", "Bad Name", "--tenant-id", tid, "--client-id", cid, "--client-secret-file", "-"}, sam.ExitUsage},
		{"bad tenant", testSecret, []string{"profile", "add", "x", "--tenant-id", "contoso", "--client-id", cid, "--client-secret-file", "-"}, sam.ExitUsage},
		{"empty secret", "\n", []string{"profile", "add", "x", "--tenant-id", tid, "--client-id", cid, "--client-secret-file", "-"}, sam.ExitUsage},
		{"missing secret flag", "", []string{"profile", "add", "x", "--tenant-id", tid, "--client-id", cid}, sam.ExitUsage},
		{"http environment", testSecret, []string{"profile", "add", "x", "--tenant-id", tid, "--client-id", cid, "--client-secret-file", "-", "--environment", "http://contoso.crm.dynamics.com"}, sam.ExitUsage},
		{"bad date", testSecret, []string{"profile", "add", "x", "--tenant-id", tid, "--client-id", cid, "--client-secret-file", "-", "--analyze-from", "01/10/2025"}, sam.ExitUsage},
		{"show unknown", "", []string{"profile", "show", "nope"}, sam.ExitNotFound},
		{"delete not confirmed", "no\n", []string{"profile", "delete", "contoso"}, sam.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := e.run(tt.stdin, tt.args...)
			all.WriteString(out + errs)
			if code != tt.code {
				t.Errorf("exit %d, want %d (%s)", code, tt.code, errs)
			}
		})
	}

	var shown ProfileJSON
	out := e.ok("", "profile", "show", "contoso", "--output", "json")
	all.WriteString(out)
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show json: %v\n%s", err, out)
	}
	if shown.TenantID != tid || shown.ClientID != strings.ToLower(cid) || shown.DisplayName != "Contoso" || shown.AnalyzeFrom != "2025-10-01" ||
		len(shown.Environments) != 2 || shown.Environments[0].URL != "https://contoso.crm.dynamics.com" || shown.State != sam.ProfileDraft {
		t.Errorf("show = %+v", shown)
	}
	out = e.ok("", "profile", "show", "contoso")
	all.WriteString(out)
	if !strings.Contains(out, "stored (encrypted)") {
		t.Errorf("table show does not say the secret is stored:\n%s", out)
	}

	all.WriteString(e.ok("other-secret", "profile", "edit", "contoso", "--display-name", "Contoso Ltd",
		"--environment", "https://contoso.crm.dynamics.com", "--client-secret-file", "-"))
	var list []ProfileJSON
	out = e.ok("", "profile", "list", "--output", "json")
	all.WriteString(out)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].DisplayName != "Contoso Ltd" || len(list[0].Environments) != 1 || list[0].AnalyzeFrom != "2025-10-01" {
		t.Errorf("list after edit = %+v", list)
	}
	all.WriteString(e.ok("contoso\n", "profile", "delete", "contoso"))
	if _, _, code := e.run("", "profile", "show", "contoso"); code != sam.ExitNotFound {
		t.Errorf("show after delete: exit %d", code)
	}
	all.WriteString(e.ok("", "profile", "list"))

	for _, s := range []string{testSecret, "other-secret"} {
		if strings.Contains(all.String(), s) {
			t.Errorf("output shows the secret %q", s)
		}
	}
	dbBytes, err := os.ReadFile(filepath.Join(e.dir, "seatwise.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dbBytes, []byte(testSecret)) {
		t.Error("the database holds the secret in plain text")
	}
}

// simProfile starts a simulator and adds a profile "sim" for its tenant.
func simProfile(t *testing.T, e *cliEnv, cfg mscloud.Config) *mscloud.Server {
	t.Helper()
	srv, err := mscloud.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	secretFile := filepath.Join(e.dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(info.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"profile", "add", "sim", "--tenant-id", info.TenantID, "--client-id", info.ClientID,
		"--client-secret-file", secretFile, "--login-url", info.LoginURL, "--graph-url", info.GraphURL, "--ca-file", info.CAFile}
	for _, env := range info.Environments {
		args = append(args, "--environment", env.URL)
	}
	e.ok("", args...)
	return srv
}

// checkUsageRows compares usage report rows with the tenant's ground truth.
func checkUsageRows(t *testing.T, rows []UsageRow, truth tenant.Truth) {
	t.Helper()
	if len(truth.Counts) == 0 {
		t.Fatal("the ground truth has no subscriptions")
	}
	if len(rows) != len(truth.Counts) {
		t.Errorf("%d report rows, truth has %d SKUs", len(rows), len(truth.Counts))
	}
	for _, r := range rows {
		want, ok := truth.Counts[r.SKUID]
		if !ok {
			t.Errorf("report row for SKU %s (%s) not in the truth", r.SKUID, r.PartNumber)
			continue
		}
		total := 0
		for _, c := range sam.UsageClasses {
			total += want[c]
			if r.Count(c) != want[c] {
				t.Errorf("%s %s: %d, want %d", r.PartNumber, c, r.Count(c), want[c])
			}
		}
		if r.Assigned != total {
			t.Errorf("%s assigned %d, want %d", r.PartNumber, r.Assigned, total)
		}
	}
}

// TestSyncAndReports syncs simulated tenants (generated, and the scenario
// files of package ingest with exact cases) through the command line and
// checks both reports against the ground truth, user by user.
func TestSyncAndReports(t *testing.T) {
	tests := []struct {
		name string
		cfg  mscloud.Config
	}{
		{"generated", mscloud.Config{Seed: 21, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 21, Users: 600, Environments: 2}}}}},
		{"scenario complete", mscloud.Config{Tenants: []mscloud.TenantConfig{{Scenario: "../ingest/testdata/scenario-complete.json"}}}},
		{"scenario gaps", mscloud.Config{Tenants: []mscloud.TenantConfig{{Scenario: "../ingest/testdata/scenario-gaps.json"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { syncAndReport(t, tt.cfg) })
	}
}

func syncAndReport(t *testing.T, cfg mscloud.Config) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, cfg)
	ten := srv.Tenant()
	now := ten.Now().Format(time.RFC3339Nano)
	out := e.ok("", "sync", "--profile", "sim", "--now", now)
	if !strings.Contains(out, "Subscriptions (run") || !strings.Contains(out, "Activity (run") || !strings.Contains(out, "requests") {
		t.Errorf("sync summary:\n%s", out)
	}
	truth, err := ten.Truth(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows []UsageRow
	out = e.ok("", "report", "usage", "--profile", "sim", "--output", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("usage json: %v\n%s", err, out)
	}
	checkUsageRows(t, rows, truth)

	csvOut := e.ok("", "report", "usage", "--output", "csv")
	recs, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil || len(recs) != len(rows)+1 || strings.Join(recs[0], ",") != strings.Join(usageColumns, ",") {
		t.Errorf("usage csv (%v):\n%s", err, csvOut)
	}
	table := e.ok("", "report", "usage")
	if !strings.Contains(table, "NEVER ACTIVE") || strings.Count(table, "\n") != len(rows)+1 {
		t.Errorf("usage table:\n%s", table)
	}

	// Every subscription of every SKU, by user.
	type want struct {
		u tenant.UserTruth
		s tenant.SubscriptionTruth
	}
	bySKU := map[string]map[string]want{}
	for _, u := range truth.Users {
		for _, s := range u.Subscriptions {
			if bySKU[s.SKUID] == nil {
				bySKU[s.SKUID] = map[string]want{}
			}
			bySKU[s.SKUID][u.UserID] = want{u, s}
		}
	}
	for sku, users := range bySKU {
		var got []UserRow
		out := e.ok("", "report", "users", "--model", sku, "--profile", "sim", "--output", "json")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("users json: %v", err)
		}
		if len(got) != len(users) {
			t.Errorf("SKU %s: %d users listed, want %d", sku, len(got), len(users))
		}
		for _, r := range got {
			w, ok := users[r.UserID]
			if !ok {
				t.Errorf("SKU %s: user %s listed but holds no subscription", sku, r.UPN)
				continue
			}
			lastOK := (r.LastActivity == nil) == (w.s.LastActivity == nil) && (r.LastActivity == nil || r.LastActivity.Equal(*w.s.LastActivity))
			if !lastOK || r.LastActivitySource != string(w.s.LastActivitySource) || r.UsageClass != w.s.Class ||
				r.ActiveDays30 != w.s.ActiveDays30 || r.ActiveDays90 != w.s.ActiveDays90 || r.AssignedByGroup != w.s.AssignedByGroup ||
				r.AccountEnabled != w.u.AccountEnabled || r.UPN != w.u.UPN {
				t.Errorf("SKU %s user %s (%s): got %+v, want %+v", sku, w.u.UPN, w.u.Pattern, r, w.s)
			}
		}
	}
	if _, errs, code := e.run("", "report", "users", "--model", "NO_SUCH_SKU"); code != sam.ExitNotFound {
		t.Errorf("unknown model: exit %d %s", code, errs)
	}
	if _, _, code := e.run("", "sync", "--profile", "nope"); code != sam.ExitNotFound {
		t.Errorf("sync of an unknown profile: exit %d", code)
	}
}

// TestSyncRejectedSecret: a wrong secret fails the sync with the
// authentication exit code and puts the profile in needs_reauth; a new
// secret and a sync connect it again.
func TestSyncRejectedSecret(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 8, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 8, Users: 50, Environments: 1}}}})
	now := srv.Tenant().Now().Format(time.RFC3339)
	e.ok("wrong-secret", "profile", "edit", "sim", "--client-secret-file", "-")
	out, errs, code := e.run("", "sync", "--profile", "sim", "--now", now)
	if code != sam.ExitAuth || strings.Contains(out+errs, "wrong-secret") {
		t.Errorf("sync with a wrong secret: exit %d, want %d\n%s%s", code, sam.ExitAuth, out, errs)
	}
	var p ProfileJSON
	if err := json.Unmarshal([]byte(e.ok("", "profile", "show", "sim", "--output", "json")), &p); err != nil {
		t.Fatal(err)
	}
	if p.State != sam.ProfileNeedsReauth || !strings.Contains(p.StateMessage, "profile edit sim") {
		t.Errorf("state %s %q, want needs_reauth telling how to fix it", p.State, p.StateMessage)
	}
	e.ok(srv.Info().ClientSecret, "profile", "edit", "sim", "--client-secret-file", "-")
	e.ok("", "sync", "--profile", "sim", "--now", now)
	if err := json.Unmarshal([]byte(e.ok("", "profile", "show", "sim", "--output", "json")), &p); err != nil {
		t.Fatal(err)
	}
	if p.State != sam.ProfileConnected || p.LastActivitySync == nil {
		t.Errorf("after a new secret: state %s, last activity sync %v", p.State, p.LastActivitySync)
	}
}
