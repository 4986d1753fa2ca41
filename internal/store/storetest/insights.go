package storetest

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// insightTests are the conformance tests of store.UsageSnapshotStore and
// store.IdentityStore.
var insightTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"IdleBucketOf", testIdleBucketOf},
	{"UsageBreakdown", testUsageBreakdown},
	{"UsageSnapshotAfterActivityRun", testUsageSnapshotAfterRun},
	{"UsageSnapshotReplacedSameDay", testUsageSnapshotSameDay},
	{"Identities", testIdentities},
	{"ChangeStamp", testChangeStamp},
}

func testChangeStamp(t *testing.T, s store.Store) {
	stamp := func() string {
		t.Helper()
		v, err := s.ChangeStamp(ctx(t))
		must(t, err)
		return v
	}
	first := stamp()
	if stamp() != first {
		t.Fatal("the change stamp changed without a change")
	}
	p := newProfile(t, s, "stamp", 0)
	afterProfile := stamp()
	if afterProfile == first {
		t.Error("adding a profile kept the change stamp")
	}
	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	afterStart := stamp()
	if afterStart == afterProfile {
		t.Error("starting a run kept the change stamp")
	}
	r.Status = sam.RunFailed
	must(t, s.FinishRun(ctx(t), r))
	afterFinish := stamp()
	if afterFinish == afterStart {
		t.Error("finishing a run kept the change stamp")
	}
	must(t, s.AppendAudit(ctx(t), &store.AuditEntry{At: now, Actor: "user:x", Action: "POST /x", Status: 200}))
	afterAudit := stamp()
	if afterAudit == afterFinish {
		t.Error("an audit entry kept the change stamp")
	}
	must(t, s.DeleteProfile(ctx(t), p.ID))
	if stamp() == afterAudit {
		t.Error("deleting a profile kept the change stamp")
	}
}

func testIdleBucketOf(t *testing.T, _ store.Store) {
	at := time.Date(2026, 6, 30, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		last *time.Time
		want string
	}{
		{nil, store.IdleNever},
		{ptr(at.Add(time.Hour)), "0-7"},
		{ptr(at.AddDate(0, 0, -7)), "0-7"},
		{ptr(time.Date(2026, 6, 23, 0, 0, 0, 0, time.UTC)), "0-7"},
		{ptr(time.Date(2026, 6, 22, 23, 59, 0, 0, time.UTC)), "8-30"},
		{ptr(at.AddDate(0, 0, -30)), "8-30"},
		{ptr(at.AddDate(0, 0, -31)), "31-60"},
		{ptr(at.AddDate(0, 0, -90)), "61-90"},
		{ptr(at.AddDate(0, 0, -91)), "91-180"},
		{ptr(at.AddDate(0, 0, -181)), "181+"},
		{ptr(at.AddDate(-3, 0, 0)), "181+"},
	} {
		if got := store.IdleBucketOf(tc.last, at); got != tc.want {
			t.Errorf("IdleBucketOf(%v) = %q, want %q", tc.last, got, tc.want)
		}
	}
}

// activityAt stages one access of user n per given time and commits an
// activity run at "at".
func activityAt(t *testing.T, s store.Store, p *sam.Profile, at time.Time, users []int, times map[int]time.Time) {
	t.Helper()
	var rows []store.StagedActivity
	for n, when := range times {
		rows = append(rows, act(p.Environments[0].ID, n, when, sam.SourceAccessWeb, 1))
	}
	syncActivity(t, s, p, at, []sam.EnvironmentAudit{auditOK(p.Environments[0].ID, at)}, users, rows...)
}

// bucketTotals sums buckets by "idle" and by "class".
func bucketTotals(bs []store.UsageBucket) (idle, class map[string]int) {
	idle, class = map[string]int{}, map[string]int{}
	for _, b := range bs {
		idle[b.Idle] += b.Count
		class[string(b.UsageClass)] += b.Count
	}
	return idle, class
}

