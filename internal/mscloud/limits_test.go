package mscloud

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLimitViolationsAndHeaders checks the count of requests beyond the
// concurrency limit (enforced or not), the peak in flight, the rate-limit
// headers of admitted requests and the 429 answer of the execution-time
// limit, through the control API too.
func TestLimitViolationsAndHeaders(t *testing.T) {
	b := setup(t, 5, 2)
	tok0, tok1 := b.envToken(t, 0), b.envToken(t, 1)
	who := func(i int) string { return b.info.Environments[i].APIURL + "/WhoAmI" }
	burst := func(n int, u, tok string) map[int]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[int]int{}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := b.hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				got[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	b.setFaults(t, Faults{Dataverse: FaultRates{Latency: Duration(300 * time.Millisecond)}})

	for _, tc := range []struct {
		name           string
		limits         Limits
		n              int
		want429        int
		wantViolations int64
		wantPeak       int64
	}{
		// Not enforced: Microsoft's 52 is still the threshold counted.
		{"not enforced, within 52", Limits{}, 20, 0, 0, 20},
		{"enforced at 3", Limits{DataverseConcurrent: 3}, 6, 3, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.s.ResetCounters()
			b.s.SetLimits(tc.limits)
			got := burst(tc.n, who(0), tok0)
			c := b.s.Counters()
			if got[429] != tc.want429 || c.LimitViolations["dataverse"] != tc.wantViolations || c.PeakConcurrent["dataverse"] != tc.wantPeak {
				t.Errorf("statuses %v, violations %d, peak %d", got, c.LimitViolations["dataverse"], c.PeakConcurrent["dataverse"])
			}
		})
	}
	// The limit is per environment: 3 in flight on each of two is fine.
	b.s.ResetCounters()
	b.s.SetLimits(Limits{DataverseConcurrent: 3})
	var wg sync.WaitGroup
	res := make([]map[int]int, 2)
	for i, tok := range []string{tok0, tok1} {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = burst(3, who(i), tok) }()
	}
	wg.Wait()
	if res[0][200] != 3 || res[1][200] != 3 || b.s.Counters().LimitViolations["dataverse"] != 0 {
		t.Errorf("two environments: %v, violations %v", res, b.s.Counters().LimitViolations)
	}

	// Headers: the window's requests and execution time left.
	b.s.SetLimits(Limits{DataverseRequests: 10, DataverseExecution: Duration(time.Second), DataverseWindow: Duration(time.Minute)})
	b.setFaults(t, Faults{Dataverse: FaultRates{Latency: Duration(400 * time.Millisecond)}})
	var bursts, times []string
	var status []int
	var body []byte
	for range 4 {
		st, h, bd := b.call(t, "GET", who(0), tok0, nil)
		status, body = append(status, st), bd
		bursts = append(bursts, h.Get("x-ms-ratelimit-burst-remaining-xrm-requests"))
		times = append(times, h.Get("x-ms-ratelimit-time-remaining-xrm-requests"))
	}
	if bursts[0] != "9" || bursts[1] != "8" || times[0] != "1,000.00" {
		t.Errorf("burst remaining %q, time remaining %q", bursts, times)
	}
	if !strings.HasPrefix(times[1], "5") && !strings.HasPrefix(times[1], "6") {
		t.Errorf("after one request of 400 ms, time remaining %q", times[1])
	}
	if status[3] != 429 || !strings.Contains(string(body), `"0x80072321"`) || !strings.Contains(string(body), "1,000 milliseconds over time window of 60 seconds") {
		t.Errorf("statuses %v, last body %s", status, body)
	}
	// The control API shows the new counters.
	var c Counters
	b.control(t, "GET", "/counters", nil, &c)
	if c.PeakConcurrent["dataverse"] < 1 || c.LimitViolations == nil {
		t.Errorf("control API counters: %+v", c)
	}
	if got := groupThousands(-1234567); got != "-1,234,567" {
		t.Errorf("groupThousands = %q", got)
	}
	if l := MicrosoftLimits(); l.DataverseConcurrent != 52 || l.DataverseRequests != 6000 || time.Duration(l.DataverseExecution) != 20*time.Minute {
		t.Errorf("MicrosoftLimits = %+v", l)
	}
}
