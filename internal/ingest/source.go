package ingest

import (
	"context"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Graph is what a subscriptions run needs from Microsoft Graph. It is
// defined here, where it is consumed, so that ingest depends on the shape of
// the data and not on a client's internals: NewSources adapts the msgraph
// client to it, and tests may run against the simulator through the same
// adapter.
type Graph interface {
	// SubscribedSKUs returns the tenant's subscribedSkus.
	SubscribedSKUs(ctx context.Context) ([]SubscribedSKU, error)
	// UsersPage fetches one page of users. url is either a link Graph
	// returned (@odata.nextLink or @odata.deltaLink) or a path relative to
	// the Graph base such as "/users/delta?$select=...". A link Graph no
	// longer accepts (expired skip or delta token, resync required) fails
	// with an error for which IsResync reports true.
	UsersPage(ctx context.Context, url string) (UserPage, error)
	// SignInActivityAllowed reports whether users' signInActivity can be
	// read (AuditLog.Read.All granted and the tenant licensed for it); a
	// 403 on a probe is false, not an error.
	SignInActivityAllowed(ctx context.Context) (bool, error)
}

// Dataverse is what an activity run needs from one Dataverse environment.
type Dataverse interface {
	// AuditSettings returns the organisation's audit settings.
	AuditSettings(ctx context.Context) (AuditSettings, error)
	// SystemUsersPage fetches one page of systemusers: url is a nextLink or
	// a path relative to the Web API base ("systemusers?$select=...").
	SystemUsersPage(ctx context.Context, url string) (SystemUserPage, error)
	// AuditsPage fetches one page of audits, like SystemUsersPage.
	AuditsPage(ctx context.Context, url string) (AuditPage, error)
}

// Counters reports the request statistics of the clients behind a Graph or
// Dataverse source, cumulative since the source was created.
type Counters interface {
	Counts() (requests, throttles, retries int64)
}

// ServiceCounters are Counters that also count by service
// (odata.ServiceGraph, odata.ServiceDataverse). A Syncer whose Counters
// implement them counts a subscriptions run's Graph requests and an
// activity run's Dataverse requests only, so that the two runs of a Sync,
// which go on at the same time, do not count each other's.
type ServiceCounters interface {
	Counters
	ServiceCounts(service string) (requests, throttles, retries int64)
}

// SubscribedSKU is one entry of Graph subscribedSkus.
type SubscribedSKU struct {
	SKUID            string
	PartNumber       string
	CapabilityStatus string
	Enabled          int
	Warning          int
	Suspended        int
	LockedOut        int
	Consumed         int
	ServicePlans     []sam.ServicePlan
}

// UserPage is one page of Graph users (a /users listing or a users/delta
// round). Exactly one of NextLink and DeltaLink is set on delta pages; a
// plain listing's last page has neither.
type UserPage struct {
	Users     []GraphUser
	NextLink  string
	DeltaLink string
}

// GraphUser is a Graph user as ingest needs it.
type GraphUser struct {
	ID             string
	Removed        bool // users/delta "@removed"
	UPN            string
	DisplayName    string
	Department     string
	Country        string
	AccountEnabled bool
	AssignedSKUs   []string // assignedLicenses[].skuId
	States         []LicenseState
	// LastSignIn is signInActivity.lastSignInDateTime, nil when not read or
	// never (0001-01-01).
	LastSignIn *time.Time
}

// LicenseState is one entry of a user's licenseAssignmentStates.
type LicenseState struct {
	SKUID           string
	AssignedByGroup string // "" for a direct assignment
	State           string
	LastUpdated     time.Time
}

// AuditSettings are an environment's organisation audit settings.
type AuditSettings struct {
	AuditEnabled           bool
	UserAccessAuditEnabled bool
	RetentionDays          int // -1: forever
}

// SystemUserPage is one page of Dataverse systemusers.
type SystemUserPage struct {
	Users    []SystemUserRow
	NextLink string
}

// SystemUserRow is one Dataverse systemuser.
type SystemUserRow struct {
	SystemUserID string
	AADObjectID  string
	DomainName   string
	FullName     string
	IsDisabled   bool
	AccessMode   int
}

// AuditPage is one page of Dataverse audits.
type AuditPage struct {
	Rows     []AuditRow
	NextLink string
}

// AuditRow is one Dataverse audit row, reduced to what usage needs.
type AuditRow struct {
	CreatedOn      time.Time
	Operation      int
	Action         int
	ObjectTypeCode string
	UserID         string // _userid_value, a systemuserid
}
