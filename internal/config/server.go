package config

import (
	"net/url"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// Options of `seatwise serve`: sign-in with Entra ID (OpenID Connect) and
// who may read /metrics.
const (
	OptOIDCIssuer       = "oidc_issuer"
	OptOIDCClientID     = "oidc_client_id"
	OptOIDCClientSecret = "oidc_client_secret"
	OptOIDCRedirectURL  = "oidc_redirect_url"
	OptOIDCDefaultRole  = "oidc_default_role"
	OptOIDCRoleRules    = "oidc_role_rules"
	OptOIDCCAFile       = "oidc_ca_file"
	OptMetricsAccess    = "metrics_access"
)

func init() {
	options = append(options,
		Option{Name: OptOIDCIssuer, Env: "SEATWISE_OIDC_ISSUER",
			Doc: "Sign-in with Entra ID (OpenID Connect) is on when set: the issuer of the tenant's id_tokens, https://login.microsoftonline.com/<tenant id>/v2.0. Local accounts keep working."},
		Option{Name: OptOIDCClientID, Env: "SEATWISE_OIDC_CLIENT_ID",
			Doc: "Application (client) id of the app registration used for sign-in. Required with oidc_issuer."},
		Option{Name: OptOIDCClientSecret, Env: "SEATWISE_OIDC_CLIENT_SECRET", FileEnv: "SEATWISE_OIDC_CLIENT_SECRET_FILE", Secret: true,
			Doc: "Client secret of that app registration; empty for a public client (the sign-in always uses PKCE)."},
		Option{Name: OptOIDCRedirectURL, Env: "SEATWISE_OIDC_REDIRECT_URL",
			Doc: "Callback registered as the app's redirect URI: <public URL>/auth/oidc/callback. Default: public_url + /auth/oidc/callback."},
		Option{Name: OptOIDCDefaultRole, Env: "SEATWISE_OIDC_DEFAULT_ROLE",
			Doc: "Role of an account created at a first Entra ID sign-in that no rule matches (admin, sam_integrator, sam_manager or viewer). Empty: such people are refused until an administrator adds their account (named as their user principal name)."},
		Option{Name: OptOIDCRoleRules, Env: "SEATWISE_OIDC_ROLE_RULES",
			Doc: "Roles by claims, first match wins, applied at every sign-in: claim:value=role separated by commas, e.g. \"groups:<group object id>=sam_manager, domain:contoso.com=viewer\" (domain matches the user principal name's domain; groups and roles need those claims in the app's token configuration)."},
		Option{Name: OptOIDCCAFile, Env: "SEATWISE_OIDC_CA_FILE",
			Doc: "PEM file of extra certificate authorities trusted when contacting the issuer (a TLS-inspecting proxy, the simulator); the system roots otherwise."},
		Option{Name: OptMetricsAccess, Env: "SEATWISE_METRICS_ACCESS", Default: "signed-in",
			Doc: "Who may read /metrics, which names profiles and routes: signed-in (any role; Prometheus sends an API token, e.g. a viewer token, as bearer token), a role (that role and admin), or public (anyone who reaches the server)."},
	)
}

// ServerOptions are the sign-in and metrics settings of `seatwise serve`.
type ServerOptions struct {
	OIDCIssuer      string // "" when sign-in with Entra ID is off
	OIDCClientID    string
	OIDCRedirectURL string
	OIDCDefaultRole string
	OIDCRoleRules   string
	OIDCCAFile      string
	MetricsAccess   string
	oidcSecret      string
}

// OIDCClientSecret returns the OIDC client secret ("" for a public client).
// Never log it.
func (o ServerOptions) OIDCClientSecret() string { return o.oidcSecret }

func (c *Config) loadServer(get func(string) (string, error)) error {
	o := &c.Server
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{OptOIDCIssuer, &o.OIDCIssuer}, {OptOIDCClientID, &o.OIDCClientID}, {OptOIDCClientSecret, &o.oidcSecret},
		{OptOIDCRedirectURL, &o.OIDCRedirectURL}, {OptOIDCDefaultRole, &o.OIDCDefaultRole}, {OptOIDCRoleRules, &o.OIDCRoleRules},
		{OptOIDCCAFile, &o.OIDCCAFile}, {OptMetricsAccess, &o.MetricsAccess}} {
		if *f.dst, err = get(f.name); err != nil {
			return err
		}
		*f.dst = strings.TrimSpace(*f.dst)
	}
	if o.OIDCIssuer == "" {
		return nil
	}
	if o.OIDCClientID == "" {
		return sam.Errorf(sam.EINVALID, "oidc_issuer is set but oidc_client_id is not: sign-in needs the app registration's client id")
	}
	if o.OIDCRedirectURL == "" {
		if c.PublicURL == "" {
			return sam.Errorf(sam.EINVALID, "oidc_issuer is set but neither oidc_redirect_url nor public_url: the sign-in needs its callback URL")
		}
		o.OIDCRedirectURL = strings.TrimRight(c.PublicURL, "/") + "/auth/oidc/callback"
	}
	if u, err := url.Parse(o.OIDCRedirectURL); err != nil || u.Host == "" {
		return sam.Errorf(sam.EINVALID, "oidc_redirect_url %q (%s): want an absolute URL", o.OIDCRedirectURL, c.Source(OptOIDCRedirectURL))
	}
	return nil
}
