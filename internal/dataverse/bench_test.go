package dataverse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
)

// BenchmarkAuditsPage measures fetching and decoding one full 5000-row
// audit page (with annotations, as Dataverse sends them on request) over
// loopback HTTP: the unit of an activity run.
func BenchmarkAuditsPage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"@odata.context":"x/$metadata#audits","@Microsoft.Dynamics.CRM.totalrecordcount":-1,"value":[`)
	for i := range MaxPageSize {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"createdon@OData.Community.Display.V1.FormattedValue":"5/12/2025 3:19 PM","createdon":"2025-05-12T22:19:%02dZ","operation":4,"action@OData.Community.Display.V1.FormattedValue":"User Access via Web","action":64,"objecttypecode":"systemuser","_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser","_objectid_value":"4026be43-6b69-e111-8f65-78e7d1620f5e","_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser","_userid_value@OData.Community.Display.V1.FormattedValue":"Adele Vance","_userid_value":"4026be43-6b69-e111-8f65-78e7d1620f5e","auditid":"%08d-0000-0000-0000-000000000000"}`, i%60, i)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	c := New(srv.URL, odata.New(odata.Config{Service: odata.ServiceDataverse}))
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		p, err := c.AuditsPage(ctx, "audits")
		if err != nil || len(p.Rows) != MaxPageSize {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*MaxPageSize)/time.Since(start).Seconds(), "rows/s")
}
