// Package transfer copies a Seatwise database, table by table, between SQLite
// and PostgreSQL in either direction (seatwise migrate-data, backup of a
// PostgreSQL database into a SQLite file, restore). The tables are not
// listed anywhere in this package: they are discovered from the database's
// own catalogue (sqlite_master, information_schema and pg_constraint) and
// copied parents first along the target's foreign keys, so that a table
// added by a later migration is copied without a change here.
//
// A copy streams: rows are read through one cursor per table inside one
// read transaction on the source (a consistent snapshot) and written in
// multi-row INSERTs of at most BatchRows rows inside one transaction on the
// target, so memory does not grow with the database and a failed copy leaves
// the target as it was.
package transfer

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
)

// MigrationsTable is the table recording applied migrations. It is not
// copied: the target is migrated by the same binary to the same version.
const MigrationsTable = "schema_migrations"

// Column is one copied column.
type Column struct {
	Name string
	// Type is the declared type in lower case: SQLite's declared type
	// ("integer", "text", "blob") or PostgreSQL's information_schema
	// data_type ("bigint", "timestamp with time zone", "boolean", "date").
	Type string
	// Serial is true for a PostgreSQL identity or sequence-backed column,
	// whose sequence is moved past the copied values.
	Serial bool
}

// Table is one data table with the tables its foreign keys reference.
type Table struct {
	Name       string
	Columns    []Column
	References []string // referenced tables, sorted, without the table itself
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tables returns the data tables of the database q reads (every table but
// schema_migrations and SQLite's internal sqlite_* tables), ordered so that
// every table comes after the tables it references. A reference cycle is
// EINTERNAL (the schema has none; a copy could not order it).
func Tables(ctx context.Context, q querier, kind db.Kind) ([]Table, error) {
	var (
		tables []Table
		err    error
	)
	switch kind {
	case db.SQLite:
		tables, err = sqliteTables(ctx, q)
	case db.Postgres:
		tables, err = postgresTables(ctx, q)
	default:
		return nil, sam.Errorf(sam.EINTERNAL, "no table discovery for database kind %q", kind)
	}
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "read the %s schema", kind)
	}
	return order(tables)
}

func sqliteTables(ctx context.Context, q querier) ([]Table, error) {
	names, err := strings1(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> ? ORDER BY name`, MigrationsTable)
	if err != nil {
		return nil, err
	}
	tables := make([]Table, 0, len(names))
	for _, name := range names {
		t := Table{Name: name}
		// table_xinfo lists generated columns too (hidden 2 or 3): they are not copied.
		rows, err := q.QueryContext(ctx, `SELECT name, lower(type), hidden FROM pragma_table_xinfo(?) ORDER BY cid`, name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c Column
			var hidden int
			if err := rows.Scan(&c.Name, &c.Type, &hidden); err != nil {
				rows.Close()
				return nil, err
			}
			if hidden == 0 {
				t.Columns = append(t.Columns, c)
			}
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
		refs, err := strings1(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, name)
		if err != nil {
			return nil, err
		}
		t.References = refs
		tables = append(tables, t)
	}
	return tables, nil
}

func postgresTables(ctx context.Context, q querier) ([]Table, error) {
	names, err := strings1(ctx, q, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1 ORDER BY table_name`, MigrationsTable)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Table{}
	tables := make([]Table, len(names))
	for i, name := range names {
		tables[i].Name = name
		byName[name] = &tables[i]
	}
	rows, err := q.QueryContext(ctx, `SELECT table_name, column_name, data_type,
			is_identity = 'YES' OR coalesce(column_default, '') LIKE 'nextval(%', is_generated = 'ALWAYS'
		FROM information_schema.columns WHERE table_schema = current_schema()
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var table string
		var c Column
		var generated bool
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.Serial, &generated); err != nil {
			rows.Close()
			return nil, err
		}
		if t := byName[table]; t != nil && !generated {
			c.Type = strings.ToLower(c.Type)
			t.Columns = append(t.Columns, c)
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT DISTINCT c.relname, p.relname
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_class p ON p.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE k.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, err
		}
		if t := byName[child]; t != nil {
			t.References = append(t.References, parent)
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	return tables, nil
}

// order sorts tables topologically (parents first; among tables whose
// parents are placed, by name) and drops self-references.
func order(tables []Table) ([]Table, error) {
	byName := map[string]Table{}
	for _, t := range tables {
		refs := t.References[:0:0]
		for _, r := range t.References {
			if r != t.Name && !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
		sort.Strings(refs)
		t.References = refs
		byName[t.Name] = t
	}
	placed := map[string]bool{}
	out := make([]Table, 0, len(tables))
	for len(out) < len(byName) {
		var ready []string
		for name, t := range byName {
			if placed[name] {
				continue
			}
			ok := true
			for _, r := range t.References {
				if _, known := byName[r]; known && !placed[r] {
					ok = false
					break
				}
			}
			if ok {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			var rest []string
			for name := range byName {
				if !placed[name] {
					rest = append(rest, name)
				}
			}
			sort.Strings(rest)
			return nil, sam.Errorf(sam.EINTERNAL, "the foreign keys of tables %s form a cycle: no copy order exists", strings.Join(rest, ", "))
		}
		sort.Strings(ready)
		for _, name := range ready {
			placed[name] = true
			out = append(out, byName[name])
		}
	}
	return out, nil
}

// strings1 runs a query returning one text column.
func strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, s)
	}
	return out, closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// SchemaVersion returns the newest migration version recorded in the
// database q reads. EINVALID when it has no schema_migrations table (not a
// Seatwise database).
func SchemaVersion(ctx context.Context, q querier) (int64, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM `+MigrationsTable).Scan(&v); err != nil {
		return 0, sam.Wrap(sam.EINVALID, err, "read the schema version (is this a seatwise database?)")
	}
	if !v.Valid {
		return 0, sam.Errorf(sam.EINVALID, "the database has no schema version: not a migrated seatwise database")
	}
	return v.Int64, nil
}

// quote quotes an identifier for both databases.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// describe names a database for messages, without its password.
func describe(kind db.Kind, rawURL string) string {
	return fmt.Sprintf("%s database %s", kind, db.Redact(rawURL))
}
