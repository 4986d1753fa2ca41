package web

import (
	"net/http"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
)

// ConnectStarted is where to send the administrator's browser to connect a
// profile with a delegated sign-in.
type ConnectStarted struct {
	SignInURL   string `json:"sign_in_url"`
	Consents    int    `json:"consents"`
	RedirectURI string `json:"redirect_uri"`
}

// baseURL is the server's own URL as the browser reached it.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || s.cfg.SecureCookies {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// startConnect begins an administrator's sign-in for the named profile and
// returns its first URL. The app registration must list the server's
// callback (BASE/callback) as a redirect URI.
func (s *Server) startConnect(r *http.Request) (*ConnectStarted, error) {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if s.cfg.Keyring == nil {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "no secret key is configured on the server; a sign-in cannot be stored")
	}
	var clientSecret string
	if sealed, err := s.cfg.Store.Secret(r.Context(), p.ID, sam.SecretClientSecret); err == nil {
		plain, err := s.cfg.Keyring.Open(sealed)
		if err != nil {
			return nil, sam.Wrap(sam.EUNAUTHORIZED, err, "the client secret of profile %s cannot be decrypted with the configured key", p.Name)
		}
		clientSecret = string(plain)
		clear(plain)
	} else if !sam.IsCode(err, sam.ENOTFOUND) {
		return nil, err
	}
	redirect := s.baseURL(r) + connect.CallbackPath
	si, err := connect.NewSignIn(p, connect.SignInConfig{RedirectURI: redirect, ClientSecret: clientSecret,
		LoginHint: r.PostFormValue("login_hint"), Save: connect.RefreshTokenSaver(s.cfg.Store, s.cfg.Keyring, p.ID)})
	if err != nil {
		return nil, err
	}
	start, err := s.pending.Start(si)
	if err != nil {
		return nil, err
	}
	return &ConnectStarted{SignInURL: start, Consents: si.Steps(), RedirectURI: redirect}, nil
}

func apiProfileConnect(s *Server, w http.ResponseWriter, r *http.Request) error {
	c, err := s.startConnect(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func uiProfileConnect(s *Server, w http.ResponseWriter, r *http.Request) error {
	c, err := s.startConnect(r)
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		return s.profilesPage(w, r, sam.HTTPStatus(err), "", sam.ErrorMessage(err))
	}
	http.Redirect(w, r, c.SignInURL, http.StatusSeeOther)
	return nil
}

// uiConnectCallback receives each authorization response of a sign-in
// started here: it sends the browser on to the next consent, or, when all
// are given, stores the sign-in and marks the profile connected.
func uiConnectCallback(s *Server, w http.ResponseWriter, r *http.Request) error {
	next, si, err := s.pending.Callback(r.Context(), r.URL.Query())
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		return s.render(w, r, sam.HTTPStatus(err), "connected.html", page{Title: "Seatwise could not connect", Nav: "profiles",
			Error: "The connection failed: " + sam.ErrorMessage(err)})
	}
	if next != "" {
		http.Redirect(w, r, next, http.StatusFound)
		return nil
	}
	p := si.Profile()
	if err := connect.MarkConnected(r.Context(), s.cfg.Store, p, s.now()); err != nil {
		return err
	}
	s.audit(r, &Route{Method: "GET", Path: connect.CallbackPath, Summary: "Profile connected with a delegated sign-in (web UI)"}, http.StatusOK)
	return s.render(w, r, http.StatusOK, "connected.html", page{Title: "Seatwise is connected", Nav: "profiles",
		Data: "Profile " + p.Name + " is connected to tenant " + p.TenantID + " with the administrator's sign-in. Validate it, then run a sync."})
}

func (s *Server) connectRoutes() []*Route {
	return []*Route{
		{Method: "POST", Path: "/api/v1/profiles/{name}/connect", Access: integrators, API: true, Tag: "profiles",
			Summary: "Start an administrator's delegated sign-in; open sign_in_url in the browser that is signed in to Seatwise",
			Resp:    ConnectStarted{}, Handler: apiProfileConnect},
		{Method: "POST", Path: "/profiles/{name}/connect", Access: integrators, Summary: "Connect a profile (form)", Tag: "ui", Handler: uiProfileConnect},
		{Method: "GET", Path: connect.CallbackPath, Access: integrators, Summary: "Sign-in redirect of a profile connection", Tag: "ui", Handler: uiConnectCallback},
	}
}
