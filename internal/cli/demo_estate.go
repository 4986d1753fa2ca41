package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// demoHistoryDays is the activity history of the demo tenants.
const demoHistoryDays = 120

// demoEstate is the simulated Microsoft estate of the demo: two generated
// tenants served by one in-process simulator. It is the job runner's clock
// (the tenants' clocks move together).
type demoEstate struct {
	srv     *mscloud.Server
	tenants []*tenant.Tenant
	names   []string // profile name per tenant
	// hires counts the users added by the moving clock, per tenant.
	hires []int
}

// startEstate generates the two tenants (two thirds of the users and two
// environments, one third and one environment) with their clocks at
// o.Start and starts the simulator, its CA certificate written in dir.
func startEstate(ctx context.Context, o demoOptions, dir string) (*demoEstate, error) {
	sizes := []int{o.Users - o.Users/3, o.Users / 3}
	envs := []int{2, 1}
	e := &demoEstate{hires: make([]int, len(sizes))}
	var cfgs []mscloud.TenantConfig
	for i := range sizes {
		t, err := tenant.Generate(tenant.Options{Seed: o.Seed, Users: sizes[i], Environments: envs[i], Now: o.Start,
			HistoryDays: demoHistoryDays, TenantIndex: i})
		if err != nil {
			return nil, sam.Wrap(sam.EINVALID, err, "generate simulated tenant %d", i+1)
		}
		e.tenants = append(e.tenants, t)
		name := strings.ToLower(strings.ReplaceAll(t.DisplayName(), " ", ""))
		if slices.Contains(e.names, name) {
			name = fmt.Sprintf("%s%d", name, i+1)
		}
		e.names = append(e.names, name)
		cfgs = append(cfgs, mscloud.TenantConfig{Tenant: t})
	}
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: o.Seed, CAFile: filepath.Join(dir, "mscloud-ca.pem"), Tenants: cfgs})
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "start the simulator")
	}
	e.srv = srv
	return e, nil
}

func (e *demoEstate) close() { e.srv.Close() }

// Now is the simulated clock (job.Clock).
func (e *demoEstate) Now() time.Time { return e.tenants[0].Now() }

// advance moves every tenant's clock by d.
func (e *demoEstate) advance(d time.Duration) {
	for _, t := range e.tenants {
		t.Advance(d)
	}
}

// describe says what the estate is, in one line.
func (e *demoEstate) describe() string {
	var parts []string
	envs := 0
	for _, t := range e.tenants {
		n := len(t.Environments())
		envs += n
		parts = append(parts, fmt.Sprintf("%s (%d users, %d environment%s)", t.DisplayName(), t.UserCount(), n, map[bool]string{true: "s"}[n > 1]))
	}
	return fmt.Sprintf("%d tenants, %d Dataverse environments, %d days of activity history: %s; simulated clock at %s",
		len(e.tenants), envs, demoHistoryDays, strings.Join(parts, ", "), e.Now().Format("2006-01-02 15:04 MST"))
}

