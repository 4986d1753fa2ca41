package storetest

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func testFullCommit(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	u2 := staged(2, skuService)
	u2.Licenses[0].AssignedByGroup = upper(guid(40, 1))
	u2.Licenses[0].AssignedAt = time.Time{}
	removed := staged(4, skuSales)
	removed.Removed = true

	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	r.Counts = map[string]int64{"users": 4}
	must(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(1, skuSales, skuApps), u2, staged(3, upper(skuUnknown)), removed}))
	units := []sam.SKUUnits{{SKUID: skuSales, Day: now, PartNumber: "D365_SALES_PRO", Enabled: 25, Consumed: 1}}
	ch, err := s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: true, DeltaLink: "https://graph/delta?token=1",
		Now: now, Models: models(), Units: units})
	must(t, err)
	if ch != (store.SubscriptionChanges{Opened: 4}) {
		t.Errorf("first commit changes = %+v, want 4 opened", ch)
	}
	subs := openSubs(t, s, p.ID)
	if len(subs) != 4 {
		t.Fatalf("open subscriptions: %v", subs)
	}
	x := subs[key(1, skuSales)]
	if x == nil || x.UPN != "user1@contoso.com" || x.DisplayName != "User 1" || x.Department != "Sales" || x.Country != "FR" ||
		!x.AccountEnabled || x.AssignedByGroup != "" || !x.AssignedAt.Equal(lic("").AssignedAt) || !x.FirstSeen.Equal(now) ||
		!x.LastSeen.Equal(now) || !x.Open() || x.ProfileID != p.ID {
		t.Errorf("subscription 1/sales = %+v", x)
	}
	if x.UsageClass != sam.UsageUnknown {
		t.Errorf("usage before any activity run = %q, want unknown (environment not read yet)", x.UsageClass)
	}
	if y := subs[key(2, skuService)]; y == nil || y.AssignedByGroup != guid(40, 1) || !y.AssignedAt.IsZero() {
		t.Errorf("group subscription = %+v", y)
	}
	if subs[key(3, skuUnknown)] == nil {
		t.Errorf("subscription to an unknown SKU missing")
	}
	m, err := s.SoftwareModel(ctx(t), skuUnknown)
	must(t, err)
	if m.Mapped || m.Tracked || m.Family != sam.FamilyOther {
		t.Errorf("model of unknown SKU = %+v, want unmapped", m)
	}
	got, err := s.SKUUnits(ctx(t), p.ID, now, now)
	must(t, err)
	if len(got) != 1 || got[0].Enabled != 25 || got[0].ProfileID != p.ID {
		t.Errorf("units committed = %+v", got)
	}
	st, err := s.SyncState(ctx(t), p.ID)
	must(t, err)
	if st.DeltaLink != "https://graph/delta?token=1" || !st.LastSubscriptionsSync.Equal(now) || !st.LastActivitySync.IsZero() {
		t.Errorf("sync state = %+v", st)
	}
	run, err := s.Run(ctx(t), r.ID)
	must(t, err)
	if run.Status != sam.RunSucceeded || run.FinishedAt == nil || run.Checkpoint != nil || run.Counts["users"] != 4 {
		t.Errorf("committed run = %+v", run)
	}
	if r.Status != sam.RunSucceeded {
		t.Errorf("r.Status = %s after commit", r.Status)
	}

	// Second full run: 1 drops apps and moves department, 2 is gone,
	// 3 is unchanged, 5 is new.
	later := now.Add(24 * time.Hour)
	u1 := staged(1, skuSales)
	u1.Department = "Marketing"
	ch = syncSubs(t, s, p, true, later, u1, staged(3, skuUnknown), staged(5, skuApps))
	if ch != (store.SubscriptionChanges{Opened: 1, Closed: 2, Updated: 1}) {
		t.Errorf("second commit changes = %+v, want 1 opened, 2 closed, 1 updated", ch)
	}
	subs = openSubs(t, s, p.ID)
	if len(subs) != 3 || subs[key(1, skuSales)] == nil || subs[key(3, skuUnknown)] == nil || subs[key(5, skuApps)] == nil {
		t.Fatalf("open after second run: %v", subs)
	}
	if x := subs[key(1, skuSales)]; x.Department != "Marketing" || !x.FirstSeen.Equal(now) || !x.LastSeen.Equal(later) {
		t.Errorf("updated subscription = %+v", x)
	}
	if x := subs[key(3, skuUnknown)]; !x.LastSeen.Equal(later) {
		t.Errorf("unchanged subscription last seen %v, want %v", x.LastSeen, later)
	}
	all, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID})
	must(t, err)
	closed := 0
	for _, x := range all {
		if x.ClosedAt != nil {
			closed++
			if !x.ClosedAt.Equal(later) || !x.LastSeen.Equal(now) {
				t.Errorf("closed subscription = %+v", x)
			}
		}
	}
	if len(all) != 5 || closed != 2 {
		t.Errorf("history: %d subscriptions, %d closed; want 5 and 2", len(all), closed)
	}
}

