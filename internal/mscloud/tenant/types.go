// Package tenant is the data and behaviour of simulated Microsoft tenants:
// the Entra directory (users, groups, licences, sign-ins), the subscribed
// SKUs, the client application, and Dataverse environments with their
// systemusers, audit settings and audit log. The simulator's HTTP layer
// (package mscloud) serves it as Entra, Graph and Dataverse; tests read it as
// ground truth (see Truth).
//
// A tenant is either generated from a seed (Generate: deterministic, the
// same Options give the same tenant and the same audit rows) or loaded from a
// scenario file (LoadScenario: exact cases). Audit rows are never stored:
// they are derived on demand from the seed, per environment and UTC day, so
// memory grows with users (a few hundred bytes each) and not with rows.
//
// A tenant has a simulated clock (Now, Advance). Activity patterns continue
// into the days the clock moves through. Mutations (licence assignment,
// group membership, account state, attributes, explicit activity, audit
// settings) are recorded in a change log whose sequence numbers drive Graph
// delta queries (ChangesSince).
//
// Audit rows of a generated user on a day in an environment derive from a
// hash of (seed, user, environment, day): whether the user is active that
// day (its Pattern), its sessions (05:00-21:00 UTC) and the records it
// touches. Explicit events (AddActivity, scenario files) join them. What
// Dataverse would have written is then decided by the environment's audit
// settings at each moment (auditing, user-access auditing, the access
// interval); retention and the clock are applied when rows are read. An
// iterator (Audits) builds one day at a time, sorted by (createdon,
// auditid), keeps a few recent days in a small cache, and resumes from an
// opaque cursor naming the last row served (CursorOf), so a Dataverse
// $skiptoken never needs server-side state.
//
// All methods are safe for concurrent use. Every value returned is a copy:
// changing it does not change the tenant.
package tenant

