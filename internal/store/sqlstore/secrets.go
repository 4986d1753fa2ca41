package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// SealedSecrets returns every stored secret ordered by profile id and name.
func (s *Store) SealedSecrets(ctx context.Context) ([]store.StoredSecret, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT profile_id, name, key_id, ciphertext FROM secrets ORDER BY profile_id, name`)
	if err != nil {
		return nil, s.fail(err, "list secrets")
	}
	defer rows.Close()
	var out []store.StoredSecret
	for rows.Next() {
		var x store.StoredSecret
		if err := rows.Scan(&x.ProfileID, &x.Name, &x.Secret.KeyID, &x.Secret.Ciphertext); err != nil {
			return nil, s.fail(err, "list secrets")
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list secrets")
	}
	return out, nil
}

// ReplaceSecrets replaces sealed secrets in one transaction, each only
// while it is still exactly its Old value; it returns how many it replaced.
func (s *Store) ReplaceSecrets(ctx context.Context, r []store.SecretReplacement) (int, error) {
	for _, x := range r {
		if x.Name == "" || x.New.KeyID == "" {
			return 0, sam.Errorf(sam.EINVALID, "secret replacement of profile %d: name and new key id are required", x.ProfileID)
		}
	}
	n := 0
	err := s.inTx(ctx, "reseal secrets", func(tx *sql.Tx) error {
		n = 0
		now := s.ts(time.Now())
		for _, x := range r {
			ct := x.New.Ciphertext
			if ct == nil {
				ct = []byte{}
			}
			// Compare and swap in one statement: a secret rewritten
			// since it was read no longer matches and stays.
			res, err := tx.ExecContext(ctx, `UPDATE secrets SET key_id = $1, ciphertext = $2, updated_at = $3
				WHERE profile_id = $4 AND name = $5 AND key_id = $6 AND ciphertext = $7`,
				x.New.KeyID, ct, now, x.ProfileID, x.Name, x.Old.KeyID, x.Old.Ciphertext)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
