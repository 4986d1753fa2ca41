package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// An activity commit reads the evidence its usage recompute needs on a
// second connection, while its own transaction merges the staged evidence
// into activity_days: the merge and the read each take one core, where one
// after the other they took one core twice as long.
//
// The second connection reads what the merge is about to produce, as the
// database stood when the commit took its lock (the commit's transaction
// holds the writer lock on SQLite, the profile's row on PostgreSQL, so no
// other commit of the profile lands before it): the profile's activity days
// and the run's staged evidence (mapped to an Entra user, of an environment
// still the profile's). Summed up by user, that is what reading the merged
// activity days gives: a day is counted once, the newest time wins, and a
// key's merged time passes the analysis start when one of its rows does.

// windowUsage is what the evidence of one user says for one kind of model,
// with the days of the 90-day window as bits: compact enough for every user
// of a large tenant (about 100 bytes a user).
type windowUsage struct {
	last   int64 // Unix microseconds; 0: no evidence
	source uint8 // index into preEvidence.sources
	days   [2]uint64
	more   map[int]bool // days 128 or more after the window's first (clock skew)
}

// add counts one row: idx is its day's offset from the window's first day.
func (u *windowUsage) add(idx int, last int64, source uint8, sources []string) {
	if u.last == 0 || last > u.last || (last == u.last && sources[source] < sources[u.source]) {
		u.last, u.source = last, source
	}
	u.addDay(idx)
}

// addDay counts the day at offset idx from the window's first day (none
// before it).
func (u *windowUsage) addDay(idx int) {
	switch {
	case idx < 0:
	case idx < 128:
		u.days[idx/64] |= 1 << (idx % 64)
	default:
		if u.more == nil {
			u.more = map[int]bool{}
		}
		u.more[idx] = true
	}
}

// usage returns u as the recompute's usage: days30 counts the days at
// offset 60 or more (the last 30 days), days90 all of them.
func (u *windowUsage) usage(sources []string) usage {
	if u.last == 0 {
		return usage{}
	}
	// Offsets 60 to 63 are the top bits of the first word.
	d30 := bits.OnesCount64(u.days[0]>>60) + bits.OnesCount64(u.days[1]) + len(u.more)
	return usage{last: time.UnixMicro(u.last).UTC(), source: sources[u.source], days30: d30,
		days90: bits.OnesCount64(u.days[0]) + bits.OnesCount64(u.days[1]) + len(u.more)}
}

// preEvidence is the evidence of a profile's users read ahead of the
// recompute, by Entra user.
type preEvidence struct {
	users   map[sam.GUID]*[2]windowUsage // tracked, untracked
	sources []string
}

// of returns the evidence of user: nil when it has none.
func (p *preEvidence) of(user string) *userEvidence {
	g, ok := sam.ParseGUID(user)
	if !ok {
		return nil
	}
	w := p.users[g]
	if w == nil {
		return nil
	}
	return &userEvidence{tracked: w[0].usage(p.sources), untracked: w[1].usage(p.sources)}
}

// user returns the evidence of user g, added when new; errTooManyUsers
// past maxUsers users.
func (p *preEvidence) user(g sam.GUID, maxUsers int) (*[2]windowUsage, error) {
	w := p.users[g]
	if w == nil {
		if len(p.users) >= maxUsers {
			return nil, errTooManyUsers
		}
		w = &[2]windowUsage{}
		p.users[g] = w
	}
	return w, nil
}

// readAheadConnWait is how long an activity commit waits for a second
// connection to read its evidence ahead.
const readAheadConnWait = 100 * time.Millisecond

// ReadAheadMaxUsers bounds the users whose evidence an activity commit
// reads ahead (about 100 bytes each: 30 MB at the default). A profile with
// more users' evidence has its recompute read the evidence in the commit's
// transaction instead, batch by batch, so memory does not grow with the
// tenant. A variable so that tests can take the other way.
var ReadAheadMaxUsers = 300_000

// errTooManyUsers stops a read ahead past ReadAheadMaxUsers.
var errTooManyUsers = errors.New("evidence of more users than read ahead")

// errTooManySources stops a read ahead that meets more evidence sources
// than a byte numbers.
var errTooManySources = errors.New("more than 255 evidence sources")

// sourceIndex returns the number of source name in names (idx maps names
// to numbers), adding it when new; false past 255 names.
func sourceIndex(idx map[string]uint8, names *[]string, name string) (uint8, bool) {
	if n, ok := idx[name]; ok {
		return n, true
	}
	if len(*names) == 255 {
		return 0, false
	}
	n := uint8(len(*names))
	idx[name] = n
	*names = append(*names, name)
	return n, true
}

// errNotGUID stops a read ahead that meets a user id it cannot key: the
// recompute then reads the evidence itself.
var errNotGUID = errors.New("activity of a user whose id is not a GUID")

