package reclaim

import (
	"context"
	"fmt"
	"time"

	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// removal outcome.
type outcome int

const (
	outRemoved   outcome = iota // closed_complete
	outAttention                // attention_required
	outGone                     // closed_canceled: the licence or the user was already gone
)

// holding finds how the user holds c's SKU: "" and true for direct, the
// group id and true for the candidate's group (or any group when the
// candidate's is gone), false when not at all. It also returns the disabled
// plans of that assignment.
func holding(u *msgraph.User, c *store.Candidate) (group string, held bool, disabled []string) {
	var anyGroup string
	var anyPlans []string
	for _, s := range u.LicenseAssignmentStates {
		if s.SKUID != c.SKUID {
			continue
		}
		if s.AssignedByGroup == "" {
			return "", true, s.DisabledPlans
		}
		if s.AssignedByGroup == c.AssignedByGroup {
			group, held, disabled = s.AssignedByGroup, true, s.DisabledPlans
		} else if anyGroup == "" {
			anyGroup, anyPlans = s.AssignedByGroup, s.DisabledPlans
		}
	}
	if held {
		return group, true, disabled
	}
	if anyGroup != "" {
		return anyGroup, true, anyPlans
	}
	if len(u.LicenseAssignmentStates) == 0 {
		for _, l := range u.AssignedLicenses {
			if l.SKUID == c.SKUID {
				return "", true, l.DisabledPlans
			}
		}
	}
	return "", false, nil
}

// remove takes c's licence away: read the user, record the intent, call
// Graph, read the user back. c is in awaiting_revocation.
func (e *Engine) remove(ctx context.Context, p *sam.Profile, set store.ReclaimSettings, g Graph, c *store.Candidate, actor string) (bool, error) {
	u, err := g.GetUser(ctx, c.UserID, nil)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return false, e.finish(ctx, c, outGone, actor, "the user no longer exists in the tenant", set)
	}
	if err != nil {
		return false, err
	}
	group, held, disabled := holding(u, c)
	if !held {
		return false, e.finish(ctx, c, outGone, actor, "the user no longer holds the licence", set)
	}
	method := store.MethodDirect
	if group != "" {
		method = store.MethodGroup
		if group != c.AssignedByGroup {
			return false, e.attention(ctx, c, actor, fmt.Sprintf("the licence is now inherited from group %s, not %s: evaluate the rules again", group, c.AssignedByGroup))
		}
		if !set.AllowGroupRemoval {
			return false, e.attention(ctx, c, actor, fmt.Sprintf("the licence is inherited from group %s and removing users from licensing groups is not allowed "+
				"(it may take away other licences and access the group grants): remove the user from the group in Entra, "+
				"or allow it in the reclamation settings and requeue this candidate", group))
		}
	}
	c.Intent, c.Method, c.IntentAt, c.DisabledPlans = store.IntentRemove, method, e.now(), disabled
	if err := e.Store.BeginCandidateChange(ctx, c, c.State); err != nil {
		if sam.IsCode(err, sam.ECONFLICT) {
			return false, nil // someone acted first
		}
		return false, err
	}
	e.audit(ctx, actor, "reclaim.remove.start", c, 202, "removing "+describeRemoval(c))
	o, err := e.callRemove(ctx, g, c, actor, set)
	return o == outRemoved, err
}

// callRemove sends the removal and verifies it. Transient failures return
// the error with the intent kept (the next run reads the user back).
func (e *Engine) callRemove(ctx context.Context, g Graph, c *store.Candidate, actor string, set store.ReclaimSettings) (outcome, error) {
	if err := e.at("before-call"); err != nil {
		return 0, err
	}
	var err error
	if c.Method == store.MethodGroup {
		err = g.RemoveGroupMember(ctx, c.AssignedByGroup, c.UserID)
	} else {
		_, err = g.AssignLicense(ctx, c.UserID, nil, []string{c.SKUID})
	}
	switch {
	case err == nil, sam.IsCode(err, sam.ENOTFOUND):
		// Done, or already gone: the read-back decides.
	case sam.IsCode(err, sam.EUNAVAILABLE), sam.IsCode(err, sam.EINTERNAL):
		return 0, err
	default:
		why := "Microsoft Graph refused the removal: " + errText(err)
		if c.Method == store.MethodGroup {
			why = fmt.Sprintf("the licence is assigned by group %s and removing the user from it is not permitted: %s; remove the user from the group in Entra or grant GroupMember.ReadWrite.All", c.AssignedByGroup, errText(err))
		}
		e.audit(ctx, actor, "reclaim.remove.refused", c, 403, why)
		return outAttention, e.attention(ctx, c, actor, why)
	}
	if err := e.at("after-call"); err != nil {
		return 0, err
	}
	return e.verifyRemoval(ctx, g, c, actor, set)
}

