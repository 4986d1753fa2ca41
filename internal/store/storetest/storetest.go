// Package storetest is the conformance suite every store.Store
// implementation must pass. Run it from the implementation's tests with a
// function that opens a fresh, empty, migrated store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite holds both databases to one behaviour, so that SQL does not drift
// towards one dialect.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Opener returns a fresh, empty, migrated store; it registers the store's
// Close with t.Cleanup.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against the stores open returns, one fresh
// store per subtest; subtests run in parallel, so open must be safe for
// concurrent use.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Profiles", testProfiles},
		{"ProfileValidation", testProfileValidation},
		{"UpdateProfile", testUpdateProfile},
		{"ProfileState", testProfileState},
		{"Secrets", testSecrets},
		{"SoftwareModels", testSoftwareModels},
		{"SKUUnits", testSKUUnits},
		{"Runs", testRuns},
		{"RunLifecycleErrors", testRunLifecycleErrors},
		{"FullCommit", testFullCommit},
		{"DeltaCommit", testDeltaCommit},
		{"ReopenAfterClose", testReopenAfterClose},
		{"StagingDedupAndResume", testStagingDedupAndResume},
		{"StagingInvisibleAndDiscard", testStagingInvisibleAndDiscard},
		{"FinishedRunKeepsOthersStaging", testFinishedRunKeepsOthersStaging},
		{"CommitAmongOthersStaging", testCommitAmongOthersStaging},
		{"CommitRollsBack", testCommitRollsBack},
		{"SubscriptionFilters", testSubscriptionFilters},
		{"ActivityCommit", testActivityCommit},
		{"ActivityCommitResolved", testActivityCommitResolved},
		{"ActivityMerge", testActivityMerge},
		{"EnvironmentRemovedMidRun", testEnvironmentRemovedMidRun},
		{"ActivityResolution", testActivityResolution},
		{"SystemUserMapReplaced", testSystemUserMapReplaced},
		{"CoverageUnknown", testCoverageUnknown},
		{"NoEnvironment", testNoEnvironment},
		{"TrackedVersusUntracked", testTrackedVersusUntracked},
		{"EvidenceTiesAndDays", testEvidenceTiesAndDays},
		{"DeferUsage", testDeferUsage},
		{"UsageMatchesEvidence", testUsageMatchesEvidence},
		{"UsageClasses", testUsageClasses},
		{"AnalysisStart", testAnalysisStart},
		{"RecomputeManySubscriptions", testRecomputeMany},
		{"DeleteProfileCascade", testDeleteProfileCascade},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Entitlements", testEntitlements},
		{"CountOpenSubscriptions", testCountOpenSubscriptions},
		{"PositionSnapshots", testPositionSnapshots},
		{"EachUserLicences", testEachUserLicences},
	}
	tests = append(tests, serverTests...)
	tests = append(tests, secretTests...)
	tests = append(tests, reclaimTests...)
	tests = append(tests, reconciliationTests...)
	tests = append(tests, insightTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // every subtest has its own store
			s := open(t)
			tc.fn(t, s)
		})
	}
}

