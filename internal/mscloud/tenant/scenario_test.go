package tenant

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

func loadBasic(t testing.TB) *Tenant {
	t.Helper()
	f, err := os.Open("testdata/basic.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, err := LoadScenario(f)
	if err != nil {
		t.Fatalf("LoadScenario: %v", err)
	}
	return tn
}

const (
	adele  = "00000000-0000-4000-8000-00000000000a"
	alex   = "00000000-0000-4000-8000-00000000000b"
	megan  = "00000000-0000-4000-8000-00000000000c"
	nestor = "00000000-0000-4000-8000-00000000000d"
	lidia  = "00000000-0000-4000-8000-00000000000e"
	joni   = "00000000-0000-4000-8000-00000000000f"
	grady  = "00000000-0000-4000-8000-000000000010"
	oldU   = "00000000-0000-4000-8000-000000000011"

	skuSalesEnt = "1e1a282c-9c54-43a2-9310-98ef728faace"
	skuSalesPro = "be9f9771-1c64-4618-9907-244325141096"
	skuPA       = "b30411f5-fea1-4a59-9ad9-3db7c7ead579"
	skuTM       = "7ac9fe77-66b7-4e5e-9e46-10eed1cff547"
	skuO365     = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	skuISV      = "11111111-2222-4333-8444-555555555555"
	groupSales  = "aaaaaaaa-0000-4000-8000-000000000001"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLoadScenarioBasic(t *testing.T) {
	tn := loadBasic(t)
	if tn.ID() != "5d0e6bb4-0b7c-4a37-9a8e-3f4a1c2b9e10" || tn.Domain() != "contoso.onmicrosoft.com" {
		t.Errorf("tenant = %s %s", tn.ID(), tn.Domain())
	}
	if got := tn.UserCount(); got != 7 {
		t.Errorf("UserCount = %d, want 7 (one user is soft-deleted)", got)
	}
	want := map[string]int{skuSalesEnt: 3, skuSalesPro: 2, skuPA: 2, skuTM: 1, skuO365: 2, skuISV: 1}
	for _, s := range tn.SKUs() {
		if s.Consumed != want[s.SKUID] {
			t.Errorf("%s consumed = %d, want %d", s.PartNumber, s.Consumed, want[s.SKUID])
		}
		if s.SKUID == skuISV && (s.InCatalog || s.PartNumber != "ISV_FIELD_ADDON" || len(s.ServicePlans) != 1) {
			t.Errorf("unknown SKU = %+v", s)
		}
		if s.SKUID == skuSalesEnt && (!s.InCatalog || len(s.ServicePlans) == 0 || s.PartNumber != "DYN365_ENTERPRISE_SALES") {
			t.Errorf("catalog SKU = %+v", s)
		}
	}
	u, err := tn.User("ALEX@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.AssignedLicenses) != 1 || len(u.LicenseAssignmentStates) != 2 {
		t.Fatalf("alex licences = %+v / %+v", u.AssignedLicenses, u.LicenseAssignmentStates)
	}
	if st := u.LicenseAssignmentStates; st[0].AssignedByGroup != "" || st[1].AssignedByGroup != groupSales || st[1].State != "Active" {
		t.Errorf("alex states = %+v", st)
	}
	if _, err := tn.User(oldU); KindOf(err) != ErrNotFound {
		t.Errorf("soft-deleted user: err = %v, want not found", err)
	}
	lid, _ := tn.User(lidia)
	if !lid.SignInActivity.Never() {
		t.Errorf("lidia sign-in = %+v, want never", lid.SignInActivity)
	}
	su, err := tn.SystemUser(0, "4026BE43-6B69-E111-8F65-78E7D1620F5E")
	if err != nil || su.AzureActiveDirectoryObjectID != adele || su.DomainName != "adele@contoso.com" {
		t.Errorf("explicit systemuser = %+v, %v", su, err)
	}
	envs := tn.Environments()
	if len(envs) != 4 || envs[0].OrganizationID != "bbbbbbbb-0000-4000-8000-000000000001" || len(envs[1].History) != 5 ||
		envs[2].Audit.RetentionDays != 30 || envs[3].Audit.AuditEnabled || envs[0].Audit.AccessIntervalHours != 4 {
		t.Errorf("environments = %+v", envs)
	}
}

func TestLoadScenarioErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"syntax", "{\n  \"now\": \"2026-01-01T00:00:00Z\",\n  \"skus\": [\n    {\"sku\": }\n  ]\n}", []string{"line 4", "invalid JSON"}},
		{"not an object", `[1]`, []string{"line 1", "JSON object"}},
		{"unknown member", "{\n\"colour\": 1}", []string{"line 2", `unknown member "colour"`}},
		{"unknown field in element", "{\"users\": [\n{\"id\": \"00000000-0000-4000-8000-000000000001\"},\n{\"nmae\": \"x\"}]}", []string{"line 3", "users[1]", "nmae"}},
		{"wrong type", "{\"skus\": [{\"sku\": \"D365_SALES_PRO\", \"enabled\": \"ten\"}]}", []string{"skus[0]", "enabled"}},
		{"unknown sku", "{\"skus\": [\n{\"sku\": \"NOT_A_SKU\"}]}", []string{"line 2", "skus[0]", "NOT_A_SKU"}},
		{"unknown guid sku without part number", `{"skus": [{"sku": "11111111-2222-4333-8444-555555555555"}]}`, []string{"skus[0]", "partNumber"}},
		{"duplicate sku", `{"skus": [{"sku": "D365_SALES_PRO"}, {"sku": "be9f9771-1c64-4618-9907-244325141096"}]}`, []string{"skus[1]", "duplicate"}},
		{"licence on missing sku", `{"users": [{"licenses": [{"sku": "D365_SALES_PRO"}]}]}`, []string{"users[0]", "licenses[0]"}},
		{"too many holders", `{"skus": [{"sku": "D365_SALES_PRO", "enabled": 1}], "users": [
			{"userPrincipalName": "a@x.com", "licenses": [{"sku": "D365_SALES_PRO"}]},
			{"userPrincipalName": "b@x.com", "licenses": [{"sku": "D365_SALES_PRO"}]}]}`, []string{"skus[0]", "2 users hold"}},
		{"bad user id", `{"users": [{"id": "nope"}]}`, []string{"users[0]", "not a GUID"}},
		{"duplicate upn", `{"users": [{"userPrincipalName": "a@x.com"}, {"userPrincipalName": "A@x.com"}]}`, []string{"users[1]", "userPrincipalName"}},
		{"unknown environment in event", `{"users": [{"events": [{"env": "nowhere", "at": "2026-01-01T00:00:00Z", "operation": 4}]}]}`, []string{"users[0]", "events[0]", "nowhere"}},
		{"event after now", `{"now": "2026-01-01T00:00:00Z", "environments": [{"name": "e"}], "users": [{"events": [{"env": 0, "at": "2026-02-01T00:00:00Z", "operation": 4}]}]}`, []string{"events[0]", "after"}},
		{"bad operation", `{"environments": [{"name": "e"}], "users": [{"events": [{"env": "e", "at": "2025-01-01T00:00:00Z", "operation": 9}]}]}`, []string{"events[0]", "operation 9"}},
		{"bad env name", `{"environments": [{"name": "Contoso Prod"}]}`, []string{"environments[0]", "lower-case"}},
		{"history and settings", `{"environments": [{"name": "e", "auditEnabled": true, "auditHistory": [{"auditEnabled": true, "retentionDays": -1}]}]}`, []string{"environments[0]", "either"}},
		{"history out of order", `{"environments": [{"name": "e", "auditHistory": [{"retentionDays": -1}, {"from": "2025-02-01T00:00:00Z", "retentionDays": -1}, {"from": "2025-01-01T00:00:00Z", "retentionDays": -1}]}]}`, []string{"auditHistory[2]"}},
		{"unknown pattern", `{"users": [{"pattern": "sometimes"}]}`, []string{"users[0]", "sometimes"}},
		{"unknown group", `{"users": [{"groups": [{"group": "Nobody"}]}]}`, []string{"groups[0]", "Nobody"}},
		{"bad sign-in", `{"users": [{"lastSignIn": "yesterday"}]}`, []string{"users[0]", "lastSignIn"}},
		{"trailing data", `{} {}`, []string{"after top-level value"}},
		{"truncated", `{"users": [`, []string{"end of JSON input"}},
		{"bad tenant member", `{"tenant": {"name": "x"}}`, []string{"tenant", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadScenario(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("LoadScenario succeeded, want an error")
			}
			if KindOf(err) != ErrInvalid || !sam.IsCode(err, sam.EINVALID) {
				t.Errorf("kind = %q, code %q, want invalid", KindOf(err), sam.ErrorCode(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzLoadScenario(f *testing.F) {
	data, err := os.ReadFile("testdata/basic.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"users": [{"events": [{"env": 0, "at": "2025-01-01T00:00:00Z", "operation": 4}]}]}`))
	f.Add([]byte(`{"environments": [{"name": "e", "auditHistory": [{"retentionDays": -1}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		tn, err := LoadScenario(strings.NewReader(string(in)))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != ErrInvalid || !strings.HasPrefix(e.Message, "scenario line ") {
				t.Fatalf("error %v is not a located ErrInvalid", err)
			}
			return
		}
		// a loaded scenario is usable
		for i := range tn.Environments() {
			if _, _, err := tn.AuditPage(i, AuditQuery{}, 10); err != nil {
				t.Fatalf("AuditPage: %v", err)
			}
		}
		if _, err := tn.Truth(time.Time{}, nil); err != nil {
			t.Fatalf("Truth: %v", err)
		}
	})
}
