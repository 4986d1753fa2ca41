package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// Variants of StagedEvidenceUsage.
const (
	VariantEnvironmentRemoved = "environment removed"
	VariantOldRows            = "rows before the analysis start"
	VariantStagedElsewhere    = "second batch staged by another store"
)

// StagedEvidenceUsage runs, in the fresh store s, a subscriptions run and an
// activity run whose evidence tries the edges of a recompute (two
// environments, a key staged again in a later batch, equal times of two
// sources, evidence before the 90-day window and on its first day, on the
// first day of the 30-day window, an unmapped Dataverse user, sign-ins of
// untracked models) and returns every subscription's usage, as text keyed
// by user and SKU. An implementation that sums up staged evidence as it
// goes compares this with and without doing so. The variant changes the
// run: VariantEnvironmentRemoved removes the second environment from the
// profile before the commit, VariantOldRows starts the analysis 60 days
// ago, after some of the rows staged; VariantStagedElsewhere stages the
// second batch through other, another store of the same database (another
// process resuming the run).
func StagedEvidenceUsage(t *testing.T, s store.Store, variant string, other store.Store) map[string]string {
	t.Helper()
	removeEnv := variant == VariantEnvironmentRemoved
	p := newProfile(t, s, "summed", 2)
	p.AnalyzeFrom = now.AddDate(0, 0, -200)
	if variant == VariantOldRows {
		p.AnalyzeFrom = now.AddDate(0, 0, -60)
	}
	must(t, s.UpdateProfile(ctx(t), p))
	e0, e1 := p.Environments[0].ID, p.Environments[1].ID
	signedIn := func(u store.StagedUser, at time.Time) store.StagedUser {
		u.LastSignIn = &at
		return u
	}
	syncSubs(t, s, p, true, now.Add(-2*time.Hour), signedIn(staged(1, skuSales, skuApps), now.AddDate(0, 0, -3)),
		staged(2, skuSales), signedIn(staged(3, skuApps), now.AddDate(0, 0, -50)), staged(4, skuSales), staged(5, skuSales),
		staged(6, skuSales))

	r := startRun(t, s, p.ID, sam.RunActivity, false)
	var users []store.SystemUser
	for n := 1; n <= 5; n++ {
		users = append(users, store.SystemUser{SystemUserID: sysUser(n), AADObjectID: user(n)})
	}
	users = append(users, store.SystemUser{SystemUserID: sysUser(6)}) // no Entra user: unmapped
	must(t, s.StageSystemUsers(ctx(t), r, e0, users))
	must(t, s.StageSystemUsers(ctx(t), r, e1, users[:3]))
	// Rows as a sync stages them: resolved to their Entra user.
	row := func(env int64, n int, at time.Time, src sam.ActivitySource, events int64) store.StagedActivity {
		a := act(env, n, at, src, events)
		a.Resolved = true
		if n <= 5 {
			a.UserID = user(n)
		}
		return a
	}
	d90 := sam.Day(now).AddDate(0, 0, -89)
	d30 := sam.Day(now).AddDate(0, 0, -29)
	must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{
		row(e0, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 2),
		row(e0, 1, now.Add(-time.Hour), sam.SourceRecord, 1), // same time: the smaller source name wins
		row(e0, 2, now.AddDate(0, 0, -10), sam.SourceAccessAPI, 1),
		row(e0, 2, now.AddDate(0, 0, -45), sam.SourceRecord, 3),
		row(e0, 4, now.AddDate(0, 0, -100), sam.SourceAccessWeb, 1), // before the window: last activity only
		row(e0, 6, now.Add(-time.Hour), sam.SourceAccessWeb, 5),     // unmapped
		row(e1, 1, now.Add(-time.Hour), sam.SourceAccessWeb, 1),     // the same key in another environment
		row(e1, 3, now.AddDate(0, 0, -20), sam.SourceAccessAPI, 1),
	}))
	r.Checkpoint = []byte("batch-2")
	second := s
	if variant == VariantStagedElsewhere {
		second = other
	}
	must(t, second.StageActivity(ctx(t), r, []store.StagedActivity{
		row(e0, 1, now.Add(-30*time.Minute), sam.SourceAccessWeb, 1), // a key staged again, later
		row(e0, 2, now.AddDate(0, 0, -10), sam.SourceAccessAPI, 2),
		row(e1, 2, now.AddDate(0, 0, -2), sam.SourceAccessWeb, 1),                 // only in the second environment
		row(e0, 5, d90.Add(time.Hour), sam.SourceRecord, 1),                       // the window's first day
		row(e0, 5, d90.Add(-time.Hour), sam.SourceRecord, 1),                      // the day before it
		row(e0, 5, d30.Add(time.Minute), sam.SourceAccessWeb, 1),                  // the 30-day window's first day
		row(e1, 3, now.AddDate(0, 0, -20).Add(time.Hour), sam.SourceRecord, 1),    // the same day, another source
		row(e0, 3, now.AddDate(0, 0, -20).Add(time.Hour), sam.SourceAccessAPI, 1), // the same time: its smaller name wins
	}))
	if removeEnv {
		p.Environments = p.Environments[:1]
		must(t, s.UpdateProfile(ctx(t), p))
	}
	audits := []sam.EnvironmentAudit{auditOK(e0, now)}
	if !removeEnv {
		audits = append(audits, auditOK(e1, now))
	}
	_, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: audits})
	must(t, err)

	subs, err := s.Subscriptions(ctx(t), store.SubscriptionFilter{ProfileID: p.ID})
	must(t, err)
	out := map[string]string{}
	for _, x := range subs {
		last := "never"
		if x.LastActivity != nil {
			last = x.LastActivity.UTC().Format(time.RFC3339Nano)
		}
		out[x.UserID+"/"+x.SKUID] = fmt.Sprintf("last %s (%s), %d/%d days, %s", last, x.LastActivitySource,
			x.ActiveDays30, x.ActiveDays90, x.UsageClass)
	}
	if len(out) != 7 {
		t.Fatalf("%d subscriptions, want 7", len(out))
	}
	return out
}

