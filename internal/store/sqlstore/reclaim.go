package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

var _ store.ReclaimStore = (*Store)(nil)

// ReclaimSettings returns the installation's reclamation settings.
func (s *Store) ReclaimSettings(ctx context.Context) (store.ReclaimSettings, error) {
	var out store.ReclaimSettings
	var stale, undo int64
	var upd nullTime
	err := s.db.QueryRowContext(ctx, `SELECT dry_run, cap_count, cap_percent, staleness_seconds, undo_seconds, allow_group_removal,
		updated_at, updated_by FROM reclaim_settings WHERE id = 1`).Scan(&out.DryRun, &out.CapCount, &out.CapPercent, &stale, &undo,
		&out.AllowGroupRemoval, &upd, &out.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return store.DefaultReclaimSettings(), nil
	}
	if err != nil {
		return out, s.fail(err, "read reclamation settings")
	}
	out.StalenessLimit, out.UndoWindow, out.UpdatedAt = time.Duration(stale)*time.Second, time.Duration(undo)*time.Second, upd.Time
	return out, nil
}

// SetReclaimSettings replaces the settings.
func (s *Store) SetReclaimSettings(ctx context.Context, in *store.ReclaimSettings) error {
	if err := in.Validate(); err != nil {
		return err
	}
	in.UpdatedAt = timestamp(time.Now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO reclaim_settings (id, dry_run, cap_count, cap_percent, staleness_seconds, undo_seconds,
		allow_group_removal, updated_at, updated_by)
		VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET dry_run = excluded.dry_run, cap_count = excluded.cap_count, cap_percent = excluded.cap_percent,
		staleness_seconds = excluded.staleness_seconds, undo_seconds = excluded.undo_seconds,
		allow_group_removal = excluded.allow_group_removal, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		in.DryRun, in.CapCount, in.CapPercent, int64(in.StalenessLimit/time.Second), int64(in.UndoWindow/time.Second),
		in.AllowGroupRemoval, s.ts(in.UpdatedAt), in.UpdatedBy)
	return s.fail(err, "store reclamation settings")
}

const ruleColumns = `id, profile_id, sku_id, enabled, inactive_days, include_never_active, include_disabled, include_low_usage,
	include_duplicate_base, grace_days, notify_user, response_days, departments, countries, assignment_path, approval_group,
	manager_approval, created_at, updated_at, updated_by`

func scanRule(sc interface{ Scan(...any) error }) (*store.ReclaimRule, error) {
	r := &store.ReclaimRule{}
	var deps, countries, path string
	var created, updated nullTime
	if err := sc.Scan(&r.ID, &r.ProfileID, &r.SKUID, &r.Enabled, &r.InactiveDays, &r.IncludeNeverActive, &r.IncludeDisabled,
		&r.IncludeLowUsage, &r.IncludeDuplicateBase, &r.GraceDays, &r.NotifyUser, &r.ResponseDays, &deps, &countries, &path,
		&r.ApprovalGroup, &r.ManagerApproval, &created, &updated, &r.UpdatedBy); err != nil {
		return nil, err
	}
	r.AssignmentPath, r.CreatedAt, r.UpdatedAt = store.AssignmentPath(path), created.Time, updated.Time
	if err := json.Unmarshal([]byte(deps), &r.Departments); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(countries), &r.Countries); err != nil {
		return nil, err
	}
	return r, nil
}

