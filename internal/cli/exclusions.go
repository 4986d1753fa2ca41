package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "exclusions",
			Short: "Users, UPN patterns, groups, SKUs and VIPs kept out of reclamation (candidates, notifications and reports)",
		}
		cmd.AddCommand(newExclusionsList(a), newExclusionsAdd(a), newExclusionsRemove(a))
		return cmd
	})
}

// ExclusionRow is an exclusion as the CLI prints it.
type ExclusionRow struct {
	ID        int64  `json:"id"`
	Profile   string `json:"profile"` // "" for every profile
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	Reason    string `json:"reason,omitempty"`
	CreatedAt string `json:"created_at"`
	CreatedBy string `json:"created_by,omitempty"`
}

func exclusionRow(e *store.Exclusion, n *names) ExclusionRow {
	r := ExclusionRow{ID: e.ID, Kind: string(e.Kind), Value: e.Value, Reason: e.Reason, CreatedAt: e.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), CreatedBy: e.CreatedBy}
	if e.ProfileID != 0 {
		r.Profile = n.profile(e.ProfileID)
	}
	return r
}

func (r ExclusionRow) cells() []string {
	p := r.Profile
	if p == "" {
		p = "(all)"
	}
	return []string{strconv.FormatInt(r.ID, 10), p, r.Kind, r.Value, r.Reason, r.CreatedAt, r.CreatedBy}
}

var exclusionColumns = []string{"id", "profile", "kind", "value", "reason", "created_at", "created_by"}

func newExclusionsList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List exclusions", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "only those that apply to this profile (its own and the global ones)")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		pid := int64(-1)
		if *profile != "" {
			if pid, err = profileID(ctx, st, *profile); err != nil {
				return err
			}
		}
		list, err := st.Exclusions(ctx, pid)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, exclusionColumns...)
		for _, e := range list {
			r := exclusionRow(e, n)
			if err := pr.Row(r, r.cells()...); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

func newExclusionsAdd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "add", Short: "Add an exclusion", Args: cobra.NoArgs,
		Long: "Kinds: user (Entra object id or UPN), upn_pattern (e.g. '*@board.contoso.com'), group (licences assigned through it), " +
			"sku (SKU id), vip (a user id or UPN flagged VIP). Open candidates it matches are canceled at the next evaluation and hidden from lists at once."}
	profile := cmd.Flags().String("profile", "", "the profile it applies to (default: every profile)")
	kind := cmd.Flags().String("kind", "", "user, upn_pattern, group, sku or vip")
	value := cmd.Flags().String("value", "", "what to exclude")
	reason := cmd.Flags().String("reason", "", "why")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		pid, err := profileID(ctx, st, *profile)
		if err != nil {
			return err
		}
		e := &store.Exclusion{ProfileID: pid, Kind: store.ExclusionKind(strings.ToLower(strings.TrimSpace(*kind))), Value: *value,
			Reason: *reason, CreatedBy: cliActor()}
		if err := st.AddExclusion(ctx, e); err != nil {
			return err
		}
		if err := st.AppendAudit(ctx, &store.AuditEntry{Actor: e.CreatedBy, Action: "reclaim.exclusion.add", Target: "exclusion:" + strconv.FormatInt(e.ID, 10),
			Status: 201, Detail: string(e.Kind) + " " + e.Value}); err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		r := exclusionRow(e, n)
		cells := r.cells()
		fields := make([]Field, len(exclusionColumns))
		for i, c := range exclusionColumns {
			fields[i] = Field{c, cells[i]}
		}
		return WriteRecord(a.Stdout, f, r, fields...)
	}
	return cmd
}

func newExclusionsRemove(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "remove ID", Short: "Remove an exclusion", Args: cobra.ExactArgs(1)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseRecordID(args[0], "exclusion")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.DeleteExclusion(ctx, id); err != nil {
			return err
		}
		if err := st.AppendAudit(ctx, &store.AuditEntry{Actor: cliActor(), Action: "reclaim.exclusion.remove", Target: "exclusion:" + args[0], Status: 200}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Stdout, "exclusion %d removed\n", id)
		return err
	}
	return cmd
}
