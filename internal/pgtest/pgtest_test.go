package pgtest_test

import (
	"database/sql"
	"testing"

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
