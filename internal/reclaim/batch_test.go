package reclaim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

const assignLicenseRoute = "graph POST /users/{id}/assignLicense"

// capBatch picks the SKU with the most open direct candidates and returns
// its seat count in the tenant (prepaid enabled units) with those
// candidates.
func (x *env) capBatch() (string, int, []*store.Candidate) {
	x.t.Helper()
	per := map[string][]*store.Candidate{}
	best := ""
	for _, c := range x.open() {
		if c.AssignedByGroup != "" {
			continue
		}
		per[c.SKUID] = append(per[c.SKUID], c)
		if best == "" || len(per[c.SKUID]) > len(per[best]) {
			best = c.SKUID
		}
	}
	if best == "" {
		x.t.Fatal("no open candidate of a direct assignment")
	}
	k, err := x.ten.SKU(best)
	if err != nil {
		x.t.Fatal(err)
	}
	return best, k.Enabled, per[best]
}

// auditActions returns the audit log's entries with the given action.
func (x *env) auditActions(action string) []*store.AuditEntry {
	x.t.Helper()
	all, err := x.st.AuditEntries(x.ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		x.t.Fatal(err)
	}
	var out []*store.AuditEntry
	for _, a := range all {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

// TestReclaimManyCap: a batch reclaim is one run for the cap. A batch whose
// removals each fit the percentage cap but together exceed it (and one over
// the count cap) is refused as a whole, naming the SKU, count and limit,
// and changes nothing in the store or the tenant (no assignLicense
// request); the same batch with an explicit override removes every licence
// and the override is in the audit log. Simulator, SQLite and PostgreSQL.
func TestReclaimManyCap(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		x := setup(t, url, 120)
		x.rules(func(r *store.ReclaimRule) { r.NotifyUser = false })
		x.evaluate()
		sku, seats, cands := x.capBatch()
		// The smallest percentage that allows one removal of the SKU: each
		// candidate alone is within the cap, two together are not.
		pct := (100 + seats - 1) / seats
		allowed := seats * pct / 100
		if allowed < 1 || len(cands) < allowed+1 {
			t.Fatalf("SKU %s: %d seats, %d%% allows %d, %d candidates: the test needs more candidates than allowed", sku, seats, pct, allowed, len(cands))
		}
		picked := cands[:allowed+1]
		ids := make([]int64, len(picked))
		for i, c := range picked {
			ids[i] = c.ID
		}
		ids = append(ids, ids[0]) // a duplicate counts once

		tests := []struct {
			name          string
			count, pct    int
			want          []string
			singleAllowed bool
		}{
			{"percentage", 1000, pct, []string{fmt.Sprintf("%d removal(s) of SKU %s due", len(picked), sku),
				fmt.Sprintf("cap is %d%% of its %d seats (%d)", pct, seats, allowed), "nothing was removed"}, true},
			{"count", len(picked) - 1, 100, []string{fmt.Sprintf("%d removal(s) due but the cap is %d per run", len(picked), len(picked)-1), "nothing was removed"}, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				x.settings(func(s *store.ReclaimSettings) { s.DryRun, s.CapCount, s.CapPercent = false, tc.count, tc.pct })
				if tc.singleAllowed {
					set, err := x.st.ReclaimSettings(x.ctx)
					if err != nil {
						t.Fatal(err)
					}
					if why, err := x.e.capCheck(x.ctx, set, []batch{{x.profile(), picked[:1]}}); err != nil || why != "" {
						t.Fatalf("one removal alone is over the cap (%q, %v): the picked would not show the gap", why, err)
					}
				}
				blockedBefore := len(x.auditActions("reclaim.blocked"))
				res, err := x.e.ReclaimMany(x.ctx, ids, "user:test", "batch", RunOptions{})
				if !sam.IsCode(err, sam.ECONFLICT) || res != nil {
					t.Fatalf("over the cap: %+v, %v; want ECONFLICT", res, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(sam.ErrorMessage(err), w) {
						t.Errorf("refusal %q lacks %q", sam.ErrorMessage(err), w)
					}
				}
				if w := x.writes(); len(w) != 0 {
					t.Errorf("a refused picked wrote to the tenant: %v", w)
				}
				for _, c := range picked {
					got := x.candidate(c.ID)
					if got.State != c.State || got.Message != c.Message || got.Intent != store.IntentNone {
						t.Errorf("candidate %d changed by a refused picked: %s %q, was %s %q", c.ID, got.State, got.Message, c.State, c.Message)
					}
					if tr, err := x.st.CandidateTransitions(x.ctx, c.ID); err != nil || len(tr) != 1 {
						t.Errorf("candidate %d: %d transitions (%v), want only its creation", c.ID, len(tr), err)
					}
					if !x.holds(c.UserID, sku) {
						t.Errorf("user %s lost %s in a refused picked", c.UPN, sku)
					}
				}
				if n := len(x.auditActions("reclaim.blocked")); n != blockedBefore+1 {
					t.Errorf("%d reclaim.blocked audit entries, want %d", n, blockedBefore+1)
				}
			})
		}

		// The same picked, overridden: every licence is removed, audited.
		x.settings(func(s *store.ReclaimSettings) { s.CapCount, s.CapPercent = 1000, pct })
		consumed := x.consumed(sku)
		res, err := x.e.ReclaimMany(x.ctx, ids, "user:test", "batch", RunOptions{OverrideCap: true})
		if err != nil {
			t.Fatalf("override: %v", err)
		}
		if res.Removed != len(picked) || len(res.Items) != len(picked) || res.Failed() != 0 || res.Blocked != "" || res.ProfileID != x.p.ID {
			t.Fatalf("override: %s, %d items, %d failed; want %d removed", res.Summary(), len(res.Items), res.Failed(), len(picked))
		}
		for i, it := range res.Items {
			if it.ID != picked[i].ID || it.Candidate == nil || it.Candidate.State != store.StateClosedComplete {
				t.Errorf("item %d: %+v", i, it)
			}
			if x.holds(picked[i].UserID, sku) {
				t.Errorf("user %s still holds %s", picked[i].UPN, sku)
			}
		}
		if got := x.writes()[assignLicenseRoute]; got != int64(len(picked)) {
			t.Errorf("%d assignLicense requests, want %d", got, len(picked))
		}
		if got := x.consumed(sku); got != consumed-len(picked) {
			t.Errorf("consumed seats %d, want %d", got, consumed-len(picked))
		}
		over := x.auditActions("reclaim.cap_override")
		if len(over) != 1 || over[0].Actor != "user:test" || !strings.Contains(over[0].Detail, sku) || !strings.Contains(over[0].Detail, "overridden") {
			t.Errorf("cap override audit entries %+v", over)
		}
		if n := len(x.auditActions("reclaim.removed")); n != len(picked) {
			t.Errorf("%d reclaim.removed audit entries, want %d", n, len(picked))
		}
	})
}

