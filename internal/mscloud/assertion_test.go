package mscloud

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// testCert is a self-signed certificate and its key.
type testCert struct {
	key *rsa.PrivateKey
	der []byte
	pem string
	x5t string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seatwise"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	return testCert{key: k, der: der, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), x5t: b64.EncodeToString(sum[:])}
}

// assertionJWT signs claims with key under header x5t and alg.
func assertionJWT(t *testing.T, key *rsa.PrivateKey, alg, x5t string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "x5t": x5t})
	c, _ := json.Marshal(claims)
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func TestClientAssertion(t *testing.T) {
	b := setup(t, 5, 1)
	cert, other := newTestCert(t), newTestCert(t)
	b.s.UpdateApp(b.info.TenantID, func(a *App) { a.Certificates = []string{cert.pem} })
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"aud": b.tokenURL(), "iss": b.info.ClientID, "sub": b.info.ClientID, "jti": "j1",
			"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	form := func(assertion, typ string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID}, "scope": {b.info.GraphScope},
			"client_assertion_type": {typ}, "client_assertion": {assertion}}
	}
	good := assertionJWT(t, cert.key, "RS256", cert.x5t, claims(nil))
	tests := []struct {
		name   string
		form   url.Values
		status int
		aadsts int
	}{
		{"good", form(good, clientAssertionType), 200, 0},
		{"audience by domain", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) {
			c["aud"] = []string{b.info.LoginURL + "/" + b.info.Tenants[0].Domain + "/oauth2/v2.0/token"}
		})), clientAssertionType), 200, 0},
		{"wrong assertion type", form(good, "urn:other"), 400, 7000219},
		{"unregistered certificate", form(assertionJWT(t, other.key, "RS256", other.x5t, claims(nil)), clientAssertionType), 401, 700027},
		{"signed by another key", form(assertionJWT(t, other.key, "RS256", cert.x5t, claims(nil)), clientAssertionType), 401, 700027},
		{"not RS256", form(assertionJWT(t, cert.key, "PS256", cert.x5t, claims(nil)), clientAssertionType), 401, 700025},
		{"not a JWT", form("abc.def", clientAssertionType), 401, 700025},
		{"issuer is not the client", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) { c["iss"] = "someone" })), clientAssertionType), 401, 700023},
		{"other audience", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) { c["aud"] = "https://example.com/token" })), clientAssertionType), 401, 700021},
		{"expired", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), clientAssertionType), 401, 700024},
		{"not yet valid", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), clientAssertionType), 401, 700024},
		{"no jti", form(assertionJWT(t, cert.key, "RS256", cert.x5t, claims(func(c map[string]any) { delete(c, "jti") })), clientAssertionType), 401, 700025},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.postForm(t, b.tokenURL(), tt.form, "", "")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.aadsts == 0 {
				var tr struct {
					AccessToken string `json:"access_token"`
				}
				json.Unmarshal(body, &tr)
				if c := decodeClaims(t, tr.AccessToken); c["appid"] != b.info.ClientID || c["idtyp"] != "app" {
					t.Errorf("claims %v", c)
				}
				return
			}
			if _, n := entraErr(t, body); n != tt.aadsts {
				t.Errorf("AADSTS%d, want %d: %s", n, tt.aadsts, body)
			}
		})
	}
	// The secret still works beside the certificate; an expired secret
	// does not affect the certificate.
	b.s.UpdateApp(b.info.TenantID, func(a *App) { a.SecretExpires = b.s.Tenant().Now().Add(-time.Minute) })
	if status, body := b.postForm(t, b.tokenURL(), form(good, clientAssertionType), "", ""); status != 200 {
		t.Errorf("certificate with an expired secret: %d %s", status, body)
	}
}