// jsonText encodes v as JSON for a TEXT column; nil slices become [].
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func stringsOrEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// EnsureReclaimRules inserts the rules that do not exist yet.
func (s *Store) EnsureReclaimRules(ctx context.Context, rules []*store.ReclaimRule) (int, error) {
	n := 0
	err := s.inTx(ctx, "create reclamation rules", func(tx *sql.Tx) error {
		n = 0
		now := timestamp(time.Now())
		for _, r := range rules {
			r.SKUID = sam.NormalizeGUID(r.SKUID)
			if err := r.Validate(); err != nil {
				return err
			}
			if err := s.requireProfile(ctx, tx, r.ProfileID, false); err != nil {
				return err
			}
			var sku string
			if err := tx.QueryRowContext(ctx, `SELECT sku_id FROM software_models WHERE sku_id = $1`, r.SKUID).Scan(&sku); errors.Is(err, sql.ErrNoRows) {
				return sam.Errorf(sam.ENOTFOUND, "reclamation rule: software model %s not found", r.SKUID)
			} else if err != nil {
				return err
			}
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO reclaim_rules (profile_id, sku_id, enabled, inactive_days, include_never_active,
				include_disabled, include_low_usage, include_duplicate_base, grace_days, notify_user, response_days, departments,
				countries, assignment_path, approval_group, manager_approval, created_at, updated_at, updated_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
				ON CONFLICT (profile_id, sku_id) DO NOTHING RETURNING id`,
				r.ProfileID, r.SKUID, r.Enabled, r.InactiveDays, r.IncludeNeverActive, r.IncludeDisabled, r.IncludeLowUsage,
				r.IncludeDuplicateBase, r.GraceDays, r.NotifyUser, r.ResponseDays, jsonText(stringsOrEmpty(r.Departments)),
				jsonText(stringsOrEmpty(r.Countries)), string(r.AssignmentPath), sam.NormalizeGUID(r.ApprovalGroup), r.ManagerApproval,
				s.ts(now), s.ts(now), r.UpdatedBy).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue // exists: keep its edits
			}
			if err != nil {
				return err
			}
			r.ID, r.CreatedAt, r.UpdatedAt = id, now, now
			n++
		}
		return nil
	})
	return n, err
}

// ReclaimRule returns a rule.
func (s *Store) ReclaimRule(ctx context.Context, id int64) (*store.ReclaimRule, error) {
	r, err := scanRule(s.db.QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM reclaim_rules WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "reclamation rule %d not found", id)
	}
	return r, s.fail(err, "read reclamation rule %d", id)
}

// ReclaimRules returns the rules of a profile (0: all).
func (s *Store) ReclaimRules(ctx context.Context, profileID int64) ([]*store.ReclaimRule, error) {
	var a args
	q := `SELECT ` + ruleColumns + ` FROM reclaim_rules`
	if profileID != 0 {
		q += ` WHERE profile_id = ` + a.add(profileID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY profile_id, sku_id`, a...)
	if err != nil {
		return nil, s.fail(err, "list reclamation rules")
	}
	defer rows.Close()
	var out []*store.ReclaimRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, s.fail(err, "list reclamation rules")
		}
		out = append(out, r)
	}
	return out, s.fail(rows.Err(), "list reclamation rules")
}

// UpdateReclaimRule stores r's editable fields.
func (s *Store) UpdateReclaimRule(ctx context.Context, r *store.ReclaimRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := timestamp(time.Now())
	res, err := s.db.ExecContext(ctx, `UPDATE reclaim_rules SET enabled = $1, inactive_days = $2, include_never_active = $3,
		include_disabled = $4, include_low_usage = $5, include_duplicate_base = $6, grace_days = $7, notify_user = $8,
		response_days = $9, departments = $10, countries = $11, assignment_path = $12, approval_group = $13,
		manager_approval = $14, updated_at = $15, updated_by = $16 WHERE id = $17`,
		r.Enabled, r.InactiveDays, r.IncludeNeverActive, r.IncludeDisabled, r.IncludeLowUsage, r.IncludeDuplicateBase,
		r.GraceDays, r.NotifyUser, r.ResponseDays, jsonText(stringsOrEmpty(r.Departments)), jsonText(stringsOrEmpty(r.Countries)),
		string(r.AssignmentPath), sam.NormalizeGUID(r.ApprovalGroup), r.ManagerApproval, s.ts(now), r.UpdatedBy, r.ID)
	if err != nil {
		return s.fail(err, "update reclamation rule %d", r.ID)
	}
	if n, err := affected(res); err != nil {
		return s.fail(err, "update reclamation rule %d", r.ID)
	} else if n == 0 {
		return sam.Errorf(sam.ENOTFOUND, "reclamation rule %d not found", r.ID)
	}
	r.UpdatedAt = now
	return nil
}

// AddExclusion inserts an exclusion.
func (s *Store) AddExclusion(ctx context.Context, e *store.Exclusion) error {
	if e == nil {
		return sam.Errorf(sam.EINVALID, "exclusion: nothing to add")
	}
	known := false
	for _, k := range store.ExclusionKinds {
		known = known || e.Kind == k
	}
	e.Value = strings.ToLower(strings.TrimSpace(e.Value))
	if !known {
		return sam.Errorf(sam.EINVALID, "exclusion kind must be one of user, upn_pattern, group, sku, vip, not %q", e.Kind)
	}
	if e.Value == "" {
		return sam.Errorf(sam.EINVALID, "exclusion of kind %s needs a value", e.Kind)
	}
	if e.ProfileID < 0 {
		return sam.Errorf(sam.EINVALID, "exclusion: profile id %d is not valid", e.ProfileID)
	}
	if e.ProfileID > 0 {
		if err := s.requireProfile(ctx, s.db, e.ProfileID, false); err != nil {
			return s.fail(err, "add exclusion")
		}
	}
	e.CreatedAt = timestamp(time.Now())
	err := s.db.QueryRowContext(ctx, `INSERT INTO reclaim_exclusions (profile_id, kind, value, reason, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.ProfileID, string(e.Kind), e.Value, e.Reason, s.ts(e.CreatedAt), e.CreatedBy).Scan(&e.ID)
	if err != nil && s.d.Classify(err) == ErrUnique {
		return sam.Errorf(sam.ECONFLICT, "exclusion %s %q already exists", e.Kind, e.Value)
	}
	return s.fail(err, "add exclusion")
}

// Exclusions returns the exclusions that apply to a profile.
func (s *Store) Exclusions(ctx context.Context, profileID int64) ([]*store.Exclusion, error) {
	var a args
	q := `SELECT id, profile_id, kind, value, reason, created_at, created_by FROM reclaim_exclusions`
	if profileID >= 0 {
		q += ` WHERE profile_id = 0 OR profile_id = ` + a.add(profileID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, a...)
	if err != nil {
		return nil, s.fail(err, "list exclusions")
	}
	defer rows.Close()
	var out []*store.Exclusion
	for rows.Next() {
		e := &store.Exclusion{}
		var kind string
		var created nullTime
		if err := rows.Scan(&e.ID, &e.ProfileID, &kind, &e.Value, &e.Reason, &created, &e.CreatedBy); err != nil {
			return nil, s.fail(err, "list exclusions")
		}
		e.Kind, e.CreatedAt = store.ExclusionKind(kind), created.Time
		out = append(out, e)
	}
	return out, s.fail(rows.Err(), "list exclusions")
}

// DeleteExclusion removes an exclusion.
func (s *Store) DeleteExclusion(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM reclaim_exclusions WHERE id = $1`, id)
	if err != nil {
		return s.fail(err, "delete exclusion %d", id)
	}
	if n, err := affected(res); err != nil {
		return s.fail(err, "delete exclusion %d", id)
	} else if n == 0 {
		return sam.Errorf(sam.ENOTFOUND, "exclusion %d not found", id)
	}
	return nil
}

const candidateColumns = `id, profile_id, subscription_id, rule_id, user_id, upn, display_name, department, country, sku_id,
	assigned_by_group, justification, evidence, inactive_days, last_activity, saving, currency, state, due_at, message,
	approvers, intent, method, intent_at, disabled_plans, removed_at, undo_until, undone_at, notified_at, created_at,
	updated_at, closed_at`

func scanCandidate(sc interface{ Scan(...any) error }) (*store.Candidate, error) {
	c := &store.Candidate{}
	var just, evidence, state, approvers, plans string
	var last, due, intentAt, removed, undoUntil, undone, notified, created, updated, closed nullTime
	if err := sc.Scan(&c.ID, &c.ProfileID, &c.SubscriptionID, &c.RuleID, &c.UserID, &c.UPN, &c.DisplayName, &c.Department,
		&c.Country, &c.SKUID, &c.AssignedByGroup, &just, &evidence, &c.InactiveDays, &last, &c.Saving, &c.Currency, &state,
		&due, &c.Message, &approvers, &c.Intent, &c.Method, &intentAt, &plans, &removed, &undoUntil, &undone, &notified,
		&created, &updated, &closed); err != nil {
		return nil, err
	}
	c.Justification, c.State = store.Justification(just), store.CandidateState(state)
	if last.Valid {
		t := last.Time
		c.LastActivity = &t
	}
	c.DueAt, c.IntentAt, c.RemovedAt, c.UndoUntil, c.UndoneAt = due.Time, intentAt.Time, removed.Time, undoUntil.Time, undone.Time
	c.NotifiedAt, c.CreatedAt, c.UpdatedAt, c.ClosedAt = notified.Time, created.Time, updated.Time, closed.Time
	if err := json.Unmarshal([]byte(evidence), &c.Evidence); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(approvers), &c.Approvers); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(plans), &c.DisabledPlans); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) nullPtrTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// CreateCandidate inserts an open candidate and its first transition.