func testDeltaCommit(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales, skuApps), staged(3, skuService))
	later := now.Add(time.Hour)
	u2 := staged(2, skuSales)
	u2.Country = "DE"
	u3 := staged(3)
	u3.Removed = true
	ch := syncSubs(t, s, p, false, later, u2, u3, staged(4, skuApps))
	if ch != (store.SubscriptionChanges{Opened: 1, Closed: 2, Updated: 1}) {
		t.Errorf("delta changes = %+v, want 1 opened, 2 closed, 1 updated", ch)
	}
	subs := openSubs(t, s, p.ID)
	if len(subs) != 3 || subs[key(1, skuSales)] == nil || subs[key(2, skuSales)] == nil || subs[key(4, skuApps)] == nil {
		t.Fatalf("open after delta: %v", subs)
	}
	if x := subs[key(1, skuSales)]; !x.LastSeen.Equal(later) || x.Country != "FR" || !x.FirstSeen.Equal(now) {
		t.Errorf("untouched user's subscription = %+v", x)
	}
	if x := subs[key(2, skuSales)]; x.Country != "DE" {
		t.Errorf("updated subscription = %+v", x)
	}
	st, err := s.SyncState(ctx(t), p.ID)
	must(t, err)
	if st.DeltaLink != "delta-"+later.Format(time.RFC3339) || !st.LastSubscriptionsSync.Equal(later) {
		t.Errorf("sync state after delta = %+v", st)
	}
	// An empty delta closes nothing and only refreshes LastSeen.
	latest := later.Add(time.Hour)
	ch = syncSubs(t, s, p, false, latest)
	if ch != (store.SubscriptionChanges{}) {
		t.Errorf("empty delta changes = %+v", ch)
	}
	for k, x := range openSubs(t, s, p.ID) {
		if !x.LastSeen.Equal(latest) {
			t.Errorf("%s last seen %v after empty delta", k, x.LastSeen)
		}
	}
}

func testReopenAfterClose(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales))
	first := openSubs(t, s, p.ID)[key(1, skuSales)]
	syncSubs(t, s, p, true, now.Add(time.Hour), staged(2, skuSales))
	ch := syncSubs(t, s, p, true, now.Add(2*time.Hour), staged(1, skuSales), staged(2, skuSales))
	if ch.Opened != 1 || ch.Closed != 0 {
		t.Errorf("reassignment changes = %+v", ch)
	}
	again := openSubs(t, s, p.ID)[key(1, skuSales)]
	if again == nil || again.ID == first.ID || !again.FirstSeen.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("reassigned subscription = %+v (first %+v)", again, first)
	}
	hist, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID, UserID: user(1)})
	must(t, err)
	if len(hist) != 2 || hist[0].ID != first.ID || hist[0].ClosedAt == nil || !hist[0].ClosedAt.Equal(now.Add(time.Hour)) || hist[1].ClosedAt != nil {
		t.Errorf("history of user 1 = %+v", hist)
	}
}

