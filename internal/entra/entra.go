// Package entra obtains access tokens from the Microsoft identity platform
// (Entra ID) v2.0 token endpoint for the Graph and Dataverse clients.
//
// ClientCredentials is the app-only source (client-credentials grant with a
// client secret, one resource scope "{resource}/.default" per source). The
// seam for other sign-in modes is odata.TokenSource: a delegated source
// (refresh-token grant) implements the same two methods and plugs into the
// same clients.
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
	return &ClientCredentialsSource{cfg: cfg, tokenURL: TokenURL(cfg.LoginURL, cfg.TenantID), client: c}, nil
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
	if cfg.ClientSecret == "" {
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
	s.mu.Lock()
	if s.tok.AccessToken != "" && s.cfg.Now().Before(s.refresh) {
		t := s.tok
		s.mu.Unlock()
		return t, nil
	}
	c := s.inflight
	if c == nil {
		c = &call{done: make(chan struct{})}
		s.inflight = c
		// The fetch outlives the caller that started it, so that one
		// caller's cancellation does not fail the others waiting for it.
		go s.fetch(context.WithoutCancel(ctx), c)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.tok, c.err
	case <-ctx.Done():
		return odata.Token{}, sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "waiting for a token from Microsoft Entra")
	}
}

// Invalidate drops the cached token if it is rejected, so that the next
// Token call fetches a new one.
func (s *ClientCredentialsSource) Invalidate(rejected odata.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken != "" && s.tok.AccessToken == rejected.AccessToken {
		s.tok = odata.Token{}
	}
}

func (s *ClientCredentialsSource) fetch(ctx context.Context, c *call) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := s.cfg.Now()
	tok, lifetime, err := s.request(ctx)
	s.mu.Lock()
	if err == nil {
		margin := lifetime / 4
		if margin > 5*time.Minute {
			margin = 5 * time.Minute
		}
		s.tok = tok
		s.refresh = start.Add(lifetime - margin)
	}
	c.tok, c.err = tok, err
	s.inflight = nil
	s.mu.Unlock()
	close(c.done)
}

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
		"grant_type":    {"client_credentials"},
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret},
		"scope":         {s.cfg.Scope},
	}
	var tr TokenResponse
	err := s.client.Send(ctx, &odata.Request{
		Method: http.MethodPost, URL: s.tokenURL, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", Idempotent: true,
		Decode: func(_ int, _ http.Header, body []byte) error {
			r, err := ParseTokenResponse(body)
			tr = r
			return err
		},
	})
	if err != nil {
		return odata.Token{}, 0, s.explain(err)
	}
	lifetime := tr.ExpiresIn
	if lifetime <= 0 {
		lifetime = defaultLifetime
	}
	return odata.Token{AccessToken: tr.AccessToken, ExpiresAt: s.cfg.Now().Add(lifetime)}, lifetime, nil
}

// explain turns a failed token request into an error in a tenant admin's
// words.
func (s *ClientCredentialsSource) explain(err error) error {
	oe, ok := odata.AsError(err)
	if !ok {
		return err
	}
	msg := Explain(oe.Code, oe.ErrorCodes, s.cfg.TenantID, s.cfg.ClientID, s.cfg.Scope)
	if oe.Status == 0 || oe.Retryable() {
		return sam.Wrap(oe.Kind(), oe, "signing in to Microsoft Entra (tenant %s, application %s) failed", s.cfg.TenantID, s.cfg.ClientID)
	}
	if msg == "" {
		msg = fmt.Sprintf("Microsoft Entra refused the sign-in of application %s in tenant %s (HTTP %d): check the login URL and tenant ID", s.cfg.ClientID, s.cfg.TenantID, oe.Status)
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