func (s *Store) CreateCandidate(ctx context.Context, c *store.Candidate, tr store.Transition) error {
	if c == nil || !c.State.Valid() || c.State.Closed() {
		return sam.Errorf(sam.EINVALID, "create candidate: the state must be an open workflow state")
	}
	if c.ProfileID <= 0 || c.SubscriptionID <= 0 || c.UserID == "" || c.SKUID == "" || c.Justification == "" {
		return sam.Errorf(sam.EINVALID, "create candidate: profile, subscription, user, SKU and justification are required")
	}
	if tr.Actor == "" {
		return sam.Errorf(sam.EINVALID, "create candidate: the transition needs an actor")
	}
	ev, err := json.Marshal(c.Evidence)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "create candidate: evidence")
	}
	return s.inTx(ctx, "create candidate", func(tx *sql.Tx) error {
		var sub int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM subscriptions WHERE id = $1 AND profile_id = $2`, c.SubscriptionID, c.ProfileID).Scan(&sub); errors.Is(err, sql.ErrNoRows) {
			return sam.Errorf(sam.ENOTFOUND, "create candidate: subscription %d of profile %d not found", c.SubscriptionID, c.ProfileID)
		} else if err != nil {
			return err
		}
		now := timestamp(time.Now())
		if tr.At.IsZero() {
			tr.At = now
		}
		c.CreatedAt, c.UpdatedAt = now, now
		err := tx.QueryRowContext(ctx, `INSERT INTO reclaim_candidates (profile_id, subscription_id, rule_id, user_id, upn,
			display_name, department, country, sku_id, assigned_by_group, justification, evidence, inactive_days, last_activity,
			saving, currency, state, open, due_at, message, approvers, intent, method, intent_at, disabled_plans, removed_at,
			undo_until, undone_at, notified_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
			$25, $26, $27, $28, $29, $30, $31) RETURNING id`,
			c.ProfileID, c.SubscriptionID, c.RuleID, sam.NormalizeGUID(c.UserID), c.UPN, c.DisplayName, c.Department, c.Country,
			sam.NormalizeGUID(c.SKUID), c.AssignedByGroup, string(c.Justification), string(ev), c.InactiveDays,
			s.nullPtrTS(c.LastActivity), c.Saving, c.Currency, string(c.State), true, s.nullTS(c.DueAt), c.Message,
			jsonText(stringsOrEmpty(c.Approvers)), c.Intent, c.Method, s.nullTS(c.IntentAt), jsonText(stringsOrEmpty(c.DisabledPlans)),
			s.nullTS(c.RemovedAt), s.nullTS(c.UndoUntil), s.nullTS(c.UndoneAt), s.nullTS(c.NotifiedAt), s.ts(now), s.ts(now)).Scan(&c.ID)
		if err != nil {
			if s.d.Classify(err) == ErrUnique {
				return sam.Errorf(sam.ECONFLICT, "subscription %d already has an open removal candidate", c.SubscriptionID)
			}
			return err
		}
		tr.CandidateID, tr.From, tr.To = c.ID, "", c.State
		return s.appendTransition(ctx, tx, &tr)
	})
}

func (s *Store) appendTransition(ctx context.Context, tx *sql.Tx, tr *store.Transition) error {
	tr.At = timestamp(tr.At)
	return tx.QueryRowContext(ctx, `INSERT INTO reclaim_transitions (candidate_id, at, from_state, to_state, actor, reason)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, tr.CandidateID, s.ts(tr.At), string(tr.From), string(tr.To), tr.Actor, tr.Reason).Scan(&tr.ID)
}

