package pgtest_test

import (
	"database/sql"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestURLGivesFreshDatabases(t *testing.T) {
	u1 := pgtest.URL(t)
	u2 := pgtest.URL(t)
	if u1 == u2 {
		t.Fatalf("two calls gave the same database %s", u1)
	}
	for _, u := range []string{u1, u2} {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil {
			t.Fatalf("query %s: %v", u, err)
		}
		if n != 0 {
			t.Errorf("database %s is not empty: %d tables", u, n)
		}
		if _, err := db.ExecContext(t.Context(), `CREATE TABLE x (id int)`); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerCPUCountsTheServersWork(t *testing.T) {
	u := pgtest.URL(t)
	if os.Getenv(pgtest.EnvURL) != "" || runtime.GOOS != "linux" {
		if _, ok := pgtest.ServerCPU(); ok {
			t.Fatal("ServerCPU answered for a server it did not start, or without /proc")
		}
		t.Skip("ServerCPU reads the private cluster's processes in /proc (Linux only)")
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, ok := pgtest.ServerCPU()
	if !ok {
		t.Fatal("no CPU time for the private cluster")
	}
	// About a second of one backend's CPU.
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM generate_series(1, 20000000) g WHERE g % 7 = 3`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2857143 {
		t.Fatalf("count = %d", n)
	}
	after, _ := pgtest.ServerCPU()
	if d := after - before; d < 100*time.Millisecond {
		t.Fatalf("the query's backend used %v of CPU by ServerCPU, want at least 100ms", d)
	}
}
