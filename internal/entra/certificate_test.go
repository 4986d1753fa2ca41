package entra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// certPEM returns a self-signed certificate for key and the key in PEM
// (PKCS #8, or PKCS #1 when pkcs1).
func certPEM(t testing.TB, key *rsa.PrivateKey, pkcs1 bool) (certOnly, keyOnly string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Seatwise"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var kb *pem.Block
	if pkcs1 {
		kb = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	} else {
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		kb = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(kb))
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseCertificate(t *testing.T) {
	k, other := rsaKey(t), rsaKey(t)
	cert, key8 := certPEM(t, k, false)
	_, key1 := certPEM(t, k, true)
	_, otherKey := certPEM(t, other, false)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecb, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecb}))
	tests := []struct {
		name, pem, err string
	}{
		{"pkcs8", cert + key8, ""},
		{"pkcs1, key first", key1 + cert, ""},
		{"no key", cert, "no private key"},
		{"no certificate", key8, "no CERTIFICATE"},
		{"key of another certificate", cert + otherKey, "does not belong"},
		{"not RSA", cert + ecKey, "not an RSA key"},
		{"encrypted key", cert + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"garbage", "hello", "no CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := entra.ParseCertificate([]byte(tt.pem))
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Thumbprint()) != 27 || strings.Contains(c.String(), "PRIVATE") {
					t.Errorf("thumbprint %q, %s", c.Thumbprint(), c)
				}
				return
			}
			if !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want EINVALID containing %q", err, tt.err)
			}
		})
	}
}

func FuzzParseCertificate(f *testing.F) {
	k := rsaKey(f)
	cert, key := certPEM(f, k, false)
	f.Add([]byte(cert + key))
	f.Add([]byte(cert))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := entra.ParseCertificate(data)
		if err == nil && c.Thumbprint() == "" {
			t.Error("a parsed certificate has no thumbprint")
		}
		if err != nil && !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("error code %s", sam.ErrorCode(err))
		}
	})
}

// TestCertificateCredential obtains Graph and Dataverse tokens from the
// simulator with a client assertion, and is refused with an explained error
// when the certificate is not registered.
func TestCertificateCredential(t *testing.T) {
	srv, err := mscloud.Start(context.Background(), mscloud.Config{Seed: 3, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 3, Users: 5, Environments: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	k := rsaKey(t)
	cp, kp := certPEM(t, k, false)
	cert, err := entra.ParseCertificate([]byte(cp + kp))
	if err != nil {
		t.Fatal(err)
	}
	source := func(scope string) (string, error) {
		ts, err := entra.ClientCredentials(entra.Config{LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID,
			Certificate: cert, Scope: scope, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token(context.Background())
		return tok.AccessToken, err
	}
	_, err = source(info.GraphScope)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "did not accept the certificate") || !strings.Contains(err.Error(), "Certificates & secrets") {
		t.Errorf("unregistered certificate: %v", err)
	}
	srv.UpdateApp(info.TenantID, func(a *mscloud.App) { a.Certificates = []string{cp} })
	for _, scope := range []string{info.GraphScope, info.Environments[0].Scope} {
		if tok, err := source(scope); err != nil || tok == "" {
			t.Errorf("token for %s: %v", scope, err)
		}
	}
}
