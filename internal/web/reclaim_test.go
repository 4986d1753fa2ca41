package web_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/notify"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/web"
)

// reclaimRules are the access rules of the reclamation routes, merged into
// wantRules so that TestRouteRoleMatrix proves them.
var reclaimRules = map[string]string{
	"GET /api/v1/candidates":                         "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/candidates/{id}":                    "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/candidates/{id}/actions":           "admin or sam_manager",
	"POST /api/v1/candidates/actions":                "admin or sam_manager",
	"GET /api/v1/rules":                              "admin or sam_integrator or sam_manager or viewer",
	"GET /api/v1/rules/{id}":                         "admin or sam_integrator or sam_manager or viewer",
	"PATCH /api/v1/rules/{id}":                       "admin or sam_manager",
	"GET /api/v1/exclusions":                         "admin or sam_integrator or sam_manager or viewer",
	"POST /api/v1/exclusions":                        "admin or sam_manager",
	"DELETE /api/v1/exclusions/{id}":                 "admin or sam_manager",
	"GET /api/v1/reclaim/settings":                   "admin or sam_integrator or sam_manager or viewer",
	"PATCH /api/v1/reclaim/settings":                 "admin",
	"GET /candidates":                                "admin or sam_integrator or sam_manager or viewer",
	"POST /candidates/bulk":                          "admin or sam_manager",
	"GET /candidates/{id}":                           "admin or sam_integrator or sam_manager or viewer",
	"POST /candidates/{id}/action":                   "admin or sam_manager",
	"GET /rules":                                     "admin or sam_integrator or sam_manager or viewer",
	"GET /rules/{id}":                                "admin or sam_integrator or sam_manager or viewer",
	"POST /rules/{id}":                               "admin or sam_manager",
	"GET /exclusions":                                "admin or sam_integrator or sam_manager or viewer",
	"POST /exclusions":                               "admin or sam_manager",
	"POST /exclusions/{id}/delete":                   "admin or sam_manager",
	"GET /reclaim/settings":                          "admin or sam_integrator or sam_manager or viewer",
	"POST /reclaim/settings":                         "admin",
	"GET /api/v1/profiles/{name}/reclaim/simulation": "admin or sam_integrator or sam_manager or viewer",
	"GET /reclaim/simulation":                        "admin or sam_integrator or sam_manager or viewer",
	"GET /link":                                      "public",
	"POST /link":                                     "public",
}

func init() { maps.Copy(wantRules, reclaimRules) }

const salesSKU = "1e1a282c-9c54-43a2-9310-98ef728faace"

// reclaimFixture is a seeded profile with a rule (approval by a group, so
// that no Graph call is needed) and one candidate per state given.
type reclaimFixture struct {
	p     *sam.Profile
	rule  *store.ReclaimRule
	cands []*store.Candidate
}

func seedCandidates(t *testing.T, b *bundle, states ...store.CandidateState) *reclaimFixture {
	t.Helper()
	ctx := t.Context()
	p := seed(t, b.st, "contoso", len(states)+2)
	rule := store.DefaultReclaimRule(p.ID, salesSKU)
	rule.ManagerApproval, rule.ApprovalGroup = false, "2b6a4bb9-9a2f-4a1c-9f61-0a0e8c5d3a11"
	if _, err := b.st.EnsureReclaimRules(ctx, []*store.ReclaimRule{rule}); err != nil {
		t.Fatal(err)
	}
	subs, err := b.st.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, SKUID: salesSKU})
	if err != nil {
		t.Fatal(err)
	}
	f := &reclaimFixture{p: p, rule: rule}
	now := b.clock()
	for i, st := range states {
		s := subs[i]
		last := now.AddDate(0, 0, -75)
		c := &store.Candidate{ProfileID: p.ID, SubscriptionID: s.ID, RuleID: rule.ID, UserID: s.UserID, UPN: s.UPN, DisplayName: s.DisplayName,
			SKUID: salesSKU, Justification: store.JustInactive, InactiveDays: 75, LastActivity: &last, Saving: 9500, Currency: "USD", State: st,
			Evidence: store.Evidence{AnalysisFrom: now.AddDate(0, 0, -90), AsOf: now, Sources: []string{"dataverse:access_web"},
				Note: "last activity 75 days ago; threshold 60",
				Days: []store.EvidenceDay{{Day: last.Truncate(24 * time.Hour), Source: "dataverse:access_web", Events: 3, LastAt: last}}}}
		if st == store.StateAwaitingUser {
			c.DueAt, c.NotifiedAt = now.AddDate(0, 0, 7), now
		}
		if err := b.st.CreateCandidate(ctx, c, store.Transition{At: now, To: st, Actor: "system", Reason: "fixture"}); err != nil {
			t.Fatal(err)
		}
		f.cands = append(f.cands, c)
	}
	return f
}

