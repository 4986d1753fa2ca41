package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
)

func TestEmbeddedChecksum(t *testing.T) {
	sum := sha256.Sum256(OfficialCSV())
	const want = "3665b48f640a1359a05d9f263c13000e5e7c8d6fa6447e1b0c999071bdd6f486"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("data/licensing.csv SHA-256 = %s, want %s (update data/SOURCE.md when replacing the file)", got, want)
	}
}

func TestDefaultCounts(t *testing.T) {
	c := Default()
	if got := len(c.Products()); got != 569 {
		t.Errorf("products = %d, want 569", got)
	}
	if got := len(c.Models("")); got != 146 {
		t.Errorf("models = %d, want 146", got)
	}
	plans := 0
	for _, p := range c.Products() {
		plans += len(p.ServicePlans)
	}
	// 5,457 rows, a few of which repeat a plan within a product.
	if plans < 5000 || plans > 5457 {
		t.Errorf("service plans = %d, want between 5000 and 5457", plans)
	}
}

func TestIssueSKUs(t *testing.T) {
	tests := []struct {
		part, id string
		family   sam.Family
		tracked  bool
		edition  string
	}{
		{"D365_SALES_PRO", "be9f9771-1c64-4618-9907-244325141096", sam.FamilyDynamics365, true, "Professional"},
		{"DYN365_ENTERPRISE_SALES", "1e1a282c-9c54-43a2-9310-98ef728faace", sam.FamilyDynamics365, true, "Enterprise"},
		{"DYN365_ENTERPRISE_CUSTOMER_SERVICE", "749742bf-0d37-4158-a120-33567104deeb", sam.FamilyDynamics365, true, "Enterprise"},
		{"DYN365_TEAM_MEMBERS", "7ac9fe77-66b7-4e5e-9e46-10eed1cff547", sam.FamilyDynamics365, true, "Team Members"},
		{"DYN365_ENTERPRISE_TEAM_MEMBERS", "8e7a3d30-d97d-43ab-837c-d7701cef83dc", sam.FamilyDynamics365, true, "Team Members"},
		{"POWERAPPS_PER_USER", "b30411f5-fea1-4a59-9ad9-3db7c7ead579", sam.FamilyPowerApps, false, "Premium"},
		{"FLOW_PER_USER", "4a51bf65-409c-4a91-b845-1121b571cc9d", sam.FamilyPowerAutomate, false, "Per User"},
		{"CDS_DB_CAPACITY", "e612d426-6bc3-4181-9658-91aa906b0ac0", sam.FamilyDataverse, false, ""},
		{"DYN365_FINANCE", "55c9eb4e-c746-45b4-b255-9ab6b19d5c62", sam.FamilyDynamics365, false, ""},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(tt.part, func(t *testing.T) {
			for _, key := range []string{tt.id, strings.ToUpper(tt.id), "{" + tt.id + "}", tt.part, strings.ToLower(tt.part), " " + tt.part + " "} {
				m, ok := c.Lookup(key)
				if !ok {
					t.Fatalf("Lookup(%q) not found", key)
				}
				if m.SKUID != tt.id || m.PartNumber != tt.part {
					t.Fatalf("Lookup(%q) = %s %s", key, m.SKUID, m.PartNumber)
				}
			}
			m, ok := c.Model(strings.ToUpper(tt.id))
			if !ok {
				t.Fatal("Model not found")
			}
			if m.Family != tt.family || m.Tracked != tt.tracked || m.Edition != tt.edition {
				t.Errorf("family %s tracked %v edition %q, want %s %v %q", m.Family, m.Tracked, m.Edition, tt.family, tt.tracked, tt.edition)
			}
			if m.Publisher != "Microsoft" || m.Metric != sam.MetricUserSubscription || !m.Mapped || m.Kind != sam.KindBase || m.Product == "" {
				t.Errorf("model %+v", m)
			}
			if len(m.ServicePlans) == 0 {
				t.Error("no service plans")
			}
		})
	}
}

