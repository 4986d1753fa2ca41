package cli

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// allFaults is every fault the simulator injects, on every host at once:
// throttling (429 with Retry-After), 500s, 503s with Retry-After, dropped
// connections, cut and truncated bodies, and latency with jitter. Graph's
// Retry-After is 10 ms so that the suite stays fast (the client honours it
// as it would 2 s); Dataverse and login send whole seconds (1 s), so their
// 429 and 503 rates are lower.
func allFaults() mscloud.Faults {
	r := mscloud.FaultRates{Throttle: 0.04, ServerError: 0.02, Unavailable: 0.03, Drop: 0.02, Malformed: 0.015, Truncated: 0.015,
		RetryAfter: 0.01, Latency: mscloud.Duration(3 * time.Millisecond), Jitter: mscloud.Duration(3 * time.Millisecond)}
	// Next makes sure every fault happens at least once, whatever the rates
	// draw: three in a row at most, so that a request still succeeds
	// within the client's attempts.
	graph := r
	graph.Next = []string{mscloud.FaultDrop, mscloud.FaultMalformed, mscloud.FaultUnavailable}
	dv := r
	dv.Throttle, dv.Unavailable = 0.02, 0.01
	dv.Next = []string{mscloud.FaultTruncated, mscloud.FaultServerError, mscloud.FaultThrottle}
	login := mscloud.FaultRates{ServerError: r.ServerError, Drop: r.Drop, RetryAfter: r.RetryAfter, Latency: r.Latency, Jitter: r.Jitter,
		Next: []string{mscloud.FaultThrottle, mscloud.FaultUnavailable, mscloud.FaultDrop}}
	return mscloud.Faults{Login: login, Graph: graph, Dataverse: dv}
}

// faultCycleTenant is the tenant of TestAllFaultsAtOnce.
func faultCycleTenant() tenant.Options {
	return tenant.Options{Seed: 33, Users: 600, Environments: 2}
}

