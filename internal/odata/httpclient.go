package odata

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// NewHTTPClient returns an *http.Client for Microsoft endpoints that trusts
// the system roots plus, when caFile is not empty, the certificates of the
// PEM file caFile (a corporate TLS-inspecting proxy, or the simulator's CA).
// It requires TLS 1.2 and has no overall timeout (the Client bounds each
// attempt). A caFile that cannot be read or holds no certificate is an
// EINVALID error naming the file.
func NewHTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, sam.Wrap(sam.EINVALID, err, "reading CA file %s", caFile)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sam.Errorf(sam.EINVALID, "CA file %s holds no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 16
	tr.ResponseHeaderTimeout = 90 * time.Second
	return &http.Client{Transport: tr}, nil
}
