// Package web is the HTTP surface of `seatwise serve`: the JSON API under
// /api/v1, its OpenAPI 3.1 document, the server-rendered web UI, and the
// operational endpoints /healthz, /readyz and /metrics.
//
// Every route is declared once, in the route table of routes.go, with the
// roles that may call it. The table drives the ServeMux, the access checks,
// the OpenAPI document and the route × role matrix test, so none of them can
// drift from the others.
//
// Requests are authenticated by a session cookie (browsers) or an
// "Authorization: Bearer" API token (automation). Unsafe methods are
// protected against cross-site requests by http.CrossOriginProtection, and
// cookie-authenticated unsafe requests must also carry the session's CSRF
// token (form field "csrf" or header X-CSRF-Token). Errors have one JSON
// body (see ErrorBody) built from the sam error codes.
package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"golang.org/x/time/rate"
)

// Config is what a Server needs.
type Config struct {
	Store   store.Store
	Auth    *auth.Service
	Keyring *secret.Keyring
	Catalog *catalog.Catalog
	Logger  *slog.Logger
	// Jobs is the job queue of this instance; nil when jobs are not run
	// here (the job endpoints then say so).
	Jobs *job.Runner
	// SecureCookies marks cookies Secure (set when serving TLS, or behind
	// a TLS-terminating proxy).
	SecureCookies bool
	// LoginRate and LoginBurst limit sign-in attempts per client address
	// (defaults: one every 2 seconds, bursts of 10).
	LoginRate  rate.Limit
	LoginBurst int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Candidates supplies removal candidates for potential and realised
	// savings (recon.Options.Candidates) and CandidatesSource names it; nil
	// means reclamation is not configured, which the dashboard and the
	// savings report say.
	Candidates       recon.CandidatesFunc
	CandidatesSource string
	// OIDC enables sign-in with Entra ID (OpenID Connect); nil: local
	// accounts only.
	OIDC *auth.OIDC
	// MetricsAccess is who may read /metrics: "public", "signed-in" (any
	// role, an API token for scrapers; the default) or a role name.
	MetricsAccess string
}

// Server serves HTTP. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	routes  []*Route
	mux     *http.ServeMux
	handler http.Handler
	metrics *Metrics

	counts  countsCache
	lookups lookupCache
	stamp   stampState
	answers answerCache
	dash    dashCache
	oidc    oidcFlows

	principals principalCache

	metricsAccess Access
	pending       *connect.Pending // delegated sign-ins started here, until their callback
	limMu         sync.Mutex
	limiters      map[string]*rate.Limiter
	reqSeq        atomic.Int64
}

// ParseMetricsAccess returns the access rule of /metrics for a
// metrics_access setting: "public" (anyone: the figures name profiles and
// routes, so only behind a private network), "signed-in" or "" (any role:
// scrapers send an API token, e.g. a viewer token, as a bearer token), or a
// role name (that role and admin). EINVALID otherwise.
func ParseMetricsAccess(v string) (Access, error) {
	switch v {
	case "public":
		return public, nil
	case "", "signed-in":
		return anyRole, nil
	}
	r, err := auth.ParseRole(v)
	if err != nil {
		return Access{}, sam.Errorf(sam.EINVALID, "metrics access %q: want public, signed-in or a role (admin, sam_integrator, sam_manager, viewer)", v)
	}
	if r == auth.RoleAdmin {
		return admins, nil
	}
	return Access{Roles: []auth.Role{auth.RoleAdmin, r}}, nil
}

// SessionCookie is the name of the session cookie.
const SessionCookie = "seatwise_session"

// New returns a Server for cfg. Store and Auth are required.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Auth == nil {
		return nil, sam.Errorf(sam.EINTERNAL, "web: Store and Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	if cfg.LoginRate == 0 {
		cfg.LoginRate = rate.Every(2 * time.Second)
	}
	if cfg.LoginBurst == 0 {
		cfg.LoginBurst = 10
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), limiters: map[string]*rate.Limiter{}}
	var err error
	if s.metricsAccess, err = ParseMetricsAccess(cfg.MetricsAccess); err != nil {
		return nil, err
	}
	s.pending = connect.NewPending(connect.DefaultPendingTTL, s.now)
	s.metrics = newMetrics(s)
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, strings.HasPrefix(r.URL.Path, "/api/"), sam.Errorf(sam.ENOTFOUND, "no such page: %s %s", r.Method, r.URL.Path))
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.observe("cross-origin", r.Method, http.StatusForbidden, 0)
		s.fail(w, r, true, sam.Errorf(sam.EFORBIDDEN, "cross-origin request refused"))
	}))
	s.handler = cop.Handler(s.mux)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes returns the route table (for documentation and tests).
