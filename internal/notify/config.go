package notify

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/secret"
)

// FromConfig builds the Notifier the configuration asks for: e-mail when
// smtp_host is set, a webhook when webhook_url is set, links to public_url
// signed with keys derived from kr. It returns nil, nil when neither
// channel is configured (reclamation then says plainly that notification
// is not configured). tlsConf, when not nil, verifies the mail server
// instead of the system roots. Errors are EINVALID.
func FromConfig(c *config.Config, kr *secret.Keyring, tlsConf *tls.Config, logger *slog.Logger, now func() time.Time) (*Notifier, error) {
	if c.SMTPHost == "" && c.WebhookURL() == "" {
		return nil, nil
	}
	links, err := NewLinks(kr)
	if err != nil {
		return nil, err
	}
	cfg := Config{Links: links, BaseURL: c.PublicURL, Logger: logger, Now: now}
	if c.SMTPHost != "" {
		if cfg.SMTP, err = NewSMTPSender(SMTPConfig{Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUser, Password: c.SMTPPassword(),
			From: c.SMTPFrom, NoStartTLS: !c.SMTPStartTLS, TLSConfig: tlsConf}); err != nil {
			return nil, err
		}
	}
	if c.WebhookURL() != "" {
		wc := WebhookConfig{URL: c.WebhookURL(), Now: now}
		if s := c.WebhookSecret(); s != "" {
			wc.Secret = []byte(s)
		}
		if cfg.Webhook, err = NewWebhookSender(wc); err != nil {
			return nil, err
		}
	}
	return New(cfg)
}
