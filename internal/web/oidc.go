package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/sam"
)

// OpenID Connect sign-in (Entra ID): /auth/oidc/start sends the browser to
// the provider with a fresh state, nonce and PKCE challenge; the flow stays
// on the server, and a cookie binds its state to the browser that started
// it, so that a callback carried to another browser (login CSRF) fails.
// /auth/oidc/callback redeems the code, verifies the id_token, finds or
// creates the account (auth.Service.OIDCUser) and starts a new session.

// oidcCookie binds a sign-in in progress to its browser.
const oidcCookie = "seatwise_oidc"

// oidcFlowTTL is how long a sign-in may take at the provider.
const oidcFlowTTL = 10 * time.Minute

// oidcFlows keeps sign-ins in progress by state.
type oidcFlows struct {
	mu    sync.Mutex
	flows map[string]*auth.OIDCFlow
}

func (f *oidcFlows) put(fl *auth.OIDCFlow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flows == nil {
		f.flows = map[string]*auth.OIDCFlow{}
	}
	for k, v := range f.flows {
		if time.Since(v.Started) > oidcFlowTTL {
			delete(f.flows, k)
		}
	}
	if len(f.flows) > 10000 { // bound memory under a spray of starts
		clear(f.flows)
	}
	f.flows[fl.State] = fl
}

// take removes and returns the flow of state (nil when unknown or too old).
func (f *oidcFlows) take(state string) *auth.OIDCFlow {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.flows[state]
	delete(f.flows, state)
	if fl == nil || time.Since(fl.Started) > oidcFlowTTL {
		return nil
	}
	return fl
}

var errNoOIDC = sam.Errorf(sam.ENOTFOUND, "sign-in with Entra ID (OpenID Connect) is not configured on this server (see oidc_issuer in the configuration reference)")

func uiOIDCStart(s *Server, w http.ResponseWriter, r *http.Request) error {
	if s.cfg.OIDC == nil {
		return errNoOIDC
	}
	u, fl, err := s.cfg.OIDC.Start(r.Context(), safeNext(r.URL.Query().Get("next")))
	if err != nil {
		return err
	}
	s.oidc.put(fl)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: fl.State, Path: "/auth/oidc/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcFlowTTL / time.Second)})
	http.Redirect(w, r, u, http.StatusSeeOther)
	return nil
}

func uiOIDCCallback(s *Server, w http.ResponseWriter, r *http.Request) error {
	if s.cfg.OIDC == nil {
		return errNoOIDC
	}
	fail := func(status int, msg string) error {
		s.log.Warn("OpenID Connect sign-in failed", "remote", clientIP(r), "error", msg)
		return s.render(w, r, status, "login.html", page{Title: "Sign in", Error: msg, Data: loginView{Next: "/", OIDC: true}})
	}
	q := r.URL.Query()
	state := q.Get("state")
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	c, err := r.Cookie(oidcCookie)
	if err != nil || state == "" || c.Value != state {
		return fail(http.StatusBadRequest, "This sign-in was not started in this browser (or it expired); start again.")
	}
	fl := s.oidc.take(state)
	if fl == nil {
		return fail(http.StatusBadRequest, "This sign-in expired or was already used; start again.")
	}
	if e := q.Get("error"); e != "" {
		return fail(http.StatusUnauthorized, "The identity provider refused the sign-in: "+e+".")
	}
	if !s.allowLogin(r) {
		w.Header().Set("Retry-After", "2")
		return fail(http.StatusTooManyRequests, sam.ErrorMessage(errTooMany))
	}
	claims, err := s.cfg.OIDC.Finish(r.Context(), fl, q.Get("code"))
	if err != nil {
		if c := sam.ErrorCode(err); c == sam.EINTERNAL {
			return err
		}
		return fail(sam.HTTPStatus(err), sam.ErrorMessage(err))
	}
	user, err := s.cfg.Auth.OIDCUser(r.Context(), s.cfg.OIDC, claims)
	if err != nil {
		if c := sam.ErrorCode(err); c == sam.EINTERNAL || c == sam.EUNAVAILABLE {
			return err
		}
		return fail(sam.HTTPStatus(err), sam.ErrorMessage(err))
	}
	if _, err := s.newSession(w, r, user); err != nil {
		return err
	}
	s.log.Info("signed in with OpenID Connect", "user", user.Name, "remote", clientIP(r))
	http.Redirect(w, r, safeNext(fl.Next), http.StatusSeeOther)
	return nil
}

func (s *Server) oidcRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/auth/oidc/start", Access: public, Summary: "Start signing in with Entra ID (OpenID Connect)", Tag: "ui", Handler: uiOIDCStart},
		{Method: "GET", Path: "/auth/oidc/callback", Access: public, Summary: "Finish signing in with Entra ID (the provider redirects here)", Tag: "ui", Handler: uiOIDCCallback},
	}
}
