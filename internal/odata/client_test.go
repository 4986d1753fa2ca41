package odata

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

const okEntity = `{"@odata.context":"x/$metadata#users/$entity","id":"ABC","displayName":"Adele"}`

// graph429 returns Graph's documented throttling answer (fixture) with the
// given Retry-After value.
func graph429(t *testing.T, retryAfter string) step {
	t.Helper()
	raw, err := os.ReadFile("testdata/graph-error-429.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(raw), "\n\n")
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		jsonAnswer(http.StatusTooManyRequests, body)(w, r)
	}
}

func TestGetRetriesFaultSequences(t *testing.T) {
	t.Parallel()
	httpDate := testNow.Add(3 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name      string
		steps     func(t *testing.T) []step
		wantWaits []time.Duration // exact waits; nil: check count only
		nWaits    int
		throttles int64
	}{
		{
			name:      "429 with fractional Retry-After",
			steps:     func(t *testing.T) []step { return []step{graph429(t, "2.128")} },
			wantWaits: []time.Duration{2128 * time.Millisecond},
			throttles: 1,
		},
		{
			name:      "429 with HTTP-date Retry-After",
			steps:     func(t *testing.T) []step { return []step{graph429(t, httpDate)} },
			wantWaits: []time.Duration{3 * time.Second},
			throttles: 1,
		},
		{
			name: "503 with whole-second Retry-After, then 500, 502, 504 with backoff",
			steps: func(t *testing.T) []step {
				return []step{
					withHeader("Retry-After", "1", jsonAnswer(503, `{"error":{"code":"serviceNotAvailable","message":"down"}}`)),
					jsonAnswer(500, `{"error":{"code":"generalException","message":"x"}}`),
					jsonAnswer(502, `<html>bad gateway</html>`),
					jsonAnswer(504, ``),
				}
			},
			nWaits: 4,
		},
		{
			name:   "dropped connection",
			steps:  func(*testing.T) []step { return []step{drop, drop} },
			nWaits: 2,
		},
		{
			name:   "truncated body",
			steps:  func(*testing.T) []step { return []step{truncated(okEntity)} },
			nWaits: 1,
		},
		{
			name:   "malformed JSON body",
			steps:  func(*testing.T) []step { return []step{jsonAnswer(200, `{"id":"ABC","displ`)} },
			nWaits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newScript(t, jsonAnswer(200, okEntity), tt.steps(t)...)
			c, fs := testClient(t, nil)
			var out struct {
				ID          string `json:"id"`
				DisplayName string `json:"displayName"`
			}
			if err := c.Get(context.Background(), s.url("/v1.0/users/abc"), nil, &out); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if out.DisplayName != "Adele" {
				t.Fatalf("decoded %+v", out)
			}
			waits := fs.all()
			if tt.wantWaits != nil {
				if len(waits) != len(tt.wantWaits) {
					t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
				}
				for i := range waits {
					if waits[i] != tt.wantWaits[i] {
						t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
					}
				}
			} else if len(waits) != tt.nWaits {
				t.Fatalf("waits %v, want %d of them", waits, tt.nWaits)
			}
			for i, w := range waits {
				if w < 0 || (tt.wantWaits == nil && w > time.Second) {
					t.Fatalf("wait %d = %v outside [0, MaxDelay]", i, w)
				}
			}
			st := c.Stats()
			reqs := int64(len(s.requests()))
			if st.Requests != reqs || st.Retries != reqs-1 || st.Throttles != tt.throttles || st.Failures != 0 {
				t.Fatalf("stats %+v, server saw %d requests", st, reqs)
			}
			if h := st.Hosts[strings.TrimPrefix(s.srv.URL, "http://")]; h.Requests != reqs {
				t.Fatalf("per-host stats %+v", st.Hosts)
			}
		})
	}
}

func TestErrorsAreClassifiedAndNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		body     string
		kind     sam.Code
		code     string
		message  string
		attempts int
	}{
		{400, `{"error":{"code":"Request_BadRequest","message":"Invalid page size specified: '1000'."}}`, sam.EINVALID, "Request_BadRequest", "Invalid page size", 1},
		{403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"r-1"}}}`, sam.EFORBIDDEN, "Authorization_RequestDenied", "Insufficient privileges", 1},
		{404, `{"error":{"code":"0x8006088a","message":"Resource not found for the segment 'Account'."}}`, sam.ENOTFOUND, "0x8006088a", "segment 'Account'", 1},
		{409, `{"error":{"code":"conflict","message":"exists"}}`, sam.ECONFLICT, "conflict", "exists", 1},
		{500, `{"error":{"code":"generalException","message":"boom"}}`, sam.EUNAVAILABLE, "generalException", "boom", 3},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			s := newScript(t, jsonAnswer(tt.status, tt.body))
			c, _ := testClient(t, func(c *Config) { c.MaxAttempts = 3 })
			err := c.Get(context.Background(), s.url("/v1.0/users?client_secret=hunter2&$top=5"), nil, nil)
			if got := sam.ErrorCode(err); got != tt.kind {
				t.Fatalf("code %q, want %q (%v)", got, tt.kind, err)
			}
			oe, ok := AsError(err)
			if !ok {
				t.Fatalf("no *Error in %v", err)
			}
			if oe.Status != tt.status || oe.Code != tt.code || !strings.Contains(oe.Message, tt.message) || oe.Attempts != tt.attempts {
				t.Fatalf("error %+v", oe)
			}
			if len(s.requests()) != tt.attempts {
				t.Fatalf("%d requests, want %d", len(s.requests()), tt.attempts)
			}
			msg := err.Error()
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "tok-1") {
				t.Fatalf("error leaks a secret: %s", msg)
			}
			if !strings.Contains(msg, "client_secret=REDACTED") || !strings.Contains(msg, "GET") || !strings.Contains(msg, tt.code) {
				t.Fatalf("error lacks context: %s", msg)
			}
			if oe.Retryable() != (tt.kind == sam.EUNAVAILABLE) {
				t.Fatalf("Retryable() = %v", oe.Retryable())
			}
		})
	}
}

func TestUnauthorizedRefreshesTokenOnce(t *testing.T) {
	t.Parallel()
	unauthorized := jsonAnswer(401, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`)
	// The server accepts only tok-2: the first request (tok-1) gets 401.
	var s *script
	s = newScript(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			unauthorized(w, r)
			return
		}
		jsonAnswer(200, okEntity)(w, r)
	})
	tokens := &countingTokens{}
	c, fs := testClient(t, func(c *Config) { c.Tokens = tokens })
	if err := c.Get(context.Background(), s.url("/x"), nil, nil); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(s.requests()) != 2 || len(fs.all()) != 0 || len(tokens.invalidated) != 1 || tokens.invalidated[0] != "tok-1" {
		t.Fatalf("requests %d, waits %v, invalidated %v", len(s.requests()), fs.all(), tokens.invalidated)
	}

	// A token that stays rejected: one refresh, then EUNAUTHORIZED.
	s2 := newScript(t, unauthorized)
	c2, _ := testClient(t, nil) // StaticToken: refresh gives the same token
	err := c2.Get(context.Background(), s2.url("/x"), nil, nil)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) || len(s2.requests()) != 2 {
		t.Fatalf("err %v after %d requests", err, len(s2.requests()))
	}
	if strings.Contains(err.Error(), "tok-1") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestTokenSourceErrorReturnedUnchanged(t *testing.T) {
	t.Parallel()
	s := newScript(t, jsonAnswer(200, okEntity))
	want := sam.Errorf(sam.EUNAUTHORIZED, "the client secret has expired")
	c, _ := testClient(t, func(c *Config) { c.Tokens = failingTokens{want} })
	err := c.Get(context.Background(), s.url("/x"), nil, nil)
	if !errors.Is(err, want) || len(s.requests()) != 0 {
		t.Fatalf("err %v, %d requests", err, len(s.requests()))
	}
}

type failingTokens struct{ err error }

func (f failingTokens) Token(context.Context) (Token, error) { return Token{}, f.err }
func (f failingTokens) Invalidate(Token)                     {}

func TestRetryLimits(t *testing.T) {
	t.Parallel()
	t.Run("max attempts", func(t *testing.T) {
		t.Parallel()
		s := newScript(t, drop)
		c, fs := testClient(t, func(c *Config) { c.MaxAttempts = 4 })
		err := c.Get(context.Background(), s.url("/x"), nil, nil)
		oe, ok := AsError(err)
		if !sam.IsCode(err, sam.EUNAVAILABLE) || !ok || oe.Status != 0 || oe.Attempts != 4 || oe.Err == nil {
			t.Fatalf("err %v", err)
		}
		if len(s.requests()) != 4 || len(fs.all()) != 3 || c.Stats().Failures != 1 {
			t.Fatalf("%d requests, waits %v, stats %+v", len(s.requests()), fs.all(), c.Stats())
		}
	})
	t.Run("Retry-After beyond max wait", func(t *testing.T) {
		t.Parallel()
		s := newScript(t, graph429(t, "120"))
		c, fs := testClient(t, func(c *Config) { c.MaxWait = time.Minute })
		err := c.Get(context.Background(), s.url("/x"), nil, nil)
		oe, ok := AsError(err)
		if !ok || oe.Status != 429 || oe.Code != "TooManyRequests" || oe.InnerCode != "429" || oe.RetryAfter != 2*time.Minute {
			t.Fatalf("err %v (%+v)", err, oe)
		}
		if oe.RequestID != "94fb3b52-452a-4535-a601-69e0a90e3aa2" {
			t.Fatalf("request id %q", oe.RequestID)
		}
		if len(s.requests()) != 1 || len(fs.all()) != 0 || c.Stats().Throttles != 1 {
			t.Fatalf("%d requests, waits %v", len(s.requests()), fs.all())
		}
	})
	t.Run("total wait budget", func(t *testing.T) {
		t.Parallel()
		s := newScript(t, graph429(t, "2.128"))
		c, fs := testClient(t, func(c *Config) { c.MaxWait = 5 * time.Second; c.MaxAttempts = 100 })
		err := c.Get(context.Background(), s.url("/x"), nil, nil)
		if !sam.IsCode(err, sam.EUNAVAILABLE) || len(fs.all()) != 2 || len(s.requests()) != 3 {
			t.Fatalf("err %v, waits %v, %d requests", err, fs.all(), len(s.requests()))
		}
	})
}

