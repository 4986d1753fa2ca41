package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Mail is one e-mail: a text body and an HTML alternative.
type Mail struct {
	From    string // "Name <address>" or an address
	To      []string
	Subject string
	Text    string
	HTML    string // "" sends the text only
	Date    time.Time
	// MessageID is set by Build when empty: <random@domain of From>.
	MessageID string
}

// addresses parses a list of addresses, refusing header injection.
func parseAddress(field, s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, sam.Errorf(sam.EINVALID, "e-mail %s contains a line break", field)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, sam.Errorf(sam.EINVALID, "e-mail %s %q is not an address: %s", field, s, err)
	}
	return a, nil
}

// Build returns the message in RFC 5322 form with CRLF line endings:
// From, To, Subject (RFC 2047 encoded when not ASCII), Date, Message-ID,
// MIME-Version, Auto-Submitted and a multipart/alternative body of
// quoted-printable UTF-8 text and HTML. It also returns the envelope sender
// and recipients. EINVALID for a bad address or a line break in the subject.
func (m *Mail) Build() (msg []byte, from string, to []string, err error) {
	f, err := parseAddress("sender", m.From)
	if err != nil {
		return nil, "", nil, err
	}
	if len(m.To) == 0 {
		return nil, "", nil, sam.Errorf(sam.EINVALID, "e-mail without a recipient")
	}
	var toHdr []string
	for _, r := range m.To {
		a, err := parseAddress("recipient", r)
		if err != nil {
			return nil, "", nil, err
		}
		to = append(to, a.Address)
		toHdr = append(toHdr, a.String())
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, "", nil, sam.Errorf(sam.EINVALID, "e-mail subject contains a line break")
	}
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	if m.MessageID == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		domain := "seatwise.invalid"
		if at := strings.LastIndexByte(f.Address, '@'); at >= 0 && at < len(f.Address)-1 {
			domain = f.Address[at+1:]
		}
		m.MessageID = "<" + hex.EncodeToString(b) + "@" + domain + ">"
	}
	var buf bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	hdr("From", f.String())
	hdr("To", strings.Join(toHdr, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", m.Date.Format(time.RFC1123Z))
	hdr("Message-ID", m.MessageID)
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated")
	if m.HTML == "" {
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, m.Text); err != nil {
			return nil, "", nil, err
		}
		return buf.Bytes(), f.Address, to, nil
	}
	mw := multipart.NewWriter(&buf)
	hdr("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	buf.WriteString("\r\n")
	for _, part := range []struct{ ct, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, "", nil, sam.Wrap(sam.EINTERNAL, err, "e-mail body")
		}
		if err := writeQP(pw, part.body); err != nil {
			return nil, "", nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", nil, sam.Wrap(sam.EINTERNAL, err, "e-mail body")
	}
	return buf.Bytes(), f.Address, to, nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return sam.Wrap(sam.EINTERNAL, err, "e-mail body")
	}
	if err := qp.Close(); err != nil {
		return sam.Wrap(sam.EINTERNAL, err, "e-mail body")
	}
	return nil
}
