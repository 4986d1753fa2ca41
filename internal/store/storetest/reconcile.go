package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// reconciliationTests are the conformance tests of store.ReconciliationStore.
var reconciliationTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"StartReconciliationClosesInterrupted", testStartReconciliationClosesInterrupted},
	{"StartReconciliationWaitsForLiveRun", testStartReconciliationWaitsForLiveRun},
	{"StartReconciliationErrors", testStartReconciliationErrors},
}

// startReconciliation starts a reconciliation run of profileID and
// registers its release with t.Cleanup.
func startReconciliation(t *testing.T, s store.Store, c context.Context, profileID int64) (*sam.Run, []int64, func()) {
	t.Helper()
	r := &sam.Run{ProfileID: profileID, Kind: sam.RunReconciliation, Full: true}
	closed, release, err := s.StartReconciliation(c, r)
	must(t, err)
	t.Cleanup(release)
	if r.ID == 0 || r.Status != sam.RunRunning {
		t.Fatalf("started reconciliation %+v", r)
	}
	return r, closed, release
}

// testStartReconciliationClosesInterrupted: reconciliation runs left
// running by a process that is gone (StartRun without the lock, as a killed
// process leaves them) are closed as failed by the next reconciliation of
// their profile, in the transaction that starts it; other kinds and other
// profiles are left alone.
func testStartReconciliationClosesInterrupted(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	q := newProfile(t, s, "other", 0)
	dead1 := startRun(t, s, p.ID, sam.RunReconciliation, true)
	dead2 := startRun(t, s, p.ID, sam.RunReconciliation, true)
	sync := startRun(t, s, p.ID, sam.RunSubscriptions, true)
	otherProfile := startRun(t, s, q.ID, sam.RunReconciliation, true)
	done := startRun(t, s, p.ID, sam.RunReconciliation, true)
	done.Status = sam.RunSucceeded
	must(t, s.FinishRun(ctx(t), done))

	r, closed, release := startReconciliation(t, s, ctx(t), p.ID)
	if !slices.Equal(closed, []int64{dead1.ID, dead2.ID}) {
		t.Errorf("closed %v, want %v", closed, []int64{dead1.ID, dead2.ID})
	}
	for _, id := range []int64{dead1.ID, dead2.ID} {
		got, err := s.Run(ctx(t), id)
		must(t, err)
		want := fmt.Sprintf("interrupted: superseded by run %d", r.ID)
		if got.Status != sam.RunFailed || got.Error != want || got.FinishedAt == nil {
			t.Errorf("interrupted run %d = status %s, error %q, finished %v; want failed, %q", id, got.Status, got.Error, got.FinishedAt, want)
		}
	}
	for _, want := range []struct {
		id     int64
		status sam.RunStatus
	}{{sync.ID, sam.RunRunning}, {otherProfile.ID, sam.RunRunning}, {done.ID, sam.RunSucceeded}, {r.ID, sam.RunRunning}} {
		got, err := s.Run(ctx(t), want.id)
		must(t, err)
		if got.Status != want.status || got.Error != "" {
			t.Errorf("run %d = %s %q, want %s", want.id, got.Status, got.Error, want.status)
		}
	}
	un, err := s.UnfinishedRun(ctx(t), p.ID, sam.RunReconciliation)
	must(t, err)
	if un.ID != r.ID {
		t.Errorf("unfinished reconciliation %d, want %d", un.ID, r.ID)
	}
	r.Status = sam.RunSucceeded
	must(t, s.FinishRun(ctx(t), r))
	release()
	release() // a second call does nothing

	// A run whose owner released the lock without finishing it is closed
	// too; a finished one is not.
	abandoned, _, release2 := startReconciliation(t, s, ctx(t), p.ID)
	release2()
	next, closed, _ := startReconciliation(t, s, ctx(t), p.ID)
	if !slices.Equal(closed, []int64{abandoned.ID}) {
		t.Errorf("closed %v, want [%d]", closed, abandoned.ID)
	}
	got, err := s.Run(ctx(t), abandoned.ID)
	must(t, err)
	if got.Status != sam.RunFailed || got.Error != fmt.Sprintf("interrupted: superseded by run %d", next.ID) {
		t.Errorf("abandoned run = %s %q", got.Status, got.Error)
	}
}

// testStartReconciliationWaitsForLiveRun: while a reconciliation holds its
// profile's lock, a second one for that profile waits (and gives up with
// EUNAVAILABLE when its context ends) without closing the live run; other
// profiles are not held up; once the first finishes and releases, the
// second starts and closes nothing.
func testStartReconciliationWaitsForLiveRun(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	q := newProfile(t, s, "other", 0)
	live, _, release := startReconciliation(t, s, ctx(t), p.ID)

	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	_, _, err := s.StartReconciliation(short, &sam.Run{ProfileID: p.ID, Kind: sam.RunReconciliation})
	cancel()
	mustCode(t, err, sam.EUNAVAILABLE)
	got, err := s.Run(ctx(t), live.ID)
	must(t, err)
	if got.Status != sam.RunRunning {
		t.Fatalf("live run %d is %s after a second reconciliation waited", live.ID, got.Status)
	}
	other, closed, releaseOther := startReconciliation(t, s, ctx(t), q.ID)
	if len(closed) != 0 {
		t.Errorf("profile %d closed %v", q.ID, closed)
	}
	other.Status = sam.RunSucceeded
	must(t, s.FinishRun(ctx(t), other))
	releaseOther()

	type started struct {
		r      *sam.Run
		closed []int64
		err    error
	}
	ch := make(chan started, 1)
	go func() {
		r := &sam.Run{ProfileID: p.ID, Kind: sam.RunReconciliation}
		closed, rel, err := s.StartReconciliation(ctx(t), r)
		if err == nil {
			t.Cleanup(rel)
		}
		ch <- started{r, closed, err}
	}()
	select {
	case st := <-ch:
		t.Fatalf("second reconciliation started (run %d, err %v) while run %d held the lock", st.r.ID, st.err, live.ID)
	case <-time.After(300 * time.Millisecond):
	}
	live.Status = sam.RunSucceeded
	must(t, s.FinishRun(ctx(t), live))
	release()
	select {
	case st := <-ch:
		must(t, st.err)
		if len(st.closed) != 0 || st.r.Status != sam.RunRunning {
			t.Errorf("second reconciliation: run %+v, closed %v", st.r, st.closed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second reconciliation still waits after the first released its lock")
	}
	got, err = s.Run(ctx(t), live.ID)
	must(t, err)
	if got.Status != sam.RunSucceeded || got.Error != "" {
		t.Errorf("first run = %s %q, want succeeded", got.Status, got.Error)
	}
}

func testStartReconciliationErrors(t *testing.T, s store.Store) {
	p := newProfile(t, s, "contoso", 0)
	_, _, err := s.StartReconciliation(ctx(t), &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions})
	mustCode(t, err, sam.EINVALID)
	_, _, err = s.StartReconciliation(ctx(t), nil)
	mustCode(t, err, sam.EINVALID)
	_, _, err = s.StartReconciliation(ctx(t), &sam.Run{ProfileID: p.ID + 1000, Kind: sam.RunReconciliation})
	mustCode(t, err, sam.ENOTFOUND)
	// An empty kind means reconciliation.
	r := &sam.Run{ProfileID: p.ID}
	_, release, err := s.StartReconciliation(ctx(t), r)
	must(t, err)
	release()
	if r.Kind != sam.RunReconciliation {
		t.Errorf("kind %q", r.Kind)
	}
}
