package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// trendDays is how much history trends, forecasts and renewal growth use.
const trendDays = 180

// dashboardDays is how many days the dashboard's trend shows.
const dashboardDays = 90

// noReclamation says why potential and realised savings are not shown.
const noReclamation = "reclamation not configured (savings come from removal candidates, and this server has no source of them)"

// ---- dashboard ----

// DashboardJSON is everything the dashboard shows, computed over every
// profile. Money is in minor units per month, per currency.
type DashboardJSON struct {
	AsOf          time.Time         `json:"as_of"`
	Profiles      int               `json:"profiles"`
	Subscriptions int               `json:"subscriptions"`
	Classes       []ClassCountJSON  `json:"classes"`
	Models        []ModelUsageJSON  `json:"models"`
	Spend         []SpendJSON       `json:"spend"`
	Savings       SavingsStatusJSON `json:"savings"`
	Compliance    []ComplianceJSON  `json:"compliance"`
	Trend         []TrendDayJSON    `json:"trend"`
	Idle          []IdleCountJSON   `json:"idle"`
	Refused       []string          `json:"refused"`
	LastRuns      []RunJSON         `json:"last_runs"`
}

// ClassCountJSON is the number of open subscriptions in one usage class.
type ClassCountJSON struct {
	Class string `json:"class"`
	Label string `json:"label"`
	Count int    `json:"count"`
}

// ModelUsageJSON is one software model's open subscriptions by usage class.
type ModelUsageJSON struct {
	SKUID   string         `json:"sku_id"`
	Label   string         `json:"label"`
	Total   int            `json:"total"`
	Classes map[string]int `json:"classes"`
}

// SpendJSON is what the rights owned cost per month in one currency, with
// what is paid for unused rights and what a true-up would cost.
type SpendJSON struct {
	Currency     string `json:"currency"`
	MonthlyCost  int64  `json:"monthly_cost"`
	OverLicensed int64  `json:"over_licensed"`
	TrueUpCost   int64  `json:"true_up_cost"`
}

// SavingsStatusJSON is potential (open removal candidates) and realised
// (licences removed) savings per currency; Configured is false, with the
// reason in Message, when no reclamation source is configured.
type SavingsStatusJSON struct {
	Configured bool               `json:"configured"`
	Message    string             `json:"message"`
	Currencies []SavingsTotalJSON `json:"currencies"`
}

// SavingsTotalJSON is the savings of one currency per month.
type SavingsTotalJSON struct {
	Currency       string `json:"currency"`
	Potential      int64  `json:"potential"`
	Realised       int64  `json:"realised"`
	OpenCandidates int    `json:"open_candidates"`
}

// ComplianceJSON is the licence position of one product (family) of one
// profile: compliant when no model of it is short of rights.
type ComplianceJSON struct {
	Profile   string `json:"profile"`
	Product   string `json:"product"`
	Models    int    `json:"models"`
	Owned     int64  `json:"owned"`
	Used      int64  `json:"used"`
	Shortfall int64  `json:"shortfall"`
	Compliant bool   `json:"compliant"`
}

// TrendDayJSON is one day of the usage trend (from the daily snapshots):
// active = active and low usage, stale = inactive 30/60/90 days and never
// active, other = disabled accounts and unknown.
type TrendDayJSON struct {
	Day    string `json:"day"` // YYYY-MM-DD
	Active int    `json:"active"`
	Stale  int    `json:"stale"`
	Other  int    `json:"other"`
}

// IdleCountJSON is the number of open subscriptions whose last activity is
// Bucket days ago (or never).
type IdleCountJSON struct {
	Bucket string `json:"bucket"`
	Count  int    `json:"count"`
}

// classGroup sorts usage classes into the trend's three groups.
func classGroup(c sam.UsageClass) string {
	switch c {
	case sam.UsageActive, sam.UsageLow:
		return "active"
	case sam.UsageInactive30, sam.UsageInactive60, sam.UsageInactive90, sam.UsageNeverActive:
		return "stale"
	}
	return "other"
}

var familyNames = map[sam.Family]string{"dynamics365": "Dynamics 365", "powerapps": "Power Apps",
	"powerautomate": "Power Automate", "dataverse": "Dataverse", "other": "Other"}

