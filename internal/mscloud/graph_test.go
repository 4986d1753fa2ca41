package mscloud

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// listAll follows nextLinks from u and returns every item, checking each
// page against the Graph type.
func (b *bundle) listAll(t *testing.T, u, token, typ string, hdr ...string) ([]map[string]any, int) {
	t.Helper()
	var all []map[string]any
	pages := 0
	for u != "" {
		page := b.getJSON(t, u, token, 200, hdr...)
		pages++
		all = append(all, checkGraphCollection(t, typ, page)...)
		next, _ := page["@odata.nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, b.info.GraphURL+"/") {
			t.Fatalf("nextLink %q is not under %s", next, b.info.GraphURL)
		}
		u = next
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
	}
	return all, pages
}

func TestGraphUsersPagingEveryUserOnce(t *testing.T) {
	for _, tc := range []struct{ users, top int }{{30, 10}, {31, 10}, {7, 999}, {0, 5}} {
		t.Run(strconv.Itoa(tc.users)+"/"+strconv.Itoa(tc.top), func(t *testing.T) {
			b := setup(t, tc.users, 1)
			tok := b.graphToken(t)
			users, pages := b.listAll(t, b.info.GraphURL+"/users?$select=id,displayName,userPrincipalName,accountEnabled,assignedLicenses,assignedPlans,licenseAssignmentStates,signInActivity&$top="+strconv.Itoa(tc.top), tok, "user")
			want := b.s.Tenant().UserCount()
			if len(users) != want {
				t.Fatalf("listed %d users, tenant has %d", len(users), want)
			}
			if wantPages := max(1, (want+tc.top-1)/tc.top); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			seen := map[string]bool{}
			for _, u := range users {
				id := u["id"].(string)
				if seen[id] {
					t.Fatalf("user %s listed twice", id)
				}
				seen[id] = true
				if _, ok := u["signInActivity"].(map[string]any); !ok {
					t.Fatalf("signInActivity missing: %v", u)
				}
			}
		})
	}
}

func TestGraphUsersDefaultProperties(t *testing.T) {
	b := setup(t, 12, 1)
	page := b.getJSON(t, b.info.GraphURL+"/users", b.graphToken(t), 200)
	if page["@odata.context"] != b.info.GraphURL+"/$metadata#users" {
		t.Errorf("context = %v", page["@odata.context"])
	}
	for _, u := range checkGraphCollection(t, "user", page) {
		if len(u) != len(userDefaultProps) {
			t.Errorf("default property set: %v", u)
		}
		if bp, ok := u["businessPhones"].([]any); !ok || bp == nil {
			t.Errorf("businessPhones = %v", u["businessPhones"])
		}
		if _, ok := u["signInActivity"]; ok {
			t.Errorf("signInActivity returned without $select")
		}
		if _, present := u["officeLocation"]; !present {
			t.Errorf("unset property omitted instead of null: %v", u)
		}
	}
}

