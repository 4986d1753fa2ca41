package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
)

// KindReclaim evaluates a profile's reclamation rules and runs its removal
// candidates' workflow (internal/reclaim): Engine.Evaluate, then
// Engine.Advance. With Config.Reclaim the sync kinds do the same right after
// every successful activity run, and a KindReclaim job is queued, as a
// durable timer, at the next candidate's DueAt; it can also be triggered by
// hand.
const KindReclaim Kind = "reclaim"

// addReclaim registers the reclamation kind when Config.Reclaim is set (and
// Handlers does not replace it).
func (r *Runner) addReclaim() {
	if !r.cfg.Reclaim {
		return
	}
	if _, replaced := r.cfg.Handlers[KindReclaim]; !replaced {
		r.handlers[KindReclaim] = r.reclaimHandler
	}
}

// ReclaimEngine returns the reclamation engine this runner's jobs use: the
// runner's store, clock and notifier, Graph clients built like the sync
// jobs', and timers scheduled as KindReclaim jobs.
func (r *Runner) ReclaimEngine() *reclaim.Engine {
	e := &reclaim.Engine{Store: r.cfg.Store, Notifier: r.cfg.Notifier, Now: r.clock.Now, Logger: r.log.With("kind", KindReclaim),
		Schedule: r.ScheduleReclaim}
	if r.cfg.Keyring != nil {
		e.Graph = reclaim.ProfileGraph(r.cfg.Store, r.cfg.Keyring, r.cfg.Client)
	}
	return e
}

func (r *Runner) reclaimHandler(ctx context.Context, j *Job) (Outcome, error) {
	p, err := r.cfg.Store.Profile(ctx, j.ProfileID)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return Outcome{Skipped: true, Result: fmt.Sprintf("profile %d no longer exists", j.ProfileID)}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	if reason := skipReason(p); reason != "" {
		return Outcome{Skipped: true, Result: reason}, nil
	}
	e := r.ReclaimEngine()
	ev, err := e.Evaluate(ctx, p)
	if err != nil {
		return Outcome{}, permanentIf(err)
	}
	res, err := e.Advance(ctx, p, reclaim.RunOptions{})
	if err != nil {
		return Outcome{}, permanentIf(err)
	}
	return Outcome{Result: fmt.Sprintf("rules evaluated: %d subscriptions, %d new candidates, %d canceled, %d open; workflow: %s",
		ev.Evaluated, ev.Created, ev.Canceled, ev.Open, res.Summary())}, nil
}

// permanentIf marks errors a retry cannot fix (credentials, permissions,
// invalid configuration) permanent.
func permanentIf(err error) error {
	switch sam.ErrorCode(err) {
	case sam.EUNAUTHORIZED, sam.EFORBIDDEN, sam.EINVALID:
		return Permanent(err)
	}
	return err
}

// afterDownload creates the default reclamation rule of every tracked
// model the profile holds after a successful download (when reclamation is
// on); existing rules are kept. A failure is logged: the next evaluation
// creates them.
func (r *Runner) afterDownload(ctx context.Context, p *sam.Profile) {
	if _, ok := r.handlers[KindReclaim]; !ok {
		return
	}
	if n, err := r.ReclaimEngine().EnsureRules(ctx, p); err != nil {
		r.log.Error("reclamation rules not created after the download", "profile", p.Name, "err", err)
	} else if n > 0 {
		r.log.Info("reclamation rules created", "profile", p.Name, "rules", n)
	}
}

// afterActivity evaluates the profile's reclamation rules and runs its
// workflow right after a successful activity run, inside the sync job (when
// reclamation is on), and says what it did. A failure is logged and
// reported, not returned: the sync itself succeeded, and the next timer or
// sync evaluates again.
func (r *Runner) afterActivity(ctx context.Context, p *sam.Profile) string {
	if _, ok := r.handlers[KindReclaim]; !ok {
		return ""
	}
	e := r.ReclaimEngine()
	// Reload: the activity run changed the environments' audit coverage.
	p, err := r.cfg.Store.Profile(ctx, p.ID)
	if err != nil {
		r.log.Error("reclamation after the activity run failed", "profile", p.ID, "err", err)
		return "reclamation failed: " + sam.ErrorMessage(err)
	}
	ev, err := e.Evaluate(ctx, p)
	if err == nil {
		var res *reclaim.RunResult
		if res, err = e.Advance(ctx, p, reclaim.RunOptions{}); err == nil {
			return fmt.Sprintf("reclamation: %d new candidates, %d canceled, %d open; %s", ev.Created, ev.Canceled, ev.Open, res.Summary())
		}
	}
	r.log.Error("reclamation after the activity run failed", "profile", p.Name, "err", err)
	return "reclamation failed: " + sam.ErrorMessage(err)
}

// ScheduleReclaim makes sure a KindReclaim job of the profile runs at or
// before at: it enqueues one, or moves a waiting one earlier. Waiting jobs
// already due by then are left alone, so that the queue holds at most one
// waiting reclamation job per profile. The job is a row of the queue: it
// survives restarts. EINVALID when reclamation is not enabled in the
// runner's Config.
func (r *Runner) ScheduleReclaim(ctx context.Context, profileID int64, at time.Time) error {
	if _, ok := r.handlers[KindReclaim]; !ok {
		return sam.Errorf(sam.EINVALID, "job runner: reclamation is not enabled")
	}
	qu := r.qu
	err := qu.inTx(ctx, "schedule reclamation", func(tx *sql.Tx) error {
		var id, runAt int64
		err := tx.QueryRowContext(ctx, qu.q(`SELECT id, run_at FROM jobs WHERE profile_id = ? AND kind = ? AND state = ? ORDER BY run_at LIMIT 1`),
			profileID, string(KindReclaim), string(StateAvailable)).Scan(&id, &runAt)
		switch {
		case err == nil:
			if runAt <= micros(at) {
				return nil
			}
			_, err = tx.ExecContext(ctx, qu.q(`UPDATE jobs SET run_at = ? WHERE id = ?`), micros(at), id)
			return err
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, qu.q(`INSERT INTO jobs (kind, profile_id, state, max_attempts, run_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
				string(KindReclaim), profileID, string(StateAvailable), r.cfg.MaxAttempts, micros(at), micros(r.clock.Now()))
			return err
		}
		return err
	})
	if err == nil {
		r.poke()
	}
	return err
}
