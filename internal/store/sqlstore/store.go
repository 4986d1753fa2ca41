package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Store implements store.Store over a database/sql handle.
type Store struct {
	db      *sql.DB
	rd      *sql.DB // read-only pool of hot read queries (see SetReader); nil: db
	d       Dialect
	closers []func() error
	sums    summaries // see staged_summary.go
}

// OnClose registers f to run when the store closes, before its pools close
// (the SQLite store stops its background checkpointer there).
func (s *Store) OnClose(f func() error) { s.closers = append(s.closers, f) }

// SetReader gives the store a read-only pool of the same database for its
// hot read queries (subscription listings, usage counts, sessions, tokens),
// so that they do not queue behind the writer. Call it before use; Close
// closes it too.
func (s *Store) SetReader(rdb *sql.DB) { s.rd = rdb }

// reader is the pool read queries use.
func (s *Store) reader() querier {
	if s.rd != nil {
		return s.rd
	}
	return s.db
}

var _ store.Store = (*Store)(nil)

// New returns a Store using db with dialect d. The schema must already be
// migrated (see Migrate). The Store owns db: Close closes it.
func New(db *sql.DB, d Dialect) *Store { return &Store{db: db, d: d} }

// DB returns the underlying handle, for tests and maintenance commands.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.Name }

// Close releases the database.
func (s *Store) Close() error {
	var errs []error
	for _, f := range s.closers {
		errs = append(errs, f())
	}
	s.closers = nil
	if s.rd != nil {
		s.rd.Close()
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err, "%s: begin transaction", what)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return s.fail(err, "%s", what)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(err, "%s: commit", what)
	}
	return nil
}

// fail turns err into a *sam.Error: errors that already are one pass
// through unchanged, driver errors are classified by the dialect.
func (s *Store) fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var se *sam.Error
	if errors.As(err, &se) {
		return err
	}
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return sam.Wrap(sam.EUNAVAILABLE, err, "%s: interrupted", msg)
	}
	switch s.d.Classify(err) {
	case ErrUnique:
		return sam.Wrap(sam.ECONFLICT, err, "%s: already exists", msg)
	case ErrForeignKey:
		return sam.Wrap(sam.ENOTFOUND, err, "%s: a referenced row does not exist", msg)
	case ErrUnavailable:
		return sam.Wrap(sam.EUNAVAILABLE, err, "%s: database unavailable", msg)
	}
	return sam.Wrap(sam.EINTERNAL, err, "%s", msg)
}

// affected returns the rows affected by a statement.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// analyze refreshes the statistics of tables when the dialect wants it. It
// runs outside any transaction, so that the brief lock ANALYZE takes does
// not serialise the commits of different profiles, and it is best effort: a
// failure only costs a worse plan.
func (s *Store) analyze(ctx context.Context, tables ...string) {
	if s.d.Analyze {
		_, _ = s.db.ExecContext(ctx, "ANALYZE "+strings.Join(tables, ", "))
	}
}

// analyzeChanged refreshes, inside transaction tx, the statistics of a
// table the transaction has just changed by about changed rows, when the
// dialect wants statistics (see Dialect.Analyze) and the change is as large
// as the one after which autovacuum would analyze the table (50 rows plus
// 10% of it, counted as the statistics last saw it). The statements that
// follow in tx are then planned for the table as it now is: a first full
// sync fills an empty subscriptions table, and the usage recompute that
// follows in the same transaction, planned for an empty table, read the
// whole table for every batch (about 90 ms a batch at 125,000
// subscriptions). ANALYZE samples at most 30,000 rows, sees the
// transaction's own changes, and its statistics become visible to others
// at commit. It holds the table's SHARE UPDATE EXCLUSIVE lock until the
// transaction ends (another ANALYZE of the table waits; reads and writes do
// not), so it only runs for large changes.
func (s *Store) analyzeChanged(ctx context.Context, tx *sql.Tx, table string, changed int64) error {
	if !s.d.Analyze || changed <= 50 {
		return nil
	}
	var tuples float64
	if err := tx.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = CAST($1 AS regclass)`, table).Scan(&tuples); err != nil {
		return fmt.Errorf("read statistics of %s: %w", table, err)
	}
	if float64(changed) <= 50+0.1*max(tuples, 0) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ANALYZE `+table); err != nil {
		return fmt.Errorf("analyze %s: %w", table, err)
	}
	return nil
}
