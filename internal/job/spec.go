package job

import (
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Spec is a parsed schedule: when a schedule is due. All times are UTC.
type Spec struct {
	every   time.Duration // "every" specs; 0 otherwise
	weekday time.Weekday  // weekly specs
	weekly  bool
	minute  int // minute of the day of daily and weekly specs
}

// MinEvery and MaxEvery bound the interval of an "every" spec.
const (
	MinEvery = time.Minute
	MaxEvery = 365 * 24 * time.Hour
)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseSpec parses a schedule spec (case-insensitive, UTC):
//
//	daily HH:MM          every day at that time
//	weekly DAY HH:MM     every week on DAY (mon, tue, … sun) at that time
//	every DURATION       every DURATION after the previous slot (Go syntax such as 30m or 6h, 1m to 8760h)
//
// EINVALID, naming the accepted forms, for anything else.
func ParseSpec(s string) (Spec, error) {
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	bad := func(why string) (Spec, error) {
		return Spec{}, sam.Errorf(sam.EINVALID, "schedule %q: %s; accepted forms: \"daily HH:MM\", \"weekly DAY HH:MM\" (DAY mon…sun), \"every DURATION\" (e.g. 6h, at least 1m), times in UTC", s, why)
	}
	if len(f) == 0 {
		return bad("empty")
	}
	switch f[0] {
	case "daily":
		if len(f) != 2 {
			return bad("want one time after daily")
		}
		m, ok := parseClock(f[1])
		if !ok {
			return bad("time must be HH:MM between 00:00 and 23:59")
		}
		return Spec{minute: m}, nil
	case "weekly":
		if len(f) != 3 {
			return bad("want a day and a time after weekly")
		}
		wd, ok := weekdays[f[1]]
		if !ok {
			return bad("unknown day " + strconv.Quote(f[1]))
		}
		m, ok := parseClock(f[2])
		if !ok {
			return bad("time must be HH:MM between 00:00 and 23:59")
		}
		return Spec{weekly: true, weekday: wd, minute: m}, nil
	case "every":
		if len(f) != 2 {
			return bad("want one duration after every")
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return bad("bad duration")
		}
		if d < MinEvery || d > MaxEvery {
			return bad("interval shorter than 1m or longer than 8760h")
		}
		return Spec{every: d}, nil
	}
	return bad("unknown form")
}

func parseClock(s string) (int, bool) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) == 0 || len(hs) > 2 || len(ms) != 2 {
		return 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || hs[0] == '+' || hs[0] == '-' || ms[0] == '+' || ms[0] == '-' {
		return 0, false
	}
	return h*60 + m, true
}

// String returns the canonical form of the spec.
func (s Spec) String() string {
	switch {
	case s.every > 0:
		return "every " + s.every.String()
	case s.weekly:
		return "weekly " + strings.ToLower(s.weekday.String()[:3]) + " " + clock(s.minute)
	}
	return "daily " + clock(s.minute)
}

func clock(m int) string {
	return strconv.Itoa(m/60/10) + strconv.Itoa(m/60%10) + ":" + strconv.Itoa(m%60/10) + strconv.Itoa(m%10)
}

// Next returns the first slot strictly after t. For "every" specs slots are
// counted from the Unix epoch, so that all instances agree on them.
func (s Spec) Next(t time.Time) time.Time {
	t = t.UTC()
	if s.every > 0 {
		return time.Unix(0, 0).UTC().Add(t.Sub(time.Unix(0, 0)).Truncate(s.every) + s.every)
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	at := day.Add(time.Duration(s.minute) * time.Minute)
	if s.weekly {
		at = at.AddDate(0, 0, (int(s.weekday)-int(day.Weekday())+7)%7)
		if !at.After(t) {
			at = at.AddDate(0, 0, 7)
		}
		return at
	}
	if !at.After(t) {
		at = at.AddDate(0, 0, 1)
	}
	return at
}
