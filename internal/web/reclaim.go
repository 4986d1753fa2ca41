package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Reclamation API (../shared/docs/product.md §5): removal candidates with
// their evidence and transitions, actions on one or many candidates, rules,
// exclusions and the installation's reclamation settings. Every change goes
// through reclaim.Engine, which checks the workflow's states, audits and
// schedules the timers.

// reclaimEngine returns the reclamation engine of this server: the job
// runner's (its notifier, clock and durable timers) when jobs run here,
// otherwise one over the store without notifier or timers (the timers are
// then picked up by the instance running the jobs).
func (s *Server) reclaimEngine() *reclaim.Engine {
	if s.cfg.Jobs != nil {
		e := s.cfg.Jobs.ReclaimEngine()
		if sched := e.Schedule; sched != nil {
			e.Schedule = func(ctx context.Context, profileID int64, at time.Time) error {
				err := sched(ctx, profileID, at)
				if sam.IsCode(err, sam.EINVALID) {
					// Reclamation jobs are not enabled on this runner: the
					// timer stays on the candidate for whoever runs them.
					s.log.Warn("reclamation timer not scheduled", "profile", profileID, "err", sam.ErrorMessage(err))
					return nil
				}
				return err
			}
		}
		return e
	}
	e := &reclaim.Engine{Store: s.cfg.Store, Now: s.cfg.Now, Logger: s.log}
	if s.cfg.Keyring != nil {
		e.Graph = reclaim.ProfileGraph(s.cfg.Store, s.cfg.Keyring, ingest.ClientOptions{})
	}
	return e
}

// actor names who acts in the workflow: "user:NAME" or "token:NAME".
func actor(r *http.Request) string {
	if p := principal(r); p != nil {
		return p.Actor()
	}
	return "anonymous"
}

// ---- JSON types ----

