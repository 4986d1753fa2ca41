package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// TestSyncAll syncs every profile of a database at once: three tenants
// synced two at a time, a paused profile left alone, and a profile whose
// secret Microsoft rejects failing on its own while the others complete.
func TestSyncAll(t *testing.T) {
	e := newCLIEnv(t)
	srv, err := mscloud.Start(t.Context(), mscloud.Config{Seed: 41, Tenants: []mscloud.TenantConfig{
		{Options: tenant.Options{Seed: 41, Users: 80, Environments: 1}},
		{Options: tenant.Options{Seed: 42, Users: 60, Environments: 2}},
		{Options: tenant.Options{Seed: 43, Users: 70, Environments: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	add := func(name string, ti mscloud.TenantInfo, secret string) {
		secretFile := filepath.Join(e.dir, name+".secret")
		if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"profile", "add", name, "--tenant-id", ti.TenantID, "--client-id", ti.ClientID,
			"--client-secret-file", secretFile, "--login-url", info.LoginURL, "--graph-url", info.GraphURL, "--ca-file", info.CAFile}
		for _, env := range ti.Environments {
			args = append(args, "--environment", env.URL)
		}
		e.ok("", args...)
	}
	names := []string{"alpha", "beta", "gamma"}
	for i, ti := range info.Tenants {
		add(names[i], ti, ti.ClientSecret)
	}
	add("paused", info.Tenants[0], info.Tenants[0].ClientSecret)
	add("wrongsecret", info.Tenants[1], "not-the-secret")
	st, err := db.Open(context.Background(), e.vars["SEATWISE_DATABASE"])
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.ProfileByName(context.Background(), "paused")
	if err == nil {
		err = st.SetProfileState(context.Background(), p.ID, sam.ProfilePaused, "paused by the test")
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	now := srv.Tenants()[0].Now().Format(time.RFC3339Nano)
	out, errs, code := e.run("", "sync", "--all", "--parallel", "2", "--now", now)
	if code == 0 {
		t.Fatalf("sync --all succeeded with a rejected secret:\n%s", out)
	}
	if !strings.Contains(errs, "1 of 4 profiles failed to sync: wrongsecret") {
		t.Errorf("stderr does not name the failed profile:\n%s", errs)
	}
	sections := strings.Split(out, "== ")
	for _, name := range names {
		found := false
		for _, sec := range sections {
			if strings.HasPrefix(sec, name+"\n") {
				found = true
				if !strings.Contains(sec, "Subscriptions (run") || !strings.Contains(sec, "Activity (run") || strings.Contains(sec, "error:") {
					t.Errorf("profile %s did not sync:\n%s", name, sec)
				}
			}
		}
		if !found {
			t.Errorf("no summary for profile %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "== paused: paused, not synced") {
		t.Errorf("the paused profile is not reported as skipped:\n%s", out)
	}
	if !strings.Contains(out, "== wrongsecret\n") || !strings.Contains(out, "error:") {
		t.Errorf("the failed profile has no error line:\n%s", out)
	}
	// Usage errors.
	for _, args := range [][]string{{"sync"}, {"sync", "--all", "--profile", "alpha"}, {"sync", "--all", "--parallel", "0"}} {
		if _, _, code := e.run("", args...); code == 0 {
			t.Errorf("seatwise %s succeeded", strings.Join(args, " "))
		}
	}
}
