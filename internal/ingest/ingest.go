// Package ingest downloads a profile's subscriptions from Microsoft Graph and
// calculates activity from the Dataverse audit logs of its environments.
//
// Both jobs are runs (sam.Run) that write only to the store's staging area
// while they read, page by page (audit evidence aggregated over a batch of
// pages), saving a checkpoint in the same transaction as what they stage;
// the next page is fetched while the previous one is staged. A run becomes visible at once, with CommitSubscriptions or
// CommitActivity, or not at all. A run that is interrupted (killed process,
// network failure) stays "running" and the next invocation resumes it from
// its checkpoint, so that an interrupted and resumed sync ends in exactly the
// state of an uninterrupted one. Permanent failures (credentials rejected,
// permission missing) finish the run as failed, discard what it staged and
// put the profile in state needs_reauth or error.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Syncer runs the subscriptions and activity jobs of one profile.
type Syncer struct {
	Store   store.Store
	Catalog SKUFilter
	// Graph reads the profile's tenant.
	Graph Graph
	// Dataverse returns the client of one environment of the profile.
	Dataverse func(env sam.Environment) (Dataverse, error)
	// Counters gives the request statistics of every client above
	// together; nil records none.
	Counters Counters
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress, when set, is called after every page read.
	Progress func(Progress)
	// Logger receives warnings and resumptions (slog.Default when nil).
	Logger *slog.Logger
	// StageBatchRows is how many aggregated evidence rows are gathered over
	// consecutive audit pages before they are staged with the checkpoint
	// (0: DefaultStageBatchRows; 1 stages every page).
	StageBatchRows int
	// OnRun, when set, is called with every run Subscriptions or Activity
	// starts or resumes, before it reads anything: a job records there
	// which runs it owns, so that a retry after a crash knows a run that
	// already committed.
	OnRun func(*sam.Run)
	// AuditStreams is how many createdon ranges of an environment's audit
	// log are read at once at most (0: DefaultAuditStreams; 1 reads the
	// log page after page).
	AuditStreams int
}

// Progress describes how far a run has come.
type Progress struct {
	Kind        sam.RunKind
	Phase       string // "skus", "users", "settings", "systemusers", "audits", "commit"
	Environment string // URL of the environment being read (activity)
	Items       int64  // users or audit rows read so far in this run
	Requests    int64
	Resumed     bool
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Syncer) progress(p Progress) {
	if s.Progress != nil {
		s.Progress(p)
	}
}

// runStats adds the clients' request counters to a run, across resumptions:
// base holds what the run had counted before this invocation.
type runStats struct {
	c                         Counters
	service                   string // counted alone when c is ServiceCounters
	req0, thr0, ret0          int64  // the counters when this invocation started
	baseReq, baseThr, baseRet int64  // the run's counts from earlier invocations
}

// newRunStats starts counting the requests of run r to service (a run
// reads one: subscriptions Graph, activity Dataverse).
func newRunStats(c Counters, r *sam.Run, service string) *runStats {
	st := &runStats{c: c, service: service, baseReq: r.Requests, baseThr: r.Throttles, baseRet: r.Retries}
	if c != nil {
		st.req0, st.thr0, st.ret0 = st.counts()
	}
	return st
}

func (st *runStats) counts() (requests, throttles, retries int64) {
	if sc, ok := st.c.(ServiceCounters); ok {
		return sc.ServiceCounts(st.service)
	}
	return st.c.Counts()
}

func (st *runStats) apply(r *sam.Run) {
	if st.c == nil {
		return
	}
	req, thr, ret := st.counts()
	r.Requests = st.baseReq + req - st.req0
	r.Throttles = st.baseThr + thr - st.thr0
	r.Retries = st.baseRet + ret - st.ret0
}

// Permanent reports whether err means that retrying cannot help until an
// operator acts: credentials rejected (EUNAUTHORIZED) or a permission
// missing (EFORBIDDEN).
func Permanent(err error) bool {
	c := sam.ErrorCode(err)
	return c == sam.EUNAUTHORIZED || c == sam.EFORBIDDEN
}

// fail records a failed invocation. A permanent failure finishes the run as
// failed, discards its staging area and sets the profile's state; any other
// failure leaves the run running with its checkpoint so that the next
// invocation resumes it, and records the error on it.
func (s *Syncer) fail(ctx context.Context, p *sam.Profile, r *sam.Run, st *runStats, err error) error {
	ctx = context.WithoutCancel(ctx)
	if st != nil {
		st.apply(r)
	}
	// The checkpoint and counters in memory may be ahead of what was
	// staged (a page read but not written): keep the stored ones.
	if stored, serr := s.Store.Run(ctx, r.ID); serr == nil {
		r.Checkpoint, r.Counts = stored.Checkpoint, stored.Counts
	}
	r.Error = sam.ErrorMessage(err)
	if r.Error == "internal error" {
		r.Error = err.Error()
	}
	if !Permanent(err) {
		if serr := s.Store.SaveRunProgress(ctx, r); serr != nil {
			s.logger().Error("save run progress", "run", r.ID, "err", serr)
		}
		return err
	}
	r.Status = sam.RunFailed
	now := s.now()
	r.FinishedAt = &now
	if ferr := s.Store.FinishRun(ctx, r); ferr != nil {
		s.logger().Error("finish failed run", "run", r.ID, "err", ferr)
	}
	if derr := s.Store.DiscardStaging(ctx, r.ID); derr != nil {
		s.logger().Error("discard staging", "run", r.ID, "err", derr)
	}
	state := sam.ProfileError
	msg := fmt.Sprintf("%s run failed: %s", r.Kind, r.Error)
	if sam.IsCode(err, sam.EUNAUTHORIZED) {
		state = sam.ProfileNeedsReauth
		msg = fmt.Sprintf("Microsoft rejected the profile's credentials during the %s run (%s); update the client secret with 'seatwise profile edit %s --client-secret-file FILE'", r.Kind, r.Error, p.Name)
		if p.AuthMode == sam.AuthDelegated {
			msg = fmt.Sprintf("the administrator's sign-in is no longer accepted (%s run: %s); the data is kept: sign in again with 'seatwise profile connect %s'", r.Kind, r.Error, p.Name)
		}
	} else {
		msg = fmt.Sprintf("a permission is missing for the %s run (%s); grant it to the application and sync again", r.Kind, r.Error)
	}
	if serr := s.Store.SetProfileState(ctx, p.ID, state, msg); serr != nil {
		s.logger().Error("set profile state", "profile", p.Name, "err", serr)
	}
	return err
}

// errRestart is returned inside a run when its checkpoint cannot be resumed.
var errRestart = errors.New("restart run")
