package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// BenchOpener returns a fresh, empty, migrated store for a benchmark.
type BenchOpener func(b *testing.B) store.Store

// Benchmark measures the store's side of syncs of a tenant of n users
// (pages of 500): a full subscriptions run, a delta run of 1% of the users,
// and an activity run with 5 evidence days per user. Each iteration uses a
// new profile of the same store.
func Benchmark(b *testing.B, open BenchOpener, n int) {
	const page = 500
	s := open(b)
	users := make([]store.StagedUser, n)
	for i := range users {
		users[i] = staged(i+1, skuSales)
		if i%4 == 0 {
			users[i].Licenses = append(users[i].Licenses, lic(skuApps))
		}
	}
	full := func(b *testing.B, p *sam.Profile) {
		r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions, Full: true}
		if err := s.StartRun(b.Context(), r); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += page {
			r.Checkpoint = fmt.Appendf(nil, "page %d", i/page)
			if err := s.StageUsers(b.Context(), r, users[i:min(i+page, n)]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.CommitSubscriptions(b.Context(), r, store.SubscriptionCommit{Full: true, Now: now, Models: models()}); err != nil {
			b.Fatal(err)
		}
	}
	seq := 0
	newP := func(b *testing.B) *sam.Profile {
		seq++
		p := &sam.Profile{Name: fmt.Sprintf("bench-%d", seq), TenantID: tenantID,
			Environments: []sam.Environment{{URL: "https://org.crm.dynamics.com"}}}
		if err := s.CreateProfile(b.Context(), p); err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run(fmt.Sprintf("FullSubscriptions/users=%d", n), func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			p := newP(b)
			b.StartTimer()
			full(b, p)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
	})
	b.Run(fmt.Sprintf("DeltaSubscriptions/users=%d", n), func(b *testing.B) {
		p := newP(b)
		full(b, p)
		changed := make([]store.StagedUser, 0, n/100)
		for i := 0; i < n; i += 100 {
			u := users[i]
			u.Department = "Changed"
			changed = append(changed, u)
		}
		for b.Loop() {
			r := &sam.Run{ProfileID: p.ID, Kind: sam.RunSubscriptions}
			if err := s.StartRun(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			if err := s.StageUsers(b.Context(), r, changed); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CommitSubscriptions(b.Context(), r, store.SubscriptionCommit{Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("Activity/users=%d", n), func(b *testing.B) {
		p := newP(b)
		full(b, p)
		env := p.Environments[0].ID
		sys := make([]store.SystemUser, n)
		for i := range sys {
			sys[i] = store.SystemUser{SystemUserID: sysUser(i + 1), AADObjectID: user(i + 1)}
		}
		var rows []store.StagedActivity
		for i := 1; i <= n; i++ {
			for d := range 5 {
				rows = append(rows, act(env, i, now.Add(-time.Duration(d*(i%17+1))*24*time.Hour), sam.SourceAccessWeb, 1))
			}
		}
		b.ResetTimer()
		for b.Loop() {
			r := &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity}
			if err := s.StartRun(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i += page {
				if err := s.StageSystemUsers(b.Context(), r, env, sys[i:min(i+page, n)]); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < len(rows); i += page {
				if err := s.StageActivity(b.Context(), r, rows[i:min(i+page, len(rows))]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.CommitActivity(b.Context(), r, store.ActivityCommit{Now: now,
				Environments: []sam.EnvironmentAudit{auditOK(env, now)}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("RecomputeUsage/users=%d", n), func(b *testing.B) {
		p, err := s.ProfileByName(b.Context(), fmt.Sprintf("bench-%d", seq))
		if err != nil {
			b.Fatal(err)
		}
		day := 0
		for b.Loop() {
			day++ // a new day: every class is computed again
			if err := s.RecomputeUsage(b.Context(), p.ID, now.AddDate(0, 0, day)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
