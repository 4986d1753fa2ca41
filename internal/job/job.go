// Package job runs Seatwise's background work — the daily download of
// subscriptions and calculation of activity of every profile, and the weekly
// reconciliation — from a durable queue in the database, on SQLite and
// PostgreSQL alike.
//
// Jobs live in the jobs table. A Runner claims a job that is due by taking a
// lease on it (owner and expiry) in one transaction: SELECT … FOR UPDATE SKIP
// LOCKED on PostgreSQL, a write transaction (BEGIN IMMEDIATE) on SQLite. While
// the job works the runner renews the lease; a runner that dies stops
// renewing, and once the lease has expired any runner hands the job back to
// the queue (or fails it when its attempts are spent), so that a killed
// instance's job is picked up by another. A job that fails is retried with
// exponential backoff until it succeeds, fails permanently (credentials
// rejected, permission missing) or runs out of attempts. Every attempt is
// recorded in job_attempts.
//
// A job may thus run more than once (an instance can die after the job's
// work committed but before its success was recorded), yet its work
// commits once: the built-in kinds name each run on the job, fenced by the
// lease, as soon as they start or resume it, and a retry skips the work
// whose run the job names as succeeded (see Job.RunIDs).
//
// Schedules (job_schedules) are rows too: each names a kind, a spec such as
// "daily 02:00" and the next time it is due. The first runner to see a due
// schedule enqueues one job per profile for that slot (a unique index makes
// a slot enqueue at most once however many instances race) and moves the
// schedule to its next time. Schedules survive restarts and are editable with
// SetSchedule.
//
// Several `seatwise serve` processes on one PostgreSQL database share the
// queue; on SQLite several runners work too, but one process is the intended
// deployment. See ../../docs/decisions.md for why this queue and not River.
package job

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// Kind is what a job does.
type Kind string

// Kinds every Runner knows.
const (
	// KindSync downloads a profile's subscriptions, then calculates its
	// activity (what `seatwise sync --profile NAME` does).
	KindSync Kind = "sync"
	// KindSubscriptions only downloads a profile's subscriptions.
	KindSubscriptions Kind = "subscriptions"
	// KindActivity only calculates a profile's activity.
	KindActivity Kind = "activity"
	// KindReconcile records a reconciliation run of a profile: the licence
	// position of every software model, stored as a snapshot.
	KindReconcile Kind = "reconciliation"
)

// State is where a job is in its life.
type State string

// Job states. Available and running jobs are "open"; the others are final.
const (
	StateAvailable State = "available" // waiting until RunAt, then for a free runner
	StateRunning   State = "running"   // leased by Owner until LeaseUntil
	StateSucceeded State = "succeeded" // done
	StateFailed    State = "failed"    // failed permanently or attempts exhausted; Error says why
	StateSkipped   State = "skipped"   // not run (profile paused, needs re-authentication, deleted); Result says why
)

// Final reports whether s is a state a job never leaves.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateSkipped
}

// Job is one unit of background work for one profile.
type Job struct {
	ID          int64
	Kind        Kind
	ProfileID   int64
	Schedule    string    // name of the schedule that enqueued it; "" for a manual trigger
	Slot        time.Time // the schedule's due time it was enqueued for (zero when manual)
	State       State
	Attempt     int       // attempts started so far
	MaxAttempts int       // grows by one each time a runner hands the job back at shutdown, so that a hand-back costs no attempt
	RunAt       time.Time // not before this time (backoff after a failure)
	CreatedAt   time.Time
	StartedAt   *time.Time // start of the latest attempt
	FinishedAt  *time.Time // when it reached a final state
	Owner       string     // instance holding the lease while running
	LeaseUntil  *time.Time // when a running job's lease expires unless renewed
	// RunIDs are the sam.Run records of the job (subscriptions, activity
	// and reconciliation runs, with their counts, requests, throttles and
	// errors). A built-in kind names each run as soon as it starts or
	// resumes it, before the run reads anything, so that a retry after its
	// instance died knows which runs already committed and does only what
	// is left: each phase of a job commits once, and a succeeded job names
	// exactly the runs that did its work. A run belongs to one job, the
	// last that started or resumed it (the one that committed it): a run an
	// interrupted job left unfinished and another job resumed is taken off
	// the first job. A run an interrupted reconciliation left, closed as
	// failed by the retry's run, is replaced by that run. A failed job names
	// the run that failed.
	RunIDs []int64
	Result string // what it did in words, or why it was skipped
	Error  string // the last attempt's error
}

