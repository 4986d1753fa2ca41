package job

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Runner claims and runs due jobs, and enqueues the jobs of due schedules.
// Its methods are safe for concurrent use; several Runners (in one process
// or many) may share a database.
type Runner struct {
	cfg      Config
	qu       *queue
	clock    Clock
	log      *slog.Logger
	handlers map[Kind]Handler
	kinds    []string

	pruned time.Time // last deletion of old jobs (runner clock)

	mu      sync.Mutex
	stats   Stats
	state   int // 0 new, 1 started, 2 stopped
	cancel  context.CancelFunc
	loopEnd chan struct{}
	active  map[int64]*active
	wake    chan struct{}
	workers sync.WaitGroup
}

// active is a job this runner is working on.
type active struct {
	cancel   context.CancelFunc
	handBack bool // set by Stop before cancel: return the job to the queue
	done     chan struct{}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// dbHandle is what the stores of internal/db offer besides store.Store.
type dbHandle interface {
	DB() *sql.DB
}

// New returns a Runner over cfg.Store and creates the missing default
// schedules. EINVALID when the configuration is incomplete (no store, a store
// without a database handle, no keyring for the sync kinds, a bad default
// schedule); EUNAVAILABLE when the database cannot be written.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Store == nil {
		return nil, sam.Errorf(sam.EINVALID, "job runner: no store")
	}
	h, ok := cfg.Store.(dbHandle)
	if !ok {
		return nil, sam.Errorf(sam.EINVALID, "job runner: the store (%T) has no database handle; open it with internal/db", cfg.Store)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Instance = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Heartbeat <= 0 || cfg.Heartbeat >= cfg.Lease {
		cfg.Heartbeat = cfg.Lease / 4
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 180 * 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Hour
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.HTTPClient != nil {
		cfg.Client.HTTPClient = cfg.HTTPClient
	}
	r := &Runner{
		cfg: cfg, qu: &queue{db: h.DB(), pg: cfg.Store.Dialect() == "postgres"},
		clock: cfg.Clock, log: cfg.Logger.With("component", "job", "instance", cfg.Instance),
		handlers: map[Kind]Handler{}, active: map[int64]*active{}, wake: make(chan struct{}, 1),
	}
	for _, k := range []Kind{KindSync, KindSubscriptions, KindActivity} {
		if _, replaced := cfg.Handlers[k]; !replaced {
			if cfg.Keyring == nil {
				return nil, sam.Errorf(sam.EINVALID, "job runner: no keyring to open the profiles' client secrets")
			}
			r.handlers[k] = r.syncHandler(k)
		}
	}
	if _, replaced := cfg.Handlers[KindReconcile]; !replaced {
		r.handlers[KindReconcile] = r.reconcileHandler
	}
	r.addReclaim()
	for k, fn := range cfg.Handlers {
		if k == "" || fn == nil {
			return nil, sam.Errorf(sam.EINVALID, "job runner: handler for kind %q is empty", k)
		}
		r.handlers[k] = fn
	}
	for k := range r.handlers {
		r.kinds = append(r.kinds, string(k))
	}
	sort.Strings(r.kinds)
	scheds := cfg.DefaultSchedules
	if scheds == nil {
		scheds = DefaultSchedules()
	}
	for _, s := range scheds {
		if _, ok := r.handlers[s.Kind]; !ok {
			return nil, sam.Errorf(sam.EINVALID, "job runner: default schedule %q runs unknown kind %q", s.Name, s.Kind)
		}
	}
	if err := r.qu.ensureSchedules(ctx, r.clock.Now(), scheds); err != nil {
		return nil, err
	}
	return r, nil
}

// Instance returns the name this runner leases jobs under.
func (r *Runner) Instance() string { return r.cfg.Instance }

// Kinds returns the kinds of job this runner can run, sorted.
func (r *Runner) Kinds() []Kind {
	out := make([]Kind, len(r.kinds))
	for i, k := range r.kinds {
		out[i] = Kind(k)
	}
	return out
}

// Start begins polling for due schedules and jobs in the background. The
// runner stops claiming jobs when ctx is done or Stop is called; jobs already
// running go on until they finish or Stop's grace period ends, so always call
// Stop at shutdown. ECONFLICT when the runner was started before.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != 0 {
		return sam.Errorf(sam.ECONFLICT, "job runner already started")
	}
	r.state = 1
	loopCtx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.loopEnd = make(chan struct{})
	go r.loop(loopCtx)
	r.log.Info("job runner started", "workers", r.cfg.Workers, "kinds", r.kinds)
	return nil
}

