// Package dataverse is the Dataverse Web API (v9.2) client Seatwise needs
// for one Dynamics 365 / Power Apps environment: WhoAmI, the organisation's
// audit settings, systemusers and the audit log, page by page with
// checkpointable links. It sits on odata.Client, which does authentication
// (a token for the environment's own scope), retries and error
// classification. See ../shared/docs/microsoft-apis.md §3.
package dataverse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// APIPath is the Web API path appended to an environment URL.
const APIPath = "/api/data/v9.2"

// MaxPageSize is the largest odata.maxpagesize Dataverse honours, and the
// default page size.
const MaxPageSize = 5000

// Client calls the Web API of one environment. It is safe for concurrent use.
type Client struct {
	env         string // https://org.crm.dynamics.com
	api         string // env + APIPath
	c           *odata.Client
	pageSize    int
	annotations bool
}

// Option configures a Client.
type Option func(*Client)

// WithPageSize sets the odata.maxpagesize preference sent with every
// collection request, clamped to 1..5000 (default 5000).
func WithPageSize(n int) Option {
	return func(c *Client) { c.pageSize = max(1, min(n, MaxPageSize)) }
}

// WithAnnotations asks for all annotations (Prefer:
// odata.include-annotations="*": formatted values, lookup names). Decoding
// does not depend on them.
func WithAnnotations(on bool) Option { return func(c *Client) { c.annotations = on } }

var apiSuffix = regexp.MustCompile(`(?i)/api/data/v\d+(\.\d+)?/?$`)

// New returns a client for the environment at envURL
// (https://org.crm.dynamics.com; a trailing slash or /api/data/v9.x is
// tolerated and dropped) sending through c, whose TokenSource must issue
// tokens for Scope(envURL).
func New(envURL string, c *odata.Client, opts ...Option) *Client {
	env := EnvironmentURL(envURL)
	cl := &Client{env: env, api: env + APIPath, c: c, pageSize: MaxPageSize}
	for _, o := range opts {
		o(cl)
	}
	return cl
}

// EnvironmentURL returns envURL without a trailing slash or Web API path.
func EnvironmentURL(envURL string) string {
	e := strings.TrimSpace(envURL)
	e = apiSuffix.ReplaceAllString(e, "")
	return strings.TrimRight(e, "/")
}

// Scope returns the app-only scope of an environment's tokens: the
// environment URL followed by /.default ("https://org.crm.dynamics.com/.default").
func Scope(envURL string) string { return EnvironmentURL(envURL) + "/.default" }

// EnvironmentURL returns the environment URL the client was made for.
func (c *Client) EnvironmentURL() string { return c.env }

// APIURL returns the Web API base, environment URL + /api/data/v9.2.
func (c *Client) APIURL() string { return c.api }

// OData returns the underlying client (counters, stats).
func (c *Client) OData() *odata.Client { return c.c }

// URL resolves ref: an absolute link (a nextLink) is returned as is if it
// points to the environment's host; a relative one ("audits?$select=...")
// is appended to the Web API base. A link to another host is EINVALID.
func (c *Client) URL(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		if !odata.SameHost(ref, c.env) {
			return "", sam.Errorf(sam.EINVALID, "dataverse: link %s is not on the environment host %s", odata.RedactURL(ref), c.env)
		}
		return ref, nil
	}
	return c.api + "/" + strings.TrimLeft(ref, "/"), nil
}

// header returns the Prefer header sent with collection requests.
func (c *Client) header() http.Header {
	prefer := "odata.maxpagesize=" + strconv.Itoa(c.pageSize)
	if c.annotations {
		prefer += `, odata.include-annotations="*"`
	}
	return http.Header{"Prefer": {prefer}}
}

// WhoAmI is the answer of the WhoAmI function.
type WhoAmI struct {
	BusinessUnitID string
	UserID         string // the caller's systemuserid
	OrganizationID string
}

