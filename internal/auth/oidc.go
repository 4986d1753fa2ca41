package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// OpenID Connect sign-in with Entra ID (or any OpenID provider publishing
// discovery and a JWKS): the authorization code flow with PKCE (S256), a
// state bound to the browser and a nonce bound to the id_token. The id_token
// is accepted only when its RS256 signature verifies against the provider's
// published keys and its issuer, audience, expiry, not-before and nonce are
// right. The signed-in person is the pair (issuer, subject), linked to a
// local account (see Service.OIDCUser).

// OIDCConfig configures OpenID Connect sign-in.
type OIDCConfig struct {
	// Issuer is the provider's issuer, exactly as its id_tokens carry it,
	// e.g. https://login.microsoftonline.com/{tenant id}/v2.0. Discovery is
	// read from Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID is the application (client) id of the app registration.
	ClientID string
	// ClientSecret is the app registration's client secret; empty for a
	// public client (PKCE alone).
	ClientSecret string
	// RedirectURL is this server's callback, registered with the provider:
	// https://seatwise.example.com/auth/oidc/callback.
	RedirectURL string
	// DefaultRole is the role of an account created at a first sign-in
	// that no rule matches; "" creates no such account (the person is
	// refused until an administrator creates one or a rule matches).
	DefaultRole Role
	// Rules give roles to people by claims; the first match wins.
	Rules []OIDCRule
	// HTTPClient reaches the provider (http.DefaultClient when nil).
	HTTPClient *http.Client
	// Now is the clock (time.Now when nil); Leeway the clock skew allowed
	// on exp, nbf and iat (default 2 minutes).
	Now    func() time.Time
	Leeway time.Duration
}

// OIDCRule gives Role to a person whose claim matches Value: "domain"
// matches the domain of preferred_username (or email), "groups" and
// "roles" match one element of those array claims, any other claim name its
// string value. Values compare case-insensitively.
type OIDCRule struct {
	Claim string
	Value string
	Role  Role
}

// ParseOIDCRules parses rules written "claim:value=role", separated by
// commas or new lines, e.g. "domain:contoso.com=viewer,
// groups:2f1c…=sam_manager". EINVALID for a malformed rule or an unknown
// role.
func ParseOIDCRules(s string) ([]OIDCRule, error) {
	var out []OIDCRule
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lhs, role, ok := strings.Cut(part, "=")
		claim, value, ok2 := strings.Cut(lhs, ":")
		if !ok || !ok2 || strings.TrimSpace(claim) == "" || strings.TrimSpace(value) == "" {
			return nil, sam.Errorf(sam.EINVALID, "OIDC role rule %q: want claim:value=role, e.g. domain:contoso.com=viewer", part)
		}
		r, err := ParseRole(strings.TrimSpace(role))
		if err != nil {
			return nil, sam.Errorf(sam.EINVALID, "OIDC role rule %q: %s", part, sam.ErrorMessage(err))
		}
		out = append(out, OIDCRule{Claim: strings.TrimSpace(claim), Value: strings.TrimSpace(value), Role: r})
	}
	return out, nil
}

// IDClaims are the claims of a verified id_token that sign-in uses; Raw
// holds them all.
type IDClaims struct {
	Issuer            string
	Subject           string
	Audience          []string
	Expiry            time.Time
	Nonce             string
	PreferredUsername string
	Email             string
	Name              string
	TenantID          string
	Groups            []string
	Roles             []string
	Raw               map[string]any
}

// oidcScope is what sign-in asks for: the id_token (openid) with the
// person's names, and User.Read, the permission every Entra app
// registration holds by default (Entra issues an access token for one
// resource with every sign-in).
const oidcScope = "openid profile email User.Read"

// OIDCFlow is one sign-in in progress: what the callback needs to finish
// it. Keep it server-side (never in the URL): Verifier is a secret.
type OIDCFlow struct {
	State    string
	Nonce    string
	Verifier string
	Next     string // where to go after sign-in
	Started  time.Time
}

// OIDC signs people in with an OpenID provider. Create it with NewOIDC;
// it is safe for concurrent use.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	disc     *oidcDiscovery
	keys     map[string]*rsa.PublicKey
	keysAt   time.Time
	fetchErr time.Time
}

type oidcDiscovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
}

