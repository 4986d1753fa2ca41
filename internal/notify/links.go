package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
)

// LinkPurpose is the purpose the link-signing keys are derived for from the
// installation's secret key (secret.Keyring.DeriveKeys).
const LinkPurpose = "seatwise reclamation links v1"

// LinkPath starts the address of a signed link: LinkPath + token. The
// token travels in the query (parameter t), which the server does not log.
const LinkPath = "/link?t="

// MaxTokenLen bounds a token; longer input is refused before any parsing.
const MaxTokenLen = 1024

// maxRecipientLen bounds the recipient bound into a token (an e-mail
// address is at most 320 characters; group ids are shorter).
const maxRecipientLen = 320

// tokenVersion starts every token.
const tokenVersion = "1"

// Sentinel errors of Verify, wrapped in *sam.Error values; test with
// errors.Is.
var (
	// ErrMalformed: the token is not a Seatwise link token at all
	// (truncated, mangled by a mail client, a guessed URL).
	ErrMalformed = errors.New("the link is malformed")
	// ErrBadSignature: the token parses but its signature does not match
	// any key of this installation (altered, or from another installation).
	ErrBadSignature = errors.New("the link's signature is not valid")
	// ErrExpired: the token is genuine but its time is over.
	ErrExpired = errors.New("the link has expired")
)

// Claims is what a signed link grants: Recipient may take Action on
// removal candidate CandidateID until Expires. Nonce makes every link
// unique, so that its use can be recorded and refused the second time.
type Claims struct {
	CandidateID int64
	Action      string // reclaim.ActionKeep, ActionRelease, ActionApprove or ActionDeny
	Recipient   string // who the link was sent to (e-mail address, UPN or "group:ID")
	Expires     time.Time
	Nonce       string // 22 characters of URL-safe base64 (16 random bytes)
}

// validAction reports whether a is an action a link may carry.
func validAction(a string) bool {
	switch a {
	case reclaim.ActionKeep, reclaim.ActionRelease, reclaim.ActionApprove, reclaim.ActionDeny:
		return true
	}
	return false
}

// Links signs and verifies the tokens of keep / release / approve / deny
// links. Tokens are
//
//	1.<candidate id>.<action>.<expiry, Unix seconds>.<nonce>.<recipient, base64url>.<HMAC-SHA256, base64url>
//
// where the HMAC covers everything before its dot, keyed with a key derived
// from the installation's secret key (never stored). Verification is
// constant-time and accepts keys derived from previous secret keys, so that
// links survive a key rotation. Links is safe for concurrent use.
type Links struct {
	keys [][]byte // current first
}

// NewLinks returns the link signer of the installation whose secret keys kr
// holds. EINVALID when kr is nil.
func NewLinks(kr *secret.Keyring) (*Links, error) {
	if kr == nil {
		return nil, sam.Errorf(sam.EINVALID, "signed links need the installation's secret key")
	}
	return &Links{keys: kr.DeriveKeys(LinkPurpose)}, nil
}

// Sign returns the token of c, with a fresh random nonce when c.Nonce is
// empty. EINVALID for an unknown action, a non-positive candidate id, a zero
// expiry, or a missing or over-long recipient.
func (l *Links) Sign(c Claims) (string, error) {
	switch {
	case c.CandidateID <= 0:
		return "", sam.Errorf(sam.EINVALID, "signed link: candidate id must be positive, not %d", c.CandidateID)
	case !validAction(c.Action):
		return "", sam.Errorf(sam.EINVALID, "signed link: unknown action %q", c.Action)
	case c.Expires.IsZero():
		return "", sam.Errorf(sam.EINVALID, "signed link: an expiry is required")
	case c.Recipient == "" || len(c.Recipient) > maxRecipientLen:
		return "", sam.Errorf(sam.EINVALID, "signed link: the recipient must be 1 to %d bytes", maxRecipientLen)
	}
	if c.Nonce == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", sam.Wrap(sam.EINTERNAL, err, "signed link: random nonce")
		}
		c.Nonce = base64.RawURLEncoding.EncodeToString(b)
	} else if !validNonce(c.Nonce) {
		return "", sam.Errorf(sam.EINVALID, "signed link: nonce must be 22 characters of URL-safe base64")
	}
	body := strings.Join([]string{tokenVersion, strconv.FormatInt(c.CandidateID, 10), c.Action,
		strconv.FormatInt(c.Expires.Unix(), 10), c.Nonce, base64.RawURLEncoding.EncodeToString([]byte(c.Recipient))}, ".")
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(l.keys[0], body)), nil
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

