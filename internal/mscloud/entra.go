package mscloud

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// App is an application registration of a simulated tenant: the Seatwise
// app the simulator knows as a confidential client.
type App struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	DisplayName  string `json:"display_name"`
	// SecretExpires is when the client secret expires, on the tenant's
	// simulated clock; zero means never. An expired secret is answered with
	// AADSTS7000222.
	SecretExpires time.Time `json:"secret_expires,omitempty"`
	// RedirectURIs are the registered reply URLs (exact match); any http
	// loopback URL (127.0.0.1, localhost, [::1], any port) is accepted too.
	RedirectURIs []string `json:"redirect_uris"`
	// GraphRoles are the Graph application permissions granted with admin
	// consent; they appear as the roles claim of app-only Graph tokens.
	GraphRoles []string `json:"graph_roles"`
	// GraphScopes are the delegated Graph permissions consented for the app;
	// a delegated token carries those requested and consented (scp claim).
	GraphScopes []string `json:"graph_scopes"`
	// Certificates are the PEM certificates uploaded to the app: a client
	// assertion (private_key_jwt) signed by one of their keys, named by its
	// x5t thumbprint, authenticates the app instead of the secret.
	Certificates []string `json:"certificates,omitempty"`
}

// DefaultGraphRoles are the application permissions a generated app holds.
var DefaultGraphRoles = []string{"Organization.Read.All", "User.Read.All", "LicenseAssignment.Read.All", "AuditLog.Read.All", "User.ReadWrite.All", "GroupMember.ReadWrite.All"}

// DefaultGraphScopes are the delegated permissions a generated app holds.
var DefaultGraphScopes = []string{"Organization.Read.All", "User.Read.All", "AuditLog.Read.All", "User.ReadWrite.All", "GroupMember.ReadWrite.All", "User.Read"}

// oidcScopes are accepted next to one resource's scopes and never name a resource.
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// authCode is an issued, not yet (or already) redeemed authorization code.
type authCode struct {
	tenant      *tenantCtx
	clientID    string
	redirectURI string
	scopes      []string
	challenge   string
	method      string
	userID      string
	nonce       string
	issued      time.Time // wall clock; codes live 10 minutes
	redeemed    bool
}

// refreshGrant is the state behind one refresh token. Each redemption
// retires the token and issues a new one of the same family.
type refreshGrant struct {
	tenant   *tenantCtx
	clientID string
	userID   string
	scopes   []string // everything consented at sign-in
	family   string
	issued   time.Time // tenant clock
	lastUsed time.Time // tenant clock
	retired  bool
	revoked  bool
}

// entraState is the mutable state of the identity platform.
type entraState struct {
	mu       sync.Mutex
	codes    map[string]*authCode
	refresh  map[string]*refreshGrant
	families map[string][]string // family -> tokens, for revocation
}

func newEntraState() *entraState {
	return &entraState{codes: map[string]*authCode{}, refresh: map[string]*refreshGrant{}, families: map[string][]string{}}
}

func randToken(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// entraError writes the documented token-endpoint error body.
func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newGUID(), newGUID()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("x-ms-request-id", trace)
	writeJSON(w, status, "application/json; charset=utf-8", body)
}

