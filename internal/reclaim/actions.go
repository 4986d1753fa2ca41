package reclaim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// load reads a candidate and its profile, refusing a candidate with a
// tenant change in flight.
func (e *Engine) load(ctx context.Context, id int64) (*store.Candidate, *sam.Profile, error) {
	c, err := e.Store.Candidate(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.Intent != store.IntentNone {
		return nil, nil, sam.Errorf(sam.ECONFLICT, "removal candidate %d has a change of the tenant in flight (%s since %s); try again after the next run",
			id, c.Intent, c.IntentAt.Format(time.RFC3339))
	}
	p, err := e.Store.Profile(ctx, c.ProfileID)
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

func wrongState(c *store.Candidate, action string, want ...store.CandidateState) error {
	var w []string
	for _, s := range want {
		w = append(w, string(s))
	}
	return sam.Errorf(sam.ECONFLICT, "cannot %s removal candidate %d: it is %s, not %s", action, c.ID, c.State, strings.Join(w, " or "))
}

func reasonOr(reason, def string) string {
	if strings.TrimSpace(reason) == "" {
		return def
	}
	return def + ": " + strings.TrimSpace(reason)
}

// Keep records the user's answer "keep the licence" (awaiting_user). When the
// rule asks for approval the candidate goes to awaiting_approval and the
// approvers (the user's manager, read from Graph, and/or the rule's approval
// group) are notified; without approval it closes as skipped. A user without
// a manager when the rule has no approval group goes to attention_required.
// ECONFLICT when the candidate is in another state.
func (e *Engine) Keep(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, p, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateAwaitingUser {
		return nil, wrongState(c, "keep", store.StateAwaitingUser)
	}
	r, err := e.rule(ctx, c)
	if err != nil {
		return nil, err
	}
	why := reasonOr(reason, "the user asked to keep the licence")
	if r.ApprovalGroup == "" && !r.ManagerApproval {
		c.State, c.DueAt, c.Message = store.StateClosedSkipped, time.Time{}, why+"; the rule needs no approval"
		return c, e.act(ctx, c, store.StateAwaitingUser, actor, why+" (no approval needed)")
	}
	var approvers []string
	var recipients []string
	if r.ManagerApproval {
		g, err := e.graph(ctx, p)
		if err != nil {
			return nil, err
		}
		m, err := g.Manager(ctx, c.UserID)
		switch {
		case err == nil:
			addr := m.Mail
			if addr == "" {
				addr = m.UserPrincipalName
			}
			approvers, recipients = append(approvers, "manager:"+addr), append(recipients, addr)
		case sam.IsCode(err, sam.ENOTFOUND):
		default:
			return nil, err
		}
	}
	if r.ApprovalGroup != "" {
		approvers = append(approvers, "group:"+r.ApprovalGroup)
	}
	if len(approvers) == 0 {
		c.State, c.DueAt = store.StateAttention, time.Time{}
		c.Message = why + "; the user has no manager in Entra and the rule names no approval group: approve (skip) or reclaim yourself"
		return c, e.act(ctx, c, store.StateAwaitingUser, actor, c.Message)
	}
	c.State, c.DueAt, c.Approvers = store.StateAwaitingApproval, time.Time{}, approvers
	c.Message = why + "; waiting for approval by " + strings.Join(approvers, ", ")
	if err := e.act(ctx, c, store.StateAwaitingUser, actor, why); err != nil {
		return nil, err
	}
	if e.Notifier != nil {
		n, err := e.notice(ctx, p, c, r, NoticeApproval)
		if err != nil {
			return c, err
		}
		n.Recipients, n.ApprovalGroup, n.Actions = recipients, r.ApprovalGroup, []string{ActionApprove, ActionDeny}
		if err := e.Notifier.Notify(ctx, n); err != nil {
			e.audit(ctx, ActorSystem, "reclaim.notify", c, 502, "approvers could not be notified: "+errText(err))
			c.Message += "; the approvers could not be notified (" + errText(err) + "): approve or deny in Seatwise"
			if err := e.Store.UpdateCandidate(ctx, c, c.State, nil); err != nil {
				return c, err
			}
		} else {
			e.audit(ctx, ActorSystem, "reclaim.notify", c, 200, "approval requested from "+strings.Join(approvers, ", "))
		}
	}
	return c, nil
}

// act stores a person's transition, audits it and schedules the workflow.
func (e *Engine) act(ctx context.Context, c *store.Candidate, from store.CandidateState, actor, reason string) error {
	if err := e.move(ctx, c, from, actor, reason); err != nil {
		return err
	}
	e.audit(ctx, actor, "reclaim."+string(c.State), c, 200, reason)
	return e.scheduleNext(ctx, c.ProfileID)
}

// Release records the user's answer "release the licence": the candidate
// goes to awaiting_revocation, due now. ECONFLICT unless awaiting_user.
func (e *Engine) Release(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateAwaitingUser {
		return nil, wrongState(c, "release", store.StateAwaitingUser)
	}
	why := reasonOr(reason, "the user released the licence")
	c.State, c.DueAt, c.Message = store.StateAwaitingRevocation, e.now(), why
	return c, e.act(ctx, c, store.StateAwaitingUser, actor, why)
}

// Approve grants a user's request to keep the licence: the candidate closes
// as skipped. ECONFLICT unless awaiting_approval.
func (e *Engine) Approve(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateAwaitingApproval {
		return nil, wrongState(c, "approve", store.StateAwaitingApproval)
	}
	why := reasonOr(reason, "request to keep the licence approved")
	c.State, c.DueAt, c.Message = store.StateClosedSkipped, time.Time{}, why
	return c, e.act(ctx, c, store.StateAwaitingApproval, actor, why)
}

// Deny refuses a user's request to keep the licence: the candidate goes to
// awaiting_revocation, due now. ECONFLICT unless awaiting_approval.
func (e *Engine) Deny(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateAwaitingApproval {
		return nil, wrongState(c, "deny", store.StateAwaitingApproval)
	}
	why := reasonOr(reason, "request to keep the licence denied")
	c.State, c.DueAt, c.Message = store.StateAwaitingRevocation, e.now(), why
	return c, e.act(ctx, c, store.StateAwaitingApproval, actor, why)
}

// Skip closes an open candidate as skipped: the user keeps the licence.
// ECONFLICT when the candidate is closed or a tenant change is in flight.
func (e *Engine) Skip(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State.Closed() {
		return nil, sam.Errorf(sam.ECONFLICT, "cannot skip removal candidate %d: it is already %s", id, c.State)
	}
	from := c.State
	why := reasonOr(reason, "skipped")
	c.State, c.DueAt, c.Message = store.StateClosedSkipped, time.Time{}, why
	return c, e.act(ctx, c, from, actor, why)
}

// Requeue puts a candidate that needed attention back to ready, due now
// (e.g. after notification was configured or a permission granted).
// ECONFLICT unless attention_required.
func (e *Engine) Requeue(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateAttention {
		return nil, wrongState(c, "requeue", store.StateAttention)
	}
	why := reasonOr(reason, "back in the queue")
	c.State, c.DueAt, c.Message = store.StateReady, e.now(), why
	return c, e.act(ctx, c, store.StateAttention, actor, why)
}

// Reclaim removes an open candidate's licence now, as actor, with the same
// safety checks as the workflow: in dry run it only returns (and records)
// what it would do; stale data or the cap (one removal against the SKU's
// seats) block it unless opt.OverrideCap. The result says what happened;
// the candidate's Message says why a removal did not happen. ECONFLICT when
// the candidate is closed or a change is in flight.
func (e *Engine) Reclaim(ctx context.Context, id int64, actor, reason string, opt RunOptions) (*RunResult, error) {
	c, p, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State.Closed() {
		return nil, sam.Errorf(sam.ECONFLICT, "cannot reclaim removal candidate %d: it is already %s", id, c.State)
	}
	set, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return nil, err
	}
	res := &RunResult{ProfileID: p.ID, DryRun: set.DryRun}
	opt.Actor = actor
	if set.DryRun {
		e.plan(ctx, c, res, "would remove the licence "+describeRemoval(c))
		return res, nil
	}
	if c.State != store.StateAwaitingRevocation {
		from := c.State
		why := reasonOr(reason, "reclamation requested")
		c.State, c.DueAt, c.Message = store.StateAwaitingRevocation, e.now(), why
		if err := e.move(ctx, c, from, actor, why); err != nil {
			return nil, err
		}
		e.audit(ctx, actor, "reclaim.request", c, 200, why)
	}
	if err := e.revoke(ctx, p, set, []*store.Candidate{c}, opt, res); err != nil {
		return res, err
	}
	return res, e.scheduleNext(ctx, p.ID)
}

// Undo gives back a removed licence (closed_complete, within the undo
// window): the same SKU with the same disabled plans for a direct
// assignment, membership of the licensing group for a group-based one,
// verified by reading the user back; the candidate then closes as
// canceled with UndoneAt set. EINVALID in dry run or after the window;
// ECONFLICT when the candidate was not removed or is already undone; Graph's
// refusal (e.g. no free seat) is returned.
func (e *Engine) Undo(ctx context.Context, id int64, actor, reason string) (*store.Candidate, error) {
	c, p, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != store.StateClosedComplete || !c.UndoneAt.IsZero() {
		return nil, sam.Errorf(sam.ECONFLICT, "cannot undo removal candidate %d: it is %s, not a completed removal", id, c.State)
	}
	set, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return nil, err
	}
	if set.DryRun {
		return nil, sam.Errorf(sam.EINVALID, "cannot undo removal candidate %d: dry run is on, and an undo changes the tenant; turn dry run off first", id)
	}
	if now := e.now(); now.After(c.UndoUntil) {
		return nil, sam.Errorf(sam.EINVALID, "cannot undo removal candidate %d: the undo window ended %s; assign the licence in Entra instead", id, c.UndoUntil.Format(time.RFC3339))
	}
	g, err := e.graph(ctx, p)
	if err != nil {
		return nil, err
	}
	c.Intent, c.IntentAt = store.IntentUndo, e.now()
	if err := e.Store.BeginCandidateChange(ctx, c, store.StateClosedComplete); err != nil {
		return nil, err
	}
	e.audit(ctx, actor, "reclaim.undo.start", c, 202, reasonOr(reason, fmt.Sprintf("re-assigning %s to %s", c.SKUID, c.UPN)))
	if err := e.callUndo(ctx, g, c, actor); err != nil {
		return nil, err
	}
	return c, nil
}