// Attempt is one execution of a job by one instance.
type Attempt struct {
	JobID      int64
	Attempt    int
	Owner      string
	StartedAt  time.Time
	FinishedAt *time.Time
	// Outcome is succeeded, skipped, retry (failed, will be retried), failed,
	// handed_back (shutdown before it finished), lost (its lease expired:
	// the instance died or stalled), or "" while it runs.
	Outcome string
	Error   string
}

// Schedule enqueues a kind of job for every profile at the times of Spec.
type Schedule struct {
	Name      string
	Kind      Kind
	Spec      string // see ParseSpec
	Enabled   bool
	NextAt    time.Time // the next slot; meaningless when disabled
	UpdatedAt time.Time
}

// JobFilter selects jobs. Zero fields match everything; Limit 0 means 100.
type JobFilter struct {
	ProfileID int64
	Kind      Kind
	State     State
	Schedule  string
	BeforeID  int64 // only jobs with a smaller ID (paging, newest first)
	Limit     int
}

// Clock tells the time. Tests move a fake one; the zero Config uses the
// system clock.
type Clock interface {
	Now() time.Time
}

// Outcome is what a Handler reports about a job that returned no error.
type Outcome struct {
	RunIDs  []int64 // sam.Run records written
	Result  string  // a one-line summary
	Skipped bool    // the job had nothing to do for a reason an operator should see (Result)
}

// Handler does the work of one kind of job. ctx is cancelled when the runner
// stops (the job is then handed back) or loses the job's lease. A returned
// error is retried with backoff unless Permanent reports it permanent.
type Handler func(ctx context.Context, j *Job) (Outcome, error)

// Config configures a Runner.
type Config struct {
	// Store is the database; it must be one opened by internal/db (the
	// queue shares its connection pool). Required.
	Store store.Store
	// Keyring opens profiles' client secrets for the sync kinds. Required
	// unless Handlers replaces every sync kind.
	Keyring *secret.Keyring
	// Client tunes the Microsoft clients of sync jobs (HTTPClient nil:
	// system roots plus the profile's CA file).
	Client ingest.ClientOptions
	// HTTPClient, when set, replaces Client.HTTPClient.
	HTTPClient *http.Client
	// Logger receives job starts, ends and failures (slog.Default when nil).
	Logger *slog.Logger
	// Clock is the time of schedules, leases and backoff (system clock when nil).
	Clock Clock
	// Instance names this runner in leases and attempts (default host:pid:random).
	Instance string
	// Workers is how many jobs run at once in this runner (default 2).
	Workers int
	// PollInterval is how often the runner looks for due schedules and
	// jobs when idle (default 2s).
	PollInterval time.Duration
	// Lease is how long a claimed job stays leased without renewal (default
	// 2m); the runner renews it every Heartbeat. A dead runner's job is
	// picked up by another once its lease has expired.
	Lease time.Duration
	// Heartbeat is how often a running job's lease is renewed (default
	// Lease/4).
	Heartbeat time.Duration
	// Timeout bounds one attempt (default 4h); an attempt that runs longer
	// is cancelled and retried.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a job (default 5).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after attempt n failed
	// (default DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// Retention is how long finished jobs (and their attempts) are kept
	// (default 180 days); older ones are deleted about once an hour. The
	// sam.Run records they point to are kept with the runs.
	Retention time.Duration
	// Handlers add kinds or replace the built-in ones.
	Handlers map[Kind]Handler
	// DefaultSchedules are created when missing (never overwritten, so that
	// edits survive restarts). Nil means DefaultSchedules().
	DefaultSchedules []Schedule
	// Reclaim turns reclamation on (see reclaim.go): a KindReclaim job
	// evaluates the rules after each successful activity run and at each
	// removal candidate's timer.
	Reclaim bool
	// Notifier sends reclamation notices (nil: notification not configured).
	Notifier reclaim.Notifier
}

// DefaultSchedules are the schedules a new database starts with: a daily
// sync (subscriptions, then activity) of every profile at 02:00 UTC and a
// weekly reconciliation on Mondays at 04:00 UTC.
func DefaultSchedules() []Schedule {
	return []Schedule{
		{Name: "reconciliation", Kind: KindReconcile, Spec: "weekly mon 04:00", Enabled: true},
		{Name: "sync", Kind: KindSync, Spec: "daily 02:00", Enabled: true},
	}
}

// DefaultBackoff waits 1 minute after the first failure and four times longer
// after each further one, at most 6 hours.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Minute
	for i := 1; i < attempt && d < 6*time.Hour; i++ {
		d *= 4
	}
	return min(d, 6*time.Hour)
}
