package mscloud

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// dvCall is one Dataverse request being served.
type dvCall struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	p       *principal
	env     *envCtx
	envURL  string // base/env/{org}
	apiURL  string // envURL/api/data/v9.2 (the version requested)
	annot   bool   // Prefer: odata.include-annotations
	maxPage int    // Prefer: odata.maxpagesize (0 = not asked)
	applied []string
}

func (d *dvCall) error(status int, code, msg string) {
	d.writeHeaders()
	writeJSON(d.w, status, "application/json; odata.metadata=minimal", obj{{"error", obj{{"code", code}, {"message", msg}}}})
}

func (d *dvCall) writeHeaders() {
	h := d.w.Header()
	h.Set("OData-Version", "4.0")
	if len(d.applied) > 0 {
		h.Set("Preference-Applied", strings.Join(d.applied, ","))
	}
}

func (d *dvCall) json(v obj) {
	d.writeHeaders()
	marshalTo(v, func(b []byte) {
		d.w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		d.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		d.w.WriteHeader(http.StatusOK)
		d.w.Write(b)
	})
}

var annotRE = regexp.MustCompile(`odata\.include-annotations\s*=\s*"?([^",]*)"?`)

func (d *dvCall) parsePrefer() {
	for _, v := range d.r.Header.Values("Prefer") {
		if m := annotRE.FindStringSubmatch(v); m != nil && m[1] != "" {
			d.annot = true
			d.applied = append(d.applied, `odata.include-annotations="`+m[1]+`"`)
		}
	}
	if n := preferMaxPage(d.r); n > 0 && n <= 5000 {
		d.maxPage = n
		d.applied = append(d.applied, "odata.maxpagesize="+strconv.Itoa(n))
	}
}

func (d *dvCall) pageSize() int {
	if d.maxPage > 0 {
		return d.maxPage
	}
	return 5000
}

// serveDataverse serves /env/{org}/api/data/v9.x/...
func (s *Server) serveDataverse(w http.ResponseWriter, r *http.Request, rest string) {
	org, rest, _ := strings.Cut(rest, "/")
	e := s.envsByOrg[strings.ToLower(org)]
	rid := newGUID()
	w.Header().Set("REQ_ID", rid)
	w.Header().Set("x-ms-service-request-id", rid)
	if e == nil {
		s.count(HostDataverse, "other")
		http.Error(w, "The environment "+org+" does not exist.", http.StatusNotFound)
		return
	}
	d := &dvCall{s: s, w: w, r: r, env: e, envURL: s.baseURL(r) + "/env/" + e.org}
	ver, seg, ok := strings.Cut(strings.TrimPrefix(rest, "api/data/"), "/")
	if !strings.HasPrefix(rest, "api/data/") || !ok || !(ver == "v9.0" || ver == "v9.1" || ver == "v9.2") {
		s.count(HostDataverse, "other")
		d.error(http.StatusNotFound, "0x8006088a", "Resource not found for the segment '"+rest+"'.")
		return
	}
	d.apiURL = d.envURL + "/api/data/" + ver
	route, handler := matchDataverse(r.Method, seg)
	s.count(HostDataverse, route)
	p, fail := s.authenticate(r, func(res resource) bool { return res.env == e })
	if fail != nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/", s.baseURL(r), e.tenant.id, d.envURL))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	d.p = p
	caller, err := d.callerRow()
	if err != nil {
		d.error(http.StatusForbidden, "0x80072560", err.Error())
		return
	}
	now := time.Now()
	// Limits, waits and violations are per identity per environment (a
	// web server of its own at Microsoft).
	ident := e.org + "/" + p.key()
	s.counters.noteArrival(HostDataverse, ident, now)
	fault, ra := s.faults.draw(HostDataverse, r.Method == http.MethodGet)
	switch fault {
	case FaultThrottle:
		s.counters.fault(HostDataverse, fault, true)
		s.counters.noteWait(HostDataverse, ident, now, secondsDur(float64(int(ra+0.999))))
		w.Header().Set("Retry-After", formatRetryAfter(ra, true))
		w.Header().Set("x-ms-ratelimit-burst-remaining-xrm-requests", "0")
		code, msg := dvThrottle(s.Counters().Throttles[string(HostDataverse)])
		d.error(http.StatusTooManyRequests, code, msg)
		return
	case FaultServerError:
		s.counters.fault(HostDataverse, fault, false)
		d.error(http.StatusInternalServerError, "0x80040216", "An unexpected error occurred.")
		return
	case FaultUnavailable:
		s.counters.fault(HostDataverse, fault, false)
		s.counters.noteWait(HostDataverse, ident, now, secondsDur(float64(int(ra+0.999))))
		w.Header().Set("Retry-After", formatRetryAfter(ra, true))
		d.error(http.StatusServiceUnavailable, "0x80040216", "The service is temporarily unavailable. Try again later.")
		return
	case FaultDrop:
		s.counters.fault(HostDataverse, fault, false)
		dropConnection(w)
		return
	}
	adm := s.limits.dataverseEnter(ident, now)
	s.counters.concurrency(HostDataverse, adm.over, adm.inflight)
	if adm.limit != "" {
		s.serviceProtection(d, ident, now, adm)
		return
	}
	// The request leaves the identity's concurrency count when its answer
	// starts: a client that has read the answer can never find it still
	// counted.
	lw := &leaveWriter{ResponseWriter: w, leave: func() { s.limits.dataverseLeave(ident, now) }}
	defer lw.done()
	w = lw
	d.w = lw
	// Latency is service time: it counts against the concurrency limit.
	s.sleep(r, HostDataverse)
	rateLimitHeaders(w.Header(), adm)
	d.parsePrefer()
	if handler == nil {
		d.error(http.StatusNotFound, "0x8006088a", "Resource not found for the segment '"+firstSegment(seg)+"'.")
		return
	}
	if fault == FaultMalformed || fault == FaultTruncated {
		s.counters.fault(HostDataverse, fault, false)
		serveBodyFault(w, r, fault, func(w2 http.ResponseWriter, r2 *http.Request) {
			d2 := *d
			d2.w = w2
			handler(&d2, seg, caller)
		})
		return
	}
	handler(d, seg, caller)
}

