package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// DemoSummary is what the demo's first pipeline found, printed at its end
// (--output json prints it as one object).
type DemoSummary struct {
	AsOf     time.Time          `json:"as_of"`
	Profiles []DemoProfile      `json:"profiles"`
	Usage    []UsageRow         `json:"usage"`
	Products []DemoProduct      `json:"products"`
	Renewals []RenewalRow       `json:"renewals"`
	Savings  []DemoSaving       `json:"savings"`
	Totals   []DemoSavingsTotal `json:"savings_total"`
	Warnings []string           `json:"warnings,omitempty"`
}

// DemoProfile is one tenant of the demo estate as its first sync saw it.
type DemoProfile struct {
	Name              string  `json:"name"`
	DisplayName       string  `json:"display_name"`
	Users             int64   `json:"users"`
	Subscriptions     int     `json:"subscriptions_opened"`
	AuditRows         int64   `json:"audit_rows"`
	SyncSeconds       float64 `json:"sync_seconds"`
	Entitlements      int     `json:"entitlements"`
	ReconciliationRun int64   `json:"reconciliation_run"`
}

// DemoProduct is a product family's licence position in one profile.
type DemoProduct struct {
	Profile string `json:"profile"`
	recon.ProductSummary
}

// DemoSaving is what one source of savings found in one profile: the
// removal candidates of one software model (source "reclamation"), or the
// licence changes of one kind recommended (source "recommendations").
type DemoSaving struct {
	Profile       string `json:"profile"`
	Source        string `json:"source"`
	Kind          string `json:"kind"`  // part number (reclamation) or recommendation kind
	Users         int    `json:"users"` // candidates or users concerned
	MonthlySaving int64  `json:"monthly_saving"`
	Currency      string `json:"currency"`
}

// DemoSavingsTotal is the savings found across the estate in one currency:
// the reclamation candidates' potential savings, and besides the licence
// changes recommended that reclamation does not cover (consolidation,
// downgrade).
type DemoSavingsTotal struct {
	Currency           string `json:"currency"`
	MonthlySaving      int64  `json:"monthly_saving"`
	YearlySaving       int64  `json:"yearly_saving"`
	Candidates         int    `json:"candidates"`
	RecommendedSaving  int64  `json:"recommended_monthly_saving"`
	RecommendedChanges int    `json:"recommended_changes"`
}

// total returns the total of currency c, added when missing.
func (s *DemoSummary) total(c string) *DemoSavingsTotal {
	for i := range s.Totals {
		if s.Totals[i].Currency == c {
			return &s.Totals[i]
		}
	}
	s.Totals = append(s.Totals, DemoSavingsTotal{Currency: c})
	return &s.Totals[len(s.Totals)-1]
}

