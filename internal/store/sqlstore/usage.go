package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// recomputeBatch is how many subscriptions RecomputeUsage reads at a time:
// memory stays bounded whatever the size of the tenant.
const recomputeBatch = 500

// RecomputeUsage recomputes last activity, active days and usage class of a
// profile's open subscriptions as of now (see store.Store). ENOTFOUND when
// the profile does not exist.
func (s *Store) RecomputeUsage(ctx context.Context, profileID int64, now time.Time) error {
	return s.inTx(ctx, fmt.Sprintf("recompute usage of profile %d", profileID), func(tx *sql.Tx) error {
		if err := s.requireProfile(ctx, tx, profileID, true); err != nil {
			return err
		}
		_, err := s.recompute(ctx, tx, profileID, now)
		return err
	})
}

// analysisStart returns the start of a profile's analysis window: its
// AnalyzeFrom, or 90 days before now when that is zero.
func analysisStart(from, now time.Time) time.Time {
	if from.IsZero() {
		return now.Add(-90 * 24 * time.Hour)
	}
	return from
}

// recompute walks the profile's open subscriptions in batches of
// recomputeBatch, one SQL query per batch computing each subscription's
// evidence, and writes back those whose usage changed. It returns how many
// open subscriptions it examined.
//
// Evidence counts when its time (an activity day's LastAt) is at or after
// the analysis start. Tracked models count Dataverse sources only; other
// models (and SKUs without a model) also count entra:signin. LastActivity is
// the newest evidence (ties: smallest source name); ActiveDays30/90 count
// distinct UTC days d with sam.DaysBetween(d, now) < 30/90.
func (s *Store) recompute(ctx context.Context, tx *sql.Tx, profileID int64, now time.Time) (int, error) {
	var from nullTime
	if err := tx.QueryRowContext(ctx, `SELECT analyze_from FROM profiles WHERE id = $1`, profileID).Scan(&from); err != nil {
		return 0, fmt.Errorf("read analysis start: %w", err)
	}
	now = timestamp(now)
	start := timestamp(analysisStart(from.Time, now))
	envs, err := s.environments(ctx, tx, profileID)
	if err != nil {
		return 0, fmt.Errorf("read environments: %w", err)
	}
	// Without an environment there is no audit log that could prove
	// inactivity: absence of evidence is then "unknown", never "inactive".
	complete := len(envs) > 0
	for _, e := range envs {
		if !e.Audit.Covers(start, now) {
			complete = false
		}
	}
	today := sam.Day(now)
	d30, d90 := today.AddDate(0, 0, -29), today.AddDate(0, 0, -89)

	evidence := `FROM activity_days a WHERE a.profile_id = s.profile_id AND a.user_id = s.user_id
		AND a.last_at >= $2 AND (a.source <> '` + string(sam.SourceSignIn) + `' OR NOT COALESCE(m.tracked, false))`
	q := `SELECT s.id, s.account_enabled, s.last_activity, s.last_activity_source, s.active_days_30,
			s.active_days_90, s.usage_class,
			(SELECT a.last_at ` + evidence + ` ORDER BY a.last_at DESC, a.source LIMIT 1),
			(SELECT a.source ` + evidence + ` ORDER BY a.last_at DESC, a.source LIMIT 1),
			(SELECT count(DISTINCT a.day) ` + evidence + ` AND a.day >= $3),
			(SELECT count(DISTINCT a.day) ` + evidence + ` AND a.day >= $4)
		FROM subscriptions s LEFT JOIN software_models m ON m.sku_id = s.sku_id
		WHERE s.profile_id = $1 AND s.closed_at IS NULL AND s.id > $5
		ORDER BY s.id LIMIT ` + fmt.Sprint(recomputeBatch)
	upd, err := tx.PrepareContext(ctx, `UPDATE subscriptions SET last_activity = $2, last_activity_source = $3,
		active_days_30 = $4, active_days_90 = $5, usage_class = $6 WHERE id = $1`)
	if err != nil {
		return 0, err
	}
	defer upd.Close()

	type row struct {
		id                   int64
		enabled              bool
		oldLast, newLast     nullTime
		oldSource, newSource sql.NullString
		old30, old90         int
		new30, new90         int
		oldClass             string
	}
	var after int64
	total := 0
	for {
		rows, err := tx.QueryContext(ctx, q, profileID, s.ts(start), s.day(d30), s.day(d90), after)
		if err != nil {
			return total, fmt.Errorf("compute usage: %w", err)
		}
		batch := make([]row, 0, recomputeBatch)
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.enabled, &r.oldLast, &r.oldSource, &r.old30, &r.old90, &r.oldClass,
				&r.newLast, &r.newSource, &r.new30, &r.new90); err != nil {
				rows.Close()
				return total, fmt.Errorf("compute usage: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("compute usage: %w", err)
		}
		for _, r := range batch {
			class := sam.Classify(sam.UsageFacts{
				AccountEnabled:   r.enabled,
				LastActivity:     r.newLast.ptr(),
				ActiveDays30:     r.new30,
				CoverageComplete: complete,
				Now:              now,
			})
			source := ""
			if r.newLast.Valid {
				source = r.newSource.String
			}
			if r.oldLast.Valid == r.newLast.Valid && r.oldLast.Time.Equal(r.newLast.Time) &&
				r.oldSource.String == source && r.old30 == r.new30 && r.old90 == r.new90 && r.oldClass == string(class) {
				continue
			}
			var last any
			if r.newLast.Valid {
				last = s.ts(r.newLast.Time)
			}
			if _, err := upd.ExecContext(ctx, r.id, last, source, r.new30, r.new90, string(class)); err != nil {
				return total, fmt.Errorf("store usage of subscription %d: %w", r.id, err)
			}
		}
		total += len(batch)
		if len(batch) < recomputeBatch {
			return total, nil
		}
		after = batch[len(batch)-1].id
	}
}
