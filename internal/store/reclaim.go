package store

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// ReclaimStore persists reclamation (../shared/docs/product.md §5): the
// installation's reclamation settings, one rule per profile and tracked
// software model, exclusions, removal candidates with their workflow state,
// and the append-only history of every candidate's transitions. It is
// consumed by internal/reclaim, which owns the behaviour; the store only
// keeps the rows consistent (one open candidate per subscription, state
// changes compare-and-set, transitions never changed or removed).
type ReclaimStore interface {
	// ReclaimSettings returns the installation's reclamation settings. A new
	// database has DefaultReclaimSettings (dry run on).
	ReclaimSettings(ctx context.Context) (ReclaimSettings, error)
	// SetReclaimSettings replaces the settings and sets UpdatedAt. EINVALID
	// when a value is out of range (see ReclaimSettings.Validate).
	SetReclaimSettings(ctx context.Context, s *ReclaimSettings) error

	// EnsureReclaimRules inserts each rule whose (profile, SKU) has none yet
	// and leaves existing ones untouched (so that edits survive); it sets the
	// IDs of the rules it inserted and returns how many. ENOTFOUND when the
	// profile or a SKU's software model does not exist; EINVALID for an
	// invalid rule.
	EnsureReclaimRules(ctx context.Context, rules []*ReclaimRule) (int, error)
	// ReclaimRule returns a rule; ENOTFOUND when absent.
	ReclaimRule(ctx context.Context, id int64) (*ReclaimRule, error)
	// ReclaimRules returns the rules of a profile (0: every profile) ordered
	// by profile then SKU id.
	ReclaimRules(ctx context.Context, profileID int64) ([]*ReclaimRule, error)
	// UpdateReclaimRule stores r's editable fields and sets UpdatedAt.
	// ENOTFOUND when absent, EINVALID for an invalid rule.
	UpdateReclaimRule(ctx context.Context, r *ReclaimRule) error

	// AddExclusion inserts e and sets its ID and CreatedAt. ECONFLICT when
	// the same (profile, kind, value) exists, EINVALID for an unknown kind or
	// an empty value.
	AddExclusion(ctx context.Context, e *Exclusion) error
	// Exclusions returns the exclusions that apply to a profile (its own and
	// the global ones, ProfileID 0), or every exclusion when profileID is
	// -1, ordered by ID.
	Exclusions(ctx context.Context, profileID int64) ([]*Exclusion, error)
	// DeleteExclusion removes an exclusion; ENOTFOUND when absent.
	DeleteExclusion(ctx context.Context, id int64) error

	// CreateCandidate inserts c (State must be open) with its first
	// transition (From "", To c.State) and sets c.ID, CreatedAt and
	// UpdatedAt. ECONFLICT when the subscription already has an open
	// candidate; ENOTFOUND when the profile or subscription is missing.
	CreateCandidate(ctx context.Context, c *Candidate, tr Transition) error
	// Candidate returns a candidate; ENOTFOUND when absent.
	Candidate(ctx context.Context, id int64) (*Candidate, error)
	// Candidates returns the candidates matching f ordered by ID.
	Candidates(ctx context.Context, f CandidateFilter) ([]*Candidate, error)
	// UpdateCandidate stores c's mutable fields, provided the stored state
	// is still expect (compare-and-set), and, when tr is not nil, appends tr
	// (From expect, To c.State) in the same transaction. It sets UpdatedAt,
	// and ClosedAt when c moves to a closed state. ECONFLICT when the stored
	// state is no longer expect (someone else acted first); ENOTFOUND when
	// absent; EINVALID for an unknown state.
	UpdateCandidate(ctx context.Context, c *Candidate, expect CandidateState, tr *Transition) error
	// BeginCandidateChange records c's Intent, Method, IntentAt and
	// DisabledPlans, provided the stored state is still expect and no other
	// change is in flight (stored intent empty): the claim a process takes
	// before it changes the tenant. ECONFLICT otherwise; ENOTFOUND when
	// absent.
	BeginCandidateChange(ctx context.Context, c *Candidate, expect CandidateState) error
	// CandidateTransitions returns a candidate's history, oldest first.
	CandidateTransitions(ctx context.Context, candidateID int64) ([]Transition, error)
	// SavingsCandidates returns the candidates of one profile and software
	// model that reconciliation counts: open ones (potential savings) and
	// closed complete ones not undone (realised savings, ClosedAt set),
	// less those the profile's exclusions match now (exclusions apply to
	// reports too).
	SavingsCandidates(ctx context.Context, profileID int64, skuID string) ([]sam.SavingsCandidate, error)
}

