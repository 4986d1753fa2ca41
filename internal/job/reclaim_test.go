package job_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/store"
)

// noticeLog is a reclaim.Notifier that counts the notices it gets.
type noticeLog struct {
	mu sync.Mutex
	n  map[reclaim.NoticeKind]int
}

func (l *noticeLog) Notify(_ context.Context, n reclaim.Notice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[n.Kind]++
	return nil
}

func (l *noticeLog) count(k reclaim.NoticeKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[k]
}

// TestReclaimTimersAreDurableJobs: with reclamation on, a sync job is
// followed by a reclamation job that creates candidates; users are notified
// and the "no answer" timer becomes a queued job that survives a restart of
// the runner; when the controllable clock passes it (and a fresh sync ran),
// the licences are removed in the simulated tenant.
func TestReclaimTimersAreDurableJobs(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		perms := []string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All", "User.ReadWrite.All", "GroupMember.ReadWrite.All"}
		srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 11, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 60, Environments: 1}, GraphRoles: perms}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		ten := srv.Tenant()
		st := openStore(t, url)
		kr := newKeyring(t)
		p := simProfile(t, st, kr, srv.Info(), "sim", srv.Info().ClientSecret)
		clk := newFakeClock(ten.Now())
		notes := &noticeLog{n: map[reclaim.NoticeKind]int{}}
		cfg := job.Config{Store: st, Keyring: kr, HTTPClient: srv.Client(), Clock: clk, Reclaim: true, Notifier: notes, Instance: "a"}
		r := newRunner(t, cfg)
		// Live, with a cap that lets every removal through.
		set := store.DefaultReclaimSettings()
		set.DryRun, set.CapCount, set.CapPercent = false, 1000, 100
		if err := r.ReclaimEngine().SetSettings(ctx, set, "user:test"); err != nil {
			t.Fatal(err)
		}
		id, err := r.Trigger(ctx, p.ID, job.KindSync)
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r, id, job.StateSucceeded)
		if rules, err := st.ReclaimRules(ctx, p.ID); err != nil || len(rules) == 0 {
			t.Fatalf("no reclamation rules after the first download (%v)", err)
		}
		// The queue settles on one waiting job, the timer of the notified
		// candidates.
		var open []*store.Candidate
		waitFor(t, "candidates notified and the timer queued", func() bool {
			running, _ := r.Jobs(ctx, job.JobFilter{ProfileID: p.ID, State: job.StateRunning})
			waiting, _ := r.Jobs(ctx, job.JobFilter{ProfileID: p.ID, Kind: job.KindReclaim, State: job.StateAvailable})
			open, _ = st.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, States: []store.CandidateState{store.StateAwaitingUser}})
			return len(running) == 0 && len(waiting) == 1 && waiting[0].RunAt.After(clk.Now()) && len(open) > 0
		})
		if n := notes.count(reclaim.NoticeUser); n != len(open) {
			t.Fatalf("%d notices for %d candidates awaiting the user", n, len(open))
		}
		due := open[0].DueAt
		if !due.Equal(clk.Now().AddDate(0, 0, 7)) {
			t.Fatalf("timer at %v, want 7 days after %v", due, clk.Now())
		}
		// Restart: the timer is a job in the queue.
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
		r2 := newRunner(t, cfg)
		var timer *job.Job
		waitFor(t, "the timer job", func() bool {
			jobs, _ := r2.Jobs(ctx, job.JobFilter{ProfileID: p.ID, Kind: job.KindReclaim, State: job.StateAvailable})
			if len(jobs) == 1 {
				timer = jobs[0]
			}
			return timer != nil
		})
		if !timer.RunAt.Equal(due) {
			t.Fatalf("timer job runs at %v, want %v", timer.RunAt, due)
		}
		// Eight days later, after a fresh sync, the timer fires.
		ten.Advance(8 * 24 * time.Hour)
		clk.Set(ten.Now())
		id, err = r2.Trigger(ctx, p.ID, job.KindSync)
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, r2, id, job.StateSucceeded)
		r2.Poke()
		deadline := time.Now().Add(60 * time.Second)
		for {
			done, _ := st.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, States: []store.CandidateState{store.StateClosedComplete}})
			if len(done) == len(open) {
				break
			}
			if time.Now().After(deadline) {
				all, _ := st.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID})
				for _, c := range all {
					t.Logf("candidate %d: %s %q", c.ID, c.State, c.Message)
				}
				jobs, _ := r2.Jobs(ctx, job.JobFilter{ProfileID: p.ID})
				for _, j := range jobs {
					t.Logf("job %d %s %s run at %v: %s %s", j.ID, j.Kind, j.State, j.RunAt, j.Result, j.Error)
				}
				t.Fatalf("%d of %d licences removed", len(done), len(open))
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, c := range open {
			u, err := ten.User(c.UserID)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range u.AssignedLicenses {
				if l.SKUID == c.SKUID {
					t.Errorf("user %s still holds %s", c.UPN, c.SKUID)
				}
			}
		}
	})
}
