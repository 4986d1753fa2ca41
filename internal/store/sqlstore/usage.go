package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
// recomputeBatch: one query reads a batch, a second one the evidence of its
// users (each activity day once, in one pass over the key's user prefix;
// an activity commit has read it ahead instead, see recomputeWith), and Go
// works out each subscription's usage, writing back those whose usage
// changed. It returns how many open subscriptions it examined.
//
// Evidence counts when its time (an activity day's LastAt) is at or after
// the analysis start. Tracked models count Dataverse sources only; other
// models (and SKUs without a model) also count entra:signin. LastActivity is
// the newest evidence (ties: smallest source name); ActiveDays30/90 count
// distinct UTC days d with sam.DaysBetween(d, now) < 30/90.
func (s *Store) recompute(ctx context.Context, tx *sql.Tx, profileID int64, now time.Time) (int, error) {
	return s.recomputeWith(ctx, tx, profileID, now, nil, nil)
}

// usageWindow returns the analysis start of profileID's usage as of now,
// and the first days of the 30- and 90-day windows.
func (s *Store) usageWindow(ctx context.Context, q querier, profileID int64, now time.Time) (start, d30, d90 time.Time, err error) {
	var from nullTime
	if err := q.QueryRowContext(ctx, `SELECT analyze_from FROM profiles WHERE id = $1`, profileID).Scan(&from); err != nil {
		return start, d30, d90, fmt.Errorf("read analysis start: %w", err)
	}
	now = timestamp(now)
	today := sam.Day(now)
	return timestamp(analysisStart(from.Time, now)), today.AddDate(0, 0, -29), today.AddDate(0, 0, -89), nil
}

