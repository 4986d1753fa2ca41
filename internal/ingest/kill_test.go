package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// The kill test re-executes the test binary as a sync process: TestMain
// runs childSync instead of the tests when SEATWISE_INGEST_CHILD is set.
const childEnv = "SEATWISE_INGEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		run := childSync
		if mode == "floor" {
			run = childFloor
		}
		if path := os.Getenv("CHILD_CPUPROFILE"); path != "" && mode != "floor" {
			f, err := os.Create(path)
			if err == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		if path := os.Getenv("CHILD_HEAPPROFILE"); path != "" && mode != "floor" {
			// The heap profile at the largest heap in use, sampled.
			go func() {
				var top uint64
				for range time.Tick(20 * time.Millisecond) {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > top+4<<20 {
						top = ms.HeapInuse
						if f, err := os.Create(path); err == nil {
							_ = pprof.Lookup("heap").WriteTo(f, 0)
							f.Close()
						}
					}
				}
			}()
		}
		code := 0
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "child sync:", err)
			code = 1
		}
		pprof.StopCPUProfile()
		if out := os.Getenv("CHILD_HWM"); out != "" {
			// The peak RSS of this process image: getrusage's maxrss of
			// a child also counts the parent's pages shared before exec.
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(line, "VmHWM:") {
						_ = os.WriteFile(out, []byte(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))), 0o600)
					}
				}
			}
		}
		os.Exit(code)
	}
	// The benchmark's PostgreSQL cluster (pgtest) stops with the tests.
	pgtest.Main(m)
}

// childSync syncs the profile named in the environment into the database
// named there, as `seatwise sync` does.
func childSync() error {
	ctx := context.Background()
	st, err := openChildStore()
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.ProfileByName(ctx, "sim")
	if err != nil {
		return err
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv("CHILD_NOW"))
	if err != nil {
		return err
	}
	hc, err := odata.NewHTTPClient(p.CAFile)
	if err != nil {
		return err
	}
	pageSize, _ := strconv.Atoi(os.Getenv("CHILD_PAGE"))
	src, err := ingest.NewSources(p, os.Getenv("CHILD_SECRET"), ingest.ClientOptions{HTTPClient: hc, AuditPageSize: pageSize,
		BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	batch, _ := strconv.Atoi(os.Getenv("CHILD_BATCH"))
	streams, _ := strconv.Atoi(os.Getenv("CHILD_STREAMS"))
	sy := &ingest.Syncer{Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: func() time.Time { return now }, StageBatchRows: batch, AuditStreams: streams}
	if os.Getenv("CHILD_MEMTRACE") != "" {
		var peak uint64
		go func() {
			var top, sys uint64
			for range time.Tick(50 * time.Millisecond) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > top+8<<20 || ms.Sys > sys+8<<20 {
					top, sys = max(top, ms.HeapInuse), max(sys, ms.Sys)
					fmt.Fprintf(os.Stderr, "sampled: heap in use %d MB, sys %d MB\n", ms.HeapInuse>>20, ms.Sys>>20)
				}
			}
		}()
		sy.Progress = func(pr ingest.Progress) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+8<<20 {
				peak = ms.HeapInuse
				fmt.Fprintf(os.Stderr, "heap in use %d MB (sys %d MB) at %s %s %s, %d items\n", ms.HeapInuse>>20, ms.Sys>>20, pr.Kind, pr.Phase, pr.Environment, pr.Items)
			}
		}
	}
	// The phases' wall times, for the benchmark's log: subscriptions,
	// reading and staging activity, committing activity.
	start := time.Now()
	var commitAt time.Time
	trace := sy.Progress
	phaseTrace := os.Getenv("CHILD_PHASETRACE") != ""
	var traceMu sync.Mutex
	lastPhase := map[sam.RunKind]string{}
	sy.Progress = func(pr ingest.Progress) {
		if phaseTrace {
			traceMu.Lock()
			defer traceMu.Unlock()
			if key := string(pr.Kind) + " " + pr.Phase + " " + pr.Environment; key != lastPhase[pr.Kind] {
				lastPhase[pr.Kind] = key
				fmt.Fprintf(os.Stderr, "%7.3fs %s (%d items)\n", time.Since(start).Seconds(), key, pr.Items)
			}
		}
		if pr.Kind == sam.RunActivity && pr.Phase == "commit" && commitAt.IsZero() {
			commitAt = time.Now()
		}
		if trace != nil {
			trace(pr)
		}
	}
	// Subscriptions and activity side by side (Sync), as the CLI and the
	// sync job run them; CHILD_SEQUENTIAL=1 runs one after the other.
	var subsDone time.Time
	if os.Getenv("CHILD_SEQUENTIAL") != "" {
		if _, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{}); err != nil {
			return err
		}
		subsDone = time.Now()
		if p, err = st.Profile(ctx, p.ID); err != nil {
			return err
		}
		if _, err = sy.Activity(ctx, p); err != nil {
			return err
		}
	} else if _, err := sy.Sync(ctx, p, ingest.SubscriptionOptions{}, func(*ingest.SubscriptionResult) { subsDone = time.Now() }); err != nil {
		return err
	}
	if !commitAt.IsZero() {
		// Side by side, "activity read and staged" runs from the start.
		readFrom := subsDone
		if os.Getenv("CHILD_SEQUENTIAL") == "" {
			readFrom = start
		}
		fmt.Printf("phases: subscriptions %v, activity read and staged %v, activity commit %v\n",
			subsDone.Sub(start).Round(time.Millisecond), commitAt.Sub(readFrom).Round(time.Millisecond),
			time.Since(commitAt).Round(time.Millisecond))
	}
	return nil
}

