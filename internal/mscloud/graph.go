package mscloud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

type batchCtxKey struct{}

// graphCall is one Graph request being served.
type graphCall struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	p     *principal
	tc    *tenantCtx
	base  string // .../v1.0
	rid   string
	crid  string
	batch bool
}

// graphError writes Graph's error envelope.
func (g *graphCall) error(status int, code, msg string) {
	g.w.Header().Set("Content-Type", "application/json")
	inner := obj{{"date", time.Now().UTC().Format("2006-01-02T15:04:05")}, {"request-id", g.rid}, {"client-request-id", g.crid}}
	if status == http.StatusTooManyRequests {
		inner = obj{{"code", "429"}, {"date", time.Now().UTC().Format("2006-01-02T15:04:05")}, {"message", "Please retry after"}, {"request-id", g.rid}, {"status", "429"}}
	}
	body := obj{{"error", obj{{"code", code}, {"message", msg}, {"innerError", inner}}}}
	b := appendJSON(nil, body)
	g.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	g.w.WriteHeader(status)
	g.w.Write(b)
}

func (g *graphCall) json(status int, v any) {
	marshalTo(v, func(b []byte) {
		g.w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
		g.w.Header().Set("OData-Version", "4.0")
		g.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		g.w.WriteHeader(status)
		g.w.Write(b)
	})
}

// tenantError answers an error of the tenant model.
func (g *graphCall) tenantError(err error) {
	var te *tenant.Error
	if errors.As(err, &te) {
		g.error(te.HTTPStatus(), te.GraphCode(), te.Message)
		return
	}
	g.error(http.StatusInternalServerError, "generalException", "An internal server error occurred.")
}

type graphRoute struct {
	name    string
	write   bool
	cost    int
	perms   []string
	handler func(*graphCall, []string)
}

