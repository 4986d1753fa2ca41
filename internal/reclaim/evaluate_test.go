package reclaim

import (
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// TestCandidatesMatchTruth evaluates the rules under several settings
// against a generated tenant and compares the open candidates with what the
// simulator's ground truth calls for; excluded users never appear.
func TestCandidatesMatchTruth(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		x := setup(t, url, 240)
		// A department present in the tenant, for the condition.
		truth, err := x.ten.Truth(time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The most common department among holders of tracked licences.
		depts := map[string]int{}
		dept := ""
		for _, u := range truth.Users {
			tu, _ := x.ten.User(u.UserID)
			for _, ts := range u.Subscriptions {
				if ts.Tracked && tu.Department != "" {
					depts[tu.Department]++
					if depts[tu.Department] > depts[dept] {
						dept = tu.Department
					}
				}
			}
		}
		// Exclusions: one user by id, one VIP by UPN, every UPN starting with "a".
		excluded := map[string]bool{truth.Users[3].UserID: true, truth.Users[7].UserID: true}
		for _, e := range []*store.Exclusion{
			{Kind: store.ExcludeUser, Value: truth.Users[3].UserID},
			{ProfileID: x.p.ID, Kind: store.ExcludeVIP, Value: truth.Users[7].UPN},
			{Kind: store.ExcludeUPNPattern, Value: "a*"},
		} {
			if err := x.st.AddExclusion(x.ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range truth.Users {
			if strings.HasPrefix(strings.ToLower(u.UPN), "a") {
				excluded[u.UserID] = true
			}
		}
		tests := []struct {
			name string
			spec ruleSpec
		}{
			{"defaults", ruleSpec{inactive: 60, never: true, disabled: true, grace: 30}},
			{"30 days, no never-active, no disabled", ruleSpec{inactive: 30, grace: 0}},
			{"90 days", ruleSpec{inactive: 90, never: true, disabled: true, grace: 30}},
			{"department and direct only", ruleSpec{inactive: 30, never: true, disabled: true, departments: []string{strings.ToUpper(dept)}, path: store.PathDirect}},
			{"group only, long grace", ruleSpec{inactive: 30, never: true, disabled: true, grace: 400, path: store.PathGroup}},
		}
		for _, tc := range tests {
			x.rules(func(r *store.ReclaimRule) {
				r.InactiveDays, r.IncludeNeverActive, r.IncludeDisabled, r.GraceDays = tc.spec.inactive, tc.spec.never, tc.spec.disabled, tc.spec.grace
				r.Departments, r.AssignmentPath = tc.spec.departments, tc.spec.path
			})
			x.evaluate()
			got := map[string]string{}
			for _, c := range x.open() {
				got[c.UserID+"/"+c.SKUID] = string(c.Justification)
				if excluded[c.UserID] {
					t.Errorf("%s: excluded user %s (%s) is a candidate", tc.name, c.UPN, c.UserID)
				}
			}
			want := x.expected(tc.spec, excluded, "")
			for k := range want {
				if excluded[strings.Split(k, "/")[0]] {
					delete(want, k)
				}
			}
			if len(want) == 0 {
				t.Fatalf("%s: the ground truth selects no candidate; the test proves nothing", tc.name)
			}
			if d := diffSets(got, want); len(d) > 0 {
				t.Errorf("%s: %d candidates, truth %d; differences:\n%s", tc.name, len(got), len(want), strings.Join(d, "\n"))
			}
		}
		// The listing for reports leaves out an exclusion added after candidacy.
		open := x.open()
		late := open[0]
		if err := x.st.AddExclusion(x.ctx, &store.Exclusion{Kind: store.ExcludeUser, Value: late.UPN}); err != nil {
			t.Fatal(err)
		}
		listed, err := x.e.Candidates(x.ctx, store.CandidateFilter{ProfileID: x.p.ID, OpenOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range listed {
			if c.UserID == late.UserID {
				t.Errorf("newly excluded user %s still listed", late.UPN)
			}
		}
		x.evaluate()
		if c := x.candidate(late.ID); c.State != store.StateClosedCanceled || !strings.Contains(c.Message, "excluded") {
			t.Errorf("newly excluded candidate: %s %q, want closed_canceled because excluded", c.State, c.Message)
		}
	})
}

// TestActivityCancels: activity seen after candidacy closes the candidate
// as canceled, with the reason and the transition stored.
func TestActivityCancels(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.evaluate()
	var c, gone *store.Candidate
	for _, o := range x.open() {
		switch {
		case c == nil && (o.Justification == store.JustInactive || o.Justification == store.JustNeverActive):
			c = o
		case gone == nil && o.AssignedByGroup == "":
			gone = o
		}
	}
	if c == nil || gone == nil {
		t.Fatal("no inactive or never-active candidate, or no second direct one")
	}
	// A licence removed outside Seatwise: its candidate is canceled.
	if _, err := x.ten.AssignLicense(gone.UserID, nil, []string{gone.SKUID}); err != nil {
		t.Fatal(err)
	}
	if len(c.Evidence.Sources) == 0 || c.Evidence.Note == "" || c.Evidence.AsOf.IsZero() {
		t.Errorf("candidate evidence is incomplete: %+v", c.Evidence)
	}
	if c.Justification == store.JustInactive && (len(c.Evidence.Days) == 0 || c.InactiveDays < 60) {
		t.Errorf("inactive candidate: %d evidence days, %d inactive days", len(c.Evidence.Days), c.InactiveDays)
	}
	tu, err := x.ten.User(c.UserID)
	if err != nil {
		t.Fatal(err)
	}
	_ = tu
	x.ten.Advance(time.Hour)
	if err := x.ten.AddActivity(c.UserID, tenant.Event{Env: 0, At: x.ten.Now().Add(-time.Minute), Operation: tenant.OperationAccess,
		Action: tenant.ActionUserAccessViaWeb}); err != nil {
		t.Fatal(err)
	}
	x.sync()
	x.evaluate()
	got := x.candidate(c.ID)
	if got.State != store.StateClosedCanceled || !strings.Contains(got.Message, "activity seen on "+sam.FormatDay(x.ten.Now())) {
		t.Fatalf("after new activity: %s %q, want closed_canceled because of activity", got.State, got.Message)
	}
	if g := x.candidate(gone.ID); g.State != store.StateClosedCanceled || !strings.Contains(g.Message, "no longer held") {
		t.Errorf("licence removed outside Seatwise: %s %q", g.State, g.Message)
	}
	hist, err := x.st.CandidateTransitions(x.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := hist[len(hist)-1]; last.To != store.StateClosedCanceled || last.Actor != ActorSystem || !strings.Contains(last.Reason, "activity seen") {
		t.Errorf("last transition = %+v", last)
	}
}

// TestSimulate: counts per threshold match the ground truth and nothing is
// created.
func TestSimulate(t *testing.T) {
	x := setup(t, dialects[0].url(t), 160)
	res, err := x.e.Simulate(x.ctx, x.profile(), []int{30, 60, 90})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(x.open()); n != 0 {
		t.Fatalf("simulate created %d candidates", n)
	}
	prev := -1
	for i, th := range res {
		want := x.expected(ruleSpec{inactive: th.Days, never: true, disabled: true, grace: 30}, nil, "")
		if th.Count != len(want) {
			t.Errorf("threshold %d: %d candidates, truth %d", th.Days, th.Count, len(want))
		}
		sum := 0
		for _, s := range th.SKUs {
			sum += s.Count
			if s.Unpriced+int(s.Saving/max(1, s.Saving)) == 0 && s.Count > 0 {
				t.Errorf("threshold %d SKU %s: neither a saving nor unpriced", th.Days, s.PartNumber)
			}
		}
		if sum != th.Count {
			t.Errorf("threshold %d: SKU counts add up to %d, total %d", th.Days, sum, th.Count)
		}
		if i > 0 && th.Count > prev {
			t.Errorf("threshold %d selects more (%d) than a shorter one (%d)", th.Days, th.Count, prev)
		}
		prev = th.Count
	}
	if _, err := x.e.Simulate(x.ctx, x.profile(), []int{0}); sam.ErrorCode(err) != sam.EINVALID {
		t.Errorf("threshold 0: %v, want EINVALID", err)
	}
}
