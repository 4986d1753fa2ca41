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

// TestMigrateRefusesUnknownVersions: a database that applied a migration
// this binary lacks, newer than all of its own or between them, is refused
// with both versions named, and left unchanged.
func TestMigrateRefusesUnknownVersions(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	binary := fstest.MapFS{"0001_a.sql": file("CREATE TABLE a (x INTEGER)"), "0003_c.sql": file("CREATE TABLE c (x INTEGER)")}
	tests := []struct {
		name    string
		applied fstest.MapFS // what another build applied
		want    string
	}{
		{"newer", fstest.MapFS{"0001_a.sql": file("CREATE TABLE a (x INTEGER)"), "0005_e.sql": file("CREATE TABLE e (x INTEGER)")},
			"database schema version 5 is newer than this seatwise (max 3)"},
		{"between", fstest.MapFS{"0001_a.sql": file("CREATE TABLE a (x INTEGER)"), "0002_b.sql": file("CREATE TABLE b (x INTEGER)")},
			"database schema has migration 2 (0002_b.sql), which this seatwise (schema version 3) does not have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := sqlstore.Migrate(t.Context(), db, sqlite.Dialect, tt.applied); err != nil {
				t.Fatal(err)
			}
			err = sqlstore.Migrate(t.Context(), db, sqlite.Dialect, binary)
			if sam.ErrorCode(err) != sam.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Migrate = %v, want EINVALID %q", err, tt.want)
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'c'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("the refused database was changed (table c: %d, %v)", n, err)
			}
		})
	}
}
