package reclaim

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Environment of the child process of TestKillDuringReclamation.
const (
	envReclaimChildDB     = "SEATWISE_RECLAIM_KILL_CHILD_DB"
	envReclaimChildSecret = "SEATWISE_RECLAIM_KILL_CHILD_SECRET"
	envReclaimChildNow    = "SEATWISE_RECLAIM_KILL_CHILD_NOW"
)

// TestReclaimChild is the process TestKillDuringReclamation kills: it runs
// the workflow of profile "sim" (removals against the simulator) until no
// candidate is open, printing "ready" first and "done" at the end.
func TestReclaimChild(t *testing.T) {
	url := os.Getenv(envReclaimChildDB)
	if url == "" {
		t.Skip("runs only as the child process of TestKillDuringReclamation")
	}
	ctx := context.Background()
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(envReclaimChildNow))
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProfileByName(ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewSources(p, os.Getenv(envReclaimChildSecret), ingest.ClientOptions{BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
		Graph: func(context.Context, *sam.Profile) (Graph, error) { return src.Graph.C, nil }}
	fmt.Println("ready")
	for range 20 {
		if _, err := e.Advance(ctx, p, RunOptions{}); err != nil {
			fmt.Println("error", err)
			t.Fatal(err)
		}
		open, err := st.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, OpenOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) == 0 {
			break
		}
	}
	fmt.Println("done")
	for {
		time.Sleep(time.Hour) // until killed
	}
}

