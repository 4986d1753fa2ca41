package store

import (
	"context"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// EntitlementStore persists entitlements and the licence positions that
// reconciliation runs compute from them.
type EntitlementStore interface {
	// CreateEntitlements inserts es in one transaction (all or none) and
	// sets their IDs and timestamps. Each is normalised and validated
	// (sam.Entitlement.Validate): EINVALID naming the first bad one,
	// ENOTFOUND when its profile or software model does not exist, ECONFLICT
	// when the same purchase (profile, SKU, term, purchase order, cost
	// centre) is already recorded or repeated in es.
	CreateEntitlements(ctx context.Context, es []*sam.Entitlement) error
	// UpdateEntitlement replaces the fields of entitlement e.ID; errors as
	// CreateEntitlements, ENOTFOUND when it does not exist.
	UpdateEntitlement(ctx context.Context, e *sam.Entitlement) error
	// DeleteEntitlement removes an entitlement; ENOTFOUND when absent.
	DeleteEntitlement(ctx context.Context, id int64) error
	// Entitlement returns one entitlement; ENOTFOUND when absent.
	Entitlement(ctx context.Context, id int64) (*sam.Entitlement, error)
	// Entitlements returns the entitlements matching f ordered by profile,
	// SKU, term start and id.
	Entitlements(ctx context.Context, f EntitlementFilter) ([]*sam.Entitlement, error)

	// CountOpenSubscriptions counts open subscriptions (one per user and
	// SKU, so the count is the number of unique users) per profile, SKU and
	// group, computed by the database: memory depends on the number of
	// groups, not of subscriptions. Ordered by profile, SKU, group.
	CountOpenSubscriptions(ctx context.Context, f CountFilter) ([]SubscriptionCount, error)

	// CommitReconciliation stores the positions computed by reconciliation
	// run r (kind sam.RunReconciliation) as its snapshot and finishes r as
	// succeeded, in one transaction. ECONFLICT when r has already finished,
	// EINVALID when r is not a reconciliation run or a position is of
	// another profile.
	CommitReconciliation(ctx context.Context, r *sam.Run, ps []sam.Position) error
	// PositionSnapshots returns stored positions matching f, ordered by
	// profile, SKU and time (oldest first).
	PositionSnapshots(ctx context.Context, f SnapshotFilter) ([]PositionSnapshot, error)

	// EachUserLicences calls fn for every user of a profile holding at least
	// one open subscription of the given SKUs (all SKUs when none are
	// given), in user id order, with those subscriptions and the user's
	// Dataverse evidence days since since. Rows are streamed: memory does
	// not depend on the number of users. fn must not call the store (on
	// SQLite the query holds the only connection until it ends); an error
	// from fn stops the iteration and is returned.
	EachUserLicences(ctx context.Context, profileID int64, skuIDs []string, since time.Time, fn func(UserLicences) error) error
}

// UserLicences is one user's open subscriptions among some SKUs, with how
// the user used Dataverse.
type UserLicences struct {
	UserID         string
	UPN            string
	DisplayName    string
	AccountEnabled bool
	Licences       []HeldLicence // ordered by SKU id
	// RecordDays and AccessDays count distinct UTC days since the given
	// time with create/update audits on tracked entities (dataverse:record)
	// and with app access (dataverse:access_web / access_api).
	RecordDays int
	AccessDays int
}

// HeldLicence is one open subscription of a user.
type HeldLicence struct {
	SubscriptionID int64
	SKUID          string
	UsageClass     sam.UsageClass
}

// EntitlementFilter selects entitlements. Zero fields match everything.
type EntitlementFilter struct {
	ProfileID int64
	SKUID     string
	// ActiveOn keeps entitlements whose term covers that day.
	ActiveOn time.Time
	// EndFrom and EndTo keep entitlements whose term ends within those days
	// (inclusive).
	EndFrom, EndTo time.Time
}

// GroupBy is a dimension open subscriptions are counted by.
type GroupBy string

// Grouping dimensions of CountOpenSubscriptions.
const (
	GroupNone       GroupBy = ""
	GroupDepartment GroupBy = "department"
	GroupCountry    GroupBy = "country"
)

// CountFilter selects what CountOpenSubscriptions counts. Zero fields match
// everything.
type CountFilter struct {
	ProfileID int64
	SKUID     string
	GroupBy   GroupBy
}

// SubscriptionCount is the number of open subscriptions of one SKU in one
// profile (and one group value, "" when ungrouped or when the attribute is
// empty).
type SubscriptionCount struct {
	ProfileID int64
	SKUID     string
	Group     string
	Users     int64
}

// SnapshotFilter selects position snapshots. Zero fields match everything.
type SnapshotFilter struct {
	ProfileID int64
	SKUID     string
	RunID     int64
	From, To  time.Time // as-of time range, inclusive
}

// PositionSnapshot is one stored position and the run that computed it.
type PositionSnapshot struct {
	RunID    int64
	Position sam.Position
}
