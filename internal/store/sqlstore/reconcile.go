package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// reconcileLockKey is the PostgreSQL advisory lock class of reconciliation
// locks (0x5ea70002, "seat" 2; the migration lock is 0x5ea70001): the lock
// of profile p is pg_advisory_lock(reconcileLockKey, p).
const reconcileLockKey = 1571225602

// StartReconciliation takes profile r.ProfileID's reconciliation lock, then
// in one transaction closes the profile's reconciliation runs still
// recorded as running (as failed, "interrupted: superseded by run N") and
// inserts r as running. On PostgreSQL the lock is a session advisory lock
// held on a connection set aside until release; on SQLite it is an
// exclusive lock on the file "<database>-reconcile-<profile>.lock" beside
// the database (an in-process lock for a database in memory). Both end
// with the process that holds them. See store.ReconciliationStore.
func (s *Store) StartReconciliation(ctx context.Context, r *sam.Run) ([]int64, func(), error) {
	if r == nil || (r.Kind != "" && r.Kind != sam.RunReconciliation) {
		return nil, nil, sam.Errorf(sam.EINVALID, "start reconciliation: the run must be a reconciliation run")
	}
	r.Kind = sam.RunReconciliation
	if err := s.requireProfile(ctx, s.db, r.ProfileID, false); err != nil {
		return nil, nil, s.fail(err, "start reconciliation of profile %d", r.ProfileID)
	}
	release, err := s.reconcileLock(ctx, r.ProfileID)
	if err != nil {
		return nil, nil, err
	}
	counts, warnings, err := markRunning(r)
	if err != nil {
		release()
		return nil, nil, sam.Wrap(sam.EINVALID, err, "start reconciliation of profile %d", r.ProfileID)
	}
	var closed []int64
	err = s.inTx(ctx, fmt.Sprintf("start reconciliation run of profile %d", r.ProfileID), func(tx *sql.Tx) error {
		closed = closed[:0]
		if err := s.insertRun(ctx, tx, r, counts, warnings); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE profile_id = $1 AND kind = $2 AND status = $3
			AND id <> $4 ORDER BY id`, r.ProfileID, string(sam.RunReconciliation), string(sam.RunRunning), r.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			closed = append(closed, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range closed {
			old := &sam.Run{ID: id, ProfileID: r.ProfileID}
			if err := s.lockRunningRun(ctx, tx, old, sam.RunReconciliation); err != nil {
				return err
			}
			prev, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
			if err != nil {
				return err
			}
			prev.Status, prev.Error = sam.RunFailed, fmt.Sprintf("interrupted: superseded by run %d", r.ID)
			if err := s.finishRun(ctx, tx, prev); err != nil {
				return fmt.Errorf("close interrupted run %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		release()
		return nil, nil, err
	}
	return closed, release, nil
}

// reconcileLock takes profile profileID's reconciliation lock and returns
// the function that frees it (idempotent).
func (s *Store) reconcileLock(ctx context.Context, profileID int64) (func(), error) {
	if s.d.Name == "postgres" {
		return s.advisoryLock(ctx, profileID)
	}
	var file string
	if err := s.db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		return nil, s.fail(err, "reconciliation lock of profile %d: find the database file", profileID)
	}
	if file == "" {
		return memoryLock(ctx, s, profileID)
	}
	path := fmt.Sprintf("%s-reconcile-%d.lock", file, profileID)
	release, err := lockFile(ctx, path)
	if err != nil {
		return nil, s.fail(err, "reconciliation lock of profile %d (%s)", profileID, path)
	}
	return release, nil
}

// advisoryLock takes a PostgreSQL session advisory lock on a connection of
// its own, kept out of the pool until release: the lock lasts as long as
// that session, which ends with the process.
func (s *Store) advisoryLock(ctx context.Context, profileID int64) (func(), error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.fail(err, "reconciliation lock of profile %d: connect", profileID)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, reconcileLockKey, int32(profileID)); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn }) // drop a session whose lock state is unknown
		conn.Close()
		return nil, s.fail(err, "reconciliation lock of profile %d: wait for the other reconciliation", profileID)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, reconcileLockKey, int32(profileID))
			if err != nil {
				// The session may still hold the lock: end it rather than
				// return it to the pool.
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			conn.Close()
		})
	}, nil
}

// memoryLocks are the reconciliation locks of in-memory SQLite databases,
// which no other process can open.
var memoryLocks sync.Map // memoryLockKey → chan struct{} (capacity 1)

type memoryLockKey struct {
	s         *Store
	profileID int64
}

func memoryLock(ctx context.Context, s *Store, profileID int64) (func(), error) {
	v, _ := memoryLocks.LoadOrStore(memoryLockKey{s, profileID}, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "reconciliation lock of profile %d: interrupted while another reconciliation runs", profileID)
	}
	var once sync.Once
	return func() { once.Do(func() { <-ch }) }, nil
}

// lockPoll is how long lockFile waits between attempts, at most.
const lockPoll = 100 * time.Millisecond

// lockFile takes an exclusive lock on the file at path (created when
// missing), trying again until it is free or ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	wait := 5 * time.Millisecond
	for {
		release, busy, err := tryLockFile(path)
		if err != nil {
			return nil, err
		}
		if !busy {
			var once sync.Once
			return func() { once.Do(release) }, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "interrupted while another reconciliation runs")
		}
		wait = min(2*wait, lockPoll)
	}
}
