package cli

import (
	"context"
	"log/slog"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "rules",
			Short: "Reclamation rules (one per profile and tracked software model): list, show and edit them",
		}
		cmd.AddCommand(newRulesList(a), newRulesShow(a), newRulesSet(a))
		nowFlag(cmd)
		return cmd
	})
}

// cliActor names the person running the command in transitions and the
// audit log.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// reclaimEngine opens the store and returns an engine over it; Graph clients
// are built from the profile's stored credential when a command needs one.
// Notification is not configured on the command line.
func (a *App) reclaimEngine(ctx context.Context, cmd *cobra.Command) (store.Store, *reclaim.Engine, error) {
	var now time.Time
	if f := cmd.Flag("now"); f != nil && f.Value.String() != "" {
		t, err := time.Parse(time.RFC3339Nano, f.Value.String())
		if err != nil {
			return nil, nil, sam.Errorf(sam.EINVALID, "--now %q: want an RFC 3339 time", f.Value.String())
		}
		now = t
	}
	st, err := a.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	e := &reclaim.Engine{Store: st, Logger: slog.New(slog.DiscardHandler)}
	if !now.IsZero() {
		e.Now = func() time.Time { return now }
	}
	e.Graph = func(ctx context.Context, p *sam.Profile) (reclaim.Graph, error) {
		kr, err := a.Keyring()
		if err != nil {
			return nil, err
		}
		return reclaim.ProfileGraph(st, kr, ingest.ClientOptions{})(ctx, p)
	}
	return st, e, nil
}

// RuleRow is a reclamation rule as the CLI prints it.
type RuleRow struct {
	ID                   int64    `json:"id"`
	Profile              string   `json:"profile"`
	SKUID                string   `json:"sku_id"`
	PartNumber           string   `json:"part_number"`
	Enabled              bool     `json:"enabled"`
	InactiveDays         int      `json:"inactive_days"`
	IncludeNeverActive   bool     `json:"include_never_active"`
	IncludeDisabled      bool     `json:"include_disabled"`
	IncludeLowUsage      bool     `json:"include_low_usage"`
	IncludeDuplicateBase bool     `json:"include_duplicate_base"`
	GraceDays            int      `json:"grace_days"`
	NotifyUser           bool     `json:"notify_user"`
	ResponseDays         int      `json:"response_days"`
	Departments          []string `json:"departments"`
	Countries            []string `json:"countries"`
	AssignmentPath       string   `json:"assignment_path"`
	ApprovalGroup        string   `json:"approval_group,omitempty"`
	ManagerApproval      bool     `json:"manager_approval"`
	Summary              string   `json:"summary"`
	UpdatedBy            string   `json:"updated_by,omitempty"`
}

var ruleColumns = []string{"id", "profile", "part_number", "enabled", "summary"}

func ruleRow(r *store.ReclaimRule, n *names) RuleRow {
	return RuleRow{ID: r.ID, Profile: n.profile(r.ProfileID), SKUID: r.SKUID, PartNumber: n.model(r.SKUID), Enabled: r.Enabled,
		InactiveDays: r.InactiveDays, IncludeNeverActive: r.IncludeNeverActive, IncludeDisabled: r.IncludeDisabled,
		IncludeLowUsage: r.IncludeLowUsage, IncludeDuplicateBase: r.IncludeDuplicateBase, GraceDays: r.GraceDays,
		NotifyUser: r.NotifyUser, ResponseDays: r.ResponseDays, Departments: nonNil(r.Departments), Countries: nonNil(r.Countries),
		AssignmentPath: string(r.AssignmentPath), ApprovalGroup: r.ApprovalGroup, ManagerApproval: r.ManagerApproval,
		Summary: reclaim.DescribeRule(r), UpdatedBy: r.UpdatedBy}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// profileID resolves --profile ("" = every profile, 0).
func profileID(ctx context.Context, st store.Store, name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	p, err := st.ProfileByName(ctx, name)
	if err != nil {
		return 0, err
	}
	return p.ID, nil
}

func parseRecordID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, sam.Errorf(sam.EINVALID, "%s id %q is not a positive number", what, s)
	}
	return id, nil
}

