package tenant

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

func consumedOf(t *testing.T, tn *Tenant, sku string) int {
	t.Helper()
	s, err := tn.SKU(sku)
	if err != nil {
		t.Fatal(err)
	}
	return s.Consumed
}

func TestAssignLicenseRules(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		add     []AssignedLicense
		remove  []string
		kind    ErrorKind
		message string
	}{
		{"no free seat", lidia, []AssignedLicense{{SKUID: skuSalesPro}}, []string{}, ErrNoLicenses,
			"Subscription with SKU be9f9771-1c64-4618-9907-244325141096 does not have any available licenses."},
		{"seat check after removals, nothing applied", adele, []AssignedLicense{{SKUID: skuSalesPro}}, []string{skuSalesEnt}, ErrNoLicenses, ""},
		{"no usage location", joni, []AssignedLicense{{SKUID: skuPA}}, nil, ErrUsageLocation,
			"License assignment cannot be done for user with invalid usage location."},
		{"group-inherited", megan, nil, []string{skuSalesEnt}, ErrGroupInherited, ""},
		{"unknown sku", adele, []AssignedLicense{{SKUID: "0118a350-71fc-4ec3-8f0c-6a1cb8867561"}}, nil, ErrUnknownSKU, ""},
		{"unknown sku removed", adele, nil, []string{"0118a350-71fc-4ec3-8f0c-6a1cb8867561"}, ErrUnknownSKU, ""},
		{"disabled plan not in sku", adele, []AssignedLicense{{SKUID: skuPA, DisabledPlans: []string{"2da8e897-7791-486b-b08f-cc63c8129df7"}}}, nil, ErrUnknownSKU, ""},
		{"same sku in both", adele, []AssignedLicense{{SKUID: skuISV}}, []string{skuISV}, ErrInvalid, ""},
		{"remove what is not held", adele, nil, []string{skuSalesPro}, ErrInvalid, ""},
		{"unknown user", "00000000-0000-4000-8000-0000000000ff", []AssignedLicense{{SKUID: skuPA}}, nil, ErrNotFound, ""},
		{"soft-deleted user", oldU, []AssignedLicense{{SKUID: skuPA}}, nil, ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := loadBasic(t)
			before, _ := tn.User(tt.user)
			seq := tn.Seq()
			_, err := tn.AssignLicense(tt.user, tt.add, tt.remove)
			if KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %q), want %q", err, KindOf(err), tt.kind)
			}
			if !errors.Is(err, &Error{Kind: tt.kind}) {
				t.Errorf("errors.Is does not match the kind")
			}
			if tt.message != "" && err.Error() != tt.message {
				t.Errorf("message %q, want %q", err, tt.message)
			}
			var e *Error
			errors.As(err, &e)
			if tt.kind == ErrNotFound && (e.GraphCode() != "Request_ResourceNotFound" || e.HTTPStatus() != 404) ||
				tt.kind != ErrNotFound && (e.GraphCode() != "Request_BadRequest" || e.HTTPStatus() != 400) {
				t.Errorf("graph code %s status %d", e.GraphCode(), e.HTTPStatus())
			}
			after, _ := tn.User(tt.user)
			if tt.kind != ErrNotFound && !slices.EqualFunc(before.AssignedLicenses, after.AssignedLicenses, func(a, b AssignedLicense) bool { return a.SKUID == b.SKUID }) {
				t.Errorf("a failed assignLicense changed the user's licences")
			}
			if tn.Seq() != seq {
				t.Errorf("a failed assignLicense was logged")
			}
		})
	}
}

