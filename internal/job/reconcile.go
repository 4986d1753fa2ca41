package job

import (
	"context"
	"fmt"
	"strings"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
)

// reconcileHandler records a reconciliation run of the profile (what
// `seatwise reconcile --profile NAME` does): the licence position of every
// software model as of the job's time, stored as a snapshot. Paused profiles
// are skipped. Models refused (entitlements in mixed currencies) fail the job
// permanently after the others' snapshot is stored: an operator must fix the
// entitlements.
//
// A reconciliation commits once per job: its run is named on the job as
// soon as it starts, and a retry whose job names a succeeded
// reconciliation run (the earlier attempt's instance died after the commit,
// before the job's success was recorded) records nothing again. A run an
// interrupted attempt left running cannot be resumed: the retry's run
// closes it as failed and replaces it on the job.
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
	ctx, runs, err := r.newRunLog(ctx, j)
	if err != nil {
		return Outcome{}, err
	}
	if done := runs.committed(sam.RunReconciliation); done != nil {
		out := Outcome{RunIDs: runs.ids(), Result: fmt.Sprintf("reconciliation run %d: committed by an earlier attempt, %d models compliant, %d not compliant, %d refused",
			done.ID, done.Counts["models_compliant"], done.Counts["models_not_compliant"], done.Counts["models_refused"])}
		if done.Counts["models_refused"] > 0 {
			// As the earlier attempt would have ended: the refusals need an operator.
			return out, Permanent(sam.Errorf(sam.EINVALID, "reconciliation run %d refused %d models: %s",
				done.ID, done.Counts["models_refused"], strings.Join(done.Warnings, "; ")))
		}
		return out, nil
	}
	run, res, err := recon.Reconcile(ctx, r.cfg.Store, p, recon.Options{AsOf: r.clock.Now(), OnRun: runs.record})
	if rerr := runs.Err(); rerr != nil {
		return Outcome{RunIDs: runs.ids()}, rerr
	}
	out := Outcome{RunIDs: runs.ids()}
	if res == nil {
		return out, err
	}
	out.Result = fmt.Sprintf("reconciliation run %d: %d positions, %d refused", run.ID, len(res.Positions), len(res.Refused))
	if err != nil {
		return out, Permanent(err)
	}
	return out, nil
}
