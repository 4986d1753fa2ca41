package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/postgres"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
	"github.com/seatwise/seatwise/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openStore opens a store on a fresh database, closed when t ends.
func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// salesModel is a tracked Dynamics 365 model of SKU sku.
func salesModel(sku string) []sam.SoftwareModel {
	return []sam.SoftwareModel{{SKUID: sku, PartNumber: "D365_SALES_PRO", Product: "Dynamics 365 Sales Professional",
		Family: sam.FamilyDynamics365, Kind: sam.KindBase, Metric: sam.MetricUserSubscription, Tracked: true, Mapped: true}}
}

// stagedRows counts the rows of run runID in staging table table.
func stagedRows(t *testing.T, s *sqlstore.Store, table string, runID int64) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM `+table+` WHERE run_id = $1`, runID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// filenode returns the file of table: a TRUNCATE gives it a new one.
func filenode(t *testing.T, s *sqlstore.Store, table string) int64 {
	t.Helper()
	var f int64
	if err := s.DB().QueryRowContext(t.Context(), `SELECT pg_relation_filenode($1)`, table).Scan(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = postgres.Migrate(t.Context(), url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}
	// Once more is a no-op.
	if err := postgres.Migrate(t.Context(), url); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows int
	if err := s.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	ms, err := sqlstore.LoadMigrations(postgres.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
	if _, err := s.DB().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	err = postgres.Migrate(t.Context(), url)
	want := fmt.Sprintf("database schema version 9999 is newer than this seatwise (max %d); upgrade seatwise", ms[len(ms)-1].Version)
	if sam.ErrorCode(err) != sam.EINVALID || !strings.Contains(err.Error(), want) {
		t.Errorf("migrating a newer database: %v", err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	tests := []struct {
		name string
		url  string
		code sam.Code
	}{
		{"nothing listening", "postgres://admin:s3cr3t-pw@127.0.0.1:1/seatwise?sslmode=disable&connect_timeout=2", sam.EUNAVAILABLE},
		{"password in query", "postgres://127.0.0.1:1/seatwise?sslmode=disable&password=s3cr3t-pw&connect_timeout=2", sam.EUNAVAILABLE},
		{"malformed", "postgres://admin:s3cr3t-pw@127.0.0.1:notaport/x", sam.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(t.Context(), tc.url)
			if sam.ErrorCode(err) != tc.code {
				t.Fatalf("Open = %v, want %s", err, tc.code)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"postgres://h/db?password=pw", "postgres://h/db?password=xxxxx"},
		{"postgres://u:p w%zz@h/db", "postgres://…"},
	}
	for _, tc := range tests {
		if got := postgres.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkSync(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store {
		s, err := postgres.Open(b.Context(), pgtest.URL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}, 10000)
}

// TestDiscardStaging checks how a finished run's staging rows go on
// PostgreSQL: a staging table holding only that run's rows is truncated (a
// new file), one holding another run's rows keeps them, and one that
// another transaction holds is not waited for (the run's rows are deleted
// by run instead).
func TestDiscardStaging(t *testing.T) {
	tests := []struct {
		name     string
		otherRun bool // another running run has staged users
		held     bool // another transaction holds staging_users
		truncate bool // staging_users is expected to be truncated
	}{
		{name: "alone", truncate: true},
		{name: "another run staged", otherRun: true},
		{name: "table held by another transaction", held: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openStore(t)
			user := func(n int) store.StagedUser {
				return store.StagedUser{UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), UPN: fmt.Sprintf("u%d@contoso.com", n),
					AccountEnabled: true, Licenses: []store.StagedLicense{{SKUID: "00000000-0000-4000-8000-0000000000aa"}}}
			}
			start := func(name string, users ...store.StagedUser) *sam.Run {
				p := &sam.Profile{Name: name, TenantID: "00000000-0000-4000-8000-000000000001"}
				if err := s.CreateProfile(ctx, p); err != nil {
					t.Fatal(err)
				}
				r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
				if err := s.StartRun(ctx, r); err != nil {
					t.Fatal(err)
				}
				if err := s.StageUsers(ctx, r, users); err != nil {
					t.Fatal(err)
				}
				return r
			}
			count := func(runID int64) int { return stagedRows(t, s, "staging_users", runID) }
			fileOf := func() int64 { return filenode(t, s, "staging_users") }
			r := start("finished", user(1), user(2))
			var other *sam.Run
			if tc.otherRun {
				other = start("other", user(3))
			}
			if tc.held {
				tx, err := s.DB().BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if _, err := tx.ExecContext(ctx, `LOCK TABLE staging_users IN ROW EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
			}
			before := fileOf()
			r.Status = sam.RunFailed
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := s.FinishRun(fctx, r); err != nil {
				t.Fatalf("FinishRun: %v", err)
			}
			if n := count(r.ID); n != 0 {
				t.Errorf("%d staged users of the finished run left", n)
			}
			if other != nil {
				if n := count(other.ID); n != 1 {
					t.Errorf("the other run has %d staged users, want 1", n)
				}
			}
			if truncated := fileOf() != before; truncated != tc.truncate {
				t.Errorf("staging_users truncated = %v, want %v", truncated, tc.truncate)
			}
		})
	}
}

// TestDiscardStagedActivity: staging_activity has no index on its run
// (migration 0055), and whether a finishing run is alone there is asked of
// the runs table: with another activity run running its rows are deleted
// by run and the other's stay; alone, the table is emptied whole.
func TestDiscardStagedActivity(t *testing.T) {
	ctx := t.Context()
	s := openStore(t)
	start := func(name string) *sam.Run {
		p := &sam.Profile{Name: name, TenantID: "00000000-0000-4000-8000-000000000001",
			Environments: []sam.Environment{{URL: "https://" + name + ".crm.dynamics.com"}}}
		if err := s.CreateProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
		r := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity}
		if err := s.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		if err := s.StageActivity(ctx, r, []store.StagedActivity{{EnvironmentID: p.Environments[0].ID,
			SystemUserID: "00000000-0000-4000-9000-000000000001", Day: day, Source: sam.SourceRecord, Events: 1,
			LastAt: day.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	count := func(runID int64) int { return stagedRows(t, s, "staging_activity", runID) }
	fileOf := func() int64 { return filenode(t, s, "staging_activity") }
	a, b := start("a"), start("b")
	before := fileOf()
	a.Status = sam.RunFailed
	if err := s.FinishRun(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n, m := count(a.ID), count(b.ID); n != 0 || m != 1 {
		t.Errorf("with another activity run running: %d staged rows of the finished run left, %d of the other (want 0, 1)", n, m)
	}
	if fileOf() != before {
		t.Error("staging_activity was emptied whole while another run had rows in it")
	}
	b.Status = sam.RunFailed
	if err := s.FinishRun(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := count(b.ID); n != 0 {
		t.Errorf("%d staged rows of the last run left", n)
	}
	if fileOf() == before {
		t.Error("staging_activity was not emptied whole when its last run finished")
	}
}