func testStagingDedupAndResume(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	first2 := staged(2, skuSales)
	first2.UPN = "old@contoso.com"
	r.Counts = map[string]int64{"users": 2}
	r.Checkpoint = []byte("page-2")
	must(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(1, skuSales), first2, staged(2, skuSales)}))

	// The process dies; a new one resumes from the saved checkpoint.
	resumed, err := s.UnfinishedRun(ctx(t), p.ID, sam.RunSubscriptions)
	must(t, err)
	if string(resumed.Checkpoint) != "page-2" || resumed.Counts["users"] != 2 {
		t.Fatalf("resumed run = %+v", resumed)
	}
	// It repeats the last page (the commit of page 2 was lost before the
	// checkpoint moved on) with user 1 changed meanwhile, then goes on.
	resumed.Counts["users"] = 3
	resumed.Checkpoint = []byte("page-3")
	// User 3 lists one SKU twice, inherited then direct: the last wins.
	third := staged(3, skuSales, skuSales)
	third.Licenses[0].AssignedByGroup = "00000000-0000-4000-8000-00000000a001"
	must(t, s.StageUsers(ctx(t), resumed, []store.StagedUser{staged(1, skuApps), third}))
	ch, err := s.CommitSubscriptions(ctx(t), resumed, store.SubscriptionCommit{Full: true, Now: now, Models: models()})
	must(t, err)
	if ch.Opened != 3 {
		t.Errorf("opened %d, want 3 (each user once, last version)", ch.Opened)
	}
	subs := openSubs(t, s, p.ID)
	if len(subs) != 3 || subs[key(1, skuApps)] == nil || subs[key(2, skuSales)] == nil || subs[key(3, skuSales)] == nil {
		t.Errorf("open subscriptions = %v", subs)
	}
	if x := subs[key(2, skuSales)]; x != nil && x.UPN != "user2@contoso.com" {
		t.Errorf("user staged twice in one call kept %q, want the last version", x.UPN)
	}
	if x := subs[key(3, skuSales)]; x != nil && x.AssignedByGroup != "" {
		t.Errorf("licence listed twice kept the group %q of the first, want the last (direct)", x.AssignedByGroup)
	}
	run, err := s.Run(ctx(t), r.ID)
	must(t, err)
	if run.Counts["users"] != 3 {
		t.Errorf("run counts = %v", run.Counts)
	}
	// Committing again (a retry after a lost reply) is refused and changes nothing.
	_, err = s.CommitSubscriptions(ctx(t), resumed, store.SubscriptionCommit{Full: true, Now: now})
	mustCode(t, err, sam.ECONFLICT)
	if len(openSubs(t, s, p.ID)) != 3 {
		t.Errorf("second commit changed subscriptions")
	}
}

func testStagingInvisibleAndDiscard(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	must(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(2, skuSales)}))
	if subs := openSubs(t, s, p.ID); len(subs) != 1 || subs[key(1, skuSales)] == nil {
		t.Errorf("staged users visible before commit: %v", subs)
	}
	must(t, s.DiscardStaging(ctx(t), r.ID))
	must(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(3, skuSales)}))
	ch, err := s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: true, Now: now.Add(time.Hour)})
	must(t, err)
	if ch != (store.SubscriptionChanges{Opened: 1, Closed: 1}) {
		t.Errorf("changes = %+v", ch)
	}
	if subs := openSubs(t, s, p.ID); len(subs) != 1 || subs[key(3, skuSales)] == nil {
		t.Errorf("after discard and commit: %v", subs)
	}
	// Activity staging is discarded too.
	a := startRun(t, s, p.ID, sam.RunActivity, false)
	env := p.Environments[0].ID
	must(t, s.StageSystemUsers(ctx(t), a, env, []store.SystemUser{{SystemUserID: sysUser(3), AADObjectID: user(3)}}))
	must(t, s.StageActivity(ctx(t), a, []store.StagedActivity{act(env, 3, now, sam.SourceAccessWeb, 1)}))
	must(t, s.DiscardStaging(ctx(t), a.ID))
	ach, err := s.CommitActivity(ctx(t), a, store.ActivityCommit{Now: now.Add(time.Hour)})
	must(t, err)
	if ach.Days != 0 || ach.UnmappedRows != 0 {
		t.Errorf("discarded activity committed: %+v", ach)
	}
	must(t, s.DiscardStaging(ctx(t), 9999))
}

