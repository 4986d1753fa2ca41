package ingest

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// fakeCatalog knows SKUs "a…" and "b…" as tracked-family models and "o…" as
// an Office SKU.
type fakeCatalog struct{}

const (
	skuA      = "aaaaaaaa-0000-0000-0000-000000000001"
	skuB      = "bbbbbbbb-0000-0000-0000-000000000002"
	skuOffice = "0ffce000-0000-0000-0000-000000000003"
	skuNew    = "eeeeeeee-0000-0000-0000-000000000004"
)

func (fakeCatalog) Model(sku string) (sam.SoftwareModel, bool) {
	switch sku {
	case skuA, skuB:
		return sam.SoftwareModel{SKUID: sku, PartNumber: "P" + sku[:1], Family: sam.FamilyDynamics365, Mapped: true}, true
	}
	return sam.SoftwareModel{}, false
}

func (c fakeCatalog) Known(sku string) bool {
	_, ok := c.Model(sku)
	return ok || sku == skuOffice
}

func TestAuditSource(t *testing.T) {
	tests := []struct {
		op, action int
		otc        string
		want       sam.ActivitySource
		ok         bool
	}{
		{4, 64, "systemuser", sam.SourceAccessWeb, true},
		{4, 65, "systemuser", sam.SourceAccessAPI, true},
		{4, 15, "systemuser", "", false},
		{1, 1, "account", sam.SourceRecord, true},
		{2, 2, "Incident", sam.SourceRecord, true},
		{2, 2, "serviceappointment", sam.SourceRecord, true},
		{3, 3, "account", "", false},
		{2, 2, "knowledgearticle", "", false},
		{1, 1, "", "", false},
	}
	for _, tt := range tests {
		got, ok := AuditSource(tt.op, tt.action, tt.otc)
		if got != tt.want || ok != tt.ok {
			t.Errorf("AuditSource(%d, %d, %q) = %q, %v; want %q, %v", tt.op, tt.action, tt.otc, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStagedUserOf(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name string
		in   GraphUser
		want []store.StagedLicense
	}{
		{"direct", GraphUser{ID: "U1", AssignedSKUs: []string{strings.ToUpper(skuA)},
			States: []LicenseState{{SKUID: skuA, LastUpdated: t1}}},
			[]store.StagedLicense{{SKUID: skuA, AssignedAt: t1}}},
		{"group", GraphUser{ID: "U1", AssignedSKUs: []string{skuA},
			States: []LicenseState{{SKUID: skuA, AssignedByGroup: "G2", LastUpdated: t2}, {SKUID: skuA, AssignedByGroup: "G1", LastUpdated: t1}}},
			[]store.StagedLicense{{SKUID: skuA, AssignedByGroup: "g1", AssignedAt: t1}}},
		{"direct and group count once as direct", GraphUser{ID: "U1", AssignedSKUs: []string{skuA},
			States: []LicenseState{{SKUID: skuA, AssignedByGroup: "g1", LastUpdated: t1}, {SKUID: skuA, LastUpdated: t2}}},
			[]store.StagedLicense{{SKUID: skuA, AssignedAt: t2}}},
		{"office ignored, unknown kept, no state", GraphUser{ID: "U1", AssignedSKUs: []string{skuOffice, skuNew, skuB}},
			[]store.StagedLicense{{SKUID: skuB}, {SKUID: skuNew}}},
		{"error state without assignment ignored", GraphUser{ID: "U1", AssignedSKUs: nil,
			States: []LicenseState{{SKUID: skuA, AssignedByGroup: "g1", State: "Error"}}}, nil},
		{"removed", GraphUser{ID: "U1", Removed: true, AssignedSKUs: []string{skuA}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StagedUserOf(fakeCatalog{}, tt.in)
			if got.UserID != "u1" {
				t.Errorf("UserID = %q, want u1", got.UserID)
			}
			if !reflect.DeepEqual(got.Licenses, tt.want) {
				t.Errorf("Licenses = %+v, want %+v", got.Licenses, tt.want)
			}
		})
	}
}

func TestModelOf(t *testing.T) {
	if _, ok := ModelOf(fakeCatalog{}, SubscribedSKU{SKUID: skuOffice, PartNumber: "O365"}); ok {
		t.Error("Office SKU made a model")
	}
	m, ok := ModelOf(fakeCatalog{}, SubscribedSKU{SKUID: strings.ToUpper(skuNew), PartNumber: " NEW_SKU "})
	if !ok || m.Mapped || m.SKUID != skuNew || m.PartNumber != "NEW_SKU" || m.Family != sam.FamilyOther {
		t.Errorf("unknown SKU model = %+v, %v", m, ok)
	}
	m, ok = ModelOf(fakeCatalog{}, SubscribedSKU{SKUID: skuA})
	if !ok || !m.Mapped {
		t.Errorf("catalog SKU model = %+v, %v", m, ok)
	}
}

func TestAggregate(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.UTC) }
	rows := []AuditRow{
		{CreatedOn: at(2, 1), Operation: 4, Action: 64, UserID: "S1"},
		{CreatedOn: at(2, 9), Operation: 4, Action: 64, UserID: "s1"},
		{CreatedOn: at(2, 5), Operation: 4, Action: 65, UserID: "s1"},
		{CreatedOn: at(3, 5), Operation: 2, Action: 2, ObjectTypeCode: "lead", UserID: "s2"},
		{CreatedOn: at(4, 5), Operation: 3, Action: 3, ObjectTypeCode: "lead", UserID: "s2"}, // delete: not evidence
		{CreatedOn: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), Operation: 4, Action: 64, UserID: "s3"},
	}
	var max time.Time
	got := aggregate(7, from, rows, &max)
	want := []store.StagedActivity{
		{EnvironmentID: 7, SystemUserID: "s1", Day: at(2, 0), Source: sam.SourceAccessWeb, Events: 2, LastAt: at(2, 9)},
		{EnvironmentID: 7, SystemUserID: "s1", Day: at(2, 0), Source: sam.SourceAccessAPI, Events: 1, LastAt: at(2, 5)},
		{EnvironmentID: 7, SystemUserID: "s2", Day: at(3, 0), Source: sam.SourceRecord, Events: 1, LastAt: at(3, 5)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("aggregate = %+v\nwant %+v", got, want)
	}
	if !max.Equal(at(4, 5)) {
		t.Errorf("max = %v, want %v", max, at(4, 5))
	}
}

func TestAuditsQuery(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, after := range []bool{false, true} {
		q := auditsQuery(from, after)
		u, err := url.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		f := u.Query().Get("$filter")
		cmp := "createdon ge 2026-01-01T00:00:00Z"
		if after {
			cmp = "createdon gt 2026-01-01T00:00:00Z"
		}
		if !strings.Contains(f, cmp) || !strings.Contains(f, "objecttypecode eq 'serviceappointment'") || !strings.Contains(f, "action eq 65") {
			t.Errorf("filter %q lacks %q or an evidence clause", f, cmp)
		}
		if u.Path != "audits" || u.Query().Get("$orderby") != "createdon asc" {
			t.Errorf("query %q", q)
		}
	}
}

// aggregate (a test helper) turns one page of audit rows into staged evidence (see
// aggregator.add).
func aggregate(envID int64, from time.Time, rows []AuditRow, max *time.Time) []store.StagedActivity {
	g := newAggregator(envID)
	g.add(from, rows, max)
	return g.take()
}
