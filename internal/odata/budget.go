package odata

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of BudgetConfig.
const (
	// DataverseConcurrencyLimit is Microsoft's documented limit of
	// concurrent Dataverse requests per user (or application user) per web
	// server; no Controller ever admits more than this by default.
	DataverseConcurrencyLimit = 52
	// DefaultGlobalConcurrency bounds the requests in flight across every
	// identity and host of one process.
	DefaultGlobalConcurrency = 128
	// DefaultInitialConcurrency is where a new Controller starts.
	DefaultInitialConcurrency = 8
)

// BudgetConfig configures Budgets. Zero values mean the defaults.
type BudgetConfig struct {
	// Global is the number of requests that may be in flight at once over
	// every Controller of the Budgets (default DefaultGlobalConcurrency).
	Global int
	// Max is the ceiling of each Controller's concurrency
	// (default DataverseConcurrencyLimit, 52).
	Max int
	// Initial is a new Controller's concurrency (default
	// DefaultInitialConcurrency, at most Max).
	Initial int
}

// Budgets is a registry of adaptive concurrency Controllers keyed by
// (identity, scope), plus one global concurrency budget shared by all of
// them. Every client, profile and job of a process that uses the same
// identity (application or user) against the same scope (a Dataverse
// environment, which is one web server, or the Graph host) must get its
// Controller from the same Budgets, so that together they stay within
// Microsoft's limits for that identity; DefaultBudgets is the process-wide
// one. It is safe for concurrent use.
type Budgets struct {
	cfg    BudgetConfig
	global chan struct{}
	peak   atomic.Int64
	mu     sync.Mutex
	ctrls  map[budgetKey]*Controller
}

type budgetKey struct{ identity, scope string }

// NewBudgets returns an empty registry with cfg's global budget.
func NewBudgets(cfg BudgetConfig) *Budgets {
	if cfg.Global <= 0 {
		cfg.Global = DefaultGlobalConcurrency
	}
	if cfg.Max <= 0 {
		cfg.Max = DataverseConcurrencyLimit
	}
	if cfg.Initial <= 0 {
		cfg.Initial = DefaultInitialConcurrency
	}
	cfg.Initial = min(cfg.Initial, cfg.Max)
	return &Budgets{cfg: cfg, global: make(chan struct{}, cfg.Global), ctrls: map[budgetKey]*Controller{}}
}

var (
	defaultBudgetsOnce sync.Once
	defaultBudgets     *Budgets
)

// DefaultBudgets returns the process-wide registry (default
// configuration), created on first use.
func DefaultBudgets() *Budgets {
	defaultBudgetsOnce.Do(func() { defaultBudgets = NewBudgets(BudgetConfig{}) })
	return defaultBudgets
}

// Config returns the registry's configuration with defaults filled in.
func (b *Budgets) Config() BudgetConfig { return b.cfg }

// InFlight returns the requests in flight over every Controller.
func (b *Budgets) InFlight() int { return len(b.global) }

// Peak returns the most requests that were in flight at once over every
// Controller (never more than BudgetConfig.Global).
func (b *Budgets) Peak() int { return int(b.peak.Load()) }

// Controller returns the Controller of identity against scope, creating it
// on first use. identity names who the requests run as (for example
// "app:{tenant}/{client id}"), scope what Microsoft limits them on (for
// example a Dataverse environment URL); both are compared case-insensitively.
func (b *Budgets) Controller(identity, scope string) *Controller {
	k := budgetKey{strings.ToLower(identity), strings.ToLower(strings.TrimRight(scope, "/"))}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.ctrls[k]; ok {
		return c
	}
	c := &Controller{b: b, max: b.cfg.Max, limit: float64(b.cfg.Initial), slowStart: true, wake: make(chan struct{})}
	b.ctrls[k] = c
	return c
}

