// Package msgraph is the Microsoft Graph v1.0 client Seatwise needs: the
// tenant (organization), its SKUs (subscribedSkus), users with their licences
// and sign-in activity (listing and delta, page by page with checkpointable
// links), licence details, licence assignment and group membership removal.
// It sits on odata.Client, which does authentication, retries and error
// classification. No Graph SDK is used (see ../shared/docs/engineering.md).
package msgraph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultBaseURL is Graph v1.0 in the public cloud.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

// Scope is the app-only scope of Graph tokens.
const Scope = "https://graph.microsoft.com/.default"

// MaxPageSize is the largest $top Graph accepts on /users.
const MaxPageSize = 999

// DefaultUserFields are the user properties a licence sync selects.
var DefaultUserFields = []string{
	"id", "userPrincipalName", "displayName", "department", "country", "usageLocation",
	"accountEnabled", "assignedLicenses", "licenseAssignmentStates", "assignedPlans",
}

// SignInActivityField is the property to add to the selection to read
// signInActivity (needs AuditLog.Read.All and Entra ID P1/P2).
const SignInActivityField = "signInActivity"

// ErrResyncRequired is matched (errors.Is) by errors for links Graph no
// longer accepts: an expired or invalid delta or skip token
// (syncStateNotFound, resyncRequired, syncStateInvalid,
// Directory_ExpiredPageToken, HTTP 410). The caller must start a full sync
// from a fresh start URL.
var ErrResyncRequired = errors.New("msgraph: the delta or page link is no longer valid; a full resync is required")

// IsResync reports whether err means the link must be abandoned for a full
// resync (errors.Is(err, ErrResyncRequired)).
func IsResync(err error) bool { return errors.Is(err, ErrResyncRequired) }

// resyncError wraps the Graph error and matches ErrResyncRequired.
type resyncError struct{ err *odata.Error }

func (r *resyncError) Error() string        { return r.err.Error() }
func (r *resyncError) Unwrap() error        { return r.err }
func (r *resyncError) Is(target error) bool { return target == ErrResyncRequired }

var resyncCodes = []string{"syncStateNotFound", "resyncRequired", "syncStateInvalid", "Directory_ExpiredPageToken", "InvalidSkipToken", "Request_ResyncRequired"}

// asResync turns a Graph "start over" answer into an ECONFLICT error
// matching ErrResyncRequired; other errors are returned unchanged.
func asResync(err error) error {
	oe, ok := odata.AsError(err)
	if !ok {
		return err
	}
	resync := oe.Status == http.StatusGone
	for _, c := range resyncCodes {
		if strings.EqualFold(oe.Code, c) || strings.EqualFold(oe.InnerCode, c) {
			resync = true
		}
	}
	if !resync {
		return err
	}
	return &sam.Error{Code: sam.ECONFLICT, Message: "Graph no longer accepts the saved link; a full resync is required", Err: &resyncError{oe}}
}

// forbidden adds, to a 403 answer, what to grant: the Graph application
// permission(s) the call needs, with admin consent. Other errors are
// returned unchanged; the *odata.Error stays in the chain.
func forbidden(err error, what, permissions string) error {
	if !sam.IsCode(err, sam.EFORBIDDEN) {
		return err
	}
	return &sam.Error{Code: sam.EFORBIDDEN, Message: fmt.Sprintf("Microsoft Graph refused to %s: grant the application permission %s with admin consent", what, permissions), Err: err}
}

// Client calls Microsoft Graph. It is safe for concurrent use.
type Client struct {
	base string // without trailing slash
	c    *odata.Client
}

// New returns a Graph client for baseURL (including the version, e.g.
// https://graph.microsoft.com/v1.0; "" means DefaultBaseURL) sending through c.
func New(baseURL string, c *odata.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), c: c}
}

// BaseURL returns the Graph base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// OData returns the underlying client (counters, stats).
func (c *Client) OData() *odata.Client { return c.c }

// URL resolves ref: an absolute link (a nextLink or deltaLink) is returned
// as is if it points to the Graph host, a relative one ("/users?$top=5" or
// "users/delta") is appended to the base URL. A link to another host is an
// EINVALID error, so a token is never sent elsewhere.
func (c *Client) URL(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		if !odata.SameHost(ref, c.base) {
			return "", sam.Errorf(sam.EINVALID, "graph: link %s is not on the Graph host %s", odata.RedactURL(ref), c.base)
		}
		return ref, nil
	}
	return c.base + "/" + strings.TrimLeft(ref, "/"), nil
}

// selectQuery builds "$select=a,b" from field names (escaped).
func selectQuery(fields []string) string {
	esc := make([]string, 0, len(fields))
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			esc = append(esc, url.QueryEscape(f))
		}
	}
	return "$select=" + strings.Join(esc, ",")
}

