package web_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/web"
)

var update = flag.Bool("update", false, "rewrite golden files")

// bundle is one server under test.
type bundle struct {
	t       *testing.T
	st      store.Store
	auth    *auth.Service
	keyring *secret.Keyring
	srv     *web.Server
	ts      *httptest.Server
	mu      sync.Mutex
	now     time.Time
	users   map[auth.Role]*store.User
}

// password is the password of every fixture user.
const password = "fixture password 1"

func setup(t *testing.T, opts ...func(*web.Config)) *bundle {
	t.Helper()
	return setupOn(t, "sqlite://"+filepath.Join(t.TempDir(), "web.db"), opts...)
}

// setupOn is setup on the database at dbURL (SQLite or PostgreSQL).
func setupOn(t *testing.T, dbURL string, opts ...func(*web.Config)) *bundle {
	t.Helper()
	dir := t.TempDir()
	st, err := db.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secret.LoadKeyring("", filepath.Join(dir, "seatwise.key"))
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, st: st, keyring: kr, now: time.Now().UTC(), users: map[auth.Role]*store.User{}}
	b.auth = auth.NewService(st)
	b.auth.Now = b.clock
	cfg := web.Config{Store: st, Auth: b.auth, Keyring: kr, LoginBurst: 1000, LoginRate: 1000, Now: b.clock}
	for _, o := range opts {
		o(&cfg)
	}
	if b.srv, err = web.New(cfg); err != nil {
		t.Fatal(err)
	}
	b.ts = httptest.NewServer(b.srv)
	t.Cleanup(b.ts.Close)
	for _, r := range auth.Roles {
		u, err := b.auth.CreateUser(t.Context(), "u-"+string(r), r, password, false)
		if err != nil {
			t.Fatal(err)
		}
		b.users[r] = u
	}
	return b
}

func (b *bundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *bundle) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = b.now.Add(d)
}

// client is a browser-like client with a cookie jar that does not follow
// redirects.
func (b *bundle) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) errBody(t *testing.T) web.ErrorDetail {
	t.Helper()
	var e web.ErrorBody
	r.json(t, &e)
	return e.Error
}

// do sends a request; hdr holds extra headers.
func (b *bundle) do(c *http.Client, method, path string, body any, hdr map[string]string) resp {
	b.t.Helper()
	var rd io.Reader
	ct := ""
	switch v := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ct = strings.NewReader(v), "application/json"
	case io.Reader:
		rd = v
	default:
		j, _ := json.Marshal(v)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, b.ts.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = b.client()
	}
	res, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// login signs a client in through the API and returns its CSRF token.
