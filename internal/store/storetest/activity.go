package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func testActivityCommit(t *testing.T, s store.Store) { activityCommit(t, s, false) }

// testActivityCommitResolved is testActivityCommit with evidence the
// caller resolved itself (store.StagedActivity.Resolved), mixed with rows
// the store looks up: the outcome is the same.
func testActivityCommitResolved(t *testing.T, s store.Store) { activityCommit(t, s, true) }

func activityCommit(t *testing.T, s store.Store, resolved bool) {
	p := newProfile(t, s, "contoso", 2)
	e0, e1 := p.Environments[0].ID, p.Environments[1].ID
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuApps))

	r := startRun(t, s, p.ID, sam.RunActivity, false)
	users := []store.SystemUser{
		{SystemUserID: upper(sysUser(1)), AADObjectID: upper(user(1)), DomainName: "user1@contoso.com", FullName: "User 1", AccessMode: 0},
		{SystemUserID: sysUser(2), AADObjectID: user(2)},
		{SystemUserID: sysUser(9), AADObjectID: "", FullName: "SYSTEM", IsDisabled: true, AccessMode: 3},
	}
	must(t, s.StageSystemUsers(ctx(t), r, e0, users))
	must(t, s.StageSystemUsers(ctx(t), r, e1, users[:1]))
	rows := []store.StagedActivity{
		act(e0, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 3),
		act(e1, 1, now.Add(-48*time.Hour), sam.SourceAccessAPI, 2),
		act(e0, 9, now.Add(-time.Hour), sam.SourceAccessWeb, 1), // no Entra object id
		act(e1, 8, now.Add(-time.Hour), sam.SourceRecord, 1),    // unknown system user
	}
	if resolved {
		// All but the second row, which the store looks up.
		rows[0].Resolved, rows[0].UserID = true, upper(user(1))
		rows[2].Resolved, rows[3].Resolved = true, true
	}
	must(t, s.StageActivity(ctx(t), r, rows))
	wm := now.Add(-30 * time.Minute)
	ch, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{
		auditOK(e0, wm), {EnvironmentID: e1, Reachable: true, AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: 365, Watermark: wm.Add(-time.Minute)},
	}})
	must(t, err)
	if ch != (store.ActivityChanges{Days: 2, UnmappedRows: 2, Recomputed: 3}) {
		t.Errorf("changes = %+v, want 2 days, 2 unmapped rows, 3 recomputed", ch)
	}
	subs := openSubs(t, s, p.ID)
	x := subs[key(1, skuSales)]
	if x.LastActivity == nil || !x.LastActivity.Equal(now.Add(-time.Hour)) || x.LastActivitySource != string(sam.SourceAccessWeb) ||
		x.ActiveDays30 != 2 || x.ActiveDays90 != 2 || x.UsageClass != sam.UsageLow {
		t.Errorf("user 1 = last %v %q, days %d/%d, %q; want low usage on 2 days", x.LastActivity, x.LastActivitySource, x.ActiveDays30, x.ActiveDays90, x.UsageClass)
	}
	for _, k := range []string{key(2, skuSales), key(3, skuApps)} {
		if y := subs[k]; y.LastActivity != nil || y.UsageClass != sam.UsageNeverActive || y.LastActivitySource != "" {
			t.Errorf("%s = %+v, want never active", k, y)
		}
	}
	days, err := s.ActivityDays(ctx(t), p.ID, upper(user(1)), now.AddDate(0, 0, -3), now)
	must(t, err)
	if len(days) != 2 || days[0].Source != sam.SourceAccessAPI || days[0].EnvironmentID != e1 || days[0].Events != 2 ||
		!days[0].Day.Equal(sam.Day(now.Add(-48*time.Hour))) || days[1].Source != sam.SourceAccessWeb || days[1].Events != 3 ||
		!days[1].LastAt.Equal(now.Add(-time.Hour)) || days[1].UserID != user(1) || days[1].ProfileID != p.ID {
		t.Errorf("activity days = %+v", days)
	}
	got, err := s.Profile(ctx(t), p.ID)
	must(t, err)
	a0, a1 := got.Environments[0].Audit, got.Environments[1].Audit
	if !a0.Reachable || !a0.Watermark.Equal(wm) || a0.RetentionDays != -1 || !a0.CheckedAt.Equal(now) || a0.EnvironmentID != e0 {
		t.Errorf("audit of environment 0 = %+v", a0)
	}
	if a1.RetentionDays != 365 || !a1.Watermark.Equal(wm.Add(-time.Minute)) || !a1.CheckedAt.Equal(now) {
		t.Errorf("audit of environment 1 = %+v (CheckedAt zero means now)", a1)
	}
	st, err := s.SyncState(ctx(t), p.ID)
	must(t, err)
	if !st.LastActivitySync.Equal(now) || !st.LastSubscriptionsSync.Equal(now) || st.DeltaLink == "" {
		t.Errorf("sync state = %+v", st)
	}
	run, err := s.Run(ctx(t), r.ID)
	must(t, err)
	if run.Status != sam.RunSucceeded || run.Checkpoint != nil {
		t.Errorf("run = %+v", run)
	}

	// An unreachable environment with a zero watermark keeps its watermark.
	ch = syncActivity(t, s, p, now.Add(time.Hour), []sam.EnvironmentAudit{auditOK(e0, time.Time{}),
		{EnvironmentID: e1, Reachable: false, Error: "connection refused"}}, nil)
	got, err = s.Profile(ctx(t), p.ID)
	must(t, err)
	if a0 := got.Environments[0].Audit; !a0.Watermark.Equal(wm) {
		t.Errorf("zero watermark replaced the stored one: %v", a0.Watermark)
	}
	if a1 := got.Environments[1].Audit; a1.Reachable || a1.Error != "connection refused" || !a1.Watermark.Equal(wm.Add(-time.Minute)) {
		t.Errorf("unreachable environment audit = %+v", a1)
	}
	if ch.Days != 0 {
		t.Errorf("empty run changed %d days", ch.Days)
	}
	// Coverage is now incomplete: who had no evidence is unknown.
	if y := openSubs(t, s, p.ID)[key(2, skuSales)]; y.UsageClass != sam.UsageUnknown {
		t.Errorf("user 2 with an unreachable environment = %q, want unknown", y.UsageClass)
	}
}

