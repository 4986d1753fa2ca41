package sam

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RunReconciliation is the kind of a run that computed a profile's licence
// position and stored its snapshot.
const RunReconciliation RunKind = "reconciliation"

// Price sources of a position: where its average unit price came from.
const (
	PriceFromEntitlements = "entitlements"     // weighted average of the active entitlements' unit costs
	PriceFromModel        = "model list price" // no active entitlement: the software model's unit price
	PriceUnknown          = "unknown"          // neither: money figures are 0 and say so
)

// SavingsCandidate is one removal candidate as reconciliation sees it: the
// monthly saving of taking one subscription away.
type SavingsCandidate struct {
	SubscriptionID int64
	UserID         string
	// Amount is the saving in minor units per month; 0 means "one right at
	// the position's average unit price".
	Amount   int64
	Currency string // "" means the position's currency
	// ClosedAt is when the candidate was closed complete (the licence was
	// removed); nil for an open candidate.
	ClosedAt *time.Time
}

// PositionInput is everything the licence position of one software model in
// one profile is computed from.
type PositionInput struct {
	ProfileID int64
	Model     SoftwareModel
	AsOf      time.Time
	// Entitlements are the model's entitlements in the profile, whatever
	// their term: those whose term does not cover AsOf are ignored (and
	// counted as such in the explanation).
	Entitlements []Entitlement
	// Used is the number of open, unique user subscriptions of the model
	// (one per user).
	Used int64
	// CandidatesSource names where removal candidates come from; "" means no
	// source is configured, which the position states.
	CandidatesSource string
	// Candidates are the model's removal candidates: open ones count towards
	// potential savings, those closed complete in AsOf's year towards
	// realised savings.
	Candidates []SavingsCandidate
}

// Explanation is how one figure of a position was obtained: its value, the
// inputs it used and the arithmetic, in words a licence manager can check.
type Explanation struct {
	Figure     string   `json:"figure"`
	Value      string   `json:"value"`
	Arithmetic string   `json:"arithmetic"`
	Inputs     []string `json:"inputs,omitempty"`
}

// Position is the licence position of one software model in one profile on
// one day, for the user-subscription metric. Money is in minor units per
// month in Currency.
type Position struct {
	ProfileID  int64     `json:"profile_id"`
	SKUID      string    `json:"sku_id"`
	PartNumber string    `json:"part_number"`
	Product    string    `json:"product"`
	Edition    string    `json:"edition,omitempty"`
	Family     Family    `json:"family"`
	Metric     string    `json:"metric"`
	AsOf       time.Time `json:"as_of"`
	Currency   string    `json:"currency,omitempty"`
	// Rights.
	Owned     int64 `json:"owned"`     // rights of the entitlements active on AsOf
	Used      int64 `json:"used"`      // open unique user subscriptions
	Available int64 `json:"available"` // owned − used when positive, else 0
	Shortfall int64 `json:"shortfall"` // used − owned when positive, else 0
	// Entitlements counted and ignored (term not covering AsOf).
	ActiveEntitlements  int `json:"active_entitlements"`
	IgnoredEntitlements int `json:"ignored_entitlements"`
	// Money.
	MonthlyCost      int64         `json:"monthly_cost"`       // Σ quantity × unit cost of active entitlements
	AverageUnitPrice int64         `json:"average_unit_price"` // see PriceSource
	PriceSource      string        `json:"price_source"`
	OverLicensed     int64         `json:"over_licensed"` // available × average unit price
	TrueUpCost       int64         `json:"true_up_cost"`  // shortfall × average unit price
	PotentialSavings int64         `json:"potential_savings"`
	RealisedSavings  int64         `json:"realised_savings"`
	OpenCandidates   int           `json:"open_candidates"`
	CandidatesSource string        `json:"candidates_source"`
	Compliant        bool          `json:"compliant"` // no shortfall
	Explain          []Explanation `json:"explain"`
}

// Status returns "compliant" or "not compliant".
func (p *Position) Status() string {
	if p.Compliant {
		return "compliant"
	}
	return "not compliant"
}

// NoCandidatesSource is stated in a position when no removal candidates
// source is configured.
const NoCandidatesSource = "none configured (no removal candidates source: potential and realised savings are 0)"

