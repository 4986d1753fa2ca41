package config

import (
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
)

func TestNotifyOptions(t *testing.T) {
	dir := t.TempDir()
	pwFile := write(t, dir, "pw", "s3cret-pw\n", 0o600)
	base := map[string]string{"HOME": "/home/x", "SEATWISE_PUBLIC_URL": "https://seatwise.contoso.com",
		"SEATWISE_SMTP_HOST": "smtp.contoso.com", "SEATWISE_SMTP_FROM": "Seatwise <seatwise@contoso.com>"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" when valid
		check   func(*Config) bool
	}{
		{"nothing configured", map[string]string{"HOME": "/home/x"}, "", func(c *Config) bool {
			return c.SMTPHost == "" && c.WebhookURL() == "" && c.SMTPPort == 587 && c.SMTPStartTLS
		}},
		{"smtp with password file", with("SEATWISE_SMTP_USER", "notices", "SEATWISE_SMTP_PASSWORD_FILE", pwFile, "SEATWISE_SMTP_PORT", "2525"), "", func(c *Config) bool {
			return c.SMTPPassword() == "s3cret-pw" && c.SMTPPort == 2525 && c.SMTPUser == "notices"
		}},
		{"webhook only", with("SEATWISE_SMTP_HOST", "-", "SEATWISE_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X", "SEATWISE_WEBHOOK_SECRET", "k"), "", func(c *Config) bool {
			return c.WebhookURL() != "" && c.WebhookSecret() == "k"
		}},
		{"starttls off on loopback", with("SEATWISE_SMTP_HOST", "127.0.0.1", "SEATWISE_SMTP_STARTTLS", "false"), "", func(c *Config) bool { return !c.SMTPStartTLS }},
		{"starttls off elsewhere", with("SEATWISE_SMTP_STARTTLS", "false"), "not a loopback address", nil},
		{"starttls not a bool", with("SEATWISE_SMTP_STARTTLS", "maybe"), "want true or false", nil},
		{"bad port", with("SEATWISE_SMTP_PORT", "70000"), "smtp_port", nil},
		{"no sender", with("SEATWISE_SMTP_FROM", "-"), "smtp_from", nil},
		{"password without user", with("SEATWISE_SMTP_PASSWORD", "x"), "smtp_user is not", nil},
		{"no public url", with("SEATWISE_PUBLIC_URL", "-"), "public_url is not", nil},
		{"relative public url", with("SEATWISE_PUBLIC_URL", "seatwise.local"), "absolute", nil},
		{"bad webhook url", with("SEATWISE_WEBHOOK_URL", "ftp://x/secretpath"), "webhook_url", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(nil, envOf(tc.env))
			if tc.wantErr != "" {
				if !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load: %v, want EINVALID mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secretpath") || strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error repeats a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected configuration %+v", c)
			}
		})
	}
}

func TestNotifySecretsInFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "seatwise.conf", "smtp_host = smtp.contoso.com\nsmtp_from = a@contoso.com\npublic_url = https://s.contoso.com\nsmtp_user = u\nsmtp_password = hunter2\n", 0o644)
	_, err := Load(nil, envOf(map[string]string{"HOME": "/home/x", "SEATWISE_CONFIG": f}))
	if !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), "smtp_password") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Load of a world-readable file with smtp_password: %v", err)
	}
	write(t, dir, "seatwise.conf", "smtp_host = smtp.contoso.com\nsmtp_from = a@contoso.com\npublic_url = https://s.contoso.com\nsmtp_user = u\nsmtp_password = hunter2\n", 0o600)
	c, err := Load(nil, envOf(map[string]string{"HOME": "/home/x", "SEATWISE_CONFIG": f}))
	if err != nil || c.SMTPPassword() != "hunter2" {
		t.Fatalf("Load of a private file: %v", err)
	}
}
