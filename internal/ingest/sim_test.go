package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// bundle is one simulator, one SQLite store and one profile connected to
// the simulator's first tenant.
type bundle struct {
	t    testing.TB
	ctx  context.Context
	srv  *mscloud.Server
	ten  *tenant.Tenant
	st   store.Store
	path string // of st
	p    *sam.Profile
	src  *ingest.Sources
	sy   *ingest.Syncer
	// signInHistory accepts more entra:signin days than the ground truth
	// for untracked models: sign-ins seen by earlier syncs stay evidence,
	// while the truth knows only the latest sign-in.
	signInHistory bool
}

// setup starts a simulator with cfg and a store in a temporary directory.
func setup(t testing.TB, cfg mscloud.Config) *bundle {
	t.Helper()
	ctx := context.Background()
	srv, err := mscloud.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	b := &bundle{t: t, ctx: ctx, srv: srv, ten: srv.Tenant()}
	b.path = filepath.Join(t.TempDir(), "seatwise.db")
	b.st = openStore(t, b.path)
	info := srv.Info()
	p := &sam.Profile{Name: "sim", DisplayName: "Simulator", TenantID: info.TenantID, ClientID: info.ClientID,
		AuthMode: sam.AuthClientSecret, LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile,
		State: sam.ProfileDraft}
	for _, e := range info.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := b.st.CreateProfile(ctx, p); err != nil {
		t.Fatalf("create profile: %v", err)
	}
	b.p = p
	b.connect(info.ClientSecret)
	return b
}

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// connect builds fresh clients (and counters) with secret.
func (b *bundle) connect(secret string) {
	b.t.Helper()
	src, err := ingest.NewSources(b.p, secret, ingest.ClientOptions{HTTPClient: b.srv.Client(),
		BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxAttempts: 10})
	if err != nil {
		b.t.Fatalf("sources: %v", err)
	}
	b.src = src
	b.sy = &ingest.Syncer{Store: b.st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: b.ten.Now}
}

func (b *bundle) profile() *sam.Profile {
	b.t.Helper()
	p, err := b.st.Profile(b.ctx, b.p.ID)
	if err != nil {
		b.t.Fatalf("profile: %v", err)
	}
	return p
}

// sync runs both jobs side by side (Sync), as the CLI and the sync job
// do, and fails the test on error.
func (b *bundle) sync(full bool) (*ingest.SubscriptionResult, *ingest.ActivityResult) {
	b.t.Helper()
	res, err := b.sy.Sync(b.ctx, b.profile(), ingest.SubscriptionOptions{Full: full}, nil)
	if err != nil {
		b.t.Fatalf("sync: %v", err)
	}
	return res.Subscriptions, res.Activity
}

// subKey identifies a subscription.
type subKey struct{ user, sku string }

