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

// serverCPUDB opens a database of the private cluster for a test of
// ServerCPU, or skips the test where ServerCPU cannot answer (a server
// pgtest did not start, or no /proc), after checking that it says so.
func serverCPUDB(t *testing.T) *sql.DB {
	t.Helper()
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
	t.Cleanup(func() { db.Close() })
	return db
}

func TestServerCPUCountsTheServersWork(t *testing.T) {
	db := serverCPUDB(t)
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

// Backends that exit while ServerCPU reads /proc (here, one per query, as
// when a sync's process ends and its connections close) are neither lost
// nor counted twice: the readings never go down, and together they cover
// the work the backends did.
func TestServerCPUCountsBackendsExitingWhileItReads(t *testing.T) {
	db := serverCPUDB(t)
	db.SetMaxIdleConns(0) // a backend for each query, gone after it
	first, ok := pgtest.ServerCPU()
	if !ok {
		t.Fatal("no CPU time for the private cluster")
	}
	done := make(chan error, 1)
	const queries = 40
	go func() {
		for range queries {
			var n int64
			// About 30 ms of one backend's CPU.
			if err := db.QueryRow(`SELECT count(*) FROM generate_series(1, 600000) g WHERE g % 7 = 3`).Scan(&n); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	prev, readings := first, 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		cpu, ok := pgtest.ServerCPU()
		if !ok {
			t.Fatal("ServerCPU gave no reading while backends came and went")
		}
		if cpu < prev {
			t.Fatalf("reading %d: %v after %v: a backend's CPU was lost as it exited", readings, cpu, prev)
		}
		prev = cpu
		readings++
	}
	// The last backend may still be exiting: it is counted either way.
	last, _ := pgtest.ServerCPU()
	if d := last - first; d < queries*10*time.Millisecond {
		t.Fatalf("%d queries' backends used %v of CPU by ServerCPU (%d readings), want at least %v", queries, d, readings, queries*10*time.Millisecond)
	}
}
