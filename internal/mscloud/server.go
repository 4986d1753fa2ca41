// Package mscloud is the HTTP simulator of Microsoft that Seatwise talks to
// in tests, demos and benchmarks: the Entra ID v2.0 identity platform,
// Microsoft Graph v1.0 (organization, subscribedSkus, users, delta,
// licenseDetails, assignLicense, $batch) and the Dataverse Web API v9.2 of
// each environment (WhoAmI, systemusers, organizations, audits), over HTTPS
// with a CA generated at start. Tenants come from package tenant; this
// package serves them with Microsoft's request and response shapes (see
// ../shared/docs/microsoft-apis.md §6), validates tokens as Microsoft does,
// injects faults deterministically, and offers a JSON control API under
// /_mscloud/ to read ground truth, move the clock and mutate tenants.
//
// URL layout on one listener (https://127.0.0.1:PORT):
//
//	/{tenant}/oauth2/v2.0/{authorize,token}, /{tenant}/v2.0/.well-known/openid-configuration,
//	/{tenant}/discovery/v2.0/keys, /common/discovery/instance     login (LoginURL = base)
//	/v1.0/...                                                      Graph (GraphURL = base/v1.0; scope base/.default)
//	/env/{org}/api/data/v9.2/...                                   Dataverse environment {org}
//	                                                               (environment URL = base/env/{org}; scope {envURL}/.default)
//	/_mscloud/...                                                  control API
//
// Clocks: access-token exp/nbf/iat use the wall clock (clients compare them
// with their own clock). Client-secret expiry and refresh-token inactivity
// use the tenant's simulated clock, so advancing it through the control API
// expires them. Data (audit createdon, sign-ins, assignment dates) follows
// the tenant clock.
package mscloud

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures Start.
type Config struct {
	// Addr is the HTTPS listen address; "" means 127.0.0.1:0 (a free port).
	Addr string
	// HTTP also serves plain HTTP on HTTPAddr ("" = 127.0.0.1:0), for tests.
	HTTP     bool
	HTTPAddr string
	// CAFile is where the generated CA certificate (PEM) is written; ""
	// writes a temporary file that Close removes.
	CAFile string
	// Seed drives fault draws, the paging-token key and generated tenants.
	Seed int64
	// Tenants are the simulated tenants; empty means one generated tenant
	// with default options.
	Tenants []TenantConfig
	// TokenLifetime is the access-token lifetime (wall clock); 0 means one
	// hour (expires_in 3599). Short values simulate frequent expiry.
	TokenLifetime time.Duration
	// RefreshInactivity is how long a refresh token may stay unused before
	// it expires (AADSTS700082), on the tenant clock; 0 means 90 days.
	RefreshInactivity time.Duration
	// DeltaTokenLifetime is how long a Graph delta token stays valid on the
	// tenant clock (older ones get 410 resyncRequired); 0 means 30 days.
	DeltaTokenLifetime time.Duration
	Faults             Faults
	Limits             Limits
	// Logger receives one line per request at debug level; nil discards.
	Logger *slog.Logger
}