// demoPipeline runs the first sync of every profile with progress on
// Stderr, records the demo's entitlements, reconciles every profile and
// gathers renewals and savings.
func (a *App) demoPipeline(ctx context.Context, st store.Store, kr *secret.Keyring, est *demoEstate, profiles []*sam.Profile) (*DemoSummary, error) {
	say := func(format string, args ...any) { fmt.Fprintf(a.Stderr, format+"\n", args...) }
	sum := &DemoSummary{AsOf: est.Now()}
	steps := len(profiles) + 3
	for i, p := range profiles {
		say("[%d/%d] Syncing %s: subscriptions from Graph, then activity from the Dataverse audit log", i+1, steps, p.Name)
		start := time.Now()
		// Full: a delta link stored by an earlier run of a --data
		// directory names that run's simulator, gone with it.
		res, err := a.syncProfile(ctx, st, p, syncOptions{Full: true, Now: est.tenants[i].Now, HTTPClient: est.srv.Client(), Keyring: kr})
		if res != nil {
			res.write(a.Stderr)
		}
		if err != nil {
			return nil, err
		}
		dp := DemoProfile{Name: p.Name, DisplayName: p.DisplayName, SyncSeconds: time.Since(start).Seconds()}
		if r := res.Subscriptions; r != nil && r.Run != nil {
			dp.Users, dp.Subscriptions = r.Run.Counts["users"], r.Changes.Opened
			sum.Warnings = append(sum.Warnings, prefixed(p.Name, r.Run.Warnings)...)
		}
		if r := res.Activity; r != nil && r.Run != nil {
			dp.AuditRows = r.Run.Counts["audit_rows"]
			sum.Warnings = append(sum.Warnings, prefixed(p.Name, r.Run.Warnings)...)
		}
		// Reload: the sync recorded the environments' audit settings,
		// which decide whether inactivity is proven.
		if profiles[i], err = st.Profile(ctx, p.ID); err != nil {
			return nil, err
		}
		if dp.Entitlements, err = ensureEntitlements(ctx, st, p, est.tenants[i]); err != nil {
			return nil, err
		}
		say("  %s: %d entitlements recorded", p.Name, dp.Entitlements)
		sum.Profiles = append(sum.Profiles, dp)
	}

	// Reclamation rules (the defaults, created on first use) select the
	// removal candidates; a new installation runs in dry run, so nothing
	// is removed or sent.
	say("[%d/%d] Evaluating reclamation rules (dry run: nothing is removed)", steps-2, steps)
	eng := &reclaim.Engine{Store: st, Now: est.Now, Logger: slog.New(minLevel{a.Logger.Handler(), slog.LevelWarn})}
	for _, p := range profiles {
		ev, err := eng.Evaluate(ctx, p)
		if err != nil {
			return nil, err
		}
		say("  %s: %d subscriptions evaluated (%d rules created), %d new removal candidates, %d open", p.Name, ev.Evaluated, ev.RulesCreated, ev.Created, ev.Open)
	}

	say("[%d/%d] Reconciling entitlements with subscriptions", steps-1, steps)
	var results []*recon.Result
	for i, p := range profiles {
		run, res, err := recon.Reconcile(ctx, st, p, recon.Options{AsOf: sum.AsOf, Candidates: st.SavingsCandidates,
			CandidatesSource: recon.ReclamationSource})
		if res == nil {
			return nil, err
		}
		if err != nil {
			sum.Warnings = append(sum.Warnings, p.Name+": "+sam.ErrorMessage(err))
		}
		sum.Profiles[i].ReconciliationRun = run.ID
		say("  %s: reconciliation run %d, %d software models", p.Name, run.ID, len(res.Positions))
		results = append(results, res)
		for _, ps := range recon.Summarize(res.Positions) {
			sum.Products = append(sum.Products, DemoProduct{Profile: p.Name, ProductSummary: ps})
		}
		for _, pos := range res.Positions {
			if pos.OpenCandidates == 0 {
				continue
			}
			sum.Savings = append(sum.Savings, DemoSaving{Profile: p.Name, Source: "reclamation", Kind: pos.PartNumber,
				Users: pos.OpenCandidates, MonthlySaving: pos.PotentialSavings, Currency: pos.Currency})
			t := sum.total(pos.Currency)
			t.MonthlySaving += pos.PotentialSavings
			t.YearlySaving += 12 * pos.PotentialSavings
			t.Candidates += pos.OpenCandidates
		}
		if err := sum.addRenewals(ctx, st, res); err != nil {
			return nil, err
		}
	}

	say("[%d/%d] Looking for other licence changes: several base licences, full licences used read-only", steps, steps)
	for _, res := range results {
		if err := sum.addRecommendations(ctx, st, res); err != nil {
			return nil, err
		}
	}
	usage, err := UsageReport(ctx, st, profiles)
	if err != nil {
		return nil, err
	}
	sum.Usage = usage
	return sum, nil
}

func prefixed(name string, ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = name + ": " + w
	}
	return out
}

// addRenewals adds the entitlements of res's profile ending within 120
// days, with what to cut or buy at the current growth.
func (s *DemoSummary) addRenewals(ctx context.Context, st store.Store, res *recon.Result) error {
	growth := map[string]float64{}
	for _, p := range res.Positions {
		fc, err := forecastOf(ctx, st, p)
		if err != nil {
			return err
		}
		growth[p.SKUID] = fc.GrowthPerDay
	}
	rens, err := recon.Renewals(ctx, st, res.Profile, res.Positions, growth, s.AsOf, 120)
	if err != nil {
		return err
	}
	for _, r := range rens {
		e := r.Entitlement
		s.Renewals = append(s.Renewals, RenewalRow{Profile: res.Profile.Name, Window: r.Window, DaysLeft: r.DaysLeft, EntitlementID: e.ID,
			PartNumber: r.PartNumber, TermEnd: sam.FormatDay(e.TermEnd), Commitment: string(e.Commitment), Quantity: e.Quantity,
			OwnedAfter: r.OwnedAfter, ProjectedUsed: r.ProjectedUsed, Renew: r.RenewQuantity, Action: r.Action, Change: r.Change,
			MonthlyChange: money(r.MonthlyChange), Currency: e.Currency, Explanation: r.Explanation})
	}
	return nil
}

// addRecommendations totals per kind the recommendations of res's profile
// that reclamation does not cover: consolidations and downgrades (a
// leaver's licences are reclamation candidates already).
func (s *DemoSummary) addRecommendations(ctx context.Context, st store.Store, res *recon.Result) error {
	idx := map[string]int{}
	return recon.Recommend(ctx, st, catalog.Default(), res.Profile, res.Positions, s.AsOf, func(r recon.Recommendation) error {
		if !r.SavingKnown || r.Kind == recon.RecommendRemove {
			return nil
		}
		k := r.Kind + "\x00" + r.Currency
		i, ok := idx[k]
		if !ok {
			i = len(s.Savings)
			idx[k] = i
			s.Savings = append(s.Savings, DemoSaving{Profile: res.Profile.Name, Source: "recommendations", Kind: r.Kind, Currency: r.Currency})
		}
		s.Savings[i].Users++
		s.Savings[i].MonthlySaving += r.MonthlySaving
		t := s.total(r.Currency)
		t.RecommendedSaving += r.MonthlySaving
		t.RecommendedChanges++
		return nil
	})
}

