package smtptest

import (
	"net/textproto"
	"strings"
	"testing"
)

// TestConversation speaks SMTP to the server by hand: it refuses mail and
// authentication before STARTTLS, and refuses commands out of order.
func TestConversation(t *testing.T) {
	s, err := Start(Options{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := textproto.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cmd  string
		code int
		has  string
	}{
		{"MAIL FROM:<a@b.c>", 503, "EHLO first"},
		{"EHLO client.test", 250, "STARTTLS"},
		{"AUTH PLAIN AHUAcA==", 538, "encryption required"},
		{"MAIL FROM:<a@b.c>", 530, "STARTTLS"},
		{"RCPT TO:<x@y.z>", 503, "MAIL first"},
		{"DATA", 503, "RCPT first"},
		{"VRFY x", 500, "unknown"},
		{"NOOP", 250, "ok"},
	}
	for _, st := range steps {
		id, err := c.Cmd("%s", st.cmd)
		if err != nil {
			t.Fatal(err)
		}
		c.StartResponse(id)
		_, msg, err := c.ReadResponse(st.code)
		c.EndResponse(id)
		if err != nil || !strings.Contains(msg, st.has) {
			t.Errorf("%s: %v %q, want %d with %q", st.cmd, err, msg, st.code, st.has)
		}
	}
	if len(s.Messages()) != 0 {
		t.Error("a message was accepted")
	}
	if tr := s.Transcript(); len(tr) == 0 || strings.Contains(strings.Join(tr, "\n"), "AHUAcA==") {
		t.Errorf("transcript %q: want the commands with AUTH payloads hidden", tr)
	}
}