// serviceProtection answers a request that broke an enforced limit:
// 429 with Retry-After and the documented error of that limit.
func (s *Server) serviceProtection(d *dvCall, ident string, now time.Time, adm dvAdmission) {
	s.counters.enforced(HostDataverse, adm.limit)
	s.counters.noteWait(HostDataverse, ident, now, adm.wait)
	h := d.w.Header()
	h.Set("Retry-After", formatRetryAfter(adm.wait.Seconds(), true))
	h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", "0")
	l := s.limits.get()
	win := int(s.limits.window().Seconds())
	switch adm.limit {
	case "concurrent":
		d.error(http.StatusTooManyRequests, "0x80072326", fmt.Sprintf("Number of concurrent requests exceeded the limit of %d.", l.DataverseConcurrent))
	case "execution":
		h.Set("x-ms-ratelimit-time-remaining-xrm-requests", "0.00")
		d.error(http.StatusTooManyRequests, "0x80072321", fmt.Sprintf("Combined execution time of incoming requests exceeded limit of %s milliseconds over time window of %d seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.", groupThousands(time.Duration(l.DataverseExecution).Milliseconds()), win))
	default:
		d.error(http.StatusTooManyRequests, "0x80072322", fmt.Sprintf("Number of requests exceeded the limit of %d over time window of %d seconds.", l.DataverseRequests, win))
	}
}

// rateLimitHeaders sets the service-protection headers of an admitted
// request: requests and execution time (ms) left in the window; the
// documented defaults minus nothing when a limit is not enforced.
func rateLimitHeaders(h http.Header, adm dvAdmission) {
	if adm.remaining >= 0 {
		h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", strconv.Itoa(adm.remaining))
	} else {
		h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", "5999")
	}
	left := int64(1_200_000)
	if adm.execLeft >= 0 {
		left = adm.execLeft.Milliseconds()
	}
	h.Set("x-ms-ratelimit-time-remaining-xrm-requests", groupThousands(left)+".00")
}

// groupThousands writes n with comma thousands separators (1,200,000).
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// leaveWriter calls leave once, when the answer starts (its header is
// written) or when the handler returns without writing.
type leaveWriter struct {
	http.ResponseWriter
	leave func()
	left  bool
}

func (w *leaveWriter) done() {
	if !w.left {
		w.left = true
		w.leave()
	}
}

func (w *leaveWriter) WriteHeader(c int) {
	w.done()
	w.ResponseWriter.WriteHeader(c)
}

func (w *leaveWriter) Write(b []byte) (int, error) {
	w.done()
	return w.ResponseWriter.Write(b)
}

func (w *leaveWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *leaveWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.done()
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("the connection cannot be hijacked")
}

// dvThrottle rotates through the three service-protection errors.
func dvThrottle(n int64) (code, msg string) {
	switch n % 3 {
	case 1:
		return "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
	case 2:
		return "0x80072321", "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
	default:
		return "0x80072326", "Number of concurrent requests exceeded the limit of 52."
	}
}