// Controller is an adaptive (AIMD) concurrency limit for one identity
// against one scope. It starts at BudgetConfig.Initial requests in flight,
// adds one for every clean answer until the first sign of pressure (slow
// start), then about one per round of answers; it halves on a 429, on a 503
// with Retry-After and when Dataverse's rate-limit headers
// (x-ms-ratelimit-burst-remaining-xrm-requests,
// x-ms-ratelimit-time-remaining-xrm-requests) or Graph's
// x-ms-throttle-limit-percentage run low; it never goes above
// BudgetConfig.Max nor below one. The number in flight when a 429 came is
// remembered as a ceiling the limit stays under, probing one higher after
// 50 clean answers at it. A Retry-After stops every request of the
// Controller (not only the one that got it) until it has elapsed. Each
// admitted request also holds one slot of the Budgets' global budget; a
// Controller that waits out a Retry-After holds none, so other identities
// keep going.
type Controller struct {
	b   *Budgets
	max int

	mu          sync.Mutex
	limit       float64
	slowStart   bool
	inflight    int // admitted, including those waiting for a global slot
	running     int // admitted and holding a global slot
	peak        int
	pausedUntil time.Time
	lastDrop    time.Time // when the limit was last decreased
	// ceil is the concurrency learned to be too much (0: none yet): the
	// limit stays below it, and probes one higher after probeAfter clean
	// answers at it.
	ceil       float64
	cleanAtTop int
	wake       chan struct{}
	// the largest rate-limit header values seen: the window's size
	burstMax, timeMax float64
	stats             ControllerStats
}

// ControllerStats counts what a Controller observed.
type ControllerStats struct {
	Admitted  int64 // requests admitted
	Throttled int64 // 429 answers
	Pressure  int64 // answers whose rate-limit headers ran low
	Decreases int64 // times the limit was lowered
	Paused    time.Duration
}

// ControllerState is a snapshot of a Controller.
type ControllerState struct {
	Limit       int
	InFlight    int
	Peak        int // most requests in flight at once so far (holding a global slot)
	PausedUntil time.Time
	Stats       ControllerStats
}

// State returns a snapshot of the Controller.
func (c *Controller) State() ControllerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ControllerState{Limit: int(c.limit), InFlight: c.inflight, Peak: c.peak, PausedUntil: c.pausedUntil, Stats: c.stats}
}

// Limit returns the current concurrency limit (at least one): how many
// requests the Controller admits at once now.
func (c *Controller) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.limit)
}

// Permit is one admitted request; Done must be called exactly once.
type Permit struct {
	c     *Controller
	start time.Time
}

// Acquire waits until the Controller admits one more request (its limit
// not reached, no Retry-After pending) and a global slot is free, or until
// ctx is done (then it returns ctx.Err()).
func (c *Controller) Acquire(ctx context.Context) (*Permit, error) {
	for {
		c.mu.Lock()
		now := time.Now()
		if now.Before(c.pausedUntil) {
			wait, wake := c.pausedUntil.Sub(now), c.wake
			c.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			case <-wake:
				t.Stop()
			}
			continue
		}
		if c.inflight >= int(c.limit) {
			wake := c.wake
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-wake:
			}
			continue
		}
		c.inflight++
		c.mu.Unlock()
		// The identity's slot is held; now one of the global ones.
		select {
		case c.b.global <- struct{}{}:
			for n := int64(len(c.b.global)); ; {
				p := c.b.peak.Load()
				if n <= p || c.b.peak.CompareAndSwap(p, n) {
					break
				}
			}
		case <-ctx.Done():
			c.mu.Lock()
			c.inflight--
			c.broadcast()
			c.mu.Unlock()
			return nil, ctx.Err()
		}
		c.mu.Lock()
		c.running++
		if c.running > c.peak {
			c.peak = c.running
		}
		c.stats.Admitted++
		c.mu.Unlock()
		return &Permit{c: c, start: time.Now()}, nil
	}
}

