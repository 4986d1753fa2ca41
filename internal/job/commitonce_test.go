package job_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// gateClock is the clock of an instance that a test freezes at a chosen
// point of its work: from the first reading of the clock at which when
// holds, every goroutine of the instance that reads the clock (the job's
// handler, its heartbeat, the polling loop) blocks until Release, as if the
// process had been stopped there.
type gateClock struct {
	base     job.Clock
	when     func() bool
	once     sync.Once
	frozen   chan struct{} // closed at the first blocked reading
	release  chan struct{}
	released atomic.Bool
	relOnce  sync.Once
}

func newGateClock(base job.Clock, when func() bool) *gateClock {
	return &gateClock{base: base, when: when, frozen: make(chan struct{}), release: make(chan struct{})}
}

func (c *gateClock) Now() time.Time {
	if !c.released.Load() && c.when() {
		c.once.Do(func() { close(c.frozen) })
		<-c.release
	}
	return c.base.Now()
}

// Release lets the frozen instance go on.
func (c *gateClock) Release() {
	c.relOnce.Do(func() {
		c.released.Store(true)
		close(c.release)
	})
}

// shiftClock is another clock moved by d.
type shiftClock struct {
	base job.Clock
	d    time.Duration
}

func (c shiftClock) Now() time.Time { return c.base.Now().Add(c.d) }