// readEvidence reads, in one read-only transaction on conn, the evidence of
// profileID's users at or after start: its activity days and the mapped
// evidence run runID staged for the profile's environments. d90 is the
// first day of the 90-day window.
func (s *Store) readEvidence(ctx context.Context, conn *sql.Conn, runID, profileID int64, start, d90 time.Time) (*preEvidence, error) {
	var opts *sql.TxOptions
	if s.d.Name == "postgres" {
		// One snapshot for both queries.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	} else {
		// SQLite's readers map the file into memory: every page this
		// read touches (the whole of the run's staged evidence) would
		// count in the process's resident memory, 120 MB at 100,000
		// users. The connection reads through its small page cache
		// instead, and maps again afterwards.
		var mapped int64
		if err := conn.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mapped); err != nil {
			return nil, err
		}
		if mapped > 0 {
			if _, err := conn.ExecContext(ctx, `PRAGMA mmap_size = 0`); err != nil {
				return nil, err
			}
			defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA mmap_size = %d`, mapped))
		}
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	maxUsers := ReadAheadMaxUsers
	p := &preEvidence{users: map[sam.GUID]*[2]windowUsage{}}
	sourceIdx := map[string]uint8{}
	first := dayNumber(d90)
	read := func(query string, args ...any) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var user, source string
		var day, last nullTime
		for rows.Next() {
			if err := rows.Scan(&user, &day, &last, &source); err != nil {
				return err
			}
			g, ok := sam.ParseGUID(user)
			if !ok {
				return errNotGUID
			}
			src, ok := sourceIndex(sourceIdx, &p.sources, source)
			if !ok {
				return errTooManySources
			}
			w, err := p.user(g, maxUsers)
			if err != nil {
				return err
			}
			idx := int(dayNumber(day.Time) - first)
			at := last.Time.UnixMicro()
			if source != string(sam.SourceSignIn) {
				w[0].add(idx, at, src, p.sources)
			}
			w[1].add(idx, at, src, p.sources)
		}
		return rows.Err()
	}
	if err := read(`SELECT user_id, day, last_at, source FROM activity_days WHERE profile_id = $1 AND last_at >= $2`,
		profileID, s.ts(start)); err != nil {
		return nil, fmt.Errorf("read activity days: %w", err)
	}
	if sum := s.summary(runID); sum != nil {
		// The run's evidence as summed up while it was staged (see
		// staged_summary.go), when the database agrees.
		used, err := s.addSummary(ctx, tx, sum, p, sourceIdx, runID, profileID, start, d90, maxUsers)
		if err != nil {
			return nil, err
		}
		if used {
			return p, nil
		}
	}
	if err := read(`SELECT user_id, day, last_at, source FROM staging_activity WHERE run_id = $1 AND user_id <> ''
		AND last_at >= $2 AND environment_id IN (SELECT id FROM environments WHERE profile_id = $3)`,
		runID, s.ts(start), profileID); err != nil {
		return nil, fmt.Errorf("read staged activity: %w", err)
	}
	return p, nil
}

// readAhead is the evidence of an activity commit's recompute read on
// another connection (see readEvidenceAhead). On PostgreSQL it goes on to
// write the recompute's usage there, in a second transaction, while the
// commit's own transaction merges: with 14 indexes on subscriptions, and
// usage columns among the indexed ones, writing every subscription's usage
// on a first sync takes about as long as the merge (4 s of a 100,000-user
// commit), and one after the other they took one core twice as long.
//
// The second transaction commits just before the commit's own (see
// commitUsage): readers can see the new usage a moment before the new
// evidence, never the new evidence with the old usage, which a cache keyed
// on finished runs could keep. Should the commit's own transaction then
// fail, CommitActivity recomputes the usage again from what is stored.
type readAhead struct {
	s      *Store
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends
	read   chan struct{} // closed when the evidence is read (or not)
	pre    *preEvidence  // nil: not read

	// PostgreSQL only: the commit hands over its environments (envs), the
	// goroutine reports the usage it wrote (wrote), the commit says
	// whether to commit it (decide) and learns how that went (committed).
	write     bool
	envs      chan []sam.Environment
	wrote     chan wroteUsage
	decide    chan bool
	committed chan error
}

// wroteUsage is the outcome of the usage written ahead: how many
// subscriptions the recompute examined, or why it failed.
type wroteUsage struct {
	n   int
	err error
}

// readEvidenceAhead starts reading the evidence of the recompute that ends
// the activity commit in tx (run runID of profileID, as of now) on another
// connection: the SQLite file's readers, a second PostgreSQL connection.
// Call it once tx holds the profile's lock, and defer the result's stop.
// Without another connection free within readAheadConnWait (commits that
// each held one and waited for a second would wait for each other when the
// pool runs out) nothing is read, and the recompute reads in tx.
func (s *Store) readEvidenceAhead(ctx context.Context, tx *sql.Tx, runID, profileID int64, now time.Time) (*readAhead, error) {
	q := s.rd
	if s.d.Name == "postgres" {
		q = s.db
	}
	rctx, cancel := context.WithCancel(ctx)
	ra := &readAhead{s: s, cancel: cancel, done: make(chan struct{}), read: make(chan struct{}),
		write: s.d.Name == "postgres", envs: make(chan []sam.Environment, 1), wrote: make(chan wroteUsage, 1),
		decide: make(chan bool, 1), committed: make(chan error, 1)}
	if q == nil {
		ra.write = false
		close(ra.read)
		close(ra.done)
		return ra, nil
	}
	start, _, d90, err := s.usageWindow(ctx, tx, profileID, now)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(ra.done)
		readDone := false
		defer func() {
			if !readDone {
				close(ra.read)
			}
		}()
		cctx, ccancel := context.WithTimeout(rctx, readAheadConnWait)
		conn, err := q.Conn(cctx)
		ccancel()
		if err != nil {
			ra.wrote <- wroteUsage{err: err}
			return
		}
		defer conn.Close()
		pre, err := s.readEvidence(rctx, conn, runID, profileID, start, d90)
		ra.pre, readDone = pre, true
		close(ra.read)
		if !ra.write {
			return
		}
		if err != nil {
			ra.wrote <- wroteUsage{err: err}
			return
		}
		var envs []sam.Environment
		select {
		case envs = <-ra.envs:
		case <-rctx.Done():
			ra.wrote <- wroteUsage{err: rctx.Err()}
			return
		}
		ra.writeUsage(rctx, conn, profileID, now, envs)
	}()
	return ra, nil
}

// usageLockTimeout bounds each lock wait of the usage written ahead: the
// commit waits for that transaction while holding the profile's lock, so a
// writer that holds subscriptions and waits for the profile must not be
// waited for (the commit then recomputes in its own transaction).
const usageLockTimeout = "2s"

// writeUsage runs the recompute in a transaction of its own on conn, with
// the evidence read ahead and the commit's environments, reports it on
// wrote and commits or rolls it back as decide says.
func (ra *readAhead) writeUsage(ctx context.Context, conn *sql.Conn, profileID int64, now time.Time, envs []sam.Environment) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		ra.wrote <- wroteUsage{err: err}
		return
	}
	defer tx.Rollback()
	n, err := 0, error(nil)
	if _, err = tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+usageLockTimeout+`'`); err == nil {
		n, err = ra.s.recomputeWith(ctx, tx, profileID, now, ra.pre, envs)
	}
	ra.wrote <- wroteUsage{n: n, err: err}
	if err != nil {
		return
	}
	select {
	case ok := <-ra.decide:
		if ok {
			ra.committed <- tx.Commit()
		}
	case <-ctx.Done():
	}
}

