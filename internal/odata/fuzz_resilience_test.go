package odata

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// FuzzResponseError builds the error of arbitrary failed answers (status,
// Retry-After header, body) as for a $batch item: always a *sam.Error whose
// code follows the status (401 unauthorized, 403 forbidden, 404 not found,
// 409 conflict, 429 and 5xx unavailable, other 4xx invalid), wrapping an *Error that keeps
// the status and a Retry-After within bounds, with a one-line message of
// bounded length and a redacted URL.
func FuzzResponseError(f *testing.F) {
	addFixtures(f)
	f.Add([]byte(`{"error":{"code":"TooManyRequests","message":"Please retry again later.","innerError":{"code":"429","request-id":"r"}}}`))
	f.Add([]byte(`{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}`))
	f.Add([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: x","error_codes":[7000215]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []struct {
			status     int
			retryAfter string
			want       sam.Code
		}{
			{400, "", sam.EINVALID}, {401, "", sam.EUNAUTHORIZED}, {403, "", sam.EFORBIDDEN}, {404, "", sam.ENOTFOUND},
			{409, "", sam.ECONFLICT}, {422, "", sam.EINVALID}, {429, "2.128", sam.EUNAVAILABLE}, {500, "", sam.EUNAVAILABLE}, {503, string(body), sam.EUNAVAILABLE},
		} {
			h := http.Header{}
			if c.retryAfter != "" {
				h.Set("Retry-After", c.retryAfter)
			}
			err := ResponseError(ServiceGraph, "GET", "https://graph.example/v1.0/users?client_secret=S3CR3TVALUE1&$top=5", c.status, h, body)
			var se *sam.Error
			if !errors.As(err, &se) {
				t.Fatalf("status %d: %T is not a *sam.Error", c.status, err)
			}
			if se.Code != c.want {
				t.Fatalf("status %d: code %s, want %s", c.status, se.Code, c.want)
			}
			oe, ok := AsError(err)
			if !ok || oe.Status != c.status {
				t.Fatalf("status %d: odata error %+v", c.status, oe)
			}
			if oe.RetryAfter < 0 || oe.RetryAfter > maxRetryAfter {
				t.Fatalf("status %d: Retry-After %v", c.status, oe.RetryAfter)
			}
			if c.retryAfter == "2.128" && oe.RetryAfter != 2128*time.Millisecond {
				t.Fatalf("Retry-After 2.128 read as %v", oe.RetryAfter)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || len(msg) > 2000 {
				t.Fatalf("message of %d bytes: %q", len(msg), msg)
			}
			if strings.Contains(msg, "S3CR3TVALUE1") {
				t.Fatalf("message keeps the secret query value: %s", msg)
			}
		}
	})
}
