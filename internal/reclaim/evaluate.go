package reclaim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Exclusions decides whether a subscription is excluded (store.ExclusionSet).
type Exclusions = store.ExclusionSet

// NewExclusions indexes a list of exclusions (see store.NewExclusionSet).
func NewExclusions(list []*store.Exclusion) *Exclusions { return store.NewExclusionSet(list) }

// Facts are what a rule needs besides the subscription.
type Facts struct {
	Now              time.Time
	CoverageComplete bool // every environment audits user access over the analysis window
	// Model is the subscription's software model.
	Model sam.SoftwareModel
	// BetterBase is the SKU id of a more expensive base licence of the same
	// family the user also holds ("" when none), for duplicate_base.
	BetterBase string
}

// Select applies rule r to subscription s: the justification and a note in
// words, or ok false when s is not a candidate. Exclusions are checked by
// the caller. In order: conditions (department, country, assignment path),
// grace for new assignments, then disabled account, never active (only with
// complete audit coverage), inactive for at least r.InactiveDays (idem), low
// usage, duplicate base licence.
func Select(r *store.ReclaimRule, s *sam.Subscription, f Facts) (j store.Justification, note string, ok bool) {
	if r == nil || !r.Enabled || s.ClosedAt != nil {
		return "", "", false
	}
	if len(r.Departments) > 0 && !containsFold(r.Departments, s.Department) ||
		len(r.Countries) > 0 && !containsFold(r.Countries, s.Country) {
		return "", "", false
	}
	switch r.AssignmentPath {
	case store.PathDirect:
		if s.AssignedByGroup != "" {
			return "", "", false
		}
	case store.PathGroup:
		if s.AssignedByGroup == "" {
			return "", "", false
		}
	}
	if !s.AssignedAt.IsZero() && sam.DaysBetween(s.AssignedAt, f.Now) < r.GraceDays {
		return "", "", false
	}
	if !s.AccountEnabled {
		if r.IncludeDisabled {
			return store.JustDisabled, "the account is disabled", true
		}
		return "", "", false
	}
	days := sam.InactiveDays(s.LastActivity, f.Now)
	if f.CoverageComplete {
		if s.LastActivity == nil {
			if r.IncludeNeverActive {
				return store.JustNeverActive, fmt.Sprintf("no activity since the analysis start (sources: %s)", strings.Join(Sources(f.Model), ", ")), true
			}
			return "", "", false
		}
		if days >= r.InactiveDays {
			return store.JustInactive, fmt.Sprintf("last activity %s (%s), %d days before %s; threshold %d days",
				sam.FormatDay(*s.LastActivity), s.LastActivitySource, days, sam.FormatDay(f.Now), r.InactiveDays), true
		}
	}
	if r.IncludeLowUsage && s.LastActivity != nil && days < 30 && s.ActiveDays30 < sam.LowUsageDays {
		return store.JustLowUsage, fmt.Sprintf("active on %d day(s) in the last 30 (fewer than %d)", s.ActiveDays30, sam.LowUsageDays), true
	}
	if r.IncludeDuplicateBase && f.BetterBase != "" {
		return store.JustDuplicateBase, "the user also holds base licence " + f.BetterBase + ", which costs as much or more", true
	}
	return "", "", false
}

