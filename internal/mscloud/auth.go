package mscloud

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// principal is the caller a valid access token identifies.
type principal struct {
	tenant  *tenantCtx
	res     resource
	appID   string
	oid     string // user object id (delegated) or service principal id
	appOnly bool
	roles   []string
	scp     []string
}

// key identifies the caller for limits and Retry-After bookkeeping.
func (p *principal) key() string {
	if p == nil {
		return ""
	}
	return p.tenant.id + "/" + p.appID + "/" + p.oid
}

// has reports whether the caller holds any of perms (roles for app-only
// tokens, scp for delegated ones).
func (p *principal) has(perms ...string) bool {
	set := p.scp
	if p.appOnly {
		set = p.roles
	}
	for _, x := range perms {
		if slices.Contains(set, x) {
			return true
		}
	}
	return false
}

type accessClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Tid   string   `json:"tid"`
	Oid   string   `json:"oid"`
	AppID string   `json:"appid"`
	Idtyp string   `json:"idtyp"`
	Roles []string `json:"roles"`
	Scp   string   `json:"scp"`
	Exp   int64    `json:"exp"`
	Nbf   int64    `json:"nbf"`
	Gen   int64    `json:"xms_sim_gen"`
}

// authFailure says why a bearer token was refused.
type authFailure struct {
	status int
	msg    string // Graph message
	kind   string // empty, garbled, expired, audience, signature, tenant
}

var errNoToken = errors.New("no token")

// authenticate validates the bearer token of r for the wanted resource:
// signature, exp/nbf (wall clock, 5 minutes of skew tolerated on nbf only),
// audience and tenant.
func (s *Server) authenticate(r *http.Request, want func(resource) bool) (*principal, *authFailure) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &authFailure{http.StatusUnauthorized, "Access token is empty.", "empty"}
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, &authFailure{http.StatusUnauthorized, "Access token is empty.", "empty"}
	}
	var c accessClaims
	if err := s.signer.verify(tok, &c); err != nil {
		if errors.Is(err, errCompactToken) {
			return nil, &authFailure{http.StatusUnauthorized, "CompactToken parsing failed with error code: 80049217", "garbled"}
		}
		return nil, &authFailure{http.StatusUnauthorized, "Access token validation failure.", "signature"}
	}
	now := time.Now().Unix()
	if now >= c.Exp || now < c.Nbf || c.Gen < s.tokenGen.Load() {
		return nil, &authFailure{http.StatusUnauthorized, "Access token has expired or is not yet valid.", "expired"}
	}
	tc := s.tenantsByName[strings.ToLower(c.Tid)]
	if tc == nil {
		return nil, &authFailure{http.StatusUnauthorized, "Access token validation failure. Invalid tenant.", "tenant"}
	}
	res, ok := s.resolveResource(tc, c.Aud)
	if !ok || !want(res) {
		return nil, &authFailure{http.StatusUnauthorized, "Access token validation failure. Invalid audience.", "audience"}
	}
	p := &principal{tenant: tc, res: res, appID: c.AppID, oid: c.Oid, appOnly: c.Idtyp == "app", roles: c.Roles}
	if c.Scp != "" {
		p.scp = strings.Fields(c.Scp)
	}
	return p, nil
}