// now is the fixed "now" of the suite.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// guid returns a deterministic lower-case GUID for n in a namespace.
func guid(ns, n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", ns, n) }

// Fixed ids used across tests.
var (
	tenantID   = guid(1, 1)
	clientID   = guid(2, 1)
	skuSales   = guid(10, 1) // tracked, Dynamics 365
	skuService = guid(10, 2) // tracked, Dynamics 365
	skuApps    = guid(10, 3) // untracked, Power Apps
	skuUnknown = guid(10, 4) // unknown to the catalog
)

func user(n int) string    { return guid(20, n) }
func sysUser(n int) string { return guid(30, n) }

func models() []sam.SoftwareModel {
	return []sam.SoftwareModel{
		{SKUID: skuSales, PartNumber: "D365_SALES_PRO", Publisher: "Microsoft", Product: "Dynamics 365 Sales Professional",
			Edition: "Professional", Family: sam.FamilyDynamics365, Kind: sam.KindBase, Metric: sam.MetricUserSubscription,
			Tracked: true, Mapped: true, UnitPrice: 6500, Currency: "USD",
			ServicePlans: []sam.ServicePlan{{ID: guid(11, 1), Name: "DYN365_SALES_PRO"}}},
		{SKUID: skuService, PartNumber: "DYN365_ENTERPRISE_CUSTOMER_SERVICE", Publisher: "Microsoft",
			Product: "Dynamics 365 Customer Service Enterprise", Edition: "Enterprise", Family: sam.FamilyDynamics365,
			Kind: sam.KindBase, Metric: sam.MetricUserSubscription, Tracked: true, Mapped: true},
		{SKUID: skuApps, PartNumber: "POWERAPPS_PER_USER", Publisher: "Microsoft", Product: "Power Apps Premium",
			Edition: "Premium", Family: sam.FamilyPowerApps, Kind: sam.KindBase, Metric: sam.MetricUserSubscription,
			Mapped: true, UnitPrice: 2000, Currency: "USD"},
	}
}

// mustCode fails unless err has the given code.
func mustCode(t *testing.T, err error, code sam.Code) {
	t.Helper()
	if got := sam.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newProfile creates a profile with n environments.
func newProfile(t *testing.T, s store.Store, name string, envs int) *sam.Profile {
	t.Helper()
	p := &sam.Profile{Name: name, DisplayName: "Contoso " + name, TenantID: tenantID, ClientID: clientID,
		AuthMode: sam.AuthClientSecret}
	for i := range envs {
		p.Environments = append(p.Environments, sam.Environment{URL: fmt.Sprintf("https://org%d.crm.dynamics.com", i+1),
			Name: fmt.Sprintf("Org %d", i+1)})
	}
	must(t, s.CreateProfile(ctx(t), p))
	return p
}

// startRun starts a run of the given kind.
func startRun(t *testing.T, s store.Store, profileID int64, kind sam.RunKind, full bool) *sam.Run {
	t.Helper()
	r := &sam.Run{ProfileID: profileID, Kind: kind, Full: full, StartedAt: now.Add(-time.Minute)}
	must(t, s.StartRun(ctx(t), r))
	return r
}

// lic is a direct licence assigned at a fixed time.
func lic(sku string) store.StagedLicense {
	return store.StagedLicense{SKUID: sku, AssignedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func staged(n int, skus ...string) store.StagedUser {
	u := store.StagedUser{UserID: user(n), UPN: fmt.Sprintf("user%d@contoso.com", n), DisplayName: fmt.Sprintf("User %d", n),
		Department: "Sales", Country: "FR", AccountEnabled: true}
	for _, s := range skus {
		u.Licenses = append(u.Licenses, lic(s))
	}
	return u
}

// syncSubs runs one complete subscriptions run staging users in one page.
func syncSubs(t *testing.T, s store.Store, p *sam.Profile, full bool, at time.Time, users ...store.StagedUser) store.SubscriptionChanges {
	t.Helper()
	r := startRun(t, s, p.ID, sam.RunSubscriptions, full)
	must(t, s.StageUsers(ctx(t), r, users))
	ch, err := s.CommitSubscriptions(ctx(t), r, store.SubscriptionCommit{Full: full, DeltaLink: "delta-" + at.Format(time.RFC3339),
		Now: at, Models: models()})
	must(t, err)
	return ch
}

// open returns the profile's open subscriptions keyed by "user/sku".
func openSubs(t *testing.T, s store.Store, profileID int64) map[string]*sam.Subscription {
	t.Helper()
	subs, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: profileID, OpenOnly: true})
	must(t, err)
	out := map[string]*sam.Subscription{}
	for _, x := range subs {
		out[x.UserID+"/"+x.SKUID] = x
	}
	return out
}

func key(n int, sku string) string { return user(n) + "/" + sku }

// auditOK is an environment audit that covers any window.
func auditOK(envID int64, watermark time.Time) sam.EnvironmentAudit {
	return sam.EnvironmentAudit{EnvironmentID: envID, Reachable: true, AuditEnabled: true, UserAccessAuditEnabled: true,
		RetentionDays: -1, Watermark: watermark, CheckedAt: now}
}

// syncActivity runs one activity run: maps system users n -> user(n) in
// every environment of p and stages rows.
func syncActivity(t *testing.T, s store.Store, p *sam.Profile, at time.Time, audits []sam.EnvironmentAudit, users []int, rows ...store.StagedActivity) store.ActivityChanges {
	t.Helper()
	r := startRun(t, s, p.ID, sam.RunActivity, false)
	for _, e := range p.Environments {
		var su []store.SystemUser
		for _, n := range users {
			su = append(su, store.SystemUser{SystemUserID: sysUser(n), AADObjectID: user(n), DomainName: fmt.Sprintf("user%d@contoso.com", n)})
		}
		must(t, s.StageSystemUsers(ctx(t), r, e.ID, su))
	}
	must(t, s.StageActivity(ctx(t), r, rows))
	ch, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: at, Environments: audits})
	must(t, err)
	return ch
}

func act(env int64, n int, at time.Time, src sam.ActivitySource, events int64) store.StagedActivity {
	return store.StagedActivity{EnvironmentID: env, SystemUserID: sysUser(n), Day: sam.Day(at), Source: src, Events: events, LastAt: at}
}

func ptr[T any](v T) *T { return &v }
