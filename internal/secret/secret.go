// Package secret seals secrets at rest (client secrets, refresh tokens,
// certificates) with AES-256-GCM under a keyring of 256-bit keys.
//
// Every sealed secret carries the id of the key that sealed it (the first 8
// bytes of the key's SHA-256, in hex), so a keyring holding the current key
// and previous ones opens secrets sealed before a key rotation; new secrets
// are always sealed with the current key.
//
// Ciphertext layout: version byte 1, a random 12-byte nonce, then the GCM
// output (ciphertext and 16-byte tag). The additional authenticated data is
// "seatwise-secret-v1:" + key id, so a ciphertext relabelled with another key
// id does not open.
//
// Errors never contain key material or plaintext.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// KeySize is the size of a key in bytes (AES-256).
const KeySize = 32

const (
	version   = 1
	nonceSize = 12
	tagSize   = 16
	aadPrefix = "seatwise-secret-v1:"
)

// Sentinel errors, wrapped in *sam.Error values; test with errors.Is.
var (
	// ErrUnknownKey: the secret was sealed with a key the keyring does not hold.
	ErrUnknownKey = errors.New("sealed with a key that is not in the keyring")
	// ErrCorrupt: the ciphertext was altered, truncated or sealed with a
	// different key under the same id.
	ErrCorrupt = errors.New("ciphertext is corrupt or was tampered with")
)

// Keyring holds the current key, which seals, and previous keys, which only
// open. It is safe for concurrent use; its keys cannot be read back.
type Keyring struct {
	mu         sync.RWMutex
	keys       *keySet // replaced whole by Replace, never changed in place
	reload     func() (*Keyring, error)
	reloadedAt time.Time
}

// keySet is the keys of a keyring at one time.
type keySet struct {
	current string // key id
	order   []string
	aeads   map[string]cipher.AEAD
}

// set returns the keyring's keys now.
func (k *Keyring) set() *keySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys
}

// Replace makes k use the keys of n from now on (a server reloading its
// keys after a rotation): secrets sealed from then on use n's current key,
// and Open opens what n opens. Callers holding k see the change.
func (k *Keyring) Replace(n *Keyring) {
	ks := n.set()
	k.mu.Lock()
	k.keys = ks
	k.mu.Unlock()
}

// SetReloader gives k a way to read its keys again: when Open meets a key
// id it does not hold (a secret sealed after a rotation by another
// process), it calls reload, at most once every ten seconds, Replaces its
// keys with the result and tries again.
func (k *Keyring) SetReloader(reload func() (*Keyring, error)) {
	k.mu.Lock()
	k.reload = reload
	k.mu.Unlock()
}

// reloadFor reloads the keys when a reloader is set and has not run in the
// last ten seconds; it reports whether the keys now hold id.
func (k *Keyring) reloadFor(id string) bool {
	k.mu.Lock()
	fn := k.reload
	if fn == nil || time.Since(k.reloadedAt) < 10*time.Second {
		k.mu.Unlock()
		return false
	}
	k.reloadedAt = time.Now()
	k.mu.Unlock()
	n, err := fn()
	if err != nil || n == nil {
		return false
	}
	k.Replace(n)
	_, ok := k.set().aeads[id]
	return ok
}

// KeyID returns the id of key: the first 8 bytes of its SHA-256 in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new random 256-bit key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, sam.Wrap(sam.EINTERNAL, err, "generating a secret key")
	}
	return k, nil
}

// EncodeKey returns key in standard base64, the form of SEATWISE_SECRET_KEY
// and of key files.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// DecodeKey decodes a base64 key (standard or URL alphabet, padding optional,
// surrounding space ignored). It fails with sam.EINVALID unless the result is
// exactly KeySize bytes; the message never repeats the input.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, sam.Errorf(sam.EINVALID, "secret key is empty")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, sam.Errorf(sam.EINVALID, "secret key is not valid base64 (%d characters)", len(s))
	}
	if len(key) != KeySize {
		return nil, sam.Errorf(sam.EINVALID, "secret key is %d bytes, want %d (generate one with: head -c 32 /dev/urandom | base64)", len(key), KeySize)
	}
	return key, nil
}

