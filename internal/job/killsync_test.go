package job_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// Environment of the child process of TestKilledSync.
const (
	envSyncDB     = "SEATWISE_JOB_TEST_SYNC_DB"
	envSyncKey    = "SEATWISE_JOB_TEST_SYNC_KEY"
	envSyncOffset = "SEATWISE_JOB_TEST_SYNC_OFFSET" // tenant time minus wall time, in nanoseconds
)

// offsetClock is the wall clock moved to the simulated tenant's time, the
// same in every process given the same offset.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c)).UTC() }

const syncLease = time.Second

// TestChildSync is the instance that TestKilledSync kills in the middle of a
// sync job.
func TestChildSync(t *testing.T) {
	url := os.Getenv(envSyncDB)
	if url == "" {
		t.Skip("runs only as the child process of TestKilledSync")
	}
	key, err := secret.DecodeKey(os.Getenv(envSyncKey))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := strconv.ParseInt(os.Getenv(envSyncOffset), 10, 64)
	st := openStore(t, url)
	r, err := job.New(context.Background(), job.Config{Store: st, Keyring: kr, Clock: offsetClock(off), Instance: "child", Logger: quiet,
		PollInterval: 20 * time.Millisecond, Lease: syncLease, DefaultSchedules: []job.Schedule{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	for {
		time.Sleep(time.Hour)
	}
}

// TestKilledSync kills (SIGKILL) the instance running a sync job against the
// simulator while its run is in progress; another instance takes the job
// over once the lease expires, resumes the interrupted run and completes
// the sync.
func TestKilledSync(t *testing.T) {
	if testing.Short() {
		t.Skip("child process test skipped in -short mode")
	}
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 11, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 60, HistoryDays: 10}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		// Slow Microsoft down so that the sync is still running when the child dies.
		slow := mscloud.FaultRates{Latency: mscloud.Duration(40 * time.Millisecond)}
		if err := srv.SetFaults(mscloud.Faults{Graph: slow, Dataverse: slow}); err != nil {
			t.Fatal(err)
		}
		info := srv.Info()
		st := openStore(t, url)
		key, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		kr, err := secret.NewKeyring(key)
		if err != nil {
			t.Fatal(err)
		}
		p := simProfile(t, st, kr, info, "sim", info.ClientSecret)
		clk := offsetClock(srv.Tenant().Now().Sub(time.Now()))

		child := startChild(t, "TestChildSync", nil, []string{envSyncDB + "=" + url, envSyncKey + "=" + secret.EncodeKey(key),
			envSyncOffset + "=" + strconv.FormatInt(int64(clk), 10)}, nil)

		// Enqueue through a runner that does not run jobs itself (no sync kinds claimed here yet).
		id := triggerOnly(t, st, kr, clk, p.ID)
		var interrupted *sam.Run
		waitFor(t, "the child's sync run to start", func() bool {
			runs, err := st.Runs(ctx, store.RunFilter{ProfileID: p.ID, Status: sam.RunRunning})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) > 0 {
				interrupted = runs[0]
			}
			return interrupted != nil
		})
		time.Sleep(150 * time.Millisecond) // into the run's requests
		child.kill(t)
		if run, _ := st.Run(ctx, interrupted.ID); run.Status != sam.RunRunning {
			t.Fatalf("the run was not interrupted: %+v", run)
		}

		b := newRunner(t, job.Config{Store: st, Keyring: kr, Clock: clk, Instance: "b", Lease: syncLease})
		j := waitState(t, b, id, job.StateSucceeded)
		as := attempts(t, b, id)
		if got := outcomes(as); len(got) != 2 || got[0] != "lost" || got[1] != "succeeded" || as[0].Owner != "child" || as[1].Owner != "b" {
			t.Fatalf("attempts = %+v", as)
		}
		// The interrupted run was resumed and committed, and nothing is left running.
		if run, err := st.Run(ctx, interrupted.ID); err != nil || run.Status != sam.RunSucceeded {
			t.Errorf("interrupted run %d after the takeover = %+v, %v", interrupted.ID, run, err)
		}
		if runs, _ := st.Runs(ctx, store.RunFilter{ProfileID: p.ID, Status: sam.RunRunning}); len(runs) != 0 {
			t.Errorf("runs left running: %+v", runs)
		}
		found := false
		for _, rid := range j.RunIDs {
			found = found || rid == interrupted.ID
		}
		if !found || len(j.RunIDs) != 2 {
			t.Errorf("job runs %v, want the resumed run %d and one more", j.RunIDs, interrupted.ID)
		}
		subs, err := st.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true})
		if err != nil || len(subs) == 0 {
			t.Errorf("subscriptions after the takeover: %d, %v", len(subs), err)
		}
	})
}

// triggerOnly enqueues a sync job without running it here: the runner is
// built but never started.
func triggerOnly(t *testing.T, st store.Store, kr *secret.Keyring, clk job.Clock, profileID int64) int64 {
	t.Helper()
	r, err := job.New(context.Background(), job.Config{Store: st, Keyring: kr, Clock: clk, Logger: quiet, DefaultSchedules: []job.Schedule{}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Trigger(context.Background(), profileID, job.KindSync)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