import (
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultHistoryDays is the audit history generated when Options.HistoryDays
// is zero.
const DefaultHistoryDays = 120

// DefaultAccessInterval is Dataverse's default
// organization.useraccessauditinginterval in hours: at most one user-access
// audit row per user per interval and environment.
const DefaultAccessInterval = 4

// Options define a generated tenant. The same Options give the same tenant.
type Options struct {
	Seed         int64
	Users        int       // number of Entra users (>= 0)
	Environments int       // number of Dataverse environments; 0 means 1
	Now          time.Time // the simulated clock's start; zero means 2026-01-15T12:00:00Z
	HistoryDays  int       // days of activity and audit history before Now; 0 means DefaultHistoryDays
	// TenantIndex distinguishes tenants generated with the same seed in one
	// simulator (different ids, names and domains); 0 for the first.
	TenantIndex int
}

// Pattern is the activity pattern of a user, the label tests and reports
// use to explain a verdict.
type Pattern string

// Activity patterns of generated users.
const (
	PatternDaily       Pattern = "daily"       // most working days, web access and records
	PatternWeekly      Pattern = "weekly"      // one or two days a week
	PatternLow         Pattern = "low"         // one to three days in the last 30, rarely before
	PatternFading      Pattern = "fading"      // active, less and less, then stopped 30-60 days ago
	PatternDormant30   Pattern = "dormant30"   // active, then nothing for the last 30-59 days
	PatternDormant60   Pattern = "dormant60"   // active, then nothing for the last 60-89 days
	PatternDormant90   Pattern = "dormant90"   // active, then nothing for the last 90+ days
	PatternNever       Pattern = "never"       // never signed in, never used Dataverse
	PatternWebServices Pattern = "webservices" // only web-services access (action 65), e.g. Outlook app, API
	PatternOneEnv      Pattern = "one_env"     // member of several environments, active in one only
	PatternRecordOnly  Pattern = "record_only" // creates / updates tracked records, no access rows
	PatternAuditOff    Pattern = "audit_off"   // active only in an environment whose auditing is off
	PatternSignInOnly  Pattern = "signin_only" // signs in to Entra, never uses Dataverse
	PatternNewHire     Pattern = "new_hire"    // created and licensed recently, not active yet
	PatternScripted    Pattern = "scripted"    // scenario or test user: only explicit events (AddActivity)
	PatternLeaver      Pattern = "leaver"      // was active, account disabled since
	PatternAdmin       Pattern = "admin"       // administrator: settings changes on untracked entities only
)

// App is the client application registered for Seatwise in the tenant.
type App struct {
	ClientID     string
	ClientSecret string
	// ObjectID is the service principal's object id (the application
	// users' azureactivedirectoryobjectid).
	ObjectID string
	// GraphPermissions are the granted Graph application permissions, e.g.
	// "User.Read.All", "LicenseAssignment.Read.All", "AuditLog.Read.All".
	GraphPermissions []string
}

// HasPermission reports whether p is among the granted Graph permissions
// (case-insensitive).
func (a App) HasPermission(p string) bool {
	for _, g := range a.GraphPermissions {
		if equalFold(g, p) {
			return true
		}
	}
	return false
}

// SKU is one entry of Graph subscribedSkus.
type SKU struct {
	SKUID            string // lower case
	PartNumber       string // skuPartNumber
	Name             string // catalog display name, "" when unknown to the catalog
	CapabilityStatus string // Enabled, Warning, Suspended, Deleted, LockedOut
	AppliesTo        string // "User"
	Enabled          int    // prepaidUnits.enabled
	Warning          int    // prepaidUnits.warning
	Suspended        int    // prepaidUnits.suspended
	LockedOut        int    // prepaidUnits.lockedOut
	Consumed         int    // consumedUnits: users holding the SKU (direct or group, counted once)
	ServicePlans     []sam.ServicePlan
	SubscriptionIDs  []string
	InCatalog        bool // the SKU id is in the embedded catalog
}

// Available returns Enabled - Consumed, the seats assignLicense may still use
// (never below 0).
func (s SKU) Available() int { return max(0, s.Enabled-s.Consumed) }

// AssignedLicense is one entry of user.assignedLicenses.
type AssignedLicense struct {
	SKUID         string
	DisabledPlans []string // never nil
}

// LicenseAssignmentState is one entry of user.licenseAssignmentStates: one
// per SKU and source (a SKU held directly and through a group has two).
type LicenseAssignmentState struct {
	SKUID           string
	AssignedByGroup string   // group id, "" for a direct assignment (Graph: null)
	DisabledPlans   []string // never nil
	State           string   // Active, ActiveWithError, Disabled, Error
	// Error is "" on success (Graph shows null, or "None" when ErrorNone is
	// set), else CountViolation, MutuallyExclusiveViolation, ...
	Error string
	// ErrorNone asks the HTTP layer to render a successful state's error as
	// "None" instead of null (live tenants show both).
	ErrorNone           bool
	LastUpdatedDateTime time.Time
}

// AssignedPlan is one entry of user.assignedPlans.
type AssignedPlan struct {
	AssignedDateTime time.Time
	CapabilityStatus string // Enabled
	Service          string // e.g. CRM, PowerAppsService, ProcessSimple, exchange
	ServicePlanID    string
}

// SignInActivity is user.signInActivity. A zero time means "never": Graph
// shows "0001-01-01T00:00:00Z" with an empty request id.
type SignInActivity struct {
	LastSignInDateTime                time.Time
	LastSignInRequestID               string
	LastNonInteractiveSignInDateTime  time.Time
	LastNonInteractiveSignInRequestID string
	LastSuccessfulSignInDateTime      time.Time
	LastSuccessfulSignInRequestID     string
}

// Never reports whether the user never signed in.
func (s SignInActivity) Never() bool { return s.LastSignInDateTime.IsZero() }

// User is an Entra user as Graph shows it.
type User struct {
	ID                      string // object id, lower case
	UserPrincipalName       string
	DisplayName             string
	GivenName               string
	Surname                 string
	Mail                    string
	JobTitle                string
	Department              string
	Country                 string
	UsageLocation           string // two-letter code, "" when unset
	AccountEnabled          bool
	CreatedDateTime         time.Time
	AssignedLicenses        []AssignedLicense        // active licences, one per SKU; never nil
	LicenseAssignmentStates []LicenseAssignmentState // never nil
	AssignedPlans           []AssignedPlan           // never nil
	SignInActivity          SignInActivity
	// Pattern is the user's activity pattern (ground truth, not a Graph
	// property).
	Pattern Pattern
	// Groups are the ids of the groups the user is a member of.
	Groups []string
}

// UserAttributes are the user properties UpdateUser may change; nil fields
// are left alone.
type UserAttributes struct {
	DisplayName   *string
	GivenName     *string
	Surname       *string
	JobTitle      *string
	Department    *string
	Country       *string
	UsageLocation *string
	Mail          *string
}

// NewUser describes a user for AddUser. ID and UserPrincipalName are
// generated when empty.
type NewUser struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	GivenName         string
	Surname           string
	JobTitle          string
	Department        string
	Country           string
	UsageLocation     string
	AccountEnabled    bool
	// Environments are the indexes of the environments where the user gets
	// a systemuser.
	Environments []int
}