// ComputePosition computes the licence position of one software model:
//
//   - owned = Σ quantity of the entitlements whose term covers AsOf (others
//     are ignored);
//   - used = in.Used; available = max(owned − used, 0); shortfall =
//     max(used − owned, 0); compliant when shortfall = 0;
//   - average unit price = round(Σ quantity × unit cost / owned) over active
//     entitlements, else the model's unit price, else unknown (0);
//   - over-licensed amount = available × average unit price; true-up cost =
//     shortfall × average unit price;
//   - potential savings = Σ open candidates' amounts (an amount of 0 counts
//     one right at the average unit price); realised savings = the same over
//     candidates closed complete in AsOf's calendar year.
//
// Every figure gets an Explanation. EINVALID when the active entitlements
// (or a candidate) use more than one currency: amounts in different
// currencies cannot be added, so the position is refused rather than wrong.
func ComputePosition(in PositionInput) (Position, error) {
	m := in.Model
	p := Position{ProfileID: in.ProfileID, SKUID: m.SKUID, PartNumber: m.PartNumber, Product: m.Product, Edition: m.Edition,
		Family: m.Family, Metric: m.Metric, AsOf: in.AsOf.UTC(), Used: in.Used, CandidatesSource: in.CandidatesSource}
	if p.Metric == "" {
		p.Metric = MetricUserSubscription
	}
	if p.PartNumber == "" {
		p.PartNumber = m.SKUID
	}
	if p.CandidatesSource == "" {
		p.CandidatesSource = NoCandidatesSource
	}
	if in.Used < 0 {
		return Position{}, Errorf(EINVALID, "position of %s: used rights %d is negative", p.PartNumber, in.Used)
	}
	day := FormatDay(in.AsOf)

	// Rights owned.
	var owned, cost int64
	var ownedTerms, entInputs []string
	currencies := map[string]bool{}
	for i := range in.Entitlements {
		e := in.Entitlements[i] // a copy: normalising it leaves the caller's alone
		e.Normalize()
		desc := fmt.Sprintf("entitlement #%d: %d × %s, %s..%s", e.ID, e.Quantity, FormatMoney(e.UnitCost, e.Currency), FormatDay(e.TermStart), FormatDay(e.TermEnd))
		if !e.ActiveOn(in.AsOf) {
			p.IgnoredEntitlements++
			entInputs = append(entInputs, desc+" (term does not cover "+day+": ignored)")
			continue
		}
		p.ActiveEntitlements++
		owned += e.Quantity
		cost += e.Quantity * e.UnitCost
		currencies[e.Currency] = true
		ownedTerms = append(ownedTerms, fmt.Sprint(e.Quantity))
		entInputs = append(entInputs, desc)
	}
	if len(currencies) > 1 {
		cs := make([]string, 0, len(currencies))
		for c := range currencies {
			cs = append(cs, c)
		}
		slices.Sort(cs)
		return Position{}, Errorf(EINVALID, "position of %s on %s: active entitlements are in several currencies (%s); amounts in different currencies cannot be added: keep one currency per software model (edit the entitlements)",
			p.PartNumber, day, strings.Join(cs, ", "))
	}
	for c := range currencies {
		p.Currency = c
	}
	p.Owned, p.MonthlyCost = owned, cost
	ownedArith := "no entitlement active on " + day + " = 0"
	if len(ownedTerms) > 0 {
		ownedArith = strings.Join(ownedTerms, " + ") + " = " + fmt.Sprint(owned)
	}
	p.add("rights owned", fmt.Sprint(owned), "Σ quantity of entitlements active on "+day+": "+ownedArith, entInputs...)
	p.add("rights used", fmt.Sprint(in.Used), fmt.Sprintf("open subscriptions of %s, one per user = %d", p.PartNumber, in.Used))

	if owned >= in.Used {
		p.Available = owned - in.Used
	} else {
		p.Shortfall = in.Used - owned
	}
	p.add("available", fmt.Sprint(p.Available), fmt.Sprintf("max(owned − used, 0) = max(%d − %d, 0) = %d", owned, in.Used, p.Available))
	p.add("shortfall", fmt.Sprint(p.Shortfall), fmt.Sprintf("max(used − owned, 0) = max(%d − %d, 0) = %d", in.Used, owned, p.Shortfall))
	p.Compliant = p.Shortfall == 0
	p.add("status", p.Status(), fmt.Sprintf("compliant when shortfall = 0; shortfall = %d", p.Shortfall))

	// Average unit price.
	switch {
	case owned > 0:
		p.PriceSource = PriceFromEntitlements
		p.AverageUnitPrice = divRound(cost, owned)
		p.add("average unit price", FormatMoney(p.AverageUnitPrice, p.Currency),
			fmt.Sprintf("round(Σ quantity × unit cost / owned) = round(%s / %d) = %s", FormatMoney(cost, p.Currency), owned, FormatMoney(p.AverageUnitPrice, p.Currency)))
	case m.UnitPrice > 0 && ValidCurrency(m.Currency):
		p.PriceSource = PriceFromModel
		p.AverageUnitPrice, p.Currency = m.UnitPrice, m.Currency
		p.add("average unit price", FormatMoney(p.AverageUnitPrice, p.Currency), "no active entitlement: the software model's list price = "+FormatMoney(m.UnitPrice, m.Currency))
	default:
		p.PriceSource = PriceUnknown
		p.add("average unit price", "unknown", "no active entitlement and no list price for the software model: money figures are 0 (add an entitlement with a unit cost)")
	}
	p.add("monthly cost", FormatMoney(cost, p.Currency), "Σ quantity × unit cost of active entitlements = "+FormatMoney(cost, p.Currency))
	p.OverLicensed = p.Available * p.AverageUnitPrice
	p.add("over-licensed amount", FormatMoney(p.OverLicensed, p.Currency),
		fmt.Sprintf("available × average unit price = %d × %s = %s per month", p.Available, FormatMoney(p.AverageUnitPrice, p.Currency), FormatMoney(p.OverLicensed, p.Currency)))
	p.TrueUpCost = p.Shortfall * p.AverageUnitPrice
	p.add("true-up cost", FormatMoney(p.TrueUpCost, p.Currency),
		fmt.Sprintf("shortfall × average unit price = %d × %s = %s per month", p.Shortfall, FormatMoney(p.AverageUnitPrice, p.Currency), FormatMoney(p.TrueUpCost, p.Currency)))

	// Savings.
	var potTerms, realTerms []string
	for _, c := range in.Candidates {
		if c.Currency != "" && p.Currency != "" && c.Currency != p.Currency {
			return Position{}, Errorf(EINVALID, "position of %s: removal candidate of subscription %d saves %s but the position is in %s; amounts in different currencies cannot be added",
				p.PartNumber, c.SubscriptionID, c.Currency, p.Currency)
		}
		amount, how := c.Amount, FormatMoney(c.Amount, p.Currency)
		if amount == 0 {
			amount, how = p.AverageUnitPrice, "1 right at "+FormatMoney(p.AverageUnitPrice, p.Currency)
		}
		switch {
		case c.ClosedAt == nil:
			p.OpenCandidates++
			p.PotentialSavings += amount
			potTerms = append(potTerms, fmt.Sprintf("subscription %d: %s", c.SubscriptionID, how))
		case c.ClosedAt.UTC().Year() == in.AsOf.UTC().Year():
			p.RealisedSavings += amount
			realTerms = append(realTerms, fmt.Sprintf("subscription %d (closed %s): %s", c.SubscriptionID, FormatDay(*c.ClosedAt), how))
		}
	}
	p.add("potential savings", FormatMoney(p.PotentialSavings, p.Currency),
		fmt.Sprintf("Σ over %d open removal candidates = %s per month; candidates source: %s", p.OpenCandidates, FormatMoney(p.PotentialSavings, p.Currency), p.CandidatesSource), potTerms...)
	p.add("realised savings", FormatMoney(p.RealisedSavings, p.Currency),
		fmt.Sprintf("Σ over %d candidates closed complete in %d = %s per month; candidates source: %s", len(realTerms), in.AsOf.UTC().Year(), FormatMoney(p.RealisedSavings, p.Currency), p.CandidatesSource), realTerms...)
	return p, nil
}

func (p *Position) add(figure, value, arithmetic string, inputs ...string) {
	p.Explain = append(p.Explain, Explanation{Figure: figure, Value: value, Arithmetic: arithmetic, Inputs: inputs})
}

// divRound returns a / b rounded half away from zero (b > 0, a >= 0).
func divRound(a, b int64) int64 { return (a + b/2) / b }
