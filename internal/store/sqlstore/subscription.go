package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

const subscriptionColumns = `id, profile_id, user_id, sku_id, upn, display_name, department, country,
	account_enabled, assigned_by_group, assigned_at, first_seen, last_seen, closed_at, last_activity,
	last_activity_source, active_days_30, active_days_90, usage_class`

func scanSubscription(sc interface{ Scan(...any) error }) (*sam.Subscription, error) {
	x := &sam.Subscription{}
	var assigned, first, last, closed, activity nullTime
	var class string
	if err := sc.Scan(&x.ID, &x.ProfileID, &x.UserID, &x.SKUID, &x.UPN, &x.DisplayName, &x.Department, &x.Country,
		&x.AccountEnabled, &x.AssignedByGroup, &assigned, &first, &last, &closed, &activity,
		&x.LastActivitySource, &x.ActiveDays30, &x.ActiveDays90, &class); err != nil {
		return nil, err
	}
	x.AssignedAt, x.FirstSeen, x.LastSeen = assigned.Time, first.Time, last.Time
	x.ClosedAt, x.LastActivity, x.UsageClass = closed.ptr(), activity.ptr(), sam.UsageClass(class)
	return x, nil
}

// Subscriptions returns subscriptions matching f, ordered by ID.
func (s *Store) Subscriptions(ctx context.Context, f store.SubscriptionFilter) ([]*sam.Subscription, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(f.SKUID)))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(sam.NormalizeGUID(f.UserID)))
	}
	if f.UsageClass != "" {
		where = append(where, "usage_class = "+a.add(string(f.UsageClass)))
	}
	if f.OpenOnly {
		where = append(where, "closed_at IS NULL")
	}
	if f.AfterID != 0 {
		where = append(where, "id > "+a.add(f.AfterID))
	}
	q := `SELECT ` + subscriptionColumns + ` FROM subscriptions WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, s.fail(err, "list subscriptions")
	}
	defer rows.Close()
	var out []*sam.Subscription
	for rows.Next() {
		x, err := scanSubscription(rows)
		if err != nil {
			return nil, s.fail(err, "list subscriptions")
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list subscriptions")
	}
	return out, nil
}

// Subscription returns one subscription; ENOTFOUND when absent.
func (s *Store) Subscription(ctx context.Context, id int64) (*sam.Subscription, error) {
	x, err := scanSubscription(s.db.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "subscription %d not found", id)
	}
	if err != nil {
		return nil, s.fail(err, "read subscription %d", id)
	}
	return x, nil
}

// StageUsers adds users read by a subscriptions run to the run's staging
// area and saves r's progress in the same transaction. A user staged twice
// in one run keeps the last version (licences included). EINVALID for a
// user without id or a licence without SKU id, ENOTFOUND for an unknown
// run, ECONFLICT for a run that has finished.
func (s *Store) StageUsers(ctx context.Context, r *sam.Run, users []store.StagedUser) error {
	return s.inTx(ctx, fmt.Sprintf("stage users of run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunSubscriptions); err != nil {
			return err
		}
		if len(users) > 0 {
			if err := s.stageUsers(ctx, tx, r.ID, users); err != nil {
				return err
			}
		}
		return s.saveProgress(ctx, tx, r)
	})
}

func (s *Store) stageUsers(ctx context.Context, tx *sql.Tx, runID int64, users []store.StagedUser) error {
	// This call's stamp: users and licences staged now carry it.
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) + 1 FROM staging_users WHERE run_id = $1`, runID).Scan(&seq); err != nil {
		return fmt.Errorf("stage users: %w", err)
	}
	// The last version of a user in this call wins; its licences replace
	// those staged before.
	type licKey struct{ user, sku string }
	last := map[string]int{}
	var order []string
	for i, u := range users {
		id := sam.NormalizeGUID(u.UserID)
		if id == "" {
			return sam.Errorf(sam.EINVALID, "staged user %q has no id", u.UPN)
		}
		for _, l := range u.Licenses {
			if sam.NormalizeGUID(l.SKUID) == "" {
				return sam.Errorf(sam.EINVALID, "staged user %s holds a licence without SKU id", id)
			}
		}
		if _, seen := last[id]; !seen {
			order = append(order, id)
		}
		last[id] = i
	}
	if s.d.Name == "postgres" {
		return s.stageUsersArrays(ctx, tx, runID, seq, users, order, last)
	}
	userRows := make([][]any, 0, len(order))
	var licRows [][]any
	for _, id := range order {
		u := users[last[id]]
		var signIn, signInDay any
		if u.LastSignIn != nil && !u.LastSignIn.IsZero() {
			signIn, signInDay = s.ts(*u.LastSignIn), s.day(*u.LastSignIn)
		}
		userRows = append(userRows, []any{runID, id, u.Removed, u.UPN, u.DisplayName, u.Department, u.Country,
			u.AccountEnabled, signIn, signInDay, seq})
		seen := map[licKey]int{}
		for _, l := range u.Licenses {
			k := licKey{id, sam.NormalizeGUID(l.SKUID)}
			row := []any{runID, k.user, k.sku, sam.NormalizeGUID(l.AssignedByGroup), s.nullTS(l.AssignedAt), seq}
			if at, dup := seen[k]; dup {
				licRows[at] = row
				continue
			}
			seen[k] = len(licRows)
			licRows = append(licRows, row)
		}
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO staging_users (run_id, user_id, removed, upn, display_name,
		department, country, account_enabled, last_sign_in, last_sign_in_day, seq)`,
		`ON CONFLICT (run_id, user_id) DO UPDATE SET `+stagedUserUpdate, userRows); err != nil {
		return fmt.Errorf("stage users: %w", err)
	}
	// Licences of an earlier version of a user keep their older seq and
	// are ignored by the commit.
	if err := s.insertMany(ctx, tx, `INSERT INTO staging_licenses (run_id, user_id, sku_id, assigned_by_group, assigned_at, seq)`,
		`ON CONFLICT (run_id, user_id, sku_id) DO UPDATE SET `+stagedLicenceUpdate, licRows); err != nil {
		return fmt.Errorf("stage licences: %w", err)
	}
	return nil
}

// stagedUserUpdate and stagedLicenceUpdate are what a user or licence
// staged again replaces.
const (
	stagedUserUpdate = `removed = excluded.removed, upn = excluded.upn,
			display_name = excluded.display_name, department = excluded.department, country = excluded.country,
			account_enabled = excluded.account_enabled, last_sign_in = excluded.last_sign_in,
			last_sign_in_day = excluded.last_sign_in_day, seq = excluded.seq`
	stagedLicenceUpdate = `assigned_by_group = excluded.assigned_by_group,
			assigned_at = excluded.assigned_at, seq = excluded.seq`
)

// stageUsersArrays stages the users order (the last version of each, by
// last) and their licences on PostgreSQL, resolveChunk rows a statement,
// each column as one array parameter: a multi-row VALUES of a parameter
// per value cost the server twice as much (1.3 s for the users of a
// 100,000-user tenant, 0.8 s for their licences).
func (s *Store) stageUsersArrays(ctx context.Context, tx *sql.Tx, runID, seq int64, users []store.StagedUser, order []string, last map[string]int) error {
	for start := 0; start < len(order); start += resolveChunk {
		chunk := order[start:min(start+resolveChunk, len(order))]
		n := len(chunk)
		removed, enabled, hasSignIn := make([]bool, n), make([]bool, n), make([]bool, n)
		upns, names, depts, countries := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		signIns, signInDays := make([]time.Time, n), make([]time.Time, n)
		var licUsers, licSKUs, licGroups []string
		var licHasAt []bool
		var licAt []time.Time
		for j, id := range chunk {
			u := users[last[id]]
			removed[j], enabled[j] = u.Removed, u.AccountEnabled
			upns[j], names[j], depts[j], countries[j] = u.UPN, u.DisplayName, u.Department, u.Country
			if u.LastSignIn != nil && !u.LastSignIn.IsZero() {
				hasSignIn[j], signIns[j], signInDays[j] = true, timestamp(*u.LastSignIn), sam.Day(*u.LastSignIn)
			}
			// A licence listed twice: the last one wins.
			first := len(licUsers)
			for _, l := range u.Licenses {
				sku := sam.NormalizeGUID(l.SKUID)
				at := slices.Index(licSKUs[first:], sku)
				if at < 0 {
					at = len(licSKUs) - first
					licUsers, licSKUs = append(licUsers, id), append(licSKUs, sku)
					licGroups, licHasAt, licAt = append(licGroups, ""), append(licHasAt, false), append(licAt, time.Time{})
				}
				at += first
				licGroups[at], licHasAt[at], licAt[at] = sam.NormalizeGUID(l.AssignedByGroup), !l.AssignedAt.IsZero(), timestamp(l.AssignedAt)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staging_users (run_id, user_id, removed, upn, display_name,
			department, country, account_enabled, last_sign_in, last_sign_in_day, seq)
			SELECT $1, v.user_id, v.removed, v.upn, v.display_name, v.department, v.country, v.account_enabled,
				CASE WHEN v.has_sign_in THEN v.sign_in END, CASE WHEN v.has_sign_in THEN v.sign_in_day END, $2
			FROM unnest($3::text[], $4::boolean[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[],
				$10::boolean[], $11::timestamptz[], $12::date[])
				AS v (user_id, removed, upn, display_name, department, country, account_enabled, has_sign_in, sign_in, sign_in_day)
			ON CONFLICT (run_id, user_id) DO UPDATE SET `+stagedUserUpdate,
			runID, seq, chunk, removed, upns, names, depts, countries, enabled, hasSignIn, signIns, signInDays); err != nil {
			return fmt.Errorf("stage users: %w", err)
		}
		if len(licUsers) == 0 {
			continue
		}
		// Licences of an earlier version of a user keep their older seq
		// and are ignored by the commit.
		if _, err := tx.ExecContext(ctx, `INSERT INTO staging_licenses (run_id, user_id, sku_id, assigned_by_group, assigned_at, seq)
			SELECT $1, v.user_id, v.sku_id, v.assigned_by_group, CASE WHEN v.has_at THEN v.assigned_at END, $2
			FROM unnest($3::text[], $4::text[], $5::text[], $6::boolean[], $7::timestamptz[])
				AS v (user_id, sku_id, assigned_by_group, has_at, assigned_at)
			ON CONFLICT (run_id, user_id, sku_id) DO UPDATE SET `+stagedLicenceUpdate,
			runID, seq, licUsers, licSKUs, licGroups, licHasAt, licAt); err != nil {
			return fmt.Errorf("stage licences: %w", err)
		}
	}
	return nil
}

