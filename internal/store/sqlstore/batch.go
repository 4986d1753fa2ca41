package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// maxParams bounds the parameters of one statement (SQLite allows 32766,
// PostgreSQL 65535); maxRows bounds the rows of one multi-row INSERT.
const (
	maxParams = 30000
	maxRows   = 500
)

// placeholder returns the n-th (from 1) parameter of a statement whose
// parameters are all numbered in order.
func (s *Store) placeholder(n int) string {
	if s.d.AnonymousParams {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// insertMany runs head + " VALUES (...), (...) " + tail for rows, as few
// statements as the parameter limits allow. Every row has the same number
// of values. Rows must not repeat a key the tail's ON CONFLICT clause
// updates (PostgreSQL refuses to update a row twice in one statement).
func (s *Store) insertMany(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	ins := s.newRowInserter(tx, head, tail, len(rows[0]))
	defer ins.close()
	for _, r := range rows {
		if err := ins.add(ctx, r...); err != nil {
			return err
		}
	}
	return ins.flush(ctx)
}

// rowInserter appends rows with multi-row INSERTs of as many rows as the
// parameter limits allow, the statement of a full chunk prepared once per
// transaction when there is more than one, and one chunk's values in memory: staging tens of
// thousands of rows neither parses a statement per chunk nor holds every
// row's boxed values.
type rowInserter struct {
	s          *Store
	tx         *sql.Tx
	head, tail string
	cols, per  int       // values per row, rows per chunk
	sent       int       // full chunks written
	full       *sql.Stmt // the statement of a full chunk, prepared for the second
	args       []any
}

// newRowInserter returns an inserter of rows of cols values with head +
// " VALUES ... " + tail; close it when done.
func (s *Store) newRowInserter(tx *sql.Tx, head, tail string, cols int) *rowInserter {
	per := max(1, min(maxRows, maxParams/cols))
	return &rowInserter{s: s, tx: tx, head: head, tail: tail, cols: cols, per: per, args: make([]any, 0, per*cols)}
}

// add appends one row (cols values), writing a chunk when it is full.
func (in *rowInserter) add(ctx context.Context, values ...any) error {
	in.args = append(in.args, values...)
	if len(in.args) < in.per*in.cols {
		return nil
	}
	var err error
	switch {
	case in.full != nil:
		_, err = in.full.ExecContext(ctx, in.args...)
	case in.sent == 0:
		// One chunk may be all there is: preparing it would cost
		// PostgreSQL a round trip more.
		_, err = in.tx.ExecContext(ctx, in.statement(in.per), in.args...)
	default:
		if in.full, err = in.tx.PrepareContext(ctx, in.statement(in.per)); err == nil {
			_, err = in.full.ExecContext(ctx, in.args...)
		}
	}
	if err != nil {
		return in.fail(ctx, err)
	}
	in.sent++
	clear(in.args)
	in.args = in.args[:0]
	return nil
}

// flush writes the rows of the last, partial chunk.
func (in *rowInserter) flush(ctx context.Context) error {
	if len(in.args) == 0 {
		return nil
	}
	_, err := in.tx.ExecContext(ctx, in.statement(len(in.args)/in.cols), in.args...)
	in.args = in.args[:0]
	if err != nil {
		return in.fail(ctx, err)
	}
	return nil
}

// fail returns the cancellation of ctx rather than what it caused: a
// cancelled transaction closes its prepared statement ("statement is
// closed").
func (in *rowInserter) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

func (in *rowInserter) close() {
	if in.full != nil {
		in.full.Close()
	}
}

// statement is the INSERT of n rows.
func (in *rowInserter) statement(n int) string {
	var sb strings.Builder
	sb.WriteString(in.head)
	sb.WriteString(" VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j := range in.cols {
			if j > 0 {
				sb.WriteString(", ")
			}
			p++
			sb.WriteString(in.s.placeholder(p))
		}
		sb.WriteByte(')')
	}
	if in.tail != "" {
		sb.WriteByte(' ')
		sb.WriteString(in.tail)
	}
	return sb.String()
}
