package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/sqlite"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

// DefaultBatchRows is how many rows one INSERT writes when Options.BatchRows
// is zero.
const DefaultBatchRows = 500

// maxParams bounds the parameters of one INSERT (SQLite allows 32766,
// PostgreSQL 65535).
const maxParams = 30000

// Options tune Copy.
type Options struct {
	// BatchRows is how many rows one INSERT writes (DefaultBatchRows when
	// zero); fewer when the table has many columns.
	BatchRows int
	// Replace deletes every row of the target before copying. Without it a
	// target holding any row is refused (ECONFLICT).
	Replace bool
	// Progress, when set, is called after each batch with the table and the
	// rows of it copied so far, and once with done true per table.
	Progress func(table string, rows int64, done bool)
}

// TableCount is how many rows of one table were copied.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Result describes a finished copy.
type Result struct {
	SchemaVersion int64        `json:"schema_version"`
	Tables        []TableCount `json:"tables"` // in copy order
	Rows          int64        `json:"rows"`   // all tables
}

// Copy copies every data table of the database fromURL names into the one
// toURL names, which must already be migrated to the same schema version
// (db.Migrate both first). The source is read in one read-only transaction
// (a consistent snapshot; other processes may keep writing), the target is
// written in one transaction committed only after every table's row count
// was checked against the source, and PostgreSQL identity sequences are
// moved past the copied keys.
//
// Errors: EINVALID when the URLs are unsupported or name the same database,
// or the schema versions or tables differ; ENOTFOUND when a SQLite source
// file does not exist; ECONFLICT when the target holds rows and
// opt.Replace is false; EUNAVAILABLE when a database cannot be opened or a
// statement fails. Messages never contain a password.
func Copy(ctx context.Context, fromURL, toURL string, opt Options) (*Result, error) {
	fromKind, fromTarget, err := db.Parse(fromURL)
	if err != nil {
		return nil, err
	}
	toKind, toTarget, err := db.Parse(toURL)
	if err != nil {
		return nil, err
	}
	if fromKind == toKind && sameTarget(fromKind, fromTarget, toTarget) {
		return nil, sam.Errorf(sam.EINVALID, "source and target are the same database (%s)", db.Redact(fromURL))
	}
	if fromKind == db.SQLite {
		if _, err := os.Stat(fromTarget); errors.Is(err, fs.ErrNotExist) {
			return nil, sam.Errorf(sam.ENOTFOUND, "SQLite database %s does not exist", fromTarget)
		}
	}
	src, err := open(ctx, fromKind, fromTarget, false)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := open(ctx, toKind, toTarget, true)
	if err != nil {
		return nil, err
	}
	defer dst.Close()

	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: readIsolation(fromKind)})
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "begin reading the %s", describe(fromKind, fromURL))
	}
	defer stx.Rollback() //nolint:errcheck // read-only
	dtx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "begin writing the %s", describe(toKind, toURL))
	}
	defer dtx.Rollback() //nolint:errcheck // no-op after Commit

	c := &copier{ctx: ctx, opt: opt, src: stx, dst: dtx, fromKind: fromKind, toKind: toKind}
	res, err := c.run(fromURL, toURL)
	if err != nil {
		return nil, err
	}
	if err := dtx.Commit(); err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "commit the copy into the %s", describe(toKind, toURL))
	}
	return res, nil
}