// evidence waits for the evidence read ahead: nil when it was not read.
func (ra *readAhead) evidence() *preEvidence {
	<-ra.read
	return ra.pre
}

// startUsage hands the commit's environments (as its transaction has
// them, their new audit status included) to the usage written ahead, which
// starts writing once the evidence is read.
func (ra *readAhead) startUsage(envs []sam.Environment) {
	if !ra.write {
		return
	}
	if envs == nil {
		envs = []sam.Environment{}
	}
	ra.envs <- envs
}

// usage waits for the usage written ahead: ok is false when none was
// (SQLite, no connection, a failure; a failed one is rolled back), and the
// commit then recomputes in its own transaction.
func (ra *readAhead) usage() (n int, ok bool) {
	if !ra.write {
		return 0, false
	}
	w := <-ra.wrote
	return w.n, w.err == nil
}

// commitUsage commits the usage written ahead. Call it only after usage
// reported ok, just before committing the commit's own transaction.
func (ra *readAhead) commitUsage() error {
	ra.decide <- true
	return <-ra.committed
}

// stop cancels what is still under way (a usage written ahead and not
// committed is rolled back) and waits for it.
func (ra *readAhead) stop() {
	ra.cancel()
	<-ra.done
}

// addSummary adds run runID's summary sum to p when it can stand for the
// run's staged rows (see stagedSummary.usable), as the database in tx has
// them, and reports whether it did.
func (s *Store) addSummary(ctx context.Context, tx *sql.Tx, sum *stagedSummary, p *preEvidence, sourceIdx map[string]uint8,
	runID, profileID int64, start, d90 time.Time, maxUsers int) (bool, error) {
	var staged int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM staging_activity WHERE run_id = $1`, runID).Scan(&staged); err != nil {
		return false, fmt.Errorf("count staged activity: %w", err)
	}
	list, err := s.environments(ctx, tx, profileID)
	if err != nil {
		return false, fmt.Errorf("read environments: %w", err)
	}
	envs := make(map[int64]bool, len(list))
	for _, e := range list {
		envs[e.ID] = true
	}
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	if !sum.usable(start, d90, envs, staged) {
		return false, nil
	}
	if err := sum.addTo(p, sourceIdx, dayNumber(d90), maxUsers); err != nil {
		return false, err
	}
	s.sums.used.Add(1)
	return true, nil
}
