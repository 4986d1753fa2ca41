package recon

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Recommendation kinds, in priority order: leavers first.
const (
	RecommendRemove      = "remove"      // the account is disabled: a leaver's licences go first
	RecommendConsolidate = "consolidate" // several base licences: keep one base, the others become attach licences
	RecommendDowngrade   = "downgrade"   // full licence used read-only: Team Members fits
)

// attachOf maps a Dynamics 365 base licence to the attach licence of the
// same app, sold to users who already hold another qualifying base licence.
var attachOf = map[string]string{
	"D365_SALES_PRO":                     "D365_SALES_PRO_ATTACH",
	"DYN365_ENTERPRISE_SALES":            "D365_SALES_ENT_ATTACH",
	"DYN365_CUSTOMER_SERVICE_PRO":        "D365_CUSTOMER_SERVICE_PRO_ATTACH",
	"DYN365_ENTERPRISE_CUSTOMER_SERVICE": "D365_CUSTOMER_SERVICE_ENT_ATTACH",
}

// teamMembersPartNumber is the licence a read-only user is downgraded to.
const teamMembersPartNumber = "DYN365_TEAM_MEMBERS"

// Recommendation is one change to one user's licences and what it saves.
type Recommendation struct {
	Priority        int      `json:"priority"` // 1 remove (leavers), 2 consolidate, 3 downgrade
	Kind            string   `json:"kind"`
	ProfileID       int64    `json:"profile_id"`
	UserID          string   `json:"user_id"`
	UPN             string   `json:"upn"`
	From            []string `json:"from"` // part numbers given up
	To              []string `json:"to"`   // part numbers taken instead
	SubscriptionIDs []int64  `json:"subscription_ids"`
	// MonthlySaving is Σ price(from) − Σ price(to) per month; SavingKnown is
	// false when a price is unknown or currencies differ (the saving is 0).
	MonthlySaving int64  `json:"monthly_saving"`
	Currency      string `json:"currency,omitempty"`
	SavingKnown   bool   `json:"saving_known"`
	Reason        string `json:"reason"`
}

type price struct {
	amount   int64
	currency string
	known    bool
}