// Stop stops claiming jobs and waits for the running ones to finish until
// ctx is done; those still running then are cancelled and handed back to the
// queue, where another instance (or this one after a restart) runs them
// again, resuming from their checkpoints. It returns ctx's error when jobs
// had to be handed back, nil when all finished. Stopping twice is a no-op.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.state != 1 {
		r.state = 2
		r.mu.Unlock()
		return nil
	}
	r.state = 2
	r.cancel()
	r.mu.Unlock()
	<-r.loopEnd
	done := make(chan struct{})
	go func() { r.workers.Wait(); close(done) }()
	select {
	case <-done:
		r.log.Info("job runner stopped")
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	n := len(r.active)
	for _, a := range r.active {
		a.handBack = true
		a.cancel()
	}
	r.mu.Unlock()
	<-done
	r.log.Info("job runner stopped; running jobs handed back", "jobs", n)
	return ctx.Err()
}

// Trigger enqueues a job of kind for a profile to run as soon as a runner is
// free, and returns its ID. ENOTFOUND when the profile does not exist,
// EINVALID for a kind no runner here knows, ECONFLICT when the profile
// already has a job of that kind waiting or running.
func (r *Runner) Trigger(ctx context.Context, profileID int64, kind Kind) (int64, error) {
	if _, ok := r.handlers[kind]; !ok {
		return 0, sam.Errorf(sam.EINVALID, "unknown job kind %q; known: %v", kind, r.kinds)
	}
	if _, err := r.cfg.Store.Profile(ctx, profileID); err != nil {
		return 0, err
	}
	id, err := r.qu.insert(ctx, r.clock.Now(), kind, profileID, r.cfg.MaxAttempts)
	if err != nil {
		return 0, err
	}
	r.log.Info("job triggered", "job", id, "kind", kind, "profile", profileID)
	r.poke()
	return id, nil
}

// Job returns one job; ENOTFOUND when absent.
func (r *Runner) Job(ctx context.Context, id int64) (*Job, error) { return r.qu.job(ctx, id) }

// Jobs returns the jobs matching f, newest first.
func (r *Runner) Jobs(ctx context.Context, f JobFilter) ([]*Job, error) { return r.qu.jobs(ctx, f) }

// Attempts returns the attempts of a job in order (empty when it never
// started or does not exist).
func (r *Runner) Attempts(ctx context.Context, jobID int64) ([]Attempt, error) {
	return r.qu.attempts(ctx, jobID)
}

// Schedules returns every schedule, by name.
func (r *Runner) Schedules(ctx context.Context) ([]Schedule, error) { return r.qu.schedules(ctx) }

// SetSchedule changes a schedule's spec (see ParseSpec) and whether it is
// enabled; its next slot is recomputed from now. The change is stored, so it
// applies to every instance and survives restarts. EINVALID for a bad spec,
// ENOTFOUND for an unknown schedule name.
func (r *Runner) SetSchedule(ctx context.Context, name, spec string, enabled bool) (*Schedule, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	s, err := r.qu.setSchedule(ctx, r.clock.Now(), name, sp, enabled)
	if err == nil {
		r.log.Info("job schedule changed", "schedule", name, "spec", s.Spec, "enabled", enabled)
		r.poke()
	}
	return s, err
}

