package dataverse

import (
	"context"
	"os"
	"testing"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/odata/odatatest"
	"github.com/seatwise/seatwise/internal/sam"
)

// fuzzClient makes fs answer the next request with body and returns a
// Dataverse client of it.
func fuzzClient(fs *odatatest.FuzzServer, body []byte) *Client {
	fs.Serve(body)
	return New(fs.URL, fs.Client)
}

// FuzzSystemUsers walks arbitrary systemusers answers: no panic, classified
// errors, lower-case GUIDs, at most the fuzzed page and one empty page.
func FuzzSystemUsers(f *testing.F) {
	f.Add([]byte(`{"@odata.context":"x","value":[{"systemuserid":"AAAA-1","azureactivedirectoryobjectid":"BBBB","domainname":"a@b.c","fullname":"A","isdisabled":false,"accessmode":0,"applicationid":null}]}`))
	f.Add([]byte(`{"value":[{"systemuserid":"x","accessmode":"4"}],"@odata.nextLink":"/api/data/v9.2/systemusers?$skiptoken=1"}`))
	f.Add([]byte(`{"value":[{"isdisabled":"yes"}]}`))
	f.Add([]byte(`{"error":{"code":"0x80040220","message":"Principal user is missing prvReadSystemUser"}}`))
	fs := odatatest.NewFuzzServer(f, odata.ServiceDataverse)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(fs, body)
		pages := 0
		err := c.SystemUsers(context.Background(), c.SystemUsersURL("accessmode ne 4"), func(users []SystemUser, next string) error {
			pages++
			for _, u := range users {
				odatatest.CheckLower(t, u.SystemUserID, u.AADObjectID, u.ApplicationID)
			}
			return nil
		})
		odatatest.CheckErr(t, err)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceDataverse)
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := fuzzClient(fs, body).AuditSettings(context.Background())
		odatatest.CheckErr(t, err)
		if err != nil {
			if p, derr := odata.DecodePage("https://h/api/data/v9.2/organizations", body); derr == nil && len(p.Value) == 0 && !sam.IsCode(err, sam.ENOTFOUND) {
				t.Fatalf("empty collection gave %v, want ENOTFOUND", err)
			}
			return
		}
		odatatest.CheckLower(t, s.OrganizationID)
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
	fs := odatatest.NewFuzzServer(f, odata.ServiceDataverse)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(fs, body)
		err := c.Audits(context.Background(), c.AuditsURL(AuditQuery{}), func(rows []Audit, next string) error {
			for _, r := range rows {
				if r.CreatedOn.Location().String() != "UTC" {
					t.Fatalf("createdon %v not UTC", r.CreatedOn)
				}
				odatatest.CheckLower(t, r.AuditID, r.UserID, r.ObjectID, r.ObjectTypeCode)
			}
			return nil
		})
		odatatest.CheckErr(t, err)
	})
}
