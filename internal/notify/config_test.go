package notify

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/reclaim"
)

func load(t *testing.T, vars map[string]string) *config.Config {
	t.Helper()
	vars["HOME"] = t.TempDir()
	c, err := config.Load(nil, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFromConfig builds notifiers from configuration: none when nothing is
// configured; e-mail and a signed webhook that deliver when they are.
func TestFromConfig(t *testing.T) {
	kr := keyring(t, 5)
	n, err := FromConfig(load(t, map[string]string{}), kr, nil, nil, nil)
	if err != nil || n != nil {
		t.Fatalf("nothing configured: %v, %v; want no notifier", n, err)
	}
	srv := startSMTP(t, smtptest.Options{Username: "u", Password: testPassword})
	rcv := newReceiver(t)
	c := load(t, map[string]string{"SEATWISE_SMTP_HOST": srv.Host, "SEATWISE_SMTP_PORT": strconv.Itoa(srv.Port), "SEATWISE_SMTP_USER": "u",
		"SEATWISE_SMTP_PASSWORD": testPassword, "SEATWISE_SMTP_FROM": "seatwise@contoso.com", "SEATWISE_PUBLIC_URL": "https://seatwise.example.test",
		"SEATWISE_WEBHOOK_URL": rcv.srv.URL + "/hook", "SEATWISE_WEBHOOK_SECRET": "hook key"})
	n, err = FromConfig(c, kr, srv.ClientTLSConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch := n.Channels(); !strings.Contains(ch, "e-mail via 127.0.0.1:") || !strings.Contains(ch, "webhook http://127.0.0.1:") || strings.Contains(ch, "/hook") {
		t.Errorf("channels %q", ch)
	}
	if err := n.Notify(t.Context(), notice(reclaim.NoticeUser, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS || m[0].AuthUser != "u" {
		t.Errorf("messages %+v", m)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bodies) != 1 || VerifySignature([]byte("hook key"), rcv.sigs[0], rcv.bodies[0], time.Now(), time.Minute) != nil {
		t.Errorf("webhook: %d posts, signature %q", len(rcv.bodies), rcv.sigs)
	}
}