// broadcast wakes every waiter; c.mu must be held.
func (c *Controller) broadcast() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// Done ends the request with its answer: status 0 and a nil header for a
// request that got no answer (network failure), which changes nothing but
// the count in flight.
func (p *Permit) Done(status int, header http.Header, retryAfter time.Duration) {
	c := p.c
	// In the order the slots were taken, backwards: the request stops
	// running (it holds a global slot), gives the global slot back, then
	// the identity's. A waiter let in by one step is never counted beside
	// the request that ended, so neither peak passes its limit.
	c.mu.Lock()
	c.running--
	c.mu.Unlock()
	<-c.b.global
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	now := time.Now()
	switch {
	case status == http.StatusTooManyRequests || (status == http.StatusServiceUnavailable && retryAfter > 0):
		if status == http.StatusTooManyRequests {
			c.stats.Throttled++
		}
		if retryAfter <= 0 {
			retryAfter = time.Second
		}
		if until := now.Add(retryAfter); until.After(c.pausedUntil) {
			c.stats.Paused += until.Sub(maxTime(now, c.pausedUntil))
			c.pausedUntil = until
		}
		// The requests in flight with this one were too many.
		c.ceil = math.Max(1, float64(c.inflight))
		c.cleanAtTop = 0
		c.decrease(p.start, now)
	case status >= 200 && status < 300:
		if c.pressure(header) {
			c.stats.Pressure++
			c.decrease(p.start, now)
		} else {
			c.grow()
		}
	}
	c.broadcast()
}

// probeAfter is how many clean answers at the learned ceiling let the
// limit try one more request in flight.
const probeAfter = 50

// grow raises the limit after a clean answer: by one in slow start, else
// by one per round of answers, below the learned ceiling. c.mu must be
// held.
func (c *Controller) grow() {
	top := float64(c.max)
	if c.ceil > 0 {
		if c.limit+1 >= c.ceil {
			if c.cleanAtTop++; c.cleanAtTop >= probeAfter {
				c.ceil++
				c.cleanAtTop = 0
			}
		}
		top = math.Min(top, math.Max(1, c.ceil-1))
	}
	inc := 1.0
	if !c.slowStart {
		inc = 1 / c.limit
	}
	c.limit = math.Max(1, math.Min(top, c.limit+inc))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// decrease halves the limit, once per round: answers to requests admitted
// before the last decrease were sent under the old limit and do not lower
// it again.
func (c *Controller) decrease(start, now time.Time) {
	c.slowStart = false
	if start.Before(c.lastDrop) {
		return
	}
	c.limit = math.Max(1, math.Floor(c.limit/2))
	c.lastDrop = now
	c.stats.Decreases++
}

// pressure reports whether the rate-limit headers of a successful answer
// say the identity is close to a limit: Dataverse's remaining requests
// below twice the current limit or 5% of the window, its remaining
// execution time below 10% of the window; Graph's used share of the
// resource-unit budget at 90% or more. c.mu must be held.
func (c *Controller) pressure(h http.Header) bool {
	if h == nil {
		return false
	}
	low := false
	if v, ok := headerNumber(h.Get("x-ms-ratelimit-burst-remaining-xrm-requests")); ok {
		c.burstMax = math.Max(c.burstMax, v)
		if v < 2*c.limit || v < 0.05*c.burstMax {
			low = true
		}
	}
	if v, ok := headerNumber(h.Get("x-ms-ratelimit-time-remaining-xrm-requests")); ok {
		c.timeMax = math.Max(c.timeMax, v)
		if v < 0.1*c.timeMax {
			low = true
		}
	}
	if v, ok := headerNumber(h.Get("x-ms-throttle-limit-percentage")); ok && v >= 0.9 {
		low = true
	}
	return low
}

// headerNumber parses a number that may carry thousands separators
// ("1,199,982.00").
func headerNumber(v string) (float64, bool) {
	v = strings.ReplaceAll(strings.TrimSpace(v), ",", "")
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
