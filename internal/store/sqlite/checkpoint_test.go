package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// TestBackgroundCheckpoint: the writer leaves the pages it commits in the
// write-ahead log (8 MB, past SQLite's own 1,000-page checkpoint), and the
// background checkpointer copies them into the database file while the
// store is open. (Not parallel: it sets sqlite.CheckpointEvery.)
func TestBackgroundCheckpoint(t *testing.T) {
	defer func(d time.Duration) { sqlite.CheckpointEvery = d }(sqlite.CheckpointEvery)
	size := func(path string) int64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	write := func(t *testing.T, every time.Duration) (path string, before int64, closeStore func()) {
		t.Helper()
		sqlite.CheckpointEvery = every
		path = filepath.Join(t.TempDir(), "seatwise.db")
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().ExecContext(t.Context(), `CREATE TABLE filler (b BLOB)`); err != nil {
			t.Fatal(err)
		}
		// The table's page reaches the file.
		if _, err := st.DB().ExecContext(t.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		before = size(path)
		if _, err := st.DB().ExecContext(t.Context(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
			INSERT INTO filler SELECT randomblob(4000) FROM n`); err != nil {
			t.Fatal(err)
		}
		return path, before, func() {
			if err := st.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	}
	t.Run("writer leaves it", func(t *testing.T) {
		path, before, closeStore := write(t, time.Hour)
		if after := size(path); after != before {
			t.Errorf("database file %d → %d bytes right after the commit: the writer checkpointed", before, after)
		}
		closeStore()
		if after := size(path); after < before+7<<20 {
			t.Errorf("database file %d → %d bytes after close, want the 8 MB written checkpointed", before, after)
		}
	})
	t.Run("checkpointer copies it", func(t *testing.T) {
		path, before, closeStore := write(t, 10*time.Millisecond)
		defer closeStore()
		deadline := time.Now().Add(10 * time.Second)
		for size(path) < before+7<<20 {
			if time.Now().After(deadline) {
				t.Fatalf("database file still %d bytes (%d before the commit) after 10 s with the store open", size(path), before)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
