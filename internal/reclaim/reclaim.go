// Package reclaim finds unused Dynamics 365 and Power Apps licences and takes
// them back, safely and reversibly (../shared/docs/product.md §5).
//
// Rules (one per profile and tracked software model, created on the first
// successful download) select open subscriptions as removal candidates with a
// justification and the evidence relied on; exclusions keep users, UPN
// patterns, groups, SKUs and VIPs out of candidates, notifications and
// reports. Each candidate then follows a workflow whose every transition is
// stored with actor, time and reason:
//
//	ready ─notify─▶ awaiting_user ─keep─▶ awaiting_approval ─approve─▶ closed_skipped
//	  │                 │ release / no answer              └─deny──▶ awaiting_revocation
//	  └─(no notice)─────┴──────────────▶ awaiting_revocation ─remove─▶ closed_complete ─undo─▶ closed_canceled
//
// attention_required holds a candidate a person must look at (no notifier
// configured, a group-based licence Seatwise may not remove, Graph refused);
// activity seen later, an exclusion or a licence that disappeared closes a
// candidate as closed_canceled; skip closes it as closed_skipped.
//
// Timers (the days a user has to answer, the days before automatic
// reclamation) are stored as each candidate's DueAt; Engine.Schedule turns the
// next one into a durable job (internal/job), so they survive restarts.
//
// Removal uses Graph assignLicense with removeLicenses for a direct
// assignment and removes the user from the licensing group for a group-based
// one; the result is verified by reading the user back. The intent is
// recorded before the call, so that a crash between the call and the state
// update is resolved by reading the user back: a removal is neither lost nor
// repeated. Safety: dry run (the default of a new installation) changes
// nothing in the tenant and notifies nobody; a per-run cap (count and
// percentage of a SKU's seats) stops a run that would exceed it unless
// overridden; stale or incomplete sync data blocks removals; every tenant
// change is also written to the server's append-only audit log.
package reclaim

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// ActorSystem is the actor of the workflow's own transitions.
const ActorSystem = "system"

// Graph is what reclamation needs from Microsoft Graph; *msgraph.Client
// implements it.
type Graph interface {
	// GetUser reads a user's licences (fields nil: msgraph.LicenseFields).
	GetUser(ctx context.Context, userID string, fields []string) (*msgraph.User, error)
	// Manager returns the user's manager; ENOTFOUND when none.
	Manager(ctx context.Context, userID string) (*msgraph.User, error)
	AssignLicense(ctx context.Context, userID string, add []msgraph.AssignedLicense, remove []string) (*msgraph.User, error)
	RemoveGroupMember(ctx context.Context, groupID, userID string) error
	AddGroupMember(ctx context.Context, groupID, userID string) error
}

var _ Graph = (*msgraph.Client)(nil)

// NoticeKind says what a notice asks.
type NoticeKind string

// Notice kinds.
const (
	// NoticeUser asks the licence holder to keep or release the licence
	// before Deadline (Actions keep, release).
	NoticeUser NoticeKind = "user"
	// NoticeApproval asks the approvers (the user's manager and/or the
	// rule's approval group) whether the user may keep the licence
	// (Actions approve, deny).
	NoticeApproval NoticeKind = "approval"
	// NoticeRemoved tells the user the licence was removed (no actions).
	NoticeRemoved NoticeKind = "removed"
)