func validNonce(n string) bool {
	if len(n) != 22 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(n)
	return err == nil && len(b) == 16 && b64(b) == n
}

// ParseToken splits a token into its claims, the signed part and the
// signature without checking the signature or the expiry. Every error
// wraps ErrMalformed (EINVALID) and never repeats the token.
func ParseToken(token string) (Claims, string, []byte, error) {
	bad := func(why string) (Claims, string, []byte, error) {
		return Claims{}, "", nil, sam.Wrap(sam.EINVALID, ErrMalformed, "%s", why)
	}
	if len(token) > MaxTokenLen {
		return bad(fmt.Sprintf("the link is %d characters long, more than %d", len(token), MaxTokenLen))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 7 {
		return bad(fmt.Sprintf("the link has %d parts, want 7", len(parts)))
	}
	if parts[0] != tokenVersion {
		return bad("unknown link version")
	}
	var c Claims
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 || parts[1] != strconv.FormatInt(id, 10) {
		return bad("the candidate number is not a positive number")
	}
	c.CandidateID = id
	if !validAction(parts[2]) {
		return bad("unknown action")
	}
	c.Action = parts[2]
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || exp <= 0 || parts[3] != strconv.FormatInt(exp, 10) || exp > 1<<40 {
		return bad("the expiry is not a time")
	}
	c.Expires = time.Unix(exp, 0).UTC()
	if !validNonce(parts[4]) {
		return bad("the nonce is not 16 bytes of URL-safe base64")
	}
	c.Nonce = parts[4]
	rcpt, err := base64.RawURLEncoding.DecodeString(parts[5])
	if err != nil || len(rcpt) == 0 || len(rcpt) > maxRecipientLen || base64.RawURLEncoding.EncodeToString(rcpt) != parts[5] {
		return bad("the recipient is not URL-safe base64")
	}
	c.Recipient = string(rcpt)
	sig, err := base64.RawURLEncoding.DecodeString(parts[6])
	if err != nil || len(sig) != sha256.Size || base64.RawURLEncoding.EncodeToString(sig) != parts[6] {
		return bad("the signature is not 32 bytes of URL-safe base64")
	}
	return c, token[:len(token)-len(parts[6])-1], sig, nil
}

// Verify checks a token's signature (constant-time, against every key of
// the installation) and then its expiry at now, and returns its claims.
// Errors are EINVALID wrapping ErrMalformed or ErrBadSignature, or
// EFORBIDDEN wrapping ErrExpired (the claims are returned with it, so that
// the page can say when the link expired).
func (l *Links) Verify(token string, now time.Time) (Claims, error) {
	c, body, sig, err := ParseToken(token)
	if err != nil {
		return Claims{}, err
	}
	ok := false
	for _, k := range l.keys {
		if hmac.Equal(mac(k, body), sig) {
			ok = true
		}
	}
	if !ok {
		return Claims{}, sam.Wrap(sam.EINVALID, ErrBadSignature, "the link was altered or does not come from this Seatwise installation")
	}
	if !now.Before(c.Expires) {
		return c, sam.Wrap(sam.EFORBIDDEN, ErrExpired, "this link was valid until %s", c.Expires.Format("2006-01-02 15:04 UTC"))
	}
	return c, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