// WhoAmI calls WhoAmI(), which proves the token is accepted and the caller
// exists in the environment (an application user for app-only access).
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var w struct {
		BusinessUnitID string `json:"BusinessUnitId"`
		UserID         string `json:"UserId"`
		OrganizationID string `json:"OrganizationId"`
	}
	if err := c.c.Get(ctx, c.api+"/WhoAmI()", nil, &w); err != nil {
		if sam.IsCode(err, sam.EFORBIDDEN) {
			return WhoAmI{}, &sam.Error{Code: sam.EFORBIDDEN, Message: fmt.Sprintf(
				"environment %s refused the application: add it as an application user with a security role (Power Platform admin center, Settings, Users + permissions, Application users)", c.env), Err: err}
		}
		return WhoAmI{}, err
	}
	return WhoAmI{sam.NormalizeGUID(w.BusinessUnitID), sam.NormalizeGUID(w.UserID), sam.NormalizeGUID(w.OrganizationID)}, nil
}

// AuditSettings are the organisation's auditing settings.
type AuditSettings struct {
	OrganizationID          string
	AuditEnabled            bool // isauditenabled
	UserAccessAuditEnabled  bool // isuseraccessauditenabled
	RetentionDays           int  // auditretentionperiodv2; -1 forever
	UserAccessAuditingHours int  // useraccessauditinginterval (hours between access records)
}

// AuditSettings reads organizations?$select=isauditenabled,
// isuseraccessauditenabled,auditretentionperiodv2,useraccessauditinginterval
// (a one-row collection). ENOTFOUND if it has no row.
func (c *Client) AuditSettings(ctx context.Context) (AuditSettings, error) {
	type row struct {
		OrganizationID             string `json:"organizationid"`
		IsAuditEnabled             *bool  `json:"isauditenabled"`
		IsUserAccessAuditEnabled   *bool  `json:"isuseraccessauditenabled"`
		AuditRetentionPeriodV2     *int   `json:"auditretentionperiodv2"`
		UserAccessAuditingInterval *int   `json:"useraccessauditinginterval"`
	}
	u := c.api + "/organizations?$select=isauditenabled,isuseraccessauditenabled,auditretentionperiodv2,useraccessauditinginterval"
	p, err := odata.GetPageOf[row](ctx, c.c, u, c.header())
	if err != nil {
		return AuditSettings{}, err
	}
	w := p.Value
	if len(w) == 0 {
		return AuditSettings{}, sam.Errorf(sam.ENOTFOUND, "dataverse: %s returned no organization row", c.env)
	}
	r := w[0]
	s := AuditSettings{OrganizationID: sam.NormalizeGUID(r.OrganizationID), RetentionDays: -1, UserAccessAuditingHours: 4}
	if r.IsAuditEnabled != nil {
		s.AuditEnabled = *r.IsAuditEnabled
	}
	if r.IsUserAccessAuditEnabled != nil {
		s.UserAccessAuditEnabled = *r.IsUserAccessAuditEnabled
	}
	if r.AuditRetentionPeriodV2 != nil {
		s.RetentionDays = *r.AuditRetentionPeriodV2
		if s.RetentionDays < 0 {
			s.RetentionDays = -1
		}
	}
	if r.UserAccessAuditingInterval != nil {
		s.UserAccessAuditingHours = *r.UserAccessAuditingInterval
	}
	return s, nil
}

// Access modes of systemuser.accessmode.
const (
	AccessReadWrite      = 0
	AccessAdministrative = 1
	AccessRead           = 2
	AccessSupportUser    = 3
	AccessNonInteractive = 4 // application users
	AccessDelegatedAdmin = 5
)

// SystemUser is one Dataverse user.
type SystemUser struct {
	SystemUserID  string // lower case
	AADObjectID   string // azureactivedirectoryobjectid, the Entra user id; "" when none
	DomainName    string // the UPN for online users
	FullName      string
	IsDisabled    bool
	AccessMode    int
	ApplicationID string // set for application users
}

