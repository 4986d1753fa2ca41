// Package store defines how Seatwise persists its domain. One interface,
// Store, is implemented twice (store/sqlite for the embedded default, and
// store/postgres for larger deployments) and both implementations are held to
// the same behaviour by the conformance suite in store/storetest.
//
// Errors are *sam.Error: ENOTFOUND for a missing row, ECONFLICT for a unique
// key already taken, EINVALID for input the store refuses, EUNAVAILABLE when
// the database cannot be reached.
package store

import (
	"context"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Store is Seatwise's persistence. Every method is safe for concurrent use.
// Methods that write do so in one transaction: they take effect completely or
// not at all.
type Store interface {
	EntitlementStore    // entitlements and licence positions (entitlement.go)
	SecretRotationStore // every profile's sealed secrets, for key rotation (secrets.go)
	UsageSnapshotStore  // daily usage snapshots behind the dashboard's trends (usagesnapshot.go)
	IdentityStore       // OpenID Connect identities linked to accounts (identity.go)
	ChangeStampStore    // whether what the server shows may have changed (usagesnapshot.go)
	ReclaimStore        // reclamation settings, rules, exclusions, candidates (reclaim.go)
	ReconciliationStore // one reconciliation per profile at a time; interrupted runs closed (reconcile.go)

	// Dialect returns "sqlite" or "postgres".
	Dialect() string
	// Close releases the database.
	Close() error
	// ServerStore holds accounts, sessions, tokens and the audit log of the server (server.go).
	ServerStore

	// CreateProfile inserts p with its environments and sets their IDs and
	// timestamps. ECONFLICT when the name is taken, EINVALID when the name is
	// not sam.ValidName.
	CreateProfile(ctx context.Context, p *sam.Profile) error
	// UpdateProfile replaces p's fields and its set of environments (matched
	// by URL: an environment that stays keeps its ID and watermark).
	UpdateProfile(ctx context.Context, p *sam.Profile) error
	// SetProfileState records the profile's connection state and why.
	SetProfileState(ctx context.Context, profileID int64, state sam.ProfileState, message string) error
	// Profile returns a profile with its environments; ENOTFOUND when absent.
	Profile(ctx context.Context, id int64) (*sam.Profile, error)
	// ProfileByName returns a profile by its unique name; ENOTFOUND when absent.
	ProfileByName(ctx context.Context, name string) (*sam.Profile, error)
	// Profiles returns every profile ordered by name.
	Profiles(ctx context.Context) ([]*sam.Profile, error)
	// DeleteProfile removes a profile, its environments, secrets, sync
	// state, subscriptions, activity and unit counts; runs are kept for
	// audit. ENOTFOUND when absent.
	DeleteProfile(ctx context.Context, id int64) error

	// PutSecret stores a sealed secret for a profile under name, replacing
	// any previous one.
	PutSecret(ctx context.Context, profileID int64, name string, s sam.SealedSecret) error
	// Secret returns a sealed secret; ENOTFOUND when absent.
	Secret(ctx context.Context, profileID int64, name string) (sam.SealedSecret, error)

	// UpsertSoftwareModels inserts or updates models by SKU id. A mapped
	// model (from the catalog) replaces an unmapped one; an unmapped model
	// never overwrites a mapped one. UnitPrice and Currency set by a user are
	// kept when the incoming model has none.
	UpsertSoftwareModels(ctx context.Context, models []sam.SoftwareModel) error
	// SoftwareModel returns the model for a SKU id; ENOTFOUND when absent.
	SoftwareModel(ctx context.Context, skuID string) (*sam.SoftwareModel, error)
	// SoftwareModels returns the models matching f, ordered by part number.
	SoftwareModels(ctx context.Context, f ModelFilter) ([]sam.SoftwareModel, error)

	// PutSKUUnits records Microsoft's unit counts, replacing the record of
	// the same profile, SKU and day.
	PutSKUUnits(ctx context.Context, units []sam.SKUUnits) error
	// SKUUnits returns the records of a profile between from and to
	// (inclusive days), ordered by day then SKU.
	SKUUnits(ctx context.Context, profileID int64, from, to time.Time) ([]sam.SKUUnits, error)

	// StartRun inserts a running run and sets its ID, Status (running) and
	// StartedAt (when zero). ENOTFOUND when the profile does not exist.
	StartRun(ctx context.Context, r *sam.Run) error
	// SaveRunProgress stores the run's counters, warnings, checkpoint and
	// Error (the last error of a run that stays resumable). ECONFLICT when
	// the run has finished.
	SaveRunProgress(ctx context.Context, r *sam.Run) error
	// FinishRun stores the final state of a run (status, finish time,
	// counters, warnings, error) and clears its checkpoint and staging area
	// (a finished run cannot resume). EINVALID unless Status is succeeded or
	// failed; ECONFLICT when the run has already finished.
	FinishRun(ctx context.Context, r *sam.Run) error
	// Run returns a run; ENOTFOUND when absent.
	Run(ctx context.Context, id int64) (*sam.Run, error)
	// Runs returns runs matching f, newest first.
	Runs(ctx context.Context, f RunFilter) ([]*sam.Run, error)
	// UnfinishedRun returns the newest running run of a profile and kind,
	// the one a restarted sync resumes; ENOTFOUND when there is none.
	UnfinishedRun(ctx context.Context, profileID int64, kind sam.RunKind) (*sam.Run, error)

	// Subscriptions returns subscriptions matching f.
	Subscriptions(ctx context.Context, f SubscriptionFilter) ([]*sam.Subscription, error)
	// Subscription returns one subscription; ENOTFOUND when absent.
	Subscription(ctx context.Context, id int64) (*sam.Subscription, error)

	// SyncState returns what a profile's next sync starts from; the zero
	// SyncState (not an error) before the first committed run.
	SyncState(ctx context.Context, profileID int64) (SyncState, error)

	// StageUsers adds users read by a subscriptions run to the run's staging
	// area and saves the run's progress (r's counters and checkpoint) in the
	// same transaction, so that a resumed run neither loses nor repeats a
	// page. A user staged twice in one run keeps the last version. Nothing
	// staged is visible to readers of subscriptions.
	StageUsers(ctx context.Context, r *sam.Run, users []StagedUser) error
	// CommitSubscriptions applies a subscriptions run in one transaction:
	// the models and unit counts, the staged users (see SubscriptionCommit
	// for full and delta semantics), the new delta link, the usage classes of
	// the profile's open subscriptions, and r finished as succeeded. The
	// staging area is emptied. Either all of it becomes visible or none.
	// Staged users' LastSignIn become entra:signin activity days
	// (environment 0); a staged SKU without a software model gets an
	// unmapped one (family other). ECONFLICT when r has already finished,
	// so a run commits at most once.
	CommitSubscriptions(ctx context.Context, r *sam.Run, c SubscriptionCommit) (SubscriptionChanges, error)

	// StageSystemUsers records Dataverse users of one environment read by an
	// activity run (the map from systemuserid to Entra object id), with r's
	// progress, in one transaction.
	StageSystemUsers(ctx context.Context, r *sam.Run, environmentID int64, users []SystemUser) error
	// StageActivity adds aggregated audit evidence read by an activity run
	// (events are summed, LastAt is the maximum) with r's progress, in one
	// transaction. Each row is mapped to its Entra user as it is staged,
	// through the Dataverse users the run staged for its environment (or
	// the environment's stored map when it staged none there): stage an
	// environment's users before its evidence. A row marked Resolved
	// carries its Entra user (UserID, "" for unmapped) already, as the
	// caller mapped it through the same users, and is not looked up.
	// Unmapped rows become mapped when the run later stages their user
	// with an Entra object id.
	StageActivity(ctx context.Context, r *sam.Run, rows []StagedActivity) error
	// CommitActivity applies an activity run in one transaction: staged
	// system users replace each environment's previous map, staged evidence
	// (mapped to Entra users when staged; rows of unknown system users are
	// counted in the result and dropped) is merged into the profile's
	// activity days,
	// each environment's audit status and watermark are stored, usage of
	// the profile's open subscriptions is recomputed, and r is finished as
	// succeeded. The staging area is emptied. An environment whose
	// incoming Watermark is zero keeps its stored one; a zero CheckedAt
	// means Now; environments removed from the profile while the run went
	// on are skipped. A store may write the recomputed usage in a
	// transaction of its own committed just before the run's (PostgreSQL
	// does, on a second connection while the run's merges): readers may
	// then see the new usage a moment before the new evidence, and should
	// the run's transaction fail after it, the usage is recomputed from
	// what is stored. ECONFLICT when r has already finished.
	CommitActivity(ctx context.Context, r *sam.Run, c ActivityCommit) (ActivityChanges, error)
	// DiscardStaging removes everything staged by a run (used when a run
	// cannot resume and starts again from scratch, or fails for good).
	DiscardStaging(ctx context.Context, runID int64) error

	// ActivityDays returns the evidence of one user in a profile between
	// from and to (inclusive), ordered by day, source, environment.
	ActivityDays(ctx context.Context, profileID int64, userID string, from, to time.Time) ([]sam.ActivityDay, error)
	// RecomputeUsage recomputes last activity, active days and usage class
	// of a profile's open subscriptions as of now (sam.Classify): tracked
	// models count Dataverse evidence only, other models also Entra sign-ins.
	RecomputeUsage(ctx context.Context, profileID int64, now time.Time) error
}

// SyncState is what a profile's next sync starts from.
type SyncState struct {
	DeltaLink string // Graph users/delta link of the last committed subscriptions run
	// LastSubscriptionsSync and LastActivitySync are the commit times of the
	// last successful runs (zero when none).
	LastSubscriptionsSync time.Time
	LastActivitySync      time.Time
}

// StagedUser is one Graph user as a subscriptions run read it.
type StagedUser struct {
	UserID         string // Entra object id, lower case
	Removed        bool   // reported as @removed by users/delta (deleted or soft-deleted)
	UPN            string
	DisplayName    string
	Department     string
	Country        string
	AccountEnabled bool
	LastSignIn     *time.Time // from signInActivity when read; nil when unknown or never
	// Licenses are the tracked SKUs the user holds, one per SKU (a SKU held
	// both directly and through a group is direct).
	Licenses []StagedLicense
}

// StagedLicense is one SKU held by a staged user.
type StagedLicense struct {
	SKUID           string
	AssignedByGroup string // "" for a direct assignment
	AssignedAt      time.Time
}

// SubscriptionCommit says how to apply a subscriptions run.
//
// Full: the staged users are the whole tenant. Every open subscription of the
// profile whose user and SKU are not staged is closed; staged pairs without an
// open subscription are opened; the others are updated.
//
// Delta (Full false): only staged users changed. A removed user's open
// subscriptions close; a staged user's open subscriptions for SKUs it no
// longer holds close, new SKUs open, attributes update. Users not staged are
// untouched except that LastSeen of every open subscription becomes Now.
//
// DeferUsage skips the usage recompute of the commit, for a caller that
// commits an activity run of the profile right after (its commit recomputes
// every open subscription's usage) or else calls RecomputeUsage: a
// side-by-side sync computes usage once instead of twice. Until then the
// subscriptions opened show usage unknown without evidence, the others keep
// the usage they had.
type SubscriptionCommit struct {
	Full       bool
	DeltaLink  string
	Now        time.Time
	Models     []sam.SoftwareModel
	Units      []sam.SKUUnits
	DeferUsage bool
}

// SubscriptionChanges counts what a commit changed.
type SubscriptionChanges struct {
	Opened  int // subscriptions opened
	Closed  int // subscriptions closed
	Updated int // open subscriptions whose user attributes or assignment changed
}

// SystemUser is one Dataverse user of one environment.
type SystemUser struct {
	SystemUserID string // lower case
	AADObjectID  string // Entra object id, lower case; "" for users without one
	DomainName   string
	FullName     string
	IsDisabled   bool
	AccessMode   int
}

// StagedActivity is audit evidence aggregated by environment, Dataverse
// user, UTC day and source.
type StagedActivity struct {
	EnvironmentID int64
	SystemUserID  string
	Day           time.Time
	Source        sam.ActivitySource
	Events        int64
	LastAt        time.Time
	// Resolved says that UserID is the Entra object id SystemUserID maps
	// to through the Dataverse users the run staged for the environment
	// ("" when it maps to none): the store takes it as it is instead of
	// looking the user up. A caller that holds the staged users in memory
	// resolves evidence faster than the database can.
	Resolved bool
	UserID   string
}

// ActivityCommit says how to apply an activity run.
type ActivityCommit struct {
	Now          time.Time
	Environments []sam.EnvironmentAudit
}

// ActivityChanges counts what an activity commit did.
type ActivityChanges struct {
	Days         int   // activity days inserted or updated
	UnmappedRows int64 // staged rows whose system user is unknown or has no Entra object id
	Recomputed   int   // subscriptions whose usage was recomputed
}

// ModelFilter selects software models. Zero fields match everything.
type ModelFilter struct {
	Family  sam.Family
	Tracked *bool
	Mapped  *bool
	SKUIDs  []string
}

// RunFilter selects runs. Zero fields match everything; Limit 0 means 100.
type RunFilter struct {
	ProfileID int64
	Kind      sam.RunKind
	Status    sam.RunStatus
	Limit     int
}

// SubscriptionFilter selects subscriptions. Zero fields match everything.
// Results are ordered by ID; AfterID and Limit page through them.
type SubscriptionFilter struct {
	ProfileID  int64
	SKUID      string
	UserID     string
	UsageClass sam.UsageClass
	OpenOnly   bool // only subscriptions not closed
	Limit      int  // 0: no limit
	AfterID    int64
}