// Sources are the activity sources counted for a model: Dataverse sources
// for tracked models, plus Entra sign-in for the others.
func Sources(m sam.SoftwareModel) []string {
	s := []string{string(sam.SourceAccessWeb), string(sam.SourceAccessAPI), string(sam.SourceRecord)}
	if !m.Tracked {
		s = append(s, string(sam.SourceSignIn))
	}
	return s
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

// analysisFrom is the profile's analysis start as of now.
func analysisFrom(p *sam.Profile, now time.Time) time.Time {
	if !p.AnalyzeFrom.IsZero() {
		return p.AnalyzeFrom
	}
	return now.AddDate(0, 0, -90)
}

// coverage reports whether every environment of p covers the window.
func coverage(p *sam.Profile, now time.Time) bool {
	if len(p.Environments) == 0 {
		return false
	}
	from := analysisFrom(p, now)
	for _, e := range p.Environments {
		if !e.Audit.Covers(from, now) {
			return false
		}
	}
	return true
}

// evalCtx is what one evaluation of a profile reads once.
type evalCtx struct {
	p        *sam.Profile
	now      time.Time
	covered  bool
	rules    map[string]*store.ReclaimRule // by SKU
	models   map[string]sam.SoftwareModel
	excl     *Exclusions
	userSubs map[string][]*sam.Subscription // cache for duplicate_base, per user
}

func (e *Engine) newEvalCtx(ctx context.Context, p *sam.Profile) (*evalCtx, error) {
	now := e.now()
	ec := &evalCtx{p: p, now: now, covered: coverage(p, now), rules: map[string]*store.ReclaimRule{},
		models: map[string]sam.SoftwareModel{}, userSubs: map[string][]*sam.Subscription{}}
	rules, err := e.Store.ReclaimRules(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		ec.rules[r.SKUID] = r
	}
	ms, err := e.Store.SoftwareModels(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		ec.models[m.SKUID] = m
	}
	ex, err := e.Store.Exclusions(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	ec.excl = NewExclusions(ex)
	return ec, nil
}

// betterBase returns a base licence of the same family the user holds that
// costs more than s's model (ties: the lexically smaller SKU id is kept).
func (e *Engine) betterBase(ctx context.Context, ec *evalCtx, s *sam.Subscription) (string, error) {
	m := ec.models[s.SKUID]
	if m.Kind != sam.KindBase {
		return "", nil
	}
	subs, ok := ec.userSubs[s.UserID]
	if !ok {
		var err error
		subs, err = e.Store.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: ec.p.ID, UserID: s.UserID, OpenOnly: true})
		if err != nil {
			return "", err
		}
		if len(ec.userSubs) > 10000 {
			clear(ec.userSubs)
		}
		ec.userSubs[s.UserID] = subs
	}
	for _, o := range subs {
		om, ok := ec.models[o.SKUID]
		if o.SKUID == s.SKUID || !ok || om.Kind != sam.KindBase || om.Family != m.Family {
			continue
		}
		if om.UnitPrice > m.UnitPrice || om.UnitPrice == m.UnitPrice && o.SKUID < s.SKUID {
			return o.SKUID, nil
		}
	}
	return "", nil
}

// decide applies the profile's rule and exclusions to one subscription.
func (e *Engine) decide(ctx context.Context, ec *evalCtx, r *store.ReclaimRule, s *sam.Subscription) (store.Justification, string, string, error) {
	if why := ec.excl.Match(s.UserID, s.UPN, s.SKUID, s.AssignedByGroup); why != "" {
		return "", "", why, nil
	}
	f := Facts{Now: ec.now, CoverageComplete: ec.covered, Model: ec.models[s.SKUID]}
	if r != nil && r.Enabled && r.IncludeDuplicateBase {
		bb, err := e.betterBase(ctx, ec, s)
		if err != nil {
			return "", "", "", err
		}
		f.BetterBase = bb
	}
	j, note, ok := Select(r, s, f)
	if !ok {
		return "", "", "", nil
	}
	return j, note, "", nil
}

// EvalResult counts what an evaluation did.
type EvalResult struct {
	ProfileID    int64 `json:"profile_id"`
	RulesCreated int   `json:"rules_created"`
	Evaluated    int   `json:"evaluated"` // open subscriptions of models with a rule
	Created      int   `json:"created"`   // new candidates
	Canceled     int   `json:"canceled"`  // open candidates closed as canceled (activity seen, excluded, licence gone, no longer selected)
	Open         int   `json:"open"`      // open candidates after the evaluation
}

// pageSize bounds how many subscriptions an evaluation holds at once.
const pageSize = 1000

