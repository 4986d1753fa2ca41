package mscloud

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

const scenarioTenant = "5a1d0000-0000-4000-8000-00000000c0de"

func TestMultipleTenantsAndScenario(t *testing.T) {
	b := setup(t, 8, 1, func(c *Config) {
		c.Tenants = append(c.Tenants, TenantConfig{Scenario: "testdata/scenario-small.json"})
	})
	if len(b.info.Tenants) != 2 || b.info.Tenants[1].TenantID != scenarioTenant || len(b.s.Tenants()) != 2 {
		t.Fatalf("tenants = %+v", b.info.Tenants)
	}
	sc := b.info.Tenants[1]
	// A token of the scenario tenant sees the scenario's users only.
	bs := *b
	bs.info.TenantID, bs.info.ClientID, bs.info.ClientSecret, bs.info.Environments = sc.TenantID, sc.ClientID, sc.ClientSecret, sc.Environments
	tok := bs.graphToken(t)
	users, _ := bs.listAll(t, b.info.GraphURL+"/users?$select=id,userPrincipalName,assignedLicenses,licenseAssignmentStates", tok, "user")
	if len(users) != 3 {
		t.Fatalf("scenario users = %d", len(users))
	}
	// The generated tenant's token does not reach the scenario's environment.
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID}, "client_secret": {b.info.ClientSecret}, "scope": {sc.Environments[0].Scope}}
	if st, body := b.postForm(t, b.tokenURL(), cc, "", ""); st != 400 {
		t.Errorf("cross-tenant scope: %d %s", st, body)
	}
	// The generated tenant's app is unknown in the scenario tenant's directory.
	st, _, page := b.call(t, "GET", b.info.LoginURL+"/"+sc.TenantID+"/oauth2/v2.0/authorize?client_id="+b.info.ClientID+"&response_type=code&redirect_uri=http://localhost:1/cb&scope=openid", "", nil)
	if st != 400 || !strings.Contains(string(page), "AADSTS700016") {
		t.Errorf("foreign app at authorize: %d %s", st, page)
	}
	// The tenant is also reachable by its domain.
	if st, body := b.postForm(t, b.info.LoginURL+"/scenario.onmicrosoft.com/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {sc.ClientID}, "client_secret": {sc.ClientSecret}, "scope": {b.info.GraphScope}}, "", ""); st != 200 {
		t.Errorf("token via domain: %d %s", st, body)
	}
	// Audits of the scenario environment: exactly the two events.
	dv := bs.envToken(t, 0)
	rows, _ := b.dvPages(t, sc.Environments[0].APIURL+"/audits?$select=createdon,action,operation,objecttypecode,_userid_value&$filter="+url.QueryEscape("_userid_value ne null and (action eq 64 or operation eq 1)")+"&$orderby=createdon%20asc", dv)
	if len(rows) != 2 || rows[0]["action"] != float64(64) || rows[1]["objecttypecode"] != "opportunity" {
		t.Errorf("scenario audits = %v", rows)
	}
	// Ground truth through the control API.
	var tr tenant.Truth
	b.control(t, "GET", "/tenants/"+scenarioTenant+"/truth", nil, &tr)
	if len(tr.Users) != 3 {
		t.Errorf("truth users = %d", len(tr.Users))
	}
	var ut tenant.UserTruth
	b.control(t, "GET", "/tenants/"+scenarioTenant+"/users/adele@scenario.onmicrosoft.com/truth?from=2025-12-01T00:00:00Z", nil, &ut)
	if len(ut.Subscriptions) != 1 || ut.Subscriptions[0].LastActivity == nil {
		t.Errorf("adele truth = %+v", ut)
	}
	// Group membership removal through Graph ($ref), with the write permission.
	b.s.UpdateApp(sc.TenantID, func(a *App) { a.GraphRoles = append(a.GraphRoles, "GroupMember.ReadWrite.All") })
	tok = bs.graphToken(t)
	st, _, body := b.call(t, "DELETE", b.info.GraphURL+"/groups/5a1d0000-0000-4000-8000-00000000a001/members/5a1d0000-0000-4000-8000-000000000002/$ref", tok, nil)
	if st != 204 {
		t.Fatalf("remove member: %d %s", st, body)
	}
	u, _ := b.s.Tenants()[1].User("5a1d0000-0000-4000-8000-000000000002")
	if len(u.AssignedLicenses) != 0 {
		t.Errorf("group licence kept after removal: %+v", u.AssignedLicenses)
	}
	if st, _, _ := b.call(t, "DELETE", b.info.GraphURL+"/groups/5a1d0000-0000-4000-8000-00000000a001/members/5a1d0000-0000-4000-8000-000000000002/$ref", tok, nil); st != 404 {
		t.Errorf("second removal: %d", st)
	}
	// A delegated user without a systemuser gets a Dataverse 403.
	conf := &oauth2.Config{ClientID: sc.ClientID, ClientSecret: sc.ClientSecret, RedirectURL: "http://127.0.0.1:9/cb",
		Scopes:   []string{"openid", "offline_access", sc.Environments[0].URL + "/user_impersonation"},
		Endpoint: oauth2.Endpoint{AuthURL: b.info.LoginURL + "/" + sc.TenantID + "/oauth2/v2.0/authorize", TokenURL: b.info.LoginURL + "/" + sc.TenantID + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}}
	for login, want := range map[string]int{"nobody@scenario.onmicrosoft.com": 403, "adele@scenario.onmicrosoft.com": 200} {
		v := oauth2.GenerateVerifier()
		loc := b.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), login)
		dtok, err := conf.Exchange(b.ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		st, _, body := b.call(t, "GET", sc.Environments[0].APIURL+"/WhoAmI", dtok.AccessToken, nil)
		if st != want {
			t.Errorf("%s WhoAmI: %d %s", login, st, body)
		}
		if want == 403 && !strings.Contains(string(body), `"code":"0x80072560"`) {
			t.Errorf("403 body: %s", body)
		}
	}
}

