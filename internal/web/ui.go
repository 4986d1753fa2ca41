package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"fmtTime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"classLabel": classLabel,
	"idleLabel":  idleLabel,
	"num":        func(n any) string { return fmt.Sprint(n) },
	"add":        func(a, b int) int { return a + b },
	"money": func(minor int64) string {
		sign := ""
		if minor < 0 {
			sign, minor = "-", -minor
		}
		return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
	},
}).ParseFS(templateFS, "templates/*.html"))

// classLabel is the human name of a usage class.
func classLabel(c string) string {
	return map[string]string{"active": "Active", "low_usage": "Low usage", "inactive_30": "Inactive 30+ days",
		"inactive_60": "Inactive 60+ days", "inactive_90": "Inactive 90+ days", "never_active": "Never active",
		"disabled": "Account disabled", "unknown": "Unknown (no proof)"}[c]
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Me      *auth.Principal
	CSRF    string
	Flash   string
	Error   string
	Data    any
	CanEdit bool
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	if me := principal(r); me != nil {
		p.Me = me
		if me.Session != nil {
			p.CSRF = me.Session.CSRFToken
		}
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		return sam.Wrap(sam.EINTERNAL, err, "render %s", name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if err := s.render(w, r, status, "error.html", page{Title: http.StatusText(status), Error: msg}); err != nil {
		http.Error(w, msg, status)
	}
}

func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// loginView is the sign-in page: where to go next and whether sign-in
// with Entra ID is offered.
type loginView struct {
	Next string
	OIDC bool
}

func (s *Server) loginView(next string) loginView {
	return loginView{Next: safeNext(next), OIDC: s.cfg.OIDC != nil}
}

func uiLogin(s *Server, w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "login.html", page{Title: "Sign in", Data: s.loginView(r.URL.Query().Get("next"))})
}

func uiLoginPost(s *Server, w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	u, _, err := s.signIn(w, r, r.PostFormValue("name"), r.PostFormValue("password"))
	if err != nil {
		status := sam.HTTPStatus(err)
		if isTooMany(err) {
			status = http.StatusTooManyRequests
		}
		if sam.ErrorCode(err) == sam.EINTERNAL {
			return err
		}
		s.log.Warn("sign-in failed", "user", r.PostFormValue("name"), "remote", clientIP(r))
		return s.render(w, r, status, "login.html", page{Title: "Sign in", Error: sam.ErrorMessage(err), Data: s.loginView(next)})
	}
	if u.MustChangePassword {
		next = "/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func uiLogout(s *Server, w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.cfg.Auth.EndSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.setSessionCookie(w, "", time.Time{})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func uiPassword(s *Server, w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "password.html", page{Title: "Change password"})
}

func uiPasswordPost(s *Server, w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.Session == nil {
		return sam.Errorf(sam.EFORBIDDEN, "only a signed-in user changes a password")
	}
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		return s.render(w, r, http.StatusBadRequest, "password.html", page{Title: "Change password", Error: "The two new passwords differ."})
	}
	err := s.cfg.Auth.ChangePassword(r.Context(), p.UserID, r.PostFormValue("current"), r.PostFormValue("new"), p.Session.IDHash)
	if err != nil {
		if sam.ErrorCode(err) == sam.EINTERNAL || sam.ErrorCode(err) == sam.EUNAVAILABLE {
			return err
		}
		return s.render(w, r, sam.HTTPStatus(err), "password.html", page{Title: "Change password", Error: sam.ErrorMessage(err)})
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// modelUsage is one bar of the dashboard's usage-by-model chart.
type modelUsage struct {
	Label    string
	Total    int
	Segments []segment
}

type segment struct {
	Class string
	Label string
	Count int
	X, W  float64 // percent of the bar
}

// dashboardView is the dashboard page: the figures and their charts.
type dashboardView struct {
	D            *DashboardJSON
	Models       []modelUsage
	Capabilities map[string]Capability
	Savings      template.HTML
	Compliance   template.HTML
	Trend        template.HTML
	Idle         template.HTML
}

// idleLabel is the human name of an idle bucket.
func idleLabel(b string) string {
	if b == store.IdleNever {
		return "never"
	}
	return b + " days"
}

func uiDashboard(s *Server, w http.ResponseWriter, r *http.Request) error {
	d, err := s.dashboard(r.Context())
	if err != nil {
		return err
	}
	s.dash.viewMu.Lock()
	cached := s.dash.view
	s.dash.viewMu.Unlock()
	if cached == nil || cached.D != d {
		cached = newDashboardView(d)
		s.dash.viewMu.Lock()
		s.dash.view = cached
		s.dash.viewMu.Unlock()
	}
	v := *cached
	v.Capabilities = s.capabilities()
	return s.render(w, r, http.StatusOK, "dashboard.html", page{Title: "Dashboard", Nav: "dashboard", Data: v})
}

// newDashboardView draws the charts of d (once per computed dashboard).
func newDashboardView(d *DashboardJSON) *dashboardView {
	v := dashboardView{D: d}
	for _, m := range d.Models {
		mu := modelUsage{Label: m.Label, Total: m.Total}
		x := 0.0
		for _, c := range sam.UsageClasses {
			n := m.Classes[string(c)]
			if n == 0 || m.Total == 0 {
				continue
			}
			wd := 100 * float64(n) / float64(m.Total)
			mu.Segments = append(mu.Segments, segment{Class: string(c), Label: classLabel(string(c)), Count: n, X: x, W: wd})
			x += wd
		}
		v.Models = append(v.Models, mu)
	}
	if len(d.Savings.Currencies) > 0 {
		c := chartSpec{ID: "chart-savings", Title: "Potential and realised savings per month",
			Desc: "Bars per currency: potential savings of open removal candidates and realised savings of licences removed, per month."}
		pot := series{Name: "Potential", Class: "c-inactive_90"}
		rea := series{Name: "Realised", Class: "c-active"}
		for _, x := range d.Savings.Currencies {
			c.Labels = append(c.Labels, x.Currency)
			pot.Values = append(pot.Values, float64(x.Potential)/100)
			rea.Values = append(rea.Values, float64(x.Realised)/100)
		}
		c.Series = []series{pot, rea}
		v.Savings = barChart(c)
	}
	if len(d.Compliance) > 0 {
		c := chartSpec{ID: "chart-compliance", Title: "Rights owned and used per product",
			Desc: "Bars per profile and product: rights owned (entitlements active today) and rights used (open subscriptions); used above owned is a shortfall."}
		own := series{Name: "Owned", Class: "c-low_usage"}
		use := series{Name: "Used", Class: "c-inactive_60"}
		for _, x := range d.Compliance {
			c.Labels = append(c.Labels, x.Profile+" · "+x.Product)
			own.Values = append(own.Values, float64(x.Owned))
			use.Values = append(use.Values, float64(x.Used))
		}
		c.Series = []series{own, use}
		v.Compliance = barChart(c)
	}
	if len(d.Trend) > 0 {
		c := chartSpec{ID: "chart-trend", Title: "Active and stale subscriptions over time",
			Desc: fmt.Sprintf("One point per day with a usage snapshot, %s to %s: active (active and low usage), stale (inactive 30 days or more, or never active) and other (disabled or unknown).",
				d.Trend[0].Day, d.Trend[len(d.Trend)-1].Day)}
		act := series{Name: "Active", Class: "c-active"}
		stale := series{Name: "Stale", Class: "c-never_active"}
		other := series{Name: "Other", Class: "c-unknown"}
		for _, p := range d.Trend {
			c.Labels = append(c.Labels, p.Day)
			act.Values = append(act.Values, float64(p.Active))
			stale.Values = append(stale.Values, float64(p.Stale))
			other.Values = append(other.Values, float64(p.Other))
		}
		c.Series = []series{act, stale, other}
		v.Trend = lineChart(c)
	}
	if d.Subscriptions > 0 {
		c := chartSpec{ID: "chart-idle", Title: "Days since the last activity",
			Desc: "Open subscriptions by the number of days since their last activity, and those never active."}
		sr := series{Name: "Subscriptions", Class: "c-inactive_30"}
		for _, x := range d.Idle {
			c.Labels = append(c.Labels, idleLabel(x.Bucket))
			sr.Values = append(sr.Values, float64(x.Count))
		}
		c.Series = []series{sr}
		v.Idle = barChart(c)
	}
	return &v
}

type profilesView struct {
	Profiles []ProfileJSON
	JobsOn   bool
}

func canManageProfiles(p *auth.Principal) bool { return p != nil && integrators.allows(p.Role) }

func uiProfiles(s *Server, w http.ResponseWriter, r *http.Request) error {
	return s.profilesPage(w, r, http.StatusOK, "", "")
}

func (s *Server) profilesPage(w http.ResponseWriter, r *http.Request, status int, flash, errMsg string) error {
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	var out []ProfileJSON
	for _, p := range ps {
		j, err := s.profileJSON(r, p)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	if c := r.URL.Query().Get("created"); c != "" && flash == "" && errMsg == "" {
		flash = "Profile " + c + " created."
	}
	return s.render(w, r, status, "profiles.html", page{Title: "Profiles", Nav: "profiles", Data: profilesView{Profiles: out, JobsOn: s.cfg.Jobs != nil},
		Flash: flash, Error: errMsg, CanEdit: canManageProfiles(principal(r))})
}

func uiProfileCreate(s *Server, w http.ResponseWriter, r *http.Request) error {
	str := func(k string) *string { v := strings.TrimSpace(r.PostFormValue(k)); return &v }
	in := ProfileInput{Name: str("name"), DisplayName: str("display_name"), TenantID: str("tenant_id"), ClientID: str("client_id"),
		ClientSecret: str("client_secret"), AnalyzeFrom: str("analyze_from")}
	if v := *str("login_url"); v != "" {
		in.LoginURL = &v
	}
	if v := *str("graph_url"); v != "" {
		in.GraphURL = &v
	}
	if v := *str("ca_file"); v != "" {
		in.CAFile = &v
	}
	var envs []EnvironmentInput
	for _, line := range strings.Split(r.PostFormValue("environments"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			envs = append(envs, EnvironmentInput{URL: line})
		}
	}
	in.Environments = &envs
	p, err := s.createProfile(r, in)
	if err != nil {
		if c := sam.ErrorCode(err); c == sam.EINTERNAL {
			return err
		}
		return s.profilesPage(w, r, sam.HTTPStatus(err), "", sam.ErrorMessage(err))
	}
	s.audit(r, &Route{Method: "POST", Path: "/profiles", Summary: "Create a profile (web UI)"}, http.StatusSeeOther)
	http.Redirect(w, r, "/profiles?created="+url.QueryEscape(p.Name), http.StatusSeeOther)
	return nil
}

type subsView struct {
	Page    SubscriptionPage
	Query   url.Values
	Sorts   []string
	Classes []string
	Profile []string
	NextURL string
	CSVURL  string
	SortURL map[string]string
}

func uiSubscriptions(s *Server, w http.ResponseWriter, r *http.Request) error {
	pg, err := s.searchSubscriptions(r)
	if err != nil {
		if sam.ErrorCode(err) == sam.EINVALID || sam.ErrorCode(err) == sam.ENOTFOUND {
			return s.render(w, r, sam.HTTPStatus(err), "subscriptions.html", page{Title: "Subscriptions", Nav: "subscriptions",
				Error: sam.ErrorMessage(err), Data: subsView{Query: r.URL.Query(), Classes: classNames()}})
		}
		return err
	}
	q := r.URL.Query()
	v := subsView{Page: pg, Query: q, Sorts: store.SubscriptionSortKeys, Classes: classNames(), SortURL: map[string]string{}}
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	for _, p := range ps {
		v.Profile = append(v.Profile, p.Name)
	}
	if pg.NextCursor != "" {
		n := cloneValues(q)
		n.Set("cursor", pg.NextCursor)
		v.NextURL = "/subscriptions?" + n.Encode()
	}
	c := cloneValues(q)
	c.Del("cursor")
	c.Del("limit")
	v.CSVURL = "/api/v1/subscriptions.csv?" + c.Encode()
	for _, key := range []string{"upn", "display_name", "department", "usage_class", "last_activity"} {
		n := cloneValues(q)
		n.Del("cursor")
		n.Set("sort", key)
		if q.Get("sort") == key && q.Get("order") != "desc" {
			n.Set("order", "desc")
		} else {
			n.Set("order", "asc")
		}
		v.SortURL[key] = "/subscriptions?" + n.Encode()
	}
	return s.render(w, r, http.StatusOK, "subscriptions.html", page{Title: "Subscriptions", Nav: "subscriptions", Data: v})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func classNames() []string {
	var out []string
	for _, c := range sam.UsageClasses {
		out = append(out, string(c))
	}
	return out
}

type runsView struct {
	Runs      []RunJSON
	Jobs      []JobJSON
	Schedules []ScheduleJSON
	JobsOn    bool
	JobsMsg   string
}

func uiRuns(s *Server, w http.ResponseWriter, r *http.Request) error {
	runs, err := s.cfg.Store.Runs(r.Context(), store.RunFilter{Limit: 100})
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	v := runsView{JobsOn: s.cfg.Jobs != nil, JobsMsg: s.capabilities()["jobs"].Message}
	for _, run := range runs {
		v.Runs = append(v.Runs, newRunJSON(run, names[run.ProfileID]))
	}
	if s.cfg.Jobs != nil {
		jobs, err := s.cfg.Jobs.Jobs(r.Context(), job.JobFilter{Limit: 50})
		if err != nil {
			return err
		}
		for _, j := range jobs {
			v.Jobs = append(v.Jobs, newJobJSON(j, names))
		}
		scs, err := s.cfg.Jobs.Schedules(r.Context())
		if err != nil {
			return err
		}
		for _, sc := range scs {
			v.Schedules = append(v.Schedules, newScheduleJSON(sc))
		}
	}
	flash := ""
	if id := r.URL.Query().Get("triggered"); id != "" {
		flash = "Job " + id + " queued; it appears below and its runs when it starts."
	}
	return s.render(w, r, http.StatusOK, "runs.html", page{Title: "Runs", Nav: "runs", Data: v, Flash: flash})
}

// uiRunNow triggers a sync of a profile from its "Run now" button.
func uiRunNow(s *Server, w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if s.cfg.Jobs == nil {
		return s.profilesPage(w, r, http.StatusServiceUnavailable, "", errNoJobs.Message)
	}
	id, err := s.cfg.Jobs.Trigger(r.Context(), p.ID, job.KindSync)
	if err != nil {
		if sam.ErrorCode(err) == sam.ECONFLICT {
			return s.profilesPage(w, r, http.StatusConflict, "", sam.ErrorMessage(err))
		}
		return err
	}
	s.audit(r, &Route{Method: "POST", Path: "/profiles/{name}/run", Summary: "Trigger a sync (web UI)"}, http.StatusSeeOther)
	http.Redirect(w, r, fmt.Sprintf("/runs?triggered=%d", id), http.StatusSeeOther)
	return nil
}

func uiStatic(s *Server, w http.ResponseWriter, r *http.Request) error {
	name := path.Clean(r.PathValue("file"))
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil || strings.Contains(name, "/") {
		return sam.Errorf(sam.ENOTFOUND, "no such asset: %s", name)
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err = w.Write(b)
	return err
}

func (s *Server) uiRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/login", Access: public, Summary: "Sign-in page", Tag: "ui", Handler: uiLogin},
		{Method: "POST", Path: "/login", Access: public, Summary: "Sign in (form)", Tag: "ui", Handler: uiLoginPost},
		{Method: "POST", Path: "/logout", Access: anyRole, Summary: "Sign out (form)", Tag: "ui", AllowPasswordChange: true, Handler: uiLogout},
		{Method: "GET", Path: "/password", Access: anyRole, Summary: "Password change page", Tag: "ui", AllowPasswordChange: true, Handler: uiPassword},
		{Method: "POST", Path: "/password", Access: anyRole, Summary: "Change password (form)", Tag: "ui", AllowPasswordChange: true, Handler: uiPasswordPost},
		{Method: "GET", Path: "/{$}", Access: anyRole, Summary: "Dashboard", Tag: "ui", Handler: uiDashboard},
		{Method: "GET", Path: "/profiles", Access: anyRole, Summary: "Profiles page", Tag: "ui", Handler: uiProfiles},
		{Method: "POST", Path: "/profiles", Access: integrators, Summary: "Create a profile (form)", Tag: "ui", Handler: uiProfileCreate},
		{Method: "GET", Path: "/subscriptions", Access: anyRole, Summary: "Subscriptions page", Tag: "ui", Handler: uiSubscriptions},
		{Method: "GET", Path: "/runs", Access: anyRole, Summary: "Runs page", Tag: "ui", Handler: uiRuns},
		{Method: "POST", Path: "/profiles/{name}/run", Access: integrators, Summary: "Run a sync now (form)", Tag: "ui", Handler: uiRunNow},
		{Method: "GET", Path: "/static/{file}", Access: public, Summary: "Embedded assets", Tag: "ui", Handler: uiStatic},
	}
}