// Evaluate applies the profile's rules (creating missing defaults first) to
// its open subscriptions as of now: new candidates are created in state
// ready (due now, so that the workflow picks them up), and open candidates
// that activity seen later, an exclusion, a closed subscription or a changed
// rule no longer justify are closed as canceled, unless a tenant change is in
// flight for them. It then schedules the workflow. Memory is bounded by
// pageSize subscriptions plus the open candidates of the profile.
func (e *Engine) Evaluate(ctx context.Context, p *sam.Profile) (*EvalResult, error) {
	res := &EvalResult{ProfileID: p.ID}
	n, err := e.EnsureRules(ctx, p)
	if err != nil {
		return nil, err
	}
	res.RulesCreated = n
	ec, err := e.newEvalCtx(ctx, p)
	if err != nil {
		return nil, err
	}
	open, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	bySub := map[int64]*store.Candidate{}
	for _, c := range open {
		bySub[c.SubscriptionID] = c
	}
	// unseen are the open candidates whose subscription the listing has not
	// reached yet: memory follows the candidates, not the subscriptions.
	unseen := make(map[int64]bool, len(bySub))
	for id := range bySub {
		unseen[id] = true
	}
	var after int64
	for {
		subs, err := e.Store.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true, AfterID: after, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			after = s.ID
			r := ec.rules[s.SKUID]
			if r == nil {
				continue
			}
			res.Evaluated++
			delete(unseen, s.ID)
			j, note, excluded, err := e.decide(ctx, ec, r, s)
			if err != nil {
				return nil, err
			}
			c := bySub[s.ID]
			if c != nil {
				if why := cancelReason(c, s, j, excluded); why != "" {
					if err := e.cancel(ctx, c, why); err != nil {
						return nil, err
					}
					res.Canceled++
				}
				continue
			}
			if j == "" {
				continue
			}
			if decided, err := e.decided(ctx, s); err != nil {
				return nil, err
			} else if decided {
				continue
			}
			if err := e.create(ctx, ec, r, s, j, note); err != nil {
				if sam.IsCode(err, sam.ECONFLICT) {
					continue // another evaluation created it first
				}
				return nil, err
			}
			res.Created++
		}
		if len(subs) < pageSize {
			break
		}
	}
	// Open candidates whose subscription is no longer open: the licence
	// went away outside Seatwise.
	for _, c := range open {
		if !unseen[c.SubscriptionID] || c.Intent != store.IntentNone {
			continue
		}
		if _, ok := ec.rules[c.SKUID]; !ok {
			continue
		}
		if err := e.cancel(ctx, c, "the licence is no longer held (subscription closed)"); err != nil {
			return nil, err
		}
		res.Canceled++
	}
	cands, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	res.Open = len(cands)
	if err := e.scheduleNext(ctx, p.ID); err != nil {
		return res, err
	}
	e.log().Info("reclamation rules evaluated", "profile", p.Name, "evaluated", res.Evaluated, "created", res.Created,
		"canceled", res.Canceled, "open", res.Open)
	return res, nil
}

// decided reports whether a person's or the workflow's earlier decision on
// the subscription stands: a licence kept (skipped, a request to keep
// approved, a removal undone) is not selected again until it was used after
// that decision; a licence removed is not selected again (its subscription
// closes at the next download).
func (e *Engine) decided(ctx context.Context, s *sam.Subscription) (bool, error) {
	past, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: s.ProfileID, SubscriptionID: s.ID})
	if err != nil {
		return false, err
	}
	for _, c := range past {
		var at time.Time
		switch {
		case c.State == store.StateClosedComplete:
			return true, nil
		case c.State == store.StateClosedSkipped:
			at = c.ClosedAt
		case c.State == store.StateClosedCanceled && !c.UndoneAt.IsZero():
			at = c.UndoneAt
		default:
			continue // canceled by evaluation: select again when justified
		}
		if s.LastActivity == nil || !s.LastActivity.After(at) {
			return true, nil
		}
	}
	return false, nil
}

// cancelReason says why an open candidate no longer stands, or "".
func cancelReason(c *store.Candidate, s *sam.Subscription, j store.Justification, excluded string) string {
	if c.Intent != store.IntentNone || c.State == store.StateAwaitingRevocation && c.Method != "" {
		return "" // a tenant change is in flight: it finishes first
	}
	switch {
	case excluded != "":
		return "excluded: " + excluded
	case j == c.Justification:
		return ""
	case s.LastActivity != nil && (c.LastActivity == nil || s.LastActivity.After(*c.LastActivity)) && s.AccountEnabled:
		return fmt.Sprintf("activity seen on %s (%s) after the candidate was created", sam.FormatDay(*s.LastActivity), s.LastActivitySource)
	case j != "":
		return "" // still a candidate, for another reason
	case c.Justification == store.JustDisabled && s.AccountEnabled:
		return "the account was enabled again"
	}
	return "the rule no longer selects this licence"
}