// Group is a security group; licensing groups assign SKUs to their members.
type Group struct {
	ID          string
	DisplayName string
	SKUs        []string // SKU ids assigned to members (group-based licensing)
	Members     []string // user ids, in the tenant's user order
}

// AuditSettings are an environment's organisation audit settings
// (organizations?$select=isauditenabled,isuseraccessauditenabled,auditretentionperiodv2,useraccessauditinginterval).
type AuditSettings struct {
	AuditEnabled           bool // isauditenabled
	UserAccessAuditEnabled bool // isuseraccessauditenabled
	RetentionDays          int  // auditretentionperiodv2; -1 forever
	AccessIntervalHours    int  // useraccessauditinginterval; DefaultAccessInterval
}

// AuditPeriod is a span [From, To) with the audit settings in force then.
type AuditPeriod struct {
	From     time.Time // zero: since the beginning
	To       time.Time // zero: until now
	Settings AuditSettings
}

// Environment is one Dataverse organisation.
type Environment struct {
	Index          int
	Name           string // the org part of https://{name}.crm.dynamics.com
	FriendlyName   string
	OrganizationID string
	BusinessUnitID string
	Audit          AuditSettings // current settings
	// History lists the settings over time, oldest first; the last period
	// has a zero To.
	History []AuditPeriod
	// AppUserID is the systemuserid of the Seatwise application user.
	AppUserID string
	// AppUserAuditRead reports whether the application user holds a role
	// with prvReadAuditSummary (may read audits).
	AppUserAuditRead bool
}

// SystemUser is one row of an environment's systemusers table.
type SystemUser struct {
	SystemUserID                 string
	AzureActiveDirectoryObjectID string // "" for users without one (SYSTEM)
	DomainName                   string
	FullName                     string
	IsDisabled                   bool
	AccessMode                   int // 0 Read-Write, 1 Administrative, 2 Read, 3 Support, 4 Non-interactive, 5 Delegated Admin
	CALType                      int
	ApplicationID                string // set for application users
	// EntraUserID is the Entra user behind the row, "" for application,
	// support and system users (ground truth, not a Dataverse column).
	EntraUserID string
}

// Audit operations (audit.operation).
const (
	OperationCreate = 1
	OperationUpdate = 2
	OperationDelete = 3
	OperationAccess = 4
)

// Audit actions (audit.action) the generator emits.
const (
	ActionCreate                  = 1
	ActionUpdate                  = 2
	ActionDelete                  = 3
	ActionAssignRoleToUser        = 55
	ActionRemoveRoleFromUser      = 56
	ActionUserAccessViaWeb        = 64
	ActionUserAccessViaWebService = 65
	ActionUserAccessAuditStarted  = 112
	ActionUserAccessAuditStopped  = 113
)

// TrackedEntities are the objecttypecodes whose create / update audits count
// as activity (shared semantics of the brief).
var TrackedEntities = []string{"account", "contact", "task", "phonecall", "email", "appointment", "letter", "fax", "goal",
	"product", "opportunity", "lead", "quote", "salesorder", "invoice", "competitor", "incident", "contract", "queue",
	"serviceappointment"}

// IsTrackedEntity reports whether objecttypecode is one of TrackedEntities.
func IsTrackedEntity(objecttypecode string) bool { return trackedEntity[objecttypecode] }

var trackedEntity = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range TrackedEntities {
		m[e] = true
	}
	return m
}()

// AuditRow is one row of an environment's audits table.
type AuditRow struct {
	AuditID string
	// CreatedOn is UTC in whole seconds, as the Web API shows createdon
	// (several rows may share a second; auditid breaks ties in the order).
	CreatedOn          time.Time
	Operation          int
	Action             int
	ObjectTypeCode     string
	ObjectID           string // _objectid_value; the user itself for access rows
	UserID             string // _userid_value, a systemuserid
	CallingUserID      string // _callinguserid_value, "" = null
	TransactionID      string
	AttributeMask      string // comma-separated column numbers for updates, "" = null
	UserAdditionalInfo string // "" = null
}