func TestReclaimAPI(t *testing.T) { testReclaimAPI(t, setup) }

func TestLinkPages(t *testing.T) { testLinkPages(t, setup) }

// TestReclaimPostgres runs the reclamation API and link page tests on
// PostgreSQL.
func TestReclaimPostgres(t *testing.T) {
	on := func(t *testing.T, opts ...func(*web.Config)) *bundle { return setupOn(t, pgtest.URL(t), opts...) }
	t.Run("API", func(t *testing.T) { testReclaimAPI(t, on) })
	t.Run("LinkPages", func(t *testing.T) { testLinkPages(t, on) })
}

func testReclaimAPI(t *testing.T, mk maker) {
	b := mk(t)
	f := seedCandidates(t, b, store.StateAwaitingUser, store.StateAttention, store.StateReady, store.StateAwaitingUser)
	mgr := bearer(b.token(auth.RoleSAMManager))
	viewer := bearer(b.token(auth.RoleViewer))

	// List, filter, page.
	var page web.CandidatePage
	r := b.do(nil, "GET", "/api/v1/candidates?profile=contoso&limit=3", nil, viewer)
	r.json(t, &page)
	if r.status != 200 || len(page.Items) != 3 || page.NextCursor == "" || page.Items[0].Product == "" || page.Items[0].Profile != "contoso" {
		t.Fatalf("first page: %d %s", r.status, r.body)
	}
	var rest web.CandidatePage
	b.do(nil, "GET", "/api/v1/candidates?profile=contoso&limit=3&cursor="+page.NextCursor, nil, viewer).json(t, &rest)
	if len(rest.Items) != 1 || rest.Items[0].ID != f.cands[3].ID {
		t.Errorf("second page %+v", rest)
	}
	b.do(nil, "GET", "/api/v1/candidates?state=attention_required,ready", nil, viewer).json(t, &page)
	if len(page.Items) != 2 {
		t.Errorf("state filter: %d items, want 2", len(page.Items))
	}
	for _, q := range []string{"state=bogus", "open=maybe", "sku=nope", "cursor=x", "limit=0", "profile=nope"} {
		r := b.do(nil, "GET", "/api/v1/candidates?"+q, nil, viewer)
		if r.status != 400 && r.status != 404 {
			t.Errorf("?%s: %d, want 400 or 404", q, r.status)
		}
	}

	// One candidate, with evidence and history.
	var c web.CandidateJSON
	r = b.do(nil, "GET", fmt.Sprintf("/api/v1/candidates/%d", f.cands[0].ID), nil, viewer)
	r.json(t, &c)
	if c.Evidence == nil || len(c.Evidence.Days) != 1 || len(c.Transitions) != 1 || c.Transitions[0].Reason != "fixture" ||
		strings.Join(c.Actions, ",") != "keep,release,reclaim,skip" {
		t.Errorf("candidate: %s", r.body)
	}

	// Actions: wrong state is a conflict, a right one moves the candidate.
	tests := []struct {
		name   string
		id     int64
		action web.CandidateAction
		status int
		state  string
	}{
		{"approve needs awaiting_approval", f.cands[0].ID, web.CandidateAction{Action: "approve"}, 409, ""},
		{"unknown action", f.cands[0].ID, web.CandidateAction{Action: "delete"}, 400, ""},
		{"keep on the user's behalf goes to the approval group", f.cands[0].ID, web.CandidateAction{Action: "keep", Reason: "phoned"}, 200, "awaiting_approval"},
		{"approve", f.cands[0].ID, web.CandidateAction{Action: "approve"}, 200, "closed_skipped"},
		{"requeue", f.cands[1].ID, web.CandidateAction{Action: "requeue"}, 200, "ready"},
		{"reclaim in dry run changes nothing", f.cands[2].ID, web.CandidateAction{Action: "reclaim"}, 200, "ready"},
		{"missing candidate", 99999, web.CandidateAction{Action: "skip"}, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(nil, "POST", fmt.Sprintf("/api/v1/candidates/%d/actions", tc.id), tc.action, mgr)
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.state != "" {
				var res web.ActionResult
				r.json(t, &res)
				if !res.OK || res.State != tc.state {
					t.Errorf("result %s, want state %s", r.body, tc.state)
				}
				if tc.action.Action == "reclaim" && (!res.DryRun || len(res.Planned) != 1) {
					t.Errorf("dry-run reclaim result %s", r.body)
				}
			}
		})
	}
	var hist web.CandidateJSON
	b.do(nil, "GET", fmt.Sprintf("/api/v1/candidates/%d", f.cands[0].ID), nil, viewer).json(t, &hist)
	if n := len(hist.Transitions); n != 3 || hist.Transitions[1].Actor != "token:t-sam_manager" || !strings.Contains(hist.Transitions[1].Reason, "phoned") {
		t.Errorf("history %+v", hist.Transitions)
	}

	// Bulk: each on its own.
	var bulk web.BulkResult
	r = b.do(nil, "POST", "/api/v1/candidates/actions", web.BulkCandidateAction{IDs: []int64{f.cands[3].ID, f.cands[0].ID}, Action: "skip", Reason: "bulk"}, mgr)
	r.json(t, &bulk)
	if r.status != 200 || bulk.Succeeded != 1 || bulk.Failed != 1 || bulk.Results[1].Error == nil || bulk.Results[1].Error.Code != "conflict" {
		t.Errorf("bulk: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "POST", "/api/v1/candidates/actions", web.BulkCandidateAction{Action: "skip"}, mgr); r.status != 400 {
		t.Errorf("bulk without ids: %d", r.status)
	}

	// Exclusions hide candidates from lists.
	var ex web.ExclusionJSON
	r = b.do(nil, "POST", "/api/v1/exclusions", web.ExclusionInput{Profile: "contoso", Kind: "user", Value: f.cands[1].UPN, Reason: "board"}, mgr)
	r.json(t, &ex)
	if r.status != 201 || ex.Value != strings.ToLower(f.cands[1].UPN) || ex.CreatedBy != "token:t-sam_manager" {
		t.Fatalf("add exclusion: %d %s", r.status, r.body)
	}
	b.do(nil, "GET", "/api/v1/candidates?profile=contoso", nil, viewer).json(t, &page)
	for _, it := range page.Items {
		if it.ID == f.cands[1].ID {
			t.Error("an excluded user's candidate is listed")
		}
	}
	for _, bad := range []web.ExclusionInput{{Kind: "planet", Value: "x"}, {Kind: "sku", Value: "not-a-guid"}, {Kind: "user", Value: " "}} {
		if r := b.do(nil, "POST", "/api/v1/exclusions", bad, mgr); r.status != 400 {
			t.Errorf("exclusion %+v: %d %s", bad, r.status, r.body)
		}
	}
	if r := b.do(nil, "POST", "/api/v1/exclusions", web.ExclusionInput{Profile: "contoso", Kind: "user", Value: f.cands[1].UPN}, mgr); r.status != 409 {
		t.Errorf("duplicate exclusion: %d", r.status)
	}
	var exs []web.ExclusionJSON
	b.do(nil, "GET", "/api/v1/exclusions", nil, viewer).json(t, &exs)
	if len(exs) != 1 {
		t.Errorf("exclusions %+v", exs)
	}
	if r := b.do(nil, "DELETE", fmt.Sprintf("/api/v1/exclusions/%d", ex.ID), nil, mgr); r.status != 204 {
		t.Errorf("delete exclusion: %d", r.status)
	}

	// Rules: edit, disable, refuse nonsense.
	var rules []web.RuleJSON
	b.do(nil, "GET", "/api/v1/rules?profile=contoso", nil, viewer).json(t, &rules)
	if len(rules) != 1 || rules[0].Description == "" || rules[0].InactiveDays != 60 {
		t.Fatalf("rules %+v", rules)
	}
	days, off := 90, false
	var rule web.RuleJSON
	r = b.do(nil, "PATCH", fmt.Sprintf("/api/v1/rules/%d", rules[0].ID), web.RulePatch{InactiveDays: &days, Enabled: &off}, mgr)
	r.json(t, &rule)
	if r.status != 200 || rule.InactiveDays != 90 || rule.Enabled || !strings.Contains(rule.Description, "disabled") || rule.UpdatedBy != "token:t-sam_manager" {
		t.Errorf("patch rule: %d %s", r.status, r.body)
	}
	zero, path := 0, "sideways"
	for _, p := range []web.RulePatch{{InactiveDays: &zero}, {AssignmentPath: &path}} {
		if r := b.do(nil, "PATCH", fmt.Sprintf("/api/v1/rules/%d", rules[0].ID), p, mgr); r.status != 400 {
			t.Errorf("invalid patch: %d %s", r.status, r.body)
		}
	}

	// Settings: dry run on for a new installation; an admin turns it off.
	var set web.ReclaimSettingsJSON
	b.do(nil, "GET", "/api/v1/reclaim/settings", nil, viewer).json(t, &set)
	if !set.DryRun || set.CapCount != 20 || !strings.Contains(set.Notifications, "not configured") {
		t.Errorf("settings %+v", set)
	}
	dry, cap := false, 5
	r = b.do(nil, "PATCH", "/api/v1/reclaim/settings", web.ReclaimSettingsPatch{DryRun: &dry, CapCount: &cap}, bearer(b.token(auth.RoleAdmin)))
	r.json(t, &set)
	if r.status != 200 || set.DryRun || set.CapCount != 5 || set.UpdatedBy != "token:t-admin" {
		t.Errorf("patch settings: %d %s", r.status, r.body)
	}
	bad := -1
	if r := b.do(nil, "PATCH", "/api/v1/reclaim/settings", web.ReclaimSettingsPatch{CapPercent: &bad}, bearer(b.token(auth.RoleAdmin))); r.status != 400 {
		t.Errorf("invalid settings: %d", r.status)
	}
	// A bulk reclaim is one run for the cap: above it (count, or percentage
	// of the SKU's 6 seats) it is refused as a whole and changes nothing.
	open := []int64{f.cands[1].ID, f.cands[2].ID} // ready; the others are closed
	for _, tc := range []struct {
		name       string
		count, pct int
		want       []string
	}{
		{"percentage", 5, 10, []string{"removal blocked: 2 removal(s) of SKU " + salesSKU + " due but the cap is 10% of its 6 seats (0)", "nothing was removed"}},
		{"count", 1, 100, []string{"removal blocked: 2 removal(s) due but the cap is 1 per run", "nothing was removed"}},
	} {
		set := web.ReclaimSettingsPatch{CapCount: &tc.count, CapPercent: &tc.pct}
		if r := b.do(nil, "PATCH", "/api/v1/reclaim/settings", set, bearer(b.token(auth.RoleAdmin))); r.status != 200 {
			t.Fatalf("%s: settings: %d %s", tc.name, r.status, r.body)
		}
		ids := append(open, f.cands[0].ID, 99999) // closed and missing ones do not count
		r := b.do(nil, "POST", "/api/v1/candidates/actions", web.BulkCandidateAction{IDs: ids, Action: "reclaim"}, mgr)
		var e web.ErrorBody
		r.json(t, &e)
		if r.status != 409 || e.Error.Code != "conflict" {
			t.Errorf("%s: bulk reclaim above the cap: %d %s", tc.name, r.status, r.body)
		}
		for _, w := range tc.want {
			if !strings.Contains(e.Error.Message, w) {
				t.Errorf("%s: refusal %q lacks %q", tc.name, e.Error.Message, w)
			}
		}
		for _, id := range open {
			c, err := b.st.Candidate(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != store.StateReady {
				t.Errorf("%s: a refused bulk reclaim moved candidate %d to %s", tc.name, id, c.State)
			}
		}
	}
	// Overridden, the batch goes ahead as far as the other checks allow:
	// the seeded profile has no activity run, so the removals wait.
	var over web.BulkResult
	r = b.do(nil, "POST", "/api/v1/candidates/actions", web.BulkCandidateAction{IDs: open, Action: "reclaim", Reason: "licence review", OverrideCap: true}, mgr)
	r.json(t, &over)
	if r.status != 200 || over.Succeeded != 2 || over.Failed != 0 || len(over.Results) != 2 {
		t.Fatalf("overridden bulk reclaim: %d %s", r.status, r.body)
	}
	for _, res := range over.Results {
		if res.State != "awaiting_revocation" || !strings.Contains(res.Blocked, "no finished activity run") {
			t.Errorf("overridden bulk reclaim result %+v", res)
		}
	}
	audit, err := b.st.AuditEntries(t.Context(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	overrides := 0
	for _, a := range audit {
		if a.Action == "reclaim.cap_override" && a.Actor == "token:t-sam_manager" && strings.Contains(a.Detail, "2 removal(s) due but the cap is 1 per run; overridden") {
			overrides++
		}
	}
	if overrides != 1 {
		t.Errorf("%d cap override audit entries, want 1", overrides)
	}
	var status web.StatusJSON
	b.do(nil, "GET", "/api/v1/status", nil, viewer).json(t, &status)
	if !status.Capabilities["reclamation"].Available {
		t.Errorf("status says reclamation is not available: %+v", status.Capabilities["reclamation"])
	}
}

// signLink signs a link as the notifier would, for the bundle's key.
func signLink(t *testing.T, b *bundle, id int64, action, rcpt string, exp time.Time) string {
	t.Helper()
	l, err := notify.NewLinks(b.keyring)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.Sign(notify.Claims{CandidateID: id, Action: action, Recipient: rcpt, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	return notify.LinkPath + tok
}

var htmlHdr = map[string]string{"Accept": "text/html"}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLinkPages(t *testing.T, mk maker) {
	logs := &logBuffer{}
	b := mk(t, func(c *web.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f := seedCandidates(t, b, store.StateAwaitingUser, store.StateAwaitingUser, store.StateAwaitingUser)
	now := b.clock()
	keep := signLink(t, b, f.cands[0].ID, "keep", f.cands[0].UPN, now.Add(time.Hour))

	// GET only shows what the link will do.
	r := b.do(nil, "GET", keep, nil, htmlHdr)
	if r.status != 200 || !strings.Contains(string(r.body), "Keep my licence") || !strings.Contains(string(r.body), f.cands[0].UPN) {
		t.Fatalf("keep page: %d %s", r.status, r.body)
	}
	if c, _ := b.st.Candidate(t.Context(), f.cands[0].ID); c.State != store.StateAwaitingUser {
		t.Fatalf("GET changed the candidate to %s", c.State)
	}
	if r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("link page lets the token leak through Referer")
	}
	// POST acts, once, without sign-in.
	r = b.do(nil, "POST", keep, url.Values{"reason": {"I use it monthly"}}, htmlHdr)
	if r.status != 200 || !strings.Contains(string(r.body), "went for approval") {
		t.Fatalf("keep: %d %s", r.status, r.body)
	}
	trs, err := b.st.CandidateTransitions(t.Context(), f.cands[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	last := trs[len(trs)-1]
	if last.To != store.StateAwaitingApproval || last.Actor != "link:"+f.cands[0].UPN || !strings.Contains(last.Reason, "I use it monthly") {
		t.Errorf("transition %+v", last)
	}
	approve := signLink(t, b, f.cands[0].ID, "approve", "group:"+f.rule.ApprovalGroup, now.Add(time.Hour))
	release := signLink(t, b, f.cands[1].ID, "release", f.cands[1].UPN, now.Add(time.Hour))
	expired := signLink(t, b, f.cands[2].ID, "keep", f.cands[2].UPN, now.Add(-time.Minute))
	tampered := strings.Replace(signLink(t, b, f.cands[2].ID, "keep", f.cands[2].UPN, now.Add(time.Hour)), ".keep.", ".release.", 1)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		want   string
		state  store.CandidateState // of the link's candidate afterwards ("" no check)
		id     int64
	}{
		{"used again", "POST", keep, 409, "already used", store.StateAwaitingApproval, f.cands[0].ID},
		{"used again, shown", "GET", keep, 409, "already used", "", 0},
		{"approval by the group", "POST", approve, 200, "Approved", store.StateClosedSkipped, f.cands[0].ID},
		{"release", "POST", release, 200, "released", store.StateAwaitingRevocation, f.cands[1].ID},
		{"release again", "POST", release, 409, "already used", store.StateAwaitingRevocation, f.cands[1].ID},
		{"expired", "POST", expired, 410, "expired on", store.StateAwaitingUser, f.cands[2].ID},
		{"expired, shown", "GET", expired, 410, "expired on", "", 0},
		{"tampered", "POST", tampered, 400, "not valid", store.StateAwaitingUser, f.cands[2].ID},
		{"no token", "GET", "/link", 400, "not valid", "", 0},
		{"garbage", "GET", "/link?t=hello", 400, "not valid", "", 0},
		{"unknown candidate", "GET", signLink(t, b, 99999, "keep", "x@contoso.com", now.Add(time.Hour)), 404, "no longer exists", "", 0},
	}
	t.Cleanup(func() {
		token := strings.TrimPrefix(keep, notify.LinkPath)
		if !strings.Contains(logs.String(), `path=/link`) {
			t.Error("the link requests were not logged")
		}
		if strings.Contains(logs.String(), token[:40]) {
			t.Error("the server log holds a link token")
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = url.Values{}
			}
			r := b.do(nil, tc.method, tc.path, body, htmlHdr)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%d, want %d with %q: %s", r.status, tc.status, tc.want, r.body)
			}
			if tc.state != "" {
				c, err := b.st.Candidate(t.Context(), tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if c.State != tc.state {
					t.Errorf("candidate %d is %s, want %s", tc.id, c.State, tc.state)
				}
			}
		})
	}
}

// TestReclaimPages walks the reclamation pages as a manager: the queue
// with filters, a bulk skip, one candidate's evidence and an action, a rule
// edit, an exclusion added and removed, and the settings (read-only for a
// manager).
func TestReclaimPages(t *testing.T) {
	b := setup(t)
	f := seedCandidates(t, b, store.StateAwaitingUser, store.StateAttention, store.StateReady)
	c := b.client()
	csrf := b.login(c, "u-sam_manager", password)
	get := func(path string, want ...string) resp {
		t.Helper()
		r := b.do(c, "GET", path, nil, htmlHdr)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		for _, w := range want {
			if !strings.Contains(string(r.body), w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
		return r
	}
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("csrf", csrf)
		r := b.do(c, "POST", path, form, htmlHdr)
		if r.status != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
		return r.header.Get("Location")
	}
	get("/candidates", "Dry run is on", f.cands[0].UPN, "Dynamics 365", "Act on the ticked candidates", "not configured")
	get("/candidates?state=ready", f.cands[2].UPN)
	loc := post("/candidates/bulk", url.Values{"id": {fmt.Sprint(f.cands[1].ID), fmt.Sprint(f.cands[2].ID)}, "action": {"skip"}, "reason": {"seasonal"}, "return": {"/candidates?open=true"}})
	if !strings.Contains(loc, "flash=skip") || !strings.HasPrefix(loc, "/candidates?open=true") {
		t.Errorf("bulk redirect %s", loc)
	}
	r := get(loc, "skip: 2 done")
	if strings.Contains(string(r.body), f.cands[2].UPN) {
		t.Error("a skipped candidate is still in the open queue")
	}
	detail := fmt.Sprintf("/candidates/%d", f.cands[0].ID)
	get(detail, "last activity 75 days ago", "dataverse:access_web", "fixture", `value="keep"`)
	loc = post(detail+"/action", url.Values{"action": {"approve"}})
	if !strings.Contains(loc, "error=") {
		t.Errorf("approve of an awaiting_user candidate: redirect %s, want an error", loc)
	}
	get(loc, "cannot approve")
	post(detail+"/action", url.Values{"action": {"keep"}, "reason": {"asked by phone"}})
	get(detail, "awaiting_approval", "asked by phone", "user:u-sam_manager")

	get("/rules", "inactive 60 days")
	rule := fmt.Sprintf("/rules/%d", f.rule.ID)
	get(rule, `name="inactive_days"`)
	form := url.Values{"enabled": {"on"}, "inactive_days": {"45"}, "grace_days": {"10"}, "response_days": {"14"}, "notify_user": {"on"},
		"departments": {"Sales, Support"}, "assignment_path": {"direct"}, "approval_group": {f.rule.ApprovalGroup}}
	if loc := post(rule, form); loc != "/rules?flash=Rule+"+fmt.Sprint(f.rule.ID)+"+saved." {
		t.Errorf("rule save redirect %s", loc)
	}
	saved, err := b.st.ReclaimRule(t.Context(), f.rule.ID)
	if err != nil {
		t.Fatal(err)
	}
	if saved.InactiveDays != 45 || saved.ResponseDays != 14 || len(saved.Departments) != 2 || saved.AssignmentPath != store.PathDirect || saved.IncludeNeverActive {
		t.Errorf("saved rule %+v", saved)
	}
	form.Set("inactive_days", "soon")
	if loc := post(rule, form); !strings.Contains(loc, "error=") {
		t.Errorf("invalid rule form: redirect %s", loc)
	}

	post("/exclusions", url.Values{"kind": {"upn_pattern"}, "value": {"*@board.contoso.com"}, "reason": {"board"}})
	r = get("/exclusions", "*@board.contoso.com", "every profile")
	id := regexp.MustCompile(`/exclusions/(\d+)/delete`).FindStringSubmatch(string(r.body))
	if id == nil {
		t.Fatal("no remove button")
	}
	post("/exclusions/"+id[1]+"/delete", url.Values{})
	if list, _ := b.st.Exclusions(t.Context(), -1); len(list) != 0 {
		t.Errorf("exclusions left: %d", len(list))
	}
	get("/reclaim/settings", "Only an administrator")
	if r := b.do(c, "POST", "/reclaim/settings", url.Values{"csrf": {csrf}, "cap_count": {"1"}}, htmlHdr); r.status != 403 {
		t.Errorf("manager saving settings: %d", r.status)
	}
	admin := b.client()
	acsrf := b.login(admin, "u-admin", password)
	r = b.do(admin, "POST", "/reclaim/settings", url.Values{"csrf": {acsrf}, "cap_count": {"7"}, "cap_percent": {"5"},
		"staleness_limit_hours": {"24"}, "undo_window_days": {"10"}}, htmlHdr)
	if r.status != 303 || !strings.Contains(r.header.Get("Location"), "Dry+run+is+off") {
		t.Fatalf("admin saves settings: %d %s", r.status, r.header.Get("Location"))
	}
	set, err := b.st.ReclaimSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if set.DryRun || set.CapCount != 7 || set.CapPercent != 5 || set.StalenessLimit != 24*time.Hour || set.UndoWindow != 10*24*time.Hour {
		t.Errorf("settings %+v", set)
	}
	// A bulk reclaim over the percentage cap (5% of 5 seats allows none)
	// comes back with the refusal and changes nothing.
	loc = post("/candidates/bulk", url.Values{"id": {fmt.Sprint(f.cands[0].ID)}, "action": {"reclaim"}, "return": {"/candidates?open=true"}})
	if !strings.Contains(loc, "error=") {
		t.Errorf("bulk reclaim over the cap: redirect %s, want an error", loc)
	}
	get(loc, "removal blocked: 1 removal(s) of SKU "+salesSKU+" due but the cap is 5% of its 5 seats (0); nothing was removed")
	if c, err := b.st.Candidate(t.Context(), f.cands[0].ID); err != nil || c.State != store.StateAwaitingApproval {
		t.Errorf("a refused bulk reclaim changed the candidate: %+v, %v", c, err)
	}
}
