package notify

// Benchmarks of notifications. Run them with
//
//	go test ./internal/notify -run '^$' -bench . -benchtime 200x
//
// BenchmarkLinks reports µs-per-link (sign and verify one link);
// BenchmarkNotify reports ms-per-notice: one user notice delivered by e-mail
// (a real SMTP conversation on loopback: STARTTLS, AUTH PLAIN, DATA) and by
// a signed webhook, i.e. the cost a reclamation run pays per user notified.

import (
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/reclaim"
)

func BenchmarkLinks(b *testing.B) {
	l := mustLinks(b, keyring(b, 9))
	exp := time.Now().Add(time.Hour)
	now := time.Now()
	start := time.Now()
	for b.Loop() {
		tok, err := l.Sign(Claims{CandidateID: 123456, Action: "keep", Recipient: "adele.vance@contoso.com", Expires: exp})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs-per-link")
}

func BenchmarkNotify(b *testing.B) {
	srv, err := smtptest.Start(smtptest.Options{Username: "u", Password: "p"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	rcv := newBenchReceiver(b)
	sender, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, Username: "u", Password: "p", From: "seatwise@contoso.com", TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		b.Fatal(err)
	}
	hook, err := NewWebhookSender(WebhookConfig{URL: rcv, Secret: []byte("k")})
	if err != nil {
		b.Fatal(err)
	}
	n, err := New(Config{SMTP: sender, Webhook: hook, Links: mustLinks(b, keyring(b, 9)), BaseURL: "https://seatwise.example.test"})
	if err != nil {
		b.Fatal(err)
	}
	nt := notice(reclaim.NoticeUser, time.Now().Add(7*24*time.Hour))
	start := time.Now()
	for b.Loop() {
		if err := n.Notify(b.Context(), nt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms-per-notice")
}