// CandidateJSON is a removal candidate. Evidence and Transitions are only
// filled when one candidate is read.
type CandidateJSON struct {
	ID              int64            `json:"id"`
	Profile         string           `json:"profile"`
	SubscriptionID  int64            `json:"subscription_id"`
	RuleID          int64            `json:"rule_id,omitempty"`
	UserID          string           `json:"user_id"`
	UPN             string           `json:"upn"`
	DisplayName     string           `json:"display_name,omitempty"`
	Department      string           `json:"department,omitempty"`
	Country         string           `json:"country,omitempty"`
	SKUID           string           `json:"sku_id"`
	Product         string           `json:"product,omitempty"`
	PartNumber      string           `json:"part_number,omitempty"`
	AssignedByGroup string           `json:"assigned_by_group,omitempty"`
	Justification   string           `json:"justification"`
	InactiveDays    int              `json:"inactive_days"` // -1: never active
	LastActivity    *time.Time       `json:"last_activity,omitempty"`
	Saving          int64            `json:"saving"` // minor units per month
	Currency        string           `json:"currency,omitempty"`
	State           string           `json:"state"`
	DueAt           *time.Time       `json:"due_at,omitempty"`
	Message         string           `json:"message,omitempty"`
	Approvers       []string         `json:"approvers,omitempty"`
	NotifiedAt      *time.Time       `json:"notified_at,omitempty"`
	RemovedAt       *time.Time       `json:"removed_at,omitempty"`
	UndoUntil       *time.Time       `json:"undo_until,omitempty"`
	UndoneAt        *time.Time       `json:"undone_at,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	ClosedAt        *time.Time       `json:"closed_at,omitempty"`
	Actions         []string         `json:"actions"` // what may be done now
	Evidence        *EvidenceJSON    `json:"evidence,omitempty"`
	Transitions     []TransitionJSON `json:"transitions,omitempty"`
}

// EvidenceJSON is what a candidate's justification relied on.
type EvidenceJSON struct {
	AnalysisFrom time.Time         `json:"analysis_from"`
	AsOf         time.Time         `json:"as_of"`
	Note         string            `json:"note"`
	Sources      []string          `json:"sources"`
	OtherSKU     string            `json:"other_sku,omitempty"`
	Days         []EvidenceDayJSON `json:"days"`
}

// EvidenceDayJSON is one activity record of the evidence.
type EvidenceDayJSON struct {
	Day           string    `json:"day"` // YYYY-MM-DD
	Source        string    `json:"source"`
	EnvironmentID int64     `json:"environment_id,omitempty"`
	Events        int64     `json:"events"`
	LastAt        time.Time `json:"last_at"`
}

// TransitionJSON is one stored change of a candidate's state.
type TransitionJSON struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"` // "" for the creation
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// CandidatePage is a page of candidates ordered by id; pass NextCursor as
// cursor for the next.
type CandidatePage struct {
	Items      []CandidateJSON `json:"items"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// Candidate actions.
const (
	actApprove = reclaim.ActionApprove
	actDeny    = reclaim.ActionDeny
	actKeep    = reclaim.ActionKeep
	actRelease = reclaim.ActionRelease
	actSkip    = "skip"
	actRequeue = "requeue"
	actReclaim = "reclaim"
	actUndo    = "undo"
)

var candidateActions = []string{actApprove, actDeny, actKeep, actRelease, actSkip, actRequeue, actReclaim, actUndo}

// CandidateAction is an action on a candidate: approve or deny a request to
// keep, keep or release on the user's behalf, skip (close, the user keeps
// the licence), requeue (attention required → ready), reclaim now, or undo
// a removal.
type CandidateAction struct {
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// OverrideCap lets a reclaim exceed the per-run cap, explicitly.
	OverrideCap bool `json:"override_cap,omitempty"`
}

// BulkCandidateAction is one action on several candidates.
type BulkCandidateAction struct {
	IDs         []int64 `json:"ids"`
	Action      string  `json:"action"`
	Reason      string  `json:"reason,omitempty"`
	OverrideCap bool    `json:"override_cap,omitempty"`
}

// ActionResult is what an action did to one candidate.
type ActionResult struct {
	ID      int64  `json:"id"`
	OK      bool   `json:"ok"`
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	// DryRun, Planned and Blocked report a reclaim: in dry run what would
	// have happened; Blocked why a removal was held back (stale data, cap).
	DryRun  bool         `json:"dry_run,omitempty"`
	Planned []string     `json:"planned,omitempty"`
	Blocked string       `json:"blocked,omitempty"`
	Error   *ErrorDetail `json:"error,omitempty"`
}

// BulkResult is what a bulk action did, candidate by candidate.
type BulkResult struct {
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Results   []ActionResult `json:"results"`
}

// RuleJSON is a reclamation rule.
type RuleJSON struct {
	ID                   int64      `json:"id"`
	Profile              string     `json:"profile"`
	SKUID                string     `json:"sku_id"`
	Product              string     `json:"product,omitempty"`
	Enabled              bool       `json:"enabled"`
	InactiveDays         int        `json:"inactive_days"`
	IncludeNeverActive   bool       `json:"include_never_active"`
	IncludeDisabled      bool       `json:"include_disabled"`
	IncludeLowUsage      bool       `json:"include_low_usage"`
	IncludeDuplicateBase bool       `json:"include_duplicate_base"`
	GraceDays            int        `json:"grace_days"`
	NotifyUser           bool       `json:"notify_user"`
	ResponseDays         int        `json:"response_days"`
	Departments          []string   `json:"departments"`
	Countries            []string   `json:"countries"`
	AssignmentPath       string     `json:"assignment_path"` // any, direct or group
	ApprovalGroup        string     `json:"approval_group,omitempty"`
	ManagerApproval      bool       `json:"manager_approval"`
	Description          string     `json:"description"`
	UpdatedAt            *time.Time `json:"updated_at,omitempty"`
	UpdatedBy            string     `json:"updated_by,omitempty"`
}

// RulePatch changes a rule; absent fields keep their value.
type RulePatch struct {
	Enabled              *bool     `json:"enabled,omitempty"`
	InactiveDays         *int      `json:"inactive_days,omitempty"`
	IncludeNeverActive   *bool     `json:"include_never_active,omitempty"`
	IncludeDisabled      *bool     `json:"include_disabled,omitempty"`
	IncludeLowUsage      *bool     `json:"include_low_usage,omitempty"`
	IncludeDuplicateBase *bool     `json:"include_duplicate_base,omitempty"`
	GraceDays            *int      `json:"grace_days,omitempty"`
	NotifyUser           *bool     `json:"notify_user,omitempty"`
	ResponseDays         *int      `json:"response_days,omitempty"`
	Departments          *[]string `json:"departments,omitempty"`
	Countries            *[]string `json:"countries,omitempty"`
	AssignmentPath       *string   `json:"assignment_path,omitempty"`
	ApprovalGroup        *string   `json:"approval_group,omitempty"`
	ManagerApproval      *bool     `json:"manager_approval,omitempty"`
}

// ExclusionJSON keeps users, UPN patterns, groups, SKUs or VIPs out of
// candidates, notifications and reports.
type ExclusionJSON struct {
	ID        int64     `json:"id"`
	Profile   string    `json:"profile,omitempty"` // "" for every profile
	Kind      string    `json:"kind"`              // user, upn_pattern, group, sku, vip
	Value     string    `json:"value"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// ExclusionInput adds an exclusion; Profile "" applies it to every
// profile.
type ExclusionInput struct {
	Profile string `json:"profile,omitempty"`
	Kind    string `json:"kind"`
	Value   string `json:"value"`
	Reason  string `json:"reason,omitempty"`
}

// ReclaimSettingsJSON are the installation's reclamation safety settings,
// and whether notifications are configured.
type ReclaimSettingsJSON struct {
	DryRun              bool       `json:"dry_run"`
	CapCount            int        `json:"cap_count"`
	CapPercent          int        `json:"cap_percent"`
	StalenessLimitHours int        `json:"staleness_limit_hours"`
	UndoWindowDays      int        `json:"undo_window_days"`
	UpdatedAt           *time.Time `json:"updated_at,omitempty"`
	UpdatedBy           string     `json:"updated_by,omitempty"`
	// Notifications says how users are told, or that nothing is
	// configured (read-only: set through the server's configuration).
	Notifications string `json:"notifications"`
}

// ReclaimSettingsPatch changes settings; absent fields keep their value.
type ReclaimSettingsPatch struct {
	DryRun              *bool `json:"dry_run,omitempty"`
	CapCount            *int  `json:"cap_count,omitempty"`
	CapPercent          *int  `json:"cap_percent,omitempty"`
	StalenessLimitHours *int  `json:"staleness_limit_hours,omitempty"`
	UndoWindowDays      *int  `json:"undo_window_days,omitempty"`
}

// ---- conversions ----

func (s *Server) modelNames(sku string) (product, part string) {
	if m, ok := s.cfg.Catalog.Model(sku); ok {
		return m.Product, m.PartNumber
	}
	return "", ""
}

// allowedActions are the actions a candidate accepts now.
func allowedActions(c *store.Candidate, now time.Time) []string {
	if c.Intent != store.IntentNone {
		return []string{}
	}
	switch c.State {
	case store.StateAttention:
		return []string{actRequeue, actReclaim, actSkip}
	case store.StateReady:
		return []string{actReclaim, actSkip}
	case store.StateAwaitingUser:
		return []string{actKeep, actRelease, actReclaim, actSkip}
	case store.StateAwaitingApproval:
		return []string{actApprove, actDeny, actSkip}
	case store.StateAwaitingRevocation:
		return []string{actReclaim, actSkip}
	case store.StateClosedComplete:
		if c.UndoneAt.IsZero() && now.Before(c.UndoUntil) {
			return []string{actUndo}
		}
	}
	return []string{}
}

func (s *Server) candidateJSON(c *store.Candidate, names map[int64]string) CandidateJSON {
	j := CandidateJSON{ID: c.ID, Profile: names[c.ProfileID], SubscriptionID: c.SubscriptionID, RuleID: c.RuleID, UserID: c.UserID,
		UPN: c.UPN, DisplayName: c.DisplayName, Department: c.Department, Country: c.Country, SKUID: c.SKUID,
		AssignedByGroup: c.AssignedByGroup, Justification: string(c.Justification), InactiveDays: c.InactiveDays,
		Saving: c.Saving, Currency: c.Currency, State: string(c.State), DueAt: timePtr(c.DueAt), Message: c.Message,
		Approvers: c.Approvers, NotifiedAt: timePtr(c.NotifiedAt), RemovedAt: timePtr(c.RemovedAt), UndoUntil: timePtr(c.UndoUntil),
		UndoneAt: timePtr(c.UndoneAt), CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), ClosedAt: timePtr(c.ClosedAt),
		Actions: allowedActions(c, s.now())}
	if c.LastActivity != nil {
		j.LastActivity = timePtr(*c.LastActivity)
	}
	j.Product, j.PartNumber = s.modelNames(c.SKUID)
	return j
}

func evidenceJSON(e store.Evidence) *EvidenceJSON {
	out := &EvidenceJSON{AnalysisFrom: e.AnalysisFrom.UTC(), AsOf: e.AsOf.UTC(), Note: e.Note, Sources: e.Sources, OtherSKU: e.OtherSKU,
		Days: []EvidenceDayJSON{}}
	if out.Sources == nil {
		out.Sources = []string{}
	}
	for _, d := range e.Days {
		out.Days = append(out.Days, EvidenceDayJSON{Day: sam.FormatDay(d.Day), Source: d.Source, EnvironmentID: d.EnvironmentID,
			Events: d.Events, LastAt: d.LastAt.UTC()})
	}
	return out
}

func transitionsJSON(ts []store.Transition) []TransitionJSON {
	out := []TransitionJSON{}
	for _, t := range ts {
		out = append(out, TransitionJSON{At: t.At.UTC(), From: string(t.From), To: string(t.To), Actor: t.Actor, Reason: t.Reason})
	}
	return out
}

func (s *Server) ruleJSON(r *store.ReclaimRule, names map[int64]string) RuleJSON {
	j := RuleJSON{ID: r.ID, Profile: names[r.ProfileID], SKUID: r.SKUID, Enabled: r.Enabled, InactiveDays: r.InactiveDays,
		IncludeNeverActive: r.IncludeNeverActive, IncludeDisabled: r.IncludeDisabled, IncludeLowUsage: r.IncludeLowUsage,
		IncludeDuplicateBase: r.IncludeDuplicateBase, GraceDays: r.GraceDays, NotifyUser: r.NotifyUser, ResponseDays: r.ResponseDays,
		Departments: r.Departments, Countries: r.Countries, AssignmentPath: string(r.AssignmentPath), ApprovalGroup: r.ApprovalGroup,
		ManagerApproval: r.ManagerApproval, Description: reclaim.DescribeRule(r), UpdatedAt: timePtr(r.UpdatedAt), UpdatedBy: r.UpdatedBy}
	if j.Departments == nil {
		j.Departments = []string{}
	}
	if j.Countries == nil {
		j.Countries = []string{}
	}
	j.Product, _ = s.modelNames(r.SKUID)
	return j
}

func exclusionJSON(e *store.Exclusion, names map[int64]string) ExclusionJSON {
	return ExclusionJSON{ID: e.ID, Profile: names[e.ProfileID], Kind: string(e.Kind), Value: e.Value, Reason: e.Reason,
		CreatedAt: e.CreatedAt.UTC(), CreatedBy: e.CreatedBy}
}

func (s *Server) settingsJSON(set store.ReclaimSettings, e *reclaim.Engine) ReclaimSettingsJSON {
	j := ReclaimSettingsJSON{DryRun: set.DryRun, CapCount: set.CapCount, CapPercent: set.CapPercent,
		StalenessLimitHours: int(set.StalenessLimit / time.Hour), UndoWindowDays: int(set.UndoWindow / (24 * time.Hour)),
		UpdatedAt: timePtr(set.UpdatedAt), UpdatedBy: set.UpdatedBy, Notifications: notificationsStatus(e)}
	return j
}

// notificationsStatus says how users are notified, or plainly that they
// are not.
func notificationsStatus(e *reclaim.Engine) string {
	if e.Notifier == nil {
		return "not configured: set smtp_host (and smtp_from) or webhook_url, with public_url, and restart; meanwhile candidates of rules that notify go to attention required"
	}
	if d, ok := e.Notifier.(interface{ Channels() string }); ok {
		return d.Channels()
	}
	return "configured"
}

// ---- parameters ----

func pathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, sam.Errorf(sam.EINVALID, "%s id %q: want a positive number", what, r.PathValue("id"))
	}
	return id, nil
}

