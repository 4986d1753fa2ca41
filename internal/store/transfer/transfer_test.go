package transfer

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestOrder(t *testing.T) {
	tests := []struct {
		name   string
		tables []Table
		want   string
		err    bool
	}{
		{"independent by name", []Table{{Name: "b"}, {Name: "a"}}, "a b", false},
		{"parents first", []Table{{Name: "a", References: []string{"c"}}, {Name: "c"}, {Name: "b", References: []string{"a"}}}, "c a b", false},
		{"self reference ignored", []Table{{Name: "a", References: []string{"a"}}}, "a", false},
		{"unknown parent ignored", []Table{{Name: "a", References: []string{"gone"}}}, "a", false},
		{"cycle", []Table{{Name: "a", References: []string{"b"}}, {Name: "b", References: []string{"a"}}, {Name: "c"}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order(tt.tables)
			if tt.err {
				if sam.ErrorCode(err) != sam.EINTERNAL || !strings.Contains(err.Error(), "a, b") {
					t.Errorf("order = %v, %v; want a cycle error naming a, b", got, err)
				}
				return
			}
			var names []string
			for _, t := range got {
				names = append(names, t.Name)
			}
			if err != nil || strings.Join(names, " ") != tt.want {
				t.Errorf("order = %v, %v; want %s", names, err, tt.want)
			}
		})
	}
}

func TestConverters(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	tests := []struct {
		name     string
		from, to db.Kind
		typ      string
		in, want any
	}{
		{"bool to pg", db.SQLite, db.Postgres, "boolean", int64(1), true},
		{"false to pg", db.SQLite, db.Postgres, "boolean", int64(0), false},
		{"time to pg", db.SQLite, db.Postgres, "timestamp with time zone", "2026-03-04T05:06:07.891011Z", ts},
		{"day to pg", db.SQLite, db.Postgres, "date", "2026-03-04", time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
		{"bytes to pg", db.SQLite, db.Postgres, "bytea", "ab", []byte("ab")},
		{"int text to pg", db.SQLite, db.Postgres, "bigint", "42", int64(42)},
		{"null to pg", db.SQLite, db.Postgres, "timestamp with time zone", nil, nil},
		{"bool to sqlite", db.Postgres, db.SQLite, "boolean", true, int64(1)},
		{"time to sqlite", db.Postgres, db.SQLite, "timestamp with time zone", ts.In(time.FixedZone("x", 3600)), "2026-03-04T05:06:07.891011Z"},
		{"day to sqlite", db.Postgres, db.SQLite, "date", time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), "2026-03-04"},
		{"same kind", db.SQLite, db.SQLite, "text", "x", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := Column{Name: "c", Type: tt.typ}
			got, err := converter(tt.from, tt.to, col, col)(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			switch w := tt.want.(type) {
			case time.Time:
				if g, ok := got.(time.Time); !ok || !g.Equal(w) {
					t.Errorf("got %#v, want %v", got, w)
				}
			case []byte:
				if g, ok := got.([]byte); !ok || string(g) != string(w) {
					t.Errorf("got %#v, want %v", got, w)
				}
			default:
				if got != tt.want {
					t.Errorf("got %#v, want %#v", got, tt.want)
				}
			}
		})
	}
	if _, err := converter(db.SQLite, db.Postgres, Column{}, Column{Type: "timestamp with time zone"})("yesterday"); err == nil {
		t.Error("an unreadable time converted without error")
	}
}

// TestTablesMatchAcrossDialects: both dialects' migrations give the same
// tables with the same columns, as discovered, so every table copies.
func TestTablesMatchAcrossDialects(t *testing.T) {
	ctx := context.Background()
	sqliteURL := "sqlite://" + filepath.Join(t.TempDir(), "a.db")
	pgURL := pgtest.URL(t)
	for _, u := range []string{sqliteURL, pgURL} {
		if err := db.Migrate(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	_, path, _ := db.Parse(sqliteURL)
	lite, err := open(ctx, db.SQLite, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := open(ctx, db.Postgres, pgURL, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	a, err := Tables(ctx, lite, db.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Tables(ctx, pg, db.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameTables(a, b); err != nil {
		t.Fatal(err)
	}
	if len(a) < 10 {
		t.Errorf("only %d tables discovered", len(a))
	}
	// Parents come first in both orders.
	for _, tables := range [][]Table{a, b} {
		seen := map[string]bool{}
		for _, tb := range tables {
			for _, r := range tb.References {
				if !seen[r] {
					t.Errorf("table %s comes before its parent %s", tb.Name, r)
				}
			}
			seen[tb.Name] = true
		}
	}
	for _, q := range []*sql.DB{lite, pg} {
		if v, err := SchemaVersion(ctx, q); err != nil || v == 0 {
			t.Errorf("schema version %d, %v", v, err)
		}
	}
	// Copying an empty database works and refuses nothing.
	if _, err := Copy(ctx, sqliteURL, pgURL, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, sqliteURL, sqliteURL, Options{}); sam.ErrorCode(err) != sam.EINVALID {
		t.Errorf("copy onto itself: %v", err)
	}
	if _, err := Copy(ctx, "sqlite://"+filepath.Join(t.TempDir(), "none.db"), pgURL, Options{}); sam.ErrorCode(err) != sam.ENOTFOUND {
		t.Errorf("copy from a missing file: %v", err)
	}
}
