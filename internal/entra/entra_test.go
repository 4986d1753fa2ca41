package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

const (
	tenant = "48a80680-7326-48cd-9935-b556b81d3a4e"
	client = "535fb089-9ff3-47b6-9bfb-4f1264799865"
	secret = "s3cr3t~Value.With+Chars"
)

// tokenServer is a fake token endpoint. answer decides each response; it
// counts requests and checks their form.
type tokenServer struct {
	t      *testing.T
	srv    *httptest.Server
	n      atomic.Int64
	answer func(n int64, w http.ResponseWriter, r *http.Request)
}

func newTokenServer(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) *tokenServer {
	ts := &tokenServer{t: t, answer: answer}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.n.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/"+tenant+"/oauth2/v2.0/token" {
			http.Error(w, "wrong endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			http.Error(w, "content type "+ct, http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		want := map[string]string{"grant_type": "client_credentials", "client_id": client, "client_secret": secret, "scope": "https://graph.microsoft.com/.default"}
		for k, v := range want {
			if got := r.PostForm.Get(k); got != v {
				http.Error(w, fmt.Sprintf("form %s = %q", k, got), http.StatusBadRequest)
				return
			}
		}
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "unexpected Authorization header", http.StatusBadRequest)
			return
		}
		answer(n, w, r)
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func tokenAnswer(access string, expiresIn int) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":%q}`, expiresIn, expiresIn, access)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newSource(t *testing.T, ts *tokenServer, clk *clock) *ClientCredentialsSource {
	t.Helper()
	oc := odata.New(odata.Config{Service: odata.ServiceEntra, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	cfg := Config{LoginURL: ts.srv.URL, TenantID: tenant, ClientID: client, ClientSecret: secret, Scope: "https://graph.microsoft.com/.default", Client: oc}
	if clk != nil {
		cfg.Now = clk.Now
	}
	s, err := ClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientCredentialsCachesUntilShortlyBeforeExpiry(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		tokenAnswer(fmt.Sprintf("at-%d", n), 3599)(n, w, r)
	})
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	s := newSource(t, ts, clk)
	ctx := context.Background()
	tok, err := s.Token(ctx)
	if err != nil || tok.AccessToken != "at-1" || !tok.ExpiresAt.Equal(clk.Now().Add(3599*time.Second)) {
		t.Fatalf("token %v %v, %v", tok.AccessToken, tok.ExpiresAt, err)
	}
	clk.Add(54 * time.Minute) // 5 min before expiry: still cached
	if tok, _ := s.Token(ctx); tok.AccessToken != "at-1" || ts.n.Load() != 1 {
		t.Fatalf("not cached: %s after %d requests", tok.AccessToken, ts.n.Load())
	}
	clk.Add(time.Minute) // within the 5-minute margin: refreshed
	if tok, _ := s.Token(ctx); tok.AccessToken != "at-2" || ts.n.Load() != 2 {
		t.Fatalf("not refreshed: %s after %d requests", tok.AccessToken, ts.n.Load())
	}
	// An Invalidate for an older token is ignored; for the current one it
	// forces a new request.
	s.Invalidate(odata.Token{AccessToken: "at-1"})
	if tok, _ := s.Token(ctx); tok.AccessToken != "at-2" {
		t.Fatalf("stale Invalidate dropped the token: %s", tok.AccessToken)
	}
	s.Invalidate(odata.Token{AccessToken: "at-2"})
	if tok, _ := s.Token(ctx); tok.AccessToken != "at-3" || ts.n.Load() != 3 {
		t.Fatalf("Invalidate did not refresh: %s", tok.AccessToken)
	}
}

func TestConcurrentCallersShareOneRequest(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := newTokenServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		<-release
		tokenAnswer("shared", 3599)(n, w, r)
	})
	s := newSource(t, ts, nil)
	var wg sync.WaitGroup
	got := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- tok.AccessToken
		}()
	}
	for ts.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(got)
	for tok := range got {
		if tok != "shared" {
			t.Fatalf("token %q", tok)
		}
	}
	if ts.n.Load() != 1 {
		t.Fatalf("%d token requests, want 1", ts.n.Load())
	}
}

func TestCancelledWaiterDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := newTokenServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		<-release
		tokenAnswer("late", 3599)(n, w, r)
	})
	s := newSource(t, ts, nil)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := s.Token(ctx); first <- err }()
	for ts.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	second := make(chan string, 1)
	go func() { tok, _ := s.Token(context.Background()); second <- tok.AccessToken }()
	close(release)
	if tok := <-second; tok != "late" || ts.n.Load() != 1 {
		t.Fatalf("second caller got %q after %d requests", tok, ts.n.Load())
	}
}

func entraError(status int, code string, codes ...int) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		cs := make([]string, len(codes))
		for i, c := range codes {
			cs[i] = fmt.Sprint(c)
		}
		fmt.Fprintf(w, `{"error":%q,"error_description":"AADSTS%s: Something.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-11-27 12:00:00Z","error_codes":[%s],"timestamp":"2026-11-27 12:00:00Z","trace_id":"t-1","correlation_id":"c-1"}`,
			code, strings.Join(cs, ""), strings.Join(cs, ","))
	}
}

func TestTokenErrorsSpeakToTheAdmin(t *testing.T) {
	t.Parallel()
	scopeFixture, err := os.ReadFile("testdata/entra-token-error-invalid_scope-clientcredentials.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		answer func(int64, http.ResponseWriter, *http.Request)
		kind   sam.Code
		words  []string
		codes  []int
	}{
		{"bad secret", entraError(401, "invalid_client", 7000215), sam.EUNAUTHORIZED, []string{"rejected the client secret", "Value (not its Secret ID)", client}, []int{7000215}},
		{"expired secret", entraError(401, "invalid_client", 7000222), sam.EUNAUTHORIZED, []string{"has expired", "create a new client secret"}, []int{7000222}},
		{"unknown app", entraError(400, "unauthorized_client", 700016), sam.EUNAUTHORIZED, []string{"application " + client + " was not found in tenant " + tenant}, []int{700016}},
		{"unknown tenant", entraError(400, "invalid_request", 90002), sam.EUNAUTHORIZED, []string{"tenant " + tenant + " was not found"}, []int{90002}},
		{"invalid scope (docs fixture)", func(_ int64, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			w.Write(scopeFixture)
		}, sam.EUNAUTHORIZED, []string{"does not accept the scope https://graph.microsoft.com/.default"}, []int{70011}},
		{"unlisted code", entraError(401, "invalid_client", 70002), sam.EUNAUTHORIZED, []string{"rejected the credentials", "invalid_client"}, []int{70002}},
		{"no JSON", func(_ int64, w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", 404) }, sam.EUNAUTHORIZED, []string{"HTTP 404", "login URL"}, nil},
		{"Entra down", func(_ int64, w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) }, sam.EUNAVAILABLE, []string{"signing in to Microsoft Entra", "HTTP 503"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, tt.answer)
			s := newSource(t, ts, nil)
			_, err := s.Token(context.Background())
			if got := sam.ErrorCode(err); got != tt.kind {
				t.Fatalf("code %q, want %q: %v", got, tt.kind, err)
			}
			msg := err.Error()
			for _, w := range tt.words {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "s3cr3t") {
				t.Fatalf("message leaks the secret: %s", msg)
			}
			oe, ok := odata.AsError(err)
			if !ok || oe.Service != odata.ServiceEntra || fmt.Sprint(oe.ErrorCodes) != fmt.Sprint(tt.codes) {
				t.Fatalf("odata error %+v", oe)
			}
			// A failed token is not cached: the next call asks again.
			before := ts.n.Load()
			s.Token(context.Background())
			if ts.n.Load() == before {
				t.Fatal("failure was cached")
			}
		})
	}
}

func TestTokenEndpointRetriedWhenUnavailable(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			entraError(503, "temporarily_unavailable")(n, w, r)
			return
		}
		tokenAnswer("after-retry", 3599)(n, w, r)
	})
	s := newSource(t, ts, nil)
	tok, err := s.Token(context.Background())
	if err != nil || tok.AccessToken != "after-retry" || ts.n.Load() != 2 {
		t.Fatalf("token %q, err %v, %d requests", tok.AccessToken, err, ts.n.Load())
	}
}