func firstSegment(s string) string {
	s, _, _ = strings.Cut(s, "/")
	if i := strings.IndexByte(s, '('); i >= 0 {
		s = s[:i]
	}
	return s
}

var entityKeyRE = regexp.MustCompile(`^(\w+)\(([0-9a-fA-F-]{36})\)$`)

type dvHandler func(*dvCall, string, tenant.SystemUser)

func matchDataverse(method, seg string) (string, dvHandler) {
	if method != http.MethodGet {
		return method + " other", nil
	}
	switch seg {
	case "WhoAmI", "WhoAmI()":
		return "GET /WhoAmI", (*dvCall).whoAmI
	case "systemusers":
		return "GET /systemusers", (*dvCall).systemUsers
	case "organizations":
		return "GET /organizations", (*dvCall).organizations
	case "audits":
		return "GET /audits", (*dvCall).audits
	}
	if m := entityKeyRE.FindStringSubmatch(seg); m != nil && m[1] == "systemusers" {
		return "GET /systemusers({id})", (*dvCall).systemUser
	}
	if strings.HasPrefix(seg, "systemusers(") && strings.HasSuffix(seg, ")/lk_audit_userid") {
		return "GET /systemusers({id})/lk_audit_userid", (*dvCall).userAudits
	}
	return "GET other", nil
}

// callerRow finds the caller's systemuser: the application user for an
// app-only token, the user's systemuser for a delegated one.
func (d *dvCall) callerRow() (tenant.SystemUser, error) {
	t := d.env.tenant.t
	if d.p.appOnly {
		env, err := d.env.env()
		if err == nil {
			su, err := t.SystemUser(d.env.index, env.AppUserID)
			if err == nil && strings.EqualFold(su.ApplicationID, d.p.appID) && !su.IsDisabled {
				return su, nil
			}
		}
		return tenant.SystemUser{}, fmt.Errorf("The user is not a member of the organization: application %s has no application user in this environment.", d.p.appID)
	}
	su, err := t.SystemUserOf(d.env.index, d.p.oid)
	if err != nil {
		return tenant.SystemUser{}, fmt.Errorf("The user is not a member of the organization: user %s has no systemuser in this environment.", d.p.oid)
	}
	if su.IsDisabled {
		return tenant.SystemUser{}, fmt.Errorf("The user with SystemUserId=%s is disabled. Disabled users cannot access the system.", su.SystemUserID)
	}
	return su, nil
}

func (d *dvCall) whoAmI(_ string, caller tenant.SystemUser) {
	env, err := d.env.env()
	if err != nil {
		d.error(http.StatusNotFound, "0x80040217", err.Error())
		return
	}
	d.json(obj{{"@odata.context", d.apiURL + "/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"},
		{"BusinessUnitId", env.BusinessUnitID}, {"UserId", caller.SystemUserID}, {"OrganizationId", env.OrganizationID}})
}

func (d *dvCall) organizations(_ string, _ tenant.SystemUser) {
	env, err := d.env.env()
	if err != nil {
		d.error(http.StatusNotFound, "0x80040217", err.Error())
		return
	}
	cols := []string{"organizationid", "name", "isauditenabled", "isuseraccessauditenabled", "auditretentionperiodv2", "useraccessauditinginterval"}
	sel, ctxURL, ok := d.selection(cols, "organization", "organizations", "")
	if !ok {
		return
	}
	a := env.Audit
	vals := map[string]any{"organizationid": env.OrganizationID, "name": env.Name, "isauditenabled": a.AuditEnabled,
		"isuseraccessauditenabled": a.UserAccessAuditEnabled, "auditretentionperiodv2": a.RetentionDays, "useraccessauditinginterval": a.AccessIntervalHours}
	row := obj{{"@odata.etag", etag(env.OrganizationID)}}
	for _, c := range sel {
		if d.annot {
			switch v := vals[c].(type) {
			case bool:
				row = row.add(c+"@OData.Community.Display.V1.FormattedValue", map[bool]string{true: "Yes", false: "No"}[v])
			case int:
				row = row.add(c+"@OData.Community.Display.V1.FormattedValue", strconv.Itoa(v))
			}
		}
		row = row.add(c, vals[c])
	}
	if !slices.Contains(sel, "organizationid") {
		row = row.add("organizationid", env.OrganizationID)
	}
	d.json(obj{{"@odata.context", ctxURL}, {"value", []obj{row}}})
}

