package odata

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what ParseRetryAfter returns, so an absurd header cannot
// overflow a Duration; the client's MaxWait decides whether to wait at all.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter parses a Retry-After header value: a number of seconds,
// possibly fractional as Graph sends it ("2.128"), or an HTTP date (RFC 9110:
// IMF-fixdate, RFC 850 or asctime), which is converted to the wait from now.
// A date in the past yields 0. ok is false for an empty or unparsable value,
// a negative number, NaN or infinity. The result is capped at 24 hours.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if c := v[0]; c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
			return 0, false
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(math.Round(secs * float64(time.Second))), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > maxRetryAfter {
		d = maxRetryAfter
	}
	return d, true
}