func testEnvironmentRemovedMidRun(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 2)
	e0, e1 := p.Environments[0].ID, p.Environments[1].ID
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	r := startRun(t, s, p.ID, sam.RunActivity, false)
	users := []store.SystemUser{{SystemUserID: sysUser(1), AADObjectID: user(1)}}
	must(t, s.StageSystemUsers(ctx(t), r, e0, users))
	must(t, s.StageSystemUsers(ctx(t), r, e1, users))
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{act(e0, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 1),
		act(e1, 1, now.Add(-2*time.Hour), sam.SourceAccessAPI, 1)}))
	// An operator removes environment 1 while the run is under way.
	p.Environments = p.Environments[:1]
	must(t, s.UpdateProfile(ctx(t), p))
	// The run still stages for it (it read the profile before) and commits.
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{act(e1, 1, now.Add(-3*time.Hour), sam.SourceAccessAPI, 1)}))
	ch, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{auditOK(e0, now), auditOK(e1, now)}})
	must(t, err)
	if ch.Days != 1 {
		t.Errorf("changes = %+v, want the removed environment's evidence dropped", ch)
	}
	days, err := s.ActivityDays(ctx(t), p.ID, user(1), now, now)
	must(t, err)
	if len(days) != 1 || days[0].EnvironmentID != e0 {
		t.Errorf("activity = %+v", days)
	}
	// Coverage is judged on the remaining environment only.
	if x := openSubs(t, s, p.ID)[key(1, skuSales)]; x.UsageClass != sam.UsageLow {
		t.Errorf("usage = %q, want low usage", x.UsageClass)
	}
}

func testActivityMerge(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	e := p.Environments[0].ID
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	d := now.Add(-3 * time.Hour)
	// Within one run, staged rows with the same key add up.
	r := startRun(t, s, p.ID, sam.RunActivity, false)
	must(t, s.StageSystemUsers(ctx(t), r, e, []store.SystemUser{{SystemUserID: sysUser(1), AADObjectID: user(1)}}))
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{act(e, 1, d, sam.SourceAccessWeb, 2)}))
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{act(e, 1, d.Add(-time.Hour), sam.SourceAccessWeb, 1)}))
	_, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{auditOK(e, d)}})
	must(t, err)
	// A later run adds to the same day.
	ch := syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, d)}, []int{1},
		act(e, 1, d.Add(-2*time.Hour), sam.SourceAccessWeb, 4), act(e, 1, d, sam.SourceAccessAPI, 1))
	if ch.Days != 2 {
		t.Errorf("merge changed %d days, want 2 (one updated, one new)", ch.Days)
	}
	days, err := s.ActivityDays(ctx(t), p.ID, user(1), d, d)
	must(t, err)
	if len(days) != 2 {
		t.Fatalf("days = %+v", days)
	}
	if api, web := days[0], days[1]; api.Source != sam.SourceAccessAPI || web.Events != 7 || !web.LastAt.Equal(d) {
		t.Errorf("merged days = %+v, want web with 7 events, last at %v", days, d)
	}
	// Ties on the newest time go to the smallest source name.
	x := openSubs(t, s, p.ID)[key(1, skuSales)]
	if x.LastActivity == nil || !x.LastActivity.Equal(d) || x.LastActivitySource != string(sam.SourceAccessAPI) {
		t.Errorf("last activity = %v %q, want %v from %s", x.LastActivity, x.LastActivitySource, d, sam.SourceAccessAPI)
	}
}

