package mscloud

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestDiscoveryAndKeys(t *testing.T) {
	b := setup(t, 5, 1)
	d := b.getJSON(t, b.info.LoginURL+"/"+b.info.TenantID+"/v2.0/.well-known/openid-configuration", "", 200)
	if d["issuer"] != b.info.LoginURL+"/"+b.info.TenantID+"/v2.0" {
		t.Errorf("issuer = %v", d["issuer"])
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri"} {
		if s, _ := d[k].(string); !strings.HasPrefix(s, b.info.LoginURL+"/") {
			t.Errorf("%s = %v", k, d[k])
		}
	}
	keys := b.getJSON(t, d["jwks_uri"].(string), "", 200)
	if ks, _ := keys["keys"].([]any); len(ks) != 1 {
		t.Errorf("jwks = %v", keys)
	}
	inst := b.getJSON(t, b.info.LoginURL+"/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape(b.info.LoginURL+"/"+b.info.TenantID+"/oauth2/v2.0/authorize"), "", 200)
	if !strings.HasSuffix(inst["tenant_discovery_endpoint"].(string), "/"+b.info.TenantID+"/v2.0/.well-known/openid-configuration") {
		t.Errorf("instance discovery = %v", inst)
	}
	st, _, body := b.call(t, "GET", b.info.LoginURL+"/00000000-0000-0000-0000-00000000dead/v2.0/.well-known/openid-configuration", "", nil)
	if st != 400 {
		t.Fatalf("unknown tenant: %d", st)
	}
	if code, n := entraErr(t, body); code != "invalid_request" || n != 90002 {
		t.Errorf("unknown tenant: %s %d", code, n)
	}
}

func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(raw, &c)
	return c
}

func TestClientCredentials(t *testing.T) {
	b := setup(t, 5, 2)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		cc := clientcredentials.Config{ClientID: b.info.ClientID, ClientSecret: b.info.ClientSecret, TokenURL: b.tokenURL(),
			Scopes: []string{b.info.GraphScope, "openid", "offline_access", "profile"}, AuthStyle: style}
		tok, err := cc.Token(b.ctx)
		if err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		c := decodeClaims(t, tok.AccessToken)
		if c["tid"] != b.info.TenantID || c["appid"] != b.info.ClientID || c["idtyp"] != "app" || c["aud"] != b.info.LoginURL {
			t.Errorf("claims = %v", c)
		}
		if roles, _ := c["roles"].([]any); len(roles) == 0 {
			t.Errorf("app-only Graph token without roles: %v", c)
		}
		if tok.RefreshToken != "" {
			t.Errorf("client credentials returned a refresh token")
		}
		if exp := time.Until(tok.Expiry); exp < 50*time.Minute || exp > 61*time.Minute {
			t.Errorf("expiry in %v", exp)
		}
	}
	// The raw response: numbers, Bearer, no scope/refresh/id token.
	st, body := b.postForm(t, b.tokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID},
		"client_secret": {b.info.ClientSecret}, "scope": {b.info.Environments[1].Scope}}, "", "")
	if st != 200 {
		t.Fatalf("status %d: %s", st, body)
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	if raw["expires_in"] != float64(3599) || raw["ext_expires_in"] != float64(3599) || raw["token_type"] != "Bearer" || len(raw) != 4 {
		t.Errorf("response = %s", body)
	}
	if c := decodeClaims(t, raw["access_token"].(string)); c["aud"] != b.info.Environments[1].URL || c["roles"] != nil {
		t.Errorf("Dataverse token claims = %v", c)
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	b := setup(t, 5, 1)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID}, "client_secret": {b.info.ClientSecret}, "scope": {b.info.GraphScope}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name   string
		url    string
		form   url.Values
		status int
		code   string
		aadsts int
	}{
		{"bad secret", b.tokenURL(), with("client_secret", "wrong"), 401, "invalid_client", 7000215},
		{"no secret", b.tokenURL(), with("client_secret", ""), 401, "invalid_client", 7000218},
		{"unknown app", b.tokenURL(), with("client_id", "11111111-2222-3333-4444-555555555555"), 400, "unauthorized_client", 700016},
		{"unknown tenant", b.info.LoginURL + "/contoso-nowhere.onmicrosoft.com/oauth2/v2.0/token", good, 400, "invalid_request", 90002},
		{"two resources", b.tokenURL(), with("scope", b.info.GraphScope+" "+b.info.Environments[0].Scope), 400, "invalid_scope", 70011},
		{"not .default", b.tokenURL(), with("scope", b.info.LoginURL+"/User.Read.All"), 400, "invalid_scope", 70011},
		{"unknown resource", b.tokenURL(), with("scope", "https://foo.microsoft.com/.default"), 400, "invalid_scope", 70011},
		{"no scope", b.tokenURL(), with("scope", ""), 400, "invalid_request", 900144},
		{"bad grant", b.tokenURL(), with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
	}
	for _, tt := range tests {
		st, body := b.postForm(t, tt.url, tt.form, "", "")
		if st != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, st, tt.status, body)
			continue
		}
		if code, n := entraErr(t, body); code != tt.code || n != tt.aadsts {
			t.Errorf("%s: %s AADSTS%d, want %s AADSTS%d", tt.name, code, n, tt.code, tt.aadsts)
		}
	}
	// Basic authentication with a wrong secret.
	f := with("client_secret", "")
	f.Del("client_id")
	if st, body := b.postForm(t, b.tokenURL(), f, b.info.ClientID, "wrong"); st != 401 {
		t.Errorf("basic with bad secret: %d %s", st, body)
	}
	// An expired secret, on the tenant's clock.
	b.s.UpdateApp(b.info.TenantID, func(a *App) { a.SecretExpires = b.s.Tenant().Now().Add(-time.Second) })
	st, body := b.postForm(t, b.tokenURL(), good, "", "")
	if st != 401 {
		t.Fatalf("expired secret: %d %s", st, body)
	}
	if code, n := entraErr(t, body); code != "invalid_client" || n != 7000222 {
		t.Errorf("expired secret: %s %d", code, n)
	}
}