// sameTarget reports whether two driver targets of one kind name the same
// database (same file, or same PostgreSQL host, port and database).
func sameTarget(kind db.Kind, a, b string) bool {
	if kind == db.SQLite {
		if a == ":memory:" || b == ":memory:" {
			return false
		}
		sa, errA := os.Stat(a)
		sb, errB := os.Stat(b)
		if errA == nil && errB == nil {
			return os.SameFile(sa, sb)
		}
		return a == b
	}
	ca, errA := pgx.ParseConfig(a)
	cb, errB := pgx.ParseConfig(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ca.Host == cb.Host && ca.Port == cb.Port && ca.Database == cb.Database
}

func readIsolation(kind db.Kind) sql.IsolationLevel {
	if kind == db.Postgres {
		return sql.LevelRepeatableRead
	}
	return sql.LevelDefault
}

// open connects to a database without migrating it. SQLite targets take the
// write lock when their transaction begins; the source's read transaction
// is deferred, so other processes keep writing while it reads its snapshot.
func open(ctx context.Context, kind db.Kind, target string, write bool) (*sql.DB, error) {
	var conn *sql.DB
	switch kind {
	case db.SQLite:
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		if write {
			q.Set("_txlock", "immediate")
		}
		d, err := sql.Open("sqlite", target+"?"+q.Encode())
		if err != nil {
			return nil, sam.Wrap(sam.EUNAVAILABLE, err, "open SQLite database %s", target)
		}
		d.SetMaxOpenConns(1)
		conn = d
	case db.Postgres:
		cfg, err := pgx.ParseConfig(target)
		if err != nil {
			return nil, sam.Errorf(sam.EINVALID, "invalid PostgreSQL URL %s", db.Redact(target))
		}
		conn = stdlib.OpenDB(*cfg)
		conn.SetMaxOpenConns(2)
	default:
		return nil, sam.Errorf(sam.EINTERNAL, "cannot open database kind %q", kind)
	}
	if err := conn.PingContext(ctx); err != nil {
		conn.Close()
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "connect to the %s", describe(kind, target))
	}
	return conn, nil
}

type copier struct {
	ctx              context.Context
	opt              Options
	src, dst         *sql.Tx
	fromKind, toKind db.Kind
}

func (c *copier) run(fromURL, toURL string) (*Result, error) {
	ctx := c.ctx
	fromVersion, err := SchemaVersion(ctx, c.src)
	if err != nil {
		return nil, sam.Wrap(sam.ErrorCode(err), err, "source %s", describe(c.fromKind, fromURL))
	}
	toVersion, err := SchemaVersion(ctx, c.dst)
	if err != nil {
		return nil, sam.Wrap(sam.ErrorCode(err), err, "target %s", describe(c.toKind, toURL))
	}
	if fromVersion != toVersion {
		return nil, sam.Errorf(sam.EINVALID, "the source's schema version %d differs from the target's %d: migrate both with this seatwise first", fromVersion, toVersion)
	}
	srcTables, err := Tables(ctx, c.src, c.fromKind)
	if err != nil {
		return nil, err
	}
	dstTables, err := Tables(ctx, c.dst, c.toKind)
	if err != nil {
		return nil, err
	}
	if err := sameTables(srcTables, dstTables); err != nil {
		return nil, err
	}
	if err := c.prepareTarget(dstTables); err != nil {
		return nil, err
	}
	srcByName := map[string]Table{}
	for _, t := range srcTables {
		srcByName[t.Name] = t
	}
	res := &Result{SchemaVersion: fromVersion}
	// In the target's order: its foreign keys are the ones checked, and the
	// two databases need not have the same (PostgreSQL has fewer, migration
	// 0056).
	for _, d := range dstTables {
		n, err := c.copyTable(srcByName[d.Name], d)
		if err != nil {
			return nil, err
		}
		res.Tables = append(res.Tables, TableCount{Table: d.Name, Rows: n})
		res.Rows += n
	}
	if c.toKind == db.Postgres {
		if err := c.resetSequences(dstTables); err != nil {
			return nil, err
		}
	}
	for _, tc := range res.Tables {
		var s, d int64
		if err := c.src.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(tc.Table)).Scan(&s); err != nil {
			return nil, sam.Wrap(sam.EUNAVAILABLE, err, "count the source's %s rows", tc.Table)
		}
		if err := c.dst.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(tc.Table)).Scan(&d); err != nil {
			return nil, sam.Wrap(sam.EUNAVAILABLE, err, "count the target's %s rows", tc.Table)
		}
		if s != tc.Rows || d != tc.Rows {
			return nil, sam.Errorf(sam.EINTERNAL, "table %s: %d rows in the source, %d copied, %d in the target", tc.Table, s, tc.Rows, d)
		}
	}
	return res, nil
}

