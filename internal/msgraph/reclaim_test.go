package msgraph_test

import (
	"context"
	"testing"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/sam"
)

// TestReclaimCalls: GetUser reads a user's licences, Manager follows the
// manager relationship (ENOTFOUND without one), RemoveGroupMember and
// AddGroupMember take a group-inherited licence away and give it back
// (a refusal when already a member), HoldsLicense tells direct from group.
func TestReclaimCalls(t *testing.T) {
	t.Parallel()
	srv, c := simGraph(t, 120, mscloud.Faults{})
	ctx := context.Background()
	tn := srv.Tenant()
	srv.UpdateApp(tn.ID(), func(a *mscloud.App) {
		a.GraphRoles = append(a.GraphRoles, "User.ReadWrite.All", "GroupMember.ReadWrite.All")
	})
	srv.ExpireAccessTokens()

	// A member of a licensing group.
	var gid, uid, sku string
	for _, g := range tn.Groups() {
		if len(g.SKUs) > 0 && len(g.Members) > 0 {
			gid, uid, sku = g.ID, g.Members[0], g.SKUs[0]
			break
		}
	}
	if gid == "" {
		t.Fatal("the tenant has no licensing group with members")
	}
	u, err := c.GetUser(ctx, uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != uid || !u.HoldsLicense(sku, gid) {
		t.Fatalf("GetUser: id %s, holds %s via %s: %t", u.ID, sku, gid, u.HoldsLicense(sku, gid))
	}
	if _, err := c.GetUser(ctx, "00000000-0000-4000-8000-00000000dead", nil); !sam.IsCode(err, sam.ENOTFOUND) {
		t.Errorf("unknown user: %v, want ENOTFOUND", err)
	}

	if _, err := c.Manager(ctx, uid); !sam.IsCode(err, sam.ENOTFOUND) {
		t.Errorf("no manager: %v, want ENOTFOUND", err)
	}
	boss := tn.Groups()[0].Members[len(tn.Groups()[0].Members)-1]
	if boss == uid {
		t.Skip("no second user to be the manager")
	}
	if err := tn.SetManager(uid, boss); err != nil {
		t.Fatal(err)
	}
	m, err := c.Manager(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != boss || m.UserPrincipalName == "" {
		t.Errorf("manager = %+v, want %s", m, boss)
	}

	if err := c.RemoveGroupMember(ctx, gid, uid); err != nil {
		t.Fatal(err)
	}
	if u, err = c.GetUser(ctx, uid, nil); err != nil || u.HoldsLicense(sku, gid) {
		t.Fatalf("after leaving the group: holds %t (%v)", u != nil && u.HoldsLicense(sku, gid), err)
	}
	if err := c.AddGroupMember(ctx, gid, uid); err != nil {
		t.Fatal(err)
	}
	if u, err = c.GetUser(ctx, uid, nil); err != nil || !u.HoldsLicense(sku, gid) {
		t.Fatalf("after joining again: holds %t (%v)", u != nil && u.HoldsLicense(sku, gid), err)
	}
	if err := c.AddGroupMember(ctx, gid, uid); err == nil {
		t.Errorf("adding a member twice: %v, want a conflict", err)
	}
}
