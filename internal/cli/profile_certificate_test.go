package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestProfileCertificate(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 9, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 9, Users: 30, Environments: 1}}}})
	if err := srv.Tenant().SetAuditSettings(0, tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, file := makeCertFile(t, e.dir, "seatwise.pem", 90*24*time.Hour)

	if _, stderr, code := e.run(string(certPEM), "profile", "certificate", "sim", "--certificate-file", "-"); code != sam.ExitUsage || !strings.Contains(stderr, "no private key") {
		t.Errorf("certificate without key: exit %d %s", code, stderr)
	}
	out := e.ok("", "profile", "certificate", "sim", "--certificate-file", file)
	if !strings.Contains(out, "thumbprint") || strings.Contains(out, "PRIVATE") {
		t.Errorf("certificate output:\n%s", out)
	}
	// Not yet uploaded to the app registration: validation says so.
	stdout, _, code := e.run("", "profile", "validate", "sim")
	if code != sam.ExitAuth || !strings.Contains(stdout, "did not accept the certificate") || !strings.Contains(stdout, "Certificates & secrets > Certificates") {
		t.Errorf("validate with an unregistered certificate: exit %d\n%s", code, stdout)
	}
	srv.UpdateApp(srv.Info().TenantID, func(a *mscloud.App) { a.Certificates = []string{string(certPEM)}; a.ClientSecret = "rotated-away" })
	if out := e.ok("", "profile", "validate", "sim"); !strings.Contains(out, "PASS  certificate-expiry") {
		t.Errorf("validate with a registered certificate:\n%s", out)
	}
	e.ok("", "sync", "--profile", "sim", "--now", srv.Tenant().Now().Format(time.RFC3339Nano))
	if out := e.ok("", "profile", "show", "sim"); !strings.Contains(out, string(sam.AuthCertificate)) || !strings.Contains(out, string(sam.ProfileConnected)) {
		t.Errorf("profile after certificate sync:\n%s", out)
	}
	db, err := os.ReadFile(filepath.Join(e.dir, "seatwise.db"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join(strings.Split(strings.TrimSpace(string(keyPEM)), "\n")[1:3], "")
	if bytes.Contains(db, keyPEM) || bytes.Contains(db, []byte(body[:40])) {
		t.Error("the database holds the private key in plain text")
	}

	// A certificate about to expire is a warning with its remedy.
	soonPEM, _, soonFile := makeCertFile(t, e.dir, "soon.pem", 10*24*time.Hour)
	srv.UpdateApp(srv.Info().TenantID, func(a *mscloud.App) { a.Certificates = append(a.Certificates, string(soonPEM)) })
	e.ok("", "profile", "certificate", "sim", "--certificate-file", soonFile)
	if out := e.ok("", "profile", "validate", "sim"); !strings.Contains(out, "WARN  certificate-expiry") || !strings.Contains(out, "create a new certificate") {
		t.Errorf("validate with a certificate about to expire:\n%s", out)
	}
}

// makeCertFile writes a self-signed certificate valid for validity and its
// RSA key (PKCS #1) to one PEM file in dir.
func makeCertFile(t *testing.T, dir, name string, validity time.Duration) (certPEM, keyPEM []byte, file string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Seatwise"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	file = filepath.Join(dir, name)
	if err := os.WriteFile(file, append(append([]byte{}, certPEM...), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, file
}
