package dataverse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// fakeEnv is one Dataverse environment over httptest: documentation
// fixtures for WhoAmI and organizations, generated systemusers and audits
// paged by the Prefer: odata.maxpagesize header with cookie-style skip
// tokens and the nextLink after "value", as Dataverse sends it.
type fakeEnv struct {
	t        *testing.T
	srv      *httptest.Server
	audits   []string
	users    []string
	mu       sync.Mutex
	prefers  []string // Prefer header of each collection request
	throttle int      // answer this many requests with 429 first
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var base = time.Date(2025, 5, 12, 22, 19, 12, 0, time.UTC)

func newFakeEnv(t *testing.T, nAudits int) *fakeEnv {
	e := &fakeEnv{t: t}
	for i := range nAudits {
		created := base.Add(time.Duration(i)*time.Hour + 802973200*time.Nanosecond)
		user := "4026BE43-6B69-E111-8F65-78E7D1620F5E"
		if i%3 == 1 {
			user = "5126be43-6b69-e111-8f65-78e7d1620f5e"
		}
		op, action, otc := 4, 64+i%2, "systemuser"
		if i%4 == 3 {
			op, action, otc = 2, 2, "contact"
		}
		e.audits = append(e.audits, fmt.Sprintf(
			`{"@odata.etag":"W/\"%d\"","auditid":"%08d-0000-0000-0000-000000000000","createdon":%q,"operation":%d,"action":%d,"objecttypecode":%q,"_objectid_value":%q,"_userid_value":%q,"transactionid":"00000000-0000-0000-0000-000000000000","attributemask":null}`,
			i, i, created.Format("2006-01-02T15:04:05.0000000Z"), op, action, otc, user, user))
	}
	for i := range 5 {
		e.users = append(e.users, fmt.Sprintf(
			`{"@odata.etag":"W/\"1\"","systemuserid":"%08d-AAAA-0000-0000-000000000000","ownerid":"%08d-aaaa-0000-0000-000000000000","azureactivedirectoryobjectid":%s,"domainname":"user%d@contoso.com","fullname":"User %d","isdisabled":%v,"accessmode":%d,"applicationid":%s}`,
			i, i, map[bool]string{true: `null`, false: fmt.Sprintf(`"%08d-BBBB-0000-0000-000000000000"`, i)}[i == 4], i, i, i == 2, map[bool]int{true: 4, false: 0}[i == 4],
			map[bool]string{true: `"535fb089-9ff3-47b6-9bfb-4f1264799865"`, false: `null`}[i == 4]))
	}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

var pageSizeRe = regexp.MustCompile(`odata\.maxpagesize=(\d+)`)

func (e *fakeEnv) serve(w http.ResponseWriter, r *http.Request) {
	send := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		w.Header().Set("OData-Version", "4.0")
		w.WriteHeader(status)
		io.WriteString(w, strings.ReplaceAll(body, "[Organization URI]", e.srv.URL))
	}
	if r.Header.Get("Authorization") != "Bearer dv-token" {
		w.Header().Set("WWW-Authenticate", "Bearer authorization_uri=https://login.microsoftonline.com/t/oauth2/authorize, resource_id="+e.srv.URL+"/")
		w.WriteHeader(401)
		return
	}
	e.mu.Lock()
	if e.throttle > 0 {
		e.throttle--
		e.mu.Unlock()
		w.Header().Set("Retry-After", "2")
		send(429, `{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}`)
		return
	}
	prefer := r.Header.Get("Prefer")
	if r.URL.Path == "/api/data/v9.2/audits" || r.URL.Path == "/api/data/v9.2/systemusers" || r.URL.Path == "/api/data/v9.2/organizations" {
		e.prefers = append(e.prefers, prefer)
	}
	e.mu.Unlock()
	switch r.URL.Path {
	case "/api/data/v9.2/WhoAmI()":
		send(200, fixture(e.t, "dataverse-WhoAmI.json"))
	case "/api/data/v9.2/organizations":
		send(200, fixture(e.t, "dataverse-organization-audit-settings.json"))
	case "/api/data/v9.2/audits":
		e.page(w, r, send, "audits", e.audits, prefer)
	case "/api/data/v9.2/systemusers":
		e.page(w, r, send, "systemusers", e.users, prefer)
	default:
		send(404, fixture(e.t, "dataverse-error-expand-ref.json"))
	}
}

func (e *fakeEnv) page(w http.ResponseWriter, r *http.Request, send func(int, string), set string, rows []string, prefer string) {
	size := 5000
	if m := pageSizeRe.FindStringSubmatch(prefer); m != nil {
		size, _ = strconv.Atoi(m[1])
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+m[1])
	}
	annotate := strings.Contains(prefer, `odata.include-annotations="*"`)
	pageNo := 1
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		m := regexp.MustCompile(`pagenumber="(\d+)"`).FindStringSubmatch(tok)
		if m == nil {
			send(400, `{"error":{"code":"0x80040203","message":"Invalid paging cookie"}}`)
			return
		}
		pageNo, _ = strconv.Atoi(m[1])
	}
	from := min((pageNo-1)*size, len(rows))
	to := min(from+size, len(rows))
	items := make([]string, 0, to-from)
	for _, row := range rows[from:to] {
		if annotate {
			row = strings.Replace(row, `"createdon":`, `"createdon@OData.Community.Display.V1.FormattedValue":"5/12/2025 3:19 PM","createdon":`, 1)
			row = strings.Replace(row, `"_userid_value":`, `"_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser","_userid_value@OData.Community.Display.V1.FormattedValue":"Adele Vance","_userid_value":`, 1)
		}
		items = append(items, row)
	}
	body := fmt.Sprintf(`{"@odata.context":"[Organization URI]/api/data/v9.2/$metadata#%s","@Microsoft.Dynamics.CRM.totalrecordcount":-1,"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded":false,"value":[%s]`, set, strings.Join(items, ","))
	if to < len(rows) {
		q := r.URL.Query()
		q.Del("$skiptoken")
		cookie := fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="False" />`, pageNo+1,
			url.QueryEscape(url.QueryEscape(fmt.Sprintf(`<cookie page="%d"><auditid last="{%08d-0000-0000-0000-000000000000}" /></cookie>`, pageNo, to-1))))
		link := "[Organization URI]/api/data/v9.2/" + set + "?" + strings.ReplaceAll(q.Encode(), "+", "%20") + "&$skiptoken=" + strings.ReplaceAll(url.QueryEscape(cookie), "+", "%20")
		body += fmt.Sprintf(`,"@odata.nextLink":%q`, link)
	}
	send(200, body+"}")
}

func (e *fakeEnv) preferHeaders() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.prefers...)
}

func newClient(t *testing.T, e *fakeEnv, opts ...Option) *Client {
	t.Helper()
	oc := odata.New(odata.Config{Service: odata.ServiceDataverse, Tokens: odata.StaticToken("dv-token"),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	return New(e.srv.URL+"/api/data/v9.0/", oc, opts...)
}

func TestNewNormalisesTheEnvironmentURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://contoso.crm.dynamics.com":                  "https://contoso.crm.dynamics.com",
		"https://contoso.crm.dynamics.com/":                 "https://contoso.crm.dynamics.com",
		" https://contoso.crm4.dynamics.com/api/data/v9.2 ": "https://contoso.crm4.dynamics.com",
		"https://contoso.crm.dynamics.com/api/data/v9.0/":   "https://contoso.crm.dynamics.com",
		"https://contoso.crm.dynamics.com/API/DATA/V9.1":    "https://contoso.crm.dynamics.com",
	} {
		c := New(in, nil)
		if c.EnvironmentURL() != want || c.APIURL() != want+"/api/data/v9.2" {
			t.Errorf("New(%q): %s %s", in, c.EnvironmentURL(), c.APIURL())
		}
		if Scope(in) != want+"/.default" {
			t.Errorf("Scope(%q) = %s", in, Scope(in))
		}
	}
}

func TestWhoAmIAndAuditSettings(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, 0)
	c := newClient(t, e)
	w, err := c.WhoAmI(context.Background())
	if err != nil || w != (WhoAmI{"ded5a64f-f06d-e511-80d0-00155db07cb1", "d96e9f55-f06d-e511-80d0-00155db07cb1", "4faf1f34-f06d-e511-80d0-00155db07cb1"}) {
		t.Fatalf("WhoAmI %+v %v", w, err)
	}
	s, err := c.AuditSettings(context.Background())
	if err != nil || !s.AuditEnabled || !s.UserAccessAuditEnabled || s.RetentionDays != 30 || s.UserAccessAuditingHours != 4 {
		t.Fatalf("AuditSettings %+v %v", s, err)
	}
}

func TestAuditSettingsNullsAndForever(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"value":[{"organizationid":"ABC","isauditenabled":false,"isuseraccessauditenabled":null,"auditretentionperiodv2":-1}]}`)
	}))
	defer srv.Close()
	c := New(srv.URL, odata.New(odata.Config{Service: odata.ServiceDataverse}))
	s, err := c.AuditSettings(context.Background())
	if err != nil || s.AuditEnabled || s.UserAccessAuditEnabled || s.RetentionDays != -1 || s.UserAccessAuditingHours != 4 || s.OrganizationID != "abc" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestAuditsPaging(t *testing.T) {
	t.Parallel()
	for _, annotations := range []bool{false, true} {
		t.Run(fmt.Sprintf("annotations=%v", annotations), func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, 12)
			c := newClient(t, e, WithPageSize(5), WithAnnotations(annotations))
			start := c.AuditsURL(AuditQuery{After: base.Add(-time.Hour), OrderAsc: true})
			var rows []Audit
			var nexts []string
			err := c.Audits(context.Background(), start, func(page []Audit, next string) error {
				rows = append(rows, page...)
				nexts = append(nexts, next)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 12 || len(nexts) != 3 || nexts[2] != "" || nexts[0] == "" {
				t.Fatalf("%d rows, nexts %q", len(rows), nexts)
			}
			for i, a := range rows {
				want := base.Add(time.Duration(i)*time.Hour + 802973200*time.Nanosecond)
				if !a.CreatedOn.Equal(want) || a.CreatedOn.Location() != time.UTC || a.AuditID != fmt.Sprintf("%08d-0000-0000-0000-000000000000", i) {
					t.Fatalf("row %d: %+v", i, a)
				}
			}
			if r := rows[0]; r.Operation != 4 || r.Action != 64 || r.ObjectTypeCode != "systemuser" || r.UserID != "4026be43-6b69-e111-8f65-78e7d1620f5e" || r.ObjectID != r.UserID {
				t.Fatalf("row 0 %+v", r)
			}
			if r := rows[3]; r.Operation != 2 || r.Action != 2 || r.ObjectTypeCode != "contact" {
				t.Fatalf("row 3 %+v", r)
			}
			wantPrefer := "odata.maxpagesize=5"
			if annotations {
				wantPrefer += `, odata.include-annotations="*"`
			}
			for _, p := range e.preferHeaders() {
				if p != wantPrefer {
					t.Fatalf("Prefer %q, want %q on every page", p, wantPrefer)
				}
			}
			if len(e.preferHeaders()) != 3 {
				t.Fatalf("%d audit requests", len(e.preferHeaders()))
			}
			// Resume from the checkpointed second link.
			p, err := c.AuditsPage(context.Background(), nexts[1])
			if err != nil || len(p.Rows) != 2 || p.NextLink != "" || p.Rows[0].AuditID != "00000010-0000-0000-0000-000000000000" {
				t.Fatalf("resumed %+v %v", p, err)
			}
		})
	}
}