// signIn drives the authorize page like a browser: GET the page, POST the
// form with the given login, and returns the redirect.
func (b *bundle) signIn(t *testing.T, authURL, login string) *url.URL {
	t.Helper()
	st, _, page := b.call(t, "GET", authURL, "", nil)
	if st != 200 || !strings.Contains(string(page), "<form") {
		t.Fatalf("authorize page: %d %s", st, page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	action := regexp.MustCompile(`<form method="post" action="([^"]+)">`).FindStringSubmatch(string(page))[1]
	form.Set("login", login)
	form.Set("consent", "accept")
	req, _ := http.NewRequest("POST", htmlUnescape(action), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent POST: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`).Replace(s)
}

func (b *bundle) delegatedConfig(redirect string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: b.info.ClientID, ClientSecret: b.info.ClientSecret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: b.info.LoginURL + "/" + b.info.TenantID + "/oauth2/v2.0/authorize", TokenURL: b.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
}

func (b *bundle) adminUPN(t *testing.T) string {
	t.Helper()
	users, _, err := b.s.Tenant().UsersPage("", 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.AccountEnabled {
			return u.UserPrincipalName
		}
	}
	t.Fatal("no enabled user")
	return ""
}

func TestAuthorizationCodePKCE(t *testing.T) {
	b := setup(t, 10, 1)
	conf := b.delegatedConfig("http://127.0.0.1:53682/callback", "openid", "profile", "offline_access", b.info.GraphScope)
	verifier := oauth2.GenerateVerifier()
	u := b.signIn(t, conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)), b.adminUPN(t))
	if u.Query().Get("state") != "st-1" || u.Query().Get("code") == "" || u.Host != "127.0.0.1:53682" {
		t.Fatalf("redirect = %v", u)
	}
	code := u.Query().Get("code")
	if _, err := conf.Exchange(b.ctx, code, oauth2.VerifierOption("wrong-verifier-wrong-verifier-wrong-verifier")); err == nil {
		t.Fatal("exchange with a wrong verifier succeeded")
	}
	// A failed PKCE check does not consume the code... but Microsoft's codes
	// are single-use once redeemed; sign in again for a clean code.
	u = b.signIn(t, conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)), b.adminUPN(t))
	code = u.Query().Get("code")
	tok, err := conf.Exchange(b.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil || tok.Extra("client_info") == nil {
		t.Errorf("token lacks refresh_token, id_token or client_info: %+v", tok)
	}
	c := decodeClaims(t, tok.AccessToken)
	if c["idtyp"] != "user" || c["scp"] == "" || c["oid"] == "" {
		t.Errorf("delegated claims = %v", c)
	}
	var ci map[string]string
	raw, _ := base64.RawURLEncoding.DecodeString(tok.Extra("client_info").(string))
	json.Unmarshal(raw, &ci)
	if ci["uid"] != c["oid"] || ci["utid"] != b.info.TenantID {
		t.Errorf("client_info = %v", ci)
	}
	// The code is single-use.
	_, err = conf.Exchange(b.ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(string(re.Body), "54005") {
		t.Errorf("second redemption: %v", err)
	}
	// The delegated token works on Graph.
	if st, _, body := b.call(t, "GET", b.info.GraphURL+"/users?$top=1", tok.AccessToken, nil); st != 200 {
		t.Errorf("Graph with a delegated token: %d %s", st, body)
	}
	// plain PKCE.
	u = b.signIn(t, conf.AuthCodeURL("st-3", oauth2.SetAuthURLParam("code_challenge", "plain-verifier-plain-verifier-plain-verifier-1"), oauth2.SetAuthURLParam("code_challenge_method", "plain")), b.adminUPN(t))
	if _, err := conf.Exchange(b.ctx, u.Query().Get("code"), oauth2.VerifierOption("plain-verifier-plain-verifier-plain-verifier-1")); err != nil {
		t.Errorf("plain PKCE: %v", err)
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

func TestAuthorizeRejects(t *testing.T) {
	b := setup(t, 5, 1)
	conf := b.delegatedConfig("https://evil.example/callback", "openid", b.info.GraphScope)
	st, _, body := b.call(t, "GET", conf.AuthCodeURL("x"), "", nil)
	if st != 400 || !strings.Contains(string(body), "AADSTS50011") {
		t.Errorf("unregistered redirect: %d %s", st, body)
	}
	conf = b.delegatedConfig("http://localhost:8080/cb", "openid", b.info.GraphScope)
	// Cancel → access_denied redirect.
	st, _, page := b.call(t, "GET", conf.AuthCodeURL("s9"), "", nil)
	if st != 200 {
		t.Fatalf("authorize: %d", st)
	}
	form := url.Values{"client_id": {b.info.ClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:8080/cb"}, "scope": {"openid " + b.info.GraphScope}, "state": {"s9"}, "consent": {"cancel"}}
	req, _ := http.NewRequest("POST", b.info.LoginURL+"/"+b.info.TenantID+"/oauth2/v2.0/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s9" {
		t.Errorf("cancel: %d %v", resp.StatusCode, loc)
	}
	// Unknown user → the page again with an error.
	form.Set("consent", "accept")
	form.Set("login", "nobody@nowhere.example")
	req, _ = http.NewRequest("POST", b.info.LoginURL+"/"+b.info.TenantID+"/oauth2/v2.0/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
	_ = page
}

func TestRefreshRotationAndRevocation(t *testing.T) {
	b := setup(t, 10, 1)
	conf := b.delegatedConfig("http://127.0.0.1:1/cb", "openid", "offline_access", b.info.GraphScope)
	verifier := oauth2.GenerateVerifier()
	u := b.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), b.adminUPN(t))
	tok, err := conf.Exchange(b.ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return conf.TokenSource(b.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	t2, err := refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if t2.RefreshToken == "" || t2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	// The same refresh token redeemed for a Dataverse token (one token, any consented resource).
	st, body := b.postForm(t, b.tokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {b.info.ClientID}, "client_secret": {b.info.ClientSecret},
		"refresh_token": {t2.RefreshToken}, "scope": {b.info.Environments[0].URL + "/user_impersonation offline_access"}}, "", "")
	if st != 200 {
		t.Fatalf("refresh for Dataverse: %d %s", st, body)
	}
	var t3 struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(body, &t3)
	if c := decodeClaims(t, t3.AccessToken); c["aud"] != b.info.Environments[0].URL {
		t.Errorf("Dataverse delegated aud = %v", c["aud"])
	}
	// The rotated-out token fails.
	_, err = refresh(tok.RefreshToken)
	var re *oauth2.RetrieveError
	if !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(string(re.Body), "70008") {
		t.Errorf("old refresh token: %v", err)
	}
	// Revocation through the control API.
	var rev struct{ Revoked int }
	b.control(t, "POST", "/tenants/_/revoke", map[string]string{"user_id": ""}, &rev)
	if rev.Revoked != 1 {
		t.Errorf("revoked %d tokens, want 1", rev.Revoked)
	}
	_, err = refresh(t3.RefreshToken)
	if !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(string(re.Body), "50173") {
		t.Errorf("revoked refresh token: %v", err)
	}
	// Inactivity expiry on the tenant clock.
	u = b.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), b.adminUPN(t))
	tok, err = conf.Exchange(b.ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	b.control(t, "POST", "/tenants/_/clock", map[string]string{"advance": "2184h"}, nil)
	_, err = refresh(tok.RefreshToken)
	if !asRetrieve(err, &re) || !strings.Contains(string(re.Body), "700082") {
		t.Errorf("inactive refresh token: %v", err)
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	b := setup(t, 5, 1)
	b.s.SetTokenLifetime(1100 * time.Millisecond)
	st, body := b.postForm(t, b.tokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID}, "client_secret": {b.info.ClientSecret}, "scope": {b.info.GraphScope}}, "", "")
	if st != 200 {
		t.Fatal(st, string(body))
	}
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.Unmarshal(body, &r)
	if r.ExpiresIn != 1 {
		t.Errorf("expires_in = %d, want 1", r.ExpiresIn)
	}
	time.Sleep(1200 * time.Millisecond)
	st, _, body = b.call(t, "GET", b.info.GraphURL+"/users", r.AccessToken, nil)
	if st != 401 || !strings.Contains(string(body), "Access token has expired or is not yet valid.") {
		t.Errorf("expired token: %d %s", st, body)
	}
}

func oauthParam(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }
