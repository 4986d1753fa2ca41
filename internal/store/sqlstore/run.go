package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// stagingTables are the tables holding what runs staged, keyed by run_id.
var stagingTables = []string{"staging_users", "staging_licenses", "staging_system_users", "staging_activity"}

// stagedBy returns the staging tables a run of kind k stages into (all of
// them for a kind that stages nothing of its own).
func stagedBy(k sam.RunKind) []string {
	switch k {
	case sam.RunSubscriptions:
		return stagingTables[:2]
	case sam.RunActivity:
		return stagingTables[2:]
	}
	return stagingTables
}

func validKind(k sam.RunKind) bool {
	return k == sam.RunSubscriptions || k == sam.RunActivity || k == sam.RunReconciliation
}

// StartRun inserts a running run and sets its ID, Status and StartedAt (when
// zero). EINVALID for an unknown kind, ENOTFOUND when the profile does not
// exist.
func (s *Store) StartRun(ctx context.Context, r *sam.Run) error {
	if r == nil || !validKind(r.Kind) {
		return sam.Errorf(sam.EINVALID, "start run: unknown run kind")
	}
	counts, warnings, err := markRunning(r)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "start run")
	}
	err = s.inTx(ctx, fmt.Sprintf("start %s run of profile %d", r.Kind, r.ProfileID), func(tx *sql.Tx) error {
		return s.insertRun(ctx, tx, r, counts, warnings)
	})
	if err == nil {
		s.startSummary(r)
	}
	return err
}

// markRunning makes r a running run started at StartedAt (now when zero)
// and returns its counts and warnings as stored.
func markRunning(r *sam.Run) (counts, warnings string, err error) {
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	r.StartedAt = timestamp(r.StartedAt)
	r.Status, r.FinishedAt = sam.RunRunning, nil
	return runJSON(r)
}

// insertRun inserts r (counts and warnings from markRunning) and sets its
// ID; ENOTFOUND when its profile does not exist.
func (s *Store) insertRun(ctx context.Context, tx *sql.Tx, r *sam.Run, counts, warnings string) error {
	if err := s.requireProfile(ctx, tx, r.ProfileID, false); err != nil {
		return err
	}
	return tx.QueryRowContext(ctx, `INSERT INTO runs (profile_id, kind, status, full_run, started_at, counts,
		requests, throttles, retries, warnings, error, checkpoint)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		r.ProfileID, string(r.Kind), string(r.Status), r.Full, s.ts(r.StartedAt), counts, r.Requests, r.Throttles,
		r.Retries, warnings, r.Error, r.Checkpoint).Scan(&r.ID)
}

func runJSON(r *sam.Run) (counts, warnings string, err error) {
	c := r.Counts
	if c == nil {
		c = map[string]int64{}
	}
	w := r.Warnings
	if w == nil {
		w = []string{}
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	wb, err := json.Marshal(w)
	if err != nil {
		return "", "", err
	}
	return string(cb), string(wb), nil
}

// lockRunningRun checks that run r exists, is running and (unless kind is
// "") is of that kind, locking its row on PostgreSQL until the transaction
// ends. ENOTFOUND, ECONFLICT or EINVALID.
func (s *Store) lockRunningRun(ctx context.Context, tx *sql.Tx, r *sam.Run, kind sam.RunKind) error {
	if r == nil {
		return sam.Errorf(sam.EINVALID, "run is missing")
	}
	var status, gotKind string
	var profileID int64
	err := tx.QueryRowContext(ctx, `SELECT status, profile_id, kind FROM runs WHERE id = $1`+s.d.ForUpdate, r.ID).Scan(&status, &profileID, &gotKind)
	if errors.Is(err, sql.ErrNoRows) {
		return sam.Errorf(sam.ENOTFOUND, "run %d not found", r.ID)
	}
	if err != nil {
		return err
	}
	if sam.RunStatus(status) != sam.RunRunning {
		return sam.Errorf(sam.ECONFLICT, "run %d has already %s", r.ID, status)
	}
	if kind != "" && sam.RunKind(gotKind) != kind {
		return sam.Errorf(sam.EINVALID, "run %d is a %s run, not a %s run", r.ID, gotKind, kind)
	}
	if r.ProfileID != 0 && r.ProfileID != profileID {
		return sam.Errorf(sam.EINVALID, "run %d belongs to profile %d, not %d", r.ID, profileID, r.ProfileID)
	}
	r.ProfileID = profileID
	return nil
}

// saveProgress stores r's counters, warnings, checkpoint and error (the
// last error of a run that stays resumable).
func (s *Store) saveProgress(ctx context.Context, tx *sql.Tx, r *sam.Run) error {
	counts, warnings, err := runJSON(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET counts = $2, requests = $3, throttles = $4, retries = $5,
		warnings = $6, checkpoint = $7, error = $8 WHERE id = $1`,
		r.ID, counts, r.Requests, r.Throttles, r.Retries, warnings, r.Checkpoint, r.Error)
	return err
}

// SaveRunProgress stores the run's counters, warnings, checkpoint and
// Error (the last error of a run that stays resumable). ENOTFOUND when the run does not exist, ECONFLICT when it has finished.
func (s *Store) SaveRunProgress(ctx context.Context, r *sam.Run) error {
	return s.inTx(ctx, fmt.Sprintf("save progress of run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, ""); err != nil {
			return err
		}
		return s.saveProgress(ctx, tx, r)
	})
}

func runID(r *sam.Run) int64 {
	if r == nil {
		return 0
	}
	return r.ID
}

// finishRun stores r's final state, clears its checkpoint and empties its
// staging area.
func (s *Store) finishRun(ctx context.Context, tx *sql.Tx, r *sam.Run) error {
	s.dropSummary(r.ID)
	if r.FinishedAt == nil || r.FinishedAt.IsZero() {
		now := time.Now()
		r.FinishedAt = &now
	}
	fin := timestamp(*r.FinishedAt)
	r.FinishedAt, r.Checkpoint = &fin, nil
	counts, warnings, err := runJSON(r)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = $2, finished_at = $3, counts = $4, requests = $5,
		throttles = $6, retries = $7, warnings = $8, error = $9, checkpoint = NULL WHERE id = $1`,
		r.ID, string(r.Status), s.ts(fin), counts, r.Requests, r.Throttles, r.Retries, warnings, r.Error); err != nil {
		return err
	}
	if err := s.snapshotAfterRun(ctx, tx, r); err != nil {
		return err
	}
	return s.discard(ctx, tx, r.ID)
}

// discard deletes what run runID staged. A staging table that holds only
// this run's rows (the usual case: one run at a time) is emptied whole,
// which frees its pages instead of removing rows and index entries one by
// one (1.4 million staged audit rows of a first sync: 0.45 s of DELETE on
// PostgreSQL, and as many dead rows left for autovacuum). On SQLite, whose
// write transactions exclude each other, that is a DELETE without WHERE
// (the staging tables have no foreign key and no trigger since migration
// 0040, which SQLite's shortcut requires). On PostgreSQL it is a TRUNCATE
// under the table's exclusive lock, taken without waiting (NOWAIT, in a
// savepoint) and with the check for other runs' rows repeated under it;
// when another transaction holds the table (a run staging), the run's rows
// are deleted by run instead.
func (s *Store) discard(ctx context.Context, q querier, runID int64) error {
	var kind string
	if err := q.QueryRowContext(ctx, `SELECT kind FROM runs WHERE id = $1`, runID).Scan(&kind); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	for _, t := range stagedBy(sam.RunKind(kind)) {
		alone, err := s.stagedAlone(ctx, q, t, runID)
		if err != nil {
			return err
		}
		var own bool
		if alone && s.d.Name == "postgres" {
			// Nothing to delete: no lock to take.
			if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE run_id = $1)`, runID).Scan(&own); err != nil {
				return err
			}
			if !own {
				continue
			}
		}
		if alone {
			switch s.d.Name {
			case "sqlite":
				if _, err := q.ExecContext(ctx, `DELETE FROM `+t); err != nil {
					return err
				}
				continue
			case "postgres":
				done, err := s.truncateAlone(ctx, q, t, runID)
				if err != nil {
					return err
				}
				if done {
					continue
				}
			}
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM `+t+` WHERE run_id = $1`, runID); err != nil {
			return err
		}
	}
	return nil
}

// stagedAlone reports whether staging table t holds rows of run runID only
// (or none): two probes of its run_id index. PostgreSQL's staging_activity
// has no such index (migration 0055): only running runs have staged rows
// (finishing a run removes them), so there the table is alone when no
// other activity run is running.
func (s *Store) stagedAlone(ctx context.Context, q querier, t string, runID int64) (bool, error) {
	var others bool
	if t == "staging_activity" && s.d.Name == "postgres" {
		err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE status = $2 AND kind = $3 AND id <> $1)`,
			runID, string(sam.RunRunning), string(sam.RunActivity)).Scan(&others)
		return !others, err
	}
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE run_id < $1)
		OR EXISTS (SELECT 1 FROM `+t+` WHERE run_id > $1)`, runID).Scan(&others)
	return !others, err
}

// truncateAlone empties staging table t on PostgreSQL when it can lock it
// at once and it still holds rows of run runID only; it reports whether it
// did. The lock is held until the transaction ends: other runs' staging
// waits for the rest of this commit.
func (s *Store) truncateAlone(ctx context.Context, q querier, t string, runID int64) (bool, error) {
	if _, err := q.ExecContext(ctx, `SAVEPOINT discard_staging`); err != nil {
		return false, err
	}
	if _, err := q.ExecContext(ctx, `LOCK TABLE `+t+` IN ACCESS EXCLUSIVE MODE NOWAIT`); err != nil {
		if s.d.Classify(err) != ErrLockNotAvailable {
			return false, err
		}
		_, err := q.ExecContext(ctx, `ROLLBACK TO SAVEPOINT discard_staging`)
		return false, err
	}
	alone, err := s.stagedAlone(ctx, q, t, runID)
	if err != nil {
		return false, err
	}
	if alone {
		if _, err := q.ExecContext(ctx, `TRUNCATE `+t); err != nil {
			return false, err
		}
	}
	_, err = q.ExecContext(ctx, `RELEASE SAVEPOINT discard_staging`)
	return alone, err
}

// FinishRun stores the final state of a run (status, finish time, now when
// nil, counters, warnings, error), clears its checkpoint and removes what it
// staged: a finished run cannot resume. EINVALID when r.Status is not
// succeeded or failed, ENOTFOUND when the run does not exist, ECONFLICT when
// it has already finished.
func (s *Store) FinishRun(ctx context.Context, r *sam.Run) error {
	if r == nil || (r.Status != sam.RunSucceeded && r.Status != sam.RunFailed) {
		return sam.Errorf(sam.EINVALID, "finish run %d: status must be succeeded or failed", runID(r))
	}
	return s.inTx(ctx, fmt.Sprintf("finish run %d", r.ID), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, ""); err != nil {
			return err
		}
		return s.finishRun(ctx, tx, r)
	})
}

const runColumns = `id, profile_id, kind, status, full_run, started_at, finished_at, counts, requests, throttles,
	retries, warnings, error, checkpoint`

func scanRun(sc interface{ Scan(...any) error }) (*sam.Run, error) {
	r := &sam.Run{}
	var kind, status, counts, warnings string
	var started, finished nullTime
	if err := sc.Scan(&r.ID, &r.ProfileID, &kind, &status, &r.Full, &started, &finished, &counts, &r.Requests,
		&r.Throttles, &r.Retries, &warnings, &r.Error, &r.Checkpoint); err != nil {
		return nil, err
	}
	r.Kind, r.Status = sam.RunKind(kind), sam.RunStatus(status)
	r.StartedAt, r.FinishedAt = started.Time, finished.ptr()
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return nil, fmt.Errorf("counts of run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(warnings), &r.Warnings); err != nil {
		return nil, fmt.Errorf("warnings of run %d: %w", r.ID, err)
	}
	if len(r.Warnings) == 0 {
		r.Warnings = nil
	}
	if len(r.Checkpoint) == 0 {
		r.Checkpoint = nil
	}
	return r, nil
}

// Run returns a run; ENOTFOUND when absent.
func (s *Store) Run(ctx context.Context, id int64) (*sam.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "run %d not found", id)
	}
	if err != nil {
		return nil, s.fail(err, "read run %d", id)
	}
	return r, nil
}

// Runs returns runs matching f, newest first (by start time, then ID).
func (s *Store) Runs(ctx context.Context, f store.RunFilter) ([]*sam.Run, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+a.add(string(f.Kind)))
	}
	if f.Status != "" {
		where = append(where, "status = "+a.add(string(f.Status)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY started_at DESC, id DESC LIMIT `+a.add(limit), a...)
	if err != nil {
		return nil, s.fail(err, "list runs")
	}
	defer rows.Close()
	var out []*sam.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.fail(err, "list runs")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list runs")
	}
	return out, nil
}