// UsersURL returns the first URL of a /users listing selecting fields (nil:
// DefaultUserFields) with page size top (clamped to 1..999; 0 leaves
// Graph's default of 100).
func (c *Client) UsersURL(fields []string, top int) string {
	if fields == nil {
		fields = DefaultUserFields
	}
	u := c.base + "/users?" + selectQuery(fields)
	if top > 0 {
		u += "&$top=" + strconv.Itoa(min(top, MaxPageSize))
	}
	return u
}

// DeltaStartURL returns the first URL of a full users/delta round selecting
// fields (nil: DefaultUserFields). The selection is baked into the links
// Graph returns; later rounds start from the saved DeltaLink instead.
func (c *Client) DeltaStartURL(fields []string) string {
	if fields == nil {
		fields = DefaultUserFields
	}
	return c.base + "/users/delta?" + selectQuery(fields)
}

// UserPage is one page of users from /users or /users/delta.
type UserPage struct {
	URL   string // where the page was fetched from
	Users []User
	// NextLink is the URL of the next page, "" on the last page.
	NextLink string
	// DeltaLink is set on the last page of a delta round only: save it and
	// start the next round from it.
	DeltaLink string
}

// DeltaPage is a page of a users/delta round.
type DeltaPage = UserPage

// UsersPage fetches one page of users: pageURL is a start URL (UsersURL,
// DeltaStartURL), a saved link, or a path relative to the base URL. An
// expired link fails with an error matching ErrResyncRequired.
func (c *Client) UsersPage(ctx context.Context, pageURL string) (UserPage, error) {
	u, err := c.URL(pageURL)
	if err != nil {
		return UserPage{}, err
	}
	p, err := odata.GetPageOf[wireUser](ctx, c.c, u, nil)
	if err != nil {
		return UserPage{}, forbidden(asResync(err), "list users", usersPermission(u))
	}
	return userPage(p), nil
}

func userPage(p *odata.PageOf[wireUser]) UserPage {
	out := UserPage{URL: p.URL, NextLink: p.NextLink, DeltaLink: p.DeltaLink, Users: make([]User, len(p.Value))}
	for i, w := range p.Value {
		out.Users[i] = w.user()
	}
	return out
}

// ListUsers streams a /users listing from startURL (UsersURL, or a saved
// next link to resume), calling fn once per page with the page's users and
// the link of the next page ("" after the last), before fetching the next
// page. An error from fn stops the listing and is returned unchanged.
func (c *Client) ListUsers(ctx context.Context, startURL string, fn func(users []User, next string) error) error {
	return c.Delta(ctx, startURL, func(p DeltaPage) error { return fn(p.Users, p.NextLink) })
}

// Delta streams a users/delta round from startURL (DeltaStartURL for a full
// round, a saved DeltaLink for changes, or a saved NextLink to resume),
// calling fn once per page; the last page carries DeltaLink. An expired
// token fails with an error matching ErrResyncRequired.
func (c *Client) Delta(ctx context.Context, startURL string, fn func(page DeltaPage) error) error {
	u, err := c.URL(startURL)
	if err != nil {
		return err
	}
	var fnErr error
	err = odata.PagesOf(ctx, c.c, u, nil, func(p *odata.PageOf[wireUser]) error {
		fnErr = fn(userPage(p))
		return fnErr
	})
	if err != nil && err == fnErr {
		return err // the caller's own error, unchanged
	}
	return forbidden(asResync(err), "list users", usersPermission(u))
}