func TestGraphUsersQueryErrors(t *testing.T) {
	b := setup(t, 5, 1)
	tok := b.graphToken(t)
	tests := []struct {
		query  string
		hdr    []string
		status int
		code   string
		msg    string
	}{
		{"$top=1000", nil, 400, "Request_BadRequest", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{"$top=0", nil, 400, "Request_BadRequest", "Must be between 1 and 999 inclusive."},
		{"$count=true", nil, 400, "Request_BadRequest", "ConsistencyLevel"},
		{"$select=nosuch", nil, 400, "Request_BadRequest", "Could not find a property named 'nosuch'"},
		{"$skiptoken=garbage", nil, 400, "Directory_ExpiredPageToken", ""},
		{"$skip=5", nil, 400, "Request_BadRequest", "'$skip' is not supported"},
		{"$filter=" + url.QueryEscape("assignedLicenses/any(x:x/skuId eq 'x')"), nil, 400, "Request_UnsupportedQuery", ""},
	}
	for _, tt := range tests {
		st, h, body := b.call(t, "GET", b.info.GraphURL+"/users?"+tt.query, tok, nil, tt.hdr...)
		var e struct {
			Error struct {
				Code, Message string
				InnerError    map[string]string `json:"innerError"`
			}
		}
		json.Unmarshal(body, &e)
		if st != tt.status || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.msg) {
			t.Errorf("%s: %d %s", tt.query, st, body)
		}
		if e.Error.InnerError["request-id"] != h.Get("request-id") || e.Error.InnerError["client-request-id"] == "" || strings.HasSuffix(e.Error.InnerError["date"], "Z") {
			t.Errorf("%s: innerError = %v", tt.query, e.Error.InnerError)
		}
	}
	// client-request-id is echoed.
	_, h, _ := b.call(t, "GET", b.info.GraphURL+"/users?$top=1", tok, nil, "client-request-id", "abc-123")
	if h.Get("client-request-id") != "abc-123" || h.Get("request-id") == "" || h.Get("x-ms-resource-unit") != "1" {
		t.Errorf("headers = %v", h)
	}
	page := b.getJSON(t, b.info.GraphURL+"/users?$count=true&$top=2", tok, 200, "ConsistencyLevel", "eventual")
	if page["@odata.count"] != float64(b.s.Tenant().UserCount()) {
		t.Errorf("@odata.count = %v", page["@odata.count"])
	}
	st, h, body := b.call(t, "GET", b.info.GraphURL+"/users/$count", tok, nil, "ConsistencyLevel", "eventual")
	if st != 200 || h.Get("Content-Type") != "text/plain" || string(body) != strconv.Itoa(b.s.Tenant().UserCount()) {
		t.Errorf("/users/$count: %d %s %q", st, h.Get("Content-Type"), body)
	}
}

