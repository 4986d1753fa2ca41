package mscloud

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

func TestFaultDrawsAreDeterministic(t *testing.T) {
	cfg := Faults{Graph: FaultRates{Throttle: 0.2, ServerError: 0.1, Drop: 0.05, Malformed: 0.1}}
	seq := func(seed int64) []string {
		fs := newFaultState(seed, cfg)
		var out []string
		for i := 0; i < 300; i++ {
			f, _ := fs.draw(HostGraph, true)
			out = append(out, f)
		}
		return out
	}
	a, b, c := seq(1), seq(1), seq(2)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different faults")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same faults")
	}
	n := 0
	for _, f := range a {
		if f != "" {
			n++
		}
	}
	if n < 60 || n > 180 {
		t.Errorf("%d faults in 300 draws at ~38%%", n)
	}
	fs := newFaultState(1, Faults{Dataverse: FaultRates{Next: []string{FaultThrottle, FaultMalformed, FaultUnavailable}}})
	if f, _ := fs.draw(HostDataverse, false); f != FaultThrottle {
		t.Errorf("first = %q", f)
	}
	if f, _ := fs.draw(HostDataverse, false); f != FaultUnavailable {
		t.Errorf("malformed must be skipped for a non-GET, got %q", f)
	}
	if f, _ := fs.draw(HostDataverse, true); f != "" {
		t.Errorf("after Next: %q", f)
	}
}

func TestFaultsValidate(t *testing.T) {
	for _, f := range []Faults{{Graph: FaultRates{Throttle: 1.5}}, {Login: FaultRates{Next: []string{"explode"}}}, {Dataverse: FaultRates{Latency: -1}}} {
		if f.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", f)
		}
	}
	if err := (Faults{Graph: FaultRates{Throttle: 1, Next: []string{FaultDrop}}}).Validate(); err != nil {
		t.Error(err)
	}
}

func (b *bundle) setFaults(t *testing.T, f Faults) {
	t.Helper()
	var out Faults
	b.control(t, "PUT", "/faults", f, &out)
}

func TestGraphFaults(t *testing.T) {
	b := setup(t, 10, 1)
	tok := b.graphToken(t)
	users := b.info.GraphURL + "/users?$top=5"
	b.setFaults(t, Faults{Graph: FaultRates{Next: []string{FaultThrottle, FaultServerError, FaultUnavailable}}})
	st, h, body := b.call(t, "GET", users, tok, nil)
	if st != 429 || h.Get("Retry-After") != "2.128" || h.Get("x-ms-throttle-scope") == "" || h.Get("x-ms-throttle-information") == "" {
		t.Errorf("throttle: %d %v", st, h)
	}
	var e struct {
		Error struct {
			Code       string
			InnerError map[string]string `json:"innerError"`
		}
	}
	json.Unmarshal(body, &e)
	if e.Error.Code != "TooManyRequests" || e.Error.InnerError["status"] != "429" || e.Error.InnerError["code"] != "429" {
		t.Errorf("429 body: %s", body)
	}
	// The client did not wait: a violation.
	if st, _, _ := b.call(t, "GET", users, tok, nil); st != 500 {
		t.Errorf("500: %d", st)
	}
	if v := b.s.Counters().Violations["graph"]; v != 1 {
		t.Errorf("violations = %d, want 1", v)
	}
	st, h, _ = b.call(t, "GET", users, tok, nil)
	if st != 503 || h.Get("Retry-After") != "3" {
		t.Errorf("503: %d Retry-After %q", st, h.Get("Retry-After"))
	}
	if st, _, _ := b.call(t, "GET", users, tok, nil); st != 200 {
		t.Errorf("after the faults: %d", st)
	}
	c := b.s.Counters()
	if c.Throttles["graph"] != 1 || c.Faults["graph server_error"] != 1 || c.Requests["graph GET /users"] != 4 {
		t.Errorf("counters = %+v", c)
	}
}

func TestBodyFaultsAndDrops(t *testing.T) {
	b := setup(t, 10, 1)
	tok := b.graphToken(t)
	dvTok := b.envToken(t, 0)
	get := func(u, tok string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := b.hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp, data, err
	}
	for _, tc := range []struct {
		kind HostKind
		url  string
		tok  string
	}{{HostGraph, b.info.GraphURL + "/users", tok}, {HostDataverse, b.info.Environments[0].APIURL + "/audits?$top=20", dvTok}} {
		f := Faults{}
		f.of(tc.kind).Next = []string{FaultMalformed, FaultTruncated, FaultDrop}
		b.setFaults(t, f)
		resp, data, err := get(tc.url, tc.tok)
		if err != nil || resp.StatusCode != 200 || json.Valid(data) {
			t.Errorf("%s malformed: err=%v valid=%v", tc.kind, err, json.Valid(data))
		}
		// HTTP/1.1 clients see an unexpected EOF, HTTP/2 clients a stream reset.
		if _, _, err = get(tc.url, tc.tok); err == nil {
			t.Errorf("%s truncated: no error", tc.kind)
		}
		if _, _, err = get(tc.url, tc.tok); err == nil {
			t.Errorf("%s drop: no error", tc.kind)
		}
		if resp, data, err := get(tc.url, tc.tok); err != nil || resp.StatusCode != 200 || !json.Valid(data) {
			t.Errorf("%s after faults: %v", tc.kind, err)
		}
	}
}