// TestJobCommitsOnce reproduces, deterministically, an instance that stops
// (killed, stalled) after a run of its job committed but before the job's
// success was recorded: instance a is frozen right there, its lease
// expires, and instance b, taking the job over, commits no second run; the
// retry does only what was left, and the job names exactly the runs that
// did its work. When the interrupted job has no attempt left, the next job
// of the profile resumes its unfinished run and the run moves to that job.
// Instance a, released at the end, records nothing over b's work.
func TestJobCommitsOnce(t *testing.T) {
	succeeded := func(kind sam.RunKind) func(probe store.Store, p *sam.Profile, reader *job.Runner, id int64) bool {
		return func(probe store.Store, p *sam.Profile, _ *job.Runner, _ int64) bool {
			rs, err := probe.Runs(context.Background(), store.RunFilter{ProfileID: p.ID, Kind: kind, Status: sam.RunSucceeded})
			return err == nil && len(rs) > 0
		}
	}
	// namedRunning: the job names a subscriptions run that is still running
	// (frozen before it read anything).
	namedRunning := func(probe store.Store, _ *sam.Profile, reader *job.Runner, id int64) bool {
		if id == 0 {
			return false
		}
		j, err := reader.Job(context.Background(), id)
		if err != nil {
			return false
		}
		for _, rid := range j.RunIDs {
			if r, err := probe.Run(context.Background(), rid); err == nil && r.Kind == sam.RunSubscriptions && r.Status == sam.RunRunning {
				return true
			}
		}
		return false
	}
	cases := []struct {
		name   string
		kind   job.Kind
		freeze func(probe store.Store, p *sam.Profile, reader *job.Runner, id int64) bool
		// maxAttempts of the job; 1: a's attempt was the last, and a second
		// job of the profile takes over the unfinished run.
		maxAttempts int
		runs        []sam.RunKind // the runs the succeeded job names, in order
		earlier     int           // phases the retry reports committed by the earlier attempt
	}{
		// A sync job reads both phases side by side (ingest.Syncer.Sync):
		// its activity run may commit while the clock is frozen, so the
		// subscriptions phase alone is frozen in a subscriptions job.
		{"subscriptions committed", job.KindSubscriptions, succeeded(sam.RunSubscriptions), 5, []sam.RunKind{sam.RunSubscriptions}, 1},
		{"activity committed", job.KindSync, succeeded(sam.RunActivity), 5, []sam.RunKind{sam.RunSubscriptions, sam.RunActivity}, 2},
		{"reconciliation committed", job.KindReconcile, succeeded(sam.RunReconciliation), 5, []sam.RunKind{sam.RunReconciliation}, 1},
		{"unfinished run resumed by the next job", job.KindSync, namedRunning, 1, []sam.RunKind{sam.RunSubscriptions, sam.RunActivity}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachDialect(t, func(t *testing.T, url string) {
				ctx := context.Background()
				srv := startSim(t, 8, 40, 10)
				ten := srv.Tenant()
				info := srv.Info()
				kr := newKeyring(t)
				// Each instance has its own store, as separate processes do;
				// probe is the test's.
				probe := openStore(t, url)
				p := simProfile(t, probe, kr, info, "sim", info.ClientSecret)
				reader, err := job.New(ctx, job.Config{Store: probe, Keyring: kr, Logger: quiet, DefaultSchedules: []job.Schedule{}})
				if err != nil {
					t.Fatal(err)
				}
				client := ingest.ClientOptions{HTTPClient: srv.Client(), BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}
				var jobID atomic.Int64
				gate := newGateClock(ten, func() bool { return tc.freeze(probe, p, reader, jobID.Load()) })
				a := newRunner(t, job.Config{Store: openStore(t, url), Keyring: kr, Clock: gate, Instance: "a", Lease: time.Minute,
					MaxAttempts: tc.maxAttempts, Client: client})
				t.Cleanup(gate.Release) // before a is stopped (cleanups run last first)
				id, err := a.Trigger(ctx, p.ID, tc.kind)
				if err != nil {
					t.Fatal(err)
				}
				jobID.Store(id)
				select {
				case <-gate.frozen:
				case <-time.After(90 * time.Second):
					t.Fatal("instance a never reached the point where it is frozen")
				}
				var interrupted []int64 // the runs a's job names when it stops
				if j, err := reader.Job(ctx, id); err != nil || j.State != job.StateRunning || len(j.RunIDs) == 0 {
					t.Fatalf("job when a stops = %+v, %v", j, err)
				} else {
					interrupted = j.RunIDs
				}

				// b's clock is past a's lease: b takes the job over.
				b := newRunner(t, job.Config{Store: openStore(t, url), Keyring: kr, Clock: shiftClock{ten, 10 * time.Minute}, Instance: "b",
					Lease: time.Minute, Client: client})
				done := id
				if tc.maxAttempts == 1 {
					if j := waitState(t, b, id, job.StateFailed); !strings.Contains(j.Error, "stopped renewing its lease") {
						t.Errorf("interrupted job error = %q", j.Error)
					}
					if done, err = b.Trigger(ctx, p.ID, tc.kind); err != nil {
						t.Fatal(err)
					}
				}
				j := waitState(t, b, done, job.StateSucceeded)
				check := func(when string) {
					t.Helper()
					j, err := reader.Job(ctx, done)
					if err != nil {
						t.Fatal(err)
					}
					if j.State != job.StateSucceeded {
						t.Errorf("%s: job %d is %s", when, done, j.State)
					}
					var kinds []sam.RunKind
					for _, rid := range j.RunIDs {
						r, err := probe.Run(ctx, rid)
						if err != nil {
							t.Fatal(err)
						}
						if r.Status != sam.RunSucceeded {
							t.Errorf("%s: job %d names run %d, %s", when, done, rid, r.Status)
						}
						kinds = append(kinds, r.Kind)
					}
					if !slices.Equal(kinds, tc.runs) {
						t.Errorf("%s: job %d names runs %v of kinds %v, want %v", when, done, j.RunIDs, kinds, tc.runs)
					}
					// Committed once: over the whole database, one succeeded
					// run of each kind, the one the job names.
					for i, kind := range tc.runs {
						rs, err := probe.Runs(ctx, store.RunFilter{ProfileID: p.ID, Kind: kind, Status: sam.RunSucceeded})
						if err != nil {
							t.Fatal(err)
						}
						if len(rs) != 1 || i >= len(j.RunIDs) || rs[0].ID != j.RunIDs[i] {
							t.Errorf("%s: %d succeeded %s runs, want only the job's", when, len(rs), kind)
						}
					}
					if tc.maxAttempts == 1 {
						// The run the first job started belongs to the job
						// that resumed and committed it.
						first, err := reader.Job(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						if len(first.RunIDs) != 0 || !slices.Contains(j.RunIDs, interrupted[0]) {
							t.Errorf("%s: first job names %v, second %v; want the interrupted run %d on the second only", when, first.RunIDs, j.RunIDs, interrupted[0])
						}
					}
				}
				check("after the takeover")
				if got := strings.Count(j.Result, "committed by an earlier attempt"); got != tc.earlier {
					t.Errorf("result %q reports %d phases committed earlier, want %d", j.Result, got, tc.earlier)
				}
				if tc.maxAttempts > 1 {
					as := attempts(t, b, id)
					if got := outcomes(as); !slices.Equal(got, []string{"lost", "succeeded"}) || as[0].Owner != "a" || as[1].Owner != "b" {
						t.Errorf("attempts = %+v", as)
					}
				}

				// a wakes up: its lease is gone, it records nothing.
				gate.Release()
				waitFor(t, "instance a to end its attempt", func() bool { return len(a.Running()) == 0 })
				check("after a woke up")
			})
		})
	}
}
