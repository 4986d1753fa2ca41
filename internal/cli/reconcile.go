package cli

import (
	"strconv"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "reconcile",
			Short: "Compute the licence position of every software model and store it as a snapshot (a reconciliation run)",
			Long: "Reconcile entitlements with open subscriptions for each profile (or --profile NAME), record a reconciliation run with a snapshot " +
				"of every model's position (for trends and forecasts), and print the positions. A model whose entitlements mix currencies is refused: " +
				"the others are stored and the command exits with status 2 naming it.",
			Args: cobra.NoArgs,
		}
		profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
		asOf := asOfFlag(cmd)
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
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
			ps, err := reportProfiles(ctx, st, *profile)
			if err != nil {
				return err
			}
			cols := append([]string{"run"}, positionColumns...)
			pr := NewPrinter(a.Stdout, f, cols...)
			var refused []string
			for _, p := range ps {
				run, res, err := recon.Reconcile(ctx, st, p, recon.Options{AsOf: day})
				if res == nil {
					return err
				}
				if err != nil {
					refused = append(refused, sam.ErrorMessage(err))
				}
				for _, pos := range res.Positions {
					row := modelRow(p.Name, pos, nil)
					v := struct {
						Run int64 `json:"run"`
						PositionRow
					}{run.ID, row}
					if err := pr.Row(v, append([]string{strconv.FormatInt(run.ID, 10)}, row.cells()...)...); err != nil {
						return err
					}
				}
				a.Logger.Info("reconciled", "profile", p.Name, "run", run.ID, "models", len(res.Positions), "refused", len(res.Refused))
			}
			if err := pr.Close(); err != nil {
				return err
			}
			if len(refused) > 0 {
				return sam.Errorf(sam.EINVALID, "%s", joinSemicolon(refused))
			}
			return nil
		}
		return cmd
	})
}

func joinSemicolon(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
