package secret

import (
	"bytes"
	"testing"
)

func TestDeriveKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	a, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewKeyring(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	links := a.DeriveKeys("links")
	tests := []struct {
		name string
		got  []byte
		same bool
	}{
		{"same key and purpose, new keyring", mustKeyring(t, k1).DeriveKeys("links")[0], true},
		{"other purpose", a.DeriveKeys("webhooks")[0], false},
		{"other key", rotated.DeriveKeys("links")[0], false},
		{"previous key after rotation", rotated.DeriveKeys("links")[1], true},
		{"the secret key itself", k1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != 32 {
				t.Fatalf("derived key is %d bytes, want 32", len(tc.got))
			}
			if bytes.Equal(tc.got, links[0]) != tc.same {
				t.Errorf("equal to the first derivation: %t, want %t", !tc.same, tc.same)
			}
		})
	}
	if n := len(rotated.DeriveKeys("x")); n != 2 {
		t.Errorf("rotated keyring derives %d keys, want 2", n)
	}
}

func mustKeyring(t *testing.T, k []byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
