package entra

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// fuzzSecret is the client secret the fuzzed token requests send; no error
// may repeat it.
const fuzzSecret = "fuzz-client-secret-value-0123"

// FuzzTokenEndpoint serves arbitrary token endpoint answers (status and
// body) to a client-credentials source: no panic; a failure is a *sam.Error
// with a code, classified by status (401 unauthorized, 403 forbidden, 429
// and 5xx unavailable, other 4xx invalid or unauthorized), that never shows
// the client secret; a token is only accepted from a 2xx answer, is not
// empty and does not expire before it was issued.
func FuzzTokenEndpoint(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		status := uint16(200)
		if strings.Contains(name, "error") {
			status = 400
		}
		f.Add(status, b)
	}
	f.Add(uint16(200), []byte(`{"access_token":"a","token_type":"Bearer","expires_in":"3599"}`))
	f.Add(uint16(200), []byte(`{"access_token":"a","token_type":"pop","expires_in":3599}`))
	f.Add(uint16(200), []byte(`{"access_token":"a","expires_in":-5}`))
	f.Add(uint16(401), []byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. `+fuzzSecret+`","error_codes":[7000215]}`))
	f.Add(uint16(429), []byte(`{"error":"temporarily_unavailable"}`))
	f.Add(uint16(503), []byte("<html>busy</html>"))
	var mu sync.Mutex
	var status int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		s, b := status, body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s)
		w.Write(b)
	}))
	f.Cleanup(srv.Close)
	oc := odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: srv.Client(), MaxAttempts: 1,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	f.Fuzz(func(t *testing.T, st uint16, b []byte) {
		s := 200 + int(st)%400 // 200 … 599
		mu.Lock()
		status, body = s, b
		mu.Unlock()
		src, err := ClientCredentials(Config{LoginURL: srv.URL, TenantID: "11111111-2222-3333-4444-555555555555",
			ClientID: "aaaaaaaa-2222-3333-4444-555555555555", ClientSecret: fuzzSecret, Scope: "https://graph.microsoft.com/.default", Client: oc})
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		tok, err := src.Token(context.Background())
		if err != nil {
			var se *sam.Error
			if !errors.As(err, &se) || se.Code == "" {
				t.Fatalf("status %d: error %T without a code: %v", s, err, err)
			}
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("status %d: error shows the client secret: %v", s, err)
			}
			switch {
			case s == 429 || s >= 500:
				if se.Code != sam.EUNAVAILABLE {
					t.Fatalf("status %d: code %s", s, se.Code)
				}
			case s == 403:
				if se.Code != sam.EFORBIDDEN && se.Code != sam.EUNAUTHORIZED {
					t.Fatalf("status %d: code %s", s, se.Code)
				}
			case s >= 400:
				if se.Code == sam.EUNAVAILABLE || se.Code == sam.EINTERNAL {
					t.Fatalf("status %d: code %s", s, se.Code)
				}
			}
			return
		}
		if s >= 300 {
			t.Fatalf("status %d answer accepted as a token", s)
		}
		if tok.AccessToken == "" {
			t.Fatal("empty access token accepted")
		}
		if !tok.ExpiresAt.IsZero() && tok.ExpiresAt.Before(before.Add(-time.Second)) {
			t.Fatalf("token expires at %v, before it was issued (%v)", tok.ExpiresAt, before)
		}
	})
}
