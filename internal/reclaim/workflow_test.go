package reclaim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// live turns dry run off with a cap large enough for a test's removals.
func (x *env) live() {
	x.settings(func(s *store.ReclaimSettings) { s.DryRun, s.CapCount, s.CapPercent = false, 1000, 100 })
}

// onlyOne keeps one candidate of a direct assignment open (others skipped)
// and returns it.
func (x *env) onlyOne(direct bool) *store.Candidate {
	x.t.Helper()
	var keep *store.Candidate
	for _, c := range x.open() {
		if keep == nil && (c.AssignedByGroup == "") == direct && c.Justification != store.JustDisabled {
			keep = c
			continue
		}
		if _, err := x.e.Skip(x.ctx, c.ID, "user:test", "not in this test"); err != nil {
			x.t.Fatal(err)
		}
	}
	if keep == nil {
		x.t.Fatalf("no candidate with a direct=%t assignment", direct)
	}
	return keep
}

// TestNoAnswerRemovesThenUndo: notify → no answer within the rule's days →
// the licence is removed in the simulated tenant (seat count back, verified
// by reading the user), then undo restores it. Both databases.
func TestNoAnswerRemovesThenUndo(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		x := setup(t, url, 120)
		x.live()
		x.evaluate()
		c := x.onlyOne(true)
		seats := x.consumed(c.SKUID)
		res := x.advance(RunOptions{})
		if res.Notified != 1 {
			t.Fatalf("advance: %s; want one user notified", res.Summary())
		}
		notes := x.n.list(NoticeUser)
		if len(notes) != 1 || notes[0].CandidateID != c.ID || notes[0].Recipients[0] != c.UPN ||
			strings.Join(notes[0].Actions, ",") != "keep,release" || !notes[0].Deadline.Equal(x.ten.Now().AddDate(0, 0, 7)) || notes[0].Product == "" {
			t.Fatalf("notices = %+v", notes)
		}
		if got := x.candidate(c.ID); got.State != store.StateAwaitingUser || !got.DueAt.Equal(notes[0].Deadline) {
			t.Fatalf("after notification: %s due %v", got.State, got.DueAt)
		}
		// Six days: nothing happens.
		x.ten.Advance(6 * 24 * time.Hour)
		x.sync()
		x.evaluate()
		if res := x.advance(RunOptions{}); res.Removed+res.Expired != 0 {
			t.Fatalf("day 6: %s", res.Summary())
		}
		// Day 8 without an answer: removed.
		x.ten.Advance(2 * 24 * time.Hour)
		x.sync()
		x.evaluate()
		res = x.advance(RunOptions{})
		if res.Expired != 1 || res.Removed != 1 {
			t.Fatalf("day 8: %s; want one expired and removed", res.Summary())
		}
		got := x.candidate(c.ID)
		if got.State != store.StateClosedComplete || got.RemovedAt.IsZero() || got.Intent != "" || got.Method != store.MethodDirect {
			t.Fatalf("after removal: %+v", got)
		}
		if x.holds(c.UserID, c.SKUID) || x.consumed(c.SKUID) != seats-1 {
			t.Fatalf("tenant: user holds %t, consumed %d (was %d)", x.holds(c.UserID, c.SKUID), x.consumed(c.SKUID), seats)
		}
		if w := x.writes()["graph POST /users/{id}/assignLicense"]; w != 1 {
			t.Errorf("assignLicense calls = %d, want 1", w)
		}
		var states []string
		hist, _ := x.st.CandidateTransitions(x.ctx, c.ID)
		for _, h := range hist {
			states = append(states, string(h.To))
		}
		if strings.Join(states, ">") != "ready>awaiting_user>awaiting_revocation>closed_complete" {
			t.Errorf("transitions = %v", states)
		}
		if len(x.n.list(NoticeRemoved)) != 1 {
			t.Errorf("removal notices = %d, want 1", len(x.n.list(NoticeRemoved)))
		}
		audit, err := x.st.AuditEntries(x.ctx, store.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, a := range audit {
			actions[a.Action] = true
		}
		for _, want := range []string{"reclaim.notify", "reclaim.remove.start", "reclaim.removed", "reclaim.settings"} {
			if !actions[want] {
				t.Errorf("audit log has no %s entry", want)
			}
		}
		// Undo re-assigns the same SKU.
		if _, err := x.e.Undo(x.ctx, c.ID, "user:test", "removed by mistake"); err != nil {
			t.Fatal(err)
		}
		got = x.candidate(c.ID)
		if got.State != store.StateClosedCanceled || got.UndoneAt.IsZero() {
			t.Fatalf("after undo: %s", got.State)
		}
		if !x.holds(c.UserID, c.SKUID) || x.consumed(c.SKUID) != seats {
			t.Fatalf("after undo: holds %t, consumed %d, want %d", x.holds(c.UserID, c.SKUID), x.consumed(c.SKUID), seats)
		}
		if _, err := x.e.Undo(x.ctx, c.ID, "user:test", ""); sam.ErrorCode(err) != sam.ECONFLICT {
			t.Errorf("second undo: %v, want ECONFLICT", err)
		}
		sc, err := x.st.SavingsCandidates(x.ctx, x.p.ID, c.SKUID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sc {
			if s.SubscriptionID == c.SubscriptionID {
				t.Errorf("an undone removal counts as a saving: %+v", s)
			}
		}
	})
}

