package entra

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// DelegatedConfig configures delegated access: an administrator signs in
// once through the authorization-code flow (with PKCE) and the resulting
// refresh token is redeemed for Graph and Dataverse tokens afterwards.
type DelegatedConfig struct {
	// LoginURL is the authority host (default https://login.microsoftonline.com).
	LoginURL string
	// TenantID is the tenant GUID or a verified domain ("organizations" is
	// allowed for AuthCodeURL only).
	TenantID string
	// ClientID and ClientSecret identify the (confidential, web) app.
	ClientID     string
	ClientSecret string
	// RedirectURI is the registered reply URL of the sign-in.
	RedirectURI string
	// HTTPClient sends the token requests when Client is nil.
	HTTPClient *http.Client
	// Client sends the token requests (no TokenSource); nil builds one.
	Client *odata.Client
	// Now returns the current time (nil: time.Now).
	Now func() time.Time
}

func (cfg *DelegatedConfig) defaults() error {
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	cfg.TenantID = strings.TrimSpace(cfg.TenantID)
	cfg.ClientID = strings.TrimSpace(cfg.ClientID)
	probe := Config{LoginURL: cfg.LoginURL, TenantID: cfg.TenantID, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scope: "x/.default"}
	if strings.EqualFold(probe.TenantID, "organizations") {
		probe.TenantID = "x"
	}
	if err := validate(probe); err != nil {
		return err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: cfg.HTTPClient})
	}
	return nil
}

// PKCE is a proof key for one sign-in (RFC 7636, method S256). Keep
// Verifier secret until the code is exchanged.
type PKCE struct {
	Verifier  string
	Challenge string
}

// NewPKCE returns a fresh random verifier (43 characters) and its S256
// challenge.
func NewPKCE() (PKCE, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return PKCE{}, sam.Wrap(sam.EINTERNAL, err, "generating a PKCE verifier")
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// SignInScopes returns the scopes of an administrator sign-in for
// resource scopes such as "https://graph.microsoft.com/User.Read.All":
// openid, profile and offline_access (which yields the refresh token) are
// added.
func SignInScopes(resourceScopes ...string) []string {
	out := []string{"openid", "profile", "offline_access"}
	for _, s := range resourceScopes {
		if s = strings.TrimSpace(s); s != "" && s != "openid" && s != "profile" && s != "offline_access" {
			out = append(out, s)
		}
	}
	return out
}

// AuthCodeURL returns the authorize URL to send the administrator's browser
// to: response_type=code, response_mode=query, the scopes, state and the
// PKCE challenge; loginHint pre-fills the account ("" for none).
func AuthCodeURL(cfg DelegatedConfig, scopes []string, state string, pkce PKCE, loginHint string) (string, error) {
	if err := cfg.defaults(); err != nil {
		return "", err
	}
	if cfg.RedirectURI == "" {
		return "", sam.Errorf(sam.EINVALID, "the redirect URI of the sign-in is missing")
	}
	q := url.Values{
		"client_id":             {cfg.ClientID},
		"response_type":         {"code"},
		"response_mode":         {"query"},
		"redirect_uri":          {cfg.RedirectURI},
		"scope":                 {strings.Join(scopes, " ")},
		"state":                 {state},
		"code_challenge":        {pkce.Challenge},
		"code_challenge_method": {"S256"},
	}
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	return strings.TrimRight(cfg.LoginURL, "/") + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/authorize?" + q.Encode(), nil
}

// StoreFunc persists a refresh token (sealed, in the profile's secrets). It
// is called with the first refresh token of a sign-in and with every
// rotated one, before the access token that came with it is used.
type StoreFunc func(ctx context.Context, refreshToken string) error

// ExchangeCode redeems the authorization code of a sign-in (with the PKCE
// verifier of its request) and returns a Grant for later tokens. scopes are
// the sign-in's scopes; offline_access must be among them. The first refresh
// token goes to store. Refusals (code reused or expired, PKCE or redirect
// mismatch, no consent) are EUNAUTHORIZED errors.
func ExchangeCode(ctx context.Context, cfg DelegatedConfig, code string, pkce PKCE, scopes []string, store StoreFunc) (*Grant, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if strings.EqualFold(cfg.TenantID, "organizations") {
		return nil, sam.Errorf(sam.EINVALID, "redeeming a sign-in needs the directory (tenant) ID, not %q", cfg.TenantID)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {cfg.ClientID},
		"code":          {code},
		"redirect_uri":  {cfg.RedirectURI},
		"code_verifier": {pkce.Verifier},
		"scope":         {strings.Join(scopes, " ")},
	}
	if cfg.ClientSecret != "" {
		form.Set("client_secret", cfg.ClientSecret)
	}
	tr, err := postToken(ctx, cfg.Client, TokenURL(cfg.LoginURL, cfg.TenantID), form)
	if err != nil {
		return nil, explain(err, cfg.TenantID, cfg.ClientID, strings.Join(scopes, " "))
	}
	if tr.RefreshToken == "" {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "Microsoft Entra returned no refresh token: the sign-in must request offline_access")
	}
	if store != nil {
		if err := store(ctx, tr.RefreshToken); err != nil {
			return nil, sam.Wrap(sam.ErrorCode(err), err, "saving the refresh token of the sign-in")
		}
	}
	return &Grant{cfg: cfg, tokenURL: TokenURL(cfg.LoginURL, cfg.TenantID), refreshToken: tr.RefreshToken, store: store, sources: map[string]*DelegatedSource{}}, nil
}