func (s *Server) Routes() []*Route { return s.routes }

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: Code is a sam error code (invalid,
// not_found, conflict, unauthorized, forbidden, unavailable, internal).
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

type ctxKey int

const (
	keyPrincipal ctxKey = iota
	keyRequestID
	keyRecorder
)

// principal returns the request's principal, nil for anonymous requests.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(keyPrincipal).(*auth.Principal)
	return p
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// fail answers with err: JSON for API routes and API clients, a small HTML
// page (or a redirect to sign-in) for browsers.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, api bool, err error) {
	s.failStatus(w, r, api, sam.HTTPStatus(err), err)
}

func (s *Server) failStatus(w http.ResponseWriter, r *http.Request, api bool, status int, err error) {
	code := sam.ErrorCode(err)
	msg := sam.ErrorMessage(err)
	if code == sam.EINTERNAL || code == sam.EUNAVAILABLE {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "error", err)
	}
	if rec, ok := r.Context().Value(keyRecorder).(*recorder); ok {
		rec.err = msg
	}
	if !api && strings.Contains(r.Header.Get("Accept"), "text/html") {
		if code == sam.EUNAUTHORIZED && r.Method == http.MethodGet {
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		s.renderError(w, r, status, msg)
		return
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: string(code), Message: msg, RequestID: requestID(r)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// recorder captures the status of an answer for logs, metrics and audit.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    string
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streamed answers (CSV export) reach the client as they go.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap builds the handler of one route: request id, logging, metrics,
// authentication, access check, CSRF token check, audit.
func (s *Server) wrap(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := strconv.FormatInt(s.reqSeq.Add(1), 36) + "-" + strconv.FormatInt(start.UnixNano()%1e6, 36)
		rec := &recorder{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyRecorder, rec)
		r = r.WithContext(ctx)
		rec.Header().Set("X-Request-Id", id)
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		rec.Header().Set("Referrer-Policy", "same-origin")
		if !rt.API {
			rec.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
			rec.Header().Set("X-Frame-Options", "DENY")
		}
		p, err := s.authorize(rt, r)
		if err == nil && p != nil {
			r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, p))
		}
		if err == nil {
			err = rt.handle(s, rec, r)
		}
		if err != nil {
			if errors.Is(err, errMustChange) && !rt.API && r.Method == http.MethodGet {
				http.Redirect(rec, r, "/password", http.StatusSeeOther)
			} else if rec.status == 0 {
				s.fail(rec, r, rt.API, err)
			} else {
				s.log.Error("request failed after the answer started", "request_id", id, "error", err)
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		dur := time.Since(start)
		s.metrics.observe(rt.Method+" "+rt.Path, r.Method, status, dur)
		attrs := []any{"method", r.Method, "route", rt.Path, "path", r.URL.Path, "status", status,
			"duration_ms", dur.Milliseconds(), "bytes", rec.bytes, "request_id", id, "remote", clientIP(r)}
		if p := principal(r); p != nil {
			attrs = append(attrs, "actor", p.Actor())
		}
		if rec.err != "" {
			attrs = append(attrs, "error", rec.err)
		}
		s.log.Info("http request", attrs...)
		if rt.API && r.Method != http.MethodGet && r.Method != http.MethodHead && !rt.NoAudit {
			s.audit(r, rt, status)
		}
		if unsafeMethod(r.Method) {
			s.dataChanged()
		}
	})
}

// audit appends an API action to the audit log (after the answer, with its
// status). Failed entries are logged, never fatal.
func (s *Server) audit(r *http.Request, rt *Route, status int) {
	actor := "anonymous"
	if p := principal(r); p != nil {
		actor = p.Actor()
	}
	target := ""
	for _, name := range pathParams(rt.Path) {
		if v := r.PathValue(name); v != "" {
			if target != "" {
				target += " "
			}
			target += name + "=" + v
		}
	}
	detail := rt.Summary
	if rec, ok := r.Context().Value(keyRecorder).(*recorder); ok && rec.err != "" {
		detail += ": " + rec.err
	}
	if len(detail) > 500 {
		detail = detail[:500]
	}
	e := &store.AuditEntry{At: s.now(), Actor: actor, Action: rt.Method + " " + rt.Path, Target: target, Status: status, Detail: detail}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit log append failed", "action", e.Action, "error", err)
	}
}

