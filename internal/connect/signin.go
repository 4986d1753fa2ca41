package connect

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/seatwise/seatwise/internal/dataverse"
	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// GraphReadScopes are the delegated Graph permissions a sign-in asks for:
// reading licences (subscribedSkus), users and their sign-in activity.
var GraphReadScopes = []string{"Organization.Read.All", "User.Read.All", "AuditLog.Read.All"}

// SignIn is one administrator sign-in in progress: a consent for Microsoft
// Graph (offline_access and GraphReadScopes), then one consent per
// Dataverse environment of the profile (user_impersonation). Each step is
// an authorization-code round trip with its own state and PKCE proof key.
// Only when every consent is given is the refresh token of the last
// redeemed code handed to the save function (sealed and stored by the
// caller): a sign-in that fails half way changes nothing.
//
// The same SignIn serves the CLI's loopback redirect (Loopback) and the
// web server's callback route: Start gives the first URL to send the
// browser to, Callback handles each redirect and gives the next URL, ""
// when the sign-in is complete. It is safe for concurrent use.
type SignIn struct {
	profile *sam.Profile
	cfg     entra.DelegatedConfig
	save    entra.StoreFunc
	steps   []step

	mu    sync.Mutex
	cur   int // index of the step in progress
	state string
	pkce  entra.PKCE
	done  bool
	err   error

	loginHint string
	pending   string // refresh token of the last redeemed code, saved when every consent is given
}

// step is one consent: what it is for and the scopes it asks.
type step struct {
	what   string // "Microsoft Graph" or the environment URL
	scopes []string
}

// SignInConfig configures NewSignIn.
type SignInConfig struct {
	// RedirectURI receives the authorization responses (the loopback
	// listener's or the server's callback route).
	RedirectURI string
	// ClientSecret authenticates the app (a confidential, web client) when
	// it redeems codes and refresh tokens. Required.
	ClientSecret string
	// HTTPClient sends the token requests (nil: system roots plus the
	// profile's CA file).
	HTTPClient *http.Client
	// LoginHint pre-fills the administrator's account ("" for none).
	LoginHint string
	// Save receives the refresh token once every consent is given (see
	// RefreshTokenSaver). Required.
	Save entra.StoreFunc
}

// NewSignIn prepares the sign-in of profile p. EINVALID for a profile
// without tenant or client id, a missing redirect URI, client secret or
// Save.
func NewSignIn(p *sam.Profile, cfg SignInConfig) (*SignIn, error) {
	if cfg.Save == nil {
		return nil, sam.Errorf(sam.EINVALID, "a sign-in needs somewhere to store its refresh token")
	}
	if cfg.RedirectURI == "" {
		return nil, sam.Errorf(sam.EINVALID, "the redirect URI of the sign-in is missing")
	}
	if cfg.ClientSecret == "" {
		return nil, sam.Errorf(sam.EINVALID, "profile %s has no client secret: the sign-in redeems its codes as the app (a confidential client); set one with 'seatwise profile edit %s --client-secret-file FILE'", p.Name, p.Name)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		var err error
		if hc, err = odata.NewHTTPClient(p.CAFile); err != nil {
			return nil, err
		}
	}
	s := &SignIn{profile: p, save: cfg.Save, cfg: entra.DelegatedConfig{LoginURL: loginURL(p), TenantID: p.TenantID,
		ClientID: p.ClientID, ClientSecret: cfg.ClientSecret, RedirectURI: cfg.RedirectURI, Client: tokenClient(hc)}}
	graphRes := strings.TrimSuffix(GraphScope(p), "/.default")
	var graph []string
	for _, sc := range GraphReadScopes {
		graph = append(graph, graphRes+"/"+sc)
	}
	s.steps = append(s.steps, step{what: "Microsoft Graph", scopes: entra.SignInScopes(graph...)})
	for _, e := range p.Environments {
		u := dataverse.EnvironmentURL(e.URL)
		s.steps = append(s.steps, step{what: u, scopes: entra.SignInScopes(strings.TrimSuffix(u, "/") + "/user_impersonation")})
	}
	s.loginHint = cfg.LoginHint
	return s, nil
}

// Steps returns how many consents the sign-in asks for: Graph, then one per
// environment.
func (s *SignIn) Steps() int { return len(s.steps) }

// Start returns the authorize URL of the first consent (Graph), with a new
// state and proof key; calling it again restarts the sign-in.
func (s *SignIn) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.done, s.err = 0, false, nil
	return s.stepURL()
}

// stepURL builds the authorize URL of the current step. s.mu is held.
func (s *SignIn) stepURL() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "generating the sign-in state")
	}
	pkce, err := entra.NewPKCE()
	if err != nil {
		return "", err
	}
	s.state, s.pkce = base64.RawURLEncoding.EncodeToString(b), pkce
	return entra.AuthCodeURL(s.cfg, s.steps[s.cur].scopes, s.state, s.pkce, s.loginHint)
}