func etag(id string) string {
	var n uint32
	for _, c := range id {
		n = n*31 + uint32(c)
	}
	return fmt.Sprintf("W/\"%d\"", 10000000+n%90000000)
}

// dvSelect checks $select names (case-sensitive, as Dataverse is).
func dvSelect(v string, cols []string, entity string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		if !slices.Contains(cols, c) {
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", c, entity)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// selection reads the request's $select against cols (properties of
// entity) and returns the properties to render (cols when none is
// selected) with the @odata.context URL of entity set (suffix "/$entity"
// for a single entity). On an unknown property it answers 400 and returns
// false.
func (d *dvCall) selection(cols []string, entity, set, suffix string) ([]string, string, bool) {
	sel, err := dvSelect(d.r.URL.Query().Get("$select"), cols, entity)
	if err != nil {
		d.error(http.StatusBadRequest, "0x0", err.Error())
		return nil, "", false
	}
	ctxURL := selectContext(d.apiURL, set, sel, suffix)
	if len(sel) == 0 {
		sel = cols
	}
	return sel, ctxURL, true
}

// selectContext is the @odata.context URL of entity set under base with
// the selected properties sel, e.g. base/$metadata#users(id,mail)/$entity
// for suffix "/$entity"; no parentheses when nothing is selected.
func selectContext(base, set string, sel []string, suffix string) string {
	u := base + "/$metadata#" + set
	if len(sel) > 0 {
		u += "(" + strings.Join(sel, ",") + ")"
	}
	return u + suffix
}

// --- paging cookies ---

// dvEscape percent-encodes everything but unreserved characters, with
// lower-case hex, as Dataverse encodes paging cookies.
func dvEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToLower(fmt.Sprintf("%02X", c)))
	}
	return b.String()
}

