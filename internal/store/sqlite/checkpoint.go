package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"strconv"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// CheckpointEvery is how often the background checkpointer of a file
// database copies the pages committed to the write-ahead log into the
// database file.
//
// SQLite's default is that the writing connection does it itself, in the
// commit that takes the log past 1,000 pages: every few staging
// transactions of a sync waited for a copy of several MB, and the commit of
// a large activity run for one of a hundred MB or more (1.4 s of a
// 100,000-user sync). The checkpointer does it on its own connection, on
// another core, while the writer goes on. A PASSIVE checkpoint waits for no
// one: it copies what no reader still needs, and costs nothing when the log
// holds nothing new.
var CheckpointEvery = 100 * time.Millisecond

// WriterCheckpointPages is the size of the log, in pages, past which the
// writer still checkpoints itself after a commit: a bound on the log should
// the checkpointer fall behind (or a reader hold an old snapshot for long).
// 262,144 pages of 4 KiB are 1 GiB.
const WriterCheckpointPages = 262144

// WALSizeLimit is the size, in bytes, the log file is cut back to when it
// starts over after a checkpoint (SQLite's journal_size_limit): a large
// commit does not leave a large file behind.
const WALSizeLimit = 64 << 20

// checkpointer runs PASSIVE checkpoints of one database file every
// CheckpointEvery, on a connection of its own, until closed.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

// startCheckpointer opens the checkpointer's connection to the database
// file at path and starts it. EUNAVAILABLE when the file cannot be opened.
func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(BusyTimeout.Milliseconds(), 10)+")")
	q.Set("_error_rc", "1")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s for checkpoints", path)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s for checkpoints", path)
	}
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// Errors are those of a busy or closing database: the next
			// tick tries again, and the writer checkpoints itself past
			// WriterCheckpointPages.
			_, _ = c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// close stops the checkpointer, waits for a checkpoint under way, and
// closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
