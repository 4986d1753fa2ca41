package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

// newReportReconciliation returns the reconciliation reports added to
// 'seatwise report': position, savings, renewals, trend and recommendations.
func newReportReconciliation(a *App) []*cobra.Command {
	return []*cobra.Command{newReportPosition(a), newReportSavings(a), newReportRenewals(a), newReportTrend(a), newReportRecommendations(a)}
}

// trendDays is how far back trends and forecasts look.
const trendDays = 180

// positionSet is the live position of several profiles.
type positionSet struct {
	results []*recon.Result
	asOf    time.Time
}

// refused returns the error listing every refused model, nil when none.
func (s *positionSet) refused() error {
	var errs []error
	for _, r := range s.results {
		if err := r.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = sam.ErrorMessage(e)
	}
	return sam.Errorf(sam.EINVALID, "%s", strings.Join(msgs, "; "))
}

func computePositions(ctx context.Context, st store.Store, profile string, asOf time.Time) (*positionSet, error) {
	ps, err := reportProfiles(ctx, st, profile)
	if err != nil {
		return nil, err
	}
	set := &positionSet{asOf: asOf}
	for _, p := range ps {
		res, err := recon.Compute(ctx, st, p, recon.Options{AsOf: asOf})
		if err != nil {
			return nil, err
		}
		set.results = append(set.results, res)
	}
	return set, nil
}

// openPositions reads --as-of through asOf, opens the store and computes
// the live position of profile (every profile when "") on that day. The
// caller closes the store; on error nothing is left open.
func (a *App) openPositions(ctx context.Context, asOf func() (time.Time, error), profile string) (store.Store, *positionSet, error) {
	day, err := asOf()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	set, err := computePositions(ctx, st, profile, day)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, set, nil
}

// asOfFlag adds --as-of (default today).
func asOfFlag(cmd *cobra.Command) func() (time.Time, error) {
	s := cmd.Flags().String("as-of", "", "compute the position for this day (YYYY-MM-DD; default now)")
	return func() (time.Time, error) {
		if *s == "" {
			return time.Now().UTC(), nil
		}
		d, err := sam.ParseDay(*s)
		if err != nil {
			return d, sam.Errorf(sam.EINVALID, "--as-of: %s", sam.ErrorMessage(err))
		}
		return d, nil
	}
}

// PositionRow is one line of the position report: a product (family) total
// or one software model's position.
type PositionRow struct {
	Profile          string     `json:"profile"`
	Level            string     `json:"level"` // "product" or "model"
	Product          string     `json:"product"`
	PartNumber       string     `json:"part_number,omitempty"`
	SKUID            string     `json:"sku_id,omitempty"`
	Metric           string     `json:"metric"`
	Owned            int64      `json:"owned"`
	Used             int64      `json:"used"`
	Available        int64      `json:"available"`
	Shortfall        int64      `json:"shortfall"`
	Currency         string     `json:"currency,omitempty"`
	AverageUnitPrice string     `json:"average_unit_price,omitempty"`
	MonthlyCost      string     `json:"monthly_cost"`
	OverLicensed     string     `json:"over_licensed"`
	TrueUpCost       string     `json:"true_up_cost"`
	PotentialSavings string     `json:"potential_savings"`
	Status           string     `json:"status"`
	RunsOutOn        *time.Time `json:"runs_out_on,omitempty"`
	Forecast         string     `json:"forecast,omitempty"`
}

var positionColumns = []string{"profile", "level", "product", "part_number", "metric", "owned", "used", "available", "shortfall",
	"currency", "average_unit_price", "monthly_cost", "over_licensed", "true_up_cost", "potential_savings", "status", "runs_out_on"}

func (r PositionRow) cells() []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	out := ""
	if r.RunsOutOn != nil {
		out = sam.FormatDay(*r.RunsOutOn)
	}
	return []string{r.Profile, r.Level, r.Product, r.PartNumber, r.Metric, n(r.Owned), n(r.Used), n(r.Available), n(r.Shortfall),
		r.Currency, r.AverageUnitPrice, r.MonthlyCost, r.OverLicensed, r.TrueUpCost, r.PotentialSavings, r.Status, out}
}

func money(v int64) string { return sam.FormatMoney(v, "") }