// sameTables checks that both databases have the same tables with the same
// columns.
func sameTables(src, dst []Table) error {
	dstBy := map[string]Table{}
	for _, t := range dst {
		dstBy[t.Name] = t
	}
	var missing []string
	for _, t := range src {
		d, ok := dstBy[t.Name]
		if !ok {
			missing = append(missing, t.Name)
			continue
		}
		delete(dstBy, t.Name)
		if a, b := columnNames(t), columnNames(d); a != b {
			return sam.Errorf(sam.EINVALID, "table %s has columns (%s) in the source but (%s) in the target", t.Name, a, b)
		}
	}
	if len(missing) > 0 {
		return sam.Errorf(sam.EINVALID, "the target has no table %s", strings.Join(missing, ", "))
	}
	if len(dstBy) > 0 {
		var extra []string
		for name := range dstBy {
			extra = append(extra, name)
		}
		return sam.Errorf(sam.EINVALID, "the source has no table %s", strings.Join(extra, ", "))
	}
	return nil
}

// columnNames lists a table's columns in name order.
func columnNames(t Table) string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// prepareTarget refuses a target holding rows, or empties it with Replace
// (children first). Rows that the migrations themselves insert (a settings
// row, say) do not count as data: they are deleted and replaced by the
// source's.
func (c *copier) prepareTarget(tables []Table) error {
	seeded, err := seededRows(c.ctx)
	if err != nil {
		return err
	}
	var empty []string // children first
	for i := len(tables) - 1; i >= 0; i-- {
		t := tables[i]
		if c.opt.Replace {
			empty = append(empty, t.Name)
			continue
		}
		var n int64
		if err := c.dst.QueryRowContext(c.ctx, `SELECT count(*) FROM `+quote(t.Name)).Scan(&n); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "read the target's table %s", t.Name)
		}
		if n > seeded[t.Name] {
			return sam.Errorf(sam.ECONFLICT, "the target database is not empty (table %s holds rows): copy only into a new, empty database, or replace its contents explicitly", t.Name)
		}
		if n > 0 {
			empty = append(empty, t.Name)
		}
	}
	return c.emptyTables(empty)
}

// emptyTables deletes every row of tables (children first) in the target
// transaction. Append-only tables refuse DELETE through triggers: PostgreSQL
// empties them with TRUNCATE (which fires no row trigger); on SQLite their
// triggers are dropped and re-created around the DELETE, inside the same
// transaction.
func (c *copier) emptyTables(tables []string) error {
	if len(tables) == 0 {
		return nil
	}
	if c.toKind == db.Postgres {
		quoted := make([]string, len(tables))
		for i, t := range tables {
			quoted[i] = quote(t)
		}
		if _, err := c.dst.ExecContext(c.ctx, `TRUNCATE `+strings.Join(quoted, ", ")); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "empty the target's tables %s", strings.Join(tables, ", "))
		}
		return nil
	}
	type trigger struct{ name, sql string }
	var triggers []trigger
	for _, t := range tables {
		rows, err := c.dst.QueryContext(c.ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, t)
		if err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "read the triggers of %s", t)
		}
		for rows.Next() {
			var tr trigger
			if err := rows.Scan(&tr.name, &tr.sql); err != nil {
				rows.Close()
				return sam.Wrap(sam.EUNAVAILABLE, err, "read the triggers of %s", t)
			}
			triggers = append(triggers, tr)
		}
		if err := closeRows(rows); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "read the triggers of %s", t)
		}
	}
	for _, tr := range triggers {
		if _, err := c.dst.ExecContext(c.ctx, `DROP TRIGGER `+quote(tr.name)); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "drop trigger %s while emptying the target", tr.name)
		}
	}
	for _, t := range tables {
		if _, err := c.dst.ExecContext(c.ctx, `DELETE FROM `+quote(t)); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "empty the target's table %s", t)
		}
	}
	for _, tr := range triggers {
		if _, err := c.dst.ExecContext(c.ctx, tr.sql); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "re-create trigger %s", tr.name)
		}
	}
	return nil
}

