package recon

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// TestRecommend checks the three kinds of recommendation, leavers first,
// with savings priced by entitlements.
func TestRecommend(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	cat := catalog.Default()
	p := &sam.Profile{Name: "contoso", TenantID: "00000000-0000-4000-8000-000000000001", AuthMode: sam.AuthClientSecret,
		Environments: []sam.Environment{{URL: "https://contoso.crm.dynamics.com"}}}
	if err := st.CreateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	part := func(pn string) sam.SoftwareModel {
		m, ok := cat.Lookup(pn)
		if !ok {
			t.Fatalf("%s not in the catalog", pn)
		}
		return m
	}
	sales, service, attach, team := part("D365_SALES_PRO"), part("DYN365_ENTERPRISE_CUSTOMER_SERVICE"), part("D365_SALES_PRO_ATTACH"), part("DYN365_TEAM_MEMBERS")
	if err := st.UpsertSoftwareModels(ctx, []sam.SoftwareModel{sales, service, attach, team}); err != nil {
		t.Fatal(err)
	}
	uid := func(n int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", n) }
	sys := func(n int) string { return fmt.Sprintf("00000000-0000-4000-a000-%012d", n) }
	users := []struct {
		enabled bool
		skus    []string
	}{
		1: {false, []string{sales.SKUID, service.SKUID}}, // leaver
		2: {true, []string{sales.SKUID, service.SKUID}},  // two bases
		3: {true, []string{sales.SKUID}},                 // reads only
		4: {true, []string{sales.SKUID}},                 // creates records
		5: {true, []string{sales.SKUID}},                 // no activity: reclamation's business, not ours
		6: {true, []string{team.SKUID}},                  // already Team Members
	}
	r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
	if err := st.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	var su []store.StagedUser
	for n := 1; n < len(users); n++ {
		u := store.StagedUser{UserID: uid(n), UPN: fmt.Sprintf("u%d@contoso.com", n), AccountEnabled: users[n].enabled}
		for _, s := range users[n].skus {
			u.Licenses = append(u.Licenses, store.StagedLicense{SKUID: s})
		}
		su = append(su, u)
	}
	if err := st.StageUsers(ctx, r, su); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CommitSubscriptions(ctx, r, store.SubscriptionCommit{Full: true, Now: asOf.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	env := p.Environments[0].ID
	ar := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity}
	if err := st.StartRun(ctx, ar); err != nil {
		t.Fatal(err)
	}
	var sysUsers []store.SystemUser
	for n := 1; n < len(users); n++ {
		sysUsers = append(sysUsers, store.SystemUser{SystemUserID: sys(n), AADObjectID: uid(n)})
	}
	if err := st.StageSystemUsers(ctx, ar, env, sysUsers); err != nil {
		t.Fatal(err)
	}
	act := func(n, daysAgo int, src sam.ActivitySource) store.StagedActivity {
		at := asOf.AddDate(0, 0, -daysAgo)
		return store.StagedActivity{EnvironmentID: env, SystemUserID: sys(n), Day: sam.Day(at), Source: src, Events: 1, LastAt: at}
	}
	if err := st.StageActivity(ctx, ar, []store.StagedActivity{
		act(2, 1, sam.SourceRecord), act(3, 1, sam.SourceAccessWeb), act(3, 5, sam.SourceAccessAPI),
		act(3, 120, sam.SourceRecord), // before the 90-day window
		act(4, 2, sam.SourceAccessWeb), act(4, 2, sam.SourceRecord), act(6, 1, sam.SourceAccessWeb),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CommitActivity(ctx, ar, store.ActivityCommit{Now: asOf, Environments: []sam.EnvironmentAudit{{EnvironmentID: env,
		Reachable: true, AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}}}); err != nil {
		t.Fatal(err)
	}
	var ents []*sam.Entitlement
	for i, x := range []struct {
		sku  string
		cost int64
	}{{sales.SKUID, 6500}, {service.SKUID, 9500}, {attach.SKUID, 2000}, {team.SKUID, 800}} {
		ents = append(ents, &sam.Entitlement{ProfileID: p.ID, SKUID: x.sku, Quantity: 10, UnitCost: x.cost, Currency: "USD",
			TermStart: asOf.AddDate(0, -1, 0), TermEnd: asOf.AddDate(1, 0, 0), Commitment: sam.CommitmentAnnual, PurchaseOrder: fmt.Sprint(i)})
	}
	if err := st.CreateEntitlements(ctx, ents); err != nil {
		t.Fatal(err)
	}
	res, err := Compute(ctx, st, p, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = Recommend(ctx, st, cat, p, res.Positions, asOf, func(r Recommendation) error {
		got = append(got, fmt.Sprintf("%d %s %s %v->%v %s known=%v", r.Priority, r.Kind, r.UPN, r.From, r.To,
			sam.FormatMoney(r.MonthlySaving, r.Currency), r.SavingKnown))
		if len(r.SubscriptionIDs) != len(r.From) || r.Reason == "" {
			t.Errorf("recommendation %+v lacks subscriptions or reason", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1 remove u1@contoso.com [DYN365_ENTERPRISE_CUSTOMER_SERVICE D365_SALES_PRO]->[] 160.00 USD known=true",
		"2 consolidate u2@contoso.com [D365_SALES_PRO]->[D365_SALES_PRO_ATTACH] 45.00 USD known=true",
		"3 downgrade u3@contoso.com [D365_SALES_PRO]->[DYN365_TEAM_MEMBERS] 57.00 USD known=true",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recommendations\n%v\nwant\n%v", got, want)
	}

	// Without prices for the attach licence, the saving is unknown.
	if err := st.DeleteEntitlement(ctx, ents[2].ID); err != nil {
		t.Fatal(err)
	}
	res, err = Compute(ctx, st, p, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	err = Recommend(ctx, st, cat, p, res.Positions, asOf, func(r Recommendation) error {
		if r.Kind == RecommendConsolidate && (r.SavingKnown || r.MonthlySaving != 0) {
			t.Errorf("consolidation without an attach price: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