func TestEndToEndRefreshAfter401(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		tokenAnswer(fmt.Sprintf("at-%d", n), 3599)(n, w, r)
	})
	s := newSource(t, ts, nil)
	// The resource server has revoked at-1 (e.g. the token expired early).
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-2" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`)
			return
		}
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer api.Close()
	c := odata.New(odata.Config{Service: odata.ServiceGraph, Tokens: s})
	if _, err := c.GetPage(context.Background(), api.URL+"/v1.0/users", nil); err != nil {
		t.Fatal(err)
	}
	if ts.n.Load() != 2 {
		t.Fatalf("%d token requests, want 2", ts.n.Load())
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	good := Config{TenantID: tenant, ClientID: client, ClientSecret: secret, Scope: "https://graph.microsoft.com/.default"}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"valid, default login URL", func(*Config) {}, true},
		{"loopback http", func(c *Config) { c.LoginURL = "http://127.0.0.1:8080" }, true},
		{"remote http", func(c *Config) { c.LoginURL = "http://login.example.com" }, false},
		{"common", func(c *Config) { c.TenantID = "common" }, false},
		{"Organizations", func(c *Config) { c.TenantID = "Organizations" }, false},
		{"no tenant", func(c *Config) { c.TenantID = " " }, false},
		{"no client", func(c *Config) { c.ClientID = "" }, false},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, false},
		{"delegated scope", func(c *Config) { c.Scope = "https://graph.microsoft.com/User.Read.All" }, false},
		{"two scopes", func(c *Config) { c.Scope = "openid https://graph.microsoft.com/.default" }, false},
		{"not a URL", func(c *Config) { c.LoginURL = "::" }, false},
	}
	for _, tt := range tests {
		cfg := good
		tt.mod(&cfg)
		_, err := ClientCredentials(cfg)
		if (err == nil) != tt.ok || (err != nil && !sam.IsCode(err, sam.EINVALID)) {
			t.Errorf("%s: err %v", tt.name, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks the secret", tt.name)
		}
	}
}

func TestParseTokenResponse(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"entra-token-response-clientcredentials.json", "entra-token-response-authcode.json"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseTokenResponse(b)
		if err != nil || r.ExpiresIn != 3599*time.Second || !strings.HasPrefix(r.AccessToken, "eyJ0eXAi") {
			t.Fatalf("%s: %+v %v", f, r.ExpiresIn, err)
		}
		if f == "entra-token-response-authcode.json" && (r.RefreshToken == "" || r.IDToken == "") {
			t.Fatalf("%s: refresh/id token missing", f)
		}
	}
	tests := []struct {
		body string
		exp  time.Duration
		ok   bool
	}{
		{`{"access_token":"a","token_type":"bearer","expires_in":"3599"}`, 3599 * time.Second, true},
		{`{"access_token":"a","expires_in":60.5}`, 60500 * time.Millisecond, true},
		{`{"access_token":"a","token_type":"Bearer"}`, 0, true},
		{`{"token_type":"Bearer","expires_in":3599}`, 0, false},
		{`{"access_token":"a","token_type":"mac"}`, 0, false},
		{`{"access_token":"a","expires_in":"soon"}`, 0, false},
		{`{"access_token":"a","expires_in":-5}`, 0, false},
		{`{"access_token":"a"`, 0, false},
	}
	for _, tt := range tests {
		r, err := ParseTokenResponse([]byte(tt.body))
		if (err == nil) != tt.ok || (tt.ok && r.ExpiresIn != tt.exp) {
			t.Errorf("ParseTokenResponse(%s) = %+v, %v", tt.body, r.ExpiresIn, err)
		}
	}
}

func TestScopeAndTokenURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://graph.microsoft.com/v1.0":               "https://graph.microsoft.com/.default",
		"https://contoso.crm4.dynamics.com/":             "https://contoso.crm4.dynamics.com/.default",
		"https://contoso.crm.dynamics.com/api/data/v9.2": "https://contoso.crm.dynamics.com/.default",
		"https://127.0.0.1:8443":                         "https://127.0.0.1:8443/.default",
	} {
		if got := Scope(in); got != want {
			t.Errorf("Scope(%q) = %q, want %q", in, got, want)
		}
	}
	if got := TokenURL("https://login.microsoftonline.com/", tenant); got != "https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token" {
		t.Errorf("TokenURL = %q", got)
	}
}