func familyName(f sam.Family) string {
	if n, ok := familyNames[f]; ok {
		return n
	}
	return string(f)
}

// dashCache keeps the dashboard while the data stamp is unchanged (and for
// at most dashMaxAge, as idle days move with the clock). One computation
// runs at a time: concurrent requests wait for it rather than repeat it.
type dashCache struct {
	mu    sync.Mutex
	stamp string
	at    time.Time
	data  *DashboardJSON

	viewMu sync.Mutex
	view   *dashboardView // the page's charts, drawn from data
}

const dashMaxAge = 5 * time.Minute

// recon options of this server: the configured candidates source, if any.
func (s *Server) reconOptions(asOf time.Time) recon.Options {
	return recon.Options{AsOf: asOf, Candidates: s.cfg.Candidates, CandidatesSource: s.cfg.CandidatesSource}
}

func (s *Server) savingsStatus() SavingsStatusJSON {
	if s.cfg.Candidates == nil {
		return SavingsStatusJSON{Message: noReclamation, Currencies: []SavingsTotalJSON{}}
	}
	src := s.cfg.CandidatesSource
	if src == "" {
		src = "removal candidates"
	}
	return SavingsStatusJSON{Configured: true, Message: "from " + src, Currencies: []SavingsTotalJSON{}}
}

// dashboard returns the dashboard, from the cache when nothing changed.
func (s *Server) dashboard(ctx context.Context) (*DashboardJSON, error) {
	stamp, err := s.dataStamp(ctx)
	if err != nil {
		return nil, err
	}
	s.dash.mu.Lock()
	defer s.dash.mu.Unlock()
	if s.dash.data != nil && s.dash.stamp == stamp && time.Since(s.dash.at) < dashMaxAge {
		return s.dash.data, nil
	}
	d, err := s.computeDashboard(ctx)
	if err != nil {
		return nil, err
	}
	s.dash.stamp, s.dash.at, s.dash.data = stamp, time.Now(), d
	return d, nil
}

// Warm computes the dashboard ahead of the first request that needs it
// (serve calls it when it starts; the figures of a large tenant take a few
// seconds to aggregate).
func (s *Server) Warm(ctx context.Context) error {
	if _, err := s.dashboard(ctx); err != nil {
		return err
	}
	_, err := s.usageCounts(ctx, 0)
	return err
}