// Candidate returns a candidate with its transitions, oldest first.
func (e *Engine) Candidate(ctx context.Context, id int64) (*store.Candidate, []store.Transition, error) {
	c, err := e.Store.Candidate(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	tr, err := e.Store.CandidateTransitions(ctx, id)
	return c, tr, err
}

// Candidates lists candidates matching f, leaving out those whose user, UPN,
// SKU or group is excluded now (exclusions apply to reports too).
func (e *Engine) Candidates(ctx context.Context, f store.CandidateFilter) ([]*store.Candidate, error) {
	cands, err := e.Store.Candidates(ctx, f)
	if err != nil {
		return nil, err
	}
	return e.Visible(ctx, cands)
}

// Visible returns the candidates whose user, UPN, SKU or group is not
// excluded now, in order; cands is reused.
func (e *Engine) Visible(ctx context.Context, cands []*store.Candidate) ([]*store.Candidate, error) {
	excl := map[int64]*Exclusions{}
	out := cands[:0]
	for _, c := range cands {
		x, ok := excl[c.ProfileID]
		if !ok {
			list, err := e.Store.Exclusions(ctx, c.ProfileID)
			if err != nil {
				return nil, err
			}
			x = NewExclusions(list)
			excl[c.ProfileID] = x
		}
		if x.Match(c.UserID, c.UPN, c.SKUID, c.AssignedByGroup) == "" {
			out = append(out, c)
		}
	}
	return out, nil
}
