package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

var _ store.UsageSnapshotStore = (*Store)(nil)

// idleCase returns the SQL expression of a subscription's idle bucket as of
// at, adding its cutoffs to a: last_activity on or after Day(at) − MaxDays
// days falls in the bucket.
func (s *Store) idleCase(a *args, at time.Time) string {
	day := sam.Day(at)
	var b strings.Builder
	b.WriteString("CASE WHEN last_activity IS NULL THEN '" + store.IdleNever + "'")
	last := ""
	for _, ib := range store.IdleBuckets {
		if ib.MaxDays < 0 {
			if ib.Name != store.IdleNever {
				last = ib.Name
			}
			continue
		}
		b.WriteString(" WHEN last_activity >= " + a.add(s.ts(day.AddDate(0, 0, -ib.MaxDays))) + " THEN '" + ib.Name + "'")
	}
	b.WriteString(" ELSE '" + last + "' END")
	return b.String()
}

// breakdownQuery is the query of UsageBreakdown.
func (s *Store) breakdownQuery(a *args, profileID int64, at time.Time) string {
	idle := s.idleCase(a, at)
	where := "closed_at IS NULL"
	if profileID != 0 {
		where += " AND profile_id = " + a.add(profileID)
	}
	return `SELECT profile_id, sku_id, usage_class, ` + idle + ` AS idle, count(*) FROM subscriptions WHERE ` + where +
		` GROUP BY profile_id, sku_id, usage_class, idle ORDER BY profile_id, sku_id, usage_class, idle`
}

// UsageBreakdown counts open subscriptions by profile, SKU, usage class and
// idle bucket as of at.
func (s *Store) UsageBreakdown(ctx context.Context, profileID int64, at time.Time) ([]store.UsageBucket, error) {
	var a args
	rows, err := s.reader().QueryContext(ctx, s.breakdownQuery(&a, profileID, at), a...)
	if err != nil {
		return nil, s.fail(err, "count subscriptions by class and idle days")
	}
	defer rows.Close()
	var out []store.UsageBucket
	for rows.Next() {
		var u store.UsageBucket
		var class string
		if err := rows.Scan(&u.ProfileID, &u.SKUID, &class, &u.Idle, &u.Count); err != nil {
			return nil, s.fail(err, "count subscriptions by class and idle days")
		}
		u.UsageClass = sam.UsageClass(class)
		out = append(out, u)
	}
	return out, s.fail(rows.Err(), "count subscriptions by class and idle days")
}

// recordUsageSnapshot replaces the snapshot of profileID for at's day with
// the breakdown as of at, inside tx.
func (s *Store) recordUsageSnapshot(ctx context.Context, tx querier, profileID int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM usage_snapshots WHERE profile_id = $1 AND day = $2`, profileID, s.day(at)); err != nil {
		return fmt.Errorf("replace usage snapshot: %w", err)
	}
	var a args
	day := a.add(s.day(at))
	taken := a.add(s.ts(at))
	q := s.breakdownQuery(&a, profileID, at)
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_snapshots (profile_id, day, sku_id, usage_class, idle, subscriptions, taken_at)
		SELECT b.profile_id, `+s.castDay(day)+`, b.sku_id, b.usage_class, b.idle, b.n, CAST(`+taken+` AS `+s.d.TimestampType+`) FROM (`+
		strings.Replace(q, "count(*) FROM", "count(*) AS n FROM", 1)+`) b`, a...); err != nil {
		return fmt.Errorf("write usage snapshot: %w", err)
	}
	return nil
}

// castDay casts a day parameter for an INSERT … SELECT (PostgreSQL does
// not infer parameter types there).
func (s *Store) castDay(param string) string {
	if s.d.Name == "postgres" {
		return "CAST(" + param + " AS DATE)"
	}
	return param
}

