package connect_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// simulator starts a simulator with one small generated tenant per entry
// of envs (its number of environments).
func simulator(t *testing.T, envs ...int) *mscloud.Server {
	t.Helper()
	cfg := mscloud.Config{Seed: 5}
	for _, n := range envs {
		cfg.Tenants = append(cfg.Tenants, mscloud.TenantConfig{Options: tenant.Options{Seed: 5, Users: 40, Environments: n}})
	}
	srv, err := mscloud.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// simProfile is a profile of the simulator's i-th tenant with all its
// environments.
func simProfile(srv *mscloud.Server, i int, name string) *sam.Profile {
	info := srv.Info()
	ti := info.Tenants[i]
	p := &sam.Profile{Name: name, TenantID: ti.TenantID, ClientID: ti.ClientID, AuthMode: sam.AuthClientSecret,
		LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile, State: sam.ProfileDraft}
	for _, e := range ti.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	return p
}

func find(rep *connect.Report, check string) (connect.Result, bool) {
	i := slices.IndexFunc(rep.Results, func(r connect.Result) bool { return r.Check == check })
	if i < 0 {
		return connect.Result{}, false
	}
	return rep.Results[i], true
}

func TestValidateRemedies(t *testing.T) {
	srv := simulator(t, 1)
	ten := srv.Tenant()
	info := srv.Info()
	tid := info.TenantID
	p := simProfile(srv, 0, "contoso")
	validate := func(t *testing.T, secret string) *connect.Report {
		t.Helper()
		cred, err := connect.NewAppOnly(p, secret, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := connect.Validate(context.Background(), p, cred, connect.ValidateOptions{HTTPClient: srv.Client(), Now: ten.Now})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Results {
			t.Logf("%-24s %-4s %s | %s", r.Check, r.Status, r.Message, r.Remedy)
			if strings.Contains(r.Message+r.Remedy, info.ClientSecret) {
				t.Errorf("check %s shows the client secret", r.Check)
			}
		}
		return rep
	}
	defaultRoles := srv.Tenant().App().GraphPermissions
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(defaultRoles), func(r string) bool { return slices.Contains(drop, r) })
	}
	setRoles := func(roles []string) func() {
		return func() { srv.UpdateApp(tid, func(a *mscloud.App) { a.GraphRoles = roles }) }
	}
	healthy := tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}
	audit := func(s tenant.AuditSettings) func() {
		return func() {
			if err := ten.SetAuditSettings(0, s); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("healthy", func(t *testing.T) {
		audit(healthy)()
		rep := validate(t, info.ClientSecret)
		// The generated app holds the read permissions only: the one
		// warning says that reclamation cannot write.
		if rep.Failed() || rep.Count(connect.Warn) != 1 {
			t.Errorf("healthy read-only connection: %d failed, %d warnings", rep.Count(connect.Fail), rep.Count(connect.Warn))
		}
		for _, c := range []string{connect.CheckSignIn, connect.CheckGraphConsent, connect.CheckGraphLicences, connect.CheckGraphUsers,
			connect.CheckGraphSignIns, connect.CheckDataverseUser, connect.CheckDataverseAudit,
			connect.CheckAuditing, connect.CheckUserAccessAudit, connect.CheckAuditRetention} {
			if r, ok := find(rep, c); !ok || r.Status != connect.Pass {
				t.Errorf("check %s = %+v, want pass", c, r)
			}
		}
	})

	tests := []struct {
		name    string
		secret  string
		provoke func()
		restore func()
		check   string
		status  connect.Status
		remedy  []string // substrings of the remedy
		message []string // substrings of the message
	}{
		{name: "bad client secret", secret: "not-the-secret", check: connect.CheckSignIn, status: connect.Fail,
			message: []string{"client secret is wrong"}, remedy: []string{"Value (not its Secret ID)", "Certificates & secrets", "seatwise profile edit contoso --client-secret-file"}},
		{name: "expired client secret", provoke: func() {
			srv.UpdateApp(tid, func(a *mscloud.App) { a.SecretExpires = ten.Now().Add(-time.Hour) })
		}, restore: func() { srv.UpdateApp(tid, func(a *mscloud.App) { a.SecretExpires = time.Time{} }) },
			check: connect.CheckSignIn, status: connect.Fail, message: []string{"expired"}, remedy: []string{"create a new client secret"}},
		{name: "admin consent missing", provoke: setRoles(nil), restore: setRoles(defaultRoles),
			check: connect.CheckGraphConsent, status: connect.Fail, message: []string{"no Microsoft Graph permission"},
			remedy: []string{"admin consent is missing", "Grant admin consent", "LicenseAssignment.Read.All"}},
		{name: "licence read permission missing", provoke: setRoles(without("LicenseAssignment.Read.All", "Organization.Read.All")), restore: setRoles(defaultRoles),
			check: connect.CheckGraphLicences, status: connect.Fail, message: []string{"Graph permission LicenseAssignment.Read.All is missing"},
			remedy: []string{"application permission LicenseAssignment.Read.All", "Grant admin consent"}},
		{name: "user read permission missing", provoke: setRoles(without("User.Read.All", "User.ReadWrite.All")), restore: setRoles(defaultRoles),
			check: connect.CheckGraphUsers, status: connect.Fail, message: []string{"Graph permission User.Read.All is missing"},
			remedy: []string{"permission User.Read.All"}},
		{name: "sign-in activity permission missing", provoke: setRoles(without("AuditLog.Read.All")), restore: setRoles(defaultRoles),
			check: connect.CheckGraphSignIns, status: connect.Warn, message: []string{"sign-in activity cannot be read"},
			remedy: []string{"AuditLog.Read.All"}},
		{name: "no write permission", check: connect.CheckWritePermission, status: connect.Warn,
			message: []string{"read-only", "reclamation cannot remove licences"}, remedy: []string{"LicenseAssignment.ReadWrite.All"}},
		{name: "write permission present", provoke: setRoles(append(slices.Clone(defaultRoles), "LicenseAssignment.ReadWrite.All")), restore: setRoles(defaultRoles),
			check: connect.CheckWritePermission, status: connect.Pass, message: []string{"write permission present (LicenseAssignment.ReadWrite.All)", "reclamation can remove licences"}},
		{name: "dataverse application user missing", provoke: func() { ten.SetAppUserDisabled(0, true) }, restore: func() { ten.SetAppUserDisabled(0, false) },
			check: connect.CheckDataverseUser, status: connect.Fail, message: []string{"not a member of the organization"},
			remedy: []string{"application user is missing or disabled", "Application users", p.ClientID}},
		{name: "no audit read privilege", provoke: func() { ten.SetAppAuditRead(0, false) }, restore: func() { ten.SetAppAuditRead(0, true) },
			check: connect.CheckDataverseAudit, status: connect.Fail, message: []string{"prvReadAuditSummary"},
			remedy: []string{"lacks the audit read privilege", "Security roles", "prvReadAuditSummary"}},
		{name: "auditing off", provoke: audit(tenant.AuditSettings{AuditEnabled: false, UserAccessAuditEnabled: true, RetentionDays: -1}), restore: audit(healthy),
			check: connect.CheckAuditing, status: connect.Fail, message: []string{"auditing is off"}, remedy: []string{"Start Auditing"}},
		{name: "user-access auditing off", provoke: audit(tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: false, RetentionDays: -1}), restore: audit(healthy),
			check: connect.CheckUserAccessAudit, status: connect.Fail, message: []string{"user-access auditing is off"}, remedy: []string{"Log access"}},
		{name: "retention shorter than the window", provoke: audit(tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: 30}), restore: audit(healthy),
			check: connect.CheckAuditRetention, status: connect.Fail, message: []string{"kept 30 days, shorter than the analysis window of 90 days"},
			remedy: []string{"at least 90 days", "--analyze-from " + ten.Now().AddDate(0, 0, -30).Format("2006-01-02")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.provoke != nil {
				tt.provoke()
			}
			if tt.restore != nil {
				t.Cleanup(tt.restore)
			}
			secret := tt.secret
			if secret == "" {
				secret = info.ClientSecret
			}
			rep := validate(t, secret)
			r, ok := find(rep, tt.check)
			if !ok {
				t.Fatalf("no check %s", tt.check)
			}
			if r.Status != tt.status {
				t.Errorf("%s: status %s, want %s", tt.check, r.Status, tt.status)
			}
			if rep.Failed() != (tt.status == connect.Fail) {
				t.Errorf("Failed() = %v with %s %s", rep.Failed(), tt.check, tt.status)
			}
			for _, want := range tt.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q lacks %q", r.Message, want)
				}
			}
			for _, want := range tt.remedy {
				if !strings.Contains(r.Remedy, want) {
					t.Errorf("remedy %q lacks %q", r.Remedy, want)
				}
			}
		})
	}
}
