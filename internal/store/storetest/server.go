package storetest

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// serverTests are the conformance tests of store.ServerStore.
var serverTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Users", testUsers},
	{"LoginLockout", testLoginLockout},
	{"Sessions", testSessions},
	{"APITokens", testAPITokens},
	{"AuditLog", testAuditLog},
	{"SearchSubscriptions", testSearchSubscriptions},
	{"UsageCounts", testUsageCounts},
}

func testUsers(t *testing.T, s store.Store) {
	u := &store.User{Name: "alice", Role: "admin", PasswordHash: "$argon2id$x", MustChangePassword: true}
	must(t, s.CreateUser(ctx(t), u))
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not set ID and CreatedAt: %+v", u)
	}
	mustCode(t, s.CreateUser(ctx(t), &store.User{Name: "alice", Role: "viewer", PasswordHash: "h"}), sam.ECONFLICT)
	mustCode(t, s.CreateUser(ctx(t), &store.User{Name: "", Role: "viewer", PasswordHash: "h"}), sam.EINVALID)
	must(t, s.CreateUser(ctx(t), &store.User{Name: "bob", Role: "viewer", PasswordHash: "h2"}))

	got, err := s.UserByName(ctx(t), "alice")
	must(t, err)
	if got.ID != u.ID || got.Role != "admin" || !got.MustChangePassword || got.Disabled || !got.LockedUntil.IsZero() || !got.LastLogin.IsZero() {
		t.Errorf("UserByName = %+v", got)
	}
	login := now.Add(time.Hour)
	got.Role, got.PasswordHash, got.MustChangePassword, got.Disabled, got.LastLogin = "sam_manager", "h3", false, true, login
	must(t, s.UpdateUser(ctx(t), got))
	again, err := s.User(ctx(t), u.ID)
	must(t, err)
	if again.Role != "sam_manager" || again.PasswordHash != "h3" || again.MustChangePassword || !again.Disabled || !again.LastLogin.Equal(login) {
		t.Errorf("after UpdateUser: %+v", again)
	}
	_, err = s.User(ctx(t), 9999)
	mustCode(t, err, sam.ENOTFOUND)
	_, err = s.UserByName(ctx(t), "nobody")
	mustCode(t, err, sam.ENOTFOUND)
	mustCode(t, s.UpdateUser(ctx(t), &store.User{ID: 9999, Role: "viewer", PasswordHash: "h"}), sam.ENOTFOUND)
	all, err := s.Users(ctx(t))
	must(t, err)
	if len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" {
		t.Errorf("Users = %v", all)
	}
}

func testLoginLockout(t *testing.T, s store.Store) {
	u := &store.User{Name: "carol", Role: "viewer", PasswordHash: "h"}
	must(t, s.CreateUser(ctx(t), u))
	for i := 1; i <= 2; i++ {
		got, err := s.RecordLoginFailure(ctx(t), u.ID, now, 3, 15*time.Minute)
		must(t, err)
		if got.FailedLogins != i || !got.LockedUntil.IsZero() {
			t.Fatalf("failure %d: %+v", i, got)
		}
	}
	got, err := s.RecordLoginFailure(ctx(t), u.ID, now, 3, 15*time.Minute)
	must(t, err)
	if got.FailedLogins != 0 || !got.LockedUntil.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("third failure should lock until %v: %+v", now.Add(15*time.Minute), got)
	}
	stored, err := s.User(ctx(t), u.ID)
	must(t, err)
	if !stored.LockedUntil.Equal(now.Add(15 * time.Minute)) {
		t.Errorf("lock not stored: %+v", stored)
	}
	_, err = s.RecordLoginFailure(ctx(t), 9999, now, 3, time.Minute)
	mustCode(t, err, sam.ENOTFOUND)
}