func testUsageBreakdown(t *testing.T, s store.Store) {
	p := newProfile(t, s, "breakdown", 1)
	other := newProfile(t, s, "other", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales, skuApps), staged(2, skuSales), staged(3, skuSales), staged(4, skuApps))
	syncSubs(t, s, other, true, now, staged(9, skuSales))
	activityAt(t, s, p, now, []int{1, 2, 3, 4}, map[int]time.Time{1: now.Add(-time.Hour), 2: now.AddDate(0, 0, -40)})

	bs, err := s.UsageBreakdown(ctx(t), p.ID, now)
	must(t, err)
	idle, _ := bucketTotals(bs)
	// User 1 (both SKUs) was active an hour ago, user 2 40 days ago; users
	// 3 and 4 never.
	if want := map[string]int{"0-7": 2, "31-60": 1, "never": 2}; !sameCounts(idle, want) {
		t.Errorf("idle buckets of %q = %v, want %v", p.Name, idle, want)
	}
	for i := 1; i < len(bs); i++ {
		a, b := bs[i-1], bs[i]
		if a.ProfileID > b.ProfileID || (a.ProfileID == b.ProfileID && a.SKUID > b.SKUID) {
			t.Errorf("breakdown not ordered: %+v before %+v", a, b)
		}
	}
	all, err := s.UsageBreakdown(ctx(t), 0, now)
	must(t, err)
	total := 0
	for _, b := range all {
		total += b.Count
	}
	if total != 6 {
		t.Errorf("breakdown of every profile counts %d subscriptions, want 6", total)
	}
	// A later "now" moves the same activity to older buckets.
	later, err := s.UsageBreakdown(ctx(t), p.ID, now.AddDate(0, 0, 200))
	must(t, err)
	idle, _ = bucketTotals(later)
	if want := map[string]int{"181+": 3, "never": 2}; !sameCounts(idle, want) {
		t.Errorf("200 days later the idle buckets are %v, want %v", idle, want)
	}
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func testUsageSnapshotAfterRun(t *testing.T, s store.Store) {
	p := newProfile(t, s, "snap", 1)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuApps))
	// A subscriptions run takes no snapshot.
	snaps, err := s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{ProfileID: p.ID})
	must(t, err)
	if len(snaps) != 0 {
		t.Fatalf("snapshots after a subscriptions run = %+v, want none", snaps)
	}
	day1 := now.AddDate(0, 0, -1)
	activityAt(t, s, p, day1, []int{1, 2, 3}, map[int]time.Time{1: day1.Add(-time.Hour)})
	activityAt(t, s, p, now, []int{1, 2, 3}, map[int]time.Time{1: now.Add(-time.Hour), 2: now.Add(-2 * time.Hour)})

	snaps, err = s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{ProfileID: p.ID})
	must(t, err)
	perDay := map[time.Time]int{}
	for i, x := range snaps {
		if x.ProfileID != p.ID || x.Count <= 0 || x.Idle == "" || x.UsageClass == "" {
			t.Errorf("snapshot row %+v", x)
		}
		if i > 0 && snaps[i-1].Day.After(x.Day) {
			t.Errorf("snapshots not ordered by day")
		}
		perDay[x.Day] += x.Count
	}
	if len(perDay) != 2 || perDay[sam.Day(day1)] != 3 || perDay[sam.Day(now)] != 3 {
		t.Errorf("snapshot totals per day = %v, want 3 subscriptions on %s and on %s", perDay, sam.Day(day1), sam.Day(now))
	}
	latest, err := s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{ProfileID: p.ID, From: now, To: now})
	must(t, err)
	idle := map[string]int{}
	for _, x := range latest {
		idle[x.Idle] += x.Count
		if !x.TakenAt.Equal(now) {
			t.Errorf("snapshot taken at %v, want the run's time %v", x.TakenAt, now)
		}
	}
	if idle["never"] < 1 || idle["0-7"] < 1 {
		t.Errorf("today's idle buckets = %v", idle)
	}
	none, err := s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{ProfileID: p.ID + 1000})
	must(t, err)
	if len(none) != 0 {
		t.Errorf("snapshots of an unknown profile = %v", none)
	}
	// Deleting the profile removes its snapshots.
	must(t, s.DeleteProfile(ctx(t), p.ID))
	gone, err := s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{})
	must(t, err)
	if len(gone) != 0 {
		t.Errorf("snapshots after the profile was deleted = %d rows", len(gone))
	}
}

func testUsageSnapshotSameDay(t *testing.T, s store.Store) {
	p := newProfile(t, s, "sameday", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales))
	must(t, s.RecordUsageSnapshot(ctx(t), p.ID, now.Add(-time.Hour)))
	syncSubs(t, s, p, true, now, staged(1, skuSales), staged(2, skuSales), staged(3, skuSales))
	must(t, s.RecordUsageSnapshot(ctx(t), p.ID, now))
	snaps, err := s.UsageSnapshots(ctx(t), store.UsageSnapshotFilter{ProfileID: p.ID})
	must(t, err)
	total := 0
	for _, x := range snaps {
		total += x.Count
		if !x.TakenAt.Equal(now) {
			t.Errorf("row taken at %v, want the second snapshot's %v", x.TakenAt, now)
		}
	}
	if total != 3 {
		t.Errorf("the day's snapshot counts %d subscriptions, want 3 (the later snapshot replaces the earlier)", total)
	}
	mustCode(t, s.RecordUsageSnapshot(ctx(t), p.ID+1000, now), sam.ENOTFOUND)
}

func testIdentities(t *testing.T, s store.Store) {
	u := &store.User{Name: "ada@contoso.com", Role: "viewer", PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
	must(t, s.CreateUser(ctx(t), u))
	v := &store.User{Name: "bob", Role: "viewer", PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
	must(t, s.CreateUser(ctx(t), v))
	iss := "https://login.example/tenant/v2.0"
	_, err := s.UserByIdentity(ctx(t), iss, "sub-1")
	mustCode(t, err, sam.ENOTFOUND)
	must(t, s.LinkIdentity(ctx(t), u.ID, iss, "sub-1"))
	must(t, s.LinkIdentity(ctx(t), u.ID, iss, "sub-1")) // again: no error
	mustCode(t, s.LinkIdentity(ctx(t), v.ID, iss, "sub-1"), sam.ECONFLICT)
	mustCode(t, s.LinkIdentity(ctx(t), 99999, iss, "sub-2"), sam.ENOTFOUND)
	mustCode(t, s.LinkIdentity(ctx(t), u.ID, "", "sub-3"), sam.EINVALID)
	got, err := s.UserByIdentity(ctx(t), iss, "sub-1")
	must(t, err)
	if got.ID != u.ID || got.Name != u.Name {
		t.Errorf("UserByIdentity = %+v, want %s", got, u.Name)
	}
	_, err = s.UserByIdentity(ctx(t), "https://other/v2.0", "sub-1")
	mustCode(t, err, sam.ENOTFOUND)
}