// Server is a running simulator.
type Server struct {
	cfg       Config
	ca        *certAuthority
	signer    *signer
	httpsBase string
	httpBase  string
	caFile    string
	removeCA  bool
	hmacKey   []byte
	log       *slog.Logger

	tenants       []*tenantCtx
	tenantsByName map[string]*tenantCtx
	envsByOrg     map[string]*envCtx

	entra    *entraState
	faults   *faultState
	limits   *limiter
	counters *counters
	control  *http.ServeMux
	deltaSeq atomic.Int64

	lifetime     atomic.Int64 // ns
	refreshInact atomic.Int64 // ns
	deltaLife    atomic.Int64 // ns
	tokenGen     atomic.Int64 // access tokens of an earlier generation are expired

	servers []*http.Server
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// EnvironmentURL describes one simulated Dataverse environment.
type EnvironmentURL struct {
	Org  string `json:"org"`
	Name string `json:"name"`
	// URL stands in for https://{org}.crm.dynamics.com: no trailing slash,
	// no /api path; the token audience.
	URL string `json:"url"`
	// APIURL is URL + /api/data/v9.2.
	APIURL string `json:"api_url"`
	// Scope is the client-credentials scope, URL + /.default.
	Scope    string `json:"scope"`
	TenantID string `json:"tenant_id"`
}

// TenantInfo is what a client needs to connect to one simulated tenant.
type TenantInfo struct {
	TenantID     string           `json:"tenant_id"`
	Domain       string           `json:"domain"`
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret"`
	Environments []EnvironmentURL `json:"environments"`
}

// Info lists the simulator's endpoints and credentials. The top-level
// tenant fields describe the first tenant; Tenants lists all.
type Info struct {
	LoginURL     string           `json:"login_url"`
	GraphURL     string           `json:"graph_url"`
	GraphScope   string           `json:"graph_scope"`
	ControlURL   string           `json:"control_url"`
	CAFile       string           `json:"ca_file"`
	TenantID     string           `json:"tenant_id"`
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret"`
	Environments []EnvironmentURL `json:"environments"`
	Tenants      []TenantInfo     `json:"tenants"`
	// HTTPBaseURL is the plain-HTTP base ("" unless Config.HTTP); see HTTPInfo.
	HTTPBaseURL string `json:"http_base_url,omitempty"`
}

// Start generates the CA and signing key, builds the tenants, and serves
// until ctx is cancelled or Close is called. It fails when a listener
// cannot be opened, the CA file cannot be written, or a tenant cannot be
// built (bad options or scenario file).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Faults.Validate(); err != nil {
		return nil, err
	}
	ca, err := newCertAuthority()
	if err != nil {
		return nil, err
	}
	sg, err := newSigner()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mac := hmac.New(sha256.New, []byte("seatwise-mscloud-paging"))
	binary.Write(mac, binary.BigEndian, cfg.Seed)
	s := &Server{
		cfg: cfg, ca: ca, signer: sg, hmacKey: mac.Sum(nil), log: log,
		tenantsByName: map[string]*tenantCtx{}, envsByOrg: map[string]*envCtx{},
		entra: newEntraState(), faults: newFaultState(cfg.Seed, cfg.Faults), limits: newLimiter(cfg.Limits), counters: newCounters(),
	}
	s.control = s.controlMux()
	s.SetTokenLifetime(cfg.TokenLifetime)
	ri := cfg.RefreshInactivity
	if ri <= 0 {
		ri = 90 * 24 * time.Hour
	}
	s.refreshInact.Store(int64(ri))
	dl := cfg.DeltaTokenLifetime
	if dl <= 0 {
		dl = 30 * 24 * time.Hour
	}
	s.deltaLife.Store(int64(dl))

	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.httpsBase = "https://" + ln.Addr().String()
	var hln net.Listener
	if cfg.HTTP {
		ha := cfg.HTTPAddr
		if ha == "" {
			ha = "127.0.0.1:0"
		}
		hln, err = net.Listen("tcp", ha)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen on %s: %w", ha, err)
		}
		s.httpBase = "http://" + hln.Addr().String()
	}
	closeAll := func() {
		ln.Close()
		if hln != nil {
			hln.Close()
		}
	}
	specs := cfg.Tenants
	if len(specs) == 0 {
		specs = []TenantConfig{{}}
	}
	for i, spec := range specs {
		tc, err := s.newTenantCtx(i, spec)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("tenant %d: %w", i+1, err)
		}
		if err := s.addTenant(tc); err != nil {
			closeAll()
			return nil, err
		}
	}
	if err := s.writeCA(); err != nil {
		closeAll()
		return nil, err
	}
	tlsSrv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 30 * time.Second}
	s.servers = append(s.servers, tlsSrv)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); tlsSrv.ServeTLS(ln, "", "") }()
	if hln != nil {
		hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
		s.servers = append(s.servers, hs)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); hs.Serve(hln) }()
	}
	if ctx != nil {
		go func() {
			<-ctx.Done()
			s.Close()
		}()
	}
	return s, nil
}

func (s *Server) addTenant(tc *tenantCtx) error {
	for _, n := range append([]string{tc.id}, tc.domains...) {
		n = strings.ToLower(n)
		if s.tenantsByName[n] != nil {
			return fmt.Errorf("two tenants share the id or domain %q", n)
		}
		s.tenantsByName[n] = tc
	}
	for _, e := range tc.envs {
		if s.envsByOrg[e.org] != nil {
			return fmt.Errorf("two environments share the organisation name %q", e.org)
		}
		s.envsByOrg[e.org] = e
	}
	s.tenants = append(s.tenants, tc)
	return nil
}

