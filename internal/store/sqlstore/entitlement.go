package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

const entitlementColumns = `id, profile_id, sku_id, quantity, unit_cost, currency, term_start, term_end, commitment,
	cost_center, purchase_order, notes, created_at, updated_at`

func scanEntitlement(sc interface{ Scan(...any) error }) (*sam.Entitlement, error) {
	e := &sam.Entitlement{}
	var start, end, created, updated nullTime
	var commitment string
	if err := sc.Scan(&e.ID, &e.ProfileID, &e.SKUID, &e.Quantity, &e.UnitCost, &e.Currency, &start, &end, &commitment,
		&e.CostCenter, &e.PurchaseOrder, &e.Notes, &created, &updated); err != nil {
		return nil, err
	}
	e.TermStart, e.TermEnd, e.CreatedAt, e.UpdatedAt = start.Time, end.Time, created.Time, updated.Time
	e.Commitment = sam.Commitment(commitment)
	return e, nil
}

// checkEntitlement normalises and validates e and checks that its profile
// and software model exist.
func (s *Store) checkEntitlement(ctx context.Context, q querier, e *sam.Entitlement) error {
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	if err := s.requireProfile(ctx, q, e.ProfileID, false); err != nil {
		return err
	}
	var sku string
	err := q.QueryRowContext(ctx, `SELECT sku_id FROM software_models WHERE sku_id = $1`, e.SKUID).Scan(&sku)
	if errors.Is(err, sql.ErrNoRows) {
		return sam.Errorf(sam.ENOTFOUND, "entitlement: software model %s not found", e.SKUID)
	}
	return err
}

// conflict turns a unique violation into a clear ECONFLICT.
func (s *Store) entitlementConflict(err error, e *sam.Entitlement) error {
	if err != nil && s.d.Classify(err) == ErrUnique {
		return sam.Wrap(sam.ECONFLICT, err, "entitlement for SKU %s, term %s..%s, purchase order %q, cost centre %q is already recorded",
			e.SKUID, sam.FormatDay(e.TermStart), sam.FormatDay(e.TermEnd), e.PurchaseOrder, e.CostCenter)
	}
	return err
}

// CreateEntitlements inserts es in one transaction (all or none); see
// store.EntitlementStore.
func (s *Store) CreateEntitlements(ctx context.Context, es []*sam.Entitlement) error {
	if len(es) == 0 {
		return nil
	}
	now := timestamp(time.Now())
	return s.inTx(ctx, "create entitlements", func(tx *sql.Tx) error {
		for i, e := range es {
			if e == nil {
				return sam.Errorf(sam.EINVALID, "entitlement %d of %d is missing", i+1, len(es))
			}
			if err := s.checkEntitlement(ctx, tx, e); err != nil {
				return err
			}
			err := tx.QueryRowContext(ctx, `INSERT INTO entitlements (profile_id, sku_id, quantity, unit_cost, currency,
				term_start, term_end, commitment, cost_center, purchase_order, notes, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
				e.ProfileID, e.SKUID, e.Quantity, e.UnitCost, e.Currency, s.day(e.TermStart), s.day(e.TermEnd),
				string(e.Commitment), e.CostCenter, e.PurchaseOrder, e.Notes, s.ts(now), s.ts(now)).Scan(&e.ID)
			if err != nil {
				return s.entitlementConflict(err, e)
			}
			e.CreatedAt, e.UpdatedAt = now, now
		}
		return nil
	})
}

// UpdateEntitlement replaces the fields of entitlement e.ID.
func (s *Store) UpdateEntitlement(ctx context.Context, e *sam.Entitlement) error {
	if e == nil {
		return sam.Errorf(sam.EINVALID, "update entitlement: entitlement is missing")
	}
	now := timestamp(time.Now())
	return s.inTx(ctx, "update entitlement "+itoa(e.ID), func(tx *sql.Tx) error {
		if err := s.checkEntitlement(ctx, tx, e); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE entitlements SET profile_id = $2, sku_id = $3, quantity = $4, unit_cost = $5,
			currency = $6, term_start = $7, term_end = $8, commitment = $9, cost_center = $10, purchase_order = $11,
			notes = $12, updated_at = $13 WHERE id = $1`,
			e.ID, e.ProfileID, e.SKUID, e.Quantity, e.UnitCost, e.Currency, s.day(e.TermStart), s.day(e.TermEnd),
			string(e.Commitment), e.CostCenter, e.PurchaseOrder, e.Notes, s.ts(now))
		if err != nil {
			return s.entitlementConflict(err, e)
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return sam.Errorf(sam.ENOTFOUND, "entitlement %d not found", e.ID)
		}
		e.UpdatedAt = now
		return nil
	})
}

// DeleteEntitlement removes an entitlement; ENOTFOUND when absent.
func (s *Store) DeleteEntitlement(ctx context.Context, id int64) error {
	return s.inTx(ctx, "delete entitlement "+itoa(id), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM entitlements WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return sam.Errorf(sam.ENOTFOUND, "entitlement %d not found", id)
		}
		return nil
	})
}