// evidence builds a candidate's evidence: the user's activity records in the
// analysis window, newest first (at most 100).
func (e *Engine) evidence(ctx context.Context, ec *evalCtx, s *sam.Subscription, note string) (store.Evidence, error) {
	from := analysisFrom(ec.p, ec.now)
	ev := store.Evidence{AnalysisFrom: from, AsOf: ec.now, Sources: Sources(ec.models[s.SKUID]), Note: note}
	days, err := e.Store.ActivityDays(ctx, ec.p.ID, s.UserID, from, ec.now)
	if err != nil {
		return ev, err
	}
	sort.SliceStable(days, func(i, j int) bool { return days[i].Day.After(days[j].Day) })
	for _, d := range days {
		if len(ev.Days) == 100 {
			break
		}
		ev.Days = append(ev.Days, store.EvidenceDay{Day: d.Day, Source: string(d.Source), EnvironmentID: d.EnvironmentID, Events: d.Events, LastAt: d.LastAt})
	}
	if !ec.covered {
		ev.Note += "; audit coverage is incomplete"
	}
	return ev, nil
}

func (e *Engine) create(ctx context.Context, ec *evalCtx, r *store.ReclaimRule, s *sam.Subscription, j store.Justification, note string) error {
	ev, err := e.evidence(ctx, ec, s, note)
	if err != nil {
		return err
	}
	if j == store.JustDuplicateBase {
		ev.OtherSKU, _ = e.betterBase(ctx, ec, s)
	}
	m := ec.models[s.SKUID]
	c := &store.Candidate{ProfileID: ec.p.ID, SubscriptionID: s.ID, RuleID: r.ID, UserID: s.UserID, UPN: s.UPN,
		DisplayName: s.DisplayName, Department: s.Department, Country: s.Country, SKUID: s.SKUID,
		AssignedByGroup: s.AssignedByGroup, Justification: j, Evidence: ev, InactiveDays: sam.InactiveDays(s.LastActivity, ec.now),
		LastActivity: s.LastActivity, Saving: m.UnitPrice, Currency: m.Currency, State: store.StateReady, DueAt: ec.now,
		Message: note}
	if m.UnitPrice == 0 {
		c.Currency = ""
	}
	return e.Store.CreateCandidate(ctx, c, store.Transition{At: ec.now, Actor: ActorSystem,
		Reason: fmt.Sprintf("rule %d selected the licence: %s (%s)", r.ID, j, note)})
}

func (e *Engine) cancel(ctx context.Context, c *store.Candidate, why string) error {
	from := c.State
	c.State, c.DueAt, c.Message = store.StateClosedCanceled, time.Time{}, why
	err := e.Store.UpdateCandidate(ctx, c, from, &store.Transition{At: e.now(), Actor: ActorSystem, Reason: why})
	if sam.IsCode(err, sam.ECONFLICT) {
		return nil // someone acted on it meanwhile; the next evaluation looks again
	}
	return err
}

// scheduleNext tells Schedule the earliest future timer of the profile's
// open candidates (and now, when one is already due and not in dry run).
func (e *Engine) scheduleNext(ctx context.Context, profileID int64) error {
	if e.Schedule == nil {
		return nil
	}
	set, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return err
	}
	if set.DryRun {
		return nil // nothing moves in dry run
	}
	cands, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: profileID, OpenOnly: true})
	if err != nil {
		return err
	}
	var next time.Time
	for _, c := range cands {
		if c.DueAt.IsZero() || c.State == store.StateAttention || c.State == store.StateAwaitingApproval {
			continue
		}
		if c.Message != "" && strings.HasPrefix(c.Message, blockedPrefix) && !c.DueAt.After(e.now()) {
			continue // blocked: the next sync's evaluation retries
		}
		if next.IsZero() || c.DueAt.Before(next) {
			next = c.DueAt
		}
	}
	if next.IsZero() {
		return nil
	}
	return e.Schedule(ctx, profileID, next)
}
