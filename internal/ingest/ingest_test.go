package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

func generated(seed int64, users, envs int) mscloud.Config {
	return mscloud.Config{Seed: seed, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: seed, Users: users, Environments: envs}}}}
}

// TestGroundTruth syncs generated tenants of several shapes and compares
// every subscription with the simulator's ground truth; a second sync (delta,
// nothing changed) changes nothing.
func TestGroundTruth(t *testing.T) {
	tests := []struct {
		name        string
		seed        int64
		users, envs int
	}{
		{"400 users 2 environments", 1, 400, 2},
		{"1200 users 1 environment", 7, 1200, 1},
		{"150 users 3 environments", 42, 150, 3},
	}
	t.Parallel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, generated(tt.seed, tt.users, tt.envs))
			sr, ar := b.sync(false)
			if !sr.Run.Full || sr.Changes.Opened == 0 || sr.Changes.Closed != 0 {
				t.Errorf("first run: full=%v changes %+v", sr.Run.Full, sr.Changes)
			}
			if ar.Run.Counts["audit_rows"] == 0 {
				t.Errorf("activity read no audit rows")
			}
			if sr.Run.Status != sam.RunSucceeded || ar.Run.Status != sam.RunSucceeded {
				t.Errorf("run states %s, %s", sr.Run.Status, ar.Run.Status)
			}
			b.checkTruth()
			sr2, ar2 := b.sync(false)
			if sr2.Run.Full || sr2.Changes != (store.SubscriptionChanges{}) {
				t.Errorf("second run: full=%v changes %+v, want a delta run without changes", sr2.Run.Full, sr2.Changes)
			}
			if ar2.Run.Counts["audit_rows"] != 0 {
				t.Errorf("second activity run read %d audit rows past the watermark, want 0", ar2.Run.Counts["audit_rows"])
			}
			b.checkTruth()
		})
	}
}

// TestResumeAfterInterruption cancels runs after a few pages, again and
// again, and checks that resumed runs end in the ground truth with a single
// run record per job.
func TestResumeAfterInterruption(t *testing.T) {
	t.Parallel()
	b := setup(t, generated(3, 2500, 2))
	b.sy.StageBatchRows = 1 // stage every page, so that every page is progress
	pages := 0
	var cancel context.CancelFunc
	b.sy.Progress = func(p ingest.Progress) {
		if p.Phase == "users" || p.Phase == "audits" || p.Phase == "systemusers" {
			pages++
			if pages%3 == 0 && cancel != nil {
				cancel()
			}
		}
	}
	interrupted := 0
	for _, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
		for attempt := 0; ; attempt++ {
			if attempt > 200 {
				t.Fatalf("%s never finished", kind)
			}
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			var err error
			if kind == sam.RunSubscriptions {
				_, err = b.sy.Subscriptions(ctx, b.profile(), ingest.SubscriptionOptions{})
			} else {
				_, err = b.sy.Activity(ctx, b.profile())
			}
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v", kind, err)
			}
			interrupted++
		}
		runs, err := b.st.Runs(b.ctx, store.RunFilter{ProfileID: b.p.ID, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Status != sam.RunSucceeded {
			t.Errorf("%s: %d runs, want one succeeded run", kind, len(runs))
		}
	}
	if interrupted < 3 {
		t.Errorf("only %d interruptions; the test did not exercise resumption", interrupted)
	}
	cancel = nil
	b.checkTruth()
}