func TestGraphFilterBySKU(t *testing.T) {
	b := setup(t, 60, 1)
	tok := b.graphToken(t)
	skus := b.s.Tenant().SKUs()
	if len(skus) == 0 {
		t.Fatal("tenant has no SKUs")
	}
	sku := skus[0].SKUID
	got, _ := b.listAll(t, b.info.GraphURL+"/users?$select=id,assignedLicenses&$top=7&$filter="+url.QueryEscape("assignedLicenses/any(x:x/skuId eq "+sku+")"), tok, "user")
	want := 0
	cur := ""
	for {
		us, next, err := b.s.Tenant().UsersPage(cur, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			for _, l := range u.AssignedLicenses {
				if l.SKUID == sku {
					want++
				}
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	if len(got) != want {
		t.Errorf("filter returned %d users, tenant has %d holding %s", len(got), want, sku)
	}
}

func TestGraphSKUsOrganizationLicenseDetails(t *testing.T) {
	b := setup(t, 20, 1)
	tok := b.graphToken(t)
	page := b.getJSON(t, b.info.GraphURL+"/subscribedSkus", tok, 200)
	skus := checkGraphCollection(t, "subscribedSku", page)
	if len(skus) != len(b.s.Tenant().SKUs()) {
		t.Fatalf("%d SKUs", len(skus))
	}
	for _, k := range skus {
		if k["id"] != b.info.TenantID+"_"+k["skuId"].(string) {
			t.Errorf("sku id = %v", k["id"])
		}
	}
	page = b.getJSON(t, b.info.GraphURL+"/subscribedSkus?$select=skuId,consumedUnits", tok, 200)
	if page["@odata.context"] != b.info.GraphURL+"/$metadata#subscribedSkus(skuId,consumedUnits)" {
		t.Errorf("context = %v", page["@odata.context"])
	}
	if st, _, _ := b.call(t, "GET", b.info.GraphURL+"/subscribedSkus?$filter=skuId%20eq%201", tok, nil); st != 400 {
		t.Errorf("$filter on subscribedSkus: %d", st)
	}
	org := b.getJSON(t, b.info.GraphURL+"/organization", tok, 200)
	if o := checkGraphCollection(t, "organization", org); len(o) != 1 || o[0]["id"] != b.info.TenantID {
		t.Errorf("organization = %v", org)
	}
	users, _, _ := b.s.Tenant().UsersPage("", 100, func(u *tenant.User) bool { return len(u.AssignedLicenses) > 0 })
	if len(users) == 0 {
		t.Fatal("no licensed user")
	}
	ld := b.getJSON(t, b.info.GraphURL+"/users/"+users[0].ID+"/licenseDetails", tok, 200)
	rows := checkGraphCollection(t, "licenseDetails", ld)
	if len(rows) != len(users[0].AssignedLicenses) {
		t.Errorf("licenseDetails has %d rows, user holds %d", len(rows), len(users[0].AssignedLicenses))
	}
	one := b.getJSON(t, b.info.GraphURL+"/users/"+url.PathEscape(users[0].UserPrincipalName)+"?$select=id,assignedLicenses", tok, 200)
	checkGraphEntity(t, "user", "user", one)
	if one["id"] != users[0].ID {
		t.Errorf("GET user by UPN = %v", one)
	}
	st, _, body := b.call(t, "GET", b.info.GraphURL+"/users/00000000-0000-0000-0000-000000000001", tok, nil)
	if st != 404 || !strings.Contains(string(body), "Request_ResourceNotFound") {
		t.Errorf("unknown user: %d %s", st, body)
	}
	st, _, body = b.call(t, "GET", b.info.GraphURL+"/nosuch", tok, nil)
	if st != 400 || !strings.Contains(string(body), "Resource not found for the segment 'nosuch'.") {
		t.Errorf("unknown segment: %d %s", st, body)
	}
}

func TestGraphAuthFailures(t *testing.T) {
	b := setup(t, 5, 1)
	envTok := b.envToken(t, 0)
	for _, tc := range []struct {
		name, token, msg string
	}{
		{"missing", "", "Access token is empty."},
		{"garbled", "not-a-jwt", "CompactToken parsing failed with error code: 80049217"},
		{"wrong audience", envTok, "Invalid audience"},
	} {
		st, h, body := b.call(t, "GET", b.info.GraphURL+"/users", tc.token, nil)
		if st != 401 || !strings.Contains(string(body), `"code":"InvalidAuthenticationToken"`) || !strings.Contains(string(body), tc.msg) || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s", tc.name, st, body)
		}
	}
	b.s.UpdateApp(b.info.TenantID, func(a *App) { a.GraphRoles = []string{"Organization.Read.All"} })
	tok := b.graphToken(t)
	st, _, body := b.call(t, "GET", b.info.GraphURL+"/users", tok, nil)
	if st != 403 || !strings.Contains(string(body), "Authorization_RequestDenied") || !strings.Contains(string(body), "Insufficient privileges to complete the operation.") {
		t.Errorf("missing role: %d %s", st, body)
	}
	if st, _, _ := b.call(t, "GET", b.info.GraphURL+"/organization", tok, nil); st != 200 {
		t.Errorf("organization with Organization.Read.All: %d", st)
	}
}

func TestGraphAssignLicense(t *testing.T) {
	b := setup(t, 30, 1)
	tok := b.graphToken(t)
	st, _, _ := b.call(t, "POST", b.info.GraphURL+"/users/x/assignLicense", tok, strings.NewReader(`{"addLicenses":[],"removeLicenses":[]}`))
	if st != 403 {
		t.Errorf("assignLicense with read-only permissions: %d", st)
	}
	b.s.UpdateApp(b.info.TenantID, func(a *App) { a.GraphRoles = append(a.GraphRoles, "LicenseAssignment.ReadWrite.All") })
	tok = b.graphToken(t)
	tn := b.s.Tenant()
	var sku tenant.SKU
	for _, k := range tn.SKUs() {
		if k.Available() > 0 && k.CapabilityStatus == "Enabled" {
			sku = k
			break
		}
	}
	if sku.SKUID == "" {
		t.Fatal("no SKU with a free seat")
	}
	users, _, _ := tn.UsersPage("", 100, func(u *tenant.User) bool {
		if u.UsageLocation == "" || !u.AccountEnabled {
			return false
		}
		for _, l := range u.AssignedLicenses {
			if l.SKUID == sku.SKUID {
				return false
			}
		}
		return true
	})
	if len(users) == 0 {
		t.Fatal("no user to license")
	}
	uid := users[0].ID
	post := func(body string) (int, []byte) {
		st, _, data := b.call(t, "POST", b.info.GraphURL+"/users/"+uid+"/assignLicense", tok, strings.NewReader(body))
		return st, data
	}
	if st, data := post(`{"addLicenses":[{"disabledPlans":[],"skuId":"` + sku.SKUID + `"}]}`); st != 400 || !strings.Contains(string(data), "removeLicenses") {
		t.Errorf("missing removeLicenses: %d %s", st, data)
	}
	st, data := post(`{"addLicenses":[{"disabledPlans":[],"skuId":"` + sku.SKUID + `"}],"removeLicenses":[]}`)
	if st != 200 {
		t.Fatalf("assignLicense: %d %s", st, data)
	}
	var u map[string]any
	json.Unmarshal(data, &u)
	checkGraphEntity(t, "user", "assignLicense", u)
	found := false
	for _, l := range u["assignedLicenses"].([]any) {
		if l.(map[string]any)["skuId"] == strings.ToUpper(sku.SKUID) {
			found = true
		}
	}
	if !found {
		t.Errorf("response lacks the upper-case skuId: %s", data)
	}
	after, _ := tn.SKU(sku.SKUID)
	if after.Consumed != sku.Consumed+1 {
		t.Errorf("consumedUnits %d, want %d", after.Consumed, sku.Consumed+1)
	}
	if st, data := post(`{"addLicenses":[],"removeLicenses":["` + sku.SKUID + `"]}`); st != 200 {
		t.Errorf("remove: %d %s", st, data)
	}
	if st, data := post(`{"addLicenses":[{"disabledPlans":[],"skuId":"00000000-0000-0000-0000-00000000abcd"}],"removeLicenses":[]}`); st != 400 || !strings.Contains(string(data), "Request_BadRequest") {
		t.Errorf("unknown SKU: %d %s", st, data)
	}
	st, _, data = b.call(t, "POST", b.info.GraphURL+"/users/"+uid+"/reprocessLicenseAssignment", tok, strings.NewReader(`{}`))
	if st != 200 || !strings.Contains(string(data), `"id":"`+uid+`"`) {
		t.Errorf("reprocessLicenseAssignment: %d %s", st, data)
	}
}

func TestGraphBatch(t *testing.T) {
	b := setup(t, 10, 1)
	tok := b.graphToken(t)
	users, _, _ := b.s.Tenant().UsersPage("", 2, nil)
	body := `{"requests":[{"id":"1","method":"GET","url":"/users/` + users[0].ID + `/licenseDetails"},{"id":"2","method":"GET","url":"/subscribedSkus"},{"id":"3","method":"GET","url":"/users/00000000-0000-0000-0000-000000000009"}]}`
	st, _, data := b.call(t, "POST", b.info.GraphURL+"/$batch", tok, strings.NewReader(body))
	if st != 200 {
		t.Fatalf("batch: %d %s", st, data)
	}
	var out struct {
		Responses []struct {
			ID     string
			Status int
			Body   json.RawMessage
		}
	}
	json.Unmarshal(data, &out)
	status := map[string]int{}
	for _, r := range out.Responses {
		status[r.ID] = r.Status
	}
	if status["1"] != 200 || status["2"] != 200 || status["3"] != 404 {
		t.Errorf("batch statuses = %v", status)
	}
	var many []string
	for i := 0; i < 21; i++ {
		many = append(many, `{"id":"`+strconv.Itoa(i)+`","method":"GET","url":"/organization"}`)
	}
	st, _, data = b.call(t, "POST", b.info.GraphURL+"/$batch", tok, strings.NewReader(`{"requests":[`+strings.Join(many, ",")+`]}`))
	if st != 400 {
		t.Errorf("21 requests: %d %s", st, data)
	}
}

// deltaRound follows a delta round from u to its deltaLink.
func (b *bundle) deltaRound(t *testing.T, u, tok string) (items []map[string]any, deltaLink string) {
	t.Helper()
	for u != "" {
		page := b.getJSON(t, u, tok, 200)
		next, hasNext := page["@odata.nextLink"].(string)
		dl, hasDelta := page["@odata.deltaLink"].(string)
		if hasNext == hasDelta {
			t.Fatalf("a delta page must carry exactly one of nextLink and deltaLink: %v", page)
		}
		for _, v := range page["value"].([]any) {
			m := v.(map[string]any)
			if _, removed := m["@removed"]; !removed {
				checkGraphEntity(t, "user", "delta", m)
			}
			items = append(items, m)
		}
		u, deltaLink = next, dl
	}
	return items, deltaLink
}

func TestGraphDelta(t *testing.T) {
	b := setup(t, 25, 1)
	tok := b.graphToken(t)
	items, dl := b.deltaRound(t, b.info.GraphURL+"/users/delta?$select=id,displayName,accountEnabled,assignedLicenses&$top=10", tok)
	if len(items) != b.s.Tenant().UserCount() {
		t.Fatalf("first round: %d users, tenant has %d", len(items), b.s.Tenant().UserCount())
	}
	items, dl = b.deltaRound(t, dl, tok)
	if len(items) != 0 {
		t.Fatalf("no change, yet %d items", len(items))
	}
	users, _, _ := b.s.Tenant().UsersPage("", 5, func(u *tenant.User) bool { return u.AccountEnabled })
	if len(users) < 3 {
		t.Fatal("too few enabled users")
	}
	b.control(t, "POST", "/tenants/_/users/"+users[0].ID+"/disable", nil, nil)
	b.control(t, "PATCH", "/tenants/_/users/"+users[1].ID, map[string]any{"DisplayName": "Renamed Person"}, nil)
	b.control(t, "DELETE", "/tenants/_/users/"+users[2].ID, nil, nil)
	items, dl = b.deltaRound(t, dl, tok)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != 3 {
		t.Fatalf("delta returned %d users, want exactly the 3 changed: %v", len(got), items)
	}
	if got[users[0].ID]["accountEnabled"] != false {
		t.Errorf("disabled user: %v", got[users[0].ID])
	}
	if got[users[1].ID]["displayName"] != "Renamed Person" {
		t.Errorf("renamed user: %v", got[users[1].ID])
	}
	if rm, _ := got[users[2].ID]["@removed"].(map[string]any); rm["reason"] != "changed" || len(got[users[2].ID]) != 2 {
		t.Errorf("deleted user: %v", got[users[2].ID])
	}
	if items, _ := b.deltaRound(t, dl, tok); len(items) != 0 {
		t.Errorf("changes reported twice: %v", items)
	}
	// Tokens: garbled and expired.
	if st, _, body := b.call(t, "GET", b.info.GraphURL+"/users/delta?$deltatoken=abc", tok, nil); st != 400 || !strings.Contains(string(body), "syncStateNotFound") {
		t.Errorf("garbled delta token: %d %s", st, body)
	}
	b.control(t, "POST", "/tenants/_/clock", map[string]string{"advance": "800h"}, nil)
	if st, _, body := b.call(t, "GET", dl, tok, nil); st != 410 || !strings.Contains(string(body), "resyncRequired") {
		t.Errorf("expired delta token: %d %s", st, body)
	}
}

// TestSkiptokenSurvivesRestart: a nextLink issued by one simulator run
// continues the listing on a new run with the same seed and tenant.
func TestSkiptokenSurvivesRestart(t *testing.T) {
	b1 := setup(t, 25, 1)
	tok := b1.graphToken(t)
	page := b1.getJSON(t, b1.info.GraphURL+"/users?$select=id&$top=10", tok, 200)
	next := page["@odata.nextLink"].(string)
	b1.s.Close()
	b2 := setup(t, 25, 1)
	u, _ := url.Parse(next)
	u2, _ := url.Parse(b2.info.GraphURL)
	u.Host = u2.Host
	rest, _ := b2.listAll(t, u.String(), b2.graphToken(t), "user")
	if len(rest) != 15 {
		t.Errorf("continued listing has %d users, want 15", len(rest))
	}
}
