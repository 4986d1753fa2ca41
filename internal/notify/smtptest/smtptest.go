// Package smtptest is a real SMTP server for tests: it listens on
// 127.0.0.1 over TCP, speaks EHLO/HELO, STARTTLS (with a certificate it
// generates for 127.0.0.1 and localhost), AUTH PLAIN and LOGIN, MAIL, RCPT,
// DATA (with dot-unstuffing), RSET, NOOP and QUIT, and records every message
// it accepts with how it was delivered (TLS, authenticated user). Tests
// use it to prove a real SMTP conversation, including refusals: wrong
// credentials, no TLS, a refused recipient.
package smtptest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// Options configure a server.
type Options struct {
	// Username and Password, when Username is set, are the only
	// credentials AUTH accepts; AUTH is then required before MAIL.
	Username, Password string
	// NoTLS leaves STARTTLS out of the EHLO answer.
	NoTLS bool
	// AllowPlaintext accepts MAIL before STARTTLS (by default a server
	// offering STARTTLS requires it, answering 530).
	AllowPlaintext bool
	// AuthMechanisms advertised ("PLAIN LOGIN" when empty).
	AuthMechanisms string
	// RejectRecipients answers 550 to RCPT TO for these addresses.
	RejectRecipients []string
}

// Message is one accepted message.
type Message struct {
	From     string
	To       []string
	Data     []byte // as received, CRLF line endings, dots unstuffed
	TLS      bool   // delivered after STARTTLS
	AuthUser string // "" when not authenticated
	Helo     string
}

// Parse parses Data as an RFC 5322 message.
func (m Message) Parse() (*mail.Message, error) {
	return mail.ReadMessage(strings.NewReader(string(m.Data)))
}

// Server is a running SMTP server. Close it when done.
type Server struct {
	// Addr is host:port, always on 127.0.0.1.
	Addr string
	// Host and Port split Addr.
	Host string
	Port int

	opts    Options
	ln      net.Listener
	tlsConf *tls.Config
	pool    *x509.CertPool

	mu       sync.Mutex
	msgs     []Message
	log      []string
	arrived  chan struct{}
	conns    sync.WaitGroup
	closed   bool
	openConn map[net.Conn]bool
}

// Start generates the server's certificate and starts listening on
// 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	if opts.AuthMechanisms == "" {
		opts.AuthMechanisms = "PLAIN LOGIN"
	}
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := ln.Addr().(*net.TCPAddr)
	s := &Server{Addr: a.String(), Host: "127.0.0.1", Port: a.Port, opts: opts, ln: ln, pool: pool,
		tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		arrived: make(chan struct{}, 1), openConn: map[net.Conn]bool{}}
	s.conns.Add(1)
	go s.accept()
	return s, nil
}

// ClientTLSConfig trusts the server's certificate (server name 127.0.0.1).
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Transcript returns the commands received so far, one per line, with
// AUTH payloads replaced by "***".
func (s *Server) Transcript() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Wait returns once at least n messages were accepted, or with ctx's error.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		if m := s.Messages(); len(m) >= n {
			return m, nil
		}
		select {
		case <-s.arrived:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("smtptest: %d message(s) arrived, waited for %d: %w", len(s.Messages()), n, ctx.Err())
		}
	}
}

// Close stops the server and waits for its connections to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.openConn {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.conns.Wait()
	return err
}

