// Package sam holds Seatwise's domain: integration profiles, software models,
// subscriptions, activity and runs, and the rules that classify usage. It is
// pure logic and imports nothing else of Seatwise; storage, Microsoft clients
// and surfaces depend on it, never the other way round.
package sam

import (
	"strings"
	"time"
)

// ProfileState is the connection state of an integration profile.
type ProfileState string

// Profile states.
const (
	ProfileDraft       ProfileState = "draft"        // created, never synced successfully
	ProfileConnected   ProfileState = "connected"    // last connection worked
	ProfileNeedsReauth ProfileState = "needs_reauth" // refresh token or secret rejected; data kept, jobs paused
	ProfileError       ProfileState = "error"        // last run failed for another reason
	ProfilePaused      ProfileState = "paused"       // paused by an operator
)

// Valid reports whether s is a known profile state.
func (s ProfileState) Valid() bool {
	switch s {
	case ProfileDraft, ProfileConnected, ProfileNeedsReauth, ProfileError, ProfilePaused:
		return true
	}
	return false
}

// AuthMode is how a profile obtains tokens.
type AuthMode string

// Authentication modes.
const (
	AuthClientSecret AuthMode = "client_secret" // app-only, client-credentials grant with a secret
	AuthCertificate  AuthMode = "certificate"   // app-only, client assertion signed with a certificate
	AuthDelegated    AuthMode = "delegated"     // an admin's sign-in, refresh token stored
)

// Microsoft's public-cloud endpoints, the defaults of a profile.
const (
	DefaultLoginURL = "https://login.microsoftonline.com"
	DefaultGraphURL = "https://graph.microsoft.com/v1.0"
)

// Profile is one connection to one Microsoft tenant (an "integration profile").
// Secrets are not part of it: they live sealed in the store (see SealedSecret).
type Profile struct {
	ID          int64
	Name        string // unique, used on the command line: lower-case letters, digits, '-' and '_'
	DisplayName string
	TenantID    string // Entra tenant GUID, lower case
	ClientID    string // application (client) id, lower case
	AuthMode    AuthMode
	LoginURL    string // Entra authority host, e.g. https://login.microsoftonline.com
	GraphURL    string // Graph base including version, e.g. https://graph.microsoft.com/v1.0
	CAFile      string // optional PEM bundle trusted in addition to the system roots
	// AnalyzeFrom is the earliest date activity is read from ("analyze user
	// activity from"); the zero time means 90 days before now.
	AnalyzeFrom  time.Time
	State        ProfileState
	StateMessage string // why the profile is in its state, in words an admin can act on
	Environments []Environment
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Environment is one Dataverse organisation read for activity.
type Environment struct {
	ID        int64
	ProfileID int64
	URL       string // https://{org}.crm.dynamics.com, no trailing slash, no /api path
	Name      string // optional friendly name
	// Audit is what the last committed activity run learned: auditing
	// settings and the watermark (createdon of the newest audit row counted,
	// where the next run reads from). Zero before the first run.
	Audit EnvironmentAudit
}

// ValidName reports whether name is usable as a profile name.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// NormalizeGUID returns g trimmed and in lower case, the form Seatwise stores.
// Microsoft returns GUIDs in both cases (assignLicense answers in upper case).
func NormalizeGUID(g string) string {
	if lowerGUID(g) {
		return g // already normal: the common case, without a copy
	}
	return strings.ToLower(strings.TrimSpace(strings.Trim(g, "{}")))
}

// lowerGUID reports whether g is a GUID in lower-case 8-4-4-4-12 form: the
// dashes in place and a table lookup per digit (a sync checks every
// evidence row's GUIDs several times; a switch per character took a tenth
// of its Go time at 100,000 users).
func lowerGUID(g string) bool {
	if len(g) != 36 || g[8] != '-' || g[13] != '-' || g[18] != '-' || g[23] != '-' {
		return false
	}
	for _, at := range guidHexAt {
		if !lowerHexDigit[g[at]] || !lowerHexDigit[g[at+1]] {
			return false
		}
	}
	return true
}

// lowerHexDigit reports the lower-case hex digits.
var lowerHexDigit = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = true
	}
	return t
}()

