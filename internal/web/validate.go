package web

import (
	"net/http"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
)

// ValidationJSON is a profile's connection check, one line per check with
// the remedy of each failure or warning.
type ValidationJSON struct {
	Profile  string           `json:"profile"`
	Failed   bool             `json:"failed"`
	Failures int              `json:"failures"`
	Warnings int              `json:"warnings"`
	Checks   []connect.Result `json:"checks"`
}

// validateProfile runs connect.Validate on the named profile with its
// stored credential.
func (s *Server) validateProfile(r *http.Request) (*ValidationJSON, error) {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if s.cfg.Keyring == nil {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "no secret key is configured on the server; stored secrets cannot be opened")
	}
	cred, err := connect.Load(r.Context(), s.cfg.Store, s.cfg.Keyring, p, nil)
	if err != nil {
		return nil, err
	}
	rep, err := connect.Validate(r.Context(), p, cred, connect.ValidateOptions{})
	if err != nil {
		return nil, err
	}
	out := &ValidationJSON{Profile: p.Name, Failed: rep.Failed(), Failures: rep.Count(connect.Fail), Warnings: rep.Count(connect.Warn),
		Checks: rep.Results}
	if out.Checks == nil {
		out.Checks = []connect.Result{}
	}
	return out, nil
}

func apiProfileValidate(s *Server, w http.ResponseWriter, r *http.Request) error {
	v, err := s.validateProfile(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func uiProfileValidate(s *Server, w http.ResponseWriter, r *http.Request) error {
	v, err := s.validateProfile(r)
	if err != nil {
		if c := sam.ErrorCode(err); c == sam.EINTERNAL {
			return err
		}
		return s.profilesPage(w, r, sam.HTTPStatus(err), "", sam.ErrorMessage(err))
	}
	s.audit(r, &Route{Method: "POST", Path: "/profiles/{name}/validate", Summary: "Validate a profile (web UI)"}, http.StatusOK)
	return s.render(w, r, http.StatusOK, "validate.html", page{Title: "Validation of " + v.Profile, Nav: "profiles", Data: v})
}

func (s *Server) validateRoutes() []*Route {
	return []*Route{
		{Method: "POST", Path: "/api/v1/profiles/{name}/validate", Access: integrators, API: true, Tag: "profiles",
			Summary: "Check the profile's connection to Microsoft, check by check, with remedies", Resp: ValidationJSON{}, Handler: apiProfileValidate},
		{Method: "POST", Path: "/profiles/{name}/validate", Access: integrators, Summary: "Validate a profile (form)", Tag: "ui", Handler: uiProfileValidate},
	}
}
