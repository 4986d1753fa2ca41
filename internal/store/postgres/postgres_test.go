package postgres_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/postgres"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
	"github.com/seatwise/seatwise/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

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
