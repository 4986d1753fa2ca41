package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "entitlements",
			Short: "Rights bought per software model: add, list, edit, delete, import and export them, or accept suggestions from Microsoft's prepaid units",
		}
		cmd.AddCommand(newEntitlementsList(a), newEntitlementsAdd(a), newEntitlementsEdit(a), newEntitlementsDelete(a),
			newEntitlementsImport(a), newEntitlementsExport(a), newEntitlementsSuggest(a))
		return cmd
	})
}

// EntitlementRow is one entitlement as the CLI prints it.
type EntitlementRow struct {
	ID            int64  `json:"id"`
	Profile       string `json:"profile"`
	SKUID         string `json:"sku_id"`
	PartNumber    string `json:"part_number"`
	Quantity      int64  `json:"quantity"`
	UnitCost      string `json:"unit_cost"` // decimal, per right per month
	Currency      string `json:"currency"`
	TermStart     string `json:"term_start"`
	TermEnd       string `json:"term_end"`
	Commitment    string `json:"commitment"`
	CostCenter    string `json:"cost_center,omitempty"`
	PurchaseOrder string `json:"purchase_order,omitempty"`
	Notes         string `json:"notes,omitempty"`
}

var entitlementColumns = []string{"id", "profile", "part_number", "quantity", "unit_cost", "currency", "term_start", "term_end",
	"commitment", "cost_center", "purchase_order", "notes"}

func entitlementRow(e *sam.Entitlement, profile, partNumber string) EntitlementRow {
	return EntitlementRow{ID: e.ID, Profile: profile, SKUID: e.SKUID, PartNumber: partNumber, Quantity: e.Quantity,
		UnitCost: sam.FormatMoney(e.UnitCost, ""), Currency: e.Currency, TermStart: sam.FormatDay(e.TermStart),
		TermEnd: sam.FormatDay(e.TermEnd), Commitment: string(e.Commitment), CostCenter: e.CostCenter,
		PurchaseOrder: e.PurchaseOrder, Notes: e.Notes}
}

func (r EntitlementRow) cells() []string {
	return []string{strconv.FormatInt(r.ID, 10), r.Profile, r.PartNumber, strconv.FormatInt(r.Quantity, 10), r.UnitCost, r.Currency,
		r.TermStart, r.TermEnd, r.Commitment, r.CostCenter, r.PurchaseOrder, r.Notes}
}

// names resolves profile ids and SKU ids to names for output.
type names struct {
	profiles map[int64]string
	models   map[string]string
}

