package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// TestSeveralTenantsAndEnvironments syncs two simulated tenants, one with
// two Dataverse environments and one with one, into one database through
// two profiles, and checks the reports per profile and across all profiles
// against each tenant's ground truth, user by user (a user's activity is
// merged across the environments of its tenant).
func TestSeveralTenantsAndEnvironments(t *testing.T) {
	e := newCLIEnv(t)
	srv, err := mscloud.Start(t.Context(), mscloud.Config{Seed: 31, Tenants: []mscloud.TenantConfig{
		{Options: tenant.Options{Seed: 31, Users: 300, Environments: 2}},
		{Options: tenant.Options{Seed: 32, Users: 200, Environments: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	if len(info.Tenants) != 2 || len(info.Tenants[0].Environments)+len(info.Tenants[1].Environments) != 3 {
		t.Fatalf("simulator tenants: %+v", info.Tenants)
	}
	names := []string{"alpha", "beta"}
	truths := map[string]tenant.Truth{}
	for i, ti := range info.Tenants {
		secretFile := filepath.Join(e.dir, names[i]+".secret")
		if err := os.WriteFile(secretFile, []byte(ti.ClientSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"profile", "add", names[i], "--tenant-id", ti.TenantID, "--client-id", ti.ClientID,
			"--client-secret-file", secretFile, "--login-url", info.LoginURL, "--graph-url", info.GraphURL, "--ca-file", info.CAFile}
		for _, env := range ti.Environments {
			args = append(args, "--environment", env.URL)
		}
		e.ok("", args...)
		ten := srv.Tenants()[i]
		e.ok("", "sync", "--profile", names[i], "--now", ten.Now().Format(time.RFC3339Nano))
		tr, err := ten.Truth(time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		truths[names[i]] = tr
	}

	// The test covers merging: some licensed user of alpha has evidence in
	// both of its environments.
	merged := false
	ten0 := srv.Tenants()[0]
	for _, u := range truths["alpha"].Users {
		if len(u.Subscriptions) == 0 {
			continue
		}
		ut, err := ten0.UserTruth(u.UserID, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		envs := map[int]bool{}
		for _, ev := range ut.Evidence {
			if ev.Env >= 0 {
				envs[ev.Env] = true
			}
		}
		if envs[0] && envs[1] {
			merged = true
			break
		}
	}
	if !merged {
		t.Error("no licensed user of the first tenant is active in both environments: the test does not cover merging")
	}

	usage := func(args ...string) map[string][]UsageRow {
		t.Helper()
		var rows []UsageRow
		out := e.ok("", append([]string{"report", "usage", "--output", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("usage json: %v\n%s", err, out)
		}
		by := map[string][]UsageRow{}
		for _, r := range rows {
			by[r.Profile] = append(by[r.Profile], r)
		}
		return by
	}
	// Per profile.
	for _, name := range names {
		by := usage("--profile", name)
		if len(by) != 1 || len(by[name]) == 0 {
			t.Errorf("report of profile %s has rows of %d profiles", name, len(by))
		}
		checkUsageRows(t, by[name], truths[name])
	}
	// Across all profiles: each profile's rows, against its own tenant.
	all := usage()
	if len(all) != 2 {
		t.Errorf("report across profiles has %d profiles", len(all))
	}
	for _, name := range names {
		checkUsageRows(t, all[name], truths[name])
	}

	// Users of every SKU across all profiles, each against its tenant.
	type want struct {
		u tenant.UserTruth
		s tenant.SubscriptionTruth
	}
	expect := map[string]map[string]want{} // sku -> profile/user -> truth
	for name, tr := range truths {
		for _, u := range tr.Users {
			for _, s := range u.Subscriptions {
				if expect[s.SKUID] == nil {
					expect[s.SKUID] = map[string]want{}
				}
				expect[s.SKUID][name+"/"+u.UserID] = want{u, s}
			}
		}
	}
	profilesOfSKU := 0
	for sku, users := range expect {
		var got []UserRow
		out := e.ok("", "report", "users", "--model", sku, "--output", "json")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("users json: %v", err)
		}
		if len(got) != len(users) {
			t.Errorf("SKU %s: %d users listed across profiles, want %d", sku, len(got), len(users))
		}
		seen := map[string]bool{}
		for _, r := range got {
			seen[r.Profile] = true
			w, ok := users[r.Profile+"/"+r.UserID]
			if !ok {
				t.Errorf("SKU %s: user %s of %s listed but holds no subscription there", sku, r.UPN, r.Profile)
				continue
			}
			lastOK := (r.LastActivity == nil) == (w.s.LastActivity == nil) && (r.LastActivity == nil || r.LastActivity.Equal(*w.s.LastActivity))
			if !lastOK || r.LastActivitySource != string(w.s.LastActivitySource) || r.UsageClass != w.s.Class ||
				r.ActiveDays30 != w.s.ActiveDays30 || r.ActiveDays90 != w.s.ActiveDays90 || r.UPN != w.u.UPN {
				t.Errorf("SKU %s %s user %s (%s): got %+v, want %+v", sku, r.Profile, w.u.UPN, w.u.Pattern, r, w.s)
			}
		}
		if len(seen) == 2 {
			profilesOfSKU++
		}
	}
	if profilesOfSKU == 0 {
		t.Error("no SKU is held in both tenants: the report across profiles is not exercised")
	}
	if out := e.ok("", "profile", "list"); !strings.Contains(out, "alpha") || !strings.Contains(out, "beta") {
		t.Errorf("profile list:\n%s", out)
	}
}
