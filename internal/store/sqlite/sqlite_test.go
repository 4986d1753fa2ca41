package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
	"github.com/seatwise/seatwise/internal/store/storetest"
)

// openFileStore opens a store on a new file, closed when the test ends.
func openFileStore(t *testing.T) store.Store {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "seatwise.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openFileStore)
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	// Twice is a no-op, and Open after Migrate too.
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, err := sqlstore.LoadMigrations(sqlite.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows; %d migrations embedded, the last one %d", n, len(ms), ms[len(ms)-1].Version)
	}
	// A database migrated by a newer seatwise is refused.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = sqlite.Open(ctx, path)
	want := fmt.Sprintf("database schema version 9999 is newer than this seatwise (max %d); upgrade seatwise", ms[len(ms)-1].Version)
	if sam.ErrorCode(err) != sam.EINVALID || !strings.Contains(err.Error(), want) {
		t.Errorf("opening a newer database: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		code sam.Code
	}{
		{"empty path", "", sam.EINVALID},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), sam.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlite.Open(t.Context(), tc.path)
			if sam.ErrorCode(err) != tc.code {
				t.Errorf("Open(%q) = %v, want %s", tc.path, err, tc.code)
			}
		})
	}
}

func BenchmarkSync(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store {
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}, 10000)
}

// TestConcurrentOpen opens one new file from several handles at once, as
// several processes starting together would: all migrate and succeed.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const n = 4
	var wg sync.WaitGroup
	stores := make([]store.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlite.Open(t.Context(), path)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	// Writers in different handles take turns.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &sam.Profile{Name: "p" + strconv.Itoa(i), TenantID: "00000000-0000-4000-8000-000000000001"}
			errs[i] = stores[i].CreateProfile(t.Context(), p)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	ps, err := stores[0].Profiles(t.Context())
	if err != nil || len(ps) != n {
		t.Errorf("Profiles() = %d, %v; want %d", len(ps), err, n)
	}
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("new database file has mode %04o, want 0600", perm)
	}
}

// TestUpgrade migrates a database that has only the first migration, with
// data in it, to the latest version.
func TestUpgrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	first, err := fs.ReadFile(sqlite.Migrations(), "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, raw, sqlite.Dialect, fstest.MapFS{"0001_init.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	old := sqlstore.New(raw, sqlite.Dialect)
	p := &sam.Profile{Name: "old", TenantID: "00000000-0000-4000-8000-000000000001"}
	if err := old.CreateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	if _, err := s.ProfileByName(ctx, "old"); err != nil {
		t.Errorf("profile lost in the upgrade: %v", err)
	}
	r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
	if err := s.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.StageUsers(ctx, r, []store.StagedUser{{UserID: "00000000-0000-4000-8000-000000000002"}}); err != nil {
		t.Errorf("staging on the upgraded schema: %v", err)
	}
}

// TestConformanceEvidenceNotReadAhead runs the suite with the evidence
// read-ahead of activity commits limited to 3 users: every recompute of a
// larger profile reads its evidence in its own transaction, and must end
// the same. (Not parallel: it sets sqlstore.ReadAheadMaxUsers.)
func TestConformanceEvidenceNotReadAhead(t *testing.T) {
	was := sqlstore.ReadAheadMaxUsers
	sqlstore.ReadAheadMaxUsers = 3
	t.Cleanup(func() { sqlstore.ReadAheadMaxUsers = was })
	storetest.Run(t, openFileStore)
}

// TestStagedEvidenceSummary: an activity commit that takes its evidence
// from the summary made while staging ends as one reading the staged rows.
// (Not parallel: it sets sqlstore.SummarizeStaged.)
func TestStagedEvidenceSummary(t *testing.T) {
	storetest.CheckStagedEvidenceSummary(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "seatwise.db") },
		func(ctx context.Context, path string) (store.Store, error) { return sqlite.Open(ctx, path) },
		func(on bool) { sqlstore.SummarizeStaged = on })
}

// TestConformanceStagedNotSummarized runs the suite with summaries of
// staged evidence off: every activity commit reads the staged rows back.
// (Not parallel: it sets sqlstore.SummarizeStaged.)
func TestConformanceStagedNotSummarized(t *testing.T) {
	sqlstore.SummarizeStaged = false
	t.Cleanup(func() { sqlstore.SummarizeStaged = true })
	storetest.Run(t, openFileStore)
}
