package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

var _ store.IdentityStore = (*Store)(nil)

// UserByIdentity returns the user linked to (issuer, subject); ENOTFOUND
// when none is.
func (s *Store) UserByIdentity(ctx context.Context, issuer, subject string) (*store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT u.id, u.name, u.role, u.password_hash, u.must_change_password, u.disabled,
		u.failed_logins, u.locked_until, u.last_login, u.created_at, u.updated_at FROM user_identities i
		JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2`, issuer, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "no user is linked to this identity")
	}
	if err != nil {
		return nil, s.fail(err, "read user by identity")
	}
	return u, nil
}

// LinkIdentity links (issuer, subject) to a user. ECONFLICT when it is
// linked to another user, ENOTFOUND when the user does not exist.
func (s *Store) LinkIdentity(ctx context.Context, userID int64, issuer, subject string) error {
	if issuer == "" || subject == "" {
		return sam.Errorf(sam.EINVALID, "link identity: issuer and subject are required")
	}
	return s.inTx(ctx, fmt.Sprintf("link identity to user %d", userID), func(tx *sql.Tx) error {
		var owner int64
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2`, issuer, subject).Scan(&owner)
		switch {
		case err == nil && owner == userID:
			return nil
		case err == nil:
			return sam.Errorf(sam.ECONFLICT, "this identity is linked to another user")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3)`, issuer, subject, userID)
		return err
	})
}
