// Package sqlstore implements store.Store once, in SQL that both SQLite and
// PostgreSQL accept. The few differences between the two (how timestamps and
// days are encoded, row locks, error codes, how migrations serialise) live in
// a Dialect supplied by the thin packages store/sqlite and store/postgres,
// which open the database and embed their migrations.
//
// Queries use $1-style placeholders, which both pgx and modernc.org/sqlite
// accept. Timestamps are stored in UTC with microsecond precision (the
// precision of PostgreSQL's timestamptz) on both databases, so what is read
// back equals what was written after Truncate(time.Microsecond).
package sqlstore

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind is how a Dialect classifies a driver error.
type ErrorKind int

// Error kinds a Dialect recognises.
const (
	ErrOther            ErrorKind = iota // anything else: a bug or an unexpected state
	ErrUnique                            // a unique or primary key constraint failed
	ErrForeignKey                        // a foreign key constraint failed
	ErrUnavailable                       // the database cannot be reached, is locked or shutting down
	ErrLockNotAvailable                  // a lock asked for without waiting (NOWAIT) is held by another transaction
)

// Dialect is what differs between the SQL databases sqlstore supports.
type Dialect struct {
	// Name is "sqlite" or "postgres", returned by Store.Dialect.
	Name string
	// Time encodes a timestamp (already UTC and truncated to microseconds)
	// as a driver argument for a timestamp column.
	Time func(t time.Time) any
	// Day encodes a UTC midnight as a driver argument for a date column.
	Day func(t time.Time) any
	// AnonymousParams makes the large generated statements (multi-row
	// inserts) use "?" placeholders: SQLite looks named and numbered
	// parameters up in a list, which is quadratic in their number.
	AnonymousParams bool
	// TimestampType is the column type of timestamps ("TEXT" in SQLite,
	// "TIMESTAMPTZ" in PostgreSQL), used to cast parameters.
	TimestampType string
	// ForUpdate is appended to a SELECT that must lock the rows it reads
	// until the transaction ends (" FOR UPDATE" on PostgreSQL; "" on SQLite,
	// where write transactions are exclusive from their start).
	ForUpdate string
	// Analyze, when true, makes commits refresh the planner statistics of
	// the tables they join (staging tables fill and empty with every run, so
	// PostgreSQL's statistics are always stale; plans built on "this table
	// is empty" turn joins over thousands of rows quadratic).
	Analyze bool
	// MigrationLock is a statement run first in each migration transaction
	// so that processes migrating at once take turns ("" when BEGIN already
	// serialises writers).
	MigrationLock string
	// Classify tells what kind of failure a driver error is.
	Classify func(err error) ErrorKind
}

// timestamp normalises t to what the databases store: UTC, microseconds.
func timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (s *Store) ts(t time.Time) any { return s.d.Time(timestamp(t)) }

// nullTS encodes the zero time as NULL.
func (s *Store) nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.ts(t)
}

func (s *Store) day(t time.Time) any {
	u := t.UTC()
	return s.d.Day(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC))
}

// SQLiteTimeLayout is how timestamps are stored as TEXT in SQLite: fixed
// width, so that text order is time order.
const SQLiteTimeLayout = "2006-01-02T15:04:05.000000Z"

// SQLiteDayLayout is how days are stored as TEXT in SQLite.
const SQLiteDayLayout = "2006-01-02"

// nullTime scans a nullable timestamp or date in any encoding the dialects
// produce: time.Time from pgx, TEXT from SQLite.
type nullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *nullTime) Scan(src any) error {
	n.Time, n.Valid = time.Time{}, false
	switch v := src.(type) {
	case nil:
		return nil
	case time.Time:
		n.Time, n.Valid = v.UTC(), true
		return nil
	case string:
		return n.parse(v)
	case []byte:
		return n.parse(string(v))
	}
	return fmt.Errorf("cannot read %T as a time", src)
}

func (n *nullTime) parse(v string) error {
	for _, layout := range []string{time.RFC3339Nano, SQLiteDayLayout, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			n.Time, n.Valid = t.UTC(), true
			return nil
		}
	}
	return errors.New("cannot parse time " + fmt.Sprintf("%q", v))
}

// ptr returns nil when the value was NULL.
func (n nullTime) ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}