func (b *bundle) login(c *http.Client, name, pw string) string {
	b.t.Helper()
	r := b.do(c, "POST", "/api/v1/session", web.LoginRequest{Name: name, Password: pw}, nil)
	if r.status != http.StatusOK {
		b.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var lr web.LoginResponse
	r.json(b.t, &lr)
	return lr.CSRFToken
}

// token issues an API token for role directly.
func (b *bundle) token(role auth.Role) string {
	b.t.Helper()
	s, _, err := b.auth.CreateToken(b.t.Context(), "t-"+string(role), role, time.Hour, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// wantRules is every route's access rule. A route added to the table
// without a line here fails TestRouteRoleMatrix.
var wantRules = map[string]string{
	"GET /healthz":                             "public",
	"GET /readyz":                              "public",
	"GET /metrics":                             "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/session":                     "public",
	"DELETE /api/v1/session":                   "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/me":                           "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/me/password":                 "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/status":                       "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/profiles":                     "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/profiles":                    "admin or sam_integrator",
	"GET /api/v1/profiles/{name}":              "admin or sam_integrator or sam_manager or viewer",
	"PATCH /api/v1/profiles/{name}":            "admin or sam_integrator",
	"DELETE /api/v1/profiles/{name}":           "admin or sam_integrator",
	"POST /api/v1/profiles/{name}/runs":        "admin or sam_integrator",
	"GET /api/v1/runs":                         "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/runs/{id}":                    "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/models":                       "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/models/{sku}":                 "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/subscriptions":                "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/subscriptions.csv":            "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/subscriptions/{id}":           "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/reports/usage":                "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/audit":                        "admin",
	"GET /api/v1/users":                        "admin",
	"POST /api/v1/users":                       "admin",
	"PATCH /api/v1/users/{name}":               "admin",
	"POST /api/v1/users/{name}/password-reset": "admin",
	"GET /api/v1/tokens":                       "admin",
	"POST /api/v1/tokens":                      "admin",
	"DELETE /api/v1/tokens/{id}":               "admin",
	"GET /api/openapi.json":                    "public",
	"GET /api/v1/jobs":                         "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/jobs/{id}":                    "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/schedules":                    "admin or sam_integrator or sam_manager or viewer",
	"PATCH /api/v1/schedules/{name}":           "admin",
	"GET /api/v1/entitlements":                 "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/entitlements/import":         "admin or sam_manager",
	"DELETE /api/v1/entitlements/{id}":         "admin or sam_manager",
	"GET /api/v1/profiles/{name}/position":     "admin or sam_integrator or sam_manager or viewer",
	"GET /login":                               "public",
	"POST /login":                              "public",
	"POST /logout":                             "admin or sam_integrator or sam_manager or viewer",
	"GET /password":                            "admin or sam_integrator or sam_manager or viewer",
	"POST /password":                           "admin or sam_integrator or sam_manager or viewer",
	"GET /{$}":                                 "admin or sam_integrator or sam_manager or viewer",
	"GET /profiles":                            "admin or sam_integrator or sam_manager or viewer",
	"POST /profiles":                           "admin or sam_integrator",
	"GET /subscriptions":                       "admin or sam_integrator or sam_manager or viewer",
	"GET /runs":                                "admin or sam_integrator or sam_manager or viewer",
	"POST /profiles/{name}/run":                "admin or sam_integrator",
	"POST /api/v1/profiles/{name}/validate":    "admin or sam_integrator",
	"POST /profiles/{name}/validate":           "admin or sam_integrator",
	"POST /api/v1/profiles/{name}/connect":     "admin or sam_integrator",
	"POST /profiles/{name}/connect":            "admin or sam_integrator",
	"GET /callback":                            "admin or sam_integrator",
	"GET /position":                            "admin or sam_integrator or sam_manager or viewer",
	"GET /entitlements":                        "admin or sam_integrator or sam_manager or viewer",
	"POST /entitlements/import":                "admin or sam_manager",
	"GET /static/{file}":                       "public",
	"GET /api/v1/dashboard":                    "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/savings":                      "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/renewals":                     "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/trends/usage":                 "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/profiles/{name}/trend":        "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/entitlements":                "admin or sam_manager",
	"GET /api/v1/entitlements/{id}":            "admin or sam_integrator or sam_manager or viewer",
	"PATCH /api/v1/entitlements/{id}":          "admin or sam_manager",
	"GET /api/v1/roles":                        "admin or sam_integrator or sam_manager or viewer",
	"GET /auth/oidc/start":                     "public",
	"GET /auth/oidc/callback":                  "public",
}

// concrete turns a route pattern into a request path.
func concrete(p string) string {
	return strings.NewReplacer("{name}", "nope", "{id}", "999", "{sku}", "nope", "{file}", "seatwise.css", "{$}", "").Replace(p)
}

// TestRouteRoleMatrix proves every route's access rule for anonymous
// callers and each role, with a fresh session (and its CSRF token) per
// request so that sign-out routes do not disturb others.
func TestRouteRoleMatrix(t *testing.T) {
	routeRoleMatrix(t, setup(t))
}

// TestPostgres runs the access, CSRF, subscription and profile tests of the
// server on PostgreSQL.
func TestPostgres(t *testing.T) {
	url := pgtest.URL(t)
	t.Run("RouteRoleMatrix", func(t *testing.T) { routeRoleMatrix(t, setupOn(t, url)) })
	for name, fn := range map[string]func(*testing.T, maker){"CSRF": testCSRF, "SessionFixation": testSessionFixation,
		"ProfilesAPI": testProfilesAPI, "SubscriptionsAPI": testSubscriptionsAPI, "APITokens": testAPITokensWorkAndExpire, "UsersAPI": testUsersAPI} {
		t.Run(name, func(t *testing.T) {
			fn(t, func(t *testing.T, opts ...func(*web.Config)) *bundle { return setupOn(t, pgtest.URL(t), opts...) })
		})
	}
}

// maker returns a fresh server under test.
type maker func(t *testing.T, opts ...func(*web.Config)) *bundle

func routeRoleMatrix(t *testing.T, b *bundle) {
	seen := map[string]bool{}
	for _, rt := range b.srv.Routes() {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		want, ok := wantRules[key]
		if !ok {
			t.Errorf("route %s has no expected rule in wantRules", key)
			continue
		}
		if got := rt.Access.String(); got != want {
			t.Errorf("route %s: rule %q, want %q", key, got, want)
		}
		path := concrete(rt.Path)
		var body any
		if rt.Method != "GET" && rt.Method != "DELETE" {
			body = "{}"
			if strings.HasSuffix(rt.Path, "session") || rt.Path == "/login" {
				body = web.LoginRequest{Name: "u-viewer", Password: password}
				if rt.Path == "/login" {
					body = url.Values{"name": {"u-viewer"}, "password": {password}}
				}
			}
		}
		callers := append([]auth.Role{""}, auth.Roles...)
		for _, role := range callers {
			c := b.client()
			hdr := map[string]string{}
			if role != "" {
				id, sess, err := b.auth.StartSession(t.Context(), b.users[role])
				if err != nil {
					t.Fatal(err)
				}
				u, _ := url.Parse(b.ts.URL)
				c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: id}})
				hdr["X-CSRF-Token"] = sess.CSRFToken
			}
			r := b.do(c, rt.Method, path, body, hdr)
			denied := (r.status == 401 && bytes.Contains(r.body, []byte("sign in or send"))) ||
				(r.status == 403 && bytes.Contains(r.body, []byte(" may not ")))
			name := string(role)
			if role == "" {
				name = "anonymous"
			}
			allowed := rt.Access.Public || (role != "" && strings.Contains(" or "+want+" or ", " or "+string(role)+" or "))
			if allowed && denied {
				t.Errorf("%s as %s: denied (%d %s), want allowed", key, name, r.status, r.body)
			}
			if !allowed && !denied {
				t.Errorf("%s as %s: %d %.200s, want denied", key, name, r.status, r.body)
			}
			if !allowed && role == "" && r.status != 401 {
				t.Errorf("%s anonymous: status %d, want 401", key, r.status)
			}
			if !allowed && role != "" && r.status != 403 {
				t.Errorf("%s as %s: status %d, want 403", key, name, r.status)
			}
		}
	}
	for key := range wantRules {
		if !seen[key] {
			t.Errorf("wantRules has %s, which is not a route", key)
		}
	}
}