var (
	permUserRead  = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permOrgRead   = []string{"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.Read"}
	permSKURead   = []string{"LicenseAssignment.Read.All", "LicenseAssignment.ReadWrite.All", "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permLicWrite  = []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	permGroupMemW = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)

// route matches a Graph path (after /v1.0) to its handler; nil when unknown.
func matchGraph(method, path string) (*graphRoute, []string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	n := len(seg)
	is := func(m string, parts ...string) bool {
		if m != method || len(parts) != n {
			return false
		}
		for i, p := range parts {
			if p != "*" && !strings.EqualFold(p, seg[i]) {
				return false
			}
		}
		return true
	}
	switch {
	case is("GET", "organization"):
		return &graphRoute{"GET /organization", false, 1, permOrgRead, (*graphCall).organization}, seg
	case is("GET", "subscribedSkus"):
		return &graphRoute{"GET /subscribedSkus", false, 3, permSKURead, (*graphCall).subscribedSkus}, seg
	case is("GET", "users"):
		return &graphRoute{"GET /users", false, 2, permUserRead, (*graphCall).users}, seg
	case is("GET", "users", "$count"):
		return &graphRoute{"GET /users/$count", false, 1, permUserRead, (*graphCall).usersCount}, seg
	case is("GET", "users", "delta()"), is("GET", "users", "delta"):
		return &graphRoute{"GET /users/delta", false, 5, permUserRead, (*graphCall).delta}, seg
	case is("GET", "users", "*"):
		return &graphRoute{"GET /users/{id}", false, 1, permUserRead, (*graphCall).user}, seg
	case is("GET", "users", "*", "licenseDetails"):
		return &graphRoute{"GET /users/{id}/licenseDetails", false, 2, permUserRead, (*graphCall).licenseDetails}, seg
	case is("POST", "users", "*", "assignLicense"):
		return &graphRoute{"POST /users/{id}/assignLicense", true, 1, permLicWrite, (*graphCall).assignLicense}, seg
	case is("POST", "users", "*", "reprocessLicenseAssignment"):
		return &graphRoute{"POST /users/{id}/reprocessLicenseAssignment", true, 1, permLicWrite, (*graphCall).reprocess}, seg
	case is("DELETE", "groups", "*", "members", "*", "$ref"):
		return &graphRoute{"DELETE /groups/{id}/members/{id}/$ref", true, 1, permGroupMemW, (*graphCall).removeMember}, seg
	case is("POST", "groups", "*", "members", "$ref"):
		return &graphRoute{"POST /groups/{id}/members/$ref", true, 1, permGroupMemW, (*graphCall).addMember}, seg
	case is("GET", "users", "*", "manager"):
		return &graphRoute{"GET /users/{id}/manager", false, 1, permUserRead, (*graphCall).manager}, seg
	case is("POST", "$batch"):
		return &graphRoute{"POST /$batch", false, 0, nil, (*graphCall).batchRequest}, seg
	}
	return nil, seg
}

// ruCost applies the documented query adjustments to a base cost.
func ruCost(base int, q url.Values, write bool) int {
	c := base
	if !write {
		if q.Has("$select") {
			c--
		}
		if q.Has("$expand") {
			c++
		}
		if t, err := strconv.Atoi(q.Get("$top")); err == nil && t < 20 {
			c--
		}
	}
	return max(c, 1)
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, path string) {
	rid := newGUID()
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = rid
	}
	h := w.Header()
	h.Set("request-id", rid)
	h.Set("client-request-id", crid)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Simulated","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"MSCLOUD"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cache-Control", "no-cache")
	inBatch := r.Context().Value(batchCtxKey{}) != nil
	g := &graphCall{s: s, w: w, r: r, base: s.baseURL(r) + "/v1.0", rid: rid, crid: crid, batch: inBatch}
	rt, seg := matchGraph(r.Method, path)
	if rt == nil {
		s.count(HostGraph, "other")
		if len(seg) > 0 && seg[0] != "" {
			g.error(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[len(seg)-1]))
		} else {
			g.error(http.StatusBadRequest, "BadRequest", "Invalid request.")
		}
		return
	}
	s.count(HostGraph, rt.name)
	if !inBatch {
		s.sleep(r, HostGraph)
	}
	p, fail := s.authenticate(r, func(res resource) bool { return res.graph })
	if fail != nil {
		h.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.baseURL(r)+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		g.error(fail.status, "InvalidAuthenticationToken", fail.msg)
		return
	}
	g.p, g.tc = p, p.tenant
	now := time.Now()
	s.counters.noteArrival(HostGraph, p.key(), now)
	if rt.name == "POST /$batch" {
		rt.handler(g, seg)
		return
	}
	fault, ra := s.faults.draw(HostGraph, r.Method == http.MethodGet && !inBatch)
	if inBatch && (fault == FaultDrop) {
		fault = FaultUnavailable
	}
	scope := fmt.Sprintf("Tenant_Application/%s/%s/%s", map[bool]string{true: "Write", false: "Read"}[rt.write], p.appID, p.tenant.id)
	switch fault {
	case FaultThrottle:
		s.counters.fault(HostGraph, fault, true)
		s.counters.noteWait(HostGraph, p.key(), now, secondsDur(ra))
		h.Set("Retry-After", formatRetryAfter(ra, false))
		h.Set("x-ms-throttle-scope", scope)
		h.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		g.error(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		return
	case FaultServerError:
		s.counters.fault(HostGraph, fault, false)
		g.error(http.StatusInternalServerError, "generalException", "An internal server error occurred.")
		return
	case FaultUnavailable:
		s.counters.fault(HostGraph, fault, false)
		s.counters.noteWait(HostGraph, p.key(), now, secondsDur(ra))
		h.Set("Retry-After", formatRetryAfter(ra, true))
		g.error(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later.")
		return
	case FaultDrop:
		s.counters.fault(HostGraph, fault, false)
		dropConnection(w)
		return
	}
	cost := ruCost(rt.cost, r.URL.Query(), rt.write)
	ok, wait, used := s.limits.graphSpend(p.tenant.id+"/"+p.appID, cost, now)
	if !ok {
		s.counters.enforced(HostGraph, "resource_units")
		ra := wait.Seconds()
		s.counters.noteWait(HostGraph, p.key(), now, wait)
		h.Set("Retry-After", formatRetryAfter(ra, false))
		h.Set("x-ms-throttle-scope", scope)
		h.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		g.error(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		return
	}
	h.Set("x-ms-resource-unit", strconv.Itoa(cost))
	if used > 0.8 {
		h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(min(used, 1.8), 'f', 1, 64))
	}
	if !p.has(rt.perms...) {
		g.error(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	if fault == FaultMalformed || fault == FaultTruncated {
		s.counters.fault(HostGraph, fault, false)
		serveBodyFault(w, r, fault, func(w2 http.ResponseWriter, r2 *http.Request) {
			g2 := *g
			g2.w = w2
			rt.handler(&g2, seg)
		})
		return
	}
	rt.handler(g, seg)
}

// --- organization and SKUs ---

func (g *graphCall) organization(_ []string) {
	t := g.tc.t
	org := obj{
		{"id", g.tc.id}, {"deletedDateTime", nil}, {"businessPhones", []string{}}, {"city", nil}, {"country", nil},
		{"countryLetterCode", "US"}, {"createdDateTime", t.CreatedDateTime()}, {"defaultUsageLocation", nil},
		{"displayName", t.DisplayName()}, {"marketingNotificationEmails", []string{}}, {"onPremisesLastSyncDateTime", nil},
		{"onPremisesSyncEnabled", nil}, {"partnerTenantType", nil}, {"postalCode", nil}, {"preferredLanguage", "en"},
		{"securityComplianceNotificationMails", []string{}}, {"securityComplianceNotificationPhones", []string{}},
		{"state", nil}, {"street", nil}, {"technicalNotificationMails", []string{}}, {"tenantType", "AAD"},
		{"assignedPlans", []obj{}}, {"privacyProfile", nil}, {"provisionedPlans", []obj{}},
		{"verifiedDomains", []obj{{{"capabilities", "Email, OfficeCommunicationsOnline"}, {"isDefault", true}, {"isInitial", true}, {"name", t.Domain()}, {"type", "Managed"}}}},
	}
	g.json(http.StatusOK, obj{{"@odata.context", g.base + "/$metadata#organization"}, {"value", []obj{org}}})
}

var skuProps = []string{"accountName", "accountId", "appliesTo", "capabilityStatus", "consumedUnits", "id", "prepaidUnits", "servicePlans", "skuId", "skuPartNumber", "subscriptionIds"}

func (g *graphCall) subscribedSkus(_ []string) {
	q := g.r.URL.Query()
	for k := range q {
		if k != "$select" {
			g.error(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("The query parameter '%s' is not supported on subscribedSkus; only $select is.", k))
			return
		}
	}
	sel, ctx, ok := g.selection(q.Get("$select"), skuProps, skuProps, "subscribedSku", "subscribedSkus", "")
	if !ok {
		return
	}
	var rows []obj
	for _, k := range g.tc.t.SKUs() {
		plans := make([]obj, 0, len(k.ServicePlans))
		for _, sp := range k.ServicePlans {
			status := "Success"
			if k.CapabilityStatus == "Suspended" || k.CapabilityStatus == "Deleted" || k.CapabilityStatus == "LockedOut" {
				status = "Disabled"
			}
			plans = append(plans, obj{{"servicePlanId", sp.ID}, {"servicePlanName", sp.Name}, {"provisioningStatus", status}, {"appliesTo", "User"}})
		}
		full := map[string]any{
			"accountName": g.tc.t.DisplayName(), "accountId": g.tc.id, "appliesTo": orDefault(k.AppliesTo, "User"),
			"capabilityStatus": k.CapabilityStatus, "consumedUnits": k.Consumed, "id": g.tc.id + "_" + k.SKUID,
			"prepaidUnits": obj{{"enabled", k.Enabled}, {"lockedOut", k.LockedOut}, {"suspended", k.Suspended}, {"warning", k.Warning}},
			"servicePlans": plans, "skuId": k.SKUID, "skuPartNumber": k.PartNumber, "subscriptionIds": nonNil(k.SubscriptionIDs),
		}
		o := obj{}
		for _, p := range sel {
			o = o.add(p, full[p])
		}
		if !slices.Contains(sel, "id") {
			o = o.add("id", full["id"])
		}
		rows = append(rows, o)
	}
	if rows == nil {
		rows = []obj{}
	}
	g.json(http.StatusOK, obj{{"@odata.context", ctx}, {"value", rows}})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parseSelect splits a $select list and checks every name against allowed
// (case-insensitive, answered in the canonical case).
func parseSelect(v string, allowed []string, typ string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, p) })
		if i < 0 {
			return nil, fmt.Errorf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		}
		if !slices.Contains(out, allowed[i]) {
			out = append(out, allowed[i])
		}
	}
	return out, nil
}

// selection checks the $select list v against allowed (properties of
// microsoft.graph.typ) and returns the properties to render (defaults when
// none is selected) with the @odata.context URL of entity set (suffix
// "/$entity" for a single entity). On an unknown property it answers 400
// and returns false.
func (g *graphCall) selection(v string, allowed, defaults []string, typ, set, suffix string) ([]string, string, bool) {
	sel, err := parseSelect(v, allowed, typ)
	if err != nil {
		g.error(http.StatusBadRequest, "Request_BadRequest", err.Error())
		return nil, "", false
	}
	ctxURL := selectContext(g.base, set, sel, suffix)
	if len(sel) == 0 {
		sel = defaults
	}
	return sel, ctxURL, true
}

// --- users ---

// userDefaultProps is Graph's default property set for users.
var userDefaultProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// userProps are the user properties the simulator answers; those it does
// not model are answered null (or [] for collections), as for a tenant
// where they are unset.
var userProps = []string{"id", "displayName", "givenName", "surname", "userPrincipalName", "mail", "jobTitle", "mobilePhone",
	"officeLocation", "preferredLanguage", "businessPhones", "accountEnabled", "assignedLicenses", "assignedPlans",
	"licenseAssignmentStates", "signInActivity", "department", "country", "usageLocation", "createdDateTime", "deletedDateTime",
	"city", "companyName", "employeeId", "employeeType", "mailNickname", "onPremisesSyncEnabled", "otherMails", "proxyAddresses",
	"state", "streetAddress", "postalCode", "userType", "faxNumber", "creationType", "externalUserState"}

func graphTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func signInTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339)
}

func strOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userValue renders one property of u; upperSKU renders skuIds in upper
// case as the assignLicense response does.
func userValue(u *tenant.User, p string, upperSKU bool) any {
	switch p {
	case "id":
		return u.ID
	case "displayName":
		return strOrNull(u.DisplayName)
	case "givenName":
		return strOrNull(u.GivenName)
	case "surname":
		return strOrNull(u.Surname)
	case "userPrincipalName":
		return u.UserPrincipalName
	case "mail":
		return strOrNull(u.Mail)
	case "jobTitle":
		return strOrNull(u.JobTitle)
	case "department":
		return strOrNull(u.Department)
	case "country":
		return strOrNull(u.Country)
	case "usageLocation":
		return strOrNull(u.UsageLocation)
	case "preferredLanguage":
		return "en-US"
	case "accountEnabled":
		return u.AccountEnabled
	case "createdDateTime":
		return graphTime(u.CreatedDateTime)
	case "businessPhones", "otherMails", "proxyAddresses":
		return []string{}
	case "userType":
		return "Member"
	case "mailNickname":
		nick, _, _ := strings.Cut(u.UserPrincipalName, "@")
		return nick
	case "assignedLicenses":
		out := make([]obj, 0, len(u.AssignedLicenses))
		for _, l := range u.AssignedLicenses {
			id := l.SKUID
			if upperSKU {
				id = strings.ToUpper(id)
			}
			out = append(out, obj{{"disabledPlans", nonNil(l.DisabledPlans)}, {"skuId", id}})
		}
		return out
	case "assignedPlans":
		out := make([]obj, 0, len(u.AssignedPlans))
		for _, ap := range u.AssignedPlans {
			out = append(out, obj{{"assignedDateTime", graphTime(ap.AssignedDateTime)}, {"capabilityStatus", ap.CapabilityStatus}, {"service", ap.Service}, {"servicePlanId", ap.ServicePlanID}})
		}
		return out
	case "licenseAssignmentStates":
		out := make([]obj, 0, len(u.LicenseAssignmentStates))
		for _, s := range u.LicenseAssignmentStates {
			var errv any
			switch {
			case s.Error != "":
				errv = s.Error
			case s.ErrorNone:
				errv = "None"
			}
			out = append(out, obj{{"assignedByGroup", strOrNull(s.AssignedByGroup)}, {"disabledPlans", nonNil(s.DisabledPlans)}, {"error", errv},
				{"lastUpdatedDateTime", graphTime(s.LastUpdatedDateTime)}, {"skuId", s.SKUID}, {"state", s.State}})
		}
		return out
	case "signInActivity":
		a := u.SignInActivity
		return obj{
			{"lastSignInDateTime", signInTime(a.LastSignInDateTime)}, {"lastSignInRequestId", a.LastSignInRequestID},
			{"lastNonInteractiveSignInDateTime", signInTime(a.LastNonInteractiveSignInDateTime)}, {"lastNonInteractiveSignInRequestId", a.LastNonInteractiveSignInRequestID},
			{"lastSuccessfulSignInDateTime", signInTime(a.LastSuccessfulSignInDateTime)}, {"lastSuccessfulSignInRequestId", a.LastSuccessfulSignInRequestID},
		}
	}
	return nil
}