func (s *Server) accept() {
	defer s.conns.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.openConn[c] = true
		s.conns.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.conns.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.openConn, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session is the state of one connection.
type session struct {
	s        *Server
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	tls      bool
	helo     string
	authUser string
	from     string
	to       []string
	inMail   bool
}

func (ss *session) reply(code int, text string) error {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	return ss.w.Flush()
}

func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) > 4096 {
		return "", errors.New("line too long")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (s *Server) record(line string) {
	s.mu.Lock()
	s.log = append(s.log, line)
	s.mu.Unlock()
}

func (s *Server) serve(c net.Conn) {
	ss := &session{s: s, conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	if ss.reply(220, "127.0.0.1 ESMTP smtptest ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb == "AUTH" {
			mech, _, _ := strings.Cut(arg, " ")
			s.record("AUTH " + strings.ToUpper(mech) + " ***")
		} else {
			s.record(line)
		}
		if quit, err := ss.command(verb, arg); err != nil || quit {
			return
		}
	}
}

// command handles one command; quit ends the connection.
func (ss *session) command(verb, arg string) (quit bool, err error) {
	s := ss.s
	switch verb {
	case "EHLO", "HELO":
		if arg == "" {
			return false, ss.reply(501, "5.5.4 EHLO needs a domain")
		}
		ss.helo, ss.from, ss.to, ss.inMail = arg, "", nil, false
		if verb == "HELO" {
			return false, ss.reply(250, "127.0.0.1")
		}
		ext := []string{"127.0.0.1 greets " + arg, "8BITMIME", "PIPELINING", "SIZE 10485760"}
		if !s.opts.NoTLS && !ss.tls {
			ext = append(ext, "STARTTLS")
		}
		if s.opts.Username != "" && (ss.tls || s.opts.NoTLS || s.opts.AllowPlaintext) {
			ext = append(ext, "AUTH "+s.opts.AuthMechanisms)
		}
		return false, ss.reply(250, strings.Join(ext, "\n"))
	case "STARTTLS":
		if s.opts.NoTLS || ss.tls {
			return false, ss.reply(502, "5.5.1 STARTTLS not available")
		}
		if err := ss.reply(220, "2.0.0 ready to start TLS"); err != nil {
			return true, err
		}
		tc := tls.Server(ss.conn, s.tlsConf)
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return true, err
		}
		_ = tc.SetDeadline(time.Time{})
		ss.conn, ss.tls = tc, true
		ss.r, ss.w = bufio.NewReader(tc), bufio.NewWriter(tc)
		ss.helo, ss.authUser, ss.from, ss.to, ss.inMail = "", "", "", nil, false
		return false, nil
	case "AUTH":
		return false, ss.auth(arg)
	case "MAIL":
		if ss.helo == "" {
			return false, ss.reply(503, "5.5.1 say EHLO first")
		}
		if !ss.tls && !s.opts.NoTLS && !s.opts.AllowPlaintext {
			return false, ss.reply(530, "5.7.0 must issue a STARTTLS command first")
		}
		if s.opts.Username != "" && ss.authUser == "" {
			return false, ss.reply(530, "5.7.0 authentication required")
		}
		addr, ok := pathArg(arg, "FROM:")
		if !ok {
			return false, ss.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
		}
		ss.from, ss.to, ss.inMail = addr, nil, true
		return false, ss.reply(250, "2.1.0 sender ok")
	case "RCPT":
		if !ss.inMail {
			return false, ss.reply(503, "5.5.1 MAIL first")
		}
		addr, ok := pathArg(arg, "TO:")
		if !ok || addr == "" {
			return false, ss.reply(501, "5.5.4 syntax: RCPT TO:<address>")
		}
		for _, r := range s.opts.RejectRecipients {
			if strings.EqualFold(r, addr) {
				return false, ss.reply(550, "5.1.1 mailbox unavailable")
			}
		}
		ss.to = append(ss.to, addr)
		return false, ss.reply(250, "2.1.5 recipient ok")
	case "DATA":
		if !ss.inMail || len(ss.to) == 0 {
			return false, ss.reply(503, "5.5.1 RCPT first")
		}
		if err := ss.reply(354, "end data with <CR><LF>.<CR><LF>"); err != nil {
			return true, err
		}
		data, err := ss.readData()
		if err != nil {
			return true, err
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, Message{From: ss.from, To: ss.to, Data: data, TLS: ss.tls, AuthUser: ss.authUser, Helo: ss.helo})
		s.mu.Unlock()
		select {
		case s.arrived <- struct{}{}:
		default:
		}
		ss.from, ss.to, ss.inMail = "", nil, false
		return false, ss.reply(250, "2.0.0 queued")
	case "RSET":
		ss.from, ss.to, ss.inMail = "", nil, false
		return false, ss.reply(250, "2.0.0 ok")
	case "NOOP":
		return false, ss.reply(250, "2.0.0 ok")
	case "QUIT":
		_ = ss.reply(221, "2.0.0 bye")
		return true, nil
	}
	return false, ss.reply(500, "5.5.2 unknown command")
}

// pathArg reads "FROM:<addr> PARAMS" (prefix FROM: or TO:).
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func (ss *session) readData() ([]byte, error) {
	var b strings.Builder
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == ".\r\n" || line == ".\n" {
			return []byte(b.String()), nil
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		if b.Len()+len(line) > 10<<20 {
			return nil, errors.New("message too large")
		}
		b.WriteString(line)
	}
}

func (ss *session) auth(arg string) error {
	s := ss.s
	if s.opts.Username == "" {
		return ss.reply(502, "5.5.1 AUTH not available")
	}
	if !ss.tls && !s.opts.NoTLS && !s.opts.AllowPlaintext {
		return ss.reply(538, "5.7.11 encryption required for requested authentication mechanism")
	}
	if ss.authUser != "" {
		return ss.reply(503, "5.5.1 already authenticated")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.Contains(" "+strings.ToUpper(s.opts.AuthMechanisms)+" ", " "+strings.ToUpper(mech)+" ") {
		return ss.reply(504, "5.5.4 unrecognized authentication type")
	}
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			if err := ss.reply(334, ""); err != nil {
				return err
			}
			l, err := ss.readLine()
			if err != nil {
				return err
			}
			initial = l
		}
		raw, err := base64.StdEncoding.DecodeString(initial)
		if err != nil {
			return ss.reply(501, "5.5.2 cannot decode")
		}
		parts := strings.Split(string(raw), "\x00")
		if len(parts) != 3 {
			return ss.reply(501, "5.5.2 malformed PLAIN")
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		for i, prompt := range []string{"Username:", "Password:"} {
			if err := ss.reply(334, base64.StdEncoding.EncodeToString([]byte(prompt))); err != nil {
				return err
			}
			l, err := ss.readLine()
			if err != nil {
				return err
			}
			v, err := base64.StdEncoding.DecodeString(l)
			if err != nil {
				return ss.reply(501, "5.5.2 cannot decode")
			}
			if i == 0 {
				user = string(v)
			} else {
				pass = string(v)
			}
		}
	}
	if user != s.opts.Username || pass != s.opts.Password {
		return ss.reply(535, "5.7.8 authentication credentials invalid")
	}
	ss.authUser = user
	return ss.reply(235, "2.7.0 authentication successful")
}

// selfSigned makes an ECDSA certificate for 127.0.0.1, ::1 and localhost,
// valid for a day, and a pool trusting it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
