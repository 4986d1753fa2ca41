package tenant

import (
	"io"
	"iter"
	"sync"
	"time"
)

// Tenant is one simulated Microsoft tenant. Create it with Generate or
// LoadScenario.
type Tenant struct {
	mu sync.RWMutex
}

// Generate builds the tenant opts describe. It is deterministic: the same
// opts give the same ids, users, licences, environments and audit rows.
// Errors (ErrInvalid): negative Users, Environments or HistoryDays, more than
// 64 environments.
func Generate(opts Options) (*Tenant, error) { panic("unimplemented") }

// LoadScenario reads a scenario file (JSON, format in scenario.go) defining
// an exact tenant. Errors are ErrInvalid and name the line and field.
func LoadScenario(r io.Reader) (*Tenant, error) { panic("unimplemented") }

// ID returns the tenant id (GUID, lower case).
func (t *Tenant) ID() string { panic("unimplemented") }

// DisplayName returns the organisation's display name.
func (t *Tenant) DisplayName() string { panic("unimplemented") }

// Domain returns the default verified domain, e.g. contoso.onmicrosoft.com.
func (t *Tenant) Domain() string { panic("unimplemented") }

// CreatedDateTime returns when the tenant was created.
func (t *Tenant) CreatedDateTime() time.Time { panic("unimplemented") }

// App returns the client application registered for Seatwise.
func (t *Tenant) App() App { panic("unimplemented") }

// Now returns the simulated clock.
func (t *Tenant) Now() time.Time { panic("unimplemented") }

// Advance moves the clock forward by d (negative d is ignored). Generated
// users keep their patterns through the new days.
func (t *Tenant) Advance(d time.Duration) { panic("unimplemented") }

// SKUs returns subscribedSkus, consumed units computed from assignments.
func (t *Tenant) SKUs() []SKU { panic("unimplemented") }

// SKU returns one subscribed SKU by id; ErrNotFound if the tenant has none.
func (t *Tenant) SKU(skuID string) (SKU, error) { panic("unimplemented") }

// User returns a user by object id or userPrincipalName (case-insensitive).
// Soft- and hard-deleted users are ErrNotFound.
func (t *Tenant) User(idOrUPN string) (User, error) { panic("unimplemented") }

// UserCount returns the number of users not deleted.
func (t *Tenant) UserCount() int { panic("unimplemented") }

// UsersPage returns up to limit users in the tenant's stable order, starting
// after cursor ("" starts a new listing), those for which match returns true
// (nil matches all). next is "" on the last page. A listing is a snapshot
// taken at its first page: users added later do not appear, users deleted
// later are skipped, attributes are current. Errors: ErrInvalid for a
// malformed cursor or limit < 1.
func (t *Tenant) UsersPage(cursor string, limit int, match func(*User) bool) (users []User, next string, err error) {
	panic("unimplemented")
}

// Seq returns the latest change sequence number.
func (t *Tenant) Seq() uint64 { panic("unimplemented") }

// ChangesSince returns the users changed after seq (one entry per user, the
// latest change) and the latest sequence number. seq 0 is a first delta
// round: every current user. Removed users appear with Removed set.
func (t *Tenant) ChangesSince(seq uint64) ([]UserChange, uint64) { panic("unimplemented") }

// Groups returns the groups, licensing groups first.
func (t *Tenant) Groups() []Group { panic("unimplemented") }

// Group returns a group by id; ErrNotFound if absent.
func (t *Tenant) Group(id string) (Group, error) { panic("unimplemented") }

// Environments returns the Dataverse environments in index order.
func (t *Tenant) Environments() []Environment { panic("unimplemented") }

// Environment returns one environment; ErrNotFound for a bad index.
func (t *Tenant) Environment(index int) (Environment, error) { panic("unimplemented") }

// EnvironmentByName returns the environment whose Name is name
// (case-insensitive); ErrNotFound if none.
func (t *Tenant) EnvironmentByName(name string) (Environment, error) { panic("unimplemented") }

// SystemUsersPage pages an environment's systemusers like UsersPage.
func (t *Tenant) SystemUsersPage(env int, cursor string, limit int, match func(*SystemUser) bool) (rows []SystemUser, next string, err error) {
	panic("unimplemented")
}

// SystemUser returns one systemuser by systemuserid; ErrNotFound if absent.
func (t *Tenant) SystemUser(env int, systemUserID string) (SystemUser, error) { panic("unimplemented") }

// SystemUserOf returns the systemuser of an Entra user in an environment;
// ErrNotFound if the user has none there.
func (t *Tenant) SystemUserOf(env int, entraUserID string) (SystemUser, error) {
	panic("unimplemented")
}