// Entitlement returns one entitlement; ENOTFOUND when absent.
func (s *Store) Entitlement(ctx context.Context, id int64) (*sam.Entitlement, error) {
	e, err := scanEntitlement(s.db.QueryRowContext(ctx, `SELECT `+entitlementColumns+` FROM entitlements WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "entitlement %d not found", id)
	}
	if err != nil {
		return nil, s.fail(err, "read entitlement %d", id)
	}
	return e, nil
}

// Entitlements returns the entitlements matching f ordered by profile, SKU,
// term start and id.
func (s *Store) Entitlements(ctx context.Context, f store.EntitlementFilter) ([]*sam.Entitlement, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(f.SKUID)))
	}
	if !f.ActiveOn.IsZero() {
		d := s.day(f.ActiveOn)
		where = append(where, "term_start <= "+a.add(d)+" AND term_end >= "+a.add(d))
	}
	if !f.EndFrom.IsZero() {
		where = append(where, "term_end >= "+a.add(s.day(f.EndFrom)))
	}
	if !f.EndTo.IsZero() {
		where = append(where, "term_end <= "+a.add(s.day(f.EndTo)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+entitlementColumns+` FROM entitlements WHERE `+strings.Join(where, " AND ")+
		` ORDER BY profile_id, sku_id, term_start, id`, a...)
	if err != nil {
		return nil, s.fail(err, "list entitlements")
	}
	defer rows.Close()
	var out []*sam.Entitlement
	for rows.Next() {
		e, err := scanEntitlement(rows)
		if err != nil {
			return nil, s.fail(err, "list entitlements")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list entitlements")
	}
	return out, nil
}

// CountOpenSubscriptions counts open subscriptions per profile, SKU and
// group in SQL. The unique index subscriptions_open guarantees one open
// subscription per profile, user and SKU, so count(*) is the number of
// unique users.
func (s *Store) CountOpenSubscriptions(ctx context.Context, f store.CountFilter) ([]store.SubscriptionCount, error) {
	group := "''"
	switch f.GroupBy {
	case store.GroupNone:
	case store.GroupDepartment:
		group = "department"
	case store.GroupCountry:
		group = "country"
	default:
		return nil, sam.Errorf(sam.EINVALID, "count subscriptions: cannot group by %q (want department or country)", f.GroupBy)
	}
	var a args
	where := []string{"closed_at IS NULL"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(f.SKUID)))
	}
	// Ungrouped, the partial index subscriptions_open_sku answers in its
	// own order (no sort): the constant group must stay out of GROUP BY.
	groupBy, orderBy := "profile_id, sku_id", "profile_id, sku_id"
	if f.GroupBy != store.GroupNone {
		groupBy += ", " + group
		orderBy += ", " + group
	}
	rows, err := s.db.QueryContext(ctx, `SELECT profile_id, sku_id, `+group+`, count(*) FROM subscriptions
		WHERE `+strings.Join(where, " AND ")+` GROUP BY `+groupBy+` ORDER BY `+orderBy, a...)
	if err != nil {
		return nil, s.fail(err, "count open subscriptions")
	}
	defer rows.Close()
	var out []store.SubscriptionCount
	for rows.Next() {
		var c store.SubscriptionCount
		if err := rows.Scan(&c.ProfileID, &c.SKUID, &c.Group, &c.Users); err != nil {
			return nil, s.fail(err, "count open subscriptions")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "count open subscriptions")
	}
	return out, nil
}

// CommitReconciliation stores the positions of reconciliation run r and
// finishes it as succeeded, in one transaction.
func (s *Store) CommitReconciliation(ctx context.Context, r *sam.Run, ps []sam.Position) error {
	if r == nil {
		return sam.Errorf(sam.EINVALID, "commit reconciliation: run is missing")
	}
	return s.inTx(ctx, fmt.Sprintf("commit reconciliation run %d", r.ID), func(tx *sql.Tx) error {
		if err := s.lockRunningRun(ctx, tx, r, sam.RunReconciliation); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO position_snapshots (run_id, profile_id, sku_id, as_of, owned, used,
			available, shortfall, currency, monthly_cost, average_unit_price, over_licensed, true_up_cost,
			potential_savings, realised_savings, compliant, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range ps {
			p := &ps[i]
			if p.ProfileID != r.ProfileID {
				return sam.Errorf(sam.EINVALID, "position of %s belongs to profile %d, not to run %d's profile %d", p.PartNumber, p.ProfileID, r.ID, r.ProfileID)
			}
			p.AsOf = timestamp(p.AsOf)
			pj, err := json.Marshal(p)
			if err != nil {
				return sam.Wrap(sam.EINTERNAL, err, "encode position of %s", p.PartNumber)
			}
			if _, err := stmt.ExecContext(ctx, r.ID, p.ProfileID, sam.NormalizeGUID(p.SKUID), s.ts(p.AsOf), p.Owned, p.Used,
				p.Available, p.Shortfall, p.Currency, p.MonthlyCost, p.AverageUnitPrice, p.OverLicensed, p.TrueUpCost,
				p.PotentialSavings, p.RealisedSavings, p.Compliant, string(pj)); err != nil {
				if s.d.Classify(err) == ErrUnique {
					return sam.Wrap(sam.EINVALID, err, "two positions of SKU %s in run %d", p.SKUID, r.ID)
				}
				return err
			}
		}
		r.Status = sam.RunSucceeded
		if r.Counts == nil {
			r.Counts = map[string]int64{}
		}
		r.Counts["positions"] = int64(len(ps))
		return s.finishRun(ctx, tx, r)
	})
}

// PositionSnapshots returns stored positions matching f, ordered by profile,
// SKU and time.
func (s *Store) PositionSnapshots(ctx context.Context, f store.SnapshotFilter) ([]store.PositionSnapshot, error) {
	var a args
	where := []string{"1 = 1"}
	if f.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(f.ProfileID))
	}
	if f.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(f.SKUID)))
	}
	if f.RunID != 0 {
		where = append(where, "run_id = "+a.add(f.RunID))
	}
	if !f.From.IsZero() {
		where = append(where, "as_of >= "+a.add(s.ts(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "as_of <= "+a.add(s.ts(f.To)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, position FROM position_snapshots WHERE `+strings.Join(where, " AND ")+
		` ORDER BY profile_id, sku_id, as_of, run_id`, a...)
	if err != nil {
		return nil, s.fail(err, "read position snapshots")
	}
	defer rows.Close()
	var out []store.PositionSnapshot
	for rows.Next() {
		var ps store.PositionSnapshot
		var pj string
		if err := rows.Scan(&ps.RunID, &pj); err != nil {
			return nil, s.fail(err, "read position snapshots")
		}
		if err := json.Unmarshal([]byte(pj), &ps.Position); err != nil {
			return nil, sam.Wrap(sam.EINTERNAL, err, "decode position snapshot of run %d", ps.RunID)
		}
		out = append(out, ps)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read position snapshots")
	}
	return out, nil
}

// EachUserLicences streams the users of a profile holding open
// subscriptions of skuIDs, with their evidence days since since.
func (s *Store) EachUserLicences(ctx context.Context, profileID int64, skuIDs []string, since time.Time, fn func(store.UserLicences) error) error {
	var a args
	where := []string{"s.profile_id = " + a.add(profileID), "s.closed_at IS NULL"}
	if len(skuIDs) > 0 {
		ph := make([]string, len(skuIDs))
		for i, id := range skuIDs {
			ph[i] = a.add(sam.NormalizeGUID(id))
		}
		where = append(where, "s.sku_id IN ("+strings.Join(ph, ", ")+")")
	}
	sinceArg := a.add(s.day(since))
	rec := a.add(string(sam.SourceRecord))
	web, api := a.add(string(sam.SourceAccessWeb)), a.add(string(sam.SourceAccessAPI))
	days := `SELECT count(DISTINCT x.day) FROM activity_days x WHERE x.profile_id = s.profile_id AND x.user_id = s.user_id AND x.day >= ` + sinceArg
	q := `SELECT s.id, s.user_id, s.upn, s.display_name, s.account_enabled, s.sku_id, s.usage_class,
			(` + days + ` AND x.source = ` + rec + `),
			(` + days + ` AND x.source IN (` + web + `, ` + api + `))
		FROM subscriptions s WHERE ` + strings.Join(where, " AND ") + ` ORDER BY s.user_id, s.sku_id`
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return s.fail(err, "read licences per user of profile %d", profileID)
	}
	defer rows.Close()
	var cur *store.UserLicences
	for rows.Next() {
		var l store.HeldLicence
		var u store.UserLicences
		var class string
		if err := rows.Scan(&l.SubscriptionID, &u.UserID, &u.UPN, &u.DisplayName, &u.AccountEnabled, &l.SKUID, &class,
			&u.RecordDays, &u.AccessDays); err != nil {
			return s.fail(err, "read licences per user of profile %d", profileID)
		}
		l.UsageClass = sam.UsageClass(class)
		if cur != nil && cur.UserID != u.UserID {
			if err := fn(*cur); err != nil {
				return err
			}
			cur = nil
		}
		if cur == nil {
			cur = &u
		}
		cur.Licences = append(cur.Licences, l)
	}
	if err := rows.Err(); err != nil {
		return s.fail(err, "read licences per user of profile %d", profileID)
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}