func (s *Server) writeCA() error {
	path := s.cfg.CAFile
	if path == "" {
		f, err := os.CreateTemp("", "mscloud-ca-*.pem")
		if err != nil {
			return fmt.Errorf("create CA file: %w", err)
		}
		path = f.Name()
		f.Close()
		s.removeCA = true
	}
	if err := os.WriteFile(path, s.ca.caPEM, 0o644); err != nil {
		return fmt.Errorf("write CA file %s: %w", path, err)
	}
	s.caFile = path
	return nil
}

// Close stops the listeners, waits for the serving goroutines and removes
// a temporary CA file. It is safe to call more than once.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	s.wg.Wait()
	if s.removeCA {
		if err := os.Remove(s.caFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CACertPEM returns the PEM of the generated CA.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.ca.caPEM...) }

// Client returns an HTTP client that trusts the simulator's CA and does
// not follow redirects to non-loopback hosts (there are none).
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.ca.pool, MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// Info returns the HTTPS endpoints and credentials.
func (s *Server) Info() Info { return s.info(s.httpsBase) }

// HTTPInfo returns the same as Info with plain-HTTP URLs; ok is false when
// the server was started without Config.HTTP. Token audiences stay the
// HTTPS URLs' (both are accepted).
func (s *Server) HTTPInfo() (Info, bool) {
	if s.httpBase == "" {
		return Info{}, false
	}
	return s.info(s.httpBase), true
}

func (s *Server) info(base string) Info {
	in := Info{
		LoginURL: base, GraphURL: base + "/v1.0", GraphScope: base + "/.default",
		ControlURL: base + "/_mscloud", CAFile: s.caFile, HTTPBaseURL: s.httpBase,
	}
	for _, tc := range s.tenants {
		app := tc.appSnapshot()
		ti := TenantInfo{TenantID: tc.id, ClientID: app.ClientID, ClientSecret: app.ClientSecret}
		if len(tc.domains) > 0 {
			ti.Domain = tc.domains[0]
		}
		for _, e := range tc.envs {
			u := base + "/env/" + e.org
			ti.Environments = append(ti.Environments, EnvironmentURL{Org: e.org, Name: e.name, URL: u, APIURL: u + "/api/data/v9.2", Scope: u + "/.default", TenantID: tc.id})
		}
		in.Tenants = append(in.Tenants, ti)
	}
	if len(in.Tenants) > 0 {
		t0 := in.Tenants[0]
		in.TenantID, in.ClientID, in.ClientSecret, in.Environments = t0.TenantID, t0.ClientID, t0.ClientSecret, t0.Environments
	}
	return in
}

// SetTokenLifetime changes the access-token lifetime for tokens issued from
// now on; d <= 0 restores one hour.
func (s *Server) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = time.Hour
	}
	s.lifetime.Store(int64(d))
}

func (s *Server) tokenLifetime() time.Duration     { return time.Duration(s.lifetime.Load()) }
func (s *Server) refreshInactivity() time.Duration { return time.Duration(s.refreshInact.Load()) }
func (s *Server) deltaLifetime() time.Duration     { return time.Duration(s.deltaLife.Load()) }

// ExpireAccessTokens makes every access token issued so far expire now:
// Graph and Dataverse answer them with 401 "Access token has expired or is
// not yet valid." (refresh tokens and client secrets are unaffected).
func (s *Server) ExpireAccessTokens() {
	s.tokenGen.Add(1)
}

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// Faults returns the current fault configuration (with unconsumed Next entries).
func (s *Server) Faults() Faults { return s.faults.get() }

// SetLimits replaces the enforced service-protection limits.
func (s *Server) SetLimits(l Limits) { s.limits.set(l) }

// ServeHTTP dispatches by path prefix to the control API, Graph, Dataverse
// or the identity platform.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			// The path only: queries and bodies may carry tokens and secrets.
			s.log.Debug("mscloud request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
		}()
		w = sw
	}
	p := r.URL.Path
	switch {
	case p == "/_mscloud" || strings.HasPrefix(p, "/_mscloud/"):
		s.serveControl(w, r, strings.TrimPrefix(p, "/_mscloud"))
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		s.serveGraph(w, r, strings.TrimPrefix(p, "/v1.0"))
	case strings.HasPrefix(p, "/env/"):
		s.serveDataverse(w, r, strings.TrimPrefix(p, "/env/"))
	default:
		s.serveLoginHost(w, r, p)
	}
}

