package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func TestPrinter(t *testing.T) {
	type rec struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	rows := []struct {
		v     any
		cells []string
	}{
		{rec{"a", 1}, []string{"a", "1"}},
		{rec{"b,\"quoted\"\nline", 22}, []string{"b,\"quoted\"\nline", "22"}},
	}
	tests := []struct {
		format Format
		check  func(t *testing.T, out string)
	}{
		{FormatTable, func(t *testing.T, out string) {
			want := "NAME             COUNT\na                1\nb,\"quoted\" line  22\n"
			if out != want {
				t.Errorf("table:\n%q\nwant\n%q", out, want)
			}
		}},
		{FormatCSV, func(t *testing.T, out string) {
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(recs) != 3 || recs[0][0] != "name" || recs[2][0] != "b,\"quoted\"\nline" {
				t.Errorf("csv %q: %v", out, err)
			}
		}},
		{FormatJSON, func(t *testing.T, out string) {
			var got []rec
			if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 || got[1].Count != 22 || got[1].Name != rows[1].cells[0] {
				t.Errorf("json %q: %v", out, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var buf bytes.Buffer
			p := NewPrinter(&buf, tt.format, "name", "count")
			for _, r := range rows {
				if err := p.Row(r.v, r.cells...); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if p.Rows() != 2 {
				t.Errorf("Rows() = %d", p.Rows())
			}
			tt.check(t, buf.String())
		})
	}
}

func TestPrinterEmptyAndMaps(t *testing.T) {
	var buf bytes.Buffer
	p := NewPrinter(&buf, FormatJSON, "a")
	p.Close()
	if buf.String() != "[]\n" {
		t.Errorf("empty JSON %q", buf.String())
	}
	buf.Reset()
	p = NewPrinter(&buf, FormatJSON, "a", "b")
	p.Row(nil, "1", "2")
	p.Close()
	var got []map[string]string
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || got[0]["a"] != "1" || got[0]["b"] != "2" {
		t.Errorf("map JSON %q: %v", buf.String(), err)
	}
}

func TestPrinterLongTableStreams(t *testing.T) {
	var buf bytes.Buffer
	p := NewPrinter(&buf, FormatTable, "n")
	for i := 0; i < tableFlushRows+1; i++ {
		p.Row(nil, "x")
	}
	// The first block is written before Close.
	if strings.Count(buf.String(), "\n") < tableFlushRows {
		t.Errorf("only %d lines written before Close", strings.Count(buf.String(), "\n"))
	}
	p.Close()
	if n := strings.Count(buf.String(), "\n"); n != tableFlushRows+2 {
		t.Errorf("%d lines", n)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": FormatTable, "JSON": FormatJSON, " csv ": FormatCSV} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}

func TestWriteRecord(t *testing.T) {
	var buf bytes.Buffer
	WriteRecord(&buf, FormatTable, nil, Field{"sku_id", "x"}, Field{"long_name", "y\tz"}, Field{"", "more"})
	if buf.String() != "sku id:     x\nlong name:  y z\n            more\n" {
		t.Errorf("%q", buf.String())
	}
	buf.Reset()
	WriteRecord(&buf, FormatJSON, nil, Field{"a", "1"})
	if strings.TrimSpace(buf.String()) != "{\n  \"a\": \"1\"\n}" {
		t.Errorf("%q", buf.String())
	}
}