// TestKeepApproveDeny: keep goes to the manager for approval; approve keeps
// the licence, deny removes it.
func TestKeepApproveDeny(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.live()
	x.evaluate()
	var direct []*store.Candidate
	for _, c := range x.open() {
		if c.AssignedByGroup == "" && c.Justification != store.JustDisabled && len(direct) < 3 {
			direct = append(direct, c)
			continue
		}
		if _, err := x.e.Skip(x.ctx, c.ID, "user:test", ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(direct) < 3 {
		t.Fatalf("%d direct candidates, need 3", len(direct))
	}
	a, b, nomgr := direct[0], direct[1], direct[2]
	boss := x.open()[0].UserID // any other user
	for _, c := range []*store.Candidate{a, b} {
		mgr := boss
		if mgr == c.UserID {
			mgr = nomgr.UserID
		}
		if err := x.ten.SetManager(c.UserID, mgr); err != nil {
			t.Fatal(err)
		}
	}
	x.advance(RunOptions{})
	for _, c := range direct {
		if got := x.candidate(c.ID); got.State != store.StateAwaitingUser {
			t.Fatalf("candidate %d is %s, want awaiting_user", c.ID, got.State)
		}
	}
	if _, err := x.e.Approve(x.ctx, a.ID, "user:test", ""); sam.ErrorCode(err) != sam.ECONFLICT {
		t.Errorf("approve before keep: %v, want ECONFLICT", err)
	}
	for _, c := range []*store.Candidate{a, b, nomgr} {
		if _, err := x.e.Keep(x.ctx, c.ID, "link:"+c.UPN, "I use it monthly"); err != nil {
			t.Fatal(err)
		}
	}
	if got := x.candidate(a.ID); got.State != store.StateAwaitingApproval || len(got.Approvers) != 1 || !strings.HasPrefix(got.Approvers[0], "manager:") {
		t.Fatalf("after keep: %s approvers %v", got.State, got.Approvers)
	}
	if got := x.candidate(nomgr.ID); got.State != store.StateAttention || !strings.Contains(got.Message, "no manager") {
		t.Errorf("keep without a manager: %s %q", got.State, got.Message)
	}
	if n := x.n.list(NoticeApproval); len(n) != 2 || len(n[0].Recipients) != 1 || strings.Join(n[0].Actions, ",") != "approve,deny" {
		t.Fatalf("approval notices = %+v", n)
	}
	if _, err := x.e.Approve(x.ctx, a.ID, "link:boss@example.com", "needed for quarter close"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.e.Deny(x.ctx, b.ID, "link:boss@example.com", "not needed"); err != nil {
		t.Fatal(err)
	}
	res := x.advance(RunOptions{})
	if res.Removed != 1 {
		t.Fatalf("after deny: %s; want one removal", res.Summary())
	}
	if got := x.candidate(a.ID); got.State != store.StateClosedSkipped || !x.holds(a.UserID, a.SKUID) {
		t.Errorf("approved keep: %s, holds %t", got.State, x.holds(a.UserID, a.SKUID))
	}
	if got := x.candidate(b.ID); got.State != store.StateClosedComplete || x.holds(b.UserID, b.SKUID) {
		t.Errorf("denied keep: %s, holds %t", got.State, x.holds(b.UserID, b.SKUID))
	}
	hist, _ := x.st.CandidateTransitions(x.ctx, a.ID)
	if h := hist[len(hist)-1]; h.Actor != "link:boss@example.com" || !strings.Contains(h.Reason, "quarter close") {
		t.Errorf("approval transition = %+v", h)
	}
	// A licence kept by decision is not selected again by the next
	// evaluations (no second notice).
	if r := x.evaluate(); r.Created != 0 {
		t.Errorf("the next evaluation created %d candidates; skipped and kept licences must not come back", r.Created)
	}
	for _, c := range x.open() {
		if c.ID != nomgr.ID {
			t.Errorf("open candidate %d (%s, %s) after the decisions", c.ID, c.UPN, c.State)
		}
	}
}

// TestDryRunWritesNothing: a new installation is in dry run; evaluation,
// the workflow and a manual reclaim compute and record what they would do,
// and the simulator sees no write.
func TestDryRunWritesNothing(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	set, err := x.e.Settings(x.ctx)
	if err != nil || !set.DryRun {
		t.Fatalf("a new installation: dry run %t (%v), want on", set.DryRun, err)
	}
	x.evaluate()
	open := x.open()
	if len(open) == 0 {
		t.Fatal("no candidates")
	}
	res := x.advance(RunOptions{})
	if !res.DryRun || len(res.Planned) != len(open) || res.Notified != 0 {
		t.Fatalf("dry-run advance: %s, %d planned for %d candidates", res.Summary(), len(res.Planned), len(open))
	}
	r, err := x.e.Reclaim(x.ctx, open[0].ID, "user:test", "", RunOptions{OverrideCap: true})
	if err != nil || !r.DryRun || len(r.Planned) != 1 {
		t.Fatalf("dry-run reclaim: %+v, %v", r, err)
	}
	for _, c := range x.open() {
		if c.State != store.StateReady || !strings.HasPrefix(c.Message, "dry run: would ") {
			t.Errorf("candidate %d in dry run: %s %q", c.ID, c.State, c.Message)
		}
	}
	if w := x.writes(); len(w) != 0 {
		t.Errorf("dry run wrote to the tenant: %v", w)
	}
	if len(x.n.notices) != 0 {
		t.Errorf("dry run sent %d notices", len(x.n.notices))
	}
}

// TestCapAndStaleness: a run that would exceed the cap removes nothing
// unless overridden; stale or failed sync data blocks removal with a clear
// message.
func TestCapAndStaleness(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.settings(func(s *store.ReclaimSettings) { s.DryRun, s.CapCount, s.CapPercent = false, 2, 100 })
	x.rules(func(r *store.ReclaimRule) { r.NotifyUser, r.ResponseDays = false, 0 })
	x.evaluate()
	open := x.open()
	if len(open) <= 2 {
		t.Fatalf("%d candidates; the cap test needs more than 2", len(open))
	}
	x.advance(RunOptions{}) // ready -> awaiting_revocation, due now
	res := x.advance(RunOptions{})
	if res.Removed != 0 || !strings.Contains(res.Blocked, "cap is 2 per run") {
		t.Fatalf("over the cap: %s", res.Summary())
	}
	if w := x.writes(); len(w) != 0 {
		t.Fatalf("a capped run wrote: %v", w)
	}
	if c := x.candidate(open[0].ID); !strings.Contains(c.Message, "cap") {
		t.Errorf("capped candidate message %q", c.Message)
	}
	// Percentage cap: 1% of a SKU's seats allows no removal.
	x.settings(func(s *store.ReclaimSettings) { s.CapCount, s.CapPercent = 1000, 1 })
	r, err := x.e.Reclaim(x.ctx, open[0].ID, "user:test", "", RunOptions{})
	if err != nil || r.Removed != 0 || !strings.Contains(r.Blocked, "1% of its") {
		t.Fatalf("percentage cap: %+v, %v", r, err)
	}
	// Stale: three days without a sync.
	x.ten.Advance(72 * time.Hour)
	r, err = x.e.Reclaim(x.ctx, open[0].ID, "user:test", "", RunOptions{OverrideCap: true})
	if err != nil || r.Removed != 0 || !strings.Contains(r.Blocked, "longer ago than the staleness limit") {
		t.Fatalf("stale data: %+v, %v", r, err)
	}
	if c := x.candidate(open[0].ID); !strings.Contains(c.Message, "staleness limit") {
		t.Errorf("stale candidate message %q", c.Message)
	}
	// Fresh data and an explicit override: everything due is removed.
	x.sync()
	res = x.advance(RunOptions{OverrideCap: true, Actor: "user:test"})
	if res.Blocked != "" || res.Removed+res.Attention != len(open) {
		t.Fatalf("override: %s; want %d handled", res.Summary(), len(open))
	}
	// An activity run with warnings blocks removal too.
	x.sync()
	if err := x.ten.SetAppAuditRead(1, false); err != nil {
		t.Fatal(err)
	}
	x.sync()
	p := x.profile()
	set, _ := x.st.ReclaimSettings(x.ctx)
	why, err := x.e.Staleness(x.ctx, p, set)
	if err != nil || why == "" {
		t.Errorf("staleness after an unreadable environment: %q, %v", why, err)
	}
}

// TestCrashBetweenCallAndUpdate: a crash after Graph removed the licence but
// before the state was stored, or after the intent was stored but before
// the call, neither loses nor repeats the removal.
func TestCrashBetweenCallAndUpdate(t *testing.T) {
	for _, stage := range []string{"after-call", "before-call"} {
		t.Run(stage, func(t *testing.T) {
			x := setup(t, dialects[0].url(t), 120)
			x.live()
			x.evaluate()
			c := x.onlyOne(true)
			seats := x.consumed(c.SKUID)
			crash := errors.New("simulated crash at " + stage)
			x.e.hook = func(s string) error {
				if s == stage {
					return crash
				}
				return nil
			}
			if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{}); !errors.Is(err, crash) {
				t.Fatalf("reclaim: %v, want the crash", err)
			}
			got := x.candidate(c.ID)
			if got.Intent != store.IntentRemove || got.State != store.StateAwaitingRevocation {
				t.Fatalf("after the crash: %s intent %q", got.State, got.Intent)
			}
			calls := int64(0)
			if stage == "after-call" {
				calls = 1
			}
			if w := x.writes()["graph POST /users/{id}/assignLicense"]; w != calls {
				t.Fatalf("assignLicense calls after the crash = %d, want %d", w, calls)
			}
			// Actions wait while a change is in flight.
			if _, err := x.e.Skip(x.ctx, c.ID, "user:test", ""); sam.ErrorCode(err) != sam.ECONFLICT {
				t.Errorf("skip during a change in flight: %v, want ECONFLICT", err)
			}
			// A restarted engine resumes.
			x.e = x.engine()
			res := x.advance(RunOptions{})
			if res.Resumed != 1 {
				t.Fatalf("resume: %s", res.Summary())
			}
			got = x.candidate(c.ID)
			if got.State != store.StateClosedComplete || got.Intent != "" {
				t.Fatalf("after resume: %s intent %q", got.State, got.Intent)
			}
			if w := x.writes()["graph POST /users/{id}/assignLicense"]; w != 1 {
				t.Errorf("assignLicense calls = %d, want exactly 1", w)
			}
			if x.holds(c.UserID, c.SKUID) || x.consumed(c.SKUID) != seats-1 {
				t.Errorf("tenant after resume: holds %t, consumed %d (was %d)", x.holds(c.UserID, c.SKUID), x.consumed(c.SKUID), seats)
			}
			x.advance(RunOptions{})
			if w := x.writes()["graph POST /users/{id}/assignLicense"]; w != 1 {
				t.Errorf("a later run called assignLicense again: %d calls", w)
			}
		})
	}
}

// TestGroupBased: a group-inherited licence is removed by taking the user
// out of the licensing group when permitted, else attention_required with
// the reason; undo puts the user back in the group.
func TestGroupBased(t *testing.T) {
	x := setup(t, dialects[0].url(t), 160)
	x.live()
	x.evaluate()
	c := x.onlyOne(false)
	// Forbidden by the settings: attention, no write.
	x.settings(func(s *store.ReclaimSettings) { s.AllowGroupRemoval = false })
	if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{OverrideCap: true}); err != nil {
		t.Fatal(err)
	}
	if got := x.candidate(c.ID); got.State != store.StateAttention || !strings.Contains(got.Message, "not allowed") {
		t.Fatalf("group removal not allowed: %s %q", got.State, got.Message)
	}
	if w := x.writes(); len(w) != 0 {
		t.Fatalf("writes while group removal is not allowed: %v", w)
	}
	x.settings(func(s *store.ReclaimSettings) { s.AllowGroupRemoval = true })
	if _, err := x.e.Requeue(x.ctx, c.ID, "user:test", "allowed now"); err != nil {
		t.Fatal(err)
	}
	// Without GroupMember.ReadWrite.All the simulator refuses (403).
	x.roles([]string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All", "User.ReadWrite.All"})
	if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{OverrideCap: true}); err != nil {
		t.Fatal(err)
	}
	got := x.candidate(c.ID)
	if got.State != store.StateAttention || !strings.Contains(got.Message, "assigned by group "+c.AssignedByGroup) || !strings.Contains(got.Message, "GroupMember.ReadWrite.All") {
		t.Fatalf("not permitted: %s %q", got.State, got.Message)
	}
	if !x.holds(c.UserID, c.SKUID) {
		t.Fatal("the licence went although the removal was refused")
	}
	x.roles(writePerms)
	seats := x.consumed(c.SKUID)
	if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "permission granted", RunOptions{OverrideCap: true}); err != nil {
		t.Fatal(err)
	}
	got = x.candidate(c.ID)
	if got.State != store.StateClosedComplete || got.Method != store.MethodGroup {
		t.Fatalf("permitted: %s %q", got.State, got.Message)
	}
	g, err := x.ten.Group(c.AssignedByGroup)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range g.Members {
		if m == c.UserID {
			t.Error("the user is still a member of the licensing group")
		}
	}
	if x.consumed(c.SKUID) >= seats && !x.holds(c.UserID, c.SKUID) {
		t.Errorf("consumed %d, was %d", x.consumed(c.SKUID), seats)
	}
	if _, err := x.e.Undo(x.ctx, c.ID, "user:test", ""); err != nil {
		t.Fatal(err)
	}
	if g, _ = x.ten.Group(c.AssignedByGroup); !contains(g.Members, c.UserID) {
		t.Error("undo did not put the user back in the group")
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestNoNotifier: a rule that notifies without a configured notifier puts
// its candidates in attention_required, saying so; a failing notifier too.
func TestNoNotifier(t *testing.T) {
	x := setup(t, dialects[0].url(t), 80)
	x.live()
	x.e.Notifier = nil
	x.evaluate()
	x.advance(RunOptions{})
	open := x.open()
	if len(open) == 0 {
		t.Fatal("no candidates")
	}
	for _, c := range open {
		if c.State != store.StateAttention || !strings.Contains(c.Message, "notification is not configured") {
			t.Fatalf("candidate %d: %s %q", c.ID, c.State, c.Message)
		}
	}
	x.e.Notifier = x.n
	x.n.fail = errors.New("smtp: 550 mailbox unavailable")
	if _, err := x.e.Requeue(x.ctx, open[0].ID, "user:test", "notifier configured"); err != nil {
		t.Fatal(err)
	}
	x.advance(RunOptions{})
	if c := x.candidate(open[0].ID); c.State != store.StateAttention || !strings.Contains(c.Message, "550 mailbox unavailable") {
		t.Errorf("failed notification: %s %q", c.State, c.Message)
	}
}

// TestReconSavings: reconciliation's potential savings are the open
// candidates and its realised savings the removals of the year, at the
// model's unit price.
func TestReconSavings(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.live()
	tracked := true
	ms, err := x.st.SoftwareModels(x.ctx, store.ModelFilter{Tracked: &tracked})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		ms[i].UnitPrice, ms[i].Currency = 9500, "USD"
	}
	if err := x.st.UpsertSoftwareModels(x.ctx, ms); err != nil {
		t.Fatal(err)
	}
	x.evaluate()
	var c *store.Candidate
	priced := map[string]int{}
	for _, o := range x.open() {
		if o.Saving != 9500 || o.Currency != "USD" {
			t.Errorf("candidate %d saves %d %s, want the unit price 9500 USD", o.ID, o.Saving, o.Currency)
		}
		if c == nil && o.AssignedByGroup == "" {
			c = o
		}
		priced[o.SKUID]++
	}
	if c == nil {
		t.Fatal("no direct candidate")
	}
	if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{OverrideCap: true}); err != nil {
		t.Fatal(err)
	}
	if got := x.candidate(c.ID); got.State != store.StateClosedComplete {
		t.Fatalf("reclaim: %s %q", got.State, got.Message)
	}
	res, err := recon.Compute(x.ctx, x.st, x.profile(), recon.Options{AsOf: x.ten.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Positions {
		if p.SKUID != c.SKUID {
			continue
		}
		open := priced[c.SKUID] - 1
		if p.OpenCandidates != open || p.PotentialSavings != int64(open)*9500 || p.RealisedSavings != 9500 {
			t.Errorf("position: %d open candidates, potential %d, realised %d; want %d, %d, 9500",
				p.OpenCandidates, p.PotentialSavings, p.RealisedSavings, open, open*9500)
		}
		if !strings.Contains(p.CandidatesSource, "reclamation") {
			t.Errorf("candidates source %q", p.CandidatesSource)
		}
		// An exclusion takes the excluded users' savings out of the report
		// at once.
		if err := x.st.AddExclusion(x.ctx, &store.Exclusion{Kind: store.ExcludeSKU, Value: c.SKUID}); err != nil {
			t.Fatal(err)
		}
		res, err := recon.Compute(x.ctx, x.st, x.profile(), recon.Options{AsOf: x.ten.Now()})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range res.Positions {
			if q.SKUID == c.SKUID && (q.PotentialSavings != 0 || q.RealisedSavings != 0) {
				t.Errorf("excluded SKU still saves: potential %d, realised %d", q.PotentialSavings, q.RealisedSavings)
			}
		}
		return
	}
	t.Fatalf("no position for %s", c.SKUID)
}

// TestConcurrentReclaim: two people reclaiming one candidate at once call
// Graph once; the licence is removed once.
func TestConcurrentReclaim(t *testing.T) {
	x := setup(t, dialects[0].url(t), 80)
	x.live()
	x.evaluate()
	c := x.onlyOne(true)
	e2 := x.engine()
	errs := make(chan error, 2)
	for _, e := range []*Engine{x.e, e2} {
		go func() {
			_, err := e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{OverrideCap: true})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil && sam.ErrorCode(err) != sam.ECONFLICT {
			t.Errorf("reclaim: %v", err)
		}
	}
	if got := x.candidate(c.ID); got.State != store.StateClosedComplete {
		t.Errorf("candidate %s %q, want closed_complete", got.State, got.Message)
	}
	if w := x.writes()["graph POST /users/{id}/assignLicense"]; w != 1 {
		t.Errorf("assignLicense calls = %d, want 1", w)
	}
}

// TestDirectAndGroup: removing the direct assignment of a licence the user
// also holds through a group frees no seat: attention required, saying so.
func TestDirectAndGroup(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.live()
	x.evaluate()
	var c *store.Candidate
	var gid string
	for _, o := range x.open() {
		if c != nil || o.AssignedByGroup != "" || o.Justification == store.JustDisabled {
			continue
		}
		for _, g := range x.ten.Groups() {
			if contains(g.SKUs, o.SKUID) && !contains(g.Members, o.UserID) {
				c, gid = o, g.ID
				break
			}
		}
	}
	if c == nil {
		t.Fatal("no direct candidate whose SKU a licensing group also grants")
	}
	if err := x.ten.AddGroupMember(gid, c.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.e.Reclaim(x.ctx, c.ID, "user:test", "", RunOptions{OverrideCap: true}); err != nil {
		t.Fatal(err)
	}
	got := x.candidate(c.ID)
	if got.State != store.StateAttention || !strings.Contains(got.Message, "still holds the licence through group "+gid) {
		t.Errorf("direct and group: %s %q", got.State, got.Message)
	}
	if !x.holds(c.UserID, c.SKUID) {
		t.Error("the user lost the group-granted licence")
	}
}
