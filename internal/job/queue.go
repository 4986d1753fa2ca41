package job

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// queue is the SQL of the jobs tables, the same in both dialects except for
// placeholders and row locks. Times are Unix microseconds.
type queue struct {
	db *sql.DB
	pg bool
}

// q rewrites ? placeholders to $n on PostgreSQL.
func (qu *queue) q(query string) string {
	if !qu.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// skipLocked is the row-lock clause of claims: other instances skip rows one
// has locked. SQLite has one writer at a time (transactions begin IMMEDIATE),
// so it needs none.
func (qu *queue) skipLocked() string {
	if qu.pg {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

func (qu *queue) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := qu.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err, "%s: begin transaction", what)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return dbErr(err, "%s", what)
	}
	if err := tx.Commit(); err != nil {
		return dbErr(err, "%s: commit", what)
	}
	return nil
}

func dbErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var se *sam.Error
	if errors.As(err, &se) {
		return err
	}
	return sam.Wrap(sam.EUNAVAILABLE, err, format, args...)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func optMicros(v int64) *time.Time {
	if v == 0 {
		return nil
	}
	t := fromMicros(v)
	return &t
}

const jobColumns = "id, kind, profile_id, schedule, slot, state, attempt, max_attempts, run_at, lease_owner, lease_until, created_at, started_at, finished_at, run_ids, result, error"

type scanner interface{ Scan(dest ...any) error }

// collect reads every row of rows with scan and closes rows; on a scan
// error it returns nil and that error, else the rows read and rows.Err().
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func scanJob(sc scanner) (*Job, error) {
	var (
		j                                                   Job
		kind, state, runIDs                                 string
		slot, runAt, leaseUntil, created, started, finished int64
	)
	if err := sc.Scan(&j.ID, &kind, &j.ProfileID, &j.Schedule, &slot, &state, &j.Attempt, &j.MaxAttempts, &runAt,
		&j.Owner, &leaseUntil, &created, &started, &finished, &runIDs, &j.Result, &j.Error); err != nil {
		return nil, err
	}
	j.Kind, j.State = Kind(kind), State(state)
	if slot != 0 {
		j.Slot = fromMicros(slot)
	}
	j.RunAt, j.CreatedAt = fromMicros(runAt), fromMicros(created)
	j.StartedAt, j.FinishedAt = optMicros(started), optMicros(finished)
	if j.State == StateRunning {
		j.LeaseUntil = optMicros(leaseUntil)
	}
	j.RunIDs = parseIDs(runIDs)
	return &j, nil
}

