package transfer

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
)

// BenchmarkCopySQLiteToPostgres measures seatwise migrate-data: a SQLite
// database with SEATWISE_BENCH_COPY_ROWS activity rows (default 200000) is
// copied into a new PostgreSQL database per iteration. It reports rows/s and
// the heap in use after the copy (streaming: it does not grow with the rows).
//
//	SEATWISE_BENCH_COPY_ROWS=1000000 go test -run '^$' -bench BenchmarkCopySQLiteToPostgres -benchtime 1x ./internal/store/transfer
func BenchmarkCopySQLiteToPostgres(b *testing.B) {
	rows := 200000
	if s := os.Getenv("SEATWISE_BENCH_COPY_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SEATWISE_BENCH_COPY_ROWS=%q", s)
		}
		rows = n
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	src := "sqlite://" + path
	if err := db.Migrate(ctx, src); err != nil {
		b.Fatal(err)
	}
	conn, err := open(ctx, db.SQLite, path, true)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	if _, err := conn.ExecContext(ctx, `INSERT INTO profiles (id, name, tenant_id, auth_mode, login_url, graph_url, state, created_at, updated_at)
		VALUES (1, 'bench', '00000000-0000-4000-8000-000000000001', 'secret', 'https://login', 'https://graph', 'connected', ?, ?)`, now, now); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
		INSERT INTO activity_days (profile_id, user_id, day, environment_id, source, events, last_at)
		SELECT 1, printf('%08x-0000-4000-8000-%012x', i / 90, i / 90), date('2026-01-01', '+' || (i % 90) || ' days'), 1,
			'dataverse:access_web', 1 + i % 7, date('2026-01-01', '+' || (i % 90) || ' days') || 'T10:00:00.000000Z' FROM n`, rows); err != nil {
		b.Fatal(err)
	}
	conn.Close()
	var heap uint64
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pgURL := pgtest.URL(b)
		if err := db.Migrate(ctx, pgURL); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := Copy(ctx, src, pgURL, Options{})
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows < int64(rows) {
			b.Fatalf("copied %d rows, want at least %d", res.Rows, rows)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heap = max(heap, m.HeapInuse)
	}
	b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
}
