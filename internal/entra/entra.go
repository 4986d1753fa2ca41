// Package entra obtains access tokens from the Microsoft identity platform
// (Entra ID) v2.0 token endpoint for the Graph and Dataverse clients.
//
// ClientCredentials is the app-only source (client-credentials grant with a
// client secret, one resource scope "{resource}/.default" per source).
// Delegated access is an administrator's sign-in (AuthCodeURL with PKCE,
// ExchangeCode) kept as a Grant whose refresh token is redeemed, and rotated,
// for each resource (Grant.Source). Both are odata.TokenSources, the seam
// through which any sign-in mode (certificates later) plugs into the
// Graph and Dataverse clients. Every source caches its token until shortly
// before expiry and shares one refresh between concurrent callers.
//
// The token request is written directly on odata.Client rather than with
// golang.org/x/oauth2/clientcredentials, because (1) the request then shares
// the one retry policy (Retry-After, backoff, counters) of every other
// Microsoft request, (2) x/oauth2's RetrieveError carries the raw response
// body and does not expose error_codes, which we need to tell a wrong secret
// (AADSTS7000215) from an expired one (7000222) or an unknown app (700016),
// and (3) we control exactly what an error may contain: never the secret,
// never a token.
package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultLoginURL is the public-cloud authority host.
const DefaultLoginURL = "https://login.microsoftonline.com"

// Config configures a client-credentials token source.
type Config struct {
	// LoginURL is the authority host (default https://login.microsoftonline.com).
	// It must be https, except for loopback hosts (tests).
	LoginURL string
	// TenantID is the tenant GUID or a verified domain; "common",
	// "organizations" and "consumers" are refused (app-only needs a tenant).
	TenantID string
	// ClientID is the application (client) id.
	ClientID string
	// ClientSecret is the secret's value (not its id).
	ClientSecret string
	// Certificate, when set, authenticates the application with a client
	// assertion signed by its certificate instead of ClientSecret.
	Certificate *Certificate
	// Scope is "{resource}/.default", e.g. https://graph.microsoft.com/.default
	// or https://contoso.crm.dynamics.com/.default (see Scope).
	Scope string
	// HTTPClient sends the token requests when Client is nil (nil: system
	// roots, see odata.NewHTTPClient).
	HTTPClient *http.Client
	// Client sends the token requests, with its retry policy and counters;
	// nil builds one from HTTPClient. It must have no TokenSource.
	Client *odata.Client
	// Now returns the current time (nil: time.Now); tests fake expiry.
	Now func() time.Time
}

// Scope returns the app-only scope of a resource: its scheme and host
// followed by "/.default" ("https://contoso.crm.dynamics.com/api/data/v9.2"
// gives "https://contoso.crm.dynamics.com/.default").
func Scope(resourceURL string) string {
	u, err := url.Parse(strings.TrimSpace(resourceURL))
	if err != nil || u.Host == "" {
		return strings.TrimRight(resourceURL, "/") + "/.default"
	}
	return u.Scheme + "://" + u.Host + "/.default"
}

// TokenURL returns the v2.0 token endpoint of tenant at loginURL.
func TokenURL(loginURL, tenant string) string {
	if loginURL == "" {
		loginURL = DefaultLoginURL
	}
	return strings.TrimRight(loginURL, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// ClientCredentialsSource is an odata.TokenSource for app-only access with a
// client secret. Tokens are cached until shortly before they expire;
// concurrent callers share one request to the token endpoint. It is safe for
// concurrent use.
type ClientCredentialsSource struct {
	cfg      Config
	tokenURL string
	client   *odata.Client
	cache    tokenCache
}

// tokenCache caches one access token and makes concurrent callers share one
// fetch. fetch returns the token and its lifetime.
type tokenCache struct {
	now   func() time.Time
	fetch func(ctx context.Context) (odata.Token, time.Duration, error)

	mu       sync.Mutex
	tok      odata.Token
	refresh  time.Time // when to fetch a new token
	inflight *call
}

type call struct {
	done chan struct{}
	tok  odata.Token
	err  error
}

// token returns the cached token or fetches one: when none is cached or the
// cached one expires soon (within a quarter of its lifetime, at most five
// minutes). Callers arriving during a fetch wait for it (or their ctx).
func (c *tokenCache) token(ctx context.Context) (odata.Token, error) {
	c.mu.Lock()
	if c.tok.AccessToken != "" && c.now().Before(c.refresh) {
		t := c.tok
		c.mu.Unlock()
		return t, nil
	}
	cl := c.inflight
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		c.inflight = cl
		// The fetch outlives the caller that started it, so that one
		// caller's cancellation does not fail the others waiting for it.
		go c.run(context.WithoutCancel(ctx), cl)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.tok, cl.err
	case <-ctx.Done():
		return odata.Token{}, sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "waiting for a token from Microsoft Entra")
	}
}

