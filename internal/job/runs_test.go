package job

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// TestJobRunLogRecord checks the rules by which an attempt names its runs on
// its job, on both databases: a new or resumed run is named once; an
// unfinished or failed run of the same kind that an earlier attempt named
// is replaced; a new run is refused, and the attempt cancelled, when the
// job's run of that kind was committed meanwhile by an earlier attempt
// still alive after its lease expired, or when the attempt lost its lease;
// a run resumed from another job is taken off that job.
func TestJobRunLogRecord(t *testing.T) {
	type env struct {
		st    store.Store
		r     *Runner
		p     *sam.Profile
		other *Job // another job of the profile, failed, naming run "old"
	}
	start := func(t *testing.T, e env, kind sam.RunKind) *sam.Run {
		t.Helper()
		run := &sam.Run{ProfileID: e.p.ID, Kind: kind, Status: sam.RunRunning, Counts: map[string]int64{}}
		if err := e.st.StartRun(context.Background(), run); err != nil {
			t.Fatal(err)
		}
		return run
	}
	finishRun := func(t *testing.T, e env, run *sam.Run, status sam.RunStatus) {
		t.Helper()
		now := time.Now()
		run.Status, run.FinishedAt = status, &now
		if err := e.st.FinishRun(context.Background(), run); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// earlier returns the runs the job names before the attempt;
		// meanwhile changes the world after the attempt began; run is
		// the run the attempt records.
		earlier   func(t *testing.T, e env) []*sam.Run
		meanwhile func(t *testing.T, e env, earlier []*sam.Run)
		run       func(t *testing.T, e env, earlier []*sam.Run) *sam.Run
		want      func(run *sam.Run, earlier []*sam.Run) []int64 // the job's runs after
		refused   bool
		moves     bool // the run recorded is the other job's: it moves
		// together, when set, is a second run recorded at the same time,
		// from another goroutine (a side-by-side sync starts two runs):
		// the job names it too, in either order.
		together func(t *testing.T, e env) *sam.Run
	}{
		{name: "new run",
			run:  func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunSubscriptions) },
			want: func(run *sam.Run, _ []*sam.Run) []int64 { return []int64{run.ID} }},
		{name: "resumed run named once",
			earlier: func(t *testing.T, e env) []*sam.Run { return []*sam.Run{start(t, e, sam.RunSubscriptions)} },
			run:     func(_ *testing.T, _ env, earlier []*sam.Run) *sam.Run { return earlier[0] },
			want:    func(_ *sam.Run, earlier []*sam.Run) []int64 { return []int64{earlier[0].ID} }},
		{name: "committed run of another kind kept",
			earlier: func(t *testing.T, e env) []*sam.Run {
				s := start(t, e, sam.RunSubscriptions)
				finishRun(t, e, s, sam.RunSucceeded)
				return []*sam.Run{s}
			},
			run:  func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunActivity) },
			want: func(run *sam.Run, earlier []*sam.Run) []int64 { return []int64{earlier[0].ID, run.ID} }},
		{name: "superseded unfinished run replaced",
			earlier: func(t *testing.T, e env) []*sam.Run { return []*sam.Run{start(t, e, sam.RunReconciliation)} },
			meanwhile: func(t *testing.T, e env, earlier []*sam.Run) {
				finishRun(t, e, earlier[0], sam.RunFailed) // closed by the new reconciliation
			},
			run:  func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunReconciliation) },
			want: func(run *sam.Run, _ []*sam.Run) []int64 { return []int64{run.ID} }},
		{name: "committed meanwhile by a stale attempt: new run refused",
			earlier: func(t *testing.T, e env) []*sam.Run { return []*sam.Run{start(t, e, sam.RunSubscriptions)} },
			meanwhile: func(t *testing.T, e env, earlier []*sam.Run) {
				finishRun(t, e, earlier[0], sam.RunSucceeded)
			},
			run:     func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunSubscriptions) },
			want:    func(_ *sam.Run, earlier []*sam.Run) []int64 { return []int64{earlier[0].ID} },
			refused: true},
		{name: "lease lost: refused",
			meanwhile: func(t *testing.T, e env, _ []*sam.Run) {
				if _, err := e.r.qu.rescue(context.Background(), time.Now().Add(time.Hour), nil); err != nil {
					t.Fatal(err)
				}
			},
			run:     func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunActivity) },
			want:    func(*sam.Run, []*sam.Run) []int64 { return nil },
			refused: true},
		{name: "run resumed from another job moves",
			run: func(t *testing.T, e env, _ []*sam.Run) *sam.Run {
				run, err := e.st.Run(context.Background(), e.other.RunIDs[0])
				if err != nil {
					t.Fatal(err)
				}
				return run
			},
			want:  func(run *sam.Run, _ []*sam.Run) []int64 { return []int64{run.ID} },
			moves: true},
		{name: "two runs recorded at once",
			run:      func(t *testing.T, e env, _ []*sam.Run) *sam.Run { return start(t, e, sam.RunSubscriptions) },
			together: func(t *testing.T, e env) *sam.Run { return start(t, e, sam.RunActivity) },
			want:     func(run *sam.Run, _ []*sam.Run) []int64 { return []int64{run.ID} }},
	}
	dialects := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "seatwise.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	}
	for _, tc := range cases {
		for _, d := range dialects {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				ctx := context.Background()
				st, err := db.Open(ctx, d.url(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				key, err := secret.GenerateKey()
				if err != nil {
					t.Fatal(err)
				}
				kr, err := secret.NewKeyring(key)
				if err != nil {
					t.Fatal(err)
				}
				p := &sam.Profile{Name: "p", TenantID: "00000000-0000-0000-0000-000000000001", ClientID: "00000000-0000-0000-0000-000000000002",
					AuthMode: sam.AuthClientSecret, LoginURL: "https://127.0.0.1:1", GraphURL: "https://127.0.0.1:1", State: sam.ProfileDraft}
				if err := st.CreateProfile(ctx, p); err != nil {
					t.Fatal(err)
				}
				r, err := New(ctx, Config{Store: st, Keyring: kr, Instance: "a", DefaultSchedules: []Schedule{}})
				if err != nil {
					t.Fatal(err)
				}
				claim := func(kind Kind) *Job {
					t.Helper()
					if _, err := r.Trigger(ctx, p.ID, kind); err != nil {
						t.Fatal(err)
					}
					j, err := r.qu.claim(ctx, time.Now(), "a", time.Minute, []string{string(kind)})
					if err != nil || j == nil {
						t.Fatalf("claim: %v, %v", j, err)
					}
					return j
				}
				e := env{st: st, r: r, p: p}
				// The other job: it started run "old", then failed.
				e.other = claim(KindSubscriptions)
				old := start(t, e, sam.RunSubscriptions)
				if ok, err := r.qu.recordRun(ctx, e.other, "a", old.ID, nil); !ok || err != nil {
					t.Fatalf("record on the other job: %v, %v", ok, err)
				}
				if ok, err := r.qu.finish(ctx, time.Now(), e.other, "a", StateFailed, time.Time{}, "failed", Outcome{}, "test"); !ok || err != nil {
					t.Fatalf("fail the other job: %v, %v", ok, err)
				}
				if !tc.moves {
					finishRun(t, e, old, sam.RunFailed)
				}

				j := claim(KindSync)
				var earlier []*sam.Run
				if tc.earlier != nil {
					earlier = tc.earlier(t, e)
					for _, run := range earlier {
						if ok, err := r.qu.recordRun(ctx, j, "a", run.ID, nil); !ok || err != nil {
							t.Fatalf("record an earlier run: %v, %v", ok, err)
						}
					}
				}
				actx, l, err := r.newRunLog(ctx, j)
				if err != nil {
					t.Fatal(err)
				}
				if tc.meanwhile != nil {
					tc.meanwhile(t, e, earlier)
				}
				run := tc.run(t, e, earlier)
				var second *sam.Run
				if tc.together == nil {
					l.record(run)
				} else {
					second = tc.together(t, e)
					var wg sync.WaitGroup
					for _, x := range []*sam.Run{run, second} {
						wg.Go(func() { l.record(x) })
					}
					wg.Wait()
				}
				if got := l.Err(); tc.refused != (got != nil) || tc.refused != (actx.Err() != nil) {
					t.Errorf("record err = %v, context err = %v; want refused %v", got, actx.Err(), tc.refused)
				} else if tc.refused && (!sam.IsCode(got, sam.ECONFLICT) || !errors.Is(context.Cause(actx), got)) {
					t.Errorf("refusal = %v (cause %v), want ECONFLICT cancelling the attempt", got, context.Cause(actx))
				}
				stored, err := r.Job(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				want, got, mem := tc.want(run, earlier), stored.RunIDs, l.ids()
				if second != nil {
					want = append(want, second.ID)
					slices.Sort(want)
					got, mem = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(mem))
				}
				if !slices.Equal(got, want) || !slices.Equal(mem, want) {
					t.Errorf("job names %v (in memory %v), want %v", got, mem, want)
				}
				o, err := r.Job(ctx, e.other.ID)
				if err != nil {
					t.Fatal(err)
				}
				if wantOther := []int64{old.ID}; tc.moves && len(o.RunIDs) != 0 || !tc.moves && !slices.Equal(o.RunIDs, wantOther) {
					t.Errorf("the other job names %v; the run moves: %v", o.RunIDs, tc.moves)
				}
			})
		}
	}
}
