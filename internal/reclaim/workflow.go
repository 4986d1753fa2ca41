package reclaim

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// blockedPrefix starts the Message of a candidate whose removal a safety
// check held back.
const blockedPrefix = "removal blocked: "

// dryRunPrefix starts the Message of a candidate in dry run.
const dryRunPrefix = "dry run: "

// RunOptions tune one run of the workflow.
type RunOptions struct {
	// OverrideCap lets the run remove more licences than the cap allows.
	// It must be set explicitly, by a person, for one run.
	OverrideCap bool
	// Actor is who started the run ("system" when empty).
	Actor string
}

// RunResult says what a workflow run did.
type RunResult struct {
	ProfileID int64
	DryRun    bool
	Notified  int // users notified (moved to awaiting_user)
	Expired   int // no answer in time: moved to awaiting_revocation
	Removed   int // licences removed (closed_complete)
	Resumed   int // tenant changes in flight found and finished
	Attention int // moved to attention_required
	// Planned are what a dry run would have done, one line per candidate.
	Planned []string
	// Blocked is why removals did not happen (stale data, cap), "" when
	// nothing was blocked.
	Blocked string
}

// Summary is the result in one line.
func (r *RunResult) Summary() string {
	s := fmt.Sprintf("notified %d, no answer %d, removed %d, resumed %d, attention required %d", r.Notified, r.Expired, r.Removed, r.Resumed, r.Attention)
	if r.DryRun {
		s = fmt.Sprintf("dry run, %d planned action(s): ", len(r.Planned)) + s
	}
	if r.Blocked != "" {
		s += "; " + r.Blocked
	}
	return s
}

// Advance runs the profile's workflow as of now: it first finishes tenant
// changes left in flight by a crash (reading the user back), then acts on
// every candidate whose timer is due: ready → notify the user (awaiting_user)
// or, for rules that do not notify, awaiting_revocation after the rule's
// days; awaiting_user without an answer → awaiting_revocation;
// awaiting_revocation → removal, subject to the safety checks (dry run, stale
// data, cap). In dry run nothing is sent or changed: the planned step is
// written to each candidate's Message and returned. Finally the next timer
// is scheduled.
func (e *Engine) Advance(ctx context.Context, p *sam.Profile, opt RunOptions) (*RunResult, error) {
	set, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return nil, err
	}
	res := &RunResult{ProfileID: p.ID, DryRun: set.DryRun}
	if opt.Actor == "" {
		opt.Actor = ActorSystem
	}
	// 1. Tenant changes in flight (a crash between the call and the update).
	for _, intent := range []string{store.IntentRemove, store.IntentUndo} {
		inflight, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, Intent: intent})
		if err != nil {
			return res, err
		}
		for _, c := range inflight {
			if err := e.resume(ctx, p, set, c); err != nil {
				return res, err
			}
			res.Resumed++
		}
	}
	// 2. Due timers.
	now := e.now()
	due, err := e.Store.Candidates(ctx, store.CandidateFilter{ProfileID: p.ID, DueBefore: now})
	if err != nil {
		return res, err
	}
	exList, err := e.Store.Exclusions(ctx, p.ID)
	if err != nil {
		return res, err
	}
	excl := NewExclusions(exList)
	var revoke []*store.Candidate
	for _, c := range due {
		// Exclusions apply to notices and removals too, even when added
		// since the last evaluation.
		if why := excl.Match(c.UserID, c.UPN, c.SKUID, c.AssignedByGroup); why != "" {
			if err := e.cancel(ctx, c, "excluded: "+why); err != nil {
				return res, err
			}
			continue
		}
		switch c.State {
		case store.StateReady:
			if err := e.start(ctx, p, set, c, res); err != nil {
				return res, err
			}
		case store.StateAwaitingUser:
			if set.DryRun {
				e.plan(ctx, c, res, "would reclaim the licence: no answer by "+c.DueAt.Format(time.RFC3339))
				continue
			}
			c.State, c.Message = store.StateAwaitingRevocation, "no answer by "+c.DueAt.Format(time.RFC3339)
			if err := e.Store.UpdateCandidate(ctx, c, store.StateAwaitingUser, &store.Transition{At: now, Actor: ActorSystem,
				Reason: "the user did not answer within the rule's days"}); err != nil {
				if sam.IsCode(err, sam.ECONFLICT) {
					continue // the user answered meanwhile
				}
				return res, err
			}
			res.Expired++
			revoke = append(revoke, c)
		case store.StateAwaitingRevocation:
			revoke = append(revoke, c)
		}
	}
	// 3. Removals, all or nothing as far as the safety checks go.
	if len(revoke) > 0 {
		if err := e.revoke(ctx, p, set, revoke, opt, res); err != nil {
			return res, err
		}
	}
	if err := e.scheduleNext(ctx, p.ID); err != nil {
		return res, err
	}
	return res, nil
}

