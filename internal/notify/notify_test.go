package notify

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

var linkRE = regexp.MustCompile(`https://seatwise\.example\.test/link\?t=[A-Za-z0-9._-]+`)

func notice(kind reclaim.NoticeKind, deadline time.Time) reclaim.Notice {
	n := reclaim.Notice{Kind: kind, CandidateID: 17, ProfileName: "contoso", Product: "Dynamics 365 Sales Enterprise", PartNumber: "DYN365_ENTERPRISE_SALES",
		Candidate: store.Candidate{ID: 17, UPN: "adele@contoso.com", DisplayName: "Adele Vance", SKUID: "1e1a282c-9c54-43a2-9310-98ef728faace"},
		Reason:    "no activity for 75 days", Deadline: deadline, Recipients: []string{"adele@contoso.com"}}
	switch kind {
	case reclaim.NoticeUser:
		n.Actions = []string{reclaim.ActionKeep, reclaim.ActionRelease}
	case reclaim.NoticeApproval:
		n.Actions = []string{reclaim.ActionApprove, reclaim.ActionDeny}
		n.Recipients = []string{"megan@contoso.com"}
		n.ApprovalGroup = "2b6a4bb9-9a2f-4a1c-9f61-0a0e8c5d3a11"
	}
	return n
}

func TestNotifierDeliversBothChannels(t *testing.T) {
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	kr := keyring(t, 3)
	links := mustLinks(t, kr)
	srv := startSMTP(t, smtptest.Options{Username: "notices", Password: testPassword})
	rcv := newReceiver(t)
	sender, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, Username: "notices", Password: testPassword,
		From: "Seatwise <seatwise@contoso.com>", TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := NewWebhookSender(WebhookConfig{URL: rcv.srv.URL, Secret: []byte("s"), Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{SMTP: sender, Webhook: hook, Links: links, BaseURL: "https://seatwise.example.test/", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind      reclaim.NoticeKind
		deadline  time.Time
		to        string
		actions   []string
		expires   time.Time
		webhookTo string
	}{
		{reclaim.NoticeUser, now.AddDate(0, 0, 7), "adele@contoso.com", []string{"keep", "release"}, now.AddDate(0, 0, 7), "adele@contoso.com"},
		{reclaim.NoticeApproval, time.Time{}, "megan@contoso.com", []string{"approve", "deny"}, now.Add(DefaultApprovalLifetime), "megan@contoso.com"},
		{reclaim.NoticeRemoved, time.Time{}, "adele@contoso.com", nil, time.Time{}, ""},
	}
	for i, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			if err := n.Notify(t.Context(), notice(tc.kind, tc.deadline)); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != i+1 {
				t.Fatalf("%d messages, want %d", len(msgs), i+1)
			}
			m := msgs[i]
			if m.To[0] != tc.to || !m.TLS || m.AuthUser != "notices" {
				t.Errorf("message to %v, TLS %t, user %q", m.To, m.TLS, m.AuthUser)
			}
			text, html := mailParts(t, m)
			if !strings.Contains(text, "Dynamics 365 Sales Enterprise") || !strings.Contains(html, "Adele Vance") {
				t.Errorf("mail text does not name the product and user:\n%s", text)
			}
			checkLinks(t, links, linkRE.FindAllString(text, -1), tc.actions, tc.to, tc.expires)
			checkLinks(t, links, linkRE.FindAllString(html, -1), tc.actions, tc.to, tc.expires)

			rcv.mu.Lock()
			body := rcv.bodies[i]
			rcv.mu.Unlock()
			var p WebhookPayload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != "MessageCard" || p.Text == "" || p.Summary == "" || p.Seatwise.CandidateID != 17 || p.Seatwise.Kind != string(tc.kind) {
				t.Errorf("webhook payload %s", body)
			}
			if len(p.PotentialAction) != len(tc.actions) {
				t.Errorf("%d card actions, want %d", len(p.PotentialAction), len(tc.actions))
			}
			checkLinks(t, links, linkRE.FindAllString(p.Text, -1), tc.actions, tc.webhookTo, tc.expires)
		})
	}
}

// checkLinks verifies each link's token: one per action, in order, bound
// to the recipient, expiring at expires.
func checkLinks(t *testing.T, l *Links, urls []string, actions []string, rcpt string, expires time.Time) {
	t.Helper()
	if len(urls) != len(actions) {
		t.Fatalf("%d links %v, want %d", len(urls), urls, len(actions))
	}
	for i, u := range urls {
		c, err := l.Verify(strings.TrimPrefix(u, "https://seatwise.example.test/link?t="), expires.Add(-time.Minute))
		if err != nil {
			t.Fatalf("link %s: %v", u, err)
		}
		if c.Action != actions[i] || c.Recipient != rcpt || c.CandidateID != 17 || !c.Expires.Equal(expires.Truncate(time.Second)) {
			t.Errorf("link claims %+v, want %s for %s until %s", c, actions[i], rcpt, expires)
		}
	}
}

func mailParts(t *testing.T, m smtptest.Message) (text, html string) {
	t.Helper()
	msg, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		} else {
			text = string(b)
		}
	}
	return text, html
}

func TestNotifierFailures(t *testing.T) {
	kr := keyring(t, 3)
	links := mustLinks(t, kr)
	srv := startSMTP(t, smtptest.Options{RejectRecipients: []string{"adele@contoso.com"}})
	sender, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "seatwise@contoso.com", TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	mailOnly, err := New(Config{SMTP: sender, Links: links, BaseURL: "https://seatwise.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	// The only recipient is refused: nothing delivered.
	if err := mailOnly.Notify(t.Context(), notice(reclaim.NoticeUser, time.Now().Add(time.Hour))); !sam.IsCode(err, sam.EUNAVAILABLE) || !strings.Contains(err.Error(), "550") {
		t.Errorf("Notify to a refused recipient: %v, want EUNAVAILABLE with the 550", err)
	}
	// Approval by group only, e-mail only: nobody to write to.
	n := notice(reclaim.NoticeApproval, time.Time{})
	n.Recipients = nil
	if err := mailOnly.Notify(t.Context(), n); !sam.IsCode(err, sam.EINVALID) {
		t.Errorf("Notify without a recipient: %v, want EINVALID", err)
	}
	// A failing channel does not hide a working one.
	rcv := newReceiver(t)
	hook, _ := NewWebhookSender(WebhookConfig{URL: rcv.srv.URL, Backoff: time.Millisecond})
	both, err := New(Config{SMTP: sender, Webhook: hook, Links: links, BaseURL: "https://seatwise.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Notify(t.Context(), notice(reclaim.NoticeUser, time.Now().Add(time.Hour))); err != nil {
		t.Errorf("Notify with a working webhook: %v", err)
	}
	for _, cfg := range []Config{
		{Links: links, BaseURL: "https://x"},
		{SMTP: sender, BaseURL: "https://x"},
		{SMTP: sender, Links: links, BaseURL: "seatwise.local"},
	} {
		if _, err := New(cfg); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("New(%+v): %v, want EINVALID", cfg, err)
		}
	}
}
