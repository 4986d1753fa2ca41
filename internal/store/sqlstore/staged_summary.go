package sqlstore

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// An activity run's evidence, summed up by Entra user as it is staged, so
// that the commit's recompute need not read the staged rows back: at
// 100,000 users that read took 1 s of the database's time and 1 s of the
// process's, first in the line of what the commit waits for on PostgreSQL
// (the usage written ahead starts once the evidence is read).
//
// The summary is kept in memory for runs started by this Store, and only
// while it is certain to say what reading the staged rows would say:
// every batch staged for the run went through this Store and committed,
// every row's Entra user is known (PostgreSQL resolves the rows not
// Resolved by the caller in SQL), no Dataverse users staged later mapped
// rows left unmapped, no row is a sign-in. The commit checks the rest
// against the database: the run's staged rows are as many as the summary
// counted (another process staged none), every environment summarized is
// still the profile's, no row predates the analysis start, and the 90-day
// window lies within the days summarized. Otherwise the staged rows are
// read as before.

// stagedDays is one user's staged evidence: the newest time and its
// source, and the days as bits from the summary's base day.
type stagedDays struct {
	last   int64 // Unix microseconds
	source uint8 // index into stagedSummary.sources
	days   [2]uint64
}

// stagedSummary sums up one activity run's staged evidence.
type stagedSummary struct {
	profile int64
	base    int64 // day number (days since 1970-01-01) of bit 0
	valid   bool
	rows    int64 // staged rows counted, unmapped ones included
	minLast int64 // the oldest time of a mapped row, Unix microseconds
	users   map[sam.GUID]stagedDays
	sources []string
	srcIdx  map[string]uint8
	envs    map[int64]bool // environments with mapped rows
	// environments with unmapped rows: Dataverse users staged there later
	// may map them.
	unmapped map[int64]bool
}

// summaries holds the staged-evidence summaries of the activity runs this
// Store started.
type summaries struct {
	mu   sync.Mutex
	runs map[int64]*stagedSummary
	used atomic.Int64
}

// SummarizeStaged turns the summaries of staged evidence on (the default)
// or off, for runs started afterwards. A variable so that tests can take
// the other way.
var SummarizeStaged = true

// SummariesUsed returns how many activity commits of this Store took the
// run's evidence from its summary instead of reading the staged rows.
func (s *Store) SummariesUsed() int64 { return s.sums.used.Load() }

// summaryWindowDays is how many days before its start a run's summary
// keeps: the 90-day window of a commit on the run's first day.
const summaryWindowDays = 89

// startSummary begins the summary of activity run r.
func (s *Store) startSummary(r *sam.Run) {
	if r.Kind != sam.RunActivity || !SummarizeStaged {
		return
	}
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	if s.sums.runs == nil {
		s.sums.runs = map[int64]*stagedSummary{}
	}
	s.sums.runs[r.ID] = &stagedSummary{profile: r.ProfileID, base: dayNumber(r.StartedAt) - summaryWindowDays, valid: true,
		users: map[sam.GUID]stagedDays{}, srcIdx: map[string]uint8{}, envs: map[int64]bool{}, unmapped: map[int64]bool{}}
}

// dropSummary forgets run runID's summary (the run ended, or something
// staged for it cannot be summed up).
func (s *Store) dropSummary(runID int64) {
	s.sums.mu.Lock()
	delete(s.sums.runs, runID)
	s.sums.mu.Unlock()
}

// dropProfileSummaries forgets the summaries of profileID's runs (the
// profile is deleted: its running runs end failed).
func (s *Store) dropProfileSummaries(profileID int64) {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	for id, sum := range s.sums.runs {
		if sum.profile == profileID {
			delete(s.sums.runs, id)
		}
	}
}

// summary returns run runID's summary while it is valid, else nil. The
// caller must not change it.
func (s *Store) summary(runID int64) *stagedSummary {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	if sum := s.sums.runs[runID]; sum != nil && sum.valid {
		return sum
	}
	return nil
}

