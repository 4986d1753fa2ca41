package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

// Format is an output format of --output.
type Format string

// Output formats.
const (
	FormatTable Format = "table" // aligned columns for people
	FormatJSON  Format = "json"  // a JSON array (lists) or object (single records)
	FormatCSV   Format = "csv"   // RFC 4180 with a header row
)

// Formats lists the output formats in help order.
var Formats = []Format{FormatTable, FormatJSON, FormatCSV}

// ParseFormat returns the format named s (case-insensitive); EINVALID
// otherwise.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Formats, f) {
		return f, nil
	}
	return "", sam.Errorf(sam.EINVALID, "--output %q: want table, json or csv", s)
}

// OutputFlag adds --output/-o (default table) to cmd and returns a function
// giving the parsed format when the command runs.
func OutputFlag(cmd *cobra.Command) func() (Format, error) {
	s := cmd.Flags().StringP("output", "o", string(FormatTable), "output format: table, json or csv")
	return func() (Format, error) { return ParseFormat(*s) }
}

// tableFlushRows bounds the rows a table buffers to align its columns;
// longer tables are aligned per block of this many rows, so that memory does
// not grow with the output.
const tableFlushRows = 500

// Printer writes records in one format as they come, without holding the
// whole output: a table (header row, aligned columns), CSV (header row) or a
// JSON array. Create one with NewPrinter, call Row per record, then Close.
type Printer struct {
	f       Format
	columns []string
	bw      *bufio.Writer
	tw      *tabwriter.Writer
	cw      *csv.Writer
	rows    int
	err     error
}

// NewPrinter starts output of records with the given columns (snake_case
// names: CSV headers and JSON keys as given, table headers in upper case with
// spaces).
func NewPrinter(w io.Writer, f Format, columns ...string) *Printer {
	p := &Printer{f: f, columns: columns, bw: bufio.NewWriter(w)}
	switch f {
	case FormatCSV:
		p.cw = csv.NewWriter(p.bw)
		p.err = p.cw.Write(columns)
	case FormatJSON:
		_, p.err = p.bw.WriteString("[")
	default:
		p.f = FormatTable
		p.tw = tabwriter.NewWriter(p.bw, 0, 0, 2, ' ', 0)
		p.writeTableHeader()
	}
	return p
}

func (p *Printer) writeTableHeader() {
	hs := make([]string, len(p.columns))
	for i, c := range p.columns {
		hs[i] = strings.ToUpper(strings.ReplaceAll(c, "_", " "))
	}
	_, p.err = fmt.Fprintln(p.tw, strings.Join(hs, "\t"))
}

// Row writes one record: cells (one per column) for table and CSV, and v for
// JSON, marshalled as is; when v is nil, JSON gets an object mapping each
// column to its cell. Tabs and newlines in table cells become spaces.
func (p *Printer) Row(v any, cells ...string) error {
	if p.err != nil {
		return p.err
	}
	switch p.f {
	case FormatCSV:
		p.err = p.cw.Write(cells)
	case FormatJSON:
		if v == nil {
			m := make(map[string]string, len(cells))
			for i, c := range p.columns {
				if i < len(cells) {
					m[c] = cells[i]
				}
			}
			v = m
		}
		b, err := json.Marshal(v)
		if err != nil {
			p.err = sam.Wrap(sam.EINTERNAL, err, "encoding JSON output")
			return p.err
		}
		sep := ",\n  "
		if p.rows == 0 {
			sep = "\n  "
		}
		if _, p.err = p.bw.WriteString(sep); p.err == nil {
			_, p.err = p.bw.Write(b)
		}
	default:
		clean := make([]string, len(cells))
		for i, c := range cells {
			clean[i] = strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || r == '\r' {
					return ' '
				}
				return r
			}, c)
		}
		_, p.err = fmt.Fprintln(p.tw, strings.Join(clean, "\t"))
		if p.err == nil && (p.rows+1)%tableFlushRows == 0 {
			if p.err = p.tw.Flush(); p.err == nil {
				p.err = p.bw.Flush()
			}
		}
	}
	p.rows++
	return p.err
}

// Rows returns the number of records written.
func (p *Printer) Rows() int { return p.rows }

// Close finishes the output (closing bracket of JSON, alignment of the last
// table block) and flushes it.
func (p *Printer) Close() error {
	if p.err != nil {
		return p.err
	}
	switch p.f {
	case FormatCSV:
		p.cw.Flush()
		p.err = p.cw.Error()
	case FormatJSON:
		end := "\n]\n"
		if p.rows == 0 {
			end = "]\n"
		}
		_, p.err = p.bw.WriteString(end)
	default:
		p.err = p.tw.Flush()
	}
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	return p.err
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return sam.Wrap(sam.EINTERNAL, err, "encoding JSON output")
	}
	return nil
}

// Field is one line of a record shown as "name  value" (see WriteRecord).
type Field struct {
	Name  string
	Value string
}

// WriteRecord prints one record in format f: a two-column name/value table
// (a field with an empty name continues the previous one on its own line),
// a CSV with the field names as header and one row, or v as a JSON object
// (an object of the fields when v is nil).
func WriteRecord(w io.Writer, f Format, v any, fields ...Field) error {
	switch f {
	case FormatJSON:
		if v == nil {
			m := make(map[string]string, len(fields))
			for _, fl := range fields {
				m[fl.Name] = fl.Value
			}
			v = m
		}
		return WriteJSON(w, v)
	case FormatCSV:
		cols := make([]string, len(fields))
		vals := make([]string, len(fields))
		for i, fl := range fields {
			cols[i], vals[i] = fl.Name, fl.Value
		}
		p := NewPrinter(w, FormatCSV, cols...)
		p.Row(nil, vals...)
		return p.Close()
	default:
		bw := bufio.NewWriter(w)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		for _, fl := range fields {
			name := ""
			if fl.Name != "" {
				name = strings.ReplaceAll(fl.Name, "_", " ") + ":"
			}
			fmt.Fprintf(tw, "%s\t%s\n", name, strings.NewReplacer("\t", " ", "\n", " ").Replace(fl.Value))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return bw.Flush()
	}
}
