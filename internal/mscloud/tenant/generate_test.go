package tenant

import (
	"runtime"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestGenerateMix(t *testing.T) {
	tn, err := Generate(Options{Seed: 5, Users: 3000, Environments: 4})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.Default()
	var office, unknown, warning, suspended int
	for _, s := range tn.SKUs() {
		m, mapped := cat.Model(s.SKUID)
		_, known := cat.Product(s.SKUID)
		switch {
		case !known:
			unknown++
		case !mapped:
			office++
		}
		if s.Consumed > s.Enabled+s.Warning {
			t.Errorf("%s: consumed %d > enabled %d + warning %d", s.PartNumber, s.Consumed, s.Enabled, s.Warning)
		}
		if known && (len(s.ServicePlans) == 0 || s.Name == "") {
			t.Errorf("%s has no service plans or name from the catalog", s.PartNumber)
		}
		switch s.CapabilityStatus {
		case "Warning":
			warning++
		case "Suspended":
			suspended++
		}
		_ = m
	}
	if office < 2 || unknown != 1 || warning != 1 || suspended != 1 {
		t.Errorf("SKU mix: office %d, unknown %d, warning %d, suspended %d", office, unknown, warning, suspended)
	}
	// consumed units agree with the users
	counts := map[string]int{}
	patterns := map[Pattern]int{}
	var disabled, noLocation, both, viaGroup, disabledPlans, neverSignIn int
	for cur := ""; ; {
		users, next, err := tn.UsersPage(cur, 999, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			patterns[u.Pattern]++
			if !u.AccountEnabled {
				disabled++
			}
			if u.UsageLocation == "" {
				noLocation++
				if len(u.AssignedLicenses) > 0 {
					t.Errorf("%s holds licences without a usage location", u.UserPrincipalName)
				}
			}
			if u.SignInActivity.Never() {
				neverSignIn++
			}
			for _, l := range u.AssignedLicenses {
				counts[l.SKUID]++
				if len(l.DisabledPlans) > 0 {
					disabledPlans++
				}
			}
			direct, group := map[string]bool{}, map[string]bool{}
			for _, s := range u.LicenseAssignmentStates {
				if s.AssignedByGroup == "" {
					direct[s.SKUID] = true
				} else {
					group[s.SKUID] = true
					viaGroup++
				}
			}
			for s := range direct {
				if group[s] {
					both++
				}
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	for _, s := range tn.SKUs() {
		if counts[s.SKUID] != s.Consumed {
			t.Errorf("%s: consumed %d, users holding it %d", s.PartNumber, s.Consumed, counts[s.SKUID])
		}
	}
	for _, p := range []Pattern{PatternDaily, PatternWeekly, PatternLow, PatternFading, PatternDormant30, PatternDormant60, PatternDormant90,
		PatternNever, PatternWebServices, PatternOneEnv, PatternRecordOnly, PatternAuditOff, PatternSignInOnly, PatternNewHire,
		PatternLeaver, PatternAdmin} {
		if patterns[p] == 0 {
			t.Errorf("no user with pattern %s", p)
		}
	}
	if disabled == 0 || noLocation == 0 || both == 0 || viaGroup < 100 || disabledPlans == 0 || neverSignIn == 0 {
		t.Errorf("disabled %d, no usage location %d, direct+group %d, via group %d, disabled plans %d, never signed in %d",
			disabled, noLocation, both, viaGroup, disabledPlans, neverSignIn)
	}
	// every class appears in the truth of the covered environments
	tr, err := tn.Truth(time.Time{}, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	classes := map[sam.UsageClass]int{}
	for _, m := range tr.Counts {
		for c, n := range m {
			classes[c] += n
		}
	}
	for _, c := range sam.UsageClasses {
		if c != sam.UsageUnknown && classes[c] == 0 {
			t.Errorf("no subscription classed %s: %v", c, classes)
		}
	}
	full, _ := tn.Truth(time.Time{}, nil)
	if full.CoverageComplete || full.Environments[2].Covered || full.Environments[3].Covered {
		t.Errorf("coverage of all environments: %+v", full.Environments)
	}
	// pattern-specific audit shapes
	sysOf := func(u *userRec, e int) string {
		s, _ := tn.SystemUserOf(e, u.id)
		return s.SystemUserID
	}
	for _, u := range tn.users {
		switch u.pattern {
		case PatternWebServices, PatternRecordOnly:
			rows := collect(t, tn, int(u.primary), AuditQuery{UserIDs: []string{sysOf(u, int(u.primary))}})
			for _, r := range rows {
				if u.pattern == PatternWebServices && (r.Operation != 4 || r.Action != 65) {
					t.Fatalf("web-services user %s has %+v", u.upn, r)
				}
				if u.pattern == PatternRecordOnly && r.Operation == 4 {
					t.Fatalf("record-only user %s has an access row", u.upn)
				}
			}
		case PatternOneEnv:
			if rows := collect(t, tn, 1, AuditQuery{UserIDs: []string{sysOf(u, 1)}}); len(rows) != 0 {
				t.Fatalf("one-environment user %s has rows in environment 1", u.upn)
			}
		}
	}
	// systemusers: ids differ from Entra ids, the application user is there
	rows, _, err := tn.SystemUsersPage(0, "", 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := tn.App()
	if rows[0].ApplicationID != app.ClientID || rows[0].AccessMode != 4 || rows[0].SystemUserID != tn.Environments()[0].AppUserID {
		t.Errorf("application user = %+v", rows[0])
	}
	for _, r := range rows[5:] {
		if r.SystemUserID == r.AzureActiveDirectoryObjectID || r.EntraUserID != r.AzureActiveDirectoryObjectID {
			t.Fatalf("systemuser %+v", r)
		}
		back, err := tn.SystemUser(0, r.SystemUserID)
		if err != nil || back != r {
			t.Fatalf("SystemUser(%s) = %+v, %v", r.SystemUserID, back, err)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, o := range []Options{{Users: -1}, {Environments: 65}, {HistoryDays: -3}, {TenantIndex: -1}} {
		if _, err := Generate(o); KindOf(err) != ErrInvalid {
			t.Errorf("Generate(%+v) = %v, want invalid", o, err)
		}
	}
	tn, err := Generate(Options{})
	if err != nil || tn.UserCount() != 0 || len(tn.Environments()) != 1 || !tn.Now().Equal(DefaultNow) {
		t.Errorf("empty tenant: %v", err)
	}
	if rows := collect(t, tn, 0, AuditQuery{}); len(rows) == 0 {
		t.Error("an empty tenant still has background audit rows")
	}
}

// heapPerUser measures the live heap a generated tenant holds per user.
func heapPerUser(tb testing.TB, users int) float64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tn, err := Generate(Options{Seed: 9, Users: users, Environments: 3})
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tn)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(users)
}

func TestMemoryPerUser(t *testing.T) {
	if per := heapPerUser(t, 20000); per > 1200 {
		t.Errorf("a generated tenant holds %.0f bytes per user, want at most 1200", per)
	}
}

// BenchmarkGenerate100k generates a 100,000-user tenant and reports the
// heap it keeps per user.
func BenchmarkGenerate100k(b *testing.B) {
	var per float64
	for b.Loop() {
		per = heapPerUser(b, 100000)
	}
	b.ReportMetric(per, "bytes/user")
}

// BenchmarkAuditScan reads every audit row of the main environment of a
// 20,000-user tenant and reports rows per second.
func BenchmarkAuditScan(b *testing.B) {
	tn, err := Generate(Options{Seed: 9, Users: 20000, Environments: 3})
	if err != nil {
		b.Fatal(err)
	}
	rows := 0
	start := time.Now()
	for b.Loop() {
		seq, _ := tn.Audits(0, AuditQuery{})
		for range seq {
			rows++
		}
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/scan")
}

// BenchmarkAuditPage serves 5000-row pages from cursors, newest first.
func BenchmarkAuditPage(b *testing.B) {
	tn, err := Generate(Options{Seed: 9, Users: 20000, Environments: 1})
	if err != nil {
		b.Fatal(err)
	}
	q := AuditQuery{Descending: true, Operations: []int{4}}
	for b.Loop() {
		rows, next, err := tn.AuditPage(0, q, 5000)
		if err != nil || len(rows) == 0 {
			b.Fatal(err)
		}
		q.After = next
		if next == "" {
			q.After = ""
		}
	}
}

// BenchmarkTruth computes the ground truth of a 20,000-user tenant.
func BenchmarkTruth(b *testing.B) {
	tn, err := Generate(Options{Seed: 9, Users: 20000, Environments: 3})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tn.Truth(time.Time{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