func TestOtherFamiliesAreNotModels(t *testing.T) {
	c := Default()
	const e5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06" // SPE_E5, Microsoft 365 E5
	if _, ok := c.Model(e5); ok {
		t.Error("Model(SPE_E5) found, want only the four families")
	}
	if _, ok := c.Lookup("SPE_E5"); ok {
		t.Error("Lookup(SPE_E5) found")
	}
	p, ok := c.Product(e5)
	if !ok || p.PartNumber != "SPE_E5" || len(p.ServicePlans) < 20 {
		t.Fatalf("Product(SPE_E5) = %+v, %v", p, ok)
	}
	if _, ok := c.Product("00000000-0000-0000-0000-000000000000"); ok {
		t.Error("Product(zero GUID) found")
	}
	if _, ok := c.Lookup("NOPE"); ok {
		t.Error("Lookup(NOPE) found")
	}
	if got := c.Models("office365"); len(got) != 0 {
		t.Errorf("Models(office365) = %d models", len(got))
	}
}

// TestFamiliesMatchReference checks the family rules against the family
// column of ../shared/data/dynamics-powerapps-skus.csv (a copy is in
// testdata): the same 146 products, the same families.
func TestFamiliesMatchReference(t *testing.T) {
	f, err := os.Open("testdata/dynamics-powerapps-skus.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	refFamily := map[string]sam.Family{
		"dynamics-365":       sam.FamilyDynamics365,
		"power-apps":         sam.FamilyPowerApps,
		"power-automate":     sam.FamilyPowerAutomate,
		"dataverse-capacity": sam.FamilyDataverse,
	}
	c := Default()
	want := map[string]bool{}
	for _, r := range rows[1:] {
		fam, id, part, name := refFamily[r[0]], r[2], r[1], r[3]
		want[id] = true
		m, ok := c.Model(id)
		if !ok {
			t.Errorf("%s %s (%s) is not a model", part, id, name)
			continue
		}
		if m.Family != fam || m.PartNumber != part || m.Product != name {
			t.Errorf("%s: got %s %q %q, want %s %q %q", id, m.Family, m.PartNumber, m.Product, fam, part, name)
		}
	}
	for _, m := range c.Models("") {
		if !want[m.SKUID] {
			t.Errorf("model %s %s (%s) is not in the reference", m.SKUID, m.PartNumber, m.Product)
		}
	}
	if len(rows)-1 != 146 {
		t.Errorf("reference has %d rows", len(rows)-1)
	}
}

func TestTrackedSet(t *testing.T) {
	c := Default()
	for key := range trackedPartNumbers {
		m, ok := c.Lookup(key)
		if !ok {
			t.Errorf("tracked part number %s is not a model", key)
			continue
		}
		if !m.Tracked || m.Family != sam.FamilyDynamics365 {
			t.Errorf("%s: tracked %v family %s", key, m.Tracked, m.Family)
		}
	}
	n := 0
	for _, m := range c.Models("") {
		if m.Tracked {
			n++
		}
	}
	if n != len(trackedPartNumbers) {
		t.Errorf("%d tracked models, want %d", n, len(trackedPartNumbers))
	}
	for _, notTracked := range []string{"D365_SALES_PRO_IW", "Dynamics_365_Sales_Premium_Viral_Trial", "DYN365_BUSCENTRAL_TEAM_MEMBER", "DYN365_ENTERPRISE_FIELD_SERVICE", "POWERAPPS_PER_USER"} {
		if m, ok := c.Lookup(notTracked); !ok || m.Tracked {
			t.Errorf("%s: found %v tracked %v, want an untracked model", notTracked, ok, m.Tracked)
		}
	}
}

