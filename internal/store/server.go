package store

import (
	"context"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// ServerStore is what `seatwise serve` persists beyond the domain: local
// accounts, sessions, API tokens, the append-only audit log of API actions,
// and the searchable, sortable subscription listing of the API and web UI.
// It is consumed by internal/auth and internal/web; passwords, session ids
// and tokens reach it already hashed.
type ServerStore interface {
	// CreateUser inserts u and sets its ID and timestamps. ECONFLICT when
	// the name is taken, EINVALID when the name or role is empty.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser stores u's role, password hash, flags, failed logins,
	// lock and last login. ENOTFOUND when absent.
	UpdateUser(ctx context.Context, u *User) error
	// User returns a user by id; ENOTFOUND when absent.
	User(ctx context.Context, id int64) (*User, error)
	// UserByName returns a user by name; ENOTFOUND when absent.
	UserByName(ctx context.Context, name string) (*User, error)
	// Users returns every user ordered by name.
	Users(ctx context.Context) ([]*User, error)
	// RecordLoginFailure adds one failed sign-in to a user atomically and,
	// when the count reaches maxFailures, locks the account until
	// at+lockFor and starts counting again. It returns the updated user.
	// ENOTFOUND when absent.
	RecordLoginFailure(ctx context.Context, userID int64, at time.Time, maxFailures int, lockFor time.Duration) (*User, error)

	// CreateSession inserts a session. ENOTFOUND when the user does not
	// exist, ECONFLICT when the id hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns a session by the hash of its id, expired or not;
	// ENOTFOUND when absent.
	Session(ctx context.Context, idHash string) (*Session, error)
	// DeleteSession removes a session; deleting an absent one is not an error.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteUserSessions removes every session of a user (password reset,
	// account disabled) and returns how many there were.
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	// DeleteExpiredSessions removes sessions that expired before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateAPIToken inserts a token and sets its ID and CreatedAt (when
	// zero). ECONFLICT when the hash is taken.
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// APITokenByHash returns a token by the hash of its secret, expired or
	// not; ENOTFOUND when absent.
	APITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// APITokens returns every token, newest first.
	APITokens(ctx context.Context) ([]*APIToken, error)
	// DeleteAPIToken revokes a token. ENOTFOUND when absent.
	DeleteAPIToken(ctx context.Context, id int64) error
	// TouchAPIToken records when a token was last used.
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error

	// AppendAudit adds an entry to the audit log and sets its ID; entries
	// are never changed or removed (the database refuses it).
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AuditEntries returns entries newest first: those with ID below
	// BeforeID when it is set, at most Limit (0 means 100).
	AuditEntries(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)

	// SearchSubscriptions returns one page of subscriptions matching q in
	// q's order (ties by ID); see SubscriptionQuery. EINVALID for an
	// unknown sort key.
	SearchSubscriptions(ctx context.Context, q SubscriptionQuery) ([]*sam.Subscription, error)
	// UsageCounts counts subscriptions by profile, SKU and usage class
	// (open ones only when openOnly), for dashboards and usage reports;
	// profileID 0 means every profile.
	UsageCounts(ctx context.Context, profileID int64, openOnly bool) ([]UsageCount, error)
}

// User is a local account of the server.
type User struct {
	ID                 int64
	Name               string // unique sign-in name
	Role               string // admin, sam_integrator, sam_manager or viewer (see internal/auth)
	PasswordHash       string // PHC-formatted KDF output, never a password
	MustChangePassword bool   // a one-time password: change it at the next sign-in
	Disabled           bool
	FailedLogins       int
	LockedUntil        time.Time // zero when not locked
	LastLogin          time.Time // zero before the first sign-in
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Session is a signed-in browser. The cookie holds the id; the store holds
// its SHA-256 hash only.
type Session struct {
	IDHash    string
	UserID    int64
	CSRFToken string // the token forms of this session must send back
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a bearer token for automation, scoped to a role.
type APIToken struct {
	ID        int64
	Name      string
	Hash      string // SHA-256 of the secret, hex
	Prefix    string // first characters of the secret, to recognise it in lists
	Role      string
	CreatedBy int64 // user id, 0 when the user is gone
	CreatedAt time.Time
	ExpiresAt time.Time
	LastUsed  time.Time // zero before first use
}

// AuditEntry is one API action in the append-only audit log.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string // "user:NAME" or "token:NAME"
	Action string // e.g. "POST /api/v1/profiles"
	Target string // what it acted on, e.g. "profile:contoso"
	Status int    // HTTP status of the answer
	Detail string // short description; never a secret
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	BeforeID int64
	Limit    int
}

// SubscriptionQuery selects, orders and pages subscriptions. Zero fields
// match everything.
//
// Paging is by keyset: pass the sort value and ID of the last row of a page
// as AfterValue and AfterID to get the next page (AfterID 0 is the first
// page). For the sort key "last_activity" AfterValue is an RFC 3339 time or
// "" for a subscription without activity.
type SubscriptionQuery struct {
	ProfileID  int64
	SKUID      string
	UsageClass sam.UsageClass
	OpenOnly   bool
	// Search matches a case-insensitive substring of the UPN, display name
	// or department.
	Search string
	// Sort is one of SubscriptionSortKeys; "" means "id".
	Sort       string
	Desc       bool
	AfterValue string
	AfterID    int64
	Limit      int // 0 means 100
}

// SubscriptionSortKeys are the keys SubscriptionQuery.Sort accepts.
var SubscriptionSortKeys = []string{"id", "upn", "display_name", "department", "usage_class", "sku_id", "last_activity"}

// UsageCount is the number of subscriptions of one profile, SKU and class.
type UsageCount struct {
	ProfileID  int64
	SKUID      string
	UsageClass sam.UsageClass
	Count      int
}
