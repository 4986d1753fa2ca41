package job

import (
	"context"
	"fmt"
	"strings"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/sam"
)

// syncHandler returns the handler of the sync kinds: the same work as
// `seatwise sync`, through internal/ingest. Runs are resumable: an attempt
// cut short (killed instance, hand-back, network failure) leaves its run
// running with a checkpoint, and the next attempt resumes it.
//
// Each phase (subscriptions, activity) commits once per job: every run is
// named on the job as soon as it starts or resumes (see runLog), and a
// retry skips a phase whose run named by the job already succeeded (the
// instance of the earlier attempt died, or lost its lease, after the run
// committed but before the job's success was recorded). Its Result says
// so. The steps after a phase (reclamation rules, evaluation) are run again
// then: they are idempotent, and the earlier attempt may have died before
// them.
func (r *Runner) syncHandler(kind Kind) Handler {
	return func(ctx context.Context, j *Job) (Outcome, error) {
		st := r.cfg.Store
		p, err := st.Profile(ctx, j.ProfileID)
		if sam.IsCode(err, sam.ENOTFOUND) {
			return Outcome{Skipped: true, Result: fmt.Sprintf("profile %d no longer exists", j.ProfileID)}, nil
		}
		if err != nil {
			return Outcome{}, err
		}
		if reason := skipReason(p); reason != "" {
			return Outcome{Skipped: true, Result: reason}, nil
		}
		// The client secret (app-only) or the administrator's stored sign-in
		// (delegated), as `seatwise sync` loads them.
		cred, err := connect.Load(ctx, st, r.cfg.Keyring, p, r.cfg.Client.HTTPClient)
		if err != nil {
			if sam.IsCode(err, sam.EUNAUTHORIZED) && p.State == sam.ProfileDraft {
				return Outcome{Skipped: true, Result: fmt.Sprintf("profile %s is not connected yet: %v", p.Name, err)}, nil
			}
			return Outcome{}, Permanent(err)
		}
		opts := r.cfg.Client
		opts.Tokens = cred.Source
		src, err := ingest.NewSources(p, "", opts)
		if err != nil {
			return Outcome{}, Permanent(err)
		}
		ctx, runs, err := r.newRunLog(ctx, j)
		if err != nil {
			return Outcome{}, err
		}
		sy := &ingest.Syncer{
			Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
			Dataverse: src.Dataverse, Counters: src, Now: r.clock.Now, Logger: r.log.With("job", j.ID, "profile", p.Name),
			OnRun: runs.record,
		}
		// fail ends the attempt after a phase failed: a run that could not
		// be recorded on the job stopped for that reason.
		fail := func(err error) (Outcome, error) {
			if rerr := runs.Err(); rerr != nil {
				err = rerr
			}
			return Outcome{RunIDs: runs.ids()}, err
		}
		var parts []string
		if kind == KindSync && runs.committed(sam.RunSubscriptions) == nil && runs.committed(sam.RunActivity) == nil {
			// Both phases left: Graph and the audit logs are read side by
			// side, the activity committed after the subscriptions.
			res, err := sy.Sync(ctx, p, ingest.SubscriptionOptions{}, func(*ingest.SubscriptionResult) {
				// On the sync's goroutine, outside the runner's recover: a
				// panic there must not take the server down.
				defer func() {
					if v := recover(); v != nil {
						r.log.Error("reclamation rules not created after the download: panic", "profile", p.Name, "panic", v)
					}
				}()
				r.afterDownload(ctx, p)
			})
			if err != nil {
				return fail(err)
			}
			parts = append(parts, subscriptionsSummary(res.Subscriptions), activitySummary(res.Activity))
			if s := r.afterActivity(ctx, p); s != "" {
				parts = append(parts, s)
			}
			return Outcome{RunIDs: runs.ids(), Result: strings.Join(parts, "; ")}, nil
		}
		if kind == KindSync || kind == KindSubscriptions {
			if done := runs.committed(sam.RunSubscriptions); done != nil {
				parts = append(parts, fmt.Sprintf("subscriptions run %d: committed by an earlier attempt, %d users read", done.ID, done.Counts["users"]))
			} else {
				res, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{})
				if err != nil {
					return fail(err)
				}
				parts = append(parts, subscriptionsSummary(res))
			}
			// Also after an earlier attempt's run: that attempt may have
			// died before it got here (the rules are created once).
			r.afterDownload(ctx, p)
		}
		if kind == KindSync || kind == KindActivity {
			// Reload: the subscriptions run may have changed the profile's state.
			if p, err = st.Profile(ctx, p.ID); err != nil {
				return fail(err)
			}
			if reason := skipReason(p); reason != "" {
				return Outcome{RunIDs: runs.ids(), Result: strings.Join(append(parts, "activity skipped: "+reason), "; ")}, nil
			}
			if done := runs.committed(sam.RunActivity); done != nil {
				parts = append(parts, fmt.Sprintf("activity run %d: committed by an earlier attempt, %d audit rows", done.ID, done.Counts["audit_rows"]))
			} else {
				res, err := sy.Activity(ctx, p)
				if err != nil {
					return fail(err)
				}
				parts = append(parts, activitySummary(res))
			}
			// Also after an earlier attempt's run, which may have died
			// before it evaluated: evaluating again on the same data is
			// harmless.
			if s := r.afterActivity(ctx, p); s != "" {
				parts = append(parts, s)
			}
		}
		return Outcome{RunIDs: runs.ids(), Result: strings.Join(parts, "; ")}, nil
	}
}

// subscriptionsSummary says what a subscriptions run did, for a job's Result.
func subscriptionsSummary(res *ingest.SubscriptionResult) string {
	return fmt.Sprintf("subscriptions run %d: %d users read, opened %d, closed %d, updated %d",
		res.Run.ID, res.Run.Counts["users"], res.Changes.Opened, res.Changes.Closed, res.Changes.Updated)
}

// activitySummary says what an activity run did, for a job's Result.
func activitySummary(res *ingest.ActivityResult) string {
	return fmt.Sprintf("activity run %d: %d audit rows, %d activity days written, %d subscriptions reclassified",
		res.Run.ID, res.Run.Counts["audit_rows"], res.Changes.Days, res.Changes.Recomputed)
}

// skipReason says why a profile's jobs do not run now, or "".
func skipReason(p *sam.Profile) string {
	var why string
	switch p.State {
	case sam.ProfilePaused:
		why = fmt.Sprintf("profile %s is paused", p.Name)
	case sam.ProfileNeedsReauth:
		why = fmt.Sprintf("profile %s needs re-authentication", p.Name)
	default:
		return ""
	}
	if p.StateMessage != "" {
		why += ": " + p.StateMessage
	}
	return why
}
