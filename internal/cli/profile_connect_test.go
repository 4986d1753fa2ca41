package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var signInURLRE = regexp.MustCompile(`(?m)^  (https://\S+/oauth2/v2\.0/authorize\?\S+)$`)

// connectProfile runs 'seatwise profile connect NAME' in the background,
// signs in through the simulator's pages with b and returns the command's
// exit code and outputs.
func connectProfile(t *testing.T, e *cliEnv, name string, b *connecttest.Browser) (code int, stdout, stderr, title string) {
	t.Helper()
	var out, errb lockedBuffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Env: func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok }}
	done := make(chan int, 1)
	go func() { done <- a.Run(context.Background(), []string{"profile", "connect", name, "--timeout", "1m"}) }()
	deadline := time.Now().Add(20 * time.Second)
	var start string
	for start == "" {
		if m := signInURLRE.FindStringSubmatch(out.String()); m != nil {
			start = m[1]
			break
		}
		select {
		case code := <-done:
			return code, out.String(), errb.String(), ""
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sign-in URL printed:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	title, _, err := b.Run(start)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	code = <-done
	return code, out.String(), errb.String(), title
}

func TestProfileConnect(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 4, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 4, Users: 40, Environments: 2}}}})
	user, err := connecttest.Admin(srv.Tenant())
	if err != nil {
		t.Fatal(err)
	}

	// A declined consent: the command fails clearly and changes nothing.
	code, _, stderr, title := connectProfile(t, e, "sim", &connecttest.Browser{HTTP: srv.Client(), Login: user,
		Answer: func(int) string { return "cancel" }})
	if code != sam.ExitAuth || !strings.Contains(stderr, "consent for Microsoft Graph was declined") || title != "Seatwise could not connect" {
		t.Errorf("declined: exit %d, page %q, stderr %s", code, title, stderr)
	}
	showJSON := func() ProfileJSON {
		var pj ProfileJSON
		if err := json.Unmarshal([]byte(e.ok("", "profile", "show", "sim", "--output", "json")), &pj); err != nil {
			t.Fatal(err)
		}
		return pj
	}
	if pj := showJSON(); pj.AuthMode != sam.AuthClientSecret {
		t.Errorf("a declined sign-in changed the profile: %+v", pj)
	}

	b := &connecttest.Browser{HTTP: srv.Client(), Login: user}
	code, stdout, stderr, title := connectProfile(t, e, "sim", b)
	if code != 0 || title != "Seatwise is connected" || b.Consents != 3 {
		t.Fatalf("connect: exit %d, page %q, %d consents\n%s\n%s", code, title, b.Consents, stdout, stderr)
	}
	for _, want := range []string{"You will consent 3 time(s): Microsoft Graph, then " + srv.Info().Environments[0].URL, "http://127.0.0.1:", "is connected"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("connect output lacks %q:\n%s", want, stdout)
		}
	}

	if pj := showJSON(); pj.AuthMode != sam.AuthDelegated || pj.State != sam.ProfileConnected {
		t.Errorf("profile after connect: %+v", pj)
	}

	// The delegated sign-in syncs and validates.
	e.ok("", "sync", "--profile", "sim")
	out := e.ok("", "profile", "validate", "sim")
	if !strings.Contains(out, "Graph token to the signed-in administrator") || !strings.Contains(out, "0 failed") {
		t.Errorf("validate with the delegated sign-in:\n%s", out)
	}

	// Revoked: the next sync fails, the profile needs re-authorisation.
	srv.RevokeRefreshTokens(srv.Info().TenantID, "")
	if _, stderr, code := e.run("", "sync", "--profile", "sim"); code != sam.ExitAuth || !strings.Contains(stderr, "revoked") {
		t.Errorf("sync after revocation: exit %d: %s", code, stderr)
	}
	out = e.ok("", "profile", "show", "sim")
	if !strings.Contains(out, string(sam.ProfileNeedsReauth)) || !strings.Contains(out, "seatwise profile connect sim") {
		t.Errorf("profile after revocation:\n%s", out)
	}
	if code, _, stderr, _ := connectProfile(t, e, "sim", b); code != 0 {
		t.Fatalf("reconnect: exit %d %s", code, stderr)
	}
	e.ok("", "sync", "--profile", "sim")
}
