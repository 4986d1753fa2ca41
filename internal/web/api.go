package web

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// maxBody is the largest JSON request body accepted.
const maxBody = 1 << 20

// decode reads a JSON body strictly (unknown fields are errors).
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return sam.Errorf(sam.EINVALID, "request body: want Content-Type application/json, got %s", ct)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return sam.Errorf(sam.EINVALID, "request body: a JSON object is required")
		}
		return sam.Errorf(sam.EINVALID, "request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return sam.Errorf(sam.EINVALID, "request body: one JSON object expected")
	}
	return nil
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// ---- sign-in, users and tokens ----

// LoginRequest signs in with a name and password.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// LoginResponse is the signed-in user and the CSRF token that unsafe
// requests authenticated by the session cookie must send (X-CSRF-Token).
type LoginResponse struct {
	User      UserJSON `json:"user"`
	CSRFToken string   `json:"csrf_token"`
}

// UserJSON is a local account; it never holds the password hash.
type UserJSON struct {
	Name               string     `json:"name"`
	Role               string     `json:"role"`
	Disabled           bool       `json:"disabled"`
	MustChangePassword bool       `json:"must_change_password"`
	LockedUntil        *time.Time `json:"locked_until,omitempty"`
	LastLogin          *time.Time `json:"last_login,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
}

func newUserJSON(u *store.User) UserJSON {
	return UserJSON{Name: u.Name, Role: u.Role, Disabled: u.Disabled, MustChangePassword: u.MustChangePassword,
		LockedUntil: timePtr(u.LockedUntil), LastLogin: timePtr(u.LastLogin), CreatedAt: u.CreatedAt.UTC()}
}

// MeJSON is who the caller is.
type MeJSON struct {
	Kind               string `json:"kind"` // user or token
	Name               string `json:"name"`
	Role               string `json:"role"`
	MustChangePassword bool   `json:"must_change_password"`
	CSRFToken          string `json:"csrf_token,omitempty"`
}

// PasswordChange changes the caller's own password.
type PasswordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// UserCreate adds a user. Without a password a one-time password is
// generated and returned once.
type UserCreate struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
}

// UserCreated is the new user and, when generated, its one-time password.
type UserCreated struct {
	User            UserJSON `json:"user"`
	OneTimePassword string   `json:"one_time_password,omitempty"`
}

// UserPatch changes a user's role or disables/enables it.
type UserPatch struct {
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// PasswordReset is a new one-time password, shown once.
type PasswordReset struct {
	OneTimePassword string `json:"one_time_password"`
}

// TokenCreate issues an API token.
type TokenCreate struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	ExpiresInDays int    `json:"expires_in_days"`
}

// TokenJSON describes an API token (never its secret).
type TokenJSON struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Expired   bool       `json:"expired"`
}

// TokenCreated is a new token with its secret, shown once.
type TokenCreated struct {
	Token  TokenJSON `json:"token"`
	Secret string    `json:"secret"`
}

func (s *Server) newTokenJSON(t *store.APIToken) TokenJSON {
	return TokenJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Role: t.Role, CreatedAt: t.CreatedAt.UTC(),
		ExpiresAt: t.ExpiresAt.UTC(), LastUsed: timePtr(t.LastUsed), Expired: !s.now().Before(t.ExpiresAt)}
}

func apiLogin(s *Server, w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, sess, err := s.signIn(w, r, req.Name, req.Password)
	if isTooMany(err) {
		s.failStatus(w, r, true, http.StatusTooManyRequests, err)
		return nil
	}
	if err != nil {
		s.log.Warn("sign-in failed", "user", req.Name, "remote", clientIP(r))
		return err
	}
	writeJSON(w, http.StatusOK, LoginResponse{User: newUserJSON(u), CSRFToken: sess.CSRFToken})
	return nil
}

func apiLogout(s *Server, w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.cfg.Auth.EndSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.setSessionCookie(w, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func apiMe(s *Server, w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	me := MeJSON{Kind: p.Kind, Name: p.Name, Role: string(p.Role), MustChangePassword: p.MustChangePassword}
	if p.Session != nil {
		me.CSRFToken = p.Session.CSRFToken
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func apiChangePassword(s *Server, w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.Kind != "user" || p.Session == nil {
		return sam.Errorf(sam.EFORBIDDEN, "only a signed-in user changes a password (not an API token)")
	}
	var req PasswordChange
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.cfg.Auth.ChangePassword(r.Context(), p.UserID, req.Current, req.New, p.Session.IDHash); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// jsonList converts items with conv for a JSON answer; the result is
// never nil, so that no items is [] rather than null.
func jsonList[T, J any](items []T, conv func(T) J) []J {
	out := make([]J, 0, len(items))
	for _, x := range items {
		out = append(out, conv(x))
	}
	return out
}

func apiUsers(s *Server, w http.ResponseWriter, r *http.Request) error {
	users, err := s.cfg.Store.Users(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(users, newUserJSON))
	return nil
}

func apiUserCreate(s *Server, w http.ResponseWriter, r *http.Request) error {
	var req UserCreate
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return err
	}
	pw, oneTime := req.Password, ""
	if pw == "" {
		pw = auth.GeneratePassword()
		oneTime = pw
	}
	u, err := s.cfg.Auth.CreateUser(r.Context(), req.Name, role, pw, oneTime != "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, UserCreated{User: newUserJSON(u), OneTimePassword: oneTime})
	return nil
}

func apiUserPatch(s *Server, w http.ResponseWriter, r *http.Request) error {
	var req UserPatch
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if p := principal(r); p.Kind == "user" && p.Name == name && ((req.Disabled != nil && *req.Disabled) || (req.Role != nil && *req.Role != string(auth.RoleAdmin))) {
		return sam.Errorf(sam.EINVALID, "you may not disable yourself or drop your own admin role")
	}
	if _, err := s.cfg.Store.UserByName(r.Context(), name); err != nil {
		return err
	}
	var u *store.User
	var err error
	if req.Role != nil {
		role, err := auth.ParseRole(*req.Role)
		if err != nil {
			return err
		}
		if u, err = s.cfg.Auth.SetRole(r.Context(), name, role); err != nil {
			return err
		}
	}
	if req.Disabled != nil {
		if u, err = s.cfg.Auth.SetDisabled(r.Context(), name, *req.Disabled); err != nil {
			return err
		}
	}
	if u == nil {
		if u, err = s.cfg.Store.UserByName(r.Context(), name); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, newUserJSON(u))
	return nil
}

func apiUserReset(s *Server, w http.ResponseWriter, r *http.Request) error {
	pw, err := s.cfg.Auth.ResetPassword(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PasswordReset{OneTimePassword: pw})
	return nil
}

func apiTokens(s *Server, w http.ResponseWriter, r *http.Request) error {
	toks, err := s.cfg.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(toks, s.newTokenJSON))
	return nil
}

func apiTokenCreate(s *Server, w http.ResponseWriter, r *http.Request) error {
	var req TokenCreate
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return err
	}
	if req.ExpiresInDays < 1 || req.ExpiresInDays > 366 {
		return sam.Errorf(sam.EINVALID, "expires_in_days %d: between 1 and 366", req.ExpiresInDays)
	}
	secret, t, err := s.cfg.Auth.CreateToken(r.Context(), req.Name, role, time.Duration(req.ExpiresInDays)*24*time.Hour, principal(r).UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenCreated{Token: s.newTokenJSON(t), Secret: secret})
	return nil
}

func apiTokenDelete(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "token id %q: want a number", r.PathValue("id"))
	}
	if err := s.cfg.Store.DeleteAPIToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AuditJSON is one audit log entry.
type AuditJSON struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Status int       `json:"status"`
	Detail string    `json:"detail,omitempty"`
}

// AuditPage is a page of the audit log, newest first.
type AuditPage struct {
	Items      []AuditJSON `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func apiAudit(s *Server, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	var before int64
	if c := q.Get("cursor"); c != "" {
		if before, err = strconv.ParseInt(c, 10, 64); err != nil || before <= 0 {
			return sam.Errorf(sam.EINVALID, "cursor %q is not one this server gave", c)
		}
	}
	es, err := s.cfg.Store.AuditEntries(r.Context(), store.AuditFilter{BeforeID: before, Limit: limit})
	if err != nil {
		return err
	}
	page := AuditPage{Items: jsonList(es, func(e *store.AuditEntry) AuditJSON {
		return AuditJSON{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target, Status: e.Status, Detail: e.Detail}
	})}
	if len(es) == limit {
		page.NextCursor = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, sam.Errorf(sam.EINVALID, "%s %q: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// ---- profiles ----

// ProfileJSON is a profile as the API shows it. It never holds a secret:
// HasClientSecret only says whether one is stored.
type ProfileJSON struct {
	Name                  string            `json:"name"`
	DisplayName           string            `json:"display_name"`
	TenantID              string            `json:"tenant_id"`
	ClientID              string            `json:"client_id"`
	AuthMode              string            `json:"auth_mode"`
	LoginURL              string            `json:"login_url"`
	GraphURL              string            `json:"graph_url"`
	CAFile                string            `json:"ca_file,omitempty"`
	AnalyzeFrom           string            `json:"analyze_from,omitempty"`
	State                 string            `json:"state"`
	StateMessage          string            `json:"state_message,omitempty"`
	HasClientSecret       bool              `json:"has_client_secret"`
	Environments          []EnvironmentJSON `json:"environments"`
	LastSubscriptionsSync *time.Time        `json:"last_subscriptions_sync,omitempty"`
	LastActivitySync      *time.Time        `json:"last_activity_sync,omitempty"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
}

// EnvironmentJSON is a Dataverse environment with its audit status.
type EnvironmentJSON struct {
	URL                    string     `json:"url"`
	Name                   string     `json:"name,omitempty"`
	Reachable              bool       `json:"reachable"`
	Error                  string     `json:"error,omitempty"`
	AuditEnabled           bool       `json:"audit_enabled"`
	UserAccessAuditEnabled bool       `json:"user_access_audit_enabled"`
	RetentionDays          int        `json:"retention_days"`
	CheckedAt              *time.Time `json:"checked_at,omitempty"`
}

// EnvironmentInput names an environment of a profile.
type EnvironmentInput struct {
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
}

// ProfileInput creates a profile (every field) or edits one (the fields
// present). ClientSecret is sealed with the server's keyring and never
// shown again.
type ProfileInput struct {
	Name         *string             `json:"name,omitempty"`
	DisplayName  *string             `json:"display_name,omitempty"`
	TenantID     *string             `json:"tenant_id,omitempty"`
	ClientID     *string             `json:"client_id,omitempty"`
	LoginURL     *string             `json:"login_url,omitempty"`
	GraphURL     *string             `json:"graph_url,omitempty"`
	CAFile       *string             `json:"ca_file,omitempty"`
	AnalyzeFrom  *string             `json:"analyze_from,omitempty"`
	Environments *[]EnvironmentInput `json:"environments,omitempty"`
	ClientSecret *string             `json:"client_secret,omitempty"`
}

func (s *Server) profileJSON(r *http.Request, p *sam.Profile) (ProfileJSON, error) {
	st, err := s.cfg.Store.SyncState(r.Context(), p.ID)
	if err != nil {
		return ProfileJSON{}, err
	}
	_, serr := s.cfg.Store.Secret(r.Context(), p.ID, sam.SecretClientSecret)
	if serr != nil && !sam.IsCode(serr, sam.ENOTFOUND) {
		return ProfileJSON{}, serr
	}
	j := ProfileJSON{Name: p.Name, DisplayName: p.DisplayName, TenantID: p.TenantID, ClientID: p.ClientID,
		AuthMode: string(p.AuthMode), LoginURL: p.LoginURL, GraphURL: p.GraphURL, CAFile: p.CAFile, State: string(p.State),
		StateMessage: p.StateMessage, HasClientSecret: serr == nil, Environments: []EnvironmentJSON{},
		LastSubscriptionsSync: timePtr(st.LastSubscriptionsSync), LastActivitySync: timePtr(st.LastActivitySync),
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
	if !p.AnalyzeFrom.IsZero() {
		j.AnalyzeFrom = p.AnalyzeFrom.UTC().Format("2006-01-02")
	}
	for _, e := range p.Environments {
		j.Environments = append(j.Environments, EnvironmentJSON{URL: e.URL, Name: e.Name, Reachable: e.Audit.Reachable,
			Error: e.Audit.Error, AuditEnabled: e.Audit.AuditEnabled, UserAccessAuditEnabled: e.Audit.UserAccessAuditEnabled,
			RetentionDays: e.Audit.RetentionDays, CheckedAt: timePtr(e.Audit.CheckedAt)})
	}
	return j, nil
}

// checkURL validates an https URL (http only for loopback hosts) and
// returns it without a trailing slash.
func checkURL(field, raw string) (string, error) {
	v := strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", sam.Errorf(sam.EINVALID, "%s %q: want an absolute https URL", field, raw)
	}
	if u.Scheme == "http" && u.Hostname() != "127.0.0.1" && u.Hostname() != "::1" && u.Hostname() != "localhost" {
		return "", sam.Errorf(sam.EINVALID, "%s %q: Microsoft endpoints are https (plain http only for loopback test servers)", field, raw)
	}
	return v, nil
}

// apply validates in and copies the fields present onto p.
func (in *ProfileInput) apply(p *sam.Profile) error {
	if in.TenantID != nil {
		if !sam.ValidGUID(strings.TrimSpace(*in.TenantID)) {
			return sam.Errorf(sam.EINVALID, "tenant_id %q: want the tenant's GUID (Entra admin center, Overview, Tenant ID)", *in.TenantID)
		}
		p.TenantID = sam.NormalizeGUID(*in.TenantID)
	}
	if in.ClientID != nil {
		if !sam.ValidGUID(strings.TrimSpace(*in.ClientID)) {
			return sam.Errorf(sam.EINVALID, "client_id %q: want the application (client) id, a GUID", *in.ClientID)
		}
		p.ClientID = sam.NormalizeGUID(*in.ClientID)
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *string
	}{{"login_url", in.LoginURL, &p.LoginURL}, {"graph_url", in.GraphURL, &p.GraphURL}} {
		if f.in != nil {
			u, err := checkURL(f.name, *f.in)
			if err != nil {
				return err
			}
			*f.out = u
		}
	}
	if in.Environments != nil {
		var envs []sam.Environment
		seen := map[string]bool{}
		for _, e := range *in.Environments {
			u, err := checkURL("environments[].url", e.URL)
			if err != nil {
				return err
			}
			if seen[strings.ToLower(u)] {
				return sam.Errorf(sam.EINVALID, "environment %s is given twice", u)
			}
			seen[strings.ToLower(u)] = true
			keep := sam.Environment{URL: u}
			for _, old := range p.Environments {
				if strings.EqualFold(old.URL, u) {
					keep = old
				}
			}
			keep.Name = strings.TrimSpace(e.Name)
			envs = append(envs, keep)
		}
		p.Environments = envs
	}
	if in.AnalyzeFrom != nil {
		if v := strings.TrimSpace(*in.AnalyzeFrom); v == "" {
			p.AnalyzeFrom = time.Time{}
		} else {
			d, err := time.Parse("2006-01-02", v)
			if err != nil {
				return sam.Errorf(sam.EINVALID, "analyze_from %q: want a date YYYY-MM-DD", v)
			}
			p.AnalyzeFrom = d.UTC()
		}
	}
	if in.CAFile != nil {
		p.CAFile = ""
		if v := strings.TrimSpace(*in.CAFile); v != "" {
			if !filepath.IsAbs(v) {
				return sam.Errorf(sam.EINVALID, "ca_file %q: want an absolute path on the server", v)
			}
			if _, err := os.Stat(v); err != nil {
				return sam.Errorf(sam.EINVALID, "ca_file %s: not readable on the server", v)
			}
			p.CAFile = v
		}
	}
	if in.DisplayName != nil {
		p.DisplayName = strings.TrimSpace(*in.DisplayName)
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	return nil
}

func (s *Server) sealSecret(r *http.Request, profileID int64, plaintext string) error {
	v := strings.TrimSpace(plaintext)
	if v == "" {
		return sam.Errorf(sam.EINVALID, "client_secret is empty")
	}
	if s.cfg.Keyring == nil {
		return sam.Errorf(sam.EUNAVAILABLE, "no secret key is configured on the server; secrets cannot be stored")
	}
	sealed, err := s.cfg.Keyring.Seal([]byte(v))
	if err != nil {
		return err
	}
	return s.cfg.Store.PutSecret(r.Context(), profileID, sam.SecretClientSecret, sealed)
}

func apiProfiles(s *Server, w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return err
	}
	out := []ProfileJSON{}
	for _, p := range ps {
		j, err := s.profileJSON(r, p)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func apiProfile(s *Server, w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	j, err := s.profileJSON(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) createProfile(r *http.Request, in ProfileInput) (*sam.Profile, error) {
	if in.Name == nil || !sam.ValidName(*in.Name) {
		return nil, sam.Errorf(sam.EINVALID, "name: use 1 to 64 lower-case letters, digits, '-' or '_'")
	}
	if in.TenantID == nil || in.ClientID == nil {
		return nil, sam.Errorf(sam.EINVALID, "tenant_id and client_id are required")
	}
	if in.ClientSecret == nil || strings.TrimSpace(*in.ClientSecret) == "" {
		return nil, sam.Errorf(sam.EINVALID, "client_secret is required (the value of the app registration's client secret)")
	}
	p := &sam.Profile{Name: *in.Name, AuthMode: sam.AuthClientSecret, State: sam.ProfileDraft,
		LoginURL: sam.DefaultLoginURL, GraphURL: sam.DefaultGraphURL}
	if err := in.apply(p); err != nil {
		return nil, err
	}
	if s.cfg.Keyring == nil {
		return nil, sam.Errorf(sam.EUNAVAILABLE, "no secret key is configured on the server; secrets cannot be stored")
	}
	if err := s.cfg.Store.CreateProfile(r.Context(), p); err != nil {
		return nil, err
	}
	if err := s.sealSecret(r, p.ID, *in.ClientSecret); err != nil {
		_ = s.cfg.Store.DeleteProfile(r.Context(), p.ID) // no profile that cannot authenticate
		return nil, err
	}
	return p, nil
}

func apiProfileCreate(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in ProfileInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.createProfile(r, in)
	if err != nil {
		return err
	}
	j, err := s.profileJSON(r, p)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/profiles/"+p.Name)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func apiProfileEdit(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in ProfileInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if in.Name != nil && *in.Name != p.Name {
		return sam.Errorf(sam.EINVALID, "a profile cannot be renamed")
	}
	if err := in.apply(p); err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateProfile(r.Context(), p); err != nil {
		return err
	}
	if in.ClientSecret != nil {
		if err := s.sealSecret(r, p.ID, *in.ClientSecret); err != nil {
			return err
		}
	}
	if p, err = s.cfg.Store.Profile(r.Context(), p.ID); err != nil {
		return err
	}
	j, err := s.profileJSON(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func apiProfileDelete(s *Server, w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteProfile(r.Context(), p.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- runs ----

// RunJSON is one download (subscriptions) or activity run.
type RunJSON struct {
	ID         int64            `json:"id"`
	Profile    string           `json:"profile"`
	Kind       string           `json:"kind"`
	Status     string           `json:"status"`
	Full       bool             `json:"full"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Counts     map[string]int64 `json:"counts"`
	Requests   int64            `json:"requests"`
	Throttles  int64            `json:"throttles"`
	Retries    int64            `json:"retries"`
	Warnings   []string         `json:"warnings"`
	Error      string           `json:"error,omitempty"`
}

func newRunJSON(r *sam.Run, profile string) RunJSON {
	j := RunJSON{ID: r.ID, Profile: profile, Kind: string(r.Kind), Status: string(r.Status), Full: r.Full,
		StartedAt: r.StartedAt.UTC(), Counts: r.Counts, Requests: r.Requests, Throttles: r.Throttles,
		Retries: r.Retries, Warnings: r.Warnings, Error: r.Error}
	if r.FinishedAt != nil {
		j.FinishedAt = timePtr(*r.FinishedAt)
	}
	if j.Counts == nil {
		j.Counts = map[string]int64{}
	}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	return j
}

// profileNames maps profile ids to names.
func (s *Server) profileNames(r *http.Request) (map[int64]string, error) {
	ps, err := s.cfg.Store.Profiles(r.Context())
	if err != nil {
		return nil, err
	}
	m := map[int64]string{}
	for _, p := range ps {
		m[p.ID] = p.Name
	}
	return m, nil
}

func (s *Server) runFilter(r *http.Request) (store.RunFilter, error) {
	q := r.URL.Query()
	var f store.RunFilter
	var err error
	if f.ProfileID, err = s.profileParam(r); err != nil {
		return f, err
	}
	switch k := sam.RunKind(q.Get("kind")); k {
	case "", sam.RunSubscriptions, sam.RunActivity:
		f.Kind = k
	default:
		return f, sam.Errorf(sam.EINVALID, "kind %q: want subscriptions or activity", k)
	}
	switch st := sam.RunStatus(q.Get("status")); st {
	case "", sam.RunRunning, sam.RunSucceeded, sam.RunFailed:
		f.Status = st
	default:
		return f, sam.Errorf(sam.EINVALID, "status %q: want running, succeeded or failed", st)
	}
	f.Limit, err = intParam(q, "limit", 50, 1, 500)
	return f, err
}

func apiRuns(s *Server, w http.ResponseWriter, r *http.Request) error {
	f, err := s.runFilter(r)
	if err != nil {
		return err
	}
	runs, err := s.cfg.Store.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(runs, func(run *sam.Run) RunJSON { return newRunJSON(run, names[run.ProfileID]) }))
	return nil
}

func apiRun(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "run id %q: want a number", r.PathValue("id"))
	}
	run, err := s.cfg.Store.Run(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newRunJSON(run, names[run.ProfileID]))
	return nil
}

// ---- software models ----

// ModelJSON is a software model (a licence SKU).
type ModelJSON struct {
	SKUID      string `json:"sku_id"`
	PartNumber string `json:"part_number"`
	Product    string `json:"product"`
	Edition    string `json:"edition,omitempty"`
	Family     string `json:"family"`
	Kind       string `json:"kind"`
	Tracked    bool   `json:"tracked"`
	Mapped     bool   `json:"mapped"`
	UnitPrice  int64  `json:"unit_price,omitempty"` // minor units per user per month
	Currency   string `json:"currency,omitempty"`
}

func newModelJSON(m sam.SoftwareModel) ModelJSON {
	return ModelJSON{SKUID: m.SKUID, PartNumber: m.PartNumber, Product: m.Product, Edition: m.Edition, Family: string(m.Family),
		Kind: string(m.Kind), Tracked: m.Tracked, Mapped: m.Mapped, UnitPrice: m.UnitPrice, Currency: m.Currency}
}

func apiModels(s *Server, w http.ResponseWriter, r *http.Request) error {
	f := store.ModelFilter{Family: sam.Family(r.URL.Query().Get("family"))}
	ms, err := s.cfg.Store.SoftwareModels(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(ms, newModelJSON))
	return nil
}

func apiModel(s *Server, w http.ResponseWriter, r *http.Request) error {
	m, err := s.cfg.Store.SoftwareModel(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newModelJSON(*m))
	return nil
}

// ---- subscriptions ----

// SubscriptionJSON is one licence held by one user.
type SubscriptionJSON struct {
	ID                 int64      `json:"id"`
	Profile            string     `json:"profile"`
	UserID             string     `json:"user_id"`
	UPN                string     `json:"upn"`
	DisplayName        string     `json:"display_name"`
	Department         string     `json:"department,omitempty"`
	Country            string     `json:"country,omitempty"`
	AccountEnabled     bool       `json:"account_enabled"`
	SKUID              string     `json:"sku_id"`
	PartNumber         string     `json:"part_number"`
	AssignedByGroup    string     `json:"assigned_by_group,omitempty"`
	AssignedAt         *time.Time `json:"assigned_at,omitempty"`
	ClosedAt           *time.Time `json:"closed_at,omitempty"`
	LastActivity       *time.Time `json:"last_activity,omitempty"`
	LastActivitySource string     `json:"last_activity_source,omitempty"`
	ActiveDays30       int        `json:"active_days_30"`
	ActiveDays90       int        `json:"active_days_90"`
	UsageClass         string     `json:"usage_class"`
}

// SubscriptionPage is one page; pass NextCursor as cursor for the next.
type SubscriptionPage struct {
	Items      []SubscriptionJSON `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

type cursor struct {
	Sort  string `json:"s"`
	Desc  bool   `json:"d,omitempty"`
	Value string `json:"v,omitempty"`
	ID    int64  `json:"i"`
}

var subscriptionParams = []Param{
	{Name: "profile", Type: "string", Doc: "profile name"},
	{Name: "sku", Type: "string", Doc: "SKU id or part number"},
	{Name: "class", Type: "string", Doc: "usage class", Enum: []string{"active", "low_usage", "inactive_30", "inactive_60", "inactive_90", "never_active", "disabled", "unknown"}},
	{Name: "all", Type: "boolean", Doc: "include closed subscriptions (default: open only)"},
	{Name: "q", Type: "string", Doc: "search in UPN, display name and department (case-insensitive)"},
	{Name: "sort", Type: "string", Doc: "sort key", Enum: store.SubscriptionSortKeys},
	{Name: "order", Type: "string", Doc: "asc (default) or desc", Enum: []string{"asc", "desc"}},
	{Name: "limit", Type: "integer", Doc: "page size, 1–1000 (default 100)"},
	{Name: "cursor", Type: "string", Doc: "next_cursor of the previous page"},
}

// subscriptionQuery reads the query string of the subscription listing.
func (s *Server) subscriptionQuery(r *http.Request) (store.SubscriptionQuery, map[string]string, error) {
	q := r.URL.Query()
	var sq store.SubscriptionQuery
	var err error
	if sq.ProfileID, err = s.profileParam(r); err != nil {
		return sq, nil, err
	}
	if sku := q.Get("sku"); sku != "" {
		if sam.ValidGUID(sku) {
			sq.SKUID = sam.NormalizeGUID(sku)
		} else {
			m, ok := s.cfg.Catalog.Lookup(sku)
			if !ok {
				return sq, nil, sam.Errorf(sam.EINVALID, "sku %q: not a SKU id nor a known part number", sku)
			}
			sq.SKUID = m.SKUID
		}
	}
	if c := q.Get("class"); c != "" {
		if !slices.Contains(sam.UsageClasses, sam.UsageClass(c)) {
			return sq, nil, sam.Errorf(sam.EINVALID, "class %q: not a usage class", c)
		}
		sq.UsageClass = sam.UsageClass(c)
	}
	switch q.Get("all") {
	case "", "false", "0":
		sq.OpenOnly = true
	case "true", "1":
	default:
		return sq, nil, sam.Errorf(sam.EINVALID, "all %q: want true or false", q.Get("all"))
	}
	sq.Search = strings.TrimSpace(q.Get("q"))
	if len(sq.Search) > 200 {
		return sq, nil, sam.Errorf(sam.EINVALID, "q: at most 200 characters")
	}
	sq.Sort = q.Get("sort")
	if sq.Sort == "" {
		sq.Sort = "id"
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		sq.Desc = true
	default:
		return sq, nil, sam.Errorf(sam.EINVALID, "order %q: want asc or desc", q.Get("order"))
	}
	if sq.Limit, err = intParam(q, "limit", 100, 1, 1000); err != nil {
		return sq, nil, err
	}
	if c := q.Get("cursor"); c != "" {
		var cur cursor
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &cur) != nil || cur.ID <= 0 {
			return sq, nil, sam.Errorf(sam.EINVALID, "cursor is not one this server gave")
		}
		if cur.Sort != sq.Sort || cur.Desc != sq.Desc {
			return sq, nil, sam.Errorf(sam.EINVALID, "cursor belongs to another sort order; start again without cursor")
		}
		sq.AfterValue, sq.AfterID = cur.Value, cur.ID
	}
	return sq, nil, nil
}

func sortValue(x *sam.Subscription, key string) string {
	switch key {
	case "upn":
		return x.UPN
	case "display_name":
		return x.DisplayName
	case "department":
		return x.Department
	case "usage_class":
		return string(x.UsageClass)
	case "sku_id":
		return x.SKUID
	case "last_activity":
		if x.LastActivity == nil {
			return ""
		}
		return x.LastActivity.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// subscriptionJSONs converts a page, naming profiles and part numbers.
func (s *Server) subscriptionJSONs(r *http.Request, subs []*sam.Subscription) ([]SubscriptionJSON, error) {
	var ids []int64
	var skus []string
	for _, x := range subs {
		if !slices.Contains(ids, x.ProfileID) {
			ids = append(ids, x.ProfileID)
		}
		if !slices.Contains(skus, x.SKUID) {
			skus = append(skus, x.SKUID)
		}
	}
	names, err := s.profileNamesOf(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	parts, err := s.partNumbersOf(r.Context(), skus)
	if err != nil {
		return nil, err
	}
	out := make([]SubscriptionJSON, 0, len(subs))
	for _, x := range subs {
		pn := parts[x.SKUID]
		j := SubscriptionJSON{ID: x.ID, Profile: names[x.ProfileID], UserID: x.UserID, UPN: x.UPN, DisplayName: x.DisplayName,
			Department: x.Department, Country: x.Country, AccountEnabled: x.AccountEnabled, SKUID: x.SKUID, PartNumber: pn,
			AssignedByGroup: x.AssignedByGroup, AssignedAt: timePtr(x.AssignedAt), LastActivitySource: x.LastActivitySource,
			ActiveDays30: x.ActiveDays30, ActiveDays90: x.ActiveDays90, UsageClass: string(x.UsageClass)}
		if x.ClosedAt != nil {
			j.ClosedAt = timePtr(*x.ClosedAt)
		}
		if x.LastActivity != nil {
			j.LastActivity = timePtr(*x.LastActivity)
		}
		out = append(out, j)
	}
	return out, nil
}

// searchSubscriptions answers one page of the listing (API and UI).
func (s *Server) searchSubscriptions(r *http.Request) (SubscriptionPage, error) {
	sq, _, err := s.subscriptionQuery(r)
	if err != nil {
		return SubscriptionPage{}, err
	}
	subs, err := s.cfg.Store.SearchSubscriptions(r.Context(), sq)
	if err != nil {
		return SubscriptionPage{}, err
	}
	items, err := s.subscriptionJSONs(r, subs)
	if err != nil {
		return SubscriptionPage{}, err
	}
	page := SubscriptionPage{Items: items}
	if len(subs) == sq.Limit {
		last := subs[len(subs)-1]
		b, _ := json.Marshal(cursor{Sort: sq.Sort, Desc: sq.Desc, Value: sortValue(last, sq.Sort), ID: last.ID})
		page.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return page, nil
}

func apiSubscriptions(s *Server, w http.ResponseWriter, r *http.Request) error {
	page, err := s.searchSubscriptions(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func apiSubscription(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "subscription id %q: want a number", r.PathValue("id"))
	}
	x, err := s.cfg.Store.Subscription(r.Context(), id)
	if err != nil {
		return err
	}
	items, err := s.subscriptionJSONs(r, []*sam.Subscription{x})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, items[0])
	return nil
}

// csvColumns are the columns of the CSV export.
var csvColumns = []string{"id", "profile", "user_id", "upn", "display_name", "department", "country", "account_enabled",
	"sku_id", "part_number", "assigned_by_group", "assigned_at", "closed_at", "last_activity", "last_activity_source",
	"active_days_30", "active_days_90", "usage_class"}

func fmtTimeCSV(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvSafe defuses cells that spreadsheets would run as formulas.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// apiSubscriptionsCSV streams every subscription matching the filters
// (cursor and limit are ignored) in pages of 1,000, so memory does not
// grow with the tenant.
func apiSubscriptionsCSV(s *Server, w http.ResponseWriter, r *http.Request) error {
	sq, _, err := s.subscriptionQuery(r)
	if err != nil {
		return err
	}
	sq.Limit, sq.AfterID, sq.AfterValue = 1000, 0, ""
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="subscriptions.csv"`)
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	for {
		subs, err := s.cfg.Store.SearchSubscriptions(r.Context(), sq)
		if err != nil {
			return err
		}
		items, err := s.subscriptionJSONs(r, subs)
		if err != nil {
			return err
		}
		for _, j := range items {
			rec := []string{strconv.FormatInt(j.ID, 10), j.Profile, j.UserID, csvSafe(j.UPN), csvSafe(j.DisplayName),
				csvSafe(j.Department), csvSafe(j.Country), strconv.FormatBool(j.AccountEnabled), j.SKUID, j.PartNumber,
				j.AssignedByGroup, fmtTimeCSV(j.AssignedAt), fmtTimeCSV(j.ClosedAt), fmtTimeCSV(j.LastActivity),
				j.LastActivitySource, strconv.Itoa(j.ActiveDays30), strconv.Itoa(j.ActiveDays90), j.UsageClass}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(subs) < sq.Limit {
			return nil
		}
		last := subs[len(subs)-1]
		sq.AfterValue, sq.AfterID = sortValue(last, sq.Sort), last.ID
	}
}

// ---- reports ----

// UsageRow counts one profile's open subscriptions of one SKU by class.
type UsageRow struct {
	Profile    string         `json:"profile"`
	SKUID      string         `json:"sku_id"`
	PartNumber string         `json:"part_number"`
	Product    string         `json:"product"`
	Total      int            `json:"total"`
	Classes    map[string]int `json:"classes"`
}

// usageReport builds the usage rows of one profile (0: all).
func (s *Server) usageReport(r *http.Request, profileID int64) ([]UsageRow, error) {
	counts, err := s.usageCounts(r.Context(), profileID)
	if err != nil {
		return nil, err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return nil, err
	}
	out := []UsageRow{}
	idx := map[[2]string]int{}
	for _, c := range counts {
		k := [2]string{names[c.ProfileID], c.SKUID}
		i, ok := idx[k]
		if !ok {
			row := UsageRow{Profile: k[0], SKUID: c.SKUID, Classes: map[string]int{}}
			if m, err := s.cfg.Store.SoftwareModel(r.Context(), c.SKUID); err == nil {
				row.PartNumber, row.Product = m.PartNumber, m.Product
			}
			out = append(out, row)
			i = len(out) - 1
			idx[k] = i
		}
		out[i].Classes[string(c.UsageClass)] += c.Count
		out[i].Total += c.Count
	}
	return out, nil
}

func apiUsageReport(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := s.profileParam(r)
	if err != nil {
		return err
	}
	rows, err := s.usageReport(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

// ---- capabilities ----

// Capability says whether a part of Seatwise is available on this server.
type Capability struct {
	Available bool   `json:"available"`
	Message   string `json:"message"`
}

// StatusJSON describes the server: database and what is configured.
type StatusJSON struct {
	Database     string                `json:"database"`
	Capabilities map[string]Capability `json:"capabilities"`
}

func (s *Server) capabilities() map[string]Capability {
	c := map[string]Capability{
		"sync": {true, "subscriptions and activity are downloaded by `seatwise sync` and by the job queue when configured"},
	}
	if s.cfg.Jobs != nil {
		c["jobs"] = Capability{true, "scheduled and manual runs use the job queue (instance " + s.cfg.Jobs.Instance() + ")"}
	} else {
		c["jobs"] = Capability{false, errNoJobs.Message}
	}
	c["reclamation"] = s.reclaimCapability()
	c["reconciliation"] = Capability{true, "entitlements (list, CSV import, delete) and the licence position of each profile; weekly reconciliation runs through the job queue"}
	return c
}

func apiStatus(s *Server, w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, StatusJSON{Database: s.cfg.Store.Dialect(), Capabilities: s.capabilities()})
	return nil
}

func (s *Server) apiRoutes() []*Route {
	modelList := []ModelJSON{}
	return []*Route{
		{Method: "POST", Path: "/api/v1/session", Access: public, API: true, Tag: "sign-in", NoAudit: true,
			Summary: "Sign in with name and password; sets the session cookie", Body: LoginRequest{}, Resp: LoginResponse{}, Handler: apiLogin},
		{Method: "DELETE", Path: "/api/v1/session", Access: anyRole, API: true, Tag: "sign-in", AllowPasswordChange: true,
			Summary: "Sign out", Status: http.StatusNoContent, Handler: apiLogout},
		{Method: "GET", Path: "/api/v1/me", Access: anyRole, API: true, Tag: "sign-in", AllowPasswordChange: true,
			Summary: "Who the caller is", Resp: MeJSON{}, Handler: apiMe},
		{Method: "POST", Path: "/api/v1/me/password", Access: anyRole, API: true, Tag: "sign-in", AllowPasswordChange: true,
			Summary: "Change the caller's own password", Body: PasswordChange{}, Status: http.StatusNoContent, Handler: apiChangePassword},
		{Method: "GET", Path: "/api/v1/status", Access: anyRole, API: true, Tag: "server",
			Summary: "Database and which capabilities are configured", Resp: StatusJSON{}, Handler: apiStatus},

		{Method: "GET", Path: "/api/v1/profiles", Access: anyRole, API: true, Tag: "profiles",
			Summary: "List integration profiles", Resp: []ProfileJSON{}, Handler: apiProfiles},
		{Method: "POST", Path: "/api/v1/profiles", Access: integrators, API: true, Tag: "profiles",
			Summary: "Create a profile (client secret sealed, never returned)", Body: ProfileInput{}, Resp: ProfileJSON{}, Status: http.StatusCreated, Handler: apiProfileCreate},
		{Method: "GET", Path: "/api/v1/profiles/{name}", Access: anyRole, API: true, Tag: "profiles",
			Summary: "Show a profile", Resp: ProfileJSON{}, Handler: apiProfile},
		{Method: "PATCH", Path: "/api/v1/profiles/{name}", Access: integrators, API: true, Tag: "profiles",
			Summary: "Edit a profile (fields present only)", Body: ProfileInput{}, Resp: ProfileJSON{}, Handler: apiProfileEdit},
		{Method: "DELETE", Path: "/api/v1/profiles/{name}", Access: integrators, API: true, Tag: "profiles",
			Summary: "Delete a profile with its secrets, subscriptions and activity (runs are kept)", Status: http.StatusNoContent, Handler: apiProfileDelete},

		{Method: "GET", Path: "/api/v1/runs", Access: anyRole, API: true, Tag: "runs", Summary: "List runs, newest first",
			Query: []Param{{Name: "profile", Type: "string", Doc: "profile name"}, {Name: "kind", Type: "string", Doc: "run kind", Enum: []string{"subscriptions", "activity"}},
				{Name: "status", Type: "string", Doc: "run status", Enum: []string{"running", "succeeded", "failed"}}, {Name: "limit", Type: "integer", Doc: "1–500 (default 50)"}},
			Resp: []RunJSON{}, Handler: apiRuns},
		{Method: "GET", Path: "/api/v1/runs/{id}", Access: anyRole, API: true, Tag: "runs", Summary: "Show a run", Resp: RunJSON{}, Handler: apiRun},

		{Method: "GET", Path: "/api/v1/models", Access: anyRole, Cache: true, API: true, Tag: "models", Summary: "List software models seen in tenants",
			Query: []Param{{Name: "family", Type: "string", Doc: "product family", Enum: []string{"dynamics365", "powerapps", "powerautomate", "dataverse", "other"}}},
			Resp:  modelList, Handler: apiModels},
		{Method: "GET", Path: "/api/v1/models/{sku}", Access: anyRole, API: true, Tag: "models", Summary: "Show a software model by SKU id", Resp: ModelJSON{}, Handler: apiModel},

		{Method: "GET", Path: "/api/v1/subscriptions", Access: anyRole, Cache: true, API: true, Tag: "subscriptions",
			Summary: "Search subscriptions (filter, sort, cursor pagination)", Query: subscriptionParams, Resp: SubscriptionPage{}, Handler: apiSubscriptions},
		{Method: "GET", Path: "/api/v1/subscriptions.csv", Access: anyRole, API: true, Tag: "subscriptions",
			Summary: "Export every subscription matching the filters as CSV", Query: subscriptionParams[:7], Content: "text/csv", Handler: apiSubscriptionsCSV},
		{Method: "GET", Path: "/api/v1/subscriptions/{id}", Access: anyRole, API: true, Tag: "subscriptions",
			Summary: "Show a subscription", Resp: SubscriptionJSON{}, Handler: apiSubscription},
		{Method: "GET", Path: "/api/v1/reports/usage", Access: anyRole, Cache: true, API: true, Tag: "reports",
			Summary: "Open subscriptions per profile and SKU by usage class", Query: []Param{{Name: "profile", Type: "string", Doc: "profile name"}},
			Resp: []UsageRow{}, Handler: apiUsageReport},

		{Method: "GET", Path: "/api/v1/audit", Access: admins, API: true, Tag: "audit", Summary: "The audit log of API actions, newest first",
			Query: []Param{{Name: "limit", Type: "integer", Doc: "1–1000 (default 100)"}, {Name: "cursor", Type: "string", Doc: "next_cursor of the previous page"}},
			Resp:  AuditPage{}, Handler: apiAudit},
		{Method: "GET", Path: "/api/v1/users", Access: admins, API: true, Tag: "users", Summary: "List users", Resp: []UserJSON{}, Handler: apiUsers},
		{Method: "POST", Path: "/api/v1/users", Access: admins, API: true, Tag: "users",
			Summary: "Add a user (a one-time password is generated when none is given)", Body: UserCreate{}, Resp: UserCreated{}, Status: http.StatusCreated, Handler: apiUserCreate},
		{Method: "PATCH", Path: "/api/v1/users/{name}", Access: admins, API: true, Tag: "users",
			Summary: "Change a user's role or disable/enable it", Body: UserPatch{}, Resp: UserJSON{}, Handler: apiUserPatch},
		{Method: "POST", Path: "/api/v1/users/{name}/password-reset", Access: admins, API: true, Tag: "users",
			Summary: "Give a user a new one-time password and end its sessions", Resp: PasswordReset{}, Handler: apiUserReset},
		{Method: "GET", Path: "/api/v1/tokens", Access: admins, API: true, Tag: "tokens", Summary: "List API tokens", Resp: []TokenJSON{}, Handler: apiTokens},
		{Method: "POST", Path: "/api/v1/tokens", Access: admins, API: true, Tag: "tokens",
			Summary: "Issue an API token (the secret is shown once)", Body: TokenCreate{}, Resp: TokenCreated{}, Status: http.StatusCreated, Handler: apiTokenCreate},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Access: admins, API: true, Tag: "tokens", Summary: "Revoke an API token", Status: http.StatusNoContent, Handler: apiTokenDelete},

		{Method: "GET", Path: "/api/openapi.json", Access: public, API: true, Tag: "server", Summary: "This API's OpenAPI 3.1 document",
			Content: "application/json", Handler: func(s *Server, w http.ResponseWriter, r *http.Request) error {
				b, err := s.OpenAPI()
				if err != nil {
					return err
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				_, err = w.Write(b)
				return err
			}},
	}
}
