package job_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
)

// TestLeaseRenewed: a job that runs several lease periods long keeps its
// lease through heartbeats; another instance does not take it over.
func TestLeaseRenewed(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		ctx := context.Background()
		long := func(ctx context.Context, j *job.Job) (job.Outcome, error) {
			select {
			case <-time.After(800 * time.Millisecond):
				return job.Outcome{}, nil
			case <-ctx.Done():
				return job.Outcome{}, ctx.Err()
			}
		}
		a := newRunner(t, job.Config{Store: st, Instance: "a", Lease: 200 * time.Millisecond, Heartbeat: 20 * time.Millisecond,
			Handlers: map[job.Kind]job.Handler{"long": long}})
		id, err := a.Trigger(ctx, ps[0].ID, "long")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, a, id, job.StateRunning)
		b := newRunner(t, job.Config{Store: st, Instance: "b", Lease: 200 * time.Millisecond,
			Handlers: map[job.Kind]job.Handler{"long": long}})
		j := waitState(t, b, id, job.StateSucceeded)
		if as := attempts(t, b, id); len(as) != 1 || as[0].Owner != "a" || j.Attempt != 1 {
			t.Errorf("attempts = %+v", as)
		}
	})
}

// TestLeaseLost: an instance that stalls past its lease loses the job to
// another; its heartbeat notices, cancels its attempt, and its end is not
// recorded over the other instance's.
func TestLeaseLost(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		ctx := context.Background()
		clk := newFakeClock(t0)
		started, cancelled := make(chan struct{}), make(chan struct{})
		// One worker: a, busy with its stalled attempt, cannot take the job again itself.
		// A heartbeat slow enough (1.5 s) for b to take the expired lease
		// first, even on a busy machine; a's next one notices the loss.
		a := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "a", Workers: 1, Lease: time.Minute, Heartbeat: 1500 * time.Millisecond,
			Handlers: map[job.Kind]job.Handler{"work": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				close(started)
				<-ctx.Done() // stalls until its attempt is cancelled
				close(cancelled)
				return job.Outcome{Result: "from a"}, nil
			}}})
		id, err := a.Trigger(ctx, ps[0].ID, "work")
		if err != nil {
			t.Fatal(err)
		}
		// The attempt has begun (and renewed its lease from the current
		// time, which a jump made before would extend): the clock jumps
		// past the lease before a's first heartbeat.
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("a's attempt did not start")
		}
		clk.Add(2 * time.Minute)
		b := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "b", Lease: time.Minute,
			Handlers: map[job.Kind]job.Handler{"work": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				select { // finishes after a has given up
				case <-cancelled:
					return job.Outcome{Result: "from b"}, nil
				case <-ctx.Done():
					return job.Outcome{}, ctx.Err()
				}
			}}})
		select {
		case <-cancelled:
		case <-time.After(30 * time.Second):
			t.Fatal("a's attempt was not cancelled after it lost its lease")
		}
		j := waitState(t, b, id, job.StateSucceeded)
		time.Sleep(50 * time.Millisecond)
		j, _ = b.Job(ctx, id)
		if j.Result != "from b" || j.Attempt != 2 || j.State != job.StateSucceeded {
			t.Errorf("job = %+v", j)
		}
		as := attempts(t, b, id)
		if got := outcomes(as); !slices.Equal(got, []string{"lost", "succeeded"}) || as[0].Owner != "a" || as[1].Owner != "b" {
			t.Errorf("attempts = %+v", as)
		}
		if s := a.Stats(); s.Succeeded != 0 || s.Started != 1 {
			t.Errorf("a's stats = %+v", s)
		}
	})
}

// TestOneJobPerProfile: a profile's jobs run one at a time, other profiles'
// jobs run meanwhile.
func TestOneJobPerProfile(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 2)
		ctx := context.Background()
		release := make(chan struct{})
		r := newRunner(t, job.Config{Store: st, Workers: 4, Handlers: map[job.Kind]job.Handler{
			"slow": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				select {
				case <-release:
					return job.Outcome{}, nil
				case <-ctx.Done():
					return job.Outcome{}, ctx.Err()
				}
			},
			"fast": func(ctx context.Context, j *job.Job) (job.Outcome, error) { return job.Outcome{}, nil },
		}})
		slow, err := r.Trigger(ctx, ps[0].ID, "slow")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, slow, job.StateRunning)
		same, err := r.Trigger(ctx, ps[0].ID, "fast")
		if err != nil {
			t.Fatal(err)
		}
		other, err := r.Trigger(ctx, ps[1].ID, "fast")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, other, job.StateSucceeded)
		time.Sleep(50 * time.Millisecond)
		if j, _ := r.Job(ctx, same); j.State != job.StateAvailable {
			t.Errorf("second job of a busy profile is %s, want available", j.State)
		}
		close(release)
		waitState(t, r, same, job.StateSucceeded)
	})
}

// TestLeaseOfRunningJobNotRescuedByItsRunner: when the clock passes the
// lease of a job its runner is still working on (the heartbeat is late), the
// runner does not rescue the job itself and start a second attempt beside
// the first; the attempt finishes and is recorded. A job of another profile,
// triggered once the clock has moved, shows that the runner went through its
// loop (rescue, then claims) past the lease.
func TestLeaseOfRunningJobNotRescuedByItsRunner(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 2)
		ctx := context.Background()
		clk := newFakeClock(t0)
		release := make(chan struct{})
		var mu sync.Mutex
		started := map[int64]int{} // attempts started, by job
		startedOf := func(id int64) int {
			mu.Lock()
			defer mu.Unlock()
			return started[id]
		}
		a := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "a", Workers: 2, Lease: time.Minute, Heartbeat: 50 * time.Second,
			Handlers: map[job.Kind]job.Handler{"work": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				mu.Lock()
				started[j.ID]++
				mu.Unlock()
				select {
				case <-release:
					return job.Outcome{Result: "done"}, nil
				case <-ctx.Done():
					return job.Outcome{}, ctx.Err()
				}
			}}})
		var once sync.Once
		finish := func() { once.Do(func() { close(release) }) }
		t.Cleanup(finish) // before a stops, also when the test fails
		id, err := a.Trigger(ctx, ps[0].ID, "work")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the attempt to start", func() bool { return startedOf(id) == 1 })
		clk.Add(5 * time.Minute) // past the lease, long before the heartbeat
		other, err := a.Trigger(ctx, ps[1].ID, "work")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a round of the runner's loop past the lease", func() bool { return startedOf(other) == 1 || startedOf(id) > 1 })
		if j, _ := a.Job(ctx, id); j.State != job.StateRunning || j.Attempt != 1 || startedOf(id) != 1 {
			t.Fatalf("job after the clock passed its lease = %+v, %d attempts started", j, startedOf(id))
		}
		finish()
		j := waitState(t, a, id, job.StateSucceeded)
		if as := attempts(t, a, id); !slices.Equal(outcomes(as), []string{"succeeded"}) || j.Result != "done" {
			t.Errorf("job = %+v, attempts = %+v", j, as)
		}
		waitState(t, a, other, job.StateSucceeded)
	})
}