func loadNames(ctx context.Context, st store.Store) (*names, error) {
	ps, err := st.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := st.SoftwareModels(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	n := &names{profiles: map[int64]string{}, models: map[string]string{}}
	for _, p := range ps {
		n.profiles[p.ID] = p.Name
	}
	for _, m := range ms {
		n.models[m.SKUID] = m.PartNumber
	}
	return n, nil
}

func (n *names) profile(id int64) string {
	if s, ok := n.profiles[id]; ok {
		return s
	}
	return strconv.FormatInt(id, 10)
}

func (n *names) model(sku string) string {
	if s, ok := n.models[sku]; ok && s != "" {
		return s
	}
	return sku
}

// entitlementFilter builds a filter from --profile and --model.
func entitlementFilter(ctx context.Context, st store.Store, profile, model string) (store.EntitlementFilter, error) {
	var f store.EntitlementFilter
	pid, err := profileID(ctx, st, profile)
	if err != nil {
		return f, err
	}
	f.ProfileID = pid
	if model != "" {
		m, _, err := recon.ResolveModel(ctx, st, catalog.Default(), model)
		if err != nil {
			return f, err
		}
		f.SKUID = m.SKUID
	}
	return f, nil
}

func newEntitlementsList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List entitlements", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "only this profile")
	model := cmd.Flags().String("model", "", "only this software model (SKU GUID or part number)")
	activeOn := cmd.Flags().String("active-on", "", "only entitlements whose term covers this day (YYYY-MM-DD)")
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
		filter, err := entitlementFilter(ctx, st, *profile, *model)
		if err != nil {
			return err
		}
		if *activeOn != "" {
			if filter.ActiveOn, err = sam.ParseDay(*activeOn); err != nil {
				return sam.Errorf(sam.EINVALID, "--active-on: %s", sam.ErrorMessage(err))
			}
		}
		es, err := st.Entitlements(ctx, filter)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, entitlementColumns...)
		for _, e := range es {
			r := entitlementRow(e, n.profile(e.ProfileID), n.model(e.SKUID))
			if err := pr.Row(r, r.cells()...); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

// entitlementFlags are the flags shared by add and edit.
type entitlementFlags struct {
	profile, sku, unitCost, currency, start, end, commitment, costCenter, po, notes string
	quantity                                                                        int64
}

func (ef *entitlementFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&ef.profile, "profile", "", "profile (tenant) the rights were bought for")
	fl.StringVar(&ef.sku, "sku", "", "software model: SKU GUID or part number")
	fl.Int64Var(&ef.quantity, "quantity", 0, "rights (users)")
	fl.StringVar(&ef.unitCost, "unit-cost", "", "cost per right per month, e.g. 65.00")
	fl.StringVar(&ef.currency, "currency", "", "ISO 4217 currency, e.g. USD")
	fl.StringVar(&ef.start, "start", "", "term start (YYYY-MM-DD)")
	fl.StringVar(&ef.end, "end", "", "term end, inclusive (YYYY-MM-DD)")
	fl.StringVar(&ef.commitment, "commitment", "annual", "monthly or annual")
	fl.StringVar(&ef.costCenter, "cost-centre", "", "cost centre")
	fl.StringVar(&ef.po, "purchase-order", "", "purchase order")
	fl.StringVar(&ef.notes, "notes", "", "notes")
}

// apply sets on e the fields whose flags are set (all of them when all).
func (ef *entitlementFlags) apply(ctx context.Context, st store.Store, cmd *cobra.Command, e *sam.Entitlement, all bool) error {
	set := func(name string) bool { return all || cmd.Flags().Changed(name) }
	var err error
	if set("profile") {
		if ef.profile == "" {
			return sam.Errorf(sam.EINVALID, "--profile is required")
		}
		p, err := st.ProfileByName(ctx, ef.profile)
		if err != nil {
			return err
		}
		e.ProfileID = p.ID
	}
	if set("sku") {
		m, stored, err := recon.ResolveModel(ctx, st, catalog.Default(), ef.sku)
		if err != nil {
			return err
		}
		if err := recon.EnsureModel(ctx, st, m, stored); err != nil {
			return err
		}
		e.SKUID = m.SKUID
	}
	if set("quantity") {
		e.Quantity = ef.quantity
	}
	if set("unit-cost") {
		if e.UnitCost, err = sam.ParseMoney(ef.unitCost); err != nil {
			return sam.Errorf(sam.EINVALID, "--unit-cost: %s", sam.ErrorMessage(err))
		}
	}
	if set("currency") {
		e.Currency = ef.currency
	}
	if set("start") {
		if e.TermStart, err = sam.ParseDay(ef.start); err != nil {
			return sam.Errorf(sam.EINVALID, "--start: %s", sam.ErrorMessage(err))
		}
	}
	if set("end") {
		if e.TermEnd, err = sam.ParseDay(ef.end); err != nil {
			return sam.Errorf(sam.EINVALID, "--end: %s", sam.ErrorMessage(err))
		}
	}
	if set("commitment") {
		if e.Commitment, err = sam.ParseCommitment(ef.commitment); err != nil {
			return err
		}
	}
	if set("cost-centre") {
		e.CostCenter = ef.costCenter
	}
	if set("purchase-order") {
		e.PurchaseOrder = ef.po
	}
	if set("notes") {
		e.Notes = ef.notes
	}
	return nil
}

