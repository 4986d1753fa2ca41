package tenant

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, tn *Tenant, env int, q AuditQuery) []AuditRow {
	t.Helper()
	seq, err := tn.Audits(env, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []AuditRow
	for r := range seq {
		out = append(out, r)
	}
	return out
}

func rowLess(a, b AuditRow) int {
	if c := a.CreatedOn.Compare(b.CreatedOn); c != 0 {
		return c
	}
	switch {
	case a.AuditID < b.AuditID:
		return -1
	case a.AuditID > b.AuditID:
		return 1
	}
	return 0
}

func smallTenant(t testing.TB) *Tenant {
	tn, err := Generate(Options{Seed: 3, Users: 120, Environments: 2, HistoryDays: 40})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestAuditsOrderAndBounds(t *testing.T) {
	tn := smallTenant(t)
	asc := collect(t, tn, 0, AuditQuery{})
	if len(asc) < 1000 {
		t.Fatalf("only %d rows", len(asc))
	}
	if !slices.IsSortedFunc(asc, rowLess) {
		t.Error("ascending rows are not in (createdon, auditid) order")
	}
	desc := collect(t, tn, 0, AuditQuery{Descending: true})
	slices.Reverse(desc)
	if !slices.Equal(asc, desc) {
		t.Error("descending listing is not the reverse of the ascending one")
	}
	ids := map[string]bool{}
	now := tn.Now()
	first := now.AddDate(0, 0, -41)
	for _, r := range asc {
		if ids[r.AuditID] {
			t.Fatalf("duplicate auditid %s", r.AuditID)
		}
		ids[r.AuditID] = true
		if r.CreatedOn.After(now) || r.CreatedOn.Before(first) {
			t.Fatalf("row at %s outside the history %s..%s", r.CreatedOn, first, now)
		}
		if r.CreatedOn.Location() != time.UTC {
			t.Fatal("createdon not in UTC")
		}
		if r.Operation == 4 && r.ObjectID != r.UserID {
			t.Fatalf("access row object %s is not its user %s", r.ObjectID, r.UserID)
		}
		if (r.Operation == 2) != (r.AttributeMask != "") && r.Action != ActionUserAccessAuditStarted && r.Action != ActionAssignRoleToUser && r.Action != ActionRemoveRoleFromUser {
			t.Fatalf("row %+v: attribute mask only on updates", r)
		}
	}
	// bounds: ge / gt / le / lt
	mid := asc[len(asc)/2].CreatedOn
	cases := []struct {
		q    AuditQuery
		keep func(AuditRow) bool
	}{
		{AuditQuery{CreatedOnGE: mid}, func(r AuditRow) bool { return !r.CreatedOn.Before(mid) }},
		{AuditQuery{CreatedOnGT: mid}, func(r AuditRow) bool { return r.CreatedOn.After(mid) }},
		{AuditQuery{CreatedOnLE: mid}, func(r AuditRow) bool { return !r.CreatedOn.After(mid) }},
		{AuditQuery{CreatedOnLT: mid, Operations: []int{4}}, func(r AuditRow) bool { return r.CreatedOn.Before(mid) && r.Operation == 4 }},
		{AuditQuery{Actions: []int{64, 65}}, func(r AuditRow) bool { return r.Action == 64 || r.Action == 65 }},
		{AuditQuery{ObjectTypeCodes: []string{"opportunity", "incident"}}, func(r AuditRow) bool {
			return r.ObjectTypeCode == "opportunity" || r.ObjectTypeCode == "incident"
		}},
		{AuditQuery{UserIDs: []string{asc[10].UserID, asc[500].UserID}, Operations: []int{1, 2}}, func(r AuditRow) bool {
			return (r.UserID == asc[10].UserID || r.UserID == asc[500].UserID) && (r.Operation == 1 || r.Operation == 2)
		}},
	}
	for i, c := range cases {
		var want []AuditRow
		for _, r := range asc {
			if c.keep(r) {
				want = append(want, r)
			}
		}
		got := collect(t, tn, 0, c.q)
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("case %d: %d rows, want %d", i, len(got), len(want))
		}
	}
	if _, err := tn.Audits(5, AuditQuery{}); KindOf(err) != ErrNotFound {
		t.Errorf("bad environment: %v", err)
	}
	if _, err := tn.Audits(0, AuditQuery{After: "!!"}); KindOf(err) != ErrInvalid {
		t.Errorf("bad cursor: %v", err)
	}
	if _, err := tn.Audits(0, AuditQuery{UserIDs: []string{"x"}}); KindOf(err) != ErrInvalid {
		t.Errorf("bad user id: %v", err)
	}
	if got := collect(t, tn, 0, AuditQuery{UserIDs: []string{"00000000-0000-4000-8000-000000000000"}}); len(got) != 0 {
		t.Errorf("unknown user: %d rows", len(got))
	}
}

func TestAuditPaging(t *testing.T) {
	tn := smallTenant(t)
	queries := map[string]AuditQuery{
		"all":           {},
		"all desc":      {Descending: true},
		"access":        {Operations: []int{4}, Actions: []int{64, 65}},
		"access desc":   {Operations: []int{4}, Descending: true, CreatedOnGE: tn.Now().AddDate(0, 0, -20)},
		"records":       {Operations: []int{1, 2}, ObjectTypeCodes: TrackedEntities},
		"one user desc": {Descending: true},
	}
	for name, q := range queries {
		if name == "one user desc" {
			q.UserIDs = []string{collect(t, tn, 0, AuditQuery{Operations: []int{4}})[0].UserID}
		}
		want := collect(t, tn, 0, q)
		n := len(want)
		if n < 3 {
			t.Fatalf("%s: only %d rows", name, n)
		}
		divisor := 1
		for d := 2; d < n; d++ {
			if n%d == 0 && d > 7 {
				divisor = d
				break
			}
		}
		for _, size := range []int{7, 100, divisor, n, n + 1} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				var got []AuditRow
				pq := q
				for pages := 0; ; pages++ {
					if pages > n+2 {
						t.Fatal("paging does not end")
					}
					rows, next, err := tn.AuditPage(0, pq, size)
					if err != nil {
						t.Fatal(err)
					}
					if len(rows) > size {
						t.Fatalf("page of %d rows for size %d", len(rows), size)
					}
					got = append(got, rows...)
					if next == "" {
						break
					}
					if len(rows) != size {
						t.Fatalf("short page (%d) with a next cursor", len(rows))
					}
					pq.After = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paged %d rows, want %d (every row exactly once, in order)", len(got), len(want))
				}
			})
		}
	}
	if _, _, err := tn.AuditPage(0, AuditQuery{}, 0); KindOf(err) != ErrInvalid {
		t.Errorf("page size 0: %v", err)
	}
}