// SystemUserFields are the columns SystemUsersURL selects.
var SystemUserFields = []string{"systemuserid", "azureactivedirectoryobjectid", "domainname", "fullname", "isdisabled", "accessmode", "applicationid"}

// SystemUsersURL returns the first URL of a systemusers listing; filter is
// an optional OData $filter expression (e.g. "accessmode ne 4").
func (c *Client) SystemUsersURL(filter string) string {
	u := c.api + "/systemusers?$select=" + strings.Join(SystemUserFields, ",")
	if filter = strings.TrimSpace(filter); filter != "" {
		u += "&$filter=" + escapeQueryValue(filter)
	}
	return u
}

// SystemUserPage is one page of systemusers.
type SystemUserPage struct {
	URL      string
	Users    []SystemUser
	NextLink string // "" on the last page
}

type wireSystemUser struct {
	SystemUserID  string `json:"systemuserid"`
	AADObjectID   string `json:"azureactivedirectoryobjectid"`
	DomainName    string `json:"domainname"`
	FullName      string `json:"fullname"`
	IsDisabled    bool   `json:"isdisabled"`
	AccessMode    int    `json:"accessmode"`
	ApplicationID string `json:"applicationid"`
}

func systemUserPage(p *odata.PageOf[wireSystemUser]) SystemUserPage {
	out := SystemUserPage{URL: p.URL, NextLink: p.NextLink, Users: make([]SystemUser, len(p.Value))}
	for i, r := range p.Value {
		out.Users[i] = SystemUser{
			SystemUserID: sam.NormalizeGUID(r.SystemUserID), AADObjectID: sam.NormalizeGUID(r.AADObjectID),
			DomainName: r.DomainName, FullName: r.FullName, IsDisabled: r.IsDisabled, AccessMode: r.AccessMode,
			ApplicationID: sam.NormalizeGUID(r.ApplicationID),
		}
	}
	return out
}

// SystemUsersPage fetches one page of systemusers from pageURL (a start
// URL, a saved nextLink, or a path relative to the Web API base).
func (c *Client) SystemUsersPage(ctx context.Context, pageURL string) (SystemUserPage, error) {
	u, err := c.URL(pageURL)
	if err != nil {
		return SystemUserPage{}, err
	}
	p, err := odata.GetPageOf[wireSystemUser](ctx, c.c, u, c.header())
	if err != nil {
		return SystemUserPage{}, err
	}
	return systemUserPage(p), nil
}

// SystemUsers streams systemusers from startURL, calling fn once per page
// with its users and the next page's link ("" after the last) before
// fetching the next page. An error from fn is returned unchanged.
func (c *Client) SystemUsers(ctx context.Context, startURL string, fn func(users []SystemUser, next string) error) error {
	u, err := c.URL(startURL)
	if err != nil {
		return err
	}
	return odata.PagesOf(ctx, c.c, u, c.header(), func(p *odata.PageOf[wireSystemUser]) error {
		sp := systemUserPage(p)
		return fn(sp.Users, sp.NextLink)
	})
}

// Audit operations (audit.operation).
const (
	OperationCreate = 1
	OperationUpdate = 2
	OperationDelete = 3
	OperationAccess = 4
)

// Audit actions Seatwise reads (audit.action; 74 values exist).
const (
	ActionCreate             = 1
	ActionUpdate             = 2
	ActionDelete             = 3
	ActionUserAccessWeb      = 64 // model-driven app in a browser
	ActionUserAccessAPI      = 65 // any other client, API included
	ActionUserAccessAuditOn  = 112
	ActionUserAccessAuditOff = 113
)

// Audit is one audit row, reduced to what usage needs.
type Audit struct {
	AuditID        string    // lower case
	CreatedOn      time.Time // UTC, sub-second precision kept
	Operation      int
	Action         int
	ObjectTypeCode string // logical name, e.g. "contact", "systemuser"
	ObjectID       string // _objectid_value, lower case
	UserID         string // _userid_value, a systemuserid, lower case
}

