package main

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Entry is one `go test -bench` invocation of a section.
type Entry struct {
	Pkg   string // e.g. ./internal/ingest
	Bench string // the -bench pattern
	// Env and Benchtime are the full run's; QuickEnv and QuickBenchtime
	// replace them with -quick (nil / "" keep the full ones).
	Env, QuickEnv             []string // NAME=VALUE
	Benchtime, QuickBenchtime string   // default 1x
	// QuickList: with -quick the benchmark is not run (its size is fixed
	// and large) but `go test -list` must find it.
	QuickList bool
}

// Section is a part of BENCHMARKS.md: what is measured, how, and the
// figures of its entries.
type Section struct {
	ID, Title string
	Method    string // markdown, how the figure is obtained
	Entries   []Entry
	// Render writes the figures (markdown) and returns the targets checked;
	// nil renders a generic table of every metric.
	Render func(b *strings.Builder, rs []Result) []Target
	// Pending says why the section's benchmark may not exist yet; a
	// pending section without figures does not fail the run.
	Pending string
}

// pending are the sections whose benchmark is still being written (none
// now; a section listed here may lack figures without failing the run).
var pending = map[string]bool{}

// Target is one target checked against a figure.
type Target struct {
	What   string // e.g. "full sync, 10,000 users, SQLite: ratio"
	Target string // e.g. "< 1.5"
	Figure string
	Met    bool
	Miss   string // by how much, when missed
}

// below checks value < limit.
func below(what string, value, limit float64, unit string) Target {
	t := Target{What: what, Target: "< " + num(limit) + unit, Figure: precise(value) + unit, Met: value < limit}
	if !t.Met {
		t.Miss = fmt.Sprintf("by %s%s (%s×)", num(value-limit), unit, num(value/limit))
	}
	return t
}