func writeJSON(w http.ResponseWriter, status int, ctype string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// serveLogin routes the identity platform: /{tenant}/... paths.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)
	tenantName, rest := seg[0], ""
	if len(seg) == 2 {
		rest = "/" + seg[1]
	}
	if rest == "/discovery/instance" && r.Method == http.MethodGet {
		s.count(HostLogin, "GET /{tenant}/discovery/instance")
		s.instanceDiscovery(w, r)
		return
	}
	route := map[string]string{
		"/v2.0/.well-known/openid-configuration": "GET /{tenant}/v2.0/.well-known/openid-configuration",
		"/discovery/v2.0/keys":                   "GET /{tenant}/discovery/v2.0/keys",
		"/oauth2/v2.0/authorize":                 r.Method + " /{tenant}/oauth2/v2.0/authorize",
		"/oauth2/v2.0/token":                     "POST /{tenant}/oauth2/v2.0/token",
		"/adminconsent":                          "GET /{tenant}/adminconsent",
	}[rest]
	if route == "" {
		s.count(HostLogin, "other")
		entraError(w, http.StatusNotFound, "invalid_request", 900561, fmt.Sprintf("The endpoint only accepts known identity platform paths; '%s' is not one.", path))
		return
	}
	s.count(HostLogin, route)
	tc, multi := s.resolveTenant(tenantName)
	if tc == nil && !multi {
		entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenantName))
		return
	}
	switch rest {
	case "/v2.0/.well-known/openid-configuration":
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.discovery(w, r, tenantName, tc)
	case "/discovery/v2.0/keys":
		writeJSON(w, http.StatusOK, "application/json; charset=utf-8", s.signer.jwks(s.issuer(r, tenantName, tc)))
	case "/oauth2/v2.0/authorize":
		s.authorize(w, r, tenantName, tc)
	case "/oauth2/v2.0/token":
		if r.Method != http.MethodPost {
			entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
			return
		}
		s.token(w, r, tc)
	case "/adminconsent":
		s.adminConsent(w, r, tc)
	}
}

// resolveTenant finds a tenant by GUID or verified domain; multi reports a
// multi-tenant alias (common, organizations) for which tc is nil.
func (s *Server) resolveTenant(name string) (tc *tenantCtx, multi bool) {
	n := strings.ToLower(name)
	if n == "common" || n == "organizations" {
		return nil, true
	}
	return s.tenantsByName[n], false
}

func (s *Server) baseURL(r *http.Request) string {
	if r != nil && r.TLS == nil && s.httpBase != "" {
		return s.httpBase
	}
	return s.httpsBase
}

func (s *Server) issuer(r *http.Request, tenantName string, tc *tenantCtx) string {
	id := "{tenantid}"
	if tc != nil {
		id = tc.id
	}
	return s.baseURL(r) + "/" + id + "/v2.0"
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request, tenantName string, tc *tenantCtx) {
	authority := s.baseURL(r) + "/" + tenantName
	host := strings.TrimPrefix(strings.TrimPrefix(s.baseURL(r), "https://"), "http://")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"token_endpoint":                        authority + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              authority + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.issuer(r, tenantName, tc),
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.baseURL(r) + "/oidc/userinfo",
		"authorization_endpoint":                authority + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         authority + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  authority + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     authority + "/kerberos",
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          host,
		"rbac_url":                              "https://pas.windows.net",
	})
}

func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(strings.TrimPrefix(s.baseURL(r), "https://"), "http://")
	tenantName := "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if p := strings.Split(strings.Trim(u.Path, "/"), "/"); len(p) > 0 && p[0] != "" {
				tenantName = p[0]
			}
		}
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"tenant_discovery_endpoint": s.baseURL(r) + "/" + tenantName + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

// redirectAllowed reports whether uri may receive codes for app: an exact
// registered URI, or any http loopback URI.
func redirectAllowed(app *App, uri string) bool {
	if slices.Contains(app.RedirectURIs, uri) {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body>
<h1>Sign in ({{.TenantName}})</h1>
<p><strong>{{.AppName}}</strong> ({{.ClientID}}) requests these permissions:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
{{if .Error}}<p role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label>User principal name <input name="login" value="{{.Login}}" autocomplete="username"></label>
<p>Simulated administrators of this tenant: {{range .Admins}}<code>{{.}}</code> {{end}}</p>
<button type="submit" name="consent" value="accept">Accept</button>
<button type="submit" name="consent" value="cancel">Cancel</button>
</form>
</body></html>
`))

var errorPage = template.Must(template.New("err").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body><h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error">AADSTS{{.Code}}: {{.Message}}</p></body></html>
`))

var formPostPage = template.Must(template.New("fp").Parse(`<!DOCTYPE html>
<html><head><title>Working...</title></head><body onload="document.forms[0].submit()">
<form method="POST" action="{{.Action}}">{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<noscript><button type="submit">Continue</button></noscript></form></body></html>
`))

