package recon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Environment of the child process of TestKillDuringReconciliation.
const envReconChildDB = "SEATWISE_RECON_KILL_CHILD_DB"

// killAsOf is the day every reconciliation of the kill test is computed for.
var killAsOf = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

// TestReconcileChild is the process TestKillDuringReconciliation kills: it
// reconciles profile "kill" of the database in its environment again and
// again, printing "start" before and "done" after each reconciliation.
func TestReconcileChild(t *testing.T) {
	url := os.Getenv(envReconChildDB)
	if url == "" {
		t.Skip("runs only as the child process of TestKillDuringReconciliation")
	}
	st := openStoreURL(t, url)
	p, err := st.ProfileByName(context.Background(), "kill")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	for {
		fmt.Println("start")
		if _, _, err := Reconcile(context.Background(), st, p, Options{AsOf: killAsOf}); err != nil {
			fmt.Println("error", err)
			t.Fatal(err)
		}
		fmt.Println("done")
	}
}

// positionsJSON is a run's positions in a comparable form.
func positionsJSON(t *testing.T, ps []sam.Position) string {
	t.Helper()
	SortPositions(ps)
	b, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKillDuringReconciliation kills (SIGKILL) a process reconciling a
// profile of many subscriptions at random moments of its reconciliations,
// again and again, on SQLite and PostgreSQL. Afterwards the database opens,
// every reconciliation that finished has a complete snapshot equal to a
// reconciliation computed without kills, a killed one left no position
// behind and was closed as failed ("interrupted: superseded by run N") by
// the next reconciliation, and reconciling again (the restart) stores that
// same position and leaves no reconciliation run running.
// SEATWISE_RESILIENCE_KILLS sets the number of kills (default 6) and
// SEATWISE_RESILIENCE_SUBSCRIPTIONS the profile's size (default 60000);
// SEATWISE_RESILIENCE_SEED repeats the kill times of a logged run.
func TestKillDuringReconciliation(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes skipped in -short mode")
	}
	kills, subs := 6, 60000
	for name, v := range map[string]*int{"SEATWISE_RESILIENCE_KILLS": &kills, "SEATWISE_RESILIENCE_SUBSCRIPTIONS": &subs} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", name, s)
			}
			*v = n
		}
	}
	for _, d := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/seatwise.db" }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			url := d.url(t)
			st := openStoreURL(t, url)
			p := newProfile(t, st, "kill")
			seedSubscriptions(t, st, p, subs)
			ctx := context.Background()

			// The reference: computed without a kill, nothing stored.
			start := time.Now()
			ref, err := Compute(ctx, st, p, Options{AsOf: killAsOf})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			want := positionsJSON(t, ref.Positions)
			if len(ref.Positions) != len(benchSKUs) {
				t.Fatalf("%d positions, want %d", len(ref.Positions), len(benchSKUs))
			}
			// Reconciliation in the child takes about as long as Compute
			// plus the snapshot's commit: kill within twice that.
			window := 2*took + 20*time.Millisecond
			seed := uint64(time.Now().UnixNano())
			if v := os.Getenv("SEATWISE_RESILIENCE_SEED"); v != "" {
				seed, _ = strconv.ParseUint(v, 10, 64)
			}
			rng := rand.New(rand.NewPCG(seed, 7))
			t.Logf("kill times drawn with seed %d (SEATWISE_RESILIENCE_SEED repeats them)", seed)
			midRun := 0
			for k := range kills {
				before := map[int64]bool{}
				for _, r := range reconRuns(t, st, p.ID, sam.RunRunning) {
					before[r.ID] = true
				}
				c := startReconChild(t, url)
				// Let it finish k%2 reconciliations first, then kill it at
				// a random moment of the next one.
				for range k % 2 {
					c.wait(t, "done")
				}
				c.wait(t, "start")
				time.Sleep(time.Duration(rng.Int64N(int64(window))))
				c.kill(t)
				// The child's first reconciliation closed the run the
				// previous kill left; a new running one is this kill's.
				for _, r := range reconRuns(t, st, p.ID, sam.RunRunning) {
					if !before[r.ID] {
						midRun++
					}
				}
			}
			t.Logf("%d kills, %d during a reconciliation (window %v)", kills, midRun, window)
			if midRun == 0 {
				t.Fatal("no kill landed inside a reconciliation: the test proved nothing")
			}

			// The restart: reconcile again, to completion.
			r, res, err := Reconcile(ctx, st, p, Options{AsOf: killAsOf})
			if err != nil {
				t.Fatal(err)
			}
			if got := positionsJSON(t, res.Positions); got != want {
				t.Fatalf("after the kills the position is\n%s\nwant\n%s", got, want)
			}
			// Every finished run has the whole snapshot; killed runs none.
			snaps, err := st.PositionSnapshots(ctx, store.SnapshotFilter{ProfileID: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			byRun := map[int64][]sam.Position{}
			for _, s := range snaps {
				byRun[s.RunID] = append(byRun[s.RunID], s.Position)
			}
			done := reconRuns(t, st, p.ID, sam.RunSucceeded)
			if len(done) < kills/2+1 || done[0].ID != r.ID {
				t.Fatalf("%d succeeded reconciliations, newest %d, want at least %d ending with %d", len(done), done[0].ID, kills/2+1, r.ID)
			}
			for _, run := range done {
				if got := positionsJSON(t, byRun[run.ID]); got != want {
					t.Errorf("run %d snapshot\n%s\nwant\n%s", run.ID, got, want)
				}
				if run.Counts["positions"] != int64(len(ref.Positions)) {
					t.Errorf("run %d counts %v", run.ID, run.Counts)
				}
				delete(byRun, run.ID)
			}
			for id, ps := range byRun {
				t.Errorf("run %d, not succeeded, has %d positions", id, len(ps))
			}
			// No reconciliation is left running: each killed one was closed
			// as failed by the next reconciliation of the profile.
			if left := reconRuns(t, st, p.ID, sam.RunRunning); len(left) != 0 {
				t.Errorf("%d reconciliation runs left running after the restart, newest %d", len(left), left[0].ID)
			}
			failed := reconRuns(t, st, p.ID, sam.RunFailed)
			if len(failed) != midRun {
				t.Errorf("%d failed reconciliation runs, want one per kill inside a run (%d)", len(failed), midRun)
			}
			for _, run := range failed {
				var by int64
				if _, err := fmt.Sscanf(run.Error, "interrupted: superseded by run %d", &by); err != nil || by <= run.ID || run.FinishedAt == nil {
					t.Errorf("killed run %d: error %q, finished %v; want \"interrupted: superseded by run N\" with N > %d", run.ID, run.Error, run.FinishedAt, run.ID)
					continue
				}
				if sup, err := st.Run(ctx, by); err != nil || sup.Kind != sam.RunReconciliation || sup.ProfileID != p.ID {
					t.Errorf("run %d superseded by run %d: %+v, %v", run.ID, by, sup, err)
				}
			}
		})
	}
}

