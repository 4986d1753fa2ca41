package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "key",
			Short: "Manage the key that encrypts stored secrets (client secrets, refresh tokens)",
		}
		cmd.AddCommand(newKeyRotate(a), newKeyGenerate(a))
		return cmd
	})
}

// KeyRotation is what seatwise key rotate reports. It holds key ids only,
// never keys.
type KeyRotation struct {
	KeyID           string   `json:"key_id"`          // the new current key
	RemovedKeyIDs   []string `json:"removed_key_ids"` // keys no longer needed (dropped from the key file)
	Secrets         int      `json:"secrets"`         // secrets stored
	Resealed        int      `json:"resealed"`        // secrets re-encrypted under the new key
	KeyFile         string   `json:"key_file,omitempty"`
	FromEnvironment bool     `json:"from_environment"` // keys come from SEATWISE_SECRET_KEY
}

func newKeyRotate(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every stored secret under a new key",
		Long: "With a key file (the default): a new key is generated and put first in the key file, the old\n" +
			"one kept after it; every stored secret is re-encrypted under the new key; then the old key is\n" +
			"removed from the file. If the rotation stops half way, the file still holds both keys and\n" +
			"running the command again completes it. Restart other Seatwise processes afterwards so that\n" +
			"they load the new key.\n\n" +
			"With SEATWISE_SECRET_KEY: set it to \"NEW,OLD\" (seatwise key generate prints a new key), run\n" +
			"seatwise key rotate to re-encrypt every secret under NEW, then set it to NEW alone.",
		Args: cobra.NoArgs,
	}
	format := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		cfg := a.Config()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		var rot KeyRotation
		if keys := cfg.SecretKey(); strings.TrimSpace(keys) != "" {
			kr, err := secret.LoadKeyring(keys, "")
			if err != nil {
				return err
			}
			if len(kr.KeyIDs()) < 2 {
				return sam.Errorf(sam.EINVALID, "the secret key comes from SEATWISE_SECRET_KEY: set it to the new key followed by the current one (NEW,OLD; 'seatwise key generate' prints a new key), run 'seatwise key rotate', then set it to NEW alone")
			}
			res, err := connect.Reseal(ctx, st, kr)
			if err != nil {
				return err
			}
			rot = KeyRotation{KeyID: res.KeyID, RemovedKeyIDs: kr.KeyIDs()[1:], Secrets: res.Secrets, Resealed: res.Resealed, FromEnvironment: true}
		} else {
			if rot, err = rotateKeyFile(ctx, st, cfg.SecretKeyFile); err != nil {
				return err
			}
		}
		a.Logger.Info("secret key rotated", "key_id", rot.KeyID, "resealed", rot.Resealed, "removed_key_ids", rot.RemovedKeyIDs)
		fields := []Field{{"key_id", rot.KeyID}, {"removed_key_ids", strings.Join(rot.RemovedKeyIDs, ", ")},
			{"secrets", fmt.Sprint(rot.Secrets)}, {"resealed", fmt.Sprint(rot.Resealed)}}
		if rot.KeyFile != "" {
			fields = append(fields, Field{"key_file", rot.KeyFile})
		}
		if err := WriteRecord(a.Stdout, f, rot, fields...); err != nil {
			return err
		}
		if rot.FromEnvironment && f == FormatTable {
			fmt.Fprintf(a.Stdout, "Every secret is sealed with key %s: now set SEATWISE_SECRET_KEY to that key alone.\n", rot.KeyID)
		}
		return nil
	}
	return cmd
}

// rotateKeyFile rotates the keys of a key file: new key first with the old
// ones after it, reseal every secret, then keep the new key only.
func rotateKeyFile(ctx context.Context, st store.SecretRotationStore, path string) (KeyRotation, error) {
	if path == "" {
		return KeyRotation{}, sam.Errorf(sam.EINVALID, "no key file is configured (SEATWISE_SECRET_KEY_FILE)")
	}
	// Load (creating the file on first use) to validate it.
	old, err := secret.LoadKeyring("", path)
	if err != nil {
		return KeyRotation{}, err
	}
	lines, err := keyFileKeys(path)
	if err != nil {
		return KeyRotation{}, err
	}
	key, err := secret.GenerateKey()
	if err != nil {
		return KeyRotation{}, err
	}
	newKey := secret.EncodeKey(key)
	clear(key)
	// Step 1: new key current, the old ones still open older secrets.
	if err := writeKeyFile(path, append([]string{newKey}, lines...)); err != nil {
		return KeyRotation{}, err
	}
	kr, err := secret.LoadKeyring("", path)
	if err != nil {
		return KeyRotation{}, err
	}
	// Step 2: reseal. On failure the file keeps every key: nothing is lost.
	res, err := connect.Reseal(ctx, st, kr)
	if err != nil {
		return KeyRotation{}, sam.Wrap(sam.ErrorCode(err), err, "the key file %s now holds the new key and the old ones; run 'seatwise key rotate' again once the cause is fixed", path)
	}
	// Step 3: the old keys are no longer needed.
	if err := writeKeyFile(path, []string{newKey}); err != nil {
		return KeyRotation{}, err
	}
	return KeyRotation{KeyID: res.KeyID, RemovedKeyIDs: old.KeyIDs(), Secrets: res.Secrets, Resealed: res.Resealed, KeyFile: path}, nil
}

// keyFileKeys returns the key lines of a key file (comments and blank
// lines dropped), each a valid key.
func keyFileKeys(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "reading key file %s", path)
	}
	defer clear(data)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for _, k := range strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if _, err := secret.DecodeKey(k); err != nil {
				return nil, sam.Errorf(sam.EINVALID, "key file %s: %s", path, sam.ErrorMessage(err))
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// writeKeyFile replaces a key file atomically (temporary file, mode 0600,
// synced, renamed over the old one).
func writeKeyFile(path string, keys []string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".seatwise-key-*")
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "writing key file %s", path)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	var b strings.Builder
	b.WriteString("# Seatwise secret keys (AES-256, base64), the current one first. Keep them, and keep them\n")
	b.WriteString("# private: without them stored client secrets and tokens cannot be decrypted.\n")
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	werr := f.Chmod(0o600)
	if werr == nil {
		_, werr = f.WriteString(b.String())
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		return sam.Wrap(sam.EINVALID, werr, "writing key file %s", path)
	}
	return nil
}

func newKeyGenerate(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random key (base64) for SEATWISE_SECRET_KEY",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := secret.GenerateKey()
			if err != nil {
				return err
			}
			defer clear(key)
			_, err = fmt.Fprintln(a.Stdout, secret.EncodeKey(key))
			return err
		},
	}
}