func testSystemUserMapReplaced(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 2)
	e0, e1 := p.Environments[0].ID, p.Environments[1].ID
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales))
	audits := []sam.EnvironmentAudit{auditOK(e0, now), auditOK(e1, now)}
	syncActivity(t, s, p, now, audits, []int{1})

	// Environment 0 is read again: system user 1 is now user 2's account.
	r := startRun(t, s, p.ID, sam.RunActivity, false)
	must(t, s.StageSystemUsers(ctx(t), r, e0, []store.SystemUser{{SystemUserID: sysUser(1), AADObjectID: user(2)}}))
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{act(e0, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 1),
		act(e1, 1, now.Add(-2*time.Hour), sam.SourceAccessWeb, 1)}))
	ch, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: audits})
	must(t, err)
	if ch.UnmappedRows != 0 || ch.Days != 2 {
		t.Errorf("changes = %+v", ch)
	}
	// Environment 1 was not re-read: its previous map still applies.
	d1, err := s.ActivityDays(ctx(t), p.ID, user(1), now, now)
	must(t, err)
	d2, err := s.ActivityDays(ctx(t), p.ID, user(2), now, now)
	must(t, err)
	if len(d1) != 1 || d1[0].EnvironmentID != e1 || len(d2) != 1 || d2[0].EnvironmentID != e0 {
		t.Errorf("user 1 days %+v, user 2 days %+v", d1, d2)
	}
}

func testCoverageUnknown(t *testing.T, s store.Store) {
	ok := func(id int64) sam.EnvironmentAudit { return auditOK(id, now) }
	tests := []struct {
		name     string
		audit    func(e0, e1 int64) []sam.EnvironmentAudit
		complete bool
	}{
		{"all covered", func(e0, e1 int64) []sam.EnvironmentAudit { return []sam.EnvironmentAudit{ok(e0), ok(e1)} }, true},
		{"retention exactly the window", func(e0, e1 int64) []sam.EnvironmentAudit {
			a := ok(e1)
			a.RetentionDays = 90
			return []sam.EnvironmentAudit{ok(e0), a}
		}, true},
		{"retention too short", func(e0, e1 int64) []sam.EnvironmentAudit {
			a := ok(e1)
			a.RetentionDays = 30
			return []sam.EnvironmentAudit{ok(e0), a}
		}, false},
		{"auditing off", func(e0, e1 int64) []sam.EnvironmentAudit {
			a := ok(e1)
			a.AuditEnabled = false
			return []sam.EnvironmentAudit{ok(e0), a}
		}, false},
		{"user access auditing off", func(e0, e1 int64) []sam.EnvironmentAudit {
			a := ok(e0)
			a.UserAccessAuditEnabled = false
			return []sam.EnvironmentAudit{a, ok(e1)}
		}, false},
		{"unreachable", func(e0, e1 int64) []sam.EnvironmentAudit {
			return []sam.EnvironmentAudit{ok(e0), {EnvironmentID: e1, Error: "timeout"}}
		}, false},
		{"never read", func(e0, e1 int64) []sam.EnvironmentAudit { return []sam.EnvironmentAudit{ok(e0)} }, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProfile(t, s, fmt.Sprintf("p%d", i), 2)
			e0, e1 := p.Environments[0].ID, p.Environments[1].ID
			syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuSales), staged(4, skuApps))
			syncActivity(t, s, p, now, tc.audit(e0, e1), []int{1, 2, 3},
				act(e0, 2, now.AddDate(0, 0, -45), sam.SourceAccessWeb, 1),
				act(e0, 3, now.AddDate(0, 0, -1), sam.SourceAccessWeb, 1))
			want := map[string]sam.UsageClass{
				key(1, skuSales): sam.UsageNeverActive, key(2, skuSales): sam.UsageInactive30,
				key(3, skuSales): sam.UsageLow, key(4, skuApps): sam.UsageNeverActive,
			}
			if !tc.complete {
				want[key(1, skuSales)], want[key(2, skuSales)], want[key(4, skuApps)] = sam.UsageUnknown, sam.UsageUnknown, sam.UsageUnknown
			}
			for k, x := range openSubs(t, s, p.ID) {
				if x.UsageClass != want[k] {
					t.Errorf("%s: %q, want %q", k, x.UsageClass, want[k])
				}
			}
		})
	}
}

// testNoEnvironment: a profile without any Dataverse environment has no
// audit log that could prove inactivity, so users without evidence are
// unknown, while a disabled account stays disabled.
func testNoEnvironment(t *testing.T, s store.Store) {
	p := newProfile(t, s, "noenv", 0)
	off := staged(2, skuSales)
	off.AccountEnabled = false
	syncSubs(t, s, p, true, now, staged(1, skuSales), off)
	subs := openSubs(t, s, p.ID)
	if x := subs[key(1, skuSales)]; x.UsageClass != sam.UsageUnknown {
		t.Errorf("enabled user without environments: %q, want %q", x.UsageClass, sam.UsageUnknown)
	}
	if x := subs[key(2, skuSales)]; x.UsageClass != sam.UsageDisabled {
		t.Errorf("disabled user without environments: %q, want %q", x.UsageClass, sam.UsageDisabled)
	}
}