// ReclaimSettings are the installation-wide safety settings of reclamation.
type ReclaimSettings struct {
	// DryRun computes and shows everything but changes nothing in any
	// tenant and notifies nobody. On for a new installation until an admin
	// turns it off.
	DryRun bool
	// CapCount is the most licences one run may remove (across SKUs).
	CapCount int
	// CapPercent is the most licences one run may remove from one SKU, in
	// percent of the SKU's seats (prepaid enabled units, else open
	// subscriptions). A run that would exceed either cap removes nothing
	// unless explicitly overridden.
	CapPercent int
	// StalenessLimit is how old the last successful download and activity
	// run of a profile may be for removals to go ahead.
	StalenessLimit time.Duration
	// UndoWindow is how long after a removal it can be undone.
	UndoWindow time.Duration
	// AllowGroupRemoval lets reclamation remove a user from the licensing
	// group a licence is inherited from (which may take away other
	// licences and access the group grants; Graph also needs
	// GroupMember.ReadWrite.All); off, such candidates need attention. On
	// for a new installation.
	AllowGroupRemoval bool
	UpdatedAt         time.Time
	UpdatedBy         string
}

// DefaultReclaimSettings are the settings of a new installation.
func DefaultReclaimSettings() ReclaimSettings {
	return ReclaimSettings{DryRun: true, CapCount: 20, CapPercent: 10, StalenessLimit: 48 * time.Hour, UndoWindow: 30 * 24 * time.Hour,
		AllowGroupRemoval: true}
}

// Validate returns EINVALID when a setting is out of range.
func (s ReclaimSettings) Validate() error {
	switch {
	case s.CapCount < 0:
		return sam.Errorf(sam.EINVALID, "reclamation cap count must be 0 or more, not %d", s.CapCount)
	case s.CapPercent < 0 || s.CapPercent > 100:
		return sam.Errorf(sam.EINVALID, "reclamation cap percentage must be between 0 and 100, not %d", s.CapPercent)
	case s.StalenessLimit <= 0:
		return sam.Errorf(sam.EINVALID, "staleness limit must be positive, not %s", s.StalenessLimit)
	case s.UndoWindow < 0:
		return sam.Errorf(sam.EINVALID, "undo window must not be negative, not %s", s.UndoWindow)
	}
	return nil
}

// AssignmentPath is the rule condition on how a licence was assigned.
type AssignmentPath string

// Assignment paths.
const (
	PathAny    AssignmentPath = "any"
	PathDirect AssignmentPath = "direct"
	PathGroup  AssignmentPath = "group"
)

// ReclaimRule is the reclamation rule of one software model in one profile.
type ReclaimRule struct {
	ID        int64
	ProfileID int64
	SKUID     string
	Enabled   bool
	// InactiveDays: a subscription whose last activity is at least this
	// many days old is a candidate (justification inactive).
	InactiveDays int
	// IncludeNeverActive makes subscriptions without any evidence
	// candidates (justification never_active).
	IncludeNeverActive bool
	// IncludeDisabled makes subscriptions of disabled accounts candidates
	// (justification disabled_account).
	IncludeDisabled bool
	// IncludeLowUsage makes active subscriptions with fewer than
	// sam.LowUsageDays active days in the last 30 candidates (low_usage).
	IncludeLowUsage bool
	// IncludeDuplicateBase makes a base licence candidate when the user
	// holds a more expensive base licence of the same family
	// (duplicate_base).
	IncludeDuplicateBase bool
	// GraceDays: licences assigned fewer than this many days ago are not
	// candidates.
	GraceDays int
	// NotifyUser: the user is told and may keep or release the licence.
	NotifyUser bool
	// ResponseDays are the days before automatic reclamation: the user's
	// time to answer (or, without notification, the wait before removal).
	ResponseDays int
	// Conditions: empty lists match everything; values compare case-insensitively.
	Departments    []string
	Countries      []string
	AssignmentPath AssignmentPath
	// ApprovalGroup is the Entra group whose members approve a user's
	// request to keep the licence ("" when none); ManagerApproval sends the
	// request to the user's manager.
	ApprovalGroup   string
	ManagerApproval bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	UpdatedBy       string
}

// DefaultReclaimRule is the rule created for a tracked model on a profile's
// first successful download: inactive 60 days, never-active included, 30
// days of grace, notify the user, 7 days before automatic reclamation,
// manager approval of requests to keep.
func DefaultReclaimRule(profileID int64, skuID string) *ReclaimRule {
	return &ReclaimRule{ProfileID: profileID, SKUID: sam.NormalizeGUID(skuID), Enabled: true, InactiveDays: 60,
		IncludeNeverActive: true, IncludeDisabled: true, GraceDays: 30, NotifyUser: true, ResponseDays: 7,
		AssignmentPath: PathAny, ManagerApproval: true}
}