// CommitSubscriptions applies a subscriptions run in one transaction (see
// store.Store). SKUs held by staged users without a software model get an
// unmapped model (family other), so that every subscription has one.
// Sign-ins of staged users are recorded as entra:signin activity days.
// ENOTFOUND for an unknown run or profile, ECONFLICT when the run has
// already finished (a run commits once).
func (s *Store) CommitSubscriptions(ctx context.Context, r *sam.Run, c store.SubscriptionCommit) (store.SubscriptionChanges, error) {
	var ch store.SubscriptionChanges
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	now := timestamp(c.Now)
	s.analyze(ctx, "staging_users", "staging_licenses", "subscriptions")
	err := s.inTx(ctx, fmt.Sprintf("commit subscriptions run %d", runID(r)), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunSubscriptions); err != nil {
			return err
		}
		p := r.ProfileID
		if err := s.requireProfile(ctx, tx, p, true); err != nil {
			return err
		}
		if err := s.upsertModels(ctx, tx, c.Models); err != nil {
			return err
		}
		units := make([]sam.SKUUnits, len(c.Units))
		for i, u := range c.Units {
			if u.ProfileID != 0 && u.ProfileID != p {
				return sam.Errorf(sam.EINVALID, "unit counts of profile %d in a run of profile %d", u.ProfileID, p)
			}
			u.ProfileID = p
			units[i] = u
		}
		if err := s.putUnits(ctx, tx, units); err != nil {
			return err
		}
		// Every SKU held gets a model, unmapped when the run did not bring
		// one. A model probe per licence first: the join to the users is
		// for the few SKUs without a model (joining every licence took
		// 0.3 s of a 100,000-user commit on SQLite).
		if _, err := tx.ExecContext(ctx, `INSERT INTO software_models (sku_id, part_number, publisher, product,
			edition, family, kind, metric, tracked, mapped, unit_price, currency, service_plans, updated_at)
			SELECT DISTINCT l.sku_id, '', '', '', '', 'other', 'base', 'user_subscription', false, false, 0, '', '[]', `+
			s.cast(2, true)+` FROM staging_licenses l
			WHERE l.run_id = $1 AND NOT EXISTS (SELECT 1 FROM software_models m WHERE m.sku_id = l.sku_id)
				AND EXISTS (SELECT 1 FROM staging_users u
					WHERE u.run_id = l.run_id AND u.user_id = l.user_id AND u.seq = l.seq AND NOT u.removed)
			ON CONFLICT (sku_id) DO NOTHING`, r.ID, s.ts(now)); err != nil {
			return fmt.Errorf("add unmapped models: %w", err)
		}
		held := `EXISTS (SELECT 1 FROM staging_users u JOIN staging_licenses l
				ON l.run_id = u.run_id AND l.user_id = u.user_id AND l.seq = u.seq
			WHERE u.run_id = $2 AND NOT u.removed AND u.user_id = subscriptions.user_id AND l.sku_id = subscriptions.sku_id)`
		closeQ := `UPDATE subscriptions SET closed_at = $3 WHERE profile_id = $1 AND closed_at IS NULL AND NOT ` + held
		if !c.Full {
			// Only staged users change: the planner starts from them.
			closeQ += ` AND user_id IN (SELECT u.user_id FROM staging_users u WHERE u.run_id = $2)`
		}
		res, err := tx.ExecContext(ctx, closeQ, p, r.ID, s.ts(now))
		if err != nil {
			return fmt.Errorf("close subscriptions: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		ch.Closed = int(n)
		res, err = tx.ExecContext(ctx, `UPDATE subscriptions AS s SET upn = x.upn, display_name = x.display_name,
			department = x.department, country = x.country, account_enabled = x.account_enabled,
			assigned_by_group = x.assigned_by_group, assigned_at = x.assigned_at
			FROM (SELECT u.user_id, l.sku_id, u.upn, u.display_name, u.department, u.country, u.account_enabled,
					l.assigned_by_group, l.assigned_at
				FROM staging_users u JOIN staging_licenses l ON l.run_id = u.run_id AND l.user_id = u.user_id AND l.seq = u.seq
				WHERE u.run_id = $2 AND NOT u.removed) AS x
			WHERE s.profile_id = $1 AND s.closed_at IS NULL AND s.user_id = x.user_id AND s.sku_id = x.sku_id
			AND (s.upn <> x.upn OR s.display_name <> x.display_name OR s.department <> x.department
				OR s.country <> x.country OR s.account_enabled <> x.account_enabled
				OR s.assigned_by_group <> x.assigned_by_group OR s.assigned_at IS DISTINCT FROM x.assigned_at)`, p, r.ID)
		if err != nil {
			return fmt.Errorf("update subscriptions: %w", err)
		}
		if n, err = affected(res); err != nil {
			return err
		}
		ch.Updated = int(n)
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET last_seen = $2 WHERE profile_id = $1 AND closed_at IS NULL`,
			p, s.ts(now)); err != nil {
			return fmt.Errorf("mark subscriptions seen: %w", err)
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (profile_id, user_id, sku_id, upn, display_name,
			department, country, account_enabled, assigned_by_group, assigned_at, first_seen, last_seen,
			last_activity_source, active_days_30, active_days_90, usage_class)
			SELECT `+s.cast(1, false)+`, u.user_id, l.sku_id, u.upn, u.display_name, u.department, u.country,
				u.account_enabled, l.assigned_by_group, l.assigned_at, `+s.cast(3, true)+`, `+s.cast(3, true)+`, '', 0, 0, 'unknown'
			FROM staging_users u JOIN staging_licenses l ON l.run_id = u.run_id AND l.user_id = u.user_id AND l.seq = u.seq
			WHERE u.run_id = $2 AND NOT u.removed AND NOT EXISTS (SELECT 1 FROM subscriptions o
				WHERE o.profile_id = $1 AND o.user_id = u.user_id AND o.sku_id = l.sku_id AND o.closed_at IS NULL)
			ORDER BY u.user_id, l.sku_id`, p, r.ID, s.ts(now))
		if err != nil {
			return fmt.Errorf("open subscriptions: %w", err)
		}
		if n, err = affected(res); err != nil {
			return err
		}
		ch.Opened = int(n)
		if err := s.analyzeChanged(ctx, tx, "subscriptions", int64(ch.Opened+ch.Closed)); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO activity_days (profile_id, user_id, day, environment_id,
			source, events, last_at)
			SELECT `+s.cast(1, false)+`, u.user_id, u.last_sign_in_day, 0, '`+string(sam.SourceSignIn)+`', 1, u.last_sign_in
			FROM staging_users u WHERE u.run_id = $2 AND NOT u.removed AND u.last_sign_in IS NOT NULL
			ON CONFLICT (profile_id, user_id, day, environment_id, source) DO UPDATE SET
				last_at = CASE WHEN excluded.last_at > activity_days.last_at THEN excluded.last_at
					ELSE activity_days.last_at END`, p, r.ID)
		if err != nil {
			return fmt.Errorf("record sign-ins: %w", err)
		}
		if n, err = affected(res); err != nil {
			return err
		}
		// The recompute reads the sign-ins: a first sync's fill an empty table.
		if err := s.analyzeChanged(ctx, tx, "activity_days", n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (profile_id, delta_link, last_subscriptions_sync)
			VALUES ($1, $2, $3) ON CONFLICT (profile_id) DO UPDATE SET delta_link = excluded.delta_link,
				last_subscriptions_sync = excluded.last_subscriptions_sync`, p, c.DeltaLink, s.ts(now)); err != nil {
			return fmt.Errorf("save sync state: %w", err)
		}
		if !c.DeferUsage {
			if _, err := s.recompute(ctx, tx, p, now); err != nil {
				return err
			}
		}
		r.Status = sam.RunSucceeded
		return s.finishRun(ctx, tx, r)
	})
	if err != nil {
		return store.SubscriptionChanges{}, err
	}
	return ch, nil
}

// cast returns placeholder $n cast to the column type of a timestamp (ts)
// or a bigint, for parameters in a SELECT list whose type the database
// cannot infer.
func (s *Store) cast(n int, ts bool) string {
	typ := "BIGINT"
	if ts {
		typ = s.d.TimestampType
	}
	return fmt.Sprintf("CAST($%d AS %s)", n, typ)
}