func (s *Server) computeDashboard(ctx context.Context) (*DashboardJSON, error) {
	now := s.now().UTC()
	d := &DashboardJSON{AsOf: now, Classes: []ClassCountJSON{}, Models: []ModelUsageJSON{}, Spend: []SpendJSON{},
		Compliance: []ComplianceJSON{}, Trend: []TrendDayJSON{}, Idle: []IdleCountJSON{}, Refused: []string{}, Savings: s.savingsStatus(),
		LastRuns: []RunJSON{}}
	ps, err := s.cfg.Store.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	d.Profiles = len(ps)

	// Usage now: classes, models, idle histogram.
	bs, err := s.cfg.Store.UsageBreakdown(ctx, 0, now)
	if err != nil {
		return nil, err
	}
	classes := map[sam.UsageClass]int{}
	idle := map[string]int{}
	models := map[string]*ModelUsageJSON{}
	for _, b := range bs {
		d.Subscriptions += b.Count
		classes[b.UsageClass] += b.Count
		idle[b.Idle] += b.Count
		m := models[b.SKUID]
		if m == nil {
			m = &ModelUsageJSON{SKUID: b.SKUID, Label: b.SKUID, Classes: map[string]int{}}
			models[b.SKUID] = m
		}
		m.Total += b.Count
		m.Classes[string(b.UsageClass)] += b.Count
	}
	for _, c := range sam.UsageClasses {
		d.Classes = append(d.Classes, ClassCountJSON{Class: string(c), Label: classLabel(string(c)), Count: classes[c]})
	}
	for _, b := range store.IdleBuckets {
		d.Idle = append(d.Idle, IdleCountJSON{Bucket: b.Name, Count: idle[b.Name]})
	}
	var skus []string
	for k := range models {
		skus = append(skus, k)
	}
	if len(skus) > 0 {
		ms, err := s.cfg.Store.SoftwareModels(ctx, store.ModelFilter{SKUIDs: skus})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if u := models[m.SKUID]; u != nil {
				u.Label = m.PartNumber
				if m.Product != "" {
					u.Label = m.Product
				}
			}
		}
	}
	for _, m := range models {
		d.Models = append(d.Models, *m)
	}
	slices.SortFunc(d.Models, func(a, b ModelUsageJSON) int {
		if a.Total != b.Total {
			return b.Total - a.Total
		}
		return strings.Compare(a.Label, b.Label)
	})

	// Money and compliance: the licence position of every profile.
	spend := map[string]*SpendJSON{}
	savings := map[string]*SavingsTotalJSON{}
	for _, p := range ps {
		res, err := recon.Compute(ctx, s.cfg.Store, p, s.reconOptions(now))
		if err != nil {
			return nil, err
		}
		for _, m := range res.Refused {
			d.Refused = append(d.Refused, p.Name+": "+m.PartNumber+": "+sam.ErrorMessage(m.Err))
		}
		for _, sum := range recon.Summarize(res.Positions) {
			d.Compliance = append(d.Compliance, ComplianceJSON{Profile: p.Name, Product: familyName(sum.Family), Models: sum.Models,
				Owned: sum.Owned, Used: sum.Used, Shortfall: sum.Shortfall, Compliant: sum.Compliant})
		}
		for _, pos := range res.Positions {
			if pos.Currency == "" {
				continue
			}
			sp := spend[pos.Currency]
			if sp == nil {
				sp = &SpendJSON{Currency: pos.Currency}
				spend[pos.Currency] = sp
			}
			sp.MonthlyCost += pos.MonthlyCost
			sp.OverLicensed += pos.OverLicensed
			sp.TrueUpCost += pos.TrueUpCost
			if s.cfg.Candidates != nil {
				addSavings(savings, &pos)
			}
		}
	}
	for _, c := range slices.Sorted(mapsKeys(spend)) {
		d.Spend = append(d.Spend, *spend[c])
	}
	d.Savings.Currencies = append(d.Savings.Currencies, sortedSavings(savings)...)

	// History: the daily snapshots.
	trend, err := s.usageTrend(ctx, 0, now, dashboardDays)
	if err != nil {
		return nil, err
	}
	d.Trend = trend
	runs, err := s.cfg.Store.Runs(ctx, store.RunFilter{Limit: 5})
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	for _, run := range runs {
		d.LastRuns = append(d.LastRuns, newRunJSON(run, names[run.ProfileID]))
	}
	return d, nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// usageTrend returns the usage trend of a profile (0: every profile) over
// the days days up to now, one point per day that has snapshots.
func (s *Server) usageTrend(ctx context.Context, profileID int64, now time.Time, days int) ([]TrendDayJSON, error) {
	snaps, err := s.cfg.Store.UsageSnapshots(ctx, store.UsageSnapshotFilter{ProfileID: profileID, From: now.AddDate(0, 0, -days+1), To: now})
	if err != nil {
		return nil, err
	}
	out := []TrendDayJSON{}
	for _, x := range snaps {
		day := x.Day.UTC().Format("2006-01-02")
		if len(out) == 0 || out[len(out)-1].Day != day {
			out = append(out, TrendDayJSON{Day: day})
		}
		p := &out[len(out)-1]
		switch classGroup(x.UsageClass) {
		case "active":
			p.Active += x.Count
		case "stale":
			p.Stale += x.Count
		default:
			p.Other += x.Count
		}
	}
	return out, nil
}

func apiDashboard(s *Server, w http.ResponseWriter, r *http.Request) error {
	d, err := s.dashboard(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// ---- savings, renewals, trends ----

// profilesParam returns the profile named by the "profile" query parameter,
// or every profile when it is absent.
func (s *Server) profilesParam(r *http.Request) ([]*sam.Profile, error) {
	if name := r.URL.Query().Get("profile"); name != "" {
		p, err := s.cfg.Store.ProfileByName(r.Context(), name)
		if err != nil {
			return nil, err
		}
		return []*sam.Profile{p}, nil
	}
	return s.cfg.Store.Profiles(r.Context())
}

// dayParam reads an optional YYYY-MM-DD query parameter (zero: absent).
func dayParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, sam.Errorf(sam.EINVALID, "%s %q: want a date YYYY-MM-DD", name, v)
	}
	return t, nil
}