// CheckStagedEvidenceSummary runs StagedEvidenceUsage in fresh stores from
// open, with summaries of staged evidence on and off (summarize switches
// them, for runs started afterwards), and checks that both end the same
// and as expected. s.SummariesUsed counts the commits that took the
// summary: one for the plain run, none for the variants, where it cannot
// stand for the staged rows. newDB returns the address of a new, empty
// database, and open opens a store of an address (several may be open at
// once).
func CheckStagedEvidenceSummary(t *testing.T, newDB func(t *testing.T) string, open func(ctx context.Context, addr string) (store.Store, error), summarize func(on bool)) {
	openAt := func(t *testing.T, addr string) store.Store {
		t.Helper()
		s, err := open(t.Context(), addr)
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	type counter interface{ SummariesUsed() int64 }
	at := func(d time.Time) string { return d.UTC().Format(time.RFC3339Nano) }
	// What the evidence says, whichever way the commit reads it.
	want := map[string]string{
		key(1, skuSales): "last " + at(now.Add(-30*time.Minute)) + " (dataverse:access_web), 1/1 days, low_usage",
		key(1, skuApps):  "last " + at(now.Add(-30*time.Minute)) + " (dataverse:access_web), 2/2 days, low_usage",
		key(2, skuSales): "last " + at(now.AddDate(0, 0, -2)) + " (dataverse:access_web), 2/3 days, low_usage",
		key(3, skuApps):  "last " + at(now.AddDate(0, 0, -20).Add(time.Hour)) + " (dataverse:access_api), 1/2 days, low_usage",
		key(4, skuSales): "last " + at(now.AddDate(0, 0, -100)) + " (dataverse:access_web), 0/0 days, inactive_90",
		key(5, skuSales): "last " + at(sam.Day(now).AddDate(0, 0, -29).Add(time.Minute)) + " (dataverse:access_web), 1/2 days, low_usage",
		key(6, skuSales): "last never (), 0/0 days, never_active",
	}
	for _, variant := range []string{"", VariantEnvironmentRemoved, VariantOldRows, VariantStagedElsewhere} {
		t.Run("run "+variant, func(t *testing.T) {
			addr := newDB(t)
			on := openAt(t, addr)
			got := StagedEvidenceUsage(t, on, variant, openAt(t, addr))
			summarize(false)
			addr = newDB(t)
			off := openAt(t, addr)
			plain := StagedEvidenceUsage(t, off, variant, openAt(t, addr))
			summarize(true)
			for k, v := range plain {
				if got[k] != v {
					t.Errorf("%s: %s with the summary, %s reading the staged rows", k, got[k], v)
				}
			}
			if variant == "" {
				for k, v := range want {
					if plain[k] != v {
						t.Errorf("%s: %s, want %s", k, plain[k], v)
					}
				}
			}
			wantUsed := int64(1)
			if variant != "" {
				wantUsed = 0
			}
			if c, ok := on.(counter); ok && c.SummariesUsed() != wantUsed {
				t.Errorf("%d commits took the summary, want %d", c.SummariesUsed(), wantUsed)
			}
			if c, ok := off.(counter); ok && c.SummariesUsed() != 0 {
				t.Errorf("%d commits took a summary while summaries were off", c.SummariesUsed())
			}
		})
	}
}
