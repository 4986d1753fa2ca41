package job

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// runLog records on a job, during one attempt, each run the attempt starts
// or resumes, before the run reads anything, and knows the runs the job's
// earlier attempts recorded. It is what makes a job's work commit once
// although the job itself runs at least once: an instance may die after a
// run committed but before the job's success was recorded, and the retry
// then finds the committed run named by the job and skips that work.
type runLog struct {
	r      *Runner
	j      *Job
	cancel context.CancelCauseFunc
	// earlier are the runs the job named when this attempt began, by kind
	// (runs deleted since are left out).
	earlier map[sam.RunKind][]*sam.Run

	mu  sync.Mutex
	err error // the first failure to record a run

	// recording serializes record: the two runs of a side-by-side sync
	// start at the same time, and each rewrites the job's run list.
	recording sync.Mutex
}

// newRunLog reads the runs job j names and returns the log with ctx
// derived from ctx: it is cancelled when a run cannot be recorded, so that
// the run stops before it reads anything.
func (r *Runner) newRunLog(ctx context.Context, j *Job) (context.Context, *runLog, error) {
	l := &runLog{r: r, j: j, earlier: map[sam.RunKind][]*sam.Run{}}
	for _, id := range j.RunIDs {
		run, err := r.cfg.Store.Run(ctx, id)
		if sam.IsCode(err, sam.ENOTFOUND) {
			continue
		}
		if err != nil {
			return ctx, nil, fmt.Errorf("read run %d of job %d: %w", id, j.ID, err)
		}
		l.earlier[run.Kind] = append(l.earlier[run.Kind], run)
	}
	ctx, l.cancel = context.WithCancelCause(ctx)
	return ctx, l, nil
}

// committed returns the run of kind that the job named and that succeeded
// (an earlier attempt committed it, then its instance died or lost the
// lease before the job's success was recorded), or nil.
func (l *runLog) committed(kind sam.RunKind) *sam.Run {
	for _, run := range l.earlier[kind] {
		if run.Status == sam.RunSucceeded {
			return run
		}
	}
	return nil
}

// record names run on the job (the OnRun hook of ingest and recon) in place
// of the unfinished or failed runs of its kind that earlier attempts named
// and that it supersedes (a reconciliation interrupted by a crash is closed,
// not resumed).
//
// It refuses a new run when a run of the same kind named by the job has
// succeeded since this attempt began: an earlier attempt whose lease had
// expired but whose instance was still alive committed it meanwhile (ingest
// then starts a new run, because the named one is no longer unfinished).
// The new run is left unnamed and unread (a later sync resumes it), and the
// next attempt skips the phase.
//
// When the run is refused or cannot be recorded (the lease was lost, the
// database is unreachable) the attempt's context is cancelled, so that the
// run stops before it reads anything, and Err reports why.
func (l *runLog) record(run *sam.Run) {
	// Not the run's context: it may be cancelled already (shutdown), and the
	// record must still be written; the write is fenced by the lease.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l.recording.Lock()
	err := l.recordRun(ctx, run)
	l.recording.Unlock()
	if err != nil {
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		l.mu.Unlock()
		l.cancel(err)
	}
}

func (l *runLog) recordRun(ctx context.Context, run *sam.Run) error {
	var drop []int64
	for _, x := range l.earlier[run.Kind] {
		if x.ID == run.ID {
			continue
		}
		now, err := l.r.cfg.Store.Run(ctx, x.ID)
		switch {
		case sam.IsCode(err, sam.ENOTFOUND):
			drop = append(drop, x.ID)
		case err != nil:
			return fmt.Errorf("read run %d of job %d: %w", x.ID, l.j.ID, err)
		case now.Status == sam.RunSucceeded:
			return sam.Errorf(sam.ECONFLICT, "%s run %d of job %d was committed meanwhile by an earlier attempt whose lease had expired; run %d is left for a later sync",
				run.Kind, x.ID, l.j.ID, run.ID)
		default:
			drop = append(drop, x.ID)
		}
	}
	ok, err := l.r.qu.recordRun(ctx, l.j, l.r.cfg.Instance, run.ID, drop)
	if err == nil && !ok {
		err = sam.Errorf(sam.ECONFLICT, "job %d lost its lease before %s run %d started: another instance took it over", l.j.ID, run.Kind, run.ID)
	}
	return err
}

// Err returns the first failure to record a run, or nil.
func (l *runLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// ids returns the runs the job names now, for its Outcome.
func (l *runLog) ids() []int64 { return slices.Clone(l.j.RunIDs) }