// testEvidenceTiesAndDays: evidence of one day in two environments and
// several sources counts as one active day; the newest evidence names its
// source, the smallest name when sources tie on the same time; evidence
// before the analysis start does not count; a sign-in newer than any
// Dataverse evidence is the last activity of untracked models only.
func testEvidenceTiesAndDays(t *testing.T, s store.Store) {
	p := newProfile(t, s, "ties", 2)
	e0, e1 := p.Environments[0].ID, p.Environments[1].ID
	signIn := now.Add(-time.Hour)
	u1 := staged(1, skuSales, skuApps)
	u1.LastSignIn = &signIn
	syncSubs(t, s, p, true, now, u1, staged(2, skuSales, skuApps), staged(3, skuSales))
	tie := now.AddDate(0, 0, -3)
	audits := []sam.EnvironmentAudit{auditOK(e0, now), auditOK(e1, now)}
	syncActivity(t, s, p, now, audits, []int{1, 2, 3},
		// user 1: day -3 in both environments, three sources, two of them at
		// the same newest time; day -40 once; day -100 outside the window.
		act(e0, 1, tie, sam.SourceRecord, 2),
		act(e1, 1, tie, sam.SourceAccessWeb, 1),
		act(e1, 1, tie.Add(-time.Minute), sam.SourceAccessAPI, 4),
		act(e0, 1, now.AddDate(0, 0, -40), sam.SourceAccessAPI, 1),
		act(e0, 1, now.AddDate(0, 0, -100), sam.SourceAccessAPI, 1),
		// user 2: the same time in two environments, the same source.
		act(e0, 2, tie, sam.SourceAccessAPI, 1),
		act(e1, 2, tie, sam.SourceAccessAPI, 1),
		// user 3: evidence before the analysis start only.
		act(e0, 3, now.AddDate(0, 0, -100), sam.SourceRecord, 1))
	subs := openSubs(t, s, p.ID)
	tests := []struct {
		key      string
		last     *time.Time
		source   sam.ActivitySource
		d30, d90 int
	}{
		{key(1, skuSales), &tie, sam.SourceAccessWeb, 1, 2},
		{key(1, skuApps), &signIn, sam.SourceSignIn, 2, 3},
		{key(2, skuSales), &tie, sam.SourceAccessAPI, 1, 1},
		{key(2, skuApps), &tie, sam.SourceAccessAPI, 1, 1},
		{key(3, skuSales), nil, "", 0, 0},
	}
	for _, tc := range tests {
		x := subs[tc.key]
		if x == nil {
			t.Errorf("%s missing", tc.key)
			continue
		}
		if (x.LastActivity == nil) != (tc.last == nil) || (tc.last != nil && !x.LastActivity.Equal(*tc.last)) ||
			x.LastActivitySource != string(tc.source) || x.ActiveDays30 != tc.d30 || x.ActiveDays90 != tc.d90 {
			t.Errorf("%s: last %v %q, days %d/%d; want %v %q, %d/%d", tc.key, x.LastActivity, x.LastActivitySource,
				x.ActiveDays30, x.ActiveDays90, tc.last, tc.source, tc.d30, tc.d90)
		}
	}
}

// testDeferUsage: a subscriptions commit with DeferUsage opens
// subscriptions with usage unknown and leaves the usage of the others as
// it was; the activity commit that follows (or RecomputeUsage) computes it.
func testDeferUsage(t *testing.T, s store.Store) {
	p := newProfile(t, s, "defer", 1)
	e := p.Environments[0].ID
	signIn := now.Add(-2 * time.Hour)
	u1 := staged(1, skuSales, skuApps)
	u1.LastSignIn = &signIn
	off := staged(2, skuSales)
	off.AccountEnabled = false
	commit := func(at time.Time, users ...store.StagedUser) {
		t.Helper()
		r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
		must(t, s.StageUsers(ctx(t), r, users))
		_, err := s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: true, DeltaLink: "d", Now: at,
			Models: models(), DeferUsage: true})
		must(t, err)
	}
	commit(now, u1, off)
	for k, x := range openSubs(t, s, p.ID) {
		if x.UsageClass != sam.UsageUnknown || x.LastActivity != nil || x.ActiveDays30 != 0 || x.ActiveDays90 != 0 {
			t.Errorf("%s before the usage recompute: %q, last %v, days %d/%d; want unknown without evidence", k,
				x.UsageClass, x.LastActivity, x.ActiveDays30, x.ActiveDays90)
		}
	}
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, []int{1, 2},
		act(e, 1, now.AddDate(0, 0, -3), sam.SourceRecord, 1))
	want := map[string]sam.UsageClass{key(1, skuSales): sam.UsageLow, key(1, skuApps): sam.UsageLow, key(2, skuSales): sam.UsageDisabled}
	check := func(when string) {
		t.Helper()
		subs := openSubs(t, s, p.ID)
		for k, class := range want {
			if x := subs[k]; x == nil || x.UsageClass != class {
				t.Errorf("%s: %s = %+v, want %q", when, k, x, class)
			}
		}
	}
	check("after the activity commit")
	// A deferred commit a day later keeps the usage computed before it;
	// RecomputeUsage brings it to the day.
	later := now.AddDate(0, 0, 40)
	commit(later, u1, off)
	check("after a second deferred commit")
	must(t, s.RecomputeUsage(ctx(t), p.ID, later))
	want[key(1, skuSales)], want[key(1, skuApps)] = sam.UsageInactive30, sam.UsageInactive30
	check("after RecomputeUsage")
}