// plan records, in dry run, what the workflow would do with a candidate.
func (e *Engine) plan(ctx context.Context, c *store.Candidate, res *RunResult, what string) {
	msg := dryRunPrefix + what
	res.Planned = append(res.Planned, fmt.Sprintf("candidate %d (%s, %s): %s", c.ID, c.UPN, c.SKUID, what))
	if c.Message == msg {
		return
	}
	c.Message = msg
	if err := e.Store.UpdateCandidate(ctx, c, c.State, nil); err != nil && !sam.IsCode(err, sam.ECONFLICT) {
		e.log().Error("dry-run plan not stored", "candidate", c.ID, "err", err)
	}
}

// start acts on a ready candidate.
func (e *Engine) start(ctx context.Context, p *sam.Profile, set store.ReclaimSettings, c *store.Candidate, res *RunResult) error {
	r, err := e.rule(ctx, c)
	if err != nil {
		return err
	}
	now := e.now()
	if !r.NotifyUser {
		if set.DryRun {
			e.plan(ctx, c, res, fmt.Sprintf("would reclaim the licence after %d day(s) without notifying the user", r.ResponseDays))
			return nil
		}
		c.State, c.DueAt, c.Message = store.StateAwaitingRevocation, now.AddDate(0, 0, r.ResponseDays), fmt.Sprintf("automatic reclamation on %s", sam.FormatDay(now.AddDate(0, 0, r.ResponseDays)))
		return e.move(ctx, c, store.StateReady, ActorSystem, fmt.Sprintf("the rule does not notify users: reclamation in %d day(s)", r.ResponseDays))
	}
	if set.DryRun {
		e.plan(ctx, c, res, fmt.Sprintf("would notify %s and reclaim the licence after %d day(s) without an answer", c.UPN, r.ResponseDays))
		return nil
	}
	if e.Notifier == nil {
		res.Attention++
		c.State, c.DueAt, c.Message = store.StateAttention, time.Time{}, "notification is not configured (no SMTP server or webhook): notify the user yourself, then reclaim or skip"
		return e.move(ctx, c, store.StateReady, ActorSystem, c.Message)
	}
	deadline := now.AddDate(0, 0, r.ResponseDays)
	n, err := e.notice(ctx, p, c, r, NoticeUser)
	if err != nil {
		return err
	}
	n.Recipients, n.Actions, n.Deadline = []string{c.UPN}, []string{ActionKeep, ActionRelease}, deadline
	if err := e.Notifier.Notify(ctx, n); err != nil {
		res.Attention++
		c.State, c.DueAt, c.Message = store.StateAttention, time.Time{}, "the user could not be notified: "+errText(err)
		e.audit(ctx, ActorSystem, "reclaim.notify", c, 502, c.Message)
		return e.move(ctx, c, store.StateReady, ActorSystem, c.Message)
	}
	e.audit(ctx, ActorSystem, "reclaim.notify", c, 200, fmt.Sprintf("notified %s; answer by %s", c.UPN, deadline.Format(time.RFC3339)))
	res.Notified++
	c.State, c.DueAt, c.NotifiedAt = store.StateAwaitingUser, deadline, now
	c.Message = fmt.Sprintf("notified %s on %s; automatic reclamation on %s without an answer", c.UPN, sam.FormatDay(now), sam.FormatDay(deadline))
	return e.move(ctx, c, store.StateReady, ActorSystem, fmt.Sprintf("user notified; %d day(s) to keep or release the licence", r.ResponseDays))
}

// move stores c's new state with a transition from `from`.
func (e *Engine) move(ctx context.Context, c *store.Candidate, from store.CandidateState, actor, reason string) error {
	return e.Store.UpdateCandidate(ctx, c, from, &store.Transition{At: e.now(), Actor: actor, Reason: reason})
}

