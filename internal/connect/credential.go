// Package connect connects integration profiles to Microsoft: it builds a
// profile's credential (app-only client secret or an administrator's
// delegated sign-in), validates a connection check by check with remedies
// a tenant administrator can act on (Validate), and runs the delegated
// sign-in (authorization code with PKCE and state, then one consent per
// Dataverse environment) for the CLI's loopback redirect and the web
// server's callback route alike (SignIn).
//
// Nothing here logs or returns a secret, a token or a code.
package connect

import (
	"context"
	"github.com/seatwise/seatwise/internal/secret"
	"net/http"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// Credential gives the access tokens of one profile: one token source per
// resource scope ("{resource}/.default").
type Credential interface {
	// Source returns the token source of scope. It does not contact
	// Entra; the source's Token does.
	Source(scope string) (odata.TokenSource, error)
	// Delegated reports whether tokens act for a signed-in administrator
	// (permissions in the scp claim) rather than the application (roles).
	Delegated() bool
}

// loginURL returns the profile's authority host, the public cloud's when empty.
func loginURL(p *sam.Profile) string {
	if p.LoginURL == "" {
		return sam.DefaultLoginURL
	}
	return strings.TrimRight(p.LoginURL, "/")
}

// graphURL returns the profile's Graph base, the public cloud's when empty.
func graphURL(p *sam.Profile) string {
	if p.GraphURL == "" {
		return sam.DefaultGraphURL
	}
	return strings.TrimRight(p.GraphURL, "/")
}

// tokenClient is the odata client of token requests.
func tokenClient(hc *http.Client) *odata.Client {
	return odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: hc, MaxAttempts: 3, BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second})
}

// AppOnly is the client-credentials credential of a profile whose
// AuthMode is client_secret or certificate (a client assertion signed by
// the app's certificate).
type AppOnly struct {
	profile *sam.Profile
	secret  string
	cert    *entra.Certificate // when set, used instead of secret
	client  *odata.Client
}

// NewAppOnly returns the app-only credential of p with its client secret;
// hc sends the token requests (nil: system roots plus p's CA file).
// EINVALID when the CA file cannot be read.
func NewAppOnly(p *sam.Profile, clientSecret string, hc *http.Client) (*AppOnly, error) {
	if hc == nil {
		var err error
		if hc, err = odata.NewHTTPClient(p.CAFile); err != nil {
			return nil, err
		}
	}
	return &AppOnly{profile: p, secret: clientSecret, client: tokenClient(hc)}, nil
}

// Source implements Credential with entra.ClientCredentials.
func (a *AppOnly) Source(scope string) (odata.TokenSource, error) {
	return entra.ClientCredentials(entra.Config{LoginURL: loginURL(a.profile), TenantID: a.profile.TenantID,
		ClientID: a.profile.ClientID, ClientSecret: a.secret, Certificate: a.cert, Scope: scope, Client: a.client})
}

// Delegated implements Credential: false.
func (a *AppOnly) Delegated() bool { return false }

// DelegatedGrant is the credential of a profile whose AuthMode is
// delegated: an administrator's sign-in whose refresh token is redeemed,
// and rotated, for each resource.
type DelegatedGrant struct{ G *entra.Grant }

// Source implements Credential with the grant's source for scope.
func (d DelegatedGrant) Source(scope string) (odata.TokenSource, error) {
	return d.G.Source(scope), nil
}

// Delegated implements Credential: true.
func (d DelegatedGrant) Delegated() bool { return true }

// GraphScope returns the .default scope of the profile's Graph resource.
func GraphScope(p *sam.Profile) string { return entra.Scope(graphURL(p)) }

// Load returns the credential of profile p from its sealed secrets in st:
// the client secret or the certificate for app-only profiles; for
// delegated profiles the
// administrator's refresh token (and the client secret when the app is
// confidential), each rotated refresh token sealed and stored again before
// its access token is used. hc sends the token requests (nil: system roots
// plus p's CA file). EUNAUTHORIZED when a needed secret is absent or does
// not decrypt with kr, with the command that fixes it.
func Load(ctx context.Context, st SecretStore, kr *secret.Keyring, p *sam.Profile, hc *http.Client) (Credential, error) {
	if hc == nil {
		var err error
		if hc, err = odata.NewHTTPClient(p.CAFile); err != nil {
			return nil, err
		}
	}
	open := func(name string) (string, bool, error) {
		sealed, err := st.Secret(ctx, p.ID, name)
		if sam.IsCode(err, sam.ENOTFOUND) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		plain, err := kr.Open(sealed)
		if err != nil {
			return "", false, sam.Wrap(sam.EUNAUTHORIZED, err, "the %s of profile %s cannot be decrypted with the configured key", strings.ReplaceAll(name, "_", " "), p.Name)
		}
		defer clear(plain)
		return string(plain), true, nil
	}
	clientSecret, hasSecret, err := open(sam.SecretClientSecret)
	if err != nil {
		return nil, err
	}
	switch p.AuthMode {
	case sam.AuthDelegated:
		rt, ok, err := open(sam.SecretRefreshToken)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, sam.Errorf(sam.EUNAUTHORIZED, "profile %s has no administrator sign-in: run 'seatwise profile connect %s'", p.Name, p.Name)
		}
		save := RefreshTokenSaver(st, kr, p.ID)
		g, err := entra.NewGrant(entra.DelegatedConfig{LoginURL: loginURL(p), TenantID: p.TenantID, ClientID: p.ClientID,
			ClientSecret: clientSecret, Client: tokenClient(hc)}, rt, save)
		if err != nil {
			return nil, err
		}
		return DelegatedGrant{G: g}, nil
	case sam.AuthCertificate:
		pemData, ok, err := open(sam.SecretCertificate)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, sam.Errorf(sam.EUNAUTHORIZED, "profile %s has no certificate; set one with 'seatwise profile certificate %s --certificate-file FILE'", p.Name, p.Name)
		}
		cert, err := entra.ParseCertificate([]byte(pemData))
		if err != nil {
			return nil, sam.Wrap(sam.EUNAUTHORIZED, err, "the stored certificate of profile %s", p.Name)
		}
		return &AppOnly{profile: p, cert: cert, client: tokenClient(hc)}, nil
	case sam.AuthClientSecret, "":
		if !hasSecret {
			return nil, sam.Errorf(sam.EUNAUTHORIZED, "profile %s has no client secret; set one with 'seatwise profile edit %s --client-secret-file FILE'", p.Name, p.Name)
		}
		return NewAppOnly(p, clientSecret, hc)
	default:
		return nil, sam.Errorf(sam.EINVALID, "profile %s uses authentication mode %q, which this version cannot use", p.Name, p.AuthMode)
	}
}

// SecretStore is the part of store.Store that holds sealed secrets.
type SecretStore interface {
	PutSecret(ctx context.Context, profileID int64, name string, s sam.SealedSecret) error
	Secret(ctx context.Context, profileID int64, name string) (sam.SealedSecret, error)
}

// RefreshTokenSaver returns the entra.StoreFunc that seals a refresh token
// with kr and stores it as the profile's sam.SecretRefreshToken.
func RefreshTokenSaver(st SecretStore, kr *secret.Keyring, profileID int64) entra.StoreFunc {
	return func(ctx context.Context, refreshToken string) error {
		sealed, err := kr.Seal([]byte(refreshToken))
		if err != nil {
			return err
		}
		return st.PutSecret(context.WithoutCancel(ctx), profileID, sam.SecretRefreshToken, sealed)
	}
}