func TestCSRF(t *testing.T) { testCSRF(t, setup) }

func testCSRF(t *testing.T, mk maker) {
	b := mk(t)
	c := b.client()
	tok := b.login(c, "u-admin", password)
	body := web.TokenCreate{Name: "x", Role: "viewer", ExpiresInDays: 1}
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no token", nil, 403},
		{"wrong token", map[string]string{"X-CSRF-Token": "nope"}, 403},
		{"cross-site fetch", map[string]string{"X-CSRF-Token": tok, "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", map[string]string{"X-CSRF-Token": tok, "Origin": "https://evil.example"}, 403},
		{"right token", map[string]string{"X-CSRF-Token": tok}, 201},
		{"same-origin fetch", map[string]string{"X-CSRF-Token": tok, "Sec-Fetch-Site": "same-origin"}, 201},
	}
	for _, tc := range tests {
		r := b.do(c, "POST", "/api/v1/tokens", body, tc.hdr)
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
		if tc.status == 403 && r.errBody(t).Code != "forbidden" {
			t.Errorf("%s: error body %s", tc.name, r.body)
		}
	}
	// A form post without the token is refused too.
	r := b.do(c, "POST", "/logout", url.Values{}, nil)
	if r.status != 403 {
		t.Errorf("logout form without CSRF token: %d", r.status)
	}
	// Bearer tokens are not cookies: no CSRF token needed.
	r = b.do(nil, "POST", "/api/v1/tokens", body, bearer(b.token(auth.RoleAdmin)))
	if r.status != 201 {
		t.Errorf("bearer without CSRF token: %d %s", r.status, r.body)
	}
}

func TestSessionFixation(t *testing.T) { testSessionFixation(t, setup) }

func testSessionFixation(t *testing.T, mk maker) {
	b := mk(t)
	// An attacker plants a session id of their own in the victim's browser.
	planted, _, err := b.auth.StartSession(t.Context(), b.users[auth.RoleViewer])
	if err != nil {
		t.Fatal(err)
	}
	c := b.client()
	u, _ := url.Parse(b.ts.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: planted}})
	r := b.do(c, "POST", "/login", url.Values{"name": {"u-admin"}, "password": {password}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var got *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == web.SessionCookie {
			got = ck
		}
	}
	if got == nil || got.Value == "" || got.Value == planted {
		t.Fatalf("session id not rotated at sign-in: %+v", got)
	}
	if !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Path != "/" {
		t.Errorf("cookie attributes: %+v", got)
	}
	// The planted id is gone, and never became the admin's.
	c2 := b.client()
	c2.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: planted}})
	if r := b.do(c2, "GET", "/api/v1/me", nil, nil); r.status != 401 {
		t.Errorf("planted session after victim sign-in: %d %s", r.status, r.body)
	}
	var me web.MeJSON
	r = b.do(c, "GET", "/api/v1/me", nil, nil)
	r.json(t, &me)
	if me.Name != "u-admin" {
		t.Errorf("me = %+v", me)
	}
}

