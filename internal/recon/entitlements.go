// Package recon reconciles entitlements (rights bought) with subscriptions
// (rights used): it imports and suggests entitlements, computes the licence
// position of every software model (sam.ComputePosition) from counts the
// database aggregates, stores a snapshot per reconciliation run, and derives
// trends, forecasts, renewal advice and savings from them.
package recon

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// ResolveModel finds the software model a SKU GUID or part number names:
// first among the models stored (downloaded from a tenant), then in the
// catalog's Dynamics 365 / Power Platform models. stored says whether it is
// already in the store (a catalog model must be upserted before an
// entitlement can reference it). ENOTFOUND for a SKU of neither, with the
// catalog's name for a SKU of another family; EINVALID for a part number
// that names several stored SKUs.
func ResolveModel(ctx context.Context, st store.Store, cat *catalog.Catalog, key string) (m sam.SoftwareModel, stored bool, err error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return m, false, sam.Errorf(sam.EINVALID, "SKU is required (a SKU GUID or part number)")
	}
	if sam.ValidGUID(key) {
		sku := sam.NormalizeGUID(key)
		got, err := st.SoftwareModel(ctx, sku)
		if err == nil {
			return *got, true, nil
		}
		if !sam.IsCode(err, sam.ENOTFOUND) {
			return m, false, err
		}
		if cm, ok := cat.Model(sku); ok {
			return cm, false, nil
		}
		if p, ok := cat.Product(sku); ok {
			return m, false, sam.Errorf(sam.ENOTFOUND, "SKU %s is %s (%s), not a Dynamics 365 or Power Platform licence", sku, p.PartNumber, p.Name)
		}
		return m, false, sam.Errorf(sam.ENOTFOUND, "unknown SKU %s: not in the catalog and never downloaded from a tenant", sku)
	}
	models, err := st.SoftwareModels(ctx, store.ModelFilter{})
	if err != nil {
		return m, false, err
	}
	norm := catalog.NormalizePartNumber(key)
	var found []sam.SoftwareModel
	for _, x := range models {
		if strings.EqualFold(catalog.NormalizePartNumber(x.PartNumber), norm) {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 1:
		return found[0], true, nil
	case 0:
	default:
		ids := make([]string, len(found))
		for i, x := range found {
			ids[i] = x.SKUID
		}
		return m, false, sam.Errorf(sam.EINVALID, "part number %q names several SKUs (%s): give the SKU GUID", key, strings.Join(ids, ", "))
	}
	if cm, ok := cat.Lookup(key); ok {
		return cm, false, nil
	}
	if ps := cat.ProductsByPartNumber(key); len(ps) > 0 {
		return m, false, sam.Errorf(sam.ENOTFOUND, "SKU %s is %s, not a Dynamics 365 or Power Platform licence", key, ps[0].Name)
	}
	return m, false, sam.Errorf(sam.ENOTFOUND, "unknown SKU %q: not in the catalog and never downloaded from a tenant", key)
}

// EnsureModel stores m when it is not stored yet, so that entitlements may
// reference it.
func EnsureModel(ctx context.Context, st store.Store, m sam.SoftwareModel, stored bool) error {
	if stored {
		return nil
	}
	return st.UpsertSoftwareModels(ctx, []sam.SoftwareModel{m})
}

// CSVColumns are the columns of the entitlements CSV, in export order.
// Import needs profile, sku, quantity, unit_cost, currency, term_start,
// term_end and commitment; cost_center, purchase_order and notes are
// optional; id and part_number (written by export) are ignored.
var CSVColumns = []string{"id", "profile", "sku", "part_number", "quantity", "unit_cost", "currency", "term_start", "term_end",
	"commitment", "cost_center", "purchase_order", "notes"}

var requiredColumns = []string{"profile", "sku", "quantity", "unit_cost", "currency", "term_start", "term_end", "commitment"}

// RowError is why one line of an imported CSV was refused.
type RowError struct {
	Line   int    `json:"line"` // 1-based line of the file (the header is line 1)
	Reason string `json:"reason"`
}

func (e RowError) String() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ImportError is an import refused because some rows are bad; nothing was
// written. It is an EINVALID error.
type ImportError struct {
	Rows []RowError
}

func (e *ImportError) Error() string {
	parts := make([]string, len(e.Rows))
	for i, r := range e.Rows {
		parts[i] = r.String()
	}
	return fmt.Sprintf("import refused, nothing written: %d bad rows (%s)", len(e.Rows), strings.Join(parts, "; "))
}

