package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Web UI of reclamation: the candidate queue (filters, bulk actions), one
// candidate with its evidence and history, rules, exclusions and the
// settings. Forms post back to the page they came from (303 See Other with
// a flash message); failures are shown on the page.

type candidatesView struct {
	Profiles []string
	States   []store.CandidateState
	Actions  []string
	Filter   struct {
		Profile, State string
		Open           bool
	}
	Page      CandidatePage
	NextURL   string
	Return    string // this page's address, where the bulk form comes back
	DryRun    bool
	Notify    string
	Potential map[string]int64 // currency → monthly saving of the listed open candidates
}

// flashFrom reads the flash and error messages a redirect carried.
func flashFrom(r *http.Request) (string, string) {
	q := r.URL.Query()
	return q.Get("flash"), q.Get("error")
}

// back redirects to path with a flash or error message.
func back(w http.ResponseWriter, r *http.Request, path, flash string, err error) error {
	q := url.Values{}
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		q.Set("error", sam.ErrorMessage(err))
	} else if flash != "" {
		q.Set("flash", flash)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if len(q) > 0 {
		path += sep + q.Encode()
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

func canManage(r *http.Request) bool { p := principal(r); return p != nil && managers.allows(p.Role) }

func uiCandidates(s *Server, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := candidatesView{States: store.CandidateStates, Actions: candidateActions, Potential: map[string]int64{}}
	v.Filter.Profile, v.Filter.State = q.Get("profile"), q.Get("state")
	v.Filter.Open = q.Get("open") != "false"
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	flash, errMsg := flashFrom(r)
	f, err := s.candidateFilter(r)
	if err == nil {
		f.OpenOnly = v.Filter.Open
		v.Page, err = s.listCandidates(r, f)
	}
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		errMsg = sam.ErrorMessage(err)
	}
	nq := url.Values{"profile": {v.Filter.Profile}, "state": {v.Filter.State}, "open": {strconv.FormatBool(v.Filter.Open)}}
	v.Return = "/candidates?" + nq.Encode()
	if v.Page.NextCursor != "" {
		nq.Set("cursor", v.Page.NextCursor)
		v.NextURL = "/candidates?" + nq.Encode()
	}
	for _, c := range v.Page.Items {
		if !store.CandidateState(c.State).Closed() {
			v.Potential[c.Currency] += c.Saving
		}
	}
	e := s.reclaimEngine()
	set, err := e.Settings(r.Context())
	if err != nil {
		return err
	}
	v.DryRun, v.Notify = set.DryRun, notificationsStatus(e)
	return s.render(w, r, http.StatusOK, "candidates.html", page{Title: "Removal candidates", Nav: "candidates", Data: v,
		Flash: flash, Error: errMsg, CanEdit: canManage(r)})
}

// uiCandidatesBulk applies the chosen action to the ticked candidates.
func uiCandidatesBulk(s *Server, w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return sam.Errorf(sam.EINVALID, "form: %s", err)
	}
	in := BulkCandidateAction{Action: r.PostFormValue("action"), Reason: r.PostFormValue("reason"), OverrideCap: r.PostFormValue("override_cap") == "on"}
	for _, v := range r.PostForm["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return back(w, r, "/candidates", "", sam.Errorf(sam.EINVALID, "candidate id %q is not a number", v))
		}
		in.IDs = append(in.IDs, id)
	}
	ret := safeNext(r.PostFormValue("return"))
	if !strings.HasPrefix(ret, "/candidates") {
		ret = "/candidates"
	}
	out, err := s.bulk(r.Context(), in, actor(r))
	if err != nil {
		return back(w, r, ret, "", err)
	}
	msg := fmt.Sprintf("%s: %d done", in.Action, out.Succeeded)
	if out.Failed > 0 {
		var why []string
		for _, res := range out.Results {
			if res.Error != nil {
				why = append(why, fmt.Sprintf("#%d %s", res.ID, res.Error.Message))
			}
		}
		return back(w, r, ret, "", sam.Errorf(sam.ECONFLICT, "%s, %d failed: %s", msg, out.Failed, strings.Join(why, "; ")))
	}
	for _, res := range out.Results {
		if res.Blocked != "" {
			msg += "; " + res.Blocked
			break
		}
		if res.DryRun && len(res.Planned) > 0 {
			msg += " (dry run: nothing changed in the tenant)"
			break
		}
	}
	return back(w, r, ret, msg+".", nil)
}

type candidateView struct {
	C      CandidateJSON
	DryRun bool
}

func uiCandidate(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "candidate")
	if err != nil {
		return err
	}
	c, err := s.candidateDetail(r, id)
	if err != nil {
		return err
	}
	set, err := s.cfg.Store.ReclaimSettings(r.Context())
	if err != nil {
		return err
	}
	flash, errMsg := flashFrom(r)
	return s.render(w, r, http.StatusOK, "candidate.html", page{Title: fmt.Sprintf("Removal candidate %d", id), Nav: "candidates",
		Data: candidateView{C: c, DryRun: set.DryRun}, Flash: flash, Error: errMsg, CanEdit: canManage(r)})
}

