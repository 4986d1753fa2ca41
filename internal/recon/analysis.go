package recon

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// ProductSummary totals the positions of one product family of one profile
// in one currency (the product level above software models).
type ProductSummary struct {
	ProfileID        int64      `json:"profile_id"`
	Family           sam.Family `json:"family"`
	Currency         string     `json:"currency,omitempty"`
	Models           int        `json:"models"`
	Owned            int64      `json:"owned"`
	Used             int64      `json:"used"`
	Available        int64      `json:"available"`
	Shortfall        int64      `json:"shortfall"`
	MonthlyCost      int64      `json:"monthly_cost"`
	OverLicensed     int64      `json:"over_licensed"`
	TrueUpCost       int64      `json:"true_up_cost"`
	PotentialSavings int64      `json:"potential_savings"`
	RealisedSavings  int64      `json:"realised_savings"`
	Compliant        bool       `json:"compliant"` // every model of the family is compliant
}

// Summarize totals positions per profile, family and currency, in the
// order of the positions (see SortPositions). Money of different currencies
// is never added: a family priced in two currencies gets two summaries.
func Summarize(ps []sam.Position) []ProductSummary {
	var out []ProductSummary
	idx := map[string]int{}
	for _, p := range ps {
		k := fmt.Sprintf("%d|%s|%s", p.ProfileID, p.Family, p.Currency)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, ProductSummary{ProfileID: p.ProfileID, Family: p.Family, Currency: p.Currency, Compliant: true})
		}
		s := &out[i]
		s.Models++
		s.Owned += p.Owned
		s.Used += p.Used
		s.Available += p.Available
		s.Shortfall += p.Shortfall
		s.MonthlyCost += p.MonthlyCost
		s.OverLicensed += p.OverLicensed
		s.TrueUpCost += p.TrueUpCost
		s.PotentialSavings += p.PotentialSavings
		s.RealisedSavings += p.RealisedSavings
		s.Compliant = s.Compliant && p.Compliant
	}
	return out
}

// Dimension is how a position is broken down.
type Dimension string

// Breakdown dimensions.
const (
	ByProfile    Dimension = "profile"
	ByDepartment Dimension = "department"
	ByCountry    Dimension = "country"
	ByCostCenter Dimension = "cost-centre"
)

// ParseDimension returns the dimension named s ("cost-center" and
// "cost_centre" accepted); EINVALID otherwise.
func ParseDimension(s string) (Dimension, error) {
	switch s {
	case "", "profile", "tenant":
		return ByProfile, nil
	case "department":
		return ByDepartment, nil
	case "country":
		return ByCountry, nil
	case "cost-centre", "cost-center", "cost_centre", "cost_center", "costcentre", "costcenter":
		return ByCostCenter, nil
	}
	return "", sam.Errorf(sam.EINVALID, "--group-by %q: want profile, department, country or cost-centre", s)
}

// GroupRow is the share of one group in a software model's position.
// Department and country split rights used (subscriptions carry those
// attributes) and allocate their cost at the average unit price; cost
// centre splits rights owned and their cost (entitlements carry it).
type GroupRow struct {
	ProfileID  int64     `json:"profile_id"`
	SKUID      string    `json:"sku_id"`
	PartNumber string    `json:"part_number"`
	Dimension  Dimension `json:"dimension"`
	Group      string    `json:"group"` // "" when the attribute is empty
	Owned      int64     `json:"owned"` // cost centre only
	Used       int64     `json:"used"`  // department and country only
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency,omitempty"`
	Basis      string    `json:"basis"` // how Amount was obtained
}

