package storetest

import (
	"database/sql"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// reclaimTests are the conformance tests of store.ReclaimStore.
var reclaimTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ReclaimSettings", testReclaimSettings},
	{"ReclaimRules", testReclaimRules},
	{"Exclusions", testExclusions},
	{"Candidates", testCandidates},
	{"CandidateTransitionsAppendOnly", testTransitionsAppendOnly},
	{"SavingsCandidates", testSavingsCandidates},
	{"DeleteProfileClosesCandidates", testDeleteProfileClosesCandidates},
}

func testReclaimSettings(t *testing.T, s store.Store) {
	got, err := s.ReclaimSettings(ctx(t))
	must(t, err)
	def := store.DefaultReclaimSettings()
	if !got.DryRun || !got.AllowGroupRemoval || got.CapCount != def.CapCount || got.CapPercent != def.CapPercent || got.StalenessLimit != def.StalenessLimit || got.UndoWindow != def.UndoWindow {
		t.Fatalf("a new database's settings = %+v, want %+v (dry run on)", got, def)
	}
	got.DryRun, got.CapCount, got.CapPercent, got.StalenessLimit, got.UpdatedBy = false, 3, 50, 6*time.Hour, "user:alice"
	got.AllowGroupRemoval = false
	must(t, s.SetReclaimSettings(ctx(t), &got))
	again, err := s.ReclaimSettings(ctx(t))
	must(t, err)
	if again.DryRun || again.AllowGroupRemoval || again.CapCount != 3 || again.CapPercent != 50 || again.StalenessLimit != 6*time.Hour || again.UpdatedBy != "user:alice" || again.UpdatedAt.IsZero() {
		t.Errorf("after SetReclaimSettings: %+v", again)
	}
	for _, bad := range []store.ReclaimSettings{
		{CapCount: -1, CapPercent: 10, StalenessLimit: time.Hour},
		{CapCount: 1, CapPercent: 101, StalenessLimit: time.Hour},
		{CapCount: 1, CapPercent: 10},
	} {
		mustCode(t, s.SetReclaimSettings(ctx(t), &bad), sam.EINVALID)
	}
}

