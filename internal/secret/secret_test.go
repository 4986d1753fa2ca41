package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	key := mustKey(t)
	kr, err := NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range [][]byte{nil, []byte("x"), []byte("client-secret-value~with.symbols"), bytes.Repeat([]byte{0}, 10000)} {
		s, err := kr.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyID != KeyID(key) || len(s.KeyID) != 16 {
			t.Errorf("key id %q", s.KeyID)
		}
		if len(plain) > 4 && bytes.Contains(s.Ciphertext, plain) {
			t.Error("ciphertext contains the plaintext")
		}
		got, err := kr.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, want %q", got, plain)
		}
	}
}

func TestNonceIsFresh(t *testing.T) {
	kr, _ := NewKeyring(mustKey(t))
	a, _ := kr.Seal([]byte("same"))
	b, _ := kr.Seal([]byte("same"))
	if bytes.Equal(a.Ciphertext, b.Ciphertext) || bytes.Equal(a.Ciphertext[1:13], b.Ciphertext[1:13]) {
		t.Error("two seals of the same plaintext share nonce or ciphertext")
	}
}

func TestTamperAndWrongKey(t *testing.T) {
	key := mustKey(t)
	kr, _ := NewKeyring(key)
	s, _ := kr.Seal([]byte("refresh-token-0123456789"))
	tamper := func(f func(c []byte) []byte) sam.SealedSecret {
		c := f(bytes.Clone(s.Ciphertext))
		return sam.SealedSecret{KeyID: s.KeyID, Ciphertext: c}
	}
	other, _ := NewKeyring(mustKey(t))
	// A keyring holding a different key under the sealed id cannot exist,
	// but a relabelled ciphertext can: open it under the other key's id.
	relabelled := sam.SealedSecret{KeyID: other.KeyID(), Ciphertext: s.Ciphertext}
	tests := []struct {
		name string
		kr   *Keyring
		s    sam.SealedSecret
		want error
	}{
		{"flipped ciphertext bit", kr, tamper(func(c []byte) []byte { c[20] ^= 1; return c }), ErrCorrupt},
		{"flipped tag bit", kr, tamper(func(c []byte) []byte { c[len(c)-1] ^= 0x80; return c }), ErrCorrupt},
		{"flipped nonce bit", kr, tamper(func(c []byte) []byte { c[3] ^= 1; return c }), ErrCorrupt},
		{"truncated", kr, tamper(func(c []byte) []byte { return c[:len(c)-1] }), ErrCorrupt},
		{"too short", kr, tamper(func(c []byte) []byte { return c[:10] }), ErrCorrupt},
		{"empty", kr, tamper(func(c []byte) []byte { return nil }), ErrCorrupt},
		{"bad version", kr, tamper(func(c []byte) []byte { c[0] = 2; return c }), ErrCorrupt},
		{"wrong key", other, s, ErrUnknownKey},
		{"relabelled for another key", other, relabelled, ErrCorrupt},
		{"unknown key id", kr, sam.SealedSecret{KeyID: "0011223344556677", Ciphertext: s.Ciphertext}, ErrUnknownKey},
		{"malformed key id", kr, sam.SealedSecret{KeyID: "not hex\x00secret", Ciphertext: s.Ciphertext}, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kr.Open(tt.s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
			if sam.ErrorCode(err) != sam.EINTERNAL {
				t.Errorf("code %s", sam.ErrorCode(err))
			}
			if strings.Contains(err.Error(), "refresh-token") || strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), "\x00") {
				t.Errorf("error leaks: %v", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	oldRing, _ := NewKeyring(oldKey)
	s, _ := oldRing.Seal([]byte("v"))
	ring, err := NewKeyring(newKey, oldKey, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if ids := ring.KeyIDs(); len(ids) != 2 || ids[0] != KeyID(newKey) || ids[1] != KeyID(oldKey) {
		t.Fatalf("KeyIDs = %v", ids)
	}
	if !ring.NeedsReseal(s) {
		t.Error("NeedsReseal = false for a secret under the old key")
	}
	r, err := ring.Reseal(s)
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyID != KeyID(newKey) || ring.NeedsReseal(r) {
		t.Errorf("resealed under %s", r.KeyID)
	}
	if got, err := ring.Open(r); err != nil || string(got) != "v" {
		t.Errorf("Open(resealed) = %q, %v", got, err)
	}
	if got, err := ring.Open(s); err != nil || string(got) != "v" {
		t.Errorf("Open(old) = %q, %v", got, err)
	}
	newOnly, _ := NewKeyring(newKey)
	if _, err := newOnly.Open(s); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), s.KeyID) {
		t.Errorf("Open without the old key: %v", err)
	}
}

func TestDecodeKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, 32)
	tests := []struct {
		in      string
		wantErr string
	}{
		{EncodeKey(key), ""},
		{"  " + EncodeKey(key) + "\n", ""},
		{strings.TrimRight(EncodeKey(key), "="), ""},
		{base64.URLEncoding.EncodeToString(key), ""}, // URL alphabet
		{"", "empty"},
		{"c2hvcnQ=", "is 5 bytes, want 32"},
		{"!!!!not-base64-SECRETVALUE", "not valid base64"},
	}
	for _, tt := range tests {
		_, err := DecodeKey(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("DecodeKey(%q): %v", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !sam.IsCode(err, sam.EINVALID) {
			t.Errorf("DecodeKey(%q) = %v, want EINVALID %q", tt.in, err, tt.wantErr)
		}
		if err != nil && tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
	if _, err := NewKeyring([]byte("short")); !sam.IsCode(err, sam.EINVALID) {
		t.Errorf("NewKeyring(short) = %v", err)
	}
}

func TestLoadKeyringFromEnvValue(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	kr, err := LoadKeyring(EncodeKey(a)+", "+EncodeKey(b), "/nonexistent/should/not/be/created")
	if err != nil {
		t.Fatal(err)
	}
	if kr.KeyID() != KeyID(a) || len(kr.KeyIDs()) != 2 {
		t.Errorf("keyring %v", kr)
	}
	if _, err := os.Stat("/nonexistent/should/not/be/created"); err == nil {
		t.Error("key file created although a key was given")
	}
	if _, err := LoadKeyring("bm90IGEga2V5", ""); !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), "SEATWISE_SECRET_KEY") {
		t.Errorf("bad env key: %v", err)
	}
	if _, err := LoadKeyring("", ""); !sam.IsCode(err, sam.EINVALID) {
		t.Errorf("no key: %v", err)
	}
}

func TestLoadKeyringCreatesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "seatwise.key")
	kr, err := LoadKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %04o, want 0700", dst.Mode().Perm())
	}
	s, _ := kr.Seal([]byte("persisted"))
	// A second load reads the same key.
	kr2, err := LoadKeyring("", path)
	if err != nil {
		t.Fatal(err)
	}
	if kr2.KeyID() != kr.KeyID() {
		t.Fatalf("reloaded key id %s, want %s", kr2.KeyID(), kr.KeyID())
	}
	if got, err := kr2.Open(s); err != nil || string(got) != "persisted" {
		t.Errorf("Open after reload = %q, %v", got, err)
	}
	if err := CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKeyFile over an existing file: %v", err)
	}
}

