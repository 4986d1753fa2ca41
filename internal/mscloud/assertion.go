package mscloud

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
)

// clientAssertionType is the only client_assertion_type Entra accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock skew tolerated on nbf and exp.
const assertionSkew = 5 * time.Minute

// checkAssertion verifies a client assertion (private_key_jwt) of app as
// Entra does: RS256 signed by a certificate registered on the app (found by
// its x5t, the SHA-1 thumbprint), iss and sub equal to the client id, aud
// one of the tenant's token endpoint URLs, within nbf..exp (wall clock,
// five minutes of skew). It returns the AADSTS code and description of a
// refusal, 0 when the assertion is good.
func checkAssertion(app *App, assertion string, audiences []string, now time.Time) (int, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return 700025, "Client assertion is not a valid JWT."
	}
	var hdr struct {
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Nbf int64  `json:"nbf"`
		Exp int64  `json:"exp"`
	}
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return 700025, "Client assertion is not a valid JWT."
	}
	if hdr.Alg != "RS256" {
		return 700025, fmt.Sprintf("Client assertion uses the unsupported algorithm '%s'; use RS256.", hdr.Alg)
	}
	var key *rsa.PublicKey
	for _, p := range app.Certificates {
		b, _ := pem.Decode([]byte(p))
		if b == nil {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue
		}
		sum := sha1.Sum(cert.Raw)
		if b64.EncodeToString(sum[:]) == hdr.X5t {
			key, _ = cert.PublicKey.(*rsa.PublicKey)
			break
		}
	}
	if key == nil {
		return 700027, fmt.Sprintf("Client assertion failed signature validation. Key was not found. Thumbprint of key used by client: '%s'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.", hdr.X5t, app.ClientID)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return 700027, "Client assertion failed signature validation."
	}
	if claims.Iss != app.ClientID || claims.Sub != app.ClientID {
		return 700023, "Client assertion audience claim does not match Realm issuer. The iss and sub claims must be the client id."
	}
	var auds []string
	switch a := claims.Aud.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(audiences, a) }) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter, or its audience is not this tenant's token endpoint."
	}
	if claims.Jti == "" {
		return 700025, "Client assertion contains no jti claim."
	}
	if claims.Exp == 0 || now.After(time.Unix(claims.Exp, 0).Add(assertionSkew)) || (claims.Nbf != 0 && now.Add(assertionSkew).Before(time.Unix(claims.Nbf, 0))) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}
