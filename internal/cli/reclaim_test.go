package cli

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// TestReclaimCommands drives rules, exclusions, simulation, evaluation,
// settings and candidate actions through the command line against a synced
// simulator tenant.
func TestReclaimCommands(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 9, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 9, Users: 120, Environments: 1}}}})
	ten := srv.Tenant()
	now := ten.Now().Format(time.RFC3339Nano)
	e.ok("", "sync", "--profile", "sim", "--now", now)

	// Simulation creates nothing, and longer thresholds select fewer.
	var sim []SimulationRow
	if err := json.Unmarshal([]byte(e.ok("", "reclaim", "simulate", "--profile", "sim", "--days", "30,90", "--now", now, "-o", "json")), &sim); err != nil {
		t.Fatal(err)
	}
	total := map[int]int{}
	for _, r := range sim {
		if r.PartNumber == "(total)" {
			total[r.Days] = r.Count
		}
	}
	if total[30] == 0 || total[90] > total[30] {
		t.Fatalf("simulation totals %v", total)
	}
	if out := e.ok("", "candidates", "list", "-o", "csv"); strings.Count(out, "\n") != 1 {
		t.Fatalf("simulate created candidates:\n%s", out)
	}

	// Evaluation creates the default rules and candidates.
	var ev struct {
		RulesCreated int `json:"rules_created"`
		Created      int `json:"created"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "reclaim", "evaluate", "--profile", "sim", "--now", now, "-o", "json")), &ev); err != nil {
		t.Fatal(err)
	}
	var rules []RuleRow
	if err := json.Unmarshal([]byte(e.ok("", "rules", "list", "--profile", "sim", "-o", "json")), &rules); err != nil {
		t.Fatal(err)
	}
	if ev.RulesCreated == 0 || len(rules) != ev.RulesCreated || ev.Created == 0 {
		t.Fatalf("evaluate: %+v, %d rules", ev, len(rules))
	}
	if r := rules[0]; !r.Enabled || r.InactiveDays != 60 || !r.IncludeNeverActive || r.GraceDays != 30 || !r.NotifyUser || r.ResponseDays != 7 {
		t.Errorf("default rule = %+v", r)
	}
	id := strconv.FormatInt(rules[0].ID, 10)
	var edited RuleRow
	if err := json.Unmarshal([]byte(e.ok("", "rules", "set", id, "--inactive-days", "45", "--countries", "FR, DE", "--path", "direct", "-o", "json")), &edited); err != nil {
		t.Fatal(err)
	}
	if edited.InactiveDays != 45 || strings.Join(edited.Countries, ",") != "FR,DE" || edited.AssignmentPath != "direct" || edited.GraceDays != 30 {
		t.Errorf("rules set: %+v", edited)
	}
	if show := e.ok("", "rules", "show", id); !strings.Contains(show, "inactive 45 days") || !strings.Contains(show, "countries FR/DE") {
		t.Errorf("rules show:\n%s", show)
	}
	if _, errs, code := e.run("", "rules", "set", id, "--path", "sideways"); code != sam.ExitUsage || !strings.Contains(errs, "any, direct or group") {
		t.Errorf("bad path: exit %d %s", code, errs)
	}

	// Candidates, and an exclusion hides one at once.
	var cands []CandidateRow
	if err := json.Unmarshal([]byte(e.ok("", "candidates", "list", "--profile", "sim", "-o", "json")), &cands); err != nil {
		t.Fatal(err)
	}
	if len(cands) == 0 {
		t.Fatal("no candidates listed")
	}
	victim := cands[0]
	e.ok("", "exclusions", "add", "--kind", "user", "--value", strings.ToUpper(victim.UPN), "--reason", "board member")
	var excl []ExclusionRow
	if err := json.Unmarshal([]byte(e.ok("", "exclusions", "list", "-o", "json")), &excl); err != nil {
		t.Fatal(err)
	}
	if len(excl) != 1 || excl[0].Value != strings.ToLower(victim.UPN) || excl[0].Profile != "" {
		t.Fatalf("exclusions = %+v", excl)
	}
	if out := e.ok("", "candidates", "list"); strings.Contains(out, victim.UPN) {
		t.Errorf("an excluded user is listed:\n%s", out)
	}
	e.ok("", "exclusions", "remove", strconv.FormatInt(excl[0].ID, 10))
	if _, errs, code := e.run("", "exclusions", "add", "--kind", "colour", "--value", "x"); code != sam.ExitUsage || !strings.Contains(errs, "exclusion kind") {
		t.Errorf("bad kind: exit %d %s", code, errs)
	}

	// Show has the evidence and the history.
	cid := strconv.FormatInt(victim.ID, 10)
	var detail CandidateDetail
	if err := json.Unmarshal([]byte(e.ok("", "candidates", "show", cid, "-o", "json")), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Evidence.Note == "" || len(detail.Transitions) != 1 || detail.Transitions[0].To != "ready" {
		t.Errorf("show: evidence %+v, transitions %+v", detail.Evidence, detail.Transitions)
	}
	if table := e.ok("", "candidates", "show", cid); !strings.Contains(table, "history:") || !strings.Contains(table, "(new) → ready by system") {
		t.Errorf("show table:\n%s", table)
	}

	// Dry run (the default): reclaim changes nothing and says so.
	set := e.ok("", "reclaim", "settings")
	if !strings.Contains(set, "dry run:") || !strings.Contains(set, "true") {
		t.Fatalf("settings:\n%s", set)
	}
	out := e.ok("", "candidates", "reclaim", cid, "--now", now)
	if !strings.Contains(out, "dry run: would remove the licence") {
		t.Errorf("dry-run reclaim:\n%s", out)
	}
	// Live, but the data is stale by the wall clock: blocked, exit conflict.
	e.ok("", "reclaim", "settings", "--dry-run=false", "--cap-count", "5", "--cap-percent", "100")
	_, errs, code := e.run("", "candidates", "reclaim", cid)
	if code != sam.ExitConflict || !strings.Contains(errs, "staleness limit") {
		t.Errorf("stale reclaim: exit %d %s", code, errs)
	}
	for k := range srv.Counters().Requests {
		if strings.Contains(k, "assignLicense") || strings.Contains(k, "DELETE") {
			t.Errorf("the tenant was written to: %s", k)
		}
	}
	// Several IDs are one run for the cap: a batch over it is refused as a
	// whole, naming the SKU, the count and the limit.
	if len(cands) < 2 {
		t.Fatalf("%d candidates, the batch needs 2", len(cands))
	}
	other := strconv.FormatInt(cands[1].ID, 10)
	for _, tc := range []struct{ count, pct, want string }{
		{"1", "100", "2 removal(s) due but the cap is 1 per run"},
		{"1000", "1", "the cap is 1% of its"},
	} {
		e.ok("", "reclaim", "settings", "--cap-count", tc.count, "--cap-percent", tc.pct)
		_, errs, code := e.run("", "candidates", "reclaim", cid, other, "--now", now)
		if code != sam.ExitConflict || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "nothing was removed") {
			t.Errorf("batch over the cap (%s, %s%%): exit %d %s", tc.count, tc.pct, code, errs)
		}
		var still CandidateDetail
		if err := json.Unmarshal([]byte(e.ok("", "candidates", "show", other, "-o", "json")), &still); err != nil {
			t.Fatal(err)
		}
		if still.State != "ready" || len(still.Transitions) != 1 {
			t.Errorf("a refused batch changed candidate %s: %s, %d transitions", other, still.State, len(still.Transitions))
		}
	}
	for k := range srv.Counters().Requests {
		if strings.Contains(k, "assignLicense") || strings.Contains(k, "DELETE") {
			t.Errorf("the tenant was written to: %s", k)
		}
	}
	// Skip, then skipping again conflicts.
	var skipped CandidateRow
	if err := json.Unmarshal([]byte(e.ok("", "candidates", "skip", cid, "--reason", "keeps it", "-o", "json")), &skipped); err != nil {
		t.Fatal(err)
	}
	if skipped.State != "closed_skipped" {
		t.Errorf("skip: %+v", skipped)
	}
	if _, errs, code := e.run("", "candidates", "skip", cid); code != sam.ExitConflict {
		t.Errorf("second skip: exit %d %s", code, errs)
	}
	if _, _, code := e.run("", "candidates", "approve", cid); code != sam.ExitConflict {
		t.Errorf("approve a closed candidate: exit %d", code)
	}
	if _, _, code := e.run("", "candidates", "undo", "999999"); code != sam.ExitNotFound {
		t.Errorf("undo unknown: exit %d", code)
	}
}