// UnfinishedRun returns the newest running run of a profile and kind, the
// one a restarted sync resumes; ENOTFOUND when there is none.
func (s *Store) UnfinishedRun(ctx context.Context, profileID int64, kind sam.RunKind) (*sam.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE profile_id = $1 AND kind = $2 AND status = $3 ORDER BY started_at DESC, id DESC LIMIT 1`,
		profileID, string(kind), string(sam.RunRunning)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "no unfinished %s run for profile %d", kind, profileID)
	}
	if err != nil {
		return nil, s.fail(err, "find unfinished run of profile %d", profileID)
	}
	return r, nil
}

// DiscardStaging removes everything staged by a run.
func (s *Store) DiscardStaging(ctx context.Context, runID int64) error {
	return s.inTx(ctx, fmt.Sprintf("discard staging of run %d", runID), func(tx *sql.Tx) error {
		return s.discard(ctx, tx, runID)
	})
}

// SyncState returns what a profile's next sync starts from; the zero
// SyncState before the first committed run. ENOTFOUND when the profile does
// not exist.
func (s *Store) SyncState(ctx context.Context, profileID int64) (store.SyncState, error) {
	var st store.SyncState
	var subs, act nullTime
	err := s.db.QueryRowContext(ctx, `SELECT delta_link, last_subscriptions_sync, last_activity_sync
		FROM sync_state WHERE profile_id = $1`, profileID).Scan(&st.DeltaLink, &subs, &act)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.requireProfile(ctx, s.db, profileID, false); err != nil {
			return st, s.fail(err, "read sync state of profile %d", profileID)
		}
		return st, nil
	}
	if err != nil {
		return st, s.fail(err, "read sync state of profile %d", profileID)
	}
	st.LastSubscriptionsSync, st.LastActivitySync = subs.Time, act.Time
	return st, nil
}