// Poke makes the runner look for due schedules and jobs now instead of at
// its next poll (tests moving a fake clock call it after each move).
func (r *Runner) Poke() { r.poke() }

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stats counts what this runner did since New. Each job state change is
// counted by the instance that made it.
type Stats struct {
	Enqueued   int // jobs enqueued from schedules
	Started    int // attempts started
	Succeeded  int
	Skipped    int
	Failed     int // failed for good
	Retried    int // attempts failed and scheduled again with backoff
	Rescued    int // jobs of dead instances handed back to the queue (or failed when out of attempts)
	HandedBack int // jobs handed back at shutdown
}

// Stats returns this runner's counters (for metrics).
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Runner) count(fn func(*Stats)) {
	r.mu.Lock()
	fn(&r.stats)
	r.mu.Unlock()
}

// Counts returns how many jobs of each kind are in each state, across all
// instances sharing the database.
func (r *Runner) Counts(ctx context.Context) (map[Kind]map[State]int, error) {
	return r.qu.counts(ctx)
}

// Running returns the IDs of the jobs this runner is working on.
func (r *Runner) Running() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.active))
	for id := range r.active {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.loopEnd)
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		r.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// tick does one round: rescue expired leases, enqueue due schedules, claim
// jobs while workers are free.
func (r *Runner) tick(ctx context.Context) {
	now := r.clock.Now()
	if ids, err := r.qu.rescue(ctx, now, r.Running()); err != nil {
		r.logErr(ctx, "rescue jobs", err)
	} else if len(ids) > 0 {
		r.count(func(s *Stats) { s.Rescued += len(ids) })
		r.log.Warn("jobs of a stopped instance picked up again", "jobs", ids)
	}
	if now.Sub(r.pruned) >= time.Hour {
		if n, err := r.qu.prune(ctx, now.Add(-r.cfg.Retention)); err != nil {
			r.logErr(ctx, "delete old jobs", err)
		} else {
			r.pruned = now
			if n > 0 {
				r.log.Info("old finished jobs deleted", "jobs", n, "retention", r.cfg.Retention)
			}
		}
	}
	if n, err := r.qu.enqueueDue(ctx, now, r.cfg.MaxAttempts); err != nil {
		r.logErr(ctx, "enqueue scheduled jobs", err)
	} else if n > 0 {
		r.count(func(s *Stats) { s.Enqueued += n })
		r.log.Info("scheduled jobs enqueued", "jobs", n)
	}
	for ctx.Err() == nil {
		r.mu.Lock()
		free := len(r.active) < r.cfg.Workers
		r.mu.Unlock()
		if !free {
			return
		}
		j, err := r.qu.claim(ctx, r.clock.Now(), r.cfg.Instance, r.cfg.Lease, r.kinds)
		if err != nil {
			r.logErr(ctx, "claim a job", err)
			return
		}
		if j == nil {
			return
		}
		r.launch(j)
	}
}

func (r *Runner) logErr(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.log.Error("job runner: "+what, "err", err)
}

func (r *Runner) launch(j *Job) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	a := &active{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.active[j.ID] = a
	r.mu.Unlock()
	r.workers.Add(1)
	go func() {
		defer r.workers.Done()
		defer func() {
			r.mu.Lock()
			delete(r.active, j.ID)
			r.mu.Unlock()
			cancel()
			r.poke()
		}()
		r.work(ctx, a, j)
	}()
}