func renderUser(u *tenant.User, sel []string, upperSKU bool) obj {
	o := make(obj, 0, len(sel)+1)
	for _, p := range sel {
		o = append(o, kv{p, userValue(u, p, upperSKU)})
	}
	if !slices.Contains(sel, "id") {
		o = append(o, kv{"id", u.ID})
	}
	return o
}

// userFilterSchema types the $filter properties supported on users.
var userFilterSchema = filterSchema{
	entity: "microsoft.graph.user",
	props: map[string]edmType{"id": edmString, "displayName": edmString, "userPrincipalName": edmString, "mail": edmString,
		"accountEnabled": edmBool, "department": edmString, "country": edmString, "usageLocation": edmString,
		"jobTitle": edmString, "givenName": edmString, "surname": edmString, "userType": edmString, "assignedLicenses": edmCollection},
	elems: map[string]map[string]edmType{"assignedLicenses": {"skuId": edmGUID}},
}

type userRow struct{ u *tenant.User }

func (r userRow) value(p string) any {
	if p == "accountEnabled" {
		return r.u.AccountEnabled
	}
	v := userValue(r.u, p, false)
	if s, ok := v.(string); ok {
		return s
	}
	return nil
}

func (r userRow) coll(p string) []filterRow {
	if p != "assignedLicenses" {
		return nil
	}
	out := make([]filterRow, len(r.u.AssignedLicenses))
	for i, l := range r.u.AssignedLicenses {
		out[i] = mapRow{"skuId": l.SKUID}
	}
	return out
}

