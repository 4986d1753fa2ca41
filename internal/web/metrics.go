package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Metrics collects HTTP request counts and durations and writes them, with
// figures read from the store, in the Prometheus text format (0.0.4).
type Metrics struct {
	s       *Server
	mu      sync.Mutex
	counts  map[reqKey]int64
	hist    map[string]*histogram
	started time.Time
}

type reqKey struct {
	route, method string
	status        int
}

// durationBuckets are the upper bounds (seconds) of the request duration
// histogram.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	buckets []int64 // cumulative counts are computed when written
	count   int64
	sum     float64
}

func newMetrics(s *Server) *Metrics {
	return &Metrics{s: s, counts: map[reqKey]int64{}, hist: map[string]*histogram{}, started: time.Now()}
}

func (m *Metrics) observe(route, method string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[reqKey{route, method, status}]++
	h := m.hist[route]
	if h == nil {
		h = &histogram{buckets: make([]int64, len(durationBuckets))}
		m.hist[route] = h
	}
	sec := d.Seconds()
	for i, b := range durationBuckets {
		if sec <= b {
			h.buckets[i]++
			break
		}
	}
	h.count++
	h.sum += sec
}

// labelValue escapes a label value of the text format.
func labelValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// write writes every series.
func (m *Metrics) write(ctx context.Context, w io.Writer) error {
	m.mu.Lock()
	keys := make([]reqKey, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.status < b.status
	})
	var sb strings.Builder
	sb.WriteString("# HELP seatwise_http_requests_total HTTP requests answered, by route pattern, method and status.\n")
	sb.WriteString("# TYPE seatwise_http_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&sb, "seatwise_http_requests_total{route=%q,method=%q,status=\"%d\"} %d\n", labelValue(k.route), k.method, k.status, m.counts[k])
	}
	routes := make([]string, 0, len(m.hist))
	for r := range m.hist {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	sb.WriteString("# HELP seatwise_http_request_duration_seconds Time to answer HTTP requests, by route pattern.\n")
	sb.WriteString("# TYPE seatwise_http_request_duration_seconds histogram\n")
	for _, r := range routes {
		h := m.hist[r]
		var cum int64
		for i, b := range durationBuckets {
			cum += h.buckets[i]
			fmt.Fprintf(&sb, "seatwise_http_request_duration_seconds_bucket{route=%q,le=%q} %d\n", labelValue(r), fmtFloat(b), cum)
		}
		fmt.Fprintf(&sb, "seatwise_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", labelValue(r), h.count)
		fmt.Fprintf(&sb, "seatwise_http_request_duration_seconds_sum{route=%q} %s\n", labelValue(r), fmtFloat(h.sum))
		fmt.Fprintf(&sb, "seatwise_http_request_duration_seconds_count{route=%q} %d\n", labelValue(r), h.count)
	}
	m.mu.Unlock()

	sb.WriteString("# HELP seatwise_process_start_time_seconds When the server started (Unix time).\n")
	sb.WriteString("# TYPE seatwise_process_start_time_seconds gauge\n")
	fmt.Fprintf(&sb, "seatwise_process_start_time_seconds %d\n", m.started.Unix())
	sb.WriteString("# HELP seatwise_goroutines Goroutines of the server process.\n# TYPE seatwise_goroutines gauge\n")
	fmt.Fprintf(&sb, "seatwise_goroutines %d\n", runtime.NumGoroutine())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sb.WriteString("# HELP seatwise_heap_bytes Bytes of allocated heap objects.\n# TYPE seatwise_heap_bytes gauge\n")
	fmt.Fprintf(&sb, "seatwise_heap_bytes %d\n", ms.HeapAlloc)

	if err := m.writeRuns(ctx, &sb); err != nil {
		return err
	}
	if err := m.writeJobs(ctx, &sb); err != nil {
		return err
	}
	if _, err := io.WriteString(w, sb.String()); err != nil {
		return err
	}
	return nil
}

// writeRuns writes what the newest run of each profile and kind did with
// Microsoft: records, requests, throttles, retries, and its outcome.
func (m *Metrics) writeRuns(ctx context.Context, sb *strings.Builder) error {
	profiles, err := m.s.cfg.Store.Profiles(ctx)
	if err != nil {
		return err
	}
	type series struct{ name, help, typ string }
	lines := map[string][]string{}
	add := func(name, labels string, v float64) {
		lines[name] = append(lines[name], fmt.Sprintf("%s{%s} %s", name, labels, fmtFloat(v)))
	}
	for _, p := range profiles {
		for _, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
			runs, err := m.s.cfg.Store.Runs(ctx, store.RunFilter{ProfileID: p.ID, Kind: kind, Limit: 1})
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				continue
			}
			r := runs[0]
			l := fmt.Sprintf("profile=%q,kind=%q", labelValue(p.Name), string(kind))
			add("seatwise_last_run_microsoft_requests", l, float64(r.Requests))
			add("seatwise_last_run_microsoft_throttles", l, float64(r.Throttles))
			add("seatwise_last_run_retries", l, float64(r.Retries))
			var records int64
			for _, n := range r.Counts {
				records += n
			}
			add("seatwise_last_run_records", l, float64(records))
			add("seatwise_last_run_start_time_seconds", l, float64(r.StartedAt.Unix()))
			ok := 0.0
			if r.Status == sam.RunSucceeded {
				ok = 1
			}
			add("seatwise_last_run_succeeded", l, ok)
			if r.FinishedAt != nil {
				add("seatwise_last_run_duration_seconds", l, r.FinishedAt.Sub(r.StartedAt).Seconds())
			}
		}
	}
	for _, s := range []series{
		{"seatwise_last_run_microsoft_requests", "Microsoft requests made by the newest run of each profile and kind.", "gauge"},
		{"seatwise_last_run_microsoft_throttles", "Throttled Microsoft answers (429, 503 with Retry-After) seen by the newest run.", "gauge"},
		{"seatwise_last_run_retries", "Retries of the newest run.", "gauge"},
		{"seatwise_last_run_records", "Records processed (sum of the run's counts) by the newest run.", "gauge"},
		{"seatwise_last_run_start_time_seconds", "When the newest run started (Unix time).", "gauge"},
		{"seatwise_last_run_succeeded", "1 when the newest run succeeded, 0 when it failed or is running.", "gauge"},
		{"seatwise_last_run_duration_seconds", "How long the newest finished run took.", "gauge"},
	} {
		if len(lines[s.name]) == 0 {
			continue
		}
		fmt.Fprintf(sb, "# HELP %s %s\n# TYPE %s %s\n", s.name, s.help, s.name, s.typ)
		for _, l := range lines[s.name] {
			sb.WriteString(l + "\n")
		}
	}
	return nil
}