var (
	seedOnce   sync.Once
	seedCounts map[string]int64
	seedErr    error
)

// seededRows returns how many rows the migrations insert into each table
// of a new database (learnt once by migrating an in-memory SQLite database;
// both dialects' migrations insert the same rows).
func seededRows(ctx context.Context) (map[string]int64, error) {
	seedOnce.Do(func() {
		conn, err := sql.Open("sqlite", ":memory:")
		if err != nil {
			seedErr = sam.Wrap(sam.EINTERNAL, err, "open an in-memory database")
			return
		}
		defer conn.Close()
		conn.SetMaxOpenConns(1)
		if err := sqlstore.Migrate(context.WithoutCancel(ctx), conn, sqlite.Dialect, sqlite.Migrations()); err != nil {
			seedErr = err
			return
		}
		tables, err := Tables(ctx, conn, db.SQLite)
		if err != nil {
			seedErr = err
			return
		}
		counts := map[string]int64{}
		for _, t := range tables {
			var n int64
			if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(t.Name)).Scan(&n); err != nil {
				seedErr = sam.Wrap(sam.EINTERNAL, err, "count the rows of a new database's %s", t.Name)
				return
			}
			if n > 0 {
				counts[t.Name] = n
			}
		}
		seedCounts = counts
	})
	return seedCounts, seedErr
}

// copyTable streams one table from source to target and returns its rows.
func (c *copier) copyTable(src, dst Table) (int64, error) {
	ctx := c.ctx
	dstCols := map[string]Column{}
	for _, col := range dst.Columns {
		dstCols[col.Name] = col
	}
	names := make([]string, len(src.Columns))
	conv := make([]func(any) (any, error), len(src.Columns))
	serial := false
	for i, col := range src.Columns {
		names[i] = quote(col.Name)
		d := dstCols[col.Name]
		conv[i] = converter(c.fromKind, c.toKind, col, d)
		serial = serial || d.Serial
	}
	batch := c.opt.BatchRows
	if batch <= 0 {
		batch = DefaultBatchRows
	}
	batch = max(1, min(batch, maxParams/max(1, len(names))))

	rows, err := c.src.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+quote(src.Name))
	if err != nil {
		return 0, sam.Wrap(sam.EUNAVAILABLE, err, "read table %s", src.Name)
	}
	defer rows.Close()
	var (
		full  *sql.Stmt
		args  = make([]any, 0, batch*len(names))
		n     int64
		inRow = 0
		vals  = make([]any, len(names))
		ptrs  = make([]any, len(names))
	)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	flush := func() error {
		if inRow == 0 {
			return nil
		}
		var err error
		if inRow == batch {
			if full == nil {
				full, err = c.dst.PrepareContext(ctx, c.insertSQL(src.Name, names, batch, serial))
				if err != nil {
					return sam.Wrap(sam.EUNAVAILABLE, err, "prepare the insert into %s", src.Name)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = c.dst.ExecContext(ctx, c.insertSQL(src.Name, names, inRow, serial), args...)
		}
		if err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "write %d rows into %s", inRow, src.Name)
		}
		n += int64(inRow)
		inRow, args = 0, args[:0]
		if c.opt.Progress != nil {
			c.opt.Progress(src.Name, n, false)
		}
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, sam.Wrap(sam.EUNAVAILABLE, err, "read a row of %s", src.Name)
		}
		for i, v := range vals {
			cv, err := conv[i](v)
			if err != nil {
				return 0, sam.Wrap(sam.EINVALID, err, "table %s, column %s", src.Name, src.Columns[i].Name)
			}
			args = append(args, cv)
		}
		inRow++
		if inRow == batch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, sam.Wrap(sam.EUNAVAILABLE, err, "read table %s", src.Name)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if c.opt.Progress != nil {
		c.opt.Progress(src.Name, n, true)
	}
	return n, nil
}

