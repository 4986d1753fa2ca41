package job_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func TestTriggerRunsOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		var calls atomic.Int32
		r := newRunner(t, job.Config{Store: st, Clock: newFakeClock(t0), Instance: "a",
			Handlers: map[job.Kind]job.Handler{"echo": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				calls.Add(1)
				return job.Outcome{RunIDs: []int64{7}, Result: "echoed"}, nil
			}}})
		ctx := context.Background()
		id, err := r.Trigger(ctx, ps[0].ID, "echo")
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, r, id, job.StateSucceeded)
		if j.Attempt != 1 || j.Result != "echoed" || !slices.Equal(j.RunIDs, []int64{7}) || j.Error != "" || j.FinishedAt == nil || j.Schedule != "" {
			t.Errorf("job = %+v", j)
		}
		as := attempts(t, r, id)
		if len(as) != 1 || as[0].Owner != "a" || as[0].Outcome != "succeeded" || as[0].FinishedAt == nil {
			t.Errorf("attempts = %+v", as)
		}
		time.Sleep(50 * time.Millisecond) // several polls: nothing runs it again
		if n := calls.Load(); n != 1 {
			t.Errorf("handler ran %d times", n)
		}
		list, err := r.Jobs(ctx, job.JobFilter{ProfileID: ps[0].ID, State: job.StateSucceeded})
		if err != nil || len(list) != 1 || list[0].ID != id {
			t.Errorf("Jobs = %v, %v", list, err)
		}
		if list, _ := r.Jobs(ctx, job.JobFilter{State: job.StateFailed}); len(list) != 0 {
			t.Errorf("failed jobs = %v", list)
		}
		if s := r.Stats(); s != (job.Stats{Started: 1, Succeeded: 1}) {
			t.Errorf("Stats = %+v", s)
		}
		if c, err := r.Counts(ctx); err != nil || len(c) != 1 || c["echo"][job.StateSucceeded] != 1 {
			t.Errorf("Counts = %v, %v", c, err)
		}
	})
}

func TestTriggerErrors(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		block := make(chan struct{})
		defer close(block)
		r := newRunner(t, job.Config{Store: st, Clock: newFakeClock(t0),
			Handlers: map[job.Kind]job.Handler{"wait": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				select {
				case <-block:
				case <-ctx.Done():
				}
				return job.Outcome{}, nil
			}}})
		ctx := context.Background()
		tests := []struct {
			name    string
			profile int64
			kind    job.Kind
			code    sam.Code
		}{
			{"unknown kind", ps[0].ID, "nope", sam.EINVALID},
			{"missing profile", 999, job.KindSync, sam.ENOTFOUND},
		}
		for _, tt := range tests {
			if _, err := r.Trigger(ctx, tt.profile, tt.kind); !sam.IsCode(err, tt.code) {
				t.Errorf("%s: err = %v, want %s", tt.name, err, tt.code)
			}
		}
		id, err := r.Trigger(ctx, ps[0].ID, "wait")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, id, job.StateRunning)
		if _, err := r.Trigger(ctx, ps[0].ID, "wait"); !sam.IsCode(err, sam.ECONFLICT) {
			t.Errorf("second trigger while running: err = %v, want ECONFLICT", err)
		}
		if _, err := r.Job(ctx, 12345); !sam.IsCode(err, sam.ENOTFOUND) {
			t.Errorf("Job(missing) = %v", err)
		}
	})
}