func testReclaimRules(t *testing.T, s store.Store) {
	p := newProfile(t, s, "rules", 0)
	q := newProfile(t, s, "other", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	rules := []*store.ReclaimRule{store.DefaultReclaimRule(p.ID, skuSales), store.DefaultReclaimRule(p.ID, skuService), store.DefaultReclaimRule(q.ID, skuSales)}
	n, err := s.EnsureReclaimRules(ctx(t), rules)
	must(t, err)
	if n != 3 || rules[0].ID == 0 || rules[2].ID == 0 {
		t.Fatalf("EnsureReclaimRules created %d, ids %d %d", n, rules[0].ID, rules[2].ID)
	}
	r := rules[0]
	r.InactiveDays, r.Enabled, r.Departments, r.Countries, r.AssignmentPath = 90, false, []string{"Sales"}, []string{"FR", "DE"}, store.PathDirect
	r.ApprovalGroup, r.ManagerApproval, r.UpdatedBy = guid(40, 1), false, "user:bob"
	must(t, s.UpdateReclaimRule(ctx(t), r))
	// Ensuring again keeps the edit and creates nothing.
	n, err = s.EnsureReclaimRules(ctx(t), []*store.ReclaimRule{store.DefaultReclaimRule(p.ID, skuSales)})
	must(t, err)
	if n != 0 {
		t.Errorf("EnsureReclaimRules created %d rules for an existing (profile, SKU)", n)
	}
	got, err := s.ReclaimRule(ctx(t), r.ID)
	must(t, err)
	if got.InactiveDays != 90 || got.Enabled || len(got.Departments) != 1 || got.Departments[0] != "Sales" || len(got.Countries) != 2 ||
		got.AssignmentPath != store.PathDirect || got.ApprovalGroup != guid(40, 1) || got.ManagerApproval || got.UpdatedBy != "user:bob" ||
		!got.IncludeNeverActive || got.GraceDays != 30 || got.ResponseDays != 7 || !got.NotifyUser {
		t.Errorf("rule after update = %+v", got)
	}
	list, err := s.ReclaimRules(ctx(t), p.ID)
	must(t, err)
	if len(list) != 2 || list[0].ProfileID != p.ID {
		t.Errorf("ReclaimRules(p) = %d rules", len(list))
	}
	all, err := s.ReclaimRules(ctx(t), 0)
	must(t, err)
	if len(all) != 3 {
		t.Errorf("ReclaimRules(0) = %d rules, want 3", len(all))
	}
	_, err = s.ReclaimRule(ctx(t), 9999)
	mustCode(t, err, sam.ENOTFOUND)
	mustCode(t, s.UpdateReclaimRule(ctx(t), &store.ReclaimRule{ID: 9999, ProfileID: p.ID, SKUID: skuSales, InactiveDays: 1}), sam.ENOTFOUND)
	bad := *got
	bad.InactiveDays = 0
	mustCode(t, s.UpdateReclaimRule(ctx(t), &bad), sam.EINVALID)
	bad = *got
	bad.AssignmentPath = "sideways"
	mustCode(t, s.UpdateReclaimRule(ctx(t), &bad), sam.EINVALID)
	_, err = s.EnsureReclaimRules(ctx(t), []*store.ReclaimRule{store.DefaultReclaimRule(9999, skuSales)})
	mustCode(t, err, sam.ENOTFOUND)
	_, err = s.EnsureReclaimRules(ctx(t), []*store.ReclaimRule{store.DefaultReclaimRule(p.ID, guid(99, 99))})
	mustCode(t, err, sam.ENOTFOUND)
}

func testExclusions(t *testing.T, s store.Store) {
	p := newProfile(t, s, "excl", 0)
	q := newProfile(t, s, "excl2", 0)
	e1 := &store.Exclusion{Kind: store.ExcludeUPNPattern, Value: "*@Board.Contoso.com", Reason: "board", CreatedBy: "user:a"}
	must(t, s.AddExclusion(ctx(t), e1))
	e2 := &store.Exclusion{ProfileID: p.ID, Kind: store.ExcludeVIP, Value: user(3)}
	must(t, s.AddExclusion(ctx(t), e2))
	must(t, s.AddExclusion(ctx(t), &store.Exclusion{ProfileID: q.ID, Kind: store.ExcludeSKU, Value: skuSales}))
	mustCode(t, s.AddExclusion(ctx(t), &store.Exclusion{ProfileID: p.ID, Kind: store.ExcludeVIP, Value: user(3)}), sam.ECONFLICT)
	mustCode(t, s.AddExclusion(ctx(t), &store.Exclusion{Kind: "colour", Value: "x"}), sam.EINVALID)
	mustCode(t, s.AddExclusion(ctx(t), &store.Exclusion{Kind: store.ExcludeUser, Value: " "}), sam.EINVALID)
	mustCode(t, s.AddExclusion(ctx(t), &store.Exclusion{ProfileID: 9999, Kind: store.ExcludeUser, Value: "x"}), sam.ENOTFOUND)
	got, err := s.Exclusions(ctx(t), p.ID)
	must(t, err)
	if len(got) != 2 || got[0].Value != "*@board.contoso.com" || got[0].ProfileID != 0 || got[1].Kind != store.ExcludeVIP || got[0].CreatedAt.IsZero() {
		t.Fatalf("Exclusions(p) = %+v", got)
	}
	all, err := s.Exclusions(ctx(t), -1)
	must(t, err)
	if len(all) != 3 {
		t.Errorf("Exclusions(-1) = %d, want 3", len(all))
	}
	must(t, s.DeleteExclusion(ctx(t), e1.ID))
	mustCode(t, s.DeleteExclusion(ctx(t), e1.ID), sam.ENOTFOUND)
	got, err = s.Exclusions(ctx(t), p.ID)
	must(t, err)
	if len(got) != 1 {
		t.Errorf("after delete: %d exclusions", len(got))
	}
}

// newCandidate creates a ready candidate for the open subscription of user n.
func newCandidate(t *testing.T, s store.Store, p *sam.Profile, n int, sku string) *store.Candidate {
	t.Helper()
	sub := openSubs(t, s, p.ID)[key(n, sku)]
	if sub == nil {
		t.Fatalf("no open subscription for user %d and %s", n, sku)
	}
	last := now.AddDate(0, 0, -70)
	c := &store.Candidate{ProfileID: p.ID, SubscriptionID: sub.ID, UserID: sub.UserID, UPN: sub.UPN, SKUID: sku,
		Justification: store.JustInactive, InactiveDays: 70, LastActivity: &last, Saving: 6500, Currency: "USD",
		State: store.StateReady, DueAt: now.Add(time.Hour),
		Evidence: store.Evidence{AsOf: now, Note: "inactive 70 days", Days: []store.EvidenceDay{{Day: sam.Day(last), Source: "dataverse:access_web", EnvironmentID: 1, Events: 2, LastAt: last}}}}
	must(t, s.CreateCandidate(ctx(t), c, store.Transition{Actor: "system", Reason: "rule evaluation"}))
	return c
}

func testCandidates(t *testing.T, s store.Store) {
	p := newProfile(t, s, "cands", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales, skuApps))
	c := newCandidate(t, s, p, 1, skuSales)
	if c.ID == 0 || c.CreatedAt.IsZero() {
		t.Fatalf("CreateCandidate did not set ID/CreatedAt: %+v", c)
	}
	dup := *c
	dup.ID = 0
	mustCode(t, s.CreateCandidate(ctx(t), &dup, store.Transition{Actor: "system"}), sam.ECONFLICT)
	mustCode(t, s.CreateCandidate(ctx(t), &store.Candidate{ProfileID: p.ID, SubscriptionID: 99999, UserID: user(1), SKUID: skuSales,
		Justification: store.JustInactive, State: store.StateReady}, store.Transition{Actor: "system"}), sam.ENOTFOUND)
	mustCode(t, s.CreateCandidate(ctx(t), &store.Candidate{ProfileID: p.ID, SubscriptionID: c.SubscriptionID, UserID: user(1), SKUID: skuSales,
		Justification: store.JustInactive, State: store.StateClosedComplete}, store.Transition{Actor: "system"}), sam.EINVALID)

	got, err := s.Candidate(ctx(t), c.ID)
	must(t, err)
	if got.State != store.StateReady || got.Saving != 6500 || got.LastActivity == nil || !got.LastActivity.Equal(*c.LastActivity) ||
		len(got.Evidence.Days) != 1 || got.Evidence.Days[0].Source != "dataverse:access_web" || !got.DueAt.Equal(c.DueAt) {
		t.Errorf("Candidate = %+v", got)
	}
	// Compare-and-set: the first update wins, a stale one conflicts.
	got.State, got.DueAt, got.Message = store.StateAwaitingUser, now.AddDate(0, 0, 7), "notified"
	must(t, s.UpdateCandidate(ctx(t), got, store.StateReady, &store.Transition{Actor: "system", Reason: "user notified"}))
	stale := *c
	stale.State = store.StateAwaitingRevocation
	mustCode(t, s.UpdateCandidate(ctx(t), &stale, store.StateReady, &store.Transition{Actor: "user:x"}), sam.ECONFLICT)
	mustCode(t, s.UpdateCandidate(ctx(t), &store.Candidate{ID: 99999, State: store.StateReady}, store.StateReady, nil), sam.ENOTFOUND)

	// Intent claimed once: a second claim conflicts, as does a wrong state.
	got.Intent, got.Method, got.IntentAt, got.DisabledPlans = store.IntentRemove, store.MethodDirect, now, []string{guid(11, 1)}
	mustCode(t, s.BeginCandidateChange(ctx(t), got, store.StateReady), sam.ECONFLICT)
	must(t, s.BeginCandidateChange(ctx(t), got, store.StateAwaitingUser))
	mustCode(t, s.BeginCandidateChange(ctx(t), got, store.StateAwaitingUser), sam.ECONFLICT)
	mustCode(t, s.BeginCandidateChange(ctx(t), &store.Candidate{ID: 99999, Intent: store.IntentRemove}, store.StateReady), sam.ENOTFOUND)
	if claimed, err := s.Candidate(ctx(t), c.ID); err != nil || claimed.Intent != store.IntentRemove || len(claimed.DisabledPlans) != 1 {
		t.Errorf("after BeginCandidateChange: %+v, %v", claimed, err)
	}
	inflight, err := s.Candidates(ctx(t), store.CandidateFilter{Intent: store.IntentRemove})
	must(t, err)
	if len(inflight) != 1 || inflight[0].ID != c.ID {
		t.Errorf("Candidates(intent remove) = %d", len(inflight))
	}
	due, err := s.Candidates(ctx(t), store.CandidateFilter{DueBefore: now.AddDate(0, 0, 8)})
	must(t, err)
	notDue, err := s.Candidates(ctx(t), store.CandidateFilter{DueBefore: now.AddDate(0, 0, 6)})
	must(t, err)
	if len(due) != 1 || len(notDue) != 0 {
		t.Errorf("due candidates: %d by day 8, %d by day 6; want 1 and 0", len(due), len(notDue))
	}

	// Closing sets ClosedAt and frees the subscription for a new candidate.
	got.State, got.Intent, got.RemovedAt, got.DueAt = store.StateClosedComplete, "", now, time.Time{}
	must(t, s.UpdateCandidate(ctx(t), got, store.StateAwaitingUser, &store.Transition{Actor: "system", Reason: "removed"}))
	closed, err := s.Candidate(ctx(t), c.ID)
	must(t, err)
	if closed.ClosedAt.IsZero() || !closed.RemovedAt.Equal(now) || !closed.DueAt.IsZero() {
		t.Errorf("closed candidate = %+v", closed)
	}
	c2 := newCandidate(t, s, p, 1, skuSales)
	c3 := newCandidate(t, s, p, 2, skuApps)
	open, err := s.Candidates(ctx(t), store.CandidateFilter{ProfileID: p.ID, OpenOnly: true})
	must(t, err)
	if len(open) != 2 || open[0].ID != c2.ID || open[1].ID != c3.ID {
		t.Errorf("open candidates = %d", len(open))
	}
	bySKU, err := s.Candidates(ctx(t), store.CandidateFilter{ProfileID: p.ID, SKUID: skuSales})
	must(t, err)
	byState, err := s.Candidates(ctx(t), store.CandidateFilter{States: []store.CandidateState{store.StateClosedComplete}})
	must(t, err)
	byUser, err := s.Candidates(ctx(t), store.CandidateFilter{UserID: user(2)})
	must(t, err)
	bySub, err := s.Candidates(ctx(t), store.CandidateFilter{SubscriptionID: c.SubscriptionID})
	must(t, err)
	if len(bySub) != 2 || bySub[0].ID != c.ID || bySub[1].ID != c2.ID {
		t.Errorf("Candidates(subscription) = %d", len(bySub))
	}
	page, err := s.Candidates(ctx(t), store.CandidateFilter{AfterID: c.ID, Limit: 1})
	must(t, err)
	if len(bySKU) != 2 || len(byState) != 1 || len(byUser) != 1 || len(page) != 1 || page[0].ID != c2.ID {
		t.Errorf("filters: sku %d, state %d, user %d, page %d", len(bySKU), len(byState), len(byUser), len(page))
	}
	hist, err := s.CandidateTransitions(ctx(t), c.ID)
	must(t, err)
	if len(hist) != 3 || hist[0].From != "" || hist[0].To != store.StateReady || hist[1].From != store.StateReady ||
		hist[1].To != store.StateAwaitingUser || hist[1].Reason != "user notified" || hist[2].To != store.StateClosedComplete || hist[2].At.IsZero() {
		t.Errorf("transitions = %+v", hist)
	}
}

