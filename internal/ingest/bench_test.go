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

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// TestBenchmarkFullSync measures a full sync (subscriptions and activity)
// of generated tenants against the in-process simulator: wall time, peak RSS
// of the syncing process, and the ratio to the floor, the time a bare client
// takes to fetch and decode the same pages in the same setting. The sync and
// the floor each run in a child process (the simulator stays in this one), so
// that the RSS is the sync's own (VmHWM read by the child itself: getrusage
// would count the parent's pages shared before exec). It runs only with SEATWISE_BENCH set to a
// comma-separated list of user counts, e.g. SEATWISE_BENCH=10000,100000; a
// count may name a shorter analysis window in days, e.g. 100000@27 (about 2
// million audit rows of the generated 100,000-user tenant instead of 6.6
// million in 90 days).
func TestBenchmarkFullSync(t *testing.T) {
	spec := os.Getenv("SEATWISE_BENCH")
	if spec == "" {
		t.Skip("set SEATWISE_BENCH=10000,100000 to run the sync benchmark")
	}
	for _, f := range strings.Split(spec, ",") {
		// "USERS" or "USERS@DAYS": DAYS shortens the analysis window
		// (the profile's AnalyzeFrom) from the default 90 days, so that
		// fewer audit rows are read.
		f, d, windowed := strings.Cut(strings.TrimSpace(f), "@")
		users, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("SEATWISE_BENCH: %v", err)
		}
		days := 0
		name := fmt.Sprintf("%d users", users)
		if windowed {
			if days, err = strconv.Atoi(d); err != nil || days <= 0 {
				t.Fatalf("SEATWISE_BENCH: analysis window %q: want a number of days", d)
			}
			name += fmt.Sprintf(" %d days", days)
		}
		t.Run(name, func(t *testing.T) { benchSync(t, users, days) })
	}
}

func benchSync(t *testing.T, users, days int) {
	b := setup(t, generated(99, users, 2))
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := func(mode, db string) (time.Duration, int64, string) {
		hwm := filepath.Join(dir, mode+".hwm")
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+mode, "CHILD_DB="+db, "CHILD_SECRET="+b.srv.Info().ClientSecret,
			"CHILD_NOW="+b.ten.Now().Format(time.RFC3339Nano), "CHILD_PAGE=5000", "CHILD_HWM="+hwm)
		out := &limitedBuffer{max: 8192}
		cmd.Stdout, cmd.Stderr = out, out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s child: %v\n%s", mode, err, out)
		}
		wall := time.Since(start)
		// VmHWM of the child's own image, in kB ("123456 kB").
		raw, err := os.ReadFile(hwm)
		if err != nil {
			t.Fatalf("%s child wrote no peak RSS: %v", mode, err)
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(string(raw), "kB")), 10, 64)
		if err != nil {
			t.Fatalf("peak RSS %q: %v", raw, err)
		}
		return wall, kb * 1024, out.String()
	}
	db := filepath.Join(dir, "bench.db")
	st := openStore(t, db)
	p := *b.p
	p.ID = 0
	if days > 0 {
		p.AnalyzeFrom = b.ten.Now().UTC().AddDate(0, 0, -days)
	}
	p.Environments = nil
	for _, e := range b.p.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(b.ctx, &p); err != nil {
		t.Fatal(err)
	}
	st.Close()
	floorWall, floorRSS, floorOut := child("floor", db)
	syncWall, syncRSS, syncOut := child("1", db)
	if os.Getenv("CHILD_MEMTRACE") != "" {
		t.Logf("sync child:\n%s", syncOut)
	}
	runs, err := openStore(t, db).Runs(b.ctx, storeRunFilter(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	var rows, reqs int64
	for _, r := range runs {
		rows += r.Counts["audit_rows"]
		reqs += r.Requests
	}
	for _, line := range strings.Split(syncOut, "\n") {
		if strings.HasPrefix(line, "phases: ") {
			t.Logf("sync %s", line)
		}
	}
	t.Logf("%d users: full sync %v (%d requests, %d audit rows), peak RSS %.1f MB; floor %v (%s, peak RSS %.1f MB); ratio %.2f",
		users, syncWall.Round(time.Millisecond), reqs, rows, float64(syncRSS)/(1<<20), floorWall.Round(time.Millisecond),
		strings.TrimSpace(floorOut), float64(floorRSS)/(1<<20), float64(syncWall)/float64(floorWall))
	if syncRSS > 256<<20 {
		t.Errorf("peak RSS %.1f MB, target < 256 MB", float64(syncRSS)/(1<<20))
	}
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
			fmt.Fprintf(os.Stderr, "[users %d] ", users)
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
			fmt.Fprintf(os.Stderr, "[env %s] ", env.URL)
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