// profileParam resolves the "profile" query parameter (0 when absent).
func (s *Server) profileParam(r *http.Request) (int64, error) {
	name := r.URL.Query().Get("profile")
	if name == "" {
		return 0, nil
	}
	p, err := s.cfg.Store.ProfileByName(r.Context(), name)
	if err != nil {
		return 0, err
	}
	return p.ID, nil
}

var candidateParams = []Param{
	{Name: "profile", Type: "string", Doc: "profile name"},
	{Name: "state", Type: "string", Doc: "comma-separated states (attention_required, ready, awaiting_user, awaiting_approval, awaiting_revocation, closed_complete, closed_skipped, closed_canceled)"},
	{Name: "open", Type: "boolean", Doc: "only open candidates"},
	{Name: "sku", Type: "string", Doc: "SKU id"},
	{Name: "user", Type: "string", Doc: "Entra user id"},
	{Name: "limit", Type: "integer", Doc: "1–1000 (default 100)"},
	{Name: "cursor", Type: "string", Doc: "next_cursor of the previous page"},
}

// candidateFilter reads the list parameters.
func (s *Server) candidateFilter(r *http.Request) (store.CandidateFilter, error) {
	q := r.URL.Query()
	var f store.CandidateFilter
	var err error
	if f.ProfileID, err = s.profileParam(r); err != nil {
		return f, err
	}
	for _, st := range strings.Split(q.Get("state"), ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		if !store.CandidateState(st).Valid() {
			return f, sam.Errorf(sam.EINVALID, "state %q: want one of %s", st, joinStates())
		}
		f.States = append(f.States, store.CandidateState(st))
	}
	if v := q.Get("open"); v != "" {
		if f.OpenOnly, err = strconv.ParseBool(v); err != nil {
			return f, sam.Errorf(sam.EINVALID, "open %q: want true or false", v)
		}
	}
	if v := q.Get("sku"); v != "" {
		if !sam.ValidGUID(v) {
			return f, sam.Errorf(sam.EINVALID, "sku %q: want a SKU id (GUID)", v)
		}
		f.SKUID = sam.NormalizeGUID(v)
	}
	if v := q.Get("user"); v != "" {
		f.UserID = sam.NormalizeGUID(v)
	}
	if f.Limit, err = intParam(q, "limit", 100, 1, 1000); err != nil {
		return f, err
	}
	if c := q.Get("cursor"); c != "" {
		if f.AfterID, err = strconv.ParseInt(c, 10, 64); err != nil || f.AfterID <= 0 {
			return f, sam.Errorf(sam.EINVALID, "cursor %q is not one this server gave", c)
		}
	}
	return f, nil
}

