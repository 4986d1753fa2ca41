package storetest

import (
	"bytes"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// secretTests cover SecretRotationStore.
var secretTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"SecretRotation", testSecretRotation},
}

func testSecretRotation(t *testing.T, s store.Store) {
	a := newProfile(t, s, "alpha", 0)
	b := newProfile(t, s, "beta", 0)
	old := func(ct string) sam.SealedSecret { return sam.SealedSecret{KeyID: "k1", Ciphertext: []byte(ct)} }
	must(t, s.PutSecret(ctx(t), b.ID, sam.SecretClientSecret, old("b-secret")))
	must(t, s.PutSecret(ctx(t), a.ID, sam.SecretRefreshToken, old("a-rt")))
	must(t, s.PutSecret(ctx(t), a.ID, sam.SecretClientSecret, old("a-secret")))
	all, err := s.SealedSecrets(ctx(t))
	must(t, err)
	want := []store.StoredSecret{
		{ProfileID: a.ID, Name: sam.SecretClientSecret, Secret: old("a-secret")},
		{ProfileID: a.ID, Name: sam.SecretRefreshToken, Secret: old("a-rt")},
		{ProfileID: b.ID, Name: sam.SecretClientSecret, Secret: old("b-secret")},
	}
	if len(all) != len(want) {
		t.Fatalf("SealedSecrets = %+v", all)
	}
	for i := range want {
		if all[i].ProfileID != want[i].ProfileID || all[i].Name != want[i].Name || all[i].Secret.KeyID != "k1" || !bytes.Equal(all[i].Secret.Ciphertext, want[i].Secret.Ciphertext) {
			t.Errorf("SealedSecrets[%d] = %+v, want %+v", i, all[i], want[i])
		}
	}

	// A refresh token rotated after the listing is not overwritten.
	must(t, s.PutSecret(ctx(t), a.ID, sam.SecretRefreshToken, sam.SealedSecret{KeyID: "k1", Ciphertext: []byte("a-rt-2")}))
	var repl []store.SecretReplacement
	for _, x := range all {
		repl = append(repl, store.SecretReplacement{ProfileID: x.ProfileID, Name: x.Name, Old: x.Secret,
			New: sam.SealedSecret{KeyID: "k2", Ciphertext: append([]byte("new-"), x.Secret.Ciphertext...)}})
	}
	n, err := s.ReplaceSecrets(ctx(t), repl)
	must(t, err)
	if n != 2 {
		t.Errorf("replaced %d, want 2 (the rotated refresh token stays)", n)
	}
	for _, c := range []struct {
		id         int64
		name, key  string
		ciphertext string
	}{{a.ID, sam.SecretClientSecret, "k2", "new-a-secret"}, {a.ID, sam.SecretRefreshToken, "k1", "a-rt-2"}, {b.ID, sam.SecretClientSecret, "k2", "new-b-secret"}} {
		got, err := s.Secret(ctx(t), c.id, c.name)
		must(t, err)
		if got.KeyID != c.key || string(got.Ciphertext) != c.ciphertext {
			t.Errorf("secret %d/%s = %s %q, want %s %q", c.id, c.name, got.KeyID, got.Ciphertext, c.key, c.ciphertext)
		}
	}
	// All or nothing: an invalid replacement changes nothing.
	_, err = s.ReplaceSecrets(ctx(t), []store.SecretReplacement{
		{ProfileID: a.ID, Name: sam.SecretRefreshToken, Old: sam.SealedSecret{KeyID: "k1", Ciphertext: []byte("a-rt-2")}, New: sam.SealedSecret{KeyID: "k2", Ciphertext: []byte("x")}},
		{ProfileID: a.ID, Name: "", New: sam.SealedSecret{KeyID: "k2"}},
	})
	mustCode(t, err, sam.EINVALID)
	if got, _ := s.Secret(ctx(t), a.ID, sam.SecretRefreshToken); got.KeyID != "k1" {
		t.Errorf("a refused replacement changed a secret: %+v", got)
	}
	// Replacing a deleted profile's secret is a no-op.
	must(t, s.DeleteProfile(ctx(t), b.ID))
	n, err = s.ReplaceSecrets(ctx(t), []store.SecretReplacement{{ProfileID: b.ID, Name: sam.SecretClientSecret,
		Old: sam.SealedSecret{KeyID: "k2", Ciphertext: []byte("new-b-secret")}, New: sam.SealedSecret{KeyID: "k3", Ciphertext: []byte("y")}}})
	must(t, err)
	if n != 0 {
		t.Errorf("replaced %d secrets of a deleted profile", n)
	}
}
