package connect

import (
	"context"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// ResealResult says what Reseal did.
type ResealResult struct {
	Secrets  int    // secrets stored
	Resealed int    // secrets re-encrypted under the current key
	KeyID    string // the current key's id
}

// resealRounds bounds how often Reseal lists the secrets again because a
// secret was rewritten under an older key while it worked.
const resealRounds = 5

// Reseal re-encrypts every stored secret that kr's current key did not seal
// with the current key, each in one transaction per round, without
// overwriting a secret rewritten in the meantime (a rotated refresh token):
// it lists again until every secret is sealed with the current key. Before
// anything is written every secret of the round is opened, so a secret
// sealed with a key kr does not hold fails the whole round (EINTERNAL
// naming the profile and secret, never the key) and changes nothing.
// EUNAVAILABLE when secrets keep being rewritten under an old key.
func Reseal(ctx context.Context, st store.SecretRotationStore, kr *secret.Keyring) (ResealResult, error) {
	res := ResealResult{KeyID: kr.KeyID()}
	for range resealRounds {
		all, err := st.SealedSecrets(ctx)
		if err != nil {
			return res, err
		}
		res.Secrets = len(all)
		var repl []store.SecretReplacement
		for _, x := range all {
			if !kr.NeedsReseal(x.Secret) {
				continue
			}
			n, err := kr.Reseal(x.Secret)
			if err != nil {
				return res, sam.Wrap(sam.ErrorCode(err), err, "resealing secret %s of profile %d", x.Name, x.ProfileID)
			}
			repl = append(repl, store.SecretReplacement{ProfileID: x.ProfileID, Name: x.Name, Old: x.Secret, New: n})
		}
		if len(repl) == 0 {
			return res, nil
		}
		n, err := st.ReplaceSecrets(ctx, repl)
		if err != nil {
			return res, err
		}
		res.Resealed += n
	}
	return res, sam.Errorf(sam.EUNAVAILABLE, "secrets kept being rewritten under an old key during %d rounds: stop other Seatwise processes that still use the old key and run the rotation again", resealRounds)
}