func TestSecureCookie(t *testing.T) {
	b := setup(t, func(c *web.Config) { c.SecureCookies = true })
	r := b.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: password}, nil)
	if !strings.Contains(r.header.Get("Set-Cookie"), "Secure") || !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
	}
}

func TestLoginRateLimitAndLockout(t *testing.T) {
	b := setup(t, func(c *web.Config) { c.LoginBurst = 3; c.LoginRate = 0.001 })
	for i := range 3 {
		r := b.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: "wrong password"}, nil)
		if r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := b.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: password}, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.errBody(t).Code != "unavailable" {
		t.Fatalf("4th attempt: %d %s", r.status, r.body)
	}

	// Lockout: 5 wrong passwords lock the account even for the right one.
	b2 := setup(t)
	for range 5 {
		b2.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: "wrong password"}, nil)
	}
	if r := b2.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: password}, nil); r.status != 401 {
		t.Fatalf("locked account: %d %s", r.status, r.body)
	}
	b2.advance(16 * time.Minute)
	if r := b2.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: password}, nil); r.status != 200 {
		t.Fatalf("after the lock: %d %s", r.status, r.body)
	}
}

func TestFirstSignInMustChangePassword(t *testing.T) {
	b := setup(t)
	pw, err := b.auth.ResetPassword(t.Context(), "u-admin")
	if err != nil {
		t.Fatal(err)
	}
	c := b.client()
	r := b.do(c, "POST", "/login", url.Values{"name": {"u-admin"}, "password": {pw}, "next": {"/runs"}}, nil)
	if r.status != 303 || r.header.Get("Location") != "/password" {
		t.Fatalf("login with one-time password: %d %s", r.status, r.header.Get("Location"))
	}
	r = b.do(c, "GET", "/", nil, map[string]string{"Accept": "text/html"})
	if r.status != 303 || r.header.Get("Location") != "/password" {
		t.Errorf("dashboard before change: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.do(c, "GET", "/api/v1/profiles", nil, nil); r.status != 403 || !strings.Contains(r.errBody(t).Message, "one-time password") {
		t.Errorf("API before change: %d %s", r.status, r.body)
	}
	var me web.MeJSON
	b.do(c, "GET", "/api/v1/me", nil, nil).json(t, &me)
	if !me.MustChangePassword || me.CSRFToken == "" {
		t.Fatalf("me = %+v", me)
	}
	form := url.Values{"csrf": {me.CSRFToken}, "current": {pw}, "new": {"my own password 1"}, "confirm": {"my own password 1"}}
	if r := b.do(c, "POST", "/password", form, nil); r.status != 303 {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := b.do(c, "GET", "/api/v1/profiles", nil, nil); r.status != 200 {
		t.Errorf("API after change: %d %s", r.status, r.body)
	}
}

func TestAPITokensWorkAndExpire(t *testing.T) { testAPITokensWorkAndExpire(t, setup) }

func testAPITokensWorkAndExpire(t *testing.T, mk maker) {
	b := mk(t)
	admin := bearer(b.token(auth.RoleAdmin))
	var created web.TokenCreated
	r := b.do(nil, "POST", "/api/v1/tokens", web.TokenCreate{Name: "ci", Role: "viewer", ExpiresInDays: 1}, admin)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.json(t, &created)
	viewer := bearer(created.Secret)
	if r := b.do(nil, "GET", "/api/v1/profiles", nil, viewer); r.status != 200 {
		t.Errorf("viewer token read: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "POST", "/api/v1/profiles", "{}", viewer); r.status != 403 {
		t.Errorf("viewer token write: %d", r.status)
	}
	// The list never shows secrets.
	r = b.do(nil, "GET", "/api/v1/tokens", nil, admin)
	if bytes.Contains(r.body, []byte(created.Secret)) || !bytes.Contains(r.body, []byte(created.Token.Prefix)) {
		t.Errorf("token list: %s", r.body)
	}
	b.advance(25 * time.Hour)
	r = b.do(nil, "GET", "/api/v1/profiles", nil, viewer)
	if r.status != 401 || !strings.Contains(r.errBody(t).Message, "expired") {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
	// Revoked tokens stop working.
	admin2 := bearer(b.token(auth.RoleAdmin))
	var list []web.TokenJSON
	b.do(nil, "GET", "/api/v1/tokens", nil, admin2).json(t, &list)
	for _, tk := range list {
		if tk.Name == "t-admin" && !tk.Expired {
			if r := b.do(nil, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tk.ID), nil, admin2); r.status != 204 {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
		}
	}
	if r := b.do(nil, "GET", "/api/v1/me", nil, admin2); r.status != 401 {
		t.Errorf("revoked token: %d", r.status)
	}
	for _, bad := range []string{"Basic abc", "Bearer", "Bearer swt_forged"} {
		if r := b.do(nil, "GET", "/api/v1/me", nil, map[string]string{"Authorization": bad}); r.status != 401 {
			t.Errorf("Authorization %q: %d", bad, r.status)
		}
	}
}

const (
	tenant = "11111111-1111-4111-8111-111111111111"
	client = "22222222-2222-4222-8222-222222222222"
)

func TestProfilesAPI(t *testing.T) { testProfilesAPI(t, setup) }

func testProfilesAPI(t *testing.T, mk maker) {
	b := mk(t)
	hdr := bearer(b.token(auth.RoleSAMIntegrator))
	in := map[string]any{"name": "contoso", "tenant_id": strings.ToUpper(tenant), "client_id": client,
		"client_secret": "s3cr3t-value", "environments": []map[string]string{{"url": "https://contoso.crm.dynamics.com/"}}}
	r := b.do(nil, "POST", "/api/v1/profiles", in, hdr)
	if r.status != 201 || bytes.Contains(r.body, []byte("s3cr3t")) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var p web.ProfileJSON
	r.json(t, &p)
	if p.TenantID != tenant || !p.HasClientSecret || p.State != "draft" || len(p.Environments) != 1 ||
		p.Environments[0].URL != "https://contoso.crm.dynamics.com" || p.DisplayName != "contoso" {
		t.Errorf("created %+v", p)
	}
	// The secret is sealed with the keyring.
	sp, _ := b.st.ProfileByName(t.Context(), "contoso")
	sealed, err := b.st.Secret(t.Context(), sp.ID, sam.SecretClientSecret)
	if err != nil || bytes.Contains(sealed.Ciphertext, []byte("s3cr3t")) {
		t.Fatalf("sealed %v", err)
	}
	if plain, err := b.keyring.Open(sealed); err != nil || string(plain) != "s3cr3t-value" {
		t.Fatalf("open sealed secret: %q %v", plain, err)
	}
	errs := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"duplicate", "POST", "/api/v1/profiles", in, 409, "conflict"},
		{"bad tenant", "POST", "/api/v1/profiles", map[string]any{"name": "x", "tenant_id": "nope", "client_id": client, "client_secret": "s"}, 400, "invalid"},
		{"no secret", "POST", "/api/v1/profiles", map[string]any{"name": "x", "tenant_id": tenant, "client_id": client}, 400, "invalid"},
		{"http environment", "POST", "/api/v1/profiles", map[string]any{"name": "x", "tenant_id": tenant, "client_id": client, "client_secret": "s",
			"environments": []map[string]string{{"url": "http://contoso.crm.dynamics.com"}}}, 400, "invalid"},
		{"unknown field", "POST", "/api/v1/profiles", map[string]any{"name": "x", "password": "y"}, 400, "invalid"},
		{"malformed json", "POST", "/api/v1/profiles", "{", 400, "invalid"},
		{"missing", "GET", "/api/v1/profiles/nope", nil, 404, "not_found"},
		{"rename", "PATCH", "/api/v1/profiles/contoso", map[string]any{"name": "other"}, 400, "invalid"},
		{"no jobs", "POST", "/api/v1/profiles/contoso/runs", nil, 503, "unavailable"},
		{"unknown route", "GET", "/api/v1/nothing", nil, 404, "not_found"},
	}
	for _, tc := range errs {
		r := b.do(nil, tc.method, tc.path, tc.body, hdr)
		e := r.errBody(t)
		if r.status != tc.status || e.Code != tc.code || e.Message == "" || (tc.path != "/api/v1/nothing" && e.RequestID == "") {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	r = b.do(nil, "PATCH", "/api/v1/profiles/contoso", map[string]any{"display_name": "Contoso Ltd", "client_secret": "new-secret",
		"environments": []map[string]string{{"url": "https://contoso.crm.dynamics.com"}, {"url": "https://two.crm.dynamics.com", "name": "Two"}}}, hdr)
	if r.status != 200 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	r.json(t, &p)
	if p.DisplayName != "Contoso Ltd" || len(p.Environments) != 2 || p.Environments[1].Name != "Two" {
		t.Errorf("edited %+v", p)
	}
	sealed, _ = b.st.Secret(t.Context(), sp.ID, sam.SecretClientSecret)
	if plain, _ := b.keyring.Open(sealed); string(plain) != "new-secret" {
		t.Errorf("secret after edit: %q", plain)
	}
	var list []web.ProfileJSON
	b.do(nil, "GET", "/api/v1/profiles", nil, bearer(b.token(auth.RoleViewer))).json(t, &list)
	if len(list) != 1 || list[0].Name != "contoso" {
		t.Errorf("list %+v", list)
	}
	if r := b.do(nil, "DELETE", "/api/v1/profiles/contoso", nil, hdr); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "GET", "/api/v1/profiles/contoso", nil, hdr); r.status != 404 {
		t.Errorf("after delete: %d", r.status)
	}

	// Every action is in the audit log, without secrets.
	r = b.do(nil, "GET", "/api/v1/audit?limit=1000", nil, bearer(b.token(auth.RoleAdmin)))
	var audit web.AuditPage
	r.json(t, &audit)
	if bytes.Contains(r.body, []byte("s3cr3t")) || bytes.Contains(r.body, []byte("new-secret")) {
		t.Errorf("audit log holds a secret: %s", r.body)
	}
	actions := map[string]int{}
	for _, e := range audit.Items {
		actions[fmt.Sprintf("%s %d", e.Action, e.Status)]++
		if e.Actor != "token:t-sam_integrator" {
			t.Errorf("audit actor %q", e.Actor)
		}
	}
	for _, want := range []string{"POST /api/v1/profiles 201", "POST /api/v1/profiles 409", "PATCH /api/v1/profiles/{name} 200",
		"DELETE /api/v1/profiles/{name} 204", "POST /api/v1/profiles/{name}/runs 503"} {
		if actions[want] == 0 {
			t.Errorf("audit log lacks %q: %v", want, actions)
		}
	}
}

// seed creates a profile with n users holding licences.
func seed(t *testing.T, st store.Store, name string, n int) *sam.Profile {
	t.Helper()
	ctx := t.Context()
	p := &sam.Profile{Name: name, DisplayName: name, TenantID: tenant, ClientID: client, AuthMode: sam.AuthClientSecret,
		LoginURL: sam.DefaultLoginURL, GraphURL: sam.DefaultGraphURL, State: sam.ProfileDraft}
	if err := st.CreateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	run := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
	if err := st.StartRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	sales := "1e1a282c-9c54-43a2-9310-98ef728faace" // D365_SALES_ENT
	apps := "b30411f5-fea1-4a59-9ad9-3db7c7ead579"  // POWERAPPS_PER_USER
	var users []store.StagedUser
	for i := range n {
		u := store.StagedUser{UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UPN: fmt.Sprintf("user%03d@contoso.com", i),
			DisplayName: fmt.Sprintf("User %03d", i), Department: []string{"Sales", "Support", "=cmd|' /C calc'!A0"}[i%3], AccountEnabled: i%5 != 0,
			Licenses: []store.StagedLicense{{SKUID: sales}}}
		if i%2 == 0 {
			u.Licenses = append(u.Licenses, store.StagedLicense{SKUID: apps})
		}
		users = append(users, u)
	}
	if err := st.StageUsers(ctx, run, users); err != nil {
		t.Fatal(err)
	}
	var models []sam.SoftwareModel
	for _, sku := range []string{sales, apps} {
		m, ok := catalogModel(sku)
		if !ok {
			t.Fatalf("catalog lacks %s", sku)
		}
		models = append(models, m)
	}
	if _, err := st.CommitSubscriptions(ctx, run, store.SubscriptionCommit{Full: true, Now: time.Now(), Models: models}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubscriptionsAPI(t *testing.T) { testSubscriptionsAPI(t, setup) }

func testSubscriptionsAPI(t *testing.T, mk maker) {
	b := mk(t)
	seed(t, b.st, "contoso", 25)
	hdr := bearer(b.token(auth.RoleViewer))
	// Page through by UPN descending, 7 at a time.
	var upns []string
	path := "/api/v1/subscriptions?profile=contoso&sort=upn&order=desc&limit=7"
	for range 10 {
		var page web.SubscriptionPage
		r := b.do(nil, "GET", path, nil, hdr)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		r.json(t, &page)
		for _, it := range page.Items {
			upns = append(upns, it.UPN+" "+it.PartNumber)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/api/v1/subscriptions?profile=contoso&sort=upn&order=desc&limit=7&cursor=" + page.NextCursor
	}
	if len(upns) != 38 || !strings.HasPrefix(upns[0], "user024@") || !strings.HasPrefix(upns[37], "user000@") {
		t.Fatalf("paged %d: first %v last %v", len(upns), upns[:1], upns[len(upns)-1:])
	}
	for i := 1; i < len(upns); i++ {
		if upns[i-1][:8] < upns[i][:8] {
			t.Fatalf("order broken at %d: %v", i, upns[i-1:i+1])
		}
	}
	tests := []struct {
		query  string
		status int
		n      int
	}{
		{"q=SUPPORT", 200, 12},
		{"q=user01", 200, 15},
		{"sku=POWERAPPS_PER_USER", 200, 13},
		{"class=disabled", 200, 8},
		{"class=bogus", 400, 0},
		{"sort=password", 400, 0},
		{"order=up", 400, 0},
		{"limit=0", 400, 0},
		{"profile=nope", 404, 0},
		{"cursor=garbage", 400, 0},
		{"sort=upn&cursor=eyJzIjoiaWQiLCJpIjozfQ", 400, 0}, // a cursor of the id order
	}
	for _, tc := range tests {
		r := b.do(nil, "GET", "/api/v1/subscriptions?"+tc.query, nil, hdr)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", tc.query, r.status, r.body)
			continue
		}
		if tc.status == 200 {
			var page web.SubscriptionPage
			r.json(t, &page)
			if len(page.Items) != tc.n {
				t.Errorf("%s: %d items, want %d", tc.query, len(page.Items), tc.n)
			}
		}
	}
	// CSV export: all rows, header first, formulas defused.
	r := b.do(nil, "GET", "/api/v1/subscriptions.csv?sort=display_name", nil, hdr)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.status, r.header)
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 39 || recs[0][0] != "id" || recs[1][4] != "User 000" {
		t.Fatalf("csv: %d rows, %v %v", len(recs), recs[0], recs[1])
	}
	for _, rec := range recs[1:] {
		if strings.HasPrefix(rec[5], "=") {
			t.Fatalf("formula not defused: %q", rec[5])
		}
	}
	// Usage report and one subscription.
	var rows []web.UsageRow
	b.do(nil, "GET", "/api/v1/reports/usage?profile=contoso", nil, hdr).json(t, &rows)
	total := 0
	for _, row := range rows {
		total += row.Total
	}
	if total != 38 || len(rows) != 2 {
		t.Errorf("usage report %+v", rows)
	}
	// The counts behind the report are cached until a run commits or a
	// profile goes; changes made outside this server (here: straight in
	// the store, as another instance would) show within a second.
	eventually := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			b.do(nil, "GET", "/api/v1/reports/usage", nil, hdr).json(t, &rows)
			if len(rows) == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(rows) != want {
			t.Errorf("usage report %+v, want %d rows", rows, want)
		}
	}
	other := seed(t, b.st, "fabrikam", 3)
	eventually(4)
	if err := b.st.DeleteProfile(t.Context(), other.ID); err != nil {
		t.Fatal(err)
	}
	eventually(2)
	var one web.SubscriptionJSON
	r = b.do(nil, "GET", "/api/v1/subscriptions/1", nil, hdr)
	r.json(t, &one)
	if one.ID != 1 || one.Profile != "contoso" {
		t.Errorf("subscription 1: %s", r.body)
	}
	var models []web.ModelJSON
	b.do(nil, "GET", "/api/v1/models", nil, hdr).json(t, &models)
	if len(models) != 2 {
		t.Errorf("models %+v", models)
	}
}

func TestOpsEndpoints(t *testing.T) {
	b := setup(t)
	if r := b.do(nil, "GET", "/healthz", nil, nil); r.status != 200 || string(r.body) != "ok\n" {
		t.Errorf("healthz %d %q", r.status, r.body)
	}
	if r := b.do(nil, "GET", "/readyz", nil, nil); r.status != 200 {
		t.Errorf("readyz %d %q", r.status, r.body)
	}
	b.do(nil, "GET", "/api/v1/profiles", nil, nil)
	if r := b.do(nil, "GET", "/metrics", nil, nil); r.status != 401 {
		t.Errorf("anonymous metrics: %d, want 401 (metrics_access defaults to signed-in)", r.status)
	}
	r := b.do(nil, "GET", "/metrics", nil, bearer(b.token(auth.RoleViewer)))
	for _, want := range []string{
		`seatwise_http_requests_total{route="GET /healthz",method="GET",status="200"} 1`,
		`seatwise_http_requests_total{route="GET /api/v1/profiles",method="GET",status="401"} 1`,
		`seatwise_http_requests_total{route="GET /metrics",method="GET",status="401"} 1`,
		`seatwise_http_request_duration_seconds_bucket{route="GET /readyz",le="+Inf"} 1`,
		"# TYPE seatwise_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q:\n%s", want, r.body)
		}
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("metrics content type %q", r.header.Get("Content-Type"))
	}
	b.st.Close()
	if r := b.do(nil, "GET", "/readyz", nil, nil); r.status != 503 {
		t.Errorf("readyz with the database closed: %d", r.status)
	}
}

func TestOpenAPIGolden(t *testing.T) {
	b := setup(t)
	r := b.do(nil, "GET", "/api/openapi.json", nil, nil)
	if r.status != 200 {
		t.Fatalf("openapi: %d", r.status)
	}
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		if err := os.WriteFile(golden, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(r.body, want) {
		t.Errorf("OpenAPI document differs from %s; review and run go test ./internal/web -run OpenAPI -update", golden)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v %s", err, doc.OpenAPI)
	}
	for _, rt := range b.srv.Routes() {
		if rt.API {
			if _, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
				t.Errorf("route %s %s missing from the document", rt.Method, rt.Path)
			}
		}
	}
}

func TestUsersAPI(t *testing.T) { testUsersAPI(t, setup) }

func testUsersAPI(t *testing.T, mk maker) {
	b := mk(t)
	hdr := bearer(b.token(auth.RoleAdmin))
	var created web.UserCreated
	r := b.do(nil, "POST", "/api/v1/users", web.UserCreate{Name: "newbie", Role: "sam_manager"}, hdr)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.json(t, &created)
	if len(created.OneTimePassword) != 20 || !created.User.MustChangePassword {
		t.Fatalf("created %+v", created)
	}
	if r := b.do(nil, "POST", "/api/v1/users", web.UserCreate{Name: "newbie", Role: "viewer", Password: "long enough pw"}, hdr); r.status != 409 {
		t.Errorf("duplicate: %d", r.status)
	}
	if r := b.do(nil, "POST", "/api/v1/users", web.UserCreate{Name: "x", Role: "root"}, hdr); r.status != 400 {
		t.Errorf("bad role: %d", r.status)
	}
	c := b.client()
	b.login(c, "newbie", created.OneTimePassword)
	disabled := true
	if r := b.do(nil, "PATCH", "/api/v1/users/newbie", web.UserPatch{Disabled: &disabled}, hdr); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := b.do(c, "GET", "/api/v1/me", nil, nil); r.status != 401 {
		t.Errorf("session of a disabled user: %d", r.status)
	}
	var users []web.UserJSON
	r = b.do(nil, "GET", "/api/v1/users", nil, hdr)
	r.json(t, &users)
	if len(users) != 5 || bytes.Contains(r.body, []byte("argon2")) {
		t.Errorf("users: %s", r.body)
	}
	var reset web.PasswordReset
	b.do(nil, "POST", "/api/v1/users/u-viewer/password-reset", nil, hdr).json(t, &reset)
	if reset.OneTimePassword == "" {
		t.Error("no one-time password")
	}
}

func TestWebPages(t *testing.T) {
	b := setup(t)
	seed(t, b.st, "contoso", 12)
	c := b.client()
	html := map[string]string{"Accept": "text/html"}
	if r := b.do(c, "GET", "/subscriptions", nil, html); r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous page: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.do(c, "POST", "/login", url.Values{"name": {"u-viewer"}, "password": {"wrong password"}}, html); r.status != 401 || !bytes.Contains(r.body, []byte("wrong name or password")) {
		t.Fatalf("bad login page: %d", r.status)
	}
	if r := b.do(c, "POST", "/login", url.Values{"name": {"u-viewer"}, "password": {password}, "next": {"//evil.example"}}, html); r.status != 303 || r.header.Get("Location") != "/" {
		t.Fatalf("login open redirect: %d %s", r.status, r.header.Get("Location"))
	}
	pages := []struct {
		path string
		want []string
	}{
		{"/", []string{"Dashboard", "Usage by software model", `<rect class="c-`, "not configured"}},
		{"/profiles", []string{"contoso", "missing"}},
		{"/subscriptions?q=user00&sort=upn&order=desc", []string{"user009@contoso.com", "Export CSV", `<label for="f-q">`}},
		{"/runs", []string{"subscriptions", "succeeded"}},
		{"/static/seatwise.css", []string{"--active"}},
	}
	for _, p := range pages {
		r := b.do(c, "GET", p.path, nil, html)
		if r.status != 200 {
			t.Errorf("%s: %d %s", p.path, r.status, r.body)
			continue
		}
		for _, w := range p.want {
			if !bytes.Contains(r.body, []byte(w)) {
				t.Errorf("%s lacks %q", p.path, w)
			}
		}
		if p.path != "/static/seatwise.css" && !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", p.path)
		}
	}
	// A viewer sees no profile form and cannot post one.
	if r := b.do(c, "GET", "/profiles", nil, html); bytes.Contains(r.body, []byte("New profile")) {
		t.Error("viewer sees the profile form")
	}
}