func TestRetryBackoff(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		clk := newFakeClock(t0)
		var calls atomic.Int32
		r := newRunner(t, job.Config{Store: st, Clock: clk, MaxAttempts: 4,
			Backoff: func(n int) time.Duration { return time.Duration(n) * time.Hour },
			Handlers: map[job.Kind]job.Handler{"flaky": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				if calls.Add(1) <= 2 {
					return job.Outcome{}, sam.Errorf(sam.EUNAVAILABLE, "service down (call %d)", j.Attempt)
				}
				return job.Outcome{Result: "ok"}, nil
			}}})
		ctx := context.Background()
		id, err := r.Trigger(ctx, ps[0].ID, "flaky")
		if err != nil {
			t.Fatal(err)
		}
		for attempt, wait := range []time.Duration{time.Hour, 2 * time.Hour} {
			waitFor(t, "failed attempt", func() bool { return calls.Load() == int32(attempt+1) })
			j := waitState(t, r, id, job.StateAvailable)
			waitFor(t, "retry recorded", func() bool {
				j, _ = r.Job(ctx, id)
				return j.Attempt == attempt+1 && j.Error != ""
			})
			if want := clk.Now().Add(wait); !j.RunAt.Equal(want) {
				t.Errorf("attempt %d: run_at = %v, want %v", attempt+1, j.RunAt, want)
			}
			// Not before its time.
			clk.Add(wait - time.Minute)
			r.Poke()
			time.Sleep(50 * time.Millisecond)
			if n := calls.Load(); n != int32(attempt+1) {
				t.Fatalf("retried before the backoff passed: %d calls", n)
			}
			clk.Add(time.Minute)
			r.Poke()
		}
		j := waitState(t, r, id, job.StateSucceeded)
		if j.Attempt != 3 || j.Error != "" {
			t.Errorf("job = %+v", j)
		}
		if got := outcomes(attempts(t, r, id)); !slices.Equal(got, []string{"retry", "retry", "succeeded"}) {
			t.Errorf("outcomes = %v", got)
		}
	})
}

