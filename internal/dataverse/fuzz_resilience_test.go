package dataverse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// fuzzServer answers the first request of an iteration with the fuzzed body
// and every later one with an empty collection, so that a client following a
// same-host nextLink stops after one more page.
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
	fs.oc = odata.New(odata.Config{Service: odata.ServiceDataverse, MaxAttempts: 1, Tokens: odata.StaticToken("fuzz-token"),
		HTTPClient: fs.srv.Client(), Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	return fs
}

// client returns a Dataverse client of the server that sends each request
// once and never waits.
func (fs *fuzzServer) client(body []byte) *Client {
	fs.mu.Lock()
	fs.body, fs.hits = body, 0
	fs.mu.Unlock()
	return New(fs.srv.URL, fs.oc)
}

// checkErr fails unless err is nil or a *sam.Error with a code that never
// repeats the bearer token.
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

func lower(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if id != strings.ToLower(id) {
			t.Fatalf("GUID %q not lower case", id)
		}
	}
}

// FuzzSystemUsers walks arbitrary systemusers answers: no panic, classified
// errors, lower-case GUIDs, at most the fuzzed page and one empty page.
func FuzzSystemUsers(f *testing.F) {
	f.Add([]byte(`{"@odata.context":"x","value":[{"systemuserid":"AAAA-1","azureactivedirectoryobjectid":"BBBB","domainname":"a@b.c","fullname":"A","isdisabled":false,"accessmode":0,"applicationid":null}]}`))
	f.Add([]byte(`{"value":[{"systemuserid":"x","accessmode":"4"}],"@odata.nextLink":"/api/data/v9.2/systemusers?$skiptoken=1"}`))
	f.Add([]byte(`{"value":[{"isdisabled":"yes"}]}`))
	f.Add([]byte(`{"error":{"code":"0x80040220","message":"Principal user is missing prvReadSystemUser"}}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fs.client(body)
		pages := 0
		err := c.SystemUsers(context.Background(), c.SystemUsersURL("accessmode ne 4"), func(users []SystemUser, next string) error {
			pages++
			for _, u := range users {
				lower(t, u.SystemUserID, u.AADObjectID, u.ApplicationID)
			}
			return nil
		})
		checkErr(t, err)
		if pages > 2 {
			t.Fatalf("%d pages", pages)
		}
	})
}

// FuzzOrganizationSettings serves arbitrary organizations answers to
// AuditSettings: no panic, classified errors, retention -1 or >= 0, and an
// empty collection is ENOTFOUND.
func FuzzOrganizationSettings(f *testing.F) {
	b, err := os.ReadFile("testdata/dataverse-organization-audit-settings.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"value":[{"organizationid":"ABC","isauditenabled":null,"auditretentionperiodv2":-30}]}`))
	f.Add([]byte(`{"value":[{"auditretentionperiodv2":"90"}]}`))
	f.Add([]byte(`{"value":[]}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := fs.client(body).AuditSettings(context.Background())
		checkErr(t, err)
		if err != nil {
			if p, derr := odata.DecodePage("https://h/api/data/v9.2/organizations", body); derr == nil && len(p.Value) == 0 && !sam.IsCode(err, sam.ENOTFOUND) {
				t.Fatalf("empty collection gave %v, want ENOTFOUND", err)
			}
			return
		}
		lower(t, s.OrganizationID)
		if s.RetentionDays < -1 {
			t.Fatalf("retention %d days", s.RetentionDays)
		}
	})
}

// FuzzAudits walks arbitrary audit answers with Audits (the whole client
// path, unlike FuzzAuditPage): no panic, classified errors, UTC times and
// lower-case ids.
func FuzzAudits(f *testing.F) {
	b, err := os.ReadFile("testdata/dataverse-audits-list.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"value":[{"auditid":"A","createdon":"2025-05-12T22:19:12+02:00","operation":4,"action":"64","objecttypecode":"Account","_userid_value":"U"}],"@odata.nextLink":"/api/data/v9.2/audits?$skiptoken=2"}`))
	f.Add([]byte(`{"value":[{"createdon":"not a time"}]}`))
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fs.client(body)
		err := c.Audits(context.Background(), c.AuditsURL(AuditQuery{}), func(rows []Audit, next string) error {
			for _, r := range rows {
				if r.CreatedOn.Location().String() != "UTC" {
					t.Fatalf("createdon %v not UTC", r.CreatedOn)
				}
				lower(t, r.AuditID, r.UserID, r.ObjectID, r.ObjectTypeCode)
			}
			return nil
		})
		checkErr(t, err)
	})
}
