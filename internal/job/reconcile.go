package job

import (
	"context"
	"fmt"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
)

// reconcileHandler records a reconciliation run of the profile (what
// `seatwise reconcile --profile NAME` does): the licence position of every
// software model as of the job's time, stored as a snapshot. Paused profiles
// are skipped. Models refused (entitlements in mixed currencies) fail the job
// permanently after the others' snapshot is stored: an operator must fix the
// entitlements.
func (r *Runner) reconcileHandler(ctx context.Context, j *Job) (Outcome, error) {
	p, err := r.cfg.Store.Profile(ctx, j.ProfileID)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return Outcome{Skipped: true, Result: fmt.Sprintf("profile %d no longer exists", j.ProfileID)}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	if p.State == sam.ProfilePaused {
		return Outcome{Skipped: true, Result: skipReason(p)}, nil
	}
	run, res, err := recon.Reconcile(ctx, r.cfg.Store, p, recon.Options{AsOf: r.clock.Now()})
	var out Outcome
	if run != nil && run.ID != 0 {
		out.RunIDs = []int64{run.ID}
	}
	if res == nil {
		return out, err
	}
	out.Result = fmt.Sprintf("reconciliation run %d: %d positions, %d refused", run.ID, len(res.Positions), len(res.Refused))
	if err != nil {
		return out, Permanent(err)
	}
	return out, nil
}