func TestFailures(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 3)
		clk := newFakeClock(t0)
		r := newRunner(t, job.Config{Store: st, Clock: clk, MaxAttempts: 2, Backoff: func(int) time.Duration { return 0 }, Timeout: 50 * time.Millisecond,
			Handlers: map[job.Kind]job.Handler{
				"denied": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
					return job.Outcome{RunIDs: []int64{3}}, sam.Errorf(sam.EUNAUTHORIZED, "credentials rejected")
				},
				"broken": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
					return job.Outcome{}, errors.New("always broken")
				},
				"wrapped": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
					return job.Outcome{}, job.Permanent(errors.New("cannot ever work"))
				},
				"panics": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
					panic("boom")
				},
				"hangs": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
					<-ctx.Done()
					return job.Outcome{}, ctx.Err()
				},
			}})
		ctx := context.Background()
		tests := []struct {
			kind     job.Kind
			profile  int
			outcomes []string
			errWant  string
		}{
			{"denied", 0, []string{"failed"}, "credentials rejected"},
			{"broken", 1, []string{"retry", "failed"}, "always broken"},
			{"wrapped", 2, []string{"failed"}, "cannot ever work"},
			{"panics", 0, []string{"retry", "failed"}, "panicked: boom"},
			{"hangs", 1, []string{"retry", "failed"}, "ran longer than 50ms"},
		}
		for _, tt := range tests {
			t.Run(string(tt.kind), func(t *testing.T) {
				id, err := r.Trigger(ctx, ps[tt.profile].ID, tt.kind)
				if err != nil {
					t.Fatal(err)
				}
				j := waitState(t, r, id, job.StateFailed)
				if got := outcomes(attempts(t, r, id)); !slices.Equal(got, tt.outcomes) {
					t.Errorf("outcomes = %v, want %v", got, tt.outcomes)
				}
				if !contains(j.Error, tt.errWant) || j.FinishedAt == nil {
					t.Errorf("job = %+v", j)
				}
				if tt.kind == "denied" && !slices.Equal(j.RunIDs, []int64{3}) {
					t.Errorf("run ids of a failed job = %v", j.RunIDs)
				}
			})
		}
	})
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestSchedules(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 2)
		clk := newFakeClock(t0.Add(90 * time.Minute)) // 01:30
		ctx := context.Background()
		var mu sync.Mutex
		ran := map[int64]int{}
		count := func(ctx context.Context, j *job.Job) (job.Outcome, error) {
			mu.Lock()
			ran[j.ID]++
			mu.Unlock()
			return job.Outcome{}, nil
		}
		cfg := job.Config{Store: st, Clock: clk, Instance: "a", Keyring: newKeyring(t), Logger: quiet,
			Handlers:         map[job.Kind]job.Handler{job.KindSync: count},
			DefaultSchedules: job.DefaultSchedules()}
		r1, err := job.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := r1.Schedules(ctx)
		if err != nil || len(ss) != 2 || ss[1].Name != "sync" || ss[1].Spec != "daily 02:00" || !ss[1].Enabled ||
			!ss[1].NextAt.Equal(t0.Add(2*time.Hour)) || ss[0].Name != "reconciliation" || !ss[0].NextAt.Equal(t0.Add(4*time.Hour)) {
			t.Fatalf("default schedules = %+v, %v", ss, err)
		}
		// Only the sync schedule matters below.
		if _, err := r1.SetSchedule(ctx, "reconciliation", "weekly mon 04:00", false); err != nil {
			t.Fatal(err)
		}
		if _, err := r1.SetSchedule(ctx, "sync", "dayly 3", true); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("bad spec: %v", err)
		}
		if _, err := r1.SetSchedule(ctx, "nope", "daily 03:00", true); !sam.IsCode(err, sam.ENOTFOUND) {
			t.Errorf("unknown schedule: %v", err)
		}
		s, err := r1.SetSchedule(ctx, "sync", "Weekly TUE 4:15", true)
		if err != nil || s.Spec != "weekly tue 04:15" || !s.NextAt.Equal(t0.AddDate(0, 0, 1).Add(4*time.Hour+15*time.Minute)) {
			t.Fatalf("SetSchedule = %+v, %v", s, err)
		}
		// A restart keeps the edit (defaults never overwrite).
		r2 := newRunner(t, cfg)
		cfg.Instance = "b"
		r3 := newRunner(t, cfg)
		if ss, _ := r2.Schedules(ctx); len(ss) != 2 || ss[1].Spec != "weekly tue 04:15" || ss[0].Enabled {
			t.Fatalf("after restart: %+v", ss)
		}
		// The slot comes: two runners, one job per profile.
		clk.Set(t0.AddDate(0, 0, 1).Add(4*time.Hour + 20*time.Minute))
		r2.Poke()
		r3.Poke()
		var jobs []*job.Job
		waitFor(t, "scheduled jobs", func() bool {
			jobs, _ = r2.Jobs(ctx, job.JobFilter{Schedule: "sync", State: job.StateSucceeded})
			return len(jobs) == 2
		})
		time.Sleep(50 * time.Millisecond)
		all, _ := r2.Jobs(ctx, job.JobFilter{})
		if len(all) != 2 {
			t.Fatalf("jobs = %d, want 2", len(all))
		}
		for _, j := range all {
			if !j.Slot.Equal(t0.AddDate(0, 0, 1).Add(4*time.Hour+15*time.Minute)) || j.Kind != job.KindSync {
				t.Errorf("job = %+v", j)
			}
		}
		if all[0].ProfileID == all[1].ProfileID || (all[0].ProfileID != ps[0].ID && all[0].ProfileID != ps[1].ID) {
			t.Errorf("profiles = %d, %d", all[0].ProfileID, all[1].ProfileID)
		}
		mu.Lock()
		for id, n := range ran {
			if n != 1 {
				t.Errorf("job %d ran %d times", id, n)
			}
		}
		mu.Unlock()
		if ss, _ := r2.Schedules(ctx); !ss[1].NextAt.Equal(t0.AddDate(0, 0, 8).Add(4*time.Hour + 15*time.Minute)) {
			t.Errorf("next slot = %v", ss[0].NextAt)
		}
		// Disabled: the slot passes without jobs.
		if _, err := r2.SetSchedule(ctx, "sync", "every 1h", false); err != nil {
			t.Fatal(err)
		}
		clk.Add(3 * time.Hour)
		r2.Poke()
		time.Sleep(50 * time.Millisecond)
		if all, _ := r2.Jobs(ctx, job.JobFilter{}); len(all) != 2 {
			t.Errorf("disabled schedule enqueued: %d jobs", len(all))
		}
	})
}

