package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/web"
)

func TestEntitlementsAndPosition(t *testing.T) {
	b := setup(t)
	seed(t, b.st, "contoso", 10) // 10 users hold Sales Enterprise, 5 also Power Apps
	mgr := bearer(b.token(auth.RoleSAMManager))
	viewer := bearer(b.token(auth.RoleViewer))
	start := time.Now().UTC().AddDate(0, -1, 0).Format("2006-01-02")
	end := time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")
	good := "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n" +
		fmt.Sprintf("contoso,1e1a282c-9c54-43a2-9310-98ef728faace,8,9500,USD,%s,%s,annual\n", start, end)
	bad := "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n" +
		fmt.Sprintf("contoso,1e1a282c-9c54-43a2-9310-98ef728faace,-1,9500,USD,%s,%s,annual\n", start, end) +
		fmt.Sprintf("nope,1e1a282c-9c54-43a2-9310-98ef728faace,1,9500,USD,%s,%s,annual\n", start, end)
	csvHdr := func(h map[string]string) map[string]string { h["Content-Type"] = "text/csv"; return h }

	r := b.do(nil, "POST", "/api/v1/entitlements/import", strings.NewReader(bad), csvHdr(bearer(b.token(auth.RoleSAMManager))))
	if r.status != 400 || !strings.Contains(r.errBody(t).Message, "nothing written") {
		t.Fatalf("bad import: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "POST", "/api/v1/entitlements/import", strings.NewReader(good), csvHdr(viewer)); r.status != 403 {
		t.Errorf("viewer import: %d", r.status)
	}
	r = b.do(nil, "POST", "/api/v1/entitlements/import", strings.NewReader(good), csvHdr(mgr))
	if r.status != 201 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	var res web.ImportResult
	r.json(t, &res)
	if len(res.Created) != 1 || res.Created[0].Quantity != 8 || res.Created[0].Profile != "contoso" {
		t.Fatalf("created %+v", res)
	}
	var list []web.EntitlementJSON
	b.do(nil, "GET", "/api/v1/entitlements?profile=contoso", nil, viewer).json(t, &list)
	if len(list) != 1 {
		t.Errorf("list %+v", list)
	}
	var pos web.PositionReport
	r = b.do(nil, "GET", "/api/v1/profiles/contoso/position", nil, viewer)
	if r.status != 200 {
		t.Fatalf("position: %d %s", r.status, r.body)
	}
	r.json(t, &pos)
	found := false
	for _, p := range pos.Positions {
		if p.PartNumber == "DYN365_ENTERPRISE_SALES" {
			found = true
			if p.Owned != 8 || p.Used != 10 || p.Shortfall != 2 || p.Compliant || len(p.Explain) == 0 {
				t.Errorf("sales position %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("no Sales position: %s", r.body)
	}
	if r := b.do(nil, "GET", "/api/v1/profiles/contoso/position?as_of=soon", nil, viewer); r.status != 400 {
		t.Errorf("bad as_of: %d", r.status)
	}
	if r := b.do(nil, "DELETE", fmt.Sprintf("/api/v1/entitlements/%d", res.Created[0].ID), nil, mgr); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "DELETE", fmt.Sprintf("/api/v1/entitlements/%d", res.Created[0].ID), nil, mgr); r.status != 404 {
		t.Errorf("delete again: %d", r.status)
	}
}

func TestEntitlementsAndPositionPages(t *testing.T) {
	b := setup(t)
	seed(t, b.st, "contoso", 10)
	c := b.client()
	csrf := b.login(c, "u-sam_manager", password)
	html := map[string]string{"Accept": "text/html"}
	start := time.Now().UTC().AddDate(0, -1, 0).Format("2006-01-02")
	end := time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")
	rows := "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n" +
		fmt.Sprintf("contoso,1e1a282c-9c54-43a2-9310-98ef728faace,12,9500,USD,%s,%s,annual\n", start, end)
	r := b.do(c, "POST", "/entitlements/import", url.Values{"csrf": {csrf}, "csv": {"profile,sku\nnope,x\n"}}, html)
	if r.status != 400 || !strings.Contains(string(r.body), "the header lacks column") {
		t.Errorf("bad import page: %d %s", r.status, r.body)
	}
	r = b.do(c, "POST", "/entitlements/import", url.Values{"csrf": {csrf}, "csv": {rows}}, html)
	if r.status != 200 || !strings.Contains(string(r.body), "1 entitlement imported") {
		t.Fatalf("import page: %d %.400s", r.status, r.body)
	}
	r = b.do(c, "GET", "/position?profile=contoso", nil, html)
	for _, want := range []string{"DYN365_ENTERPRISE_SALES", "compliant", "How each figure was obtained"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("position page lacks %q", want)
		}
	}
	v := b.client()
	b.login(v, "u-viewer", password)
	if r := b.do(v, "GET", "/entitlements", nil, html); r.status != 200 || strings.Contains(string(r.body), "Import entitlements") {
		t.Errorf("viewer entitlements page: %d", r.status)
	}
}
