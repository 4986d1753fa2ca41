package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Certificate is an application's certificate credential: the X.509
// certificate uploaded to the app registration and its RSA private key,
// which signs client assertions. Its String never shows the key.
type Certificate struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	x5t  string
}

// ParseCertificate reads a PEM bundle holding one CERTIFICATE block and its
// RSA private key (PRIVATE KEY in PKCS #8 or RSA PRIVATE KEY in PKCS #1).
// EINVALID when a part is missing, the key is not RSA or does not belong to
// the certificate; messages never repeat the input.
func ParseCertificate(pemData []byte) (*Certificate, error) {
	var c Certificate
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if c.cert != nil {
				continue // a chain: the first certificate is the app's
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, sam.Errorf(sam.EINVALID, "the certificate is not valid X.509: %v", err)
			}
			c.cert = cert
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, sam.Errorf(sam.EINVALID, "the private key is not valid PKCS #8")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, sam.Errorf(sam.EINVALID, "the private key is not an RSA key (Microsoft Entra client assertions use RS256)")
			}
			c.key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, sam.Errorf(sam.EINVALID, "the private key is not valid PKCS #1")
			}
			c.key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, sam.Errorf(sam.EINVALID, "the private key is encrypted: export it without a password (it is stored encrypted by Seatwise)")
		}
	}
	if c.cert == nil {
		return nil, sam.Errorf(sam.EINVALID, "no CERTIFICATE block found in the PEM data")
	}
	if c.key == nil {
		return nil, sam.Errorf(sam.EINVALID, "no private key found in the PEM data (the certificate alone cannot sign)")
	}
	pub, ok := c.cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&c.key.PublicKey) {
		return nil, sam.Errorf(sam.EINVALID, "the private key does not belong to the certificate")
	}
	sum := sha1.Sum(c.cert.Raw)
	c.x5t = base64.RawURLEncoding.EncodeToString(sum[:])
	return &c, nil
}

// Thumbprint returns the certificate's SHA-1 thumbprint in base64url, the
// x5t header of its assertions.
func (c *Certificate) Thumbprint() string { return c.x5t }

// NotAfter returns when the certificate expires.
func (c *Certificate) NotAfter() time.Time { return c.cert.NotAfter }

// String describes the certificate without its key.
func (c *Certificate) String() string {
	return "certificate(" + c.cert.Subject.String() + ", x5t " + c.x5t + ")"
}

// Assertion returns a client assertion for clientID: a JWT signed RS256
// with header x5t, claims aud (the token endpoint), iss and sub (the client
// id), a random jti, nbf and iat (now) and exp (now + 10 minutes).
func (c *Certificate) Assertion(clientID, audience string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "generating an assertion id")
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": c.x5t})
	claims, _ := json.Marshal(map[string]any{
		"aud": audience, "iss": clientID, "sub": clientID, "jti": base64.RawURLEncoding.EncodeToString(jti),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "signing the client assertion")
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
