package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// PutSecret stores a sealed secret for a profile under name, replacing any
// previous one. EINVALID for an empty name or key id, ENOTFOUND when the
// profile does not exist.
func (s *Store) PutSecret(ctx context.Context, profileID int64, name string, sec sam.SealedSecret) error {
	if name == "" || sec.KeyID == "" {
		return sam.Errorf(sam.EINVALID, "secret of profile %d: name and key id are required", profileID)
	}
	return s.inTx(ctx, fmt.Sprintf("store secret %s of profile %d", name, profileID), func(tx *sql.Tx) error {
		if err := s.requireProfile(ctx, tx, profileID, false); err != nil {
			return err
		}
		ct := sec.Ciphertext
		if ct == nil {
			ct = []byte{}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO secrets (profile_id, name, key_id, ciphertext, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (profile_id, name) DO UPDATE SET key_id = excluded.key_id,
				ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
			profileID, name, sec.KeyID, ct, s.ts(time.Now()))
		return err
	})
}

// Secret returns a sealed secret; ENOTFOUND when absent.
func (s *Store) Secret(ctx context.Context, profileID int64, name string) (sam.SealedSecret, error) {
	var sec sam.SealedSecret
	err := s.db.QueryRowContext(ctx, `SELECT key_id, ciphertext FROM secrets WHERE profile_id = $1 AND name = $2`,
		profileID, name).Scan(&sec.KeyID, &sec.Ciphertext)
	if errors.Is(err, sql.ErrNoRows) {
		return sec, sam.Errorf(sam.ENOTFOUND, "secret %s of profile %d not found", name, profileID)
	}
	if err != nil {
		return sec, s.fail(err, "read secret %s of profile %d", name, profileID)
	}
	return sec, nil
}

// UpsertSoftwareModels inserts or updates models by SKU id (lower-cased). A
// mapped model replaces an unmapped one; an unmapped model never overwrites
// a mapped one. UnitPrice and Currency already stored are kept when the
// incoming model has neither. EINVALID for a model without SKU id.
func (s *Store) UpsertSoftwareModels(ctx context.Context, models []sam.SoftwareModel) error {
	if len(models) == 0 {
		return nil
	}
	return s.inTx(ctx, "store software models", func(tx *sql.Tx) error {
		return s.upsertModels(ctx, tx, models)
	})
}

func (s *Store) upsertModels(ctx context.Context, tx *sql.Tx, models []sam.SoftwareModel) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO software_models
		(sku_id, part_number, publisher, product, edition, family, kind, metric, tracked, mapped,
		 unit_price, currency, service_plans, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (sku_id) DO UPDATE SET part_number = excluded.part_number, publisher = excluded.publisher,
			product = excluded.product, edition = excluded.edition, family = excluded.family, kind = excluded.kind,
			metric = excluded.metric, tracked = excluded.tracked, mapped = excluded.mapped,
			unit_price = CASE WHEN excluded.unit_price <> 0 OR excluded.currency <> '' THEN excluded.unit_price
				ELSE software_models.unit_price END,
			currency = CASE WHEN excluded.unit_price <> 0 OR excluded.currency <> '' THEN excluded.currency
				ELSE software_models.currency END,
			service_plans = excluded.service_plans, updated_at = excluded.updated_at
		WHERE excluded.mapped OR NOT software_models.mapped`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	now := s.ts(time.Now())
	for _, m := range models {
		sku := sam.NormalizeGUID(m.SKUID)
		if sku == "" {
			return sam.Errorf(sam.EINVALID, "software model %q has no SKU id", m.PartNumber)
		}
		plans := m.ServicePlans
		if plans == nil {
			plans = []sam.ServicePlan{}
		}
		pj, err := json.Marshal(plans)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, sku, m.PartNumber, m.Publisher, m.Product, m.Edition, string(m.Family),
			string(m.Kind), m.Metric, m.Tracked, m.Mapped, m.UnitPrice, m.Currency, string(pj), now); err != nil {
			return fmt.Errorf("store software model %s: %w", sku, err)
		}
	}
	return nil
}

const modelColumns = `sku_id, part_number, publisher, product, edition, family, kind, metric, tracked, mapped,
	unit_price, currency, service_plans`

func scanModel(sc interface{ Scan(...any) error }) (sam.SoftwareModel, error) {
	var m sam.SoftwareModel
	var family, kind, plans string
	if err := sc.Scan(&m.SKUID, &m.PartNumber, &m.Publisher, &m.Product, &m.Edition, &family, &kind, &m.Metric,
		&m.Tracked, &m.Mapped, &m.UnitPrice, &m.Currency, &plans); err != nil {
		return m, err
	}
	m.Family, m.Kind = sam.Family(family), sam.Kind(kind)
	if err := json.Unmarshal([]byte(plans), &m.ServicePlans); err != nil {
		return m, fmt.Errorf("service plans of %s: %w", m.SKUID, err)
	}
	if len(m.ServicePlans) == 0 {
		m.ServicePlans = nil
	}
	return m, nil
}

// SoftwareModel returns the model for a SKU id; ENOTFOUND when absent.
func (s *Store) SoftwareModel(ctx context.Context, skuID string) (*sam.SoftwareModel, error) {
	sku := sam.NormalizeGUID(skuID)
	m, err := scanModel(s.reader().QueryRowContext(ctx, `SELECT `+modelColumns+` FROM software_models WHERE sku_id = $1`, sku))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "software model %s not found", sku)
	}
	if err != nil {
		return nil, s.fail(err, "read software model %s", sku)
	}
	return &m, nil
}

// args collects query arguments and returns their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// SoftwareModels returns the models matching f, ordered by part number
// (then SKU id).
func (s *Store) SoftwareModels(ctx context.Context, f store.ModelFilter) ([]sam.SoftwareModel, error) {
	var a args
	where := []string{"1 = 1"}
	if f.Family != "" {
		where = append(where, "family = "+a.add(string(f.Family)))
	}
	if f.Tracked != nil {
		where = append(where, "tracked = "+a.add(*f.Tracked))
	}
	if f.Mapped != nil {
		where = append(where, "mapped = "+a.add(*f.Mapped))
	}
	if len(f.SKUIDs) > 0 {
		var ph []string
		for _, id := range f.SKUIDs {
			ph = append(ph, a.add(sam.NormalizeGUID(id)))
		}
		where = append(where, "sku_id IN ("+strings.Join(ph, ", ")+")")
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT `+modelColumns+` FROM software_models WHERE `+
		strings.Join(where, " AND ")+` ORDER BY part_number, sku_id`, a...)
	if err != nil {
		return nil, s.fail(err, "list software models")
	}
	defer rows.Close()
	var out []sam.SoftwareModel
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, s.fail(err, "list software models")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list software models")
	}
	return out, nil
}