// TestFaults syncs through throttling (10%), 503s (2%), dropped
// connections (1%) and tokens that expire every 2 seconds, and ends in the
// ground truth and in exactly the state of a fault-free sync, with the
// throttles and retries counted on the runs.
func TestFaults(t *testing.T) {
	t.Parallel()
	cfg := generated(5, 1000, 2)
	rates := mscloud.FaultRates{Throttle: 0.10, Unavailable: 0.02, Drop: 0.01, RetryAfter: 0.01}
	cfg.Faults = mscloud.Faults{Graph: rates, Dataverse: rates}
	cfg.TokenLifetime = 2 * time.Second
	b := setup(t, cfg)
	// Dataverse sends Retry-After in whole seconds (at least 1 s): the test
	// keeps the default page size so that its few dozen requests meet a
	// handful of faults.
	sr, ar := b.sync(false)
	b.checkTruth()
	if sr.Run.Throttles+ar.Run.Throttles == 0 || sr.Run.Retries+ar.Run.Retries == 0 {
		t.Errorf("runs record throttles %d+%d, retries %d+%d; want some", sr.Run.Throttles, ar.Run.Throttles, sr.Run.Retries, ar.Run.Retries)
	}
	stored, err := b.st.Run(b.ctx, ar.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Requests != ar.Run.Requests || stored.Retries != ar.Run.Retries || stored.Throttles != ar.Run.Throttles {
		t.Errorf("stored run counters %d/%d/%d, want %d/%d/%d", stored.Requests, stored.Throttles, stored.Retries,
			ar.Run.Requests, ar.Run.Throttles, ar.Run.Retries)
	}
	t.Logf("subscriptions: %d requests, %d throttles, %d retries; activity: %d requests, %d throttles, %d retries",
		sr.Run.Requests, sr.Run.Throttles, sr.Run.Retries, ar.Run.Requests, ar.Run.Throttles, ar.Run.Retries)

	if err := b.srv.SetFaults(mscloud.Faults{}); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(t.TempDir(), "clean.db")
	b.syncCopy(clean)
	compareStores(t, b, b.path, clean)
}

// TestPermanentFailure: a rejected secret finishes the run as failed and
// puts the profile in needs_reauth; nothing is left to resume.
func TestPermanentFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, generated(9, 50, 1))
	b.connect("not-the-secret")
	_, err := b.sy.Subscriptions(b.ctx, b.profile(), ingest.SubscriptionOptions{})
	if !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("err = %v, want EUNAUTHORIZED", err)
	}
	p := b.profile()
	if p.State != sam.ProfileNeedsReauth || p.StateMessage == "" {
		t.Errorf("profile state %s %q, want needs_reauth with a message", p.State, p.StateMessage)
	}
	if _, err := b.st.UnfinishedRun(b.ctx, p.ID, sam.RunSubscriptions); !sam.IsCode(err, sam.ENOTFOUND) {
		t.Errorf("unfinished run after a permanent failure: %v", err)
	}
	runs, _ := b.st.Runs(b.ctx, store.RunFilter{ProfileID: p.ID})
	if len(runs) != 1 || runs[0].Status != sam.RunFailed || runs[0].Error == "" {
		t.Errorf("runs = %+v, want one failed run with its error", runs)
	}
	if len(runs) == 1 && containsSecret(runs[0].Error, "not-the-secret") {
		t.Errorf("run error shows the secret: %s", runs[0].Error)
	}
	// With the right secret the profile connects again.
	b.connect(b.srv.Info().ClientSecret)
	b.sync(false)
	if p := b.profile(); p.State != sam.ProfileConnected {
		t.Errorf("state after a good sync = %s", p.State)
	}
	b.checkTruth()
}

func containsSecret(s, secret string) bool {
	for i := 0; i+len(secret) <= len(s); i++ {
		if s[i:i+len(secret)] == secret {
			return true
		}
	}
	return false
}