// insertSQL is a multi-row INSERT of rows rows.
func (c *copier) insertSQL(table string, cols []string, rows int, serial bool) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(table))
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(")")
	if serial && c.toKind == db.Postgres {
		// Identity columns declared GENERATED ALWAYS take the copied keys too.
		b.WriteString(" OVERRIDING SYSTEM VALUE")
	}
	b.WriteString(" VALUES ")
	p := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for i := range cols {
			if i > 0 {
				b.WriteByte(',')
			}
			p++
			if c.toKind == db.Postgres {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// resetSequences moves each identity or serial sequence of the target past
// the largest copied key, so that new rows get new keys.
func (c *copier) resetSequences(tables []Table) error {
	for _, t := range tables {
		for _, col := range t.Columns {
			if !col.Serial {
				continue
			}
			q := `SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(` + quote(col.Name) + `), 0) + 1, false) FROM ` + quote(t.Name)
			var v sql.NullInt64
			if err := c.dst.QueryRowContext(c.ctx, q, quote(t.Name), col.Name).Scan(&v); err != nil {
				return sam.Wrap(sam.EUNAVAILABLE, err, "reset the sequence of %s.%s", t.Name, col.Name)
			}
		}
	}
	return nil
}

// converter returns how a value read from column src of a fromKind database
// is written into column dst of a toKind database. SQLite keeps timestamps
// and days as fixed-layout text and booleans as integers; PostgreSQL has
// timestamptz, date, boolean and bytea.
func converter(fromKind, toKind db.Kind, src, dst Column) func(any) (any, error) {
	same := func(v any) (any, error) { return v, nil }
	switch {
	case fromKind == toKind:
		return same
	case toKind == db.Postgres:
		return toPostgres(dst.Type)
	case toKind == db.SQLite:
		return toSQLite(src.Type)
	}
	return same
}

func toPostgres(typ string) func(any) (any, error) {
	switch {
	case typ == "boolean":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case int64:
				return x != 0, nil
			case float64:
				return x != 0, nil
			case string:
				return strconv.ParseBool(x)
			case []byte:
				return strconv.ParseBool(string(x))
			}
			return v, nil
		}
	case strings.HasPrefix(typ, "timestamp"), typ == "date":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case string:
				return parseTime(x)
			case []byte:
				return parseTime(string(x))
			}
			return v, nil
		}
	case typ == "bytea":
		return func(v any) (any, error) {
			if s, ok := v.(string); ok {
				return []byte(s), nil
			}
			return v, nil
		}
	case typ == "bigint" || typ == "integer" || typ == "smallint":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case string:
				return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			case float64:
				if x != float64(int64(x)) {
					return nil, fmt.Errorf("%v is not an integer", x)
				}
				return int64(x), nil
			}
			return v, nil
		}
	case typ == "text" || strings.HasPrefix(typ, "character") || typ == "json" || typ == "jsonb":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case []byte:
				return string(x), nil
			case int64:
				return strconv.FormatInt(x, 10), nil
			case float64:
				return strconv.FormatFloat(x, 'g', -1, 64), nil
			}
			return v, nil
		}
	}
	return func(v any) (any, error) { return v, nil }
}

func toSQLite(typ string) func(any) (any, error) {
	switch {
	case typ == "boolean":
		return func(v any) (any, error) {
			if b, ok := v.(bool); ok {
				if b {
					return int64(1), nil
				}
				return int64(0), nil
			}
			return v, nil
		}
	case strings.HasPrefix(typ, "timestamp"):
		return func(v any) (any, error) {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Truncate(time.Microsecond).Format(sqlstore.SQLiteTimeLayout), nil
			}
			return v, nil
		}
	case typ == "date":
		return func(v any) (any, error) {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format(sqlstore.SQLiteDayLayout), nil
			}
			return v, nil
		}
	}
	return func(v any) (any, error) { return v, nil }
}

// parseTime reads a timestamp or day as SQLite stores it.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{sqlstore.SQLiteTimeLayout, time.RFC3339Nano, sqlstore.SQLiteDayLayout,
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time", s)
}
