package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
)

// SimulationJSON is what the profile's rules would select with each
// inactivity threshold instead of their own (nothing is created).
type SimulationJSON struct {
	Profile    string                 `json:"profile"`
	Thresholds []reclaim.SimThreshold `json:"thresholds"`
}

// simDays reads the "days" parameter: comma-separated thresholds, 30,60,90
// by default, at most 12, each 1–3650.
func simDays(r *http.Request) ([]int, error) {
	v := strings.TrimSpace(r.URL.Query().Get("days"))
	if v == "" {
		return []int{30, 60, 90}, nil
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 3650 {
			return nil, sam.Errorf(sam.EINVALID, "days %q: want comma-separated whole numbers of days from 1 to 3650, e.g. 30,60,90", v)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) > 12 {
		return nil, sam.Errorf(sam.EINVALID, "days: at most 12 thresholds at once, not %d", len(out))
	}
	slices.Sort(out)
	return out, nil
}

func (s *Server) simulate(r *http.Request, name string) (SimulationJSON, error) {
	days, err := simDays(r)
	if err != nil {
		return SimulationJSON{}, err
	}
	p, err := s.cfg.Store.ProfileByName(r.Context(), name)
	if err != nil {
		return SimulationJSON{}, err
	}
	th, err := s.reclaimEngine().Simulate(r.Context(), p, days)
	if err != nil {
		return SimulationJSON{}, err
	}
	out := SimulationJSON{Profile: p.Name, Thresholds: th}
	if out.Thresholds == nil {
		out.Thresholds = []reclaim.SimThreshold{}
	}
	for i := range out.Thresholds {
		if out.Thresholds[i].SKUs == nil {
			out.Thresholds[i].SKUs = []reclaim.SimSKU{}
		}
	}
	return out, nil
}

func apiSimulation(s *Server, w http.ResponseWriter, r *http.Request) error {
	out, err := s.simulate(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// simBar is one row of the simulation chart.
type simBar struct {
	Days    int
	Count   int
	Savings map[string]int64
	BarW    float64 // width in the chart's 600-unit view box (at most 460)
	Y       int
}

type simulationView struct {
	Profiles []string
	Profile  string
	Days     string
	Sim      *SimulationJSON
	Bars     []simBar
	Height   int
}

func uiSimulation(s *Server, w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	v := simulationView{Profile: r.URL.Query().Get("profile"), Days: r.URL.Query().Get("days")}
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	if v.Profile == "" && len(ps) > 0 {
		v.Profile = ps[0].Name
	}
	if v.Days == "" {
		v.Days = "30,60,90"
	}
	pg := page{Title: "What would be reclaimed", Nav: "reclaim-simulation", Data: &v}
	if v.Profile != "" {
		sim, err := s.simulate(r, v.Profile)
		if err != nil {
			if sam.ErrorCode(err) == sam.EINTERNAL {
				return err
			}
			pg.Error = sam.ErrorMessage(err)
			return s.render(w, r, sam.HTTPStatus(err), "reclaim_simulation.html", pg)
		}
		v.Sim = &sim
		most := 1
		for _, t := range sim.Thresholds {
			most = max(most, t.Count)
		}
		for i, t := range sim.Thresholds {
			b := simBar{Days: t.Days, Count: t.Count, Savings: map[string]int64{}, BarW: 460 * float64(t.Count) / float64(most), Y: i * 28}
			for _, k := range t.SKUs {
				if k.Currency != "" {
					b.Savings[k.Currency] += k.Saving
				}
			}
			v.Bars = append(v.Bars, b)
		}
		v.Height = len(v.Bars) * 28
	}
	return s.render(w, r, http.StatusOK, "reclaim_simulation.html", pg)
}

func (s *Server) reclaimSimRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/api/v1/profiles/{name}/reclaim/simulation", Access: anyRole, API: true, Tag: "reclamation",
			Summary: "What the profile's rules would select at each inactivity threshold (creates nothing)",
			Query:   []Param{{Name: "days", Type: "string", Doc: "comma-separated thresholds in days (default 30,60,90)"}},
			Resp:    SimulationJSON{}, Handler: apiSimulation},
		{Method: "GET", Path: "/reclaim/simulation", Access: anyRole, Tag: "ui", Summary: "Threshold simulation page", Handler: uiSimulation},
	}
}