// NewOIDC checks cfg and returns the provider client. It contacts nothing
// yet: discovery is read at the first sign-in. EINVALID for a missing or
// malformed setting.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	cfg.Issuer = strings.TrimRight(strings.TrimSpace(cfg.Issuer), "/")
	for _, f := range [][2]string{{"issuer", cfg.Issuer}, {"redirect URL", cfg.RedirectURL}} {
		if err := checkOIDCURL(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, sam.Errorf(sam.EINVALID, "OIDC client id is required (the app registration's application id)")
	}
	if cfg.DefaultRole != "" {
		if _, err := ParseRole(string(cfg.DefaultRole)); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 2 * time.Minute
	}
	return &OIDC{cfg: cfg}, nil
}

func isLoopback(h string) bool { return h == "127.0.0.1" || h == "::1" || h == "localhost" }

// SetRedirectURL changes the callback URL (for a server that learns its
// address when it starts listening). Call it before the first sign-in.
// EINVALID for a URL that is not absolute https (http on loopback).
func (o *OIDC) SetRedirectURL(u string) error {
	if err := checkOIDCURL("redirect URL", u); err != nil {
		return err
	}
	o.mu.Lock()
	o.cfg.RedirectURL = u
	o.mu.Unlock()
	return nil
}

func (o *OIDC) redirectURL() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg.RedirectURL
}

func checkOIDCURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return sam.Errorf(sam.EINVALID, "OIDC %s %q: want an absolute https URL (http only on loopback)", name, v)
	}
	return nil
}

// Issuer returns the configured issuer.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

func (o *OIDC) now() time.Time {
	if o.cfg.Now != nil {
		return o.cfg.Now()
	}
	return time.Now()
}

// getJSON fetches a small JSON document of the provider.
func (o *OIDC) getJSON(ctx context.Context, what, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "OIDC %s URL %q", what, u)
	}
	res, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "OIDC provider unreachable (%s)", what)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "OIDC provider: read %s", what)
	}
	if res.StatusCode != http.StatusOK {
		return sam.Errorf(sam.EUNAVAILABLE, "OIDC provider answered %s with HTTP %d", what, res.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return sam.Errorf(sam.EUNAVAILABLE, "OIDC provider: %s is not the JSON expected: %v", what, err)
	}
	return nil
}

// discovery returns the provider's metadata, read once.
func (o *OIDC) discovery(ctx context.Context) (*oidcDiscovery, error) {
	o.mu.Lock()
	d := o.disc
	o.mu.Unlock()
	if d != nil {
		return d, nil
	}
	var nd oidcDiscovery
	if err := o.getJSON(ctx, "discovery", o.cfg.Issuer+"/.well-known/openid-configuration", &nd); err != nil {
		return nil, err
	}
	if nd.Issuer != o.cfg.Issuer {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "OIDC discovery names issuer %q, not the configured %q", nd.Issuer, o.cfg.Issuer)
	}
	if nd.AuthorizationEndpoint == "" || nd.TokenEndpoint == "" || nd.JWKSURI == "" {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "OIDC discovery lacks the authorization, token or keys endpoint")
	}
	o.mu.Lock()
	o.disc = &nd
	o.mu.Unlock()
	return &nd, nil
}

