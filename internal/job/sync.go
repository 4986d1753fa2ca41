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
		sy := &ingest.Syncer{
			Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
			Dataverse: src.Dataverse, Counters: src, Now: r.clock.Now, Logger: r.log.With("job", j.ID, "profile", p.Name),
		}
		var out Outcome
		var parts []string
		if kind == KindSync || kind == KindSubscriptions {
			res, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{})
			if res != nil && res.Run != nil {
				out.RunIDs = append(out.RunIDs, res.Run.ID)
			}
			if err != nil {
				return out, err
			}
			parts = append(parts, fmt.Sprintf("subscriptions run %d: %d users read, opened %d, closed %d, updated %d",
				res.Run.ID, res.Run.Counts["users"], res.Changes.Opened, res.Changes.Closed, res.Changes.Updated))
			r.afterDownload(ctx, p)
		}
		if kind == KindSync || kind == KindActivity {
			// Reload: the subscriptions run may have changed the profile's state.
			if p, err = st.Profile(ctx, p.ID); err != nil {
				return out, err
			}
			if reason := skipReason(p); reason != "" {
				out.Result = strings.Join(append(parts, "activity skipped: "+reason), "; ")
				return out, nil
			}
			res, err := sy.Activity(ctx, p)
			if res != nil && res.Run != nil {
				out.RunIDs = append(out.RunIDs, res.Run.ID)
			}
			if err != nil {
				return out, err
			}
			parts = append(parts, fmt.Sprintf("activity run %d: %d audit rows, %d activity days written, %d subscriptions reclassified",
				res.Run.ID, res.Run.Counts["audit_rows"], res.Changes.Days, res.Changes.Recomputed))
			if s := r.afterActivity(ctx, p); s != "" {
				parts = append(parts, s)
			}
		}
		out.Result = strings.Join(parts, "; ")
		return out, nil
	}
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