func uiCandidateAction(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "candidate")
	if err != nil {
		return err
	}
	a := CandidateAction{Action: r.PostFormValue("action"), Reason: r.PostFormValue("reason"), OverrideCap: r.PostFormValue("override_cap") == "on"}
	res, err := s.act(r.Context(), s.reclaimEngine(), id, a, actor(r))
	path := fmt.Sprintf("/candidates/%d", id)
	if err != nil {
		return back(w, r, path, "", err)
	}
	msg := fmt.Sprintf("%s done: the candidate is now %s.", a.Action, res.State)
	if res.Blocked != "" {
		msg = res.Blocked
	} else if res.DryRun && len(res.Planned) > 0 {
		msg = "Dry run, nothing changed in the tenant: " + strings.Join(res.Planned, "; ")
	}
	return back(w, r, path, msg, nil)
}

type rulesView struct {
	Rules []RuleJSON
	Edit  *RuleJSON
}

func uiRules(s *Server, w http.ResponseWriter, r *http.Request) error {
	rules, err := s.cfg.Store.ReclaimRules(r.Context(), 0)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	v := rulesView{}
	for _, x := range rules {
		v.Rules = append(v.Rules, s.ruleJSON(x, names))
	}
	flash, errMsg := flashFrom(r)
	return s.render(w, r, http.StatusOK, "rules.html", page{Title: "Reclamation rules", Nav: "rules", Data: v, Flash: flash, Error: errMsg, CanEdit: canManage(r)})
}

func uiRule(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	rule, err := s.cfg.Store.ReclaimRule(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	j := s.ruleJSON(rule, names)
	flash, errMsg := flashFrom(r)
	return s.render(w, r, http.StatusOK, "rule.html", page{Title: "Rule: " + j.Product + " (" + j.Profile + ")", Nav: "rules",
		Data: rulesView{Edit: &j}, Flash: flash, Error: errMsg, CanEdit: canManage(r)})
}

// uiRulePost saves the rule form (every field is on the form).
func uiRulePost(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/rules/%d", id)
	num := func(name string) (*int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
		if err != nil {
			return nil, sam.Errorf(sam.EINVALID, "%s: want a whole number of days", strings.ReplaceAll(name, "_", " "))
		}
		return &n, nil
	}
	on := func(name string) *bool { b := r.PostFormValue(name) == "on"; return &b }
	list := func(name string) *[]string { l := cleanList(strings.Split(r.PostFormValue(name), ",")); return &l }
	p := RulePatch{Enabled: on("enabled"), IncludeNeverActive: on("include_never_active"), IncludeDisabled: on("include_disabled"),
		IncludeLowUsage: on("include_low_usage"), IncludeDuplicateBase: on("include_duplicate_base"), NotifyUser: on("notify_user"),
		ManagerApproval: on("manager_approval"), Departments: list("departments"), Countries: list("countries")}
	path0, group := r.PostFormValue("assignment_path"), r.PostFormValue("approval_group")
	p.AssignmentPath, p.ApprovalGroup = &path0, &group
	for name, dst := range map[string]**int{"inactive_days": &p.InactiveDays, "grace_days": &p.GraceDays, "response_days": &p.ResponseDays} {
		if *dst, err = num(name); err != nil {
			return back(w, r, path, "", err)
		}
	}
	if _, err := s.updateRule(r, id, &p); err != nil {
		return back(w, r, path, "", err)
	}
	return back(w, r, "/rules", fmt.Sprintf("Rule %d saved.", id), nil)
}

type exclusionsView struct {
	Items    []ExclusionJSON
	Profiles []string
	Kinds    []store.ExclusionKind
}

func uiExclusions(s *Server, w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.Exclusions(r.Context(), -1)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	v := exclusionsView{Kinds: store.ExclusionKinds}
	for _, e := range list {
		v.Items = append(v.Items, exclusionJSON(e, names))
	}
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	flash, errMsg := flashFrom(r)
	return s.render(w, r, http.StatusOK, "exclusions.html", page{Title: "Exclusions", Nav: "exclusions", Data: v, Flash: flash, Error: errMsg, CanEdit: canManage(r)})
}

func uiExclusionAdd(s *Server, w http.ResponseWriter, r *http.Request) error {
	in := ExclusionInput{Profile: r.PostFormValue("profile"), Kind: r.PostFormValue("kind"), Value: r.PostFormValue("value"), Reason: r.PostFormValue("reason")}
	e, err := s.addExclusion(r, in)
	status := http.StatusCreated
	if err != nil {
		status = sam.HTTPStatus(err)
	}
	s.audit(r, &Route{Method: "POST", Path: "/exclusions", Summary: "Add an exclusion (web UI)"}, status)
	if err != nil {
		return back(w, r, "/exclusions", "", err)
	}
	return back(w, r, "/exclusions", fmt.Sprintf("Excluded %s %s.", e.Kind, e.Value), nil)
}

func uiExclusionDelete(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "exclusion")
	if err != nil {
		return err
	}
	err = s.cfg.Store.DeleteExclusion(r.Context(), id)
	status := http.StatusNoContent
	if err != nil {
		status = sam.HTTPStatus(err)
	}
	s.audit(r, &Route{Method: "POST", Path: "/exclusions/{id}/delete", Summary: fmt.Sprintf("Remove exclusion %d (web UI)", id)}, status)
	if err != nil {
		return back(w, r, "/exclusions", "", err)
	}
	return back(w, r, "/exclusions", fmt.Sprintf("Exclusion %d removed.", id), nil)
}