func testSessions(t *testing.T, s store.Store) {
	u := &store.User{Name: "dave", Role: "viewer", PasswordHash: "h"}
	must(t, s.CreateUser(ctx(t), u))
	a := &store.Session{IDHash: "hash-a", UserID: u.ID, CSRFToken: "csrf-a", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	b := &store.Session{IDHash: "hash-b", UserID: u.ID, CSRFToken: "csrf-b", CreatedAt: now, ExpiresAt: now.Add(-time.Minute)}
	must(t, s.CreateSession(ctx(t), a))
	must(t, s.CreateSession(ctx(t), b))
	mustCode(t, s.CreateSession(ctx(t), &store.Session{IDHash: "hash-a", UserID: u.ID, CSRFToken: "x", ExpiresAt: now}), sam.ECONFLICT)
	mustCode(t, s.CreateSession(ctx(t), &store.Session{IDHash: "hash-c", UserID: 9999, CSRFToken: "x", ExpiresAt: now}), sam.ENOTFOUND)
	got, err := s.Session(ctx(t), "hash-a")
	must(t, err)
	if got.UserID != u.ID || got.CSRFToken != "csrf-a" || !got.ExpiresAt.Equal(now.Add(time.Hour)) || !got.CreatedAt.Equal(now) {
		t.Errorf("Session = %+v", got)
	}
	n, err := s.DeleteExpiredSessions(ctx(t), now)
	must(t, err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, want 1", n)
	}
	_, err = s.Session(ctx(t), "hash-b")
	mustCode(t, err, sam.ENOTFOUND)
	must(t, s.DeleteSession(ctx(t), "hash-a"))
	must(t, s.DeleteSession(ctx(t), "hash-a"))
	_, err = s.Session(ctx(t), "hash-a")
	mustCode(t, err, sam.ENOTFOUND)
	for i := range 3 {
		must(t, s.CreateSession(ctx(t), &store.Session{IDHash: fmt.Sprintf("h%d", i), UserID: u.ID, CSRFToken: "c", ExpiresAt: now.Add(time.Hour)}))
	}
	n, err = s.DeleteUserSessions(ctx(t), u.ID)
	must(t, err)
	if n != 3 {
		t.Errorf("DeleteUserSessions = %d, want 3", n)
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	u := &store.User{Name: "erin", Role: "admin", PasswordHash: "h"}
	must(t, s.CreateUser(ctx(t), u))
	a := &store.APIToken{Name: "ci", Hash: "aaaa", Prefix: "sw_aa", Role: "viewer", CreatedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(t, s.CreateAPIToken(ctx(t), a))
	b := &store.APIToken{Name: "ops", Hash: "bbbb", Prefix: "sw_bb", Role: "admin", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateAPIToken(ctx(t), b))
	mustCode(t, s.CreateAPIToken(ctx(t), &store.APIToken{Name: "dup", Hash: "aaaa", Role: "viewer", ExpiresAt: now}), sam.ECONFLICT)
	mustCode(t, s.CreateAPIToken(ctx(t), &store.APIToken{Name: "noexp", Hash: "cccc", Role: "viewer"}), sam.EINVALID)
	got, err := s.APITokenByHash(ctx(t), "aaaa")
	must(t, err)
	if got.ID != a.ID || got.Role != "viewer" || got.CreatedBy != u.ID || got.Prefix != "sw_aa" || !got.ExpiresAt.Equal(a.ExpiresAt) || !got.LastUsed.IsZero() {
		t.Errorf("APITokenByHash = %+v", got)
	}
	used := now.Add(time.Minute)
	must(t, s.TouchAPIToken(ctx(t), a.ID, used))
	list, err := s.APITokens(ctx(t))
	must(t, err)
	if len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID || !list[1].LastUsed.Equal(used) || list[0].CreatedBy != 0 {
		t.Errorf("APITokens = %+v", list)
	}
	must(t, s.DeleteAPIToken(ctx(t), a.ID))
	mustCode(t, s.DeleteAPIToken(ctx(t), a.ID), sam.ENOTFOUND)
	_, err = s.APITokenByHash(ctx(t), "aaaa")
	mustCode(t, err, sam.ENOTFOUND)
}

func testAuditLog(t *testing.T, s store.Store) {
	var ids []int64
	for i := range 5 {
		e := &store.AuditEntry{At: now.Add(time.Duration(i) * time.Second), Actor: "user:alice", Action: "POST /api/v1/profiles",
			Target: fmt.Sprintf("profile:p%d", i), Status: 201, Detail: "created"}
		must(t, s.AppendAudit(ctx(t), e))
		ids = append(ids, e.ID)
	}
	mustCode(t, s.AppendAudit(ctx(t), &store.AuditEntry{Action: "x"}), sam.EINVALID)
	page, err := s.AuditEntries(ctx(t), store.AuditFilter{Limit: 2})
	must(t, err)
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] || page[0].Target != "profile:p4" || page[0].Status != 201 ||
		!page[0].At.Equal(now.Add(4*time.Second)) {
		t.Fatalf("first page = %+v", page)
	}
	next, err := s.AuditEntries(ctx(t), store.AuditFilter{BeforeID: page[1].ID})
	must(t, err)
	if len(next) != 3 || next[0].ID != ids[2] {
		t.Errorf("second page = %+v", next)
	}
	// The database itself refuses to change or remove entries.
	if d, ok := s.(interface{ DB() *sql.DB }); ok {
		if _, err := d.DB().ExecContext(ctx(t), `UPDATE audit_log SET actor = 'mallory'`); err == nil {
			t.Error("UPDATE of audit_log succeeded")
		}
		if _, err := d.DB().ExecContext(ctx(t), `DELETE FROM audit_log`); err == nil {
			t.Error("DELETE from audit_log succeeded")
		}
	}
}

func testSearchSubscriptions(t *testing.T, s store.Store) {
	p := newProfile(t, s, "search", 0)
	other := newProfile(t, s, "other", 0)
	var users []store.StagedUser
	for n := 1; n <= 7; n++ {
		u := staged(n, skuSales)
		u.DisplayName = fmt.Sprintf("person %c", 'g'-rune(n-1)) // user1 "person g" … user7 "person a"
		if n%2 == 0 {
			u.Department = "support"
			u.Licenses = append(u.Licenses, lic(skuApps))
		}
		users = append(users, u)
	}
	syncSubs(t, s, p, true, now, users...)
	syncSubs(t, s, other, true, now, staged(50, skuSales))

	upns := func(xs []*sam.Subscription) []string {
		var out []string
		for _, x := range xs {
			out = append(out, x.UPN+"/"+x.SKUID[len(x.SKUID)-1:])
		}
		return out
	}
	// Page through the profile by display name descending, 4 at a time.
	var all []*sam.Subscription
	q := store.SubscriptionQuery{ProfileID: p.ID, Sort: "display_name", Desc: true, Limit: 4}
	for range 5 {
		page, err := s.SearchSubscriptions(ctx(t), q)
		must(t, err)
		all = append(all, page...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.AfterValue, q.AfterID = last.DisplayName, last.ID
	}
	if len(all) != 10 {
		t.Fatalf("paged %d subscriptions, want 10: %v", len(all), upns(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.DisplayName < b.DisplayName || (a.DisplayName == b.DisplayName && a.ID < b.ID) {
			t.Errorf("order broken at %d: %q/%d before %q/%d", i, a.DisplayName, a.ID, b.DisplayName, b.ID)
		}
	}
	if all[0].UPN != "user1@contoso.com" {
		t.Errorf("first by display name desc = %s, want user1", all[0].UPN)
	}

	tests := []struct {
		name string
		q    store.SubscriptionQuery
		want int
	}{
		{"search department", store.SubscriptionQuery{ProfileID: p.ID, Search: "SUPP"}, 6},
		{"search upn", store.SubscriptionQuery{ProfileID: p.ID, Search: "user3@"}, 1},
		{"search escapes wildcards", store.SubscriptionQuery{ProfileID: p.ID, Search: "user_"}, 0},
		{"search percent", store.SubscriptionQuery{Search: "%"}, 0},
		{"sku", store.SubscriptionQuery{ProfileID: p.ID, SKUID: skuApps}, 3},
		{"every profile", store.SubscriptionQuery{}, 11},
		{"class", store.SubscriptionQuery{ProfileID: p.ID, UsageClass: sam.UsageActive}, 0},
		{"limit", store.SubscriptionQuery{Limit: 2}, 2},
		{"last activity sort", store.SubscriptionQuery{Sort: "last_activity", Desc: true}, 11},
	}
	for _, tc := range tests {
		got, err := s.SearchSubscriptions(ctx(t), tc.q)
		must(t, err)
		if len(got) != tc.want {
			t.Errorf("%s: %d results, want %d: %v", tc.name, len(got), tc.want, upns(got))
		}
	}
	// Keyset paging over last activity (all NULL here) still pages by id.
	first, err := s.SearchSubscriptions(ctx(t), store.SubscriptionQuery{Sort: "last_activity", Limit: 6})
	must(t, err)
	rest, err := s.SearchSubscriptions(ctx(t), store.SubscriptionQuery{Sort: "last_activity", AfterID: first[5].ID, Limit: 100})
	must(t, err)
	if len(first)+len(rest) != 11 || rest[0].ID <= first[5].ID {
		t.Errorf("last_activity paging: %d + %d", len(first), len(rest))
	}
	_, err = s.SearchSubscriptions(ctx(t), store.SubscriptionQuery{Sort: "password"})
	mustCode(t, err, sam.EINVALID)
	_, err = s.SearchSubscriptions(ctx(t), store.SubscriptionQuery{Sort: "last_activity", AfterID: 1, AfterValue: "yesterday"})
	mustCode(t, err, sam.EINVALID)
}

func testUsageCounts(t *testing.T, s store.Store) {
	p := newProfile(t, s, "counts", 0)
	syncSubs(t, s, p, true, now, staged(1, skuSales, skuApps), staged(2, skuSales), staged(3, skuSales))
	counts, err := s.UsageCounts(ctx(t), p.ID, true)
	must(t, err)
	total := map[string]int{}
	for _, c := range counts {
		if c.ProfileID != p.ID || c.UsageClass == "" {
			t.Errorf("count %+v", c)
		}
		total[c.SKUID] += c.Count
	}
	if total[skuSales] != 3 || total[skuApps] != 1 || len(total) != 2 {
		t.Errorf("UsageCounts totals = %v", total)
	}
	none, err := s.UsageCounts(ctx(t), p.ID+1000, false)
	must(t, err)
	if len(none) != 0 {
		t.Errorf("unknown profile counts = %v", none)
	}
}