func TestAuditsFixture(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.ReplaceAll(fixture(t, "dataverse-audits-list.json"), "[Organization URI]", "http://"+r.Host))
	}))
	defer srv.Close()
	c := New(srv.URL, odata.New(odata.Config{Service: odata.ServiceDataverse}), WithAnnotations(true))
	p, err := c.AuditsPage(context.Background(), "audits?$select=_objectid_value,objecttypecode,createdon,_userid_value")
	if err != nil {
		t.Fatal(err)
	}
	want := Audit{ObjectTypeCode: "contact", ObjectID: "0e76dc8a-41b5-ec11-983f-0022482bf046", UserID: "4026be43-6b69-e111-8f65-78e7d1620f5e", CreatedOn: time.Date(2022, 5, 12, 22, 19, 12, 0, time.UTC)}
	if len(p.Rows) != 1 || p.Rows[0] != want {
		t.Fatalf("%+v", p.Rows)
	}
}

func TestSystemUsers(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, 0)
	c := newClient(t, e, WithPageSize(2))
	start := c.SystemUsersURL("accessmode ne 3")
	if start != e.srv.URL+"/api/data/v9.2/systemusers?$select=systemuserid,azureactivedirectoryobjectid,domainname,fullname,isdisabled,accessmode,applicationid&$filter=accessmode%20ne%203" {
		t.Fatalf("SystemUsersURL = %s", start)
	}
	var users []SystemUser
	pages := 0
	err := c.SystemUsers(context.Background(), start, func(u []SystemUser, next string) error {
		users = append(users, u...)
		pages++
		return nil
	})
	if err != nil || len(users) != 5 || pages != 3 {
		t.Fatalf("%d users in %d pages: %v", len(users), pages, err)
	}
	u0, u2, app := users[0], users[2], users[4]
	if u0.SystemUserID != "00000000-aaaa-0000-0000-000000000000" || u0.AADObjectID != "00000000-bbbb-0000-0000-000000000000" || u0.DomainName != "user0@contoso.com" || u0.IsDisabled {
		t.Fatalf("user 0 %+v", u0)
	}
	if !u2.IsDisabled || app.AccessMode != AccessNonInteractive || app.AADObjectID != "" || app.ApplicationID != "535fb089-9ff3-47b6-9bfb-4f1264799865" {
		t.Fatalf("users %+v %+v", u2, app)
	}
	p, err := c.SystemUsersPage(context.Background(), "systemusers?$select=systemuserid")
	if err != nil || len(p.Users) != 2 || p.NextLink == "" {
		t.Fatalf("page %+v %v", p, err)
	}
}

