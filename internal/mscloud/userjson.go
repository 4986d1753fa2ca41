package mscloud

import (
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// appendUser writes a user's selected properties (id appended when not
// selected) straight into b, without building an intermediate tree: a
// 999-user page with licences is several megabytes.
func appendUser(b []byte, u *tenant.User, sel []string, upperSKU bool) []byte {
	b = append(b, '{')
	hasID := false
	for i, p := range sel {
		if i > 0 {
			b = append(b, ',')
		}
		if p == "id" {
			hasID = true
		}
		b = appendString(b, p)
		b = append(b, ':')
		b = appendUserValue(b, u, p, upperSKU)
	}
	if !hasID {
		if len(sel) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"id":`...)
		b = appendString(b, u.ID)
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

func appendSignIn(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, `"0001-01-01T00:00:00Z"`...)
	}
	return appendTime(b, t)
}

func appendUserValue(b []byte, u *tenant.User, p string, upperSKU bool) []byte {
	switch p {
	case "assignedLicenses":
		b = append(b, '[')
		for i, l := range u.AssignedLicenses {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"disabledPlans":`...)
			b = appendArray(b, l.DisabledPlans, appendString)
			b = append(b, `,"skuId":`...)
			id := l.SKUID
			if upperSKU {
				id = strings.ToUpper(id)
			}
			b = appendString(b, id)
			b = append(b, '}')
		}
		return append(b, ']')
	case "assignedPlans":
		b = append(b, '[')
		for i, ap := range u.AssignedPlans {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"assignedDateTime":`...)
			b = appendTime(b, ap.AssignedDateTime)
			b = append(b, `,"capabilityStatus":`...)
			b = appendString(b, ap.CapabilityStatus)
			b = append(b, `,"service":`...)
			b = appendString(b, ap.Service)
			b = append(b, `,"servicePlanId":`...)
			b = appendString(b, ap.ServicePlanID)
			b = append(b, '}')
		}
		return append(b, ']')
	case "licenseAssignmentStates":
		b = append(b, '[')
		for i, s := range u.LicenseAssignmentStates {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"assignedByGroup":`...)
			b = appendJSON(b, strOrNull(s.AssignedByGroup))
			b = append(b, `,"disabledPlans":`...)
			b = appendArray(b, s.DisabledPlans, appendString)
			b = append(b, `,"error":`...)
			switch {
			case s.Error != "":
				b = appendString(b, s.Error)
			case s.ErrorNone:
				b = append(b, `"None"`...)
			default:
				b = append(b, "null"...)
			}
			b = append(b, `,"lastUpdatedDateTime":`...)
			b = appendTime(b, s.LastUpdatedDateTime)
			b = append(b, `,"skuId":`...)
			b = appendString(b, s.SKUID)
			b = append(b, `,"state":`...)
			b = appendString(b, s.State)
			b = append(b, '}')
		}
		return append(b, ']')
	case "signInActivity":
		a := &u.SignInActivity
		b = append(b, `{"lastSignInDateTime":`...)
		b = appendSignIn(b, a.LastSignInDateTime)
		b = append(b, `,"lastSignInRequestId":`...)
		b = appendString(b, a.LastSignInRequestID)
		b = append(b, `,"lastNonInteractiveSignInDateTime":`...)
		b = appendSignIn(b, a.LastNonInteractiveSignInDateTime)
		b = append(b, `,"lastNonInteractiveSignInRequestId":`...)
		b = appendString(b, a.LastNonInteractiveSignInRequestID)
		b = append(b, `,"lastSuccessfulSignInDateTime":`...)
		b = appendSignIn(b, a.LastSuccessfulSignInDateTime)
		b = append(b, `,"lastSuccessfulSignInRequestId":`...)
		b = appendString(b, a.LastSuccessfulSignInRequestID)
		return append(b, '}')
	case "createdDateTime":
		return appendTime(b, u.CreatedDateTime)
	}
	return appendJSON(b, userValue(u, p, upperSKU))
}

// userJSON is a user rendered for inclusion in a response tree.
func userJSON(u *tenant.User, sel []string, upperSKU bool) rawJSON {
	return rawJSON(appendUser(nil, u, sel, upperSKU))
}

// userRows is a page of users, written straight into the response buffer
// as a JSON array by appendJSON.
type userRows struct {
	users []tenant.User
	sel   []string
}
