package mscloud

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// signer signs and verifies RS256 JWTs with one RSA key whose public half
// is published in the JWKS document.
type signer struct {
	key *rsa.PrivateKey
	kid string
}

func newSigner() (*signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	sum := sha256.Sum256(k.PublicKey.N.Bytes())
	return &signer{key: k, kid: base64.RawURLEncoding.EncodeToString(sum[:15])}, nil
}

var b64 = base64.RawURLEncoding

// sign returns the compact JWT for claims.
func (s *signer) sign(claims any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.kid, "x5t": s.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	h := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, h[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

var errCompactToken = errors.New("CompactToken parsing failed")

// verify checks the signature of a compact JWT and decodes its claims.
func (s *signer) verify(tok string, claims any) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errCompactToken
	}
	hdrRaw, err := b64.DecodeString(parts[0])
	if err != nil {
		return errCompactToken
	}
	var hdr struct{ Alg, Kid string }
	if json.Unmarshal(hdrRaw, &hdr) != nil || hdr.Alg != "RS256" {
		return errCompactToken
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return errCompactToken
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, h[:], sig) != nil {
		return errors.New("signature verification failed")
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return errCompactToken
	}
	if err := json.Unmarshal(body, claims); err != nil {
		return errCompactToken
	}
	return nil
}

// jwks returns the JSON Web Key Set publishing the verification key.
func (s *signer) jwks(issuer string) map[string]any {
	e := big.NewInt(int64(s.key.PublicKey.E)).Bytes()
	return map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": s.kid, "x5t": s.kid,
		"n": b64.EncodeToString(s.key.PublicKey.N.Bytes()), "e": b64.EncodeToString(e),
		"issuer": issuer,
	}}}
}