func authorizeErrorPage(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	errorPage.Execute(w, map[string]any{"Code": code, "Message": msg})
}

var authorizeParams = []string{"client_id", "response_type", "redirect_uri", "scope", "state", "response_mode", "code_challenge", "code_challenge_method", "nonce", "prompt", "login_hint", "domain_hint"}

// authorize serves the sign-in and consent page (GET) and its approval (POST).
// The form's fields are the query parameters of the GET plus "login" (the
// user principal name of a simulated user) and "consent" (accept or cancel).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, tenantName string, tc *tenantCtx) {
	if err := r.ParseForm(); err != nil {
		authorizeErrorPage(w, http.StatusBadRequest, 900144, "The request could not be parsed: "+err.Error())
		return
	}
	p := r.Form
	clientID := p.Get("client_id")
	if clientID == "" {
		authorizeErrorPage(w, http.StatusBadRequest, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	app, appTenant := s.findApp(clientID)
	if app == nil {
		authorizeErrorPage(w, http.StatusBadRequest, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenantName))
		return
	}
	if tc == nil {
		tc = appTenant
	}
	if tc != appTenant {
		authorizeErrorPage(w, http.StatusBadRequest, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenantName))
		return
	}
	redirect := p.Get("redirect_uri")
	if redirect == "" || !redirectAllowed(app, redirect) {
		authorizeErrorPage(w, http.StatusBadRequest, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, clientID))
		return
	}
	mode := p.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	state := p.Get("state")
	fail := func(code, desc string) {
		redirectWith(w, r, redirect, mode, map[string]string{"error": code, "error_description": desc, "state": state})
	}
	if mode != "query" && mode != "fragment" && mode != "form_post" {
		fail("invalid_request", "AADSTS900144: The response_mode '"+mode+"' is not supported.")
		return
	}
	if p.Get("response_type") != "code" {
		fail("unsupported_response_type", "AADSTS70005: response_type '"+p.Get("response_type")+"' is not enabled for the client.")
		return
	}
	scopes := strings.Fields(p.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	}
	for _, sc := range scopes {
		if oidcScopes[sc] {
			continue
		}
		if _, _, err := s.splitScope(tc, sc); err != nil {
			fail("invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope "+sc+" is not valid.")
			return
		}
	}
	method := p.Get("code_challenge_method")
	if p.Get("code_challenge") != "" {
		if method == "" {
			method = "plain"
		}
		if method != "S256" && method != "plain" {
			fail("invalid_request", "AADSTS501491: Invalid code_challenge_method.")
			return
		}
	}
	hidden := map[string]string{}
	for _, k := range authorizeParams {
		if v := p.Get(k); v != "" {
			hidden[k] = v
		}
	}
	render := func(errMsg, login string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		consentPage.Execute(w, map[string]any{
			"TenantName": tc.displayName(), "AppName": app.DisplayName, "ClientID": app.ClientID,
			"Scopes": scopes, "Error": errMsg, "Hidden": hidden, "Login": login,
			"Action": s.baseURL(r) + "/" + tenantName + "/oauth2/v2.0/authorize", "Admins": tc.admins(3),
		})
	}
	if r.Method == http.MethodGet {
		if p.Get("prompt") == "none" {
			// The simulator keeps no browser session: silent sign-in fails.
			fail("login_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in.")
			return
		}
		render("", p.Get("login_hint"))
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p.Get("consent") != "accept" {
		fail("access_denied", "AADSTS65004: User declined to consent to access the app.")
		return
	}
	login := strings.TrimSpace(p.Get("login"))
	uid, ok, enabled := tc.signInUser(login)
	if !ok {
		render("AADSTS50034: The user account "+login+" does not exist in the "+tc.id+" directory.", login)
		return
	}
	if !enabled {
		render("AADSTS50057: The user account is disabled.", login)
		return
	}
	code := randToken("0.SIM", 48)
	s.entra.mu.Lock()
	s.entra.codes[code] = &authCode{tenant: tc, clientID: app.ClientID, redirectURI: redirect, scopes: scopes,
		challenge: p.Get("code_challenge"), method: method, userID: uid, nonce: p.Get("nonce"), issued: time.Now()}
	s.entra.mu.Unlock()
	redirectWith(w, r, redirect, mode, map[string]string{"code": code, "state": state, "session_state": newGUID()})
}