// Breakdown splits the positions of profile p (computed for asOf) by dim:
// open subscriptions counted per department or country by the database, or
// entitlements active on asOf per cost centre. ByProfile returns nil (the
// positions already are per profile).
func Breakdown(ctx context.Context, st store.Store, p *sam.Profile, positions []sam.Position, dim Dimension, asOf time.Time) ([]GroupRow, error) {
	pos := map[string]sam.Position{}
	for _, x := range positions {
		if x.ProfileID == p.ID {
			pos[x.SKUID] = x
		}
	}
	var out []GroupRow
	switch dim {
	case ByProfile:
		return nil, nil
	case ByDepartment, ByCountry:
		g := store.GroupDepartment
		if dim == ByCountry {
			g = store.GroupCountry
		}
		counts, err := st.CountOpenSubscriptions(ctx, store.CountFilter{ProfileID: p.ID, GroupBy: g})
		if err != nil {
			return nil, err
		}
		for _, c := range counts {
			x, ok := pos[c.SKUID]
			if !ok {
				continue // refused model
			}
			out = append(out, GroupRow{ProfileID: p.ID, SKUID: c.SKUID, PartNumber: x.PartNumber, Dimension: dim, Group: c.Group,
				Used: c.Users, Amount: c.Users * x.AverageUnitPrice, Currency: x.Currency,
				Basis: fmt.Sprintf("used × average unit price = %d × %s", c.Users, sam.FormatMoney(x.AverageUnitPrice, x.Currency))})
		}
	case ByCostCenter:
		ents, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID, ActiveOn: asOf})
		if err != nil {
			return nil, err
		}
		idx := map[string]int{}
		for _, e := range ents {
			x, ok := pos[e.SKUID]
			if !ok {
				continue
			}
			k := e.SKUID + "|" + e.CostCenter
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, GroupRow{ProfileID: p.ID, SKUID: e.SKUID, PartNumber: x.PartNumber, Dimension: dim, Group: e.CostCenter,
					Currency: e.Currency, Basis: "Σ quantity × unit cost of the cost centre's active entitlements"})
			}
			out[i].Owned += e.Quantity
			out[i].Amount += e.Quantity * e.UnitCost
		}
	default:
		return nil, sam.Errorf(sam.EINVALID, "unknown breakdown %q", dim)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PartNumber != out[j].PartNumber {
			return out[i].PartNumber < out[j].PartNumber
		}
		return out[i].Group < out[j].Group
	})
	return out, nil
}

// TrendPoint is the consumption of one software model at one time.
type TrendPoint struct {
	At     time.Time `json:"at"`
	Owned  int64     `json:"owned"`
	Used   int64     `json:"used"`
	Source string    `json:"source"` // "snapshot" (a reconciliation run) or "microsoft units" (subscribedSkus consumedUnits)
}