// verifyRemoval reads the user back and closes the candidate.
func (e *Engine) verifyRemoval(ctx context.Context, g Graph, c *store.Candidate, actor string, set store.ReclaimSettings) (outcome, error) {
	u, err := g.GetUser(ctx, c.UserID, nil)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return outGone, e.finish(ctx, c, outGone, actor, "the user no longer exists in the tenant", set)
	}
	if err != nil {
		return 0, err
	}
	group := ""
	if c.Method == store.MethodGroup {
		group = c.AssignedByGroup
	}
	if u.HoldsLicense(c.SKUID, group) {
		why := "Graph accepted the removal but reading the user back still shows the licence"
		e.audit(ctx, actor, "reclaim.remove.unverified", c, 409, why)
		return outAttention, e.attention(ctx, c, actor, why)
	}
	if other := otherPath(u, c); other != "" {
		return outAttention, e.stillHeld(ctx, c, actor, other)
	}
	return outRemoved, e.finish(ctx, c, outRemoved, actor, "licence removed "+describeRemoval(c)+"; verified by reading the user back", set)
}

// otherPath says how the user still holds c's SKU besides the path the
// removal took ("directly", "through group G"), "" when not at all.
func otherPath(u *msgraph.User, c *store.Candidate) string {
	removed := ""
	if c.Method == store.MethodGroup {
		removed = c.AssignedByGroup
	}
	for _, s := range u.LicenseAssignmentStates {
		if s.SKUID != c.SKUID || s.AssignedByGroup == removed {
			continue
		}
		if s.AssignedByGroup == "" {
			return "directly"
		}
		return "through group " + s.AssignedByGroup
	}
	return ""
}

// stillHeld: the removal took one assignment away but another still
// grants the licence, so no seat was freed.
func (e *Engine) stillHeld(ctx context.Context, c *store.Candidate, actor, other string) error {
	why := fmt.Sprintf("removed %s, but the user still holds the licence %s: no seat was freed; remove that assignment too, then skip this candidate", describeRemoval(c), other)
	e.audit(ctx, actor, "reclaim.remove.partial", c, 409, why)
	return e.attention(ctx, c, actor, why)
}

// finish closes a candidate after a removal attempt.
func (e *Engine) finish(ctx context.Context, c *store.Candidate, o outcome, actor, why string, set store.ReclaimSettings) error {
	from := c.State
	now := e.now()
	c.Intent, c.DueAt, c.Message = store.IntentNone, time.Time{}, why
	switch o {
	case outRemoved:
		c.State, c.RemovedAt, c.UndoUntil = store.StateClosedComplete, now, now.Add(set.UndoWindow)
	case outGone:
		c.State, c.Method = store.StateClosedCanceled, ""
	}
	if err := e.move(ctx, c, from, actor, why); err != nil {
		return err
	}
	if o == outRemoved {
		e.audit(ctx, actor, "reclaim.removed", c, 200, why)
		e.tell(ctx, c, NoticeRemoved)
	} else {
		e.audit(ctx, actor, "reclaim.remove.unneeded", c, 200, why)
	}
	return nil
}

// tell sends an informational notice, best effort.
func (e *Engine) tell(ctx context.Context, c *store.Candidate, kind NoticeKind) {
	if e.Notifier == nil {
		return
	}
	p, err := e.Store.Profile(ctx, c.ProfileID)
	if err != nil {
		return
	}
	r, err := e.rule(ctx, c)
	if err != nil || !r.NotifyUser {
		return
	}
	n, err := e.notice(ctx, p, c, r, kind)
	if err != nil {
		return
	}
	n.Recipients = []string{c.UPN}
	if err := e.Notifier.Notify(ctx, n); err != nil {
		e.log().Warn("reclamation notice not delivered", "candidate", c.ID, "kind", kind, "err", err)
	}
}

// attention moves c to attention_required with why, clearing any intent.
func (e *Engine) attention(ctx context.Context, c *store.Candidate, actor, why string) error {
	from := c.State
	c.State, c.Intent, c.DueAt, c.Message = store.StateAttention, store.IntentNone, time.Time{}, why
	err := e.move(ctx, c, from, actor, why)
	if sam.IsCode(err, sam.ECONFLICT) {
		return nil
	}
	return err
}

