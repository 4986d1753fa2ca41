package ingest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
)

// BenchmarkFullSync measures a full sync (subscriptions and activity) of
// generated tenants against the in-process simulator, on SQLite and on
// PostgreSQL: wall time, peak RSS of the syncing process, and the ratio to
// the floor, the time a bare client takes to fetch and decode the same pages
// in the same setting. The floor and the sync each run in a child process
// (the simulator stays in this one), one after the other in every iteration,
// so that the RSS is the sync's own (VmHWM read by the child itself:
// getrusage would count the parent's pages shared before exec) and the
// ratio compares runs made under the same load.
//
// Run it as
//
//	SEATWISE_BENCH=10000,100000@27 go test ./internal/ingest -run '^$' -bench FullSync -benchtime 1x -timeout 60m
//
// SEATWISE_BENCH lists the tenants, comma-separated: a user count, or
// USERS@DAYS for a shorter analysis window (the profile's AnalyzeFrom);
// 100000@27 is the 100,000-user tenant with about 2 million audit rows in
// its 27 days, 100000 the same tenant with 6.6 million in 90 days. Default
// 10000. SEATWISE_BENCH_DB lists the databases, "sqlite,postgres" by
// default; PostgreSQL is pgtest's (a private cluster, or
// SEATWISE_TEST_POSTGRES_URL), skipped when none can be started unless
// CI=true. CHILD_CPUPROFILE=FILE writes a CPU profile of the sync child,
// CHILD_HEAPPROFILE=FILE a heap profile at its largest heap in use.
//
// Metrics per tenant and database: ratio (sync wall time / floor wall time,
// target < 1.5), wall-s and floor-s (seconds), peak-RSS-MB of the sync
// process (target < 256; the PostgreSQL server's memory is not counted),
// audit-rows read, the sync's phases: subs-s (subscriptions run),
// read-s (activity pages read and staged) and commit-s (activity commit),
// and the CPU seconds spent: sync-cpu-s by the sync process, sim-cpu-s by
// the simulator while it ran, db-cpu-s by the PostgreSQL server (0 on
// SQLite, or for a server pgtest did not start), floor-cpu-s and
// floor-sim-cpu-s the same for the floor, and the cores of the machine.
// CPU varies less from run to run than wall time, and shows how much of
// the sync is waiting: it cannot take less than its CPU over the cores.
func BenchmarkFullSync(b *testing.B) {
	spec := os.Getenv("SEATWISE_BENCH")
	if spec == "" {
		spec = "10000"
	}
	dbs := os.Getenv("SEATWISE_BENCH_DB")
	if dbs == "" {
		dbs = "sqlite,postgres"
	}
	for _, f := range strings.Split(spec, ",") {
		// "USERS" or "USERS@DAYS": DAYS shortens the analysis window
		// (the profile's AnalyzeFrom) from the default 90 days, so that
		// fewer audit rows are read.
		f, d, windowed := strings.Cut(strings.TrimSpace(f), "@")
		users, err := strconv.Atoi(f)
		if err != nil || users <= 0 {
			b.Fatalf("SEATWISE_BENCH: %q: want a number of users", f)
		}
		days := 0
		name := fmt.Sprintf("users=%d", users)
		if windowed {
			if days, err = strconv.Atoi(d); err != nil || days <= 0 {
				b.Fatalf("SEATWISE_BENCH: analysis window %q: want a number of days", d)
			}
			name += fmt.Sprintf(",days=%d", days)
		}
		b.Run(name, func(b *testing.B) {
			sim := setup(b, generated(99, users, 2))
			// The simulator's first listing of a tenant is slower than the
			// next ones (about 11.5 s against 10 s for the 100,000-user
			// floor): the first iteration reads it once, untimed, so that
			// no timed floor is a cold one, -benchtime 1x included.
			warm := true
			for _, kind := range strings.Split(dbs, ",") {
				kind = strings.TrimSpace(kind)
				if kind != "sqlite" && kind != "postgres" {
					b.Fatalf("SEATWISE_BENCH_DB: %q: want sqlite or postgres", kind)
				}
				b.Run("db="+kind, func(b *testing.B) {
					var m benchFigures
					for i := range b.N {
						m.add(benchSync(b, sim, kind, days, i, warm))
						warm = false
					}
					m.report(b)
				})
			}
		})
	}
}

// benchFigures are the measurements of one or more benchmark iterations.
type benchFigures struct {
	n                                         int
	wall, floor, subs, read, commit           time.Duration
	cpu, simCPU, dbCPU, floorCPU, floorSimCPU time.Duration
	rss, rows                                 int64
}

func (m *benchFigures) add(x benchFigures) {
	m.n++
	m.wall += x.wall
	m.floor += x.floor
	m.subs += x.subs
	m.read += x.read
	m.commit += x.commit
	m.cpu += x.cpu
	m.simCPU += x.simCPU
	m.dbCPU += x.dbCPU
	m.floorCPU += x.floorCPU
	m.floorSimCPU += x.floorSimCPU
	m.rss = max(m.rss, x.rss)
	m.rows = x.rows
}