// TestReclaimManyItems: candidates that cannot be reclaimed are reported one
// by one without stopping the others or counting against the cap; dry run
// only plans; an empty picked is invalid.
func TestReclaimManyItems(t *testing.T) {
	x := setup(t, dialects[0].url(t), 120)
	x.rules(func(r *store.ReclaimRule) { r.NotifyUser = false })
	x.evaluate()
	_, _, cands := x.capBatch()
	if len(cands) < 3 {
		t.Fatalf("%d candidates, want 3", len(cands))
	}
	if _, err := x.e.ReclaimMany(x.ctx, nil, "user:test", "", RunOptions{}); !sam.IsCode(err, sam.EINVALID) {
		t.Errorf("empty batch: %v, want EINVALID", err)
	}
	// Dry run (the default): plans only.
	res, err := x.e.ReclaimMany(x.ctx, []int64{cands[0].ID, cands[1].ID}, "user:test", "", RunOptions{})
	if err != nil || !res.DryRun || len(res.Planned) != 2 || res.Items[1].Planned == "" || !strings.HasPrefix(res.Items[1].Candidate.Message, dryRunPrefix) {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if w := x.writes(); len(w) != 0 {
		t.Fatalf("dry run wrote: %v", w)
	}
	// Live, cap of two: a skipped and a missing candidate do not count.
	x.settings(func(s *store.ReclaimSettings) { s.DryRun, s.CapCount, s.CapPercent = false, 2, 100 })
	if _, err := x.e.Skip(x.ctx, cands[2].ID, "user:test", "kept"); err != nil {
		t.Fatal(err)
	}
	res, err = x.e.ReclaimMany(x.ctx, []int64{cands[0].ID, cands[2].ID, 999999, cands[1].ID}, "user:test", "", RunOptions{})
	if err != nil {
		t.Fatalf("batch with closed and missing candidates: %v", err)
	}
	wantErr := []sam.Code{"", sam.ECONFLICT, sam.ENOTFOUND, ""}
	for i, it := range res.Items {
		if got := sam.ErrorCode(it.Err); it.Err != nil && got != wantErr[i] || it.Err == nil && wantErr[i] != "" {
			t.Errorf("item %d (%d): error %v, want %s", i, it.ID, it.Err, wantErr[i])
		}
	}
	if res.Removed != 2 || res.Failed() != 2 {
		t.Errorf("%s, %d failed; want 2 removed, 2 failed", res.Summary(), res.Failed())
	}
}