func testTransitionsAppendOnly(t *testing.T, s store.Store) {
	p := newProfile(t, s, "append", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	c := newCandidate(t, s, p, 1, skuSales)
	h, ok := s.(interface{ DB() *sql.DB })
	if !ok {
		t.Skip("store has no database handle")
	}
	if _, err := h.DB().ExecContext(ctx(t), `UPDATE reclaim_transitions SET reason = 'rewritten' WHERE candidate_id = $1`, c.ID); err == nil {
		t.Error("updating a transition succeeded; the history must be append-only")
	}
	if _, err := h.DB().ExecContext(ctx(t), `DELETE FROM reclaim_transitions WHERE candidate_id = $1`, c.ID); err == nil {
		t.Error("deleting a transition succeeded; the history must be append-only")
	}
}

func testSavingsCandidates(t *testing.T, s store.Store) {
	p := newProfile(t, s, "savings", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuSales), staged(4, skuSales))
	open := newCandidate(t, s, p, 1, skuSales)
	done := newCandidate(t, s, p, 2, skuSales)
	done.State, done.RemovedAt = store.StateClosedComplete, now
	must(t, s.UpdateCandidate(ctx(t), done, store.StateReady, &store.Transition{Actor: "system"}))
	skipped := newCandidate(t, s, p, 3, skuSales)
	skipped.State = store.StateClosedSkipped
	must(t, s.UpdateCandidate(ctx(t), skipped, store.StateReady, &store.Transition{Actor: "system"}))
	undone := newCandidate(t, s, p, 4, skuSales)
	undone.State, undone.RemovedAt, undone.UndoneAt = store.StateClosedComplete, now, now.Add(time.Hour)
	must(t, s.UpdateCandidate(ctx(t), undone, store.StateReady, &store.Transition{Actor: "system"}))
	got, err := s.SavingsCandidates(ctx(t), p.ID, skuSales)
	must(t, err)
	if len(got) != 2 || got[0].SubscriptionID != open.SubscriptionID || got[0].ClosedAt != nil || got[0].Amount != 6500 ||
		got[1].SubscriptionID != done.SubscriptionID || got[1].ClosedAt == nil {
		t.Errorf("SavingsCandidates = %+v", got)
	}
	// Exclusions apply to reports: an excluded user's candidate is left out.
	must(t, s.AddExclusion(ctx(t), &store.Exclusion{Kind: store.ExcludeUPNPattern, Value: "user1@*"}))
	got, err = s.SavingsCandidates(ctx(t), p.ID, skuSales)
	must(t, err)
	if len(got) != 1 || got[0].SubscriptionID != done.SubscriptionID {
		t.Errorf("SavingsCandidates with user 1 excluded = %+v", got)
	}
}