func (m *benchFigures) report(b *testing.B) {
	if m.n == 0 {
		return
	}
	n := float64(m.n)
	b.ReportMetric(float64(m.wall)/float64(m.floor), "ratio")
	b.ReportMetric(m.wall.Seconds()/n, "wall-s")
	b.ReportMetric(m.floor.Seconds()/n, "floor-s")
	b.ReportMetric(float64(m.rss)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(m.rows), "audit-rows")
	b.ReportMetric(m.subs.Seconds()/n, "subs-s")
	b.ReportMetric(m.read.Seconds()/n, "read-s")
	b.ReportMetric(m.commit.Seconds()/n, "commit-s")
	b.ReportMetric(m.cpu.Seconds()/n, "sync-cpu-s")
	b.ReportMetric(m.simCPU.Seconds()/n, "sim-cpu-s")
	b.ReportMetric(m.dbCPU.Seconds()/n, "db-cpu-s")
	b.ReportMetric(m.floorCPU.Seconds()/n, "floor-cpu-s")
	b.ReportMetric(m.floorSimCPU.Seconds()/n, "floor-sim-cpu-s")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
	if m.rss > 256<<20 {
		b.Errorf("peak RSS %.1f MB, target < 256 MB", float64(m.rss)/(1<<20))
	}
}