func (c *tokenCache) run(ctx context.Context, cl *call) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := c.now()
	tok, lifetime, err := c.fetch(ctx)
	c.mu.Lock()
	if err == nil {
		margin := min(lifetime/4, 5*time.Minute)
		c.tok = tok
		c.refresh = start.Add(lifetime - margin)
	}
	cl.tok, cl.err = tok, err
	c.inflight = nil
	c.mu.Unlock()
	close(cl.done)
}

// invalidate drops the cached token if it is the rejected one.
func (c *tokenCache) invalidate(rejected odata.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.AccessToken != "" && c.tok.AccessToken == rejected.AccessToken {
		c.tok = odata.Token{}
	}
}

// ClientCredentials returns a token source for cfg. It does not contact
// Entra; a Config that cannot work (missing tenant, client id, secret or
// scope, a multi-tenant alias, a non-https authority) is an EINVALID error.
func ClientCredentials(cfg Config) (*ClientCredentialsSource, error) {
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	cfg.TenantID = strings.TrimSpace(cfg.TenantID)
	cfg.ClientID = strings.TrimSpace(cfg.ClientID)
	cfg.Scope = strings.TrimSpace(cfg.Scope)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := cfg.Client
	if c == nil {
		c = odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: cfg.HTTPClient})
	}
	s := &ClientCredentialsSource{cfg: cfg, tokenURL: TokenURL(cfg.LoginURL, cfg.TenantID), client: c}
	s.cache = tokenCache{now: cfg.Now, fetch: s.request}
	return s, nil
}