// Audits returns an iterator over the environment's audit rows matching q,
// in q's order, generated lazily day by day: only the days the consumer
// reaches are produced. Rows are those visible at Now: none after Now, none
// older than the retention period, none while auditing (or, for access
// rows, user-access auditing) was off, at most one access row per user per
// access interval. Errors: ErrNotFound (environment), ErrInvalid (cursor).
func (t *Tenant) Audits(env int, q AuditQuery) (iter.Seq[AuditRow], error) { panic("unimplemented") }

// AuditPage returns up to limit rows of Audits(env, q) and the cursor of the
// last row when more may follow ("" when the listing is complete).
func (t *Tenant) AuditPage(env int, q AuditQuery, limit int) (rows []AuditRow, next string, err error) {
	panic("unimplemented")
}

// CursorOf returns the opaque cursor positioned at row: AuditQuery.After
// set to it continues after row. The cursor is a short URL-safe string.
func CursorOf(row AuditRow) string { panic("unimplemented") }

// AssignLicense adds and removes licences of a user as Graph's assignLicense
// does: both lists are applied at once or not at all. Errors: ErrNotFound
// (user), ErrUnknownSKU (SKU not subscribed, disabled plan not in the SKU),
// ErrUsageLocation (adding without usageLocation), ErrNoLicenses (no free
// seat: consumed would exceed prepaidUnits.enabled), ErrGroupInherited
// (removing a SKU the user holds only through a group), ErrInvalid (same
// SKU in both lists). Returns the updated user.
func (t *Tenant) AssignLicense(userID string, add []AssignedLicense, remove []string) (User, error) {
	panic("unimplemented")
}

// AddGroupMember adds a user to a group; the group's SKUs become
// group-based assignments (state Error / CountViolation when no seat is
// free). Errors: ErrNotFound, ErrConflict (already a member).
func (t *Tenant) AddGroupMember(groupID, userID string) error { panic("unimplemented") }

// RemoveGroupMember removes a user from a group and its group-based
// licences. Errors: ErrNotFound (group, user, or not a member).
func (t *Tenant) RemoveGroupMember(groupID, userID string) error { panic("unimplemented") }

// DisableUser sets accountEnabled false at Now; the user's activity stops.
func (t *Tenant) DisableUser(userID string) error { panic("unimplemented") }

// EnableUser sets accountEnabled true at Now; activity resumes.
func (t *Tenant) EnableUser(userID string) error { panic("unimplemented") }

// AddUser creates a user (no licences, no activity until AddActivity).
// Errors: ErrConflict (id or UPN taken), ErrInvalid (malformed id,
// environment out of range).
func (t *Tenant) AddUser(u NewUser) (User, error) { panic("unimplemented") }

// DeleteUser deletes a user: soft (delta "@removed": changed, restorable)
// or permanent (delta "deleted"). The user's licences are released.
func (t *Tenant) DeleteUser(userID string, permanent bool) error { panic("unimplemented") }

// RestoreUser restores a soft-deleted user with the licences it had.
// Errors: ErrNotFound (no such soft-deleted user), ErrNoLicenses.
func (t *Tenant) RestoreUser(userID string) error { panic("unimplemented") }

// UpdateUser changes user attributes and returns the user.
func (t *Tenant) UpdateUser(userID string, a UserAttributes) (User, error) { panic("unimplemented") }

// SetSignIn sets the user's last interactive sign-in (zero = never),
// overriding the generated one.
func (t *Tenant) SetSignIn(userID string, at time.Time) error { panic("unimplemented") }

// AddActivity records an explicit user action in an environment. The user
// gets a systemuser there if it had none. Errors: ErrNotFound (user,
// environment), ErrInvalid (operation, action, time after Now).
func (t *Tenant) AddActivity(userID string, ev Event) error { panic("unimplemented") }

// SetAuditSettings changes an environment's audit settings from Now on.
// Turning user-access auditing on or off writes the "User Access Audit
// Started / Stopped" rows. Errors: ErrNotFound, ErrInvalid (retention < -1,
// an interval other than the environment's).
func (t *Tenant) SetAuditSettings(env int, s AuditSettings) error { panic("unimplemented") }

// Truth computes what a correct sync concludes at Now for the analysis
// start analysisFrom (zero: 90 days before Now) over the environments envs
// (nil: all), streaming through the audit rows without keeping them.
func (t *Tenant) Truth(analysisFrom time.Time, envs []int) (Truth, error) { panic("unimplemented") }

// UserTruth computes the truth of one user (see Truth).
func (t *Tenant) UserTruth(userID string, analysisFrom time.Time, envs []int) (UserTruth, error) {
	panic("unimplemented")
}
