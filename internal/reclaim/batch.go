package reclaim

import (
	"context"
	"fmt"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// BatchItem is what ReclaimMany did to one candidate.
type BatchItem struct {
	ID int64
	// Candidate is the candidate as stored afterwards; nil when it could
	// not be read (Err says why).
	Candidate *store.Candidate
	// Planned is, in dry run, what would have been done.
	Planned string
	// Blocked is why the removal was held back (stale or incomplete data
	// of the candidate's profile), "" when it was not. The candidate then
	// waits in awaiting_revocation for the next run.
	Blocked string
	// Err is why the candidate was not acted on: ENOTFOUND, ECONFLICT
	// (closed, a change in flight, someone acted first) or a failure to
	// reach Microsoft Graph (the next run resumes the change).
	Err error
}

// BatchResult is what ReclaimMany did: the totals (ProfileID is 0 when the
// batch spans several profiles; Blocked is the last profile's block) and
// one item per distinct id, in the order given.
type BatchResult struct {
	RunResult
	Items []BatchItem
}

// Failed counts the items with an error.
func (r *BatchResult) Failed() int {
	n := 0
	for _, it := range r.Items {
		if it.Err != nil {
			n++
		}
	}
	return n
}

// ReclaimMany removes the licences of several open candidates now, as
// actor, as one run: the cap (CapCount for all of them together,
// CapPercent of each SKU's seats in each profile, as in Advance) is checked
// for the whole batch before anything changes, and a batch over the cap is
// refused as a whole (ECONFLICT naming the SKU, the number of removals and
// the limit; the refusal is written to the audit log and no candidate or
// tenant user is changed) unless opt.OverrideCap, which is audited. Then
// each candidate is moved to awaiting_revocation and removed, subject to
// the other safety checks: in dry run only the plan is recorded; stale data
// of a profile blocks its removals (BatchItem.Blocked, the candidate's
// Message).
//
// Candidates that cannot be acted on (missing, closed, a change in flight)
// are reported in their BatchItem.Err, do not count against the cap and do
// not stop the others; neither does a Graph failure on one candidate.
// Duplicate ids count once. EINVALID when ids is empty.
func (e *Engine) ReclaimMany(ctx context.Context, ids []int64, actor, reason string, opt RunOptions) (*BatchResult, error) {
	if len(ids) == 0 {
		return nil, sam.Errorf(sam.EINVALID, "reclaim: choose at least one removal candidate")
	}
	opt.Actor = actor
	res := &BatchResult{}
	var batches []batch
	profileIdx := map[int64]int{}
	itemIdx := map[int64]int{}
	for _, id := range ids {
		if _, dup := itemIdx[id]; dup {
			continue
		}
		itemIdx[id] = len(res.Items)
		it := BatchItem{ID: id}
		c, p, err := e.load(ctx, id)
		switch {
		case err != nil:
			it.Err = err
		case c.State.Closed():
			it.Candidate, it.Err = c, sam.Errorf(sam.ECONFLICT, "cannot reclaim removal candidate %d: it is already %s", id, c.State)
		default:
			it.Candidate = c
			i, ok := profileIdx[p.ID]
			if !ok {
				i = len(batches)
				profileIdx[p.ID] = i
				batches = append(batches, batch{p: p})
			}
			batches[i].cands = append(batches[i].cands, c)
		}
		res.Items = append(res.Items, it)
	}
	if len(batches) == 1 {
		res.ProfileID = batches[0].p.ID
	}
	set, err := e.Store.ReclaimSettings(ctx)
	if err != nil {
		return nil, err
	}
	res.DryRun = set.DryRun
	if len(batches) == 0 {
		return res, nil
	}
	if set.DryRun {
		for _, b := range batches {
			for _, c := range b.cands {
				e.plan(ctx, c, &res.RunResult, "would remove the licence "+describeRemoval(c))
				res.Items[itemIdx[c.ID]].Planned = res.Planned[len(res.Planned)-1]
			}
		}
		e.refresh(ctx, res)
		return res, nil
	}
	// The cap, for the whole batch, before anything changes.
	why, err := e.enforceCap(ctx, set, batches, opt)
	if err != nil {
		return nil, err
	}
	if why != "" {
		n := 0
		for _, b := range batches {
			n += len(b.cands)
		}
		e.audit(ctx, actor, "reclaim.blocked", nil, 409, fmt.Sprintf("profile %s: batch of %d removal(s) refused: %s", profileNames(batches), n, why))
		return nil, sam.Errorf(sam.ECONFLICT, "%s%s", blockedPrefix, why)
	}
	var firstErr error
	for _, b := range batches {
		if err := e.reclaimBatch(ctx, b, set, actor, reason, opt, res, itemIdx); err != nil {
			return res, err
		}
		if err := e.scheduleNext(ctx, b.p.ID); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	e.refresh(ctx, res)
	return res, firstErr
}

// reclaimBatch moves one profile's candidates of a batch to
// awaiting_revocation and removes their licences unless the profile's data
// is stale. Only a cancelled ctx or a store failure stops it; per-candidate
// failures go to the items.
func (e *Engine) reclaimBatch(ctx context.Context, b batch, set store.ReclaimSettings, actor, reason string, opt RunOptions, res *BatchResult, itemIdx map[int64]int) error {
	fail := func(c *store.Candidate, err error) { res.Items[itemIdx[c.ID]].Err = err }
	var cands []*store.Candidate
	for _, c := range b.cands {
		if c.State != store.StateAwaitingRevocation {
			from := c.State
			why := reasonOr(reason, "reclamation requested")
			c.State, c.DueAt, c.Message = store.StateAwaitingRevocation, e.now(), why
			if err := e.move(ctx, c, from, actor, why); err != nil {
				if !sam.IsCode(err, sam.ECONFLICT) {
					return err
				}
				fail(c, err) // someone acted first
				continue
			}
			e.audit(ctx, actor, "reclaim.request", c, 200, why)
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil
	}
	why, err := e.Staleness(ctx, b.p, set)
	if err != nil {
		return err
	}
	if why != "" {
		blocked := e.block(ctx, b.p, cands, actor, why, &res.RunResult)
		for _, c := range cands {
			res.Items[itemIdx[c.ID]].Blocked = blocked
		}
		return nil
	}
	g, err := e.graph(ctx, b.p)
	if err != nil {
		for _, c := range cands {
			fail(c, err)
		}
		return nil
	}
	for _, c := range cands {
		done, err := e.remove(ctx, b.p, set, g, c, actor)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fail(c, err)
		case done:
			res.Removed++
		default:
			res.Attention++
		}
	}
	return nil
}

// refresh reads each item's candidate back from the store.
func (e *Engine) refresh(ctx context.Context, res *BatchResult) {
	for i := range res.Items {
		it := &res.Items[i]
		if it.Candidate == nil {
			continue
		}
		if c, err := e.Store.Candidate(ctx, it.ID); err == nil {
			it.Candidate = c
		}
	}
}
