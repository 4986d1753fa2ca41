package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// TestUsageWrittenAhead covers the two ways out of an activity commit's
// usage written in a second transaction (PostgreSQL writes it there while
// the commit merges): a subscription locked by another transaction makes
// it give up and the commit recompute in its own transaction; a commit
// that fails after that usage landed puts the usage back in line with the
// evidence stored. Either way the usage ends as the evidence says.
func TestUsageWrittenAhead(t *testing.T) {
	const (
		sku  = "00000000-0000-4000-8000-0000000000aa"
		tnt  = "00000000-0000-4000-8000-000000000001"
		days = 3 // user 1 was active 3 days ago
	)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	user := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	sysUser := func(n int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", n) }
	tests := []struct {
		name       string
		lockRow    bool // another transaction holds user 1's subscription for 3 s
		failCommit bool // the commit's own transaction fails at COMMIT
	}{
		{name: "subscription locked by another transaction", lockRow: true},
		{name: "commit fails after the usage landed", failCommit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openStore(t)
			p := &sam.Profile{Name: "ahead", TenantID: tnt, Environments: []sam.Environment{{URL: "https://org1.crm.dynamics.com"}}}
			must(t, s.CreateProfile(ctx, p))
			env := p.Environments[0].ID
			models := salesModel(sku)
			sub := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
			must(t, s.StartRun(ctx, sub))
			var users []store.StagedUser
			var sys []store.SystemUser
			for n := 1; n <= 3; n++ {
				users = append(users, store.StagedUser{UserID: user(n), UPN: fmt.Sprintf("u%d@contoso.com", n), AccountEnabled: true,
					Licenses: []store.StagedLicense{{SKUID: sku}}})
				sys = append(sys, store.SystemUser{SystemUserID: sysUser(n), AADObjectID: user(n)})
			}
			must(t, s.StageUsers(ctx, sub, users))
			_, err := s.CommitSubscriptions(ctx, sub, store.SubscriptionCommit{Full: true, DeltaLink: "d", Now: now, Models: models})
			must(t, err)

			r := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity}
			must(t, s.StartRun(ctx, r))
			must(t, s.StageSystemUsers(ctx, r, env, sys))
			at := now.AddDate(0, 0, -days)
			must(t, s.StageActivity(ctx, r, []store.StagedActivity{{EnvironmentID: env, SystemUserID: sysUser(1), Day: sam.Day(at),
				Source: sam.SourceRecord, Events: 1, LastAt: at}}))
			audit := []sam.EnvironmentAudit{{EnvironmentID: env, Reachable: true, AuditEnabled: true, UserAccessAuditEnabled: true,
				RetentionDays: -1, Watermark: now, CheckedAt: now}}

			if tc.lockRow {
				tx, err := s.DB().BeginTx(ctx, nil)
				must(t, err)
				defer tx.Rollback()
				if _, err := tx.ExecContext(ctx, `SELECT id FROM subscriptions WHERE profile_id = $1 AND user_id = $2 FOR UPDATE`,
					p.ID, user(1)); err != nil {
					t.Fatal(err)
				}
				release := time.AfterFunc(3*time.Second, func() { tx.Rollback() })
				defer release.Stop()
			}
			if tc.failCommit {
				// A deferred constraint trigger fails the commit's
				// COMMIT, after every statement of it went through.
				_, err := s.DB().ExecContext(ctx, `CREATE FUNCTION fail_run() RETURNS trigger LANGUAGE plpgsql AS $$
					BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
					CREATE CONSTRAINT TRIGGER fail_run AFTER UPDATE ON runs DEFERRABLE INITIALLY DEFERRED
					FOR EACH ROW WHEN (NEW.status = 'succeeded' AND NEW.kind = 'activity') EXECUTE FUNCTION fail_run()`)
				must(t, err)
			}
			classes := func() map[string]sam.UsageClass {
				t.Helper()
				subs, err := s.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true})
				must(t, err)
				out := map[string]sam.UsageClass{}
				for _, x := range subs {
					out[x.UserID] = x.UsageClass
				}
				return out
			}
			before := classes()
			_, err = s.CommitActivity(ctx, r, store.ActivityCommit{Now: now, Environments: audit})
			if tc.failCommit {
				if err == nil {
					t.Fatal("the commit succeeded through a failing COMMIT")
				}
				if got := classes(); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("after the failed commit usage is %v, want it as before the commit, %v", got, before)
				}
				if _, err := s.UnfinishedRun(ctx, p.ID, sam.RunActivity); err != nil {
					t.Fatalf("the run is not resumable after the failed commit: %v", err)
				}
				_, err = s.DB().ExecContext(ctx, `DROP TRIGGER fail_run ON runs`)
				must(t, err)
				_, err = s.CommitActivity(ctx, r, store.ActivityCommit{Now: now, Environments: audit})
			}
			must(t, err)
			want := map[string]sam.UsageClass{user(1): sam.UsageLow, user(2): sam.UsageNeverActive, user(3): sam.UsageNeverActive}
			if got := classes(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("usage after the commit = %v, want %v", got, want)
			}
		})
	}
}
