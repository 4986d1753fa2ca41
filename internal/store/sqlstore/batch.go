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
	ncols := len(rows[0])
	per := max(1, min(maxRows, maxParams/ncols))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var sb strings.Builder
		args := make([]any, 0, len(chunk)*ncols)
		sb.WriteString(head)
		sb.WriteString(" VALUES ")
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j := range r {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(s.placeholder(len(args) + j + 1))
			}
			sb.WriteByte(')')
			args = append(args, r...)
		}
		sb.WriteByte(' ')
		sb.WriteString(tail)
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
