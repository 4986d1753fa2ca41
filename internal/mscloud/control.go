package mscloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// The control API (JSON, under /_mscloud, no authentication: loopback
// only). {tenant} is a tenant id, a domain, or "_" for the first tenant.
//
//	GET    /_mscloud/info                                    Info
//	GET    /_mscloud/counters, DELETE /_mscloud/counters     Counters, reset
//	GET|PUT /_mscloud/faults                                 Faults
//	GET|PUT /_mscloud/limits                                 Limits
//	PUT    /_mscloud/token-lifetime                          {"lifetime":"1m"}
//	POST   /_mscloud/tokens/expire                           every access token issued so far expires
//	GET    /_mscloud/tenants/{tenant}/truth?from=RFC3339&envs=0,1    tenant.Truth
//	GET    /_mscloud/tenants/{tenant}/users/{id}             tenant.User
//	GET    /_mscloud/tenants/{tenant}/users/{id}/truth?from=&envs=   tenant.UserTruth
//	POST   /_mscloud/tenants/{tenant}/users                  tenant.NewUser → tenant.User
//	PATCH  /_mscloud/tenants/{tenant}/users/{id}             attributes → tenant.User
//	DELETE /_mscloud/tenants/{tenant}/users/{id}?permanent=true
//	POST   /_mscloud/tenants/{tenant}/users/{id}/restore
//	POST   /_mscloud/tenants/{tenant}/users/{id}/licenses    {"add":[{"sku_id","disabled_plans"}],"remove":[ids]}
//	POST   /_mscloud/tenants/{tenant}/users/{id}/disable | /enable
//	POST   /_mscloud/tenants/{tenant}/users/{id}/signin      {"at":RFC3339|""}
//	POST   /_mscloud/tenants/{tenant}/users/{id}/activity    {"env","at","operation","action","entity"}
//	POST   /_mscloud/tenants/{tenant}/groups/{gid}/members   {"user_id"}
//	DELETE /_mscloud/tenants/{tenant}/groups/{gid}/members/{uid}
//	PUT    /_mscloud/tenants/{tenant}/environments/{index}/audit   tenant.AuditSettings fields
//	GET|POST /_mscloud/tenants/{tenant}/clock                {"advance":"24h"} → {"now"}
//	POST   /_mscloud/tenants/{tenant}/revoke                 {"user_id":""} → {"revoked":n}
//	GET|PATCH /_mscloud/tenants/{tenant}/app                 {"graph_roles":[...],"secret_expires":RFC3339,"certificates":[PEM]}
func (s *Server) controlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { ok(w, s.info(s.baseURL(r))) })
	m.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) { ok(w, s.Counters()) })
	m.HandleFunc("DELETE /counters", func(w http.ResponseWriter, r *http.Request) { s.ResetCounters(); ok(w, s.Counters()) })
	m.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) { ok(w, s.Faults()) })
	m.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decode(w, r, &f) {
			return
		}
		if err := s.SetFaults(f); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		ok(w, s.Faults())
	})
	m.HandleFunc("POST /tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireAccessTokens()
		ok(w, map[string]any{"expired": true})
	})
	m.HandleFunc("GET /limits", func(w http.ResponseWriter, r *http.Request) { ok(w, s.limits.get()) })
	m.HandleFunc("PUT /limits", func(w http.ResponseWriter, r *http.Request) {
		var l Limits
		if !decode(w, r, &l) {
			return
		}
		s.SetLimits(l)
		ok(w, s.limits.get())
	})
	m.HandleFunc("PUT /token-lifetime", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Lifetime Duration `json:"lifetime"`
		}
		if !decode(w, r, &in) {
			return
		}
		s.SetTokenLifetime(time.Duration(in.Lifetime))
		ok(w, map[string]any{"lifetime": Duration(s.tokenLifetime())})
	})
	t := func(pattern string, h func(http.ResponseWriter, *http.Request, *tenantCtx)) {
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			tc := s.controlTenant(r.PathValue("tenant"))
			if tc == nil {
				fail(w, http.StatusNotFound, fmt.Errorf("no tenant %q", r.PathValue("tenant")))
				return
			}
			h(w, r, tc)
		})
	}
	t("GET /tenants/{tenant}/truth", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		from, envs, err := truthArgs(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		tr, err := tc.t.Truth(from, envs)
		result(w, tr, err)
	})
	t("GET /tenants/{tenant}/users/{id}", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		u, err := tc.t.User(r.PathValue("id"))
		result(w, u, err)
	})
	t("GET /tenants/{tenant}/users/{id}/truth", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		from, envs, err := truthArgs(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		ut, err := tc.t.UserTruth(r.PathValue("id"), from, envs)
		result(w, ut, err)
	})
	t("POST /tenants/{tenant}/users", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var nu tenant.NewUser
		if !decode(w, r, &nu) {
			return
		}
		u, err := tc.t.AddUser(nu)
		result(w, u, err)
	})
	t("PATCH /tenants/{tenant}/users/{id}", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var a tenant.UserAttributes
		if !decode(w, r, &a) {
			return
		}
		u, err := tc.t.UpdateUser(r.PathValue("id"), a)
		result(w, u, err)
	})
	t("DELETE /tenants/{tenant}/users/{id}", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		err := tc.t.DeleteUser(r.PathValue("id"), r.URL.Query().Get("permanent") == "true")
		result(w, map[string]any{"deleted": err == nil}, err)
	})
	t("POST /tenants/{tenant}/users/{id}/restore", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		err := tc.t.RestoreUser(r.PathValue("id"))
		result(w, map[string]any{"restored": err == nil}, err)
	})
	t("POST /tenants/{tenant}/users/{id}/licenses", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			Add []struct {
				SKUID         string   `json:"sku_id"`
				DisabledPlans []string `json:"disabled_plans"`
			} `json:"add"`
			Remove []string `json:"remove"`
		}
		if !decode(w, r, &in) {
			return
		}
		var add []tenant.AssignedLicense
		for _, a := range in.Add {
			add = append(add, tenant.AssignedLicense{SKUID: strings.ToLower(a.SKUID), DisabledPlans: nonNil(a.DisabledPlans)})
		}
		u, err := tc.t.AssignLicense(r.PathValue("id"), add, in.Remove)
		result(w, u, err)
	})
	t("POST /tenants/{tenant}/users/{id}/disable", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		result(w, map[string]any{"account_enabled": false}, tc.t.DisableUser(r.PathValue("id")))
	})
	t("POST /tenants/{tenant}/users/{id}/enable", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		result(w, map[string]any{"account_enabled": true}, tc.t.EnableUser(r.PathValue("id")))
	})
	t("POST /tenants/{tenant}/users/{id}/signin", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			At time.Time `json:"at"`
		}
		if !decode(w, r, &in) {
			return
		}
		result(w, map[string]any{"last_sign_in": in.At}, tc.t.SetSignIn(r.PathValue("id"), in.At))
	})
	t("POST /tenants/{tenant}/users/{id}/activity", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			Env       int       `json:"env"`
			At        time.Time `json:"at"`
			Operation int       `json:"operation"`
			Action    int       `json:"action"`
			Entity    string    `json:"entity"`
		}
		if !decode(w, r, &in) {
			return
		}
		err := tc.t.AddActivity(r.PathValue("id"), tenant.Event{Env: in.Env, At: in.At, Operation: in.Operation, Action: in.Action, Entity: in.Entity})
		result(w, map[string]any{"recorded": err == nil}, err)
	})
	t("POST /tenants/{tenant}/groups/{gid}/members", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			UserID string `json:"user_id"`
		}
		if !decode(w, r, &in) {
			return
		}
		result(w, map[string]any{"added": true}, tc.t.AddGroupMember(r.PathValue("gid"), in.UserID))
	})
	t("DELETE /tenants/{tenant}/groups/{gid}/members/{uid}", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		result(w, map[string]any{"removed": true}, tc.t.RemoveGroupMember(r.PathValue("gid"), r.PathValue("uid")))
	})
	t("PUT /tenants/{tenant}/environments/{index}/audit", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		idx, err := strconv.Atoi(r.PathValue("index"))
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("environment index %q is not a number", r.PathValue("index")))
			return
		}
		var in struct {
			AuditEnabled           *bool `json:"audit_enabled"`
			UserAccessAuditEnabled *bool `json:"user_access_audit_enabled"`
			RetentionDays          *int  `json:"retention_days"`
			AccessIntervalHours    *int  `json:"access_interval_hours"`
		}
		if !decode(w, r, &in) {
			return
		}
		env, err := tc.t.Environment(idx)
		if err != nil {
			result(w, nil, err)
			return
		}
		st := env.Audit
		if in.AuditEnabled != nil {
			st.AuditEnabled = *in.AuditEnabled
		}
		if in.UserAccessAuditEnabled != nil {
			st.UserAccessAuditEnabled = *in.UserAccessAuditEnabled
		}
		if in.RetentionDays != nil {
			st.RetentionDays = *in.RetentionDays
		}
		if in.AccessIntervalHours != nil {
			st.AccessIntervalHours = *in.AccessIntervalHours
		}
		result(w, st, tc.t.SetAuditSettings(idx, st))
	})
	t("GET /tenants/{tenant}/clock", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		ok(w, map[string]any{"now": tc.t.Now()})
	})
	t("POST /tenants/{tenant}/clock", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			Advance Duration `json:"advance"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Advance < 0 {
			fail(w, http.StatusBadRequest, errors.New("advance must not be negative: the simulated clock only moves forward"))
			return
		}
		tc.t.Advance(time.Duration(in.Advance))
		ok(w, map[string]any{"now": tc.t.Now()})
	})
	t("POST /tenants/{tenant}/revoke", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			UserID string `json:"user_id"`
		}
		if !decode(w, r, &in) {
			return
		}
		ok(w, map[string]any{"revoked": s.RevokeRefreshTokens(tc.id, in.UserID)})
	})
	t("GET /tenants/{tenant}/app", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) { ok(w, tc.appSnapshot()) })
	t("PATCH /tenants/{tenant}/app", func(w http.ResponseWriter, r *http.Request, tc *tenantCtx) {
		var in struct {
			GraphRoles    *[]string  `json:"graph_roles"`
			GraphScopes   *[]string  `json:"graph_scopes"`
			SecretExpires *time.Time `json:"secret_expires"`
			RedirectURIs  *[]string  `json:"redirect_uris"`
			Certificates  *[]string  `json:"certificates"`
		}
		if !decode(w, r, &in) {
			return
		}
		ok(w, tc.updateApp(func(a *App) {
			if in.GraphRoles != nil {
				a.GraphRoles = append([]string(nil), (*in.GraphRoles)...)
			}
			if in.GraphScopes != nil {
				a.GraphScopes = append([]string(nil), (*in.GraphScopes)...)
			}
			if in.SecretExpires != nil {
				a.SecretExpires = *in.SecretExpires
			}
			if in.RedirectURIs != nil {
				a.RedirectURIs = append([]string(nil), (*in.RedirectURIs)...)
			}
			if in.Certificates != nil {
				a.Certificates = append([]string(nil), (*in.Certificates)...)
			}
		}))
	})
	return m
}

func (s *Server) controlTenant(name string) *tenantCtx {
	if name == "_" && len(s.tenants) > 0 {
		return s.tenants[0]
	}
	return s.tenantsByName[strings.ToLower(name)]
}

func truthArgs(r *http.Request) (time.Time, []int, error) {
	var from time.Time
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return from, nil, fmt.Errorf("from %q is not an RFC 3339 time", v)
		}
		from = t
	}
	var envs []int
	if v := r.URL.Query().Get("envs"); v != "" {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return from, nil, fmt.Errorf("envs: %q is not an environment index", p)
			}
			envs = append(envs, n)
		}
	}
	return from, envs, nil
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, path string) {
	s.count("control", r.Method+" "+path)
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	s.control.ServeHTTP(w, r2)
}

func ok(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, "application/json", v) }

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, "application/json", map[string]string{"error": err.Error()})
}

// result answers v, or the tenant error with its Graph status.
func result(w http.ResponseWriter, v any, err error) {
	if err != nil {
		var te *tenant.Error
		if errors.As(err, &te) {
			writeJSON(w, te.HTTPStatus(), "application/json", map[string]string{"error": te.Message, "kind": string(te.Kind)})
			return
		}
		fail(w, http.StatusInternalServerError, err)
		return
	}
	ok(w, v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		fail(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
		return false
	}
	return true
}

// Tenant returns the first tenant.
func (s *Server) Tenant() *tenant.Tenant { return s.tenants[0].t }

// Tenants returns every tenant in configuration order.
func (s *Server) Tenants() []*tenant.Tenant {
	out := make([]*tenant.Tenant, len(s.tenants))
	for i, tc := range s.tenants {
		out[i] = tc.t
	}
	return out
}

// App returns the app registration of the tenant with the given id.
func (s *Server) App(tenantID string) (App, bool) {
	tc := s.tenantsByName[strings.ToLower(tenantID)]
	if tc == nil {
		return App{}, false
	}
	return *tc.appSnapshot(), true
}

// UpdateApp changes the app registration of a tenant (granted roles,
// delegated scopes, secret expiry, redirect URIs) and returns it.
func (s *Server) UpdateApp(tenantID string, f func(*App)) (App, bool) {
	tc := s.tenantsByName[strings.ToLower(tenantID)]
	if tc == nil {
		return App{}, false
	}
	return tc.updateApp(f), true
}