func TestControlAPI(t *testing.T) {
	b := setup(t, 10, 1)
	var info Info
	b.control(t, "GET", "/info", nil, &info)
	if info.TenantID != b.info.TenantID || info.ClientSecret == "" {
		t.Errorf("info = %+v", info)
	}
	var clock struct{ Now time.Time }
	b.control(t, "GET", "/tenants/_/clock", nil, &clock)
	before := clock.Now
	b.control(t, "POST", "/tenants/_/clock", map[string]string{"advance": "48h"}, &clock)
	if !clock.Now.Equal(before.Add(48*time.Hour)) || !b.s.Tenant().Now().Equal(clock.Now) {
		t.Errorf("clock %v -> %v", before, clock.Now)
	}
	st, _, _ := b.call(t, "POST", b.info.ControlURL+"/tenants/_/clock", "", strings.NewReader(`{"advance":"-1h"}`))
	if st != 400 {
		t.Errorf("negative advance: %d", st)
	}
	users, _, _ := b.s.Tenant().UsersPage("", 1, nil)
	uid := users[0].ID
	// Explicit activity appears in the audit log.
	at := clock.Now.Add(-time.Hour).UTC()
	b.control(t, "POST", "/tenants/_/users/"+uid+"/activity", map[string]any{"env": 0, "at": at, "operation": 4, "action": 65}, nil)
	su, err := b.s.Tenant().SystemUserOf(0, uid)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := b.dvPages(t, b.info.Environments[0].APIURL+"/audits?$filter="+url.QueryEscape("_userid_value eq "+su.SystemUserID+" and action eq 65 and createdon ge "+at.Add(-time.Minute).Format(time.RFC3339)), b.envToken(t, 0))
	if len(rows) != 1 {
		t.Errorf("explicit activity rows = %d", len(rows))
	}
	var u tenant.User
	b.control(t, "GET", "/tenants/_/users/"+uid, nil, &u)
	if u.ID != uid {
		t.Errorf("user = %+v", u)
	}
	st, _, body := b.call(t, "GET", b.info.ControlURL+"/tenants/_/users/00000000-0000-0000-0000-000000000000", "", nil)
	if st != 404 || !strings.Contains(string(body), "not_found") {
		t.Errorf("unknown user: %d %s", st, body)
	}
	var f Faults
	st, _, body = b.call(t, "PUT", b.info.ControlURL+"/faults", "", strings.NewReader(`{"graph":{"throttle":2}}`))
	if st != 400 {
		t.Errorf("invalid faults accepted: %d %s", st, body)
	}
	b.control(t, "PUT", "/faults", map[string]any{"graph": map[string]any{"latency": "5ms", "next": []string{"throttle"}}}, &f)
	if time.Duration(f.Graph.Latency) != 5*time.Millisecond || len(f.Graph.Next) != 1 {
		t.Errorf("faults = %+v", f)
	}
	var c Counters
	b.control(t, "GET", "/counters", nil, &c)
	if c.Requests["control GET /info"] != 1 {
		t.Errorf("counters = %+v", c.Requests)
	}
	var c2 Counters
	b.control(t, "DELETE", "/counters", nil, &c2)
	if len(c2.Requests) != 0 {
		t.Errorf("after reset: %+v", c2)
	}
	var lt map[string]any
	b.control(t, "PUT", "/token-lifetime", map[string]string{"lifetime": "2m"}, &lt)
	if b.s.tokenLifetime() != 2*time.Minute {
		t.Errorf("token lifetime = %v", b.s.tokenLifetime())
	}
	var app App
	b.control(t, "PATCH", "/tenants/_/app", map[string]any{"graph_roles": []string{"User.Read.All"}}, &app)
	if len(app.GraphRoles) != 1 {
		t.Errorf("app = %+v", app)
	}
	j, _ := json.Marshal(b.s.Info())
	if !strings.Contains(string(j), `"graph_url"`) {
		t.Errorf("info JSON = %s", j)
	}
}