// Organization returns the tenant (GET /organization). ENOTFOUND if Graph
// returns no organization.
func (c *Client) Organization(ctx context.Context) (*Organization, error) {
	var out *Organization
	err := odata.PagesOf(ctx, c.c, c.base+"/organization", nil, func(p *odata.PageOf[wireOrganization]) error {
		if out != nil || len(p.Value) == 0 {
			return nil
		}
		w := p.Value[0]
		o := &Organization{
			ID: sam.NormalizeGUID(w.ID), DisplayName: w.DisplayName, TenantType: w.TenantType,
			CountryLetterCode: w.CountryLetterCode, DefaultUsageLocation: w.DefaultUsageLocation,
			CreatedAt: parseTime(w.CreatedDateTime),
		}
		for _, d := range w.VerifiedDomains {
			o.VerifiedDomains = append(o.VerifiedDomains, VerifiedDomain{Name: d.Name, IsDefault: d.IsDefault, IsInitial: d.IsInitial, Type: d.Type, Capabilities: d.Capabilities})
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, forbidden(err, "read the organization", "Organization.Read.All")
	}
	if out == nil {
		return nil, sam.Errorf(sam.ENOTFOUND, "graph: /organization returned no tenant")
	}
	return out, nil
}

// SubscribedSKUs returns every SKU of the tenant (GET /subscribedSkus),
// whatever its capability status.
func (c *Client) SubscribedSKUs(ctx context.Context) ([]SubscribedSKU, error) {
	var out []SubscribedSKU
	err := odata.PagesOf(ctx, c.c, c.base+"/subscribedSkus", nil, func(p *odata.PageOf[wireSKU]) error {
		for _, w := range p.Value {
			out = append(out, w.sku())
		}
		return nil
	})
	return out, forbidden(err, "list the subscribed SKUs", "LicenseAssignment.Read.All (or Organization.Read.All)")
}

// LicenseDetails returns the licences of one user (GET
// /users/{id}/licenseDetails). ENOTFOUND for an unknown user.
func (c *Client) LicenseDetails(ctx context.Context, userID string) ([]LicenseDetails, error) {
	var out []LicenseDetails
	err := odata.PagesOf(ctx, c.c, c.base+"/users/"+url.PathEscape(userID)+"/licenseDetails", nil, func(p *odata.PageOf[wireLicenseDetails]) error {
		for _, w := range p.Value {
			out = append(out, w.details())
		}
		return nil
	})
	return out, forbidden(err, "read licence details", "User.Read.All")
}

// AssignLicense adds and removes licences of one user (POST
// /users/{id}/assignLicense), always sending both arrays, and returns the
// updated user as Graph answers it. Graph's refusals (no free seats, no
// usage location, group-inherited licence) are EINVALID errors carrying
// Graph's message; an unknown user is ENOTFOUND.
func (c *Client) AssignLicense(ctx context.Context, userID string, add []AssignedLicense, remove []string) (*User, error) {
	if add == nil {
		add = []AssignedLicense{}
	}
	if remove == nil {
		remove = []string{}
	}
	body := struct {
		AddLicenses    []AssignedLicense `json:"addLicenses"`
		RemoveLicenses []string          `json:"removeLicenses"`
	}{add, remove}
	var w wireUser
	if err := c.c.Do(ctx, http.MethodPost, c.base+"/users/"+url.PathEscape(userID)+"/assignLicense", nil, body, &w); err != nil {
		return nil, forbidden(err, "change licence assignments", "User.ReadWrite.All (or LicenseAssignment.ReadWrite.All)")
	}
	u := w.user()
	return &u, nil
}

// RemoveGroupMember removes a user from a group (DELETE
// /groups/{group}/members/{user}/$ref), e.g. to take away a group-inherited
// licence. ENOTFOUND when the group, the user or the membership does not
// exist.
func (c *Client) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	err := c.c.Do(ctx, http.MethodDelete, c.base+"/groups/"+url.PathEscape(groupID)+"/members/"+url.PathEscape(userID)+"/$ref", nil, nil, nil)
	return forbidden(err, "remove group members", "GroupMember.ReadWrite.All")
}

// usersPermission names the permissions a users read needs.
func usersPermission(u string) string {
	if strings.Contains(strings.ToLower(u), "signinactivity") {
		return "User.Read.All and AuditLog.Read.All (sign-in activity also needs Entra ID P1 or P2)"
	}
	return "User.Read.All"
}

// CountUsers returns the number of users (GET /users/$count with
// ConsistencyLevel: eventual, a text/plain answer), optionally restricted by
// an OData $filter ("" for all), e.g. to size a progress bar. The count is
// eventually consistent: it may lag recent changes.
func (c *Client) CountUsers(ctx context.Context, filter string) (int, error) {
	u := c.base + "/users/$count"
	if filter = strings.TrimSpace(filter); filter != "" {
		u += "?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	}
	var n int
	err := c.c.Send(ctx, &odata.Request{
		Method: http.MethodGet, URL: u, Idempotent: true,
		Header: http.Header{"Consistencylevel": {"eventual"}, "Accept": {"text/plain"}},
		Decode: func(_ int, _ http.Header, body []byte) error {
			v, err := strconv.Atoi(strings.TrimSpace(string(body)))
			if err != nil || v < 0 {
				return fmt.Errorf("/users/$count answered %q, not a count", truncate(body, 40))
			}
			n = v
			return nil
		},
	})
	if err != nil {
		return 0, forbidden(err, "count users", "User.Read.All")
	}
	return n, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// CanReadSignInActivity probes whether users' signInActivity is readable
// (GET /users?$select=id,signInActivity&$top=1): false without error when
// Graph answers 403 (AuditLog.Read.All missing, or no Entra ID P1/P2
// licence); other failures are returned.
func (c *Client) CanReadSignInActivity(ctx context.Context) (bool, error) {
	_, err := c.c.GetPage(ctx, c.UsersURL([]string{"id", SignInActivityField}, 1), nil)
	if err == nil {
		return true, nil
	}
	if oe, ok := odata.AsError(err); ok && oe.Status == http.StatusForbidden {
		return false, nil
	}
	return false, err
}
