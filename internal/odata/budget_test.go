package odata

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concServer answers with answer(n) (n counts requests from 1) after delay
// and records the most requests it had in flight at once.
type concServer struct {
	srv      *httptest.Server
	inflight atomic.Int64
	peak     atomic.Int64
	n        atomic.Int64
	mu       sync.Mutex
	arrivals []time.Time
}

func newConcServer(t *testing.T, delay time.Duration, answer func(n int64, w http.ResponseWriter)) *concServer {
	t.Helper()
	s := &concServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := s.inflight.Add(1)
		for {
			p := s.peak.Load()
			if in <= p || s.peak.CompareAndSwap(p, in) {
				break
			}
		}
		s.mu.Lock()
		s.arrivals = append(s.arrivals, time.Now())
		s.mu.Unlock()
		n := s.n.Add(1)
		time.Sleep(delay)
		// Leave before the answer starts, as the simulator does.
		s.inflight.Add(-1)
		answer(n, w)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func okJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"value":[]}`))
}

// fire sends n GETs through c from n goroutines and returns the errors.
func fire(c *Client, url string, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Get(context.Background(), url, nil, nil)
		}()
	}
	wg.Wait()
	return errs
}

func TestControllerNeverExceedsMax(t *testing.T) {
	for _, tc := range []struct {
		name           string
		max, initial   int
		global, n      int
		wantPeakAtMost int
	}{
		{"ceiling", 5, 2, 100, 60, 5},
		{"global budget lower than the ceiling", 52, 8, 3, 60, 3},
		{"Microsoft's 52", 0, 0, 0, 200, 52},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newConcServer(t, 20*time.Millisecond, func(_ int64, w http.ResponseWriter) { okJSON(w) })
			b := NewBudgets(BudgetConfig{Max: tc.max, Initial: tc.initial, Global: tc.global})
			ctl := b.Controller("app:T/C", s.srv.URL)
			c := New(Config{Service: ServiceDataverse, MaxConcurrency: 500, Budget: ctl})
			for i, err := range fire(c, s.srv.URL+"/x", tc.n) {
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if p := s.peak.Load(); p > int64(tc.wantPeakAtMost) {
				t.Errorf("server saw %d in flight, want at most %d", p, tc.wantPeakAtMost)
			}
			st := ctl.State()
			if st.Peak > tc.wantPeakAtMost || st.InFlight != 0 || b.InFlight() != 0 || b.Peak() > tc.wantPeakAtMost || b.Peak() < min(tc.wantPeakAtMost, 3) {
				t.Errorf("state %+v, global in flight %d", st, b.InFlight())
			}
			if want := b.Config().Max; st.Limit != want {
				t.Errorf("limit %d after %d clean answers, want the ceiling %d", st.Limit, tc.n, want)
			}
		})
	}
}

func TestControllerRetryAfterStopsEveryRequest(t *testing.T) {
	var throttledAt atomic.Int64
	s := newConcServer(t, 5*time.Millisecond, func(n int64, w http.ResponseWriter) {
		if n == 3 {
			throttledAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "0.4")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}`))
			return
		}
		okJSON(w)
	})
	b := NewBudgets(BudgetConfig{Initial: 4})
	ctl := b.Controller("app:T/C", s.srv.URL)
	c := New(Config{Service: ServiceDataverse, MaxConcurrency: 100, Budget: ctl, BaseDelay: time.Millisecond})
	for i, err := range fire(c, s.srv.URL+"/x", 30) {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	at := time.Unix(0, throttledAt.Load())
	late := 0
	s.mu.Lock()
	for _, a := range s.arrivals {
		// The answer is written after the time is taken: allow a little.
		if a.After(at.Add(20*time.Millisecond)) && a.Before(at.Add(400*time.Millisecond-20*time.Millisecond)) {
			late++
		}
	}
	s.mu.Unlock()
	if late > 0 {
		t.Errorf("%d requests arrived during the Retry-After of another", late)
	}
	st := ctl.State()
	if st.Stats.Throttled != 1 || st.Stats.Decreases != 1 || st.Stats.Paused != 400*time.Millisecond {
		t.Errorf("after one 429: %+v", st)
	}
}

func TestControllerBacksOffOnRateLimitHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, header, value string
		low                 bool
	}{
		{"requests left plenty", "x-ms-ratelimit-burst-remaining-xrm-requests", "5000", false},
		{"requests left few", "x-ms-ratelimit-burst-remaining-xrm-requests", "3", true},
		{"execution time plenty", "x-ms-ratelimit-time-remaining-xrm-requests", "1,199,000.00", false},
		{"Graph below 90%", "x-ms-throttle-limit-percentage", "0.8", false},
		{"Graph at 95%", "x-ms-throttle-limit-percentage", "0.95", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newConcServer(t, 0, func(_ int64, w http.ResponseWriter) {
				w.Header().Set(tc.header, tc.value)
				okJSON(w)
			})
			ctl := NewBudgets(BudgetConfig{Initial: 16}).Controller("app:T/C", s.srv.URL)
			c := New(Config{Service: ServiceDataverse, Budget: ctl})
			for range 3 {
				if err := c.Get(context.Background(), s.srv.URL+"/x", nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			st := ctl.State()
			if got := st.Limit < 16; got != tc.low {
				t.Errorf("limit %d after 3 answers with %s: %s (pressure %d)", st.Limit, tc.header, tc.value, st.Stats.Pressure)
			}
		})
	}
	// Execution time running out relative to the largest value seen.
	ctl := NewBudgets(BudgetConfig{Initial: 16}).Controller("a", "b")
	p, _ := ctl.Acquire(context.Background())
	p.Done(200, http.Header{"X-Ms-Ratelimit-Time-Remaining-Xrm-Requests": {"1,200,000.00"}}, 0)
	p, _ = ctl.Acquire(context.Background())
	p.Done(200, http.Header{"X-Ms-Ratelimit-Time-Remaining-Xrm-Requests": {"60,000.00"}}, 0)
	if l := ctl.Limit(); l >= 16 {
		t.Errorf("limit %d with 5%% of the execution time left", l)
	}
}

func TestBudgetsShareControllers(t *testing.T) {
	b := NewBudgets(BudgetConfig{})
	a := b.Controller("app:Tenant/Client", "https://org.crm.dynamics.com/")
	if b.Controller("APP:tenant/client", "https://ORG.crm.dynamics.com") != a {
		t.Error("same identity and scope gave two controllers")
	}
	if b.Controller("app:tenant/client", "https://other.crm.dynamics.com") == a || b.Controller("app:tenant/other", "https://org.crm.dynamics.com") == a {
		t.Error("another scope or identity shared the controller")
	}
	if DefaultBudgets() != DefaultBudgets() {
		t.Error("DefaultBudgets is not one registry")
	}
	// Acquire gives up with the context.
	ctl := NewBudgets(BudgetConfig{Max: 1, Initial: 1}).Controller("a", "b")
	p, err := ctl.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ctl.Acquire(ctx); err == nil {
		t.Error("a second request was admitted beyond a limit of one")
	}
	p.Done(0, nil, 0)
	if st := ctl.State(); st.InFlight != 0 || st.Limit != 1 {
		t.Errorf("after a request without answer: %+v", st)
	}
}

func TestHeaderNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{{"1,200,000.00", 1200000, true}, {" 5999 ", 5999, true}, {"", 0, false}, {"NaN", 0, false}, {"x", 0, false}} {
		got, ok := headerNumber(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("headerNumber(%q) = %v, %v", tc.in, got, ok)
		}
	}
}

// FuzzHeaderNumber: any header value parses to a finite number or is
// refused, without panicking; a plain integer reads back as itself.
func FuzzHeaderNumber(f *testing.F) {
	for _, s := range []string{"1,200,000.00", "5999", "", "-1", "1e400", ",,,", "0x10", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := headerNumber(s)
		if ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("headerNumber(%q) = %v", s, v)
		}
		if n, err := strconv.Atoi(s); err == nil {
			if !ok || v != float64(n) {
				t.Fatalf("headerNumber(%q) = %v, %v", s, v, ok)
			}
		}
	})
}