// key returns the signing key kid, reading the JWKS when the key is not
// known (at most once per 10 seconds, so that forged kids cannot make the
// server hammer the provider).
func (o *OIDC) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	o.mu.Lock()
	k, ok := o.keys[kid]
	fresh := time.Since(o.keysAt) < 10*time.Second
	o.mu.Unlock()
	if ok {
		return k, nil
	}
	if fresh {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "id_token signed with an unknown key")
	}
	d, err := o.discovery(ctx)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []struct {
			Kty, Use, Kid, N, E, Alg string
		} `json:"keys"`
	}
	if err := o.getJSON(ctx, "signing keys", d.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, jk := range set.Keys {
		if jk.Kty != "RSA" || (jk.Use != "" && jk.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(jk.N)
		e, err2 := base64.RawURLEncoding.DecodeString(jk.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pk.N.BitLen() < 2048 {
			continue
		}
		keys[jk.Kid] = pk
	}
	o.mu.Lock()
	o.keys, o.keysAt = keys, time.Now()
	o.mu.Unlock()
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, sam.Errorf(sam.EUNAUTHORIZED, "id_token signed with an unknown key")
}

// Start begins a sign-in: it returns the provider's authorization URL to
// send the browser to and the flow to keep until the callback.
func (o *OIDC) Start(ctx context.Context, next string) (string, *OIDCFlow, error) {
	d, err := o.discovery(ctx)
	if err != nil {
		return "", nil, err
	}
	f := &OIDCFlow{State: RandomSecret(""), Nonce: RandomSecret(""), Verifier: RandomSecret(""), Next: next, Started: o.now()}
	sum := sha256.Sum256([]byte(f.Verifier))
	q := url.Values{
		"client_id":             {o.cfg.ClientID},
		"response_type":         {"code"},
		"redirect_uri":          {o.redirectURL()},
		"response_mode":         {"query"},
		"scope":                 {oidcScope},
		"state":                 {f.State},
		"nonce":                 {f.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(d.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	return d.AuthorizationEndpoint + sep + q.Encode(), f, nil
}

// Finish redeems the authorization code of flow f at the token endpoint and
// returns the verified claims of its id_token. EUNAUTHORIZED when the
// provider refuses the code or the id_token does not verify.
func (o *OIDC) Finish(ctx context.Context, f *OIDCFlow, code string) (*IDClaims, error) {
	if code == "" {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "the provider's answer has no authorization code")
	}
	d, err := o.discovery(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {o.redirectURL()},
		"client_id":     {o.cfg.ClientID},
		"code_verifier": {f.Verifier},
		"scope":         {oidcScope},
	}
	if o.cfg.ClientSecret != "" {
		form.Set("client_secret", o.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, sam.Wrap(sam.EINTERNAL, err, "OIDC token request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "OIDC provider unreachable (token endpoint)")
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "OIDC provider: read the token answer")
	}
	var tr struct {
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "OIDC token endpoint answered HTTP %d without JSON", res.StatusCode)
	}
	if res.StatusCode != http.StatusOK || tr.Error != "" {
		desc, _, _ := strings.Cut(tr.Description, "\r\n")
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "the provider refused the sign-in: %s %s", tr.Error, desc)
	}
	if tr.IDToken == "" {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "the provider returned no id_token (is the openid scope granted?)")
	}
	return o.VerifyIDToken(ctx, tr.IDToken, f.Nonce)
}

// VerifyIDToken verifies a compact id_token: an RS256 signature by one of
// the provider's published keys, the configured issuer, this client in the
// audience (and as azp when there are several audiences), not expired, not
// before its nbf, issued not in the future, and the nonce given. It returns
// the claims; EUNAUTHORIZED, saying which check failed, otherwise.
func (o *OIDC) VerifyIDToken(ctx context.Context, raw, nonce string) (*IDClaims, error) {
	bad := func(format string, args ...any) error {
		return sam.Errorf(sam.EUNAUTHORIZED, "id_token refused: "+format, args...)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, bad("not a compact JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, bad("malformed header")
	}
	var hdr struct{ Alg, Kid, Typ string }
	if json.Unmarshal(hb, &hdr) != nil {
		return nil, bad("malformed header")
	}
	if hdr.Alg != "RS256" {
		return nil, bad("signature algorithm %q is not RS256", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, bad("malformed signature")
	}
	pk, err := o.key(ctx, hdr.Kid)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pk, crypto.SHA256, h[:], sig) != nil {
		return nil, bad("the signature does not verify")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, bad("malformed claims")
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil, bad("malformed claims")
	}
	c := &IDClaims{Raw: m, Issuer: str(m["iss"]), Subject: str(m["sub"]), Nonce: str(m["nonce"]),
		PreferredUsername: str(m["preferred_username"]), Email: str(m["email"]), Name: str(m["name"]), TenantID: str(m["tid"]),
		Groups: strs(m["groups"]), Roles: strs(m["roles"]), Audience: strs(m["aud"])}
	now := o.now()
	switch {
	case c.Issuer != o.cfg.Issuer:
		return nil, bad("issuer %q is not %q", c.Issuer, o.cfg.Issuer)
	case !slices.Contains(c.Audience, o.cfg.ClientID):
		return nil, bad("audience %v does not include this application", c.Audience)
	case len(c.Audience) > 1 && str(m["azp"]) != o.cfg.ClientID:
		return nil, bad("issued to another party (azp)")
	case c.Subject == "":
		return nil, bad("no subject")
	}
	exp, ok := unix(m["exp"])
	if !ok {
		return nil, bad("no expiry")
	}
	c.Expiry = exp
	if !now.Before(exp.Add(o.cfg.Leeway)) {
		return nil, bad("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := unix(m["nbf"]); ok && now.Add(o.cfg.Leeway).Before(nbf) {
		return nil, bad("not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	if iat, ok := unix(m["iat"]); ok && now.Add(o.cfg.Leeway).Before(iat) {
		return nil, bad("issued in the future")
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, bad("nonce does not match this sign-in")
	}
	return c, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func unix(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// username is the account name of a person: preferred_username, else
// email, lower case.
func (c *IDClaims) username() string {
	n := c.PreferredUsername
	if n == "" {
		n = c.Email
	}
	return strings.ToLower(strings.TrimSpace(n))
}

// matches reports whether rule r matches c.
func (c *IDClaims) matches(r OIDCRule) bool {
	switch strings.ToLower(r.Claim) {
	case "domain":
		_, dom, ok := strings.Cut(c.username(), "@")
		return ok && strings.EqualFold(dom, r.Value)
	case "groups":
		return slices.ContainsFunc(c.Groups, func(g string) bool { return strings.EqualFold(g, r.Value) })
	case "roles":
		return slices.ContainsFunc(c.Roles, func(g string) bool { return strings.EqualFold(g, r.Value) })
	}
	return strings.EqualFold(fmt.Sprint(c.Raw[r.Claim]), r.Value) && c.Raw[r.Claim] != nil
}

// RoleFor returns the role the rules give c, else the default role; ok is
// false when neither applies.
func (o *OIDC) RoleFor(c *IDClaims) (Role, bool) {
	for _, r := range o.cfg.Rules {
		if c.matches(r) {
			return r.Role, true
		}
	}
	return o.cfg.DefaultRole, o.cfg.DefaultRole != ""
}

// OIDCUser returns the local account of a person signed in with o: the
// account linked to (issuer, subject); else a local account named as the
// person's preferred_username (lower case) that no identity is linked to
// yet (an administrator created it in advance), which is then linked; else
// a new account with the role the rules give (or the default role). A role
// given by a rule is applied to the linked account at every sign-in. A
// disabled account is refused (EUNAUTHORIZED); a person no rule matches
// without a default role is refused (EFORBIDDEN).
func (s *Service) OIDCUser(ctx context.Context, o *OIDC, c *IDClaims) (*store.User, error) {
	u, err := s.Store.UserByIdentity(ctx, c.Issuer, c.Subject)
	if err != nil && !sam.IsCode(err, sam.ENOTFOUND) {
		return nil, err
	}
	name := c.username()
	if u == nil {
		if name == "" {
			return nil, sam.Errorf(sam.EFORBIDDEN, "the id_token names no user (preferred_username or email)")
		}
		existing, err := s.Store.UserByName(ctx, name)
		switch {
		case err == nil:
			u = existing
		case sam.IsCode(err, sam.ENOTFOUND):
			role, ok := o.RoleFor(c)
			if !ok {
				return nil, sam.Errorf(sam.EFORBIDDEN, "%s has no Seatwise account; ask an administrator to add one", name)
			}
			hash, err := HashPassword(RandomSecret(""))
			if err != nil {
				return nil, err
			}
			now := s.now()
			u = &store.User{Name: name, Role: string(role), PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
			if err := s.Store.CreateUser(ctx, u); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		if err := s.Store.LinkIdentity(ctx, u.ID, c.Issuer, c.Subject); err != nil {
			if sam.IsCode(err, sam.ECONFLICT) {
				return nil, sam.Errorf(sam.EFORBIDDEN, "the account %s belongs to another identity", name)
			}
			return nil, err
		}
	}
	if u.Disabled {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "account disabled")
	}
	for _, r := range o.cfg.Rules {
		if c.matches(r) {
			if Role(u.Role) != r.Role {
				u.Role = string(r.Role)
			}
			break
		}
	}
	u.LastLogin, u.FailedLogins, u.MustChangePassword = s.now(), 0, false
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}
