// Package sqlite is Seatwise's embedded store: a SQLite file opened with
// modernc.org/sqlite (pure Go, no cgo), in WAL mode with foreign keys on and a
// busy timeout. It supplies the SQLite dialect and migrations of the shared
// SQL implementation in store/sqlstore.
//
// Every transaction begins IMMEDIATE (it takes the write lock at once), and
// the pool holds one connection: SQLite allows one writer at a time, and
// taking the lock up front means concurrent writers — goroutines or other
// processes — wait for their turn (busy timeout) instead of failing midway.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded SQLite migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// CacheKiB is the page cache of the writing connection, in KiB (SQLite's
// default is 2 MiB). An activity commit reads back hundreds of thousands of
// staged rows and merges them into activity_days in one transaction; with
// the default cache most page accesses become system calls. SQLite's sorter
// and temporary b-trees are each bounded by the same size, so a large merge
// holds several times this much: 4 MiB keeps a 100,000-user sync under its
// 256 MB peak (16 MiB took it to about 300 MB for no measurable speed).
// The cache is bounded, so memory does not grow with the tenant.
const CacheKiB = 4 << 10

// BusyTimeout is how long a statement waits for another writer's lock.
const BusyTimeout = 10 * time.Second

// Dialect is the SQLite dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:            "sqlite",
	Time:            func(t time.Time) any { return t.Format(sqlstore.SQLiteTimeLayout) },
	Day:             func(t time.Time) any { return t.Format(sqlstore.SQLiteDayLayout) },
	AnonymousParams: true,
	TimestampType:   "TEXT",
	ForUpdate:       "",
	MigrationLock:   "",
	Classify:        classify,
}

func classify(err error) sqlstore.ErrorKind {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.ErrOther
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.ErrUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ErrForeignKey
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return sqlstore.ErrUnavailable
	}
	return sqlstore.ErrOther
}

// sortThreads is how many helper threads a statement of the writing
// connection may start to sort (SQLite's threads pragma): one per CPU,
// at most 4. A large sort (the GROUP BY of an activity commit's merge) then
// sorts its parts on the other cores, which a commit otherwise leaves
// idle: the merge of 600,000 staged rows took 1.4 s alone, 1.2 s with it.
// The sorter's memory stays bounded by the page cache.
func sortThreads() int { return min(runtime.NumCPU(), 4) }

// openDB opens the file at path with Seatwise's connection settings, and
// the extra pragmas given ("name(value)").
func openDB(ctx context.Context, path string, pragmas ...string) (*sql.DB, error) {
	if path == "" {
		return nil, sam.Errorf(sam.EINVALID, "SQLite database path is empty")
	}
	if path != ":memory:" {
		// A new database file is private to its owner: it holds user data.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, sam.Wrap(sam.EUNAVAILABLE, err, "create SQLite database %s", path)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size("+strconv.Itoa(-CacheKiB)+")")
	q.Add("_pragma", "threads("+strconv.Itoa(sortThreads())+")")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	q.Set("_error_rc", "1") // no unrelated "out of memory" in open errors
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s", path)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := pingBusy(ctx, db); err != nil {
		db.Close()
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s", path)
	}
	return db, nil
}

// pingBusy opens the first connection. Switching a new file to WAL needs an
// exclusive lock and SQLite answers SQLITE_BUSY at once, without its busy
// handler, while another process does the same: such an open is retried
// until BusyTimeout has passed.
func pingBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(BusyTimeout)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		var e *msqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// ReadConns is the number of read-only connections of a file database,
// next to its one writer: in WAL mode readers do not wait for the writer
// nor for each other, so the server's listings and dashboards answer while
// a sync commits.
const ReadConns = 4

// ReaderCacheKiB is the page cache of each read-only connection. It is
// small because their pages come through the memory map (MmapBytes): a
// private cache per reader would hold copies of the same pages and add up
// to CacheKiB per connection to the process's memory.
const ReaderCacheKiB = 2 << 10

// MmapBytes is how much of a file database the read connections map into
// memory: pages are then read without a system call each (the operating
// system's page cache is shared by all of them).
const MmapBytes = 1 << 30

// openReader opens the read-only pool of the database file at path.
func openReader(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "cache_size("+strconv.Itoa(-ReaderCacheKiB)+")")
	q.Add("_pragma", "mmap_size("+strconv.Itoa(MmapBytes)+")")
	q.Set("_error_rc", "1")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s for reading", path)
	}
	db.SetMaxOpenConns(ReadConns)
	db.SetMaxIdleConns(ReadConns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s for reading", path)
	}
	return db, nil
}

// Open opens (creating it when missing) the SQLite database file at path,
// applies pending migrations and returns the store. A file database gets a
// pool of ReadConns read-only connections for the store's read queries
// besides its writer; an in-memory one has the writer only. EUNAVAILABLE
// when the file cannot be opened, EINVALID when the database was migrated by
// a newer Seatwise.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	file := path != ":memory:" && !strings.Contains(path, "mode=memory") && !strings.HasPrefix(path, "file::memory:")
	var pragmas []string
	if file {
		// The background checkpointer copies the WAL into the file; the
		// writer only does so itself past WriterCheckpointPages.
		pragmas = append(pragmas, "wal_autocheckpoint("+strconv.Itoa(WriterCheckpointPages)+")",
			"journal_size_limit("+strconv.Itoa(WALSizeLimit)+")")
	}
	db, err := openDB(ctx, path, pragmas...)
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, Dialect, Migrations()); err != nil {
		db.Close()
		return nil, err
	}
	st := sqlstore.New(db, Dialect)
	if file {
		rdb, err := openReader(ctx, path)
		if err != nil {
			db.Close()
			return nil, err
		}
		st.SetReader(rdb)
		cp, err := startCheckpointer(ctx, path)
		if err != nil {
			rdb.Close()
			db.Close()
			return nil, err
		}
		st.OnClose(cp.close)
	}
	return st, nil
}

// Migrate applies pending migrations to the SQLite database at path
// (creating the file when missing). Running it again is a no-op.
func Migrate(ctx context.Context, path string) error {
	db, err := openDB(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return sqlstore.Migrate(ctx, db, Dialect, Migrations())
}
