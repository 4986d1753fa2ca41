package web_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/web"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsHoldNoSecrets signs in, uses a token and stores a client secret,
// and checks that the structured request log names routes, statuses and
// actors but never a password, token, session id or client secret.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs lockedBuf
	b := setup(t, func(c *web.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	c := b.client()
	csrf := b.login(c, "u-sam_integrator", password)
	b.do(nil, "POST", "/api/v1/session", web.LoginRequest{Name: "u-viewer", Password: "a wrong password"}, nil)
	tok := b.token(auth.RoleAdmin)
	b.do(nil, "GET", "/api/v1/users?token="+tok, nil, bearer(tok))
	in := map[string]any{"name": "contoso", "tenant_id": tenant, "client_id": client, "client_secret": "very-secret-value"}
	if r := b.do(c, "POST", "/api/v1/profiles", in, map[string]string{"X-CSRF-Token": csrf}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	out := logs.String()
	for _, secret := range []string{password, "a wrong password", tok, "very-secret-value", csrf} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret %q", secret[:6])
		}
	}
	for _, want := range []string{`"route":"/api/v1/profiles"`, `"status":201`, `"actor":"user:u-sam_integrator"`, `"msg":"sign-in failed"`, `"request_id"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
