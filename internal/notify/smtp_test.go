package notify

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/sam"
)

func startSMTP(t *testing.T, o smtptest.Options) *smtptest.Server {
	t.Helper()
	s, err := smtptest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const testPassword = "correct horse battery"

func TestSMTPSend(t *testing.T) {
	tests := []struct {
		name     string
		server   smtptest.Options
		cfg      func(s *smtptest.Server) SMTPConfig
		wantCode sam.Code // "" when the message must arrive
		wantText string
		wantTLS  bool
	}{
		{"STARTTLS and AUTH PLAIN", smtptest.Options{Username: "notices", Password: testPassword},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, Username: "notices", Password: testPassword, TLSConfig: s.ClientTLSConfig()}
			}, "", "", true},
		{"STARTTLS and AUTH LOGIN", smtptest.Options{Username: "notices", Password: testPassword, AuthMechanisms: "LOGIN"},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, Username: "notices", Password: testPassword, TLSConfig: s.ClientTLSConfig()}
			}, "", "", true},
		{"STARTTLS without authentication", smtptest.Options{},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, TLSConfig: s.ClientTLSConfig()}
			}, "", "", true},
		{"loopback relay without TLS, explicitly", smtptest.Options{NoTLS: true},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, NoStartTLS: true}
			}, "", "", false},
		{"wrong password", smtptest.Options{Username: "notices", Password: testPassword},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, Username: "notices", Password: "wrong-" + testPassword, TLSConfig: s.ClientTLSConfig()}
			}, sam.EUNAUTHORIZED, "authenticate: server replied 535", false},
		{"server without STARTTLS", smtptest.Options{NoTLS: true},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, TLSConfig: s.ClientTLSConfig()}
			}, sam.EUNAVAILABLE, "does not offer STARTTLS", false},
		{"untrusted certificate", smtptest.Options{},
			func(s *smtptest.Server) SMTPConfig { return SMTPConfig{Host: s.Host, Port: s.Port} }, sam.EUNAVAILABLE, "STARTTLS", false},
		{"unsupported mechanism", smtptest.Options{Username: "notices", Password: testPassword, AuthMechanisms: "CRAM-MD5"},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, Username: "notices", Password: testPassword, TLSConfig: s.ClientTLSConfig()}
			}, sam.EUNAVAILABLE, "PLAIN and LOGIN", false},
		{"recipient refused", smtptest.Options{RejectRecipients: []string{"adele@contoso.com"}},
			func(s *smtptest.Server) SMTPConfig {
				return SMTPConfig{Host: s.Host, Port: s.Port, TLSConfig: s.ClientTLSConfig()}
			}, sam.EUNAVAILABLE, "RCPT TO adele@contoso.com: server replied 550", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, tc.server)
			cfg := tc.cfg(srv)
			cfg.From = "Seatwise <seatwise@contoso.com>"
			cfg.Timeout = 10 * time.Second
			s, err := NewSMTPSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := &Mail{To: []string{"Adele Vance <adele@contoso.com>"}, Subject: "Licence: Ünused?", Text: "Hello\n.leading dot\nBye", HTML: "<p>Hello</p>"}
			err = s.Send(t.Context(), m)
			if tc.wantCode != "" {
				if !sam.IsCode(err, tc.wantCode) || !strings.Contains(err.Error(), tc.wantText) {
					t.Fatalf("Send: %v, want %s mentioning %q", err, tc.wantCode, tc.wantText)
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Errorf("error contains the password: %v", err)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("%d message(s) arrived, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages arrived, want 1", len(msgs))
			}
			got := msgs[0]
			if got.TLS != tc.wantTLS || got.From != "seatwise@contoso.com" || len(got.To) != 1 || got.To[0] != "adele@contoso.com" {
				t.Errorf("envelope %+v", got)
			}
			if tc.server.Username != "" && got.AuthUser != "notices" {
				t.Errorf("authenticated as %q, want notices", got.AuthUser)
			}
			checkMIME(t, got)
			for _, line := range srv.Transcript() {
				if strings.Contains(line, testPassword) {
					t.Errorf("transcript shows the password in clear: %q", line)
				}
			}
		})
	}
}

// checkMIME parses a message: headers, multipart/alternative with a text
// and an HTML part, the subject decoded, dot-stuffing undone.
func checkMIME(t *testing.T, m smtptest.Message) {
	t.Helper()
	msg, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Date", "Message-ID", "From", "To", "Subject", "MIME-Version"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := msg.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@contoso.com>") {
		t.Errorf("Message-ID %q", id)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != "Licence: Ünused?" {
		t.Errorf("subject %q (%v)", subj, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p) // multipart decodes quoted-printable
		types = append(types, p.Header.Get("Content-Type"))
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") && !strings.Contains(string(body), "\r\n.leading dot\r\n") {
			t.Errorf("text part %q lost the line starting with a dot", body)
		}
	}
	if len(types) != 2 || !strings.HasPrefix(types[0], "text/plain") || !strings.HasPrefix(types[1], "text/html") {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
}

func TestSMTPTimeout(t *testing.T) {
	// A server that accepts the connection and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: a.Port, From: "s@contoso.com", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), &Mail{To: []string{"a@contoso.com"}, Subject: "x", Text: "x"})
	if !sam.IsCode(err, sam.EUNAVAILABLE) || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("Send to a silent server: %v, want EUNAVAILABLE at the greeting", err)
	}
}

func TestNewSMTPSenderRefuses(t *testing.T) {
	for _, cfg := range []SMTPConfig{
		{Port: 25, From: "a@b.c"},
		{Host: "smtp.contoso.com", From: "not an address"},
		{Host: "smtp.contoso.com", From: "a@b.c", NoStartTLS: true},
		{Host: "smtp.contoso.com", From: "a@b.c", Port: 70000},
		{Host: "smtp.contoso.com", From: "a@b.c", Password: "x"},
	} {
		if _, err := NewSMTPSender(cfg); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("NewSMTPSender(%+v): %v, want EINVALID", cfg, err)
		}
	}
}

func TestMailRefusesHeaderInjection(t *testing.T) {
	for _, m := range []Mail{
		{From: "a@b.c", To: []string{"x@y.z\r\nBcc: evil@y.z"}, Subject: "s"},
		{From: "a@b.c", To: []string{"x@y.z"}, Subject: "s\r\nBcc: evil@y.z"},
		{From: "a@b.c", Subject: "s"},
	} {
		if _, _, _, err := m.Build(); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("Build(%+v): %v, want EINVALID", m, err)
		}
	}
}
