package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
)

func keyring(t testing.TB, b byte, prev ...byte) *secret.Keyring {
	t.Helper()
	var ps [][]byte
	for _, p := range prev {
		ps = append(ps, bytes.Repeat([]byte{p}, secret.KeySize))
	}
	kr, err := secret.NewKeyring(bytes.Repeat([]byte{b}, secret.KeySize), ps...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustLinks(t testing.TB, kr *secret.Keyring) *Links {
	t.Helper()
	l, err := NewLinks(kr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLinksSignVerify(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := mustLinks(t, keyring(t, 1))
	claims := Claims{CandidateID: 42, Action: "keep", Recipient: "adele.vance@contoso.com", Expires: now.Add(7 * 24 * time.Hour)}
	tok, err := l.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok == other {
		t.Error("two links for the same claims are identical; want a fresh nonce each")
	}
	// Flip one character of each part in turn.
	flip := func(i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	sigStart := strings.LastIndex(tok, ".") + 1
	tests := []struct {
		name  string
		l     *Links
		token string
		now   time.Time
		want  error // nil: valid
	}{
		{"valid", l, tok, now, nil},
		{"valid one second before expiry", l, tok, claims.Expires.Add(-time.Second), nil},
		{"expired at the expiry", l, tok, claims.Expires, ErrExpired},
		{"expired long after", l, tok, now.AddDate(1, 0, 0), ErrExpired},
		{"signature altered", l, flip(sigStart + 3), now, ErrBadSignature},
		{"recipient altered", l, strings.Replace(tok, ".YWRlbGU", ".YWRlbGF", 1), now, ErrBadSignature},
		{"action altered", l, strings.Replace(tok, ".keep.", ".release.", 1), now, ErrBadSignature},
		{"candidate altered", l, strings.Replace(tok, "1.42.", "1.43.", 1), now, ErrBadSignature},
		{"other installation", mustLinks(t, keyring(t, 2)), tok, now, ErrBadSignature},
		{"after a key rotation", mustLinks(t, keyring(t, 2, 1)), tok, now, nil},
		{"truncated", l, tok[:len(tok)-5], now, ErrMalformed},
		{"empty", l, "", now, ErrMalformed},
		{"too long", l, strings.Repeat("a", MaxTokenLen+1), now, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.l.Verify(tc.token, tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.CandidateID != 42 || c.Action != "keep" || c.Recipient != claims.Recipient || !c.Expires.Equal(claims.Expires) {
					t.Errorf("claims %+v, want %+v", c, claims)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if strings.Contains(sam.ErrorMessage(err), tok) && tc.token == tok {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
}

func TestLinksSignRefuses(t *testing.T) {
	l := mustLinks(t, keyring(t, 1))
	exp := time.Now().Add(time.Hour)
	for _, c := range []Claims{
		{CandidateID: 0, Action: "keep", Recipient: "a@b", Expires: exp},
		{CandidateID: 1, Action: "delete", Recipient: "a@b", Expires: exp},
		{CandidateID: 1, Action: "keep", Recipient: "", Expires: exp},
		{CandidateID: 1, Action: "keep", Recipient: strings.Repeat("a", 321), Expires: exp},
		{CandidateID: 1, Action: "keep", Recipient: "a@b"},
		{CandidateID: 1, Action: "keep", Recipient: "a@b", Expires: exp, Nonce: "short"},
	} {
		if _, err := l.Sign(c); !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("Sign(%+v): %v, want EINVALID", c, err)
		}
	}
	if _, err := NewLinks(nil); !sam.IsCode(err, sam.EINVALID) {
		t.Errorf("NewLinks(nil): %v, want EINVALID", err)
	}
}

// FuzzParseToken feeds arbitrary text to the token parser and verifier:
// they must never panic, must refuse anything they did not sign, and a
// token that parses must re-encode to exactly its input.
func FuzzParseToken(f *testing.F) {
	kr := keyring(f, 7)
	l := mustLinks(f, kr)
	good, err := l.Sign(Claims{CandidateID: 9, Action: "release", Recipient: "user@contoso.com", Expires: time.Unix(1900000000, 0),
		Nonce: "AAECAwQFBgcICQoLDA0ODw"}) // fixed: fuzz workers must sign the same seed
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", "1......", "1.1.keep.1.AAAAAAAAAAAAAAAAAAAAAA.YQ.", good + ".", strings.ToUpper(good)} {
		f.Add(s)
	}
	now := time.Unix(1800000000, 0)
	f.Fuzz(func(t *testing.T, token string) {
		c, body, sig, err := ParseToken(token)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if body+"."+b64(sig) != token {
			t.Fatalf("signed part %q + signature does not give back %q", body, token)
		}
		if c.CandidateID <= 0 || !validAction(c.Action) || c.Recipient == "" || !validNonce(c.Nonce) {
			t.Fatalf("parsed invalid claims %+v", c)
		}
		_, verr := l.Verify(token, now)
		if verr == nil && token != good {
			t.Fatalf("Verify accepted a token it did not sign: %q", token)
		}
	})
}