// testUsageMatchesEvidence: after each of two activity runs over random
// evidence (both environments, every Dataverse source, ties on the same
// time, keys staged several times and again by the second run, days
// before the analysis start and after today, sign-ins), and after a
// recompute on its own, every subscription's last activity, its source and
// active days are what the evidence says, worked out here from the rows as
// staged. (An activity commit reads the evidence ahead on another
// connection where it can; a recompute on its own reads it in its
// transaction.)
func testUsageMatchesEvidence(t *testing.T, s store.Store) {
	p := newProfile(t, s, "evidence", 2)
	rnd := rand.New(rand.NewPCG(4, 2))
	const users = 40
	var subsUsers []store.StagedUser
	var all []int
	type ev struct {
		day    time.Time
		last   time.Time
		source sam.ActivitySource
	}
	evidence := map[int][]ev{}
	for n := 1; n <= users; n++ {
		u := staged(n, skuSales, skuApps)
		if n%3 == 0 {
			at := now.Add(-time.Duration(rnd.IntN(50*24)) * time.Hour)
			u.LastSignIn = &at
			evidence[n] = append(evidence[n], ev{sam.Day(at), at, sam.SourceSignIn})
		}
		subsUsers = append(subsUsers, u)
		all = append(all, n)
	}
	syncSubs(t, s, p, true, now, subsUsers...)
	sources := []sam.ActivitySource{sam.SourceAccessWeb, sam.SourceAccessAPI, sam.SourceRecord}
	audits := []sam.EnvironmentAudit{auditOK(p.Environments[0].ID, now), auditOK(p.Environments[1].ID, now)}
	for run := range 3 {
		if run == 2 {
			// The recompute on its own reads the evidence in its transaction.
			must(t, s.RecomputeUsage(ctx(t), p.ID, now))
		}
		var rows []store.StagedActivity
		for range 600 * min(1, 2-run) {
			n := 1 + rnd.IntN(users-5) // the last five users have no Dataverse evidence
			day := sam.Day(now).AddDate(0, 0, 1-rnd.IntN(110))
			at := day.Add(time.Duration(rnd.IntN(4)) * 6 * time.Hour) // few distinct times: ties
			src := sources[rnd.IntN(len(sources))]
			env := p.Environments[rnd.IntN(2)].ID
			rows = append(rows, act(env, n, at, src, int64(1+rnd.IntN(3))))
			evidence[n] = append(evidence[n], ev{day, at, src})
		}
		if run < 2 {
			syncActivity(t, s, p, now, audits, all, rows...)
		}
		start := now.AddDate(0, 0, -90) // the analysis start of a profile without one
		for k, x := range openSubs(t, s, p.ID) {
			n := 0
			for i := 1; i <= users; i++ {
				if strings.HasPrefix(k, user(i)+"/") {
					n = i
				}
			}
			tracked := strings.HasSuffix(k, "/"+skuSales)
			var last time.Time
			var source sam.ActivitySource
			d30, d90 := map[time.Time]bool{}, map[time.Time]bool{}
			for _, e := range evidence[n] {
				if e.last.Before(start) || (tracked && e.source == sam.SourceSignIn) {
					continue
				}
				if e.last.After(last) || (e.last.Equal(last) && e.source < source) {
					last, source = e.last, e.source
				}
				if d := sam.DaysBetween(e.day, now); d < 30 {
					d30[e.day] = true
				}
				if d := sam.DaysBetween(e.day, now); d < 90 {
					d90[e.day] = true
				}
			}
			gotLast := time.Time{}
			if x.LastActivity != nil {
				gotLast = *x.LastActivity
			}
			if !gotLast.Equal(last) || x.LastActivitySource != string(source) || x.ActiveDays30 != len(d30) || x.ActiveDays90 != len(d90) {
				t.Errorf("run %d, %s: last %v %q, days %d/%d; want %v %q, %d/%d", run+1, k, gotLast, x.LastActivitySource,
					x.ActiveDays30, x.ActiveDays90, last, source, len(d30), len(d90))
			}
		}
	}
}

func testTrackedVersusUntracked(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	e := p.Environments[0].ID
	signIn := now.Add(-2 * time.Hour)
	u1 := staged(1, skuSales, skuApps, skuUnknown)
	u1.LastSignIn = &signIn
	u2 := staged(2, skuSales, skuApps)
	old := now.AddDate(0, 0, -40)
	u2.LastSignIn = &old
	syncSubs(t, s, p, true, now, u1, u2)
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, []int{1, 2},
		act(e, 1, now.AddDate(0, 0, -10), sam.SourceRecord, 5))
	subs := openSubs(t, s, p.ID)
	tests := []struct {
		key    string
		last   *time.Time
		source sam.ActivitySource
		class  sam.UsageClass
	}{
		{key(1, skuSales), ptr(now.AddDate(0, 0, -10)), sam.SourceRecord, sam.UsageLow},
		{key(1, skuApps), &signIn, sam.SourceSignIn, sam.UsageLow},
		{key(1, skuUnknown), &signIn, sam.SourceSignIn, sam.UsageLow},
		{key(2, skuSales), nil, "", sam.UsageNeverActive},
		{key(2, skuApps), &old, sam.SourceSignIn, sam.UsageInactive30},
	}
	for _, tc := range tests {
		x := subs[tc.key]
		if x == nil {
			t.Errorf("%s missing", tc.key)
			continue
		}
		if (x.LastActivity == nil) != (tc.last == nil) || (tc.last != nil && !x.LastActivity.Equal(*tc.last)) ||
			x.LastActivitySource != string(tc.source) || x.UsageClass != tc.class {
			t.Errorf("%s: last %v %q class %q; want %v %q %q", tc.key, x.LastActivity, x.LastActivitySource, x.UsageClass, tc.last, tc.source, tc.class)
		}
	}
	if x := subs[key(1, skuApps)]; x.ActiveDays30 != 2 || x.ActiveDays90 != 2 {
		t.Errorf("untracked active days = %d/%d, want 2/2 (sign-in and record days)", x.ActiveDays30, x.ActiveDays90)
	}
	if x := subs[key(1, skuSales)]; x.ActiveDays30 != 1 {
		t.Errorf("tracked active days = %d, want 1 (sign-ins do not count)", x.ActiveDays30)
	}
	days, err := s.ActivityDays(ctx(t), p.ID, user(1), now, now)
	must(t, err)
	if len(days) != 1 || days[0].Source != sam.SourceSignIn || days[0].EnvironmentID != 0 || !days[0].LastAt.Equal(signIn) || days[0].Events != 1 {
		t.Errorf("sign-in evidence = %+v", days)
	}
	// The same sign-in read again is the same evidence; a newer one that day moves LastAt.
	newer := signIn.Add(time.Hour)
	u1.LastSignIn = &newer
	syncSubs(t, s, p, false, now, u1)
	days, err = s.ActivityDays(ctx(t), p.ID, user(1), now, now)
	must(t, err)
	if len(days) != 1 || days[0].Events != 1 || !days[0].LastAt.Equal(newer) {
		t.Errorf("sign-in evidence after second read = %+v", days)
	}
}

