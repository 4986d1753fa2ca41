// Package auth is sign-in for `seatwise serve`: local accounts with argon2id
// password hashes, server-side sessions, API tokens scoped to a role, login
// lockout, and the four roles every route is checked against.
//
// Secrets never reach the store: passwords are stored as argon2id hashes,
// session ids and API tokens as SHA-256 hashes (they are random 256-bit
// values, so a fast hash is enough). Errors are *sam.Error; failed sign-ins
// are EUNAUTHORIZED with one message whatever the reason, so that the answer
// does not tell which names exist.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"golang.org/x/crypto/argon2"
)

// Role is what a user or token may do.
type Role string

// The roles. Admin may do everything; the others are described in
// ../shared/docs/product.md §7.
const (
	RoleAdmin         Role = "admin"          // users, tokens, everything
	RoleSAMIntegrator Role = "sam_integrator" // manages profiles and runs
	RoleSAMManager    Role = "sam_manager"    // rules, candidates, entitlements
	RoleViewer        Role = "viewer"         // reads
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleSAMIntegrator, RoleSAMManager, RoleViewer}

// ParseRole returns the role named s; EINVALID for anything else.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", sam.Errorf(sam.EINVALID, "unknown role %q (known: admin, sam_integrator, sam_manager, viewer)", s)
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// ValidatePassword checks a new password: at least MinPasswordLength
// characters, at most 1024 bytes. EINVALID otherwise.
func ValidatePassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return sam.Errorf(sam.EINVALID, "password too short: use at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return sam.Errorf(sam.EINVALID, "password too long: at most 1024 bytes")
	}
	return nil
}

