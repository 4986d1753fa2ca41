// Package postgres is Seatwise's store for larger deployments: PostgreSQL
// through pgx (its database/sql adapter). It supplies the PostgreSQL dialect
// and migrations of the shared SQL implementation in store/sqlstore.
//
// Migrations take a transaction-scoped advisory lock, so several Seatwise
// processes starting at once against the same database all succeed: one
// applies each migration, the others find it applied.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded PostgreSQL migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// MaxOpenConns bounds the connections of one store.
const MaxOpenConns = 10

// Dialect is the PostgreSQL dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:          "postgres",
	Time:          func(t time.Time) any { return t },
	Day:           func(t time.Time) any { return t },
	TimestampType: "TIMESTAMPTZ",
	ForUpdate:     " FOR UPDATE",
	Analyze:       true,
	MigrationLock: "SELECT pg_advisory_xact_lock(1571225601)", // 0x5ea70001, "seat" v1
	Classify:      classify,
}

func classify(err error) sqlstore.ErrorKind {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return sqlstore.ErrUnique
		case pe.Code == "23503":
			return sqlstore.ErrForeignKey
		case pe.Code == "55P03": // lock_not_available (NOWAIT)
			return sqlstore.ErrLockNotAvailable
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources
			strings.HasPrefix(pe.Code, "57"),       // operator intervention (shutdown, cannot connect now)
			pe.Code == "40001", pe.Code == "40P01", // serialization failure, deadlock: retrying helps
			pe.Code == "3D000": // database does not exist
			return sqlstore.ErrUnavailable
		}
		return sqlstore.ErrOther
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || pgconn.Timeout(err) {
		return sqlstore.ErrUnavailable
	}
	return sqlstore.ErrOther
}

// Redact returns a PostgreSQL URL with its password replaced by "xxxxx",
// fit for messages and logs. A string that does not parse as a URL is
// reduced to its scheme.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		if i := strings.Index(rawURL, "://"); i > 0 && !strings.ContainsAny(rawURL[:i], "@:/") {
			return rawURL[:i] + "://…"
		}
		return "(unparsable database URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// openDB connects to the database at rawURL (postgres:// or postgresql://).
func openDB(ctx context.Context, rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, sam.Errorf(sam.EINVALID, "invalid PostgreSQL URL %s", Redact(rawURL))
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, sam.Wrap(sam.EUNAVAILABLE, scrub(err, cfg.Password), "connect to PostgreSQL at %s", Redact(rawURL))
	}
	return db, nil
}

// scrubbed is an error whose text had a password removed.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub removes password from err's text (drivers do not print it, this
// makes sure).
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

// Open connects to the PostgreSQL database at rawURL, applies pending
// migrations and returns the store. EINVALID for a malformed URL or a
// database migrated by a newer Seatwise, EUNAVAILABLE when the server cannot
// be reached. Errors never contain the password.
func Open(ctx context.Context, rawURL string) (*sqlstore.Store, error) {
	db, err := openDB(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, Dialect, Migrations()); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(db, Dialect), nil
}

// Migrate applies pending migrations to the database at rawURL. Running it
// again, or in several processes at once, is safe.
func Migrate(ctx context.Context, rawURL string) error {
	db, err := openDB(ctx, rawURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return sqlstore.Migrate(ctx, db, Dialect, Migrations())
}
