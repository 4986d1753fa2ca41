package mscloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

var (
	benchOnce sync.Once
	benchT    *tenant.Tenant
	benchErr  error
)

// benchTenant is one 100,000-user tenant shared by the benchmarks.
func benchTenant(b *testing.B) *tenant.Tenant {
	benchOnce.Do(func() { benchT, benchErr = tenant.Generate(tenant.Options{Seed: 11, Users: 100000, Environments: 1}) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchT
}

func benchServer(b *testing.B) *bundle {
	tn := benchTenant(b)
	return setup(b, 0, 0, func(c *Config) { c.HTTP = false; c.Tenants = []TenantConfig{{Tenant: tn}} })
}

// fetch GETs u and returns the nextLink, discarding the page.
func fetch(b *testing.B, hc *http.Client, u, tok string, hdr ...string) string {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	// Read the whole page but decode only the nextLink, so the numbers
	// measure the simulator rather than the client's JSON decoding.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.Index(body, []byte(`"@odata.nextLink":`))
	if i < 0 {
		return ""
	}
	var next string
	if err := json.NewDecoder(bytes.NewReader(body[i+len(`"@odata.nextLink":`):])).Decode(&next); err != nil {
		b.Fatal(err)
	}
	return next
}

// BenchmarkGraphUsersPages pages /users?$top=999 with the licensing
// properties over HTTPS through a 100,000-user tenant; one op is one page.
func BenchmarkGraphUsersPages(b *testing.B) {
	bu := benchServer(b)
	tok := bu.graphToken(b)
	first := bu.info.GraphURL + "/users?$select=id,displayName,userPrincipalName,accountEnabled,assignedLicenses,assignedPlans,licenseAssignmentStates,signInActivity&$top=999"
	u := first
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u = fetch(b, bu.hc, u, tok)
		if u == "" {
			u = first
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	reportHeap(b)
}

// BenchmarkDataverseAuditPages pages the audit log with 5000-row pages
// (the default page size) and annotations; one op is one page.
func BenchmarkDataverseAuditPages(b *testing.B) {
	bu := benchServer(b)
	tok := bu.envToken(b, 0)
	first := bu.info.Environments[0].APIURL + "/audits?$select=createdon,action,operation,objecttypecode,_objectid_value,_userid_value&$orderby=createdon%20asc"
	u := first
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u = fetch(b, bu.hc, u, tok, "Prefer", `odata.include-annotations="*"`)
		if u == "" {
			u = first
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(b.N)*5000/b.Elapsed().Seconds(), "rows/s")
	reportHeap(b)
}

func reportHeap(b *testing.B) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heapMiB")
}