// benchSync creates a fresh database of kind ("sqlite" or "postgres") with
// the simulator's profile, then runs the floor and a full sync into it, each
// in a child process, and returns what they measured. With warm, an untimed
// floor runs first.
func benchSync(b *testing.B, sim *bundle, kind string, days, iteration int, warm bool) benchFigures {
	dir := b.TempDir()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	url := "sqlite://" + filepath.Join(dir, fmt.Sprintf("bench%d.db", iteration))
	if kind == "postgres" {
		url = pgtest.URL(b)
	}
	child := func(mode string) childFigures {
		hwm := filepath.Join(dir, mode+".hwm")
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+mode, "CHILD_DB="+url, "CHILD_SECRET="+sim.srv.Info().ClientSecret,
			"CHILD_NOW="+sim.ten.Now().Format(time.RFC3339Nano), "CHILD_PAGE=5000", "CHILD_HWM="+hwm)
		out := &limitedBuffer{max: 1 << 20}
		cmd.Stdout, cmd.Stderr = out, out
		// The server's CPU is read on PostgreSQL only: on SQLite a cluster
		// another sub-benchmark started is not this child's.
		var pgBefore time.Duration
		pgOK := false
		if kind == "postgres" {
			pgBefore, pgOK = pgtest.ServerCPU()
		}
		simBefore, simOK := selfCPU()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s child: %v\n%s", mode, err, out)
		}
		f := childFigures{wall: time.Since(start), out: out.String(),
			cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
		if simAfter, _ := selfCPU(); simOK {
			f.simCPU = simAfter - simBefore
		}
		if pgAfter, _ := pgtest.ServerCPU(); pgOK {
			f.dbCPU = pgAfter - pgBefore
		}
		// VmHWM of the child's own image, in kB ("123456 kB").
		raw, err := os.ReadFile(hwm)
		if err != nil {
			b.Fatalf("%s child wrote no peak RSS: %v", mode, err)
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(string(raw), "kB")), 10, 64)
		if err != nil {
			b.Fatalf("peak RSS %q: %v", raw, err)
		}
		f.rss = kb * 1024
		return f
	}
	st, err := db.Open(sim.ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	p := *sim.p
	p.ID = 0
	if days > 0 {
		p.AnalyzeFrom = sim.ten.Now().UTC().AddDate(0, 0, -days)
	}
	p.Environments = nil
	for _, e := range sim.p.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(sim.ctx, &p); err != nil {
		b.Fatal(err)
	}
	st.Close()
	var x benchFigures
	if warm {
		child("floor")
	}
	floor := child("floor")
	synced := child("1")
	if os.Getenv("CHILD_MEMTRACE") != "" || os.Getenv("CHILD_PHASETRACE") != "" {
		fmt.Fprintf(os.Stderr, "sync child:\n%s", synced.out)
	}
	st, err = db.Open(sim.ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(sim.ctx, storeRunFilter(p.ID))
	if err != nil {
		b.Fatal(err)
	}
	var reqs int64
	for _, r := range runs {
		if r.Status != sam.RunSucceeded {
			b.Fatalf("run %d (%s) ended %s: %s", r.ID, r.Kind, r.Status, r.Error)
		}
		x.rows += r.Counts["audit_rows"]
		reqs += r.Requests
	}
	for _, line := range strings.Split(synced.out, "\n") {
		if rest, ok := strings.CutPrefix(line, "phases: "); ok {
			b.Logf("sync phases: %s", rest)
			var subs, read, commit string
			if _, err := fmt.Sscanf(rest, "subscriptions %s activity read and staged %s activity commit %s", &subs, &read, &commit); err == nil {
				x.subs, _ = time.ParseDuration(strings.TrimSuffix(subs, ","))
				x.read, _ = time.ParseDuration(strings.TrimSuffix(read, ","))
				x.commit, _ = time.ParseDuration(commit)
			}
		}
	}
	b.Logf("%s: full sync %v (%d requests, %d audit rows), peak RSS %.1f MB; floor %v (%s, peak RSS %.1f MB); ratio %.2f",
		kind, synced.wall.Round(time.Millisecond), reqs, x.rows, float64(synced.rss)/(1<<20), floor.wall.Round(time.Millisecond),
		strings.TrimSpace(floor.out), float64(floor.rss)/(1<<20), float64(synced.wall)/float64(floor.wall))
	// The CPU the work took: the child's own, the simulator's (this
	// process) while it ran, and the PostgreSQL server's. The sync cannot
	// be shorter than their sum over the cores.
	b.Logf("%s: CPU of the full sync %.2fs, simulator %.2fs, database server %.2fs; of the floor %.2fs, simulator %.2fs; %d cores",
		kind, synced.cpu.Seconds(), synced.simCPU.Seconds(), synced.dbCPU.Seconds(), floor.cpu.Seconds(), floor.simCPU.Seconds(), runtime.NumCPU())
	x.wall, x.floor, x.rss = synced.wall, floor.wall, synced.rss
	x.cpu, x.simCPU, x.dbCPU, x.floorCPU, x.floorSimCPU = synced.cpu, synced.simCPU, synced.dbCPU, floor.cpu, floor.simCPU
	return x
}

// childFigures are what one child process (the floor or the sync) took:
// wall time, its peak RSS, its CPU time, the simulator's CPU time while
// it ran, and the PostgreSQL server's (zero on SQLite, or when the server
// is not pgtest's private cluster), and its output.
type childFigures struct {
	wall, cpu, simCPU, dbCPU time.Duration
	rss                      int64
	out                      string
}

// childFloor fetches and decodes every page a full sync reads (users,
// systemusers and audits of each environment) with the bare clients and
// nothing else, and prints what it read.
func childFloor() error {
	ctx := context.Background()
	st, err := openChildStore()
	if err != nil {
		return err
	}
	p, err := st.ProfileByName(ctx, "sim")
	st.Close()
	if err != nil {
		return err
	}
	hc, err := odata.NewHTTPClient(p.CAFile)
	if err != nil {
		return err
	}
	pageSize, _ := strconv.Atoi(os.Getenv("CHILD_PAGE"))
	src, err := ingest.NewSources(p, os.Getenv("CHILD_SECRET"), ingest.ClientOptions{HTTPClient: hc, AuditPageSize: pageSize})
	if err != nil {
		return err
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv("CHILD_NOW"))
	if err != nil {
		return err
	}
	if os.Getenv("CHILD_MEMTRACE") != "" {
		go func() {
			var sys uint64
			for range time.Tick(50 * time.Millisecond) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.Sys > sys+8<<20 {
					sys = ms.Sys
					fmt.Fprintf(os.Stderr, "floor sampled: heap in use %d MB, sys %d MB; ", ms.HeapInuse>>20, ms.Sys>>20)
				}
			}
		}()
	}
	users, rows := 0, 0
	floorStart := time.Now()
	if _, err := src.Graph.SubscribedSKUs(ctx); err != nil {
		return err
	}
	next := "/users?$select=id,userPrincipalName,displayName,department,country,accountEnabled,assignedLicenses,licenseAssignmentStates,signInActivity&$top=999"
	for next != "" {
		pg, err := src.Graph.UsersPage(ctx, next)
		if err != nil {
			return err
		}
		users += len(pg.Users)
		next = pg.NextLink
		if os.Getenv("CHILD_FLOORTRACE") != "" && users%(999*20) == 0 {
			fmt.Fprintf(os.Stderr, "[users %d %.2fs] ", users, time.Since(floorStart).Seconds())
		}
	}
	for _, env := range p.Environments {
		dv, err := src.Dataverse(env)
		if err != nil {
			return err
		}
		if _, err := dv.AuditSettings(ctx); err != nil {
			return err
		}
		if os.Getenv("CHILD_FLOORTRACE") != "" {
			fmt.Fprintf(os.Stderr, "[env %s %.2fs] ", env.URL, time.Since(floorStart).Seconds())
		}
		for next := ingest.SystemUsersQuery; next != ""; {
			pg, err := dv.SystemUsersPage(ctx, next)
			if err != nil {
				return err
			}
			next = pg.NextLink
		}
		for next := ingest.AuditsQuery(ingest.AnalysisStart(p, now), false); next != ""; {
			pg, err := dv.AuditsPage(ctx, next)
			if err != nil {
				return err
			}
			rows += len(pg.Rows)
			next = pg.NextLink
			if os.Getenv("CHILD_FLOORTRACE") != "" && rows%500000 < 5000 {
				fmt.Fprintf(os.Stderr, "[rows %d] ", rows)
			}
		}
	}
	fmt.Printf("%d users, %d audit rows", users, rows)
	return nil
}