func testUsageClasses(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	p.AnalyzeFrom = now.AddDate(0, 0, -200)
	must(t, s.UpdateProfile(ctx(t), p))
	e := p.Environments[0].ID
	disabled := staged(7, skuSales)
	disabled.AccountEnabled = false
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuSales), staged(4, skuSales),
		staged(5, skuSales), staged(6, skuSales), disabled)
	var rows []store.StagedActivity
	for d := range 6 { // user 1: six distinct days in the last 30
		rows = append(rows, act(e, 1, now.AddDate(0, 0, -d*5), sam.SourceAccessWeb, 1))
	}
	rows = append(rows,
		act(e, 2, now.AddDate(0, 0, -3), sam.SourceAccessAPI, 9), // low usage: one day
		act(e, 3, now.AddDate(0, 0, -35), sam.SourceAccessWeb, 1),
		act(e, 4, now.AddDate(0, 0, -65), sam.SourceAccessWeb, 1),
		act(e, 4, now.AddDate(0, 0, -89), sam.SourceAccessWeb, 1),
		act(e, 5, now.AddDate(0, 0, -120), sam.SourceAccessWeb, 1),
		act(e, 7, now.AddDate(0, 0, -1), sam.SourceAccessWeb, 1),
	)
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, []int{1, 2, 3, 4, 5, 6, 7}, rows...)
	want := []struct {
		n      int
		class  sam.UsageClass
		d30    int
		d90    int
		lastAt time.Time
	}{
		{1, sam.UsageActive, 6, 6, now},
		{2, sam.UsageLow, 1, 1, now.AddDate(0, 0, -3)},
		{3, sam.UsageInactive30, 0, 1, now.AddDate(0, 0, -35)},
		{4, sam.UsageInactive60, 0, 2, now.AddDate(0, 0, -65)},
		{5, sam.UsageInactive90, 0, 0, now.AddDate(0, 0, -120)},
		{6, sam.UsageNeverActive, 0, 0, time.Time{}},
		{7, sam.UsageDisabled, 1, 1, now.AddDate(0, 0, -1)},
	}
	check := func(label string) {
		t.Helper()
		subs := openSubs(t, s, p.ID)
		for _, w := range want {
			x := subs[key(w.n, skuSales)]
			if x.UsageClass != w.class || x.ActiveDays30 != w.d30 || x.ActiveDays90 != w.d90 {
				t.Errorf("%s: user %d = %q %d/%d, want %q %d/%d", label, w.n, x.UsageClass, x.ActiveDays30, x.ActiveDays90, w.class, w.d30, w.d90)
			}
			if w.lastAt.IsZero() != (x.LastActivity == nil) || (x.LastActivity != nil && !x.LastActivity.Equal(w.lastAt)) {
				t.Errorf("%s: user %d last activity %v, want %v", label, w.n, x.LastActivity, w.lastAt)
			}
		}
	}
	check("commit")

	// Forty days later, without new evidence.
	must(t, s.RecomputeUsage(ctx(t), p.ID, now.AddDate(0, 0, 40)))
	want[0].class, want[0].d30, want[0].d90 = sam.UsageInactive30, 0, 6
	want[1].class, want[1].d30 = sam.UsageInactive30, 0
	want[2].class = sam.UsageInactive60
	want[3].class, want[3].d90 = sam.UsageInactive90, 0
	want[6].d30 = 0
	check("40 days later")
	mustCode(t, s.RecomputeUsage(ctx(t), 9999, now), sam.ENOTFOUND)
}

