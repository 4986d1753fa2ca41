package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// StageSystemUsers records the Dataverse users of one environment read by an
// activity run, with r's progress, in one transaction. A user staged twice
// keeps the last version. EINVALID when the environment belongs to another
// profile or a user has no id. (An environment removed from the profile
// while the run went on is accepted and ignored at commit.)
func (s *Store) StageSystemUsers(ctx context.Context, r *sam.Run, environmentID int64, users []store.SystemUser) error {
	err := s.inTx(ctx, fmt.Sprintf("stage Dataverse users of run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunActivity); err != nil {
			return err
		}
		if _, err := s.requireEnvironment(ctx, tx, r.ProfileID, environmentID); err != nil {
			return err
		}
		last := map[string]int{}
		var order []string
		for i, u := range users {
			id := sam.NormalizeGUID(u.SystemUserID)
			if id == "" {
				return sam.Errorf(sam.EINVALID, "Dataverse user %q has no systemuserid", u.DomainName)
			}
			if _, seen := last[id]; !seen {
				order = append(order, id)
			}
			last[id] = i
		}
		const upsert = `ON CONFLICT (run_id, environment_id, system_user_id) DO UPDATE SET aad_object_id = excluded.aad_object_id,
				domain_name = excluded.domain_name, full_name = excluded.full_name, is_disabled = excluded.is_disabled,
				access_mode = excluded.access_mode`
		if s.d.Name == "postgres" {
			// Each column as one array parameter, as staged activity goes.
			for start := 0; start < len(order); start += resolveChunk {
				chunk := order[start:min(start+resolveChunk, len(order))]
				aad, domains, names := make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
				disabled, modes := make([]bool, len(chunk)), make([]int64, len(chunk))
				for j, id := range chunk {
					u := users[last[id]]
					aad[j], domains[j], names[j] = sam.NormalizeGUID(u.AADObjectID), u.DomainName, u.FullName
					disabled[j], modes[j] = u.IsDisabled, int64(u.AccessMode)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO staging_system_users (run_id, environment_id, system_user_id,
					aad_object_id, domain_name, full_name, is_disabled, access_mode)
					SELECT $1, $2, v.id, v.aad, v.domain_name, v.full_name, v.is_disabled, v.access_mode
					FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::bigint[])
						AS v (id, aad, domain_name, full_name, is_disabled, access_mode) `+upsert,
					r.ID, environmentID, chunk, aad, domains, names, disabled, modes); err != nil {
					return fmt.Errorf("stage Dataverse users: %w", err)
				}
			}
		} else {
			rows := make([][]any, 0, len(order))
			for _, id := range order {
				u := users[last[id]]
				rows = append(rows, []any{r.ID, environmentID, id, sam.NormalizeGUID(u.AADObjectID), u.DomainName,
					u.FullName, u.IsDisabled, u.AccessMode})
			}
			if err := s.insertMany(ctx, tx, `INSERT INTO staging_system_users (run_id, environment_id, system_user_id,
				aad_object_id, domain_name, full_name, is_disabled, access_mode)`, upsert, rows); err != nil {
				return fmt.Errorf("stage Dataverse users: %w", err)
			}
		}
		// Evidence staged before its users (not the order a sync uses)
		// was left unmapped: map what these users map.
		if _, err := tx.ExecContext(ctx, `UPDATE staging_activity SET user_id = (SELECT su.aad_object_id
				FROM staging_system_users su WHERE su.run_id = staging_activity.run_id
				AND su.environment_id = staging_activity.environment_id AND su.system_user_id = staging_activity.system_user_id)
			WHERE run_id = $1 AND environment_id = $2 AND user_id = '' AND EXISTS (SELECT 1 FROM staging_system_users su
				WHERE su.run_id = $1 AND su.environment_id = $2 AND su.system_user_id = staging_activity.system_user_id
				AND su.aad_object_id <> '')`, r.ID, environmentID); err != nil {
			return fmt.Errorf("map staged activity: %w", err)
		}
		return s.saveProgress(ctx, tx, r)
	})
	if err != nil {
		s.dropSummary(runID(r))
		return err
	}
	s.usersStaged(r.ID, environmentID)
	return nil
}

// requireEnvironment fails with EINVALID when environmentID belongs to
// another profile than profileID. It reports whether the environment still
// exists: one removed from the profile while a run was under way is not an
// error, its evidence is dropped at commit.
func (s *Store) requireEnvironment(ctx context.Context, q querier, profileID, environmentID int64) (bool, error) {
	var owner int64
	err := q.QueryRowContext(ctx, `SELECT profile_id FROM environments WHERE id = $1`, environmentID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if owner != profileID {
		return false, sam.Errorf(sam.EINVALID, "environment %d is not part of profile %d", environmentID, profileID)
	}
	return true, nil
}

// StageActivity adds aggregated audit evidence read by an activity run, with
// r's progress, in one transaction. Rows with the same environment, system
// user, day and source may be staged any number of times, in one call or
// several: they are appended as they are, and the commit adds their events
// and keeps the newest LastAt. Each row's Entra user is resolved as it is
// staged, through the Dataverse users the run staged for its environment
// (or, when the run staged none there, the environment's stored users):
// stage an environment's users before its evidence. Evidence of a system
// user unknown or without Entra object id stays unmapped, unless the run
// stages that user with an object id later. EINVALID for a row without
// system user, source or day, or whose environment belongs to another
// profile.
func (s *Store) StageActivity(ctx context.Context, r *sam.Run, rows []store.StagedActivity) error {
	// Each row's Entra user as staged, for the run's summary.
	rowUsers, known := make([]string, len(rows)), make([]bool, len(rows))
	err := s.inTx(ctx, fmt.Sprintf("stage activity of run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunActivity); err != nil {
			return err
		}
		// Rows by environment, in order: each environment's system users
		// are resolved with one query per chunk of distinct users.
		var envs []int64
		byEnv := map[int64][]int{}
		for i, a := range rows {
			if sam.NormalizeGUID(a.SystemUserID) == "" || a.Source == "" || a.Day.IsZero() {
				return sam.Errorf(sam.EINVALID, "staged activity needs a system user, a source and a day")
			}
			if _, ok := byEnv[a.EnvironmentID]; !ok {
				if _, err := s.requireEnvironment(ctx, tx, r.ProfileID, a.EnvironmentID); err != nil {
					return err
				}
				envs = append(envs, a.EnvironmentID)
			}
			byEnv[a.EnvironmentID] = append(byEnv[a.EnvironmentID], i)
		}
		ins := s.newRowInserter(tx, `INSERT INTO staging_activity (run_id, environment_id, system_user_id,
			day, source, events, last_at, user_id)`, "", 8)
		defer ins.close()
		for _, env := range envs {
			idx := byEnv[env]
			if s.d.Name == "postgres" {
				if err := s.stageActivityArrays(ctx, tx, r.ID, env, rows, idx); err != nil {
					return fmt.Errorf("stage activity: %w", err)
				}
				// Rows not Resolved were mapped in SQL: unknown here.
				for _, i := range idx {
					if rows[i].Resolved {
						rowUsers[i], known[i] = sam.NormalizeGUID(rows[i].UserID), true
					}
				}
				continue
			}
			users := make([]string, 0, len(idx))
			seen := make(map[string]bool, len(idx))
			for _, i := range idx {
				if rows[i].Resolved {
					continue
				}
				if id := sam.NormalizeGUID(rows[i].SystemUserID); !seen[id] {
					seen[id] = true
					users = append(users, id)
				}
			}
			var aad map[string]string
			if len(users) > 0 {
				var err error
				if aad, err = s.resolveSystemUsers(ctx, tx, r.ID, env, users); err != nil {
					return fmt.Errorf("resolve Dataverse users: %w", err)
				}
			}
			for _, i := range idx {
				a := rows[i]
				id := sam.NormalizeGUID(a.SystemUserID)
				last := timestamp(a.LastAt)
				if last.IsZero() {
					last = sam.Day(a.Day)
				}
				user := aad[id]
				if a.Resolved {
					user = sam.NormalizeGUID(a.UserID)
				}
				rowUsers[i], known[i] = user, true
				if err := ins.add(ctx, r.ID, env, id, s.day(a.Day), string(a.Source), a.Events, s.d.Time(last), user); err != nil {
					return fmt.Errorf("stage activity: %w", err)
				}
			}
		}
		if err := ins.flush(ctx); err != nil {
			return fmt.Errorf("stage activity: %w", err)
		}
		return s.saveProgress(ctx, tx, r)
	})
	if err != nil {
		// Staged or not, the summary cannot say: give it up.
		s.dropSummary(runID(r))
		return err
	}
	s.summarize(r.ID, rows, rowUsers, known)
	return nil
}

// resolveChunk bounds the system users looked up by one query, and the
// rows of one PostgreSQL array insert.
const resolveChunk = 2000

// stagedUsers reports whether run runID staged Dataverse users for
// environment env: its evidence is then resolved through them, else
// through the environment's stored users.
func stagedUsers(ctx context.Context, tx *sql.Tx, runID, env int64) (bool, error) {
	var staged bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM staging_system_users WHERE run_id = $1 AND environment_id = $2)`,
		runID, env).Scan(&staged)
	return staged, err
}

// stageActivityArrays stages the rows idx (of one environment) on
// PostgreSQL: each column goes as one array parameter, unnested and, for
// rows not Resolved by the caller, joined to the system users in the
// database, instead of a parameter per value and a lookup query.
func (s *Store) stageActivityArrays(ctx context.Context, tx *sql.Tx, runID, env int64, rows []store.StagedActivity, idx []int) error {
	var resolved, lookup []int
	for _, i := range idx {
		if rows[i].Resolved {
			resolved = append(resolved, i)
		} else {
			lookup = append(lookup, i)
		}
	}
	const cols = `INSERT INTO staging_activity (run_id, environment_id, system_user_id, day, source, events, last_at, user_id)`
	if err := s.stageArrays(ctx, tx, cols+`
		SELECT $1, $2, v.id, v.day, v.source, v.events, v.last_at, v.user_id
		FROM unnest($3::text[], $4::date[], $5::text[], $6::bigint[], $7::timestamptz[], $8::text[])
			AS v (id, day, source, events, last_at, user_id)`, runID, env, rows, resolved, true); err != nil {
		return err
	}
	if len(lookup) == 0 {
		return nil
	}
	staged, err := stagedUsers(ctx, tx, runID, env)
	if err != nil {
		return err
	}
	// A lookup per row by key, not a join: with the staged users' statistics
	// stale (they grow during the run) a join's plan hashed every staged
	// user of the environment for each chunk.
	lookupUser := `SELECT x.aad_object_id FROM environment_users x WHERE x.environment_id = $2 AND x.system_user_id = v.id`
	if staged {
		lookupUser = `SELECT x.aad_object_id FROM staging_system_users x WHERE x.run_id = $1 AND x.environment_id = $2 AND x.system_user_id = v.id`
	}
	return s.stageArrays(ctx, tx, cols+`
		SELECT $1, $2, v.id, v.day, v.source, v.events, v.last_at, COALESCE((`+lookupUser+`), '')
		FROM unnest($3::text[], $4::date[], $5::text[], $6::bigint[], $7::timestamptz[]) AS v (id, day, source, events, last_at)`,
		runID, env, rows, lookup, false)
}

// stageArrays runs q (parameters: run, environment, then the arrays of
// system users, days, sources, events, last times and, with users, Entra
// users) over the rows idx, resolveChunk rows at a time.
func (s *Store) stageArrays(ctx context.Context, tx *sql.Tx, q string, runID, env int64, rows []store.StagedActivity, idx []int, users bool) error {
	for start := 0; start < len(idx); start += resolveChunk {
		chunk := idx[start:min(start+resolveChunk, len(idx))]
		ids, sources := make([]string, len(chunk)), make([]string, len(chunk))
		days, lasts := make([]time.Time, len(chunk)), make([]time.Time, len(chunk))
		events := make([]int64, len(chunk))
		var aad []string
		if users {
			aad = make([]string, len(chunk))
		}
		for j, i := range chunk {
			a := rows[i]
			ids[j], sources[j], events[j] = sam.NormalizeGUID(a.SystemUserID), string(a.Source), a.Events
			days[j] = sam.Day(a.Day)
			if lasts[j] = timestamp(a.LastAt); lasts[j].IsZero() {
				lasts[j] = days[j]
			}
			if users {
				aad[j] = sam.NormalizeGUID(a.UserID)
			}
		}
		args := []any{runID, env, ids, days, sources, events, lasts}
		if users {
			args = append(args, aad)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// resolveSystemUsers returns the Entra object ids of Dataverse users of one
// environment (absent or "" when unknown or unmapped): those run runID
// staged for the environment, or, when it staged none there, the
// environment's stored users. (PostgreSQL joins them in
// stageActivityArrays instead.)
func (s *Store) resolveSystemUsers(ctx context.Context, tx *sql.Tx, runID, env int64, users []string) (map[string]string, error) {
	out := make(map[string]string, len(users))
	staged, err := stagedUsers(ctx, tx, runID, env)
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(users); start += resolveChunk {
		chunk := users[start:min(start+resolveChunk, len(users))]
		table, where := "environment_users x", "x.environment_id = "+s.placeholder(1)
		args := make([]any, 0, len(chunk)+2)
		args = append(args, env)
		if staged {
			table, where = "staging_system_users x", "x.environment_id = "+s.placeholder(1)+" AND x.run_id = "+s.placeholder(2)
			args = append(args, runID)
		}
		var q strings.Builder
		q.WriteString(`SELECT x.system_user_id, x.aad_object_id FROM ` + table + ` WHERE ` + where + ` AND x.system_user_id IN (`)
		for i, u := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			args = append(args, u)
			q.WriteString(s.placeholder(len(args)))
		}
		q.WriteString(")")
		rows, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, aad string
			if err := rows.Scan(&id, &aad); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = aad
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CommitActivity applies an activity run in one transaction (see
// store.Store); on PostgreSQL the usage recompute writes in a second one,
// committed just before it (see readAhead). An environment whose incoming watermark is zero keeps the
// watermark it had; a zero CheckedAt is stored as Now. Environments removed
// from the profile while the run went on are skipped. EINVALID when an
// environment belongs to another profile, ENOTFOUND for an unknown run,
// ECONFLICT when the run has already finished.
func (s *Store) CommitActivity(ctx context.Context, r *sam.Run, c store.ActivityCommit) (store.ActivityChanges, error) {
	var ch store.ActivityChanges
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	now := timestamp(c.Now)
	// Not staging_activity: sampling it took 75 ms of a 10,000-user commit,
	// and the merge, its one large reader, is planned without it (below).
	s.analyze(ctx, "staging_system_users", "environment_users", "activity_days", "subscriptions")
	usageCommitted := false
	err := s.inTx(ctx, fmt.Sprintf("commit activity run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunActivity); err != nil {
			return err
		}
		p := r.ProfileID
		if err := s.requireProfile(ctx, tx, p, true); err != nil {
			return err
		}
		// The recompute's evidence is read on another connection while
		// this transaction merges (see evidence.go).
		ahead, err := s.readEvidenceAhead(ctx, tx, r.ID, p, now)
		if err != nil {
			return err
		}
		defer ahead.stop()
		// The environments' audit status first: the usage written ahead
		// (PostgreSQL) classifies with it while this transaction merges.
		for _, e := range c.Environments {
			exists, err := s.requireEnvironment(ctx, tx, p, e.EnvironmentID)
			if err != nil {
				return err
			}
			if !exists {
				continue // removed from the profile while the run went on
			}
			res, err := tx.ExecContext(ctx, `UPDATE environments SET reachable = $3, audit_error = $4,
				audit_enabled = $5, user_access_audit_enabled = $6, retention_days = $7,
				watermark = COALESCE($8, watermark), checked_at = $9 WHERE id = $1 AND profile_id = $2`,
				e.EnvironmentID, p, e.Reachable, e.Error, e.AuditEnabled, e.UserAccessAuditEnabled, e.RetentionDays,
				s.nullTS(e.Watermark), s.nullTSOr(e.CheckedAt, now))
			if err != nil {
				return fmt.Errorf("store audit status of environment %d: %w", e.EnvironmentID, err)
			}
			if n, err := affected(res); err != nil {
				return err
			} else if n == 0 {
				return sam.Errorf(sam.EINVALID, "environment %d is not part of profile %d", e.EnvironmentID, p)
			}
		}
		envs, err := s.environments(ctx, tx, p)
		if err != nil {
			return fmt.Errorf("read environments: %w", err)
		}
		ahead.startUsage(envs)
		// Replace the user map of every environment the run read users of
		// (and that is still one of the profile's).
		if _, err := tx.ExecContext(ctx, `DELETE FROM environment_users WHERE environment_id IN
			(SELECT DISTINCT environment_id FROM staging_system_users WHERE run_id = $1)`, r.ID); err != nil {
			return fmt.Errorf("replace Dataverse users: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO environment_users (environment_id, system_user_id, aad_object_id,
			domain_name, full_name, is_disabled, access_mode, updated_at)
			SELECT environment_id, system_user_id, aad_object_id, domain_name, full_name, is_disabled, access_mode, `+
			s.cast(2, true)+` FROM staging_system_users WHERE run_id = $1
			AND environment_id IN (SELECT id FROM environments WHERE profile_id = $3)`, r.ID, s.ts(now), p); err != nil {
			return fmt.Errorf("store Dataverse users: %w", err)
		}
		// Staged rows may repeat a key (see StageActivity): count keys.
		// Unmapped rows were marked when staged (user_id '') and have an
		// index of their own.
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT DISTINCT environment_id, system_user_id, day, source
			FROM staging_activity WHERE run_id = $1 AND user_id = '') unmapped`, r.ID).Scan(&ch.UnmappedRows); err != nil {
			return fmt.Errorf("count unmapped activity: %w", err)
		}
		// Without evidence from any environment yet (a first sync; the
		// profile row is locked), the grouped rows cannot meet a stored
		// one: a plain insert skips the conflict check of every row.
		var stored bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM activity_days WHERE profile_id = $1 AND environment_id <> 0)`,
			p).Scan(&stored); err != nil {
			return fmt.Errorf("merge activity: %w", err)
		}
		upsert := ""
		if stored {
			upsert = `ON CONFLICT (profile_id, user_id, day, environment_id, source) DO UPDATE SET
				events = activity_days.events + excluded.events,
				last_at = CASE WHEN excluded.last_at > activity_days.last_at THEN excluded.last_at
					ELSE activity_days.last_at END`
		}
		// The profile's environments as a list of numbers: a subquery
		// made PostgreSQL, without statistics on the staged rows, join
		// them in a nested loop over every staged row.
		envList := "NULL"
		for i, e := range envs {
			if i == 0 {
				envList = ""
			} else {
				envList += ", "
			}
			envList += strconv.FormatInt(e.ID, 10)
		}
		// SQLite reads a run's staged rows through staging_activity_run,
		// a lookup of the table by row id for each: when the table holds
		// this run's rows only (one run at a time, the usual case), a scan
		// of the table reads the same rows without the index (a 100,000-user
		// merge: 2.56 s against 2.72 s).
		staged := "staging_activity a"
		if s.d.Name == "sqlite" {
			alone, err := s.stagedAlone(ctx, tx, "staging_activity", r.ID)
			if err != nil {
				return fmt.Errorf("merge activity: %w", err)
			}
			if alone {
				staged += " NOT INDEXED"
			}
		}
		if s.d.Name == "postgres" {
			// Grouped by sorting, the rows come in the key's order and
			// each lands next to the previous one in the primary key: a
			// hash aggregate's order took twice as long (2.2 s against
			// 1.0 s for 405,000 rows), and that is what PostgreSQL picks
			// when it expects few groups.
			if _, err := tx.ExecContext(ctx, `SET LOCAL enable_hashagg = off`); err != nil {
				return fmt.Errorf("merge activity: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO activity_days (profile_id, user_id, day, environment_id, source,
			events, last_at)
			SELECT `+s.cast(2, false)+`, a.user_id, a.day, a.environment_id, a.source, sum(a.events), max(a.last_at)
			FROM `+staged+`
			WHERE a.run_id = $1 AND a.user_id <> '' AND a.environment_id IN (`+envList+`)
			GROUP BY a.user_id, a.day, a.environment_id, a.source `+upsert, r.ID, p)
		if err != nil {
			return fmt.Errorf("merge activity: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		ch.Days = int(n)
		if s.d.Name == "postgres" {
			if _, err := tx.ExecContext(ctx, `RESET enable_hashagg`); err != nil {
				return fmt.Errorf("merge activity: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (profile_id, delta_link, last_activity_sync)
			VALUES ($1, '', $2) ON CONFLICT (profile_id) DO UPDATE SET last_activity_sync = excluded.last_activity_sync`,
			p, s.ts(now)); err != nil {
			return fmt.Errorf("save sync state: %w", err)
		}
		written, ok := ahead.usage()
		if ok {
			ch.Recomputed = written
		} else if ch.Recomputed, err = s.recomputeWith(ctx, tx, p, now, ahead.evidence(), envs); err != nil {
			return err
		}
		r.Status = sam.RunSucceeded
		if err := s.finishRun(ctx, tx, r); err != nil {
			return err
		}
		if ok {
			// Just before this transaction commits (see readAhead).
			if err := ahead.commitUsage(); err != nil {
				return fmt.Errorf("store usage: %w", err)
			}
			usageCommitted = true
		}
		return nil
	})
	if err != nil {
		if usageCommitted {
			// The usage written ahead landed, the evidence did not: put
			// the usage back in line with what is stored.
			if rerr := s.RecomputeUsage(context.WithoutCancel(ctx), r.ProfileID, c.Now); rerr != nil {
				return store.ActivityChanges{}, fmt.Errorf("%w (and recomputing usage after it: %v)", err, rerr)
			}
		}
		return store.ActivityChanges{}, err
	}
	return ch, nil
}

func (s *Store) nullTSOr(t, def time.Time) any {
	if t.IsZero() {
		return s.ts(def)
	}
	return s.ts(t)
}

// ActivityDays returns the evidence of one user in a profile between from
// and to (inclusive UTC days), ordered by day, source, environment.
func (s *Store) ActivityDays(ctx context.Context, profileID int64, userID string, from, to time.Time) ([]sam.ActivityDay, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT profile_id, user_id, day, environment_id, source, events, last_at
		FROM activity_days WHERE profile_id = $1 AND user_id = $2 AND day >= $3 AND day <= $4
		ORDER BY day, source, environment_id`, profileID, sam.NormalizeGUID(userID), s.day(from), s.day(to))
	if err != nil {
		return nil, s.fail(err, "read activity of user %s", userID)
	}
	defer rows.Close()
	var out []sam.ActivityDay
	for rows.Next() {
		var a sam.ActivityDay
		var day, last nullTime
		var source string
		if err := rows.Scan(&a.ProfileID, &a.UserID, &day, &a.EnvironmentID, &source, &a.Events, &last); err != nil {
			return nil, s.fail(err, "read activity of user %s", userID)
		}
		a.Day, a.Source, a.LastAt = day.Time, sam.ActivitySource(source), last.Time
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read activity of user %s", userID)
	}
	return out, nil
}