func redirectWith(w http.ResponseWriter, r *http.Request, to, mode string, fields map[string]string) {
	v := url.Values{}
	for k, x := range fields {
		if x != "" {
			v.Set(k, x)
		}
	}
	switch mode {
	case "form_post":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		formPostPage.Execute(w, map[string]any{"Action": to, "Fields": fields})
	case "fragment":
		http.Redirect(w, r, to+"#"+v.Encode(), http.StatusFound)
	default:
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		http.Redirect(w, r, to+sep+v.Encode(), http.StatusFound)
	}
}

// adminConsent answers the admin-consent endpoint by granting the app's
// configured roles and redirecting back with admin_consent=True.
func (s *Server) adminConsent(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
	q := r.URL.Query()
	app, appTenant := s.findApp(q.Get("client_id"))
	if app == nil {
		authorizeErrorPage(w, http.StatusBadRequest, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", q.Get("client_id")))
		return
	}
	if tc == nil {
		tc = appTenant
	}
	redirect := q.Get("redirect_uri")
	if !redirectAllowed(app, redirect) {
		authorizeErrorPage(w, http.StatusBadRequest, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, app.ClientID))
		return
	}
	redirectWith(w, r, redirect, "query", map[string]string{"tenant": tc.id, "state": q.Get("state"), "admin_consent": "True"})
}

// clientCredentials extracts client_id and client_secret from the Basic
// header or the form (client_secret_basic / client_secret_post).
func clientCredentials(r *http.Request) (id, secret string, basic bool) {
	if u, p, ok := r.BasicAuth(); ok {
		uid, err1 := url.QueryUnescape(u)
		ps, err2 := url.QueryUnescape(p)
		if err1 == nil && err2 == nil {
			return uid, ps, true
		}
		return u, p, true
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), false
}

// token is the token endpoint: authorization_code, refresh_token and
// client_credentials grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if grant != "authorization_code" && grant != "refresh_token" && grant != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.")
		return
	}
	clientID, secret, _ := clientCredentials(r)
	if clientID == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	app, appTenant := s.findApp(clientID)
	if tc == nil {
		if grant == "client_credentials" {
			entraError(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant 'common' not found. Use a tenant-specific endpoint for app-only tokens.")
			return
		}
		tc = appTenant
	}
	if app == nil || appTenant != tc {
		tn := "unknown"
		if tc != nil {
			tn = tc.id
		}
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, tn))
		return
	}
	app = tc.appSnapshot()
	if assertion := f.Get("client_assertion"); assertion != "" && secret == "" {
		if f.Get("client_assertion_type") != clientAssertionType {
			entraError(w, http.StatusBadRequest, "invalid_request", 7000219, "'client_assertion_type' must be '"+clientAssertionType+"'.")
			return
		}
		var auds []string
		for _, base := range []string{s.httpsBase, s.httpBase} {
			for _, name := range append([]string{tc.id}, tc.domains...) {
				if base != "" {
					auds = append(auds, base+"/"+name+"/oauth2/v2.0/token")
				}
			}
		}
		if code, desc := checkAssertion(app, assertion, auds, time.Now()); code != 0 {
			entraError(w, http.StatusUnauthorized, "invalid_client", code, desc)
			return
		}
	} else if secret == "" {
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	} else if subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+app.ClientID+"'.")
		return
	}
	if secret != "" && !app.SecretExpires.IsZero() && !tc.now().Before(app.SecretExpires) {
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000222, "The provided client secret keys for app '"+app.ClientID+"' are expired. Visit the Azure portal to create new keys for your app.")
		return
	}
	switch grant {
	case "client_credentials":
		s.grantClientCredentials(w, tc, app, f.Get("scope"))
	case "authorization_code":
		s.grantAuthCode(w, r, tc, app)
	case "refresh_token":
		s.grantRefresh(w, r, tc, app)
	}
}

