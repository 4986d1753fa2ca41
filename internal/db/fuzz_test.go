package db_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
)

// FuzzParse checks that Parse never panics, classifies every input, and
// never repeats a URL's password in its error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sqlite:///var/lib/seatwise.db", "sqlite://./x.db", "sqlite://x.db?_pragma=foo", "sqlite://", "sqlite:///./x.db",
		"postgres://u:p@h:5432/db?sslmode=disable", "postgresql://h/db?password=pw", "mysql://root:pw@h/db",
		"http://user:secret@host/", "user:pw@host", "://", "postgres://u:p%zz@h/db", " sqlite://a.db ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		kind, target, err := db.Parse(raw)
		if err != nil {
			if sam.ErrorCode(err) != sam.EINVALID {
				t.Fatalf("Parse(%q) error %v is not EINVALID", raw, err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 6 && strings.Contains(err.Error(), pw) {
					t.Fatalf("Parse(%q) error shows the password: %v", raw, err)
				}
			}
			return
		}
		switch kind {
		case db.SQLite:
			if target == "" || target == "/" {
				t.Fatalf("Parse(%q) = empty SQLite path", raw)
			}
		case db.Postgres:
			if !strings.HasPrefix(strings.ToLower(target), "postgres") {
				t.Fatalf("Parse(%q) = PostgreSQL target %q", raw, target)
			}
		default:
			t.Fatalf("Parse(%q) = kind %q", raw, kind)
		}
	})
}
