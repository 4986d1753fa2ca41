package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

type positionView struct {
	Profiles  []string
	Profile   string
	Report    *PositionReport
	Summaries []recon.ProductSummary
}

func uiPosition(s *Server, w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	v := positionView{Profile: r.URL.Query().Get("profile")}
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	if v.Profile == "" && len(ps) > 0 {
		v.Profile = ps[0].Name
	}
	if v.Profile != "" {
		p, err := s.cfg.Store.ProfileByName(r.Context(), v.Profile)
		if err != nil {
			return s.render(w, r, sam.HTTPStatus(err), "position.html", page{Title: "Licence position", Nav: "position", Data: v, Error: sam.ErrorMessage(err)})
		}
		res, err := recon.Compute(r.Context(), s.cfg.Store, p, recon.Options{})
		if err != nil {
			return err
		}
		v.Report = newPositionReport(p, res)
	}
	return s.render(w, r, http.StatusOK, "position.html", page{Title: "Licence position", Nav: "position", Data: v})
}

type entitlementsView struct {
	Items   []EntitlementJSON
	Columns string
}

func (s *Server) entitlementsPage(w http.ResponseWriter, r *http.Request, status int, flash, errMsg string) error {
	es, err := s.cfg.Store.Entitlements(r.Context(), store.EntitlementFilter{})
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	v := entitlementsView{Columns: strings.Join(recon.CSVColumns[1:], ",")}
	for _, e := range es {
		v.Items = append(v.Items, newEntitlementJSON(e, names))
	}
	return s.render(w, r, status, "entitlements.html", page{Title: "Entitlements", Nav: "entitlements", Data: v, Flash: flash, Error: errMsg,
		CanEdit: principal(r) != nil && managers.allows(principal(r).Role)})
}

func uiEntitlements(s *Server, w http.ResponseWriter, r *http.Request) error {
	return s.entitlementsPage(w, r, http.StatusOK, "", "")
}

// uiEntitlementsImport imports a CSV uploaded as a file or pasted in the
// text area; all rows or none.
func uiEntitlementsImport(s *Server, w http.ResponseWriter, r *http.Request) error {
	var data []byte
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		if data, err = io.ReadAll(io.LimitReader(f, 8<<20)); err != nil {
			return sam.Wrap(sam.EINVALID, err, "read the uploaded file")
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte(r.PostFormValue("csv"))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return s.entitlementsPage(w, r, http.StatusBadRequest, "", "Choose a CSV file or paste its rows.")
	}
	es, err := recon.ImportEntitlements(r.Context(), s.cfg.Store, s.cfg.Catalog, bytes.NewReader(data))
	status := http.StatusSeeOther
	if err != nil {
		status = sam.HTTPStatus(err)
	}
	s.audit(r, &Route{Method: "POST", Path: "/entitlements/import", Summary: "Import entitlements (web UI)"}, status)
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		return s.entitlementsPage(w, r, status, "", sam.ErrorMessage(err))
	}
	return s.entitlementsPage(w, r, http.StatusOK, plural(len(es), "entitlement")+" imported.", "")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (s *Server) reconUIRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/position", Access: anyRole, Summary: "Licence position page", Tag: "ui", Handler: uiPosition},
		{Method: "GET", Path: "/entitlements", Access: anyRole, Summary: "Entitlements page", Tag: "ui", Handler: uiEntitlements},
		{Method: "POST", Path: "/entitlements/import", Access: managers, Summary: "Import entitlements (form)", Tag: "ui", Handler: uiEntitlementsImport},
	}
}
