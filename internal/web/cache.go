package web

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/store"
)

// countsCache keeps the usage counts behind the dashboard and the usage
// report, which aggregate every subscription. Subscriptions change only when
// a run commits or a profile is deleted, so an entry stays valid while the
// newest run (id and status) and the number of profiles are unchanged,
// checked with two small queries; entries also expire after maxAge.
type countsCache struct {
	mu      sync.Mutex
	entries map[int64]countsEntry
}

type countsEntry struct {
	stamp  string
	at     time.Time
	counts []store.UsageCount
}

// countsMaxAge bounds how long counts are served without recounting.
const countsMaxAge = 5 * time.Minute

// stamp summarises what the counts depend on.
func (s *Server) countsStamp(ctx context.Context) (string, error) {
	runs, err := s.cfg.Store.Runs(ctx, store.RunFilter{Limit: 1})
	if err != nil {
		return "", err
	}
	ps, err := s.cfg.Store.Profiles(ctx)
	if err != nil {
		return "", err
	}
	st := "profiles:" + itoa64(int64(len(ps)))
	for _, p := range ps {
		st += "," + itoa64(p.ID)
	}
	if len(runs) > 0 {
		st += " run:" + itoa64(runs[0].ID) + ":" + string(runs[0].Status)
	}
	return st, nil
}

// usageCounts returns the open subscriptions' counts of a profile (0: all),
// from the cache when nothing changed since they were counted.
func (s *Server) usageCounts(ctx context.Context, profileID int64) ([]store.UsageCount, error) {
	stamp, err := s.countsStamp(ctx)
	if err != nil {
		return nil, err
	}
	s.counts.mu.Lock()
	e, ok := s.counts.entries[profileID]
	s.counts.mu.Unlock()
	if ok && e.stamp == stamp && time.Since(e.at) < countsMaxAge {
		return e.counts, nil
	}
	counts, err := s.cfg.Store.UsageCounts(ctx, profileID, true)
	if err != nil {
		return nil, err
	}
	s.counts.mu.Lock()
	if s.counts.entries == nil || len(s.counts.entries) > 1000 {
		s.counts.entries = map[int64]countsEntry{}
	}
	s.counts.entries[profileID] = countsEntry{stamp: stamp, at: time.Now(), counts: counts}
	s.counts.mu.Unlock()
	return counts, nil
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
