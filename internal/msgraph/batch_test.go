package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// batchServer answers $batch in reverse order: users named "missing*" are
// 404, "throttled*" users are 429 inside the batch (and fine when asked on
// their own), "denied" is 403; others get the licenseDetails fixture.
type batchServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	batches [][]string // URLs per batch
	singles []string
}

func newBatchServer(t *testing.T) *batchServer {
	b := &batchServer{}
	details := fixture(t, "graph-user-licenseDetails-list.json")
	answer := func(u string) (int, string) {
		switch {
		case strings.Contains(u, "/missing"):
			return 404, `{"error":{"code":"Request_ResourceNotFound","message":"Resource does not exist."}}`
		case strings.Contains(u, "/denied"):
			return 403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`
		}
		return 200, details
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/$batch" {
			b.mu.Lock()
			b.singles = append(b.singles, r.URL.Path)
			b.mu.Unlock()
			status, body := answer(r.URL.Path)
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
		var in struct{ Requests []BatchRequest }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Requests) > MaxBatch {
			w.WriteHeader(400)
			return
		}
		var urls, items []string
		for _, q := range slices.Backward(in.Requests) {
			urls = append(urls, q.URL)
			status, body := answer(q.URL)
			hdr := `{"Content-Type":"application/json"}`
			if strings.Contains(q.URL, "/throttled") {
				status, body, hdr = 429, `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`, `{"Retry-After":"2.5"}`
			}
			items = append(items, fmt.Sprintf(`{"id":%q,"status":%d,"headers":%s,"body":%s}`, q.ID, status, hdr, body))
		}
		b.mu.Lock()
		b.batches = append(b.batches, urls)
		b.mu.Unlock()
		io.WriteString(w, `{"responses":[`+strings.Join(items, ",")+`]}`)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func TestLicenseDetailsOf(t *testing.T) {
	t.Parallel()
	b := newBatchServer(t)
	c := New(b.srv.URL+"/v1.0", odata.New(odata.Config{Service: odata.ServiceGraph, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}))
	var ids []string
	for i := range 43 {
		switch i {
		case 5:
			ids = append(ids, "missing-5")
		case 30:
			ids = append(ids, "throttled-30")
		default:
			ids = append(ids, fmt.Sprintf("USER-%02d", i))
		}
	}
	got, err := c.LicenseDetailsOf(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 42 || got["missing-5"] != nil || len(got["throttled-30"]) != 2 || len(got["user-07"]) != 2 || got["user-07"][0].SKUPartNumber != "ENTERPRISEPREMIUM" {
		t.Fatalf("%d users: %v", len(got), got["user-07"])
	}
	if len(b.batches) != 3 || len(b.batches[0]) != 20 || len(b.batches[2]) != 3 || len(b.singles) != 1 || b.singles[0] != "/v1.0/users/throttled-30/licenseDetails" {
		t.Fatalf("batches %d, singles %v", len(b.batches), b.singles)
	}

	_, err = c.LicenseDetailsOf(context.Background(), []string{"a", "denied"})
	if !sam.IsCode(err, sam.EFORBIDDEN) || !strings.Contains(err.Error(), "User.Read.All") || !strings.Contains(err.Error(), "user denied") {
		t.Fatalf("403 item: %v", err)
	}
}

func TestBatchResponses(t *testing.T) {
	t.Parallel()
	b := newBatchServer(t)
	c := New(b.srv.URL+"/v1.0", odata.New(odata.Config{Service: odata.ServiceGraph}))
	reqs := []BatchRequest{{ID: "a", Method: "GET", URL: "/users/x/licenseDetails"}, {ID: "b", Method: "GET", URL: "users/throttled/licenseDetails"}}
	resps, err := c.Batch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].ID != "a" || resps[0].Status != 200 || resps[0].Err() != nil || resps[1].ID != "b" || resps[1].Status != 429 {
		t.Fatalf("responses %+v", resps)
	}
	err = resps[1].Err()
	oe, ok := odata.AsError(err)
	if !sam.IsCode(err, sam.EUNAVAILABLE) || !ok || oe.RetryAfter != 2500*time.Millisecond || oe.Code != "TooManyRequests" || !strings.HasSuffix(oe.URL, "/v1.0/users/throttled/licenseDetails") {
		t.Fatalf("item error %v (%+v)", err, oe)
	}
	for _, bad := range [][]BatchRequest{
		make([]BatchRequest, 21),
		{{ID: "a", Method: "GET", URL: "/x"}, {ID: "a", Method: "GET", URL: "/y"}},
		{{ID: "a", URL: "/x"}},
	} {
		if _, err := c.Batch(context.Background(), bad); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("bad batch accepted: %v", err)
		}
	}
}