// Recommend calls fn with licence recommendations for the Dynamics 365
// users of profile p, leavers first: (1) disabled accounts still holding
// licences: remove them; (2) users holding several Dynamics 365 base
// licences: keep the most expensive as base and turn each other one that
// has an attach SKU into it; (3) users holding one full Dynamics 365 base
// licence who, in the 90 days before asOf, opened apps but created or
// updated no tracked record: Team Members fits. Prices come from the
// positions (average unit price of entitlements), else the model's list
// price. Users are streamed from the store, one pass per kind, so memory
// does not grow with the tenant; fn must not call the store.
func Recommend(ctx context.Context, st store.Store, cat *catalog.Catalog, p *sam.Profile, positions []sam.Position, asOf time.Time, fn func(Recommendation) error) error {
	models, err := st.SoftwareModels(ctx, store.ModelFilter{Family: sam.FamilyDynamics365})
	if err != nil {
		return err
	}
	bySKU := map[string]sam.SoftwareModel{}
	byPart := map[string]sam.SoftwareModel{}
	var skus []string
	for _, m := range models {
		bySKU[m.SKUID] = m
		byPart[catalog.NormalizePartNumber(m.PartNumber)] = m
		skus = append(skus, m.SKUID)
	}
	if len(skus) == 0 {
		return nil
	}
	prices := map[string]price{}
	for _, x := range positions {
		if x.ProfileID == p.ID && x.PriceSource != sam.PriceUnknown {
			prices[catalog.NormalizePartNumber(x.PartNumber)] = price{x.AverageUnitPrice, x.Currency, true}
		}
	}
	priceOf := func(part string) price {
		part = catalog.NormalizePartNumber(part)
		if pr, ok := prices[part]; ok {
			return pr
		}
		m, ok := byPart[part]
		if !ok {
			m, ok = cat.Lookup(part)
		}
		if ok && m.UnitPrice > 0 && sam.ValidCurrency(m.Currency) {
			return price{m.UnitPrice, m.Currency, true}
		}
		return price{}
	}
	saving := func(from, to []string) (int64, string, bool) {
		var total int64
		cur := ""
		for i, list := range [][]string{from, to} {
			for _, part := range list {
				pr := priceOf(part)
				if !pr.known || (cur != "" && pr.currency != cur) {
					return 0, "", false
				}
				cur = pr.currency
				if i == 0 {
					total += pr.amount
				} else {
					total -= pr.amount
				}
			}
		}
		return total, cur, true
	}
	isFullBase := func(m sam.SoftwareModel) bool {
		return m.Kind == sam.KindBase && m.Edition != "Team Members" && !strings.Contains(catalog.NormalizePartNumber(m.PartNumber), "TEAM_MEMBERS")
	}
	since := sam.Day(asOf).AddDate(0, 0, -90)
	emit := func(r Recommendation) error {
		r.ProfileID = p.ID
		r.MonthlySaving, r.Currency, r.SavingKnown = saving(r.From, r.To)
		return fn(r)
	}
	for pass := 1; pass <= 3; pass++ {
		err := st.EachUserLicences(ctx, p.ID, skus, since, func(u store.UserLicences) error {
			held := make([]sam.SoftwareModel, len(u.Licences))
			for i, l := range u.Licences {
				held[i] = bySKU[l.SKUID]
			}
			switch pass {
			case 1:
				if u.AccountEnabled {
					return nil
				}
				r := Recommendation{Priority: 1, Kind: RecommendRemove, UserID: u.UserID, UPN: u.UPN,
					Reason: "account disabled (a leaver): remove every Dynamics 365 licence"}
				for i, l := range u.Licences {
					r.From = append(r.From, held[i].PartNumber)
					r.SubscriptionIDs = append(r.SubscriptionIDs, l.SubscriptionID)
				}
				return emit(r)
			case 2:
				if !u.AccountEnabled {
					return nil
				}
				var bases []int
				for i, m := range held {
					if isFullBase(m) {
						bases = append(bases, i)
					}
				}
				if len(bases) < 2 {
					return nil
				}
				sort.SliceStable(bases, func(a, b int) bool {
					pa, pb := priceOf(held[bases[a]].PartNumber), priceOf(held[bases[b]].PartNumber)
					if pa.amount != pb.amount {
						return pa.amount > pb.amount
					}
					return held[bases[a]].PartNumber < held[bases[b]].PartNumber
				})
				keep := held[bases[0]]
				r := Recommendation{Priority: 2, Kind: RecommendConsolidate, UserID: u.UserID, UPN: u.UPN}
				var kept []string
				for _, i := range bases[1:] {
					att, ok := attachOf[catalog.NormalizePartNumber(held[i].PartNumber)]
					if !ok {
						kept = append(kept, held[i].PartNumber)
						continue
					}
					r.From = append(r.From, held[i].PartNumber)
					r.To = append(r.To, att)
					r.SubscriptionIDs = append(r.SubscriptionIDs, u.Licences[i].SubscriptionID)
				}
				if len(r.From) == 0 {
					return nil
				}
				r.Reason = fmt.Sprintf("%d Dynamics 365 base licences: keep %s as the base (the most expensive) and hold %s as attach licences",
					len(bases), keep.PartNumber, strings.Join(r.To, ", "))
				if len(kept) > 0 {
					r.Reason += fmt.Sprintf(" (%s has no attach SKU: review it)", strings.Join(kept, ", "))
				}
				return emit(r)
			default:
				if !u.AccountEnabled || u.RecordDays > 0 || u.AccessDays == 0 {
					return nil
				}
				var full []int
				for i, m := range held {
					if isFullBase(m) && m.Tracked {
						full = append(full, i)
					}
				}
				if len(full) != 1 {
					return nil // none, or several (consolidate first)
				}
				i := full[0]
				return emit(Recommendation{Priority: 3, Kind: RecommendDowngrade, UserID: u.UserID, UPN: u.UPN,
					From: []string{held[i].PartNumber}, To: []string{teamMembersPartNumber}, SubscriptionIDs: []int64{u.Licences[i].SubscriptionID},
					Reason: fmt.Sprintf("in the 90 days since %s: %d day(s) opening apps, no create or update of a tracked record: read-only use fits Team Members",
						sam.FormatDay(since), u.AccessDays)})
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