func testCommitRollsBack(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	syncSubs(t, s, p, true, now, staged(1, skuSales))
	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	must(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(2, skuApps)}))
	bad := store.SubscriptionCommit{Full: true, DeltaLink: "new", Now: now.Add(time.Hour), Models: models(),
		Units: []sam.SKUUnits{{SKUID: skuSales, Day: now}, {Day: now}}}
	_, err := s.CommitSubscriptions(ctx(t), r, bad)
	mustCode(t, err, sam.EINVALID)
	if subs := openSubs(t, s, p.ID); len(subs) != 1 || subs[key(1, skuSales)] == nil {
		t.Errorf("failed commit changed subscriptions: %v", subs)
	}
	st, err := s.SyncState(ctx(t), p.ID)
	must(t, err)
	if st.DeltaLink == "new" {
		t.Errorf("failed commit stored the delta link")
	}
	units, err := s.SKUUnits(ctx(t), p.ID, now, now)
	must(t, err)
	if len(units) != 0 {
		t.Errorf("failed commit stored units: %+v", units)
	}
	// The run can still commit: its staging survived.
	ch, err := s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: true, Now: now.Add(time.Hour)})
	must(t, err)
	if ch != (store.SubscriptionChanges{Opened: 1, Closed: 1}) {
		t.Errorf("retried commit changes = %+v", ch)
	}
}

func testSubscriptionFilters(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	q := newProfile(t, s, "other", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales, skuApps), staged(2, skuSales), staged(3, skuApps))
	syncSubs(t, s, q, true, now, staged(1, skuSales))
	syncSubs(t, s, p, true, now.Add(time.Hour), staged(1, skuSales, skuApps), staged(2, skuSales))

	ids := func(f store.SubscriptionFilter) []string {
		t.Helper()
		subs, err := s.Subscriptions(ctx(t), f)
		must(t, err)
		var out []string
		for i, x := range subs {
			if i > 0 && subs[i-1].ID >= x.ID {
				t.Errorf("not ordered by id: %d then %d", subs[i-1].ID, x.ID)
			}
			out = append(out, x.UserID[len(x.UserID)-1:]+"/"+x.SKUID[len(x.SKUID)-1:])
		}
		return out
	}
	all, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID})
	must(t, err)
	tests := []struct {
		name string
		f    store.SubscriptionFilter
		want []string
	}{
		{"profile", store.SubscriptionFilter{ProfileID: p.ID}, []string{"1/1", "1/3", "2/1", "3/3"}},
		{"every profile", store.SubscriptionFilter{SKUID: skuSales}, []string{"1/1", "2/1", "1/1"}},
		{"sku", store.SubscriptionFilter{ProfileID: p.ID, SKUID: upper(skuApps)}, []string{"1/3", "3/3"}},
		{"user", store.SubscriptionFilter{ProfileID: p.ID, UserID: upper(user(1))}, []string{"1/1", "1/3"}},
		{"open only", store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true}, []string{"1/1", "1/3", "2/1"}},
		{"usage class", store.SubscriptionFilter{ProfileID: p.ID, UsageClass: sam.UsageUnknown, OpenOnly: true}, []string{"1/1", "1/3", "2/1"}},
		{"no match", store.SubscriptionFilter{ProfileID: p.ID, UsageClass: sam.UsageActive}, nil},
		{"first page", store.SubscriptionFilter{ProfileID: p.ID, Limit: 2}, []string{"1/1", "1/3"}},
		{"next page", store.SubscriptionFilter{ProfileID: p.ID, Limit: 2, AfterID: all[1].ID}, []string{"2/1", "3/3"}},
		{"last page", store.SubscriptionFilter{ProfileID: p.ID, Limit: 2, AfterID: all[3].ID}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.f); !equal(got, tc.want) {
				t.Errorf("Subscriptions(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	one, err := s.Subscription(ctx(t), all[0].ID)
	must(t, err)
	if one.ID != all[0].ID || one.UserID != user(1) || one.SKUID != skuSales {
		t.Errorf("Subscription(%d) = %+v", all[0].ID, one)
	}
	_, err = s.Subscription(ctx(t), 999999)
	mustCode(t, err, sam.ENOTFOUND)
}
