package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// SMTPConfig is how to reach the mail server.
type SMTPConfig struct {
	Host     string
	Port     int // 587 when 0
	Username string
	Password string // never logged nor put in an error
	From     string // sender, "Seatwise <seatwise@contoso.com>" or an address
	// NoStartTLS sends without STARTTLS. It is refused unless Host is a
	// loopback address (a relay on the same machine, or a test server):
	// otherwise the server must offer STARTTLS, and the certificate is
	// verified.
	NoStartTLS bool
	// TLSConfig verifies the server (nil: the system roots, server name
	// Host).
	TLSConfig *tls.Config
	// Timeout bounds one whole conversation, from dialling to QUIT
	// (30 seconds when 0).
	Timeout time.Duration
	// HelloName is the name sent with EHLO ("localhost" when empty).
	HelloName string
}

// SMTPSender sends mail over SMTP: STARTTLS (required unless explicitly
// disabled for a loopback server), AUTH PLAIN or LOGIN when a user name is
// set (only over TLS or loopback), one conversation per message. It is
// safe for concurrent use.
type SMTPSender struct {
	cfg SMTPConfig
}

// isLoopback reports whether host names a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewSMTPSender checks cfg and returns a sender. EINVALID when the host or
// sender address is missing or malformed, when the port is out of range, or
// when STARTTLS is disabled for a server that is not on loopback.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, sam.Errorf(sam.EINVALID, "SMTP: a server host is required")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, sam.Errorf(sam.EINVALID, "SMTP: port %d is out of range", cfg.Port)
	}
	if _, err := parseAddress("sender", cfg.From); err != nil {
		return nil, sam.Errorf(sam.EINVALID, "SMTP: %s", sam.ErrorMessage(err))
	}
	if cfg.NoStartTLS && !isLoopback(cfg.Host) {
		return nil, sam.Errorf(sam.EINVALID, "SMTP: STARTTLS may only be turned off for a server on loopback (127.0.0.1, ::1, localhost), not %s", cfg.Host)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, sam.Errorf(sam.EINVALID, "SMTP: a password is set but no user name")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	return &SMTPSender{cfg: cfg}, nil
}

// From is the configured sender.
func (s *SMTPSender) From() string { return s.cfg.From }

// Server is host:port of the mail server, for messages.
func (s *SMTPSender) Server() string {
	return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
}

// Send delivers m (From defaults to the configured sender) in one SMTP
// conversation. Errors are EINVALID for a malformed message, EUNAUTHORIZED
// when the server refuses the credentials, EUNAVAILABLE otherwise (server
// unreachable, no STARTTLS, certificate refused, recipient or data
// refused, timeout); they name the server and the step, never the
// password.
func (s *SMTPSender) Send(ctx context.Context, m *Mail) error {
	if m.From == "" {
		m.From = s.cfg.From
	}
	data, from, to, err := m.Build()
	if err != nil {
		return err
	}
	srv := s.Server()
	fail := func(step string, err error) error {
		code := sam.EUNAVAILABLE
		var te *smtpTextError
		if errors.As(err, &te) && step == "authenticate" && te.code == 535 {
			code = sam.EUNAUTHORIZED
		}
		msg := err.Error()
		if s.cfg.Password != "" {
			msg = strings.ReplaceAll(msg, s.cfg.Password, "xxxxx")
		}
		return sam.Errorf(code, "SMTP %s: %s: %s", srv, step, msg)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", srv)
	if err != nil {
		return fail("connect", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fail("greeting", wrapText(ctx, err))
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return fail("EHLO", wrapText(ctx, err))
	}
	if !s.cfg.NoStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("STARTTLS", errors.New("the server does not offer STARTTLS, which is required (turn it off only for a loopback server)"))
		}
		tc := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
		if s.cfg.TLSConfig != nil {
			tc = s.cfg.TLSConfig.Clone()
			if tc.ServerName == "" {
				tc.ServerName = s.cfg.Host
			}
		}
		if err := c.StartTLS(tc); err != nil {
			return fail("STARTTLS", wrapText(ctx, err))
		}
	}
	if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return fail("authenticate", errors.New("the server offers no authentication (AUTH) but a user name is configured"))
		}
		var a smtp.Auth
		switch fields := strings.Fields(strings.ToUpper(mechs)); {
		case slices.Contains(fields, "PLAIN"):
			a = &plainAuth{user: s.cfg.Username, pass: s.cfg.Password, host: s.cfg.Host}
		case slices.Contains(fields, "LOGIN"):
			a = &loginAuth{user: s.cfg.Username, pass: s.cfg.Password, host: s.cfg.Host}
		default:
			return fail("authenticate", fmt.Errorf("the server offers AUTH %s; Seatwise speaks PLAIN and LOGIN", mechs))
		}
		if err := c.Auth(a); err != nil {
			return fail("authenticate", wrapText(ctx, err))
		}
	}
	if err := c.Mail(from); err != nil {
		return fail("MAIL FROM", wrapText(ctx, err))
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fail("RCPT TO "+r, wrapText(ctx, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", wrapText(ctx, err))
	}
	if _, err := w.Write(data); err != nil {
		return fail("DATA", wrapText(ctx, err))
	}
	if err := w.Close(); err != nil {
		return fail("end of DATA", wrapText(ctx, err))
	}
	if err := c.Quit(); err != nil {
		return fail("QUIT", wrapText(ctx, err))
	}
	return nil
}

// smtpTextError is a server reply that refused a step.
type smtpTextError struct {
	code int
	msg  string
}

func (e *smtpTextError) Error() string { return fmt.Sprintf("server replied %d %s", e.code, e.msg) }

// wrapText turns net/smtp's errors into clear ones: a reply code and text,
// or the timeout.
func wrapText(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("no answer within the timeout")
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return &smtpTextError{code: te.Code, msg: te.Msg}
	}
	return err
}

// plainAuth is AUTH PLAIN (RFC 4616), refused over a connection that is
// neither TLS nor loopback.
type plainAuth struct {
	user, pass, host string
}

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopback(a.host) {
		return "", nil, errors.New("refusing to send the password over a connection without TLS")
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected challenge after AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is AUTH LOGIN (the server prompts "Username:" then
// "Password:"), refused over a connection that is neither TLS nor loopback.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopback(a.host) {
		return "", nil, errors.New("refusing to send the password over a connection without TLS")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	prompt := strings.ToLower(strings.TrimSpace(string(fromServer)))
	switch {
	case strings.HasPrefix(prompt, "user") || (a.step == 1 && !strings.HasPrefix(prompt, "pass")):
		return []byte(a.user), nil
	case strings.HasPrefix(prompt, "pass") || a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected AUTH LOGIN challenge")
}
