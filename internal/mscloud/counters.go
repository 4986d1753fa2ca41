package mscloud

import (
	"sync"
	"time"
)

// Counters are what the simulator observed, for tests and the control API.
type Counters struct {
	// Requests counts requests per "kind route", e.g.
	// "graph GET /users" or "dataverse GET /audits".
	Requests map[string]int64 `json:"requests"`
	// Throttles counts 429 answers per host kind (injected and enforced).
	Throttles map[string]int64 `json:"throttles"`
	// Faults counts injected faults per "kind fault".
	Faults map[string]int64 `json:"faults"`
	// Violations counts requests that arrived while the same identity was
	// told to wait (before the Retry-After of an earlier 429/503 elapsed),
	// per host kind. A well-behaved client keeps this at zero.
	Violations map[string]int64 `json:"violations"`
	// Enforced counts 429s served by the real limits (not random faults),
	// per "kind limit", e.g. "dataverse concurrent".
	Enforced map[string]int64 `json:"enforced"`
	// LimitViolations counts requests that arrived while their identity
	// already had the concurrency limit in flight on the same environment
	// (Limits.DataverseConcurrent, or Microsoft's 52 when enforcement is
	// off), per host kind: requests beyond the documented limit, whether
	// they were answered 429 or served. A client within the limit keeps
	// this at zero.
	LimitViolations map[string]int64 `json:"limit_violations"`
	// PeakConcurrent is the most requests one identity had in flight at
	// once on one environment, per host kind.
	PeakConcurrent map[string]int64 `json:"peak_concurrent"`
}

type counters struct {
	mu        sync.Mutex
	c         Counters
	waitUntil map[string]time.Time // identity key -> Retry-After deadline
}

func newCounters() *counters {
	return &counters{c: emptyCounters(), waitUntil: map[string]time.Time{}}
}

func emptyCounters() Counters {
	return Counters{Requests: map[string]int64{}, Throttles: map[string]int64{}, Faults: map[string]int64{}, Violations: map[string]int64{},
		Enforced: map[string]int64{}, LimitViolations: map[string]int64{}, PeakConcurrent: map[string]int64{}}
}

func (s *Server) count(kind HostKind, route string) {
	s.counters.mu.Lock()
	s.counters.c.Requests[string(kind)+" "+route]++
	s.counters.mu.Unlock()
}

// noteArrival counts a violation when identity is still told to wait.
func (c *counters) noteArrival(kind HostKind, identity string, now time.Time) {
	if identity == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.waitUntil[string(kind)+"|"+identity]; ok {
		if now.Before(until) {
			c.c.Violations[string(kind)]++
		} else {
			delete(c.waitUntil, string(kind)+"|"+identity)
		}
	}
}

// noteWait records that identity was told to wait d.
func (c *counters) noteWait(kind HostKind, identity string, now time.Time, d time.Duration) {
	if identity == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A small grace absorbs clock granularity between client and server.
	c.waitUntil[string(kind)+"|"+identity] = now.Add(d - 20*time.Millisecond)
}

func (c *counters) fault(kind HostKind, name string, throttle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Faults[string(kind)+" "+name]++
	if throttle {
		c.c.Throttles[string(kind)]++
	}
}

func (c *counters) enforced(kind HostKind, limit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Enforced[string(kind)+" "+limit]++
	c.c.Throttles[string(kind)]++
}

// concurrency records one request's arrival: over when it exceeded the
// concurrency limit, inflight the requests in flight with it (0 when it
// was not admitted).
func (c *counters) concurrency(kind HostKind, over bool, inflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if over {
		c.c.LimitViolations[string(kind)]++
	}
	if int64(inflight) > c.c.PeakConcurrent[string(kind)] {
		c.c.PeakConcurrent[string(kind)] = int64(inflight)
	}
}

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	out := emptyCounters()
	for _, p := range []struct{ dst, src map[string]int64 }{
		{out.Requests, s.counters.c.Requests}, {out.Throttles, s.counters.c.Throttles}, {out.Faults, s.counters.c.Faults},
		{out.Violations, s.counters.c.Violations}, {out.Enforced, s.counters.c.Enforced},
		{out.LimitViolations, s.counters.c.LimitViolations}, {out.PeakConcurrent, s.counters.c.PeakConcurrent},
	} {
		for k, v := range p.src {
			p.dst[k] = v
		}
	}
	return out
}

// ResetCounters zeroes every counter.
func (s *Server) ResetCounters() {
	s.counters.mu.Lock()
	s.counters.c = emptyCounters()
	s.counters.waitUntil = map[string]time.Time{}
	s.counters.mu.Unlock()
}