// NewKeyring returns a keyring sealing with current and also opening
// secrets sealed with any of previous. Every key must be KeySize bytes
// (sam.EINVALID otherwise). Duplicates are ignored.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &keySet{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		id, err := k.add(key)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			k.current = id
		}
	}
	return &Keyring{keys: k}, nil
}

func (k *keySet) add(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", sam.Errorf(sam.EINVALID, "secret key is %d bytes, want %d", len(key), KeySize)
	}
	id := KeyID(key)
	if _, ok := k.aeads[id]; ok {
		return id, nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "creating AES cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "creating GCM")
	}
	k.aeads[id] = aead
	k.order = append(k.order, id)
	return id, nil
}

// KeyID returns the id of the current key, the one Seal uses.
func (k *Keyring) KeyID() string { return k.set().current }

// KeyIDs returns the ids of all keys, the current one first.
func (k *Keyring) KeyIDs() []string { return slices.Clone(k.set().order) }

// Seal encrypts plaintext with the current key and a fresh random nonce.
func (k *Keyring) Seal(plaintext []byte) (sam.SealedSecret, error) {
	ks := k.set()
	aead := ks.aeads[ks.current]
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return sam.SealedSecret{}, sam.Wrap(sam.EINTERNAL, err, "generating a nonce")
	}
	out = aead.Seal(out, out[1:1+nonceSize], plaintext, aad(ks.current))
	return sam.SealedSecret{KeyID: ks.current, Ciphertext: out}, nil
}

// Open decrypts s with the key named by s.KeyID. It fails with sam.EINTERNAL
// wrapping ErrUnknownKey when the keyring lacks that key (restore the old key
// file or SEATWISE_SECRET_KEY), and wrapping ErrCorrupt when the ciphertext
// does not authenticate.
func (k *Keyring) Open(s sam.SealedSecret) ([]byte, error) {
	ks := k.set()
	aead, ok := ks.aeads[s.KeyID]
	if !ok && k.reloadFor(s.KeyID) {
		ks = k.set()
		aead, ok = ks.aeads[s.KeyID]
	}
	if !ok {
		return nil, &sam.Error{Code: sam.EINTERNAL, Message: "cannot open secret: key " + quoteID(s.KeyID) + " is not loaded (loaded: " + strings.Join(ks.order, ", ") + ")", Err: ErrUnknownKey}
	}
	c := s.Ciphertext
	if len(c) < 1+nonceSize+tagSize || c[0] != version {
		return nil, &sam.Error{Code: sam.EINTERNAL, Message: "cannot open secret sealed with key " + s.KeyID, Err: ErrCorrupt}
	}
	plain, err := aead.Open(nil, c[1:1+nonceSize], c[1+nonceSize:], aad(s.KeyID))
	if err != nil {
		return nil, &sam.Error{Code: sam.EINTERNAL, Message: "cannot open secret sealed with key " + s.KeyID, Err: ErrCorrupt}
	}
	return plain, nil
}

// NeedsReseal reports whether s was sealed with a key other than the current
// one, i.e. a key rotation should reseal it.
func (k *Keyring) NeedsReseal(s sam.SealedSecret) bool { return s.KeyID != k.set().current }

// Reseal opens s and seals its plaintext again with the current key.
func (k *Keyring) Reseal(s sam.SealedSecret) (sam.SealedSecret, error) {
	plain, err := k.Open(s)
	if err != nil {
		return sam.SealedSecret{}, err
	}
	defer clear(plain)
	return k.Seal(plain)
}

func aad(keyID string) []byte { return []byte(aadPrefix + keyID) }

// quoteID shows a key id from a stored secret; ids are hex, anything else is
// shown only by length so that a damaged row cannot leak into messages.
func quoteID(id string) string {
	if _, err := hex.DecodeString(id); err == nil && len(id) <= 64 {
		return id
	}
	return "(malformed id, " + strconv.Itoa(len(id)) + " bytes)"
}
