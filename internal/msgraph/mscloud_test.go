package msgraph_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// simGraph starts the simulator with one generated tenant of n users and
// returns it with a Graph client signed in by client credentials, trusting
// the simulator's CA through its CA file (as a profile would).
func simGraph(t *testing.T, n int, faults mscloud.Faults) (*mscloud.Server, *msgraph.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 7, Faults: faults, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: n}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	hc, err := odata.NewHTTPClient(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	fast := func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	counters := odata.NewCounters()
	tokens, err := entra.ClientCredentials(entra.Config{
		LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID, ClientSecret: info.ClientSecret,
		Scope: info.GraphScope, Client: odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: hc, Sleep: fast, Counters: counters}),
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := odata.New(odata.Config{Service: odata.ServiceGraph, HTTPClient: hc, Tokens: tokens, Sleep: fast, Counters: counters, MaxAttempts: 10})
	return srv, msgraph.New(info.GraphURL, oc)
}

func TestSimulatorUsersAndSKUs(t *testing.T) {
	t.Parallel()
	srv, c := simGraph(t, 60, mscloud.Faults{})
	ctx := context.Background()
	tn := srv.Tenant()

	skus, err := c.SubscribedSKUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := tn.SKUs()
	if len(skus) != len(want) || len(skus) == 0 {
		t.Fatalf("%d SKUs, tenant has %d", len(skus), len(want))
	}
	for i, s := range skus {
		if s.SKUID != sam.NormalizeGUID(want[i].SKUID) || s.ConsumedUnits != want[i].Consumed || s.PrepaidUnits.Enabled != want[i].Enabled {
			t.Errorf("SKU %d: %+v, tenant %+v", i, s, want[i])
		}
	}

	org, err := c.Organization(ctx)
	if err != nil || org.ID != tn.ID() {
		t.Fatalf("organization %+v, %v", org, err)
	}

	ok, err := c.CanReadSignInActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fields := msgraph.DefaultUserFields
	if ok {
		fields = append(fields[:len(fields):len(fields)], msgraph.SignInActivityField)
	}
	seen := map[string]bool{}
	pages := 0
	err = c.ListUsers(ctx, c.UsersURL(fields, 7), func(users []msgraph.User, next string) error {
		pages++
		if len(users) > 7 {
			t.Errorf("page of %d users with $top=7", len(users))
		}
		for _, u := range users {
			if seen[u.ID] {
				t.Errorf("user %s listed twice", u.ID)
			}
			seen[u.ID] = true
			tu, err := tn.User(u.ID)
			if err != nil {
				t.Errorf("user %s unknown to the tenant", u.ID)
				continue
			}
			if u.UserPrincipalName != tu.UserPrincipalName || u.Enabled() != tu.AccountEnabled || len(u.AssignedLicenses) != len(tu.AssignedLicenses) ||
				len(u.LicenseAssignmentStates) != len(tu.LicenseAssignmentStates) {
				t.Errorf("user %s: %+v\ntenant: %+v", u.ID, u, tu)
			}
			if ok {
				last := tu.SignInActivity.LastSignInDateTime
				if (u.SignInActivity == nil) || (last.IsZero() != (u.SignInActivity.LastSignIn == nil)) ||
					(u.SignInActivity.LastSignIn != nil && !u.SignInActivity.LastSignIn.Equal(last.Truncate(time.Second))) {
					t.Errorf("user %s sign-in %+v, tenant %v", u.ID, u.SignInActivity, last)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != tn.UserCount() || pages != (tn.UserCount()+6)/7 {
		t.Fatalf("%d users in %d pages, tenant has %d", len(seen), pages, tn.UserCount())
	}
}

func TestSimulatorDeltaRounds(t *testing.T) {
	t.Parallel()
	srv, c := simGraph(t, 25, mscloud.Faults{})
	ctx := context.Background()
	tn := srv.Tenant()

	round := func(start string) (ids map[string]*msgraph.User, deltaLink string) {
		t.Helper()
		ids = map[string]*msgraph.User{}
		err := c.Delta(ctx, start, func(p msgraph.DeltaPage) error {
			if p.NextLink != "" && p.DeltaLink != "" {
				t.Errorf("page with both links")
			}
			for i := range p.Users {
				ids[p.Users[i].ID] = &p.Users[i]
			}
			deltaLink = p.DeltaLink
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if deltaLink == "" {
			t.Fatal("round ended without a deltaLink")
		}
		return ids, deltaLink
	}
	// The tenant is untouched since generation: the first deltaLink then
	// carries change sequence 0, and the next round must still return only
	// what changed after it.
	full, link := round(c.DeltaStartURL(nil))
	if len(full) != tn.UserCount() {
		t.Fatalf("full round: %d users, tenant has %d", len(full), tn.UserCount())
	}

	var disabled, deleted string
	for id, u := range full {
		if u.Enabled() && disabled == "" {
			disabled = id
		} else if deleted == "" && id != disabled {
			deleted = id
		}
	}
	if err := tn.DisableUser(disabled); err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteUser(deleted, false); err != nil {
		t.Fatal(err)
	}
	changes, link2 := round(link)
	if len(changes) != 2 || changes[disabled] == nil || changes[disabled].Enabled() || changes[deleted] == nil ||
		changes[deleted].Removed == nil || changes[deleted].Removed.Reason != msgraph.RemovedChanged {
		t.Fatalf("changes %+v", changes)
	}
	if none, _ := round(link2); len(none) != 0 {
		t.Fatalf("no-change round returned %d users", len(none))
	}

	// A delta token older than its lifetime asks for a full resync.
	tn.Advance(40 * 24 * time.Hour)
	err := c.Delta(ctx, link2, func(msgraph.DeltaPage) error { return nil })
	if !msgraph.IsResync(err) {
		t.Fatalf("expired delta token: %v", err)
	}
}

func TestSimulatorFaultsAreRetried(t *testing.T) {
	t.Parallel()
	faults := mscloud.Faults{Graph: mscloud.FaultRates{
		Next:       []string{"throttle", "drop", "malformed", "truncated", "server_error", "unavailable"},
		RetryAfter: 0.25,
	}}
	srv, c := simGraph(t, 12, faults)
	n := 0
	err := c.ListUsers(context.Background(), c.UsersURL(nil, 5), func(users []msgraph.User, next string) error {
		n += len(users)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != srv.Tenant().UserCount() {
		t.Fatalf("%d users, tenant has %d", n, srv.Tenant().UserCount())
	}
	st := c.OData().Stats()
	if st.Throttles < 1 || st.Retries < 6 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSimulatorWrongSecret(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 3, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	info := srv.Info()
	tokens, err := entra.ClientCredentials(entra.Config{
		LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID, ClientSecret: "not-the-secret",
		Scope: info.GraphScope, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokens.Token(ctx)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("wrong secret: %v", err)
	}
	t.Logf("wrong secret: %v", err)
}

func firstUser(t *testing.T, tn *tenant.Tenant) string {
	t.Helper()
	users, _, err := tn.UsersPage("", 1, nil)
	if err != nil || len(users) == 0 {
		t.Fatalf("no user: %v", err)
	}
	return users[0].ID
}

func TestSimulatorLicenseDetailsBatch(t *testing.T) {
	t.Parallel()
	srv, c := simGraph(t, 45, mscloud.Faults{})
	tn := srv.Tenant()
	users, _, err := tn.UsersPage("", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"00000000-0000-0000-0000-000000000000"} // unknown: left out
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	got, err := c.LicenseDetailsOf(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(users) {
		t.Fatalf("%d users with details, tenant has %d", len(got), len(users))
	}
	for _, u := range users {
		d := got[u.ID]
		if len(d) != len(u.AssignedLicenses) {
			t.Fatalf("user %s: %d licence details, %d assigned", u.ID, len(d), len(u.AssignedLicenses))
		}
		for _, l := range d {
			if !containsSKU(u.AssignedLicenses, l.SKUID) {
				t.Fatalf("user %s: detail %s not assigned", u.ID, l.SKUID)
			}
		}
	}
	if st := c.OData().Stats(); st.Requests > 4 { // one token request and three batches
		t.Fatalf("%d requests for %d users", st.Requests, len(ids))
	}
}

func containsSKU(ls []tenant.AssignedLicense, sku string) bool {
	for _, l := range ls {
		if l.SKUID == sku {
			return true
		}
	}
	return false
}

func TestSimulatorCountUsers(t *testing.T) {
	t.Parallel()
	srv, c := simGraph(t, 33, mscloud.Faults{})
	n, err := c.CountUsers(context.Background(), "")
	if err != nil || n != srv.Tenant().UserCount() {
		t.Fatalf("count %d, %v; tenant has %d", n, err, srv.Tenant().UserCount())
	}
}
