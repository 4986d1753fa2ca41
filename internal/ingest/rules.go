package ingest

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// TrackedEntities are the Dataverse tables whose create and update audits
// count as record activity (dataverse:record): the Common, Sales and Customer
// Service entities of ../shared/docs/product.md §4.
var TrackedEntities = []string{
	"account", "contact", "task", "phonecall", "email", "appointment", "letter", "fax", "goal", "product",
	"opportunity", "lead", "quote", "salesorder", "invoice", "competitor",
	"incident", "contract", "queue", "serviceappointment",
}

var trackedEntity = func() map[string]bool {
	m := make(map[string]bool, len(TrackedEntities))
	for _, e := range TrackedEntities {
		m[e] = true
	}
	return m
}()

// Audit operations and actions that are evidence of use.
const (
	opCreate          = 1
	opUpdate          = 2
	opAccess          = 4
	actionAccessWeb   = 64
	actionAccessWebSv = 65
)

// AuditSource returns the activity source an audit row is evidence for, and
// false when the row is not evidence of use: access audits (operation 4)
// with action 64 or 65, and creates or updates (operation 1, 2) of a tracked
// entity.
func AuditSource(operation, action int, objectTypeCode string) (sam.ActivitySource, bool) {
	switch operation {
	case opAccess:
		switch action {
		case actionAccessWeb:
			return sam.SourceAccessWeb, true
		case actionAccessWebSv:
			return sam.SourceAccessAPI, true
		}
	case opCreate, opUpdate:
		if trackedEntity[strings.ToLower(objectTypeCode)] {
			return sam.SourceRecord, true
		}
	}
	return "", false
}

// auditsQuery returns the relative Web API URL of the audits that are
// evidence of use created at or after from (strictly after when after is
// true, used from a watermark so that the newest row already counted is not
// counted twice), oldest first.
func auditsQuery(from time.Time, after bool) string {
	return auditsRangeQuery(from, after, time.Time{})
}

// auditsRangeQuery is auditsQuery restricted to createdon before to (no
// upper bound when to is zero).
func auditsRangeQuery(from time.Time, after bool, to time.Time) string {
	var ents []string
	for _, e := range TrackedEntities {
		ents = append(ents, "objecttypecode eq '"+e+"'")
	}
	cmp := "ge"
	if after {
		cmp = "gt"
	}
	filter := "((operation eq 4 and (action eq 64 or action eq 65)) or ((operation eq 1 or operation eq 2) and (" +
		strings.Join(ents, " or ") + "))) and createdon " + cmp + " " + from.UTC().Format(time.RFC3339Nano)
	if !to.IsZero() {
		filter += " and createdon lt " + to.UTC().Format(time.RFC3339Nano)
	}
	q := url.Values{}
	q.Set("$select", "createdon,operation,action,objecttypecode,_userid_value")
	q.Set("$filter", filter)
	q.Set("$orderby", "createdon asc")
	return "audits?" + encodeQuery(q)
}

// systemUsersQuery is the relative Web API URL of an environment's users.
const systemUsersQuery = "systemusers?$select=systemuserid,azureactivedirectoryobjectid,domainname,fullname,isdisabled,accessmode"

// encodeQuery encodes q with $-prefixed keys kept readable, in a fixed order.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(q.Get(k)), "+", "%20"))
	}
	return b.String()
}

// userSelect is the $select of user reads; signInActivity is added when
// the credential may read it.
const userSelect = "id,userPrincipalName,displayName,department,country,accountEnabled,assignedLicenses,licenseAssignmentStates"

// SKUFilter decides which SKUs make subscriptions.
type SKUFilter interface {
	// Model returns the software model of a SKU of the four tracked
	// families.
	Model(skuID string) (sam.SoftwareModel, bool)
	// Known reports whether the catalog knows the SKU in any family.
	Known(skuID string) bool
}

// Subscribed reports whether a SKU makes subscriptions: SKUs of the four
// tracked families and SKUs unknown to the catalog; SKUs the catalog knows in
// another family (Office 365 …) do not.
func Subscribed(f SKUFilter, skuID string) bool {
	if _, ok := f.Model(skuID); ok {
		return true
	}
	return !f.Known(skuID)
}

// StagedUserOf converts a Graph user to the form a subscriptions run stages:
// GUIDs lower case, one licence per subscribed SKU, a SKU held directly and
// through a group counted once as direct, AssignedAt from the direct state
// when there is one, else from the group state (the lexically smallest group
// id when several groups grant it).
func StagedUserOf(f SKUFilter, u GraphUser) store.StagedUser {
	su := store.StagedUser{
		UserID:         sam.NormalizeGUID(u.ID),
		Removed:        u.Removed,
		UPN:            u.UPN,
		DisplayName:    u.DisplayName,
		Department:     u.Department,
		Country:        u.Country,
		AccountEnabled: u.AccountEnabled,
		LastSignIn:     u.LastSignIn,
	}
	if u.Removed {
		return su
	}
	seen := map[string]bool{}
	for _, raw := range u.AssignedSKUs {
		sku := sam.NormalizeGUID(raw)
		if sku == "" || seen[sku] || !Subscribed(f, sku) {
			continue
		}
		seen[sku] = true
		lic := store.StagedLicense{SKUID: sku}
		var groupState *LicenseState
		direct := false
		for i := range u.States {
			s := &u.States[i]
			if sam.NormalizeGUID(s.SKUID) != sku {
				continue
			}
			if s.AssignedByGroup == "" {
				direct = true
				lic.AssignedByGroup = ""
				lic.AssignedAt = s.LastUpdated.UTC()
				break
			}
			g := sam.NormalizeGUID(s.AssignedByGroup)
			if groupState == nil || g < sam.NormalizeGUID(groupState.AssignedByGroup) {
				groupState = s
			}
		}
		if !direct && groupState != nil {
			lic.AssignedByGroup = sam.NormalizeGUID(groupState.AssignedByGroup)
			lic.AssignedAt = groupState.LastUpdated.UTC()
		}
		su.Licenses = append(su.Licenses, lic)
	}
	sort.Slice(su.Licenses, func(i, j int) bool { return su.Licenses[i].SKUID < su.Licenses[j].SKUID })
	return su
}

// ModelOf returns the software model stored for a tenant SKU: the catalog's
// model, or an unmapped model named after the part number Graph gave for a
// SKU the catalog does not know. ok is false for SKUs that make no
// subscriptions.
func ModelOf(f SKUFilter, s SubscribedSKU) (m sam.SoftwareModel, ok bool) {
	sku := sam.NormalizeGUID(s.SKUID)
	if m, ok := f.Model(sku); ok {
		return m, true
	}
	if f.Known(sku) {
		return sam.SoftwareModel{}, false
	}
	m = catalog.Unmapped(sku, s.PartNumber)
	m.ServicePlans = s.ServicePlans
	return m, true
}