func TestErrorsAndThrottling(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, 3)
	c := newClient(t, e)
	_, err := c.AuditsPage(context.Background(), "Account")
	oe, ok := odata.AsError(err)
	if !sam.IsCode(err, sam.ENOTFOUND) || !ok || oe.Service != "dataverse" || oe.Code != "0x80060888" || !strings.Contains(oe.Message, "Expand with $ref") {
		t.Fatalf("404: %v", err)
	}
	e.mu.Lock()
	e.throttle = 2
	e.mu.Unlock()
	p, err := c.AuditsPage(context.Background(), c.AuditsURL(AuditQuery{}))
	if err != nil || len(p.Rows) != 3 {
		t.Fatalf("after throttling: %v", err)
	}
	st := c.OData().Stats()
	if st.Throttles != 2 || st.Retries != 2 {
		t.Fatalf("stats %+v", st)
	}
	bad := New(e.srv.URL, odata.New(odata.Config{Service: odata.ServiceDataverse, Tokens: odata.StaticToken("nope")}))
	if _, err := bad.WhoAmI(context.Background()); !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("401: %v", err)
	}
	if _, err := c.AuditsPage(context.Background(), "https://evil.example/api/data/v9.2/audits"); !sam.IsCode(err, sam.EINVALID) {
		t.Fatalf("foreign link: %v", err)
	}
}

