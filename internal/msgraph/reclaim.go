package msgraph

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// LicenseFields are the user properties that say which licences a user holds
// and how (GetUser's selection when reading a user back after a change).
var LicenseFields = []string{"id", "userPrincipalName", "mail", "accountEnabled", "assignedLicenses", "licenseAssignmentStates"}

// GetUser reads one user (GET /users/{id|userPrincipalName}) selecting
// fields (nil: LicenseFields). ENOTFOUND when the user does not exist.
func (c *Client) GetUser(ctx context.Context, userID string, fields []string) (*User, error) {
	if fields == nil {
		fields = LicenseFields
	}
	var w wireUser
	err := c.c.Do(ctx, http.MethodGet, c.base+"/users/"+url.PathEscape(userID)+"?"+selectQuery(fields), nil, nil, &w)
	if err != nil {
		return nil, forbidden(err, "read a user", "User.Read.All")
	}
	u := w.user()
	return &u, nil
}

// Manager returns a user's manager (GET /users/{id}/manager) with its id,
// UPN, display name and mail. ENOTFOUND when the user has no manager (or
// does not exist).
func (c *Client) Manager(ctx context.Context, userID string) (*User, error) {
	var w wireUser
	err := c.c.Do(ctx, http.MethodGet, c.base+"/users/"+url.PathEscape(userID)+"/manager?$select=id,userPrincipalName,displayName,mail", nil, nil, &w)
	if err != nil {
		return nil, forbidden(err, "read a user's manager", "User.Read.All")
	}
	u := w.user()
	return &u, nil
}

// AddGroupMember adds a user to a group (POST /groups/{id}/members/$ref),
// e.g. to give back a group-inherited licence. A user who is already a
// member gets Graph's 400 ("One or more added object references already
// exist"), an EINVALID error; ENOTFOUND when the group or the user does not
// exist.
func (c *Client) AddGroupMember(ctx context.Context, groupID, userID string) error {
	body := map[string]string{"@odata.id": strings.TrimSuffix(c.base, "/") + "/directoryObjects/" + url.PathEscape(userID)}
	err := c.c.Do(ctx, http.MethodPost, c.base+"/groups/"+url.PathEscape(groupID)+"/members/$ref", nil, body, nil)
	return forbidden(err, "add group members", "GroupMember.ReadWrite.All")
}

// HoldsLicense reports whether u holds skuID through the given path: directly
// when group is "", else inherited from that group. It reads
// licenseAssignmentStates, falling back to assignedLicenses for a direct
// check when the states were not returned.
func (u *User) HoldsLicense(skuID, group string) bool {
	skuID, group = sam.NormalizeGUID(skuID), sam.NormalizeGUID(group)
	if len(u.LicenseAssignmentStates) == 0 {
		if group != "" {
			return false
		}
		for _, l := range u.AssignedLicenses {
			if l.SKUID == skuID {
				return true
			}
		}
		return false
	}
	for _, s := range u.LicenseAssignmentStates {
		if s.SKUID == skuID && s.AssignedByGroup == group {
			return true
		}
	}
	return false
}
