package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestProfileValidate(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 3, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 3, Users: 30, Environments: 1}}}})
	if err := srv.Tenant().SetAuditSettings(0, tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	out := e.ok("", "profile", "validate", "sim")
	for _, want := range []string{"Profile sim", "PASS  sign-in", "PASS  auditing", "WARN  reclamation-permission", "remedy: only if Seatwise should remove unused licences", "0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	if err := srv.Tenant().SetAuditSettings(0, tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: false, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run("", "profile", "validate", "sim", "--output", "json")
	if code != sam.ExitAuth {
		t.Fatalf("exit %d, want %d: %s", code, sam.ExitAuth, stderr)
	}
	if !strings.Contains(stderr, "1 check(s) failed") {
		t.Errorf("stderr: %s", stderr)
	}
	var rep connect.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	var failed []connect.Result
	for _, r := range rep.Results {
		if r.Status == connect.Fail {
			failed = append(failed, r)
		}
	}
	if len(failed) != 1 || failed[0].Check != connect.CheckUserAccessAudit || !strings.Contains(failed[0].Remedy, "Log access") ||
		failed[0].Environment != srv.Info().Environments[0].URL {
		t.Errorf("failed checks = %+v", failed)
	}

	stdout, _, code = e.run("", "profile", "validate", "sim", "--output", "csv")
	if code != sam.ExitAuth || !strings.HasPrefix(stdout, "check,environment,status,message,remedy\n") || !strings.Contains(stdout, "user-access-auditing,") {
		t.Errorf("csv (exit %d):\n%s", code, stdout)
	}
	if _, _, code := e.run("", "profile", "validate", "nope"); code != sam.ExitNotFound {
		t.Errorf("unknown profile: exit %d", code)
	}
}
