package mscloud

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// TenantConfig defines one simulated tenant: an already built Tenant, a
// scenario file, or generation options (in that order of precedence).
type TenantConfig struct {
	Tenant   *tenant.Tenant
	Scenario string
	// Options generate the tenant; a zero Seed takes Config.Seed and
	// TenantIndex is set to the tenant's position.
	Options tenant.Options
	// RedirectURIs are registered for the app in addition to any loopback URI.
	RedirectURIs []string
	// GraphRoles overrides the app's granted Graph application permissions
	// (nil keeps the tenant's).
	GraphRoles []string
}

// tenantCtx is one served tenant: the model plus the simulator's view of
// its app registration.
type tenantCtx struct {
	s       *Server
	t       *tenant.Tenant
	id      string
	domains []string
	envs    []*envCtx

	mu  sync.Mutex
	app App
	sp  string // service principal object id
}

// envCtx is one served Dataverse environment.
type envCtx struct {
	tenant *tenantCtx
	index  int
	org    string // lower case
	name   string
}

func (s *Server) newTenantCtx(i int, spec TenantConfig) (*tenantCtx, error) {
	t := spec.Tenant
	var err error
	switch {
	case t != nil:
	case spec.Scenario != "":
		f, ferr := os.Open(spec.Scenario)
		if ferr != nil {
			return nil, fmt.Errorf("open scenario: %w", ferr)
		}
		t, err = tenant.LoadScenario(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", spec.Scenario, err)
		}
	default:
		o := spec.Options
		if o.Seed == 0 {
			o.Seed = s.cfg.Seed
		}
		o.TenantIndex = i
		t, err = tenant.Generate(o)
		if err != nil {
			return nil, err
		}
	}
	ta := t.App()
	app := App{
		ClientID: strings.ToLower(ta.ClientID), ClientSecret: ta.ClientSecret, DisplayName: "Seatwise",
		RedirectURIs: append([]string{"https://127.0.0.1/seatwise/callback"}, spec.RedirectURIs...),
		GraphRoles:   append([]string(nil), ta.GraphPermissions...),
		GraphScopes:  append([]string(nil), DefaultGraphScopes...),
	}
	if spec.GraphRoles != nil {
		app.GraphRoles = append([]string(nil), spec.GraphRoles...)
	}
	tc := &tenantCtx{s: s, t: t, id: strings.ToLower(t.ID()), domains: []string{strings.ToLower(t.Domain())}, app: app, sp: strings.ToLower(ta.ObjectID)}
	for _, e := range t.Environments() {
		tc.envs = append(tc.envs, &envCtx{tenant: tc, index: e.Index, org: strings.ToLower(e.Name), name: e.FriendlyName})
	}
	return tc, nil
}

// findApp returns the app registered under clientID and its tenant.
func (s *Server) findApp(clientID string) (*App, *tenantCtx) {
	for _, tc := range s.tenants {
		a := tc.appSnapshot()
		if strings.EqualFold(a.ClientID, clientID) {
			return a, tc
		}
	}
	return nil, nil
}

func (tc *tenantCtx) appSnapshot() *App {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	a := tc.app
	a.RedirectURIs = append([]string(nil), a.RedirectURIs...)
	a.GraphRoles = append([]string(nil), a.GraphRoles...)
	a.GraphScopes = append([]string(nil), a.GraphScopes...)
	a.Certificates = append([]string(nil), a.Certificates...)
	return &a
}

func (tc *tenantCtx) updateApp(f func(*App)) App {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	f(&tc.app)
	return tc.app
}

func (tc *tenantCtx) displayName() string        { return tc.t.DisplayName() }
func (tc *tenantCtx) now() time.Time             { return tc.t.Now() }
func (tc *tenantCtx) servicePrincipalID() string { return tc.sp }

// admins lists up to n user principal names that can sign in (enabled
// users), shown on the sign-in page.
func (tc *tenantCtx) admins(n int) []string {
	users, _, err := tc.t.UsersPage("", n, func(u *tenant.User) bool { return u.AccountEnabled })
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.UserPrincipalName)
	}
	return out
}

// signInUser resolves a sign-in name (UPN or object id).
func (tc *tenantCtx) signInUser(login string) (id string, ok, enabled bool) {
	if login == "" {
		return "", false, false
	}
	u, err := tc.t.User(login)
	if err != nil {
		return "", false, false
	}
	return u.ID, true, u.AccountEnabled
}

func (tc *tenantCtx) userState(id string) (ok, enabled bool) {
	u, err := tc.t.User(id)
	if err != nil {
		return false, false
	}
	return true, u.AccountEnabled
}

func (tc *tenantCtx) userNames(id string) (upn, name string, ok bool) {
	u, err := tc.t.User(id)
	if err != nil {
		return "", "", false
	}
	return u.UserPrincipalName, u.DisplayName, true
}

// env returns the current environment record.
func (e *envCtx) env() (tenant.Environment, error) { return e.tenant.t.Environment(e.index) }