func TestStopHandsBack(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 1)
		clk := newFakeClock(t0)
		ctx := context.Background()
		started := make(chan struct{}, 1)
		slow := func(ctx context.Context, j *job.Job) (job.Outcome, error) {
			started <- struct{}{}
			<-ctx.Done()
			return job.Outcome{RunIDs: []int64{42}}, ctx.Err()
		}
		r1, err := job.New(ctx, job.Config{Store: st, Clock: clk, Instance: "a", Keyring: newKeyring(t), Logger: quiet, PollInterval: 10 * time.Millisecond,
			Handlers: map[job.Kind]job.Handler{"slow": slow}, DefaultSchedules: []job.Schedule{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r1.Start(ctx); !sam.IsCode(err, sam.ECONFLICT) {
			t.Errorf("second Start: %v", err)
		}
		id, err := r1.Trigger(ctx, ps[0].ID, "slow")
		if err != nil {
			t.Fatal(err)
		}
		<-started
		if got := r1.Running(); !slices.Equal(got, []int64{id}) {
			t.Errorf("Running = %v", got)
		}
		grace, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if err := r1.Stop(grace); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v, want deadline exceeded (job handed back)", err)
		}
		if s := r1.Stats(); s.HandedBack != 1 || s.Started != 1 {
			t.Errorf("Stats = %+v", s)
		}
		j, _ := r1.Job(ctx, id)
		if j.State != job.StateAvailable || j.Attempt != 1 || j.MaxAttempts != 6 || !slices.Equal(j.RunIDs, []int64{42}) || j.Owner != "" {
			t.Fatalf("handed back job = %+v", j)
		}
		// Another instance finishes it.
		r2 := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "b",
			Handlers: map[job.Kind]job.Handler{"slow": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				return job.Outcome{RunIDs: []int64{43}}, nil
			}}})
		j = waitState(t, r2, id, job.StateSucceeded)
		if !slices.Equal(j.RunIDs, []int64{42, 43}) || j.Attempt != 2 {
			t.Errorf("job = %+v", j)
		}
		as := attempts(t, r2, id)
		if got := outcomes(as); !slices.Equal(got, []string{"handed_back", "succeeded"}) || as[0].Owner != "a" || as[1].Owner != "b" {
			t.Errorf("attempts = %+v", as)
		}
	})
}

func TestNewErrors(t *testing.T) {
	st := openStore(t, "sqlite://"+t.TempDir()+"/x.db")
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  job.Config
	}{
		{"no store", job.Config{}},
		{"no keyring", job.Config{Store: st}},
		{"bad default spec", job.Config{Store: st, Keyring: newKeyring(t), DefaultSchedules: []job.Schedule{{Name: "x", Kind: job.KindSync, Spec: "hourly"}}}},
		{"unknown default kind", job.Config{Store: st, Keyring: newKeyring(t), DefaultSchedules: []job.Schedule{{Name: "x", Kind: "nope", Spec: "daily 01:00"}}}},
		{"nil handler", job.Config{Store: st, Keyring: newKeyring(t), Handlers: map[job.Kind]job.Handler{"x": nil}}},
	}
	for _, tt := range tests {
		if _, err := job.New(ctx, tt.cfg); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("%s: err = %v, want EINVALID", tt.name, err)
		}
	}
}

func TestRetention(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		ps := addProfiles(t, st, 2)
		clk := newFakeClock(t0)
		ctx := context.Background()
		block := make(chan struct{})
		defer close(block)
		r := newRunner(t, job.Config{Store: st, Clock: clk, Retention: 24 * time.Hour, Handlers: map[job.Kind]job.Handler{
			"quick": func(ctx context.Context, j *job.Job) (job.Outcome, error) { return job.Outcome{}, nil },
			"wait": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				select {
				case <-block:
				case <-ctx.Done():
				}
				return job.Outcome{}, nil
			},
		}})
		old, err := r.Trigger(ctx, ps[0].ID, "quick")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, old, job.StateSucceeded)
		clk.Add(20 * time.Hour)
		recent, err := r.Trigger(ctx, ps[0].ID, "quick")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, recent, job.StateSucceeded)
		running, err := r.Trigger(ctx, ps[1].ID, "wait")
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, running, job.StateRunning)
		clk.Add(5 * time.Hour) // old finished 25h ago, recent 5h ago
		r.Poke()
		waitFor(t, "the old job to be deleted", func() bool {
			_, err := r.Job(ctx, old)
			return sam.IsCode(err, sam.ENOTFOUND)
		})
		if as := attempts(t, r, old); len(as) != 0 {
			t.Errorf("attempts of a deleted job: %+v", as)
		}
		for _, id := range []int64{recent, running} {
			if _, err := r.Job(ctx, id); err != nil {
				t.Errorf("job %d: %v", id, err)
			}
		}
	})
}