func TestDataverseThrottleAndLatency(t *testing.T) {
	b := setup(t, 10, 1)
	tok := b.envToken(t, 0)
	u := b.info.Environments[0].APIURL + "/WhoAmI"
	b.setFaults(t, Faults{Dataverse: FaultRates{Next: []string{FaultThrottle, FaultThrottle, FaultThrottle}, RetryAfter: 0.2}})
	codes := map[string]bool{}
	for i := 0; i < 3; i++ {
		st, h, body := b.call(t, "GET", u, tok, nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		if st != 429 || h.Get("Retry-After") != "1" {
			t.Errorf("throttle %d: %d %q", i, st, h.Get("Retry-After"))
		}
		codes[e.Error.Code] = true
		time.Sleep(1100 * time.Millisecond)
	}
	if !codes["0x80072322"] || !codes["0x80072321"] || !codes["0x80072326"] {
		t.Errorf("service-protection codes served: %v", codes)
	}
	if v := b.s.Counters().Violations["dataverse"]; v != 0 {
		t.Errorf("a client that waited has %d violations", v)
	}
	b.setFaults(t, Faults{Dataverse: FaultRates{Latency: Duration(150 * time.Millisecond)}})
	start := time.Now()
	if st, _, _ := b.call(t, "GET", u, tok, nil); st != 200 {
		t.Fatal(st)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("latency %v < 150ms", el)
	}
}

func TestLoginFaults(t *testing.T) {
	b := setup(t, 5, 1)
	b.setFaults(t, Faults{Login: FaultRates{Next: []string{FaultThrottle, FaultUnavailable}}})
	form := "grant_type=client_credentials&client_id=" + b.info.ClientID + "&client_secret=" + b.info.ClientSecret + "&scope=" + url.QueryEscape(b.info.GraphScope)
	for _, want := range []int{429, 503} {
		req, _ := http.NewRequest("POST", b.tokenURL(), strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, want %d", resp.StatusCode, want)
		}
		entraErr(t, data)
	}
}

func TestFaultHasNoSideEffect(t *testing.T) {
	b := setup(t, 20, 1)
	tok := b.graphToken(t)
	tn := b.s.Tenant()
	users, _, _ := tn.UsersPage("", 100, func(u *tenant.User) bool {
		return len(u.AssignedLicenses) > 0 && len(u.LicenseAssignmentStates) > 0 && u.LicenseAssignmentStates[0].AssignedByGroup == ""
	})
	if len(users) == 0 {
		t.Fatal("no directly licensed user")
	}
	u := users[0]
	sku := u.AssignedLicenses[0].SKUID
	seq := tn.Seq()
	for _, f := range []string{FaultThrottle, FaultServerError, FaultUnavailable, FaultDrop} {
		b.setFaults(t, Faults{Graph: FaultRates{Next: []string{f}}})
		req, _ := http.NewRequest("POST", b.info.GraphURL+"/users/"+u.ID+"/assignLicense", strings.NewReader(`{"addLicenses":[],"removeLicenses":["`+sku+`"]}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := b.hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("%s: request succeeded", f)
			}
		}
		if tn.Seq() != seq {
			t.Fatalf("%s: a faulted assignLicense changed the tenant", f)
		}
	}
}

func TestEnforcedLimits(t *testing.T) {
	b := setup(t, 5, 1)
	tok := b.envToken(t, 0)
	u := b.info.Environments[0].APIURL + "/WhoAmI"
	b.s.SetLimits(Limits{DataverseRequests: 3, DataverseWindow: Duration(time.Minute)})
	var statuses []int
	var h http.Header
	for i := 0; i < 4; i++ {
		var st int
		st, h, _ = b.call(t, "GET", u, tok, nil)
		statuses = append(statuses, st)
	}
	if !reflect.DeepEqual(statuses, []int{200, 200, 200, 429}) {
		t.Errorf("statuses = %v", statuses)
	}
	if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 50 || ra > 60 {
		t.Errorf("Retry-After = %q", h.Get("Retry-After"))
	}
	// Concurrency: hold requests with latency.
	b.s.SetLimits(Limits{DataverseConcurrent: 2})
	b.setFaults(t, Faults{Dataverse: FaultRates{Latency: Duration(300 * time.Millisecond)}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := b.hc.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			got[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got[200] != 2 || got[429] != 3 {
		t.Errorf("concurrent statuses = %v", got)
	}
	if b.s.Counters().Enforced["dataverse concurrent"] != 3 {
		t.Errorf("enforced = %v", b.s.Counters().Enforced)
	}
	// Execution time: 300 ms of latency per request, 500 ms allowed.
	b.s.SetLimits(Limits{DataverseExecution: Duration(500 * time.Millisecond), DataverseWindow: Duration(time.Minute)})
	var es []int
	var body []byte
	for i := 0; i < 3; i++ {
		var st int
		st, _, body = b.call(t, "GET", u, tok, nil)
		es = append(es, st)
	}
	if !reflect.DeepEqual(es, []int{200, 200, 429}) || !strings.Contains(string(body), "0x80072321") {
		t.Errorf("execution-time statuses = %v %s", es, body)
	}
	b.setFaults(t, Faults{})
	// Graph resource units: users costs 1 with $top<20 and $select.
	b.s.SetLimits(Limits{GraphResourceUnits: 2})
	gt := b.graphToken(t)
	var gs []int
	var pct []string
	for i := 0; i < 3; i++ {
		st, h, _ := b.call(t, "GET", b.info.GraphURL+"/users?$top=1&$select=id", gt, nil)
		gs = append(gs, st)
		pct = append(pct, h.Get("x-ms-throttle-limit-percentage"))
	}
	if pct[0] != "" || pct[1] != "1.0" {
		t.Errorf("x-ms-throttle-limit-percentage = %q", pct)
	}
	if !reflect.DeepEqual(gs, []int{200, 200, 429}) {
		t.Errorf("Graph RU statuses = %v", gs)
	}
}
