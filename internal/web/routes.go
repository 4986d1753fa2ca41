package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/seatwise/seatwise/internal/auth"
)

// Access is a route's access rule: public, or the roles that may call it.
type Access struct {
	Public bool
	Roles  []auth.Role
}

// The access rules used by the route table.
var (
	public      = Access{Public: true}
	anyRole     = Access{Roles: auth.Roles}
	admins      = Access{Roles: []auth.Role{auth.RoleAdmin}}
	integrators = Access{Roles: []auth.Role{auth.RoleAdmin, auth.RoleSAMIntegrator}}
)

func (a Access) allows(r auth.Role) bool { return a.Public || slices.Contains(a.Roles, r) }

// String names the rule: "public" or the roles joined by " or ".
func (a Access) String() string {
	if a.Public {
		return "public"
	}
	var names []string
	for _, r := range a.Roles {
		names = append(names, string(r))
	}
	return strings.Join(names, " or ")
}

// Param documents a query parameter.
type Param struct {
	Name string
	Type string // "string", "integer" or "boolean"
	Doc  string
	Enum []string
}

// Route is one entry of the route table.
type Route struct {
	Method  string // GET, POST, PATCH, DELETE
	Path    string // ServeMux path pattern, e.g. /api/v1/profiles/{name}
	Access  Access
	API     bool // a JSON endpoint (documented in OpenAPI, JSON errors)
	Summary string
	Tag     string
	Query   []Param
	Body    any // example value of the request body type, nil when none
	// BodyContent is the media type of a request body that is not JSON
	// (e.g. text/csv).
	BodyContent string
	Resp        any    // example value of the answer type (JSON), nil when none
	Status      int    // success status (200 when 0)
	Content     string // answer media type other than JSON, e.g. text/csv
	// AllowPasswordChange lets a user who must change a one-time password
	// through (sign-out, password change, who am I).
	AllowPasswordChange bool
	// NoAudit keeps an unsafe API route out of the audit log (sign-in,
	// whose failures are logged and rate limited instead).
	NoAudit bool
	// Cache keeps the route's successful GET answers per URL while the data
	// stamp is unchanged (see respcache.go): only for answers that do not
	// depend on who asks.
	Cache   bool
	Handler func(s *Server, w http.ResponseWriter, r *http.Request) error
}

func (rt *Route) handle(s *Server, w http.ResponseWriter, r *http.Request) error {
	if rt.Cache && r.Method == http.MethodGet {
		return s.serveCached(rt, w, r)
	}
	return rt.Handler(s, w, r)
}

// pathParams returns the names of the {wildcards} of a path pattern.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// routeTable is every route the server answers, with its access rule.
func (s *Server) routeTable() []*Route {
	var routes []*Route
	routes = append(routes, s.opsRoutes()...)
	routes = append(routes, s.apiRoutes()...)
	routes = append(routes, s.jobRoutes()...)
	routes = append(routes, s.reconRoutes()...)
	routes = append(routes, s.insightRoutes()...)
	routes = append(routes, s.oidcRoutes()...)
	routes = append(routes, s.validateRoutes()...)
	routes = append(routes, s.connectRoutes()...)
	routes = append(routes, s.reconUIRoutes()...)
	routes = append(routes, s.reclaimRoutes()...)
	routes = append(routes, s.reclaimUIRoutes()...)
	routes = append(routes, s.linkRoutes()...)
	routes = append(routes, s.reclaimSimRoutes()...)
	routes = append(routes, s.uiRoutes()...)
	return routes
}