// State returns the state of the step in progress, the key under which a
// server keeps the SignIn until its callback arrives.
func (s *SignIn) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Done reports whether every consent was given and its code redeemed.
func (s *SignIn) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Callback handles the authorization response of the step in progress
// (the query of the redirect, or the form of a form_post): it checks the
// state, turns an error response into a message, redeems the code with the
// step's proof key and hands the refresh token to Save. It returns the
// authorize URL of the next consent, or "" when the sign-in is complete.
//
// Errors are EUNAUTHORIZED and say what happened: a state that does not
// belong to this sign-in (the response is ignored, nothing is redeemed),
// consent declined or refused, a proof key (PKCE) that does not match the
// code, or a code Entra does not accept. A failed step ends the sign-in;
// Start begins it again.
func (s *SignIn) Callback(ctx context.Context, q url.Values) (next string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return "", sam.Errorf(sam.ECONFLICT, "this sign-in is already complete")
	}
	if s.err != nil {
		return "", s.err
	}
	defer func() {
		if err != nil {
			s.err = err
		}
	}()
	st := s.steps[s.cur]
	got := q.Get("state")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.state)) != 1 {
		return "", sam.Errorf(sam.EUNAUTHORIZED, "the sign-in response does not belong to this sign-in (state mismatch): it was ignored; start the sign-in again with 'seatwise profile connect %s'", s.profile.Name)
	}
	if e := q.Get("error"); e != "" {
		return "", s.responseError(st, e, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return "", sam.Errorf(sam.EUNAUTHORIZED, "the sign-in response for %s carries neither a code nor an error", st.what)
	}
	keep := func(_ context.Context, rt string) error { s.pending = rt; return nil }
	if _, err := entra.ExchangeCode(ctx, s.cfg, code, s.pkce, st.scopes, keep); err != nil {
		return "", s.exchangeError(st, err)
	}
	s.cur++
	if s.cur == len(s.steps) {
		rt := s.pending
		s.pending = ""
		if err := s.save(ctx, rt); err != nil {
			return "", sam.Wrap(sam.ErrorCode(err), err, "storing the sign-in")
		}
		s.done = true
		s.state = ""
		return "", nil
	}
	return s.stepURL()
}

// responseError explains an error redirect from the authorize endpoint.
func (s *SignIn) responseError(st step, code, desc string) error {
	aadsts := ""
	if i := strings.Index(desc, "AADSTS"); i >= 0 {
		j := i + len("AADSTS")
		for j < len(desc) && desc[j] >= '0' && desc[j] <= '9' {
			j++
		}
		aadsts = " (" + desc[i:j] + ")"
	}
	switch code {
	case "access_denied":
		return sam.Errorf(sam.EUNAUTHORIZED, "the consent for %s was declined%s: nothing was stored; sign in again and accept, or ask a Global or Privileged Role Administrator to consent for the tenant", st.what, aadsts)
	case "consent_required", "interaction_required", "login_required":
		return sam.Errorf(sam.EUNAUTHORIZED, "Microsoft Entra needs an administrator's interactive consent for %s%s: sign in again as an administrator", st.what, aadsts)
	case "invalid_scope":
		return sam.Errorf(sam.EUNAUTHORIZED, "Microsoft Entra does not know the permissions asked for %s%s: check the profile's Graph URL and environment URLs", st.what, aadsts)
	default:
		return sam.Errorf(sam.EUNAUTHORIZED, "Microsoft Entra refused the sign-in for %s: %s%s", st.what, code, aadsts)
	}
}

// exchangeError explains a refused code redemption by its AADSTS code.
func (s *SignIn) exchangeError(st step, err error) error {
	var codes []int
	if oe, ok := odata.AsError(err); ok {
		codes = oe.ErrorCodes
	}
	has := func(c int) bool { return slices.Contains(codes, c) }
	switch {
	case has(501481):
		return sam.Wrap(sam.EUNAUTHORIZED, err, "the sign-in's proof key (PKCE) does not match the code for %s: the code was not issued to this sign-in; start the sign-in again", st.what)
	case has(50148):
		return sam.Wrap(sam.EUNAUTHORIZED, err, "the redirect URI of the code for %s differs from the sign-in's: start the sign-in again", st.what)
	case has(54005):
		return sam.Wrap(sam.EUNAUTHORIZED, err, "the code for %s was already redeemed: start the sign-in again", st.what)
	case has(70008):
		return sam.Wrap(sam.EUNAUTHORIZED, err, "the code for %s expired (codes live 10 minutes): start the sign-in again", st.what)
	}
	return sam.Wrap(sam.ErrorCode(err), err, "redeeming the sign-in for %s", st.what)
}

// Describe names the consent in progress, e.g. for a progress line.
func (s *SignIn) Describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return "complete"
	}
	return fmt.Sprintf("consent %d of %d: %s", s.cur+1, len(s.steps), s.steps[s.cur].what)
}