// argon2id parameters (RFC 9106 second recommended option, lowered memory:
// 19 MiB, 2 passes, as OWASP recommends as a minimum).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// HashPassword returns the argon2id hash of pw in PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "generate salt")
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash (made by HashPassword,
// with any parameters). A malformed hash is EINTERNAL.
func VerifyPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, sam.Errorf(sam.EINTERNAL, "stored password hash is not argon2id")
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, sam.Errorf(sam.EINTERNAL, "stored password hash has an unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false, sam.Errorf(sam.EINTERNAL, "stored password hash has malformed parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false, sam.Errorf(sam.EINTERNAL, "stored password hash is malformed")
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a sign-in names no user, so that
// unknown names take as long as wrong passwords.
var dummyHash, _ = HashPassword("seatwise-dummy-password")

// RandomSecret returns 32 random bytes in unpadded base64url, with prefix.
func RandomSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // cannot happen on supported systems
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the hex SHA-256 of a session id or API token, what the
// store keeps.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// GeneratePassword returns a random one-time password of 20 characters
// from an alphabet without look-alike characters.
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// TokenPrefix starts every API token, so that secret scanners recognise it.
const TokenPrefix = "swt_"

// Principal is who makes a request: a signed-in user or an API token.
type Principal struct {
	Kind               string // "user" or "token"
	Name               string // user name, or token name
	Role               Role
	UserID             int64 // the user, or the token's creator (0 when gone)
	TokenID            int64
	MustChangePassword bool
	Session            *store.Session // the browser session, nil for tokens
}

// Actor names the principal in the audit log: "user:NAME" or "token:NAME".
func (p *Principal) Actor() string { return p.Kind + ":" + p.Name }

// Service signs users in and checks sessions and tokens.
type Service struct {
	Store store.Store
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxFailures failed sign-ins in a row lock an account for LockFor.
	MaxFailures int
	LockFor     time.Duration
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL time.Duration
}

// NewService returns a Service with the default policy: 5 failures lock an
// account for 15 minutes; sessions last 12 hours.
func NewService(st store.Store) *Service {
	return &Service{Store: st, MaxFailures: 5, LockFor: 15 * time.Minute, SessionTTL: 12 * time.Hour}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// errSignIn is the one answer to every failed sign-in.
func errSignIn() error {
	return sam.Errorf(sam.EUNAUTHORIZED, "wrong name or password, or the account is locked or disabled")
}

// CreateUser adds a local account. EINVALID for a bad name, role or
// password; ECONFLICT when the name is taken.
func (s *Service) CreateUser(ctx context.Context, name string, role Role, password string, mustChange bool) (*store.User, error) {
	name = strings.TrimSpace(name)
	if !validUserName(name) {
		return nil, sam.Errorf(sam.EINVALID, "user name %q: use 1–64 letters, digits, '.', '-', '_' or '@'", name)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	h, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	u := &store.User{Name: name, Role: string(role), PasswordHash: h, MustChangePassword: mustChange}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

func validUserName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@", r)
		if !ok {
			return false
		}
	}
	return true
}

// EnsureFirstAdmin creates the user "admin" with a one-time password when
// there is no user at all, and returns that password (to print once);
// created is false (and password "") when users exist.
func (s *Service) EnsureFirstAdmin(ctx context.Context) (password string, created bool, err error) {
	users, err := s.Store.Users(ctx)
	if err != nil {
		return "", false, err
	}
	if len(users) > 0 {
		return "", false, nil
	}
	pw := GeneratePassword()
	if _, err := s.CreateUser(ctx, "admin", RoleAdmin, pw, true); err != nil {
		if sam.IsCode(err, sam.ECONFLICT) { // another instance created it first
			return "", false, nil
		}
		return "", false, err
	}
	return pw, true, nil
}

// Authenticate checks a name and password. A wrong password counts towards
// the lockout. EUNAUTHORIZED for any failure (same message).
func (s *Service) Authenticate(ctx context.Context, name, password string) (*store.User, error) {
	u, err := s.Store.UserByName(ctx, name)
	if sam.IsCode(err, sam.ENOTFOUND) {
		_, _ = VerifyPassword(dummyHash, password)
		return nil, errSignIn()
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if u.Disabled || now.Before(u.LockedUntil) {
		_, _ = VerifyPassword(dummyHash, password)
		return nil, errSignIn()
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, err := s.Store.RecordLoginFailure(ctx, u.ID, now, s.MaxFailures, s.LockFor); err != nil {
			return nil, err
		}
		return nil, errSignIn()
	}
	u.FailedLogins, u.LockedUntil, u.LastLogin = 0, time.Time{}, now
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// StartSession creates a session for u and returns the cookie value (a new
// random id: signing in always rotates the session id).
func (s *Service) StartSession(ctx context.Context, u *store.User) (string, *store.Session, error) {
	id := RandomSecret("")
	sess := &store.Session{IDHash: HashSecret(id), UserID: u.ID, CSRFToken: RandomSecret(""), CreatedAt: s.now(),
		ExpiresAt: s.now().Add(s.SessionTTL)}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return id, sess, nil
}

// SessionPrincipal returns the principal of a session cookie value.
// EUNAUTHORIZED when the session is unknown or expired or the user disabled.
func (s *Service) SessionPrincipal(ctx context.Context, cookie string) (*Principal, error) {
	if cookie == "" {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "not signed in")
	}
	sess, err := s.Store.Session(ctx, HashSecret(cookie))
	if sam.IsCode(err, sam.ENOTFOUND) {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "session expired or signed out; sign in again")
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		_ = s.Store.DeleteSession(ctx, sess.IDHash)
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "session expired; sign in again")
	}
	u, err := s.Store.User(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "account disabled")
	}
	return &Principal{Kind: "user", Name: u.Name, Role: Role(u.Role), UserID: u.ID, MustChangePassword: u.MustChangePassword, Session: sess}, nil
}

// EndSession signs a session out.
func (s *Service) EndSession(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	return s.Store.DeleteSession(ctx, HashSecret(cookie))
}

// ChangePassword sets a user's own new password after checking the current
// one, clears the must-change flag and ends the user's other sessions
// (keepSession, the hash of the current one, survives when not "").
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, next, keepSession string) error {
	u, err := s.Store.User(ctx, userID)
	if err != nil {
		return err
	}
	ok, err := VerifyPassword(u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		return sam.Errorf(sam.EUNAUTHORIZED, "the current password is wrong")
	}
	if next == current {
		return sam.Errorf(sam.EINVALID, "the new password must differ from the current one")
	}
	if err := ValidatePassword(next); err != nil {
		return err
	}
	if u.PasswordHash, err = HashPassword(next); err != nil {
		return err
	}
	u.MustChangePassword = false
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.endOtherSessions(ctx, u.ID, keepSession)
}

