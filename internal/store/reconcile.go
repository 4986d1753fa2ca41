package store

import (
	"context"

	"github.com/seatwise/seatwise/internal/sam"
)

// ReconciliationStore starts reconciliation runs (sam.RunReconciliation) so
// that one reconciliation per profile executes at a time across every
// process sharing the database, and so that a run left "running" by a
// process that died (SIGKILL, crash, power loss) is closed by the next one
// instead of staying running forever.
type ReconciliationStore interface {
	// StartReconciliation takes the reconciliation lock of r's profile,
	// waiting while another reconciliation of that profile (in this or
	// another process) holds it. The lock is tied to the holder's database
	// session (PostgreSQL) or open lock file (SQLite), so it is released
	// when its process ends, however it ends. Holding it, in one transaction
	// it closes every reconciliation run of the profile still recorded as
	// running (their owner is gone: it would hold the lock) as failed with
	// the error "interrupted: superseded by run N", N being r's ID, and
	// inserts r as a running reconciliation run (setting ID, Status and
	// StartedAt when zero). It returns the IDs of the runs it closed and
	// release, which frees the lock: call it once r is finished (it is safe
	// to call more than once). EINVALID when r is nil or not a
	// reconciliation run, ENOTFOUND when the profile does not exist,
	// EUNAVAILABLE when ctx ends while waiting for the lock.
	StartReconciliation(ctx context.Context, r *sam.Run) (closed []int64, release func(), err error)
}