func TestKinds(t *testing.T) {
	c := Default()
	attach := 0
	for _, m := range c.Models("") {
		isAttach := strings.Contains(strings.ToUpper(m.PartNumber), "ATTACH") || strings.Contains(strings.ToLower(m.Product), "attach")
		if isAttach != (m.Kind == sam.KindAttach) {
			t.Errorf("%s %q: kind %s", m.PartNumber, m.Product, m.Kind)
		}
		if isAttach {
			attach++
		}
	}
	for _, part := range []string{"D365_SALES_ENT_ATTACH", "D365_CUSTOMER_SERVICE_ENT_ATTACH", "D365_CUSTOMER_SERVICE_PRO_ATTACH", "DYN365_CUSTOMER_INSIGHTS_ATTACH"} {
		if m, _ := c.Lookup(part); m.Kind != sam.KindAttach {
			t.Errorf("%s kind %s", part, m.Kind)
		}
	}
	if attach < 8 {
		t.Errorf("only %d attach models", attach)
	}
}

func TestModelsOrderAndFamilies(t *testing.T) {
	c := Default()
	total := 0
	for _, f := range sam.Families {
		ms := c.Models(f)
		if len(ms) == 0 {
			t.Errorf("family %s has no models", f)
		}
		for i, m := range ms {
			if m.Family != f {
				t.Errorf("Models(%s) returned %s of family %s", f, m.PartNumber, m.Family)
			}
			if i > 0 && NormalizePartNumber(ms[i-1].PartNumber) > NormalizePartNumber(m.PartNumber) {
				t.Errorf("Models(%s) not sorted at %s", f, m.PartNumber)
			}
		}
		total += len(ms)
	}
	if all := c.Models(""); total != len(all) {
		t.Errorf("sum of families %d != all %d", total, len(all))
	}
	// Callers get copies.
	ms := c.Models(sam.FamilyPowerApps)
	ms[0].Product = "changed"
	ms[0].ServicePlans[0].Name = "changed"
	if again := c.Models(sam.FamilyPowerApps); again[0].Product == "changed" || again[0].ServicePlans[0].Name == "changed" {
		t.Error("Models returns shared data")
	}
}

// Irregularities of the official file.
func TestOfficialFileHazards(t *testing.T) {
	c := Default()
	t.Run("inner spaces in String_Id", func(t *testing.T) {
		const id = "4f05b1a3-a978-462c-b93f-781c6bee998f"
		for _, key := range []string{id, "DYN365_ENTERPRISE_RELATIONSHIP_SALES", "DYN365_ ENTERPRISE _RELATIONSHIP_SALES", "dyn365_enterprise_relationship_sales"} {
			m, ok := c.Lookup(key)
			if !ok || m.SKUID != id {
				t.Fatalf("Lookup(%q) = %v %v", key, m.SKUID, ok)
			}
			if m.PartNumber != "DYN365_ ENTERPRISE _RELATIONSHIP_SALES" || !m.Tracked {
				t.Errorf("PartNumber %q tracked %v", m.PartNumber, m.Tracked)
			}
		}
	})
	t.Run("trailing spaces and no-break space", func(t *testing.T) {
		for id, part := range map[string]string{
			"de597797-22fb-4d65-a9fe-b7dbe8893914": "AAD_PREMIUM_USGOV_GCCHIGH",
			"420c7602-7f70-4895-9394-d3d679ea36fb": "MCOCAP_FACULTY", // trailing U+00A0, and a space after the GUID
		} {
			p, ok := c.Product(id)
			if !ok || p.PartNumber != part {
				t.Errorf("Product(%s) = %q %v, want %q", id, p.PartNumber, ok, part)
			}
			if ps := c.ProductsByPartNumber(part); len(ps) != 1 || ps[0].SKUID != id {
				t.Errorf("ProductsByPartNumber(%s) = %v", part, ps)
			}
		}
	})
	t.Run("one String_Id, two GUIDs", func(t *testing.T) {
		ps := c.ProductsByPartNumber("mcopstn5")
		if len(ps) != 2 {
			t.Fatalf("MCOPSTN5: %d products", len(ps))
		}
		ids := map[string]bool{ps[0].SKUID: true, ps[1].SKUID: true}
		if !ids["d43177b5-475b-4880-92d4-d54c27b5efbd"] || !ids["54a152dc-90de-4996-93d2-bc47e670fc06"] {
			t.Errorf("MCOPSTN5 ids %v", ids)
		}
	})
	t.Run("quoted names with commas", func(t *testing.T) {
		m, ok := c.Lookup("CRM_AUTO_ROUTING_ADDON")
		if !ok || m.Product != "Dynamics 365 Field Service, Enterprise Edition - Resource Scheduling Optimization" {
			t.Errorf("got %q %v", m.Product, ok)
		}
		if len(m.ServicePlans) != 3 {
			t.Errorf("plans %v", m.ServicePlans)
		}
	})
	t.Run("plans by id, not friendly name", func(t *testing.T) {
		// The row for plan 2ba394e0… names it "RETIRED - Field Service –
		// Automated Routing Engine Add-On" in the friendly-name column; the
		// plan name comes from Service_Plan_Name.
		m, _ := c.Lookup("CRM_AUTO_ROUTING_ADDON")
		found := false
		for _, sp := range m.ServicePlans {
			if sp.ID == "2ba394e0-6f18-4b77-b45f-a5663bbab540" {
				found = sp.Name == "CRM_AUTO_ROUTING_ADDON"
			}
		}
		if !found {
			t.Errorf("plan 2ba394e0… not named by Service_Plan_Name: %v", m.ServicePlans)
		}
	})
}