// TestAccessInterval checks the 4-hour rule on every user of a generated
// environment and on explicit events around midnight.
func TestAccessInterval(t *testing.T) {
	tn := smallTenant(t)
	last := map[string]time.Time{}
	n := 0
	for _, r := range collect(t, tn, 0, AuditQuery{Operations: []int{4}, Actions: []int{64, 65}}) {
		if p, ok := last[r.UserID]; ok && r.CreatedOn.Sub(p) < 4*time.Hour {
			t.Fatalf("user %s has access rows %s and %s, less than 4 h apart", r.UserID, p, r.CreatedOn)
		}
		last[r.UserID] = r.CreatedOn
		n++
	}
	if n < 100 {
		t.Fatalf("only %d access rows", n)
	}
	// explicit events across midnight
	u := tn.users[5].id
	base := sameDay(tn.Now().AddDate(0, 0, -3))
	for _, h := range []time.Duration{22 * time.Hour, 25 * time.Hour, 26*time.Hour + 30*time.Minute, 27 * time.Hour} {
		if err := tn.AddActivity(u, Event{Env: 1, At: base.Add(h), Operation: 4, Action: 65}); err != nil {
			t.Fatal(err)
		}
	}
	sys, err := tn.SystemUserOf(1, u)
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	for _, r := range collect(t, tn, 1, AuditQuery{UserIDs: []string{sys.SystemUserID}, Operations: []int{4},
		CreatedOnGE: base.Add(20 * time.Hour), CreatedOnLT: base.Add(28 * time.Hour)}) {
		got = append(got, r.CreatedOn)
	}
	// 22:00 kept; 01:00 (3 h later) dropped; 02:30 kept (4.5 h after 22:00); 03:00 dropped
	want := []time.Time{base.Add(22 * time.Hour), base.Add(26*time.Hour + 30*time.Minute)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("access rows %v, want %v", got, want)
	}
}

func sameDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func TestAuditingOffAndRetention(t *testing.T) {
	tn, err := Generate(Options{Seed: 11, Users: 400, Environments: 4, HistoryDays: 120})
	if err != nil {
		t.Fatal(err)
	}
	envs := tn.Environments()
	// environment 1: user-access auditing off, then auditing off
	inPeriod := func(r AuditRow, p AuditPeriod) bool {
		return !r.CreatedOn.Before(p.From) && (p.To.IsZero() || r.CreatedOn.Before(p.To))
	}
	rows1 := collect(t, tn, 1, AuditQuery{})
	var started, stopped, inAccessGap int
	for _, r := range rows1 {
		for _, p := range envs[1].History {
			if !inPeriod(r, p) {
				continue
			}
			if !p.Settings.AuditEnabled {
				t.Fatalf("row at %s while auditing was off: %+v", r.CreatedOn, r)
			}
			if !p.Settings.UserAccessAuditEnabled {
				inAccessGap++
				if r.Operation == 4 {
					t.Fatalf("access row at %s while user-access auditing was off", r.CreatedOn)
				}
			}
		}
		switch r.Action {
		case ActionUserAccessAuditStarted:
			started++
		case ActionUserAccessAuditStopped:
			stopped++
		}
	}
	if started != 1 || stopped != 1 || inAccessGap == 0 {
		t.Errorf("started %d, stopped %d, record rows in the access gap %d", started, stopped, inAccessGap)
	}
	if envs[1].Audit.RetentionDays != 180 || len(envs[1].History) != 5 {
		t.Errorf("environment 1 = %+v", envs[1])
	}
	// environment 2 does not audit at all
	if rows := collect(t, tn, 2, AuditQuery{}); len(rows) != 0 || envs[2].Audit.AuditEnabled {
		t.Errorf("environment 2 (auditing off) has %d rows", len(rows))
	}
	// environment 3 keeps 30 days
	cut := tn.Now().AddDate(0, 0, -30)
	rows3 := collect(t, tn, 3, AuditQuery{})
	if len(rows3) == 0 || rows3[0].CreatedOn.Before(cut) {
		t.Errorf("environment 3 serves rows older than its 30-day retention (%d rows)", len(rows3))
	}
	// after changing the retention to forever, the older rows are there
	if err := tn.SetAuditSettings(3, AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	if rows := collect(t, tn, 3, AuditQuery{CreatedOnLT: cut}); len(rows) == 0 {
		t.Error("no rows older than 30 days after retention became forever")
	}
	// turning user access auditing off now: later access rows are not written
	if err := tn.SetAuditSettings(0, AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: false, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	before := tn.Now()
	tn.Advance(72 * time.Hour)
	later := collect(t, tn, 0, AuditQuery{CreatedOnGT: before})
	var access, stop int
	for _, r := range later {
		if r.Operation == 4 {
			access++
		}
	}
	for _, r := range collect(t, tn, 0, AuditQuery{CreatedOnGE: before}) {
		if r.Action == ActionUserAccessAuditStopped {
			stop++
		}
	}
	if access != 0 || len(later) == 0 || stop != 1 {
		t.Errorf("after switching access auditing off: %d access rows of %d, %d stop rows", access, len(later), stop)
	}
	for _, bad := range []AuditSettings{{RetentionDays: 0}, {RetentionDays: -2}, {RetentionDays: 5, AccessIntervalHours: 8}} {
		if err := tn.SetAuditSettings(0, bad); KindOf(err) != ErrInvalid {
			t.Errorf("SetAuditSettings(%+v) = %v, want invalid", bad, err)
		}
	}
}

func TestAdvanceContinuesPatterns(t *testing.T) {
	tn := smallTenant(t)
	t0 := tn.Now()
	before := collect(t, tn, 0, AuditQuery{})
	tn.Advance(7 * 24 * time.Hour)
	tn.Advance(-time.Hour) // ignored
	if got := tn.Now(); !got.Equal(t0.Add(7 * 24 * time.Hour)) {
		t.Fatalf("Now = %s", got)
	}
	old := collect(t, tn, 0, AuditQuery{CreatedOnLE: t0})
	if !slices.Equal(old, before) {
		t.Errorf("rows up to the old now changed after Advance: %d vs %d", len(old), len(before))
	}
	newer := collect(t, tn, 0, AuditQuery{CreatedOnGT: t0})
	if len(newer) < 50 {
		t.Errorf("only %d rows in the week after Advance", len(newer))
	}
	// a daily user keeps being active, a dormant one stays dormant
	tr, err := tn.Truth(time.Time{}, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range tr.Users {
		for _, s := range u.Subscriptions {
			if !s.Tracked || s.LastActivity == nil {
				continue
			}
			switch u.Pattern {
			case PatternDormant60, PatternDormant90:
				if s.LastActivity.After(t0) {
					t.Errorf("%s (%s) active after the old now", u.UPN, u.Pattern)
				}
			}
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	opts := Options{Seed: 42, Users: 150, Environments: 3, HistoryDays: 30}
	a, err := Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(opts)
	other, _ := Generate(Options{Seed: 43, Users: 150, Environments: 3, HistoryDays: 30})
	second, _ := Generate(Options{Seed: 42, Users: 150, Environments: 3, HistoryDays: 30, TenantIndex: 1})
	all := func(tn *Tenant) []User {
		users, next, err := tn.UsersPage("", 1000, nil)
		if err != nil || next != "" {
			t.Fatal(err, next)
		}
		return users
	}
	ua, ub := all(a), all(b)
	if fmt.Sprint(ua) != fmt.Sprint(ub) || fmt.Sprint(a.SKUs()) != fmt.Sprint(b.SKUs()) ||
		fmt.Sprint(a.Environments()) != fmt.Sprint(b.Environments()) || fmt.Sprint(a.Groups()) != fmt.Sprint(b.Groups()) ||
		a.ID() != b.ID() || fmt.Sprint(a.App()) != fmt.Sprint(b.App()) {
		t.Error("same options, different tenants")
	}
	for e := 0; e < 3; e++ {
		ra, rb := collect(t, a, e, AuditQuery{}), collect(t, b, e, AuditQuery{})
		if !slices.Equal(ra, rb) {
			t.Errorf("environment %d: audit rows differ (%d vs %d)", e, len(ra), len(rb))
		}
	}
	if fmt.Sprint(all(other)) == fmt.Sprint(ua) || other.ID() == a.ID() {
		t.Error("another seed gives the same tenant")
	}
	if second.ID() == a.ID() || second.Domain() == a.Domain() || second.App().ClientID == a.App().ClientID {
		t.Error("another tenant index gives the same tenant")
	}
}

// TestSparseScenarioPaging pages through audit rows years apart: the
// iterator jumps over empty days and serves every row once.
func TestSparseScenarioPaging(t *testing.T) {
	in := `{"now": "2026-01-15T12:00:00Z", "environments": [{"name": "e", "auditHistory": [
	  {"auditEnabled": true, "userAccessAuditEnabled": true, "retentionDays": -1},
	  {"from": "2019-06-01T00:00:00Z", "auditEnabled": true, "userAccessAuditEnabled": false, "retentionDays": -1},
	  {"from": "2019-07-01T00:00:00Z", "auditEnabled": true, "userAccessAuditEnabled": true, "retentionDays": -1}]}],
	 "users": [{"userPrincipalName": "a@x.com", "events": [
	  {"env": "e", "at": "1999-03-01T10:00:00Z", "operation": 4},
	  {"env": "e", "at": "2016-03-01T10:00:00Z", "operation": 1, "entity": "account"},
	  {"env": "e", "at": "2016-03-01T10:00:00Z", "operation": 2, "entity": "account"},
	  {"env": "e", "at": "2019-06-15T10:00:00Z", "operation": 4},
	  {"env": "e", "at": "2025-12-31T23:59:59Z", "operation": 4, "action": 65},
	  {"env": "e", "at": "2026-01-15T12:00:00Z", "operation": 3, "entity": "lead"}]}]}`
	tn, err := LoadScenario(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	all := collect(t, tn, 0, AuditQuery{})
	// the access of June 2019 is invisible; the settings changes wrote a
	// stop and a start row
	if len(all) != 7 {
		t.Fatalf("%d rows: %+v", len(all), all)
	}
	for _, desc := range []bool{false, true} {
		var got []AuditRow
		q := AuditQuery{Descending: desc}
		for {
			rows, next, err := tn.AuditPage(0, q, 1)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rows...)
			if next == "" {
				break
			}
			q.After = next
		}
		if desc {
			slices.Reverse(got)
		}
		if !slices.Equal(got, all) {
			t.Errorf("descending %v: paged %d rows, want %d", desc, len(got), len(all))
		}
	}
	if got := collect(t, tn, 0, AuditQuery{CreatedOnGE: mustTime("2016-01-01T00:00:00Z"), CreatedOnLT: mustTime("2020-01-01T00:00:00Z")}); len(got) != 4 {
		t.Errorf("rows 2016-2019: %d, want 4", len(got))
	}
}
