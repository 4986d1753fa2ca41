package secret

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// DeriveKeys returns one 32-byte key per key of the keyring, the current
// key's first, each derived for purpose (e.g. "seatwise reclamation links
// v1"): keys for other uses (signing links, say) that are bound to the
// installation's secret key without exposing it or being stored anywhere.
// Rotating the secret key rotates every derived key; previous keys'
// derivations remain so that values signed before a rotation still verify.
//
// Derivation: AES-256 of the secret key is used as a pseudo-random function
// on two counter blocks whose prefix is a hash of purpose (AES-GCM's counter
// mode over zero bytes with a purpose-specific nonce), and the 32 bytes it
// yields go through HKDF-SHA256 with purpose as info. Different purposes give
// independent keys; none reveals the secret key.
func (k *Keyring) DeriveKeys(purpose string) [][]byte {
	h := sha256.Sum256([]byte("seatwise derive v1\x00" + purpose))
	nonce := h[:12]
	ks := k.set()
	out := make([][]byte, 0, len(ks.order))
	for _, id := range ks.order {
		aead := ks.aeads[id]
		stream := aead.Seal(nil, nonce, make([]byte, 32), nil)[:32]
		key, err := hkdf.Key(sha256.New, stream, nil, purpose, 32)
		if err != nil { // only for lengths HKDF cannot produce; 32 always works
			panic("secret: HKDF: " + err.Error())
		}
		out = append(out, key)
	}
	return out
}