// Event is one explicit user action for AddActivity and scenarios. The
// resulting audit row appears only if the environment audits it (auditing
// on at At; user-access auditing on for access events; the access interval
// rule; retention).
type Event struct {
	Env       int       // environment index
	At        time.Time // when it happened
	Operation int       // OperationAccess, OperationCreate, OperationUpdate, OperationDelete
	// Action: ActionUserAccessViaWeb or ActionUserAccessViaWebService for
	// access; defaults to the operation's own action (1, 2, 3) otherwise.
	Action int
	// Entity is the objecttypecode; "systemuser" for access (the default).
	Entity string
}

// AuditQuery selects and orders audit rows. Zero fields do not filter.
type AuditQuery struct {
	// Time bounds on createdon: ge / gt / le / lt; a zero time is no bound.
	CreatedOnGE, CreatedOnGT, CreatedOnLE, CreatedOnLT time.Time
	Operations                                         []int    // operation in (...)
	Actions                                            []int    // action in (...)
	UserIDs                                            []string // _userid_value in (...), systemuserids
	ObjectTypeCodes                                    []string // objecttypecode in (...)
	// Descending orders by createdon desc, auditid desc; else ascending.
	Descending bool
	// After is a cursor from a previous page (AuditPage's next, or
	// CursorOf): only rows strictly after it in this query's order come.
	After string
}

// UserChange is one entry of a delta round: a user changed (added or
// updated, read its current state with User) or removed.
type UserChange struct {
	UserID string
	// Removed is "" for a changed or added user, "changed" for a soft
	// delete (restorable) and "deleted" for a permanent one.
	Removed string
	Seq     uint64 // sequence number of the latest change
}

// Truth is what a correct sync must conclude about a tenant at its Now for
// an analysis start, over a set of environments.
type Truth struct {
	Now          time.Time
	AnalysisFrom time.Time
	// Environments are the environments considered and whether each covers
	// the window.
	Environments     []EnvironmentCoverage
	CoverageComplete bool
	Users            []UserTruth // tenant user order, deleted users excluded
	// Counts per SKU id: how many open subscriptions fall in each class.
	Counts map[string]map[sam.UsageClass]int
}

// EnvironmentCoverage says whether one environment can prove inactivity
// over the analysis window (sam.EnvironmentAudit.Covers of its current
// settings).
type EnvironmentCoverage struct {
	Index   int
	Name    string
	Covered bool
	Reason  string // why not, "" when covered
}

// UserTruth is the expected state of one user.
type UserTruth struct {
	UserID         string
	UPN            string
	Pattern        Pattern
	AccountEnabled bool
	// Subscriptions, one per SKU Seatwise records (catalog families
	// dynamics365, powerapps, powerautomate, dataverse, and SKUs unknown to
	// the catalog), in SKU order of the tenant.
	Subscriptions []SubscriptionTruth
	// Evidence is every visible evidence day (>= analysis start) of the
	// user, per source and environment (Env -1 for entra:signin); filled by
	// UserTruth only.
	Evidence []EvidenceDay
}

// EvidenceDay is the evidence of one user on one UTC day from one source in
// one environment (Env -1 for entra:signin).
type EvidenceDay struct {
	Day    time.Time
	Env    int
	Source sam.ActivitySource
	Events int
	LastAt time.Time
}

// SubscriptionTruth is the expected subscription of a user for one SKU.
type SubscriptionTruth struct {
	SKUID      string
	PartNumber string
	Family     sam.Family
	Tracked    bool
	Mapped     bool
	// AssignedByGroup is "" for a direct licence (also when the SKU is held
	// both directly and through groups), else the lexically smallest id of
	// the groups granting it.
	AssignedByGroup string
	// AssignedAt is lastUpdatedDateTime of the direct state, else of that
	// group's state, to the second.
	AssignedAt         time.Time
	LastActivity       *time.Time
	LastActivitySource sam.ActivitySource
	ActiveDays30       int
	ActiveDays90       int
	Class              sam.UsageClass
}
