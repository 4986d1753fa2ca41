package mscloud

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

var optionSets = func() map[string]map[string]string {
	data, err := os.ReadFile("testdata/dataverse-optionsets.json")
	if err != nil {
		panic(err)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(data, &raw)
	out := map[string]map[string]string{}
	for _, k := range []string{"audit.operation", "audit.action", "systemuser.accessmode", "systemuser.caltype"} {
		m := map[string]string{}
		json.Unmarshal(raw[k], &m)
		out[k] = m
	}
	return out
}()

func TestOptionSetLabelsMatchMicrosoft(t *testing.T) {
	for name, labels := range map[string]map[int]string{"audit.operation": auditOperationLabels, "audit.action": auditActionLabels, "systemuser.accessmode": accessModeLabels, "systemuser.caltype": calTypeLabels} {
		if len(labels) != len(optionSets[name]) {
			t.Errorf("%s: %d labels, Microsoft documents %d", name, len(labels), len(optionSets[name]))
		}
		for k, v := range labels {
			if optionSets[name][strconv.Itoa(k)] != v {
				t.Errorf("%s %d = %q, Microsoft: %q", name, k, v, optionSets[name][strconv.Itoa(k)])
			}
		}
	}
}

// dvPages follows a Dataverse listing and returns rows and pages.
func (b *bundle) dvPages(t *testing.T, u, tok string, hdr ...string) ([]map[string]any, int) {
	t.Helper()
	var rows []map[string]any
	pages := 0
	for u != "" {
		st, h, body := b.call(t, "GET", u, tok, nil, hdr...)
		if st != 200 {
			t.Fatalf("GET %s: %d %s", u, st, body)
		}
		if h.Get("OData-Version") != "4.0" || !strings.HasPrefix(h.Get("Content-Type"), "application/json; odata.metadata=minimal") {
			t.Errorf("headers: %v", h)
		}
		var page map[string]any
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page["value"].([]any) {
			rows = append(rows, v.(map[string]any))
		}
		next, _ := page["@odata.nextLink"].(string)
		if next != "" {
			if vi, ni := strings.Index(string(body), `"value"`), strings.Index(string(body), `"@odata.nextLink"`); ni < vi {
				t.Errorf("@odata.nextLink before value")
			}
			if !strings.Contains(next, "$skiptoken=%3Ccookie%20pagenumber=%22"+strconv.Itoa(pages+1)+"%22%20pagingcookie=%22%253ccookie%2520page%253d%2522") {
				t.Errorf("nextLink is not cookie-style: %s", next)
			}
		}
		u = next
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
	}
	return rows, pages
}

func TestDataverseWhoAmIAndOrganization(t *testing.T) {
	b := setup(t, 10, 2)
	env := b.info.Environments[1]
	tok := b.envToken(t, 1)
	who := b.getJSON(t, env.APIURL+"/WhoAmI()", tok, 200)
	e, _ := b.s.Tenant().Environment(1)
	if who["UserId"] != e.AppUserID || who["OrganizationId"] != e.OrganizationID || who["BusinessUnitId"] != e.BusinessUnitID {
		t.Errorf("WhoAmI = %v", who)
	}
	if who["@odata.context"] != env.APIURL+"/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse" {
		t.Errorf("context = %v", who["@odata.context"])
	}
	org := b.getJSON(t, env.APIURL+"/organizations?$select=isauditenabled,isuseraccessauditenabled,auditretentionperiodv2,useraccessauditinginterval", tok, 200)
	rows := org["value"].([]any)
	if len(rows) != 1 {
		t.Fatalf("organizations = %v", org)
	}
	r := rows[0].(map[string]any)
	if r["organizationid"] != e.OrganizationID || r["isauditenabled"] != e.Audit.AuditEnabled || r["auditretentionperiodv2"] != float64(e.Audit.RetentionDays) || r["useraccessauditinginterval"] != float64(e.Audit.AccessIntervalHours) {
		t.Errorf("organization row = %v, want %+v", r, e.Audit)
	}
	if !strings.HasPrefix(r["@odata.etag"].(string), `W/"`) {
		t.Errorf("etag = %v", r["@odata.etag"])
	}
}

func TestDataverseAuthFailures(t *testing.T) {
	b := setup(t, 10, 2)
	env := b.info.Environments[0]
	for _, tok := range []string{"", "garbage", b.graphToken(t), b.envToken(t, 1)} {
		st, h, _ := b.call(t, "GET", env.APIURL+"/WhoAmI", tok, nil)
		want := "Bearer authorization_uri=" + b.info.LoginURL + "/" + b.info.TenantID + "/oauth2/authorize, resource_id=" + env.URL + "/"
		if st != 401 || h.Get("WWW-Authenticate") != want {
			t.Errorf("token %.10q: %d %q", tok, st, h.Get("WWW-Authenticate"))
		}
	}
	st, _, body := b.call(t, "GET", env.APIURL+"/Account", b.envToken(t, 0), nil)
	if st != 404 || !strings.Contains(string(body), `"code":"0x8006088a"`) || !strings.Contains(string(body), "Resource not found for the segment 'Account'.") {
		t.Errorf("unknown entity set: %d %s", st, body)
	}
	st, _, body = b.call(t, "GET", env.APIURL+"/audits?$select=Name", b.envToken(t, 0), nil)
	if st != 400 || !strings.Contains(string(body), `"code":"0x0"`) || !strings.Contains(string(body), "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.audit'.") {
		t.Errorf("bad $select: %d %s", st, body)
	}
	st, _, body = b.call(t, "GET", env.APIURL+"/audits?$filter="+url.QueryEscape("action eq 'x'"), b.envToken(t, 0), nil)
	if st != 400 || !strings.Contains(string(body), "0x80060888") {
		t.Errorf("bad $filter: %d %s", st, body)
	}
	if err := b.s.Tenant().SetAppAuditRead(0, false); err != nil {
		t.Fatal(err)
	}
	st, _, body = b.call(t, "GET", env.APIURL+"/audits", b.envToken(t, 0), nil)
	if st != 403 || !strings.Contains(string(body), "prvReadAuditSummary") {
		t.Errorf("no audit privilege: %d %s", st, body)
	}
}

func TestDataverseSystemUsersPaging(t *testing.T) {
	b := setup(t, 40, 1)
	env := b.info.Environments[0]
	tok := b.envToken(t, 0)
	all, _, err := b.s.Tenant().SystemUsersPage(0, "", 100000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{7, len(all), 5} {
		rows, pages := b.dvPages(t, env.APIURL+"/systemusers?$select=systemuserid,azureactivedirectoryobjectid,domainname,fullname,isdisabled,accessmode,caltype,applicationid", tok, "Prefer", "odata.maxpagesize="+strconv.Itoa(size))
		if len(rows) != len(all) || pages != (len(all)+size-1)/size {
			t.Errorf("maxpagesize %d: %d rows in %d pages, want %d", size, len(rows), pages, len(all))
		}
		seen := map[string]bool{}
		for _, r := range rows {
			id := r["systemuserid"].(string)
			if seen[id] {
				t.Fatalf("systemuser %s twice", id)
			}
			seen[id] = true
			if r["ownerid"] != id {
				t.Errorf("ownerid = %v", r["ownerid"])
			}
		}
	}
	rows, _ := b.dvPages(t, env.APIURL+"/systemusers?$select=fullname,accessmode&$filter="+url.QueryEscape("accessmode eq 4"), tok, "Prefer", `odata.include-annotations="*"`)
	if len(rows) == 0 {
		t.Fatal("no application user")
	}
	for _, r := range rows {
		if r["accessmode"] != float64(4) || r["accessmode@OData.Community.Display.V1.FormattedValue"] != optionSets["systemuser.accessmode"]["4"] {
			t.Errorf("row = %v", r)
		}
	}
}

// truthAudits lists the tenant's audit rows of environment env for q.
func truthAudits(t *testing.T, tn *tenant.Tenant, env int, q tenant.AuditQuery) []tenant.AuditRow {
	t.Helper()
	seq, err := tn.Audits(env, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []tenant.AuditRow
	for r := range seq {
		out = append(out, r)
	}
	return out
}

func TestDataverseAuditsPagingEveryRowOnce(t *testing.T) {
	b := setup(t, 15, 1)
	env := b.info.Environments[0]
	tok := b.envToken(t, 0)
	tn := b.s.Tenant()
	from := tn.Now().Add(-20 * 24 * time.Hour).UTC()
	want := truthAudits(t, tn, 0, tenant.AuditQuery{CreatedOnGE: from})
	if len(want) < 10 {
		t.Fatalf("only %d audit rows", len(want))
	}
	filter := url.QueryEscape("createdon ge " + from.Format(time.RFC3339Nano))
	for _, size := range []int{len(want), len(want) / 3, 10, 7} {
		for _, order := range []string{"asc", "desc"} {
			rows, pages := b.dvPages(t, env.APIURL+"/audits?$select=createdon,action,operation,objecttypecode,_objectid_value,_userid_value&$filter="+filter+"&$orderby=createdon%20"+order, tok, "Prefer", "odata.maxpagesize="+strconv.Itoa(size))
			if len(rows) != len(want) {
				t.Fatalf("size %d %s: %d rows, want %d", size, order, len(rows), len(want))
			}
			if wp := (len(want) + size - 1) / size; pages != wp {
				t.Errorf("size %d: %d pages, want %d", size, pages, wp)
			}
			seen := map[string]bool{}
			var prev time.Time
			for i, r := range rows {
				id := r["auditid"].(string)
				if seen[id] {
					t.Fatalf("audit %s twice", id)
				}
				seen[id] = true
				at, err := time.Parse(time.RFC3339, r["createdon"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && ((order == "asc" && at.Before(prev)) || (order == "desc" && at.After(prev))) {
					t.Fatalf("rows out of %s order", order)
				}
				prev = at
			}
		}
	}
}

func TestDataverseAuditsFilterAndAnnotations(t *testing.T) {
	b := setup(t, 15, 1)
	env := b.info.Environments[0]
	tok := b.envToken(t, 0)
	tn := b.s.Tenant()
	want := truthAudits(t, tn, 0, tenant.AuditQuery{Actions: []int{64, 65}})
	rows, _ := b.dvPages(t, env.APIURL+"/audits?$select=createdon,action,operation,objecttypecode,_objectid_value,_userid_value&$filter="+url.QueryEscape("(action eq 64 or action eq 65) and operation eq 4")+"&$orderby=createdon%20desc", tok,
		"Prefer", `odata.maxpagesize=500, odata.include-annotations="*"`)
	if len(rows) != len(want) || len(want) == 0 {
		t.Fatalf("%d access rows, tenant has %d", len(rows), len(want))
	}
	for _, r := range rows {
		a := strconv.Itoa(int(r["action"].(float64)))
		if r["action@OData.Community.Display.V1.FormattedValue"] != optionSets["audit.action"][a] {
			t.Errorf("action label %v for %s", r["action@OData.Community.Display.V1.FormattedValue"], a)
		}
		if r["operation@OData.Community.Display.V1.FormattedValue"] != optionSets["audit.operation"]["4"] {
			t.Errorf("operation label %v", r["operation@OData.Community.Display.V1.FormattedValue"])
		}
		if r["_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != "systemuser" || r["_userid_value@OData.Community.Display.V1.FormattedValue"] == "" {
			t.Errorf("lookup annotations: %v", r)
		}
		if _, ok := r["createdon@OData.Community.Display.V1.FormattedValue"].(string); !ok {
			t.Errorf("createdon formatted value missing: %v", r)
		}
	}
	// Preference-Applied echoes both preferences; over 5000 is ignored.
	_, h, _ := b.call(t, "GET", env.APIURL+"/audits?$top=1", tok, nil, "Prefer", `odata.maxpagesize=20, odata.include-annotations="*"`)
	if pa := h.Get("Preference-Applied"); !strings.Contains(pa, "odata.maxpagesize=20") || !strings.Contains(pa, `odata.include-annotations="*"`) {
		t.Errorf("Preference-Applied = %q", pa)
	}
	_, h, _ = b.call(t, "GET", env.APIURL+"/audits?$top=1", tok, nil, "Prefer", "odata.maxpagesize=6000")
	if strings.Contains(h.Get("Preference-Applied"), "maxpagesize") {
		t.Errorf("maxpagesize above 5000 applied: %q", h.Get("Preference-Applied"))
	}
	// Annotations come right before their value.
	_, _, raw := b.call(t, "GET", env.APIURL+"/audits?$top=2&$select=action,_userid_value", tok, nil, "Prefer", `odata.include-annotations="*"`)
	if !regexp.MustCompile(`"action@OData\.Community\.Display\.V1\.FormattedValue":"[^"]+","action":\d+,"_userid_value@Microsoft\.Dynamics\.CRM\.lookuplogicalname":"systemuser","_userid_value@OData\.Community\.Display\.V1\.FormattedValue":"[^"]*","_userid_value":"[0-9a-f-]{36}","auditid":"[0-9a-f-]{36}"`).Match(raw) {
		t.Errorf("annotation order: %s", raw)
	}
	// Without annotations, no annotation keys.
	st, _, body := b.call(t, "GET", env.APIURL+"/audits?$top=3", tok, nil)
	if st != 200 || strings.Contains(string(body), "FormattedValue") || !strings.Contains(string(body), `"@Microsoft.Dynamics.CRM.totalrecordcount":-1`) {
		t.Errorf("plain audits: %d %s", st, body)
	}
	// Audit option values are documented ones.
	for _, r := range truthAudits(t, tn, 0, tenant.AuditQuery{}) {
		if _, ok := optionSets["audit.action"][strconv.Itoa(r.Action)]; !ok {
			t.Fatalf("undocumented action %d", r.Action)
		}
		if _, ok := optionSets["audit.operation"][strconv.Itoa(r.Operation)]; !ok {
			t.Fatalf("undocumented operation %d", r.Operation)
		}
	}
	// A garbled paging cookie.
	st, _, body = b.call(t, "GET", env.APIURL+"/audits?$skiptoken="+url.QueryEscape(`<cookie pagenumber="2" pagingcookie="x" istracking="False" />`), tok, nil)
	if st != 400 {
		t.Errorf("garbled cookie: %d %s", st, body)
	}
}
