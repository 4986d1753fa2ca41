package job_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/store"
)

// Environment of the child process of TestDayTwoInstancesWithKill.
const (
	envChildDB    = "SEATWISE_JOB_TEST_CHILD_DB"
	envChildClock = "SEATWISE_JOB_TEST_CHILD_CLOCK"
)

// daySchedules are the schedules of the simulated day: an hourly and a daily
// job for every profile, and at 06:00 a "victim" job that the child instance
// blocks on until it is killed.
var daySchedules = []job.Schedule{
	{Name: "daily", Kind: "count", Spec: "daily 02:00", Enabled: true},
	{Name: "hourly", Kind: "count", Spec: "every 1h", Enabled: true},
	{Name: "victim", Kind: "victim", Spec: "daily 06:00", Enabled: true},
}

const dayLease = 10 * time.Minute

// countHandler records each execution of a job in job_test_exec.
func countHandler(st store.Store, owner string) job.Handler {
	db := st.(interface{ DB() *sql.DB }).DB()
	q := "INSERT INTO job_test_exec (job_id, owner) VALUES (?, ?)"
	if st.Dialect() == "postgres" {
		q = "INSERT INTO job_test_exec (job_id, owner) VALUES ($1, $2)"
	}
	return func(ctx context.Context, j *job.Job) (job.Outcome, error) {
		time.Sleep(time.Duration(j.ID%3) * time.Millisecond) // let executions overlap
		if _, err := db.ExecContext(ctx, q, j.ID, owner); err != nil {
			return job.Outcome{}, err
		}
		return job.Outcome{Result: "counted by " + owner}, nil
	}
}

// TestChildRunner is the second instance of TestDayTwoInstancesWithKill, run
// in a child process so that it can be killed for real. It runs count jobs
// and blocks in every victim job, printing "blocked ID".
func TestChildRunner(t *testing.T) {
	url := os.Getenv(envChildDB)
	if url == "" {
		t.Skip("runs only as the child process of TestDayTwoInstancesWithKill")
	}
	st := openStore(t, url)
	r, err := job.New(context.Background(), job.Config{Store: st, Clock: fileClock{os.Getenv(envChildClock)}, Instance: "child", Logger: quiet,
		Keyring: newKeyring(t), Workers: 2, PollInterval: 20 * time.Millisecond, Lease: dayLease, DefaultSchedules: daySchedules,
		Handlers: map[job.Kind]job.Handler{
			"count": countHandler(st, "child"),
			"victim": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				fmt.Printf("blocked %d\n", j.ID)
				for {
					time.Sleep(time.Hour) // until killed
				}
			},
		}})
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

