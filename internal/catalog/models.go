package catalog

import (
	"slices"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// FamilyOf returns the family of a product from its part number (String_Id)
// and display name, and false for products outside the four catalog
// families. The rules, first match wins, on the normalized part number P
// (NormalizePartNumber) and the name N:
//
//   - dataverse: P starts with CDS, CRMINSTANCE, CRMSTORAGE or
//     CRMTESTINSTANCE (database, file, log and AI Builder capacity, extra
//     instances and storage), or N mentions Dataverse or Common Data Service;
//   - powerautomate: P starts with FLOW_, POWERAUTOMATE or POWER_AUTOMATE, or
//     N mentions Power Automate;
//   - powerapps: P starts with POWERAPPS, POWER_APPS or POWERFLOW, or N
//     mentions Power Apps or PowerApps;
//   - dynamics365: P contains DYN365, D365, DYNAMICS, CRM or AX7, or is one
//     of the Dynamics 365 products whose String_Id does not say so (Customer
//     Voice FORMS_PRO*, GUIDES_USER, MICROSOFT_REMOTE_ASSIST*,
//     PROJECT_MADEIRA*, SOCIAL_ENGAGEMENT_APP_USER), or N mentions Dynamics.
//
// Power BI, Power Pages, Power Virtual Agents and Copilot products are not in
// any family. On the official file these rules reproduce the family column of
// ../shared/data/dynamics-powerapps-skus.csv exactly (146 products; the test
// TestFamiliesMatchReference checks it).
func FamilyOf(partNumber, name string) (sam.Family, bool) {
	p := NormalizePartNumber(partNumber)
	n := strings.ToLower(name)
	hasPrefix := func(prefixes ...string) bool {
		return slices.ContainsFunc(prefixes, func(s string) bool { return strings.HasPrefix(p, s) })
	}
	contains := func(s string, subs ...string) bool {
		return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
	}
	switch {
	case hasPrefix("CDS", "CRMINSTANCE", "CRMSTORAGE", "CRMTESTINSTANCE") ||
		contains(n, "dataverse", "common data service"):
		return sam.FamilyDataverse, true
	case hasPrefix("FLOW_", "POWERAUTOMATE", "POWER_AUTOMATE") || contains(n, "power automate"):
		return sam.FamilyPowerAutomate, true
	case hasPrefix("POWERAPPS", "POWER_APPS", "POWERFLOW") || contains(n, "power apps", "powerapps"):
		return sam.FamilyPowerApps, true
	case contains(p, "DYN365", "D365", "DYNAMICS", "CRM", "AX7") ||
		hasPrefix("FORMS_PRO", "GUIDES_USER", "MICROSOFT_REMOTE_ASSIST", "PROJECT_MADEIRA", "SOCIAL_ENGAGEMENT_APP_USER") ||
		contains(n, "dynamics"):
		return sam.FamilyDynamics365, true
	}
	return "", false
}

// trackedPartNumbers are the SKUs whose activity Seatwise tracks from the
// Dataverse audit log (normalized part numbers). They are the products of the
// reference product's tracking list, "Dynamics 365 Sales (Professional,
// Premium, Enterprise), Customer Service (Professional, Enterprise, attach
// licences) and Team Members" (../shared/docs/product.md), with:
//
//   - their attach SKUs and their Government (GCC) SKUs, which are the same
//     apps sold in another cloud;
//   - DYN365_ENTERPRISE_SALES_CUSTOMERSERVICE, the single SKU for Sales
//     Enterprise plus Customer Service Enterprise;
//   - DYN365_ENTERPRISE_RELATIONSHIP_SALES ("Microsoft Relationship Sales
//     solution"), which is Sales Enterprise bundled with LinkedIn Sales
//     Navigator: its users work in the Sales app, so the reference product's
//     Sales tracking applies to it.
//
// Free trials (…_IW, …_viral_trial, …_admin_trial) are not tracked: there is
// nothing to reclaim. Team Members means the Customer Engagement team member
// licences (DYN365_TEAM_MEMBERS, DYN365_ENTERPRISE_TEAM_MEMBERS and its
// Government SKU), not Business Central's.
var trackedPartNumbers = map[string]bool{
	// Sales Professional
	"D365_SALES_PRO":        true,
	"D365_SALES_PRO_ATTACH": true,
	"D365_SALES_PRO_GOV":    true,
	// Sales Premium
	"DYN365_SALES_PREMIUM": true,
	// Sales Enterprise
	"DYN365_ENTERPRISE_SALES":              true,
	"DYN365_ENTERPRISE_SALES_GOV":          true,
	"D365_ENTERPRISE_SALES_GOV":            true,
	"D365_SALES_ENT_ATTACH":                true,
	"DYN365_ENTERPRISE_RELATIONSHIP_SALES": true,
	// Sales and Customer Service Enterprise
	"DYN365_ENTERPRISE_SALES_CUSTOMERSERVICE": true,
	// Customer Service Professional
	"DYN365_CUSTOMER_SERVICE_PRO":      true,
	"D365_CUSTOMER_SERVICE_PRO_ATTACH": true,
	// Customer Service Enterprise
	"DYN365_ENTERPRISE_CUSTOMER_SERVICE":     true,
	"DYN365_ENTERPRISE_CUSTOMER_SERVICE_GOV": true,
	"D365_ENTERPRISE_CUSTOMER_SERVICE_GOV":   true,
	"D365_CUSTOMER_SERVICE_ENT_ATTACH":       true,
	// Team Members
	"DYN365_TEAM_MEMBERS":                true,
	"DYN365_ENTERPRISE_TEAM_MEMBERS":     true,
	"DYN365_ENTERPRISE_TEAM_MEMBERS_GOV": true,
}

// Tracked reports whether activity is tracked for the SKU with this part
// number (see the list above; matched under NormalizePartNumber).
func Tracked(partNumber string) bool { return trackedPartNumbers[NormalizePartNumber(partNumber)] }

// KindOf returns KindAttach when the part number or the name says the SKU
// attaches to a qualifying base licence ("ATTACH" / "Attach" in either), and
// KindBase otherwise.
func KindOf(partNumber, name string) sam.Kind {
	if strings.Contains(NormalizePartNumber(partNumber), "ATTACH") || strings.Contains(strings.ToLower(name), "attach") {
		return sam.KindAttach
	}
	return sam.KindBase
}

// editions are the edition words looked for in a product name, first match
// wins.
var editions = []struct{ word, edition string }{
	{"team members", "Team Members"},
	{"team member", "Team Members"},
	{"enterprise", "Enterprise"},
	{"professional", "Professional"},
	{"premium", "Premium"},
	{"essentials", "Essentials"},
	{"business edition", "Business"},
	{"basic", "Basic"},
	{"per user", "Per User"},
	{"per app", "Per App"},
	{"per flow", "Per Flow"},
	{"plan 1", "Plan 1"},
	{"plan 2", "Plan 2"},
	{"developer", "Developer"},
	{"free", "Free"},
}

// EditionOf returns the edition a product name states ("Enterprise",
// "Professional", "Team Members", "Premium", …), or "" when it states none.
func EditionOf(name string) string {
	n := strings.ToLower(name)
	for _, e := range editions {
		if strings.Contains(n, e.word) {
			return e.edition
		}
	}
	return ""
}

// deriveModel returns the software model of p when p is in one of the four
// families.
func deriveModel(p Product) (sam.SoftwareModel, bool) {
	f, ok := FamilyOf(p.PartNumber, p.Name)
	if !ok {
		return sam.SoftwareModel{}, false
	}
	return sam.SoftwareModel{
		SKUID:        p.SKUID,
		PartNumber:   p.PartNumber,
		Publisher:    "Microsoft",
		Product:      p.Name,
		Edition:      EditionOf(p.Name),
		Family:       f,
		Kind:         KindOf(p.PartNumber, p.Name),
		Metric:       sam.MetricUserSubscription,
		Tracked:      Tracked(p.PartNumber),
		Mapped:       true,
		ServicePlans: slices.Clone(p.ServicePlans),
	}, true
}

// Unmapped returns the model Seatwise records for a tenant SKU the catalog
// does not know: family other, not tracked, not mapped, named by its part
// number (or its id when Graph gave none).
func Unmapped(skuID, partNumber string) sam.SoftwareModel {
	name := trimSpace(partNumber)
	if name == "" {
		name = sam.NormalizeGUID(skuID)
	}
	return sam.SoftwareModel{
		SKUID:      sam.NormalizeGUID(skuID),
		PartNumber: trimSpace(partNumber),
		Publisher:  "Microsoft",
		Product:    name,
		Family:     sam.FamilyOther,
		Kind:       KindOf(partNumber, ""),
		Metric:     sam.MetricUserSubscription,
	}
}