type mapRow map[string]any

func (m mapRow) value(p string) any        { return m[p] }
func (m mapRow) coll(p string) []filterRow { return nil }

// pageToken is the state behind a $skiptoken or $deltatoken.
type pageToken struct {
	Kind   string `json:"k"`            // users, delta-init, delta-changes, delta
	Tenant string `json:"t"`            // tenant id
	Select string `json:"s,omitempty"`  // $select
	Filter string `json:"f,omitempty"`  // $filter
	Top    int    `json:"n,omitempty"`  // page size
	Count  bool   `json:"c,omitempty"`  // $count=true
	After  string `json:"a,omitempty"`  // tenant cursor
	Seq    uint64 `json:"q,omitempty"`  // delta: changes after this sequence
	Upto   uint64 `json:"u,omitempty"`  // delta: changes up to this sequence
	AfterS uint64 `json:"as,omitempty"` // delta paging: last (seq, user) delivered
	Issued int64  `json:"i,omitempty"`  // delta token: tenant clock, unix seconds
}

func (s *Server) encodeToken(t pageToken) string {
	payload, _ := json.Marshal(t)
	mac := s.pagingMAC(payload)
	return base64.RawURLEncoding.EncodeToString(append(mac, payload...))
}

func (s *Server) decodeToken(tok string) (pageToken, bool) {
	var t pageToken
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 17 {
		return t, false
	}
	mac, payload := raw[:16], raw[16:]
	if !bytes.Equal(mac, s.pagingMAC(payload)) {
		return t, false
	}
	if json.Unmarshal(payload, &t) != nil {
		return t, false
	}
	return t, true
}

var usersQueryOptions = map[string]bool{"$select": true, "$top": true, "$filter": true, "$count": true, "$skiptoken": true}