func (e *Engine) rule(ctx context.Context, c *store.Candidate) (*store.ReclaimRule, error) {
	if c.RuleID == 0 {
		return store.DefaultReclaimRule(c.ProfileID, c.SKUID), nil
	}
	r, err := e.Store.ReclaimRule(ctx, c.RuleID)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return store.DefaultReclaimRule(c.ProfileID, c.SKUID), nil
	}
	return r, err
}

// notice fills the common fields of a notice about c.
func (e *Engine) notice(ctx context.Context, p *sam.Profile, c *store.Candidate, r *store.ReclaimRule, kind NoticeKind) (Notice, error) {
	n := Notice{Kind: kind, CandidateID: c.ID, Candidate: *c, Rule: *r, ProfileName: p.Name, Reason: c.Evidence.Note}
	if n.Reason == "" {
		n.Reason = string(c.Justification)
	}
	m, err := e.Store.SoftwareModel(ctx, c.SKUID)
	switch {
	case err == nil:
		n.Product, n.PartNumber = m.Product, m.PartNumber
	case sam.IsCode(err, sam.ENOTFOUND):
		n.Product = c.SKUID
	default:
		return n, err
	}
	return n, nil
}

// Staleness returns why a profile's data is too old or incomplete for
// removals ("" when removals may go ahead): the latest subscriptions and
// activity runs must have succeeded, without warnings, within the staleness
// limit, and every environment must have been reachable.
func (e *Engine) Staleness(ctx context.Context, p *sam.Profile, set store.ReclaimSettings) (string, error) {
	now := e.now()
	for _, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
		runs, err := e.Store.Runs(ctx, store.RunFilter{ProfileID: p.ID, Kind: kind, Limit: 5})
		if err != nil {
			return "", err
		}
		var last *sam.Run
		for _, r := range runs {
			if r.Status != sam.RunRunning {
				last = r
				break
			}
		}
		switch {
		case last == nil:
			return fmt.Sprintf("profile %s has no finished %s run: run `seatwise sync --profile %s` first", p.Name, kind, p.Name), nil
		case last.Status != sam.RunSucceeded:
			return fmt.Sprintf("the last %s run of profile %s (run %d) failed: %s", kind, p.Name, last.ID, last.Error), nil
		case len(last.Warnings) > 0:
			return fmt.Sprintf("the last %s run of profile %s (run %d) ended with warnings: %s", kind, p.Name, last.ID, strings.Join(last.Warnings, "; ")), nil
		case now.Sub(last.StartedAt) > set.StalenessLimit:
			// StartedAt is on the sync's clock and the data is at least
			// that old.
			return fmt.Sprintf("the last %s run of profile %s started %s, longer ago than the staleness limit %s: sync again first",
				kind, p.Name, last.StartedAt.UTC().Format(time.RFC3339), set.StalenessLimit), nil
		}
	}
	for _, env := range p.Environments {
		if !env.Audit.Reachable {
			why := env.Audit.Error
			if why == "" {
				why = "not read yet"
			}
			return fmt.Sprintf("environment %s of profile %s was not reachable in the last activity run: %s", env.URL, p.Name, why), nil
		}
	}
	return "", nil
}

// batch is the removals of one run (or one batch reclaim) in one profile.
type batch struct {
	p     *sam.Profile
	cands []*store.Candidate
}

// capCheck returns why removing the candidates of batches in one run
// exceeds the cap, "" when it does not: the count cap applies to all of
// them together, the percentage cap to each profile's SKU.
func (e *Engine) capCheck(ctx context.Context, set store.ReclaimSettings, batches []batch) (string, error) {
	n := 0
	for _, b := range batches {
		n += len(b.cands)
	}
	if n > set.CapCount {
		return fmt.Sprintf("%d removal(s) due but the cap is %d per run", n, set.CapCount), nil
	}
	for _, b := range batches {
		if why, err := e.percentCap(ctx, b.p, set, b.cands); why != "" || err != nil {
			return why, err
		}
	}
	return "", nil
}

// percentCap returns why removing cands exceeds CapPercent of a SKU's seats
// in profile p (latest prepaid enabled units, else open subscriptions), ""
// when it does not.
func (e *Engine) percentCap(ctx context.Context, p *sam.Profile, set store.ReclaimSettings, cands []*store.Candidate) (string, error) {
	per := map[string]int{}
	var skus []string
	for _, c := range cands {
		if per[c.SKUID] == 0 {
			skus = append(skus, c.SKUID)
		}
		per[c.SKUID]++
	}
	now := e.now()
	units, err := e.Store.SKUUnits(ctx, p.ID, now.AddDate(0, 0, -7), now)
	if err != nil {
		return "", err
	}
	seats := map[string]int{}
	for _, u := range units { // ordered by day: the newest count wins
		seats[u.SKUID] = u.Enabled
	}
	for _, sku := range skus {
		n, total := per[sku], seats[sku]
		if total == 0 {
			subs, err := e.Store.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, SKUID: sku, OpenOnly: true})
			if err != nil {
				return "", err
			}
			total = len(subs)
		}
		allowed := int(math.Floor(float64(total) * float64(set.CapPercent) / 100))
		if n > allowed {
			return fmt.Sprintf("%d removal(s) of SKU %s due but the cap is %d%% of its %d seats (%d)", n, sku, set.CapPercent, total, allowed), nil
		}
	}
	return "", nil
}

// enforceCap applies the cap to the removals of batches: "" when they may
// go ahead (within the cap, or over it with opt.OverrideCap, which is
// written to the audit log), else why nothing may be removed.
func (e *Engine) enforceCap(ctx context.Context, set store.ReclaimSettings, batches []batch, opt RunOptions) (string, error) {
	why, err := e.capCheck(ctx, set, batches)
	if err != nil || why == "" {
		return "", err
	}
	if !opt.OverrideCap {
		return why + "; nothing was removed: raise the cap or override it explicitly for one run", nil
	}
	e.audit(ctx, opt.Actor, "reclaim.cap_override", nil, 200, fmt.Sprintf("profile %s: %s; overridden", profileNames(batches), why))
	return "", nil
}

// profileNames names the profiles of batches, comma-separated.
func profileNames(batches []batch) string {
	names := make([]string, len(batches))
	for i, b := range batches {
		names[i] = b.p.Name
	}
	return strings.Join(names, ", ")
}

// block records why the removal of cands was held back: in res.Blocked (the
// returned text), the audit log and each candidate's Message.
func (e *Engine) block(ctx context.Context, p *sam.Profile, cands []*store.Candidate, actor, why string, res *RunResult) string {
	res.Blocked = blockedPrefix + why
	e.audit(ctx, actor, "reclaim.blocked", nil, 409, fmt.Sprintf("profile %s: %s", p.Name, why))
	for _, c := range cands {
		if c.Message == res.Blocked {
			continue
		}
		c.Message = res.Blocked
		if err := e.Store.UpdateCandidate(ctx, c, c.State, nil); err != nil && !sam.IsCode(err, sam.ECONFLICT) {
			e.log().Error("blocked message not stored", "candidate", c.ID, "err", err)
		}
	}
	return res.Blocked
}

// revoke removes the licences of candidates in awaiting_revocation, after
// the safety checks (dry run, staleness, cap).
func (e *Engine) revoke(ctx context.Context, p *sam.Profile, set store.ReclaimSettings, cands []*store.Candidate, opt RunOptions, res *RunResult) error {
	if set.DryRun {
		for _, c := range cands {
			e.plan(ctx, c, res, "would remove the licence "+describeRemoval(c))
		}
		return nil
	}
	why, err := e.Staleness(ctx, p, set)
	if err != nil {
		return err
	}
	if why == "" {
		if why, err = e.enforceCap(ctx, set, []batch{{p, cands}}, opt); err != nil {
			return err
		}
	}
	if why != "" {
		e.block(ctx, p, cands, opt.Actor, why, res)
		return nil
	}
	g, err := e.graph(ctx, p)
	if err != nil {
		return err
	}
	for _, c := range cands {
		done, err := e.remove(ctx, p, set, g, c, opt.Actor)
		if err != nil {
			return err
		}
		if done {
			res.Removed++
		} else {
			res.Attention++
		}
	}
	return nil
}

func (e *Engine) graph(ctx context.Context, p *sam.Profile) (Graph, error) {
	if e.Graph == nil {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "reclamation: no Microsoft Graph client is configured for profile %s", p.Name)
	}
	return e.Graph(ctx, p)
}

func describeRemoval(c *store.Candidate) string {
	if c.AssignedByGroup != "" {
		return fmt.Sprintf("%s of %s by removing the user from licensing group %s", c.SKUID, c.UPN, c.AssignedByGroup)
	}
	return fmt.Sprintf("%s of %s (direct assignment, assignLicense removeLicenses)", c.SKUID, c.UPN)
}
