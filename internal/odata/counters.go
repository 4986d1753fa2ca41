package odata

import (
	"maps"
	"sync"
)

// HostStats counts the requests sent to one host.
type HostStats struct {
	Requests  int64 // HTTP requests sent, including retries
	Throttles int64 // 429 answers
	Retries   int64 // requests sent again after a failure (including after a 401 refresh)
	Failures  int64 // requests that failed for good (after all retries)
}

// Stats is a snapshot of Counters: totals and per host ("host:port").
type Stats struct {
	Requests  int64
	Throttles int64
	Retries   int64
	Failures  int64
	Hosts     map[string]HostStats
}

// Counters accumulates request statistics. It is safe for concurrent use;
// several Clients may share one (Config.Counters) so that a run reports one
// total over Graph and every Dataverse environment.
type Counters struct {
	mu    sync.Mutex
	hosts map[string]HostStats
}

// NewCounters returns empty counters.
func NewCounters() *Counters { return &Counters{hosts: map[string]HostStats{}} }

func (c *Counters) add(host string, f func(*HostStats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hosts == nil {
		c.hosts = map[string]HostStats{}
	}
	h := c.hosts[host]
	f(&h)
	c.hosts[host] = h
}

// Snapshot returns the current counts; later requests do not change it.
func (c *Counters) Snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Hosts: maps.Clone(c.hosts)}
	if s.Hosts == nil {
		s.Hosts = map[string]HostStats{}
	}
	for _, h := range c.hosts {
		s.Requests += h.Requests
		s.Throttles += h.Throttles
		s.Retries += h.Retries
		s.Failures += h.Failures
	}
	return s
}

// Counts returns the total requests, throttles (429) and retries.
func (c *Counters) Counts() (requests, throttles, retries int64) {
	s := c.Snapshot()
	return s.Requests, s.Throttles, s.Retries
}