// AuditFields are the columns AuditsURL selects.
var AuditFields = []string{"auditid", "createdon", "operation", "action", "objecttypecode", "_objectid_value", "_userid_value"}

// AuditMatch is one alternative of AuditQuery.AnyOf: all its non-empty
// lists must match (each list is an OR of its values).
type AuditMatch struct {
	Operations []int
	Actions    []int
	Entities   []string // objecttypecode logical names
}

// AuditQuery selects audit rows. Zero fields do not filter.
type AuditQuery struct {
	// After keeps rows created strictly after it (createdon gt), the form a
	// watermark resumes with; From keeps rows at or after it (createdon
	// ge). When both are set the later bound wins.
	After time.Time
	From  time.Time
	// Until keeps rows created strictly before it (createdon lt).
	Until time.Time
	// Operations, Actions and Entities restrict every row (AND).
	Operations []int
	Actions    []int
	Entities   []string
	// AnyOf, when not empty, keeps rows matching at least one alternative,
	// e.g. access audits (operation 4, action 64/65) OR create/update of
	// tracked entities.
	AnyOf []AuditMatch
	// OrderAsc orders by createdon ascending (oldest first, the order a
	// watermark needs); false is descending.
	OrderAsc bool
}

// AuditsURL returns the first URL of an audits listing for q:
// audits?$select=...&$filter=...&$orderby=createdon asc|desc.
func (c *Client) AuditsURL(q AuditQuery) string {
	var clauses []string
	after, from := q.After, q.From
	switch {
	case !after.IsZero() && !from.IsZero() && !from.After(after):
		from = time.Time{}
	case !after.IsZero() && !from.IsZero():
		after = time.Time{}
	}
	if !after.IsZero() {
		clauses = append(clauses, "createdon gt "+FormatTime(after))
	}
	if !from.IsZero() {
		clauses = append(clauses, "createdon ge "+FormatTime(from))
	}
	if !q.Until.IsZero() {
		clauses = append(clauses, "createdon lt "+FormatTime(q.Until))
	}
	clauses = append(clauses, AuditMatch{q.Operations, q.Actions, q.Entities}.clauses()...)
	var alts []string
	for _, m := range q.AnyOf {
		if cl := m.clauses(); len(cl) > 0 {
			alts = append(alts, "("+strings.Join(cl, " and ")+")")
		}
	}
	if len(alts) > 0 {
		clauses = append(clauses, "("+strings.Join(alts, " or ")+")")
	}
	u := c.api + "/audits?$select=" + strings.Join(AuditFields, ",")
	if len(clauses) > 0 {
		u += "&$filter=" + escapeQueryValue(strings.Join(clauses, " and "))
	}
	order := "desc"
	if q.OrderAsc {
		order = "asc"
	}
	return u + "&$orderby=" + escapeQueryValue("createdon "+order)
}

func (m AuditMatch) clauses() []string {
	var out []string
	if s := orInts("operation", m.Operations); s != "" {
		out = append(out, s)
	}
	if s := orInts("action", m.Actions); s != "" {
		out = append(out, s)
	}
	if len(m.Entities) > 0 {
		parts := make([]string, len(m.Entities))
		for i, e := range m.Entities {
			parts[i] = "objecttypecode eq '" + strings.ReplaceAll(e, "'", "''") + "'"
		}
		out = append(out, paren(parts))
	}
	return out
}

func orInts(field string, vals []int) string {
	if len(vals) == 0 {
		return ""
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = field + " eq " + strconv.Itoa(v)
	}
	return paren(parts)
}

