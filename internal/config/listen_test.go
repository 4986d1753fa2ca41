package config

import (
	"strings"
	"testing"
)

func TestListenAndTLS(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		listen  string
		cert    string
		wantErr string
	}{
		{"default loopback", nil, nil, DefaultListen, "", ""},
		{"flag", []string{"--listen", ":9000"}, nil, ":9000", "", ""},
		{"env", nil, map[string]string{"SEATWISE_LISTEN": "[::1]:8443"}, "[::1]:8443", "", ""},
		{"no port", []string{"--listen", "localhost"}, nil, "", "", "want host:port"},
		{"tls pair", []string{"--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, nil, DefaultListen, "c.pem", ""},
		{"cert without key", nil, map[string]string{"SEATWISE_TLS_CERT_FILE": "c.pem"}, "", "", "set both or neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.listen || c.TLSCertFile != tt.cert {
				t.Errorf("Listen %q TLS %q", c.Listen, c.TLSCertFile)
			}
		})
	}
}