// summarize adds rows, staged and committed for run runID, to its summary;
// users[i] is row i's Entra user ("" unmapped) and known[i] whether it is
// known at all.
func (s *Store) summarize(runID int64, rows []store.StagedActivity, users []string, known []bool) {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	sum := s.sums.runs[runID]
	if sum == nil || !sum.valid {
		return
	}
	for i, a := range rows {
		sum.rows++
		if !known[i] || a.Source == sam.SourceSignIn {
			sum.invalidate()
			return
		}
		if users[i] == "" {
			sum.unmapped[a.EnvironmentID] = true
			continue
		}
		g, ok := sam.ParseGUID(users[i])
		if !ok {
			sum.invalidate()
			return
		}
		last := timestamp(a.LastAt)
		if last.IsZero() {
			last = sam.Day(a.Day)
		}
		at := last.UnixMicro()
		idx := dayNumber(a.Day) - sum.base
		src, ok := sourceIndex(sum.srcIdx, &sum.sources, string(a.Source))
		if !ok {
			sum.invalidate()
			return
		}
		d, seen := sum.users[g]
		if !seen && len(sum.users) >= ReadAheadMaxUsers {
			sum.invalidate() // the read ahead would stop there too
			return
		}
		if idx >= 128 {
			sum.invalidate() // a run going on for weeks, or a clock far ahead
			return
		}
		if idx >= 0 {
			d.days[idx/64] |= 1 << (idx % 64)
		}
		if d.last == 0 || at > d.last || (at == d.last && string(a.Source) < sum.sources[d.source]) {
			d.last, d.source = at, src
		}
		sum.users[g] = d
		sum.envs[a.EnvironmentID] = true
		if sum.minLast == 0 || at < sum.minLast {
			sum.minLast = at
		}
	}
}

// invalidate gives the summary up: the commit reads the staged rows.
func (sum *stagedSummary) invalidate() {
	sum.valid = false
	sum.users, sum.srcIdx, sum.envs, sum.unmapped = nil, nil, nil, nil
}

// usersStaged notes that Dataverse users of env were staged for run
// runID: rows of env staged unmapped before may be mapped now.
func (s *Store) usersStaged(runID, env int64) {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	if sum := s.sums.runs[runID]; sum != nil && sum.valid && sum.unmapped[env] {
		sum.invalidate()
	}
}

// usable reports whether the summary can stand for the run's staged rows
// in a recompute whose evidence starts at start, with a 90-day window from
// d90, for a profile with environments envs and staged rows rows.
func (sum *stagedSummary) usable(start, d90 time.Time, envs map[int64]bool, rows int64) bool {
	if sum == nil || !sum.valid || rows != sum.rows || dayNumber(d90) < sum.base {
		return false
	}
	if sum.minLast != 0 && sum.minLast < timestamp(start).UnixMicro() {
		return false
	}
	for e := range sum.envs {
		if !envs[e] {
			return false
		}
	}
	return true
}

// addTo adds the summary to the evidence p read ahead (days as offsets from
// first, the window's first day number), as reading the staged rows would:
// see readEvidence. It fails with errTooManyUsers past maxUsers users.
func (sum *stagedSummary) addTo(p *preEvidence, sourceIdx map[string]uint8, first int64, maxUsers int) error {
	srcs := make([]uint8, len(sum.sources))
	for i, name := range sum.sources {
		src, ok := sourceIndex(sourceIdx, &p.sources, name)
		if !ok {
			return errTooManySources
		}
		srcs[i] = src
	}
	shift := int(sum.base - first)
	for g, d := range sum.users {
		w, err := p.user(g, maxUsers)
		if err != nil {
			return err
		}
		for k := range w {
			w[k].add(-1, d.last, srcs[d.source], p.sources)
			for word, b := range d.days {
				for b != 0 {
					bit := bits.TrailingZeros64(b)
					b &= b - 1
					w[k].addDay(word*64 + bit + shift)
				}
			}
		}
	}
	return nil
}

// dayNumber is t's UTC day as days since 1970-01-01.
func dayNumber(t time.Time) int64 { return sam.Day(t).Unix() / 86400 }
