package dataverse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/dataverse"
	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// simEnv starts the simulator and returns it with an odata client for the
// first environment, signed in by client credentials for the
// environment's own scope.
func simEnv(t *testing.T, faults mscloud.Faults) (*mscloud.Server, *odata.Client, mscloud.EnvironmentURL) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 11, Faults: faults, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 30, Environments: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	info := srv.Info()
	env := info.Environments[0]
	fast := func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	tokens, err := entra.ClientCredentials(entra.Config{
		LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID, ClientSecret: info.ClientSecret,
		Scope: dataverse.Scope(env.URL), HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := odata.New(odata.Config{Service: odata.ServiceDataverse, HTTPClient: srv.Client(), Tokens: tokens, Sleep: fast, MaxAttempts: 10})
	return srv, oc, env
}

// usageEvidence is the audit query an activity run sends (shared semantics:
// access audits, and create/update of tracked entities).
var tracked = []string{"account", "contact", "task", "phonecall", "email", "appointment", "letter", "fax", "goal", "product",
	"opportunity", "lead", "quote", "salesorder", "invoice", "competitor", "incident", "contract", "queue", "serviceappointment"}

func usageQuery(from time.Time) dataverse.AuditQuery {
	return dataverse.AuditQuery{From: from, OrderAsc: true, AnyOf: []dataverse.AuditMatch{
		{Operations: []int{dataverse.OperationAccess}, Actions: []int{dataverse.ActionUserAccessWeb, dataverse.ActionUserAccessAPI}},
		{Operations: []int{dataverse.OperationCreate, dataverse.OperationUpdate}, Entities: tracked},
	}}
}

func isEvidence(a tenant.AuditRow) bool {
	if a.Operation == 4 {
		return a.Action == 64 || a.Action == 65
	}
	return (a.Operation == 1 || a.Operation == 2) && slices.Contains(tracked, a.ObjectTypeCode)
}

func TestSimulatorAuditsMatchGroundTruth(t *testing.T) {
	t.Parallel()
	srv, oc, env := simEnv(t, mscloud.Faults{})
	ctx := context.Background()
	tn := srv.Tenant()
	te, err := tn.Environment(0)
	if err != nil {
		t.Fatal(err)
	}
	tn.SetAppAuditRead(0, true)
	from := tn.Now().AddDate(0, 0, -30)

	var want []tenant.AuditRow
	seq, err := tn.Audits(0, tenant.AuditQuery{CreatedOnGE: from})
	if err != nil {
		t.Fatal(err)
	}
	for a := range seq {
		if isEvidence(a) {
			want = append(want, a)
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d evidence rows in the simulated environment", len(want))
	}
	// A page size that does not divide the total, so the last page is short.
	size := 7
	for len(want)%size == 0 {
		size++
	}

	c := dataverse.New(env.APIURL, oc, dataverse.WithPageSize(size), dataverse.WithAnnotations(true))
	who, err := c.WhoAmI(ctx)
	if err != nil || who.UserID != te.AppUserID || who.OrganizationID != te.OrganizationID {
		t.Fatalf("WhoAmI %+v, %v; environment %+v", who, err, te)
	}
	settings, err := c.AuditSettings(ctx)
	if err != nil || settings.AuditEnabled != te.Audit.AuditEnabled || settings.UserAccessAuditEnabled != te.Audit.UserAccessAuditEnabled ||
		settings.RetentionDays != te.Audit.RetentionDays || settings.UserAccessAuditingHours != te.Audit.AccessIntervalHours {
		t.Fatalf("settings %+v, %v; tenant %+v", settings, err, te.Audit)
	}

	var got []dataverse.Audit
	pages := 0
	err = c.Audits(ctx, c.AuditsURL(usageQuery(from)), func(rows []dataverse.Audit, next string) error {
		pages++
		if len(rows) > size || (next != "" && len(rows) != size) {
			t.Errorf("page %d has %d rows (maxpagesize %d, next %q)", pages, len(rows), size, next)
		}
		got = append(got, rows...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || pages != (len(want)+size-1)/size {
		t.Fatalf("%d rows in %d pages, want %d rows (page size %d)", len(got), pages, len(want), size)
	}
	for i, g := range got {
		w := want[i]
		if g.AuditID != w.AuditID || g.Operation != w.Operation || g.Action != w.Action || g.ObjectTypeCode != w.ObjectTypeCode ||
			g.UserID != w.UserID || g.ObjectID != w.ObjectID || !g.CreatedOn.Equal(w.CreatedOn.Truncate(time.Second)) {
			t.Fatalf("row %d: %+v\nwant %+v", i, g, w)
		}
	}

	// Resuming after a watermark (exclusive) returns exactly the later rows.
	mark := got[len(got)/2].CreatedOn
	q := usageQuery(time.Time{})
	q.After = mark
	var later int
	err = c.Audits(ctx, c.AuditsURL(q), func(rows []dataverse.Audit, _ string) error {
		for _, r := range rows {
			if !r.CreatedOn.After(mark) {
				t.Errorf("row %s at %v not after %v", r.AuditID, r.CreatedOn, mark)
			}
		}
		later += len(rows)
		return nil
	})
	wantLater := 0
	for _, w := range want {
		if w.CreatedOn.Truncate(time.Second).After(mark) {
			wantLater++
		}
	}
	if err != nil || later != wantLater {
		t.Fatalf("after watermark: %d rows, want %d (%v)", later, wantLater, err)
	}

	// System users: every row of the environment, application user included.
	var users []dataverse.SystemUser
	err = c.SystemUsers(ctx, c.SystemUsersURL(""), func(u []dataverse.SystemUser, _ string) error { users = append(users, u...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := tn.SystemUsersPage(0, "", 100000, nil)
	if err != nil || len(users) != len(rows) {
		t.Fatalf("%d systemusers, environment has %d (%v)", len(users), len(rows), err)
	}
	for i, u := range users {
		r := rows[i]
		if u.SystemUserID != r.SystemUserID || u.AADObjectID != sam.NormalizeGUID(r.AzureActiveDirectoryObjectID) || u.AccessMode != r.AccessMode ||
			u.IsDisabled != r.IsDisabled || u.ApplicationID != sam.NormalizeGUID(r.ApplicationID) {
			t.Fatalf("systemuser %d: %+v\nwant %+v", i, u, r)
		}
	}
}

func TestSimulatorAuditErrorsAndFaults(t *testing.T) {
	t.Parallel()
	faults := mscloud.Faults{Dataverse: mscloud.FaultRates{Next: []string{"throttle", "truncated", "malformed", "drop", "unavailable", "server_error"}}}
	srv, oc, env := simEnv(t, faults)
	ctx := context.Background()
	tn := srv.Tenant()
	c := dataverse.New(env.URL, oc, dataverse.WithPageSize(50))

	tn.SetAppAuditRead(0, true)
	p, err := c.AuditsPage(ctx, c.AuditsURL(dataverse.AuditQuery{From: tn.Now().AddDate(0, 0, -3)}))
	if err != nil || len(p.Rows) == 0 {
		t.Fatalf("page through faults: %d rows, %v", len(p.Rows), err)
	}
	if st := oc.Stats(); st.Throttles != 1 || st.Retries < 6 {
		t.Fatalf("stats %+v", st)
	}

	tn.SetAppAuditRead(0, false)
	_, err = c.AuditsPage(ctx, c.AuditsURL(dataverse.AuditQuery{}))
	oe, ok := odata.AsError(err)
	if !sam.IsCode(err, sam.EFORBIDDEN) || !ok || oe.Code == "" || !strings.Contains(err.Error(), "prvReadAuditSummary") {
		t.Fatalf("without prvReadAuditSummary: %v", err)
	}

	// A Graph token is not accepted by Dataverse.
	info := srv.Info()
	graphTokens, err := entra.ClientCredentials(entra.Config{LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID,
		ClientSecret: info.ClientSecret, Scope: info.GraphScope, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	wrong := dataverse.New(env.URL, odata.New(odata.Config{Service: odata.ServiceDataverse, HTTPClient: srv.Client(), Tokens: graphTokens}))
	if _, err := wrong.WhoAmI(ctx); !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("Graph token on Dataverse: %v", err)
	}
}
