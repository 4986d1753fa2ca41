package cli

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

// Environment of the serve child processes of TestServeInstancesKilled.
const (
	envServeChild        = "SEATWISE_SERVE_KILL_CHILD"         // the instance name
	envServeChildClock   = "SEATWISE_SERVE_KILL_CHILD_CLOCK"   // file holding the fake time
	envServeChildWorkers = "SEATWISE_SERVE_KILL_CHILD_WORKERS" // jobs at once
)

// serveDayStart is the start of the simulated day.
var serveDayStart = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)

// serveDaySchedules are the schedules of the simulated day.
var serveDaySchedules = []job.Schedule{
	{Name: "sync", Kind: job.KindSync, Spec: "every 3h", Enabled: true},
	{Name: "reconciliation", Kind: job.KindReconcile, Spec: "every 6h", Enabled: true},
}

const serveDayLease = 10 * time.Minute

// clockFile is a job clock reading the time the parent test writes to a
// file, shared by every instance.
type clockFile string

func (c clockFile) Now() time.Time {
	for range 200 {
		if b, err := os.ReadFile(string(c)); err == nil {
			if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
				return t
			}
		}
		time.Sleep(time.Millisecond)
	}
	panic("clock file unreadable: " + string(c))
}

func setClock(t *testing.T, path string, now time.Time) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(now.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestServeChild is one `seatwise serve` instance of
// TestServeInstancesKilled, run as a child process: the serve command of the
// command line, configured from the environment like the product, with the
// job runner on the shared fake clock (the hook the demo uses), short polls
// and the simulated day's schedules.
func TestServeChild(t *testing.T) {
	name := os.Getenv(envServeChild)
	if name == "" {
		t.Skip("runs only as a child process of TestServeInstancesKilled")
	}
	workers := 2
	fmt.Sscan(os.Getenv(envServeChildWorkers), &workers)
	a := &App{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr}
	root := a.newRoot()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	serve.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.serve(cmd.Context(), serveOptions{workers: workers, shutdown: 5 * time.Second, jobConfig: func(c *job.Config) {
			c.Clock = clockFile(os.Getenv(envServeChildClock))
			c.Instance = name
			c.PollInterval = 20 * time.Millisecond
			c.Lease = serveDayLease
			c.DefaultSchedules = serveDaySchedules
		}})
	}
	root.SetArgs([]string{"serve", "--listen", "127.0.0.1:0"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// serveChild is a running TestServeChild process.
type serveChild struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

var listeningLine = regexp.MustCompile(`listening on https?://`)

// startServeChild starts instance name and waits until it listens.
func startServeChild(t *testing.T, name string, workers int, env []string, logs *lockedBuffer) *serveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(append(os.Environ(), env...), envServeChild+"="+name, fmt.Sprintf("%s=%d", envServeChildWorkers, workers))
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &serveChild{name: name, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			logs.Write([]byte(name + ": " + sc.Text() + "\n"))
			if listeningLine.MatchString(sc.Text()) {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	select {
	case <-ready:
	case <-c.exited:
		t.Fatalf("instance %s exited before listening:\n%s", name, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("instance %s not listening after 60s:\n%s", name, logs.String())
	}
	return c
}

func (c *serveChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}

// TestServeInstancesKilled runs two `seatwise serve` processes on one
// PostgreSQL database through a simulated day of schedules (a sync of each
// of two profiles every 3 hours against the simulator, a reconciliation
// every 6 hours) and kills one of them with SIGKILL at every sync slot,
// preferably while it runs a job, restarting it each time. Every slot of
// every schedule ends with exactly one job per profile, every job succeeds
// with exactly one successful attempt, and the runs show each job's work
// committed once: one succeeded subscriptions run and one activity run per
// sync job, one reconciliation run per reconciliation job, each named by its
// job, even when the kill lands after a run committed but before the job's
// success was recorded (the retry then finds the run named by the job and
// does only what is left).
func TestServeInstancesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes skipped in -short mode")
	}
	ctx := context.Background()
	e := newCLIEnv(t)
	dbURL := pgtest.URL(t)
	e.vars["SEATWISE_DATABASE"] = dbURL
	simProfile(t, e, mscloud.Config{Seed: 41, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 41, Users: 60, Environments: 1, Now: serveDayStart}}}})
	st, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p1, err := st.ProfileByName(ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(e.dir, "secret.txt")
	args := []string{"profile", "add", "sim2", "--tenant-id", p1.TenantID, "--client-id", p1.ClientID, "--client-secret-file", secretFile,
		"--login-url", p1.LoginURL, "--graph-url", p1.GraphURL, "--ca-file", p1.CAFile}
	for _, env := range p1.Environments {
		args = append(args, "--environment", env.URL)
	}
	e.ok("", args...) // a second profile of the same tenant

	clock := filepath.Join(e.dir, "clock")
	setClock(t, clock, serveDayStart)
	key, _ := secret.DecodeKey(e.vars["SEATWISE_SECRET_KEY"])
	kr, _ := secret.NewKeyring(key)
	// The parent's runner only reads the queue (never started); creating
	// it sets up the schedules at the start of the day.
	q, err := job.New(ctx, job.Config{Store: st, Keyring: kr, Clock: clockFile(clock), DefaultSchedules: serveDaySchedules})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SEATWISE_DATABASE=" + dbURL, "SEATWISE_SECRET_KEY=" + e.vars["SEATWISE_SECRET_KEY"], "SEATWISE_LOG_LEVEL=warn",
		"HOME=" + e.dir, envServeChildClock + "=" + clock}
	logs := &lockedBuffer{}
	startServeChild(t, "a", 1, env, logs)
	victim := startServeChild(t, "b1", 3, env, logs)
	dead := []string{}
	sqldb := st.(interface{ DB() *sql.DB }).DB()

	end := serveDayStart.Add(24 * time.Hour)
	kills, midJob := 0, 0
	for now := serveDayStart.Add(time.Hour); !now.After(end.Add(2 * time.Hour)); now = now.Add(time.Hour) {
		setClock(t, clock, now)
		if now.Hour()%3 == 0 && !now.After(end) {
			// A sync slot: kill the victim, if possible while it runs a job.
			if waitOwnsJob(sqldb, victim.name, 10*time.Second) {
				midJob++
			}
			victim.kill(t)
			kills++
			dead = append(dead, victim.name)
			victim = startServeChild(t, fmt.Sprintf("b%d", kills+1), 3, env, logs)
		}
		if err := waitQueueIdle(sqldb, now, dead, 60*time.Second); err != nil {
			t.Fatalf("%v\nlogs:\n%s", err, logs.String())
		}
	}
	t.Logf("%d kills, %d while the instance ran a job", kills, midJob)
	if midJob == 0 {
		t.Fatalf("no kill hit a running job: the test proved nothing\n%s", logs.String())
	}

	// Every slot once per profile; every job succeeded once.
	want := map[string]bool{}
	for _, s := range serveDaySchedules {
		sp, err := job.ParseSpec(s.Spec)
		if err != nil {
			t.Fatal(err)
		}
		for slot := sp.Next(serveDayStart); !slot.After(end); slot = sp.Next(slot) {
			for _, p := range []string{"sim", "sim2"} {
				want[fmt.Sprintf("%s/%s/%s", s.Name, p, slot.Format(time.RFC3339))] = true
			}
		}
	}
	jobs, err := q.Jobs(ctx, job.JobFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for _, name := range []string{"sim", "sim2"} {
		p, err := st.ProfileByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		names[p.ID] = name
	}
	got := map[string]int{}
	runsOfJobs := map[sam.RunKind]int{}
	counted := map[job.Kind]int{}
	takenOver := 0 // attempts of killed instances, finished by another
	// Jobs whose retry found work an earlier attempt had committed (killed
	// after a run committed, before the job's success was recorded).
	committedEarlier := 0
	for _, j := range jobs {
		if j.Slot.After(end) {
			continue
		}
		got[fmt.Sprintf("%s/%s/%s", j.Schedule, names[j.ProfileID], j.Slot.Format(time.RFC3339))]++
		counted[j.Kind]++
		if j.State != job.StateSucceeded {
			t.Errorf("job %d (%s %s %s) ended %s: %s", j.ID, j.Schedule, names[j.ProfileID], j.Slot.Format(time.TimeOnly), j.State, j.Error)
			continue
		}
		as, err := q.Attempts(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(j.Result, "committed by an earlier attempt") {
			committedEarlier++
		}
		ok := 0
		for _, a := range as {
			if a.Outcome == "succeeded" {
				ok++
			}
			if slices.Contains(dead, a.Owner) && a.Outcome != "succeeded" {
				takenOver++
			}
		}
		if ok != 1 {
			t.Errorf("job %d has %d successful attempts: %+v", j.ID, ok, as)
		}
		for _, id := range j.RunIDs {
			r, err := st.Run(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != sam.RunSucceeded {
				t.Errorf("job %d run %d is %s", j.ID, id, r.Status)
			}
			runsOfJobs[r.Kind]++
		}
	}
	t.Logf("%d sync and %d reconciliation jobs, %d attempts cut by a kill, %d jobs finished by a retry that found work committed by an earlier attempt",
		counted[job.KindSync], counted[job.KindReconcile], takenOver, committedEarlier)
	if takenOver == 0 {
		t.Error("no job was taken over from a killed instance")
	}
	if len(got) != len(want) {
		t.Errorf("%d slots have jobs, want %d", len(got), len(want))
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("slot %s has %d jobs, want 1", k, got[k])
		}
	}
	// Work committed once: succeeded runs of each kind, over the whole
	// database, match the jobs.
	for kind, wantN := range map[sam.RunKind]int{sam.RunSubscriptions: counted[job.KindSync], sam.RunActivity: counted[job.KindSync], sam.RunReconciliation: counted[job.KindReconcile]} {
		rs, err := st.Runs(ctx, store.RunFilter{Kind: kind, Status: sam.RunSucceeded, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != wantN || runsOfJobs[kind] != wantN {
			t.Errorf("%s: %d succeeded runs, %d named by jobs, want %d", kind, len(rs), runsOfJobs[kind], wantN)
		}
	}
	if t.Failed() {
		t.Logf("instance logs:\n%s", logs.String())
	}
}

// waitOwnsJob reports whether instance holds a running job within d.
func waitOwnsJob(db *sql.DB, instance string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner = $1`, instance).Scan(&n); err == nil && n > 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// waitQueueIdle waits until no schedule is due at now and every job due at
// now has finished, except the jobs still leased by killed instances and
// the jobs of their profiles (taken over, and run, once the lease expires,
// on a later clock step).
func waitQueueIdle(db *sql.DB, now time.Time, dead []string, d time.Duration) error {
	deadOwner := "FALSE"
	if len(dead) > 0 {
		deadOwner = "lease_owner IN ('" + strings.Join(dead, "','") + "')"
	}
	// A profile runs one job at a time: its due jobs wait for a dead
	// instance's lease too.
	blocked := `SELECT profile_id FROM jobs WHERE state = 'running' AND ` + deadOwner + ` AND lease_until >= $1`
	q := `SELECT (SELECT COUNT(*) FROM jobs WHERE (state = 'available' AND run_at <= $1 AND profile_id NOT IN (` + blocked + `))
			OR (state = 'running' AND NOT (` + deadOwner + ` AND lease_until >= $1)))
		+ (SELECT COUNT(*) FROM job_schedules WHERE enabled AND next_at <= $1)`
	deadline := time.Now().Add(d)
	for {
		var n int
		if err := db.QueryRow(q, now.UnixMicro()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the queue did not drain at %s within %v (%d due)", now.Format(time.TimeOnly), d, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