// checkCurrency refuses an entitlement whose currency differs from the
// other entitlements of its profile and model: reconciliation could not add
// them up.
func checkCurrency(ctx context.Context, st store.Store, e *sam.Entitlement) error {
	others, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: e.ProfileID, SKUID: e.SKUID})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != e.ID && !strings.EqualFold(o.Currency, strings.TrimSpace(e.Currency)) {
			return sam.Errorf(sam.EINVALID, "currency %s differs from %s of entitlement #%d for the same profile and model: keep one currency per model",
				strings.ToUpper(e.Currency), o.Currency, o.ID)
		}
	}
	return nil
}

func printEntitlement(ctx context.Context, a *App, st store.Store, f Format, e *sam.Entitlement) error {
	n, err := loadNames(ctx, st)
	if err != nil {
		return err
	}
	r := entitlementRow(e, n.profile(e.ProfileID), n.model(e.SKUID))
	cells := r.cells()
	fields := make([]Field, len(entitlementColumns))
	for i, c := range entitlementColumns {
		fields[i] = Field{Name: c, Value: cells[i]}
	}
	return WriteRecord(a.Stdout, f, r, fields...)
}

func newEntitlementsAdd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "add", Short: "Record rights bought for a software model", Args: cobra.NoArgs}
	var ef entitlementFlags
	ef.register(cmd)
	for _, req := range []string{"profile", "sku", "quantity", "unit-cost", "currency", "start", "end"} {
		_ = cmd.MarkFlagRequired(req)
	}
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
		e := &sam.Entitlement{}
		if err := ef.apply(ctx, st, cmd, e, true); err != nil {
			return err
		}
		if err := checkCurrency(ctx, st, e); err != nil {
			return err
		}
		if err := st.CreateEntitlements(ctx, []*sam.Entitlement{e}); err != nil {
			return err
		}
		return printEntitlement(ctx, a, st, f, e)
	}
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, sam.Errorf(sam.EINVALID, "entitlement id %q: want a positive number (see 'seatwise entitlements list')", s)
	}
	return id, nil
}

func newEntitlementsEdit(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "edit ID", Short: "Change the fields of an entitlement given by flags", Args: cobra.ExactArgs(1)}
	var ef entitlementFlags
	ef.register(cmd)
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		if cmd.Flags().NFlag() == 0 || (cmd.Flags().NFlag() == 1 && cmd.Flags().Changed("output")) {
			return sam.Errorf(sam.EINVALID, "edit: give at least one field to change (e.g. --quantity 120)")
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		e, err := st.Entitlement(ctx, id)
		if err != nil {
			return err
		}
		if err := ef.apply(ctx, st, cmd, e, false); err != nil {
			return err
		}
		if err := checkCurrency(ctx, st, e); err != nil {
			return err
		}
		if err := st.UpdateEntitlement(ctx, e); err != nil {
			return err
		}
		return printEntitlement(ctx, a, st, f, e)
	}
	return cmd
}

func newEntitlementsDelete(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "delete ID", Short: "Delete an entitlement", Args: cobra.ExactArgs(1)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.DeleteEntitlement(ctx, id); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Stdout, "deleted entitlement %d\n", id)
		return err
	}
	return cmd
}

func newEntitlementsImport(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import entitlements from CSV (- for standard input): every row is validated, and nothing is written unless all are good",
		Long: "Import entitlements from a CSV file with a header row naming the columns " + strings.Join(recon.CSVColumns, ",") +
			" (id and part_number are ignored; cost_center, purchase_order and notes are optional). Every bad row is listed with its line and reason, and then nothing is written.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var r io.Reader = a.Stdin
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return sam.Wrap(sam.EINVALID, err, "import: cannot open %s", args[0])
			}
			defer f.Close()
			r = f
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		created, err := recon.ImportEntitlements(ctx, st, catalog.Default(), r)
		var ie *recon.ImportError
		if errors.As(err, &ie) {
			for _, row := range ie.Rows {
				fmt.Fprintf(a.Stderr, "%s: %s\n", args[0], row)
			}
			return sam.Errorf(sam.EINVALID, "import of %s refused: %d bad row(s) listed above; nothing was written", args[0], len(ie.Rows))
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Stdout, "imported %d entitlement(s)\n", len(created))
		return err
	}
	return cmd
}

