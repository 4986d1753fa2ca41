package tenant

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// ErrorKind classifies the errors of the tenant model so that the HTTP layer
// can answer as Microsoft would.
type ErrorKind string

// Error kinds.
const (
	// ErrNotFound: no such user, group, SKU, environment or systemuser.
	// Graph: 404 Request_ResourceNotFound.
	ErrNotFound ErrorKind = "not_found"
	// ErrInvalid: a malformed argument (GUID, cursor, settings, scenario).
	// Graph: 400 Request_BadRequest.
	ErrInvalid ErrorKind = "invalid"
	// ErrNoLicenses: assignLicense would exceed prepaidUnits.enabled.
	// Graph: 400 Request_BadRequest "Subscription with SKU {skuId} does not
	// have any available licenses."
	ErrNoLicenses ErrorKind = "no_licenses"
	// ErrUsageLocation: licences cannot be assigned to a user without
	// usageLocation. Graph: 400 Request_BadRequest.
	ErrUsageLocation ErrorKind = "usage_location"
	// ErrGroupInherited: a licence inherited from a group cannot be removed
	// from the user directly. Graph: 400 Request_BadRequest.
	ErrGroupInherited ErrorKind = "group_inherited"
	// ErrUnknownSKU: the SKU (or a disabled plan) is not subscribed by the
	// tenant. Graph: 400 Request_BadRequest.
	ErrUnknownSKU ErrorKind = "unknown_sku"
	// ErrConflict: the change conflicts with the current state (member
	// already in the group, user id or UPN taken). Graph: 400
	// Request_BadRequest.
	ErrConflict ErrorKind = "conflict"
)

// Error is an error of the tenant model. Message is Microsoft's wording
// where known and never contains a secret.
type Error struct {
	Kind    ErrorKind
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// GraphCode returns the Graph error code for the error.
func (e *Error) GraphCode() string {
	if e.Kind == ErrNotFound {
		return "Request_ResourceNotFound"
	}
	return "Request_BadRequest"
}

// HTTPStatus returns the HTTP status Graph answers the error with.
func (e *Error) HTTPStatus() int {
	if e.Kind == ErrNotFound {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// Is makes errors.Is(err, &Error{Kind: k}) match any error of kind k.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Kind == e.Kind && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// Unwrap classifies the error for Seatwise code (sam.ErrorCode): not found
// is sam.ENOTFOUND, conflicts sam.ECONFLICT, everything else sam.EINVALID.
func (e *Error) Unwrap() error {
	switch e.Kind {
	case ErrNotFound:
		return &sam.Error{Code: sam.ENOTFOUND, Message: e.Message}
	case ErrConflict:
		return &sam.Error{Code: sam.ECONFLICT, Message: e.Message}
	}
	return &sam.Error{Code: sam.EINVALID, Message: e.Message}
}

// KindOf returns the kind of the first *Error in err's chain, "" if none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func notFoundResource(id string) *Error {
	return errorf(ErrNotFound, "Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
