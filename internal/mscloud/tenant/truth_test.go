package tenant

import (
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

func TestTruthScenario(t *testing.T) {
	tn := loadBasic(t)
	type want struct {
		user, sku string
		group     string
		last      string // "" = none
		source    sam.ActivitySource
		d30, d90  int
		class     sam.UsageClass
	}
	tests := []struct {
		name     string
		envs     []int
		complete bool
		want     []want
	}{
		{"covered environments", []int{0, 1}, true, []want{
			// 10:00 and 14:00 fall within 4 h of the previous access row; the
			// update of an untracked table does not count.
			{adele, skuSalesEnt, "", "2026-02-28T08:00:00Z", sam.SourceRecord, 2, 2, sam.UsageLow},
			// direct and group: one subscription, direct; sign-ins do not
			// count for a tracked model; 01:00 is within 4 h of 23:00.
			{alex, skuSalesEnt, "", "2025-12-21T03:30:00Z", sam.SourceAccessWeb, 0, 2, sam.UsageInactive60},
			// access while user-access auditing was off and an update while
			// auditing was off are invisible; a delete is no evidence.
			{megan, skuSalesEnt, groupSales, "2026-02-03T10:05:00Z", sam.SourceRecord, 1, 1, sam.UsageLow},
			{nestor, skuSalesPro, "", "", "", 0, 0, sam.UsageNeverActive},
			{nestor, skuPA, "", "2026-02-25T08:00:00Z", sam.SourceSignIn, 1, 1, sam.UsageLow},
			{lidia, skuTM, "", "", "", 0, 0, sam.UsageNeverActive},
			{lidia, skuISV, "", "", "", 0, 0, sam.UsageNeverActive},
			{joni, skuSalesPro, "", "", "", 0, 0, sam.UsageDisabled},
			{grady, skuPA, "", "2026-02-10T08:00:00Z", sam.SourceSignIn, 1, 1, sam.UsageLow},
		}},
		{"all environments", nil, false, []want{
			{alex, skuSalesEnt, "", "2025-12-21T03:30:00Z", sam.SourceAccessWeb, 0, 2, sam.UsageUnknown},
			// environment 2 keeps 30 days: the access of 10 January is gone;
			// environment 3 does not audit.
			{nestor, skuSalesPro, "", "2026-02-02T08:05:00Z", sam.SourceAccessAPI, 1, 1, sam.UsageLow},
			{nestor, skuPA, "", "2026-02-25T08:00:00Z", sam.SourceSignIn, 2, 2, sam.UsageLow},
			{lidia, skuTM, "", "", "", 0, 0, sam.UsageUnknown},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := tn.Truth(time.Time{}, tt.envs)
			if err != nil {
				t.Fatal(err)
			}
			if tr.CoverageComplete != tt.complete {
				t.Errorf("coverage complete = %v, want %v (%+v)", tr.CoverageComplete, tt.complete, tr.Environments)
			}
			if !tr.AnalysisFrom.Equal(mustTime("2025-12-01T12:00:00Z")) {
				t.Errorf("analysis from = %s", tr.AnalysisFrom)
			}
			subs := map[[2]string]SubscriptionTruth{}
			for _, u := range tr.Users {
				for _, s := range u.Subscriptions {
					subs[[2]string{u.UserID, s.SKUID}] = s
				}
			}
			if _, ok := subs[[2]string{adele, skuO365}]; ok {
				t.Error("an Office SKU has a subscription")
			}
			for _, w := range tt.want {
				s, ok := subs[[2]string{w.user, w.sku}]
				if !ok {
					t.Errorf("no subscription for %s / %s", w.user, w.sku)
					continue
				}
				last := ""
				if s.LastActivity != nil {
					last = s.LastActivity.Format(time.RFC3339)
				}
				if last != w.last || s.LastActivitySource != w.source || s.ActiveDays30 != w.d30 || s.ActiveDays90 != w.d90 ||
					s.Class != w.class || s.AssignedByGroup != w.group {
					t.Errorf("%s / %s = last %q %q days %d/%d %s group %q; want %q %q %d/%d %s group %q", w.user, w.sku,
						last, s.LastActivitySource, s.ActiveDays30, s.ActiveDays90, s.Class, s.AssignedByGroup,
						w.last, w.source, w.d30, w.d90, w.class, w.group)
				}
			}
		})
	}
}

func TestTruthCountsAndCoverage(t *testing.T) {
	tn := loadBasic(t)
	tr, err := tn.Truth(mustTime("2026-02-01T00:00:00Z"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[int]string{}
	for _, e := range tr.Environments {
		reasons[e.Index] = e.Reason
		if e.Covered != (e.Reason == "") {
			t.Errorf("env %d covered %v with reason %q", e.Index, e.Covered, e.Reason)
		}
	}
	// 30-day retention covers a 29-day window
	if reasons[0] != "" || reasons[1] != "" || reasons[2] != "" || reasons[3] != "auditing is off" {
		t.Errorf("reasons = %v", reasons)
	}
	total := 0
	for sku, m := range tr.Counts {
		for _, n := range m {
			total += n
		}
		if sku == skuO365 {
			t.Error("counts include an Office SKU")
		}
	}
	subs := 0
	for _, u := range tr.Users {
		subs += len(u.Subscriptions)
	}
	if total != subs || subs != 9 {
		t.Errorf("counts total %d, subscriptions %d, want 9", total, subs)
	}
	// alex's activity is before the analysis start now
	ut, err := tn.UserTruth("alex@contoso.com", mustTime("2026-02-01T00:00:00Z"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := ut.Subscriptions[0]; s.LastActivity != nil || s.Class != sam.UsageUnknown {
		t.Errorf("alex = %+v", s)
	}
	// an environment the application may not read: no evidence, no coverage
	if err := tn.SetAppAuditRead(0, false); err != nil {
		t.Fatal(err)
	}
	ua, _ := tn.UserTruth(adele, time.Time{}, []int{0})
	if s := ua.Subscriptions[0]; s.LastActivity != nil || s.Class != sam.UsageUnknown || len(ua.Evidence) != 1 || ua.Evidence[0].Env != -1 {
		t.Errorf("adele without audit read = %+v, evidence %v", s, ua.Evidence)
	}
	// without AuditLog.Read.All, sign-ins are no evidence
	tn.SetGraphPermissions([]string{"User.Read.All", "LicenseAssignment.Read.All"})
	ug, _ := tn.UserTruth(grady, time.Time{}, nil)
	if s := ug.Subscriptions[0]; s.LastActivity != nil || len(ug.Evidence) != 0 {
		t.Errorf("grady without AuditLog.Read.All = %+v", s)
	}
	if _, err := tn.Truth(time.Time{}, []int{7}); KindOf(err) != ErrNotFound {
		t.Errorf("bad environment: %v", err)
	}
}

// TestTruthMatchesAudits checks the truth of a generated tenant against the
// audit rows its iterator serves: per user and tracked SKU, the last
// activity is the newest evidence row (>= analysis start), and the active
// days are the distinct days of those rows.
func TestTruthMatchesAudits(t *testing.T) {
	tn, err := Generate(Options{Seed: 7, Users: 300, Environments: 3, HistoryDays: 100})
	if err != nil {
		t.Fatal(err)
	}
	from := tn.Now().AddDate(0, 0, -75)
	envs := []int{0, 1, 2}
	type agg struct {
		last   time.Time
		src    sam.ActivitySource
		days30 map[time.Time]bool
	}
	seen := map[string]*agg{}
	now := tn.Now()
	for _, e := range envs {
		sys := map[string]string{}
		for cursor := ""; ; {
			rows, next, err := tn.SystemUsersPage(e, cursor, 50, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				sys[r.SystemUserID] = r.EntraUserID
			}
			if next == "" {
				break
			}
			cursor = next
		}
		seq, err := tn.Audits(e, AuditQuery{CreatedOnGE: from})
		if err != nil {
			t.Fatal(err)
		}
		for r := range seq {
			var src sam.ActivitySource
			switch {
			case r.Operation == 4 && r.Action == 64:
				src = sam.SourceAccessWeb
			case r.Operation == 4 && r.Action == 65:
				src = sam.SourceAccessAPI
			case (r.Operation == 1 || r.Operation == 2) && IsTrackedEntity(r.ObjectTypeCode):
				src = sam.SourceRecord
			default:
				continue
			}
			user := sys[r.UserID]
			if user == "" {
				continue // application and system users
			}
			a := seen[user]
			if a == nil {
				a = &agg{days30: map[time.Time]bool{}}
				seen[user] = a
			}
			if r.CreatedOn.After(a.last) || r.CreatedOn.Equal(a.last) && src < a.src {
				a.last, a.src = r.CreatedOn, src
			}
			if sam.DaysBetween(r.CreatedOn, now) < 30 {
				a.days30[sam.Day(r.CreatedOn)] = true
			}
		}
	}
	tr, err := tn.Truth(from, envs)
	if err != nil {
		t.Fatal(err)
	}
	checked, active := 0, 0
	for _, u := range tr.Users {
		for _, s := range u.Subscriptions {
			if !s.Tracked {
				continue
			}
			checked++
			if s.LastActivity != nil {
				active++
			}
			a := seen[u.UserID]
			if a == nil {
				if s.LastActivity != nil {
					t.Errorf("%s (%s): truth says %s, the audit log has nothing", u.UPN, u.Pattern, s.LastActivity)
				}
				continue
			}
			if s.LastActivity == nil || !s.LastActivity.Equal(a.last) || s.LastActivitySource != a.src || s.ActiveDays30 != len(a.days30) {
				t.Errorf("%s (%s): truth %v %s %d, audit log %s %s %d", u.UPN, u.Pattern, s.LastActivity, s.LastActivitySource,
					s.ActiveDays30, a.last, a.src, len(a.days30))
			}
		}
	}
	if checked < 100 || active < checked/3 || active == checked {
		t.Fatalf("%d tracked subscriptions checked, %d with activity: not a meaningful mix", checked, active)
	}
}

func TestTruthSeveralGroups(t *testing.T) {
	in := `{"now": "2026-01-15T12:00:00Z", "skus": [{"sku": "DYN365_TEAM_MEMBERS", "enabled": 2}],
	 "groups": [{"id": "bbbbbbbb-0000-4000-8000-000000000001", "displayName": "B", "skus": ["DYN365_TEAM_MEMBERS"]},
	            {"id": "aaaaaaaa-0000-4000-8000-000000000001", "displayName": "A", "skus": ["DYN365_TEAM_MEMBERS"]}],
	 "users": [{"userPrincipalName": "a@x.com", "groups": [
	   {"group": "B", "assignedAt": "2025-01-01T00:00:00Z"}, {"group": "A", "assignedAt": "2025-02-01T00:00:00Z"}]}]}`
	tn, err := LoadScenario(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	ut, err := tn.UserTruth("a@x.com", time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := ut.Subscriptions[0]
	if s.AssignedByGroup != "aaaaaaaa-0000-4000-8000-000000000001" || !s.AssignedAt.Equal(mustTime("2025-02-01T00:00:00Z")) {
		t.Errorf("subscription = %+v", s)
	}
	if sku, _ := tn.SKU("7ac9fe77-66b7-4e5e-9e46-10eed1cff547"); sku.Consumed != 1 {
		t.Errorf("a SKU from two groups consumes %d seats", sku.Consumed)
	}
}
