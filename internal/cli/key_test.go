package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// keyFileRing reads the keys of a key file.
func keyFileRing(t *testing.T, path string) (*secret.Keyring, []string) {
	t.Helper()
	lines, err := keyFileKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for _, l := range lines {
		k, err := secret.DecodeKey(l)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	kr, err := secret.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return kr, lines
}

// plaintexts opens every stored secret with kr.
func plaintexts(t *testing.T, dbPath string, kr *secret.Keyring) (opened []string, failures []error) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.SealedSecrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		p, err := kr.Open(x.Secret)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		opened = append(opened, string(p))
	}
	return opened, failures
}

func TestKeyRotate(t *testing.T) {
	e := newCLIEnv(t)
	keyFile := filepath.Join(e.dir, "keys", "seatwise.key")
	delete(e.vars, "SEATWISE_SECRET_KEY")
	e.vars["SEATWISE_SECRET_KEY_FILE"] = keyFile
	e.vars["SEATWISE_LOG_LEVEL"] = "debug"
	dbPath := filepath.Join(e.dir, "seatwise.db")
	var logs bytes.Buffer
	run := func(args ...string) string {
		t.Helper()
		out, errs, code := e.run("", args...)
		logs.WriteString(errs)
		if code != 0 {
			t.Fatalf("seatwise %s: exit %d\n%s", strings.Join(args, " "), code, errs)
		}
		return out
	}

	srv := simProfile(t, e, mscloud.Config{Seed: 6, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 6, Users: 40, Environments: 2}}}})
	info := srv.Info()
	// A second, delegated profile of the same tenant holds a refresh token.
	secretFile := filepath.Join(e.dir, "secret.txt")
	args := []string{"profile", "add", "deleg", "--tenant-id", info.TenantID, "--client-id", info.ClientID,
		"--client-secret-file", secretFile, "--login-url", info.LoginURL, "--graph-url", info.GraphURL, "--ca-file", info.CAFile}
	for _, env := range info.Environments {
		args = append(args, "--environment", env.URL)
	}
	run(args...)
	user, err := connecttest.Admin(srv.Tenant())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr, _ := connectProfile(t, e, "deleg", &connecttest.Browser{HTTP: srv.Client(), Login: user}); code != 0 {
		t.Fatalf("connect: %s", stderr)
	}
	run("sync", "--profile", "sim")
	run("sync", "--profile", "deleg")

	oldRing, oldLines := keyFileRing(t, keyFile)
	before, fails := plaintexts(t, dbPath, oldRing)
	if len(before) != 3 || len(fails) != 0 {
		t.Fatalf("before rotation: %d secrets open, failures %v", len(before), fails)
	}

	var rot KeyRotation
	if err := json.Unmarshal([]byte(run("key", "rotate", "--output", "json")), &rot); err != nil {
		t.Fatal(err)
	}
	newRing, newLines := keyFileRing(t, keyFile)
	if rot.Secrets != 3 || rot.Resealed != 3 || rot.KeyID != newRing.KeyID() || rot.KeyID == oldRing.KeyID() ||
		len(rot.RemovedKeyIDs) != 1 || rot.RemovedKeyIDs[0] != oldRing.KeyID() {
		t.Errorf("rotation %+v (old key %s, new %s)", rot, oldRing.KeyID(), newRing.KeyID())
	}
	if len(newLines) != 1 || newLines[0] == oldLines[0] {
		t.Errorf("the key file still holds %d keys after the rotation", len(newLines))
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", st.Mode(), err)
	}
	// No secret opens with the old key; all open with the new one.
	if opened, fails := plaintexts(t, dbPath, oldRing); len(opened) != 0 || len(fails) != 3 {
		t.Errorf("after rotation %d secrets open with the old key", len(opened))
	} else {
		for _, err := range fails {
			if !errors.Is(err, secret.ErrUnknownKey) {
				t.Errorf("open with the old key: %v", err)
			}
		}
	}
	after, fails := plaintexts(t, dbPath, newRing)
	if len(after) != 3 || len(fails) != 0 {
		t.Fatalf("after rotation: %d secrets open with the new key, failures %v", len(after), fails)
	}

	// Every profile still syncs (the delegated one rotates its refresh
	// token under the new key).
	run("sync", "--profile", "sim")
	run("sync", "--profile", "deleg")
	final, fails := plaintexts(t, dbPath, newRing)
	if len(fails) != 0 {
		t.Fatalf("after syncing: %v", fails)
	}
	for _, p := range []string{"sim", "deleg"} {
		if out := run("profile", "show", p); !strings.Contains(out, string(sam.ProfileConnected)) {
			t.Errorf("profile %s after rotation:\n%s", p, out)
		}
	}

	// No secret, token or key in plain text in the database files or logs.
	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(dbPath + suffix)
		if err == nil {
			files = append(files, b...)
		}
	}
	if len(files) == 0 {
		t.Fatal("database file not found")
	}
	needles := append(append(append([]string{info.ClientSecret}, before...), after...), final...)
	needles = append(needles, oldLines...)
	needles = append(needles, newLines...)
	if logs.Len() == 0 {
		t.Fatal("no logs captured")
	}
	for _, n := range needles {
		if len(n) < 8 {
			t.Fatalf("suspiciously short secret %q", n)
		}
		if bytes.Contains(files, []byte(n)) {
			t.Errorf("the database holds a secret in plain text (%d characters)", len(n))
		}
		if strings.Contains(logs.String(), n) {
			t.Errorf("the logs hold a secret in plain text (%d characters)", len(n))
		}
	}
}

func TestKeyRotateFromEnvironment(t *testing.T) {
	e := newCLIEnv(t)
	e.ok(testSecret, "profile", "add", "contoso", "--tenant-id", "11111111-2222-3333-4444-555555555555",
		"--client-id", "aaaaaaaa-2222-3333-4444-555555555555", "--client-secret-file", "-")
	old := e.vars["SEATWISE_SECRET_KEY"]
	if _, stderr, code := e.run("", "key", "rotate"); code != sam.ExitUsage || !strings.Contains(stderr, "NEW,OLD") {
		t.Errorf("rotate with one key from the environment: exit %d %s", code, stderr)
	}
	newKey := strings.TrimSpace(e.ok("", "key", "generate"))
	e.vars["SEATWISE_SECRET_KEY"] = newKey + "," + old
	out := e.ok("", "key", "rotate")
	if !strings.Contains(out, "set SEATWISE_SECRET_KEY to that key alone") {
		t.Errorf("rotate output:\n%s", out)
	}
	e.vars["SEATWISE_SECRET_KEY"] = newKey
	k, _ := secret.DecodeKey(newKey)
	kr, _ := secret.NewKeyring(k)
	opened, fails := plaintexts(t, filepath.Join(e.dir, "seatwise.db"), kr)
	if len(opened) != 1 || opened[0] != testSecret || len(fails) != 0 {
		t.Errorf("after rotation with the new key alone: %v %v", len(opened), fails)
	}
}