// Unwrap makes an ImportError classify as EINVALID (sam.ErrorCode).
func (e *ImportError) Unwrap() error {
	return sam.Errorf(sam.EINVALID, "%d bad rows", len(e.Rows))
}

// ImportEntitlements reads an entitlements CSV (header row, columns
// CSVColumns in any order), validates every row and, only when all are
// good, creates them in one transaction. A bad row is reported with its line
// and reason, and every bad row is reported, not only the first: missing or
// unknown profile, unknown or non-Dynamics SKU, bad or non-positive
// quantity, bad or negative unit cost, bad currency, bad or missing dates,
// end before start, bad commitment, overlong notes, wrong field count, a
// row repeating another row of the file or an entitlement already stored,
// and a currency differing from the other entitlements of the same profile
// and model (reconciliation refuses mixed currencies). The error is an
// *ImportError (EINVALID) listing them; nothing is written then.
func ImportEntitlements(ctx context.Context, st store.Store, cat *catalog.Catalog, r io.Reader) ([]*sam.Entitlement, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, sam.Errorf(sam.EINVALID, "import: the file is empty (want a header row: %s)", strings.Join(CSVColumns, ","))
	}
	if err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "import: reading the header row")
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup && h != "" {
			return nil, sam.Errorf(sam.EINVALID, "import: column %q appears twice in the header", h)
		}
		col[h] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, sam.Errorf(sam.EINVALID, "import: the header lacks column(s) %s (want %s)", strings.Join(missing, ", "), strings.Join(CSVColumns, ","))
	}

	v := &importValidator{ctx: ctx, st: st, cat: cat, profiles: map[string]*sam.Profile{}, models: map[string]modelRef{},
		seen: map[string]int{}, currency: map[string]currencyRef{}}
	var out []*sam.Entitlement
	var bad []RowError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: pe.StartLine, Reason: "not valid CSV: " + pe.Err.Error()})
				continue
			}
			return nil, sam.Wrap(sam.EINVALID, err, "import: reading the file")
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != len(header) {
			bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))})
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e, reason, err := v.row(get, line)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			bad = append(bad, RowError{Line: line, Reason: reason})
			continue
		}
		out = append(out, e)
	}
	if len(bad) > 0 {
		return nil, &ImportError{Rows: bad}
	}
	for _, m := range v.models {
		if err := EnsureModel(ctx, st, m.model, m.stored); err != nil {
			return nil, err
		}
	}
	if err := st.CreateEntitlements(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

type modelRef struct {
	model  sam.SoftwareModel
	stored bool
}

type currencyRef struct {
	currency string
	where    string
}

type importValidator struct {
	ctx      context.Context
	st       store.Store
	cat      *catalog.Catalog
	profiles map[string]*sam.Profile
	models   map[string]modelRef // by key as written
	seen     map[string]int      // purchase key → line
	currency map[string]currencyRef
	existing map[int64][]*sam.Entitlement
}

// row validates one record; reason is "" for a good row; err is a failure
// to read the database (which aborts the import).
func (v *importValidator) row(get func(string) string, line int) (*sam.Entitlement, string, error) {
	var problems []string
	e := &sam.Entitlement{CostCenter: get("cost_center"), PurchaseOrder: get("purchase_order"), Notes: get("notes")}

	name := get("profile")
	var prof *sam.Profile
	switch {
	case name == "":
		problems = append(problems, "profile is required")
	default:
		p, ok := v.profiles[name]
		if !ok {
			got, err := v.st.ProfileByName(v.ctx, name)
			if err != nil && !sam.IsCode(err, sam.ENOTFOUND) {
				return nil, "", err
			}
			p, v.profiles[name] = got, got
		}
		if p == nil {
			problems = append(problems, fmt.Sprintf("unknown profile %q", name))
		} else {
			prof, e.ProfileID = p, p.ID
		}
	}

	skuKey := get("sku")
	var model *sam.SoftwareModel
	if skuKey == "" {
		problems = append(problems, "sku is required (a SKU GUID or part number)")
	} else if ref, ok := v.models[strings.ToLower(skuKey)]; ok {
		model = &ref.model
	} else {
		m, stored, err := ResolveModel(v.ctx, v.st, v.cat, skuKey)
		switch {
		case err == nil:
			v.models[strings.ToLower(skuKey)] = modelRef{model: m, stored: stored}
			model = &m
		case sam.IsCode(err, sam.ENOTFOUND) || sam.IsCode(err, sam.EINVALID):
			problems = append(problems, sam.ErrorMessage(err))
		default:
			return nil, "", err
		}
	}
	if model != nil {
		e.SKUID = model.SKUID
	}

	if q := get("quantity"); q == "" {
		problems = append(problems, "quantity is required")
	} else if n, err := strconv.ParseInt(q, 10, 64); err != nil {
		problems = append(problems, fmt.Sprintf("quantity %q is not a whole number", q))
	} else if n <= 0 {
		problems = append(problems, fmt.Sprintf("quantity %d must be positive", n))
	} else {
		e.Quantity = n
	}
	if c := get("unit_cost"); c == "" {
		problems = append(problems, "unit_cost is required (per right per month, e.g. 65.00)")
	} else if strings.HasPrefix(c, "-") {
		problems = append(problems, fmt.Sprintf("unit_cost %q must not be negative", c))
	} else if n, err := sam.ParseMoney(c); err != nil {
		problems = append(problems, fmt.Sprintf("unit_cost %q is not an amount with at most two decimals", c))
	} else {
		e.UnitCost = n
	}
	cur := strings.ToUpper(get("currency"))
	if cur == "" {
		problems = append(problems, "currency is required (ISO 4217, e.g. USD)")
	} else if !sam.ValidCurrency(cur) {
		problems = append(problems, fmt.Sprintf("currency %q is not an ISO 4217 code", get("currency")))
	} else {
		e.Currency = cur
	}
	for _, d := range []struct {
		name string
		dst  *sam.Entitlement
		set  func(e *sam.Entitlement, v string) error
	}{
		{"term_start", e, func(e *sam.Entitlement, s string) (err error) { e.TermStart, err = sam.ParseDay(s); return }},
		{"term_end", e, func(e *sam.Entitlement, s string) (err error) { e.TermEnd, err = sam.ParseDay(s); return }},
	} {
		s := get(d.name)
		if s == "" {
			problems = append(problems, d.name+" is required (YYYY-MM-DD)")
		} else if err := d.set(d.dst, s); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q is not a date (want YYYY-MM-DD)", d.name, s))
		}
	}
	if !e.TermStart.IsZero() && !e.TermEnd.IsZero() && e.TermEnd.Before(e.TermStart) {
		problems = append(problems, fmt.Sprintf("term_end %s is before term_start %s", sam.FormatDay(e.TermEnd), sam.FormatDay(e.TermStart)))
	}
	if c, err := sam.ParseCommitment(get("commitment")); err != nil {
		problems = append(problems, fmt.Sprintf("commitment %q: want monthly or annual", get("commitment")))
	} else {
		e.Commitment = c
	}
	if len(e.Notes) > 4000 {
		problems = append(problems, "notes longer than 4000 bytes")
	}
	if len(problems) > 0 {
		return nil, strings.Join(problems, "; "), nil
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		return nil, sam.ErrorMessage(err), nil
	}

	// Duplicates, in the file and against what is stored.
	key := fmt.Sprintf("%d|%s|%s|%s|%s|%s", e.ProfileID, e.SKUID, sam.FormatDay(e.TermStart), sam.FormatDay(e.TermEnd), e.PurchaseOrder, e.CostCenter)
	if first, ok := v.seen[key]; ok {
		return nil, fmt.Sprintf("duplicate of line %d (same profile, SKU, term, purchase order and cost centre)", first), nil
	}
	stored, err := v.stored(e.ProfileID)
	if err != nil {
		return nil, "", err
	}
	ck := fmt.Sprintf("%d|%s", e.ProfileID, e.SKUID)
	for _, x := range stored {
		if x.SKUID == e.SKUID && x.TermStart.Equal(e.TermStart) && x.TermEnd.Equal(e.TermEnd) && x.PurchaseOrder == e.PurchaseOrder && x.CostCenter == e.CostCenter {
			return nil, fmt.Sprintf("duplicate of stored entitlement #%d (same profile, SKU, term, purchase order and cost centre)", x.ID), nil
		}
		if x.SKUID == e.SKUID && x.Currency != e.Currency {
			return nil, fmt.Sprintf("currency %s differs from %s of stored entitlement #%d for %s in profile %s: keep one currency per model", e.Currency, x.Currency, x.ID, model.PartNumber, prof.Name), nil
		}
	}
	if c, ok := v.currency[ck]; ok && c.currency != e.Currency {
		return nil, fmt.Sprintf("currency %s differs from %s of %s for %s in profile %s: keep one currency per model", e.Currency, c.currency, c.where, model.PartNumber, prof.Name), nil
	}
	v.seen[key] = line
	if _, ok := v.currency[ck]; !ok {
		v.currency[ck] = currencyRef{currency: e.Currency, where: fmt.Sprintf("line %d", line)}
	}
	return e, "", nil
}