func joinStates() string {
	var out []string
	for _, s := range store.CandidateStates {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}

// listCandidates returns one page of candidates, leaving out currently
// excluded ones (exclusions apply to reports too); the cursor follows the
// store's order, so exclusions never end the paging early.
func (s *Server) listCandidates(r *http.Request, f store.CandidateFilter) (CandidatePage, error) {
	cands, err := s.cfg.Store.Candidates(r.Context(), f)
	if err != nil {
		return CandidatePage{}, err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return CandidatePage{}, err
	}
	page := CandidatePage{Items: []CandidateJSON{}}
	excl := map[int64]*reclaim.Exclusions{}
	for _, c := range cands {
		x, ok := excl[c.ProfileID]
		if !ok {
			list, err := s.cfg.Store.Exclusions(r.Context(), c.ProfileID)
			if err != nil {
				return page, err
			}
			x = reclaim.NewExclusions(list)
			excl[c.ProfileID] = x
		}
		if x.Match(c.UserID, c.UPN, c.SKUID, c.AssignedByGroup) != "" {
			continue
		}
		page.Items = append(page.Items, s.candidateJSON(c, names))
	}
	if f.Limit > 0 && len(cands) == f.Limit {
		page.NextCursor = strconv.FormatInt(cands[len(cands)-1].ID, 10)
	}
	return page, nil
}

// ---- handlers ----

func apiCandidates(s *Server, w http.ResponseWriter, r *http.Request) error {
	f, err := s.candidateFilter(r)
	if err != nil {
		return err
	}
	page, err := s.listCandidates(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// candidateDetail reads a candidate with its evidence and transitions.
func (s *Server) candidateDetail(r *http.Request, id int64) (CandidateJSON, error) {
	c, trs, err := s.reclaimEngine().Candidate(r.Context(), id)
	if err != nil {
		return CandidateJSON{}, err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return CandidateJSON{}, err
	}
	j := s.candidateJSON(c, names)
	j.Evidence = evidenceJSON(c.Evidence)
	j.Transitions = transitionsJSON(trs)
	return j, nil
}

func apiCandidate(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "candidate")
	if err != nil {
		return err
	}
	j, err := s.candidateDetail(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// act applies one action to one candidate as the request's principal.
func (s *Server) act(ctx context.Context, e *reclaim.Engine, id int64, a CandidateAction, who string) (ActionResult, error) {
	res := ActionResult{ID: id}
	var c *store.Candidate
	var err error
	switch a.Action {
	case actApprove:
		c, err = e.Approve(ctx, id, who, a.Reason)
	case actDeny:
		c, err = e.Deny(ctx, id, who, a.Reason)
	case actKeep:
		c, err = e.Keep(ctx, id, who, a.Reason)
	case actRelease:
		c, err = e.Release(ctx, id, who, a.Reason)
	case actSkip:
		c, err = e.Skip(ctx, id, who, a.Reason)
	case actRequeue:
		c, err = e.Requeue(ctx, id, who, a.Reason)
	case actUndo:
		c, err = e.Undo(ctx, id, who, a.Reason)
	case actReclaim:
		var rr *reclaim.RunResult
		rr, err = e.Reclaim(ctx, id, who, a.Reason, reclaim.RunOptions{OverrideCap: a.OverrideCap})
		if rr != nil {
			res.DryRun, res.Planned, res.Blocked = rr.DryRun, rr.Planned, rr.Blocked
		}
		if err == nil {
			c, err = s.cfg.Store.Candidate(ctx, id)
		}
	default:
		return res, sam.Errorf(sam.EINVALID, "action %q: want one of %s", a.Action, strings.Join(candidateActions, ", "))
	}
	if err != nil {
		return res, err
	}
	res.OK, res.State, res.Message = true, string(c.State), c.Message
	return res, nil
}

func apiCandidateAction(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "candidate")
	if err != nil {
		return err
	}
	var a CandidateAction
	if err := decode(r, &a); err != nil {
		return err
	}
	res, err := s.act(r.Context(), s.reclaimEngine(), id, a, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// maxBulk bounds one bulk action.
const maxBulk = 500

// bulk applies one action to several candidates, each on its own: a
// failure of one does not stop the others. A bulk reclaim is one run of
// the engine (reclaim.Engine.ReclaimMany): both caps (count, and percentage
// of each SKU's seats) apply to the whole batch, which is refused as a
// whole (ECONFLICT, nothing changed) unless the cap is explicitly
// overridden.
func (s *Server) bulk(ctx context.Context, in BulkCandidateAction, who string) (BulkResult, error) {
	out := BulkResult{Results: []ActionResult{}}
	if len(in.IDs) == 0 {
		return out, sam.Errorf(sam.EINVALID, "bulk action: choose at least one candidate")
	}
	if len(in.IDs) > maxBulk {
		return out, sam.Errorf(sam.EINVALID, "bulk action: %d candidates, at most %d at once", len(in.IDs), maxBulk)
	}
	if !slices.Contains(candidateActions, in.Action) {
		return out, sam.Errorf(sam.EINVALID, "action %q: want one of %s", in.Action, strings.Join(candidateActions, ", "))
	}
	e := s.reclaimEngine()
	if in.Action == actReclaim {
		return s.bulkReclaim(ctx, e, in, who)
	}
	seen := map[int64]bool{}
	for _, id := range in.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		res, err := s.act(ctx, e, id, CandidateAction{Action: in.Action, Reason: in.Reason, OverrideCap: in.OverrideCap}, who)
		out.add(res, err)
	}
	return out, nil
}

// add counts one candidate's result.
func (b *BulkResult) add(res ActionResult, err error) {
	if err != nil {
		res.OK, res.Error = false, &ErrorDetail{Code: string(sam.ErrorCode(err)), Message: sam.ErrorMessage(err)}
		b.Failed++
	} else {
		b.Succeeded++
	}
	b.Results = append(b.Results, res)
}

// bulkReclaim reclaims the candidates as one batch.
func (s *Server) bulkReclaim(ctx context.Context, e *reclaim.Engine, in BulkCandidateAction, who string) (BulkResult, error) {
	out := BulkResult{Results: []ActionResult{}}
	rr, err := e.ReclaimMany(ctx, in.IDs, who, in.Reason, reclaim.RunOptions{OverrideCap: in.OverrideCap})
	if rr == nil {
		return out, err
	}
	for _, it := range rr.Items {
		res := ActionResult{ID: it.ID, DryRun: rr.DryRun, Blocked: it.Blocked}
		if it.Planned != "" {
			res.Planned = []string{it.Planned}
		}
		if it.Candidate != nil {
			res.State, res.Message = string(it.Candidate.State), it.Candidate.Message
		}
		res.OK = it.Err == nil
		out.add(res, it.Err)
	}
	return out, err
}

func apiCandidatesBulk(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in BulkCandidateAction
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := s.bulk(r.Context(), in, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func apiRules(s *Server, w http.ResponseWriter, r *http.Request) error {
	pid, err := s.profileParam(r)
	if err != nil {
		return err
	}
	rules, err := s.cfg.Store.ReclaimRules(r.Context(), pid)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(rules, func(x *store.ReclaimRule) RuleJSON { return s.ruleJSON(x, names) }))
	return nil
}

func apiRule(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	rule, err := s.cfg.Store.ReclaimRule(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.ruleJSON(rule, names))
	return nil
}

// apply changes rule by p.
func (p *RulePatch) apply(rule *store.ReclaimRule) {
	setB := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setB(&rule.Enabled, p.Enabled)
	setI(&rule.InactiveDays, p.InactiveDays)
	setB(&rule.IncludeNeverActive, p.IncludeNeverActive)
	setB(&rule.IncludeDisabled, p.IncludeDisabled)
	setB(&rule.IncludeLowUsage, p.IncludeLowUsage)
	setB(&rule.IncludeDuplicateBase, p.IncludeDuplicateBase)
	setI(&rule.GraceDays, p.GraceDays)
	setB(&rule.NotifyUser, p.NotifyUser)
	setI(&rule.ResponseDays, p.ResponseDays)
	if p.Departments != nil {
		rule.Departments = cleanList(*p.Departments)
	}
	if p.Countries != nil {
		rule.Countries = cleanList(*p.Countries)
	}
	if p.AssignmentPath != nil {
		rule.AssignmentPath = store.AssignmentPath(strings.TrimSpace(*p.AssignmentPath))
	}
	if p.ApprovalGroup != nil {
		rule.ApprovalGroup = sam.NormalizeGUID(strings.TrimSpace(*p.ApprovalGroup))
	}
	setB(&rule.ManagerApproval, p.ManagerApproval)
}

// cleanList trims values and drops empty ones.
func cleanList(in []string) []string {
	out := []string{}
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// updateRule applies p to rule id through the engine (validated, audited).
func (s *Server) updateRule(r *http.Request, id int64, p *RulePatch) (*store.ReclaimRule, error) {
	rule, err := s.cfg.Store.ReclaimRule(r.Context(), id)
	if err != nil {
		return nil, err
	}
	p.apply(rule)
	if err := rule.Validate(); err != nil {
		return nil, err
	}
	if err := s.reclaimEngine().UpdateRule(r.Context(), rule, actor(r)); err != nil {
		return nil, err
	}
	return rule, nil
}

func apiRulePatch(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	var p RulePatch
	if err := decode(r, &p); err != nil {
		return err
	}
	rule, err := s.updateRule(r, id, &p)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.ruleJSON(rule, names))
	return nil
}

func apiExclusions(s *Server, w http.ResponseWriter, r *http.Request) error {
	pid := int64(-1)
	if r.URL.Query().Get("profile") != "" {
		var err error
		if pid, err = s.profileParam(r); err != nil {
			return err
		}
	}
	list, err := s.cfg.Store.Exclusions(r.Context(), pid)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(list, func(e *store.Exclusion) ExclusionJSON { return exclusionJSON(e, names) }))
	return nil
}

// addExclusion checks and stores an exclusion as the request's principal.
func (s *Server) addExclusion(r *http.Request, in ExclusionInput) (*store.Exclusion, error) {
	e := &store.Exclusion{Kind: store.ExclusionKind(strings.TrimSpace(in.Kind)), Value: strings.TrimSpace(in.Value),
		Reason: strings.TrimSpace(in.Reason), CreatedBy: actor(r)}
	if !slices.Contains(store.ExclusionKinds, e.Kind) {
		var kinds []string
		for _, k := range store.ExclusionKinds {
			kinds = append(kinds, string(k))
		}
		return nil, sam.Errorf(sam.EINVALID, "exclusion kind %q: want one of %s", in.Kind, strings.Join(kinds, ", "))
	}
	if e.Value == "" {
		return nil, sam.Errorf(sam.EINVALID, "exclusion: a value is required (a user id or UPN, a UPN pattern, a group id or a SKU id)")
	}
	if (e.Kind == store.ExcludeGroup || e.Kind == store.ExcludeSKU) && !sam.ValidGUID(e.Value) {
		return nil, sam.Errorf(sam.EINVALID, "exclusion of a %s: %q is not an id (GUID)", e.Kind, e.Value)
	}
	if in.Profile != "" {
		p, err := s.cfg.Store.ProfileByName(r.Context(), in.Profile)
		if err != nil {
			return nil, err
		}
		e.ProfileID = p.ID
	}
	if err := s.cfg.Store.AddExclusion(r.Context(), e); err != nil {
		return nil, err
	}
	return e, nil
}

func apiExclusionAdd(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in ExclusionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	e, err := s.addExclusion(r, in)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, exclusionJSON(e, names))
	return nil
}

func apiExclusionDelete(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "exclusion")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteExclusion(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func apiReclaimSettings(s *Server, w http.ResponseWriter, r *http.Request) error {
	e := s.reclaimEngine()
	set, err := e.Settings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.settingsJSON(set, e))
	return nil
}

// updateSettings applies p through the engine (validated, audited; turning
// dry run off schedules every profile's workflow).
func (s *Server) updateSettings(r *http.Request, p ReclaimSettingsPatch) (store.ReclaimSettings, *reclaim.Engine, error) {
	e := s.reclaimEngine()
	set, err := e.Settings(r.Context())
	if err != nil {
		return set, e, err
	}
	if p.DryRun != nil {
		set.DryRun = *p.DryRun
	}
	if p.CapCount != nil {
		set.CapCount = *p.CapCount
	}
	if p.CapPercent != nil {
		set.CapPercent = *p.CapPercent
	}
	if p.StalenessLimitHours != nil {
		set.StalenessLimit = time.Duration(*p.StalenessLimitHours) * time.Hour
	}
	if p.UndoWindowDays != nil {
		set.UndoWindow = time.Duration(*p.UndoWindowDays) * 24 * time.Hour
	}
	if err := set.Validate(); err != nil {
		return set, e, err
	}
	if err := e.SetSettings(r.Context(), set, actor(r)); err != nil {
		return set, e, err
	}
	set, err = e.Settings(r.Context())
	return set, e, err
}

func apiReclaimSettingsPatch(s *Server, w http.ResponseWriter, r *http.Request) error {
	var p ReclaimSettingsPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	set, e, err := s.updateSettings(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.settingsJSON(set, e))
	return nil
}

// reclaimCapability describes reclamation for GET /api/v1/status.
func (s *Server) reclaimCapability() Capability {
	msg := "rules, exclusions and removal candidates (API, web UI); notifications " + notificationsStatus(s.reclaimEngine())
	if s.cfg.Jobs == nil {
		msg += "; rule evaluation and candidate timers run in the instance that runs jobs"
	}
	return Capability{true, msg}
}

func (s *Server) reclaimRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/api/v1/candidates", Access: anyRole, API: true, Tag: "reclamation",
			Summary: "List removal candidates (filter, cursor pagination; excluded users left out)", Query: candidateParams,
			Resp: CandidatePage{}, Handler: apiCandidates},
		{Method: "GET", Path: "/api/v1/candidates/{id}", Access: anyRole, API: true, Tag: "reclamation",
			Summary: "A removal candidate with its evidence and every transition", Resp: CandidateJSON{}, Handler: apiCandidate},
		{Method: "POST", Path: "/api/v1/candidates/{id}/actions", Access: managers, API: true, Tag: "reclamation",
			Summary: "Act on a removal candidate: approve, deny, keep, release, skip, requeue, reclaim or undo",
			Body:    CandidateAction{}, Resp: ActionResult{}, Handler: apiCandidateAction},
		{Method: "POST", Path: "/api/v1/candidates/actions", Access: managers, API: true, Tag: "reclamation",
			Summary: "Act on several removal candidates at once (each on its own; a bulk reclaim is one run: above the count or percentage cap it is refused as a whole unless override_cap)",
			Body:    BulkCandidateAction{}, Resp: BulkResult{}, Handler: apiCandidatesBulk},
		{Method: "GET", Path: "/api/v1/rules", Access: anyRole, API: true, Tag: "reclamation", Summary: "List reclamation rules",
			Query: []Param{{Name: "profile", Type: "string", Doc: "profile name"}}, Resp: []RuleJSON{}, Handler: apiRules},
		{Method: "GET", Path: "/api/v1/rules/{id}", Access: anyRole, API: true, Tag: "reclamation", Summary: "A reclamation rule",
			Resp: RuleJSON{}, Handler: apiRule},
		{Method: "PATCH", Path: "/api/v1/rules/{id}", Access: managers, API: true, Tag: "reclamation",
			Summary: "Edit or disable a reclamation rule", Body: RulePatch{}, Resp: RuleJSON{}, Handler: apiRulePatch},
		{Method: "GET", Path: "/api/v1/exclusions", Access: anyRole, API: true, Tag: "reclamation",
			Summary: "List exclusions (a profile's own and the global ones when profile is given)",
			Query:   []Param{{Name: "profile", Type: "string", Doc: "profile name"}}, Resp: []ExclusionJSON{}, Handler: apiExclusions},
		{Method: "POST", Path: "/api/v1/exclusions", Access: managers, API: true, Tag: "reclamation",
			Summary: "Add an exclusion (user, upn_pattern, group, sku or vip)", Body: ExclusionInput{}, Resp: ExclusionJSON{},
			Status: http.StatusCreated, Handler: apiExclusionAdd},
		{Method: "DELETE", Path: "/api/v1/exclusions/{id}", Access: managers, API: true, Tag: "reclamation",
			Summary: "Remove an exclusion", Status: http.StatusNoContent, Handler: apiExclusionDelete},
		{Method: "GET", Path: "/api/v1/reclaim/settings", Access: anyRole, API: true, Tag: "reclamation",
			Summary: "Reclamation safety settings (dry run, caps, staleness limit, undo window) and notification status",
			Resp:    ReclaimSettingsJSON{}, Handler: apiReclaimSettings},
		{Method: "PATCH", Path: "/api/v1/reclaim/settings", Access: admins, API: true, Tag: "reclamation",
			Summary: "Change the reclamation safety settings (turning dry run off lets Seatwise change the tenant)",
			Body:    ReclaimSettingsPatch{}, Resp: ReclaimSettingsJSON{}, Handler: apiReclaimSettingsPatch},
	}
}
