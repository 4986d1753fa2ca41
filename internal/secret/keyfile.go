package secret

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// LoadKeyring returns the keyring Seatwise seals secrets with.
//
// When keyB64 is not empty (SEATWISE_SECRET_KEY) it holds the keys in
// base64, separated by commas or white space: the first is the current key,
// any further ones are previous keys kept to open older secrets. keyFile is
// then not used.
//
// Otherwise the keys come from keyFile (SEATWISE_SECRET_KEY_FILE or the
// default path chosen by package config): one base64 key per line, the
// current key first; blank lines and lines starting with '#' are ignored.
// When the file does not exist it is created with a new random key, mode
// 0600, its directory with mode 0700 if missing. An existing file that group
// or others may read or write is refused (sam.EINVALID), since anyone able to
// read it can decrypt every stored secret.
//
// Errors are sam.EINVALID for unusable keys or files and name the file, never
// its content.
func LoadKeyring(keyB64, keyFile string) (*Keyring, error) {
	if strings.TrimSpace(keyB64) != "" {
		keys, err := parseKeys(keyB64, "SEATWISE_SECRET_KEY")
		if err != nil {
			return nil, err
		}
		return NewKeyring(keys[0], keys[1:]...)
	}
	if keyFile == "" {
		return nil, sam.Errorf(sam.EINVALID, "no secret key: set SEATWISE_SECRET_KEY or a key file (SEATWISE_SECRET_KEY_FILE)")
	}
	data, err := readKeyFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if err := CreateKeyFile(keyFile); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		data, err = readKeyFile(keyFile)
	}
	if err != nil {
		return nil, err
	}
	defer clear(data)
	keys, err := parseKeys(string(data), "key file "+keyFile)
	if err != nil {
		return nil, err
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// CreateKeyFile writes a new random key to path, which must not exist
// (an error wrapping fs.ErrExist otherwise), with mode 0600, creating its
// directory with mode 0700 when missing. The file appears complete or not at
// all: the key is written to a temporary file that is then hard-linked to
// path, so processes starting at once on a fresh installation all read the
// one key that won.
func CreateKeyFile(path string) error {
	key, err := GenerateKey()
	if err != nil {
		return err
	}
	defer clear(key)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sam.Wrap(sam.EINVALID, err, "creating the directory of key file %s", path)
	}
	f, err := os.CreateTemp(dir, ".seatwise-key-*")
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "creating key file %s", path)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	content := "# Seatwise secret key (AES-256, base64). Keep it, and keep it private:\n" +
		"# without it stored client secrets and tokens cannot be decrypted.\n" +
		EncodeKey(key) + "\n"
	werr := f.Chmod(0o600)
	if werr == nil {
		_, werr = f.WriteString(content)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return sam.Wrap(sam.EINVALID, werr, "writing key file %s", path)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return sam.Wrap(sam.ECONFLICT, fs.ErrExist, "key file %s exists already", path)
		}
		return sam.Wrap(sam.EINVALID, err, "creating key file %s", path)
	}
	return nil
}

// readKeyFile reads path after checking that only its owner may access it.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, sam.Wrap(sam.EINVALID, err, "opening key file %s", path)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "reading key file %s", path)
	}
	if !st.Mode().IsRegular() {
		return nil, sam.Errorf(sam.EINVALID, "key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, sam.Errorf(sam.EINVALID, "key file %s has mode %04o: group or others can access it; run chmod 600 %s", path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "reading key file %s", path)
	}
	return buf.Bytes(), nil
}

// parseKeys splits a list of base64 keys (one per line or separated by
// commas; '#' starts a comment line). what names the source in errors.
func parseKeys(s, what string) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(strings.NewReader(s))
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for _, field := range strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			k, err := DecodeKey(field)
			if err != nil {
				return nil, sam.Errorf(sam.EINVALID, "%s, line %d: %s", what, line, sam.ErrorMessage(err))
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, sam.Errorf(sam.EINVALID, "%s holds no key", what)
	}
	return keys, nil
}

// String describes the keyring without revealing keys.
func (k *Keyring) String() string {
	ks := k.set()
	return fmt.Sprintf("keyring(current %s, %d keys)", ks.current, len(ks.order))
}
