package store

import (
	"context"

	"github.com/seatwise/seatwise/internal/sam"
)

// SecretRotationStore lists and reseals the sealed secrets of every
// profile, for a rotation of the secret key (seatwise key rotate).
type SecretRotationStore interface {
	// SealedSecrets returns every stored secret of every profile, ordered
	// by profile id then name. The ciphertexts stay sealed.
	SealedSecrets(ctx context.Context) ([]StoredSecret, error)
	// ReplaceSecrets replaces sealed secrets in one transaction. Each
	// replacement applies only while the stored secret is still exactly
	// Old (same key id and ciphertext): a secret rewritten in the meantime,
	// such as a refresh token rotated by a sync, is left as it is and not
	// counted. It returns how many secrets were replaced. EINVALID for a
	// replacement without name or new key id.
	ReplaceSecrets(ctx context.Context, r []SecretReplacement) (int, error)
}

// StoredSecret is one sealed secret of a profile.
type StoredSecret struct {
	ProfileID int64
	Name      string
	Secret    sam.SealedSecret
}

// SecretReplacement reseals one secret: Old is the sealed value read
// before, New the same plaintext sealed under another key.
type SecretReplacement struct {
	ProfileID int64
	Name      string
	Old       sam.SealedSecret
	New       sam.SealedSecret
}