// Candidate returns a candidate.
func (s *Store) Candidate(ctx context.Context, id int64) (*store.Candidate, error) {
	c, err := scanCandidate(s.db.QueryRowContext(ctx, `SELECT `+candidateColumns+` FROM reclaim_candidates WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "removal candidate %d not found", id)
	}
	return c, s.fail(err, "read removal candidate %d", id)
}

// Candidates returns the candidates matching f ordered by ID.
func (s *Store) Candidates(ctx context.Context, f store.CandidateFilter) ([]*store.Candidate, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.SubscriptionID != 0 {
		where = append(where, "subscription_id = "+a.add(f.SubscriptionID))
	}
	if f.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(f.SKUID)))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(sam.NormalizeGUID(f.UserID)))
	}
	if len(f.States) > 0 {
		var ph []string
		for _, st := range f.States {
			ph = append(ph, a.add(string(st)))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.OpenOnly {
		where = append(where, "open = "+a.add(true))
	}
	if !f.DueBefore.IsZero() {
		where = append(where, "open = "+a.add(true), "due_at IS NOT NULL", "due_at <= "+a.add(s.ts(f.DueBefore)))
	}
	if f.Intent != "" {
		where = append(where, "intent = "+a.add(f.Intent))
	}
	if f.AfterID > 0 {
		where = append(where, "id > "+a.add(f.AfterID))
	}
	q := `SELECT ` + candidateColumns + ` FROM reclaim_candidates WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, s.fail(err, "list removal candidates")
	}
	defer rows.Close()
	var out []*store.Candidate
	for rows.Next() {
		c, err := scanCandidate(rows)
		if err != nil {
			return nil, s.fail(err, "list removal candidates")
		}
		out = append(out, c)
	}
	return out, s.fail(rows.Err(), "list removal candidates")
}

// UpdateCandidate stores c's mutable fields if its state is still expect.
func (s *Store) UpdateCandidate(ctx context.Context, c *store.Candidate, expect store.CandidateState, tr *store.Transition) error {
	if c == nil || !c.State.Valid() {
		return sam.Errorf(sam.EINVALID, "update candidate: unknown state")
	}
	if tr != nil && tr.Actor == "" {
		return sam.Errorf(sam.EINVALID, "update candidate: the transition needs an actor")
	}
	ev, err := json.Marshal(c.Evidence)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "update candidate: evidence")
	}
	return s.inTx(ctx, "update removal candidate", func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT state FROM reclaim_candidates WHERE id = $1`+s.d.ForUpdate, c.ID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return sam.Errorf(sam.ENOTFOUND, "removal candidate %d not found", c.ID)
		}
		if err != nil {
			return err
		}
		if store.CandidateState(cur) != expect {
			return sam.Errorf(sam.ECONFLICT, "removal candidate %d is %s, not %s: someone else acted on it", c.ID, cur, expect)
		}
		now := timestamp(time.Now())
		closed := c.ClosedAt
		if c.State.Closed() && closed.IsZero() {
			closed = now
		}
		if !c.State.Closed() {
			closed = time.Time{}
		}
		_, err = tx.ExecContext(ctx, `UPDATE reclaim_candidates SET state = $1, open = $2, due_at = $3, message = $4,
			approvers = $5, intent = $6, method = $7, intent_at = $8, disabled_plans = $9, removed_at = $10, undo_until = $11,
			undone_at = $12, notified_at = $13, evidence = $14, inactive_days = $15, last_activity = $16, saving = $17,
			currency = $18, updated_at = $19, closed_at = $20 WHERE id = $21`,
			string(c.State), !c.State.Closed(), s.nullTS(c.DueAt), c.Message, jsonText(stringsOrEmpty(c.Approvers)), c.Intent,
			c.Method, s.nullTS(c.IntentAt), jsonText(stringsOrEmpty(c.DisabledPlans)), s.nullTS(c.RemovedAt),
			s.nullTS(c.UndoUntil), s.nullTS(c.UndoneAt), s.nullTS(c.NotifiedAt), string(ev), c.InactiveDays,
			s.nullPtrTS(c.LastActivity), c.Saving, c.Currency, s.ts(now), s.nullTS(closed), c.ID)
		if err != nil {
			if s.d.Classify(err) == ErrUnique {
				return sam.Errorf(sam.ECONFLICT, "subscription %d already has another open removal candidate", c.SubscriptionID)
			}
			return err
		}
		c.UpdatedAt, c.ClosedAt = now, closed
		if tr != nil {
			if tr.At.IsZero() {
				tr.At = now
			}
			tr.CandidateID, tr.From, tr.To = c.ID, expect, c.State
			return s.appendTransition(ctx, tx, tr)
		}
		return nil
	})
}

// BeginCandidateChange claims a candidate for a tenant change.
func (s *Store) BeginCandidateChange(ctx context.Context, c *store.Candidate, expect store.CandidateState) error {
	if c == nil || c.Intent == "" {
		return sam.Errorf(sam.EINVALID, "begin candidate change: an intent is required")
	}
	now := timestamp(time.Now())
	res, err := s.db.ExecContext(ctx, `UPDATE reclaim_candidates SET intent = $1, method = $2, intent_at = $3, disabled_plans = $4,
		updated_at = $5 WHERE id = $6 AND state = $7 AND intent = ''`,
		c.Intent, c.Method, s.nullTS(c.IntentAt), jsonText(stringsOrEmpty(c.DisabledPlans)), s.ts(now), c.ID, string(expect))
	if err != nil {
		return s.fail(err, "begin change of removal candidate %d", c.ID)
	}
	n, err := affected(res)
	if err != nil {
		return s.fail(err, "begin change of removal candidate %d", c.ID)
	}
	if n == 0 {
		if _, err := s.Candidate(ctx, c.ID); err != nil {
			return err
		}
		return sam.Errorf(sam.ECONFLICT, "removal candidate %d is no longer %s or another change is in flight", c.ID, expect)
	}
	c.UpdatedAt = now
	return nil
}

// CandidateTransitions returns a candidate's history, oldest first.
func (s *Store) CandidateTransitions(ctx context.Context, candidateID int64) ([]store.Transition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, candidate_id, at, from_state, to_state, actor, reason FROM reclaim_transitions
		WHERE candidate_id = $1 ORDER BY id`, candidateID)
	if err != nil {
		return nil, s.fail(err, "list transitions of candidate %d", candidateID)
	}
	defer rows.Close()
	var out []store.Transition
	for rows.Next() {
		var tr store.Transition
		var at nullTime
		var from, to string
		if err := rows.Scan(&tr.ID, &tr.CandidateID, &at, &from, &to, &tr.Actor, &tr.Reason); err != nil {
			return nil, s.fail(err, "list transitions of candidate %d", candidateID)
		}
		tr.At, tr.From, tr.To = at.Time, store.CandidateState(from), store.CandidateState(to)
		out = append(out, tr)
	}
	return out, s.fail(rows.Err(), "list transitions of candidate %d", candidateID)
}