// TestDayTwoInstancesWithKill runs a simulated day of schedules on two
// instances (this process and a child process) sharing one database and one
// fake clock. At 06:00 the child blocks in two jobs and is killed with
// SIGKILL; a third instance starts, and once the dead instance's leases have
// expired its jobs are picked up. At the end every slot of every schedule has
// exactly one job per profile, every job succeeded, and every job's work ran
// exactly once.
func TestDayTwoInstancesWithKill(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated day skipped in -short mode")
	}
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := openStore(t, url)
		db := rawDB(t, st)
		if _, err := db.ExecContext(ctx, "CREATE TABLE job_test_exec (job_id BIGINT NOT NULL, owner TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		ps := addProfiles(t, st, 3)
		clockFile := filepath.Join(t.TempDir(), "clock")
		writeClock(t, clockFile, t0)
		clk := fileClock{clockFile}

		// The child instance.
		blocked := make(chan int64, 10)
		child := startChild(t, "TestChildRunner", []string{"-test.v"}, []string{envChildDB + "=" + url, envChildClock + "=" + clockFile},
			func(line string) {
				if id, ok := strings.CutPrefix(line, "blocked "); ok {
					n, _ := strconv.ParseInt(id, 10, 64)
					blocked <- n
				}
			})

		a := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "a", Workers: 1, Lease: dayLease,
			DefaultSchedules: daySchedules[:2], Handlers: map[job.Kind]job.Handler{"count": countHandler(st, "a")}})
		live := []*job.Runner{a}
		childAlive := true
		var killed []int64

		for now := t0; !now.After(t0.Add(24 * time.Hour)); now = now.Add(15 * time.Minute) {
			writeClock(t, clockFile, now)
			for _, r := range live {
				r.Poke()
			}
			if childAlive && now.Equal(t0.Add(6*time.Hour)) {
				// The child takes two victim jobs and blocks in them: kill it mid-job.
				for len(killed) < 2 {
					select {
					case id := <-blocked:
						killed = append(killed, id)
					case <-time.After(30 * time.Second):
						t.Fatalf("child did not block in two victim jobs (got %v)", killed)
					}
				}
				child.kill(t)
				childAlive = false
				for _, id := range killed {
					j, err := a.Job(ctx, id)
					if err != nil || j.State != job.StateRunning || j.Owner != "child" {
						t.Fatalf("killed instance's job %d = %+v, %v", id, j, err)
					}
				}
				c := newRunner(t, job.Config{Store: st, Clock: clk, Instance: "c", Workers: 2, Lease: dayLease,
					DefaultSchedules: daySchedules, Handlers: map[job.Kind]job.Handler{
						"count": countHandler(st, "c"), "victim": countHandler(st, "c")}})
				live = append(live, c)
			}
			waitIdle(t, db, st.Dialect(), now, childAlive)
		}

		// Every slot once per profile.
		want := map[string]bool{}
		for _, s := range daySchedules {
			sp, err := job.ParseSpec(s.Spec)
			if err != nil {
				t.Fatal(err)
			}
			for slot := sp.Next(t0); !slot.After(t0.Add(24 * time.Hour)); slot = sp.Next(slot) {
				for _, p := range ps {
					want[fmt.Sprintf("%s/%d/%s", s.Name, p.ID, slot.Format(time.RFC3339))] = true
				}
			}
		}
		jobs, err := a.Jobs(ctx, job.JobFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, j := range jobs {
			got[fmt.Sprintf("%s/%d/%s", j.Schedule, j.ProfileID, j.Slot.Format(time.RFC3339))]++
			if j.State != job.StateSucceeded {
				t.Errorf("job %d (%s %s) ended %s: %s", j.ID, j.Schedule, j.Slot, j.State, j.Error)
			}
		}
		if len(jobs) != len(want) || len(want) != 3*(24+1+1) {
			t.Errorf("%d jobs, want %d", len(jobs), len(want))
		}
		for k := range want {
			if got[k] != 1 {
				t.Errorf("slot %s has %d jobs, want 1", k, got[k])
			}
		}
		// Every job's work ran exactly once.
		execs := map[int64]int{}
		owners := map[string]int{}
		rows, err := db.QueryContext(ctx, "SELECT job_id, owner FROM job_test_exec")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var owner string
			if err := rows.Scan(&id, &owner); err != nil {
				t.Fatal(err)
			}
			execs[id]++
			owners[owner]++
		}
		rows.Close()
		for _, j := range jobs {
			if execs[j.ID] != 1 {
				t.Errorf("job %d (%s) ran %d times; attempts %+v", j.ID, j.Schedule, execs[j.ID], attempts(t, a, j.ID))
			}
		}
		t.Logf("executions by instance: %v", owners)
		// The killed jobs: one attempt lost by the child, one that succeeded.
		for _, id := range killed {
			as := attempts(t, a, id)
			if got := outcomes(as); !slices.Equal(got, []string{"lost", "succeeded"}) || as[0].Owner != "child" || as[1].Owner == "child" {
				t.Errorf("attempts of killed job %d = %+v", id, as)
			}
		}
	})
}

// waitIdle waits until no schedule is due, no job is due and waiting, and no job runs on a live
// instance (the killed child's jobs count once their leases have expired:
// then they are due for rescue).
func waitIdle(t *testing.T, db *sql.DB, dialect string, now time.Time, childAlive bool) {
	t.Helper()
	q := `SELECT (SELECT COUNT(*) FROM jobs WHERE (state = 'available' AND run_at <= ?) OR (state = 'running' AND (lease_owner <> 'child' OR ? OR lease_until < ?)))
		+ (SELECT COUNT(*) FROM job_schedules WHERE enabled = ? AND next_at <= ?)`
	if dialect == "postgres" {
		q = strings.NewReplacer("run_at <= ?", "run_at <= $1", "OR ? OR lease_until < ?", "OR $2 OR lease_until < $1", "enabled = ?", "enabled = $3", "next_at <= ?", "next_at <= $4").Replace(q)
	}
	args := []any{now.UnixMicro(), childAlive, now.UnixMicro(), true, now.UnixMicro()}
	if dialect == "postgres" {
		args = []any{now.UnixMicro(), childAlive, true, now.UnixMicro()}
	}
	waitFor(t, "the queue to drain at "+now.Format(time.TimeOnly), func() bool {
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}