func TestAssignLicenseSuccess(t *testing.T) {
	tn := loadBasic(t)
	now := tn.Now()
	u, err := tn.AssignLicense(lidia, []AssignedLicense{{SKUID: "B30411F5-FEA1-4A59-9AD9-3DB7C7EAD579", DisabledPlans: []string{}}}, []string{})
	if err != nil {
		t.Fatal(err)
	}
	if consumedOf(t, tn, skuPA) != 3 {
		t.Errorf("PA consumed = %d, want 3", consumedOf(t, tn, skuPA))
	}
	i := slices.IndexFunc(u.LicenseAssignmentStates, func(s LicenseAssignmentState) bool { return s.SKUID == skuPA })
	if i < 0 || u.LicenseAssignmentStates[i].AssignedByGroup != "" || !u.LicenseAssignmentStates[i].LastUpdatedDateTime.Equal(now) {
		t.Errorf("states = %+v", u.LicenseAssignmentStates)
	}
	if !slices.ContainsFunc(u.AssignedPlans, func(p AssignedPlan) bool { return p.ServicePlanID == "ea2cf03b-ac60-46ae-9c1d-eeaeb63cec86" }) {
		t.Errorf("assignedPlans lack POWERAPPS_PER_USER: %+v", u.AssignedPlans)
	}
	// removing the direct copy of a licence also held through a group keeps the seat
	if _, err := tn.AssignLicense(alex, nil, []string{skuSalesEnt}); err != nil {
		t.Fatal(err)
	}
	a, _ := tn.User(alex)
	if consumedOf(t, tn, skuSalesEnt) != 3 || len(a.AssignedLicenses) != 1 || len(a.LicenseAssignmentStates) != 1 {
		t.Errorf("alex after removing the direct licence: consumed %d, %+v", consumedOf(t, tn, skuSalesEnt), a.LicenseAssignmentStates)
	}
	// freeing a seat lets another user take it
	if _, err := tn.AssignLicense(nestor, nil, []string{skuSalesPro}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.AssignLicense(adele, []AssignedLicense{{SKUID: skuSalesPro}}, nil); err != nil {
		t.Fatalf("seat freed by nestor: %v", err)
	}
	if consumedOf(t, tn, skuSalesPro) != 2 {
		t.Errorf("Sales Pro consumed = %d", consumedOf(t, tn, skuSalesPro))
	}
}

func TestGroupMembership(t *testing.T) {
	tn := loadBasic(t)
	// no seat left: the group licence is in error and not consumed
	if err := tn.AddGroupMember(groupSales, grady); err != nil {
		t.Fatal(err)
	}
	g, _ := tn.User(grady)
	i := slices.IndexFunc(g.LicenseAssignmentStates, func(s LicenseAssignmentState) bool { return s.SKUID == skuSalesEnt })
	if i < 0 || g.LicenseAssignmentStates[i].State != "Error" || g.LicenseAssignmentStates[i].Error != "CountViolation" ||
		slices.ContainsFunc(g.AssignedLicenses, func(l AssignedLicense) bool { return l.SKUID == skuSalesEnt }) || consumedOf(t, tn, skuSalesEnt) != 3 {
		t.Errorf("grady = %+v, consumed %d", g.LicenseAssignmentStates, consumedOf(t, tn, skuSalesEnt))
	}
	if err := tn.AddGroupMember(groupSales, grady); KindOf(err) != ErrConflict {
		t.Errorf("second add: %v", err)
	}
	if err := tn.RemoveGroupMember(groupSales, megan); err != nil {
		t.Fatal(err)
	}
	if consumedOf(t, tn, skuSalesEnt) != 2 {
		t.Errorf("consumed after removing megan = %d", consumedOf(t, tn, skuSalesEnt))
	}
	if err := tn.RemoveGroupMember(groupSales, megan); KindOf(err) != ErrNotFound {
		t.Errorf("removing a non-member: %v", err)
	}
	if err := tn.AddGroupMember("aaaaaaaa-0000-4000-8000-0000000000ff", megan); KindOf(err) != ErrNotFound {
		t.Errorf("unknown group: %v", err)
	}
	grp, _ := tn.Group(groupSales)
	if !slices.Equal(grp.Members, []string{alex, grady}) {
		t.Errorf("members = %v", grp.Members)
	}
}

func TestChangeLogAndDelta(t *testing.T) {
	tn := loadBasic(t)
	first, seq0 := tn.ChangesSince(0)
	if len(first) != 7 || seq0 != 1 {
		t.Fatalf("first round: %d users, seq %d", len(first), seq0)
	}
	for _, c := range first {
		if c.Removed != "" {
			t.Errorf("first round has a removal: %+v", c)
		}
	}
	// a listing in progress is a snapshot of membership
	page1, next, err := tn.UsersPage("", 3, nil)
	if err != nil || len(page1) != 3 || next == "" {
		t.Fatalf("page 1: %d users, next %q, %v", len(page1), next, err)
	}
	if _, err := tn.UpdateUser(adele, UserAttributes{Department: ptr("Inside Sales")}); err != nil {
		t.Fatal(err)
	}
	if err := tn.DisableUser(alex); err != nil {
		t.Fatal(err)
	}
	nu, err := tn.AddUser(NewUser{GivenName: "Pradeep", Surname: "Gupta", UsageLocation: "IN", AccountEnabled: true, Environments: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteUser(lidia, false); err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteUser(joni, true); err != nil {
		t.Fatal(err)
	}
	if err := tn.SetSignIn(grady, tn.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	changes, seq1 := tn.ChangesSince(seq0)
	got := map[string]string{}
	for _, c := range changes {
		got[c.UserID] = c.Removed
	}
	want := map[string]string{adele: "", alex: "", nu.ID: "", lidia: "changed", joni: "deleted"}
	if len(got) != len(want) || seq1 != seq0+5 {
		t.Errorf("changes = %v (seq %d), want %v", got, seq1, want)
	}
	for id, r := range want {
		if g, ok := got[id]; !ok || g != r {
			t.Errorf("change of %s = %q (%v), want %q", id, g, ok, r)
		}
	}
	if c, s := tn.ChangesSince(seq1); len(c) != 0 || s != seq1 {
		t.Errorf("no change since %d: %v", seq1, c)
	}
	// finish the listing: deleted users are skipped, the new one is absent
	var rest []User
	for next != "" {
		var page []User
		page, next, err = tn.UsersPage(next, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, page...)
	}
	ids := []string{}
	for _, u := range append(page1, rest...) {
		ids = append(ids, u.ID)
	}
	wantIDs := []string{adele, alex, megan, nestor, grady}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("listing = %v, want %v", ids, wantIDs)
	}
	// soft-deleted: restorable, licences back; permanently deleted: not
	if err := tn.RestoreUser(lidia); err != nil {
		t.Fatal(err)
	}
	if consumedOf(t, tn, skuTM) != 1 {
		t.Errorf("Team Members consumed after restore = %d", consumedOf(t, tn, skuTM))
	}
	if err := tn.RestoreUser(joni); KindOf(err) != ErrNotFound {
		t.Errorf("restoring a permanently deleted user: %v", err)
	}
	if _, err := tn.AddUser(NewUser{UserPrincipalName: "adele@contoso.com"}); KindOf(err) != ErrConflict {
		t.Errorf("duplicate UPN: %v", err)
	}
	if _, err := tn.AddUser(NewUser{UserPrincipalName: "joni@contoso.com"}); err != nil {
		t.Errorf("the UPN of a permanently deleted user is free again: %v", err)
	}
	if _, err := tn.UpdateUser(adele, UserAttributes{UsageLocation: ptr("usa")}); KindOf(err) != ErrInvalid {
		t.Errorf("bad usage location: %v", err)
	}
	if _, _, err := tn.UsersPage("garbage", 3, nil); KindOf(err) != ErrInvalid {
		t.Errorf("bad cursor: %v", err)
	}
	// a filter keeps paging positional
	var filtered []User
	for cur := ""; ; {
		page, nx, err := tn.UsersPage(cur, 2, func(u *User) bool { return u.UsageLocation == "US" })
		if err != nil {
			t.Fatal(err)
		}
		filtered = append(filtered, page...)
		if len(page) == 0 || (nx != "" && len(page) != 2) {
			t.Errorf("filtered page of %d users, next %q", len(page), nx)
		}
		if nx == "" {
			break
		}
		cur = nx
	}
	for _, u := range filtered {
		if u.UsageLocation != "US" {
			t.Errorf("filtered listing has %s (%s)", u.UserPrincipalName, u.UsageLocation)
		}
	}
	if len(filtered) != 4 { // adele, alex, megan, lidia
		t.Errorf("filtered listing has %d users", len(filtered))
	}
}

func ptr[T any](v T) *T { return &v }

func TestDisableStopsActivity(t *testing.T) {
	tn := smallTenant(t)
	var daily *userRec
	for _, u := range tn.users {
		if u.pattern == PatternDaily && u.envMask&1 != 0 && u.enabled {
			daily = u
			break
		}
	}
	if daily == nil {
		t.Fatal("no daily user")
	}
	t0 := tn.Now()
	if err := tn.DisableUser(daily.id); err != nil {
		t.Fatal(err)
	}
	tn.Advance(14 * 24 * time.Hour)
	sys, _ := tn.SystemUserOf(0, daily.id)
	if rows := collect(t, tn, 0, AuditQuery{UserIDs: []string{sys.SystemUserID}, CreatedOnGT: t0}); len(rows) != 0 {
		t.Errorf("a disabled user has %d rows", len(rows))
	}
	if !sys.IsDisabled {
		t.Error("systemuser of a disabled user is not disabled")
	}
	ut, _ := tn.UserTruth(daily.id, time.Time{}, nil)
	for _, s := range ut.Subscriptions {
		if s.Class != sam.UsageDisabled {
			t.Errorf("class %s", s.Class)
		}
	}
	// explicit activity of a test case is recorded whatever the account state
	if err := tn.AddActivity(daily.id, Event{Env: 0, Operation: 1, Entity: "Lead"}); err != nil {
		t.Fatal(err)
	}
	if rows := collect(t, tn, 0, AuditQuery{UserIDs: []string{sys.SystemUserID}, CreatedOnGT: t0}); len(rows) != 1 || rows[0].ObjectTypeCode != "lead" {
		t.Errorf("explicit event rows = %+v", rows)
	}
	for _, bad := range []Event{{Env: 0, Operation: 9}, {Env: 0, Operation: 4, Action: 12}, {Env: 0, Operation: 2},
		{Env: 0, Operation: 4, At: tn.Now().Add(time.Hour)}} {
		if err := tn.AddActivity(daily.id, bad); KindOf(err) != ErrInvalid {
			t.Errorf("AddActivity(%+v) = %v, want invalid", bad, err)
		}
	}
	if err := tn.AddActivity(daily.id, Event{Env: 9, Operation: 4}); KindOf(err) != ErrNotFound {
		t.Errorf("bad environment: %v", err)
	}
}

// TestConcurrentUse runs readers, iterators and writers at once (meaningful
// under -race).
func TestConcurrentUse(t *testing.T) {
	tn := smallTenant(t)
	var wg sync.WaitGroup
	users := tn.users
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				u := users[(w*20+i)%len(users)].id
				switch i % 5 {
				case 0:
					seq, _ := tn.Audits(w%2, AuditQuery{Descending: i%2 == 0})
					n := 0
					for range seq {
						if n++; n > 300 {
							break
						}
					}
				case 1:
					_ = tn.AddActivity(u, Event{Env: 0, Operation: 4})
				case 2:
					_, _ = tn.AssignLicense(u, []AssignedLicense{{SKUID: skuPA}}, nil)
				case 3:
					_, _, _ = tn.UsersPage("", 50, nil)
					tn.Advance(time.Minute)
				case 4:
					_, _ = tn.UserTruth(u, time.Time{}, nil)
					_, _ = tn.ChangesSince(0)
				}
			}
		}(w)
	}
	wg.Wait()
	var sum int
	for _, s := range tn.SKUs() {
		sum += s.Consumed
	}
	recount := tn.consumed()
	for i, s := range tn.SKUs() {
		if s.Consumed != recount[i] {
			t.Errorf("%s consumed %d, recount %d", s.PartNumber, s.Consumed, recount[i])
		}
	}
}