// openSubs returns the profile's open subscriptions by user and SKU.
func openSubs(t testing.TB, st store.Store, profileID int64) map[subKey]*sam.Subscription {
	t.Helper()
	out := map[subKey]*sam.Subscription{}
	f := store.SubscriptionFilter{ProfileID: profileID, OpenOnly: true, Limit: 5000}
	for {
		subs, err := st.Subscriptions(context.Background(), f)
		if err != nil {
			t.Fatalf("subscriptions: %v", err)
		}
		for _, s := range subs {
			k := subKey{s.UserID, s.SKUID}
			if _, dup := out[k]; dup {
				t.Errorf("two open subscriptions for user %s SKU %s", s.UserID, s.SKUID)
			}
			out[k] = s
			f.AfterID = s.ID
		}
		if len(subs) < f.Limit {
			return out
		}
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// checkTruth compares the store with the tenant's ground truth: every
// subscription, its assignment, last activity and source, active days and
// class, and no subscription more.
func (b *bundle) checkTruth() {
	b.t.Helper()
	p := b.profile()
	truth, err := b.ten.Truth(p.AnalyzeFrom, nil)
	if err != nil {
		b.t.Fatalf("truth: %v", err)
	}
	got := openSubs(b.t, b.st, p.ID)
	want := 0
	var diffs []string
	for _, u := range truth.Users {
		for _, ts := range u.Subscriptions {
			want++
			s, ok := got[subKey{u.UserID, ts.SKUID}]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("user %s (%s, %s) SKU %s: no open subscription", u.UPN, u.UserID, u.Pattern, ts.PartNumber))
				continue
			}
			var d []string
			if s.AssignedByGroup != ts.AssignedByGroup {
				d = append(d, fmt.Sprintf("group %q want %q", s.AssignedByGroup, ts.AssignedByGroup))
			}
			if !s.AssignedAt.Equal(ts.AssignedAt) {
				d = append(d, fmt.Sprintf("assigned at %v want %v", s.AssignedAt, ts.AssignedAt))
			}
			if s.AccountEnabled != u.AccountEnabled {
				d = append(d, fmt.Sprintf("enabled %v want %v", s.AccountEnabled, u.AccountEnabled))
			}
			if (s.LastActivity == nil) != (ts.LastActivity == nil) || (s.LastActivity != nil && !s.LastActivity.Equal(*ts.LastActivity)) {
				d = append(d, fmt.Sprintf("last activity %s want %s", fmtTime(s.LastActivity), fmtTime(ts.LastActivity)))
			}
			if s.LastActivitySource != string(ts.LastActivitySource) {
				d = append(d, fmt.Sprintf("source %q want %q", s.LastActivitySource, ts.LastActivitySource))
			}
			if b.signInHistory && !ts.Tracked && s.ActiveDays30 >= ts.ActiveDays30 && s.ActiveDays90 >= ts.ActiveDays90 {
				// more observed sign-in days than the truth knows
			} else if s.ActiveDays30 != ts.ActiveDays30 || s.ActiveDays90 != ts.ActiveDays90 {
				d = append(d, fmt.Sprintf("active days %d/%d want %d/%d", s.ActiveDays30, s.ActiveDays90, ts.ActiveDays30, ts.ActiveDays90))
			}
			if s.UsageClass != ts.Class && !(b.signInHistory && !ts.Tracked && s.UsageClass == sam.UsageActive && ts.Class == sam.UsageLow) {
				d = append(d, fmt.Sprintf("class %s want %s", s.UsageClass, ts.Class))
			}
			if len(d) > 0 {
				diffs = append(diffs, fmt.Sprintf("user %s (%s) SKU %s: %s", u.UPN, u.Pattern, ts.PartNumber, strings.Join(d, "; ")))
			}
		}
	}
	if want == 0 {
		b.t.Fatal("the ground truth has no subscriptions")
	}
	if len(got) != want {
		diffs = append(diffs, fmt.Sprintf("%d open subscriptions, truth has %d", len(got), want))
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 25 {
			diffs = append(diffs[:25], fmt.Sprintf("... and %d more", len(diffs)-25))
		}
		b.t.Errorf("store differs from ground truth (%d users):\n%s", len(truth.Users), strings.Join(diffs, "\n"))
	}
}

// syncCopy creates another database at path with the same profile and syncs
// it once (full) with fresh clients, as a reference run.
func (b *bundle) syncCopy(path string) {
	b.t.Helper()
	st := openStore(b.t, path)
	p := *b.p
	p.ID = 0
	p.Environments = nil
	for _, e := range b.p.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(b.ctx, &p); err != nil {
		b.t.Fatal(err)
	}
	src, err := ingest.NewSources(&p, b.srv.Info().ClientSecret, ingest.ClientOptions{HTTPClient: b.srv.Client()})
	if err != nil {
		b.t.Fatal(err)
	}
	sy := &ingest.Syncer{Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: b.ten.Now}
	if _, err := sy.Subscriptions(b.ctx, &p, ingest.SubscriptionOptions{}); err != nil {
		b.t.Fatal(err)
	}
	pp, err := st.Profile(b.ctx, p.ID)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := sy.Activity(b.ctx, pp); err != nil {
		b.t.Fatal(err)
	}
}