// mutateForDelta changes the tenant the same way in every run: a day
// passes, licences are removed and assigned, users are disabled, deleted and
// added, and users act in Dataverse and sign in.
func mutateForDelta(t *testing.T, ten *tenant.Tenant) {
	t.Helper()
	ten.Advance(24 * time.Hour)
	users, _, err := ten.UsersPage("", 1000, func(u *tenant.User) bool { return len(u.AssignedLicenses) > 0 })
	if err != nil || len(users) < 8 {
		t.Fatalf("licensed users: %d, %v", len(users), err)
	}
	now := ten.Now()
	if _, err := ten.AssignLicense(users[0].ID, nil, []string{users[0].AssignedLicenses[0].SKUID}); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.AssignLicense(users[1].ID, []tenant.AssignedLicense{{SKUID: users[0].AssignedLicenses[0].SKUID}}, nil); err != nil && !sam.IsCode(err, sam.ECONFLICT) && !sam.IsCode(err, sam.EINVALID) {
		t.Fatal(err)
	}
	if err := ten.DisableUser(users[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := ten.DeleteUser(users[3].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := ten.DeleteUser(users[4].ID, true); err != nil {
		t.Fatal(err)
	}
	nu, err := ten.AddUser(tenant.NewUser{ID: "0c0ffee0-0000-4000-8000-000000000033", DisplayName: "Added For Delta", AccountEnabled: true, UsageLocation: "US", Environments: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ten.AssignLicense(nu.ID, []tenant.AssignedLicense{{SKUID: users[5].AssignedLicenses[0].SKUID}}, nil); err != nil && !sam.IsCode(err, sam.EINVALID) {
		t.Fatal(err)
	}
	for i, u := range users[5:8] {
		ev := tenant.Event{Env: i % 2, At: now.Add(-time.Duration(i+1) * time.Hour), Operation: tenant.OperationAccess, Action: tenant.ActionUserAccessViaWeb}
		if err := ten.AddActivity(u.ID, ev); err != nil && !sam.IsCode(err, sam.EINVALID) && !sam.IsCode(err, sam.ENOTFOUND) {
			t.Fatal(err)
		}
		if err := ten.SetSignIn(u.ID, now.Add(-time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}

// runIDRE matches run ids and timestamps of when a command ran, which differ
// between two otherwise identical runs.
var runIDRE = regexp.MustCompile(`"(run|run_id|id|started_at|finished_at|computed_at|created_at)":\s*("[^"]*"|\d+)`)

// faultCycle runs a full sync, a delta sync after mutateForDelta, entitlement
// suggestions and a reconciliation on a fresh database against a simulator
// with cfg, and returns the reports. A sync or reconciliation that fails
// (faults beyond the retry budget) is run again, as an operator or the job
// queue would: it resumes.
func faultCycle(t *testing.T, cfg mscloud.Config) (reports map[string]string, srv *mscloud.Server, retries int) {
	e := newCLIEnv(t)
	srv = simProfile(t, e, cfg)
	ten := srv.Tenant()
	for i := range ten.Environments() {
		if err := ten.SetAuditSettings(i, tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}); err != nil {
			t.Fatal(err)
		}
	}
	again := func(args ...string) string {
		t.Helper()
		for attempt := 1; ; attempt++ {
			out, errs, code := e.run("", args...)
			if code == 0 {
				return out
			}
			if code != sam.ExitUnavailable || attempt == 6 {
				t.Fatalf("seatwise %s: exit %d after %d attempts\n%s", strings.Join(args, " "), code, attempt, errs)
			}
			retries++
		}
	}
	again("sync", "--profile", "sim", "--now", ten.Now().Format(time.RFC3339Nano))
	mutateForDelta(t, ten)
	now := ten.Now()
	listed := srv.Counters().Requests["graph GET /users"]
	again("sync", "--profile", "sim", "--now", now.Format(time.RFC3339Nano))
	if srv.Counters().Requests["graph GET /users"] != listed || srv.Counters().Requests["graph GET /users/delta"] == 0 {
		t.Fatalf("the second sync was not a delta sync: %v", srv.Counters().Requests)
	}
	day := now.UTC().Format(time.DateOnly)
	e.ok("", "entitlements", "suggest", "--accept", "--as-of", day, "--currency", "EUR", "-o", "json")
	reports = map[string]string{
		"reconcile": again("reconcile", "--profile", "sim", "--as-of", day, "-o", "json"),
		"usage":     e.ok("", "report", "usage", "-o", "json"),
		"position":  e.ok("", "report", "position", "--as-of", day, "-o", "json"),
		"savings":   e.ok("", "report", "savings", "--as-of", day, "-o", "json"),
	}
	for k, v := range reports {
		if !json.Valid([]byte(v)) || len(v) < 20 {
			t.Fatalf("%s report: %q", k, v)
		}
		reports[k] = runIDRE.ReplaceAllString(v, `"$1":_`)
	}
	return reports, srv, retries
}

// TestAllFaultsAtOnce runs the same sync, delta sync and reconciliation
// against a fault-free simulator and against one injecting every fault at
// once (throttling, 500s, 503s, dropped connections, cut and truncated
// bodies, latency, Dataverse service-protection limits (2 requests at once,
// 2 a second), and access tokens living 1 s), and requires identical
// reports. It takes 10 to 20 s, mostly the waits of the real retry policy:
// Retry-After, and backoff (500 ms base, full jitter) after faults that
// carry none.
// SEATWISE_RESILIENCE_USERS sets the tenant size (default 600).
func TestAllFaultsAtOnce(t *testing.T) {
	opts := faultCycleTenant()
	if n := os.Getenv("SEATWISE_RESILIENCE_USERS"); n != "" {
		var users int
		if err := json.Unmarshal([]byte(n), &users); err != nil || users < 10 {
			t.Fatalf("SEATWISE_RESILIENCE_USERS=%q: want a number >= 10", n)
		}
		opts.Users = users
	}
	clean, cleanSrv, _ := faultCycle(t, mscloud.Config{Seed: 33, Tenants: []mscloud.TenantConfig{{Options: opts}}})
	faulty, srv, retries := faultCycle(t, mscloud.Config{Seed: 33, Tenants: []mscloud.TenantConfig{{Options: opts}},
		Faults: allFaults(), TokenLifetime: time.Second,
		Limits: mscloud.Limits{DataverseConcurrent: 2, DataverseRequests: 2, DataverseWindow: mscloud.Duration(time.Second)}})
	for k, want := range clean {
		if got := faulty[k]; got != want {
			t.Errorf("%s report differs under faults:\nfault-free: %s\nfaults:     %s", k, want, got)
		}
	}
	c := srv.Counters()
	var injected int64
	for _, n := range c.Faults {
		injected += n
	}
	t.Logf("faults injected %v, throttles %v, enforced %v, commands run again %d", c.Faults, c.Throttles, c.Enforced, retries)
	var enforced int64
	for _, n := range c.Enforced {
		enforced += n
	}
	if enforced == 0 {
		t.Error("no Dataverse service-protection limit enforced: the test proves nothing about them")
	}
	for _, f := range []string{mscloud.FaultThrottle, mscloud.FaultUnavailable, mscloud.FaultDrop} {
		if c.Faults["login "+f] == 0 {
			t.Errorf("no login %s fault injected: the test proves nothing about it", f)
		}
	}
	for _, f := range []string{mscloud.FaultThrottle, mscloud.FaultUnavailable, mscloud.FaultDrop, mscloud.FaultServerError, mscloud.FaultMalformed, mscloud.FaultTruncated} {
		if c.Faults["graph "+f]+c.Faults["dataverse "+f] == 0 {
			t.Errorf("no %s fault injected: the test proves nothing about it", f)
		}
	}
	// Tokens living 1 s are fetched again within commands: more token
	// requests than the fault-free run, beyond those the faults cost.
	const tokenRoute = "login POST /{tenant}/oauth2/v2.0/token"
	var loginFaults int64
	for k, n := range c.Faults {
		if strings.HasPrefix(k, "login ") {
			loginFaults += n
		}
	}
	if got, base := c.Requests[tokenRoute]-loginFaults, cleanSrv.Counters().Requests[tokenRoute]; got <= base {
		t.Errorf("%d token requests beyond faults, %d without faults: short token lifetimes not exercised", got, base)
	}
}
