package cli

import (
	"context"
	"sort"
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
			Use:   "report",
			Short: "Report licence usage from the last sync",
		}
		cmd.AddCommand(newReportUsage(a), newReportUsers(a))
		cmd.AddCommand(newReportReconciliation(a)...)
		return cmd
	})
}

// reportPage is how many subscriptions a report reads per query.
const reportPage = 2000

// UsageRow is one line of the usage report: the open subscriptions of one
// software model in one profile, counted per usage class.
type UsageRow struct {
	Profile     string `json:"profile"`
	SKUID       string `json:"sku_id"`
	PartNumber  string `json:"part_number"`
	Product     string `json:"product"`
	Tracked     bool   `json:"tracked"`
	Mapped      bool   `json:"mapped"`
	Assigned    int    `json:"assigned"`
	Active      int    `json:"active"`
	LowUsage    int    `json:"low_usage"`
	Inactive30  int    `json:"inactive_30"`
	Inactive60  int    `json:"inactive_60"`
	Inactive90  int    `json:"inactive_90"`
	NeverActive int    `json:"never_active"`
	Disabled    int    `json:"disabled"`
	Unknown     int    `json:"unknown"`
}

func (r *UsageRow) add(c sam.UsageClass) {
	r.Assigned++
	switch c {
	case sam.UsageActive:
		r.Active++
	case sam.UsageLow:
		r.LowUsage++
	case sam.UsageInactive30:
		r.Inactive30++
	case sam.UsageInactive60:
		r.Inactive60++
	case sam.UsageInactive90:
		r.Inactive90++
	case sam.UsageNeverActive:
		r.NeverActive++
	case sam.UsageDisabled:
		r.Disabled++
	default:
		r.Unknown++
	}
}

// Count returns the number of subscriptions of class c.
func (r *UsageRow) Count(c sam.UsageClass) int {
	switch c {
	case sam.UsageActive:
		return r.Active
	case sam.UsageLow:
		return r.LowUsage
	case sam.UsageInactive30:
		return r.Inactive30
	case sam.UsageInactive60:
		return r.Inactive60
	case sam.UsageInactive90:
		return r.Inactive90
	case sam.UsageNeverActive:
		return r.NeverActive
	case sam.UsageDisabled:
		return r.Disabled
	}
	return r.Unknown
}

var usageColumns = []string{"profile", "part_number", "product", "tracked", "assigned", "active", "low_usage",
	"inactive_30", "inactive_60", "inactive_90", "never_active", "disabled", "unknown"}

func (r *UsageRow) cells() []string {
	n := strconv.Itoa
	return []string{r.Profile, r.PartNumber, r.Product, strconv.FormatBool(r.Tracked), n(r.Assigned), n(r.Active), n(r.LowUsage),
		n(r.Inactive30), n(r.Inactive60), n(r.Inactive90), n(r.NeverActive), n(r.Disabled), n(r.Unknown)}
}

// reportProfiles returns the named profile, or every profile when name is "".
func reportProfiles(ctx context.Context, st store.Store, name string) ([]*sam.Profile, error) {
	if name != "" {
		p, err := st.ProfileByName(ctx, name)
		if err != nil {
			return nil, err
		}
		return []*sam.Profile{p}, nil
	}
	return st.Profiles(ctx)
}

// eachSubscription calls fn with every open subscription matching f, reading
// them a page at a time so that memory does not grow with the tenant.
func eachSubscription(ctx context.Context, st store.Store, f store.SubscriptionFilter, fn func(*sam.Subscription) error) error {
	f.OpenOnly, f.Limit, f.AfterID = true, reportPage, 0
	for {
		subs, err := st.Subscriptions(ctx, f)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if err := fn(s); err != nil {
				return err
			}
			f.AfterID = s.ID
		}
		if len(subs) < reportPage {
			return nil
		}
	}
}

// UsageReport counts the open subscriptions of the profiles per software
// model and usage class, ordered by profile then part number.
func UsageReport(ctx context.Context, st store.Store, profiles []*sam.Profile) ([]UsageRow, error) {
	models, err := st.SoftwareModels(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]sam.SoftwareModel, len(models))
	for _, m := range models {
		byID[m.SKUID] = m
	}
	var out []UsageRow
	for _, p := range profiles {
		rows := map[string]*UsageRow{}
		err := eachSubscription(ctx, st, store.SubscriptionFilter{ProfileID: p.ID}, func(s *sam.Subscription) error {
			r := rows[s.SKUID]
			if r == nil {
				m := byID[s.SKUID]
				r = &UsageRow{Profile: p.Name, SKUID: s.SKUID, PartNumber: m.PartNumber, Product: m.Product, Tracked: m.Tracked, Mapped: m.Mapped}
				if r.PartNumber == "" {
					r.PartNumber = s.SKUID
				}
				rows[s.SKUID] = r
			}
			r.add(s.UsageClass)
			return nil
		})
		if err != nil {
			return nil, err
		}
		list := make([]UsageRow, 0, len(rows))
		for _, r := range rows {
			list = append(list, *r)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].PartNumber != list[j].PartNumber {
				return list[i].PartNumber < list[j].PartNumber
			}
			return list[i].SKUID < list[j].SKUID
		})
		out = append(out, list...)
	}
	return out, nil
}

