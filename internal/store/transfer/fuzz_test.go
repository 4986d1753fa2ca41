package transfer

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

// FuzzParseTime: reading a SQLite time never panics, and a time it reads
// survives the round trip through PostgreSQL's type and back to SQLite's
// text (microseconds, UTC).
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-01-02T03:04:05.678901Z", "2026-01-02", "2026-01-02 03:04:05+02:00",
		"2026-01-02 03:04:05.123456789", "2026-13-40", "", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"} {
		f.Add(s)
	}
	toText := toSQLite("timestamp with time zone")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("parseTime(%q) = %v, not UTC", s, tm)
		}
		text, err := toText(tm)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseTime(text.(string))
		if err != nil {
			t.Fatalf("parseTime(%q) of its own output: %v", text, err)
		}
		if want := tm.Truncate(time.Microsecond); !back.Equal(want) {
			t.Fatalf("%q -> %v -> %q -> %v", s, tm, text, back)
		}
		if len(text.(string)) != len(sqlstore.SQLiteTimeLayout) && tm.Year() >= 0 && tm.Year() <= 9999 {
			t.Fatalf("%q is not fixed-width", text)
		}
	})
}