func testDeleteProfileClosesCandidates(t *testing.T, s store.Store) {
	p := newProfile(t, s, "gone", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales))
	_, err := s.EnsureReclaimRules(ctx(t), []*store.ReclaimRule{store.DefaultReclaimRule(p.ID, skuSales)})
	must(t, err)
	open := newCandidate(t, s, p, 1, skuSales)
	done := newCandidate(t, s, p, 2, skuSales)
	done.State = store.StateClosedComplete
	must(t, s.UpdateCandidate(ctx(t), done, store.StateReady, &store.Transition{Actor: "system"}))
	must(t, s.DeleteProfile(ctx(t), p.ID))
	got, err := s.Candidate(ctx(t), open.ID)
	must(t, err)
	if got.State != store.StateClosedSkipped || got.ClosedAt.IsZero() || got.Message != "the profile was deleted" {
		t.Errorf("open candidate of a deleted profile: %s %q", got.State, got.Message)
	}
	if d, err := s.Candidate(ctx(t), done.ID); err != nil || d.State != store.StateClosedComplete {
		t.Errorf("closed candidate changed: %v %v", d, err)
	}
	hist, err := s.CandidateTransitions(ctx(t), open.ID)
	must(t, err)
	if len(hist) != 2 || hist[1].To != store.StateClosedSkipped || hist[1].From != store.StateReady {
		t.Errorf("transitions = %+v", hist)
	}
	rules, err := s.ReclaimRules(ctx(t), p.ID)
	must(t, err)
	if len(rules) != 1 {
		t.Errorf("rules of a deleted profile: %d, want 1 (kept for audit)", len(rules))
	}
}