func (v *importValidator) stored(profileID int64) ([]*sam.Entitlement, error) {
	if v.existing == nil {
		v.existing = map[int64][]*sam.Entitlement{}
	}
	if es, ok := v.existing[profileID]; ok {
		return es, nil
	}
	es, err := v.st.Entitlements(v.ctx, store.EntitlementFilter{ProfileID: profileID})
	if err != nil {
		return nil, err
	}
	v.existing[profileID] = es
	return es, nil
}

// WriteCSV writes entitlements in the import format (CSVColumns), with the
// profile's name and the model's part number.
func WriteCSV(w io.Writer, es []*sam.Entitlement, profileName func(int64) string, partNumber func(string) string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	for _, e := range es {
		if err := cw.Write(Cells(e, profileName(e.ProfileID), partNumber(e.SKUID))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Cells returns e as the CSVColumns of the entitlements CSV.
func Cells(e *sam.Entitlement, profile, partNumber string) []string {
	return []string{strconv.FormatInt(e.ID, 10), profile, e.SKUID, partNumber, strconv.FormatInt(e.Quantity, 10),
		sam.FormatMoney(e.UnitCost, ""), e.Currency, sam.FormatDay(e.TermStart), sam.FormatDay(e.TermEnd), string(e.Commitment),
		e.CostCenter, e.PurchaseOrder, e.Notes}
}

// Suggestion is an entitlement suggested from Microsoft's prepaid units of a
// SKU that entitlements do not cover yet.
type Suggestion struct {
	Entitlement sam.Entitlement `json:"entitlement"`
	PartNumber  string          `json:"part_number"`
	Prepaid     int64           `json:"prepaid"` // enabled + warning units on Day
	Covered     int64           `json:"covered"` // rights of entitlements active on Day
	Day         time.Time       `json:"day"`
	PriceKnown  bool            `json:"price_known"`
}

// Suggest proposes entitlements for profile p from the newest SKU unit
// counts of the year up to asOf (Graph subscribedSkus prepaidUnits: enabled plus
// warning units are paid for): for every stored Dynamics 365 / Power
// Platform model whose prepaid units exceed the rights of the entitlements
// active that day, one entitlement of the difference, priced at the model's
// list price (or 0 in currency when unknown: edit before accepting), for a
// one-year annual term starting that day.
func Suggest(ctx context.Context, st store.Store, p *sam.Profile, asOf time.Time, currency string) ([]Suggestion, error) {
	to := sam.Day(asOf)
	units, err := st.SKUUnits(ctx, p.ID, to.AddDate(-1, 0, 0), to)
	if err != nil {
		return nil, err
	}
	if len(units) == 0 {
		return nil, nil
	}
	latest := units[len(units)-1].Day
	var out []Suggestion
	for _, u := range units {
		if !u.Day.Equal(latest) {
			continue
		}
		prepaid := int64(u.Enabled + u.Warning)
		if prepaid <= 0 {
			continue
		}
		m, err := st.SoftwareModel(ctx, u.SKUID)
		if sam.IsCode(err, sam.ENOTFOUND) {
			continue // a SKU of another family: not tracked
		}
		if err != nil {
			return nil, err
		}
		ents, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID, SKUID: u.SKUID, ActiveOn: latest})
		if err != nil {
			return nil, err
		}
		var covered int64
		for _, e := range ents {
			covered += e.Quantity
		}
		if prepaid <= covered {
			continue
		}
		e := sam.Entitlement{ProfileID: p.ID, SKUID: u.SKUID, Quantity: prepaid - covered, Currency: strings.ToUpper(currency),
			TermStart: latest, TermEnd: latest.AddDate(1, 0, -1), Commitment: sam.CommitmentAnnual,
			Notes: fmt.Sprintf("suggested from Microsoft prepaid units on %s: %d enabled + %d warning, %d already covered by entitlements",
				sam.FormatDay(latest), u.Enabled, u.Warning, covered)}
		known := m.UnitPrice > 0 && sam.ValidCurrency(m.Currency)
		if known {
			e.UnitCost, e.Currency = m.UnitPrice, m.Currency
		}
		pn := m.PartNumber
		if pn == "" {
			pn = u.PartNumber
		}
		out = append(out, Suggestion{Entitlement: e, PartNumber: pn, Prepaid: prepaid, Covered: covered, Day: latest, PriceKnown: known})
	}
	return out, nil
}