// TestDelta mutates the tenant after a full sync (assign, remove, disable,
// delete) and checks that a delta sync applies exactly those changes for a
// small fraction of the full sync's requests.
func TestDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, generated(13, 3000, 1))
	full, _ := b.sync(false)
	b.checkTruth()
	before := openSubs(t, b.st, b.p.ID)

	// Pick users: one without any subscription gets a tracked SKU, one loses
	// a direct licence, one is disabled, one is deleted.
	var sku string
	for _, k := range b.ten.SKUs() {
		if k.InCatalog && k.Available() > 0 && strings.HasPrefix(k.PartNumber, "DYN365_ENTERPRISE_SALES") {
			sku = k.SKUID
		}
	}
	if sku == "" {
		t.Fatal("no Sales Enterprise SKU with free seats in the tenant")
	}
	holders := map[string]*sam.Subscription{}
	for k, s := range before {
		if s.AssignedByGroup == "" {
			holders[k.user] = s
		}
	}
	truth, err := b.ten.Truth(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var none, direct, disable, del string
	for _, u := range truth.Users {
		_, holds := holders[u.UserID]
		switch {
		case len(u.Subscriptions) == 0 && none == "" && u.AccountEnabled && usageLocation(t, b, u.UserID) != "":
			none = u.UserID
		case holds && direct == "":
			direct = u.UserID
		case holds && disable == "" && u.AccountEnabled:
			disable = u.UserID
		case holds && del == "":
			del = u.UserID
		}
	}
	if none == "" || direct == "" || disable == "" || del == "" {
		t.Fatalf("tenant lacks users for the mutations: %q %q %q %q", none, direct, disable, del)
	}
	if _, err := b.ten.AssignLicense(none, []tenant.AssignedLicense{{SKUID: sku, DisabledPlans: []string{}}}, nil); err != nil {
		t.Fatalf("assign: %v", err)
	}
	if _, err := b.ten.AssignLicense(direct, nil, []string{holders[direct].SKUID}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := b.ten.DisableUser(disable); err != nil {
		t.Fatal(err)
	}
	if err := b.ten.DeleteUser(del, false); err != nil {
		t.Fatal(err)
	}

	delta, _ := b.sync(false)
	if delta.Run.Full {
		t.Fatal("second run is full, want delta")
	}
	b.checkTruth()
	after := openSubs(t, b.st, b.p.ID)
	opened, closed := 0, 0
	for k := range after {
		if _, ok := before[k]; !ok {
			opened++
			if k.user != none {
				t.Errorf("unexpected new subscription %v", k)
			}
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			closed++
			if k.user != direct && k.user != del {
				t.Errorf("unexpected closed subscription %v", k)
			}
		}
	}
	if opened != 1 || delta.Changes.Opened != 1 || closed != delta.Changes.Closed || closed < 2 {
		t.Errorf("opened %d closed %d, changes %+v", opened, closed, delta.Changes)
	}
	for k, s := range after {
		if k.user == disable && (s.AccountEnabled || s.UsageClass != sam.UsageDisabled) {
			t.Errorf("disabled user's subscription %v: enabled %v class %s", k, s.AccountEnabled, s.UsageClass)
		}
	}
	// A full listing costs requests in proportion to the tenant (999 users
	// a page); the delta round reads only the 4 changed users: one page,
	// plus subscribedSkus.
	if n := delta.Run.Counts["users"] + delta.Run.Counts["users_removed"]; n != 4 {
		t.Errorf("delta run read %d users, want the 4 changed ones", n)
	}
	if delta.Run.Requests > 2 || delta.Run.Requests*3 > full.Run.Requests {
		t.Errorf("delta sync sent %d requests, full sync %d: want 2, a small fraction", delta.Run.Requests, full.Run.Requests)
	}
	t.Logf("full subscriptions run: %d requests; delta: %d requests, changes %+v", full.Run.Requests, delta.Run.Requests, delta.Changes)
}

// TestExpiredDeltaLink: a delta link older than Graph keeps it (410
// resyncRequired) makes the run start again as a full listing.
func TestExpiredDeltaLink(t *testing.T) {
	t.Parallel()
	cfg := generated(17, 300, 1)
	cfg.DeltaTokenLifetime = time.Hour
	b := setup(t, cfg)
	b.sync(false)
	b.ten.Advance(2 * time.Hour)
	sr, _ := b.sync(false)
	if !sr.Run.Full || len(sr.Run.Warnings) == 0 {
		t.Errorf("run after an expired delta link: full=%v warnings %q", sr.Run.Full, sr.Run.Warnings)
	}
	// Sign-ins observed by both full runs stay evidence; the ground truth
	// knows only the latest.
	b.signInHistory = true
	b.checkTruth()
}

func usageLocation(t *testing.T, b *bundle, userID string) string {
	u, err := b.ten.User(userID)
	if err != nil {
		t.Fatal(err)
	}
	return u.UsageLocation
}

// TestScenarios syncs scenario tenants built for exact cases and compares
// every subscription with the ground truth, then checks the cases by name:
// complete coverage (direct, group, direct and group, disabled, never
// active, web services only, records only, one environment only, an SKU
// unknown to the catalog, Office ignored, Entra sign-in counted only for
// untracked models, evidence on the first day of the window, ties between
// sources), and gaps in coverage (auditing off, user access auditing off,
// retention shorter than the window, no sign-in permission).
func TestScenarios(t *testing.T) {
	t.Parallel()
	type want struct {
		class  sam.UsageClass
		source sam.ActivitySource
		group  bool
	}
	tests := []struct {
		file     string
		subs     map[string]want // UPN → expected subscription (users holding one SKU)
		warnings []string
	}{
		{"testdata/scenario-complete.json", map[string]want{
			"daily@fabrikam.com":        {sam.UsageActive, sam.SourceRecord, false},
			"group@fabrikam.com":        {sam.UsageInactive30, sam.SourceAccessWeb, true},
			"both@fabrikam.com":         {sam.UsageInactive60, sam.SourceAccessWeb, false},
			"leaver@fabrikam.com":       {sam.UsageDisabled, sam.SourceAccessWeb, false},
			"never@fabrikam.com":        {sam.UsageNeverActive, "", false},
			"api@fabrikam.com":          {sam.UsageActive, sam.SourceAccessAPI, false},
			"records@fabrikam.com":      {sam.UsageLow, sam.SourceRecord, false},
			"oneenv@fabrikam.com":       {sam.UsageActive, sam.SourceAccessWeb, false},
			"isv@fabrikam.com":          {sam.UsageLow, sam.SourceSignIn, false},
			"signin-sales@fabrikam.com": {sam.UsageNeverActive, "", false},
			"powerapps@fabrikam.com":    {sam.UsageLow, sam.SourceSignIn, false},
			"edge90@fabrikam.com":       {sam.UsageInactive90, sam.SourceAccessWeb, false},
			"tie@fabrikam.com":          {sam.UsageLow, sam.SourceAccessWeb, false},
			"teams@fabrikam.com":        {sam.UsageActive, sam.SourceRecord, false},
		}, nil},
		{"testdata/scenario-gaps.json", map[string]want{
			"active@tailspin.com":    {sam.UsageActive, sam.SourceAccessWeb, false},
			"dormant@tailspin.com":   {sam.UsageUnknown, sam.SourceAccessWeb, false},
			"auditoff@tailspin.com":  {sam.UsageUnknown, "", false},
			"never@tailspin.com":     {sam.UsageUnknown, "", false},
			"shortonly@tailspin.com": {sam.UsageUnknown, "", false},
			"disabled@tailspin.com":  {sam.UsageDisabled, "", false},
			"apps@tailspin.com":      {sam.UsageLow, sam.SourceRecord, false},
		}, []string{"auditing is off", "user access auditing is off", "shorter than the analysis window", "sign-in activity cannot be read", "tailspin-noread could not be read"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			b := setup(t, mscloud.Config{Tenants: []mscloud.TenantConfig{{Scenario: tt.file}}})
			sr, ar := b.sync(false)
			b.checkTruth()
			subs := openSubs(t, b.st, b.p.ID)
			byUPN := map[string][]*sam.Subscription{}
			for _, s := range subs {
				byUPN[s.UPN] = append(byUPN[s.UPN], s)
			}
			for upn, w := range tt.subs {
				got := byUPN[upn]
				if len(got) != 1 {
					t.Errorf("%s: %d subscriptions, want 1", upn, len(got))
					continue
				}
				s := got[0]
				if s.UsageClass != w.class || s.LastActivitySource != string(w.source) || (s.AssignedByGroup != "") != w.group {
					t.Errorf("%s: class %s source %q group %q; want %s %q group %v", upn, s.UsageClass, s.LastActivitySource, s.AssignedByGroup, w.class, w.source, w.group)
				}
			}
			for upn := range byUPN {
				if _, ok := tt.subs[upn]; !ok {
					t.Errorf("unexpected subscription of %s (Office-only and deleted users hold none)", upn)
				}
			}
			warnings := strings.Join(append(sr.Run.Warnings, ar.Run.Warnings...), "\n")
			for _, w := range tt.warnings {
				if !strings.Contains(warnings, w) {
					t.Errorf("warnings lack %q:\n%s", w, warnings)
				}
			}
			if tt.warnings == nil && warnings != "" {
				t.Errorf("unexpected warnings:\n%s", warnings)
			}
			models, err := b.st.SoftwareModels(b.ctx, store.ModelFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range models {
				if m.PartNumber == "ENTERPRISEPACK" {
					t.Error("Office SKU stored as a software model")
				}
				if m.SKUID == "22222222-3333-4444-8555-666666666666" && (m.Mapped || m.PartNumber != "ISV_ROUTING_ADDON") {
					t.Errorf("unknown SKU model = %+v, want unmapped ISV_ROUTING_ADDON", m)
				}
			}
		})
	}
}

// TestUnreadableCheckpoint: unfinished runs whose checkpoints cannot be
// read start again from scratch instead of failing forever.
func TestUnreadableCheckpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, generated(23, 200, 2))
	for _, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
		r := &sam.Run{ProfileID: b.p.ID, Kind: kind, Status: sam.RunRunning, Counts: map[string]int64{}}
		if err := b.st.StartRun(b.ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Checkpoint = []byte(`{"next": 42, garbage`)
		if err := b.st.SaveRunProgress(b.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sr, ar := b.sync(false)
	if !sr.Resumed || !ar.Resumed || !sr.Run.Full {
		t.Errorf("resumed %v/%v full %v: want the unfinished runs taken over, the subscriptions run as full", sr.Resumed, ar.Resumed, sr.Run.Full)
	}
	b.checkTruth()
}

// TestSyncSideBySide: Sync reads subscriptions and activity at the same
// time and ends exactly as the two runs one after the other; when the
// subscriptions run fails after the activity run has read everything, the
// activity run does not commit and the next Sync resumes it.
func TestSyncSideBySide(t *testing.T) {
	t.Parallel()
	// 6,000 users are seven Graph pages of 999. When the first users
	// progress comes (Graph fails from then on), at most five were read:
	// the one or two staged, the two read ahead and the one being fetched.
	b := setup(t, generated(11, 6000, 2))
	envs := len(b.profile().Environments)
	var graphFails sync.Once
	activityCommits := make(chan struct{})
	var commitSeen sync.Once
	b.sy.Progress = func(p ingest.Progress) {
		switch {
		case p.Kind == sam.RunActivity && p.Phase == "commit":
			commitSeen.Do(func() { close(activityCommits) })
		case p.Kind == sam.RunSubscriptions && p.Phase == "users":
			graphFails.Do(func() {
				// Graph fails from now on; the subscriptions run waits
				// here until the activity run has staged everything and
				// would commit (shortly after, without the gate).
				if err := b.srv.SetFaults(mscloud.Faults{Graph: mscloud.FaultRates{ServerError: 1}}); err != nil {
					t.Error(err)
				}
				waitActivityRead(t, b, envs)
				select {
				case <-activityCommits:
				case <-time.After(300 * time.Millisecond):
				}
			})
		}
	}
	res, err := b.sy.Sync(b.ctx, b.profile(), ingest.SubscriptionOptions{}, func(*ingest.SubscriptionResult) {
		t.Error("afterSubscriptions called for a failed subscriptions run")
	})
	b.sy.Progress = nil
	if err == nil || res.Subscriptions == nil || res.Subscriptions.Run == nil || res.Activity == nil {
		t.Fatalf("sync with Graph failing after the first users page: err %v, result %+v", err, res)
	}
	runs, err := b.st.Runs(b.ctx, store.RunFilter{ProfileID: b.p.ID, Kind: sam.RunActivity})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d activity runs, want 1", len(runs))
	}
	for _, r := range runs {
		if r.Status != sam.RunRunning {
			t.Errorf("activity run %d is %s after the subscriptions run failed, want running (resumable)", r.ID, r.Status)
		}
	}

	if err := b.srv.SetFaults(mscloud.Faults{}); err != nil {
		t.Fatal(err)
	}
	committedFirst := false
	res, err = b.sy.Sync(b.ctx, b.profile(), ingest.SubscriptionOptions{}, func(sr *ingest.SubscriptionResult) {
		_, err := b.st.UnfinishedRun(b.ctx, b.p.ID, sam.RunActivity)
		committedFirst = sr.Run.Status == sam.RunSucceeded && err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !committedFirst {
		t.Error("the subscriptions run did not commit before the activity run")
	}
	if res.Activity == nil || !res.Activity.Resumed || res.Activity.Run.Status != sam.RunSucceeded || res.Activity.Run.Counts["audit_rows"] == 0 {
		t.Fatalf("activity = %+v, want the stopped run resumed and succeeded", res.Activity)
	}
	if res.Subscriptions.Run.Requests == 0 || res.Activity.Run.Requests == 0 {
		t.Errorf("requests counted: subscriptions %d, activity %d", res.Subscriptions.Run.Requests, res.Activity.Run.Requests)
	}
	for _, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
		runs, err := b.st.Runs(b.ctx, store.RunFilter{ProfileID: b.p.ID, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Status != sam.RunSucceeded {
			t.Errorf("%s: %d runs, want the one resumed and succeeded", kind, len(runs))
		}
	}
	b.checkTruth()
	clean := filepath.Join(t.TempDir(), "sequential.db")
	b.syncCopy(clean)
	compareStores(t, b, b.path, clean)
}

// waitActivityRead waits until the profile's activity run has staged the
// last of its envs environments (its checkpoint is past them) or is no
// longer unfinished.
func waitActivityRead(t *testing.T, b *bundle, envs int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		r, err := b.st.UnfinishedRun(b.ctx, b.p.ID, sam.RunActivity)
		if sam.IsCode(err, sam.ENOTFOUND) {
			return
		}
		if err != nil {
			t.Error(err)
			return
		}
		var cp struct {
			Env int `json:"env"`
		}
		if len(r.Checkpoint) > 0 && json.Unmarshal(r.Checkpoint, &cp) == nil && cp.Env >= envs {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the activity run did not read every environment within a minute")
}

// rejectingDataverse is an environment whose audit settings answer that
// the credentials were rejected, as Dataverse does for a delegated sign-in
// it no longer accepts while Graph still does.
type rejectingDataverse struct{ ingest.Dataverse }

func (rejectingDataverse) AuditSettings(context.Context) (ingest.AuditSettings, error) {
	return ingest.AuditSettings{}, sam.Errorf(sam.EUNAUTHORIZED, "Dataverse rejected the sign-in")
}

// TestSyncActivityRejected: when the activity run of a side-by-side Sync
// fails for good while the subscriptions run goes on, the profile ends in
// the state the activity's failure sets, as with one run after the other
// (the subscriptions commit, which marks the profile connected, does not
// overwrite it).
func TestSyncActivityRejected(t *testing.T) {
	t.Parallel()
	b := setup(t, generated(13, 3000, 1))
	dv := b.sy.Dataverse
	b.sy.Dataverse = func(env sam.Environment) (ingest.Dataverse, error) {
		d, err := dv(env)
		return rejectingDataverse{d}, err
	}
	res, err := b.sy.Sync(b.ctx, b.profile(), ingest.SubscriptionOptions{}, nil)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("sync: %v, want EUNAUTHORIZED", err)
	}
	if res.Subscriptions == nil || res.Subscriptions.Run.Status != sam.RunSucceeded {
		t.Fatalf("subscriptions = %+v, want a committed run", res.Subscriptions)
	}
	if res.Activity == nil || res.Activity.Run.Status != sam.RunFailed {
		t.Fatalf("activity = %+v, want a failed run", res.Activity)
	}
	if p := b.profile(); p.State != sam.ProfileNeedsReauth {
		t.Errorf("profile state %s %q, want needs_reauth (set by the activity run after the subscriptions commit)", p.State, p.StateMessage)
	}
	// The subscriptions commit left usage to the activity commit, which
	// failed: Sync computed it, as a recompute now finds nothing to change.
	after := openSubs(t, b.st, b.p.ID)
	if err := b.st.RecomputeUsage(b.ctx, b.p.ID, b.ten.Now()); err != nil {
		t.Fatal(err)
	}
	known := 0
	for k, want := range openSubs(t, b.st, b.p.ID) {
		got := after[k]
		if got == nil || got.UsageClass != want.UsageClass || got.ActiveDays30 != want.ActiveDays30 ||
			got.ActiveDays90 != want.ActiveDays90 || got.LastActivitySource != want.LastActivitySource {
			t.Errorf("user %s SKU %s after the sync: %+v, want the recomputed %+v", k.user, k.sku, got, want)
			break
		}
		if want.UsageClass != sam.UsageUnknown {
			known++
		}
	}
	if known == 0 {
		t.Error("every subscription's usage is unknown: the test shows nothing")
	}
}