func familyName(f sam.Family) string {
	switch f {
	case sam.FamilyDynamics365:
		return "Dynamics 365"
	case sam.FamilyPowerApps:
		return "Power Apps"
	case sam.FamilyPowerAutomate:
		return "Power Automate"
	case sam.FamilyDataverse:
		return "Dataverse"
	}
	return "Other (unmapped)"
}

func modelRow(profile string, p sam.Position, f *recon.Forecast) PositionRow {
	r := PositionRow{Profile: profile, Level: "model", Product: p.Product, PartNumber: p.PartNumber, SKUID: p.SKUID, Metric: p.Metric,
		Owned: p.Owned, Used: p.Used, Available: p.Available, Shortfall: p.Shortfall, Currency: p.Currency,
		AverageUnitPrice: money(p.AverageUnitPrice), MonthlyCost: money(p.MonthlyCost), OverLicensed: money(p.OverLicensed),
		TrueUpCost: money(p.TrueUpCost), PotentialSavings: money(p.PotentialSavings), Status: p.Status()}
	if p.PriceSource == sam.PriceUnknown {
		r.AverageUnitPrice = "unknown"
	}
	if r.Product == "" {
		r.Product = p.PartNumber
	}
	if f != nil {
		r.RunsOutOn, r.Forecast = f.RunsOutOn, f.Explanation
	}
	return r
}

func forecastOf(ctx context.Context, st store.Store, p sam.Position) (recon.Forecast, error) {
	pts, err := recon.Trend(ctx, st, p.ProfileID, p.SKUID, p.AsOf.AddDate(0, 0, -trendDays), p.AsOf)
	if err != nil {
		return recon.Forecast{}, err
	}
	pts = append(pts, recon.TrendPoint{At: p.AsOf, Owned: p.Owned, Used: p.Used, Source: "now"})
	return recon.ForecastRunOut(pts, p.Owned, p.Used, p.AsOf), nil
}

