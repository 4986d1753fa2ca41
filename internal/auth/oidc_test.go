package auth_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/sam"
)

// provider is a minimal OpenID provider over real HTTP: discovery and a
// JWKS with one key; tokens are signed by the test.
type provider struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	kid    string
	issuer string
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{key: k, kid: "k1"}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL + "/tenant/v2.0"
	mux.HandleFunc("GET /tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.issuer, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		e := big.NewInt(int64(k.PublicKey.E)).Bytes()
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{"kty": "RSA", "use": "sig", "kid": p.kid,
			"n": base64.RawURLEncoding.EncodeToString(k.PublicKey.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(e)}}})
	})
	return p
}

// sign returns a compact JWT of claims with header alg and kid.
func (p *provider) sign(t *testing.T, alg, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyIDToken(t *testing.T) {
	p := newProvider(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: p.issuer, ClientID: "client-1", RedirectURL: "http://127.0.0.1/cb",
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any {
		return map[string]any{"iss": p.issuer, "aud": "client-1", "sub": "s-1", "nonce": "n-1", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "preferred_username": "Ada@Contoso.com"}
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		alg    string
		kid    string
		claims map[string]any
		nonce  string
		want   string // "" means accepted
	}{
		{name: "valid", claims: good()},
		{name: "audience list with azp", claims: with("aud", []string{"other", "client-1"}), want: "another party"},
		{name: "audience list and azp", claims: func() map[string]any {
			c := with("aud", []string{"other", "client-1"})
			c["azp"] = "client-1"
			return c
		}()},
		{name: "expired beyond leeway", claims: with("exp", now.Add(-3*time.Minute).Unix()), want: "expired"},
		{name: "expired within leeway", claims: with("exp", now.Add(-time.Minute).Unix())},
		{name: "not yet valid", claims: with("nbf", now.Add(10*time.Minute).Unix()), want: "not valid before"},
		{name: "issued in the future", claims: with("iat", now.Add(10*time.Minute).Unix()), want: "future"},
		{name: "no expiry", claims: with("exp", nil), want: "no expiry"},
		{name: "other issuer", claims: with("iss", "https://evil.example/v2.0"), want: "issuer"},
		{name: "other audience", claims: with("aud", "client-2"), want: "audience"},
		{name: "no subject", claims: with("sub", nil), want: "no subject"},
		{name: "wrong nonce", claims: good(), nonce: "n-2", want: "nonce"},
		{name: "no nonce in token", claims: with("nonce", nil), want: "nonce"},
		{name: "alg none", alg: "none", claims: good(), want: "not RS256"},
		{name: "alg HS256", alg: "HS256", claims: good(), want: "not RS256"},
		{name: "unknown key", kid: "k9", claims: good(), want: "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, kid, nonce := tc.alg, tc.kid, tc.nonce
			if alg == "" {
				alg = "RS256"
			}
			if kid == "" {
				kid = p.kid
			}
			if nonce == "" {
				nonce = "n-1"
			}
			c, err := o.VerifyIDToken(t.Context(), p.sign(t, alg, kid, tc.claims), nonce)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "s-1" || c.PreferredUsername != "Ada@Contoso.com" {
					t.Errorf("claims %+v", c)
				}
				return
			}
			if err == nil || !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want unauthorized naming %q", err, tc.want)
			}
		})
	}
	// A signature over other claims does not verify.
	tok := p.sign(t, "RS256", p.kid, good())
	parts := strings.Split(tok, ".")
	forged, _ := json.Marshal(with("sub", "admin"))
	parts[1] = base64.RawURLEncoding.EncodeToString(forged)
	if _, err := o.VerifyIDToken(t.Context(), strings.Join(parts, "."), "n-1"); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("forged claims: %v", err)
	}
	for _, bad := range []string{"", "a.b", "a.b.c", "!!.!!.!!"} {
		if _, err := o.VerifyIDToken(t.Context(), bad, "n-1"); err == nil {
			t.Errorf("VerifyIDToken(%q) accepted", bad)
		}
	}
}

func TestOIDCDiscoveryIssuerMismatch(t *testing.T) {
	p := newProvider(t)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: p.srv.URL + "/tenant/v2.0/", ClientID: "c", RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Start(t.Context(), "/"); err != nil {
		t.Fatalf("a trailing slash on the issuer: %v", err)
	}
	p.issuer = "https://someone-else/v2.0"
	o2, _ := auth.NewOIDC(auth.OIDCConfig{Issuer: p.srv.URL + "/tenant/v2.0", ClientID: "c", RedirectURL: "http://127.0.0.1/cb"})
	if _, _, err := o2.Start(t.Context(), "/"); err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Errorf("discovery of another issuer: %v", err)
	}
}

func TestOIDCRoleRules(t *testing.T) {
	p := newProvider(t)
	now := time.Now()
	rules, err := auth.ParseOIDCRules("groups:G-Admins=admin, roles:Seatwise.Manager=sam_manager\n domain:contoso.com=viewer; tid:t-1=sam_integrator")
	if err != nil {
		t.Fatal(err)
	}
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: p.issuer, ClientID: "c", RedirectURL: "http://127.0.0.1/cb", Rules: rules,
		DefaultRole: auth.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	noDefault, _ := auth.NewOIDC(auth.OIDCConfig{Issuer: p.issuer, ClientID: "c", RedirectURL: "http://127.0.0.1/cb", Rules: rules})
	for _, tc := range []struct {
		name   string
		extra  map[string]any
		want   auth.Role
		wantOK bool // without a default role
	}{
		{"group (case-insensitive)", map[string]any{"groups": []string{"x", "g-admins"}, "preferred_username": "a@fabrikam.com"}, auth.RoleAdmin, true},
		{"app role", map[string]any{"roles": []string{"Seatwise.Manager"}, "preferred_username": "a@fabrikam.com"}, auth.RoleSAMManager, true},
		{"first rule wins", map[string]any{"roles": []string{"Seatwise.Manager"}, "groups": []string{"G-Admins"}}, auth.RoleAdmin, true},
		{"domain", map[string]any{"preferred_username": "Ada@Contoso.com"}, auth.RoleViewer, true},
		{"domain from email", map[string]any{"email": "ada@contoso.com"}, auth.RoleViewer, true},
		{"other claim", map[string]any{"tid": "t-1", "preferred_username": "a@fabrikam.com"}, auth.RoleSAMIntegrator, true},
		{"no rule: default", map[string]any{"preferred_username": "a@fabrikam.com"}, auth.RoleViewer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"iss": p.issuer, "aud": "c", "sub": "s", "nonce": "n", "exp": now.Add(time.Hour).Unix()}
			for k, v := range tc.extra {
				claims[k] = v
			}
			c, err := o.VerifyIDToken(t.Context(), p.sign(t, "RS256", p.kid, claims), "n")
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := o.RoleFor(c); r != tc.want || !ok {
				t.Errorf("RoleFor = %s %v, want %s", r, ok, tc.want)
			}
			if _, ok := noDefault.RoleFor(c); ok != tc.wantOK {
				t.Errorf("without a default role: matched %v, want %v", ok, tc.wantOK)
			}
		})
	}
}