// resume finishes a tenant change left in flight: the user is read back
// first, so that a change that happened is not made again and one that did
// not is made once.
func (e *Engine) resume(ctx context.Context, p *sam.Profile, set store.ReclaimSettings, c *store.Candidate) error {
	g, err := e.graph(ctx, p)
	if err != nil {
		return err
	}
	group := ""
	if c.Method == store.MethodGroup {
		group = c.AssignedByGroup
	}
	u, err := g.GetUser(ctx, c.UserID, nil)
	if err != nil && !sam.IsCode(err, sam.ENOTFOUND) {
		return err
	}
	held := err == nil && u.HoldsLicense(c.SKUID, group)
	switch c.Intent {
	case store.IntentRemove:
		if u == nil {
			return e.finish(ctx, c, outGone, ActorSystem, "the user no longer exists in the tenant", set)
		}
		if !held {
			if other := otherPath(u, c); other != "" {
				return e.stillHeld(ctx, c, ActorSystem, other)
			}
			return e.finish(ctx, c, outRemoved, ActorSystem, "licence removed "+describeRemoval(c)+"; found removed when resuming after an interruption", set)
		}
		if set.DryRun {
			// Dry run was turned on since: abandon the change.
			c.Intent = store.IntentNone
			return e.Store.UpdateCandidate(ctx, c, c.State, nil)
		}
		_, err := e.callRemove(ctx, g, c, ActorSystem, set)
		return err
	case store.IntentUndo:
		if held {
			return e.finishUndo(ctx, c, ActorSystem, "licence re-assigned; found re-assigned when resuming after an interruption")
		}
		if u == nil || set.DryRun {
			c.Intent = store.IntentNone
			c.Message = "the undo was interrupted and not completed"
			return e.Store.UpdateCandidate(ctx, c, c.State, nil)
		}
		return e.callUndo(ctx, g, c, ActorSystem)
	}
	return nil
}

// callUndo re-assigns the licence and verifies it.
func (e *Engine) callUndo(ctx context.Context, g Graph, c *store.Candidate, actor string) error {
	if err := e.at("before-call"); err != nil {
		return err
	}
	var err error
	if c.Method == store.MethodGroup {
		err = g.AddGroupMember(ctx, c.AssignedByGroup, c.UserID)
	} else {
		_, err = g.AssignLicense(ctx, c.UserID, []msgraph.AssignedLicense{{SKUID: c.SKUID, DisabledPlans: c.DisabledPlans}}, nil)
	}
	if err != nil {
		if sam.IsCode(err, sam.EUNAVAILABLE) || sam.IsCode(err, sam.EINTERNAL) {
			return err
		}
		// Already given back (e.g. "references already exist")? The
		// read-back decides.
		group := ""
		if c.Method == store.MethodGroup {
			group = c.AssignedByGroup
		}
		if u, rerr := g.GetUser(ctx, c.UserID, nil); rerr == nil && u.HoldsLicense(c.SKUID, group) {
			return e.finishUndo(ctx, c, actor, "licence already re-assigned; verified by reading the user back")
		}
		c.Intent, c.Message = store.IntentNone, "undo failed: "+errText(err)
		e.audit(ctx, actor, "reclaim.undo.refused", c, 400, c.Message)
		if uerr := e.Store.UpdateCandidate(ctx, c, c.State, nil); uerr != nil {
			return uerr
		}
		return sam.Wrap(sam.ErrorCode(err), err, "undo removal candidate %d: Microsoft Graph refused to re-assign %s to %s", c.ID, c.SKUID, c.UPN)
	}
	if err := e.at("after-call"); err != nil {
		return err
	}
	u, err := g.GetUser(ctx, c.UserID, nil)
	if err != nil {
		return err
	}
	group := ""
	if c.Method == store.MethodGroup {
		group = c.AssignedByGroup
	}
	if !u.HoldsLicense(c.SKUID, group) {
		c.Intent, c.Message = store.IntentNone, "undo not verified: reading the user back does not show the licence"
		if err := e.Store.UpdateCandidate(ctx, c, c.State, nil); err != nil {
			return err
		}
		return sam.Errorf(sam.ECONFLICT, "undo removal candidate %d: Graph accepted the re-assignment but the user does not hold %s", c.ID, c.SKUID)
	}
	return e.finishUndo(ctx, c, actor, "licence re-assigned; verified by reading the user back")
}

func (e *Engine) finishUndo(ctx context.Context, c *store.Candidate, actor, why string) error {
	c.State, c.Intent, c.UndoneAt, c.Message = store.StateClosedCanceled, store.IntentNone, e.now(), "undone: "+why
	if err := e.move(ctx, c, store.StateClosedComplete, actor, "removal undone: "+why); err != nil {
		return err
	}
	e.audit(ctx, actor, "reclaim.undone", c, 200, why)
	return nil
}