// ValidGUID reports whether g is a GUID in 8-4-4-4-12 hex form (either case).
func ValidGUID(g string) bool {
	if len(g) != 36 {
		return false
	}
	for i, r := range g {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// SealedSecret is a secret encrypted at rest: the ciphertext and the id of
// the key that sealed it. The plaintext never reaches the store.
type SealedSecret struct {
	KeyID      string
	Ciphertext []byte
}

// Secret names stored per profile.
const (
	SecretClientSecret = "client_secret"
	SecretRefreshToken = "refresh_token"
	SecretCertificate  = "certificate"
)

// Family groups software models.
type Family string

// Families of the catalog.
const (
	FamilyDynamics365   Family = "dynamics365"
	FamilyPowerApps     Family = "powerapps"
	FamilyPowerAutomate Family = "powerautomate"
	FamilyDataverse     Family = "dataverse"
	FamilyOther         Family = "other" // a tenant SKU the catalog does not know
)

// Families lists the catalog families in display order.
var Families = []Family{FamilyDynamics365, FamilyPowerApps, FamilyPowerAutomate, FamilyDataverse}

// Kind says whether a licence stands alone or needs a base licence.
type Kind string

// Licence kinds.
const (
	KindBase   Kind = "base"
	KindAttach Kind = "attach"
)

// MetricUserSubscription is the licence metric of every model Seatwise tracks:
// one right per user holding the SKU.
const MetricUserSubscription = "user_subscription"

// SoftwareModel is a licensable product, identified by its SKU id.
// Models are global: every profile whose tenant holds the SKU shares it.
type SoftwareModel struct {
	SKUID        string // Graph skuId, lower case
	PartNumber   string // Graph skuPartNumber (catalog String_Id, trimmed)
	Publisher    string // "Microsoft"
	Product      string // display name from the catalog
	Edition      string // e.g. "Enterprise", "Professional", "Team Members"
	Family       Family
	Kind         Kind
	Metric       string
	Tracked      bool   // activity is tracked (Sales, Customer Service, Team Members)
	Mapped       bool   // false when the SKU is unknown to the catalog ("unmapped")
	UnitPrice    int64  // minor units (cents) per user per month; 0 when unknown
	Currency     string // ISO 4217, "" when UnitPrice is unknown
	ServicePlans []ServicePlan
}

// ServicePlan is one service plan included in a SKU.
type ServicePlan struct {
	ID   string // servicePlanId, lower case
	Name string // servicePlanName
}

// SKUUnits is Microsoft's own count for one SKU of one tenant on one day,
// from subscribedSkus: what was bought (prepaid units) and what is assigned.
type SKUUnits struct {
	ProfileID        int64
	SKUID            string
	Day              time.Time // UTC midnight
	PartNumber       string
	CapabilityStatus string // Enabled, Warning, Suspended, Deleted, LockedOut
	Enabled          int
	Warning          int
	Suspended        int
	LockedOut        int
	Consumed         int
}

// UsageClass is the usage verdict on one subscription.
type UsageClass string

// Usage classes, from best to worst. Unknown means Seatwise cannot tell
// (auditing off, retention too short, environment unreachable); it is never
// reported as inactive.
const (
	UsageActive      UsageClass = "active"
	UsageLow         UsageClass = "low_usage"
	UsageInactive30  UsageClass = "inactive_30"
	UsageInactive60  UsageClass = "inactive_60"
	UsageInactive90  UsageClass = "inactive_90"
	UsageNeverActive UsageClass = "never_active"
	UsageDisabled    UsageClass = "disabled"
	UsageUnknown     UsageClass = "unknown"
)

// UsageClasses lists every class in report order.
var UsageClasses = []UsageClass{UsageActive, UsageLow, UsageInactive30, UsageInactive60, UsageInactive90, UsageNeverActive, UsageDisabled, UsageUnknown}

// Subscription is one user holding one SKU in one tenant. A subscription that
// disappears from the tenant is closed (ClosedAt set), never deleted; if the
// user is given the SKU again later, a new subscription starts.
type Subscription struct {
	ID             int64
	ProfileID      int64
	UserID         string // Entra object id, lower case
	SKUID          string
	UPN            string
	DisplayName    string
	Department     string
	Country        string
	AccountEnabled bool
	// AssignedByGroup is the id of the group the licence is inherited from,
	// "" for a direct assignment.
	AssignedByGroup string
	AssignedAt      time.Time // when Microsoft says the licence was assigned; zero if unknown
	FirstSeen       time.Time
	LastSeen        time.Time
	ClosedAt        *time.Time
	// Activity, computed by the activity run.
	LastActivity       *time.Time
	LastActivitySource string // e.g. "dataverse:access_web", "entra:signin"
	ActiveDays30       int
	ActiveDays90       int
	UsageClass         UsageClass
}

// Open reports whether the subscription is still held.
func (s *Subscription) Open() bool { return s.ClosedAt == nil }

// RunKind is what a run did.
type RunKind string

// Run kinds.
const (
	RunSubscriptions RunKind = "subscriptions"
	RunActivity      RunKind = "activity"
)

// RunStatus is the state of a run.
type RunStatus string

// Run states.
const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
)

// Run records one execution of a job for a profile: when, what it counted,
// how many requests it sent and how Microsoft answered, and how it ended.
// Checkpoint is opaque to the store: the job that owns the run decides its
// format and resumes from it.
type Run struct {
	ID         int64
	ProfileID  int64
	Kind       RunKind
	Status     RunStatus
	Full       bool // a full (not incremental) run
	StartedAt  time.Time
	FinishedAt *time.Time
	Counts     map[string]int64 // e.g. users, subscriptions_opened, audit_rows
	Requests   int64
	Throttles  int64
	Retries    int64
	Warnings   []string
	Error      string
	Checkpoint []byte
}

// ActivitySource names where evidence of use came from.
type ActivitySource string

// Activity sources.
const (
	SourceAccessWeb ActivitySource = "dataverse:access_web" // audit action 64, model-driven app in a browser
	SourceAccessAPI ActivitySource = "dataverse:access_api" // audit action 65, any other client
	SourceRecord    ActivitySource = "dataverse:record"     // create/update audit on a tracked entity
	SourceSignIn    ActivitySource = "entra:signin"         // Entra signInActivity (tenant-wide, not per app)
)

// ActivityDay is the evidence that one user used Dataverse (or signed in) on
// one UTC day, from one source in one environment (0 for Entra sign-ins).
type ActivityDay struct {
	ProfileID     int64
	UserID        string // Entra object id
	Day           time.Time
	EnvironmentID int64
	Source        ActivitySource
	Events        int64
	LastAt        time.Time // newest event of that day
}

// EnvironmentAudit is what an activity run learned about one environment's
// auditing, and how far it read.
type EnvironmentAudit struct {
	EnvironmentID          int64
	Reachable              bool   // the environment answered (false also before the first run)
	Error                  string // why it could not be read, "" when Reachable
	AuditEnabled           bool   // organization.isauditenabled
	UserAccessAuditEnabled bool   // organization.isuseraccessauditenabled
	// RetentionDays is organization.auditretentionperiodv2: days audit rows
	// are kept, -1 for forever.
	RetentionDays int
	Watermark     time.Time // createdon of the newest audit row counted
	CheckedAt     time.Time
}

// Covers reports whether the environment's audit log can prove inactivity
// over the window from..now: it was read, audits user access, and keeps rows
// at least that long.
func (e EnvironmentAudit) Covers(from, now time.Time) bool {
	if !e.Reachable || !e.AuditEnabled || !e.UserAccessAuditEnabled {
		return false
	}
	if e.RetentionDays < 0 {
		return true
	}
	return e.RetentionDays >= DaysBetween(from, now)
}