func TestLoadKeyringFilePermissions(t *testing.T) {
	dir := t.TempDir()
	key := EncodeKey(mustKey(t))
	tests := []struct {
		name    string
		mode    os.FileMode
		content string
		wantErr string
	}{
		{"owner only", 0o600, key + "\n", ""},
		{"owner read only", 0o400, "# comment\n\n" + key + "\n", ""},
		{"group readable", 0o640, key, "mode 0640"},
		{"world readable", 0o644, key, "chmod 600"},
		{"group writable", 0o620, key, "group or others"},
		{"empty", 0o600, "# nothing\n", "holds no key"},
		{"bad key", 0o600, key + "\nnot-a-key-VALUE\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring("", path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !sam.IsCode(err, sam.EINVALID) {
				t.Fatalf("err = %v, want EINVALID containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "VALUE") {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := LoadKeyring("", dir); err == nil || !strings.Contains(err.Error(), "not a regular file") && !strings.Contains(err.Error(), "group or others") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestKeyringStringHidesKeys(t *testing.T) {
	key := mustKey(t)
	kr, _ := NewKeyring(key)
	if s := kr.String(); strings.Contains(s, EncodeKey(key)) || !strings.Contains(s, kr.KeyID()) {
		t.Errorf("String() = %q", s)
	}
}

// Several processes starting at once on a fresh installation agree on one key.
func TestLoadKeyringConcurrentCreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seatwise.key")
	const n = 8
	ids := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			kr, err := LoadKeyring("", path)
			if err != nil {
				errs <- err
				return
			}
			ids <- kr.KeyID()
		}()
	}
	first := ""
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case id := <-ids:
			if first == "" {
				first = id
			} else if id != first {
				t.Fatalf("key ids %s and %s", first, id)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only the key file", entries, err)
	}
}
