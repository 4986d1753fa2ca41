package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seatwise/seatwise/internal/sam"
)

// Service names used in errors and counters.
const (
	ServiceGraph     = "graph"
	ServiceDataverse = "dataverse"
	ServiceEntra     = "entra"
)

// Error describes one failed request to a Microsoft service, after retries.
// It never contains an access token, a client secret or a request body; URL
// has secret query values redacted (see RedactURL).
type Error struct {
	Service string // "graph", "dataverse" or "entra"
	Method  string
	URL     string // redacted
	// Status is the HTTP status of the last response, 0 when no response
	// arrived (connection refused or dropped, timeout) or the response body
	// could not be read or decoded.
	Status int
	// Code is the service's error code: Graph "Request_ResourceNotFound",
	// Dataverse "0x8006088a", Entra "invalid_client". Empty when the body
	// carried none.
	Code string
	// Message is the service's error message; for Entra the first line of
	// error_description (trace and correlation ids are in TraceID and
	// CorrelationID).
	Message string
	// InnerCode is Graph's innerError.code (a string such as "429").
	InnerCode     string
	RequestID     string // Graph innerError.request-id or the request-id header
	ErrorCodes    []int  // Entra error_codes (AADSTS numbers)
	TraceID       string // Entra trace_id
	CorrelationID string // Entra correlation_id
	// RetryAfter is the wait the service asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the transport or decoding error when Status is 0 or the body
	// of a successful response was malformed.
	Err error
}

// Error returns a one-line description: service, method, URL, status, code,
// message and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Service)
	b.WriteString(": ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if len(e.ErrorCodes) > 0 {
		b.WriteString(" (AADSTS")
		for i, c := range e.ErrorCodes {
			if i > 0 {
				b.WriteString(", AADSTS")
			}
			b.WriteString(strconv.Itoa(c))
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the transport or decoding cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether sending the same request again may succeed:
// throttling (429), server errors 500, 502, 503 and 504, and failures before
// a complete, well-formed response arrived (Status 0).
func (e *Error) Retryable() bool { return retryableStatus(e.Status) }

func retryableStatus(status int) bool {
	switch status {
	case 0, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Kind maps the error to a sam error code: 401 EUNAUTHORIZED, 403
// EFORBIDDEN, 404 and 410 ENOTFOUND, 409 and 412 ECONFLICT, other 4xx
// EINVALID, everything retryable (429, 5xx, network) EUNAVAILABLE.
func (e *Error) Kind() sam.Code {
	switch {
	case e.Status == http.StatusUnauthorized:
		return sam.EUNAUTHORIZED
	case e.Status == http.StatusForbidden:
		return sam.EFORBIDDEN
	case e.Status == http.StatusNotFound || e.Status == http.StatusGone:
		return sam.ENOTFOUND
	case e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed:
		return sam.ECONFLICT
	case e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500:
		return sam.EUNAVAILABLE
	default:
		return sam.EINVALID
	}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// classified wraps e in a *sam.Error of its kind, the form every Client
// method returns.
func classified(e *Error) error { return &sam.Error{Code: e.Kind(), Err: e} }

// ErrorBody is the decoded body of a Microsoft error response in any of the
// three shapes: Graph and Dataverse {"error":{"code","message",
// "innerError"|"innererror"}} and Entra {"error":"invalid_client",
// "error_description","error_codes",...}.
type ErrorBody struct {
	Code          string
	Message       string
	InnerCode     string
	RequestID     string
	ErrorCodes    []int
	TraceID       string
	CorrelationID string
}

// ParseErrorBody decodes an error response body. It is lenient: unknown
// fields, nulls, a message given as an OData v3 {"lang","value"} object and
// either spelling of innerError are accepted. ok is false when the body is
// not JSON or has no "error" member; a plain-text body then yields its first
// line (at most 200 bytes) as Message. Every field is one line (codes and
// request ids at most 200 bytes), so that a service cannot put line breaks
// into errors and logs.
func ParseErrorBody(body []byte) (b ErrorBody, ok bool) {
	var env struct {
		Error         json.RawMessage `json:"error"`
		Description   string          `json:"error_description"`
		ErrorCodes    []int           `json:"error_codes"`
		TraceID       string          `json:"trace_id"`
		CorrelationID string          `json:"correlation_id"`
	}
	trimmed := bytes.TrimSpace(body)
	if err := json.Unmarshal(trimmed, &env); err != nil || len(env.Error) == 0 || string(env.Error) == "null" {
		if len(trimmed) > 0 && trimmed[0] != '{' && trimmed[0] != '[' {
			b.Message = firstLine(string(trimmed), 200)
		}
		return b, false
	}
	switch env.Error[0] {
	case '"': // Entra
		_ = json.Unmarshal(env.Error, &b.Code)
		b.Code = firstLine(b.Code, 200)
		b.Message = firstLine(env.Description, 500)
		b.ErrorCodes = env.ErrorCodes
		b.TraceID = env.TraceID
		b.CorrelationID = env.CorrelationID
		return b, true
	case '{': // Graph, Dataverse
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(env.Error, &obj); err != nil {
			return b, false
		}
		b.Code = firstLine(stringish(obj["code"]), 200)
		b.Message = firstLine(stringish(obj["message"]), 500)
		for k, v := range obj {
			if !strings.EqualFold(k, "innererror") {
				continue
			}
			var inner map[string]json.RawMessage
			if json.Unmarshal(v, &inner) == nil {
				b.InnerCode = firstLine(stringish(inner["code"]), 200)
				b.RequestID = firstLine(stringish(inner["request-id"]), 200)
			}
		}
		return b, true
	}
	return b, false
}

// stringish returns a JSON string's value, a number's text, or the "value"
// member of an object (OData v3 messages); "" otherwise.
func stringish(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var obj struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Value
	}
	return ""
}

// firstLine returns s up to its first line break, at most max bytes, cut at
// a rune boundary.
func firstLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// ResponseError builds the error of a failed response that did not come
// through Send, such as one item of a Graph $batch answer: an *Error with
// the status, the Microsoft code and message parsed from body, and
// Retry-After from header, wrapped in a *sam.Error of its kind. rawURL is
// redacted.
func ResponseError(service, method, rawURL string, status int, header http.Header, body []byte) error {
	e := &Error{Service: service, Method: method, URL: RedactURL(rawURL), Status: status, Attempts: 1}
	b, _ := ParseErrorBody(body)
	e.Code, e.Message, e.InnerCode = b.Code, b.Message, b.InnerCode
	e.ErrorCodes, e.TraceID, e.CorrelationID, e.RequestID = b.ErrorCodes, b.TraceID, b.CorrelationID, b.RequestID
	if e.RequestID == "" {
		e.RequestID = requestID(header)
	}
	if header != nil {
		if d, ok := ParseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	}
	return classified(e)
}