func validate(cfg Config) error {
	u, err := url.Parse(cfg.LoginURL)
	if err != nil || u.Host == "" {
		return sam.Errorf(sam.EINVALID, "login URL %q is not a URL", cfg.LoginURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return sam.Errorf(sam.EINVALID, "login URL %s must use https", cfg.LoginURL)
	}
	switch strings.ToLower(cfg.TenantID) {
	case "":
		return sam.Errorf(sam.EINVALID, "the tenant ID is missing")
	case "common", "organizations", "consumers":
		return sam.Errorf(sam.EINVALID, "tenant %q is a multi-tenant alias; app-only sign-in needs the directory (tenant) ID", cfg.TenantID)
	}
	if cfg.ClientID == "" {
		return sam.Errorf(sam.EINVALID, "the application (client) ID is missing")
	}
	if cfg.ClientSecret == "" && cfg.Certificate == nil {
		return sam.Errorf(sam.EINVALID, "the client secret is missing")
	}
	if !strings.HasSuffix(cfg.Scope, "/.default") || strings.ContainsAny(cfg.Scope, " \t") {
		return sam.Errorf(sam.EINVALID, "scope %q must be one resource followed by /.default", cfg.Scope)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Token returns a cached token, or fetches one when none is cached or the
// cached one expires soon (within a quarter of its lifetime, at most five
// minutes). Callers arriving during a fetch wait for it (or their ctx). A
// rejected request is an *sam.Error: EUNAUTHORIZED with a message an admin
// can act on (wrong or expired secret, unknown application or tenant),
// EUNAVAILABLE when Entra could not be reached. Errors wrap an *odata.Error
// and never contain the secret.
func (s *ClientCredentialsSource) Token(ctx context.Context) (odata.Token, error) {
	return s.cache.token(ctx)
}

// Invalidate drops the cached token if it is rejected, so that the next
// Token call fetches a new one.
func (s *ClientCredentialsSource) Invalidate(rejected odata.Token) { s.cache.invalidate(rejected) }

// TokenResponse is the token endpoint's success answer.
type TokenResponse struct {
	AccessToken  string
	TokenType    string
	ExpiresIn    time.Duration
	ExtExpiresIn time.Duration
	Scope        string
	RefreshToken string
	IDToken      string
}

// ParseTokenResponse decodes a token endpoint answer. expires_in and
// ext_expires_in may be JSON numbers or strings of seconds; token_type must
// be Bearer in any case; access_token must be present.
func ParseTokenResponse(body []byte) (TokenResponse, error) {
	var raw struct {
		AccessToken  string          `json:"access_token"`
		TokenType    string          `json:"token_type"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		ExtExpiresIn json.RawMessage `json:"ext_expires_in"`
		Scope        string          `json:"scope"`
		RefreshToken string          `json:"refresh_token"`
		IDToken      string          `json:"id_token"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return TokenResponse{}, err
	}
	if raw.AccessToken == "" {
		return TokenResponse{}, errors.New("token response has no access_token")
	}
	if raw.TokenType != "" && !strings.EqualFold(raw.TokenType, "bearer") {
		return TokenResponse{}, fmt.Errorf("token type %q is not Bearer", raw.TokenType)
	}
	exp, err := seconds(raw.ExpiresIn)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("expires_in: %w", err)
	}
	ext, err := seconds(raw.ExtExpiresIn)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("ext_expires_in: %w", err)
	}
	return TokenResponse{
		AccessToken: raw.AccessToken, TokenType: raw.TokenType, ExpiresIn: exp, ExtExpiresIn: ext,
		Scope: raw.Scope, RefreshToken: raw.RefreshToken, IDToken: raw.IDToken,
	}, nil
}

// seconds decodes a number or a numeric string of seconds; absent is 0.
func seconds(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 || n > 1e7 {
		return 0, fmt.Errorf("%s is not a number of seconds", raw)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// defaultLifetime is assumed when Entra omits expires_in.
const defaultLifetime = time.Hour

func (s *ClientCredentialsSource) request(ctx context.Context) (odata.Token, time.Duration, error) {
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {s.cfg.ClientID},
		"scope":      {s.cfg.Scope},
	}
	if s.cfg.Certificate != nil {
		// A fresh assertion per request: each has its own jti and lifetime.
		a, err := s.cfg.Certificate.Assertion(s.cfg.ClientID, s.tokenURL, s.cfg.Now())
		if err != nil {
			return odata.Token{}, 0, err
		}
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", a)
	} else {
		form.Set("client_secret", s.cfg.ClientSecret)
	}
	tr, err := postToken(ctx, s.client, s.tokenURL, form)
	if err != nil {
		return odata.Token{}, 0, explain(err, s.cfg.TenantID, s.cfg.ClientID, s.cfg.Scope)
	}
	tok, lifetime := tr.token(s.cfg.Now())
	return tok, lifetime, nil
}

// postToken sends a token request and decodes the answer; a malformed
// answer is retried like a dropped connection.
func postToken(ctx context.Context, c *odata.Client, tokenURL string, form url.Values) (TokenResponse, error) {
	var tr TokenResponse
	err := c.Send(ctx, &odata.Request{
		Method: http.MethodPost, URL: tokenURL, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", Idempotent: true,
		Decode: func(_ int, _ http.Header, body []byte) error {
			r, err := ParseTokenResponse(body)
			tr = r
			return err
		},
	})
	return tr, err
}

// token returns the access token of r, expiring after its lifetime from now
// (an hour when Entra did not say).
func (r TokenResponse) token(now time.Time) (odata.Token, time.Duration) {
	lifetime := r.ExpiresIn
	if lifetime <= 0 {
		lifetime = defaultLifetime
	}
	return odata.Token{AccessToken: r.AccessToken, ExpiresAt: now.Add(lifetime)}, lifetime
}

// explain turns a failed token request into an error in a tenant admin's
// words: EUNAUTHORIZED for a refusal, the odata kind (EUNAVAILABLE) when
// Entra could not be reached or failed (any 5xx).
func explain(err error, tenant, clientID, scope string) error {
	oe, ok := odata.AsError(err)
	if !ok {
		return err
	}
	if oe.Status == 0 || oe.Retryable() || oe.Status >= 500 {
		return sam.Wrap(oe.Kind(), oe, "signing in to Microsoft Entra (tenant %s, application %s) failed", tenant, clientID)
	}
	msg := Explain(oe.Code, oe.ErrorCodes, tenant, clientID, scope)
	if msg == "" {
		msg = fmt.Sprintf("Microsoft Entra refused the sign-in of application %s in tenant %s (HTTP %d): check the login URL and tenant ID", clientID, tenant, oe.Status)
	}
	return &sam.Error{Code: sam.EUNAUTHORIZED, Message: msg, Err: oe}
}

// Explain returns a message for an Entra token error (error and
// error_codes) that a tenant administrator can act on, naming the tenant,
// the application and the scope; "" when errCode is empty. It never branches
// on error_description.
func Explain(errCode string, codes []int, tenant, clientID, scope string) string {
	has := func(want ...int) bool {
		for _, c := range codes {
			for _, w := range want {
				if c == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has(700027):
		return fmt.Sprintf("Microsoft Entra did not accept the certificate of application %s: upload the certificate (its public part, .cer or .pem) under Certificates & secrets of the app registration, or check that the profile holds the matching private key", clientID)
	case has(700024):
		return fmt.Sprintf("Microsoft Entra found the client assertion of application %s outside its validity: check this machine's clock", clientID)
	case has(7000215):
		return fmt.Sprintf("Microsoft Entra rejected the client secret of application %s: enter the secret's Value (not its Secret ID) from Certificates & secrets of the app registration", clientID)
	case has(7000222):
		return fmt.Sprintf("the client secret of application %s has expired: create a new client secret in the app registration (Certificates & secrets) and update the profile", clientID)
	case has(700016, 700011):
		return fmt.Sprintf("application %s was not found in tenant %s: check the Application (client) ID, and that the app is registered in or consented to by this tenant", clientID, tenant)
	case has(90002):
		return fmt.Sprintf("tenant %s was not found: check the Directory (tenant) ID", tenant)
	case has(7000112):
		return fmt.Sprintf("application %s is disabled in tenant %s: enable it under Enterprise applications", clientID, tenant)
	case has(70011):
		return fmt.Sprintf("Microsoft Entra does not accept the scope %s: check the Graph or Dataverse URL of the profile", scope)
	case has(53003):
		return fmt.Sprintf("a Conditional Access policy of tenant %s blocks application %s", tenant, clientID)
	case has(65001):
		return fmt.Sprintf("application %s has no admin consent in tenant %s for %s: grant admin consent to its API permissions", clientID, tenant, scope)
	case has(70008, 700082):
		return fmt.Sprintf("the administrator's sign-in to tenant %s expired after a long time unused: sign in again to reconnect", tenant)
	case has(50173):
		return fmt.Sprintf("the administrator's sign-in to tenant %s was revoked (password change or sessions revoked): sign in again to reconnect", tenant)
	case has(70043):
		return fmt.Sprintf("a Conditional Access sign-in frequency policy of tenant %s requires a new sign-in: sign in again to reconnect", tenant)
	case has(50057):
		return fmt.Sprintf("the signed-in administrator's account in tenant %s is disabled: sign in with another account", tenant)
	case has(54005):
		return "this sign-in code was already used: start the sign-in again"
	case has(501481, 50148):
		return "the sign-in response does not belong to this sign-in request (PKCE verifier or redirect URI mismatch): start the sign-in again"
	case has(70000, 9002313) && errCode == "invalid_grant":
		return fmt.Sprintf("the stored sign-in for tenant %s is not valid: sign in again to reconnect", tenant)
	case has(500011):
		return fmt.Sprintf("the resource of scope %s is not available in tenant %s: check the environment URL, and that the tenant has Dynamics 365 or Power Apps", scope, tenant)
	}
	switch errCode {
	case "":
		return ""
	case "invalid_client":
		return fmt.Sprintf("Microsoft Entra rejected the credentials of application %s (invalid_client): check the client secret", clientID)
	case "unauthorized_client":
		return fmt.Sprintf("application %s may not sign in to tenant %s (unauthorized_client): check the Application (client) ID and tenant", clientID, tenant)
	case "invalid_scope":
		return fmt.Sprintf("Microsoft Entra does not accept the scope %s", scope)
	case "invalid_request":
		return fmt.Sprintf("Microsoft Entra refused the sign-in request for tenant %s (invalid_request): check the tenant ID", tenant)
	case "invalid_grant", "interaction_required", "consent_required":
		return fmt.Sprintf("Microsoft Entra refused the sign-in of application %s in tenant %s (%s): sign in again or grant admin consent", clientID, tenant, errCode)
	}
	return fmt.Sprintf("Microsoft Entra refused the sign-in of application %s in tenant %s (%s)", clientID, tenant, errCode)
}