// resource identifies what a token is for: Graph or one environment.
type resource struct {
	graph bool
	env   *envCtx
	id    string // the resource URL as requested, without trailing slash: the token's aud
}

// splitScope splits "https://host/path/Perm" into its resource and
// permission, resolving the resource against Graph and tc's environments.
func (s *Server) splitScope(tc *tenantCtx, scope string) (resource, string, error) {
	i := strings.LastIndex(scope, "/")
	if i <= 0 || !strings.Contains(scope, "://") {
		// Bare Graph permissions ("User.Read.All") name Graph, as on Microsoft.
		if i < 0 && scope != "" {
			return resource{graph: true, id: "https://graph.microsoft.com"}, scope, nil
		}
		return resource{}, "", fmt.Errorf("scope %q names no resource", scope)
	}
	res, perm := scope[:i], scope[i+1:]
	if perm == "" {
		return resource{}, "", fmt.Errorf("scope %q names no permission", scope)
	}
	rr, ok := s.resolveResource(tc, res)
	if !ok {
		return resource{}, "", fmt.Errorf("unknown resource %q", res)
	}
	return rr, perm, nil
}

// resolveResource maps a resource URL (token aud) to Graph or an environment.
func (s *Server) resolveResource(tc *tenantCtx, res string) (resource, bool) {
	res = strings.TrimRight(res, "/")
	switch res {
	case "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000", s.httpsBase, s.httpBase:
		if res != "" {
			return resource{graph: true, id: res}, true
		}
	}
	for _, base := range []string{s.httpsBase, s.httpBase} {
		if base == "" || !strings.HasPrefix(res, base+"/env/") {
			continue
		}
		org := strings.TrimPrefix(res, base+"/env/")
		if e := s.envsByOrg[strings.ToLower(org)]; e != nil && (tc == nil || e.tenant == tc) {
			return resource{env: e, id: res}, true
		}
	}
	return resource{}, false
}

func (s *Server) grantClientCredentials(w http.ResponseWriter, tc *tenantCtx, app *App, scope string) {
	var named []string
	for _, sc := range strings.Fields(scope) {
		if !oidcScopes[sc] {
			named = append(named, sc)
		}
	}
	if len(named) == 0 {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if len(named) > 1 {
		entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope "+strings.Join(named, " ")+" is not valid. A client credentials request may name only one resource's /.default scope.")
		return
	}
	res, perm, err := s.splitScope(tc, named[0])
	if err != nil || perm != ".default" {
		entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope "+named[0]+" is not valid.")
		return
	}
	claims := s.baseClaims(tc, app, res)
	claims["idtyp"] = "app"
	claims["oid"] = tc.servicePrincipalID()
	claims["sub"] = tc.servicePrincipalID()
	if res.graph && len(app.GraphRoles) > 0 {
		claims["roles"] = app.GraphRoles
	}
	at, exp, err := s.mintAccess(claims)
	if err != nil {
		entraError(w, http.StatusInternalServerError, "server_error", 90000, "Token signing failed.")
		return
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"token_type": "Bearer", "expires_in": exp, "ext_expires_in": exp, "access_token": at,
	})
}

// baseClaims are the claims shared by app-only and delegated access tokens.
func (s *Server) baseClaims(tc *tenantCtx, app *App, res resource) map[string]any {
	now := time.Now()
	return map[string]any{
		"aud": res.id, "iss": s.httpsBase + "/" + tc.id + "/v2.0", "iat": now.Unix(), "nbf": now.Unix() - 300,
		"tid": tc.id, "appid": app.ClientID, "azp": app.ClientID, "appidacr": "1", "azpacr": "1",
		"ver": "2.0", "uti": randToken("", 16), "rh": "0.SIM",
	}
}