func newReportPosition(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "position",
		Short: "Licence position per product and software model: rights owned, used, available, shortfall, over-licensed amount, true-up cost, compliance, forecast",
		Long: "Licence position per product (family) and software model, user-subscription metric, computed now from the entitlements and the open subscriptions. " +
			"Money is per month. --explain SKU shows the inputs and arithmetic of every figure of one model; --group-by splits the position by profile, department, country (rights used) or cost centre (rights owned).",
		Args: cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	explain := cmd.Flags().String("explain", "", "explain every figure of this software model (SKU GUID or part number)")
	groupBy := cmd.Flags().String("group-by", "profile", "profile, department, country or cost-centre")
	asOf := asOfFlag(cmd)
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		dim, err := recon.ParseDimension(strings.ToLower(strings.TrimSpace(*groupBy)))
		if err != nil {
			return err
		}
		day, err := asOf()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if *explain != "" {
			return explainPosition(ctx, a, st, f, *profile, *explain, day)
		}
		set, err := computePositions(ctx, st, *profile, day)
		if err != nil {
			return err
		}
		if dim != recon.ByProfile {
			if err := printBreakdown(ctx, a, st, f, set, dim); err != nil {
				return err
			}
			return set.refused()
		}
		pr := NewPrinter(a.Stdout, f, positionColumns...)
		for _, res := range set.results {
			sums := recon.Summarize(res.Positions)
			for _, s := range sums {
				status := "compliant"
				if !s.Compliant {
					status = "not compliant"
				}
				row := PositionRow{Profile: res.Profile.Name, Level: "product", Product: familyName(s.Family), Metric: sam.MetricUserSubscription,
					Owned: s.Owned, Used: s.Used, Available: s.Available, Shortfall: s.Shortfall, Currency: s.Currency,
					MonthlyCost: money(s.MonthlyCost), OverLicensed: money(s.OverLicensed), TrueUpCost: money(s.TrueUpCost),
					PotentialSavings: money(s.PotentialSavings), Status: status}
				if err := pr.Row(row, row.cells()...); err != nil {
					return err
				}
				for _, p := range res.Positions {
					if p.Family != s.Family || p.Currency != s.Currency {
						continue
					}
					fc, err := forecastOf(ctx, st, p)
					if err != nil {
						return err
					}
					row := modelRow(res.Profile.Name, p, &fc)
					if err := pr.Row(row, row.cells()...); err != nil {
						return err
					}
				}
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
		return set.refused()
	}
	return cmd
}

func printBreakdown(ctx context.Context, a *App, st store.Store, f Format, set *positionSet, dim recon.Dimension) error {
	cols := []string{"profile", "part_number", string(dim), "owned", "used", "amount", "currency", "basis"}
	pr := NewPrinter(a.Stdout, f, cols...)
	for _, res := range set.results {
		rows, err := recon.Breakdown(ctx, st, res.Profile, res.Positions, dim, set.asOf)
		if err != nil {
			return err
		}
		for _, r := range rows {
			owned, used := "", ""
			if dim == recon.ByCostCenter {
				owned = strconv.FormatInt(r.Owned, 10)
			} else {
				used = strconv.FormatInt(r.Used, 10)
			}
			group := r.Group
			if group == "" {
				group = "(none)"
			}
			v := struct {
				Profile string `json:"profile"`
				recon.GroupRow
			}{res.Profile.Name, r}
			if err := pr.Row(v, res.Profile.Name, r.PartNumber, group, owned, used, money(r.Amount), r.Currency, r.Basis); err != nil {
				return err
			}
		}
	}
	return pr.Close()
}

// ExplainedPosition is a position with its forecast, as --explain prints it.
type ExplainedPosition struct {
	Profile  string         `json:"profile"`
	Position sam.Position   `json:"position"`
	Forecast recon.Forecast `json:"forecast"`
}

func explainPosition(ctx context.Context, a *App, st store.Store, f Format, profile, key string, asOf time.Time) error {
	m, _, err := recon.ResolveModel(ctx, st, catalog.Default(), key)
	if err != nil {
		return err
	}
	ps, err := reportProfiles(ctx, st, profile)
	if err != nil {
		return err
	}
	var out []ExplainedPosition
	var refused []error
	for _, p := range ps {
		res, err := recon.Compute(ctx, st, p, recon.Options{AsOf: asOf})
		if err != nil {
			return err
		}
		for _, r := range res.Refused {
			if r.SKUID == m.SKUID {
				refused = append(refused, r.Err)
			}
		}
		for _, pos := range res.Positions {
			if pos.SKUID != m.SKUID {
				continue
			}
			fc, err := forecastOf(ctx, st, pos)
			if err != nil {
				return err
			}
			out = append(out, ExplainedPosition{Profile: p.Name, Position: pos, Forecast: fc})
		}
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	if len(out) == 0 {
		return sam.Errorf(sam.ENOTFOUND, "%s has neither open subscriptions nor entitlements in %s", m.PartNumber, profileScope(profile))
	}
	if f == FormatJSON {
		return WriteJSON(a.Stdout, out)
	}
	pr := NewPrinter(a.Stdout, f, "profile", "part_number", "figure", "value", "arithmetic", "input")
	for _, x := range out {
		for _, e := range x.Position.Explain {
			if err := pr.Row(nil, x.Profile, x.Position.PartNumber, e.Figure, e.Value, e.Arithmetic, ""); err != nil {
				return err
			}
			for _, in := range e.Inputs {
				if err := pr.Row(nil, x.Profile, x.Position.PartNumber, e.Figure, "", "", in); err != nil {
					return err
				}
			}
		}
		runs := "-"
		if x.Forecast.RunsOutOn != nil {
			runs = sam.FormatDay(*x.Forecast.RunsOutOn)
		}
		if err := pr.Row(nil, x.Profile, x.Position.PartNumber, "rights run out", runs, x.Forecast.Explanation, ""); err != nil {
			return err
		}
	}
	return pr.Close()
}

func profileScope(profile string) string {
	if profile == "" {
		return "any profile"
	}
	return "profile " + profile
}

// SavingsRow is one line of the savings report.
type SavingsRow struct {
	Profile          string `json:"profile"`
	PartNumber       string `json:"part_number"`
	SKUID            string `json:"sku_id"`
	Currency         string `json:"currency,omitempty"`
	Available        int64  `json:"available"`
	OverLicensed     string `json:"over_licensed"`
	PotentialSavings string `json:"potential_savings"`
	OpenCandidates   int    `json:"open_candidates"`
	RealisedSavings  string `json:"realised_savings"`
	CandidatesSource string `json:"candidates_source"`
}

func newReportSavings(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "savings",
		Short: "What is wasted and what would be saved per software model: over-licensed amount (unused rights), potential and realised savings of removal candidates, per month",
		Args:  cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	asOf := asOfFlag(cmd)
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, set, err := a.openPositions(ctx, asOf, *profile)
		if err != nil {
			return err
		}
		defer st.Close()
		pr := NewPrinter(a.Stdout, f, "profile", "part_number", "currency", "available", "over_licensed", "potential_savings",
			"open_candidates", "realised_savings", "candidates_source")
		type total struct{ over, pot, real int64 }
		totals := map[string]*total{}
		var order []string
		for _, res := range set.results {
			for _, p := range res.Positions {
				r := SavingsRow{Profile: res.Profile.Name, PartNumber: p.PartNumber, SKUID: p.SKUID, Currency: p.Currency, Available: p.Available,
					OverLicensed: money(p.OverLicensed), PotentialSavings: money(p.PotentialSavings), OpenCandidates: p.OpenCandidates,
					RealisedSavings: money(p.RealisedSavings), CandidatesSource: p.CandidatesSource}
				if err := pr.Row(r, r.Profile, r.PartNumber, r.Currency, strconv.FormatInt(r.Available, 10), r.OverLicensed, r.PotentialSavings,
					strconv.Itoa(r.OpenCandidates), r.RealisedSavings, r.CandidatesSource); err != nil {
					return err
				}
				t := totals[p.Currency]
				if t == nil {
					t = &total{}
					totals[p.Currency] = t
					order = append(order, p.Currency)
				}
				t.over += p.OverLicensed
				t.pot += p.PotentialSavings
				t.real += p.RealisedSavings
			}
		}
		for _, c := range order {
			t := totals[c]
			r := SavingsRow{Profile: "(total)", Currency: c, OverLicensed: money(t.over), PotentialSavings: money(t.pot), RealisedSavings: money(t.real)}
			if err := pr.Row(r, r.Profile, "", c, "", r.OverLicensed, r.PotentialSavings, "", r.RealisedSavings, ""); err != nil {
				return err
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
		return set.refused()
	}
	return cmd
}

// RenewalRow is one line of the renewals report.
type RenewalRow struct {
	Profile       string `json:"profile"`
	Window        int    `json:"window_days"`
	DaysLeft      int    `json:"days_left"`
	EntitlementID int64  `json:"entitlement_id"`
	PartNumber    string `json:"part_number"`
	TermEnd       string `json:"term_end"`
	Commitment    string `json:"commitment"`
	Quantity      int64  `json:"quantity"`
	OwnedAfter    int64  `json:"owned_after"`
	ProjectedUsed int64  `json:"projected_used"`
	Renew         int64  `json:"renew"`
	Action        string `json:"action"`
	Change        int64  `json:"change"`
	MonthlyChange string `json:"monthly_change"`
	Currency      string `json:"currency"`
	Explanation   string `json:"explanation"`
}

func newReportRenewals(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "renewals",
		Short: "Entitlements ending in the next 30 / 60 / 90 / 120 days and what to cut or buy at renewal (at the current growth)",
		Args:  cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	within := cmd.Flags().Int("within", 120, "days ahead to look (30, 60, 90 or 120 windows)")
	asOf := asOfFlag(cmd)
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		if *within <= 0 || *within > 3660 {
			return sam.Errorf(sam.EINVALID, "--within %d: want 1 to 3660 days", *within)
		}
		ctx := cmd.Context()
		st, set, err := a.openPositions(ctx, asOf, *profile)
		if err != nil {
			return err
		}
		defer st.Close()
		pr := NewPrinter(a.Stdout, f, "profile", "window_days", "days_left", "entitlement_id", "part_number", "term_end", "commitment",
			"quantity", "owned_after", "projected_used", "renew", "action", "change", "monthly_change", "currency")
		for _, res := range set.results {
			growth := map[string]float64{}
			for _, p := range res.Positions {
				fc, err := forecastOf(ctx, st, p)
				if err != nil {
					return err
				}
				growth[p.SKUID] = fc.GrowthPerDay
			}
			rens, err := recon.Renewals(ctx, st, res.Profile, res.Positions, growth, set.asOf, *within)
			if err != nil {
				return err
			}
			for _, r := range rens {
				e := r.Entitlement
				row := RenewalRow{Profile: res.Profile.Name, Window: r.Window, DaysLeft: r.DaysLeft, EntitlementID: e.ID, PartNumber: r.PartNumber,
					TermEnd: sam.FormatDay(e.TermEnd), Commitment: string(e.Commitment), Quantity: e.Quantity, OwnedAfter: r.OwnedAfter,
					ProjectedUsed: r.ProjectedUsed, Renew: r.RenewQuantity, Action: r.Action, Change: r.Change,
					MonthlyChange: money(r.MonthlyChange), Currency: e.Currency, Explanation: r.Explanation}
				n := func(v int64) string { return strconv.FormatInt(v, 10) }
				if err := pr.Row(row, row.Profile, strconv.Itoa(row.Window), strconv.Itoa(row.DaysLeft), n(row.EntitlementID), row.PartNumber,
					row.TermEnd, row.Commitment, n(row.Quantity), n(row.OwnedAfter), n(row.ProjectedUsed), n(row.Renew), row.Action,
					fmt.Sprintf("%+d", row.Change), row.MonthlyChange, row.Currency); err != nil {
					return err
				}
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
		return set.refused()
	}
	return cmd
}

func newReportTrend(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trend",
		Short: "History of one software model: rights owned and used per reconciliation snapshot (and Microsoft's unit counts between them)",
		Args:  cobra.NoArgs,
	}
	model := cmd.Flags().String("model", "", "SKU GUID or part number (required)")
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	days := cmd.Flags().Int("days", trendDays, "days of history")
	output := OutputFlag(cmd)
	_ = cmd.MarkFlagRequired("model")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		if *days <= 0 {
			return sam.Errorf(sam.EINVALID, "--days %d: want a positive number", *days)
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		m, _, err := recon.ResolveModel(ctx, st, catalog.Default(), *model)
		if err != nil {
			return err
		}
		ps, err := reportProfiles(ctx, st, *profile)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		pr := NewPrinter(a.Stdout, f, "profile", "part_number", "at", "owned", "used", "source")
		for _, p := range ps {
			pts, err := recon.Trend(ctx, st, p.ID, m.SKUID, now.AddDate(0, 0, -*days), now)
			if err != nil {
				return err
			}
			for _, x := range pts {
				v := struct {
					Profile    string `json:"profile"`
					PartNumber string `json:"part_number"`
					recon.TrendPoint
				}{p.Name, m.PartNumber, x}
				if err := pr.Row(v, p.Name, m.PartNumber, x.At.UTC().Format(time.RFC3339), strconv.FormatInt(x.Owned, 10),
					strconv.FormatInt(x.Used, 10), x.Source); err != nil {
					return err
				}
			}
		}
		return pr.Close()
	}
	return cmd
}

func newReportRecommendations(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recommendations",
		Short: "Licence changes that save money, leavers first: remove a leaver's licences, consolidate several base licences into base plus attach, downgrade read-only users to Team Members",
		Args:  cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	asOf := asOfFlag(cmd)
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, set, err := a.openPositions(ctx, asOf, *profile)
		if err != nil {
			return err
		}
		defer st.Close()
		pr := NewPrinter(a.Stdout, f, "profile", "priority", "kind", "upn", "from", "to", "monthly_saving", "currency", "reason")
		for _, res := range set.results {
			name := res.Profile.Name
			err := recon.Recommend(ctx, st, catalog.Default(), res.Profile, res.Positions, set.asOf, func(r recon.Recommendation) error {
				saving := "unknown"
				if r.SavingKnown {
					saving = money(r.MonthlySaving)
				}
				v := struct {
					Profile string `json:"profile"`
					recon.Recommendation
				}{name, r}
				return pr.Row(v, name, strconv.Itoa(r.Priority), r.Kind, r.UPN, strings.Join(r.From, " + "), strings.Join(r.To, " + "),
					saving, r.Currency, r.Reason)
			})
			if err != nil {
				return err
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
		return set.refused()
	}
	return cmd
}