// Validate returns EINVALID when the rule cannot be applied.
func (r *ReclaimRule) Validate() error {
	switch {
	case r.ProfileID <= 0 || !sam.ValidGUID(r.SKUID):
		return sam.Errorf(sam.EINVALID, "reclamation rule: a profile and a SKU id are required")
	case r.InactiveDays < 1:
		return sam.Errorf(sam.EINVALID, "reclamation rule: inactive days must be 1 or more, not %d", r.InactiveDays)
	case r.GraceDays < 0:
		return sam.Errorf(sam.EINVALID, "reclamation rule: grace days must be 0 or more, not %d", r.GraceDays)
	case r.ResponseDays < 0:
		return sam.Errorf(sam.EINVALID, "reclamation rule: days before automatic reclamation must be 0 or more, not %d", r.ResponseDays)
	case r.ApprovalGroup != "" && !sam.ValidGUID(r.ApprovalGroup):
		return sam.Errorf(sam.EINVALID, "reclamation rule: approval group %q is not a group id (GUID)", r.ApprovalGroup)
	}
	switch r.AssignmentPath {
	case PathAny, PathDirect, PathGroup:
	case "":
		r.AssignmentPath = PathAny
	default:
		return sam.Errorf(sam.EINVALID, "reclamation rule: assignment path must be any, direct or group, not %q", r.AssignmentPath)
	}
	return nil
}

// ExclusionKind is what an exclusion matches.
type ExclusionKind string

// Exclusion kinds.
const (
	ExcludeUser       ExclusionKind = "user"        // an Entra user id or a UPN (exact, case-insensitive)
	ExcludeUPNPattern ExclusionKind = "upn_pattern" // a path.Match pattern on the UPN, case-insensitive, e.g. "*@board.contoso.com"
	ExcludeGroup      ExclusionKind = "group"       // licences assigned through this group
	ExcludeSKU        ExclusionKind = "sku"         // a SKU id
	ExcludeVIP        ExclusionKind = "vip"         // a user flagged VIP (id or UPN): never a candidate, never notified
)

// ExclusionKinds lists the kinds in display order.
var ExclusionKinds = []ExclusionKind{ExcludeUser, ExcludeUPNPattern, ExcludeGroup, ExcludeSKU, ExcludeVIP}

// Exclusion keeps matching subscriptions out of candidates, notifications
// and reports.
type Exclusion struct {
	ID        int64
	ProfileID int64 // 0: every profile
	Kind      ExclusionKind
	Value     string // stored lower case
	Reason    string
	CreatedAt time.Time
	CreatedBy string
}

// CandidateState is where a removal candidate is in its workflow.
type CandidateState string

// Candidate states (../shared/docs/product.md §5).
const (
	StateAttention          CandidateState = "attention_required"
	StateReady              CandidateState = "ready"
	StateAwaitingUser       CandidateState = "awaiting_user"
	StateAwaitingApproval   CandidateState = "awaiting_approval"
	StateAwaitingRevocation CandidateState = "awaiting_revocation"
	StateClosedComplete     CandidateState = "closed_complete"
	StateClosedSkipped      CandidateState = "closed_skipped"
	StateClosedCanceled     CandidateState = "closed_canceled"
)

// CandidateStates lists every state in workflow order.
var CandidateStates = []CandidateState{StateAttention, StateReady, StateAwaitingUser, StateAwaitingApproval,
	StateAwaitingRevocation, StateClosedComplete, StateClosedSkipped, StateClosedCanceled}

// Valid reports whether s is a known state.
func (s CandidateState) Valid() bool { return slices.Contains(CandidateStates, s) }

// Closed reports whether s is a final state.
func (s CandidateState) Closed() bool {
	return s == StateClosedComplete || s == StateClosedSkipped || s == StateClosedCanceled
}

// Justification is why a rule selected a subscription.
type Justification string

// Justifications.
const (
	JustInactive      Justification = "inactive"
	JustLowUsage      Justification = "low_usage"
	JustNeverActive   Justification = "never_active"
	JustDisabled      Justification = "disabled_account"
	JustDuplicateBase Justification = "duplicate_base"
)

// Evidence is what a candidate's justification relied on.
type Evidence struct {
	AnalysisFrom time.Time // evidence before this was not considered
	AsOf         time.Time // when the rule was evaluated
	// Days are the activity records of the user in the analysis window
	// (every source and environment), newest first, at most 100.
	Days []EvidenceDay `json:",omitempty"`
	// Sources are the sources counted for the model (Dataverse sources for
	// tracked models, plus Entra sign-in for others).
	Sources []string `json:",omitempty"`
	// Note says in words what the rule saw, e.g. "last activity 2026-03-01
	// (dataverse:access_web), 75 days before 2026-05-15; threshold 60".
	Note string
	// OtherSKU is the more expensive base licence of a duplicate_base
	// candidate.
	OtherSKU string `json:",omitempty"`
}

