package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/secret"
)

// TestServeReloadsKeysOnSIGHUP rotates the key file under a running serve
// and sends it SIGHUP: it reads the keys again and seals with the new key.
func TestServeReloadsKeysOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite://" + filepath.Join(dir, "serve.db")
	keyFile := filepath.Join(dir, "seatwise.key")
	_, _, logs, stop := startServeLogs(t, dbURL, "--no-jobs", "--secret-key-file", keyFile)
	old, err := secret.LoadKeyring("", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// The rotation `seatwise key rotate` does to the file: a new current
	// key, the old one kept.
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(secret.EncodeKey(k)+"\n"+string(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := "current_key=" + secret.KeyID(k)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "secret keys reloaded (SIGHUP)") || !strings.Contains(logs.String(), want) {
		t.Fatalf("no reload with the new key %s (old %s) in the log:\n%s", secret.KeyID(k), old.KeyID(), logs.String())
	}
	if code := stop(); code != 0 {
		t.Errorf("serve exit %d", code)
	}
}