// mintAccess sets exp from the configured access-token lifetime (wall
// clock) and signs; it returns the token and expires_in.
func (s *Server) mintAccess(claims map[string]any) (string, int, error) {
	life := s.tokenLifetime()
	exp := time.Now().Add(life)
	claims["exp"] = exp.Unix()
	claims["xms_sim_gen"] = s.tokenGen.Load()
	tok, err := s.signer.sign(claims)
	secs := int(life/time.Second) - 1
	if secs < 1 {
		secs = 1
	}
	return tok, secs, err
}

func pkceOK(challenge, method, verifier string) bool {
	if challenge == "" {
		return true
	}
	if verifier == "" {
		return false
	}
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
	}
	return subtle.ConstantTimeCompare([]byte(verifier), []byte(challenge)) == 1
}

func (s *Server) grantAuthCode(w http.ResponseWriter, r *http.Request, tc *tenantCtx, app *App) {
	f := r.PostForm
	code := f.Get("code")
	if code == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
		return
	}
	s.entra.mu.Lock()
	ac := s.entra.codes[code]
	var bad func()
	switch {
	case ac == nil || ac.clientID != app.ClientID || ac.tenant != tc:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid. The code is not valid.")
		}
	case ac.redeemed:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		}
	case time.Since(ac.issued) > 10*time.Minute:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
		}
	case f.Get("redirect_uri") != ac.redirectURI:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 50148, "The redirect_uri does not match the one used in the authorization request.")
		}
	case !pkceOK(ac.challenge, ac.method, f.Get("code_verifier")):
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	default:
		ac.redeemed = true
	}
	s.entra.mu.Unlock()
	if bad != nil {
		bad()
		return
	}
	s.issueDelegated(w, tc, app, ac.userID, ac.scopes, f.Get("scope"), ac.nonce, "")
}