func reconRuns(t *testing.T, st store.Store, profileID int64, status sam.RunStatus) []*sam.Run {
	t.Helper()
	rs, err := st.Runs(context.Background(), store.RunFilter{ProfileID: profileID, Kind: sam.RunReconciliation, Status: status, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// reconChild is a running TestReconcileChild process.
type reconChild struct {
	cmd    *exec.Cmd
	lines  chan string
	exited chan struct{}
}

// startReconChild starts TestReconcileChild on url and waits until it is
// ready; it is killed when the test ends.
func startReconChild(t *testing.T, url string) *reconChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReconcileChild$", "-test.v")
	cmd.Env = append(os.Environ(), envReconChildDB+"="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &reconChild{cmd: cmd, lines: make(chan string, 1000), exited: make(chan struct{})}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody waits for these lines any more
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	c.wait(t, "ready")
	return c
}

// wait reads the child's lines until one equals want; it fails on an error
// line, an exit, or after 60 s.
func (c *reconChild) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l := <-c.lines:
			if l == want {
				return
			}
			if strings.HasPrefix(l, "error") || strings.HasPrefix(l, "--- FAIL") {
				t.Fatalf("child: %s", l)
			}
		case <-c.exited:
			t.Fatalf("child exited while the test waited for %q", want)
		case <-deadline:
			t.Fatalf("child did not print %q within 60s", want)
		}
	}
}

// kill sends SIGKILL and waits for the process to end.
func (c *reconChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}