func newReportUsage(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Subscriptions per software model and usage class (active, low usage, inactive 30/60/90, never active, disabled, unknown)",
		Args:  cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
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
		ps, err := reportProfiles(ctx, st, *profile)
		if err != nil {
			return err
		}
		rows, err := UsageReport(ctx, st, ps)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, usageColumns...)
		for i := range rows {
			if err := pr.Row(rows[i], rows[i].cells()...); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

// UserRow is one line of the users report: one open subscription.
type UserRow struct {
	Profile            string         `json:"profile"`
	UserID             string         `json:"user_id"`
	UPN                string         `json:"upn"`
	DisplayName        string         `json:"display_name"`
	Department         string         `json:"department,omitempty"`
	AccountEnabled     bool           `json:"account_enabled"`
	AssignedByGroup    string         `json:"assigned_by_group,omitempty"`
	AssignedAt         *time.Time     `json:"assigned_at,omitempty"`
	LastActivity       *time.Time     `json:"last_activity,omitempty"`
	LastActivitySource string         `json:"last_activity_source,omitempty"`
	InactiveDays       *int           `json:"inactive_days,omitempty"`
	ActiveDays30       int            `json:"active_days_30"`
	ActiveDays90       int            `json:"active_days_90"`
	UsageClass         sam.UsageClass `json:"usage_class"`
}

var userColumns = []string{"profile", "upn", "display_name", "enabled", "assignment", "assigned_at", "last_activity",
	"source", "inactive_days", "active_days_30", "active_days_90", "class"}

// resolveModel finds the software model named by a SKU GUID or part number
// among the stored models.
func resolveModel(ctx context.Context, st store.Store, key string) (sam.SoftwareModel, error) {
	key = strings.TrimSpace(key)
	if sam.ValidGUID(key) {
		m, err := st.SoftwareModel(ctx, sam.NormalizeGUID(key))
		if err != nil {
			if sam.IsCode(err, sam.ENOTFOUND) {
				return sam.SoftwareModel{}, sam.Errorf(sam.ENOTFOUND, "no subscriptions of SKU %s have been downloaded (see 'seatwise report usage')", key)
			}
			return sam.SoftwareModel{}, err
		}
		return *m, nil
	}
	models, err := st.SoftwareModels(ctx, store.ModelFilter{})
	if err != nil {
		return sam.SoftwareModel{}, err
	}
	var found []sam.SoftwareModel
	for _, m := range models {
		if strings.EqualFold(strings.TrimSpace(m.PartNumber), key) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return sam.SoftwareModel{}, sam.Errorf(sam.ENOTFOUND, "no downloaded software model has part number %q (give a SKU GUID or part number from 'seatwise report usage')", key)
	}
	ids := make([]string, len(found))
	for i, m := range found {
		ids[i] = m.SKUID
	}
	return sam.SoftwareModel{}, sam.Errorf(sam.EINVALID, "part number %q names several SKUs (%s); give the SKU GUID", key, strings.Join(ids, ", "))
}

// newUserRow converts a subscription; inactive days count to asOf.
func newUserRow(profile string, s *sam.Subscription, asOf time.Time) UserRow {
	r := UserRow{Profile: profile, UserID: s.UserID, UPN: s.UPN, DisplayName: s.DisplayName, Department: s.Department,
		AccountEnabled: s.AccountEnabled, AssignedByGroup: s.AssignedByGroup, AssignedAt: timePtr(s.AssignedAt),
		LastActivitySource: s.LastActivitySource, ActiveDays30: s.ActiveDays30, ActiveDays90: s.ActiveDays90, UsageClass: s.UsageClass}
	if s.LastActivity != nil {
		r.LastActivity = timePtr(*s.LastActivity)
		if !asOf.IsZero() {
			d := sam.InactiveDays(s.LastActivity, asOf)
			r.InactiveDays = &d
		}
	}
	return r
}

func (r *UserRow) cells() []string {
	assignment := "direct"
	if r.AssignedByGroup != "" {
		assignment = "group " + r.AssignedByGroup
	}
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	}
	inactive := ""
	if r.InactiveDays != nil {
		inactive = strconv.Itoa(*r.InactiveDays)
	}
	return []string{r.Profile, r.UPN, r.DisplayName, strconv.FormatBool(r.AccountEnabled), assignment, day(r.AssignedAt),
		day(r.LastActivity), r.LastActivitySource, inactive, strconv.Itoa(r.ActiveDays30), strconv.Itoa(r.ActiveDays90), string(r.UsageClass)}
}

func newReportUsers(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "The subscriptions of one software model with last activity, its source and usage class",
		Args:  cobra.NoArgs,
	}
	model := cmd.Flags().String("model", "", "SKU GUID or part number (required)")
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	class := cmd.Flags().String("class", "", "only this usage class ("+classNames()+")")
	output := OutputFlag(cmd)
	_ = cmd.MarkFlagRequired("model")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		var uc sam.UsageClass
		if *class != "" {
			uc = sam.UsageClass(strings.ToLower(strings.TrimSpace(*class)))
			valid := false
			for _, c := range sam.UsageClasses {
				valid = valid || c == uc
			}
			if !valid {
				return sam.Errorf(sam.EINVALID, "--class %q: want one of %s", *class, classNames())
			}
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		m, err := resolveModel(ctx, st, *model)
		if err != nil {
			return err
		}
		ps, err := reportProfiles(ctx, st, *profile)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, userColumns...)
		for _, p := range ps {
			ss, err := st.SyncState(ctx, p.ID)
			if err != nil {
				return err
			}
			asOf := ss.LastActivitySync
			if asOf.IsZero() {
				asOf = ss.LastSubscriptionsSync
			}
			err = eachSubscription(ctx, st, store.SubscriptionFilter{ProfileID: p.ID, SKUID: m.SKUID, UsageClass: uc}, func(s *sam.Subscription) error {
				r := newUserRow(p.Name, s, asOf)
				return pr.Row(r, r.cells()...)
			})
			if err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

func classNames() string {
	names := make([]string, len(sam.UsageClasses))
	for i, c := range sam.UsageClasses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