// SavingsRowJSON is what one software model of one profile wastes and
// would save per month.
type SavingsRowJSON struct {
	Profile          string `json:"profile"`
	SKUID            string `json:"sku_id"`
	PartNumber       string `json:"part_number"`
	Currency         string `json:"currency,omitempty"`
	Available        int64  `json:"available"`
	OverLicensed     int64  `json:"over_licensed"`
	PotentialSavings int64  `json:"potential_savings"`
	OpenCandidates   int    `json:"open_candidates"`
	RealisedSavings  int64  `json:"realised_savings"`
}

// SavingsJSON is the savings report.
type SavingsJSON struct {
	Reclamation SavingsStatusJSON `json:"reclamation"`
	Rows        []SavingsRowJSON  `json:"rows"`
	Refused     []string          `json:"refused"`
}

func apiSavings(s *Server, w http.ResponseWriter, r *http.Request) error {
	ps, err := s.profilesParam(r)
	if err != nil {
		return err
	}
	asOf, err := dayParam(r, "as_of")
	if err != nil {
		return err
	}
	out := SavingsJSON{Reclamation: s.savingsStatus(), Rows: []SavingsRowJSON{}, Refused: []string{}}
	totals := map[string]*SavingsTotalJSON{}
	for _, p := range ps {
		res, err := recon.Compute(r.Context(), s.cfg.Store, p, s.reconOptions(asOf))
		if err != nil {
			return err
		}
		for _, m := range res.Refused {
			out.Refused = append(out.Refused, p.Name+": "+m.PartNumber+": "+sam.ErrorMessage(m.Err))
		}
		for _, pos := range res.Positions {
			out.Rows = append(out.Rows, SavingsRowJSON{Profile: p.Name, SKUID: pos.SKUID, PartNumber: pos.PartNumber, Currency: pos.Currency,
				Available: pos.Available, OverLicensed: pos.OverLicensed, PotentialSavings: pos.PotentialSavings,
				OpenCandidates: pos.OpenCandidates, RealisedSavings: pos.RealisedSavings})
			if s.cfg.Candidates != nil && pos.Currency != "" {
				addSavings(totals, &pos)
			}
		}
	}
	out.Reclamation.Currencies = append(out.Reclamation.Currencies, sortedSavings(totals)...)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addSavings adds pos's potential and realised savings and its open
// candidates to the total of its currency in totals.
func addSavings(totals map[string]*SavingsTotalJSON, pos *sam.Position) {
	t := totals[pos.Currency]
	if t == nil {
		t = &SavingsTotalJSON{Currency: pos.Currency}
		totals[pos.Currency] = t
	}
	t.Potential += pos.PotentialSavings
	t.Realised += pos.RealisedSavings
	t.OpenCandidates += pos.OpenCandidates
}

// sortedSavings returns the totals ordered by currency.
func sortedSavings(totals map[string]*SavingsTotalJSON) []SavingsTotalJSON {
	out := make([]SavingsTotalJSON, 0, len(totals))
	for _, c := range slices.Sorted(mapsKeys(totals)) {
		out = append(out, *totals[c])
	}
	return out
}

// RenewalJSON is one entitlement ending soon and what to do at its renewal.
type RenewalJSON struct {
	Profile       string          `json:"profile"`
	Entitlement   EntitlementJSON `json:"entitlement"`
	PartNumber    string          `json:"part_number"`
	DaysLeft      int             `json:"days_left"`
	Window        int             `json:"window_days"`
	OwnedAfter    int64           `json:"owned_after"`
	ProjectedUsed int64           `json:"projected_used"`
	Renew         int64           `json:"renew"`
	Action        string          `json:"action"` // cut, buy or keep
	Change        int64           `json:"change"`
	MonthlyChange int64           `json:"monthly_change"`
	Explanation   string          `json:"explanation"`
}

func apiRenewals(s *Server, w http.ResponseWriter, r *http.Request) error {
	ps, err := s.profilesParam(r)
	if err != nil {
		return err
	}
	asOf, err := dayParam(r, "as_of")
	if err != nil {
		return err
	}
	within, err := intParam(r.URL.Query(), "within", 120, 1, 3660)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	out := []RenewalJSON{}
	for _, p := range ps {
		res, err := recon.Compute(r.Context(), s.cfg.Store, p, s.reconOptions(asOf))
		if err != nil {
			return err
		}
		growth := map[string]float64{}
		for _, pos := range res.Positions {
			pts, err := recon.Trend(r.Context(), s.cfg.Store, pos.ProfileID, pos.SKUID, pos.AsOf.AddDate(0, 0, -trendDays), pos.AsOf)
			if err != nil {
				return err
			}
			pts = append(pts, recon.TrendPoint{At: pos.AsOf, Owned: pos.Owned, Used: pos.Used, Source: "now"})
			growth[pos.SKUID] = recon.ForecastRunOut(pts, pos.Owned, pos.Used, pos.AsOf).GrowthPerDay
		}
		rens, err := recon.Renewals(r.Context(), s.cfg.Store, p, res.Positions, growth, res.AsOf, within)
		if err != nil {
			return err
		}
		for _, rn := range rens {
			out = append(out, RenewalJSON{Profile: p.Name, Entitlement: newEntitlementJSON(rn.Entitlement, names), PartNumber: rn.PartNumber,
				DaysLeft: rn.DaysLeft, Window: rn.Window, OwnedAfter: rn.OwnedAfter, ProjectedUsed: rn.ProjectedUsed, Renew: rn.RenewQuantity,
				Action: rn.Action, Change: rn.Change, MonthlyChange: rn.MonthlyChange, Explanation: rn.Explanation})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UsageTrendJSON is the daily usage trend of a profile (or every profile).
type UsageTrendJSON struct {
	Profile string         `json:"profile,omitempty"`
	Days    int            `json:"days"`
	Points  []TrendDayJSON `json:"points"`
}

func apiUsageTrend(s *Server, w http.ResponseWriter, r *http.Request) error {
	days, err := intParam(r.URL.Query(), "days", dashboardDays, 1, 3660)
	if err != nil {
		return err
	}
	out := UsageTrendJSON{Days: days}
	var id int64
	if name := r.URL.Query().Get("profile"); name != "" {
		p, err := s.cfg.Store.ProfileByName(r.Context(), name)
		if err != nil {
			return err
		}
		id, out.Profile = p.ID, p.Name
	}
	if out.Points, err = s.usageTrend(r.Context(), id, s.now().UTC(), days); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// PositionTrendJSON is the history of one software model of one profile:
// rights owned and used per reconciliation snapshot (and Microsoft's unit
// counts between them), with the run-out forecast.
type PositionTrendJSON struct {
	Profile  string             `json:"profile"`
	SKUID    string             `json:"sku_id"`
	Points   []recon.TrendPoint `json:"points"`
	Forecast recon.Forecast     `json:"forecast"`
}

func apiPositionTrend(s *Server, w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	key := r.URL.Query().Get("model")
	if key == "" {
		return sam.Errorf(sam.EINVALID, "model is required (SKU id or part number)")
	}
	m, _, err := recon.ResolveModel(r.Context(), s.cfg.Store, s.cfg.Catalog, key)
	if err != nil {
		return err
	}
	days, err := intParam(r.URL.Query(), "days", trendDays, 1, 3660)
	if err != nil {
		return err
	}
	res, err := recon.Compute(r.Context(), s.cfg.Store, p, s.reconOptions(time.Time{}))
	if err != nil {
		return err
	}
	now := res.AsOf
	pts, err := recon.Trend(r.Context(), s.cfg.Store, p.ID, m.SKUID, now.AddDate(0, 0, -days), now)
	if err != nil {
		return err
	}
	out := PositionTrendJSON{Profile: p.Name, SKUID: m.SKUID, Points: pts}
	if out.Points == nil {
		out.Points = []recon.TrendPoint{}
	}
	for _, pos := range res.Positions {
		if pos.SKUID == m.SKUID {
			all := append(slices.Clone(pts), recon.TrendPoint{At: pos.AsOf, Owned: pos.Owned, Used: pos.Used, Source: "now"})
			out.Forecast = recon.ForecastRunOut(all, pos.Owned, pos.Used, pos.AsOf)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- single entitlements ----

// EntitlementInput creates an entitlement (every field but the optional
// ones) or edits one (the fields present). Model is a SKU id or part number.
type EntitlementInput struct {
	Profile       *string `json:"profile,omitempty"`
	Model         *string `json:"model,omitempty"`
	Quantity      *int64  `json:"quantity,omitempty"`
	UnitCost      *int64  `json:"unit_cost,omitempty"`
	Currency      *string `json:"currency,omitempty"`
	TermStart     *string `json:"term_start,omitempty"`
	TermEnd       *string `json:"term_end,omitempty"`
	Commitment    *string `json:"commitment,omitempty"`
	CostCenter    *string `json:"cost_center,omitempty"`
	PurchaseOrder *string `json:"purchase_order,omitempty"`
	Notes         *string `json:"notes,omitempty"`
}

// apply validates in and copies the fields present onto e (the model is
// resolved and stored when it comes from the catalog).
func (s *Server) applyEntitlement(r *http.Request, in EntitlementInput, e *sam.Entitlement) error {
	if in.Profile != nil {
		p, err := s.cfg.Store.ProfileByName(r.Context(), *in.Profile)
		if err != nil {
			return err
		}
		e.ProfileID = p.ID
	}
	if in.Model != nil {
		m, stored, err := recon.ResolveModel(r.Context(), s.cfg.Store, s.cfg.Catalog, strings.TrimSpace(*in.Model))
		if err != nil {
			return err
		}
		if err := recon.EnsureModel(r.Context(), s.cfg.Store, m, stored); err != nil {
			return err
		}
		e.SKUID = m.SKUID
	}
	if in.Quantity != nil {
		e.Quantity = *in.Quantity
	}
	if in.UnitCost != nil {
		e.UnitCost = *in.UnitCost
	}
	if in.Currency != nil {
		e.Currency = strings.ToUpper(strings.TrimSpace(*in.Currency))
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *time.Time
	}{{"term_start", in.TermStart, &e.TermStart}, {"term_end", in.TermEnd, &e.TermEnd}} {
		if f.in != nil {
			t, err := time.Parse("2006-01-02", strings.TrimSpace(*f.in))
			if err != nil {
				return sam.Errorf(sam.EINVALID, "%s %q: want a date YYYY-MM-DD", f.name, *f.in)
			}
			*f.out = t
		}
	}
	if in.Commitment != nil {
		c, err := sam.ParseCommitment(*in.Commitment)
		if err != nil {
			return err
		}
		e.Commitment = c
	}
	if in.CostCenter != nil {
		e.CostCenter = strings.TrimSpace(*in.CostCenter)
	}
	if in.PurchaseOrder != nil {
		e.PurchaseOrder = strings.TrimSpace(*in.PurchaseOrder)
	}
	if in.Notes != nil {
		e.Notes = strings.TrimSpace(*in.Notes)
	}
	e.Normalize()
	return e.Validate()
}

func apiEntitlementCreate(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in EntitlementInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Profile == nil || in.Model == nil || in.Quantity == nil || in.TermStart == nil || in.TermEnd == nil || in.Currency == nil {
		return sam.Errorf(sam.EINVALID, "profile, model, quantity, currency, term_start and term_end are required")
	}
	e := &sam.Entitlement{Commitment: sam.CommitmentAnnual}
	if err := s.applyEntitlement(r, in, e); err != nil {
		return err
	}
	if err := s.cfg.Store.CreateEntitlements(r.Context(), []*sam.Entitlement{e}); err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/entitlements/"+strconv.FormatInt(e.ID, 10))
	writeJSON(w, http.StatusCreated, newEntitlementJSON(e, names))
	return nil
}

func entitlementID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, sam.Errorf(sam.EINVALID, "entitlement id %q: want a number", r.PathValue("id"))
	}
	return id, nil
}

func apiEntitlement(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := entitlementID(r)
	if err != nil {
		return err
	}
	e, err := s.cfg.Store.Entitlement(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newEntitlementJSON(e, names))
	return nil
}

func apiEntitlementEdit(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in EntitlementInput
	if err := decode(r, &in); err != nil {
		return err
	}
	id, err := entitlementID(r)
	if err != nil {
		return err
	}
	e, err := s.cfg.Store.Entitlement(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.applyEntitlement(r, in, e); err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateEntitlement(r.Context(), e); err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newEntitlementJSON(e, names))
	return nil
}

// RoleJSON describes a role.
type RoleJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

var roleDescriptions = []RoleJSON{
	{"admin", "everything, including users, API tokens, schedules and the audit log"},
	{"sam_integrator", "integration profiles: create, edit, connect, validate, delete, run syncs"},
	{"sam_manager", "entitlements, rules, exclusions and removal candidates"},
	{"viewer", "reads everything but users, tokens and the audit log"},
}

func (s *Server) insightRoutes() []*Route {
	profileParam := Param{Name: "profile", Type: "string", Doc: "profile name (default: every profile)"}
	asOf := Param{Name: "as_of", Type: "string", Doc: "day YYYY-MM-DD (default today)"}
	return []*Route{
		{Method: "GET", Path: "/api/v1/dashboard", Access: anyRole, API: true, Tag: "reports", Cache: true,
			Summary: "Dashboard figures: spend, savings, compliance per product, usage by class and model, usage trend, days since last activity",
			Resp:    DashboardJSON{}, Handler: apiDashboard},
		{Method: "GET", Path: "/api/v1/savings", Access: anyRole, API: true, Tag: "reports", Cache: true,
			Summary: "Over-licensed amount, potential and realised savings per software model (per month)",
			Query:   []Param{profileParam, asOf}, Resp: SavingsJSON{}, Handler: apiSavings},
		{Method: "GET", Path: "/api/v1/renewals", Access: anyRole, API: true, Tag: "reports", Cache: true,
			Summary: "Entitlements ending within the window and what to cut or buy at renewal (at the current growth)",
			Query:   []Param{profileParam, asOf, {Name: "within", Type: "integer", Doc: "days ahead, 1–3660 (default 120)"}},
			Resp:    []RenewalJSON{}, Handler: apiRenewals},
		{Method: "GET", Path: "/api/v1/trends/usage", Access: anyRole, API: true, Tag: "reports", Cache: true,
			Summary: "Active, stale and other open subscriptions per day (daily snapshots taken by activity runs)",
			Query:   []Param{profileParam, {Name: "days", Type: "integer", Doc: "days of history, 1–3660 (default 90)"}},
			Resp:    UsageTrendJSON{}, Handler: apiUsageTrend},
		{Method: "GET", Path: "/api/v1/profiles/{name}/trend", Access: anyRole, API: true, Tag: "reconciliation", Cache: true,
			Summary: "Rights owned and used of one software model over time, with the run-out forecast",
			Query: []Param{{Name: "model", Type: "string", Doc: "SKU id or part number (required)"},
				{Name: "days", Type: "integer", Doc: "days of history, 1–3660 (default 180)"}},
			Resp: PositionTrendJSON{}, Handler: apiPositionTrend},
		{Method: "POST", Path: "/api/v1/entitlements", Access: managers, API: true, Tag: "reconciliation",
			Summary: "Create an entitlement", Body: EntitlementInput{}, Resp: EntitlementJSON{}, Status: http.StatusCreated, Handler: apiEntitlementCreate},
		{Method: "GET", Path: "/api/v1/entitlements/{id}", Access: anyRole, API: true, Tag: "reconciliation",
			Summary: "Show an entitlement", Resp: EntitlementJSON{}, Handler: apiEntitlement},
		{Method: "PATCH", Path: "/api/v1/entitlements/{id}", Access: managers, API: true, Tag: "reconciliation",
			Summary: "Edit an entitlement (fields present only)", Body: EntitlementInput{}, Resp: EntitlementJSON{}, Handler: apiEntitlementEdit},
		{Method: "GET", Path: "/api/v1/roles", Access: anyRole, API: true, Tag: "users",
			Summary: "The roles and what each may do", Resp: []RoleJSON{}, Handler: func(s *Server, w http.ResponseWriter, r *http.Request) error {
				writeJSON(w, http.StatusOK, roleDescriptions)
				return nil
			}},
	}
}
