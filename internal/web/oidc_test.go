package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/web"
)

// oidcEnv is a server whose Entra ID sign-in goes to the simulator.
type oidcEnv struct {
	b      *bundle
	sim    *mscloud.Server
	upn    string
	tamper *tamperTransport
	clock  *time.Time
}

// tamperTransport is the path between Seatwise and the simulator; when
// tamper is set it rewrites the claims of the id_token in token answers
// (keeping the signature), as an attacker in the path would.
type tamperTransport struct {
	base   http.RoundTripper
	tamper func(claims map[string]any)
}

func (t *tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err != nil || t.tamper == nil || !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		return res, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if idt, ok := m["id_token"].(string); ok {
			parts := strings.Split(idt, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims map[string]any
			json.Unmarshal(raw, &claims)
			t.tamper(claims)
			nb, _ := json.Marshal(claims)
			parts[1] = base64.RawURLEncoding.EncodeToString(nb)
			m["id_token"] = strings.Join(parts, ".")
			body, _ = json.Marshal(m)
		}
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Del("Content-Length")
	return res, nil
}

func setupOIDC(t *testing.T, rules string, defaultRole auth.Role) *oidcEnv {
	t.Helper()
	sim := startSim(t, 21, 20)
	info := sim.Info()
	upn, err := connecttest.Admin(sim.Tenant())
	if err != nil {
		t.Fatal(err)
	}
	e := &oidcEnv{sim: sim, upn: upn, tamper: &tamperTransport{base: sim.Client().Transport}}
	now := time.Now()
	e.clock = &now
	rs, err := auth.ParseOIDCRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: info.LoginURL + "/" + info.TenantID + "/v2.0", ClientID: info.ClientID,
		ClientSecret: info.ClientSecret, RedirectURL: "http://127.0.0.1/auth/oidc/callback", DefaultRole: defaultRole, Rules: rs,
		HTTPClient: &http.Client{Transport: e.tamper, Timeout: 10 * time.Second}, Now: func() time.Time { return *e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	e.b = setup(t, func(c *web.Config) { c.OIDC = o })
	// The callback names the test server, known once it listens.
	if err := o.SetRedirectURL(e.b.ts.URL + "/auth/oidc/callback"); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is a client with a cookie jar that trusts the simulator and
// does not follow redirects.
func (e *oidcEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: e.sim.Client().Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn starts a sign-in at Seatwise, lets edit change the authorization
// URL, signs in at the simulator as login and returns Seatwise's answer to
// the callback.
func (e *oidcEnv) signIn(t *testing.T, hc *http.Client, login string, edit func(url.Values)) resp {
	t.Helper()
	r := e.b.do(hc, "GET", "/auth/oidc/start?next=/runs", nil, map[string]string{"Accept": "text/html"})
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, e.sim.Info().LoginURL) {
		t.Fatalf("start: %d %q", r.status, loc)
	}
	au, _ := url.Parse(loc)
	q := au.Query()
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(k) == "" {
			t.Fatalf("authorization URL lacks %s: %s", k, loc)
		}
	}
	if q.Get("code_challenge_method") != "S256" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorization URL: %s", loc)
	}
	if edit != nil {
		edit(q)
	}
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("login", login)
	form.Set("consent", "accept")
	au.RawQuery = ""
	res, err := hc.PostForm(au.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(cb, e.b.ts.URL+"/auth/oidc/callback?") {
		t.Fatalf("simulator sign-in: %d %q", res.StatusCode, cb)
	}
	return e.b.do(hc, "GET", strings.TrimPrefix(cb, e.b.ts.URL), nil, map[string]string{"Accept": "text/html"})
}

func TestOIDCSignIn(t *testing.T) {
	e := setupOIDC(t, "", auth.RoleViewer)
	hc := e.browser()
	if r := e.b.do(hc, "GET", "/login", nil, nil); !strings.Contains(string(r.body), `id="oidc" href="/auth/oidc/start?next=`) {
		t.Errorf("the sign-in page offers no Entra ID sign-in")
	}
	r := e.signIn(t, hc, e.upn, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/runs" {
		t.Fatalf("callback: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	var me web.MeJSON
	e.b.do(hc, "GET", "/api/v1/me", nil, nil).json(t, &me)
	name := strings.ToLower(e.upn)
	if me.Kind != "user" || me.Name != name || me.Role != "viewer" {
		t.Errorf("signed in as %+v, want viewer %s", me, name)
	}
	u, err := e.b.st.UserByName(t.Context(), name)
	if err != nil || u.LastLogin.IsZero() {
		t.Fatalf("account %v %v", u, err)
	}
	// The same person again: the same account, a new session.
	hc2 := e.browser()
	if r := e.signIn(t, hc2, e.upn, nil); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d %s", r.status, r.body)
	}
	users, _ := e.b.st.Users(t.Context())
	n := 0
	for _, x := range users {
		if x.Name == name {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d accounts named %s", n, name)
	}
	// A callback replayed (state already used) or carried to another
	// browser is refused.
	r = e.b.do(e.browser(), "GET", "/auth/oidc/callback?state=x&code=y", nil, map[string]string{"Accept": "text/html"})
	if r.status != 400 || !strings.Contains(string(r.body), "not started in this browser") {
		t.Errorf("foreign callback: %d", r.status)
	}
}

func TestOIDCRefused(t *testing.T) {
	e := setupOIDC(t, "", auth.RoleViewer)
	for _, tc := range []struct {
		name    string
		edit    func(url.Values)
		tamper  func(map[string]any)
		advance time.Duration
		status  int
		want    string
	}{
		{name: "tampered id_token", tamper: func(c map[string]any) { c["preferred_username"] = "u-admin" }, status: 401, want: "signature does not verify"},
		{name: "wrong nonce", edit: func(q url.Values) { q.Set("nonce", "someone-elses-nonce") }, status: 401, want: "nonce does not match"},
		{name: "expired id_token", advance: 3 * time.Hour, status: 401, want: "expired"},
		{name: "wrong PKCE verifier", edit: func(q url.Values) { q.Set("code_challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") }, status: 401, want: "refused the sign-in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.tamper.tamper = tc.tamper
			now := time.Now().Add(tc.advance)
			*e.clock = now
			defer func() { e.tamper.tamper = nil; *e.clock = time.Now() }()
			hc := e.browser()
			r := e.signIn(t, hc, e.upn, tc.edit)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("callback: %d, want %d with %q:\n%.2000s", r.status, tc.status, tc.want, r.body)
			}
			if c := sessionCookie(hc, e.b.ts.URL); c != "" {
				t.Errorf("a refused sign-in set a session")
			}
		})
	}
	if _, err := e.b.st.UserByName(t.Context(), strings.ToLower(e.upn)); err == nil {
		t.Errorf("a refused sign-in created the account")
	}
}

func sessionCookie(hc *http.Client, base string) string {
	u, _ := url.Parse(base)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == web.SessionCookie {
			return c.Value
		}
	}
	return ""
}

func TestOIDCRules(t *testing.T) {
	// No default role: only people a rule matches get an account.
	e := setupOIDC(t, "preferred_username:"+"nobody@example.com=admin", "")
	r := e.signIn(t, e.browser(), e.upn, nil)
	if r.status != 403 || !strings.Contains(string(r.body), "has no Seatwise account") {
		t.Errorf("unmatched person: %d", r.status)
	}
	dom := e.upn[strings.Index(e.upn, "@")+1:]
	e2 := setupOIDC(t, "domain:"+dom+"=sam_manager", "")
	hc := e2.browser()
	if r := e2.signIn(t, hc, e2.upn, nil); r.status != 303 {
		t.Fatalf("domain rule sign-in: %d %s", r.status, r.body)
	}
	var me web.MeJSON
	e2.b.do(hc, "GET", "/api/v1/me", nil, nil).json(t, &me)
	if me.Role != "sam_manager" {
		t.Errorf("role by domain rule: %+v", me)
	}
	// An account an administrator created in advance is matched by name
	// and linked; a disabled one is refused.
	e3 := setupOIDC(t, "", "")
	name := strings.ToLower(e3.upn)
	if _, err := e3.b.auth.CreateUser(t.Context(), name, auth.RoleSAMIntegrator, "a long enough password", false); err != nil {
		t.Fatal(err)
	}
	hc = e3.browser()
	if r := e3.signIn(t, hc, e3.upn, nil); r.status != 303 {
		t.Fatalf("pre-created account: %d %s", r.status, r.body)
	}
	e3.b.do(hc, "GET", "/api/v1/me", nil, nil).json(t, &me)
	if me.Role != "sam_integrator" || me.Name != name {
		t.Errorf("pre-created account signed in as %+v", me)
	}
	if _, err := e3.b.auth.SetDisabled(t.Context(), name, true); err != nil {
		t.Fatal(err)
	}
	if r := e3.signIn(t, e3.browser(), e3.upn, nil); r.status != 401 || !strings.Contains(string(r.body), "disabled") {
		t.Errorf("disabled account: %d", r.status)
	}
	for _, bad := range []string{"domain=admin", "domain:x=root", ":x=admin"} {
		if _, err := auth.ParseOIDCRules(bad); err == nil {
			t.Errorf("ParseOIDCRules(%q) accepted", bad)
		}
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	b := setup(t)
	if r := b.do(nil, "GET", "/auth/oidc/start", nil, map[string]string{"Accept": "text/html"}); r.status != 404 || !strings.Contains(string(r.body), "not configured") {
		t.Errorf("start without OIDC: %d", r.status)
	}
	if r := b.do(nil, "GET", "/login", nil, nil); strings.Contains(string(r.body), "/auth/oidc/start") {
		t.Errorf("the sign-in page offers Entra ID sign-in that is not configured")
	}
	for _, cfg := range []auth.OIDCConfig{
		{Issuer: "http://login.example.com/t/v2.0", ClientID: "c", RedirectURL: "https://s/cb"},
		{Issuer: "https://login.example.com/t/v2.0", RedirectURL: "https://s/cb"},
		{Issuer: "https://login.example.com/t/v2.0", ClientID: "c", RedirectURL: "cb"},
		{Issuer: "https://login.example.com/t/v2.0", ClientID: "c", RedirectURL: "https://s/cb", DefaultRole: "root"},
	} {
		if _, err := auth.NewOIDC(cfg); err == nil {
			t.Errorf("NewOIDC(%+v) accepted", cfg)
		}
	}
}
