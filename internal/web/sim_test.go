package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	mstenant "github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/web"
)

// startSim starts the Microsoft simulator with one tenant of users users
// and one environment, generated from seed, and closes it when the test
// ends.
func startSim(t *testing.T, seed int64, users int) *mscloud.Server {
	t.Helper()
	sim, err := mscloud.Start(context.Background(), mscloud.Config{Seed: seed,
		Tenants: []mscloud.TenantConfig{{Options: mstenant.Options{Seed: seed, Users: users, Environments: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// setupWithJobs is setup with a running job runner (polling every 50 ms)
// as the server's job queue, returned too and stopped when the test ends.
func setupWithJobs(t *testing.T) (*bundle, *job.Runner) {
	t.Helper()
	var runner *job.Runner
	b := setup(t, func(c *web.Config) {
		r, err := job.New(t.Context(), job.Config{Store: c.Store, Keyring: c.Keyring, Logger: slog.New(slog.DiscardHandler),
			PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runner, c.Jobs = r, r
	})
	if err := runner.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runner.Stop(ctx)
	})
	return b, runner
}

// TestSimulatedTenant drives the API against the Microsoft simulator: create
// a profile, validate its connection, trigger a sync through the job queue,
// and find the tenant's subscriptions in the listing and the usage report.
func TestSimulatedTenant(t *testing.T) {
	sim := startSim(t, 11, 60)
	info := sim.Info()
	b, runner := setupWithJobs(t)
	hdr := bearer(b.token(auth.RoleSAMIntegrator))
	var envs []map[string]string
	for _, e := range info.Environments {
		envs = append(envs, map[string]string{"url": e.URL})
	}
	in := map[string]any{"name": "sim", "tenant_id": info.TenantID, "client_id": info.ClientID, "client_secret": info.ClientSecret,
		"login_url": info.LoginURL, "graph_url": info.GraphURL, "ca_file": info.CAFile, "environments": envs}
	if r := b.do(nil, "POST", "/api/v1/profiles", in, hdr); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var v web.ValidationJSON
	r := b.do(nil, "POST", "/api/v1/profiles/sim/validate", nil, hdr)
	if r.status != 200 {
		t.Fatalf("validate: %d %s", r.status, r.body)
	}
	r.json(t, &v)
	if v.Failed || len(v.Checks) < 5 {
		t.Fatalf("validation: %s", r.body)
	}
	if strings.Contains(string(r.body), info.ClientSecret) {
		t.Fatal("validation report holds the client secret")
	}

	// The web UI's Validate button shows the same checks.
	c := b.client()
	csrf := b.login(c, "u-sam_integrator", password)
	page := b.do(c, "POST", "/profiles/sim/validate", url.Values{"csrf": {csrf}}, map[string]string{"Accept": "text/html"})
	if page.status != 200 || !strings.Contains(string(page.body), "Every check passed") {
		t.Errorf("validate page: %d %.500s", page.status, page.body)
	}

	var trig web.RunTriggered
	r = b.do(nil, "POST", "/api/v1/profiles/sim/runs", nil, hdr)
	if r.status != 202 {
		t.Fatalf("trigger: %d %s", r.status, r.body)
	}
	r.json(t, &trig)
	var j web.JobJSON
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b.do(nil, "GET", fmt.Sprintf("/api/v1/jobs/%d", trig.JobID), nil, hdr).json(t, &j)
		if j.State != "available" && j.State != "running" {
			break
		}
		runner.Poke()
		time.Sleep(100 * time.Millisecond)
	}
	if j.State != "succeeded" || len(j.RunIDs) != 2 || len(j.Attempts) != 1 {
		t.Fatalf("job after sync: %+v", j)
	}
	truth, err := sim.Tenant().Truth(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, classes := range truth.Counts {
		for _, n := range classes {
			want += n
		}
	}
	var rows []web.UsageRow
	b.do(nil, "GET", "/api/v1/reports/usage?profile=sim", nil, hdr).json(t, &rows)
	got := 0
	for _, row := range rows {
		got += row.Total
	}
	if got != want || want == 0 {
		t.Errorf("usage report counts %d subscriptions, the tenant has %d", got, want)
	}
	var runs []web.RunJSON
	b.do(nil, "GET", "/api/v1/runs?profile=sim", nil, hdr).json(t, &runs)
	if len(runs) != 2 || runs[0].Status != "succeeded" || runs[1].Status != "succeeded" || runs[1].Requests == 0 {
		t.Errorf("runs %+v", runs)
	}
	m := b.do(nil, "GET", "/metrics", nil, hdr)
	for _, w := range []string{`seatwise_last_run_microsoft_requests{profile="sim",kind="subscriptions"}`, `seatwise_job_last_succeeded{kind="sync",state="succeeded"} 1`} {
		if !strings.Contains(string(m.body), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}
