package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
)

// TestRowsWithoutKeysGoWithTheirOwner: subscriptions and Dataverse users
// have no foreign keys on PostgreSQL (migration 0056), so no cascade
// removes them. Removing an environment from a profile deletes its users;
// deleting a profile deletes its subscriptions and its environments' users;
// another profile's rows stay.
func TestRowsWithoutKeysGoWithTheirOwner(t *testing.T) {
	const sku = "00000000-0000-4000-8000-0000000000aa"
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	ctx := t.Context()
	s := openStore(t)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		must(t, s.DB().QueryRowContext(ctx, q, args...).Scan(&n))
		return n
	}
	envUsers := func(env int64) int {
		return count(`SELECT count(*) FROM environment_users WHERE environment_id = $1`, env)
	}
	subs := func(p int64) int { return count(`SELECT count(*) FROM subscriptions WHERE profile_id = $1`, p) }
	models := salesModel(sku)
	// sync gives profile p three subscriptions and three Dataverse users in
	// each of its environments.
	sync := func(s *sqlstore.Store, p *sam.Profile, tenant int) {
		t.Helper()
		user := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8%03d-%012d", tenant, n) }
		sub := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
		must(t, s.StartRun(ctx, sub))
		var users []store.StagedUser
		var sys []store.SystemUser
		for n := 1; n <= 3; n++ {
			users = append(users, store.StagedUser{UserID: user(n), UPN: fmt.Sprintf("u%d@t%d.example", n, tenant),
				AccountEnabled: true, Licenses: []store.StagedLicense{{SKUID: sku}}})
			sys = append(sys, store.SystemUser{SystemUserID: fmt.Sprintf("00000000-0000-4000-9%03d-%012d", tenant, n), AADObjectID: user(n)})
		}
		must(t, s.StageUsers(ctx, sub, users))
		_, err := s.CommitSubscriptions(ctx, sub, store.SubscriptionCommit{Full: true, DeltaLink: "d", Now: now, Models: models})
		must(t, err)
		r := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity}
		must(t, s.StartRun(ctx, r))
		var audit []sam.EnvironmentAudit
		for _, e := range p.Environments {
			must(t, s.StageSystemUsers(ctx, r, e.ID, sys))
			audit = append(audit, sam.EnvironmentAudit{EnvironmentID: e.ID, Reachable: true, AuditEnabled: true,
				UserAccessAuditEnabled: true, RetentionDays: -1, Watermark: now, CheckedAt: now})
		}
		_, err = s.CommitActivity(ctx, r, store.ActivityCommit{Environments: audit, Now: now})
		must(t, err)
	}
	p := &sam.Profile{Name: "leaving", TenantID: "00000000-0000-4000-8000-000000000001",
		Environments: []sam.Environment{{URL: "https://org1.crm.dynamics.com"}, {URL: "https://org2.crm.dynamics.com"}}}
	q := &sam.Profile{Name: "staying", TenantID: "00000000-0000-4000-8000-000000000002",
		Environments: []sam.Environment{{URL: "https://org3.crm.dynamics.com"}}}
	must(t, s.CreateProfile(ctx, p))
	must(t, s.CreateProfile(ctx, q))
	sync(s, p, 1)
	sync(s, q, 2)
	kept, dropped, other := p.Environments[0].ID, p.Environments[1].ID, q.Environments[0].ID
	for _, e := range []int64{kept, dropped, other} {
		if n := envUsers(e); n != 3 {
			t.Fatalf("environment %d has %d Dataverse users after the sync, want 3", e, n)
		}
	}

	p.Environments = p.Environments[:1]
	must(t, s.UpdateProfile(ctx, p))
	if n := envUsers(dropped); n != 0 {
		t.Errorf("environment removed from its profile kept %d Dataverse users", n)
	}
	if n := envUsers(kept); n != 3 {
		t.Errorf("environment kept has %d Dataverse users, want 3", n)
	}

	must(t, s.DeleteProfile(ctx, p.ID))
	if n := subs(p.ID); n != 0 {
		t.Errorf("deleted profile kept %d subscriptions", n)
	}
	if n := envUsers(kept); n != 0 {
		t.Errorf("deleted profile's environment kept %d Dataverse users", n)
	}
	if n, m := subs(q.ID), envUsers(other); n != 3 || m != 3 {
		t.Errorf("other profile has %d subscriptions and %d Dataverse users, want 3 and 3", n, m)
	}
}
