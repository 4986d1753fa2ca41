package ingest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// BenchmarkAuditBackfill measures the activity backfill, the audit phase of
// an activity run (every audit page of the analysis window read, aggregated
// and staged with its checkpoints into SQLite), against the in-process
// simulator with a fixed latency on every Dataverse request and Microsoft's
// service-protection limits enforced (52 concurrent requests, 6,000
// requests and 20 minutes of execution time per 5 minutes, per identity and
// environment). In every iteration the same tenant is read twice, side by
// side: sequentially (Syncer.AuditStreams 1: one listing, page after page,
// with the pages read ahead while a batch is staged) and in parallel (the
// default: createdon ranges read as concurrent streams), each into a fresh
// database, both measured for real (nothing extrapolated). Pages are
// Dataverse's largest (odata.maxpagesize=5000) in both.
//
// Run it as
//
//	SEATWISE_BACKFILL=100000@30 SEATWISE_BACKFILL_LATENCY=300ms go test ./internal/ingest -run '^$' -bench AuditBackfill -benchtime 1x -timeout 60m
//
// SEATWISE_BACKFILL is USERS@DAYS: the generated tenant (two environments)
// and the analysis window; 100000@30 holds about 2 million audit rows.
// Default 2000@30. SEATWISE_BACKFILL_LATENCY is the latency of every
// Dataverse request (default 300ms), SEATWISE_BACKFILL_JITTER a random extra
// up to that much (default 0). The system users of each environment are read
// before its audits in both modes and are not part of the figure; nor is
// the activity commit, which is the same in both (commit-s reports it).
//
// Metrics: parallel-s and sequential-s (the backfill's wall time), ratio
// (parallel / sequential; the target is at most 0.15), 429s (throttled
// answers the parallel backfill received), limit-violations (requests
// beyond the concurrency limit, counted by the simulator over both runs;
// must be 0), peak-concurrent (most Dataverse requests in flight at once),
// audit-rows (read by each run), requests (the parallel run's) and
// commit-s (the parallel run's activity commit), stage-s (the parallel
// run's time in StageActivity, which bounds it when the store is slower than
// the reads), parallel-cpu-s and sequential-cpu-s (CPU time of this
// process, simulator and sync together, during each backfill: a parallel
// backfill whose CPU time approaches its wall time times the cores is bound
// by the machine, not by Microsoft's latency).
//
// Unless SEATWISE_BACKFILL_PAGING=0, each iteration also reads both ways
// with the evidence aggregated but not written (checkpoints saved only):
// paging-parallel-s, paging-sequential-s and paging-ratio isolate the
// paging from the store's staging speed.
func BenchmarkAuditBackfill(b *testing.B) {
	spec := os.Getenv("SEATWISE_BACKFILL")
	if spec == "" {
		spec = "2000@30"
	}
	u, d, _ := strings.Cut(spec, "@")
	users, err := strconv.Atoi(u)
	if err != nil || users <= 0 {
		b.Fatalf("SEATWISE_BACKFILL: %q: want USERS@DAYS", spec)
	}
	days, err := strconv.Atoi(d)
	if err != nil || days <= 0 {
		b.Fatalf("SEATWISE_BACKFILL: %q: want USERS@DAYS", spec)
	}
	latency, jitter := 300*time.Millisecond, time.Duration(0)
	if v := os.Getenv("SEATWISE_BACKFILL_LATENCY"); v != "" {
		if latency, err = time.ParseDuration(v); err != nil {
			b.Fatalf("SEATWISE_BACKFILL_LATENCY: %v", err)
		}
	}
	if v := os.Getenv("SEATWISE_BACKFILL_JITTER"); v != "" {
		if jitter, err = time.ParseDuration(v); err != nil {
			b.Fatalf("SEATWISE_BACKFILL_JITTER: %v", err)
		}
	}
	cfg := generated(99, users, 2)
	cfg.Limits = mscloud.MicrosoftLimits()
	sim := setup(b, cfg)
	if err := sim.srv.SetFaults(mscloud.Faults{Dataverse: mscloud.FaultRates{Latency: mscloud.Duration(latency), Jitter: mscloud.Duration(jitter)}}); err != nil {
		b.Fatal(err)
	}
	from := sim.ten.Now().AddDate(0, 0, -days)
	b.ResetTimer()
	var par, seq, ppar, pseq backfillRun
	pagingOnly := os.Getenv("SEATWISE_BACKFILL_PAGING") != "0"
	for i := 0; i < b.N; i++ {
		sim.srv.ResetCounters()
		seq = measureBackfill(b, sim, 1, from, fmt.Sprintf("seq%d.db", i), false)
		par = measureBackfill(b, sim, 0, from, fmt.Sprintf("par%d.db", i), false)
		if seq.rows != par.rows || seq.days != par.days {
			b.Fatalf("the backfills differ: sequential %d audit rows, %d activity days; parallel %d rows, %d days", seq.rows, seq.days, par.rows, par.days)
		}
		if pagingOnly {
			pseq = measureBackfill(b, sim, 1, from, fmt.Sprintf("pseq%d.db", i), true)
			ppar = measureBackfill(b, sim, 0, from, fmt.Sprintf("ppar%d.db", i), true)
			if pseq.rows != par.rows || ppar.rows != par.rows {
				b.Fatalf("paging only: %d and %d audit rows, want %d", pseq.rows, ppar.rows, par.rows)
			}
		}
	}
	c := sim.srv.Counters()
	b.ReportMetric(par.backfill.Seconds(), "parallel-s")
	b.ReportMetric(seq.backfill.Seconds(), "sequential-s")
	b.ReportMetric(par.backfill.Seconds()/seq.backfill.Seconds(), "ratio")
	b.ReportMetric(float64(par.throttles), "429s")
	b.ReportMetric(float64(c.LimitViolations["dataverse"]), "limit-violations")
	b.ReportMetric(float64(c.PeakConcurrent["dataverse"]), "peak-concurrent")
	b.ReportMetric(float64(par.rows), "audit-rows")
	b.ReportMetric(float64(par.requests), "requests")
	b.ReportMetric(par.commit.Seconds(), "commit-s")
	b.ReportMetric(par.stage.Seconds(), "stage-s")
	b.ReportMetric(par.cpu.Seconds(), "parallel-cpu-s")
	b.ReportMetric(seq.cpu.Seconds(), "sequential-cpu-s")
	if pagingOnly {
		b.ReportMetric(ppar.backfill.Seconds(), "paging-parallel-s")
		b.ReportMetric(pseq.backfill.Seconds(), "paging-sequential-s")
		b.ReportMetric(ppar.backfill.Seconds()/pseq.backfill.Seconds(), "paging-ratio")
		b.Logf("paging alone (evidence aggregated, not written): sequential %v, parallel %v, ratio %.3f",
			pseq.backfill.Round(time.Millisecond), ppar.backfill.Round(time.Millisecond), ppar.backfill.Seconds()/pseq.backfill.Seconds())
	}
	b.Logf("%d audit rows, latency %v: sequential %v (%d requests), parallel %v (%d requests, %d throttled), ratio %.3f; simulator: peak %d in flight, %d beyond the limit, enforced %v",
		par.rows, latency, seq.backfill.Round(time.Millisecond), seq.requests, par.backfill.Round(time.Millisecond), par.requests, par.throttles,
		par.backfill.Seconds()/seq.backfill.Seconds(), c.PeakConcurrent["dataverse"], c.LimitViolations["dataverse"], c.Enforced)
}

