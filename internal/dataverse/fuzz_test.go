package dataverse

import (
	"os"
	"testing"

	"github.com/seatwise/seatwise/internal/odata"
)

// FuzzAuditPage decodes arbitrary audit pages: no panic, and a decoded row
// has a UTC createdon.
func FuzzAuditPage(f *testing.F) {
	b, err := os.ReadFile("testdata/dataverse-audits-list.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"value":[{"createdon":"2025-05-12T22:19:12.1234567Z","operation":"4","action":64,"_userid_value":"ABC"}]}`))
	f.Add([]byte(`{"value":[{"createdon":"2025-05-12T22:19:12","operation":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := odata.DecodePageOf[wireAudit]("https://org.example/api/data/v9.2/audits", body)
		if err != nil {
			return
		}
		ap, err := auditPage(p)
		if err != nil {
			return
		}
		for _, r := range ap.Rows {
			if r.CreatedOn.Location().String() != "UTC" {
				t.Fatalf("createdon %v not UTC", r.CreatedOn)
			}
		}
	})
}