// write prints the summary: a JSON object, or tables ending with the
// savings found.
func (s *DemoSummary) write(w io.Writer, f Format) error {
	if f == FormatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	section := func(title string) { fmt.Fprintf(w, "\n%s\n", title) }
	section("Estate")
	pr := NewPrinter(w, FormatTable, "profile", "tenant", "users", "subscriptions", "audit_rows", "sync_seconds", "entitlements", "reconciliation_run")
	for _, p := range s.Profiles {
		if err := pr.Row(p, p.Name, p.DisplayName, strconv.FormatInt(p.Users, 10), strconv.Itoa(p.Subscriptions),
			strconv.FormatInt(p.AuditRows, 10), strconv.FormatFloat(p.SyncSeconds, 'f', 1, 64), strconv.Itoa(p.Entitlements),
			strconv.FormatInt(p.ReconciliationRun, 10)); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}
	for _, x := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}

	section("Usage (open subscriptions by usage class)")
	// The part number names the model; `seatwise report usage` shows the
	// product names too.
	pr = NewPrinter(w, FormatTable, "profile", "part_number", "tracked", "assigned", "active", "low_usage", "inactive_30", "inactive_60",
		"inactive_90", "never_active", "disabled", "unknown")
	for _, r := range s.Usage {
		n := strconv.Itoa
		if err := pr.Row(r, r.Profile, r.PartNumber, strconv.FormatBool(r.Tracked), n(r.Assigned), n(r.Active), n(r.LowUsage), n(r.Inactive30),
			n(r.Inactive60), n(r.Inactive90), n(r.NeverActive), n(r.Disabled), n(r.Unknown)); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}

	section(fmt.Sprintf("Licence position on %s (per month)", sam.FormatDay(s.AsOf)))
	pr = NewPrinter(w, FormatTable, "profile", "product", "owned", "used", "available", "shortfall", "monthly_cost", "over_licensed", "true_up_cost", "currency", "status")
	for _, p := range s.Products {
		status := "compliant"
		if !p.Compliant {
			status = "shortfall"
		}
		n := func(v int64) string { return strconv.FormatInt(v, 10) }
		if err := pr.Row(p, p.Profile, familyName(p.Family), n(p.Owned), n(p.Used), n(p.Available), n(p.Shortfall), money(p.MonthlyCost),
			money(p.OverLicensed), money(p.TrueUpCost), p.Currency, status); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}

	section("Renewals in the next 120 days")
	if len(s.Renewals) == 0 {
		fmt.Fprintln(w, "none")
	} else {
		pr = NewPrinter(w, FormatTable, "profile", "part_number", "term_end", "days_left", "quantity", "renew", "action", "change", "monthly_change", "currency")
		for _, r := range s.Renewals {
			if err := pr.Row(r, r.Profile, r.PartNumber, r.TermEnd, strconv.Itoa(r.DaysLeft), strconv.FormatInt(r.Quantity, 10),
				strconv.FormatInt(r.Renew, 10), r.Action, fmt.Sprintf("%+d", r.Change), r.MonthlyChange, r.Currency); err != nil {
				return err
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
	}

	section("Savings found")
	if len(s.Savings) == 0 {
		fmt.Fprintln(w, "Savings found: none (every licence is used as bought).")
		return nil
	}
	pr = NewPrinter(w, FormatTable, "profile", "source", "kind", "users", "monthly_saving", "currency")
	for _, sv := range s.Savings {
		if err := pr.Row(sv, sv.Profile, sv.Source, sv.Kind, strconv.Itoa(sv.Users), money(sv.MonthlySaving), sv.Currency); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}
	totals := slices.Clone(s.Totals)
	slices.SortFunc(totals, func(a, b DemoSavingsTotal) int { return strings.Compare(a.Currency, b.Currency) })
	for _, t := range totals {
		more := ""
		if t.RecommendedChanges > 0 {
			more = fmt.Sprintf("; %d more licence changes recommended (consolidation, downgrade) would save %s per month", t.RecommendedChanges,
				sam.FormatMoney(t.RecommendedSaving, t.Currency))
		}
		fmt.Fprintf(w, "Savings found: %s per month (%s per year) in %d unused licences to reclaim across %d tenants%s.\n",
			sam.FormatMoney(t.MonthlySaving, t.Currency), sam.FormatMoney(t.YearlySaving, t.Currency), t.Candidates, len(s.Profiles), more)
	}
	return nil
}
