package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func testProfiles(t *testing.T, s store.Store) {
	if d := s.Dialect(); d != "sqlite" && d != "postgres" {
		t.Errorf("Dialect() = %q", d)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &sam.Profile{Name: "contoso", DisplayName: "Contoso", TenantID: "{" + upper(tenantID) + "}", ClientID: upper(clientID),
		AnalyzeFrom: from, CAFile: "/etc/ca.pem",
		Environments: []sam.Environment{{URL: "https://a.crm.dynamics.com/", Name: "A"}, {URL: "https://b.crm4.dynamics.com"}}}
	must(t, s.CreateProfile(ctx(t), p))
	if p.ID == 0 || p.CreatedAt.IsZero() || !p.CreatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("created profile: id %d, created %v, updated %v", p.ID, p.CreatedAt, p.UpdatedAt)
	}
	if p.TenantID != tenantID || p.ClientID != clientID {
		t.Errorf("ids not normalised: %q %q", p.TenantID, p.ClientID)
	}
	if p.State != sam.ProfileDraft || p.AuthMode != sam.AuthClientSecret || p.LoginURL != sam.DefaultLoginURL || p.GraphURL != sam.DefaultGraphURL {
		t.Errorf("defaults: state %q auth %q login %q graph %q", p.State, p.AuthMode, p.LoginURL, p.GraphURL)
	}
	if len(p.Environments) != 2 || p.Environments[0].ID == 0 || p.Environments[0].URL != "https://a.crm.dynamics.com" {
		t.Fatalf("environments: %+v", p.Environments)
	}

	for _, get := range []func() (*sam.Profile, error){
		func() (*sam.Profile, error) { return s.Profile(ctx(t), p.ID) },
		func() (*sam.Profile, error) { return s.ProfileByName(ctx(t), "contoso") },
	} {
		got, err := get()
		must(t, err)
		if got.ID != p.ID || got.Name != "contoso" || got.DisplayName != "Contoso" || got.TenantID != tenantID ||
			got.ClientID != clientID || !got.AnalyzeFrom.Equal(from) || got.CAFile != "/etc/ca.pem" ||
			got.State != sam.ProfileDraft || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("read back %+v, want %+v", got, p)
		}
		if len(got.Environments) != 2 || got.Environments[0].ID != p.Environments[0].ID || got.Environments[0].Name != "A" ||
			got.Environments[1].URL != "https://b.crm4.dynamics.com" || got.Environments[0].ProfileID != p.ID {
			t.Errorf("environments read back: %+v", got.Environments)
		}
		if got.Environments[0].Audit.Reachable || !got.Environments[0].Audit.Watermark.IsZero() {
			t.Errorf("new environment has audit status: %+v", got.Environments[0].Audit)
		}
	}

	dup := &sam.Profile{Name: "contoso", TenantID: tenantID}
	mustCode(t, s.CreateProfile(ctx(t), dup), sam.ECONFLICT)

	newProfile(t, s, "alpha", 0)
	newProfile(t, s, "zulu", 1)
	all, err := s.Profiles(ctx(t))
	must(t, err)
	var names []string
	for _, x := range all {
		names = append(names, x.Name)
	}
	if len(names) != 3 || names[0] != "alpha" || names[1] != "contoso" || names[2] != "zulu" {
		t.Errorf("Profiles() names = %v", names)
	}
	if len(all[1].Environments) != 2 {
		t.Errorf("Profiles() environments of contoso = %d", len(all[1].Environments))
	}

	_, err = s.Profile(ctx(t), 9999)
	mustCode(t, err, sam.ENOTFOUND)
	_, err = s.ProfileByName(ctx(t), "nope")
	mustCode(t, err, sam.ENOTFOUND)
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }

func testProfileValidation(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		p    sam.Profile
	}{
		{"empty name", sam.Profile{TenantID: tenantID}},
		{"upper-case name", sam.Profile{Name: "Contoso", TenantID: tenantID}},
		{"name with space", sam.Profile{Name: "con toso", TenantID: tenantID}},
		{"missing tenant", sam.Profile{Name: "contoso"}},
		{"tenant not a guid", sam.Profile{Name: "contoso", TenantID: "contoso.onmicrosoft.com"}},
		{"client not a guid", sam.Profile{Name: "contoso", TenantID: tenantID, ClientID: "app"}},
		{"unknown auth mode", sam.Profile{Name: "contoso", TenantID: tenantID, AuthMode: "password"}},
		{"unknown state", sam.Profile{Name: "contoso", TenantID: tenantID, State: "sleeping"}},
		{"environment without URL", sam.Profile{Name: "contoso", TenantID: tenantID, Environments: []sam.Environment{{Name: "x"}}}},
		{"environment twice", sam.Profile{Name: "contoso", TenantID: tenantID, Environments: []sam.Environment{
			{URL: "https://a.crm.dynamics.com"}, {URL: "https://A.crm.dynamics.com/"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			mustCode(t, s.CreateProfile(ctx(t), &p), sam.EINVALID)
		})
	}
	all, err := s.Profiles(ctx(t))
	must(t, err)
	if len(all) != 0 {
		t.Errorf("invalid profiles were stored: %d", len(all))
	}
}

func testUpdateProfile(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 2)
	newProfile(t, s, "other", 0)
	keep, drop := p.Environments[0], p.Environments[1]

	// Give the kept environment an audit status and a watermark.
	wm := now.Add(-time.Hour)
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(keep.ID, wm), auditOK(drop.ID, wm)}, []int{1},
		act(drop.ID, 1, now.Add(-2*time.Hour), sam.SourceAccessWeb, 1))

	before, err := s.Profile(ctx(t), p.ID)
	must(t, err)
	time.Sleep(2 * time.Millisecond)
	p.Name = "contoso-eu"
	p.DisplayName = "Contoso Europe"
	p.State = sam.ProfileConnected
	p.Environments = []sam.Environment{{URL: "https://ORG1.crm.dynamics.com/", Name: "Renamed"}, {URL: "https://new.crm.dynamics.com"}}
	must(t, s.UpdateProfile(ctx(t), p))
	if !p.UpdatedAt.After(before.UpdatedAt) || !p.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("timestamps after update: created %v (was %v), updated %v (was %v)", p.CreatedAt, before.CreatedAt, p.UpdatedAt, before.UpdatedAt)
	}
	got, err := s.ProfileByName(ctx(t), "contoso-eu")
	must(t, err)
	if got.DisplayName != "Contoso Europe" || got.State != sam.ProfileConnected || len(got.Environments) != 2 {
		t.Fatalf("updated profile: %+v", got)
	}
	e0, e1 := got.Environments[0], got.Environments[1]
	if e0.ID != keep.ID || e0.Name != "Renamed" || !e0.Audit.Watermark.Equal(wm) || !e0.Audit.Reachable {
		t.Errorf("kept environment: %+v (want id %d, watermark %v)", e0, keep.ID, wm)
	}
	if e1.ID == drop.ID || e1.ID == 0 || e1.URL != "https://new.crm.dynamics.com" || e1.Audit.Reachable {
		t.Errorf("new environment: %+v", e1)
	}
	if p.Environments[0].ID != keep.ID || p.Environments[1].ID != e1.ID {
		t.Errorf("p.Environments not refreshed: %+v", p.Environments)
	}
	// Evidence of the dropped environment is gone with it.
	days, err := s.ActivityDays(ctx(t), p.ID, user(1), now.AddDate(0, 0, -1), now)
	must(t, err)
	if len(days) != 0 {
		t.Errorf("activity of removed environment kept: %+v", days)
	}
	_, err = s.ProfileByName(ctx(t), "contoso")
	mustCode(t, err, sam.ENOTFOUND)

	p.Name = "other"
	mustCode(t, s.UpdateProfile(ctx(t), p), sam.ECONFLICT)
	p.Name = "Bad Name"
	mustCode(t, s.UpdateProfile(ctx(t), p), sam.EINVALID)
	missing := &sam.Profile{ID: 9999, Name: "ghost", TenantID: tenantID}
	mustCode(t, s.UpdateProfile(ctx(t), missing), sam.ENOTFOUND)
}

func testProfileState(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	must(t, s.SetProfileState(ctx(t), p.ID, sam.ProfileNeedsReauth, "the client secret expired"))
	got, err := s.Profile(ctx(t), p.ID)
	must(t, err)
	if got.State != sam.ProfileNeedsReauth || got.StateMessage != "the client secret expired" {
		t.Errorf("state = %q %q", got.State, got.StateMessage)
	}
	mustCode(t, s.SetProfileState(ctx(t), p.ID, "weird", ""), sam.EINVALID)
	mustCode(t, s.SetProfileState(ctx(t), 9999, sam.ProfilePaused, ""), sam.ENOTFOUND)
}