func TestAuditsURL(t *testing.T) {
	t.Parallel()
	c := New("https://org.crm.dynamics.com", nil)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2025, 3, 1, 12, 30, 0, 123000000, time.UTC)
	tracked := []string{"account", "contact"}
	tests := []struct {
		name   string
		q      AuditQuery
		filter string
		order  string
	}{
		{"nothing", AuditQuery{}, "", "createdon desc"},
		{"after, asc", AuditQuery{After: t1, OrderAsc: true}, "createdon gt 2025-03-01T12:30:00.123Z", "createdon asc"},
		{"from until", AuditQuery{From: t0, Until: t1.In(time.FixedZone("x", 3600))}, "createdon ge 2025-01-01T00:00:00Z and createdon lt 2025-03-01T12:30:00.123Z", "createdon desc"},
		{"later bound wins (from)", AuditQuery{After: t0, From: t1}, "createdon ge 2025-03-01T12:30:00.123Z", "createdon desc"},
		{"later bound wins (after)", AuditQuery{After: t1, From: t1}, "createdon gt 2025-03-01T12:30:00.123Z", "createdon desc"},
		{"docs: last access", AuditQuery{From: t0, Actions: []int{64, 65}}, "createdon ge 2025-01-01T00:00:00Z and (action eq 64 or action eq 65)", "createdon desc"},
		{"entity with quote", AuditQuery{Operations: []int{3}, Entities: []string{"o'x"}}, "operation eq 3 and objecttypecode eq 'o''x'", "createdon desc"},
		{"usage evidence", AuditQuery{After: t0, OrderAsc: true, AnyOf: []AuditMatch{
			{Operations: []int{4}, Actions: []int{64, 65}},
			{Operations: []int{1, 2}, Entities: tracked},
			{},
		}}, "createdon gt 2025-01-01T00:00:00Z and ((operation eq 4 and (action eq 64 or action eq 65)) or ((operation eq 1 or operation eq 2) and (objecttypecode eq 'account' or objecttypecode eq 'contact')))", "createdon asc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.AuditsURL(tt.q)
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if u.Path != "/api/data/v9.2/audits" || q.Get("$select") != "auditid,createdon,operation,action,objecttypecode,_objectid_value,_userid_value" {
				t.Fatalf("URL %s", got)
			}
			if q.Get("$filter") != tt.filter || q.Get("$orderby") != tt.order {
				t.Fatalf("filter %q order %q\nwant   %q order %q", q.Get("$filter"), q.Get("$orderby"), tt.filter, tt.order)
			}
			if strings.Contains(got, "+") || strings.Contains(got, " ") {
				t.Fatalf("spaces not %%20-escaped: %s", got)
			}
		})
	}
}

func TestIntValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{`4`: 4, `"64"`: 64, `null`: 0, ``: 0} {
		if got, err := intValue([]byte(in)); err != nil || got != want {
			t.Errorf("intValue(%s) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{`"x"`, `1.5`, `true`} {
		if _, err := intValue([]byte(in)); err == nil {
			t.Errorf("intValue(%s) accepted", in)
		}
	}
}
