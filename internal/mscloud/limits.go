package mscloud

import (
	"sync"
	"time"
)

// Limits turns on real enforcement of Microsoft's service-protection
// limits. Zero values leave a limit off. Windows follow the wall clock;
// tests scale them down with DataverseWindow (and a proportionally smaller
// DataverseRequests / DataverseExecution), since the simulator's tenant
// clock does not drive them. MicrosoftLimits returns the documented values.
//
// Whether enforced or not, every Dataverse request that arrives while its
// identity already has the concurrency limit in flight on the same
// environment (DataverseConcurrent, or Microsoft's 52 when that is off)
// counts in Counters.LimitViolations, and Counters.PeakConcurrent keeps
// the most requests one identity had in flight at once.
type Limits struct {
	// DataverseConcurrent is the number of concurrent requests one identity
	// may have in flight per environment (Microsoft: 52); the next one gets
	// 429 0x80072326.
	DataverseConcurrent int `json:"dataverse_concurrent,omitempty"`
	// DataverseRequests is the number of requests one identity may send per
	// environment within DataverseWindow (Microsoft: 6000 per 300 s); beyond
	// it requests get 429 0x80072322 with Retry-After until the window frees.
	DataverseRequests int      `json:"dataverse_requests,omitempty"`
	DataverseWindow   Duration `json:"dataverse_window,omitempty"`
	// DataverseExecution is the combined execution time one identity's
	// requests may take per environment within DataverseWindow (Microsoft:
	// 20 minutes per 300 s); beyond it requests get 429 0x80072321.
	DataverseExecution Duration `json:"dataverse_execution,omitempty"`
	// GraphResourceUnits is the resource-unit budget of one app in one
	// tenant per 10 s (Microsoft: 3,500 to 8,000 by tenant size); costs
	// follow the documented table (GET users 2, subscribedSkus 3,
	// licenseDetails 2, other GET 1, writes 1; $select -1, $top<20 -1, min 1).
	GraphResourceUnits int `json:"graph_resource_units,omitempty"`
}

// DocumentedDataverseConcurrent is Microsoft's concurrency limit per user
// per web server, the threshold of Counters.LimitViolations when
// Limits.DataverseConcurrent is off.
const DocumentedDataverseConcurrent = 52

// MicrosoftLimits returns the documented defaults: Dataverse 52 concurrent
// requests, 6,000 requests and 20 minutes of execution time per 300-second
// sliding window per identity and environment; Graph 8,000 resource units
// per 10 s per app and tenant (a large tenant).
func MicrosoftLimits() Limits {
	return Limits{DataverseConcurrent: 52, DataverseRequests: 6000, DataverseWindow: Duration(300 * time.Second),
		DataverseExecution: Duration(20 * time.Minute), GraphResourceUnits: 8000}
}

type limiter struct {
	mu       sync.Mutex
	cfg      Limits
	inflight map[string]int
	windows  map[string][]time.Time // identity -> request times within the window
	exec     map[string][]execSpan  // identity -> finished requests' durations
	ru       map[string][]ruSpend
}

type execSpan struct {
	end time.Time
	d   time.Duration
}

type ruSpend struct {
	at   time.Time
	cost int
}

func newLimiter(cfg Limits) *limiter {
	return &limiter{cfg: cfg, inflight: map[string]int{}, windows: map[string][]time.Time{}, exec: map[string][]execSpan{}, ru: map[string][]ruSpend{}}
}

func (l *limiter) set(cfg Limits) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

func (l *limiter) get() Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// dvAdmission is what dataverseEnter decided about one request.
type dvAdmission struct {
	limit     string        // the limit broken, "" when admitted
	wait      time.Duration // Retry-After when not admitted
	remaining int           // requests left in the window (-1: limit off)
	execLeft  time.Duration // execution time left in the window (-1: limit off)
	over      bool          // arrived with the concurrency limit already in flight
	inflight  int           // requests in flight with this one (when admitted)
}

// dataverseEnter admits one request of identity or says which limit it
// broke and how long to wait. On admission the caller must call
// dataverseLeave when done.
func (l *limiter) dataverseEnter(identity string, now time.Time) (a dvAdmission) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a.remaining, a.execLeft = -1, -1
	climit := l.cfg.DataverseConcurrent
	if climit <= 0 {
		climit = DocumentedDataverseConcurrent
	}
	a.over = l.inflight[identity] >= climit
	if l.cfg.DataverseConcurrent > 0 && a.over {
		a.limit, a.wait = "concurrent", time.Second
		return a
	}
	if l.cfg.DataverseExecution > 0 {
		win := l.window()
		sp := l.exec[identity]
		i := 0
		for i < len(sp) && now.Sub(sp[i].end) >= win {
			i++
		}
		sp = sp[i:]
		l.exec[identity] = sp
		var total time.Duration
		for _, x := range sp {
			total += x.d
		}
		if total >= time.Duration(l.cfg.DataverseExecution) {
			a.limit, a.wait = "execution", sp[0].end.Add(win).Sub(now)
			return a
		}
		a.execLeft = time.Duration(l.cfg.DataverseExecution) - total
	}
	if l.cfg.DataverseRequests > 0 {
		win := l.window()
		ts := l.windows[identity]
		i := 0
		for i < len(ts) && now.Sub(ts[i]) >= win {
			i++
		}
		ts = ts[i:]
		if len(ts) >= l.cfg.DataverseRequests {
			l.windows[identity] = ts
			a.limit, a.wait, a.remaining = "requests", ts[0].Add(win).Sub(now), 0
			return a
		}
		ts = append(ts, now)
		l.windows[identity] = ts
		a.remaining = l.cfg.DataverseRequests - len(ts)
	}
	l.inflight[identity]++
	a.inflight = l.inflight[identity]
	return a
}

func (l *limiter) window() time.Duration {
	if w := time.Duration(l.cfg.DataverseWindow); w > 0 {
		return w
	}
	return 300 * time.Second
}

// dataverseLeave ends a request admitted by dataverseEnter that started at
// start, charging its duration to the identity's execution time.
func (l *limiter) dataverseLeave(identity string, start time.Time) {
	l.mu.Lock()
	if l.cfg.DataverseExecution > 0 {
		now := time.Now()
		l.exec[identity] = append(l.exec[identity], execSpan{now, now.Sub(start)})
	}
	l.inflight[identity]--
	if l.inflight[identity] <= 0 {
		delete(l.inflight, identity)
	}
	l.mu.Unlock()
}

// graphSpend charges cost resource units to identity (app+tenant) and
// reports whether the budget allowed it, the wait otherwise, and the used
// fraction of the budget after the request.
func (l *limiter) graphSpend(identity string, cost int, now time.Time) (ok bool, wait time.Duration, used float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.GraphResourceUnits <= 0 {
		return true, 0, 0
	}
	const win = 10 * time.Second
	sp := l.ru[identity]
	i := 0
	for i < len(sp) && now.Sub(sp[i].at) >= win {
		i++
	}
	sp = sp[i:]
	total := 0
	for _, x := range sp {
		total += x.cost
	}
	if total+cost > l.cfg.GraphResourceUnits {
		l.ru[identity] = sp
		w := win
		if len(sp) > 0 {
			w = sp[0].at.Add(win).Sub(now)
		}
		return false, w, float64(total) / float64(l.cfg.GraphResourceUnits)
	}
	l.ru[identity] = append(sp, ruSpend{now, cost})
	return true, 0, float64(total+cost) / float64(l.cfg.GraphResourceUnits)
}