// maxJobsCounted bounds the jobs read per state for the open-job gauges.
const maxJobsCounted = 1000

// writeJobs writes the job queue's figures: open jobs by state (counted up
// to maxJobsCounted), jobs running in this instance, and the duration and
// outcome of the newest finished job of each kind.
func (m *Metrics) writeJobs(ctx context.Context, sb *strings.Builder) error {
	jr := m.s.cfg.Jobs
	if jr == nil {
		return nil
	}
	sb.WriteString("# HELP seatwise_jobs_open Jobs waiting or running in the queue (all instances), counted up to 1000.\n# TYPE seatwise_jobs_open gauge\n")
	for _, st := range []job.State{job.StateAvailable, job.StateRunning} {
		js, err := jr.Jobs(ctx, job.JobFilter{State: st, Limit: maxJobsCounted})
		if err != nil {
			return err
		}
		fmt.Fprintf(sb, "seatwise_jobs_open{state=%q} %d\n", string(st), len(js))
	}
	sb.WriteString("# HELP seatwise_jobs_running_here Jobs this instance is working on.\n# TYPE seatwise_jobs_running_here gauge\n")
	fmt.Fprintf(sb, "seatwise_jobs_running_here %d\n", len(jr.Running()))
	recent, err := jr.Jobs(ctx, job.JobFilter{Limit: 200})
	if err != nil {
		return err
	}
	seen := map[job.Kind]bool{}
	var dur, ok []string
	for _, j := range recent {
		if !j.State.Final() || seen[j.Kind] || j.FinishedAt == nil {
			continue
		}
		seen[j.Kind] = true
		l := fmt.Sprintf("kind=%q", string(j.Kind))
		if j.StartedAt != nil {
			dur = append(dur, fmt.Sprintf("seatwise_job_last_duration_seconds{%s} %s", l, fmtFloat(j.FinishedAt.Sub(*j.StartedAt).Seconds())))
		}
		v := 0
		if j.State == job.StateSucceeded {
			v = 1
		}
		ok = append(ok, fmt.Sprintf("seatwise_job_last_succeeded{%s,state=%q} %d", l, string(j.State), v))
	}
	sort.Strings(dur)
	sort.Strings(ok)
	if len(dur) > 0 {
		sb.WriteString("# HELP seatwise_job_last_duration_seconds Duration of the newest finished job of each kind (its last attempt).\n# TYPE seatwise_job_last_duration_seconds gauge\n")
		sb.WriteString(strings.Join(dur, "\n") + "\n")
	}
	if len(ok) > 0 {
		sb.WriteString("# HELP seatwise_job_last_succeeded 1 when the newest finished job of each kind succeeded; state says how it ended.\n# TYPE seatwise_job_last_succeeded gauge\n")
		sb.WriteString(strings.Join(ok, "\n") + "\n")
	}
	return nil
}

func (s *Server) opsRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/healthz", Access: public, Summary: "Liveness: the process answers", Tag: "operations",
			Content: "text/plain", Handler: func(s *Server, w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, err := io.WriteString(w, "ok\n")
				return err
			}},
		{Method: "GET", Path: "/readyz", Access: public, Summary: "Readiness: the database answers", Tag: "operations",
			Content: "text/plain", Handler: func(s *Server, w http.ResponseWriter, r *http.Request) error {
				ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
				defer cancel()
				if _, err := s.cfg.Store.Users(ctx); err != nil {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, "database unavailable\n")
					s.log.Warn("not ready", "error", err)
					return nil
				}
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, err := io.WriteString(w, "ready\n")
				return err
			}},
		{Method: "GET", Path: "/metrics", Access: s.metricsAccess, Summary: "Prometheus metrics (who may read them: metrics_access)", Tag: "operations",
			Content: "text/plain", Handler: func(s *Server, w http.ResponseWriter, r *http.Request) error {
				var sb strings.Builder
				if err := s.metrics.write(r.Context(), &sb); err != nil {
					return sam.Wrap(sam.EUNAVAILABLE, err, "collect metrics")
				}
				w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
				_, err := io.WriteString(w, sb.String())
				return err
			}},
	}
}