func TestParse(t *testing.T) {
	const header = "Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names\n"
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, c *Catalog)
	}{
		{name: "empty", in: "", wantErr: "empty input"},
		{name: "header only", in: header, wantErr: "no products"},
		{name: "missing column", in: "Product_Display_Name,String_Id,GUID\nx,y,z\n", wantErr: "no Service_Plan_Name column"},
		{name: "bad GUID", in: header + "A,A,not-a-guid,P,11111111-1111-1111-1111-111111111111,F\n", wantErr: "line 2: GUID"},
		{name: "bad plan id", in: header + "A,A,11111111-1111-1111-1111-111111111111,P,zz,F\n", wantErr: "line 2: Service_Plan_Id"},
		{name: "empty String_Id", in: header + "A, \u00a0,11111111-1111-1111-1111-111111111111,P,22222222-2222-2222-2222-222222222222,F\n", wantErr: "line 2: empty String_Id"},
		{name: "short row", in: header + "A,B\n", wantErr: "line 2: 2 fields"},
		{name: "bad quote", in: header + "\"A,B,C\n", wantErr: "line 2"},
		{
			name: "BOM, reordered columns, spaces, duplicates, upper case",
			in: "\uFEFFGUID,Service_Plan_Id,String_Id,Service_Plan_Name,Product_Display_Name\n" +
				"  AAAAAAAA-1111-1111-1111-111111111111 ,BBBBBBBB-2222-2222-2222-222222222222, POWERAPPS_X ,PLAN_B,\"Power Apps, X\"\n" +
				"aaaaaaaa-1111-1111-1111-111111111111,bbbbbbbb-2222-2222-2222-222222222222,POWERAPPS_X,PLAN_B,Power Apps X\n" +
				"aaaaaaaa-1111-1111-1111-111111111111,,POWERAPPS_X,,Power Apps X\n" +
				"\n" +
				"{cccccccc-3333-3333-3333-333333333333},dddddddd-4444-4444-4444-444444444444,OFFICE_THING,PLAN_D,Office Thing\n",
			check: func(t *testing.T, c *Catalog) {
				m, ok := c.Lookup("powerapps_x")
				if !ok || m.SKUID != "aaaaaaaa-1111-1111-1111-111111111111" || m.Product != "Power Apps, X" || m.Family != sam.FamilyPowerApps {
					t.Fatalf("Lookup = %+v %v", m, ok)
				}
				if len(m.ServicePlans) != 1 || m.ServicePlans[0] != (sam.ServicePlan{ID: "bbbbbbbb-2222-2222-2222-222222222222", Name: "PLAN_B"}) {
					t.Errorf("plans %v", m.ServicePlans)
				}
				if p, ok := c.Product("CCCCCCCC-3333-3333-3333-333333333333"); !ok || p.Name != "Office Thing" {
					t.Errorf("Product = %+v %v", p, ok)
				}
				if _, ok := c.Model("cccccccc-3333-3333-3333-333333333333"); ok {
					t.Error("OFFICE_THING is a model")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !sam.IsCode(err, sam.EINVALID) {
					t.Fatalf("err = %v, want EINVALID containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestFamilyOf(t *testing.T) {
	tests := []struct {
		part, name string
		want       sam.Family
		ok         bool
	}{
		{"POWER_BI_PRO", "Power BI Pro", "", false},
		{"Power_Pages_vTrial_for_Makers", "Power Pages vTrial for Makers", "", false},
		{"VIRTUAL_AGENT_BASE", "Power Virtual Agent", "", false},
		{"Microsoft_Viva_Sales", "Microsoft Sales Copilot", "", false},
		{"SPE_E5", "Microsoft 365 E5", "", false},
		{"CDSAICAPACITY", "AI Builder Capacity add-on", sam.FamilyDataverse, true},
		{"CRMSTORAGE", "Dynamics 365 - Additional Database Storage (Qualified Offer)", sam.FamilyDataverse, true},
		{"X", "Dataverse for Something", sam.FamilyDataverse, true},
		{"FLOW_FREE", "Microsoft Power Automate Free", sam.FamilyPowerAutomate, true},
		{"POWERFLOW_P2", "Microsoft Power Apps Plan 2 (Qualified Offer)", sam.FamilyPowerApps, true},
		{"POWERAPPS_INDIVIDUAL_USER", "Power Apps and Logic Flows", sam.FamilyPowerApps, true},
		{"GUIDES_USER", "Dynamics 365 Guides", sam.FamilyDynamics365, true},
		{"DYN365_ ENTERPRISE _RELATIONSHIP_SALES", "Microsoft Relationship Sales solution", sam.FamilyDynamics365, true},
	}
	for _, tt := range tests {
		got, ok := FamilyOf(tt.part, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FamilyOf(%q, %q) = %q %v, want %q %v", tt.part, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnmapped(t *testing.T) {
	m := Unmapped("ABCDEF01-1111-1111-1111-111111111111", " CUSTOM_SKU ")
	if m.SKUID != "abcdef01-1111-1111-1111-111111111111" || m.PartNumber != "CUSTOM_SKU" || m.Mapped || m.Tracked || m.Family != sam.FamilyOther || m.Product != "CUSTOM_SKU" {
		t.Errorf("%+v", m)
	}
	if m := Unmapped("abcdef01-1111-1111-1111-111111111111", ""); m.Product != "abcdef01-1111-1111-1111-111111111111" {
		t.Errorf("%+v", m)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(OfficialCSV()[:4096]))
	f.Add([]byte("\uFEFFProduct_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id\n\"a,b\",X ,{11111111-1111-1111-1111-111111111111},P,22222222-2222-2222-2222-222222222222\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !sam.IsCode(err, sam.EINVALID) {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, p := range c.Products() {
			if !sam.ValidGUID(p.SKUID) || p.SKUID != strings.ToLower(p.SKUID) {
				t.Fatalf("SKU id %q", p.SKUID)
			}
			if got, ok := c.Product(p.SKUID); !ok || got.SKUID != p.SKUID {
				t.Fatalf("Product(%s) not found", p.SKUID)
			}
			for _, sp := range p.ServicePlans {
				if !sam.ValidGUID(sp.ID) {
					t.Fatalf("plan id %q", sp.ID)
				}
			}
		}
		for _, m := range c.Models("") {
			if got, ok := c.Model(m.SKUID); !ok || got.SKUID != m.SKUID {
				t.Fatalf("Model(%s) not found", m.SKUID)
			}
		}
	})
}

// BenchmarkParseOfficial measures parsing the embedded CSV (what Default does
// once per process).
func BenchmarkParseOfficial(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(officialCSV)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(officialCSV)); err != nil {
			b.Fatal(err)
		}
	}
}