func testAnalysisStart(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	start := now.AddDate(0, 0, -20).Add(3 * time.Hour)
	p.AnalyzeFrom = start
	must(t, s.UpdateProfile(ctx(t), p))
	e := p.Environments[0].ID
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuSales))
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, []int{1, 2, 3},
		act(e, 1, now.AddDate(0, 0, -25), sam.SourceAccessWeb, 1),
		act(e, 2, now.AddDate(0, 0, -25), sam.SourceAccessWeb, 1),
		act(e, 2, now.AddDate(0, 0, -5), sam.SourceAccessWeb, 1),
		act(e, 3, start.Add(-time.Hour), sam.SourceAccessWeb, 1), // same day as the start, but before it
	)
	subs := openSubs(t, s, p.ID)
	if x := subs[key(1, skuSales)]; x.LastActivity != nil || x.UsageClass != sam.UsageNeverActive {
		t.Errorf("evidence before the analysis start counted: %+v", x)
	}
	if x := subs[key(2, skuSales)]; x.LastActivity == nil || !x.LastActivity.Equal(now.AddDate(0, 0, -5)) || x.ActiveDays30 != 1 {
		t.Errorf("user 2 = %+v", x)
	}
	if x := subs[key(3, skuSales)]; x.LastActivity != nil {
		t.Errorf("evidence an hour before the start counted: %+v", x)
	}
	// Without AnalyzeFrom the window is the last 90 days.
	p.AnalyzeFrom = time.Time{}
	must(t, s.UpdateProfile(ctx(t), p))
	must(t, s.RecomputeUsage(ctx(t), p.ID, now))
	if x := openSubs(t, s, p.ID)[key(1, skuSales)]; x.LastActivity == nil || x.ActiveDays90 != 1 {
		t.Errorf("with a 90-day window user 1 = %+v", x)
	}
	must(t, s.RecomputeUsage(ctx(t), p.ID, now.AddDate(0, 0, 70)))
	if x := openSubs(t, s, p.ID)[key(1, skuSales)]; x.LastActivity != nil || x.UsageClass != sam.UsageNeverActive {
		t.Errorf("evidence older than 90 days counted: %+v", x)
	}
}

func testRecomputeMany(t *testing.T, s store.Store) {
	const n = 1203 // more than two batches
	p := newProfile(t, s, "contoso", 1)
	e := p.Environments[0].ID
	var users []store.StagedUser
	var ids []int
	var rows []store.StagedActivity
	for i := 1; i <= n; i++ {
		users = append(users, staged(i, skuSales))
		ids = append(ids, i)
		if i%3 != 0 {
			rows = append(rows, act(e, i, now.AddDate(0, 0, -(i%50)), sam.SourceAccessWeb, 1))
		}
	}
	syncSubs(t, s, p, true, now, users...)
	ch := syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, ids, rows...)
	if ch.Recomputed != n || ch.Days != len(rows) {
		t.Errorf("changes = %+v, want %d recomputed, %d days", ch, n, len(rows))
	}
	counts := map[sam.UsageClass]int{}
	subs, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true})
	must(t, err)
	for _, x := range subs {
		counts[x.UsageClass]++
		var i int
		fmt.Sscanf(x.UserID[len(x.UserID)-12:], "%x", &i)
		want := sam.UsageNeverActive
		switch {
		case i%3 == 0:
		case i%50 < 30:
			want = sam.UsageLow
		default:
			want = sam.UsageInactive30
		}
		if x.UsageClass != want {
			t.Errorf("user %d: %q, want %q", i, x.UsageClass, want)
			break
		}
	}
	if len(subs) != n {
		t.Errorf("%d subscriptions, want %d", len(subs), n)
	}
}

func testDeleteProfileCascade(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	q := newProfile(t, s, "other", 1)
	e := p.Environments[0].ID
	must(t, s.PutSecret(ctx(t), p.ID, sam.SecretClientSecret, sam.SealedSecret{KeyID: "k", Ciphertext: []byte("x")}))
	must(t, s.PutSKUUnits(ctx(t), []sam.SKUUnits{{ProfileID: p.ID, SKUID: skuSales, Day: now, Enabled: 1}}))
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	syncSubs(t, s, q, true, now, staged(1, skuSales))
	syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, now)}, []int{1}, act(e, 1, now, sam.SourceAccessWeb, 1))
	running := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	must(t, s.StageUsers(ctx(t), running, []store.StagedUser{staged(2, skuSales)}))

	must(t, s.DeleteProfile(ctx(t), p.ID))
	_, err := s.Profile(ctx(t), p.ID)
	mustCode(t, err, sam.ENOTFOUND)
	_, err = s.Secret(ctx(t), p.ID, sam.SecretClientSecret)
	mustCode(t, err, sam.ENOTFOUND)
	_, err = s.SyncState(ctx(t), p.ID)
	mustCode(t, err, sam.ENOTFOUND)
	if subs, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID}); err != nil || len(subs) != 0 {
		t.Errorf("subscriptions left: %d %v", len(subs), err)
	}
	if days, err := s.ActivityDays(ctx(t), p.ID, user(1), now.AddDate(-1, 0, 0), now); err != nil || len(days) != 0 {
		t.Errorf("activity left: %d %v", len(days), err)
	}
	if units, err := s.SKUUnits(ctx(t), p.ID, now.AddDate(-1, 0, 0), now); err != nil || len(units) != 0 {
		t.Errorf("units left: %d %v", len(units), err)
	}
	runs, err := s.Runs(ctx(t), store.RunFilter{ProfileID: p.ID})
	must(t, err)
	if len(runs) != 3 {
		t.Errorf("runs kept: %d, want 3", len(runs))
	}
	r, err := s.Run(ctx(t), running.ID)
	must(t, err)
	if r.Status != sam.RunFailed || r.FinishedAt == nil {
		t.Errorf("running run of a deleted profile = %+v", r)
	}
	// The other profile is untouched.
	if subs := openSubs(t, s, q.ID); len(subs) != 1 {
		t.Errorf("other profile lost subscriptions: %v", subs)
	}
	mustCode(t, s.DeleteProfile(ctx(t), p.ID), sam.ENOTFOUND)
	// The name is free again, with a new id: old runs do not move to it.
	again := newProfile(t, s, "contoso", 0)
	if again.ID == p.ID {
		t.Errorf("profile id %d reused", p.ID)
	}
	runs, err = s.Runs(ctx(t), store.RunFilter{ProfileID: again.ID})
	must(t, err)
	if len(runs) != 0 {
		t.Errorf("new profile inherits %d runs", len(runs))
	}
}