// PutSKUUnits records Microsoft's unit counts, replacing the record of the
// same profile, SKU and day (Day is reduced to its UTC day). ENOTFOUND when
// a profile does not exist.
func (s *Store) PutSKUUnits(ctx context.Context, units []sam.SKUUnits) error {
	if len(units) == 0 {
		return nil
	}
	return s.inTx(ctx, "store SKU unit counts", func(tx *sql.Tx) error {
		return s.putUnits(ctx, tx, units)
	})
}

func (s *Store) putUnits(ctx context.Context, tx *sql.Tx, units []sam.SKUUnits) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sku_units
		(profile_id, sku_id, day, part_number, capability_status, enabled, warning, suspended, locked_out, consumed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (profile_id, day, sku_id) DO UPDATE SET part_number = excluded.part_number,
			capability_status = excluded.capability_status, enabled = excluded.enabled, warning = excluded.warning,
			suspended = excluded.suspended, locked_out = excluded.locked_out, consumed = excluded.consumed`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, u := range units {
		sku := sam.NormalizeGUID(u.SKUID)
		if sku == "" || u.Day.IsZero() {
			return sam.Errorf(sam.EINVALID, "SKU unit count %q: SKU id and day are required", u.PartNumber)
		}
		if _, err := stmt.ExecContext(ctx, u.ProfileID, sku, s.day(u.Day), u.PartNumber, u.CapabilityStatus,
			u.Enabled, u.Warning, u.Suspended, u.LockedOut, u.Consumed); err != nil {
			if s.d.Classify(err) == ErrForeignKey {
				return sam.Wrap(sam.ENOTFOUND, err, "profile %d not found", u.ProfileID)
			}
			return fmt.Errorf("store units of %s: %w", sku, err)
		}
	}
	return nil
}

// SKUUnits returns the records of a profile between from and to (inclusive
// UTC days), ordered by day then SKU.
func (s *Store) SKUUnits(ctx context.Context, profileID int64, from, to time.Time) ([]sam.SKUUnits, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT profile_id, sku_id, day, part_number, capability_status, enabled,
		warning, suspended, locked_out, consumed FROM sku_units
		WHERE profile_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, sku_id`, profileID, s.day(from), s.day(to))
	if err != nil {
		return nil, s.fail(err, "read SKU unit counts of profile %d", profileID)
	}
	defer rows.Close()
	var out []sam.SKUUnits
	for rows.Next() {
		var u sam.SKUUnits
		var day nullTime
		if err := rows.Scan(&u.ProfileID, &u.SKUID, &day, &u.PartNumber, &u.CapabilityStatus, &u.Enabled, &u.Warning,
			&u.Suspended, &u.LockedOut, &u.Consumed); err != nil {
			return nil, s.fail(err, "read SKU unit counts of profile %d", profileID)
		}
		u.Day = day.Time
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read SKU unit counts of profile %d", profileID)
	}
	return out, nil
}