// openChildStore opens CHILD_DB: a SQLite file path, or a database URL
// (the benchmark's sqlite:// and postgres:// stores).
func openChildStore() (store.Store, error) {
	if path := os.Getenv("CHILD_DB"); !strings.Contains(path, "://") {
		return sqlite.Open(context.Background(), path)
	}
	return db.Open(context.Background(), os.Getenv("CHILD_DB"))
}

func storeRunFilter(profileID int64) store.RunFilter { return store.RunFilter{ProfileID: profileID} }

// runChild runs this test binary as a child sync process with env added to
// its environment. With killAfter > 0 it sends SIGKILL after that long and
// reports whether the child finished first; otherwise it waits. A child that
// exits with an error fails the test.
func runChild(t *testing.T, exe string, killAfter time.Duration, env ...string) (finished bool) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	out := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if killAfter > 0 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed before the kill: %v\n%s", err, out)
			}
			return true
		case <-time.After(killAfter):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return false
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	return true
}

// TestKillAndResume kills sync processes (SIGKILL) at random points, many
// times, then lets one finish, and compares the database with the one an
// uninterrupted sync produced: subscriptions, activity days and unit counts
// must be identical.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	cfg := generated(11, 2000, 2)
	cfg.Faults.Dataverse.Latency = mscloud.Duration(time.Millisecond)
	cfg.Faults.Graph.Latency = mscloud.Duration(time.Millisecond)
	b := setup(t, cfg)
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(db string, killAfter time.Duration) (finished bool) {
		return runChild(t, exe, killAfter, "CHILD_DB="+db, "CHILD_SECRET="+b.srv.Info().ClientSecret,
			"CHILD_NOW="+b.ten.Now().Format(time.RFC3339Nano), "CHILD_PAGE=1000", "CHILD_BATCH=3000")
	}

	base := newProfileDB(t, b, dir, "base.db")
	start := time.Now()
	run(base, 0)
	full := time.Since(start)
	t.Logf("uninterrupted sync: %v", full)

	killed := newProfileDB(t, b, dir, "killed.db")
	rng := rand.New(rand.NewPCG(11, 17))
	kills := 0
	// A killed run resumes where it stopped, so every run gets a short
	// random slice of the whole sync; 15 runs cover it about once.
	for i := 0; i < 15; i++ {
		d := time.Duration(float64(full) * (0.02 + 0.1*rng.Float64()))
		if !run(killed, d) {
			kills++
		}
	}
	run(killed, 0)
	t.Logf("%d of 15 runs killed", kills)
	ks := openStore(t, killed)
	runs, err := ks.Runs(b.ctx, store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		t.Logf("run %d %s full=%v %s requests=%d", r.ID, r.Kind, r.Full, r.Status, r.Requests)
		if r.Status == sam.RunRunning {
			t.Errorf("run %d (%s) still running after a completed sync", r.ID, r.Kind)
		}
	}
	if kills < 10 {
		t.Errorf("only %d of 15 runs were killed; the kill points did not fall inside the sync", kills)
	}
	compareStores(t, b, base, killed)
}

