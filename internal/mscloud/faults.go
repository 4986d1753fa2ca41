package mscloud

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// HostKind names one of the three Microsoft hosts the simulator stands in for.
type HostKind string

// Host kinds; faults, limits and counters are kept per kind.
const (
	HostLogin     HostKind = "login"
	HostGraph     HostKind = "graph"
	HostDataverse HostKind = "dataverse"
)

// Fault names, as used in FaultRates.Next and counters.
const (
	FaultThrottle    = "throttle"     // 429 with Retry-After (Graph TooManyRequests, Dataverse service protection)
	FaultServerError = "server_error" // 500
	FaultUnavailable = "unavailable"  // 503 with Retry-After
	FaultDrop        = "drop"         // the connection is closed without a response
	FaultMalformed   = "malformed"    // 200 whose JSON body is cut (parse error), GET only
	FaultTruncated   = "truncated"    // Content-Length announces the whole body, half is sent, then the connection closes; GET only
)

var faultNames = []string{FaultThrottle, FaultServerError, FaultUnavailable, FaultDrop, FaultMalformed, FaultTruncated}

// FaultRates configures the faults injected on one host kind. Rates are
// probabilities in [0,1] drawn from a generator seeded with Config.Seed, so a
// sequential client sees the same faults on every run. Next lists faults
// served, in order, to the next requests before rates apply ("throttle" twice,
// then normal service), which tests use for exact sequences.
//
// A faulted request never has a side effect: throttles, errors and drops are
// answered before the handler runs, and malformed or truncated bodies are
// served only for GET requests (and never by the login host).
type FaultRates struct {
	Throttle    float64  `json:"throttle,omitempty"`
	ServerError float64  `json:"server_error,omitempty"`
	Unavailable float64  `json:"unavailable,omitempty"`
	Drop        float64  `json:"drop,omitempty"`
	Malformed   float64  `json:"malformed,omitempty"`
	Truncated   float64  `json:"truncated,omitempty"`
	Next        []string `json:"next,omitempty"`
	// RetryAfter is the Retry-After value in seconds sent with 429 and 503;
	// 0 means the default: 2.128 on Graph (fractional, as documented), 2 on
	// Dataverse and login (whole seconds).
	RetryAfter float64 `json:"retry_after,omitempty"`
	// Latency is added to every request of the kind, plus a uniformly drawn
	// extra delay in [0, Jitter).
	Latency Duration `json:"latency,omitempty"`
	Jitter  Duration `json:"jitter,omitempty"`
}

// Faults holds the fault configuration of every host kind.
type Faults struct {
	Login     FaultRates `json:"login"`
	Graph     FaultRates `json:"graph"`
	Dataverse FaultRates `json:"dataverse"`
}

// Validate reports rates outside [0,1], unknown fault names and negative
// durations.
func (f Faults) Validate() error {
	for kind, r := range map[HostKind]FaultRates{HostLogin: f.Login, HostGraph: f.Graph, HostDataverse: f.Dataverse} {
		for name, v := range map[string]float64{"throttle": r.Throttle, "server_error": r.ServerError, "unavailable": r.Unavailable, "drop": r.Drop, "malformed": r.Malformed, "truncated": r.Truncated} {
			if v < 0 || v > 1 {
				return fmt.Errorf("fault rate %s.%s = %v: must be between 0 and 1", kind, name, v)
			}
		}
		for _, n := range r.Next {
			if !validFault(n) {
				return fmt.Errorf("fault %s.next: unknown fault %q (want one of %s)", kind, n, strings.Join(faultNames, ", "))
			}
		}
		if r.RetryAfter < 0 || r.Latency < 0 || r.Jitter < 0 {
			return fmt.Errorf("fault %s: retry_after, latency and jitter must not be negative", kind)
		}
	}
	return nil
}

func validFault(n string) bool {
	for _, f := range faultNames {
		if f == n {
			return true
		}
	}
	return false
}

func (f *Faults) of(kind HostKind) *FaultRates {
	switch kind {
	case HostLogin:
		return &f.Login
	case HostGraph:
		return &f.Graph
	default:
		return &f.Dataverse
	}
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("250ms") and also reads a number of milliseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "250ms"-style strings or numbers of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\" or a number of milliseconds")
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// faultState draws faults deterministically: one generator per host kind,
// seeded from the configured seed and the kind's name.
type faultState struct {
	mu   sync.Mutex
	cfg  Faults
	rngs map[HostKind]*rand.Rand
}

func newFaultState(seed int64, cfg Faults) *faultState {
	fs := &faultState{cfg: cfg, rngs: map[HostKind]*rand.Rand{}}
	for _, k := range []HostKind{HostLogin, HostGraph, HostDataverse} {
		h := fnv.New64a()
		h.Write([]byte(k))
		fs.rngs[k] = rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	}
	return fs
}

func (fs *faultState) set(cfg Faults) {
	fs.mu.Lock()
	fs.cfg = cfg
	fs.mu.Unlock()
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := fs.cfg
	c.Login.Next = append([]string(nil), c.Login.Next...)
	c.Graph.Next = append([]string(nil), c.Graph.Next...)
	c.Dataverse.Next = append([]string(nil), c.Dataverse.Next...)
	return c
}

// delay returns the latency to add to one request of kind.
func (fs *faultState) delay(kind HostKind) time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	r := fs.cfg.of(kind)
	d := time.Duration(r.Latency)
	if r.Jitter > 0 {
		d += time.Duration(fs.rngs[kind].Int64N(int64(r.Jitter)))
	}
	return d
}

// draw picks the fault (or "") for one request of kind. get reports whether
// the request is a GET: body faults are only served to reads.
func (fs *faultState) draw(kind HostKind, get bool) (fault string, retryAfter float64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	r := fs.cfg.of(kind)
	retryAfter = r.RetryAfter
	if retryAfter == 0 {
		retryAfter = 2
		if kind == HostGraph {
			retryAfter = 2.128
		}
	}
	bodyOK := get && kind != HostLogin
	for len(r.Next) > 0 {
		f := r.Next[0]
		r.Next = r.Next[1:]
		if (f == FaultMalformed || f == FaultTruncated) && !bodyOK {
			continue
		}
		return f, retryAfter
	}
	rng := fs.rngs[kind]
	for _, c := range []struct {
		name string
		rate float64
		ok   bool
	}{
		{FaultThrottle, r.Throttle, true}, {FaultServerError, r.ServerError, true}, {FaultUnavailable, r.Unavailable, true},
		{FaultDrop, r.Drop, true}, {FaultMalformed, r.Malformed, bodyOK}, {FaultTruncated, r.Truncated, bodyOK},
	} {
		if c.rate <= 0 {
			continue
		}
		// Draw for every configured rate so the sequence does not depend on
		// which earlier fault fired.
		hit := rng.Float64() < c.rate
		if hit && c.ok && fault == "" {
			fault = c.name
		}
	}
	return fault, retryAfter
}