// testFinishedRunKeepsOthersStaging: a finished activity run's staged
// evidence goes, another running run's stays and commits.
func testFinishedRunKeepsOthersStaging(t *testing.T, s store.Store) {
	a, b := newProfile(t, s, "a", 1), newProfile(t, s, "b", 1)
	runs := stageRunEach(t, s, []*sam.Profile{a, b}, func(_ int, e int64) []store.StagedActivity {
		return []store.StagedActivity{act(e, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 1)}
	})
	runs[0].Status, runs[0].Error = sam.RunFailed, "cancelled"
	must(t, s.FinishRun(ctx(t), runs[0]))
	_, err := s.CommitActivity(ctx(t), runs[1], store.ActivityCommit{Now: now,
		Environments: []sam.EnvironmentAudit{auditOK(b.Environments[0].ID, now)}})
	must(t, err)
	days, err := s.ActivityDays(ctx(t), b.ID, user(1), now.AddDate(0, 0, -1), now)
	must(t, err)
	if len(days) != 1 {
		t.Errorf("the other run committed %d activity days, want 1: its staged evidence went with the finished run's", len(days))
	}
	if days, err := s.ActivityDays(ctx(t), a.ID, user(1), now.AddDate(0, 0, -1), now); err != nil || len(days) != 0 {
		t.Errorf("the failed run left %d activity days (%v)", len(days), err)
	}
}

// testCommitAmongOthersStaging: an activity commit merges its own run's
// staged evidence only, whether another profile's run still has evidence
// staged (the commit then picks its rows out) or not (its rows are the
// table's).
func testCommitAmongOthersStaging(t *testing.T, s store.Store) {
	a, b := newProfile(t, s, "a", 1), newProfile(t, s, "b", 1)
	// Profile a's user was active on two days, b's on one (twice).
	runs := stageRunEach(t, s, []*sam.Profile{a, b}, func(i int, e int64) []store.StagedActivity {
		rows := []store.StagedActivity{act(e, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 1)}
		if i == 0 {
			return append(rows, act(e, 1, now.Add(-25*time.Hour), sam.SourceAccessWeb, 1))
		}
		return append(rows, act(e, 1, now.Add(-2*time.Hour), sam.SourceAccessWeb, 2))
	})
	check := func(when string, p *sam.Profile, want []int64) {
		t.Helper()
		days, err := s.ActivityDays(ctx(t), p.ID, user(1), now.AddDate(0, 0, -3), now)
		must(t, err)
		var got []int64
		for _, d := range days {
			got = append(got, d.Events)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: profile %s has activity days with %v events, want %v", when, p.Name, got, want)
		}
	}
	commit := func(p *sam.Profile, r *sam.Run) {
		t.Helper()
		_, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now,
			Environments: []sam.EnvironmentAudit{auditOK(p.Environments[0].ID, now)}})
		must(t, err)
	}
	// b's commit while a's rows are staged, then a's alone.
	commit(b, runs[1])
	check("b committed, a staged", b, []int64{3})
	check("b committed, a staged", a, nil)
	commit(a, runs[0])
	check("both committed", a, []int64{1, 1})
	check("both committed", b, []int64{3})
}

// stageRunEach opens user 1's Sales subscription in each profile of ps and
// starts an activity run for it that stages system user 1 (mapped to user
// 1) and the evidence rows(i, environment) gives for ps[i]'s first
// environment. It returns the runs, in the order of ps.
func stageRunEach(t *testing.T, s store.Store, ps []*sam.Profile, rows func(i int, env int64) []store.StagedActivity) []*sam.Run {
	t.Helper()
	var runs []*sam.Run
	for i, p := range ps {
		syncSubs(t, s, p, true, now, staged(1, skuSales))
		r := startRun(t, s, p.ID, sam.RunActivity, false)
		e := p.Environments[0].ID
		must(t, s.StageSystemUsers(ctx(t), r, e, []store.SystemUser{{SystemUserID: sysUser(1), AADObjectID: user(1)}}))
		must(t, s.StageActivity(ctx(t), r, rows(i, e)))
		runs = append(runs, r)
	}
	return runs
}