// ensureProfiles creates (or, in a --data directory used before, points at
// this simulator's new ports, CA and credentials) one profile per tenant
// and stores each one's sealed client secret.
func (e *demoEstate) ensureProfiles(ctx context.Context, st store.Store, kr *secret.Keyring) ([]*sam.Profile, error) {
	info := e.srv.Info()
	var out []*sam.Profile
	for i, ti := range info.Tenants {
		var envs []sam.Environment
		for _, env := range ti.Environments {
			envs = append(envs, sam.Environment{URL: env.URL, Name: env.Name})
		}
		p, err := st.ProfileByName(ctx, e.names[i])
		switch {
		case err == nil:
			p.TenantID, p.ClientID, p.LoginURL, p.GraphURL, p.CAFile = ti.TenantID, ti.ClientID, info.LoginURL, info.GraphURL, info.CAFile
			p.Environments = envs
			if err := st.UpdateProfile(ctx, p); err != nil {
				return nil, err
			}
		case sam.IsCode(err, sam.ENOTFOUND):
			p = &sam.Profile{Name: e.names[i], DisplayName: e.tenants[i].DisplayName() + " (simulated)", TenantID: ti.TenantID,
				ClientID: ti.ClientID, AuthMode: sam.AuthClientSecret, LoginURL: info.LoginURL, GraphURL: info.GraphURL,
				CAFile: info.CAFile, State: sam.ProfileDraft, Environments: envs}
			if err := st.CreateProfile(ctx, p); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		sealed, err := kr.Seal([]byte(ti.ClientSecret))
		if err != nil {
			return nil, err
		}
		if err := st.PutSecret(ctx, p.ID, sam.SecretClientSecret, sealed); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// demoPrices are list prices (USD cents per user per month) the demo's
// entitlements are bought at; other models get their family's price.
var demoPrices = map[string]int64{
	"DYN365_ENTERPRISE_SALES":            9500,
	"DYN365_SALES_PREMIUM":               13500,
	"D365_SALES_PRO":                     6500,
	"D365_SALES_ENT_ATTACH":              2000,
	"DYN365_ENTERPRISE_CUSTOMER_SERVICE": 9500,
	"DYN365_CUSTOMER_SERVICE_PRO":        5000,
	"D365_CUSTOMER_SERVICE_ENT_ATTACH":   2000,
	"DYN365_TEAM_MEMBERS":                800,
	"POWERAPPS_PER_USER":                 2000,
	"POWERAPPS_PER_APP_NEW":              500,
	"FLOW_PER_USER":                      1500,
}

var demoFamilyPrices = map[sam.Family]int64{sam.FamilyDynamics365: 5000, sam.FamilyPowerApps: 2000, sam.FamilyPowerAutomate: 1500, sam.FamilyDataverse: 4000}

// demoTermEnds are the days from now the demo's entitlements end, in turn:
// the first ones fall in the 30, 60, 90 and 120-day renewal windows.
var demoTermEnds = []int{21, 52, 83, 115, 190, 270, 340}

// ensureEntitlements records what the profile's organisation bought, once
// (a profile with entitlements keeps them): for every subscribed SKU with
// enabled units that the catalog maps, an annual entitlement of that many
// rights at its list price, ending within the renewal windows for the first
// ones (a SKU in its grace period, Warning, within a week); the second one
// is bought 5% short, a true-up to show. It returns
// the number of entitlements the profile has.
func ensureEntitlements(ctx context.Context, st store.Store, p *sam.Profile, t *tenant.Tenant) (int, error) {
	have, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID})
	if err != nil {
		return 0, err
	}
	if len(have) > 0 {
		return len(have), nil
	}
	cat := catalog.Default()
	today := sam.Day(t.Now())
	var es []*sam.Entitlement
	for _, s := range t.SKUs() {
		qty := int64(s.Enabled)
		days := demoTermEnds[len(es)%len(demoTermEnds)]
		if s.CapabilityStatus == "Warning" {
			// A subscription past its end, in its grace period: renew now.
			qty, days = int64(s.Warning), 7
		}
		if qty <= 0 {
			continue
		}
		if _, ok := cat.Model(s.SKUID); !ok {
			continue
		}
		m, stored, err := recon.ResolveModel(ctx, st, cat, s.SKUID)
		if err != nil {
			return 0, err
		}
		if err := recon.EnsureModel(ctx, st, m, stored); err != nil {
			return 0, err
		}
		price, ok := demoPrices[s.PartNumber]
		if !ok {
			price = demoFamilyPrices[m.Family]
		}
		if len(es) == 1 && qty > 20 {
			qty -= qty / 20
		}
		end := today.AddDate(0, 0, days)
		es = append(es, &sam.Entitlement{ProfileID: p.ID, SKUID: s.SKUID, Quantity: qty, UnitCost: price, Currency: "USD",
			TermStart: end.AddDate(-1, 0, 1), TermEnd: end, Commitment: sam.CommitmentAnnual,
			CostCenter: demoCostCenter(m.Family), PurchaseOrder: fmt.Sprintf("PO-%s-%03d", strings.ToUpper(p.Name[:min(3, len(p.Name))]), len(es)+1),
			Notes: "demo estate"})
	}
	if len(es) == 0 {
		return 0, nil
	}
	if err := st.CreateEntitlements(ctx, es); err != nil {
		return 0, err
	}
	return len(es), nil
}

func demoCostCenter(f sam.Family) string {
	if f == sam.FamilyDynamics365 {
		return "CC-CRM"
	}
	return "CC-PLATFORM"
}