// urlEscapeCookie encodes the outer cookie for the nextLink query: '<',
// '>', '"', ' ' and '%' are escaped (upper-case hex), '=' and '/' kept.
func urlEscapeCookie(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~=/!*'(),:;@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

var (
	outerCookieRE = regexp.MustCompile(`^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(?:False|True)" />$`)
	innerTokenRE  = regexp.MustCompile(`seatwise="([A-Za-z0-9_-]+)"`)
)

// skipToken builds the cookie-style $skiptoken value (not yet URL-encoded
// for the query) carrying tok, for page number page.
func (d *dvCall) skipToken(page int, keyName, first, last string, tok pageToken) string {
	inner := fmt.Sprintf(`<cookie page="%d" seatwise="%s"><%s last="{%s}" first="{%s}" /></cookie>`, page-1, d.s.encodeToken(tok), keyName, strings.ToUpper(last), strings.ToUpper(first))
	return fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="False" />`, page, dvEscape(inner))
}

// parseSkipToken decodes a $skiptoken value (as received, once decoded by
// the query parser) into the page number and state.
func (d *dvCall) parseSkipToken(v string) (int, pageToken, bool) {
	m := outerCookieRE.FindStringSubmatch(v)
	if m == nil {
		return 0, pageToken{}, false
	}
	page, _ := strconv.Atoi(m[1])
	inner, err := url.PathUnescape(m[2])
	if err != nil {
		return 0, pageToken{}, false
	}
	tm := innerTokenRE.FindStringSubmatch(inner)
	if tm == nil {
		return 0, pageToken{}, false
	}
	pt, ok := d.s.decodeToken(tm[1])
	if !ok || pt.Tenant != d.env.tenant.id+"/"+d.env.org {
		return 0, pageToken{}, false
	}
	return page, pt, true
}

// nextLink renders the nextLink: the request URL's query without
// $skiptoken, plus the cookie.
func (d *dvCall) nextLink(path, cookie string) string {
	raw := d.r.URL.RawQuery
	var keep []string
	for _, part := range strings.Split(raw, "&") {
		if part == "" || strings.HasPrefix(part, "$skiptoken=") || strings.HasPrefix(part, "%24skiptoken=") {
			continue
		}
		keep = append(keep, part)
	}
	keep = append(keep, "$skiptoken="+urlEscapeCookie(cookie))
	return d.apiURL + "/" + path + "?" + strings.Join(keep, "&")
}

// --- systemusers ---

var systemUserCols = []string{"systemuserid", "azureactivedirectoryobjectid", "domainname", "fullname", "isdisabled", "accessmode", "caltype", "applicationid", "ownerid"}

var systemUserSchema = filterSchema{entity: "Microsoft.Dynamics.CRM.systemuser", props: map[string]edmType{
	"systemuserid": edmGUID, "azureactivedirectoryobjectid": edmGUID, "domainname": edmString, "fullname": edmString,
	"isdisabled": edmBool, "accessmode": edmInt, "caltype": edmInt, "applicationid": edmGUID,
}}

type sysUserRow struct{ u *tenant.SystemUser }

func (r sysUserRow) value(p string) any {
	u := r.u
	switch p {
	case "systemuserid":
		return u.SystemUserID
	case "azureactivedirectoryobjectid":
		return nullStr(u.AzureActiveDirectoryObjectID)
	case "domainname":
		return u.DomainName
	case "fullname":
		return u.FullName
	case "isdisabled":
		return u.IsDisabled
	case "accessmode":
		return float64(u.AccessMode)
	case "caltype":
		return float64(u.CALType)
	case "applicationid":
		return nullStr(u.ApplicationID)
	}
	return nil
}

func (r sysUserRow) coll(string) []filterRow { return nil }

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (d *dvCall) renderSystemUser(u *tenant.SystemUser, sel []string) obj {
	row := obj{{"@odata.etag", etag(u.SystemUserID)}}
	for _, c := range sel {
		var v any
		switch c {
		case "accessmode":
			v = u.AccessMode
			if d.annot {
				row = row.add(c+"@OData.Community.Display.V1.FormattedValue", accessModeLabels[u.AccessMode])
			}
		case "caltype":
			v = u.CALType
			if d.annot {
				row = row.add(c+"@OData.Community.Display.V1.FormattedValue", calTypeLabels[u.CALType])
			}
		case "isdisabled":
			v = u.IsDisabled
			if d.annot {
				row = row.add(c+"@OData.Community.Display.V1.FormattedValue", map[bool]string{true: "Disabled", false: "Enabled"}[u.IsDisabled])
			}
		case "ownerid":
			v = u.SystemUserID
		default:
			v = sysUserRow{u}.value(c)
		}
		row = row.add(c, v)
	}
	if !slices.Contains(sel, "systemuserid") {
		row = row.add("systemuserid", u.SystemUserID)
	}
	if !slices.Contains(sel, "ownerid") {
		row = row.add("ownerid", u.SystemUserID)
	}
	return row
}

func (d *dvCall) checkQueryOptions(allowed ...string) bool {
	for k := range d.r.URL.Query() {
		if strings.HasPrefix(k, "$") && !slices.Contains(allowed, k) {
			d.error(http.StatusBadRequest, "0x80060888", fmt.Sprintf("The query parameter %s is not supported", k))
			return false
		}
	}
	return true
}

func (d *dvCall) systemUsers(_ string, _ tenant.SystemUser) {
	if !d.checkQueryOptions("$select", "$filter", "$top", "$skiptoken") {
		return
	}
	q := d.r.URL.Query()
	sel, ctxURL, ok := d.selection(systemUserCols, "systemuser", "systemusers", "")
	if !ok {
		return
	}
	var match func(*tenant.SystemUser) bool
	if f := q.Get("$filter"); f != "" {
		e, err := parseFilter(f)
		if err == nil {
			err = systemUserSchema.check(e)
		}
		if err != nil {
			d.error(http.StatusBadRequest, "0x80060888", err.Error())
			return
		}
		match = func(u *tenant.SystemUser) bool { return evalFilter(e, sysUserRow{u}) }
	}
	top, ok := d.top()
	if !ok {
		return
	}
	page, after := 1, ""
	if v := q.Get("$skiptoken"); v != "" {
		pn, pt, ok := d.parseSkipToken(v)
		if !ok || pt.Kind != "systemusers" {
			d.error(http.StatusBadRequest, "0x80040203", "Invalid paging cookie: the $skiptoken was not issued by this environment.")
			return
		}
		page, after = pn, pt.After
	}
	limit := d.pageSize()
	if top > 0 {
		limit = min(limit, top)
	}
	rows, next, err := d.env.tenant.t.SystemUsersPage(d.env.index, after, limit, match)
	if err != nil {
		d.error(http.StatusBadRequest, "0x80040203", "Invalid paging cookie.")
		return
	}
	out := obj{{"@odata.context", ctxURL}}
	vals := make([]obj, len(rows))
	for i := range rows {
		vals[i] = d.renderSystemUser(&rows[i], sel)
	}
	out = out.add("value", vals)
	if next != "" && top == 0 && len(rows) > 0 {
		pt := pageToken{Kind: "systemusers", Tenant: d.env.tenant.id + "/" + d.env.org, After: next}
		out = out.add("@odata.nextLink", d.nextLink("systemusers", d.skipToken(page+1, "systemuserid", rows[0].SystemUserID, rows[len(rows)-1].SystemUserID, pt)))
	}
	d.json(out)
}

func (d *dvCall) top() (int, bool) {
	v := d.r.URL.Query().Get("$top")
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		d.error(http.StatusBadRequest, "0x80060888", "Invalid value for $top: '"+v+"'.")
		return 0, false
	}
	return n, true
}

func (d *dvCall) systemUser(seg string, _ tenant.SystemUser) {
	m := entityKeyRE.FindStringSubmatch(seg)
	sel, ctxURL, ok := d.selection(systemUserCols, "systemuser", "systemusers", "/$entity")
	if !ok {
		return
	}
	u, err := d.env.tenant.t.SystemUser(d.env.index, strings.ToLower(m[2]))
	if err != nil {
		d.error(http.StatusNotFound, "0x80040217", fmt.Sprintf("systemuser With Id = %s Does Not Exist", strings.ToLower(m[2])))
		return
	}
	d.json(append(obj{{"@odata.context", ctxURL}}, d.renderSystemUser(&u, sel)...))
}

// --- audits ---

var auditCols = []string{"auditid", "createdon", "operation", "action", "objecttypecode", "_objectid_value", "_userid_value", "_callinguserid_value", "_regardingobjectid_value", "transactionid", "attributemask", "useradditionalinfo"}

var auditSchema = filterSchema{entity: "Microsoft.Dynamics.CRM.audit", props: map[string]edmType{
	"auditid": edmGUID, "createdon": edmDateTime, "operation": edmInt, "action": edmInt, "objecttypecode": edmString,
	"_objectid_value": edmGUID, "_userid_value": edmGUID, "_callinguserid_value": edmGUID, "_regardingobjectid_value": edmGUID,
	"transactionid": edmGUID, "attributemask": edmString, "useradditionalinfo": edmString,
}}

type auditRow struct{ a *tenant.AuditRow }

func (r auditRow) value(p string) any {
	a := r.a
	switch p {
	case "auditid":
		return a.AuditID
	case "createdon":
		return a.CreatedOn
	case "operation":
		return float64(a.Operation)
	case "action":
		return float64(a.Action)
	case "objecttypecode":
		return a.ObjectTypeCode
	case "_objectid_value":
		return nullStr(a.ObjectID)
	case "_userid_value":
		return nullStr(a.UserID)
	case "_callinguserid_value":
		return nullStr(a.CallingUserID)
	case "transactionid":
		return nullStr(a.TransactionID)
	case "attributemask":
		return nullStr(a.AttributeMask)
	case "useradditionalinfo":
		return nullStr(a.UserAdditionalInfo)
	}
	return nil
}

func (r auditRow) coll(string) []filterRow { return nil }

// formatZone renders formatted date values as a user in UTC-7 sees them
// (the documented example shows 22:19Z as 3:19 PM).
var formatZone = time.FixedZone("UTC-7", -7*3600)

var entityLabels = map[string]string{"systemuser": "User", "phonecall": "Phone Call", "salesorder": "Order", "serviceappointment": "Service Activity", "incident": "Case", "knowledgearticle": "Knowledge Article", "queueitem": "Queue Item", "role": "Security Role", "organization": "Organization"}

func entityLabel(code string) string {
	if l, ok := entityLabels[code]; ok {
		return l
	}
	if code == "" {
		return ""
	}
	return strings.ToUpper(code[:1]) + code[1:]
}

const (
	fmtAnnot    = "@OData.Community.Display.V1.FormattedValue"
	lookupAnnot = "@Microsoft.Dynamics.CRM.lookuplogicalname"
)

// appendAudit writes one audit row: the selected columns in order, each
// preceded by its annotations when they were asked for, and auditid.
func (d *dvCall) appendAudit(b []byte, a *tenant.AuditRow, sel []string, names map[string]string) []byte {
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
	}
	hasID := false
	for _, c := range sel {
		switch c {
		case "auditid":
			hasID = true
			key(c)
			b = appendString(b, a.AuditID)
		case "createdon":
			if d.annot {
				key(c + fmtAnnot)
				b = appendString(b, a.CreatedOn.In(formatZone).Format("1/2/2006 3:04 PM"))
			}
			key(c)
			b = appendTime(b, a.CreatedOn)
		case "operation":
			if d.annot {
				key(c + fmtAnnot)
				b = appendString(b, auditOperationLabels[a.Operation])
			}
			key(c)
			b = strconv.AppendInt(b, int64(a.Operation), 10)
		case "action":
			if d.annot {
				key(c + fmtAnnot)
				b = appendString(b, auditActionLabels[a.Action])
			}
			key(c)
			b = strconv.AppendInt(b, int64(a.Action), 10)
		case "objecttypecode":
			if d.annot {
				key(c + fmtAnnot)
				b = appendString(b, entityLabel(a.ObjectTypeCode))
			}
			key(c)
			b = appendString(b, a.ObjectTypeCode)
		case "_objectid_value":
			if d.annot && a.ObjectID != "" {
				key(c + lookupAnnot)
				b = appendString(b, a.ObjectTypeCode)
			}
			key(c)
			b = appendJSON(b, nullStr(a.ObjectID))
		case "_userid_value", "_callinguserid_value":
			id := a.UserID
			if c == "_callinguserid_value" {
				id = a.CallingUserID
			}
			if d.annot && id != "" {
				key(c + lookupAnnot)
				b = append(b, `"systemuser"`...)
				key(c + fmtAnnot)
				b = appendString(b, d.userName(id, names))
			}
			key(c)
			b = appendJSON(b, nullStr(id))
		default:
			key(c)
			b = appendJSON(b, auditRow{a}.value(c))
		}
	}
	if !hasID {
		key("auditid")
		b = appendString(b, a.AuditID)
	}
	return append(b, '}')
}

func (d *dvCall) userName(id string, cache map[string]string) string {
	if n, ok := cache[id]; ok {
		return n
	}
	n := ""
	if su, err := d.env.tenant.t.SystemUser(d.env.index, id); err == nil {
		n = su.FullName
	}
	cache[id] = n
	return n
}

// auditQuery pushes the top-level conjunction of a filter down to the
// tenant's query; the filter is still evaluated on every row.
func auditQuery(e filterExpr) tenant.AuditQuery {
	var q tenant.AuditQuery
	if e == nil {
		return q
	}
	var conj []filterExpr
	var flat func(filterExpr)
	flat = func(x filterExpr) {
		if l, ok := x.(logicalExpr); ok && l.op == "and" {
			flat(l.l)
			flat(l.r)
			return
		}
		conj = append(conj, x)
	}
	flat(e)
	for _, c := range conj {
		if ce, ok := c.(compareExpr); ok && ce.prop == "createdon" && ce.lit.typ == edmDateTime {
			switch ce.op {
			case "ge":
				q.CreatedOnGE = laterOf(q.CreatedOnGE, ce.lit.t)
			case "gt":
				q.CreatedOnGT = laterOf(q.CreatedOnGT, ce.lit.t)
			case "le":
				q.CreatedOnLE = earlierOf(q.CreatedOnLE, ce.lit.t)
			case "lt":
				q.CreatedOnLT = earlierOf(q.CreatedOnLT, ce.lit.t)
			}
			continue
		}
		prop, lits, ok := eqSet(c)
		if !ok {
			continue
		}
		switch prop {
		case "operation":
			for _, l := range lits {
				q.Operations = append(q.Operations, int(l.n))
			}
		case "action":
			for _, l := range lits {
				q.Actions = append(q.Actions, int(l.n))
			}
		case "_userid_value":
			for _, l := range lits {
				q.UserIDs = append(q.UserIDs, strings.ToLower(l.s))
			}
		case "objecttypecode":
			for _, l := range lits {
				q.ObjectTypeCodes = append(q.ObjectTypeCodes, l.s)
			}
		}
	}
	return q
}

func laterOf(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func earlierOf(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// eqSet recognises "p eq a", "p in (a, b)" and "p eq a or p eq b ..." on
// one property, returning the property and its values.
func eqSet(e filterExpr) (string, []literal, bool) {
	switch x := e.(type) {
	case compareExpr:
		if x.op == "eq" && x.lit.typ != edmNull {
			return x.prop, []literal{x.lit}, true
		}
	case inExpr:
		return x.prop, x.lits, true
	case logicalExpr:
		if x.op != "or" {
			return "", nil, false
		}
		p1, l1, ok1 := eqSet(x.l)
		p2, l2, ok2 := eqSet(x.r)
		if ok1 && ok2 && p1 == p2 {
			return p1, append(append([]literal{}, l1...), l2...), true
		}
	}
	return "", nil, false
}

var orderbyRE = regexp.MustCompile(`^\s*createdon(\s+(asc|desc))?\s*$`)

func (d *dvCall) audits(_ string, _ tenant.SystemUser) {
	d.auditList("audits", "")
}

func (d *dvCall) userAudits(seg string, _ tenant.SystemUser) {
	id := strings.TrimSuffix(strings.TrimPrefix(seg, "systemusers("), ")/lk_audit_userid")
	if !guidRE.MatchString(id) {
		d.error(http.StatusBadRequest, "0x80060888", "Invalid key '"+id+"'.")
		return
	}
	if _, err := d.env.tenant.t.SystemUser(d.env.index, strings.ToLower(id)); err != nil {
		d.error(http.StatusNotFound, "0x80040217", fmt.Sprintf("systemuser With Id = %s Does Not Exist", strings.ToLower(id)))
		return
	}
	d.auditList(seg, strings.ToLower(id))
}

// auditList serves an audit collection; userID restricts it to one user
// (the lk_audit_userid navigation).
func (d *dvCall) auditList(path, userID string) {
	env, err := d.env.env()
	if err != nil {
		d.error(http.StatusNotFound, "0x80040217", err.Error())
		return
	}
	if d.p.appOnly && !env.AppUserAuditRead {
		d.error(http.StatusForbidden, "0x80040220", fmt.Sprintf("Principal user (Id=%s, type=8) is missing prvReadAuditSummary privilege (Id=b1b4ae6c-e7e5-4d5b-8a1e-0e3f1ab8b1a2) on OTC=4567 for entity 'audit'.", env.AppUserID))
		return
	}
	if !d.checkQueryOptions("$select", "$filter", "$orderby", "$top", "$skiptoken") {
		return
	}
	q := d.r.URL.Query()
	sel, ctxURL, ok := d.selection(auditCols, "audit", "audits", "")
	if !ok {
		return
	}
	var fe filterExpr
	if f := q.Get("$filter"); f != "" {
		fe, err = parseFilter(f)
		if err == nil {
			err = auditSchema.check(fe)
		}
		if err != nil {
			d.error(http.StatusBadRequest, "0x80060888", err.Error())
			return
		}
	}
	desc := false
	if ob := q.Get("$orderby"); ob != "" {
		m := orderbyRE.FindStringSubmatch(ob)
		if m == nil {
			d.error(http.StatusBadRequest, "0x80060888", "The $orderby '"+ob+"' is not supported on audits; order by createdon asc or desc.")
			return
		}
		desc = m[2] == "desc"
	}
	top, ok := d.top()
	if !ok {
		return
	}
	aq := auditQuery(fe)
	aq.Descending = desc
	if userID != "" {
		aq.UserIDs = []string{userID}
	}
	page := 1
	if v := q.Get("$skiptoken"); v != "" {
		pn, pt, ok := d.parseSkipToken(v)
		if !ok || pt.Kind != "audits" {
			d.error(http.StatusBadRequest, "0x80040203", "Invalid paging cookie: the $skiptoken was not issued by this environment.")
			return
		}
		page, aq.After = pn, pt.After
	}
	limit := d.pageSize()
	if top > 0 {
		limit = min(limit, top)
	}
	seq, err := d.env.tenant.t.Audits(d.env.index, aq)
	if err != nil {
		var te *tenant.Error
		if errors.As(err, &te) && te.Kind == tenant.ErrInvalid {
			d.error(http.StatusBadRequest, "0x80040203", "Invalid paging cookie.")
			return
		}
		d.error(http.StatusInternalServerError, "0x80040216", "An unexpected error occurred.")
		return
	}
	names := map[string]string{}
	rows := make([]tenant.AuditRow, 0, min(limit, 512))
	more := false
	for a := range seq {
		if fe != nil && !evalFilter(fe, auditRow{&a}) {
			continue
		}
		if len(rows) == limit {
			more = true
			break
		}
		rows = append(rows, a)
	}
	var first, last tenant.AuditRow
	if len(rows) > 0 {
		first, last = rows[0], rows[len(rows)-1]
	}
	value := appender(func(b []byte) []byte {
		b = append(b, '[')
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.appendAudit(b, &rows[i], sel, names)
		}
		return append(b, ']')
	})
	out := obj{{"@odata.context", ctxURL}, {"@Microsoft.Dynamics.CRM.totalrecordcount", -1}, {"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", false}, {"value", value}}
	if more && top == 0 {
		pt := pageToken{Kind: "audits", Tenant: d.env.tenant.id + "/" + d.env.org, After: tenant.CursorOf(last)}
		out = out.add("@odata.nextLink", d.nextLink(path, d.skipToken(page+1, "auditid", first.AuditID, last.AuditID, pt)))
	}
	d.json(out)
}
