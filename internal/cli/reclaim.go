package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "reclaim",
			Short: "Reclamation: simulate thresholds, evaluate the rules, show or change the safety settings (dry run, cap, staleness, undo window)",
		}
		cmd.AddCommand(newReclaimSimulate(a), newReclaimEvaluate(a), newReclaimSettings(a))
		nowFlag(cmd)
		return cmd
	})
}

// SimulationRow is one threshold and model of a simulation.
type SimulationRow struct {
	Days       int    `json:"days"`
	SKUID      string `json:"sku_id"`
	PartNumber string `json:"part_number"` // "(total)" for a threshold's total
	Count      int    `json:"count"`
	Saving     string `json:"saving"` // per month, decimal
	Currency   string `json:"currency,omitempty"`
	Unpriced   int    `json:"unpriced"` // candidates whose model has no unit price
}

func parseDays(s string) ([]int, error) {
	var out []int
	for _, x := range splitList(s) {
		d, err := strconv.Atoi(x)
		if err != nil || d < 1 {
			return nil, sam.Errorf(sam.EINVALID, "--days %q: want positive numbers of days, e.g. 30,60,90", s)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, sam.Errorf(sam.EINVALID, "--days: at least one threshold is required")
	}
	return out, nil
}

func newReclaimSimulate(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "simulate", Short: "Show what the rules would reclaim at several inactivity thresholds (creates nothing)", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "profile to simulate (required)")
	days := cmd.Flags().String("days", "30,60,90", "inactivity thresholds in days, comma-separated")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ds, err := parseDays(*days)
		if err != nil {
			return err
		}
		if *profile == "" {
			return sam.Errorf(sam.EINVALID, "--profile is required")
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		p, err := st.ProfileByName(ctx, *profile)
		if err != nil {
			return err
		}
		res, err := e.Simulate(ctx, p, ds)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, "days", "part_number", "count", "saving", "currency", "unpriced")
		for _, th := range res {
			totals := map[string]int64{}
			unpriced := 0
			for _, s := range th.SKUs {
				r := SimulationRow{Days: th.Days, SKUID: s.SKUID, PartNumber: s.PartNumber, Count: s.Count, Saving: sam.FormatMoney(s.Saving, ""),
					Currency: s.Currency, Unpriced: s.Unpriced}
				if err := pr.Row(r, strconv.Itoa(r.Days), r.PartNumber, strconv.Itoa(r.Count), r.Saving, r.Currency, strconv.Itoa(r.Unpriced)); err != nil {
					return err
				}
				totals[s.Currency] += s.Saving
				unpriced += s.Unpriced
			}
			var money []string
			for cur, v := range totals {
				if v > 0 {
					money = append(money, sam.FormatMoney(v, "")+" "+cur)
				}
			}
			r := SimulationRow{Days: th.Days, PartNumber: "(total)", Count: th.Count, Saving: strings.Join(money, " + "), Unpriced: unpriced}
			if err := pr.Row(r, strconv.Itoa(r.Days), r.PartNumber, strconv.Itoa(r.Count), r.Saving, "", strconv.Itoa(r.Unpriced)); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

func newReclaimEvaluate(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "evaluate", Short: "Apply the rules of a profile now: create candidates, cancel those no longer justified", Args: cobra.NoArgs,
		Long: "The server does this after every sync and drives the workflow (notices, timers, removals); this command only evaluates."}
	profile := cmd.Flags().String("profile", "", "profile to evaluate (required)")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		if *profile == "" {
			return sam.Errorf(sam.EINVALID, "--profile is required")
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		p, err := st.ProfileByName(ctx, *profile)
		if err != nil {
			return err
		}
		res, err := e.Evaluate(ctx, p)
		if err != nil {
			return err
		}
		return WriteRecord(a.Stdout, f, res, Field{"profile", p.Name}, Field{"rules_created", strconv.Itoa(res.RulesCreated)},
			Field{"evaluated", strconv.Itoa(res.Evaluated)}, Field{"created", strconv.Itoa(res.Created)},
			Field{"canceled", strconv.Itoa(res.Canceled)}, Field{"open", strconv.Itoa(res.Open)})
	}
	return cmd
}

// SettingsRow is the reclamation settings as the CLI prints them.
type SettingsRow struct {
	DryRun         bool   `json:"dry_run"`
	CapCount       int    `json:"cap_count"`
	CapPercent     int    `json:"cap_percent"`
	StalenessLimit string `json:"staleness_limit"`
	UndoWindow     string `json:"undo_window"`
	GroupRemoval   bool   `json:"allow_group_removal"`
	UpdatedAt      string `json:"updated_at,omitempty"`
	UpdatedBy      string `json:"updated_by,omitempty"`
}

func newReclaimSettings(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "settings", Short: "Show the reclamation safety settings, or change those given as flags", Args: cobra.NoArgs}
	fl := cmd.Flags()
	dry := fl.Bool("dry-run", true, "compute and show everything but change nothing in any tenant (on for a new installation)")
	capCount := fl.Int("cap-count", 20, "most licences one run may remove")
	capPct := fl.Int("cap-percent", 10, "most licences one run may remove from one SKU, in percent of its seats")
	stale := fl.Duration("staleness", 48*time.Hour, "removals need a download and activity run younger than this")
	undo := fl.Duration("undo-window", 30*24*time.Hour, "how long after a removal it can be undone")
	group := fl.Bool("allow-group-removal", true, "remove users from the licensing group of a group-inherited licence (may take away other licences the group grants)")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		s, err := e.Settings(ctx)
		if err != nil {
			return err
		}
		if fl.NFlag() > 0 && !(fl.NFlag() == 1 && fl.Changed("output")) {
			if fl.Changed("dry-run") {
				s.DryRun = *dry
			}
			if fl.Changed("cap-count") {
				s.CapCount = *capCount
			}
			if fl.Changed("cap-percent") {
				s.CapPercent = *capPct
			}
			if fl.Changed("staleness") {
				s.StalenessLimit = *stale
			}
			if fl.Changed("undo-window") {
				s.UndoWindow = *undo
			}
			if fl.Changed("allow-group-removal") {
				s.AllowGroupRemoval = *group
			}
			if err := e.SetSettings(ctx, s, cliActor()); err != nil {
				return err
			}
			if s, err = e.Settings(ctx); err != nil {
				return err
			}
		}
		r := settingsRow(s)
		return WriteRecord(a.Stdout, f, r, Field{"dry_run", strconv.FormatBool(r.DryRun)}, Field{"cap_count", strconv.Itoa(r.CapCount)},
			Field{"cap_percent", strconv.Itoa(r.CapPercent)}, Field{"staleness_limit", r.StalenessLimit},
			Field{"undo_window", r.UndoWindow}, Field{"allow_group_removal", strconv.FormatBool(r.GroupRemoval)}, Field{"updated_at", r.UpdatedAt}, Field{"updated_by", r.UpdatedBy})
	}
	return cmd
}

func settingsRow(s store.ReclaimSettings) SettingsRow {
	return SettingsRow{DryRun: s.DryRun, CapCount: s.CapCount, CapPercent: s.CapPercent, StalenessLimit: s.StalenessLimit.String(),
		UndoWindow: s.UndoWindow.String(), GroupRemoval: s.AllowGroupRemoval, UpdatedAt: rfc(s.UpdatedAt), UpdatedBy: s.UpdatedBy}
}
