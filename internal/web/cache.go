package web

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/store"
)

// countsCache keeps the usage counts behind the dashboard and the usage
// report, which aggregate every subscription. Subscriptions change only when
// a run commits or a profile is deleted, so an entry stays valid while the
// data stamp (respcache.go) is unchanged; entries also expire after maxAge.
type countsCache struct {
	flight  sync.Mutex // held while counting
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

// usageCounts returns the open subscriptions' counts of a profile (0: all),
// from the cache when nothing changed since they were counted.
func (s *Server) usageCounts(ctx context.Context, profileID int64) ([]store.UsageCount, error) {
	stamp, err := s.dataStamp(ctx)
	if err != nil {
		return nil, err
	}
	// One count at a time: it reads every subscription, and concurrent
	// requests after a change wait for it rather than repeat it.
	s.counts.flight.Lock()
	defer s.counts.flight.Unlock()
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

// lookupCache keeps profile names (which never change: profiles cannot be
// renamed) and SKU part numbers for the subscription listings, so that a
// page costs one query. A miss reloads; part numbers are kept for a minute
// (a SKU can go from unmapped to mapped).
type lookupCache struct {
	mu      sync.Mutex
	names   map[int64]string
	parts   map[string]string
	partsAt time.Time
}

// profileNamesOf returns the names of the given profile ids.
func (s *Server) profileNamesOf(ctx context.Context, ids []int64) (map[int64]string, error) {
	s.lookups.mu.Lock()
	missing := s.lookups.names == nil
	for _, id := range ids {
		if _, ok := s.lookups.names[id]; !ok {
			missing = true
		}
	}
	out := map[int64]string{}
	if !missing {
		for _, id := range ids {
			out[id] = s.lookups.names[id]
		}
		s.lookups.mu.Unlock()
		return out, nil
	}
	s.lookups.mu.Unlock()
	ps, err := s.cfg.Store.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(ps))
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	s.lookups.mu.Lock()
	s.lookups.names = names
	s.lookups.mu.Unlock()
	for _, id := range ids {
		out[id] = names[id]
	}
	return out, nil
}

// partNumbersOf returns the part numbers of the given SKUs ("" for a SKU
// without a software model).
func (s *Server) partNumbersOf(ctx context.Context, skus []string) (map[string]string, error) {
	s.lookups.mu.Lock()
	if time.Since(s.lookups.partsAt) > time.Minute {
		s.lookups.parts, s.lookups.partsAt = nil, time.Now()
	}
	out := map[string]string{}
	var missing []string
	for _, k := range skus {
		if v, ok := s.lookups.parts[k]; ok {
			out[k] = v
		} else if !slices.Contains(missing, k) {
			missing = append(missing, k)
		}
	}
	s.lookups.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	ms, err := s.cfg.Store.SoftwareModels(ctx, store.ModelFilter{SKUIDs: missing})
	if err != nil {
		return nil, err
	}
	s.lookups.mu.Lock()
	defer s.lookups.mu.Unlock()
	if s.lookups.parts == nil {
		s.lookups.parts = map[string]string{}
	}
	for _, k := range missing {
		out[k] = ""
	}
	for _, m := range ms {
		out[m.SKUID] = m.PartNumber
		s.lookups.parts[m.SKUID] = m.PartNumber
	}
	return out, nil
}