func testSecrets(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	_, err := s.Secret(ctx(t), p.ID, sam.SecretClientSecret)
	mustCode(t, err, sam.ENOTFOUND)
	must(t, s.PutSecret(ctx(t), p.ID, sam.SecretClientSecret, sam.SealedSecret{KeyID: "k1", Ciphertext: []byte{0, 1, 2, 255}}))
	must(t, s.PutSecret(ctx(t), p.ID, sam.SecretRefreshToken, sam.SealedSecret{KeyID: "k1", Ciphertext: []byte("rt")}))
	must(t, s.PutSecret(ctx(t), p.ID, sam.SecretClientSecret, sam.SealedSecret{KeyID: "k2", Ciphertext: []byte{9, 8, 7}}))
	got, err := s.Secret(ctx(t), p.ID, sam.SecretClientSecret)
	must(t, err)
	if got.KeyID != "k2" || !bytes.Equal(got.Ciphertext, []byte{9, 8, 7}) {
		t.Errorf("replaced secret = %+v", got)
	}
	got, err = s.Secret(ctx(t), p.ID, sam.SecretRefreshToken)
	must(t, err)
	if got.KeyID != "k1" || string(got.Ciphertext) != "rt" {
		t.Errorf("second secret = %+v", got)
	}
	mustCode(t, s.PutSecret(ctx(t), 9999, sam.SecretClientSecret, sam.SealedSecret{KeyID: "k", Ciphertext: []byte("x")}), sam.ENOTFOUND)
	mustCode(t, s.PutSecret(ctx(t), p.ID, "", sam.SealedSecret{KeyID: "k"}), sam.EINVALID)
	mustCode(t, s.PutSecret(ctx(t), p.ID, "x", sam.SealedSecret{}), sam.EINVALID)
}

