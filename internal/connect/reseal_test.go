package connect_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

func TestReseal(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "seatwise.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k0, _ := secret.GenerateKey()
	k1, _ := secret.GenerateKey()
	k2, _ := secret.GenerateKey()
	old, _ := secret.NewKeyring(k1)
	lost, _ := secret.NewKeyring(k0)
	rotated, _ := secret.NewKeyring(k2, k1)
	var ids []int64
	for _, name := range []string{"alpha", "beta"} {
		p := &sam.Profile{Name: name, TenantID: "11111111-2222-3333-4444-555555555555", ClientID: "aaaaaaaa-2222-3333-4444-555555555555",
			AuthMode: sam.AuthClientSecret, State: sam.ProfileDraft}
		if err := st.CreateProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
		for _, sn := range []string{sam.SecretClientSecret, sam.SecretRefreshToken} {
			sealed, err := old.Seal([]byte(name + "-" + sn))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.PutSecret(ctx, p.ID, sn, sealed); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A secret sealed with a key that is not loaded fails the round, and
	// nothing is replaced.
	stray, err := lost.Seal([]byte("stray"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret(ctx, ids[1], sam.SecretCertificate, stray); err != nil {
		t.Fatal(err)
	}
	if _, err := connect.Reseal(ctx, st, rotated); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("reseal with a secret under an unknown key: %v", err)
	}
	all, err := st.SealedSecrets(ctx)
	if err != nil || len(all) != 5 {
		t.Fatalf("%d sealed secrets after the failed rotation, want 5: %v", len(all), err)
	}
	for _, x := range all {
		if x.Secret.KeyID == rotated.KeyID() {
			t.Errorf("secret %s of %d was resealed by a failed rotation", x.Name, x.ProfileID)
		}
	}

	resealable, err := rotated.Seal([]byte("stray"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret(ctx, ids[1], sam.SecretCertificate, resealable); err != nil {
		t.Fatal(err)
	}
	res, err := connect.Reseal(ctx, st, rotated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Secrets != 5 || res.Resealed != 4 || res.KeyID != rotated.KeyID() {
		t.Errorf("result %+v", res)
	}
	if all, err = st.SealedSecrets(ctx); err != nil || len(all) != 5 {
		t.Fatalf("%d sealed secrets after the rotation, want 5: %v", len(all), err)
	}
	for _, x := range all {
		if x.Secret.KeyID != rotated.KeyID() {
			t.Errorf("secret %s of %d still under key %s", x.Name, x.ProfileID, x.Secret.KeyID)
		}
		if _, err := old.Open(x.Secret); err == nil {
			t.Errorf("secret %s of %d opens with the old key", x.Name, x.ProfileID)
		}
	}
	// Idempotent.
	if res, err := connect.Reseal(ctx, st, rotated); err != nil || res.Resealed != 0 {
		t.Errorf("second reseal: %+v %v", res, err)
	}
}