type settingsView struct {
	S       ReclaimSettingsJSON
	IsAdmin bool
}

func uiReclaimSettings(s *Server, w http.ResponseWriter, r *http.Request) error {
	e := s.reclaimEngine()
	set, err := e.Settings(r.Context())
	if err != nil {
		return err
	}
	p := principal(r)
	flash, errMsg := flashFrom(r)
	return s.render(w, r, http.StatusOK, "reclaim_settings.html", page{Title: "Reclamation settings", Nav: "reclaim-settings",
		Data: settingsView{S: s.settingsJSON(set, e), IsAdmin: p != nil && admins.allows(p.Role)}, Flash: flash, Error: errMsg})
}

func uiReclaimSettingsPost(s *Server, w http.ResponseWriter, r *http.Request) error {
	var p ReclaimSettingsPatch
	dry := r.PostFormValue("dry_run") == "on"
	p.DryRun = &dry
	for name, dst := range map[string]**int{"cap_count": &p.CapCount, "cap_percent": &p.CapPercent,
		"staleness_limit_hours": &p.StalenessLimitHours, "undo_window_days": &p.UndoWindowDays} {
		n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
		if err != nil {
			return back(w, r, "/reclaim/settings", "", sam.Errorf(sam.EINVALID, "%s: want a whole number", strings.ReplaceAll(name, "_", " ")))
		}
		*dst = &n
	}
	_, _, err := s.updateSettings(r, p)
	if err != nil {
		return back(w, r, "/reclaim/settings", "", err)
	}
	msg := "Settings saved."
	if dry {
		msg += " Dry run is on: nothing is changed in any tenant and nobody is notified."
	} else {
		msg += " Dry run is off: due removals and notifications will now happen."
	}
	return back(w, r, "/reclaim/settings", msg, nil)
}

func (s *Server) reclaimUIRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/candidates", Access: anyRole, Tag: "ui", Summary: "Removal candidate queue", Handler: uiCandidates},
		{Method: "POST", Path: "/candidates/bulk", Access: managers, Tag: "ui", Summary: "Act on the ticked candidates (form)", Handler: uiCandidatesBulk},
		{Method: "GET", Path: "/candidates/{id}", Access: anyRole, Tag: "ui", Summary: "Removal candidate with evidence and history", Handler: uiCandidate},
		{Method: "POST", Path: "/candidates/{id}/action", Access: managers, Tag: "ui", Summary: "Act on a candidate (form)", Handler: uiCandidateAction},
		{Method: "GET", Path: "/rules", Access: anyRole, Tag: "ui", Summary: "Reclamation rules page", Handler: uiRules},
		{Method: "GET", Path: "/rules/{id}", Access: anyRole, Tag: "ui", Summary: "Reclamation rule page", Handler: uiRule},
		{Method: "POST", Path: "/rules/{id}", Access: managers, Tag: "ui", Summary: "Save a reclamation rule (form)", Handler: uiRulePost},
		{Method: "GET", Path: "/exclusions", Access: anyRole, Tag: "ui", Summary: "Exclusions page", Handler: uiExclusions},
		{Method: "POST", Path: "/exclusions", Access: managers, Tag: "ui", Summary: "Add an exclusion (form)", Handler: uiExclusionAdd},
		{Method: "POST", Path: "/exclusions/{id}/delete", Access: managers, Tag: "ui", Summary: "Remove an exclusion (form)", Handler: uiExclusionDelete},
		{Method: "GET", Path: "/reclaim/settings", Access: anyRole, Tag: "ui", Summary: "Reclamation settings page", Handler: uiReclaimSettings},
		{Method: "POST", Path: "/reclaim/settings", Access: admins, Tag: "ui", Summary: "Save reclamation settings (form)", Handler: uiReclaimSettingsPost},
	}
}
