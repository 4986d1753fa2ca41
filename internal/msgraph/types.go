package msgraph

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Organization is the tenant as Graph describes it (GET /organization).
type Organization struct {
	ID                   string // tenant id, lower case
	DisplayName          string
	TenantType           string
	CountryLetterCode    string
	DefaultUsageLocation string
	CreatedAt            time.Time // zero when absent
	VerifiedDomains      []VerifiedDomain
}

// VerifiedDomain is one of the tenant's domains.
type VerifiedDomain struct {
	Name      string
	IsDefault bool
	IsInitial bool
	Type      string
	// Capabilities is Graph's comma-separated string, e.g. "Email, OfficeCommunicationsOnline".
	Capabilities string
}

// SubscribedSKU is one SKU the tenant bought (GET /subscribedSkus).
type SubscribedSKU struct {
	ID               string // {tenantId}_{skuId}, not a GUID
	SKUID            string // lower case
	SKUPartNumber    string
	CapabilityStatus string // Enabled, Warning, Suspended, Deleted, LockedOut
	AppliesTo        string // User, Company
	AccountName      string
	AccountID        string
	ConsumedUnits    int
	PrepaidUnits     LicenseUnits
	ServicePlans     []ServicePlanInfo
	SubscriptionIDs  []string
}

// Available returns the seats that can still be assigned: enabled prepaid
// units minus consumed units, never negative.
func (s SubscribedSKU) Available() int {
	if n := s.PrepaidUnits.Enabled - s.ConsumedUnits; n > 0 {
		return n
	}
	return 0
}

// LicenseUnits is subscribedSku.prepaidUnits.
type LicenseUnits struct {
	Enabled   int `json:"enabled"`
	Warning   int `json:"warning"`
	Suspended int `json:"suspended"`
	LockedOut int `json:"lockedOut"`
}

// ServicePlanInfo is a service plan of a SKU or of a user's licence.
type ServicePlanInfo struct {
	ServicePlanID      string // lower case
	ServicePlanName    string
	ProvisioningStatus string // Success, Disabled, PendingProvisioning, ...
	AppliesTo          string // User, Company
}

// LicenseDetails is one licence of a user (GET /users/{id}/licenseDetails).
type LicenseDetails struct {
	ID            string // opaque, not the skuId
	SKUID         string // lower case
	SKUPartNumber string
	ServicePlans  []ServicePlanInfo
}

// User is a Graph user with the properties Seatwise reads. Properties that
// were not selected, or are null, are zero; GUIDs are lower case.
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	Mail              string
	Department        string
	Country           string
	UsageLocation     string
	// AccountEnabled is nil when not returned (not selected, or left out of
	// a delta with Prefer: return=minimal) or null.
	AccountEnabled          *bool
	AssignedLicenses        []AssignedLicense
	LicenseAssignmentStates []LicenseAssignmentState
	AssignedPlans           []AssignedPlan
	// SignInActivity is nil unless signInActivity was selected.
	SignInActivity *SignInActivity
	// Removed is set for users/delta entries {"id","@removed":{"reason"}}:
	// the user was deleted (reason RemovedDeleted) or soft-deleted
	// (RemovedChanged); no other property is set then.
	Removed *Removed
}

// Enabled reports whether the account is enabled; an unknown state (nil)
// counts as enabled.
func (u User) Enabled() bool { return u.AccountEnabled == nil || *u.AccountEnabled }

// Removed is a users/delta removal.
type Removed struct {
	Reason string // RemovedChanged or RemovedDeleted
}

// Removal reasons of users/delta.
const (
	RemovedChanged = "changed" // soft-deleted, restorable for 30 days
	RemovedDeleted = "deleted" // permanently deleted
)