// recomputeWith is recompute with the evidence read ahead (pre; nil: read
// in tx batch by batch) and, when envs is not nil, the profile's
// environments as the caller's transaction has them (nil: read in tx).
func (s *Store) recomputeWith(ctx context.Context, tx *sql.Tx, profileID int64, now time.Time, pre *preEvidence, envs []sam.Environment) (int, error) {
	start, d30, d90, err := s.usageWindow(ctx, tx, profileID, now)
	if err != nil {
		return 0, err
	}
	now = timestamp(now)
	if envs == nil {
		if envs, err = s.environments(ctx, tx, profileID); err != nil {
			return 0, fmt.Errorf("read environments: %w", err)
		}
	}
	// Without an environment there is no audit log that could prove
	// inactivity: absence of evidence is then "unknown", never "inactive".
	complete := len(envs) > 0
	for _, e := range envs {
		if !e.Audit.Covers(start, now) {
			complete = false
		}
	}

	// Batches walk the primary key (id > after). The unary plus keeps the
	// profile out of index selection: without statistics SQLite would
	// otherwise read the profile's whole subscriptions_profile_* index and
	// sort it for every batch (quadratic in the tenant's size: 6 s of a
	// 100,000-user commit); by id, a recompute reads the table once.
	q := `SELECT s.id, s.user_id, COALESCE(m.tracked, false), s.account_enabled, s.last_activity,
			s.last_activity_source, s.active_days_30, s.active_days_90, s.usage_class
		FROM subscriptions s LEFT JOIN software_models m ON m.sku_id = s.sku_id
		WHERE s.id > $2 AND +s.profile_id = $1 AND s.closed_at IS NULL
		ORDER BY s.id LIMIT ` + fmt.Sprint(recomputeBatch)

	type row struct {
		id        int64
		user      string
		tracked   bool
		enabled   bool
		oldLast   nullTime
		oldSource sql.NullString
		old30     int
		old90     int
		oldClass  string
	}
	var after int64
	total := 0
	for {
		rows, err := tx.QueryContext(ctx, q, profileID, after)
		if err != nil {
			return total, fmt.Errorf("compute usage: %w", err)
		}
		batch := make([]row, 0, recomputeBatch)
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.user, &r.tracked, &r.enabled, &r.oldLast, &r.oldSource, &r.old30, &r.old90,
				&r.oldClass); err != nil {
				rows.Close()
				return total, fmt.Errorf("compute usage: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("compute usage: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		var ev map[string]*userEvidence
		if pre != nil {
			ev = make(map[string]*userEvidence, len(batch))
			for _, r := range batch {
				if _, ok := ev[r.user]; !ok {
					ev[r.user] = pre.of(r.user)
				}
			}
		} else if ev, err = s.evidence(ctx, tx, profileID, start, d30, d90, len(batch), func(i int) string { return batch[i].user }); err != nil {
			return total, err
		}
		var changed []usageRow
		for _, r := range batch {
			u := ev[r.user].of(r.tracked)
			class := sam.Classify(sam.UsageFacts{
				AccountEnabled:   r.enabled,
				LastActivity:     u.lastPtr(),
				ActiveDays30:     u.days30,
				CoverageComplete: complete,
				Now:              now,
			})
			if r.oldLast.Valid == !u.last.IsZero() && r.oldLast.Time.Equal(u.last) &&
				r.oldSource.String == u.source && r.old30 == u.days30 && r.old90 == u.days90 && r.oldClass == string(class) {
				continue
			}
			changed = append(changed, usageRow{id: r.id, last: u.last, source: u.source, days30: u.days30, days90: u.days90,
				class: string(class)})
		}
		if err := s.storeUsage(ctx, tx, changed); err != nil {
			return total, err
		}
		total += len(batch)
		if len(batch) < recomputeBatch {
			return total, nil
		}
		after = batch[len(batch)-1].id
	}
}

// usage is what the evidence of one user says, for one kind of model.
type usage struct {
	last           time.Time // zero: no evidence
	source         string    // of last ("" without evidence)
	days30, days90 int
	days           map[string]bool
}

func (u *usage) lastPtr() *time.Time {
	if u.last.IsZero() {
		return nil
	}
	t := u.last
	return &t
}

// add counts one activity day: its day (as read), its newest time and
// source, and whether the day is within the last 30 and 90 days.
func (u *usage) add(day string, last time.Time, source string, in30, in90 bool) {
	if last.After(u.last) || (last.Equal(u.last) && source < u.source) {
		u.last, u.source = last, source
	}
	if u.days == nil {
		u.days = map[string]bool{}
	}
	if u.days[day] {
		return
	}
	u.days[day] = true
	if in30 {
		u.days30++
	}
	if in90 {
		u.days90++
	}
}

// userEvidence is a user's usage for tracked models (Dataverse sources
// only) and for other models (entra:signin too).
type userEvidence struct{ tracked, untracked usage }

func (e *userEvidence) of(tracked bool) *usage {
	if e == nil {
		return &usage{}
	}
	if tracked {
		return &e.tracked
	}
	return &e.untracked
}

// evidence reads the activity days at or after start of the users of a
// batch of subscriptions (user gives a subscription's user) and sums them
// up by user.
func (s *Store) evidence(ctx context.Context, tx *sql.Tx, profileID int64, start, d30, d90 time.Time, n int, user func(i int) string) (map[string]*userEvidence, error) {
	out := map[string]*userEvidence{}
	// Parameters in the order they appear (SQLite's are anonymous).
	args := []any{s.day(d30), s.day(d90), profileID, s.ts(start)}
	var in strings.Builder
	for i := range n {
		u := user(i)
		if _, ok := out[u]; ok {
			continue
		}
		out[u] = nil
		if len(args) > 4 {
			in.WriteString(", ")
		}
		args = append(args, u)
		in.WriteString(s.placeholder(len(args)))
	}
	rows, err := tx.QueryContext(ctx, `SELECT a.user_id, a.day, a.last_at, a.source,
			CASE WHEN a.day >= `+s.placeholder(1)+` THEN 1 ELSE 0 END, CASE WHEN a.day >= `+s.placeholder(2)+` THEN 1 ELSE 0 END
		FROM activity_days a WHERE a.profile_id = `+s.placeholder(3)+` AND a.last_at >= `+s.placeholder(4)+`
		AND a.user_id IN (`+in.String()+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u, day, source string
		var last nullTime
		var in30, in90 int
		if err := rows.Scan(&u, &day, &last, &source, &in30, &in90); err != nil {
			return nil, fmt.Errorf("read evidence: %w", err)
		}
		e := out[u]
		if e == nil {
			e = &userEvidence{}
			out[u] = e
		}
		e.untracked.add(day, last.Time, source, in30 == 1, in90 == 1)
		if source != string(sam.SourceSignIn) {
			e.tracked.add(day, last.Time, source, in30 == 1, in90 == 1)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	return out, nil
}

// usageRow is the usage recompute stores for one subscription.
type usageRow struct {
	id             int64
	last           time.Time // zero: none
	source         string
	days30, days90 int
	class          string
}

// storeUsage writes the usage of the changed subscriptions of a batch. On
// SQLite a prepared UPDATE by id runs per subscription (in process, a
// statement costs no round trip): an UPDATE joined to a VALUES list of the
// batch took half as long again, parsing and binding 3,000 parameters. On
// PostgreSQL the batch goes as arrays (storeUsageArrays).
func (s *Store) storeUsage(ctx context.Context, tx *sql.Tx, rows []usageRow) error {
	if len(rows) == 0 {
		return nil
	}
	if s.d.Name == "postgres" {
		return s.storeUsageArrays(ctx, tx, rows)
	}
	st, err := tx.PrepareContext(ctx, `UPDATE subscriptions SET last_activity = $1, last_activity_source = $2,
		active_days_30 = $3, active_days_90 = $4, usage_class = $5 WHERE id = $6`)
	if err != nil {
		return fmt.Errorf("store usage: %w", err)
	}
	defer st.Close()
	for _, r := range rows {
		var last any
		if !r.last.IsZero() {
			last = s.ts(r.last)
		}
		if _, err := st.ExecContext(ctx, last, r.source, r.days30, r.days90, r.class, r.id); err != nil {
			return fmt.Errorf("store usage of subscription %d: %w", r.id, err)
		}
	}
	return nil
}

// storeUsageArrays is storeUsage on PostgreSQL: each column goes as one
// array parameter, unnested, instead of six parameters per subscription
// (a statement of 3,000 parameters to parse and bind per batch).
func (s *Store) storeUsageArrays(ctx context.Context, tx *sql.Tx, rows []usageRow) error {
	n := len(rows)
	ids, d30, d90 := make([]int64, n), make([]int64, n), make([]int64, n)
	lasts, hasLast := make([]time.Time, n), make([]bool, n)
	sources, classes := make([]string, n), make([]string, n)
	for i, r := range rows {
		ids[i], sources[i], classes[i], d30[i], d90[i] = r.id, r.source, r.class, int64(r.days30), int64(r.days90)
		if !r.last.IsZero() {
			lasts[i], hasLast[i] = timestamp(r.last), true
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET
			last_activity = CASE WHEN v.has_last THEN v.last END, last_activity_source = v.source,
			active_days_30 = v.d30, active_days_90 = v.d90, usage_class = v.class
		FROM unnest($1::bigint[], $2::boolean[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[], $7::text[])
			AS v (id, has_last, last, source, d30, d90, class)
		WHERE subscriptions.id = v.id`, ids, hasLast, lasts, sources, d30, d90, classes); err != nil {
		return fmt.Errorf("store usage of %d subscriptions: %w", n, err)
	}
	return nil
}