func (s *Service) endOtherSessions(ctx context.Context, userID int64, keep string) error {
	var kept *store.Session
	if keep != "" {
		if k, err := s.Store.Session(ctx, keep); err == nil {
			kept = k
		}
	}
	if _, err := s.Store.DeleteUserSessions(ctx, userID); err != nil {
		return err
	}
	if kept != nil {
		return s.Store.CreateSession(ctx, kept)
	}
	return nil
}

// ResetPassword gives a user a new one-time password (returned, to pass on
// once), unlocks the account and ends its sessions.
func (s *Service) ResetPassword(ctx context.Context, name string) (string, error) {
	u, err := s.Store.UserByName(ctx, name)
	if err != nil {
		return "", err
	}
	pw := GeneratePassword()
	if u.PasswordHash, err = HashPassword(pw); err != nil {
		return "", err
	}
	u.MustChangePassword, u.FailedLogins, u.LockedUntil = true, 0, time.Time{}
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return "", err
	}
	if _, err := s.Store.DeleteUserSessions(ctx, u.ID); err != nil {
		return "", err
	}
	return pw, nil
}

// SetDisabled disables (ending its sessions) or enables an account.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (*store.User, error) {
	u, err := s.Store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	u.Disabled = disabled
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	if disabled {
		if _, err := s.Store.DeleteUserSessions(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// SetRole changes a user's role.
func (s *Service) SetRole(ctx context.Context, name string, role Role) (*store.User, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	u, err := s.Store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	u.Role = string(role)
	return u, s.Store.UpdateUser(ctx, u)
}

// MaxTokenTTL is the longest an API token may live.
const MaxTokenTTL = 366 * 24 * time.Hour

// CreateToken issues an API token for role, valid for ttl (1 minute to
// MaxTokenTTL), and returns its secret (shown once) and record.
func (s *Service) CreateToken(ctx context.Context, name string, role Role, ttl time.Duration, createdBy int64) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, sam.Errorf(sam.EINVALID, "token name: 1–100 characters")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", nil, err
	}
	if ttl < time.Minute || ttl > MaxTokenTTL {
		return "", nil, sam.Errorf(sam.EINVALID, "token lifetime %s: between 1 minute and 366 days", ttl)
	}
	secret := RandomSecret(TokenPrefix)
	t := &store.APIToken{Name: name, Hash: HashSecret(secret), Prefix: secret[:len(TokenPrefix)+6], Role: string(role),
		CreatedBy: createdBy, CreatedAt: s.now(), ExpiresAt: s.now().Add(ttl)}
	if err := s.Store.CreateAPIToken(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// TokenPrincipal returns the principal of a bearer token. EUNAUTHORIZED
// when unknown or expired.
func (s *Service) TokenPrincipal(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "malformed API token")
	}
	t, err := s.Store.APITokenByHash(ctx, HashSecret(secret))
	if sam.IsCode(err, sam.ENOTFOUND) {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "unknown or revoked API token")
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(t.ExpiresAt) {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "API token %q expired at %s", t.Name, t.ExpiresAt.Format(time.RFC3339))
	}
	if now.Sub(t.LastUsed) > time.Minute {
		_ = s.Store.TouchAPIToken(ctx, t.ID, now) // best effort, at most once a minute
	}
	return &Principal{Kind: "token", Name: t.Name, Role: Role(t.Role), UserID: t.CreatedBy, TokenID: t.ID}, nil
}