// AssignedLicense is a licence assigned to a user (assignedLicenses), also
// the element of AssignLicense's add list.
type AssignedLicense struct {
	SKUID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// MarshalJSON always sends disabledPlans, as [] when empty: Graph requires
// the member.
func (a AssignedLicense) MarshalJSON() ([]byte, error) {
	dp := a.DisabledPlans
	if dp == nil {
		dp = []string{}
	}
	return json.Marshal(struct {
		DisabledPlans []string `json:"disabledPlans"`
		SKUID         string   `json:"skuId"`
	}{dp, a.SKUID})
}

// LicenseAssignmentState is one entry of licenseAssignmentStates.
type LicenseAssignmentState struct {
	SKUID string
	// AssignedByGroup is the id of the group the licence is inherited from,
	// "" for a direct assignment (null).
	AssignedByGroup string
	DisabledPlans   []string
	// Error is the assignment error (CountViolation, ...), "" for none
	// (null, or "None" as live tenants send it).
	Error       string
	LastUpdated time.Time // zero when absent
	State       string    // Active, ActiveWithError, Disabled, Error
}

// Direct reports whether the licence is assigned directly, not by a group.
func (s LicenseAssignmentState) Direct() bool { return s.AssignedByGroup == "" }

// AssignedPlan is one service plan assigned to a user or tenant.
type AssignedPlan struct {
	AssignedAt       time.Time
	CapabilityStatus string
	Service          string
	ServicePlanID    string
}

// SignInActivity is a user's tenant-wide Entra sign-in activity. A time is
// nil when Graph reports "never" (0001-01-01T00:00:00Z) or nothing.
type SignInActivity struct {
	LastSignIn                    *time.Time
	LastSignInRequestID           string
	LastNonInteractiveSignIn      *time.Time
	LastNonInteractiveRequestID   string
	LastSuccessfulSignIn          *time.Time
	LastSuccessfulSignInRequestID string
}

// wire forms: lenient decoding, converted to the exported types.

type wireUser struct {
	ID                      string                   `json:"id"`
	UserPrincipalName       string                   `json:"userPrincipalName"`
	DisplayName             string                   `json:"displayName"`
	Mail                    string                   `json:"mail"`
	Department              string                   `json:"department"`
	Country                 string                   `json:"country"`
	UsageLocation           string                   `json:"usageLocation"`
	AccountEnabled          *bool                    `json:"accountEnabled"`
	AssignedLicenses        []AssignedLicense        `json:"assignedLicenses"`
	LicenseAssignmentStates []wireLicenseState       `json:"licenseAssignmentStates"`
	AssignedPlans           []wireAssignedPlan       `json:"assignedPlans"`
	SignInActivity          *wireSignInActivity      `json:"signInActivity"`
	Removed                 *struct{ Reason string } `json:"@removed"`
}

type wireLicenseState struct {
	SKUID               string   `json:"skuId"`
	AssignedByGroup     *string  `json:"assignedByGroup"`
	DisabledPlans       []string `json:"disabledPlans"`
	Error               *string  `json:"error"`
	LastUpdatedDateTime string   `json:"lastUpdatedDateTime"`
	State               string   `json:"state"`
}

type wireAssignedPlan struct {
	AssignedDateTime string `json:"assignedDateTime"`
	CapabilityStatus string `json:"capabilityStatus"`
	Service          string `json:"service"`
	ServicePlanID    string `json:"servicePlanId"`
}

type wireSignInActivity struct {
	LastSignInDateTime                string `json:"lastSignInDateTime"`
	LastSignInRequestID               string `json:"lastSignInRequestId"`
	LastNonInteractiveSignInDateTime  string `json:"lastNonInteractiveSignInDateTime"`
	LastNonInteractiveSignInRequestID string `json:"lastNonInteractiveSignInRequestId"`
	LastSuccessfulSignInDateTime      string `json:"lastSuccessfulSignInDateTime"`
	LastSuccessfulSignInRequestID     string `json:"lastSuccessfulSignInRequestId"`
}

func (w wireUser) user() User {
	u := User{
		ID: sam.NormalizeGUID(w.ID), UserPrincipalName: w.UserPrincipalName, DisplayName: w.DisplayName,
		Mail: w.Mail, Department: w.Department, Country: w.Country, UsageLocation: w.UsageLocation,
		AccountEnabled: w.AccountEnabled,
	}
	for _, l := range w.AssignedLicenses {
		u.AssignedLicenses = append(u.AssignedLicenses, AssignedLicense{SKUID: sam.NormalizeGUID(l.SKUID), DisabledPlans: guids(l.DisabledPlans)})
	}
	for _, s := range w.LicenseAssignmentStates {
		st := LicenseAssignmentState{
			SKUID: sam.NormalizeGUID(s.SKUID), DisabledPlans: guids(s.DisabledPlans),
			LastUpdated: parseTime(s.LastUpdatedDateTime), State: s.State,
		}
		if s.AssignedByGroup != nil {
			st.AssignedByGroup = sam.NormalizeGUID(*s.AssignedByGroup)
		}
		if s.Error != nil && !strings.EqualFold(*s.Error, "none") {
			st.Error = *s.Error
		}
		u.LicenseAssignmentStates = append(u.LicenseAssignmentStates, st)
	}
	for _, p := range w.AssignedPlans {
		u.AssignedPlans = append(u.AssignedPlans, AssignedPlan{
			AssignedAt: parseTime(p.AssignedDateTime), CapabilityStatus: p.CapabilityStatus,
			Service: p.Service, ServicePlanID: sam.NormalizeGUID(p.ServicePlanID),
		})
	}
	if a := w.SignInActivity; a != nil {
		u.SignInActivity = &SignInActivity{
			LastSignIn: signInTime(a.LastSignInDateTime), LastSignInRequestID: a.LastSignInRequestID,
			LastNonInteractiveSignIn: signInTime(a.LastNonInteractiveSignInDateTime), LastNonInteractiveRequestID: a.LastNonInteractiveSignInRequestID,
			LastSuccessfulSignIn: signInTime(a.LastSuccessfulSignInDateTime), LastSuccessfulSignInRequestID: a.LastSuccessfulSignInRequestID,
		}
	}
	if w.Removed != nil {
		u.Removed = &Removed{Reason: w.Removed.Reason}
	}
	return u
}

type wireServicePlan struct {
	ServicePlanID      string `json:"servicePlanId"`
	ServicePlanName    string `json:"servicePlanName"`
	ProvisioningStatus string `json:"provisioningStatus"`
	AppliesTo          string `json:"appliesTo"`
}

func servicePlans(w []wireServicePlan) []ServicePlanInfo {
	var out []ServicePlanInfo
	for _, p := range w {
		out = append(out, ServicePlanInfo{
			ServicePlanID: sam.NormalizeGUID(p.ServicePlanID), ServicePlanName: p.ServicePlanName,
			ProvisioningStatus: p.ProvisioningStatus, AppliesTo: p.AppliesTo,
		})
	}
	return out
}

type wireSKU struct {
	ID               string            `json:"id"`
	SKUID            string            `json:"skuId"`
	SKUPartNumber    string            `json:"skuPartNumber"`
	CapabilityStatus string            `json:"capabilityStatus"`
	AppliesTo        string            `json:"appliesTo"`
	AccountName      string            `json:"accountName"`
	AccountID        string            `json:"accountId"`
	ConsumedUnits    int               `json:"consumedUnits"`
	PrepaidUnits     LicenseUnits      `json:"prepaidUnits"`
	ServicePlans     []wireServicePlan `json:"servicePlans"`
	SubscriptionIDs  []string          `json:"subscriptionIds"`
}

func (w wireSKU) sku() SubscribedSKU {
	return SubscribedSKU{
		ID: strings.ToLower(w.ID), SKUID: sam.NormalizeGUID(w.SKUID), SKUPartNumber: w.SKUPartNumber,
		CapabilityStatus: w.CapabilityStatus, AppliesTo: w.AppliesTo, AccountName: w.AccountName,
		AccountID: sam.NormalizeGUID(w.AccountID), ConsumedUnits: w.ConsumedUnits, PrepaidUnits: w.PrepaidUnits,
		ServicePlans: servicePlans(w.ServicePlans), SubscriptionIDs: guids(w.SubscriptionIDs),
	}
}

type wireLicenseDetails struct {
	ID            string            `json:"id"`
	SKUID         string            `json:"skuId"`
	SKUPartNumber string            `json:"skuPartNumber"`
	ServicePlans  []wireServicePlan `json:"servicePlans"`
}

// details converts licence details as Graph sends them.
func (w wireLicenseDetails) details() LicenseDetails {
	return LicenseDetails{ID: w.ID, SKUID: sam.NormalizeGUID(w.SKUID), SKUPartNumber: w.SKUPartNumber, ServicePlans: servicePlans(w.ServicePlans)}
}

type wireOrganization struct {
	ID                   string `json:"id"`
	DisplayName          string `json:"displayName"`
	TenantType           string `json:"tenantType"`
	CountryLetterCode    string `json:"countryLetterCode"`
	DefaultUsageLocation string `json:"defaultUsageLocation"`
	CreatedDateTime      string `json:"createdDateTime"`
	VerifiedDomains      []struct {
		Name         string `json:"name"`
		IsDefault    bool   `json:"isDefault"`
		IsInitial    bool   `json:"isInitial"`
		Type         string `json:"type"`
		Capabilities string `json:"capabilities"`
	} `json:"verifiedDomains"`
}

func guids(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, g := range in {
		out[i] = sam.NormalizeGUID(g)
	}
	return out
}

// timeLayouts are the timestamp forms Microsoft sends: RFC 3339 with Z or
// an offset and optional fraction, without a zone (Graph innerError.date,
// read as UTC), and Entra's space-separated form.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"}

// parseTime parses a Microsoft timestamp as UTC; "" or an unparsable value
// gives the zero time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// signInTime parses a signInActivity time; "never" (year 1) is nil.
func signInTime(s string) *time.Time {
	t := parseTime(s)
	if t.IsZero() || t.Year() <= 1 {
		return nil
	}
	return &t
}