func TestContextCancelStopsWaiting(t *testing.T) {
	t.Parallel()
	s := newScript(t, graph429(t, "30"))
	ctx, cancel := context.WithCancel(context.Background())
	// Real sleep: the cancel must cut a 30 s Retry-After short.
	c := New(Config{Service: ServiceGraph})
	done := make(chan error, 1)
	go func() { done <- c.Get(ctx, s.url("/x"), nil, nil) }()
	for len(s.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !sam.IsCode(err, sam.EUNAVAILABLE) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after cancel")
	}
}

func TestPostIsNotRetriedAfterDrop(t *testing.T) {
	t.Parallel()
	s := newScript(t, jsonAnswer(200, okEntity), drop)
	c, _ := testClient(t, nil)
	err := c.Do(context.Background(), http.MethodPost, s.url("/v1.0/users/u/assignLicense"), nil, map[string]any{"addLicenses": []any{}}, nil)
	if !sam.IsCode(err, sam.EUNAVAILABLE) || len(s.requests()) != 1 {
		t.Fatalf("err %v after %d requests", err, len(s.requests()))
	}
	// But a throttled POST is retried: Microsoft did not act on it.
	s2 := newScript(t, jsonAnswer(200, okEntity), graph429(t, "1"))
	if err := c.Do(context.Background(), http.MethodPost, s2.url("/x"), nil, map[string]int{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := s2.requests()
	if len(reqs) != 2 || reqs[1].Body != `{"a":1}` || reqs[1].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	s := newScript(t, jsonAnswer(204, ""))
	c, _ := testClient(t, func(c *Config) { c.UserAgent = "seatwise-test" })
	h := http.Header{"Prefer": {"odata.maxpagesize=10"}}
	if err := c.Do(context.Background(), http.MethodDelete, s.url("/groups/g/members/u/$ref"), h, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := s.requests()[0]
	for k, v := range map[string]string{
		"Authorization": "Bearer tok-1", "Accept": "application/json", "Odata-Version": "4.0",
		"Odata-Maxversion": "4.0", "User-Agent": "seatwise-test", "Prefer": "odata.maxpagesize=10",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.Method != http.MethodDelete || r.Path != "/groups/g/members/u/$ref" {
		t.Fatalf("request %+v", r)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	s := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		jsonAnswer(200, okEntity)(w, r)
	})
	c, _ := testClient(t, func(c *Config) { c.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Get(context.Background(), s.url("/x"), nil, nil)
		}()
	}
	// Wait until two requests are held by the server, then let them all go.
	deadline := time.Now().Add(10 * time.Second)
	for peak.Load() < 2 {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d request(s) in flight with MaxConcurrency 2", peak.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak.Load() != 2 || len(s.requests()) != 8 {
		t.Fatalf("peak %d, %d requests", peak.Load(), len(s.requests()))
	}
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	t.Parallel()
	c, _ := testClient(t, func(c *Config) { c.BaseDelay = 100 * time.Millisecond; c.MaxDelay = 800 * time.Millisecond })
	for n := 1; n <= 10; n++ {
		ceil := min(100*time.Millisecond<<(n-1), 800*time.Millisecond)
		for range 50 {
			if d := c.backoff(n); d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, ceil)
			}
		}
	}
}

func TestNotAnAbsoluteURL(t *testing.T) {
	t.Parallel()
	c, _ := testClient(t, nil)
	err := c.Get(context.Background(), "/users", nil, nil)
	if !sam.IsCode(err, sam.EINVALID) {
		t.Fatalf("err %v", err)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	// The first answer never comes: the handler waits until the client
	// gives up on the attempt and closes the connection.
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	s := newScript(t, jsonAnswer(200, okEntity), hang)
	c, fs := testClient(t, func(c *Config) { c.AttemptTimeout = 50 * time.Millisecond })
	if err := c.Get(context.Background(), s.url("/x"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(s.requests()) != 2 || len(fs.all()) != 1 {
		t.Fatalf("%d requests, waits %v", len(s.requests()), fs.all())
	}
	// Always hanging: EUNAVAILABLE naming the timeout.
	s2 := newScript(t, hang)
	c2, _ := testClient(t, func(c *Config) { c.AttemptTimeout = 20 * time.Millisecond; c.MaxAttempts = 2 })
	err := c2.Get(context.Background(), s2.url("/x"), nil, nil)
	if !sam.IsCode(err, sam.EUNAVAILABLE) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err %v", err)
	}
}
