// Package odatatest holds test helpers for the clients built on odata
// (msgraph, dataverse): a server that answers with a fuzzed body, and the
// checks every fuzz test makes on what such a client returns.
package odatatest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// Token is the bearer token the fuzz server's Client sends; CheckErr fails
// when an error repeats it.
const Token = "fuzz-token"

// FuzzServer answers the first request after Serve with the body given to
// Serve and every later one with an empty collection, so that a client
// following a same-host nextLink stops after one more page.
type FuzzServer struct {
	// URL is the server's base URL.
	URL string
	// Client is one odata client (one connection pool) for every
	// iteration: it sends Token, tries each request once and never waits.
	Client *odata.Client

	mu   sync.Mutex
	body []byte
	hits int
}

// NewFuzzServer starts a FuzzServer that is closed when tb ends; service
// names the service in the Client's errors (odata.ServiceGraph, ...).
func NewFuzzServer(tb testing.TB, service string) *FuzzServer {
	fs := &FuzzServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fs.mu.Lock()
		fs.hits++
		body := fs.body
		if fs.hits > 1 {
			body = []byte(`{"value":[]}`)
		}
		fs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	fs.URL = srv.URL
	fs.Client = odata.New(odata.Config{Service: service, MaxAttempts: 1, Tokens: odata.StaticToken(Token),
		HTTPClient: srv.Client(), Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	return fs
}

// Serve makes body the answer to the next request; later requests get an
// empty collection.
func (fs *FuzzServer) Serve(body []byte) {
	fs.mu.Lock()
	fs.body, fs.hits = body, 0
	fs.mu.Unlock()
}

// CheckErr fails unless err is nil or a *sam.Error with a code and a
// message that never repeats Token.
func CheckErr(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	var se *sam.Error
	if !errors.As(err, &se) || se.Code == "" {
		tb.Fatalf("error %T without a code: %v", err, err)
	}
	if strings.Contains(err.Error(), Token) {
		tb.Fatalf("error shows the token: %v", err)
	}
}

// CheckLower fails when an id that should be a normalised GUID is not lower
// case.
func CheckLower(tb testing.TB, ids ...string) {
	tb.Helper()
	for _, id := range ids {
		if id != strings.ToLower(id) {
			tb.Fatalf("GUID %q not lower case", id)
		}
	}
}
