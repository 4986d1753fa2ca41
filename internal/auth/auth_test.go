package auth_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

func newService(t *testing.T) (*auth.Service, *time.Time) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	s := auth.NewService(store.Store(st))
	s.Now = func() time.Time { return now }
	return s, &now
}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := auth.HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
		code           sam.Code
	}{
		{"right", h, "correct horse battery", true, ""},
		{"wrong", h, "correct horse batterY", false, ""},
		{"empty", h, "", false, ""},
		{"not argon", "$2a$10$abc", "x", false, sam.EINTERNAL},
		{"bad params", "$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA", "x", false, sam.EINTERNAL},
		{"bad base64", "$argon2id$v=19$m=8,t=1,p=1$!!$AAAA", "x", false, sam.EINTERNAL},
	}
	for _, tc := range tests {
		ok, err := auth.VerifyPassword(tc.hash, tc.pw)
		if ok != tc.ok || sam.ErrorCode(err) != tc.code {
			t.Errorf("%s: ok=%v err=%v", tc.name, ok, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "twelve chars": true, strings.Repeat("é", 12): true, strings.Repeat("x", 1025): false} {
		if err := auth.ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(%.20q) = %v", pw, err)
		}
	}
}

func TestFirstAdminAndLockout(t *testing.T) {
	s, now := newService(t)
	ctx := t.Context()
	pw, created, err := s.EnsureFirstAdmin(ctx)
	if err != nil || !created || len(pw) != 20 {
		t.Fatalf("EnsureFirstAdmin = %q, %v, %v", pw, created, err)
	}
	if _, again, _ := s.EnsureFirstAdmin(ctx); again {
		t.Fatal("second EnsureFirstAdmin created another admin")
	}
	u, err := s.Authenticate(ctx, "admin", pw)
	if err != nil || !u.MustChangePassword || u.Role != "admin" {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	// Unknown users and wrong passwords get the same answer.
	_, e1 := s.Authenticate(ctx, "nobody", pw)
	_, e2 := s.Authenticate(ctx, "admin", "wrong password!")
	if sam.ErrorCode(e1) != sam.EUNAUTHORIZED || e1.Error() != e2.Error() {
		t.Fatalf("unknown user %v, wrong password %v", e1, e2)
	}
	for range 4 {
		_, _ = s.Authenticate(ctx, "admin", "wrong password!")
	}
	if _, err := s.Authenticate(ctx, "admin", pw); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Fatalf("locked account signed in: %v", err)
	}
	*now = now.Add(16 * time.Minute)
	if _, err := s.Authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// A reset gives a new one-time password and unlocks.
	pw2, err := s.ResetPassword(ctx, "admin")
	if err != nil || pw2 == pw {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "admin", pw); err == nil {
		t.Error("old password still works after reset")
	}
	if _, err := s.SetDisabled(ctx, "admin", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "admin", pw2); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Errorf("disabled account signed in: %v", err)
	}
}

func TestSessions(t *testing.T) {
	s, now := newService(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "vic", auth.RoleViewer, "a long password", false)
	if err != nil {
		t.Fatal(err)
	}
	c1, _, err := s.StartSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	c2, _, _ := s.StartSession(ctx, u)
	if c1 == c2 {
		t.Fatal("two sessions share an id")
	}
	p, err := s.SessionPrincipal(ctx, c1)
	if err != nil || p.Name != "vic" || p.Role != auth.RoleViewer || p.Actor() != "user:vic" {
		t.Fatalf("SessionPrincipal = %+v, %v", p, err)
	}
	if err := s.ChangePassword(ctx, u.ID, "wrong", "another long password", auth.HashSecret(c1)); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Fatalf("change with wrong current password: %v", err)
	}
	if err := s.ChangePassword(ctx, u.ID, "a long password", "another long password", auth.HashSecret(c1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionPrincipal(ctx, c1); err != nil {
		t.Errorf("current session ended by password change: %v", err)
	}
	if _, err := s.SessionPrincipal(ctx, c2); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Errorf("other session survived a password change: %v", err)
	}
	*now = now.Add(13 * time.Hour)
	if _, err := s.SessionPrincipal(ctx, c1); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Errorf("expired session accepted: %v", err)
	}
	if _, err := s.SessionPrincipal(ctx, ""); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
		t.Errorf("empty cookie: %v", err)
	}
}

func TestTokens(t *testing.T) {
	s, now := newService(t)
	ctx := t.Context()
	secret, tok, err := s.CreateToken(ctx, "ci", auth.RoleSAMIntegrator, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || tok.Hash == secret || !strings.HasPrefix(secret, tok.Prefix) {
		t.Fatalf("token %q / %+v", secret, tok)
	}
	p, err := s.TokenPrincipal(ctx, secret)
	if err != nil || p.Role != auth.RoleSAMIntegrator || p.Actor() != "token:ci" {
		t.Fatalf("TokenPrincipal = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "swt_nope", secret + "x", "Bearer " + secret} {
		if _, err := s.TokenPrincipal(ctx, bad); sam.ErrorCode(err) != sam.EUNAUTHORIZED {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	*now = now.Add(time.Hour)
	if _, err := s.TokenPrincipal(ctx, secret); sam.ErrorCode(err) != sam.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	for _, ttl := range []time.Duration{0, time.Second, 400 * 24 * time.Hour} {
		if _, _, err := s.CreateToken(ctx, "x", auth.RoleViewer, ttl, 0); sam.ErrorCode(err) != sam.EINVALID {
			t.Errorf("ttl %s: %v", ttl, err)
		}
	}
	if _, _, err := s.CreateToken(ctx, "x", "root", time.Hour, 0); sam.ErrorCode(err) != sam.EINVALID {
		t.Errorf("unknown role: %v", err)
	}
}