// Grant is a delegated sign-in: one refresh token, redeemable for a token of
// any resource the administrator consented to (Graph, each Dataverse
// environment). Entra rotates the refresh token on every use, so
// redemptions are serialised and each new refresh token is stored before
// its access token is used. It is safe for concurrent use.
type Grant struct {
	cfg      DelegatedConfig
	tokenURL string
	store    StoreFunc

	mu           sync.Mutex // serialises redemptions
	refreshToken string
	sources      map[string]*DelegatedSource
}

// NewGrant returns a Grant for a stored refresh token. store receives the
// rotated refresh tokens (nil: not persisted). It does not contact Entra.
func NewGrant(cfg DelegatedConfig, refreshToken string, store StoreFunc) (*Grant, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if strings.EqualFold(cfg.TenantID, "organizations") {
		return nil, sam.Errorf(sam.EINVALID, "refreshing a sign-in needs the directory (tenant) ID, not %q", cfg.TenantID)
	}
	if refreshToken == "" {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "no administrator sign-in is stored: sign in to connect the profile")
	}
	return &Grant{cfg: cfg, tokenURL: TokenURL(cfg.LoginURL, cfg.TenantID), refreshToken: refreshToken, store: store, sources: map[string]*DelegatedSource{}}, nil
}

// Source returns the token source of one resource scope, e.g.
// https://graph.microsoft.com/.default or {environment URL}/.default; the
// same source for the same scope.
func (g *Grant) Source(scope string) *DelegatedSource {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.sources[scope]; ok {
		return s
	}
	s := &DelegatedSource{g: g, scope: scope}
	s.cache = tokenCache{now: g.cfg.Now, fetch: s.redeem}
	g.sources[scope] = s
	return s
}

// DelegatedSource is the odata.TokenSource of one resource of a Grant,
// caching its access token like ClientCredentialsSource.
type DelegatedSource struct {
	g     *Grant
	scope string
	cache tokenCache
}

// Token returns a cached access token or redeems the refresh token for a
// new one. An expired, revoked or invalid refresh token is EUNAUTHORIZED
// with a message asking for a new sign-in; EUNAVAILABLE when Entra could
// not be reached or the rotated refresh token could not be stored.
func (s *DelegatedSource) Token(ctx context.Context) (odata.Token, error) { return s.cache.token(ctx) }

// Invalidate drops the cached token if it is rejected.
func (s *DelegatedSource) Invalidate(rejected odata.Token) { s.cache.invalidate(rejected) }

func (s *DelegatedSource) redeem(ctx context.Context) (odata.Token, time.Duration, error) {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {g.cfg.ClientID},
		"refresh_token": {g.refreshToken},
		"scope":         {s.scope + " offline_access"},
	}
	if g.cfg.ClientSecret != "" {
		form.Set("client_secret", g.cfg.ClientSecret)
	}
	tr, err := postToken(ctx, g.cfg.Client, g.tokenURL, form)
	if err != nil {
		return odata.Token{}, 0, explain(err, g.cfg.TenantID, g.cfg.ClientID, s.scope)
	}
	if tr.RefreshToken != "" && tr.RefreshToken != g.refreshToken {
		g.refreshToken = tr.RefreshToken
		if g.store != nil {
			if err := g.store(ctx, tr.RefreshToken); err != nil {
				return odata.Token{}, 0, sam.Wrap(sam.EUNAVAILABLE, err, "saving the rotated refresh token")
			}
		}
	}
	tok, lifetime := tr.token(g.cfg.Now())
	return tok, lifetime, nil
}
