package cli

import (
	"slices"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

// ModelJSON is the JSON form of a software model in command output.
type ModelJSON struct {
	SKUID        string            `json:"sku_id"`
	PartNumber   string            `json:"part_number"`
	Publisher    string            `json:"publisher"`
	Product      string            `json:"product"`
	Edition      string            `json:"edition"`
	Family       sam.Family        `json:"family"`
	Kind         sam.Kind          `json:"kind"`
	Metric       string            `json:"metric"`
	Tracked      bool              `json:"tracked"`
	Mapped       bool              `json:"mapped"`
	UnitPrice    int64             `json:"unit_price,omitempty"` // minor units per user per month
	Currency     string            `json:"currency,omitempty"`
	ServicePlans []ServicePlanJSON `json:"service_plans,omitempty"`
}

// ServicePlanJSON is the JSON form of a service plan.
type ServicePlanJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NewModelJSON converts m; service plans are included when plans is true.
func NewModelJSON(m sam.SoftwareModel, plans bool) ModelJSON {
	j := ModelJSON{
		SKUID: m.SKUID, PartNumber: m.PartNumber, Publisher: m.Publisher, Product: m.Product,
		Edition: m.Edition, Family: m.Family, Kind: m.Kind, Metric: m.Metric, Tracked: m.Tracked,
		Mapped: m.Mapped, UnitPrice: m.UnitPrice, Currency: m.Currency,
	}
	if plans {
		j.ServicePlans = make([]ServicePlanJSON, len(m.ServicePlans))
		for i, sp := range m.ServicePlans {
			j.ServicePlans[i] = ServicePlanJSON{ID: sp.ID, Name: sp.Name}
		}
	}
	return j
}

// ParseFamily returns the catalog family named s, or "" for an empty s (all
// families); EINVALID for any other value.
func ParseFamily(s string) (sam.Family, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if f := sam.Family(s); slices.Contains(sam.Families, f) {
		return f, nil
	}
	return "", sam.Errorf(sam.EINVALID, "--family %q: want one of %s", s, familyNames())
}

var catalogColumns = []string{"part_number", "sku_id", "family", "edition", "kind", "tracked", "product"}

func catalogCells(m sam.SoftwareModel) []string {
	return []string{m.PartNumber, m.SKUID, string(m.Family), m.Edition, string(m.Kind), strconv.FormatBool(m.Tracked), m.Product}
}

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "catalog",
			Short: "Show the Microsoft licensing catalog Seatwise knows (Dynamics 365, Power Apps, Power Automate, Dataverse)",
			Long: "The catalog is Microsoft's published list of products (SKUs) and service plans, embedded in\n" +
				"Seatwise. Software models are derived for the Dynamics 365, Power Apps, Power Automate and\n" +
				"Dataverse families; activity is tracked for Sales, Customer Service and Team Members.",
		}
		cmd.AddCommand(newCatalogList(a), newCatalogShow(a))
		return cmd
	})
}

func newCatalogList(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the software models of the catalog",
		Args:  cobra.NoArgs,
	}
	family := cmd.Flags().String("family", "", "only this family: "+familyNames())
	tracked := cmd.Flags().Bool("tracked", false, "only models whose activity is tracked")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		fam, err := ParseFamily(*family)
		if err != nil {
			return err
		}
		p := NewPrinter(a.Stdout, f, catalogColumns...)
		for _, m := range catalog.Default().Models(fam) {
			if *tracked && !m.Tracked {
				continue
			}
			if err := p.Row(NewModelJSON(m, false), catalogCells(m)...); err != nil {
				return err
			}
		}
		return p.Close()
	}
	return cmd
}

func newCatalogShow(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show SKU",
		Short: "Show one software model and its service plans, by SKU GUID or part number",
		Args:  cobra.ExactArgs(1),
	}
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		c := catalog.Default()
		m, ok := c.Lookup(args[0])
		if !ok {
			return notInCatalog(c, args[0])
		}
		plans := make([]string, len(m.ServicePlans))
		for i, sp := range m.ServicePlans {
			plans[i] = sp.Name + " (" + sp.ID + ")"
		}
		fields := []Field{
			{"part_number", m.PartNumber},
			{"sku_id", m.SKUID},
			{"product", m.Product},
			{"publisher", m.Publisher},
			{"edition", m.Edition},
			{"family", string(m.Family)},
			{"kind", string(m.Kind)},
			{"metric", m.Metric},
			{"tracked", strconv.FormatBool(m.Tracked)},
		}
		if f == FormatTable {
			for i, p := range plans {
				name := ""
				if i == 0 {
					name = "service_plans"
				}
				fields = append(fields, Field{name, p})
			}
		} else {
			fields = append(fields, Field{"service_plans", strings.Join(plans, "; ")})
		}
		return WriteRecord(a.Stdout, f, NewModelJSON(m, true), fields...)
	}
	return cmd
}

// notInCatalog explains why a SKU has no model: unknown, ambiguous, or in a
// family Seatwise does not track.
func notInCatalog(c *catalog.Catalog, key string) error {
	if p, ok := c.Product(key); ok {
		return sam.Errorf(sam.ENOTFOUND, "SKU %s (%s, %q) is in Microsoft's catalog but not in the Dynamics 365, Power Apps, Power Automate or Dataverse families", p.SKUID, p.PartNumber, p.Name)
	}
	switch ps := c.ProductsByPartNumber(key); len(ps) {
	case 0:
	case 1:
		return sam.Errorf(sam.ENOTFOUND, "SKU %s (%s, %q) is in Microsoft's catalog but not in the Dynamics 365, Power Apps, Power Automate or Dataverse families", ps[0].SKUID, ps[0].PartNumber, ps[0].Name)
	default:
		ids := make([]string, len(ps))
		for i, p := range ps {
			ids[i] = p.SKUID
		}
		return sam.Errorf(sam.ENOTFOUND, "part number %q names several SKUs (%s); give the SKU GUID", key, strings.Join(ids, ", "))
	}
	return sam.Errorf(sam.ENOTFOUND, "SKU %q is not in the catalog (give a SKU GUID or part number; see 'seatwise catalog list')", key)
}

func familyNames() string {
	names := make([]string, len(sam.Families))
	for i, f := range sam.Families {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}