func (s *Server) sleep(r *http.Request, kind HostKind) {
	if d := s.faults.delay(kind); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
	}
}

func (s *Server) serveLoginHost(w http.ResponseWriter, r *http.Request, path string) {
	s.sleep(r, HostLogin)
	identity := r.FormValue("client_id")
	now := time.Now()
	s.counters.noteArrival(HostLogin, identity, now)
	if f, ra := s.faults.draw(HostLogin, r.Method == http.MethodGet); f != "" {
		s.counters.fault(HostLogin, f, f == FaultThrottle)
		switch f {
		case FaultThrottle:
			s.counters.noteWait(HostLogin, identity, now, secondsDur(ra))
			w.Header().Set("Retry-After", formatRetryAfter(ra, true))
			entraError(w, http.StatusTooManyRequests, "temporarily_unavailable", 90055, "The tenant is being throttled due to too many requests. Retry after the interval in the Retry-After header.")
		case FaultServerError:
			entraError(w, http.StatusInternalServerError, "server_error", 90000, "An internal server error occurred.")
		case FaultUnavailable:
			s.counters.noteWait(HostLogin, identity, now, secondsDur(ra))
			w.Header().Set("Retry-After", formatRetryAfter(ra, true))
			entraError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		default:
			dropConnection(w)
		}
		return
	}
	s.serveLogin(w, r, path)
}

func secondsDur(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// formatRetryAfter renders seconds; whole=true rounds up to an integer.
func formatRetryAfter(f float64, whole bool) string {
	if whole {
		n := int(f)
		if float64(n) < f {
			n++
		}
		if n < 1 {
			n = 1
		}
		return fmt.Sprint(n)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
}

// dropConnection closes the client's connection without an answer (a TCP
// reset on HTTP/1.1, a stream reset on HTTP/2).
func dropConnection(w http.ResponseWriter) { closeConnection(w, true) }

// closeConnection hijacks and closes the connection, with a reset or a
// graceful close (after a partial body, so the client reads what was sent
// and then meets the end of the stream).
func closeConnection(w http.ResponseWriter, reset bool) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, buf, err := hj.Hijack(); err == nil {
			if buf != nil {
				buf.Flush()
			}
			if tc, ok := c.(*net.TCPConn); ok && reset {
				tc.SetLinger(0)
			}
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// bodyRecorder buffers a GET answer so a malformed or truncated fault can
// rewrite it after the handler ran without side effects.
type bodyRecorder struct {
	h      http.Header
	status int
	buf    []byte
}

func (b *bodyRecorder) Header() http.Header { return b.h }
func (b *bodyRecorder) WriteHeader(c int) {
	if b.status == 0 {
		b.status = c
	}
}
func (b *bodyRecorder) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = 200
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// serveBodyFault runs h into a buffer and sends the body malformed (cut,
// with a matching Content-Length) or truncated (full Content-Length, half
// the bytes, then the connection is closed).
func serveBodyFault(w http.ResponseWriter, r *http.Request, fault string, h func(http.ResponseWriter, *http.Request)) {
	rec := &bodyRecorder{h: http.Header{}}
	h(rec, r)
	for k, v := range rec.h {
		w.Header()[k] = v
	}
	if rec.status == 0 {
		rec.status = 200
	}
	half := rec.buf[:len(rec.buf)/2]
	if fault == FaultMalformed {
		w.Header().Set("Content-Length", fmt.Sprint(len(half)))
		w.WriteHeader(rec.status)
		w.Write(half)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(rec.buf)))
	w.WriteHeader(rec.status)
	w.Write(half)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	closeConnection(w, false)
}

// pagingMAC returns the HMAC of data under the seed-derived paging key.
func (s *Server) pagingMAC(data []byte) []byte {
	m := hmac.New(sha256.New, s.hmacKey)
	m.Write(data)
	return m.Sum(nil)[:16]
}

// statusWriter records the status for the request log and keeps the
// Hijacker and Flusher of the connection reachable.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.status == 0 {
		w.status = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("the connection cannot be hijacked")
}