func (s *Server) grantRefresh(w http.ResponseWriter, r *http.Request, tc *tenantCtx, app *App) {
	rt := r.PostForm.Get("refresh_token")
	if rt == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	}
	now := tc.now()
	s.entra.mu.Lock()
	g := s.entra.refresh[rt]
	var bad func()
	switch {
	case g == nil || g.clientID != app.ClientID || g.tenant != tc:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid. The refresh token is malformed or not valid.")
		}
	case g.revoked:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
		}
	case g.retired:
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
		}
	case now.Sub(g.lastUsed) > s.refreshInactivity():
		g.retired = true
		issued, inactive := g.issued, now.Sub(g.lastUsed)
		bad = func() {
			entraError(w, http.StatusBadRequest, "invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", issued.UTC().Format(time.RFC3339), inactive.Round(time.Second)))
		}
	default:
		g.retired = true
	}
	s.entra.mu.Unlock()
	if bad != nil {
		bad()
		return
	}
	if ok, enabled := tc.userState(g.userID); !ok || !enabled {
		entraError(w, http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	s.issueDelegated(w, tc, app, g.userID, g.scopes, r.PostForm.Get("scope"), "", g.family)
}

// issueDelegated answers a code or refresh redemption: an access token for
// the one resource named in requested (or the first resource consented when
// requested names none), a rotated refresh token when offline_access was
// consented, an id_token when openid was, and client_info.
func (s *Server) issueDelegated(w http.ResponseWriter, tc *tenantCtx, app *App, userID string, consented []string, requested, nonce, family string) {
	req := strings.Fields(requested)
	if len(req) == 0 {
		req = consented
	}
	var res *resource
	var perms []string
	var echo []string
	for _, sc := range req {
		if oidcScopes[sc] {
			if slices.Contains(consented, sc) {
				echo = append(echo, sc)
			}
			continue
		}
		rr, perm, err := s.splitScope(tc, sc)
		if err != nil {
			entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope "+sc+" is not valid.")
			return
		}
		if res == nil {
			res = &rr
		} else if res.graph != rr.graph || res.env != rr.env {
			if len(strings.Fields(requested)) == 0 {
				continue // refresh without scope: the first consented resource
			}
			entraError(w, http.StatusBadRequest, "invalid_scope", 28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope "+requested+" is not valid.")
			return
		}
		perms = append(perms, perm)
	}
	if res == nil {
		entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope names no resource.")
		return
	}
	// Permissions granted: .default means everything consented for the resource.
	var scp []string
	allowed := []string{"user_impersonation"}
	if res.graph {
		allowed = app.GraphScopes
	}
	for _, p := range perms {
		if p == ".default" {
			for _, a := range allowed {
				if !slices.Contains(scp, a) {
					scp = append(scp, a)
				}
			}
			continue
		}
		if !slices.Contains(allowed, p) {
			entraError(w, http.StatusBadRequest, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s'. Send an interactive authorization request for this user and resource (permission %s).", app.ClientID, p))
			return
		}
		if !slices.Contains(scp, p) {
			scp = append(scp, p)
		}
	}
	upn, name, _ := tc.userNames(userID)
	claims := s.baseClaims(tc, app, *res)
	claims["idtyp"] = "user"
	claims["oid"] = userID
	claims["sub"] = userID
	claims["upn"] = upn
	claims["unique_name"] = upn
	claims["name"] = name
	claims["scp"] = strings.Join(scp, " ")
	at, exp, err := s.mintAccess(claims)
	if err != nil {
		entraError(w, http.StatusInternalServerError, "server_error", 90000, "Token signing failed.")
		return
	}
	echoScopes := make([]string, 0, len(scp)+len(echo))
	for _, p := range scp {
		echoScopes = append(echoScopes, res.id+"/"+p)
	}
	echoScopes = append(echoScopes, echo...)
	out := map[string]any{"token_type": "Bearer", "scope": strings.Join(echoScopes, " "), "expires_in": exp, "ext_expires_in": exp, "access_token": at}
	if slices.Contains(consented, "offline_access") {
		if family == "" {
			family = newGUID()
		}
		rt := randToken("1.SIM", 96)
		now := tc.now()
		s.entra.mu.Lock()
		issued := now
		for _, old := range s.entra.families[family] {
			if g := s.entra.refresh[old]; g != nil {
				issued = g.issued
				break
			}
		}
		s.entra.refresh[rt] = &refreshGrant{tenant: tc, clientID: app.ClientID, userID: userID, scopes: consented, family: family, issued: issued, lastUsed: now}
		s.entra.families[family] = append(s.entra.families[family], rt)
		s.entra.mu.Unlock()
		out["refresh_token"] = rt
	}
	if slices.Contains(consented, "openid") {
		idc := map[string]any{
			"aud": app.ClientID, "iss": s.httpsBase + "/" + tc.id + "/v2.0", "iat": time.Now().Unix(), "nbf": time.Now().Unix(),
			"exp": time.Now().Add(time.Hour).Unix(), "tid": tc.id, "oid": userID, "sub": userID, "ver": "2.0",
			"preferred_username": upn, "name": name,
		}
		if nonce != "" {
			idc["nonce"] = nonce
		}
		idt, err := s.signer.sign(idc)
		if err == nil {
			out["id_token"] = idt
		}
	}
	ci, _ := json.Marshal(map[string]string{"uid": userID, "utid": tc.id})
	out["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", out)
}

// RevokeRefreshTokens revokes every refresh token issued to userID in the
// tenant (all users when userID is ""), as an administrator's "revoke
// sessions" does; their next use fails with invalid_grant AADSTS50173. It
// returns how many tokens were revoked.
func (s *Server) RevokeRefreshTokens(tenantID, userID string) int {
	s.entra.mu.Lock()
	defer s.entra.mu.Unlock()
	n := 0
	for _, g := range s.entra.refresh {
		if g.tenant.id != strings.ToLower(tenantID) || (userID != "" && !strings.EqualFold(g.userID, userID)) || g.retired || g.revoked {
			continue
		}
		g.revoked = true
		n++
	}
	return n
}
