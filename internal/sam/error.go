package sam

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is one of a small, closed set of error kinds. Every error that reaches
// a user is classified by exactly one code; the CLI maps it to an exit code and
// the HTTP API to a status, both in this file and nowhere else.
type Code string

// The error kinds.
const (
	EINVALID      Code = "invalid"      // the caller's input is wrong
	ENOTFOUND     Code = "not_found"    // the named thing does not exist
	ECONFLICT     Code = "conflict"     // the thing exists already or changed under us
	EUNAUTHORIZED Code = "unauthorized" // credentials are missing, wrong, expired or revoked
	EFORBIDDEN    Code = "forbidden"    // credentials are fine but lack a permission
	EUNAVAILABLE  Code = "unavailable"  // a dependency (Microsoft, the database) failed; retrying may help
	EINTERNAL     Code = "internal"     // a bug or an unexpected state
)

// Error is an error with a kind and a message meant for the user. Err keeps
// the underlying chain for operators (logs); Message never contains secrets.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Error returns the user-facing message followed by the wrapped cause, if any.
func (e *Error) Error() string {
	if e.Err != nil {
		if e.Message == "" {
			return e.Err.Error()
		}
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the wrapped cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given code with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given code that wraps err with a message.
// Wrap(code, nil, ...) returns nil.
func Wrap(code Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the outermost *Error in err's chain,
// EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the full text of an
// *Error chain, or "internal error" for unclassified errors so that details
// of bugs are shown to operators (logs) and not to API clients.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return err.Error()
	}
	return "internal error"
}

// IsCode reports whether err is classified as code.
func IsCode(err error, code Code) bool { return ErrorCode(err) == code }

// Exit codes used by the CLI; scripts may rely on them.
const (
	ExitOK          = 0
	ExitInternal    = 1
	ExitUsage       = 2 // EINVALID: bad flags, arguments or input
	ExitNotFound    = 3
	ExitConflict    = 4
	ExitAuth        = 5 // EUNAUTHORIZED, EFORBIDDEN
	ExitUnavailable = 6
)

// ExitCode maps err to the process exit code.
func ExitCode(err error) int {
	switch ErrorCode(err) {
	case "":
		return ExitOK
	case EINVALID:
		return ExitUsage
	case ENOTFOUND:
		return ExitNotFound
	case ECONFLICT:
		return ExitConflict
	case EUNAUTHORIZED, EFORBIDDEN:
		return ExitAuth
	case EUNAVAILABLE:
		return ExitUnavailable
	default:
		return ExitInternal
	}
}

// HTTPStatus maps err to the HTTP status the API answers with.
func HTTPStatus(err error) int {
	switch ErrorCode(err) {
	case "":
		return http.StatusOK
	case EINVALID:
		return http.StatusBadRequest
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
