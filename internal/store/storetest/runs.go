package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func testRuns(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	q := newProfile(t, s, "other", 0)

	r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
	before := time.Now().Add(-time.Second)
	must(t, s.StartRun(ctx(t), r))
	if r.ID == 0 || r.Status != sam.RunRunning || r.StartedAt.Before(before) {
		t.Fatalf("started run %+v", r)
	}
	r.Counts = map[string]int64{"users": 42, "pages": 3}
	r.Requests, r.Throttles, r.Retries = 7, 1, 2
	r.Warnings = []string{"slow"}
	r.Checkpoint = []byte(`{"next":"https://graph/users?skiptoken=abc"}`)
	r.Error = "Graph timed out; will resume"
	must(t, s.SaveRunProgress(ctx(t), r))
	got, err := s.Run(ctx(t), r.ID)
	must(t, err)
	if got.Counts["users"] != 42 || got.Counts["pages"] != 3 || got.Requests != 7 || got.Throttles != 1 || got.Retries != 2 ||
		len(got.Warnings) != 1 || string(got.Checkpoint) != string(r.Checkpoint) || !got.Full || got.Kind != sam.RunSubscriptions ||
		got.FinishedAt != nil || !got.StartedAt.Equal(r.StartedAt) || got.ProfileID != p.ID || got.Error != r.Error {
		t.Errorf("run after progress = %+v", got)
	}
	un, err := s.UnfinishedRun(ctx(t), p.ID, sam.RunSubscriptions)
	must(t, err)
	if un.ID != r.ID || string(un.Checkpoint) != string(r.Checkpoint) {
		t.Errorf("UnfinishedRun = %+v", un)
	}
	_, err = s.UnfinishedRun(ctx(t), p.ID, sam.RunActivity)
	mustCode(t, err, sam.ENOTFOUND)

	r.Status, r.Error = sam.RunFailed, "Graph answered 500"
	must(t, s.FinishRun(ctx(t), r))
	got, err = s.Run(ctx(t), r.ID)
	must(t, err)
	if got.Status != sam.RunFailed || got.Error != "Graph answered 500" || got.FinishedAt == nil || got.Checkpoint != nil {
		t.Errorf("finished run = %+v", got)
	}
	if r.Checkpoint != nil || r.FinishedAt == nil {
		t.Errorf("FinishRun did not update r: %+v", r)
	}
	_, err = s.UnfinishedRun(ctx(t), p.ID, sam.RunSubscriptions)
	mustCode(t, err, sam.ENOTFOUND)

	// Newest first, filters, limit.
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i, spec := range []struct {
		profile int64
		kind    sam.RunKind
	}{{p.ID, sam.RunActivity}, {q.ID, sam.RunSubscriptions}, {p.ID, sam.RunActivity}, {p.ID, sam.RunSubscriptions}} {
		x := &sam.Run{ProfileID: spec.profile, Kind: spec.kind, StartedAt: base.Add(time.Duration(i) * time.Hour)}
		must(t, s.StartRun(ctx(t), x))
		ids = append(ids, x.ID)
	}
	list := func(f store.RunFilter) []int64 {
		t.Helper()
		rs, err := s.Runs(ctx(t), f)
		must(t, err)
		var out []int64
		for _, x := range rs {
			out = append(out, x.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    store.RunFilter
		want []int64
	}{
		{"all", store.RunFilter{}, []int64{r.ID, ids[3], ids[2], ids[1], ids[0]}},
		{"profile", store.RunFilter{ProfileID: q.ID}, []int64{ids[1]}},
		{"kind", store.RunFilter{ProfileID: p.ID, Kind: sam.RunActivity}, []int64{ids[2], ids[0]}},
		{"status", store.RunFilter{Status: sam.RunFailed}, []int64{r.ID}},
		{"limit", store.RunFilter{ProfileID: p.ID, Limit: 2}, []int64{r.ID, ids[3]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.f); !equalIDs(got, tc.want) {
				t.Errorf("Runs(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	un, err = s.UnfinishedRun(ctx(t), p.ID, sam.RunActivity)
	must(t, err)
	if un.ID != ids[2] {
		t.Errorf("UnfinishedRun picked %d, want newest %d", un.ID, ids[2])
	}
}

func equalIDs(a, b []int64) bool {
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

func testRunLifecycleErrors(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 1)
	mustCode(t, s.StartRun(ctx(t), &sam.Run{ProfileID: 9999, Kind: sam.RunActivity}), sam.ENOTFOUND)
	mustCode(t, s.StartRun(ctx(t), &sam.Run{ProfileID: p.ID, Kind: "backup"}), sam.EINVALID)
	_, err := s.Run(ctx(t), 9999)
	mustCode(t, err, sam.ENOTFOUND)
	ghost := &sam.Run{ID: 9999, ProfileID: p.ID, Kind: sam.RunActivity, Status: sam.RunSucceeded}
	mustCode(t, s.SaveRunProgress(ctx(t), ghost), sam.ENOTFOUND)
	mustCode(t, s.FinishRun(ctx(t), ghost), sam.ENOTFOUND)
	mustCode(t, s.StageUsers(ctx(t), ghost, nil), sam.ENOTFOUND)

	r := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	r.Status = sam.RunRunning
	mustCode(t, s.FinishRun(ctx(t), r), sam.EINVALID)
	r.Status = sam.RunSucceeded
	must(t, s.FinishRun(ctx(t), r))
	// A finished run accepts nothing more.
	mustCode(t, s.FinishRun(ctx(t), r), sam.ECONFLICT)
	mustCode(t, s.SaveRunProgress(ctx(t), r), sam.ECONFLICT)
	mustCode(t, s.StageUsers(ctx(t), r, []store.StagedUser{staged(1, skuSales)}), sam.ECONFLICT)
	_, err = s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: true, Now: now})
	mustCode(t, err, sam.ECONFLICT)

	other := newProfile(t, s, "other", 1).Environments[0].ID
	a := startRun(t, s, p.ID, sam.RunActivity, false)
	mustCode(t, s.StageSystemUsers(ctx(t), a, other, nil), sam.EINVALID)
	mustCode(t, s.StageActivity(ctx(t), a, []store.StagedActivity{act(other, 1, now, sam.SourceAccessWeb, 1)}), sam.EINVALID)
	mustCode(t, s.StageActivity(ctx(t), a, []store.StagedActivity{{EnvironmentID: p.Environments[0].ID, Day: now}}), sam.EINVALID)
	_, err = s.CommitActivity(ctx(t), a, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{auditOK(other, now)}})
	mustCode(t, err, sam.EINVALID)
	// Each kind of run takes only its own kind of staging and commit.
	sub := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	mustCode(t, s.StageUsers(ctx(t), sub, []store.StagedUser{{UPN: "no-id"}}), sam.EINVALID)
	mustCode(t, s.StageUsers(ctx(t), sub, []store.StagedUser{{UserID: user(1), Licenses: []store.StagedLicense{{}}}}), sam.EINVALID)
	mustCode(t, s.StageUsers(ctx(t), a, []store.StagedUser{staged(1, skuSales)}), sam.EINVALID)
	_, err = s.CommitSubscriptions(ctx(t), a, store.SubscriptionCommit{Full: true, Now: now})
	mustCode(t, err, sam.EINVALID)
	mustCode(t, s.StageSystemUsers(ctx(t), sub, p.Environments[0].ID, nil), sam.EINVALID)
	mustCode(t, s.StageActivity(ctx(t), sub, nil), sam.EINVALID)
	_, err = s.CommitActivity(ctx(t), sub, store.ActivityCommit{Now: now})
	mustCode(t, err, sam.EINVALID)
	// A run of another profile is refused too.
	wrong := *sub
	wrong.ProfileID = p.ID + 1000
	mustCode(t, s.StageUsers(ctx(t), &wrong, nil), sam.EINVALID)
	// The failed commit changed nothing: the run still runs.
	got, err := s.Run(ctx(t), a.ID)
	must(t, err)
	if got.Status != sam.RunRunning {
		t.Errorf("run after failed commit: %s", got.Status)
	}
}

// testConcurrentWriters checks that writers in several goroutines all
// succeed (SQLite serialises them; PostgreSQL runs them side by side): runs
// staging for one profile, and whole syncs of different profiles.
func testConcurrentWriters(t *testing.T, s store.Store) {
	shared := newProfile(t, s, "shared", 1)
	var profiles []*sam.Profile
	for g := range 4 {
		profiles = append(profiles, newProfile(t, s, fmt.Sprintf("p%d", g), 1))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- concurrentWork(t, s, shared, profiles[g], g)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	rs, err := s.Runs(ctx(t), store.RunFilter{ProfileID: shared.ID, Status: sam.RunSucceeded})
	must(t, err)
	if len(rs) != 12 {
		t.Errorf("%d succeeded runs of the shared profile, want 12", len(rs))
	}
	for g, p := range profiles {
		subs := openSubs(t, s, p.ID)
		if len(subs) != 20 {
			t.Errorf("profile %d: %d open subscriptions, want 20", g, len(subs))
		}
		for k, x := range subs {
			if x.UsageClass != sam.UsageLow {
				t.Errorf("profile %d: %s is %q, want low usage", g, k, x.UsageClass)
				break
			}
		}
	}
}

func concurrentWork(t *testing.T, s store.Store, shared, own *sam.Profile, g int) error {
	c := ctx(t)
	for i := range 3 {
		r := &sam.Run{ProfileID: shared.ID, Kind: sam.RunSubscriptions}
		if err := s.StartRun(c, r); err != nil {
			return err
		}
		if err := s.StageUsers(c, r, []store.StagedUser{staged(g*10+i, skuSales)}); err != nil {
			return err
		}
		r.Status = sam.RunSucceeded
		if err := s.FinishRun(c, r); err != nil {
			return err
		}
		if _, err := s.Profiles(c); err != nil {
			return err
		}
	}
	env := own.Environments[0].ID
	for i := range 2 {
		r := &sam.Run{ProfileID: own.ID, Kind: sam.RunSubscriptions, Full: true}
		if err := s.StartRun(c, r); err != nil {
			return err
		}
		var users []store.StagedUser
		for n := 1; n <= 20; n++ {
			users = append(users, staged(n, skuSales))
		}
		if err := s.StageUsers(c, r, users); err != nil {
			return err
		}
		if _, err := s.CommitSubscriptions(c, r, store.SubscriptionCommit{Full: true, Now: now, Models: models()}); err != nil {
			return err
		}
		a := &sam.Run{ProfileID: own.ID, Kind: sam.RunActivity}
		if err := s.StartRun(c, a); err != nil {
			return err
		}
		var sys []store.SystemUser
		var rows []store.StagedActivity
		for n := 1; n <= 20; n++ {
			sys = append(sys, store.SystemUser{SystemUserID: sysUser(n), AADObjectID: user(n)})
			rows = append(rows, act(env, n, now.Add(-time.Duration(i+1)*time.Hour), sam.SourceAccessWeb, 1))
		}
		if err := s.StageSystemUsers(c, a, env, sys); err != nil {
			return err
		}
		if err := s.StageActivity(c, a, rows); err != nil {
			return err
		}
		if _, err := s.CommitActivity(c, a, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{auditOK(env, now)}}); err != nil {
			return err
		}
	}
	return nil
}