func paren(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

// FormatTime formats t for an OData filter: UTC, RFC 3339 with as many
// fractional digits as needed (none for whole seconds).
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// escapeQueryValue escapes a query value the way Dataverse examples do:
// spaces as %20, quotes and reserved characters escaped, commas, parentheses
// and colons kept readable.
func escapeQueryValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// AuditPage is one page of audits.
type AuditPage struct {
	URL      string
	Rows     []Audit
	NextLink string // "" on the last page
}

type wireAudit struct {
	AuditID        string          `json:"auditid"`
	CreatedOn      string          `json:"createdon"`
	Operation      json.RawMessage `json:"operation"`
	Action         json.RawMessage `json:"action"`
	ObjectTypeCode string          `json:"objecttypecode"`
	ObjectID       string          `json:"_objectid_value"`
	UserID         string          `json:"_userid_value"`
}

func auditPage(p *odata.PageOf[wireAudit]) (AuditPage, error) {
	out := AuditPage{URL: p.URL, NextLink: p.NextLink, Rows: make([]Audit, len(p.Value))}
	for i, r := range p.Value {
		created, err := parseTime(r.CreatedOn)
		if err != nil {
			return AuditPage{}, sam.Errorf(sam.EUNAVAILABLE, "dataverse: GET %s: audit %s has createdon %q, not a timestamp", odata.RedactURL(p.URL), r.AuditID, r.CreatedOn)
		}
		op, err1 := intValue(r.Operation)
		act, err2 := intValue(r.Action)
		if err1 != nil || err2 != nil {
			return AuditPage{}, sam.Errorf(sam.EUNAVAILABLE, "dataverse: GET %s: audit %s has a non-numeric operation or action", odata.RedactURL(p.URL), r.AuditID)
		}
		out.Rows[i] = Audit{
			AuditID: sam.NormalizeGUID(r.AuditID), CreatedOn: created.UTC(), Operation: op, Action: act,
			ObjectTypeCode: strings.ToLower(r.ObjectTypeCode), ObjectID: sam.NormalizeGUID(r.ObjectID), UserID: sam.NormalizeGUID(r.UserID),
		}
	}
	return out, nil
}

// parseTime parses a Dataverse timestamp (RFC 3339, any fraction; a value
// without a zone is UTC).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", s)
	}
	return t.UTC(), err
}

// intValue decodes an option-set value sent as a number or a numeric
// string; absent or null is 0.
func intValue(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strconv.Atoi(strings.TrimSpace(s))
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("not an integer: %s", raw)
	}
	return n, nil
}

// auditForbidden explains a 403 on audits: the caller lacks the
// prvReadAuditSummary privilege.
func (c *Client) auditForbidden(err error) error {
	if !sam.IsCode(err, sam.EFORBIDDEN) {
		return err
	}
	return &sam.Error{Code: sam.EFORBIDDEN, Message: fmt.Sprintf(
		"environment %s refused to return audit records: give the application user a security role with the View Audit Summary privilege (prvReadAuditSummary)", c.env), Err: err}
}

// AuditsPage fetches one page of audits from pageURL (AuditsURL, a saved
// nextLink, or a path relative to the Web API base).
func (c *Client) AuditsPage(ctx context.Context, pageURL string) (AuditPage, error) {
	u, err := c.URL(pageURL)
	if err != nil {
		return AuditPage{}, err
	}
	p, err := odata.GetPageOf[wireAudit](ctx, c.c, u, c.header())
	if err != nil {
		return AuditPage{}, c.auditForbidden(err)
	}
	return auditPage(p)
}

// Audits streams audit rows from startURL, calling fn once per page with
// its rows and the next page's link ("" after the last) before fetching the
// next page; memory does not grow with the number of pages. The Prefer
// odata.maxpagesize header goes with every page, nextLinks included. An
// error from fn is returned unchanged.
func (c *Client) Audits(ctx context.Context, startURL string, fn func(rows []Audit, next string) error) error {
	u, err := c.URL(startURL)
	if err != nil {
		return err
	}
	var fnErr error
	err = odata.PagesOf(ctx, c.c, u, c.header(), func(p *odata.PageOf[wireAudit]) error {
		ap, err := auditPage(p)
		if err != nil {
			return err
		}
		fnErr = fn(ap.Rows, ap.NextLink)
		return fnErr
	})
	if err != nil && err == fnErr {
		return err // the caller's own error, unchanged
	}
	return c.auditForbidden(err)
}