// Link actions a notice offers; the web handlers behind signed links call
// Keep, Release, Approve and Deny.
const (
	ActionKeep    = "keep"
	ActionRelease = "release"
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// Notice is one message to send about a candidate. The notifier builds the
// signed, expiring links from CandidateID, each action and Recipients, valid
// until Deadline (or a default lifetime when Deadline is zero).
type Notice struct {
	Kind        NoticeKind
	CandidateID int64
	Candidate   store.Candidate
	Rule        store.ReclaimRule
	ProfileName string
	Product     string // the software model's product name, e.g. "Dynamics 365 Sales Enterprise"
	PartNumber  string
	// Recipients are e-mail addresses or UPNs: the user for NoticeUser and
	// NoticeRemoved, the manager for NoticeApproval (may be empty when only
	// ApprovalGroup decides).
	Recipients []string
	// ApprovalGroup is the Entra group id whose members approve
	// (NoticeApproval), "" when none.
	ApprovalGroup string
	Actions       []string
	Deadline      time.Time // no answer by then: automatic reclamation (NoticeUser)
	Reason        string    // why the licence is a candidate, in words
}

// Notifier sends notices (internal/notify: e-mail over SMTP and webhooks).
// Notify returns an error when nothing could be delivered; the candidate
// then goes to attention_required with that error.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Engine evaluates rules and drives candidates through the workflow. Its
// methods are safe for concurrent use; concurrent actions on one candidate
// are serialised by the store (compare-and-set on the state: the loser gets
// ECONFLICT).
type Engine struct {
	// Store is required.
	Store store.Store
	// Graph returns a Graph client for a profile (see ProfileGraph). Nil:
	// removals, undo and manager look-ups fail with EUNAVAILABLE.
	Graph func(ctx context.Context, p *sam.Profile) (Graph, error)
	// Notifier sends notices; nil means notification is not configured
	// (candidates of rules that notify go to attention_required saying so).
	Notifier Notifier
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger (slog.Default when nil).
	Logger *slog.Logger
	// Schedule, when set, is told the next time a profile's workflow has
	// work (a candidate's DueAt) so that it runs then, e.g. as a job.
	Schedule func(ctx context.Context, profileID int64, at time.Time) error

	// hook, in tests, is called at named points of a tenant change
	// ("before-call", "after-call"); an error aborts there, as a crash would.
	hook func(stage string) error
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Engine) at(stage string) error {
	if e.hook != nil {
		return e.hook(stage)
	}
	return nil
}

// audit appends an entry to the server's append-only audit log.
func (e *Engine) audit(ctx context.Context, actor, action string, c *store.Candidate, status int, detail string) {
	entry := &store.AuditEntry{At: e.now(), Actor: actor, Action: action, Status: status, Detail: detail}
	if c != nil {
		entry.Target = fmt.Sprintf("candidate:%d", c.ID)
	}
	if err := e.Store.AppendAudit(ctx, entry); err != nil {
		e.log().Error("reclamation audit entry not written", "action", action, "target", entry.Target, "err", err)
	}
}

// Settings returns the installation's reclamation settings.
func (e *Engine) Settings(ctx context.Context) (store.ReclaimSettings, error) {
	return e.Store.ReclaimSettings(ctx)
}

// SetSettings stores new settings as actor, records the change in the audit
// log and, when dry run was turned off, schedules every profile's workflow.
// EINVALID for out-of-range values.
func (e *Engine) SetSettings(ctx context.Context, s store.ReclaimSettings, actor string) error {
	old, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return err
	}
	s.UpdatedBy = actor
	if err := e.Store.SetReclaimSettings(ctx, &s); err != nil {
		return err
	}
	e.audit(ctx, actor, "reclaim.settings", nil, 200, fmt.Sprintf("dry run %t, cap %d per run and %d%% of a SKU's seats, staleness limit %s, undo window %s, group removal allowed %t",
		s.DryRun, s.CapCount, s.CapPercent, s.StalenessLimit, s.UndoWindow, s.AllowGroupRemoval))
	if old.DryRun && !s.DryRun && e.Schedule != nil {
		ps, err := e.Store.Profiles(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if err := e.Schedule(ctx, p.ID, e.now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// EnsureRules creates the default rule (store.DefaultReclaimRule) of every
// tracked software model the profile holds open subscriptions of and has no
// rule for yet, and returns how many it created. Edited rules are kept.
func (e *Engine) EnsureRules(ctx context.Context, p *sam.Profile) (int, error) {
	tracked := true
	models, err := e.Store.SoftwareModels(ctx, store.ModelFilter{Tracked: &tracked})
	if err != nil {
		return 0, err
	}
	counts, err := e.Store.UsageCounts(ctx, p.ID, true)
	if err != nil {
		return 0, err
	}
	held := map[string]bool{}
	for _, c := range counts {
		held[c.SKUID] = true
	}
	var rules []*store.ReclaimRule
	for _, m := range models {
		if held[m.SKUID] {
			rules = append(rules, store.DefaultReclaimRule(p.ID, m.SKUID))
		}
	}
	if len(rules) == 0 {
		return 0, nil
	}
	return e.Store.EnsureReclaimRules(ctx, rules)
}

// UpdateRule stores an edited rule as actor and records it in the audit log.
// ENOTFOUND, EINVALID as store.UpdateReclaimRule.
func (e *Engine) UpdateRule(ctx context.Context, r *store.ReclaimRule, actor string) error {
	r.UpdatedBy = actor
	if err := e.Store.UpdateReclaimRule(ctx, r); err != nil {
		return err
	}
	e.audit(ctx, actor, "reclaim.rule.update", nil, 200, fmt.Sprintf("rule %d (profile %d, SKU %s): %s", r.ID, r.ProfileID, r.SKUID, DescribeRule(r)))
	return nil
}

// DescribeRule says what a rule does in one line.
func DescribeRule(r *store.ReclaimRule) string {
	var parts []string
	if !r.Enabled {
		parts = append(parts, "disabled")
	}
	parts = append(parts, fmt.Sprintf("inactive %d days", r.InactiveDays))
	if r.IncludeNeverActive {
		parts = append(parts, "never active")
	}
	if r.IncludeDisabled {
		parts = append(parts, "disabled accounts")
	}
	if r.IncludeLowUsage {
		parts = append(parts, "low usage")
	}
	if r.IncludeDuplicateBase {
		parts = append(parts, "duplicate base licences")
	}
	parts = append(parts, fmt.Sprintf("grace %d days", r.GraceDays))
	if r.NotifyUser {
		parts = append(parts, fmt.Sprintf("notify user, %d days to answer", r.ResponseDays))
	} else {
		parts = append(parts, fmt.Sprintf("no notice, removal after %d days", r.ResponseDays))
	}
	if len(r.Departments) > 0 {
		parts = append(parts, "departments "+strings.Join(r.Departments, "/"))
	}
	if len(r.Countries) > 0 {
		parts = append(parts, "countries "+strings.Join(r.Countries, "/"))
	}
	if r.AssignmentPath != "" && r.AssignmentPath != store.PathAny {
		parts = append(parts, string(r.AssignmentPath)+" assignments only")
	}
	if r.ApprovalGroup != "" {
		parts = append(parts, "approval group "+r.ApprovalGroup)
	}
	if r.ManagerApproval {
		parts = append(parts, "manager approval")
	}
	return strings.Join(parts, ", ")
}

// errText is an error's message for a person: the *sam.Error message, or
// the error's own text for errors from elsewhere (a notifier).
func errText(err error) string {
	if msg := sam.ErrorMessage(err); msg != "internal error" {
		return msg
	}
	return err.Error()
}
