package sqlstore_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/sqlite"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []int64
		wantErr string
	}{
		{"ordered by number", fstest.MapFS{"10_c.sql": file("c"), "2_b.sql": file("b"), "0001_a.sql": file("a"), "README.md": file("x")}, []int64{1, 2, 10}, ""},
		{"empty", fstest.MapFS{}, nil, ""},
		{"no number", fstest.MapFS{"init.sql": file("")}, nil, "positive version number"},
		{"zero", fstest.MapFS{"0000_init.sql": file("")}, nil, "positive version number"},
		{"duplicate", fstest.MapFS{"0001_a.sql": file(""), "1_b.sql": file("")}, nil, "share version 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := sqlstore.LoadMigrations(tc.fsys)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("versions %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("versions %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestMigrateFailureRollsBack applies a failing migration: it leaves no trace
// and the earlier ones stay applied.
func TestMigrateFailureRollsBack(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ok := fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")}}
	if err := sqlstore.Migrate(t.Context(), db, sqlite.Dialect, ok); err != nil {
		t.Fatal(err)
	}
	bad := fstest.MapFS{
		"0001_a.sql": ok["0001_a.sql"],
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	}
	err = sqlstore.Migrate(t.Context(), db, sqlite.Dialect, bad)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") || sam.ErrorCode(err) != sam.EINTERNAL {
		t.Fatalf("failing migration: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table of the failed migration exists (%d, %v)", n, err)
	}
	if err := db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("schema version %d (%v), want 1", n, err)
	}
}