// work runs one claimed job with lease renewal and records its end.
func (r *Runner) work(ctx context.Context, a *active, j *Job) {
	log := r.log.With("job", j.ID, "kind", j.Kind, "profile", j.ProfileID, "attempt", j.Attempt)
	// The lease was computed from the time read before the claim: a claim
	// delayed (a loaded machine, a clock moved meanwhile) may hold a lease
	// that has expired already, which another instance may have rescued.
	// Renew it from the time now before doing anything.
	if ok, err := r.qu.renew(ctx, r.clock.Now(), j, r.cfg.Instance, r.cfg.Lease); err == nil && !ok {
		log.Warn("job taken over by another instance before its attempt began; not running it here")
		return
	} else if err != nil {
		log.Warn("job lease not renewed at start; the heartbeat tries again", "err", err)
	}
	log.Info("job started")
	r.count(func(s *Stats) { s.Started++ })
	var lost bool
	var lostMu sync.Mutex
	hbDone := make(chan struct{})
	hbStop := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-hbStop:
				return
			case <-t.C:
			}
			ok, err := r.qu.renew(context.Background(), r.clock.Now(), j, r.cfg.Instance, r.cfg.Lease)
			if err != nil {
				log.Warn("job lease not renewed", "err", err)
				continue
			}
			if !ok {
				lostMu.Lock()
				lost = true
				lostMu.Unlock()
				log.Warn("job lease lost: another instance took the job over; cancelling this attempt")
				a.cancel()
				return
			}
		}
	}()
	out, err := r.call(ctx, j)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = sam.Wrap(sam.EUNAVAILABLE, err, "job %d (%s) ran longer than %s", j.ID, j.Kind, r.cfg.Timeout)
	}
	close(hbStop)
	<-hbDone

	bg, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := r.clock.Now()
	r.mu.Lock()
	handBack := a.handBack
	r.mu.Unlock()
	lostMu.Lock()
	wasLost := lost
	lostMu.Unlock()
	switch {
	case wasLost:
		return
	case handBack && err != nil:
		if herr := r.qu.handBack(bg, now, j, r.cfg.Instance, out); herr != nil {
			log.Error("job not handed back; it runs again once its lease expires", "err", herr)
			return
		}
		r.count(func(s *Stats) { s.HandedBack++ })
		log.Info("job handed back at shutdown")
		return
	}
	var (
		state   State
		outcome string
		retryAt time.Time
		errText string
	)
	switch {
	case err == nil && out.Skipped:
		state, outcome = StateSkipped, "skipped"
	case err == nil:
		state, outcome = StateSucceeded, "succeeded"
	case IsPermanent(err) || j.Attempt >= j.MaxAttempts:
		state, outcome, errText = StateFailed, "failed", err.Error()
	default:
		state, outcome, errText = StateAvailable, "retry", err.Error()
		retryAt = now.Add(r.cfg.Backoff(j.Attempt))
	}
	ok, ferr := r.qu.finish(bg, now, j, r.cfg.Instance, state, retryAt, outcome, out, errText)
	if ferr == nil && ok {
		r.count(func(s *Stats) {
			switch state {
			case StateSucceeded:
				s.Succeeded++
			case StateSkipped:
				s.Skipped++
			case StateFailed:
				s.Failed++
			default:
				s.Retried++
			}
		})
	}
	switch {
	case ferr != nil:
		log.Error("job end not recorded; it runs again once its lease expires", "err", ferr)
	case !ok:
		log.Warn("job end not recorded: its lease expired and another instance took it over")
	case state == StateAvailable:
		log.Warn("job failed; retrying later", "err", errText, "retry_at", retryAt)
	case state == StateFailed:
		log.Error("job failed", "err", errText)
	default:
		log.Info("job "+outcome, "result", out.Result, "runs", out.RunIDs)
	}
}

// call runs the handler, turning a panic into an error.
func (r *Runner) call(ctx context.Context, j *Job) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job %d (%s) panicked: %v", j.ID, j.Kind, p)
		}
	}()
	return r.handlers[j.Kind](ctx, j)
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the runner fails the job at once instead of
// retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether retrying err cannot help: it was wrapped by
// Permanent, or is an ingest error that needs an operator (credentials
// rejected, permission missing), or the input was invalid.
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	return sam.IsCode(err, sam.EUNAUTHORIZED) || sam.IsCode(err, sam.EFORBIDDEN) || sam.IsCode(err, sam.EINVALID)
}