func parseIDs(s string) []int64 {
	var ids []int64
	for _, f := range strings.Split(s, ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func formatIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// ensureSchedules inserts the schedules that do not exist yet.
func (qu *queue) ensureSchedules(ctx context.Context, now time.Time, scheds []Schedule) error {
	return qu.inTx(ctx, "create default job schedules", func(tx *sql.Tx) error {
		for _, s := range scheds {
			sp, err := ParseSpec(s.Spec)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, qu.q(`INSERT INTO job_schedules (name, kind, spec, enabled, next_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
				s.Name, string(s.Kind), sp.String(), s.Enabled, micros(sp.Next(now)), micros(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (qu *queue) schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := qu.db.QueryContext(ctx, `SELECT name, kind, spec, enabled, next_at, updated_at FROM job_schedules ORDER BY name`)
	if err != nil {
		return nil, dbErr(err, "list job schedules")
	}
	out, err := collect(rows, func(sc scanner) (Schedule, error) {
		var s Schedule
		var kind string
		var next, upd int64
		err := sc.Scan(&s.Name, &kind, &s.Spec, &s.Enabled, &next, &upd)
		s.Kind, s.NextAt, s.UpdatedAt = Kind(kind), fromMicros(next), fromMicros(upd)
		return s, err
	})
	return out, dbErr(err, "list job schedules")
}

func (qu *queue) setSchedule(ctx context.Context, now time.Time, name string, sp Spec, enabled bool) (*Schedule, error) {
	var out *Schedule
	err := qu.inTx(ctx, "edit job schedule "+name, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qu.q(`UPDATE job_schedules SET spec = ?, enabled = ?, next_at = ?, updated_at = ? WHERE name = ?`),
			sp.String(), enabled, micros(sp.Next(now)), micros(now), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sam.Errorf(sam.ENOTFOUND, "no job schedule named %q", name)
		}
		var kind string
		var next, upd int64
		s := Schedule{}
		if err := tx.QueryRowContext(ctx, qu.q(`SELECT name, kind, spec, enabled, next_at, updated_at FROM job_schedules WHERE name = ?`), name).
			Scan(&s.Name, &kind, &s.Spec, &s.Enabled, &next, &upd); err != nil {
			return err
		}
		s.Kind, s.NextAt, s.UpdatedAt = Kind(kind), fromMicros(next), fromMicros(upd)
		out = &s
		return nil
	})
	return out, err
}

// enqueueDue enqueues one job per profile for every enabled schedule whose
// slot has come, and moves each such schedule to its next slot after now
// (slots missed while no instance ran are not caught up one by one: the
// first missed slot enqueues once and runs at once, and the schedule moves
// past now). It returns how many jobs it enqueued.
func (qu *queue) enqueueDue(ctx context.Context, now time.Time, maxAttempts int) (int, error) {
	n := 0
	err := qu.inTx(ctx, "enqueue scheduled jobs", func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, qu.q(`SELECT name, kind, spec, next_at FROM job_schedules WHERE enabled = ? AND next_at <= ? ORDER BY name`+qu.skipLocked()),
			true, micros(now))
		if err != nil {
			return err
		}
		type due struct {
			name, kind, spec string
			slot             int64
		}
		dues, err := collect(rows, func(sc scanner) (due, error) {
			var d due
			return d, sc.Scan(&d.name, &d.kind, &d.spec, &d.slot)
		})
		if err != nil {
			return err
		}
		if len(dues) == 0 {
			return nil
		}
		prows, err := tx.QueryContext(ctx, `SELECT id FROM profiles ORDER BY id`)
		if err != nil {
			return err
		}
		profiles, err := collect(prows, func(sc scanner) (int64, error) {
			var id int64
			return id, sc.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, d := range dues {
			sp, err := ParseSpec(d.spec)
			if err != nil {
				return err
			}
			for _, pid := range profiles {
				res, err := tx.ExecContext(ctx, qu.q(`INSERT INTO jobs (kind, profile_id, schedule, slot, state, max_attempts, run_at, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
					d.kind, pid, d.name, d.slot, string(StateAvailable), maxAttempts, d.slot, micros(now))
				if err != nil {
					return err
				}
				k, _ := res.RowsAffected()
				n += int(k)
			}
			if _, err := tx.ExecContext(ctx, qu.q(`UPDATE job_schedules SET next_at = ? WHERE name = ?`), micros(sp.Next(now)), d.name); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// insert enqueues a manual job. ECONFLICT when the profile already has an
// open job of that kind.
func (qu *queue) insert(ctx context.Context, now time.Time, kind Kind, profileID int64, maxAttempts int) (int64, error) {
	var id int64
	err := qu.inTx(ctx, "enqueue job", func(tx *sql.Tx) error {
		var open int64
		err := tx.QueryRowContext(ctx, qu.q(`SELECT id FROM jobs WHERE profile_id = ? AND kind = ? AND state IN (?, ?) ORDER BY id LIMIT 1`),
			profileID, string(kind), string(StateAvailable), string(StateRunning)).Scan(&open)
		if err == nil {
			return sam.Errorf(sam.ECONFLICT, "profile %d already has a %s job waiting or running (job %d)", profileID, kind, open)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.QueryRowContext(ctx, qu.q(`INSERT INTO jobs (kind, profile_id, state, max_attempts, run_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
			string(kind), profileID, string(StateAvailable), maxAttempts, micros(now), micros(now)).Scan(&id)
	})
	return id, err
}

// claimLock is the PostgreSQL advisory lock that serialises claims across
// instances, so that the check "no job of this profile is running" sees every
// committed claim (SQLite serialises writers anyway).
const claimLock = 0x5ea7_0b5

// claim leases the next due job of one of kinds to owner, or returns nil. A
// profile's jobs run one at a time.
func (qu *queue) claim(ctx context.Context, now time.Time, owner string, lease time.Duration, kinds []string) (*Job, error) {
	var j *Job
	err := qu.inTx(ctx, "claim a job", func(tx *sql.Tx) error {
		j = nil
		if qu.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(claimLock)); err != nil {
				return err
			}
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
		args := []any{string(StateAvailable), micros(now)}
		for _, k := range kinds {
			args = append(args, k)
		}
		args = append(args, string(StateRunning))
		var id int64
		err := tx.QueryRowContext(ctx, qu.q(`SELECT id FROM jobs j WHERE state = ? AND run_at <= ? AND kind IN (`+ph+`)
			AND (j.profile_id = 0 OR j.profile_id NOT IN (SELECT r.profile_id FROM jobs r WHERE r.state = ?))
			ORDER BY run_at, id LIMIT 1`+qu.skipLocked()), args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET state = ?, attempt = attempt + 1, lease_owner = ?, lease_until = ?, started_at = ?, error = '' WHERE id = ?`),
			string(StateRunning), owner, micros(now.Add(lease)), micros(now), id); err != nil {
			return err
		}
		if j, err = scanJob(tx.QueryRowContext(ctx, qu.q(`SELECT `+jobColumns+` FROM jobs WHERE id = ?`), id)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qu.q(`INSERT INTO job_attempts (job_id, attempt, owner, started_at) VALUES (?, ?, ?, ?)`),
			id, j.Attempt, owner, micros(now))
		return err
	})
	return j, err
}

// renew extends the lease of a job owner still holds. false when the lease
// was lost (expired and rescued by another instance).
func (qu *queue) renew(ctx context.Context, now time.Time, j *Job, owner string, lease time.Duration) (bool, error) {
	res, err := qu.db.ExecContext(ctx, qu.q(`UPDATE jobs SET lease_until = ? WHERE id = ? AND state = ? AND lease_owner = ? AND attempt = ?`),
		micros(now.Add(lease)), j.ID, string(StateRunning), owner, j.Attempt)
	if err != nil {
		return true, dbErr(err, "renew the lease of job %d", j.ID)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// finish records the end of an attempt owner still holds: state final, or
// available again at retryAt. false when the lease was lost meanwhile.
func (qu *queue) finish(ctx context.Context, now time.Time, j *Job, owner string, state State, retryAt time.Time, outcome string, out Outcome, errText string) (bool, error) {
	ok := false
	err := qu.inTx(ctx, "record the end of job "+strconv.FormatInt(j.ID, 10), func(tx *sql.Tx) error {
		ok = false
		var finished int64
		runAt := micros(j.RunAt)
		if state.Final() {
			finished = micros(now)
		} else {
			runAt = micros(retryAt)
		}
		runIDs := mergeIDs(j.RunIDs, out.RunIDs)
		res, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET state = ?, run_at = ?, finished_at = ?, lease_owner = '', lease_until = 0,
			run_ids = ?, result = ?, error = ? WHERE id = ? AND state = ? AND lease_owner = ? AND attempt = ?`),
			string(state), runAt, finished, formatIDs(runIDs), out.Result, errText, j.ID, string(StateRunning), owner, j.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ok = true
		_, err = tx.ExecContext(ctx, qu.q(`UPDATE job_attempts SET finished_at = ?, outcome = ?, error = ? WHERE job_id = ? AND attempt = ?`),
			micros(now), outcome, errText, j.ID, j.Attempt)
		return err
	})
	return ok, err
}

// recordRun names run id on job j for the attempt owner holds, in place of
// the runs in drop, and takes the run away from every other job of the
// profile that names it: a run belongs to the last job that started or
// resumed it (see Job.RunIDs). j.RunIDs is updated. false, with nothing
// written, when the attempt no longer holds the job's lease.
func (qu *queue) recordRun(ctx context.Context, j *Job, owner string, id int64, drop []int64) (bool, error) {
	ok := false
	var ids []int64
	err := qu.inTx(ctx, "record run "+strconv.FormatInt(id, 10)+" on job "+strconv.FormatInt(j.ID, 10), func(tx *sql.Tx) error {
		ok = false
		ids = nil
		for _, x := range j.RunIDs {
			if !slices.Contains(drop, x) {
				ids = append(ids, x)
			}
		}
		ids = mergeIDs(ids, []int64{id})
		res, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET run_ids = ? WHERE id = ? AND state = ? AND lease_owner = ? AND attempt = ?`),
			formatIDs(ids), j.ID, string(StateRunning), owner, j.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ok = true
		rows, err := tx.QueryContext(ctx, qu.q(`SELECT id, run_ids FROM jobs WHERE profile_id = ? AND id <> ? AND (',' || run_ids || ',') LIKE ?`),
			j.ProfileID, j.ID, "%,"+strconv.FormatInt(id, 10)+",%")
		if err != nil {
			return err
		}
		type named struct {
			job int64
			ids []int64
		}
		others, err := collect(rows, func(sc scanner) (named, error) {
			var n named
			var s string
			err := sc.Scan(&n.job, &s)
			n.ids = parseIDs(s)
			return n, err
		})
		if err != nil {
			return err
		}
		for _, o := range others {
			rest := slices.DeleteFunc(o.ids, func(x int64) bool { return x == id })
			if _, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET run_ids = ? WHERE id = ?`), formatIDs(rest), o.job); err != nil {
				return err
			}
		}
		return nil
	})
	if ok && err == nil {
		j.RunIDs = ids
	}
	return ok && err == nil, err
}

func mergeIDs(a, b []int64) []int64 {
	out := append([]int64(nil), a...)
	for _, id := range b {
		seen := false
		for _, x := range out {
			seen = seen || x == id
		}
		if !seen {
			out = append(out, id)
		}
	}
	return out
}

// handBack returns a job owner still holds to the queue at once (the
// runner is shutting down). The attempt is recorded as handed_back and the
// job gets one more attempt in exchange, so that a hand-back costs none.
func (qu *queue) handBack(ctx context.Context, now time.Time, j *Job, owner string, out Outcome) error {
	return qu.inTx(ctx, "hand back job "+strconv.FormatInt(j.ID, 10), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET state = ?, max_attempts = max_attempts + 1, run_at = ?, lease_owner = '', lease_until = 0, run_ids = ?
			WHERE id = ? AND state = ? AND lease_owner = ? AND attempt = ?`),
			string(StateAvailable), micros(now), formatIDs(mergeIDs(j.RunIDs, out.RunIDs)), j.ID, string(StateRunning), owner, j.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, qu.q(`UPDATE job_attempts SET finished_at = ?, outcome = 'handed_back' WHERE job_id = ? AND attempt = ?`),
			micros(now), j.ID, j.Attempt)
		return err
	})
}

// rescue hands back (or fails, when its attempts are spent) every running
// job whose lease expired before now: its instance died or stalled. The
// jobs in running are left alone: the caller is working on them (alive;
// its heartbeat renews their leases), and rescuing one would run a second
// attempt of it beside the first in the same instance.
func (qu *queue) rescue(ctx context.Context, now time.Time, running []int64) ([]int64, error) {
	var rescued []int64
	err := qu.inTx(ctx, "rescue jobs with expired leases", func(tx *sql.Tx) error {
		rescued = rescued[:0]
		rows, err := tx.QueryContext(ctx, qu.q(`SELECT id, attempt, max_attempts, lease_owner FROM jobs WHERE state = ? AND lease_until < ? ORDER BY id`+qu.skipLocked()),
			string(StateRunning), micros(now))
		if err != nil {
			return err
		}
		type exp struct {
			id          int64
			attempt, mx int
			owner       string
		}
		list, err := collect(rows, func(sc scanner) (exp, error) {
			var e exp
			return e, sc.Scan(&e.id, &e.attempt, &e.mx, &e.owner)
		})
		if err != nil {
			return err
		}
		for _, e := range list {
			if slices.Contains(running, e.id) {
				continue
			}
			msg := "instance " + e.owner + " stopped renewing its lease (killed or stalled) during attempt " + strconv.Itoa(e.attempt)
			state, finished := StateAvailable, int64(0)
			if e.attempt >= e.mx {
				state, finished = StateFailed, micros(now)
			}
			if _, err := tx.ExecContext(ctx, qu.q(`UPDATE jobs SET state = ?, run_at = ?, finished_at = ?, lease_owner = '', lease_until = 0, error = ? WHERE id = ?`),
				string(state), micros(now), finished, msg, e.id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, qu.q(`UPDATE job_attempts SET finished_at = ?, outcome = 'lost', error = ? WHERE job_id = ? AND attempt = ?`),
				micros(now), msg, e.id, e.attempt); err != nil {
				return err
			}
			rescued = append(rescued, e.id)
		}
		return nil
	})
	return rescued, err
}

func (qu *queue) job(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(qu.db.QueryRowContext(ctx, qu.q(`SELECT `+jobColumns+` FROM jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "no job %d", id)
	}
	return j, dbErr(err, "read job %d", id)
}

func (qu *queue) jobs(ctx context.Context, f JobFilter) ([]*Job, error) {
	var where []string
	var args []any
	if f.ProfileID != 0 {
		where, args = append(where, "profile_id = ?"), append(args, f.ProfileID)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, string(f.Kind))
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Schedule != "" {
		where, args = append(where, "schedule = ?"), append(args, f.Schedule)
	}
	if f.BeforeID != 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := qu.db.QueryContext(ctx, qu.q(query), args...)
	if err != nil {
		return nil, dbErr(err, "list jobs")
	}
	out, err := collect(rows, scanJob)
	return out, dbErr(err, "list jobs")
}

func (qu *queue) attempts(ctx context.Context, jobID int64) ([]Attempt, error) {
	rows, err := qu.db.QueryContext(ctx, qu.q(`SELECT job_id, attempt, owner, started_at, finished_at, outcome, error FROM job_attempts WHERE job_id = ? ORDER BY attempt`), jobID)
	if err != nil {
		return nil, dbErr(err, "list attempts of job %d", jobID)
	}
	out, err := collect(rows, func(sc scanner) (Attempt, error) {
		var a Attempt
		var started, finished int64
		err := sc.Scan(&a.JobID, &a.Attempt, &a.Owner, &started, &finished, &a.Outcome, &a.Error)
		a.StartedAt, a.FinishedAt = fromMicros(started), optMicros(finished)
		return a, err
	})
	return out, dbErr(err, "list attempts of job %d", jobID)
}

func (qu *queue) counts(ctx context.Context) (map[Kind]map[State]int, error) {
	rows, err := qu.db.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state`)
	if err != nil {
		return nil, dbErr(err, "count jobs")
	}
	defer rows.Close()
	out := map[Kind]map[State]int{}
	for rows.Next() {
		var kind, state string
		var n int
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, dbErr(err, "count jobs")
		}
		if out[Kind(kind)] == nil {
			out[Kind(kind)] = map[State]int{}
		}
		out[Kind(kind)][State(state)] = n
	}
	return out, dbErr(rows.Err(), "count jobs")
}

// prune deletes the jobs that reached a final state before cutoff, with their
// attempts.
func (qu *queue) prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := qu.inTx(ctx, "delete old jobs", func(tx *sql.Tx) error {
		where := `state IN (?, ?, ?) AND finished_at < ?`
		args := []any{string(StateSucceeded), string(StateFailed), string(StateSkipped), micros(cutoff)}
		if _, err := tx.ExecContext(ctx, qu.q(`DELETE FROM job_attempts WHERE job_id IN (SELECT id FROM jobs WHERE `+where+`)`), args...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, qu.q(`DELETE FROM jobs WHERE `+where), args...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