// SavingsCandidates returns the open and the closed complete (not undone)
// candidates of one profile and model.
func (s *Store) SavingsCandidates(ctx context.Context, profileID int64, skuID string) ([]sam.SavingsCandidate, error) {
	excl, err := s.Exclusions(ctx, profileID)
	if err != nil {
		return nil, err
	}
	x := store.NewExclusionSet(excl)
	rows, err := s.db.QueryContext(ctx, `SELECT subscription_id, user_id, upn, assigned_by_group, saving, currency, state, closed_at
		FROM reclaim_candidates WHERE profile_id = $1 AND sku_id = $2 AND (open = $3 OR (state = $4 AND undone_at IS NULL)) ORDER BY id`,
		profileID, sam.NormalizeGUID(skuID), true, string(store.StateClosedComplete))
	if err != nil {
		return nil, s.fail(err, "list savings candidates")
	}
	defer rows.Close()
	var out []sam.SavingsCandidate
	for rows.Next() {
		var c sam.SavingsCandidate
		var upn, group, state string
		var closed nullTime
		if err := rows.Scan(&c.SubscriptionID, &c.UserID, &upn, &group, &c.Amount, &c.Currency, &state, &closed); err != nil {
			return nil, s.fail(err, "list savings candidates")
		}
		if x.Match(c.UserID, upn, skuID, group) != "" {
			continue
		}
		if store.CandidateState(state) == store.StateClosedComplete && closed.Valid {
			t := closed.Time
			c.ClosedAt = &t
		}
		out = append(out, c)
	}
	return out, s.fail(rows.Err(), "list savings candidates")
}