// EvidenceDay is one activity record a candidate's evidence shows.
type EvidenceDay struct {
	Day           time.Time
	Source        string
	EnvironmentID int64
	Events        int64
	LastAt        time.Time
}

// Removal intents, recorded before Seatwise changes the tenant so that a
// crash between the change and the state update is resolved by reading the
// user back.
const (
	IntentNone   = ""
	IntentRemove = "remove" // a removal is (or was) in flight
	IntentUndo   = "undo"   // a re-assignment is (or was) in flight
)

// Removal methods.
const (
	MethodDirect = "direct" // assignLicense removeLicenses
	MethodGroup  = "group"  // removed from the licensing group
)

// Candidate is a subscription a rule selected for reclamation.
type Candidate struct {
	ID              int64
	ProfileID       int64
	SubscriptionID  int64
	RuleID          int64
	UserID          string
	UPN             string
	DisplayName     string
	Department      string
	Country         string
	SKUID           string
	AssignedByGroup string
	Justification   Justification
	Evidence        Evidence
	InactiveDays    int        // days since the last activity, -1 when never active
	LastActivity    *time.Time // nil when never active
	// Saving is the monthly saving in minor units of Currency (the model's
	// unit price); 0 when the price is unknown.
	Saving   int64
	Currency string
	State    CandidateState
	// DueAt is the candidate's timer: when the workflow acts next on its own
	// (zero: it waits for a person).
	DueAt time.Time
	// Message explains the current state in words (why attention is
	// required, what blocks a removal, what a dry run would do).
	Message string
	// Approvers are who decides a request to keep (manager UPN, group id).
	Approvers []string
	// Intent, Method and IntentAt record a tenant change in flight.
	Intent   string
	Method   string
	IntentAt time.Time
	// DisabledPlans are the service plans the user had disabled in the
	// SKU, re-applied by an undo.
	DisabledPlans []string
	RemovedAt     time.Time
	UndoUntil     time.Time
	UndoneAt      time.Time
	NotifiedAt    time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ClosedAt      time.Time
}

// Transition is one stored change of a candidate's state.
type Transition struct {
	ID          int64
	CandidateID int64
	At          time.Time
	From        CandidateState // "" for the creation
	To          CandidateState
	Actor       string // "system", "user:NAME", "token:NAME", "link:UPN", "cli:NAME"
	Reason      string
}

// CandidateFilter selects candidates. Zero fields match everything.
type CandidateFilter struct {
	ProfileID      int64
	SubscriptionID int64
	SKUID          string
	UserID         string
	States         []CandidateState
	OpenOnly       bool
	// DueBefore selects open candidates whose timer is set and not after it.
	DueBefore time.Time
	// Intent selects candidates with a tenant change in flight.
	Intent  string
	AfterID int64
	Limit   int // 0: no limit
}

// ExclusionSet decides whether a licence is excluded.
type ExclusionSet struct {
	users, groups, skus map[string]bool
	patterns            []string
}

// NewExclusionSet indexes a list of exclusions (user and vip match a user
// id or UPN, upn_pattern a path.Match pattern on the UPN, group the
// licence's assignment group, sku the SKU id; all case-insensitive).
func NewExclusionSet(list []*Exclusion) *ExclusionSet {
	x := &ExclusionSet{users: map[string]bool{}, groups: map[string]bool{}, skus: map[string]bool{}}
	for _, e := range list {
		v := strings.ToLower(strings.TrimSpace(e.Value))
		switch e.Kind {
		case ExcludeUser, ExcludeVIP:
			x.users[v] = true
		case ExcludeGroup:
			x.groups[sam.NormalizeGUID(v)] = true
		case ExcludeSKU:
			x.skus[sam.NormalizeGUID(v)] = true
		case ExcludeUPNPattern:
			x.patterns = append(x.patterns, v)
		}
	}
	return x
}

// Match returns why a user's licence is excluded, or "" when it is not.
func (x *ExclusionSet) Match(userID, upn, skuID, group string) string {
	upn = strings.ToLower(upn)
	switch {
	case x.users[sam.NormalizeGUID(userID)] || upn != "" && x.users[upn]:
		return "user excluded"
	case x.skus[sam.NormalizeGUID(skuID)]:
		return "SKU excluded"
	case group != "" && x.groups[sam.NormalizeGUID(group)]:
		return "assignment group excluded"
	}
	for _, p := range x.patterns {
		if ok, _ := path.Match(p, upn); ok {
			return "UPN matches excluded pattern " + p
		}
	}
	return ""
}
