package job_test

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestParseSpec(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		in        string
		canonical string
		after     string // Next(after) == next
		next      string
	}{
		{"daily 02:00", "daily 02:00", "2026-03-02T01:59:59Z", "2026-03-02T02:00:00Z"},
		{"daily 02:00", "daily 02:00", "2026-03-02T02:00:00Z", "2026-03-03T02:00:00Z"}, // strictly after
		{" DAILY 2:05 ", "daily 02:05", "2026-12-31T23:00:00Z", "2027-01-01T02:05:00Z"},
		{"daily 00:00", "daily 00:00", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"},
		{"daily 23:59", "daily 23:59", "2026-03-02T12:00:00+02:00", "2026-03-02T23:59:00Z"},
		{"weekly mon 04:00", "weekly mon 04:00", "2026-03-02T03:00:00Z", "2026-03-02T04:00:00Z"}, // a Monday
		{"weekly mon 04:00", "weekly mon 04:00", "2026-03-02T04:00:00Z", "2026-03-09T04:00:00Z"},
		{"weekly Sunday 01:30", "weekly sun 01:30", "2026-03-02T04:00:00Z", "2026-03-08T01:30:00Z"},
		{"weekly sat 00:00", "weekly sat 00:00", "2026-03-07T00:00:01Z", "2026-03-14T00:00:00Z"},
		{"every 1h", "every 1h0m0s", "2026-03-02T01:00:00Z", "2026-03-02T02:00:00Z"},
		{"every 90m", "every 1h30m0s", "2026-03-02T00:00:00Z", "2026-03-02T01:30:00Z"},
		{"every 1m", "every 1m0s", "2026-03-02T00:00:30Z", "2026-03-02T00:01:00Z"},
	}
	for _, tt := range tests {
		sp, err := job.ParseSpec(tt.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		if got := sp.String(); got != tt.canonical {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tt.in, got, tt.canonical)
		}
		if got := sp.Next(at(tt.after)); !got.Equal(at(tt.next)) || got.Location() != time.UTC {
			t.Errorf("%q.Next(%s) = %s, want %s", tt.in, tt.after, got, tt.next)
		}
	}
	for _, bad := range []string{"", "daily", "daily 24:00", "daily 12:60", "daily 1200", "daily -1:00", "daily 01:5",
		"daily +1:00", "weekly 04:00", "weekly xyz 04:00", "weekly mon", "every", "every 30s", "every -1h", "every 1 h", "every 8761h",
		"hourly", "daily 02:00 extra", "0 2 * * *"} {
		if _, err := job.ParseSpec(bad); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("ParseSpec(%q) = %v, want EINVALID", bad, err)
		}
	}
}

// FuzzParseSpec: a spec that parses has a canonical form that parses to the
// same schedule, and Next always moves strictly forward within the period.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"daily 02:00", "weekly mon 04:00", "every 6h", "every 1m30s", "weekly sunday 23:59", "daily 9:07"} {
		f.Add(s)
	}
	base := time.Date(2026, 3, 2, 1, 2, 3, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := job.ParseSpec(s)
		if err != nil {
			if !sam.IsCode(err, sam.EINVALID) {
				t.Fatalf("ParseSpec(%q) error not EINVALID: %v", s, err)
			}
			return
		}
		again, err := job.ParseSpec(sp.String())
		if err != nil || again != sp {
			t.Fatalf("canonical %q of %q parses to %v, %v", sp.String(), s, again, err)
		}
		next := sp.Next(base)
		if !next.After(base) || next.Sub(base) > 7*24*time.Hour && next.Sub(base) > 2*sp.Next(next).Sub(next) {
			t.Fatalf("%q.Next(%s) = %s", s, base, next)
		}
		if n2 := sp.Next(next); !n2.After(next) {
			t.Fatalf("%q.Next(%s) = %s does not move forward", s, next, n2)
		}
	})
}
