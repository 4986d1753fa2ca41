package db_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		url    string
		kind   db.Kind
		target string
	}{
		{"sqlite:///var/lib/seatwise/seatwise.db", db.SQLite, "/var/lib/seatwise/seatwise.db"},
		{"sqlite://./seatwise.db", db.SQLite, "./seatwise.db"},
		{"sqlite://data/seatwise.db", db.SQLite, "data/seatwise.db"},
		{"SQLITE://x.db", db.SQLite, "x.db"},
		{"sqlite:///./seatwise.db", db.SQLite, "./seatwise.db"},
		{"sqlite://./seatwise.db?mode=x", db.SQLite, "./seatwise.db"},
		{"sqlite://:memory:", db.SQLite, ":memory:"},
		{"postgres://u:p@h:5432/db?sslmode=disable", db.Postgres, "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgresql://h/db", db.Postgres, "postgresql://h/db"},
	}
	for _, tc := range tests {
		kind, target, err := db.Parse(tc.url)
		if err != nil || kind != tc.kind || target != tc.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tc.url, kind, target, err, tc.kind, tc.target)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, u := range []string{"", "seatwise.db", "mysql://root:hunter2@h/db", "sqlite://", "sqlite:///", "file:///x.db", "user:hunter2@host"} {
		_, _, err := db.Parse(u)
		if sam.ErrorCode(err) != sam.EINVALID {
			t.Errorf("Parse(%q) = %v, want EINVALID", u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) shows the password: %v", u, err)
		}
		if u != "sqlite://" && u != "sqlite:///" && !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("Parse(%q) does not list the accepted forms: %v", u, err)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"sqlite://" + filepath.Join(dir, "abs.db"), "sqlite://./rel.db", "sqlite://rel2.db"} {
		if err := db.Migrate(t.Context(), u); err != nil {
			t.Fatalf("Migrate(%s): %v", u, err)
		}
		s, err := db.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if s.Dialect() != "sqlite" {
			t.Errorf("dialect %q", s.Dialect())
		}
		if err := s.CreateProfile(t.Context(), &sam.Profile{Name: "p", TenantID: "00000000-0000-4000-8000-000000000001"}); err != nil {
			t.Errorf("write through %s: %v", u, err)
		}
		s.Close()
	}
	for _, f := range []string{"abs.db", "rel.db", "rel2.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("database file %s: %v", f, err)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	s, err := db.Open(t.Context(), "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &sam.Profile{Name: "p", TenantID: "00000000-0000-4000-8000-000000000001"}
	if err := s.CreateProfile(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProfileByName(t.Context(), "p"); err != nil {
		t.Errorf("in-memory database lost a row: %v", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	u := pgtest.URL(t)
	if err := db.Migrate(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != "postgres" {
		t.Errorf("dialect %q", s.Dialect())
	}
	if _, err := s.Profiles(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	_, err := db.Open(t.Context(), "postgresql://seatwise:hunter2@127.0.0.1:1/seatwise?connect_timeout=2")
	if sam.ErrorCode(err) != sam.EUNAVAILABLE || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open(unreachable) = %v", err)
	}
}