// compareStores compares two databases holding the same profile "sim".
func compareStores(t *testing.T, b *bundle, pathA, pathB string) {
	t.Helper()
	a, c := openStore(t, pathA), openStore(t, pathB)
	pa, err := a.ProfileByName(b.ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := c.ProfileByName(b.ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	sa, sc := allSubs(t, a, pa.ID), allSubs(t, c, pc.ID)
	if len(sa) != len(sc) {
		t.Errorf("%d subscriptions vs %d", len(sa), len(sc))
	}
	diffs := 0
	for k, x := range sa {
		y, ok := sc[k]
		if !ok {
			t.Errorf("subscription %v missing", k)
			diffs++
		} else if d := subDiff(x, y); d != "" {
			t.Errorf("subscription %v: %s", k, d)
			diffs++
		}
		if diffs > 20 {
			t.Fatal("too many differences")
		}
	}
	truth, err := b.ten.Truth(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	from, to := b.ten.Now().AddDate(-1, 0, 0), b.ten.Now().AddDate(0, 0, 1)
	days := 0
	for _, u := range truth.Users {
		da, err := a.ActivityDays(b.ctx, pa.ID, u.UserID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := c.ActivityDays(b.ctx, pc.ID, u.UserID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		days += len(da)
		if len(da) != len(dc) {
			t.Errorf("user %s: %d activity days vs %d", u.UPN, len(da), len(dc))
			continue
		}
		for i := range da {
			x, y := da[i], dc[i]
			if !x.Day.Equal(y.Day) || x.Source != y.Source || x.Events != y.Events || !x.LastAt.Equal(y.LastAt) {
				t.Errorf("user %s day %d: %+v vs %+v", u.UPN, i, x, y)
			}
		}
	}
	if days == 0 {
		t.Error("no activity days to compare")
	}
	ua, _ := a.SKUUnits(b.ctx, pa.ID, from, to)
	uc, _ := c.SKUUnits(b.ctx, pc.ID, from, to)
	if len(ua) != len(uc) || len(ua) == 0 {
		t.Errorf("%d unit records vs %d", len(ua), len(uc))
	}
	t.Logf("compared %d subscriptions, %d activity days, %d unit records", len(sa), days, len(ua))
}

// allSubs returns every subscription (open and closed) by user, SKU and
// first-seen order.
func allSubs(t *testing.T, st store.Store, profileID int64) map[string]*sam.Subscription {
	out := map[string]*sam.Subscription{}
	f := store.SubscriptionFilter{ProfileID: profileID, Limit: 5000}
	n := map[subKey]int{}
	for {
		subs, err := st.Subscriptions(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			k := subKey{s.UserID, s.SKUID}
			out[fmt.Sprintf("%s/%s/%d", s.UserID, s.SKUID, n[k])] = s
			n[k]++
			f.AfterID = s.ID
		}
		if len(subs) < f.Limit {
			return out
		}
	}
}

func subDiff(x, y *sam.Subscription) string {
	eqT := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	switch {
	case x.UPN != y.UPN || x.DisplayName != y.DisplayName || x.Department != y.Department || x.Country != y.Country:
		return "attributes differ"
	case x.AccountEnabled != y.AccountEnabled || x.AssignedByGroup != y.AssignedByGroup || !x.AssignedAt.Equal(y.AssignedAt):
		return "assignment differs"
	case !eqT(x.ClosedAt, y.ClosedAt):
		return "closed differs"
	case !eqT(x.LastActivity, y.LastActivity) || x.LastActivitySource != y.LastActivitySource:
		return fmt.Sprintf("last activity %s %s vs %s %s", fmtTime(x.LastActivity), x.LastActivitySource, fmtTime(y.LastActivity), y.LastActivitySource)
	case x.ActiveDays30 != y.ActiveDays30 || x.ActiveDays90 != y.ActiveDays90 || x.UsageClass != y.UsageClass:
		return fmt.Sprintf("usage %d/%d %s vs %d/%d %s", x.ActiveDays30, x.ActiveDays90, x.UsageClass, y.ActiveDays30, y.ActiveDays90, y.UsageClass)
	}
	return ""
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