func testSoftwareModels(t *testing.T, s store.Store) {
	must(t, s.UpsertSoftwareModels(ctx(t), models()))
	got, err := s.SoftwareModel(ctx(t), upper(skuSales))
	must(t, err)
	want := models()[0]
	if got.SKUID != skuSales || got.PartNumber != want.PartNumber || got.Product != want.Product || got.Edition != want.Edition ||
		got.Family != want.Family || got.Kind != want.Kind || got.Metric != want.Metric || !got.Tracked || !got.Mapped ||
		got.UnitPrice != 6500 || got.Currency != "USD" || len(got.ServicePlans) != 1 || got.ServicePlans[0] != want.ServicePlans[0] {
		t.Errorf("model = %+v, want %+v", got, want)
	}

	// An unmapped model never overwrites a mapped one.
	must(t, s.UpsertSoftwareModels(ctx(t), []sam.SoftwareModel{{SKUID: skuSales, PartNumber: "X", Family: sam.FamilyOther}}))
	got, err = s.SoftwareModel(ctx(t), skuSales)
	must(t, err)
	if got.PartNumber != "D365_SALES_PRO" || !got.Mapped {
		t.Errorf("unmapped overwrote mapped: %+v", got)
	}
	// A mapped model replaces an unmapped one.
	must(t, s.UpsertSoftwareModels(ctx(t), []sam.SoftwareModel{{SKUID: skuUnknown, PartNumber: "MYSTERY", Family: sam.FamilyOther, UnitPrice: 999, Currency: "EUR"}}))
	must(t, s.UpsertSoftwareModels(ctx(t), []sam.SoftwareModel{{SKUID: skuUnknown, PartNumber: "POWERAUTOMATE_PER_USER",
		Family: sam.FamilyPowerAutomate, Mapped: true}}))
	got, err = s.SoftwareModel(ctx(t), skuUnknown)
	must(t, err)
	if got.PartNumber != "POWERAUTOMATE_PER_USER" || !got.Mapped || got.Family != sam.FamilyPowerAutomate {
		t.Errorf("mapped did not replace unmapped: %+v", got)
	}
	// The price set before is kept when the incoming model has none...
	if got.UnitPrice != 999 || got.Currency != "EUR" {
		t.Errorf("price not kept: %d %s", got.UnitPrice, got.Currency)
	}
	// ...and replaced when it has one.
	m := models()[0]
	m.UnitPrice, m.Currency = 7000, "EUR"
	must(t, s.UpsertSoftwareModels(ctx(t), []sam.SoftwareModel{m}))
	got, err = s.SoftwareModel(ctx(t), skuSales)
	must(t, err)
	if got.UnitPrice != 7000 || got.Currency != "EUR" {
		t.Errorf("price not replaced: %d %s", got.UnitPrice, got.Currency)
	}

	parts := func(f store.ModelFilter) []string {
		t.Helper()
		ms, err := s.SoftwareModels(ctx(t), f)
		must(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.PartNumber)
		}
		return out
	}
	tests := []struct {
		name string
		f    store.ModelFilter
		want []string
	}{
		{"all by part number", store.ModelFilter{}, []string{"D365_SALES_PRO", "DYN365_ENTERPRISE_CUSTOMER_SERVICE", "POWERAPPS_PER_USER", "POWERAUTOMATE_PER_USER"}},
		{"family", store.ModelFilter{Family: sam.FamilyPowerApps}, []string{"POWERAPPS_PER_USER"}},
		{"tracked", store.ModelFilter{Tracked: ptr(true)}, []string{"D365_SALES_PRO", "DYN365_ENTERPRISE_CUSTOMER_SERVICE"}},
		{"untracked", store.ModelFilter{Tracked: ptr(false)}, []string{"POWERAPPS_PER_USER", "POWERAUTOMATE_PER_USER"}},
		{"mapped", store.ModelFilter{Mapped: ptr(true), Family: sam.FamilyDynamics365}, []string{"D365_SALES_PRO", "DYN365_ENTERPRISE_CUSTOMER_SERVICE"}},
		{"unmapped", store.ModelFilter{Mapped: ptr(false)}, nil},
		{"sku ids", store.ModelFilter{SKUIDs: []string{upper(skuApps), skuService, guid(99, 9)}}, []string{"DYN365_ENTERPRISE_CUSTOMER_SERVICE", "POWERAPPS_PER_USER"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parts(tc.f); !equal(got, tc.want) {
				t.Errorf("SoftwareModels(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	_, err = s.SoftwareModel(ctx(t), guid(99, 9))
	mustCode(t, err, sam.ENOTFOUND)
	mustCode(t, s.UpsertSoftwareModels(ctx(t), []sam.SoftwareModel{{PartNumber: "NOSKU"}}), sam.EINVALID)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testSKUUnits(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	d1 := time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	d3 := d1.AddDate(0, 0, 2)
	u := func(sku string, day time.Time, enabled, consumed int) sam.SKUUnits {
		return sam.SKUUnits{ProfileID: p.ID, SKUID: sku, Day: day, PartNumber: "P" + sku[len(sku)-1:], CapabilityStatus: "Enabled",
			Enabled: enabled, Warning: 1, Suspended: 2, LockedOut: 3, Consumed: consumed}
	}
	must(t, s.PutSKUUnits(ctx(t), []sam.SKUUnits{u(skuSales, d1, 10, 5), u(skuApps, d1, 20, 15), u(skuSales, d2, 10, 6), u(skuSales, d3, 1, 1)}))
	// Replacing the record of the same day.
	must(t, s.PutSKUUnits(ctx(t), []sam.SKUUnits{u(skuSales, d1.Add(time.Hour), 12, 7)}))
	got, err := s.SKUUnits(ctx(t), p.ID, d1, d2.Add(5*time.Hour))
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("SKUUnits = %+v", got)
	}
	if !got[0].Day.Equal(sam.Day(d1)) || got[0].SKUID != skuSales || got[0].Enabled != 12 || got[0].Consumed != 7 ||
		got[0].Warning != 1 || got[0].Suspended != 2 || got[0].LockedOut != 3 || got[0].CapabilityStatus != "Enabled" || got[0].ProfileID != p.ID {
		t.Errorf("first record = %+v", got[0])
	}
	if got[1].SKUID != skuApps || got[2].SKUID != skuSales || !got[2].Day.Equal(sam.Day(d2)) {
		t.Errorf("order: %+v", got)
	}
	mustCode(t, s.PutSKUUnits(ctx(t), []sam.SKUUnits{{ProfileID: 9999, SKUID: skuSales, Day: d1}}), sam.ENOTFOUND)
	mustCode(t, s.PutSKUUnits(ctx(t), []sam.SKUUnits{{ProfileID: p.ID, Day: d1}}), sam.EINVALID)
}