// Trend returns the history of one model in one profile since from: the
// positions of reconciliation runs and, for days without a snapshot,
// Microsoft's consumed units of the SKU (owned is then the prepaid enabled
// units). Ordered by time.
func Trend(ctx context.Context, st store.Store, profileID int64, skuID string, from, to time.Time) ([]TrendPoint, error) {
	snaps, err := st.PositionSnapshots(ctx, store.SnapshotFilter{ProfileID: profileID, SKUID: skuID, From: from, To: to})
	if err != nil {
		return nil, err
	}
	var out []TrendPoint
	days := map[time.Time]bool{}
	for _, s := range snaps {
		out = append(out, TrendPoint{At: s.Position.AsOf, Owned: s.Position.Owned, Used: s.Position.Used, Source: "snapshot"})
		days[sam.Day(s.Position.AsOf)] = true
	}
	units, err := st.SKUUnits(ctx, profileID, from, to)
	if err != nil {
		return nil, err
	}
	sku := sam.NormalizeGUID(skuID)
	for _, u := range units {
		if u.SKUID != sku || days[sam.Day(u.Day)] {
			continue
		}
		out = append(out, TrendPoint{At: u.Day, Owned: int64(u.Enabled), Used: int64(u.Consumed), Source: "microsoft units"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// Forecast is when a model's rights run out at the current growth.
type Forecast struct {
	Points       int        `json:"points"`
	GrowthPerDay float64    `json:"growth_per_day"` // least-squares slope of used over days
	Owned        int64      `json:"owned"`
	Used         int64      `json:"used"`
	RunsOutOn    *time.Time `json:"runs_out_on,omitempty"` // nil when it does not at this growth (or already has)
	DaysLeft     *int       `json:"days_left,omitempty"`
	Explanation  string     `json:"explanation"`
}

// ForecastRunOut fits a straight line (least squares) through the used
// counts of points and says when used reaches owned, starting from the
// current used at asOf: days = ceil((owned − used) / growth per day). With
// fewer than two points, no growth, or a shortfall already, it says so.
func ForecastRunOut(points []TrendPoint, owned, used int64, asOf time.Time) Forecast {
	f := Forecast{Points: len(points), Owned: owned, Used: used}
	if used >= owned {
		zero := 0
		f.DaysLeft = &zero
		if used > owned {
			f.Explanation = fmt.Sprintf("rights already ran out: %d used for %d owned (shortfall %d)", used, owned, used-owned)
		} else {
			f.Explanation = fmt.Sprintf("rights are used up: %d used for %d owned", used, owned)
		}
		return f
	}
	if len(points) < 2 {
		f.Explanation = fmt.Sprintf("not enough history to forecast (%d point(s); reconcile regularly or sync daily)", len(points))
		return f
	}
	t0 := points[0].At
	var n, sx, sy, sxx, sxy float64
	for _, p := range points {
		x := p.At.Sub(t0).Hours() / 24
		y := float64(p.Used)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		f.Explanation = "all history points are at the same time: no growth can be measured"
		return f
	}
	f.GrowthPerDay = (n*sxy - sx*sy) / den
	if f.GrowthPerDay <= 0 {
		f.Explanation = fmt.Sprintf("use is not growing (%.2f per day over %d points): the %d available rights do not run out", f.GrowthPerDay, len(points), owned-used)
		return f
	}
	days := int(math.Ceil(float64(owned-used) / f.GrowthPerDay))
	on := sam.Day(asOf).AddDate(0, 0, days)
	f.DaysLeft, f.RunsOutOn = &days, &on
	f.Explanation = fmt.Sprintf("(owned − used) / growth = (%d − %d) / %.2f per day = %d days → %s (least-squares growth over %d points from %s)",
		owned, used, f.GrowthPerDay, days, sam.FormatDay(on), len(points), sam.FormatDay(t0))
	return f
}

// Renewal is one entitlement whose term ends soon and what to do at its
// renewal.
type Renewal struct {
	Entitlement   *sam.Entitlement `json:"entitlement"`
	PartNumber    string           `json:"part_number"`
	DaysLeft      int              `json:"days_left"`
	Window        int              `json:"window"`         // 30, 60, 90 or 120: the first window the end falls in; 0 beyond 120 days
	OwnedAfter    int64            `json:"owned_after"`    // rights of the model's other entitlements still active after the end
	ProjectedUsed int64            `json:"projected_used"` // rights used expected at the end, at current growth
	RenewQuantity int64            `json:"renew_quantity"` // what to renew
	Action        string           `json:"action"`         // "cut", "buy" or "keep"
	Change        int64            `json:"change"`         // rights to cut (negative) or buy (positive)
	MonthlyChange int64            `json:"monthly_change"` // Change × unit cost
	Explanation   string           `json:"explanation"`
}

// RenewalWindows are the horizons of the renewal list, in days.
var RenewalWindows = []int{30, 60, 90, 120}

// Renewals lists the entitlements of profile p ending within horizon days
// after asOf (horizon <= 0 means 120), with what to cut or buy: the rights
// needed at the end are the model's used count projected at the growth of
// its forecast (growth per model, 0 when unknown), minus what the model's
// other entitlements still cover the day after.
func Renewals(ctx context.Context, st store.Store, p *sam.Profile, positions []sam.Position, growth map[string]float64, asOf time.Time, horizon int) ([]Renewal, error) {
	if horizon <= 0 {
		horizon = RenewalWindows[len(RenewalWindows)-1]
	}
	today := sam.Day(asOf)
	ending, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID, EndFrom: today, EndTo: today.AddDate(0, 0, horizon)})
	if err != nil {
		return nil, err
	}
	all, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID})
	if err != nil {
		return nil, err
	}
	pos := map[string]sam.Position{}
	for _, x := range positions {
		pos[x.SKUID] = x
	}
	var out []Renewal
	for _, e := range ending {
		x := pos[e.SKUID]
		after := sam.Day(e.TermEnd).AddDate(0, 0, 1)
		var ownedAfter int64
		for _, o := range all {
			if o.ID != e.ID && o.SKUID == e.SKUID && o.ActiveOn(after) {
				ownedAfter += o.Quantity
			}
		}
		days := sam.DaysBetween(today, e.TermEnd)
		g := growth[e.SKUID]
		projected := x.Used
		if g > 0 {
			projected = x.Used + int64(math.Ceil(g*float64(days)))
		}
		renew := max(projected-ownedAfter, 0)
		r := Renewal{Entitlement: e, PartNumber: x.PartNumber, DaysLeft: days, OwnedAfter: ownedAfter, ProjectedUsed: projected,
			RenewQuantity: renew, Change: renew - e.Quantity}
		if r.PartNumber == "" {
			r.PartNumber = e.SKUID
		}
		for _, w := range RenewalWindows {
			if days <= w {
				r.Window = w
				break
			}
		}
		switch {
		case r.Change < 0:
			r.Action = "cut"
		case r.Change > 0:
			r.Action = "buy"
		default:
			r.Action = "keep"
		}
		r.MonthlyChange = r.Change * e.UnitCost
		r.Explanation = fmt.Sprintf("needed at %s = projected used − rights still owned after = %d − %d = %d (projected used = %d used now + %.2f/day × %d days); renew %d of %d: %s %d (%s per month)",
			sam.FormatDay(e.TermEnd), projected, ownedAfter, renew, x.Used, g, days, renew, e.Quantity, r.Action, abs(r.Change),
			sam.FormatMoney(r.MonthlyChange, e.Currency))
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].DaysLeft != out[j].DaysLeft {
			return out[i].DaysLeft < out[j].DaysLeft
		}
		return out[i].Entitlement.ID < out[j].Entitlement.ID
	})
	return out, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