// closeProfileCandidates closes the open removal candidates of a deleted
// profile as skipped, each with a transition; rules, candidates and history
// stay for audit.
func (s *Store) closeProfileCandidates(ctx context.Context, tx *sql.Tx, profileID int64, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, state FROM reclaim_candidates WHERE profile_id = $1 AND open = $2`, profileID, true)
	if err != nil {
		return err
	}
	type open struct {
		id    int64
		state string
	}
	var list []open
	for rows.Next() {
		var o open
		if err := rows.Scan(&o.id, &o.state); err != nil {
			rows.Close()
			return err
		}
		list = append(list, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now = timestamp(now)
	const why = "the profile was deleted"
	for _, o := range list {
		if _, err := tx.ExecContext(ctx, `UPDATE reclaim_candidates SET state = $1, open = $2, due_at = NULL, intent = '',
			message = $3, updated_at = $4, closed_at = $4 WHERE id = $5`, string(store.StateClosedSkipped), false, why, s.ts(now), o.id); err != nil {
			return err
		}
		tr := store.Transition{CandidateID: o.id, At: now, From: store.CandidateState(o.state), To: store.StateClosedSkipped, Actor: "system", Reason: why}
		if err := s.appendTransition(ctx, tx, &tr); err != nil {
			return err
		}
	}
	return nil
}