func (g *graphCall) users(_ []string) {
	q := g.r.URL.Query()
	for k := range q {
		if !usersQueryOptions[k] {
			if k == "$skip" {
				g.error(http.StatusBadRequest, "Request_BadRequest", "'$skip' is not supported by the service.")
				return
			}
			if strings.HasPrefix(k, "$") {
				g.error(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("The query option '%s' is not supported by the simulator on users.", k))
				return
			}
		}
	}
	var pt pageToken
	if tok := q.Get("$skiptoken"); tok != "" {
		var ok bool
		pt, ok = g.s.decodeToken(tok)
		if !ok || pt.Kind != "users" || pt.Tenant != g.tc.id {
			g.error(http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
	} else {
		pt = pageToken{Kind: "users", Tenant: g.tc.id, Select: q.Get("$select"), Filter: q.Get("$filter"), Top: 100}
		if v := q.Get("$top"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 999 {
				g.error(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", v))
				return
			}
			pt.Top = n
		}
		switch strings.ToLower(q.Get("$count")) {
		case "":
		case "true":
			pt.Count = true
		case "false":
		default:
			g.error(http.StatusBadRequest, "Request_BadRequest", "Invalid value for $count: '"+q.Get("$count")+"'.")
			return
		}
	}
	if pt.Count && !strings.EqualFold(g.r.Header.Get("ConsistencyLevel"), "eventual") {
		g.error(http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported without the ConsistencyLevel header set to eventual.")
		return
	}
	sel, ctxURL, ok := g.selection(pt.Select, userProps, userDefaultProps, "user", "users", "")
	if !ok {
		return
	}
	if slices.Contains(sel, "signInActivity") && !g.p.has("AuditLog.Read.All") {
		g.error(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	match, ferr := userMatcher(pt.Filter)
	if ferr != nil {
		g.error(http.StatusBadRequest, "Request_UnsupportedQuery", ferr.Error())
		return
	}
	users, next, err := g.tc.t.UsersPage(pt.After, pt.Top, match)
	if err != nil {
		g.error(http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
		return
	}
	out := obj{{"@odata.context", ctxURL}}
	if pt.Count {
		out = out.add("@odata.count", g.countUsers(match))
	}
	if next != "" {
		nt := pt
		nt.After = next
		out = out.add("@odata.nextLink", g.base+"/users?"+pageQuery(pt)+"$skiptoken="+g.s.encodeToken(nt))
	}
	out = out.add("value", userRows{users, sel})
	g.json(http.StatusOK, out)
}

// pageQuery renders the listing's own query options for a nextLink.
func pageQuery(pt pageToken) string {
	var b strings.Builder
	if pt.Select != "" {
		b.WriteString("$select=" + url.QueryEscape(pt.Select) + "&")
	}
	if pt.Filter != "" {
		b.WriteString("$filter=" + url.QueryEscape(pt.Filter) + "&")
	}
	if pt.Count {
		b.WriteString("$count=true&")
	}
	if pt.Top != 100 && pt.Top != 0 {
		b.WriteString("$top=" + strconv.Itoa(pt.Top) + "&")
	}
	return b.String()
}

func userMatcher(filter string) (func(*tenant.User) bool, error) {
	if filter == "" {
		return nil, nil
	}
	e, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	if err := userFilterSchema.check(e); err != nil {
		return nil, err
	}
	return func(u *tenant.User) bool { return evalFilter(e, userRow{u}) }, nil
}

func (g *graphCall) countUsers(match func(*tenant.User) bool) int {
	if match == nil {
		return g.tc.t.UserCount()
	}
	n, cur := 0, ""
	for {
		users, next, err := g.tc.t.UsersPage(cur, 5000, match)
		if err != nil {
			return n
		}
		n += len(users)
		if next == "" {
			return n
		}
		cur = next
	}
}

func (g *graphCall) usersCount(_ []string) {
	if !strings.EqualFold(g.r.Header.Get("ConsistencyLevel"), "eventual") {
		g.error(http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported without the ConsistencyLevel header set to eventual.")
		return
	}
	match, err := userMatcher(g.r.URL.Query().Get("$filter"))
	if err != nil {
		g.error(http.StatusBadRequest, "Request_UnsupportedQuery", err.Error())
		return
	}
	b := strconv.Itoa(g.countUsers(match))
	g.w.Header().Set("Content-Type", "text/plain")
	g.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	g.w.WriteHeader(http.StatusOK)
	io.WriteString(g.w, b)
}

func (g *graphCall) user(seg []string) {
	id, _ := url.PathUnescape(seg[1])
	sel, ctxURL, ok := g.selection(g.r.URL.Query().Get("$select"), userProps, userDefaultProps, "user", "users", "/$entity")
	if !ok {
		return
	}
	u, err := g.tc.t.User(id)
	if err != nil {
		g.tenantError(err)
		return
	}
	g.json(http.StatusOK, append(obj{{"@odata.context", ctxURL}}, renderUser(&u, sel, false)...))
}

func (g *graphCall) licenseDetails(seg []string) {
	id, _ := url.PathUnescape(seg[1])
	u, err := g.tc.t.User(id)
	if err != nil {
		g.tenantError(err)
		return
	}
	rows := []obj{}
	for _, l := range u.AssignedLicenses {
		k, err := g.tc.t.SKU(l.SKUID)
		plans := []obj{}
		if err == nil {
			for _, sp := range k.ServicePlans {
				st := "Success"
				if slices.Contains(l.DisabledPlans, sp.ID) {
					st = "Disabled"
				}
				plans = append(plans, obj{{"servicePlanId", sp.ID}, {"servicePlanName", sp.Name}, {"provisioningStatus", st}, {"appliesTo", "User"}})
			}
		}
		ldID := base64.RawURLEncoding.EncodeToString(append(guidBytes(u.ID), guidBytes(l.SKUID)[:8]...))
		rows = append(rows, obj{{"id", ldID}, {"skuId", l.SKUID}, {"skuPartNumber", k.PartNumber}, {"servicePlans", plans}})
	}
	g.json(http.StatusOK, obj{{"@odata.context", g.base + "/$metadata#users('" + u.ID + "')/licenseDetails"}, {"value", rows}})
}

func guidBytes(s string) []byte {
	b := make([]byte, 0, 16)
	h := strings.ReplaceAll(s, "-", "")
	for i := 0; i+1 < len(h); i += 2 {
		v, _ := strconv.ParseUint(h[i:i+2], 16, 8)
		b = append(b, byte(v))
	}
	for len(b) < 16 {
		b = append(b, 0)
	}
	return b
}

// assignLicenseBody keeps the raw members to tell missing from empty.
type assignLicenseBody struct {
	AddLicenses *[]struct {
		DisabledPlans []string `json:"disabledPlans"`
		SkuID         string   `json:"skuId"`
	} `json:"addLicenses"`
	RemoveLicenses *[]string `json:"removeLicenses"`
}

func (g *graphCall) assignLicense(seg []string) {
	id, _ := url.PathUnescape(seg[1])
	var body assignLicenseBody
	dec := json.NewDecoder(io.LimitReader(g.r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		g.error(http.StatusBadRequest, "Request_BadRequest", "The request body is not valid JSON: "+err.Error())
		return
	}
	var missing []string
	if body.AddLicenses == nil {
		missing = append(missing, "addLicenses")
	}
	if body.RemoveLicenses == nil {
		missing = append(missing, "removeLicenses")
	}
	if len(missing) > 0 {
		g.error(http.StatusBadRequest, "Request_BadRequest", "One or more parameters of the function import 'assignLicense' are missing from the request payload. The missing parameters are: "+strings.Join(missing, ", ")+".")
		return
	}
	var add []tenant.AssignedLicense
	for _, a := range *body.AddLicenses {
		if !guidRE.MatchString(a.SkuID) {
			g.error(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property 'skuId' of resource 'AssignedLicense': '%s'.", a.SkuID))
			return
		}
		dp := []string{}
		for _, p := range a.DisabledPlans {
			dp = append(dp, strings.ToLower(p))
		}
		add = append(add, tenant.AssignedLicense{SKUID: strings.ToLower(a.SkuID), DisabledPlans: dp})
	}
	var remove []string
	for _, r := range *body.RemoveLicenses {
		if !guidRE.MatchString(r) {
			g.error(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property 'removeLicenses': '%s'.", r))
			return
		}
		remove = append(remove, strings.ToLower(r))
	}
	u, err := g.tc.t.AssignLicense(id, add, remove)
	if err != nil {
		g.tenantError(err)
		return
	}
	g.json(http.StatusOK, renderUser(&u, assignResponseProps, true))
}

var assignResponseProps = []string{"accountEnabled", "assignedLicenses", "assignedPlans", "businessPhones", "city", "companyName", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

func (g *graphCall) reprocess(seg []string) {
	id, _ := url.PathUnescape(seg[1])
	u, err := g.tc.t.User(id)
	if err != nil {
		g.tenantError(err)
		return
	}
	g.json(http.StatusOK, append(obj{{"@odata.context", g.base + "/$metadata#users/$entity"}}, renderUser(&u, assignResponseProps, false)...))
}

func (g *graphCall) removeMember(seg []string) {
	gid, _ := url.PathUnescape(seg[1])
	uid, _ := url.PathUnescape(seg[3])
	if err := g.tc.t.RemoveGroupMember(gid, uid); err != nil {
		g.tenantError(err)
		return
	}
	g.w.WriteHeader(http.StatusNoContent)
}

// --- $batch ---

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (g *graphCall) batchRequest(_ []string) {
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.NewDecoder(io.LimitReader(g.r.Body, 4<<20)).Decode(&in); err != nil {
		g.error(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) == 0 {
		g.error(http.StatusBadRequest, "BadRequest", "Invalid batch payload format: no requests.")
		return
	}
	if len(in.Requests) > 20 {
		g.error(http.StatusBadRequest, "BadRequest", "The number of batch requests exceeds the limit of 20.")
		return
	}
	seen := map[string]bool{}
	for _, br := range in.Requests {
		if br.ID == "" || seen[br.ID] || br.Method == "" || br.URL == "" {
			g.error(http.StatusBadRequest, "BadRequest", "Invalid batch payload format: every request needs a unique id, a method and a url.")
			return
		}
		seen[br.ID] = true
	}
	out := make([]obj, 0, len(in.Requests))
	for _, br := range in.Requests {
		u := br.URL
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			out = append(out, obj{{"id", br.ID}, {"status", 400}, {"headers", obj{{"Content-Type", "application/json"}}},
				{"body", obj{{"error", obj{{"code", "BadRequest"}, {"message", "Batch request URLs must be relative."}}}}}})
			continue
		}
		if !strings.HasPrefix(u, "/") {
			u = "/" + u
		}
		var body io.Reader = http.NoBody
		if len(br.Body) > 0 {
			body = bytes.NewReader(br.Body)
		}
		ctx := context.WithValue(g.r.Context(), batchCtxKey{}, true)
		r2, err := http.NewRequestWithContext(ctx, strings.ToUpper(br.Method), g.base+u, body)
		if err != nil {
			out = append(out, obj{{"id", br.ID}, {"status", 400}, {"body", obj{{"error", obj{{"code", "BadRequest"}, {"message", "Invalid request URL."}}}}}})
			continue
		}
		r2.TLS = g.r.TLS
		r2.Header.Set("Authorization", g.r.Header.Get("Authorization"))
		for k, v := range br.Headers {
			r2.Header.Set(k, v)
		}
		if len(br.Body) > 0 && r2.Header.Get("Content-Type") == "" {
			r2.Header.Set("Content-Type", "application/json")
		}
		rec := &bodyRecorder{h: http.Header{}}
		g.s.serveGraph(rec, r2, strings.TrimPrefix(r2.URL.Path, "/v1.0"))
		if rec.status == 0 {
			rec.status = 200
		}
		hdr := obj{}
		for _, k := range []string{"Retry-After", "Content-Type", "x-ms-throttle-scope", "x-ms-throttle-information", "x-ms-resource-unit"} {
			if v := rec.h.Get(k); v != "" {
				hdr = hdr.add(k, v)
			}
		}
		item := obj{{"id", br.ID}, {"status", rec.status}, {"headers", hdr}}
		if len(rec.buf) > 0 {
			if json.Valid(rec.buf) {
				item = item.add("body", rawJSON(rec.buf))
			} else {
				item = item.add("body", string(rec.buf))
			}
		}
		out = append(out, item)
	}
	g.json(http.StatusOK, obj{{"responses", out}})
}
