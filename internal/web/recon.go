package web

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// managers may change entitlements (and, later, rules and candidates).
var managers = Access{Roles: []auth.Role{auth.RoleAdmin, auth.RoleSAMManager}}

// EntitlementJSON is rights bought for one software model of one profile.
type EntitlementJSON struct {
	ID            int64  `json:"id"`
	Profile       string `json:"profile"`
	SKUID         string `json:"sku_id"`
	Quantity      int64  `json:"quantity"`
	UnitCost      int64  `json:"unit_cost"` // minor units per right per month
	Currency      string `json:"currency"`
	TermStart     string `json:"term_start"` // YYYY-MM-DD
	TermEnd       string `json:"term_end"`   // YYYY-MM-DD, inclusive
	Commitment    string `json:"commitment"`
	CostCenter    string `json:"cost_center,omitempty"`
	PurchaseOrder string `json:"purchase_order,omitempty"`
	Notes         string `json:"notes,omitempty"`
}

// ImportResult is what an entitlements import created.
type ImportResult struct {
	Created []EntitlementJSON `json:"created"`
}

// PositionReport is the licence position of every software model of a
// profile, each figure with its explanation.
type PositionReport struct {
	Profile   string         `json:"profile"`
	AsOf      time.Time      `json:"as_of"`
	Positions []sam.Position `json:"positions"`
	Refused   []string       `json:"refused"`
}

func newEntitlementJSON(e *sam.Entitlement, names map[int64]string) EntitlementJSON {
	return EntitlementJSON{ID: e.ID, Profile: names[e.ProfileID], SKUID: e.SKUID, Quantity: e.Quantity, UnitCost: e.UnitCost,
		Currency: e.Currency, TermStart: e.TermStart.UTC().Format("2006-01-02"), TermEnd: e.TermEnd.UTC().Format("2006-01-02"),
		Commitment: string(e.Commitment), CostCenter: e.CostCenter, PurchaseOrder: e.PurchaseOrder, Notes: e.Notes}
}

func apiEntitlements(s *Server, w http.ResponseWriter, r *http.Request) error {
	var f store.EntitlementFilter
	var err error
	if f.ProfileID, err = s.profileParam(r); err != nil {
		return err
	}
	es, err := s.cfg.Store.Entitlements(r.Context(), f)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(es, func(e *sam.Entitlement) EntitlementJSON { return newEntitlementJSON(e, names) }))
	return nil
}

// apiEntitlementsImport imports a CSV of entitlements: all rows or none.
func apiEntitlementsImport(s *Server, w http.ResponseWriter, r *http.Request) error {
	es, err := recon.ImportEntitlements(r.Context(), s.cfg.Store, s.cfg.Catalog, io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return err // an *recon.ImportError lists every bad row; nothing was written
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	res := ImportResult{Created: []EntitlementJSON{}}
	for _, e := range es {
		res.Created = append(res.Created, newEntitlementJSON(e, names))
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func apiEntitlementDelete(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "entitlement id %q: want a number", r.PathValue("id"))
	}
	if err := s.cfg.Store.DeleteEntitlement(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func apiPosition(s *Server, w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	var asOf time.Time
	if v := r.URL.Query().Get("as_of"); v != "" {
		if asOf, err = time.Parse("2006-01-02", v); err != nil {
			return sam.Errorf(sam.EINVALID, "as_of %q: want a date YYYY-MM-DD", v)
		}
	}
	res, err := recon.Compute(r.Context(), s.cfg.Store, p, recon.Options{AsOf: asOf})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPositionReport(p, res))
	return nil
}

// newPositionReport is profile p's computed position as the API and the
// position page show it: no positions or refusals are empty lists, and
// each refused model reads "PART_NUMBER: reason".
func newPositionReport(p *sam.Profile, res *recon.Result) *PositionReport {
	out := &PositionReport{Profile: p.Name, AsOf: res.AsOf.UTC(), Positions: res.Positions, Refused: []string{}}
	if out.Positions == nil {
		out.Positions = []sam.Position{}
	}
	for _, m := range res.Refused {
		out.Refused = append(out.Refused, m.PartNumber+": "+sam.ErrorMessage(m.Err))
	}
	return out
}

func (s *Server) reconRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/api/v1/entitlements", Access: anyRole, API: true, Tag: "reconciliation", Summary: "List entitlements",
			Query: []Param{{Name: "profile", Type: "string", Doc: "profile name"}}, Resp: []EntitlementJSON{}, Handler: apiEntitlements},
		{Method: "POST", Path: "/api/v1/entitlements/import", Access: managers, API: true, Tag: "reconciliation",
			Summary: "Import entitlements from CSV (all rows or none; every bad row is reported)", BodyContent: "text/csv",
			Resp: ImportResult{}, Status: http.StatusCreated, Handler: apiEntitlementsImport},
		{Method: "DELETE", Path: "/api/v1/entitlements/{id}", Access: managers, API: true, Tag: "reconciliation",
			Summary: "Delete an entitlement", Status: http.StatusNoContent, Handler: apiEntitlementDelete},
		{Method: "GET", Path: "/api/v1/profiles/{name}/position", Access: anyRole, API: true, Tag: "reconciliation",
			Summary: "Licence position of every software model of the profile, each figure explained",
			Query:   []Param{{Name: "as_of", Type: "string", Doc: "day YYYY-MM-DD (default today)"}}, Resp: PositionReport{}, Handler: apiPosition},
	}
}
