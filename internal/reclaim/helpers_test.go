package reclaim

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dialects are the databases the tests run on.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "seatwise.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

func eachDialect(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { fn(t, d.url(t)) })
	}
}

// writePerms are the Graph permissions the write path needs.
var writePerms = []string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All",
	"User.ReadWrite.All", "GroupMember.ReadWrite.All"}

// env is one simulator tenant, one store, one profile and an engine.
type env struct {
	t   testing.TB
	ctx context.Context
	srv *mscloud.Server
	ten *tenant.Tenant
	st  store.Store
	p   *sam.Profile
	src *ingest.Sources
	sy  *ingest.Syncer
	e   *Engine
	n   *recorder
}

// recorder is a Notifier that keeps the notices it was given.
type recorder struct {
	mu      sync.Mutex
	notices []Notice
	fail    error
}

func (r *recorder) Notify(_ context.Context, n Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.notices = append(r.notices, n)
	return nil
}

func (r *recorder) list(kind NoticeKind) []Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Notice
	for _, n := range r.notices {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

func setup(t testing.TB, url string, users int) *env {
	t.Helper()
	ctx := context.Background()
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 6, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 6, Users: users, Environments: 2}, GraphRoles: writePerms}}})
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	st, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	info := srv.Info()
	p := &sam.Profile{Name: "sim", TenantID: info.TenantID, ClientID: info.ClientID, AuthMode: sam.AuthClientSecret,
		LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile, State: sam.ProfileDraft}
	for _, e := range info.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewSources(p, info.ClientSecret, ingest.ClientOptions{HTTPClient: srv.Client(), BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ten := srv.Tenant()
	x := &env{t: t, ctx: ctx, srv: srv, ten: ten, st: st, p: p, src: src, n: &recorder{}}
	x.sy = &ingest.Syncer{Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph, Dataverse: src.Dataverse,
		Counters: src, Now: ten.Now}
	x.e = x.engine()
	x.sync()
	return x
}

// engine returns a fresh engine on the same store (as after a restart).
func (x *env) engine() *Engine {
	return &Engine{Store: x.st, Notifier: x.n, Now: x.ten.Now, Logger: slog.New(slog.DiscardHandler),
		Graph: func(context.Context, *sam.Profile) (Graph, error) { return x.src.Graph.C, nil }}
}

// roles replaces the app's granted Graph permissions; tokens issued before
// are expired so that the next request carries the new roles.
func (x *env) roles(perms []string) {
	x.t.Helper()
	if _, ok := x.srv.UpdateApp(x.ten.ID(), func(a *mscloud.App) { a.GraphRoles = perms }); !ok {
		x.t.Fatal("no app to update")
	}
	x.srv.ExpireAccessTokens()
}

func (x *env) profile() *sam.Profile {
	x.t.Helper()
	p, err := x.st.Profile(x.ctx, x.p.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	return p
}

func (x *env) sync() {
	x.t.Helper()
	if _, err := x.sy.Subscriptions(x.ctx, x.profile(), ingest.SubscriptionOptions{}); err != nil {
		x.t.Fatalf("subscriptions: %v", err)
	}
	if _, err := x.sy.Activity(x.ctx, x.profile()); err != nil {
		x.t.Fatalf("activity: %v", err)
	}
}

func (x *env) evaluate() *EvalResult {
	x.t.Helper()
	r, err := x.e.Evaluate(x.ctx, x.profile())
	if err != nil {
		x.t.Fatalf("evaluate: %v", err)
	}
	return r
}

func (x *env) advance(opt RunOptions) *RunResult {
	x.t.Helper()
	r, err := x.e.Advance(x.ctx, x.profile(), opt)
	if err != nil {
		x.t.Fatalf("advance: %v", err)
	}
	return r
}

func (x *env) settings(fn func(s *store.ReclaimSettings)) {
	x.t.Helper()
	s, err := x.st.ReclaimSettings(x.ctx)
	if err != nil {
		x.t.Fatal(err)
	}
	fn(&s)
	if err := x.e.SetSettings(x.ctx, s, "user:test"); err != nil {
		x.t.Fatal(err)
	}
}

// rules applies fn to every rule of the profile.
func (x *env) rules(fn func(r *store.ReclaimRule)) {
	x.t.Helper()
	if _, err := x.e.EnsureRules(x.ctx, x.profile()); err != nil {
		x.t.Fatal(err)
	}
	rs, err := x.st.ReclaimRules(x.ctx, x.p.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	if len(rs) == 0 {
		x.t.Fatal("no rules were created")
	}
	for _, r := range rs {
		fn(r)
		if err := x.e.UpdateRule(x.ctx, r, "user:test"); err != nil {
			x.t.Fatal(err)
		}
	}
}

func (x *env) open() []*store.Candidate {
	x.t.Helper()
	cs, err := x.st.Candidates(x.ctx, store.CandidateFilter{ProfileID: x.p.ID, OpenOnly: true})
	if err != nil {
		x.t.Fatal(err)
	}
	return cs
}

func (x *env) candidate(id int64) *store.Candidate {
	x.t.Helper()
	c, err := x.st.Candidate(x.ctx, id)
	if err != nil {
		x.t.Fatal(err)
	}
	return c
}

// writes returns the simulator's count of Graph write requests.
func (x *env) writes() map[string]int64 {
	out := map[string]int64{}
	for k, v := range x.srv.Counters().Requests {
		if strings.HasPrefix(k, "graph POST /users/") || strings.HasPrefix(k, "graph DELETE ") || strings.HasPrefix(k, "graph POST /groups/") ||
			strings.HasPrefix(k, "graph PATCH") {
			out[k] = v
		}
	}
	return out
}

// holds reports whether the tenant user holds sku (any path).
func (x *env) holds(userID, sku string) bool {
	x.t.Helper()
	u, err := x.ten.User(userID)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, l := range u.AssignedLicenses {
		if l.SKUID == sku {
			return true
		}
	}
	return false
}

func (x *env) consumed(sku string) int {
	x.t.Helper()
	k, err := x.ten.SKU(sku)
	if err != nil {
		x.t.Fatal(err)
	}
	return k.Consumed
}

// ruleSpec is a rule setting applied to every tracked model.
type ruleSpec struct {
	inactive    int
	never       bool
	disabled    bool
	grace       int
	departments []string
	path        store.AssignmentPath
}

// expected computes the candidates (user/sku) the ground truth calls for,
// independently of the engine: from the simulator's truth and user records.
func (x *env) expected(spec ruleSpec, excludedUsers map[string]bool, upnSuffix string) map[string]string {
	x.t.Helper()
	p := x.profile()
	now := x.ten.Now()
	truth, err := x.ten.Truth(p.AnalyzeFrom, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range truth.Users {
		if excludedUsers[u.UserID] || upnSuffix != "" && strings.HasSuffix(strings.ToLower(u.UPN), upnSuffix) {
			continue
		}
		tu, err := x.ten.User(u.UserID)
		if err != nil {
			x.t.Fatal(err)
		}
		for _, ts := range u.Subscriptions {
			if !ts.Tracked {
				continue
			}
			if len(spec.departments) > 0 && !containsFold(spec.departments, tu.Department) {
				continue
			}
			if spec.path == store.PathDirect && ts.AssignedByGroup != "" || spec.path == store.PathGroup && ts.AssignedByGroup == "" {
				continue
			}
			if !ts.AssignedAt.IsZero() && int(sam.Day(now).Sub(sam.Day(ts.AssignedAt)).Hours()/24) < spec.grace {
				continue
			}
			k := u.UserID + "/" + ts.SKUID
			switch {
			case !u.AccountEnabled:
				if spec.disabled {
					out[k] = string(store.JustDisabled)
				}
			case !truth.CoverageComplete:
			case ts.LastActivity == nil:
				if spec.never {
					out[k] = string(store.JustNeverActive)
				}
			case int(sam.Day(now).Sub(sam.Day(*ts.LastActivity)).Hours()/24) >= spec.inactive:
				out[k] = string(store.JustInactive)
			}
		}
	}
	return out
}

func diffSets(got, want map[string]string) []string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "missing "+k+" ("+v+")")
		} else if g != v {
			d = append(d, fmt.Sprintf("%s: justification %s, want %s", k, g, v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "unexpected "+k+" ("+v+")")
		}
	}
	sort.Strings(d)
	return d
}
