package secret

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestReplaceAndReload(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	old, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewKeyring(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	before, err := old.Seal([]byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := rotated.Seal([]byte("after"))
	if err != nil {
		t.Fatal(err)
	}

	// Without a reloader the old keyring cannot open the new secret.
	if _, err := old.Open(after); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("open a secret of the rotated key: %v, want ErrUnknownKey", err)
	}
	// With one, it reloads once and opens it.
	var calls atomic.Int32
	old.SetReloader(func() (*Keyring, error) { calls.Add(1); return NewKeyring(k2, k1) })
	if got, err := old.Open(after); err != nil || string(got) != "after" {
		t.Fatalf("open after reload: %q %v", got, err)
	}
	if old.KeyID() != KeyID(k2) || len(old.KeyIDs()) != 2 {
		t.Errorf("after reload: current %s, keys %v", old.KeyID(), old.KeyIDs())
	}
	if got, err := old.Open(before); err != nil || string(got) != "before" {
		t.Errorf("the previous key still opens: %q %v", got, err)
	}
	// An unknown key id again does not reload within ten seconds.
	k3, _ := GenerateKey()
	third, _ := NewKeyring(k3)
	s3, _ := third.Seal([]byte("x"))
	if _, err := old.Open(s3); !errors.Is(err, ErrUnknownKey) || calls.Load() != 1 {
		t.Errorf("second unknown key: %v after %d reloads, want ErrUnknownKey after 1", err, calls.Load())
	}
	old.reloadedAt = time.Now().Add(-time.Minute)
	if _, err := old.Open(s3); !errors.Is(err, ErrUnknownKey) || calls.Load() != 2 {
		t.Errorf("after ten seconds: %v after %d reloads, want a second reload", err, calls.Load())
	}

	// Replace: new secrets are sealed with the replacement's current key.
	a, _ := NewKeyring(k1)
	a.Replace(rotated)
	s, err := a.Seal([]byte("y"))
	if err != nil || s.KeyID != KeyID(k2) || !a.NeedsReseal(before) {
		t.Errorf("after Replace: sealed with %s (%v), want %s", s.KeyID, err, KeyID(k2))
	}
}