// benchBatch is Syncer.StageBatchRows of the benchmark's runs
// (SEATWISE_BACKFILL_BATCH; 0: the default).
var benchBatch, _ = strconv.Atoi(os.Getenv("SEATWISE_BACKFILL_BATCH"))

// benchTrace logs every progress event of the audit phases
// (SEATWISE_BACKFILL_TRACE=1).
var benchTrace = os.Getenv("SEATWISE_BACKFILL_TRACE") != ""

// backfillRun is what one measured activity run did.
type backfillRun struct {
	backfill, commit, stage, cpu    time.Duration
	rows, days, requests, throttles int64
}

// measureBackfill runs an activity run of sim's tenant from `from` with
// streams audit streams into a fresh database and times its audit phases:
// from the last system-users page of each environment to the next
// environment's settings (or the commit).
func measureBackfill(b *testing.B, sim *bundle, streams int, from time.Time, name string, discard bool) backfillRun {
	b.Helper()
	path := newProfileDB(b, sim, b.TempDir(), name)
	st := openStore(b, path)
	p, err := st.ProfileByName(sim.ctx, "sim")
	if err != nil {
		b.Fatal(err)
	}
	p.AnalyzeFrom = from
	if err := st.UpdateProfile(sim.ctx, p); err != nil {
		b.Fatal(err)
	}
	src, err := ingest.NewSources(p, sim.srv.Info().ClientSecret, ingest.ClientOptions{HTTPClient: sim.srv.Client(),
		Budgets: odata.NewBudgets(odata.BudgetConfig{})})
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu               sync.Mutex
		cpuStart, cpu    time.Duration
		auditStart       time.Time
		backfill         time.Duration
		commitAt, doneAt time.Time
	)
	ts := &timedStore{Store: st, discard: discard}
	sy := &ingest.Syncer{Store: ts, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: sim.ten.Now, AuditStreams: streams, StageBatchRows: benchBatch,
		Progress: func(pr ingest.Progress) {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			if benchTrace && !auditStart.IsZero() {
				fmt.Fprintf(os.Stderr, "streams %d %s +%v items %d requests %d\n", streams, pr.Phase, now.Sub(auditStart).Round(time.Millisecond), pr.Items, pr.Requests)
			}
			switch pr.Phase {
			case "systemusers":
				auditStart, cpuStart = now, processCPU()
			case "settings", "commit":
				if !auditStart.IsZero() {
					backfill += now.Sub(auditStart)
					cpu += processCPU() - cpuStart
					auditStart = time.Time{}
				}
				if pr.Phase == "commit" {
					commitAt = now
				}
			}
		}}
	if p, err = st.Profile(sim.ctx, p.ID); err != nil {
		b.Fatal(err)
	}
	ar, err := sy.Activity(sim.ctx, p)
	if err != nil {
		b.Fatalf("activity: %v", err)
	}
	doneAt = time.Now()
	if discard {
		return backfillRun{backfill: backfill, cpu: cpu, rows: ar.Run.Counts["audit_rows"], requests: ar.Run.Requests, throttles: ar.Run.Throttles}
	}
	truth, err := sim.ten.Truth(time.Time{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	days := int64(0)
	for _, u := range truth.Users {
		ds, err := st.ActivityDays(sim.ctx, p.ID, u.UserID, from.AddDate(0, 0, -1), sim.ten.Now().AddDate(0, 0, 1))
		if err != nil {
			b.Fatal(err)
		}
		days += int64(len(ds))
	}
	b.Logf("streams %d: %d evidence rows staged in %v", streams, ts.staged, ts.stage)
	return backfillRun{backfill: backfill, cpu: cpu, stage: ts.stage, commit: doneAt.Sub(commitAt), rows: ar.Run.Counts["audit_rows"], days: days,
		requests: ar.Run.Requests, throttles: ar.Run.Throttles}
}

// timedStore adds up the time spent staging activity; with discard it
// stages no evidence (for the paging-only figures).
type timedStore struct {
	store.Store
	stage   time.Duration
	staged  int64
	discard bool // save the run's checkpoint only, not the evidence
}

func (t *timedStore) StageActivity(ctx context.Context, r *sam.Run, rows []store.StagedActivity) error {
	start := time.Now()
	defer func() { t.stage += time.Since(start) }()
	t.staged += int64(len(rows))
	if t.discard {
		return t.Store.SaveRunProgress(ctx, r)
	}
	return t.Store.StageActivity(ctx, r, rows)
}

// processCPU returns the CPU time (user and system) this process has used:
// the simulator's and the sync's together.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