// authorize authenticates the request and checks the route's access rule.
// It returns the principal (nil for anonymous requests to public routes).
func (s *Server) authorize(rt *Route, r *http.Request) (*auth.Principal, error) {
	p, err := s.authenticate(r)
	if rt.Access.Public {
		if err != nil {
			return nil, nil // a stale cookie does not stop public pages
		}
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, sam.Errorf(sam.EUNAUTHORIZED, "sign in or send an API token (Authorization: Bearer)")
	}
	if !rt.Access.allows(p.Role) {
		return nil, sam.Errorf(sam.EFORBIDDEN, "role %s may not %s %s (needs %s)", p.Role, rt.Method, rt.Path, rt.Access)
	}
	if p.MustChangePassword && !rt.AllowPasswordChange {
		return nil, errMustChange
	}
	if p.Session != nil && unsafeMethod(r.Method) && !rt.Access.Public {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRFToken)) != 1 {
			return nil, sam.Errorf(sam.EFORBIDDEN, "missing or wrong CSRF token; reload the page")
		}
	}
	return p, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// authenticate returns the principal of a bearer token or session cookie;
// nil, nil when the request carries neither.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, sam.Errorf(sam.EUNAUTHORIZED, "Authorization header: want Bearer <token>")
		}
		tok = strings.TrimSpace(tok)
		return s.principals.get(s, "t:"+tok, func() (*auth.Principal, error) { return s.cfg.Auth.TokenPrincipal(r.Context(), tok) })
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	return s.principals.get(s, "s:"+c.Value, func() (*auth.Principal, error) { return s.cfg.Auth.SessionPrincipal(r.Context(), c.Value) })
}

// principalTTL is how long an authenticated token or session is trusted
// without reading the store again. A change made through this server
// (sign-out, revocation, disabled account, new role) clears the cache at
// once; one made through another instance or the CLI takes effect within
// principalTTL.
const principalTTL = 5 * time.Second

// principalCache keeps recent principals by the hash of their token or
// session id, so that a burst of requests costs one lookup.
type principalCache struct {
	mu sync.Mutex
	m  map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p     *auth.Principal
	until time.Time
}

func (c *principalCache) get(s *Server, secret string, load func() (*auth.Principal, error)) (*auth.Principal, error) {
	key := auth.HashSecret(secret)
	now := s.now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.p, nil
	}
	p, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]cachedPrincipal{}
	}
	c.m[key] = cachedPrincipal{p: p, until: now.Add(principalTTL)}
	c.mu.Unlock()
	return p, nil
}

func (c *principalCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// allowLogin applies the per-address sign-in rate limit.
func (s *Server) allowLogin(r *http.Request) bool {
	ip := clientIP(r)
	s.limMu.Lock()
	defer s.limMu.Unlock()
	l, ok := s.limiters[ip]
	if !ok {
		if len(s.limiters) > 10000 { // bound memory under a spray of addresses
			clear(s.limiters)
		}
		l = rate.NewLimiter(s.cfg.LoginRate, s.cfg.LoginBurst)
		s.limiters[ip] = l
	}
	return l.Allow()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// setSessionCookie sends the session cookie (HttpOnly, SameSite=Lax,
// Secure when configured).
func (s *Server) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	c := &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// signIn checks credentials, applying rate limit, and starts a new session
// (always a new id, so a session id planted before sign-in is useless).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, name, password string) (*store.User, *store.Session, error) {
	if !s.allowLogin(r) {
		w.Header().Set("Retry-After", "2")
		return nil, nil, errTooMany
	}
	u, err := s.cfg.Auth.Authenticate(r.Context(), name, password)
	if err != nil {
		return nil, nil, err
	}
	sess, err := s.newSession(w, r, u)
	if err != nil {
		return nil, nil, err
	}
	return u, sess, nil
}

// newSession ends the browser's current session, if any, starts a new one
// for u (always a new id, so a session id planted before sign-in is useless)
// and sends its cookie.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, u *store.User) (*store.Session, error) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		_ = s.cfg.Auth.EndSession(r.Context(), c.Value)
	}
	id, sess, err := s.cfg.Auth.StartSession(r.Context(), u)
	if err != nil {
		return nil, err
	}
	s.setSessionCookie(w, id, sess.ExpiresAt)
	return sess, nil
}

// errMustChange refuses every route but the password change to a user
// signed in with a one-time password.
var errMustChange = sam.Errorf(sam.EFORBIDDEN, "change your one-time password first (POST /api/v1/me/password or /password)")

// errTooMany is answered with 429 Too Many Requests.
var errTooMany = sam.Errorf(sam.EUNAVAILABLE, "too many sign-in attempts from this address; wait a few seconds")

func isTooMany(err error) bool { return errors.Is(err, errTooMany) }