// RecordUsageSnapshot stores the breakdown of a profile as of at as the
// snapshot of at's UTC day. ENOTFOUND when the profile does not exist.
func (s *Store) RecordUsageSnapshot(ctx context.Context, profileID int64, at time.Time) error {
	return s.inTx(ctx, fmt.Sprintf("usage snapshot of profile %d", profileID), func(tx *sql.Tx) error {
		if err := s.requireProfile(ctx, tx, profileID, true); err != nil {
			return err
		}
		return s.recordUsageSnapshot(ctx, tx, profileID, at)
	})
}

// snapshotAfterRun takes the usage snapshot of a successful activity run
// as it finishes (called by finishRun in its transaction), as of the time
// the run computed usage for (the profile's last activity sync, which
// follows the run's clock), else its finish time.
func (s *Store) snapshotAfterRun(ctx context.Context, tx querier, r *sam.Run) error {
	if r.Kind != sam.RunActivity || r.Status != sam.RunSucceeded || r.FinishedAt == nil {
		return nil
	}
	at := *r.FinishedAt
	var last nullTime
	err := tx.QueryRowContext(ctx, `SELECT last_activity_sync FROM sync_state WHERE profile_id = $1`, r.ProfileID).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the time of the activity run: %w", err)
	}
	if last.Valid {
		at = last.Time
	}
	return s.recordUsageSnapshot(ctx, tx, r.ProfileID, at)
}

// UsageSnapshots returns snapshot rows matching f ordered by day, profile,
// SKU, class and bucket.
func (s *Store) UsageSnapshots(ctx context.Context, f store.UsageSnapshotFilter) ([]store.UsageSnapshot, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if !f.From.IsZero() {
		where = append(where, "day >= "+a.add(s.day(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "day <= "+a.add(s.day(f.To)))
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT day, taken_at, profile_id, sku_id, usage_class, idle, subscriptions
		FROM usage_snapshots WHERE `+strings.Join(where, " AND ")+` ORDER BY day, profile_id, sku_id, usage_class, idle`, a...)
	if err != nil {
		return nil, s.fail(err, "read usage snapshots")
	}
	defer rows.Close()
	var out []store.UsageSnapshot
	for rows.Next() {
		var u store.UsageSnapshot
		var day, taken nullTime
		var class string
		if err := rows.Scan(&day, &taken, &u.ProfileID, &u.SKUID, &class, &u.Idle, &u.Count); err != nil {
			return nil, s.fail(err, "read usage snapshots")
		}
		u.Day, u.TakenAt, u.UsageClass = day.Time, taken.Time, sam.UsageClass(class)
		out = append(out, u)
	}
	return out, s.fail(rows.Err(), "read usage snapshots")
}

var _ store.ChangeStampStore = (*Store)(nil)

// ChangeStamp returns the change stamp (see store.ChangeStampStore), read
// in one query on the read pool.
func (s *Store) ChangeStamp(ctx context.Context) (string, error) {
	var runMax, runRunning, profiles, profileMax, auditMax, ents, entMax int64
	var finished, entUpdated nullTime
	err := s.reader().QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(max(id), 0) FROM runs),
		(SELECT count(*) FROM runs WHERE status = 'running'),
		(SELECT max(finished_at) FROM runs),
		(SELECT count(*) FROM profiles),
		(SELECT COALESCE(max(id), 0) FROM profiles),
		(SELECT COALESCE(max(id), 0) FROM audit_log),
		(SELECT count(*) FROM entitlements),
		(SELECT COALESCE(max(id), 0) FROM entitlements),
		(SELECT max(updated_at) FROM entitlements)`).Scan(&runMax, &runRunning, &finished, &profiles, &profileMax, &auditMax, &ents, &entMax, &entUpdated)
	if err != nil {
		return "", s.fail(err, "read the change stamp")
	}
	return fmt.Sprintf("r%d.%d.%d p%d.%d a%d e%d.%d.%d", runMax, runRunning, finished.Time.UnixMicro(), profiles, profileMax, auditMax,
		ents, entMax, entUpdated.Time.UnixMicro()), nil
}
