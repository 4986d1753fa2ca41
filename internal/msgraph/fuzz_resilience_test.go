package msgraph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// fuzzServer answers the first GET or POST of an iteration with the fuzzed
// body and every later request with an empty collection, so that a client
// following a same-host nextLink stops after one more page.
type fuzzServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body []byte
	hits int
	oc   *odata.Client // one client (one connection pool) for every iteration
}

func newFuzzServer(f testing.TB) *fuzzServer {
	fs := &fuzzServer{}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fs.mu.Lock()
		fs.hits++
		body := fs.body
		if fs.hits > 1 {
			body = []byte(`{"value":[]}`)
		}
		fs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	f.Cleanup(fs.srv.Close)
	fs.oc = odata.New(odata.Config{Service: odata.ServiceGraph, MaxAttempts: 1, Tokens: odata.StaticToken("fuzz-token"),
		HTTPClient: fs.srv.Client(), Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	return fs
}

// client returns a Graph client of the server that tries each request once
// and never waits.
func (fs *fuzzServer) client(body []byte) *Client {
	fs.mu.Lock()
	fs.body, fs.hits = body, 0
	fs.mu.Unlock()
	return New(fs.srv.URL+"/v1.0", fs.oc)
}

// checkErr fails unless err is nil or a *sam.Error with a code and a
// message that never repeats the bearer token.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var se *sam.Error
	if !errors.As(err, &se) || se.Code == "" {
		t.Fatalf("error %T without a code: %v", err, err)
	}
	if strings.Contains(err.Error(), "fuzz-token") {
		t.Fatalf("error shows the token: %v", err)
	}
}

// checkGUIDs fails when an id that should be a normalised GUID is not lower
// case.
func checkGUIDs(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if id != strings.ToLower(id) {
			t.Fatalf("GUID %q not lower case", id)
		}
	}
}

func addFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		f.Fatalf("no seed files %s", pattern)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzSubscribedSKUs serves arbitrary /subscribedSkus bodies to the client:
// no panic, errors are classified *sam.Error, every GUID comes out lower
// case, and Available is never negative.
func FuzzSubscribedSKUs(f *testing.F) {
	addFiles(f, "testdata/graph-subscribedSkus-list.json")
	f.Add([]byte(`{"value":[{"skuId":"ABC","prepaidUnits":{"enabled":1},"consumedUnits":5,"servicePlans":[{"servicePlanId":"DEF"}],"subscriptionIds":["X"]}]}`))
	f.Add([]byte(`{"value":[{"consumedUnits":"1"}]}`))
	f.Add([]byte(`{"value":[],"@odata.nextLink":"/v1.0/subscribedSkus?page=2"}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		skus, err := fs.client(body).SubscribedSKUs(context.Background())
		checkErr(t, err)
		if err != nil {
			return
		}
		for _, s := range skus {
			checkGUIDs(t, s.SKUID, s.AccountID, s.ID)
			checkGUIDs(t, s.SubscriptionIDs...)
			for _, p := range s.ServicePlans {
				checkGUIDs(t, p.ServicePlanID)
			}
			if s.Available() < 0 {
				t.Fatalf("Available() = %d", s.Available())
			}
		}
	})
}

// FuzzLicenseDetails serves arbitrary /users/{id}/licenseDetails bodies:
// no panic, classified errors, lower-case GUIDs.
func FuzzLicenseDetails(f *testing.F) {
	addFiles(f, "testdata/graph-user-licenseDetails-list.json")
	f.Add([]byte(`{"value":[{"skuId":"ABC","servicePlans":null}]}`))
	f.Add([]byte(`{"value":[null]}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ds, err := fs.client(body).LicenseDetails(context.Background(), "User-1")
		checkErr(t, err)
		for _, d := range ds {
			checkGUIDs(t, d.SKUID)
			for _, p := range d.ServicePlans {
				checkGUIDs(t, p.ServicePlanID)
			}
		}
	})
}

// FuzzBatchResponse serves arbitrary $batch answers to LicenseDetailsOf for
// three users: no panic, classified errors, and on success only the asked
// users appear, keyed by their lower-case id, with lower-case SKU ids.
func FuzzBatchResponse(f *testing.F) {
	details, err := os.ReadFile("testdata/graph-user-licenseDetails-list.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"responses":[{"id":"1","status":200,"headers":{},"body":` + string(details) + `},` +
		`{"id":"2","status":404,"body":{"error":{"code":"Request_ResourceNotFound","message":"gone"}}},` +
		`{"id":"3","status":429,"headers":{"Retry-After":"1"},"body":{"error":{"code":"TooManyRequests"}}}]}`))
	f.Add([]byte(`{"responses":[{"id":"1","status":200,"body":{"value":[]}},{"id":"1","status":200,"body":{"value":[]}}]}`))
	f.Add([]byte(`{"responses":[{"id":"3","status":403,"body":{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}}]}`))
	f.Add([]byte(`{"responses":[{"id":"2","status":200,"body":{"value":[],"@odata.nextLink":"https://elsewhere.example/v1.0/x"}}]}`))
	f.Add([]byte(`{"responses":null}`))
	users := []string{"USER-A", "user-b", "User-C"}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fs.client(body).LicenseDetailsOf(context.Background(), users)
		checkErr(t, err)
		if err != nil {
			return
		}
		for id, ds := range got {
			if id != "user-a" && id != "user-b" && id != "user-c" {
				t.Fatalf("answer for a user not asked: %q", id)
			}
			for _, d := range ds {
				checkGUIDs(t, d.SKUID)
			}
		}
	})
}

// FuzzDeltaPages walks arbitrary users/delta answers with Delta: no panic,
// classified errors, lower-case GUIDs, and the walk ends after the fuzzed
// page and at most one (empty) page it links to.
func FuzzDeltaPages(f *testing.F) {
	addFiles(f, "testdata/graph-users-delta-*.json")
	f.Add([]byte(`{"value":[{"id":"ABC","@removed":{"reason":"changed"}}],"@odata.deltaLink":"/v1.0/users/delta?$deltatoken=x"}`))
	f.Add([]byte(`{"error":{"code":"SyncStateNotFound","message":"resync"}}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fs.client(body)
		pages := 0
		err := c.Delta(context.Background(), c.DeltaStartURL([]string{"id", "assignedLicenses"}), func(p DeltaPage) error {
			pages++
			for _, u := range p.Users {
				checkGUIDs(t, u.ID)
				for _, l := range u.AssignedLicenses {
					checkGUIDs(t, l.SKUID)
				}
			}
			return nil
		})
		checkErr(t, err)
		if pages > 2 {
			t.Fatalf("%d pages from one fuzzed page and one empty page", pages)
		}
	})
}
