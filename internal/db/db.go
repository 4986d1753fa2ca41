// Package db opens Seatwise's store from a database URL:
//
//	sqlite:///abs/path/seatwise.db   an absolute path
//	sqlite://./rel/seatwise.db       a path relative to the working directory
//	sqlite://rel/seatwise.db         the same
//	sqlite:///./seatwise.db          also relative ("/./" is read as "./")
//	sqlite://:memory:                a private in-memory database (tests)
//	postgres://user:pass@host:5432/db?sslmode=disable   (or postgresql://)
//
// Opening migrates the schema. Errors never contain a password.
package db

import (
	"context"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/postgres"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// Accepted describes the URL forms Open and Migrate accept.
const Accepted = "sqlite:///abs/path.db, sqlite://./rel.db, sqlite://rel.db, postgres://user:password@host:port/db or postgresql://…"

// Kind is which database a URL names.
type Kind string

// Database kinds.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Parse returns the kind of database rawURL names and the string its driver
// opens: the file path for SQLite, the URL itself for PostgreSQL. EINVALID
// for any other form (the message lists the accepted forms and never shows a
// password).
func Parse(rawURL string) (Kind, string, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(rawURL), "://")
	switch {
	case ok && strings.EqualFold(scheme, "sqlite"):
		path := rest
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		if strings.HasPrefix(path, "/./") {
			path = path[1:]
		}
		if path == "" || path == "/" {
			return "", "", sam.Errorf(sam.EINVALID, "database URL %q names no SQLite file; accepted forms: %s", rawURL, Accepted)
		}
		return SQLite, path, nil
	case ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql")):
		return Postgres, strings.TrimSpace(rawURL), nil
	}
	return "", "", sam.Errorf(sam.EINVALID, "unsupported database URL %s; accepted forms: %s", Redact(rawURL), Accepted)
}

// Redact returns rawURL with any password replaced, fit for messages.
func Redact(rawURL string) string {
	if !strings.Contains(rawURL, "://") {
		if strings.ContainsAny(rawURL, "@=") {
			return "(hidden: may contain a password)"
		}
		return rawURL
	}
	return postgres.Redact(rawURL)
}

// Open opens the database rawURL names, applies pending migrations and
// returns the store. EINVALID for an unsupported URL or a database migrated
// by a newer Seatwise, EUNAVAILABLE when it cannot be opened or reached.
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	kind, target, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if kind == SQLite {
		return sqlite.Open(ctx, target)
	}
	return postgres.Open(ctx, target)
}

// Migrate applies pending migrations to the database rawURL names, without
// keeping it open. Running it again is a no-op.
func Migrate(ctx context.Context, rawURL string) error {
	kind, target, err := Parse(rawURL)
	if err != nil {
		return err
	}
	if kind == SQLite {
		return sqlite.Migrate(ctx, target)
	}
	return postgres.Migrate(ctx, target)
}