// assignments returns every licence assignment of the simulated tenant as
// "user SKU" for a direct one and "user SKU group" for one inherited from a
// group.
func (x *env) assignments() map[string]bool {
	x.t.Helper()
	out := map[string]bool{}
	cursor := ""
	for {
		users, next, err := x.ten.UsersPage(cursor, 1000, nil)
		if err != nil {
			x.t.Fatal(err)
		}
		for _, u := range users {
			for _, l := range u.LicenseAssignmentStates {
				out[strings.TrimSpace(u.ID+" "+l.SKUID+" "+l.AssignedByGroup)] = true
			}
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// progress counts the candidates of want that are closed as complete or
// have a removal in flight.
func (x *env) progress(want map[int64]*store.Candidate) int {
	x.t.Helper()
	n := 0
	for id := range want {
		if c := x.candidate(id); c.State == store.StateClosedComplete || c.Intent != "" {
			n++
		}
	}
	return n
}

// TestKillDuringReclamation kills (SIGKILL) a process removing licences at
// random moments of its run (after its first removal began), several times, against the simulator (Graph
// slowed by 10 ms a request so that kills land between calls and inside
// them), on SQLite and PostgreSQL; then a fresh engine (the restart)
// finishes. Checked against the simulated tenant's assignments: every
// candidate's direct assignment is removed and its candidate closed as
// complete, no other assignment (direct or inherited) changed, no removal was sent twice (one assignLicense
// per candidate, beyond at most one cut by each kill), and no candidate has
// two "removed" audit entries. SEATWISE_RESILIENCE_KILLS sets the number of
// kills (default 5); SEATWISE_RESILIENCE_SEED repeats the kill times of a
// logged run.
func TestKillDuringReclamation(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes skipped in -short mode")
	}
	kills := 5
	if s := os.Getenv("SEATWISE_RESILIENCE_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SEATWISE_RESILIENCE_KILLS=%q: want a positive number", s)
		}
		kills = n
	}
	eachDialect(t, func(t *testing.T, url string) {
		x := setup(t, url, 160)
		x.live()
		x.rules(func(r *store.ReclaimRule) {
			r.NotifyUser, r.ResponseDays, r.ManagerApproval, r.ApprovalGroup = false, 0, false, ""
		})
		x.evaluate()
		// Direct assignments only: their removal is one assignLicense each.
		want := map[int64]*store.Candidate{}
		for _, c := range x.open() {
			if c.AssignedByGroup != "" {
				if _, err := x.e.Skip(x.ctx, c.ID, "user:test", "group-based: not in this test"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want[c.ID] = c
		}
		if len(want) < 10 {
			t.Fatalf("only %d candidates of direct assignments", len(want))
		}
		before := x.assignments()
		for _, c := range want {
			if !before[c.UserID+" "+c.SKUID] {
				t.Fatalf("candidate %d: the tenant user %s holds no direct assignment of %s", c.ID, c.UserID, c.SKUID)
			}
		}
		const assignRoute = "graph POST /users/{id}/assignLicense"
		calls0 := x.writes()[assignRoute]

		if err := x.srv.SetFaults(mscloud.Faults{Graph: mscloud.FaultRates{Latency: mscloud.Duration(10 * time.Millisecond)}}); err != nil {
			t.Fatal(err)
		}
		env := []string{envReclaimChildDB + "=" + url, envReclaimChildSecret + "=" + x.srv.Info().ClientSecret,
			envReclaimChildNow + "=" + x.ten.Now().Format(time.RFC3339Nano)}
		seed := uint64(time.Now().UnixNano())
		if v := os.Getenv("SEATWISE_RESILIENCE_SEED"); v != "" {
			seed, _ = strconv.ParseUint(v, 10, 64)
		}
		rng := rand.New(rand.NewPCG(seed, 11))
		t.Logf("kill times drawn with seed %d (SEATWISE_RESILIENCE_SEED repeats them)", seed)
		midRun, inFlight := 0, 0
		for range kills {
			if len(x.open()) == 0 {
				break
			}
			started := x.progress(want)
			c := startReclaimChild(t, env)
			// Kill once the child has begun a removal, at a random moment
			// of the calls and updates that follow.
			deadline := time.Now().Add(60 * time.Second)
			for x.progress(want) == started && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			c.kill(t)
			done, open := 0, len(x.open())
			for id := range want {
				switch c := x.candidate(id); {
				case c.State == store.StateClosedComplete:
					done++
				case c.Intent != "":
					inFlight++ // killed between recording the intent and closing the candidate
				}
			}
			if done > 0 && open > 0 {
				midRun++
			}
		}
		if err := x.srv.SetFaults(mscloud.Faults{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d kills, %d in the middle of the removals, leaving %d removals in flight; %d candidates open before the restart", kills, midRun, inFlight, len(x.open()))
		if midRun == 0 {
			t.Fatal("no kill landed in the middle of the removals: the test proved nothing")
		}

		// The restart: a fresh engine finishes what was left.
		for i := 0; i < 5 && len(x.open()) > 0; i++ {
			if _, err := x.engine().Advance(x.ctx, x.profile(), RunOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if open := x.open(); len(open) != 0 {
			t.Fatalf("%d candidates still open after the restart, e.g. %+v", len(open), open[0])
		}
		after := x.assignments()
		for id, c := range want {
			got := x.candidate(id)
			if got.State != store.StateClosedComplete || got.Intent != "" || got.RemovedAt.IsZero() {
				t.Errorf("candidate %d: %s intent %q: %s", id, got.State, got.Intent, got.Message)
			}
			if after[c.UserID+" "+c.SKUID] {
				t.Errorf("candidate %d: the tenant user still holds %s directly", id, c.SKUID)
			}
			delete(before, c.UserID+" "+c.SKUID)
		}
		for k := range before {
			if !after[k] {
				t.Errorf("assignment %s, of no candidate, was removed", k)
			}
		}
		if len(after) != len(before) {
			t.Errorf("%d assignments after, want %d", len(after), len(before))
		}
		calls := x.writes()[assignRoute] - calls0
		t.Logf("%d removals, %d assignLicense requests", len(want), calls)
		if calls < int64(len(want)) || calls > int64(len(want)+kills) {
			t.Errorf("%d assignLicense requests for %d removals and %d kills: a removal was repeated or lost", calls, len(want), kills)
		}
		audit, err := x.st.AuditEntries(x.ctx, store.AuditFilter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		removed := map[string]int{}
		for _, a := range audit {
			if a.Action == "reclaim.removed" {
				removed[a.Target]++
			}
		}
		missing := 0
		for id := range want {
			switch n := removed[fmt.Sprintf("candidate:%d", id)]; {
			case n > 1:
				t.Errorf("candidate %d has %d reclaim.removed audit entries", id, n)
			case n == 0:
				missing++
			}
		}
		// The entry is written after the candidate's state, outside its
		// transaction: a kill in between leaves the removal without it.
		t.Logf("%d removals without a reclaim.removed audit entry", missing)
	})
}

// reclaimChild is a running TestReclaimChild process.
type reclaimChild struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startReclaimChild starts TestReclaimChild and waits until it is ready; it
// is killed when the test ends.
func startReclaimChild(t *testing.T, env []string) *reclaimChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReclaimChild$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &reclaimChild{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	failed := make(chan string, 1)
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "ready":
				close(ready)
			case strings.HasPrefix(l, "error"):
				select {
				case failed <- l:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
		select {
		case l := <-failed:
			t.Errorf("child: %s", l)
		default:
		}
	})
	select {
	case <-ready:
	case <-c.exited:
		t.Fatal("child exited before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatal("child not ready after 60s")
	}
	return c
}

func (c *reclaimChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}
