package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/seatwise/seatwise/internal/sam"
)

// errSubscriptionsFailed stops the activity run of a Sync whose
// subscriptions run failed, before its commit.
var errSubscriptionsFailed = errors.New("the subscriptions run failed: activity is committed after it")

// SyncResult is what a Sync did: the subscriptions run, and the activity
// run (nil when it did not start).
type SyncResult struct {
	Subscriptions *SubscriptionResult
	Activity      *ActivityResult
}

// Sync runs the profile's subscriptions and activity runs at the same time:
// Microsoft Graph (users and licences) and the Dataverse audit logs are read
// side by side. The activity run starts once Graph has answered the
// subscriptions run's first request (so that rejected credentials fail
// one run), and commits only after the subscriptions run did, so that its
// usage recompute sees the new subscriptions. The final state is that of
// Subscriptions followed by Activity; the wall time is closer to the
// longer of the two than to their sum.
//
// afterSubscriptions, when set, is called once the subscriptions run has
// committed, while the activity run goes on, and before the activity
// commits (the sync job creates reclamation rules for new models there).
//
// Usage is recomputed once, by the activity commit: the subscriptions
// commit defers it (store.SubscriptionCommit.DeferUsage). When the activity
// run fails, Sync recomputes usage itself; when the sync is interrupted
// (ctx done) between the two commits, the subscriptions opened show usage
// unknown until the next sync's activity commit.
//
// When the subscriptions run fails, the activity run stops before its
// commit and stays resumable from its last checkpoint (the next Sync or
// Activity resumes it), and Sync returns the subscriptions error; when
// the activity run fails, Sync returns that error with the committed
// subscriptions run in the result. Errors: those of Subscriptions and
// Activity.
func (s *Syncer) Sync(ctx context.Context, p *sam.Profile, opts SubscriptionOptions, afterSubscriptions func(*SubscriptionResult)) (*SyncResult, error) {
	res := &SyncResult{}
	actCtx, cancelActivity := context.WithCancel(ctx)
	defer cancelActivity()
	subsDone := make(chan struct{})
	answered := make(chan struct{})
	var subsErr error
	go func() {
		defer close(subsDone)
		// Usage is recomputed once, by the activity commit that follows
		// (or below, when the activity run does not commit).
		res.Subscriptions, subsErr = s.subscriptionsRun(ctx, p, opts, sync.OnceFunc(func() { close(answered) }), true)
		if subsErr != nil {
			// The activity run must not commit over subscriptions that
			// did not: it stops and resumes next time.
			cancelActivity()
			return
		}
		if afterSubscriptions != nil {
			afterSubscriptions(res.Subscriptions)
		}
	}()
	gate := func(ctx context.Context) error {
		select {
		case <-subsDone:
			if subsErr != nil {
				// Not the subscriptions error itself: a permanent one
				// would finish the activity run as failed and discard
				// what it read, which stays good.
				return errSubscriptionsFailed
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The activity run starts once Graph has answered the subscriptions
	// run: rejected credentials fail one run, not two, and the runs are
	// numbered in their order.
	select {
	case <-answered:
	case <-subsDone:
		if subsErr != nil {
			return res, subsErr
		}
	}
	act, actErr := s.activityRun(actCtx, p, gate)
	<-subsDone
	res.Activity = act
	if subsErr != nil {
		return res, subsErr
	}
	if actErr != nil && ctx.Err() == nil {
		// The subscriptions commit left the usage recompute to the
		// activity commit, which did not happen. (Interrupted, the
		// activity run stays unfinished; its commit recomputes usage
		// when the next sync resumes it.)
		if err := s.Store.RecomputeUsage(ctx, p.ID, s.now()); err != nil {
			return res, errors.Join(actErr, fmt.Errorf("recompute usage after the subscriptions run: %w", err))
		}
	}
	return res, actErr
}