func newEntitlementsExport(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "export", Short: "Write entitlements as CSV in the import format", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "only this profile")
	model := cmd.Flags().String("model", "", "only this software model (SKU GUID or part number)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		filter, err := entitlementFilter(ctx, st, *profile, *model)
		if err != nil {
			return err
		}
		es, err := st.Entitlements(ctx, filter)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		return recon.WriteCSV(a.Stdout, es, n.profile, n.model)
	}
	return cmd
}

// SuggestionRow is one suggested entitlement.
type SuggestionRow struct {
	Profile    string `json:"profile"`
	SKUID      string `json:"sku_id"`
	PartNumber string `json:"part_number"`
	Prepaid    int64  `json:"prepaid"`
	Covered    int64  `json:"covered"`
	Quantity   int64  `json:"quantity"`
	UnitCost   string `json:"unit_cost"`
	Currency   string `json:"currency"`
	PriceKnown bool   `json:"price_known"`
	TermStart  string `json:"term_start"`
	TermEnd    string `json:"term_end"`
	Accepted   int64  `json:"accepted_id,omitempty"`
}

func newEntitlementsSuggest(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suggest",
		Short: "Suggest entitlements from Microsoft's prepaid units that entitlements do not cover yet (--accept creates them)",
		Args:  cobra.NoArgs,
	}
	profile := cmd.Flags().String("profile", "", "only this profile (default: every profile)")
	currency := cmd.Flags().String("currency", "USD", "currency of suggestions whose model has no list price (unit cost 0: edit it)")
	accept := cmd.Flags().Bool("accept", false, "create the suggested entitlements")
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
		cur := strings.ToUpper(strings.TrimSpace(*currency))
		if !sam.ValidCurrency(cur) {
			return sam.Errorf(sam.EINVALID, "--currency %q is not an ISO 4217 code", *currency)
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
		pr := NewPrinter(a.Stdout, f, "profile", "part_number", "prepaid", "covered", "quantity", "unit_cost", "currency", "term_start", "term_end", "accepted_id")
		for _, p := range ps {
			sug, err := recon.Suggest(ctx, st, p, day, cur)
			if err != nil {
				return err
			}
			for _, s := range sug {
				e := s.Entitlement
				row := SuggestionRow{Profile: p.Name, SKUID: e.SKUID, PartNumber: s.PartNumber, Prepaid: s.Prepaid, Covered: s.Covered,
					Quantity: e.Quantity, UnitCost: sam.FormatMoney(e.UnitCost, ""), Currency: e.Currency, PriceKnown: s.PriceKnown,
					TermStart: sam.FormatDay(e.TermStart), TermEnd: sam.FormatDay(e.TermEnd)}
				if *accept {
					if err := checkCurrency(ctx, st, &e); err != nil {
						return err
					}
					if err := st.CreateEntitlements(ctx, []*sam.Entitlement{&e}); err != nil {
						return err
					}
					row.Accepted = e.ID
				}
				accepted := ""
				if row.Accepted != 0 {
					accepted = strconv.FormatInt(row.Accepted, 10)
				}
				if err := pr.Row(row, row.Profile, row.PartNumber, strconv.FormatInt(row.Prepaid, 10), strconv.FormatInt(row.Covered, 10),
					strconv.FormatInt(row.Quantity, 10), row.UnitCost, row.Currency, row.TermStart, row.TermEnd, accepted); err != nil {
					return err
				}
			}
		}
		return pr.Close()
	}
	return cmd
}
