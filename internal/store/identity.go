package store

import "context"

// IdentityStore links local accounts to identities of an OpenID Connect
// provider (Entra ID sign-in): the pair (issuer, subject) names one person
// for good, whatever their display names become.
type IdentityStore interface {
	// UserByIdentity returns the user linked to (issuer, subject);
	// ENOTFOUND when none is.
	UserByIdentity(ctx context.Context, issuer, subject string) (*User, error)
	// LinkIdentity links (issuer, subject) to a user. ECONFLICT when the
	// identity is linked to another user, ENOTFOUND when the user does not
	// exist; linking it again to the same user is not an error.
	LinkIdentity(ctx context.Context, userID int64, issuer, subject string) error
}
