package cli

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
)

// The acceptance check of the catalog issue.
func TestCatalogListAcceptance(t *testing.T) {
	stdout, stderr, code := runCLI(t, nil, "catalog", "list", "--family", "dynamics365", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var models []ModelJSON
	if err := json.Unmarshal([]byte(stdout), &models); err != nil {
		t.Fatalf("output is not a JSON array of models: %v\n%s", err, stdout)
	}
	want := map[string]string{
		"D365_SALES_PRO":                     "be9f9771-1c64-4618-9907-244325141096",
		"DYN365_ENTERPRISE_SALES":            "1e1a282c-9c54-43a2-9310-98ef728faace",
		"DYN365_ENTERPRISE_CUSTOMER_SERVICE": "749742bf-0d37-4158-a120-33567104deeb",
		"DYN365_TEAM_MEMBERS":                "7ac9fe77-66b7-4e5e-9e46-10eed1cff547",
	}
	for _, m := range models {
		if m.Family != sam.FamilyDynamics365 {
			t.Errorf("%s has family %s", m.PartNumber, m.Family)
		}
		if id, ok := want[m.PartNumber]; ok {
			if m.SKUID != id || !m.Tracked || m.Publisher != "Microsoft" || m.Metric != "user_subscription" {
				t.Errorf("%s: %+v", m.PartNumber, m)
			}
			delete(want, m.PartNumber)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing from the list: %v", want)
	}
	// The raw JSON uses the documented keys.
	if !strings.Contains(stdout, `"sku_id":"be9f9771-1c64-4618-9907-244325141096"`) || !strings.Contains(stdout, `"tracked":true`) {
		t.Errorf("JSON keys: %.300s", stdout)
	}

	stdout, _, code = runCLI(t, nil, "catalog", "list", "--family", "powerapps", "--output", "json")
	if code != 0 {
		t.Fatal(code)
	}
	if err := json.Unmarshal([]byte(stdout), &models); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range models {
		if m.PartNumber == "POWERAPPS_PER_USER" && m.SKUID == "b30411f5-fea1-4a59-9ad9-3db7c7ead579" && m.Family == sam.FamilyPowerApps && !m.Tracked {
			found = true
		}
		if m.Family != sam.FamilyPowerApps {
			t.Errorf("%s in powerapps list", m.PartNumber)
		}
	}
	if !found {
		t.Error("POWERAPPS_PER_USER not listed")
	}
}

func TestCatalogList(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"table", []string{"catalog", "list"}, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 147 {
				t.Errorf("%d lines, want header + 146", len(lines))
			}
			if !strings.HasPrefix(lines[0], "PART NUMBER") || !strings.Contains(lines[0], "SKU ID") {
				t.Errorf("header %q", lines[0])
			}
			if !strings.Contains(out, "be9f9771-1c64-4618-9907-244325141096") {
				t.Error("D365_SALES_PRO missing")
			}
		}},
		{"csv", []string{"catalog", "list", "--output=csv", "--family", "PowerAutomate"}, func(t *testing.T, out string) {
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != "part_number,sku_id,family,edition,kind,tracked,product" || len(recs) != 13 {
				t.Errorf("header %v, %d records", recs[0], len(recs))
			}
			for _, r := range recs[1:] {
				if r[2] != "powerautomate" {
					t.Errorf("row %v", r)
				}
			}
		}},
		{"tracked only", []string{"catalog", "list", "--tracked", "-o", "csv"}, func(t *testing.T, out string) {
			recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
			for _, r := range recs[1:] {
				if r[5] != "true" {
					t.Errorf("untracked row %v", r)
				}
			}
			if len(recs) < 15 {
				t.Errorf("%d tracked models", len(recs)-1)
			}
		}},
		{"json dataverse", []string{"catalog", "list", "--family", "dataverse", "-o", "json"}, func(t *testing.T, out string) {
			var ms []ModelJSON
			if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 12 {
				t.Errorf("%d models, %v", len(ms), err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, nil, tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			tt.check(t, stdout)
		})
	}
}

func TestCatalogShow(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		wantErr string
	}{
		{"by GUID upper case", []string{"catalog", "show", "1E1A282C-9C54-43A2-9310-98EF728FAACE"}, 0,
			[]string{"part number:", "DYN365_ENTERPRISE_SALES", "tracked:", "true", "service plans:"}, ""},
		{"by part number", []string{"catalog", "show", "d365_sales_pro", "-o", "json"}, 0,
			[]string{`"sku_id": "be9f9771-1c64-4618-9907-244325141096"`, `"service_plans": [`, `"tracked": true`}, ""},
		{"csv", []string{"catalog", "show", "POWERAPPS_PER_USER", "-o", "csv"}, 0,
			[]string{"part_number,sku_id,product", "POWERAPPS_PER_USER,b30411f5-fea1-4a59-9ad9-3db7c7ead579,Power Apps Premium"}, ""},
		{"inner spaces", []string{"catalog", "show", "DYN365_ENTERPRISE_RELATIONSHIP_SALES"}, 0, []string{"4f05b1a3-a978-462c-b93f-781c6bee998f"}, ""},
		{"unknown", []string{"catalog", "show", "NO_SUCH_SKU"}, sam.ExitNotFound, nil, `SKU "NO_SUCH_SKU" is not in the catalog`},
		{"unknown GUID", []string{"catalog", "show", "00000000-0000-0000-0000-000000000000"}, sam.ExitNotFound, nil, "is not in the catalog"},
		{"other family", []string{"catalog", "show", "SPE_E5"}, sam.ExitNotFound, nil, "not in the Dynamics 365, Power Apps, Power Automate or Dataverse families"},
		{"ambiguous part number", []string{"catalog", "show", "MCOPSTN5"}, sam.ExitNotFound, nil, "names several SKUs"},
		{"bad output", []string{"catalog", "show", "D365_SALES_PRO", "-o", "yaml"}, sam.ExitUsage, nil, `--output "yaml": want table, json or csv`},
		{"bad family", []string{"catalog", "list", "--family", "office365"}, sam.ExitUsage, nil, `--family "office365": want one of dynamics365, powerapps, powerautomate, dataverse`},
		{"bad list output", []string{"catalog", "list", "--output", "xml"}, sam.ExitUsage, nil, "want table, json or csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, nil, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if tt.wantErr != "" {
				if !strings.HasPrefix(stderr, "seatwise: ") || !strings.Contains(stderr, tt.wantErr) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("stderr %q, want one line with %q", stderr, tt.wantErr)
				}
				if stdout != "" {
					t.Errorf("stdout %q on error", stdout)
				}
			}
		})
	}
}