func newRulesList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List reclamation rules", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "only this profile")
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
		rules, err := st.ReclaimRules(ctx, pid)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, ruleColumns...)
		for _, r := range rules {
			row := ruleRow(r, n)
			if err := pr.Row(row, strconv.FormatInt(r.ID, 10), row.Profile, row.PartNumber, strconv.FormatBool(r.Enabled), row.Summary); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

func ruleFields(r RuleRow) []Field {
	return []Field{{"id", strconv.FormatInt(r.ID, 10)}, {"profile", r.Profile}, {"sku_id", r.SKUID}, {"part_number", r.PartNumber},
		{"enabled", strconv.FormatBool(r.Enabled)}, {"inactive_days", strconv.Itoa(r.InactiveDays)},
		{"include_never_active", strconv.FormatBool(r.IncludeNeverActive)}, {"include_disabled", strconv.FormatBool(r.IncludeDisabled)},
		{"include_low_usage", strconv.FormatBool(r.IncludeLowUsage)}, {"include_duplicate_base", strconv.FormatBool(r.IncludeDuplicateBase)},
		{"grace_days", strconv.Itoa(r.GraceDays)}, {"notify_user", strconv.FormatBool(r.NotifyUser)},
		{"response_days", strconv.Itoa(r.ResponseDays)}, {"departments", strings.Join(r.Departments, ",")},
		{"countries", strings.Join(r.Countries, ",")}, {"assignment_path", r.AssignmentPath}, {"approval_group", r.ApprovalGroup},
		{"manager_approval", strconv.FormatBool(r.ManagerApproval)}, {"summary", r.Summary}, {"updated_by", r.UpdatedBy}}
}

func newRulesShow(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "show ID", Short: "Show one reclamation rule", Args: cobra.ExactArgs(1)}
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		id, err := parseRecordID(args[0], "rule")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		r, err := st.ReclaimRule(ctx, id)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		row := ruleRow(r, n)
		return WriteRecord(a.Stdout, f, row, ruleFields(row)...)
	}
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func newRulesSet(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "set ID", Short: "Edit a reclamation rule (only the flags given change)", Args: cobra.ExactArgs(1)}
	fl := cmd.Flags()
	enabled := fl.Bool("enabled", true, "the rule selects candidates (false: disabled)")
	inactive := fl.Int("inactive-days", 60, "days without activity that make a licence a candidate")
	never := fl.Bool("never-active", true, "include users never active since the analysis start")
	disabled := fl.Bool("disabled-accounts", true, "include disabled accounts")
	low := fl.Bool("low-usage", false, "include active users with low usage")
	dup := fl.Bool("duplicate-base", false, "include a base licence when the user holds a more expensive one of the same family")
	grace := fl.Int("grace-days", 30, "licences assigned fewer days ago are never candidates")
	notify := fl.Bool("notify", true, "notify the user, who may keep or release the licence")
	response := fl.Int("response-days", 7, "days before automatic reclamation (the user's time to answer)")
	depts := fl.String("departments", "", "only these departments, comma-separated (\"\" = all)")
	countries := fl.String("countries", "", "only these countries, comma-separated (\"\" = all)")
	path := fl.String("path", "any", "assignment path: any, direct or group")
	group := fl.String("approval-group", "", "Entra group id whose members approve requests to keep (\"\" = none)")
	manager := fl.Bool("manager-approval", true, "the user's manager approves requests to keep")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		id, err := parseRecordID(args[0], "rule")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		r, err := st.ReclaimRule(ctx, id)
		if err != nil {
			return err
		}
		ch := fl.Changed
		if ch("enabled") {
			r.Enabled = *enabled
		}
		if ch("inactive-days") {
			r.InactiveDays = *inactive
		}
		if ch("never-active") {
			r.IncludeNeverActive = *never
		}
		if ch("disabled-accounts") {
			r.IncludeDisabled = *disabled
		}
		if ch("low-usage") {
			r.IncludeLowUsage = *low
		}
		if ch("duplicate-base") {
			r.IncludeDuplicateBase = *dup
		}
		if ch("grace-days") {
			r.GraceDays = *grace
		}
		if ch("notify") {
			r.NotifyUser = *notify
		}
		if ch("response-days") {
			r.ResponseDays = *response
		}
		if ch("departments") {
			r.Departments = splitList(*depts)
		}
		if ch("countries") {
			r.Countries = splitList(*countries)
		}
		if ch("path") {
			r.AssignmentPath = store.AssignmentPath(strings.ToLower(strings.TrimSpace(*path)))
		}
		if ch("approval-group") {
			r.ApprovalGroup = strings.TrimSpace(*group)
		}
		if ch("manager-approval") {
			r.ManagerApproval = *manager
		}
		if err := e.UpdateRule(ctx, r, cliActor()); err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		row := ruleRow(r, n)
		return WriteRecord(a.Stdout, f, row, ruleFields(row)...)
	}
	return cmd
}

// nowFlag adds the hidden --now (RFC 3339) to a command group: the current
// time as the tenant sees it, for simulators with a moved clock.
func nowFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().String("now", "", "the current time (RFC 3339) as the tenant sees it; for simulators with a moved clock")
	_ = cmd.PersistentFlags().MarkHidden("now")
}
