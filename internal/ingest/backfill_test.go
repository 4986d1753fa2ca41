package ingest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// newProfileDB creates a SQLite database in dir holding a copy of b's
// profile (named "sim", environments without ids) and returns its path.
func newProfileDB(t testing.TB, b *bundle, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	st := openStore(t, path)
	p := *b.p
	p.ID = 0
	p.Environments = nil
	for _, e := range b.p.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(b.ctx, &p); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncOpts are how syncInto reads.
type syncOpts struct {
	streams, pageSize, batch int
	budgets                  *odata.Budgets
}

// syncInto syncs b's tenant (subscriptions, then activity) into the
// database at path and returns the activity result.
func syncInto(t *testing.T, b *bundle, path string, o syncOpts) *ingest.ActivityResult {
	t.Helper()
	st := openStore(t, path)
	p, err := st.ProfileByName(b.ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewSources(p, b.srv.Info().ClientSecret, ingest.ClientOptions{HTTPClient: b.srv.Client(),
		BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxAttempts: 20, AuditPageSize: o.pageSize, Budgets: o.budgets})
	if err != nil {
		t.Fatal(err)
	}
	sy := &ingest.Syncer{Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: b.ten.Now, StageBatchRows: o.batch, AuditStreams: o.streams}
	if _, err := sy.Subscriptions(b.ctx, p, ingest.SubscriptionOptions{}); err != nil {
		t.Fatalf("subscriptions: %v", err)
	}
	if p, err = st.Profile(b.ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	ar, err := sy.Activity(b.ctx, p)
	if err != nil {
		t.Fatalf("activity: %v", err)
	}
	return ar
}

// TestParallelBackfillEqualsSequential reads the same audit log page after
// page and as parallel createdon ranges (small pages, so that ranges are
// split many times; small batches, so that many checkpoints are written)
// and compares the databases: subscriptions, activity days and units must
// be identical. With Microsoft's limits enforced no request goes beyond the
// concurrency limit; with a lower enforced limit than the client's ceiling
// the client meets 429s, backs off and still ends identical.
func TestParallelBackfillEqualsSequential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		limits     mscloud.Limits
		throttled  bool
		violations bool
	}{
		{"Microsoft's limits", mscloud.MicrosoftLimits(), false, false},
		{"a concurrency limit of 3 enforced", mscloud.Limits{DataverseConcurrent: 3}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := generated(5, 400, 2)
			cfg.Limits = tc.limits
			cfg.Faults.Dataverse.Latency = mscloud.Duration(2 * time.Millisecond)
			cfg.Faults.Dataverse.RetryAfter = 0.05
			b := setup(t, cfg)
			dir := t.TempDir()
			seq, par := newProfileDB(t, b, dir, "seq.db"), newProfileDB(t, b, dir, "par.db")
			sr := syncInto(t, b, seq, syncOpts{streams: 1, pageSize: 200, batch: 500})
			b.srv.ResetCounters()
			budgets := odata.NewBudgets(odata.BudgetConfig{})
			pr := syncInto(t, b, par, syncOpts{streams: 12, pageSize: 200, batch: 500, budgets: budgets})
			c := b.srv.Counters()
			t.Logf("sequential: %d audit rows, %d requests; parallel: %d audit rows, %d requests, %d throttled; simulator peak %d in flight, %d beyond the limit",
				sr.Run.Counts["audit_rows"], sr.Run.Requests, pr.Run.Counts["audit_rows"], pr.Run.Requests, pr.Run.Throttles,
				c.PeakConcurrent["dataverse"], c.LimitViolations["dataverse"])
			if sr.Run.Counts["audit_rows"] != pr.Run.Counts["audit_rows"] || sr.Run.Counts["audit_rows"] < 10000 {
				t.Errorf("audit rows: sequential %d, parallel %d", sr.Run.Counts["audit_rows"], pr.Run.Counts["audit_rows"])
			}
			if c.PeakConcurrent["dataverse"] < 3 {
				t.Errorf("the parallel backfill had at most %d requests in flight", c.PeakConcurrent["dataverse"])
			}
			if got := c.LimitViolations["dataverse"] > 0; got != tc.violations {
				t.Errorf("%d requests beyond the concurrency limit", c.LimitViolations["dataverse"])
			}
			if got := pr.Run.Throttles > 0; got != tc.throttled {
				t.Errorf("%d throttled answers", pr.Run.Throttles)
			}
			compareStores(t, b, seq, par)
			// The watermarks (where the next sync starts) are the same.
			wa, wb := watermarks(t, b, seq), watermarks(t, b, par)
			for url, w := range wa {
				if !wb[url].Equal(w) {
					t.Errorf("environment %s: watermark %v sequential, %v parallel", url, w, wb[url])
				}
			}
		})
	}
}

// watermarks returns the audit watermark of each environment of profile
// "sim" in the database at path.
func watermarks(t *testing.T, b *bundle, path string) map[string]time.Time {
	t.Helper()
	st := openStore(t, path)
	p, err := st.ProfileByName(b.ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, e := range p.Environments {
		if e.Audit.Watermark.IsZero() {
			t.Errorf("environment %s has no watermark", e.URL)
		}
		out[e.URL] = e.Audit.Watermark
	}
	return out
}
