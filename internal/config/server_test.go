package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerOptions(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want ServerOptions
		err  string
	}{
		{name: "off by default", env: map[string]string{}, want: ServerOptions{MetricsAccess: "signed-in"}},
		{name: "complete", env: map[string]string{"SEATWISE_OIDC_ISSUER": "https://login.microsoftonline.com/t/v2.0",
			"SEATWISE_OIDC_CLIENT_ID": "c", "SEATWISE_OIDC_CLIENT_SECRET_FILE": secretFile, "SEATWISE_PUBLIC_URL": "https://seatwise.example.com/",
			"SEATWISE_OIDC_DEFAULT_ROLE": "viewer", "SEATWISE_METRICS_ACCESS": "public"},
			want: ServerOptions{OIDCIssuer: "https://login.microsoftonline.com/t/v2.0", OIDCClientID: "c", OIDCDefaultRole: "viewer",
				OIDCRedirectURL: "https://seatwise.example.com/auth/oidc/callback", MetricsAccess: "public", oidcSecret: "s3cret value"}},
		{name: "client id missing", env: map[string]string{"SEATWISE_OIDC_ISSUER": "https://x/v2.0", "SEATWISE_OIDC_REDIRECT_URL": "https://s/cb"}, err: "oidc_client_id"},
		{name: "no callback", env: map[string]string{"SEATWISE_OIDC_ISSUER": "https://x/v2.0", "SEATWISE_OIDC_CLIENT_ID": "c"}, err: "public_url"},
		{name: "bad callback", env: map[string]string{"SEATWISE_OIDC_ISSUER": "https://x/v2.0", "SEATWISE_OIDC_CLIENT_ID": "c", "SEATWISE_OIDC_REDIRECT_URL": "cb"}, err: "absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["HOME"] = "/home/x"
			c, err := Load(nil, envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server != tc.want {
				t.Errorf("server options %+v, want %+v", c.Server, tc.want)
			}
		})
	}
}
