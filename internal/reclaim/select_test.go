package reclaim

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func TestSelect(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	ago := func(days int) *time.Time { x := now.AddDate(0, 0, -days); return &x }
	base := func() *store.ReclaimRule {
		r := store.DefaultReclaimRule(1, "00000000-0000-4000-8000-000000000001")
		return r
	}
	sub := func(mod func(s *sam.Subscription)) *sam.Subscription {
		s := &sam.Subscription{UserID: "u", SKUID: "00000000-0000-4000-8000-000000000001", AccountEnabled: true, Department: "Sales",
			Country: "FR", AssignedAt: now.AddDate(-1, 0, 0), LastActivity: ago(70), LastActivitySource: "dataverse:access_web", ActiveDays30: 0}
		if mod != nil {
			mod(s)
		}
		return s
	}
	tests := []struct {
		name    string
		rule    func(r *store.ReclaimRule)
		sub     *sam.Subscription
		covered bool
		better  string
		want    store.Justification
	}{
		{"inactive 70 >= 60", nil, sub(nil), true, "", store.JustInactive},
		{"inactive exactly 60", nil, sub(func(s *sam.Subscription) { s.LastActivity = ago(60) }), true, "", store.JustInactive},
		{"inactive 59", nil, sub(func(s *sam.Subscription) { s.LastActivity = ago(59) }), true, "", ""},
		{"incomplete coverage proves nothing", nil, sub(nil), false, "", ""},
		{"never active", nil, sub(func(s *sam.Subscription) { s.LastActivity = nil }), true, "", store.JustNeverActive},
		{"never active excluded by the rule", func(r *store.ReclaimRule) { r.IncludeNeverActive = false }, sub(func(s *sam.Subscription) { s.LastActivity = nil }), true, "", ""},
		{"never active, incomplete coverage", nil, sub(func(s *sam.Subscription) { s.LastActivity = nil }), false, "", ""},
		{"disabled account, even without coverage", nil, sub(func(s *sam.Subscription) { s.AccountEnabled = false }), false, "", store.JustDisabled},
		{"disabled accounts off", func(r *store.ReclaimRule) { r.IncludeDisabled = false }, sub(func(s *sam.Subscription) { s.AccountEnabled = false }), true, "", ""},
		{"grace for a new assignment", nil, sub(func(s *sam.Subscription) { s.AssignedAt = now.AddDate(0, 0, -29) }), true, "", ""},
		{"grace over", nil, sub(func(s *sam.Subscription) { s.AssignedAt = now.AddDate(0, 0, -30) }), true, "", store.JustInactive},
		{"unknown assignment date: no grace", nil, sub(func(s *sam.Subscription) { s.AssignedAt = time.Time{} }), true, "", store.JustInactive},
		{"rule disabled", func(r *store.ReclaimRule) { r.Enabled = false }, sub(nil), true, "", ""},
		{"department matches case-insensitively", func(r *store.ReclaimRule) { r.Departments = []string{"sales"} }, sub(nil), true, "", store.JustInactive},
		{"department does not match", func(r *store.ReclaimRule) { r.Departments = []string{"Finance"} }, sub(nil), true, "", ""},
		{"country does not match", func(r *store.ReclaimRule) { r.Countries = []string{"DE"} }, sub(nil), true, "", ""},
		{"direct only, group licence", func(r *store.ReclaimRule) { r.AssignmentPath = store.PathDirect }, sub(func(s *sam.Subscription) { s.AssignedByGroup = "g" }), true, "", ""},
		{"group only, direct licence", func(r *store.ReclaimRule) { r.AssignmentPath = store.PathGroup }, sub(nil), true, "", ""},
		{"low usage off by default", nil, sub(func(s *sam.Subscription) { s.LastActivity, s.ActiveDays30 = ago(3), 2 }), true, "", ""},
		{"low usage on", func(r *store.ReclaimRule) { r.IncludeLowUsage = true }, sub(func(s *sam.Subscription) { s.LastActivity, s.ActiveDays30 = ago(3), 2 }), true, "", store.JustLowUsage},
		{"active enough", func(r *store.ReclaimRule) { r.IncludeLowUsage = true }, sub(func(s *sam.Subscription) { s.LastActivity, s.ActiveDays30 = ago(1), 12 }), true, "", ""},
		{"duplicate base", func(r *store.ReclaimRule) { r.IncludeDuplicateBase = true }, sub(func(s *sam.Subscription) { s.LastActivity, s.ActiveDays30 = ago(1), 12 }), true, "sku2", store.JustDuplicateBase},
		{"duplicate base off", nil, sub(func(s *sam.Subscription) { s.LastActivity, s.ActiveDays30 = ago(1), 12 }), true, "sku2", ""},
		{"closed subscription", nil, sub(func(s *sam.Subscription) { c := now; s.ClosedAt = &c }), true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			if tc.rule != nil {
				tc.rule(r)
			}
			got, note, ok := Select(r, tc.sub, Facts{Now: now, CoverageComplete: tc.covered, BetterBase: tc.better, Model: sam.SoftwareModel{Tracked: true}})
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("Select = %q, %t (%s); want %q", got, ok, note, tc.want)
			}
			if ok && note == "" {
				t.Error("a candidate without a note")
			}
		})
	}
}

func TestExclusionsMatch(t *testing.T) {
	x := NewExclusions([]*store.Exclusion{
		{Kind: store.ExcludeUser, Value: "11111111-1111-4111-8111-111111111111"},
		{Kind: store.ExcludeVIP, Value: "ceo@contoso.com"},
		{Kind: store.ExcludeUPNPattern, Value: "*@board.contoso.com"},
		{Kind: store.ExcludeGroup, Value: "22222222-2222-4222-8222-222222222222"},
		{Kind: store.ExcludeSKU, Value: "33333333-3333-4333-8333-333333333333"},
	})
	tests := []struct {
		user, upn, sku, group string
		excluded              bool
	}{
		{"11111111-1111-4111-8111-111111111111", "a@contoso.com", "s", "", true},
		{"11111111-1111-4111-8111-111111111111", "", "s", "", true},
		{"u", "CEO@Contoso.com", "s", "", true},
		{"u", "jane@Board.Contoso.com", "s", "", true},
		{"u", "jane@contoso.com", "s", "22222222-2222-4222-8222-222222222222", true},
		{"u", "jane@contoso.com", "33333333-3333-4333-8333-333333333333", "", true},
		{"u", "jane@contoso.com", "s", "", false},
		{"u", "jane@board.contoso.com.evil", "s", "", false},
	}
	for _, tc := range tests {
		if got := x.Match(tc.user, tc.upn, tc.sku, tc.group) != ""; got != tc.excluded {
			t.Errorf("Match(%s, %s, %s, %s) excluded %t, want %t", tc.user, tc.upn, tc.sku, tc.group, got, tc.excluded)
		}
	}
}