// sections are the report's parts, in order.
func sections() []Section {
	return []Section{
		{
			ID: "sync", Title: "Full sync (subscriptions + activity) against the simulator",
			Method: "The simulator runs in the benchmark process with a generated tenant (two Dataverse environments, 120 days of " +
				"history); the sync runs in a child process into a fresh database and reports its own peak RSS (`VmHWM`). The " +
				"**floor** is the same pages fetched and decoded by bare clients (Graph users, Dataverse system users and audits, " +
				"same page sizes, one listing after the other) in another child process of the same iteration. The sync reads " +
				"subscriptions (Graph) and activity (Dataverse) side by side, as `seatwise sync` and the sync job do, and commits " +
				"the activity after the subscriptions. Ratio = sync wall time / floor wall time. " +
				"`100000, 27 days` is the 100,000-user tenant with a 27-day analysis window: about 2 million audit rows. " +
				"PostgreSQL is a throwaway local cluster (`internal/pgtest`); its server's memory is not in the RSS. Each size and " +
				"database is measured over two iterations, each with a fresh database, its own floor and its own sync: on this " +
				"2-core machine the floor alone varies by about 5% from one run to the next, so the ratio is the two syncs' total " +
				"time over the two floors' (times in the table are averages, the peak RSS the largest; as with every " +
				"`-benchtime Nx`, Go runs one more iteration first and reports the N after it). The simulator's first listing of " +
				"a tenant is slower than the next ones (about 11.5 s against 10 s for the 100,000-user floor), so each tenant's " +
				"first iteration starts with an untimed floor. The CPU columns are seconds of CPU (user and system) per iteration: " +
				"the child process's own, the simulator's while the child ran (the benchmark process's), and the PostgreSQL " +
				"server's processes' (read from `/proc`). Their sum over the cores is the shortest the sync could take with " +
				"every core busy; where a ratio is missed, the explanation gives that bound.",
			Entries: []Entry{{Pkg: "./internal/ingest", Bench: "^BenchmarkFullSync$", Env: []string{"SEATWISE_BENCH=10000,100000@27"},
				Benchtime: "2x",
				QuickEnv:  []string{"SEATWISE_BENCH=300"}}},
			Render: renderSync,
		},
		{
			ID: "refresh", Title: "Daily refresh: requests as a fraction of a full sync",
			Method: "A generated tenant is synced in full, its clock moves one day during which 0.5% of its users change " +
				"(leavers, hires with a licence, department changes), and the next day's sync runs as the daily job does: a Graph " +
				"delta round for subscriptions, the audits since the last run for activity. Requests are Graph and Dataverse " +
				"requests (token requests excluded).",
			Entries: []Entry{{Pkg: "./internal/tools/benchreport", Bench: "^BenchmarkDailyRefresh$", Env: []string{"SEATWISE_BENCH_USERS=10000"},
				QuickEnv: []string{"SEATWISE_BENCH_USERS=200"}}},
			Render: renderRefresh,
		},
		{
			ID: "backfill", Title: "Parallel activity backfill vs sequential paging",
			Method: "The audit phase of an activity run (every audit page of the analysis window read, aggregated and staged " +
				"with its checkpoints into SQLite) against the in-process simulator with 300 ms latency on every Dataverse request " +
				"and Microsoft's service-protection limits enforced (52 concurrent requests, 6,000 requests and 20 minutes of " +
				"execution time per 5 minutes, per identity and environment). The same tenant (100,000 users, two environments, " +
				"a 30-day window: about 2 million audit rows) is read twice in one iteration, side by side: sequentially (one " +
				"listing, pages read ahead while a batch is staged) and in parallel (createdon ranges read as concurrent streams), " +
				"each into a fresh SQLite database; pages of 5,000 rows in both. Both ways are also read with the evidence " +
				"aggregated but not written (paging alone), which isolates the paging from the store's staging speed. The " +
				"staging database is SQLite only: the wait this measures is on Dataverse.",
			Entries: []Entry{{Pkg: "./internal/ingest", Bench: "^BenchmarkAuditBackfill$",
				Env:      []string{"SEATWISE_BACKFILL=100000@30", "SEATWISE_BACKFILL_LATENCY=300ms"},
				QuickEnv: []string{"SEATWISE_BACKFILL=300@10", "SEATWISE_BACKFILL_LATENCY=5ms"}}},
			Render: renderBackfill,
		},
		{
			ID: "recon", Title: "Reconciliation",
			Method: "Subscriptions are seeded directly with SQL (10% closed, six software models, 50 departments, 20 countries, " +
				"entitlements per model); one op is one reconciliation of the profile (counts aggregated by the database from a " +
				"partial index of open subscriptions, positions computed in Go, the snapshot stored). The breakdown splits the " +
				"position of the same subscriptions by department and by country (SQLite).",
			Entries: []Entry{
				{Pkg: "./internal/recon", Bench: "^BenchmarkReconcile$", Env: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=1000000"},
					QuickEnv: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=2000"}},
				{Pkg: "./internal/recon", Bench: "^BenchmarkBreakdown$", Env: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=1000000"},
					QuickEnv: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=2000"}},
			},
			Render: renderRecon,
		},
		{
			ID: "reclaim", Title: "Reclamation: daily rule evaluation",
			Method: "The daily evaluation of a profile's reclamation rules on SQLite after the first one created the candidates " +
				"(a synced 10,000-user tenant, two environments): subscriptions evaluated per second, and the candidates the " +
				"first evaluation created.",
			Entries: []Entry{{Pkg: "./internal/reclaim", Bench: "^BenchmarkEvaluate$", Env: []string{"SEATWISE_BENCH_RECLAIM_USERS=10000"},
				QuickEnv: []string{"SEATWISE_BENCH_RECLAIM_USERS=200"}, Benchtime: "5x", QuickBenchtime: "1x"}},
		},
		{
			ID: "load", Title: "API under load",
			Method: "`seatwise serve`'s handler over 1,000,000 subscriptions, loaded from a second process over loopback " +
				"(wrk when it is installed, else the test binary re-executed as a Go load generator) by 200 concurrent " +
				"keep-alive clients for 20 measured seconds after a 3-second warm-up: 70% subscription listings (twelve filter " +
				"and sort orders, five pages each by cursor), 30% dashboard answers (HTML page, JSON dashboard, usage report), " +
				"each with a viewer's API token.",
			Entries: []Entry{{Pkg: "./internal/web", Bench: "^BenchmarkServeLoad$",
				Env:      []string{"SEATWISE_LOAD_SUBSCRIPTIONS=1000000", "SEATWISE_LOAD_CLIENTS=200", "SEATWISE_LOAD_SECONDS=20"},
				QuickEnv: []string{"SEATWISE_LOAD_SUBSCRIPTIONS=2000", "SEATWISE_LOAD_CLIENTS=10", "SEATWISE_LOAD_SECONDS=1"}}},
			Render: renderLoad,
		},
		{
			ID: "api", Title: "API, one client and 200 in-process clients",
			Method: "Through the whole handler chain (API token authentication, access check, JSON or HTML) over loopback, " +
				"SQLite, 1,000,000 subscriptions; one op is one request (the usage report is computed on the first request, " +
				"then cached until a run commits). `concurrent-200`: 200 clients in the same process as the server.",
			Entries: []Entry{{Pkg: "./internal/web", Bench: "^BenchmarkAPI$", Env: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=1000000"},
				QuickEnv: []string{"SEATWISE_BENCH_SUBSCRIPTIONS=2000"}, Benchtime: "50x", QuickBenchtime: "2x"}},
		},
		{
			ID: "store", Title: "Store: staging and committing runs (10,000 users)",
			Method: "The store's side of a sync without HTTP: a full subscriptions run of 10,000 users (12,500 subscriptions, " +
				"pages of 500), a delta run of 1% of them, an activity run of 50,000 staged rows, and a usage recompute.",
			Entries: []Entry{
				{Pkg: "./internal/store/sqlite", Bench: "^BenchmarkSync$", QuickList: true},
				{Pkg: "./internal/store/postgres", Bench: "^BenchmarkSync$", QuickList: true},
			},
		},
		{
			ID: "copy", Title: "Database copy, SQLite to PostgreSQL (`seatwise migrate-data`)",
			Method: "A SQLite database with 1,000,000 activity rows copied into a new PostgreSQL database, streamed in batches " +
				"in one transaction: rows per second, and the heap in use after the copy (it does not grow with the rows).",
			Entries: []Entry{{Pkg: "./internal/store/transfer", Bench: "^BenchmarkCopySQLiteToPostgres$", Env: []string{"SEATWISE_BENCH_COPY_ROWS=1000000"},
				QuickEnv: []string{"SEATWISE_BENCH_COPY_ROWS=2000"}}},
		},
		{
			ID: "jobs", Title: "Job queue: draining",
			Method: "2,000 no-op jobs enqueued together, claimed, run and recorded one by one by one runner with four workers " +
				"(three transactions per job).",
			Entries: []Entry{{Pkg: "./internal/job", Bench: "^BenchmarkDrain$", Benchtime: "2000x", QuickBenchtime: "20x"}},
		},
		{
			ID: "simulator", Title: "Simulator: pages served, 100,000-user tenant",
			Method: "One op is one page fetched over HTTPS from the in-process simulator by a plain `net/http` client that reads " +
				"the whole body but decodes only the next link (the simulator's cost, not a client's). Graph: `/users` with the " +
				"licensing properties, 999 users a page; Dataverse: `audits`, 5,000 rows a page with annotations.",
			Entries: []Entry{{Pkg: "./internal/mscloud", Bench: "^(BenchmarkGraphUsersPages|BenchmarkDataverseAuditPages)$",
				Benchtime: "50x", QuickList: true}},
		},
		{
			ID: "tenant", Title: "Simulated tenant model",
			Method: "Generating the 100,000-user tenant (memory per user), and a full scan of its audit rows (three environments, " +
				"120 days; rows are generated lazily per day from the seed, never stored).",
			Entries: []Entry{{Pkg: "./internal/mscloud/tenant", Bench: "^(BenchmarkGenerate100k|BenchmarkAuditScan)$", QuickList: true}},
		},
		{
			ID: "clients", Title: "Clients: decoding a page",
			Method: "A recorded page decoded by the client: Dataverse, 5,000 audit rows with annotations (3.1 MB); Graph, 999 users.",
			Entries: []Entry{
				{Pkg: "./internal/dataverse", Bench: "^BenchmarkAuditsPage$", Benchtime: "20x", QuickBenchtime: "1x"},
				{Pkg: "./internal/msgraph", Bench: "^BenchmarkUsersPage$", Benchtime: "20x", QuickBenchtime: "1x"},
			},
		},
	}
}

// dbName names a result's database.
func dbName(r Result) string {
	switch d := r.Label("db"); {
	case d == "sqlite" || strings.Contains(r.Name, "/sqlite"):
		return "SQLite"
	case d == "postgres" || strings.Contains(r.Name, "/postgres"):
		return "PostgreSQL"
	case d != "":
		return d
	case strings.HasPrefix(r.Name, "BenchmarkBreakdown/"):
		return "SQLite"
	}
	return ""
}

// sortByDB orders results by name with SQLite before PostgreSQL.
func sortByDB(rs []Result) {
	sort.SliceStable(rs, func(i, j int) bool {
		ki := strings.ReplaceAll(rs[i].Name, "postgres", "~")
		kj := strings.ReplaceAll(rs[j].Name, "postgres", "~")
		return ki < kj
	})
}

func renderSync(b *strings.Builder, rs []Result) []Target {
	var ts []Target
	var why []string
	b.WriteString("| users | window | database | audit rows read | full sync | floor | ratio | peak RSS (sync) | subscriptions committed / audits read and staged / activity commit | CPU of the sync: process / simulator / database server | CPU of the floor: process / simulator |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		window := "90 days"
		if d := r.Label("days"); d != "" {
			window = d + " days"
		}
		ratio, _ := r.Get("ratio")
		wall, _ := r.Get("wall-s")
		floor, _ := r.Get("floor-s")
		rss, _ := r.Get("peak-RSS-MB")
		rows, _ := r.Get("audit-rows")
		subs, _ := r.Get("subs-s")
		read, _ := r.Get("read-s")
		commit, _ := r.Get("commit-s")
		cpu, hasCPU := r.Get("sync-cpu-s")
		simCPU, _ := r.Get("sim-cpu-s")
		dbCPU, _ := r.Get("db-cpu-s")
		floorCPU, _ := r.Get("floor-cpu-s")
		floorSimCPU, _ := r.Get("floor-sim-cpu-s")
		syncCPU, floorCPUs := "", ""
		if hasCPU {
			syncCPU = fmt.Sprintf("%s / %s / %s s", fixed(cpu), fixed(simCPU), fixed(dbCPU))
			floorCPUs = fmt.Sprintf("%s / %s s", fixed(floorCPU), fixed(floorSimCPU))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s s | %s s | %s | %s MB | %s / %s / %s s | %s | %s |\n", thousands(r.Label("users")), window, dbName(r),
			num(rows), fixed(wall), fixed(floor), fixed(ratio), fixed(rss), fixed(subs), fixed(read), fixed(commit), syncCPU, floorCPUs)
		what := fmt.Sprintf("full sync, %s users (%s), %s", thousands(r.Label("users")), window, dbName(r))
		ts = append(ts, below(what+": ratio to the floor", ratio, 1.5, ""), below(what+": peak RSS", rss, 256, " MB"))
		if ratio >= 1.5 && floor > 0 {
			why = append(why, fmt.Sprintf("%s: the sync's %s s are the audit pages read and staged, %s s (the subscriptions run, "+
				"alongside, committed after %s s), then the activity commit, %s s; "+
				"the floor fetches and decodes the same pages in %s s, so the time beyond it is %s s, of which the commit (which the "+
				"floor does not do) is %s s.", what, fixed(wall), fixed(read), fixed(subs), fixed(commit), fixed(floor), fixed(wall-floor), fixed(commit)))
			cores, _ := r.Get("cores")
			if total := cpu + simCPU + dbCPU; hasCPU && total > 0 && cores > 0 {
				why[len(why)-1] += fmt.Sprintf(" The sync took %s s of CPU (its process %s, the simulator %s, the database server %s) "+
					"where the floor took %s: on %s cores it cannot take less than %s s, a ratio of %s, and it kept %s cores busy on average.",
					fixed(total), fixed(cpu), fixed(simCPU), fixed(dbCPU), fixed(floorCPU+floorSimCPU), num(cores), fixed(total/cores),
					fixed(total/cores/floor), fixed(total/wall))
			}
		}
	}
	writeWhy(b, why)
	return ts
}

// writeWhy lists the explanations of missed targets after a table.
func writeWhy(b *strings.Builder, why []string) {
	if len(why) == 0 {
		return
	}
	b.WriteString("\nWhere a target is missed:\n\n")
	for _, w := range why {
		b.WriteString("- " + w + "\n")
	}
}

func renderRefresh(b *strings.Builder, rs []Result) []Target {
	var ts []Target
	var why []string
	b.WriteString("| users | database | full sync requests | refresh requests | of which Graph / system users / audits / audit settings | users changed | refresh wall time | refresh / full |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		full, _ := r.Get("full-requests")
		ref, _ := r.Get("refresh-requests")
		pct, _ := r.Get("refresh-%")
		ch, _ := r.Get("changed-users")
		s, _ := r.Get("refresh-s")
		g, _ := r.Get("refresh-graph-requests")
		su, _ := r.Get("refresh-systemusers-requests")
		au, _ := r.Get("refresh-audits-requests")
		se, _ := r.Get("refresh-settings-requests")
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s / %s / %s / %s | %s | %s s | %s%% |\n", thousands(r.Label("users")), dbName(r), num(full), num(ref),
			num(g), num(su), num(au), num(se), num(ch), fixed(s), fixed(pct))
		what := fmt.Sprintf("daily refresh, %s users, %s", thousands(r.Label("users")), dbName(r))
		ts = append(ts, below(what+": requests of a full sync", pct, 3, "%"))
		if pct >= 3 && full > 0 {
			fixedReq := su + se
			why = append(why, fmt.Sprintf("%s: %s of the refresh's %s requests are read on every run whatever changed (the system users "+
				"listings, %s, and the audit settings, %s, of each environment); Graph took %s (subscribed SKUs and one delta round) "+
				"and the day's audit rows %s. Those per-run reads alone are %s%% of the full sync's %s requests; without the full "+
				"system users listings the refresh would be %s%%.", what, num(fixedReq), num(ref), num(su), num(se),
				num(g), num(au), fixed(100*fixedReq/full), num(full), fixed(100*(ref-su)/full)))
		}
	}
	writeWhy(b, why)
	return ts
}

func renderBackfill(b *strings.Builder, rs []Result) []Target {
	var ts []Target
	var why []string
	b.WriteString("| audit rows | parallel | sequential | parallel / sequential | paging alone: parallel / sequential | CPU parallel / sequential | requests (parallel) | 429 answers | peak concurrent | beyond the limit |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		par, _ := r.Get("parallel-s")
		seq, _ := r.Get("sequential-s")
		ratio, ok := r.Get("ratio")
		if !ok && seq > 0 {
			ratio = par / seq
		}
		n429, _ := r.Get("429s")
		viol, _ := r.Get("limit-violations")
		peak, _ := r.Get("peak-concurrent")
		rows, _ := r.Get("audit-rows")
		req, _ := r.Get("requests")
		paging := "–"
		pr, hasPaging := r.Get("paging-ratio")
		if hasPaging {
			pp, _ := r.Get("paging-parallel-s")
			ps, _ := r.Get("paging-sequential-s")
			paging = fmt.Sprintf("%s s / %s s = %s", fixed(pp), fixed(ps), fixed(pr))
		}
		cpuP, _ := r.Get("parallel-cpu-s")
		cpuS, _ := r.Get("sequential-cpu-s")
		fmt.Fprintf(b, "| %s | %s s | %s s | %s | %s | %s s / %s s | %s | %s | %s | %s |\n", num(rows), fixed(par), fixed(seq), fixed(ratio), paging,
			fixed(cpuP), fixed(cpuS), num(req), num(n429), num(peak), num(viol))
		t := Target{What: fmt.Sprintf("parallel backfill of %s audit rows: time of sequential paging", num(rows)), Target: "≤ 0.15",
			Figure: fixed(ratio), Met: ratio <= 0.15}
		if !t.Met {
			t.Miss = fmt.Sprintf("by %s (%s×)", num(ratio-0.15), num(ratio/0.15))
			stage, _ := r.Get("stage-s")
			w := fmt.Sprintf("the parallel backfill took %s s, of which %s s staging evidence into the database", fixed(par), fixed(stage))
			if hasPaging {
				w += fmt.Sprintf("; paging alone (evidence aggregated, not written) runs at %s of sequential", fixed(pr))
			}
			if cpuP > 0 && par > 0 {
				w += fmt.Sprintf("; the process used %s s of CPU in those %s s (%s cores busy on average)", fixed(cpuP), fixed(par), fixed(cpuP/par))
			}
			why = append(why, w+".")
		}
		v := Target{What: "parallel backfill: requests beyond the documented concurrency limit", Target: "0", Figure: num(viol), Met: viol == 0}
		if !v.Met {
			v.Miss = "by " + num(viol)
		}
		ts = append(ts, t, v)
	}
	writeWhy(b, why)
	return ts
}

func renderRecon(b *strings.Builder, rs []Result) []Target {
	var ts []Target
	b.WriteString("| benchmark | database | subscriptions | time per op | allocated per op | allocations per op |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		ns, _ := r.Get("ns/op")
		bytes, _ := r.Get("B/op")
		allocs, _ := r.Get("allocs/op")
		subs := r.Label("subscriptions")
		if v, ok := r.Get("subscriptions"); ok {
			subs = num(v)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", r.Name, dbName(r), thousands(subs), duration(ns), sizeOf(bytes), num(allocs))
		if strings.HasPrefix(r.Name, "BenchmarkReconcile/") {
			what := fmt.Sprintf("reconciliation of %s subscriptions, %s", thousands(subs), dbName(r))
			ts = append(ts, below(what, ns/1e9, 5, " s"))
		}
	}
	return ts
}

func renderLoad(b *strings.Builder, rs []Result) []Target {
	var ts []Target
	b.WriteString("| database | p50 | p99 | max | requests/s | errors |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		p50, _ := r.Get("p50-ms")
		p99, _ := r.Get("p99-ms")
		mx, _ := r.Get("max-ms")
		rps, _ := r.Get("rps")
		errs, _ := r.Get("errors")
		fmt.Fprintf(b, "| %s | %s ms | %s ms | %s ms | %s | %s |\n", dbName(r), fixed(p50), fixed(p99), fixed(mx), num(rps), num(errs))
		ts = append(ts, below("API under load, "+dbName(r)+": p99", p99, 100, " ms"))
		t := Target{What: "API under load, " + dbName(r) + ": errors", Target: "0", Figure: num(errs), Met: errs == 0}
		if !t.Met {
			t.Miss = "by " + num(errs) + " errors"
		}
		ts = append(ts, t)
	}
	return ts
}

// renderGeneric writes a table of every result with all its metrics.
func renderGeneric(b *strings.Builder, rs []Result) {
	var units []string
	seen := map[string]bool{}
	for _, r := range rs {
		for _, m := range r.Metrics {
			if !seen[m.Unit] {
				seen[m.Unit] = true
				units = append(units, m.Unit)
			}
		}
	}
	b.WriteString("| benchmark |")
	for _, u := range units {
		b.WriteString(" " + unitTitle(u) + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(units)) + "\n")
	// Benchmarks of the same name in several packages (the store's, one per
	// database) are told apart by their package.
	pkgs := map[string]bool{}
	for _, r := range rs {
		pkgs[r.Pkg] = true
	}
	for _, r := range rs {
		name := r.Name
		if len(pkgs) > 1 && r.Pkg != "" {
			name += " (" + path.Base(r.Pkg) + ")"
		}
		b.WriteString("| " + name + " |")
		for _, u := range units {
			v, ok := r.Get(u)
			cell := ""
			switch {
			case !ok:
			case u == "ns/op":
				cell = duration(v)
			case u == "B/op":
				cell = sizeOf(v)
			default:
				cell = num(v)
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
}

func unitTitle(u string) string {
	switch u {
	case "ns/op":
		return "time per op"
	case "B/op":
		return "allocated per op"
	case "allocs/op":
		return "allocations per op"
	}
	return u
}
