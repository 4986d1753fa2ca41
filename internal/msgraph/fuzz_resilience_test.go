package msgraph

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/odata/odatatest"
)

// fuzzClient makes fs answer the next request with body and returns a
// Graph client of it.
func fuzzClient(fs *odatatest.FuzzServer, body []byte) *Client {
	fs.Serve(body)
	return New(fs.URL+"/v1.0", fs.Client)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceGraph)
	f.Fuzz(func(t *testing.T, body []byte) {
		skus, err := fuzzClient(fs, body).SubscribedSKUs(context.Background())
		odatatest.CheckErr(t, err)
		if err != nil {
			return
		}
		for _, s := range skus {
			odatatest.CheckLower(t, s.SKUID, s.AccountID, s.ID)
			odatatest.CheckLower(t, s.SubscriptionIDs...)
			for _, p := range s.ServicePlans {
				odatatest.CheckLower(t, p.ServicePlanID)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceGraph)
	f.Fuzz(func(t *testing.T, body []byte) {
		ds, err := fuzzClient(fs, body).LicenseDetails(context.Background(), "User-1")
		odatatest.CheckErr(t, err)
		for _, d := range ds {
			odatatest.CheckLower(t, d.SKUID)
			for _, p := range d.ServicePlans {
				odatatest.CheckLower(t, p.ServicePlanID)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceGraph)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fuzzClient(fs, body).LicenseDetailsOf(context.Background(), users)
		odatatest.CheckErr(t, err)
		if err != nil {
			return
		}
		for id, ds := range got {
			if id != "user-a" && id != "user-b" && id != "user-c" {
				t.Fatalf("answer for a user not asked: %q", id)
			}
			for _, d := range ds {
				odatatest.CheckLower(t, d.SKUID)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceGraph)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(fs, body)
		pages := 0
		err := c.Delta(context.Background(), c.DeltaStartURL([]string{"id", "assignedLicenses"}), func(p DeltaPage) error {
			pages++
			for _, u := range p.Users {
				odatatest.CheckLower(t, u.ID)
				for _, l := range u.AssignedLicenses {
					odatatest.CheckLower(t, l.SKUID)
				}
			}
			return nil
		})
		odatatest.CheckErr(t, err)
		if pages > 2 {
			t.Fatalf("%d pages from one fuzzed page and one empty page", pages)
		}
	})
}
