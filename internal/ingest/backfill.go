package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// DefaultAuditStreams is how many createdon ranges of one environment's
// audit log an activity run reads at once at most (Syncer.AuditStreams
// zero). The environment's concurrency Controller lowers it when Microsoft
// pushes back (see DataverseSource.Concurrency).
const DefaultAuditStreams = 32

// auditRange is one createdon range of an environment's audit window,
// read as its own paged stream: rows with From <= createdon (or From <
// createdon when After) and createdon < To (no bound when To is zero).
// Next is the link of the next page to read ("" before the first page);
// Rows and Pos (the newest createdon read) record the progress. Pages read
// beyond To (the range was split after its listing started) are cut
// there.
type auditRange struct {
	From  time.Time `json:"from"`
	After bool      `json:"after,omitempty"`
	To    time.Time `json:"to,omitzero"`
	Next  string    `json:"next,omitempty"`
	Rows  int64     `json:"rows,omitempty"`
	Pos   time.Time `json:"pos,omitzero"`
}

// auditStreams returns the most ranges read at once from dv.
func (s *Syncer) auditStreams(dv Dataverse) int {
	n := s.AuditStreams
	if n <= 0 {
		n = DefaultAuditStreams
	}
	if c, ok := dv.(interface{ Concurrency() int }); ok {
		n = min(n, max(1, c.Concurrency()))
	}
	return n
}

// fetchAudits reads the audits of one environment: with a single stream
// (Syncer.AuditStreams 1, or a run resumed from a single-stream
// checkpoint) page after page, else as parallel createdon ranges
// (backfillAudits). Both stage the same evidence and leave cp at the next
// environment.
func (s *Syncer) fetchAudits(ctx context.Context, dv Dataverse, env sam.Environment, users *systemUserMap, r *sam.Run, st *runStats, cp *actCheckpoint, resumed bool) error {
	if len(cp.Ranges) == 0 {
		from, after := auditStart(cp)
		if s.AuditStreams == 1 || cp.Next != auditsQuery(from, after) {
			return s.readAudits(ctx, dv, env, users, r, st, cp, resumed)
		}
	}
	err := s.backfillAudits(ctx, dv, env, users, r, st, cp, resumed)
	if err != nil {
		// The ranges in memory may be ahead of what was staged; a run that
		// goes on (the environment counted as unreachable) must not carry
		// them to the next environment.
		cp.Ranges = nil
	}
	return err
}

// auditStart returns where the current environment's audit window starts:
// the analysis start, or just after the environment's watermark when that
// is later.
func auditStart(cp *actCheckpoint) (from time.Time, after bool) {
	from = cp.From
	if wm := cp.Current.Watermark; !wm.IsZero() && !wm.Before(from) {
		return wm, true
	}
	return from, false
}

// rangeState is a range being read: the checkpointed part and what the
// reader needs.
type rangeState struct {
	auditRange
	id      int
	density float64 // rows per second of createdon, estimated
	hi      atomic.Int64
	stop    atomic.Bool
}

func (rs *rangeState) setTo(t time.Time) {
	rs.To = t
	if t.IsZero() {
		rs.hi.Store(0)
	} else {
		rs.hi.Store(t.UnixNano())
	}
}

// remaining estimates the rows of rs not read yet, with end standing in
// for an open range's bound.
func (rs *rangeState) remaining(end time.Time) float64 {
	to := rs.To
	if to.IsZero() {
		to = end
	}
	pos := rs.position()
	if !to.After(pos) {
		return 0
	}
	return rs.density * to.Sub(pos).Seconds()
}

func (rs *rangeState) position() time.Time {
	if rs.Pos.After(rs.From) {
		return rs.Pos
	}
	return rs.From
}

// rangePage is one page a range's reader fetched.
type rangePage struct {
	id   int
	page AuditPage
	err  error
}

// backfillPagesQueued is how many pages read by the streams of a backfill
// wait, decoded, for the one goroutine that aggregates them: a few keep it
// busy, and more would only hold memory (each stream also holds the page
// it is handing over).
const backfillPagesQueued = 8

// splitChunkPages is the size, in pages, of the ranges split off the front
// of a range with many pages left.
const splitChunkPages = 2

// minSplitSpan is the narrowest createdon span a range is split into.
const minSplitSpan = 2 * time.Second

// backfillAudits reads the audits of one environment as concurrent streams
// over createdon ranges, each paged with the client's odata.maxpagesize.
// It starts with one range over the whole window; a range that turns out
// dense (more pages to come than the others) is split at createdon points
// into new ranges while fewer than auditStreams are being read. Pages are
// aggregated in one place and staged in batches with a checkpoint that
// records every unfinished range's bounds and next link, so an interrupted
// run resumes each range where the staged evidence ends. A range's rows
// at or after its upper bound (lowered by a split after its listing began)
// belong to the range split off and are dropped from its pages. The
// evidence staged is exactly a sequential read's: each audit row falls in
// one range.
func (s *Syncer) backfillAudits(ctx context.Context, dv Dataverse, env sam.Environment, users *systemUserMap, r *sam.Run, st *runStats, cp *actCheckpoint, resumed bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := s.now()
	agg := newAggregator(env.ID)
	batch := s.stageBatchRows()
	ranges := map[int]*rangeState{}
	nextID := 0
	add := func(a auditRange, density float64) *rangeState {
		rs := &rangeState{auditRange: a, id: nextID, density: density}
		rs.setTo(a.To)
		if a.Rows > 0 {
			span := max(rs.Pos.Sub(rs.From), time.Second)
			rs.density = float64(a.Rows) / span.Seconds()
		}
		ranges[nextID] = rs
		nextID++
		return rs
	}
	if len(cp.Ranges) == 0 {
		from, after := auditStart(cp)
		add(auditRange{From: from, After: after}, 0)
	}
	for _, a := range cp.Ranges {
		add(a, 0)
	}

	stager := s.newAsyncStager(ctx)
	// On an early return the stager stops; a batch not written yet is lost
	// with its checkpoint, and the run resumes from the last one written.
	defer stager.wait()
	results := make(chan rangePage, backfillPagesQueued)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		// Unblock readers still sending, then wait for them.
		go func() {
			for range results {
			}
		}()
		wg.Wait()
		close(results)
	}()
	read := func(rs *rangeState) {
		link := rs.Next
		if link == "" {
			link = auditsRangeQuery(rs.From, rs.After, rs.To)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !rs.stop.Load() {
				p, err := dv.AuditsPage(ctx, link)
				select {
				case results <- rangePage{rs.id, p, err}:
				case <-ctx.Done():
					return
				}
				if err != nil || p.NextLink == "" || p.NextLink == link {
					return
				}
				if hi := rs.hi.Load(); hi != 0 && len(p.Rows) > 0 && p.Rows[len(p.Rows)-1].CreatedOn.UnixNano() >= hi {
					return
				}
				link = p.NextLink
			}
		}()
	}
	for _, rs := range ranges {
		read(rs)
	}
	active := len(ranges)
	pageRows := 0 // the largest page seen: the page size

	for active > 0 {
		var res rangePage
		select {
		case res = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		rs := ranges[res.id]
		if rs == nil {
			continue // a page read past the end of a finished range
		}
		if res.err != nil {
			return fmt.Errorf("environment %s: read audits: %w", env.URL, res.err)
		}
		if res.page.NextLink != "" && res.page.NextLink == rs.Next {
			return sam.Errorf(sam.EUNAVAILABLE, "environment %s: read audits: the service returned the same page link again", env.URL)
		}
		pageRows = max(pageRows, len(res.page.Rows))
		rows := res.page.Rows
		last := res.page.NextLink == ""
		if !rs.To.IsZero() {
			if i := slices.IndexFunc(rows, func(a AuditRow) bool { return !a.CreatedOn.Before(rs.To) }); i >= 0 {
				rows, last = rows[:i], true
			}
		}
		agg.add(cp.From, rows, &cp.MaxSeen)
		r.Counts["audit_rows"] += int64(len(rows))
		if len(rows) > 0 {
			rs.Rows += int64(len(rows))
			rs.Pos = rows[len(rows)-1].CreatedOn
			rs.density = float64(rs.Rows) / max(rs.Pos.Sub(rs.From), time.Second).Seconds()
		}
		if last {
			rs.stop.Store(true)
			delete(ranges, rs.id)
			active--
		} else {
			rs.Next = res.page.NextLink
			for _, n := range splitRanges(ranges, pageRows, end, s.auditStreams(dv)-active, add) {
				read(n)
				active++
			}
		}
		if active > 0 && agg.len() < batch {
			s.auditProgress(env, r, resumed)
			continue
		}
		cp.Ranges = cp.Ranges[:0]
		for _, x := range ranges {
			cp.Ranges = append(cp.Ranges, x.auditRange)
		}
		slices.SortFunc(cp.Ranges, func(a, b auditRange) int { return a.From.Compare(b.From) })
		saved := *cp
		if active == 0 {
			if cp.MaxSeen.After(cp.Current.Watermark) {
				cp.Current.Watermark = cp.MaxSeen
			}
			cp.Done = append(cp.Done, *cp.Current)
			cp.Current, cp.Phase, cp.Next, cp.MaxSeen, cp.Ranges = nil, "", "", time.Time{}, nil
			// The environment is finished: the checkpoint points at the next one.
			saved = nextEnv(*cp)
		}
		r.Checkpoint, _ = json.Marshal(saved)
		st.apply(r)
		staged := agg.take()
		users.resolve(staged)
		if err := stager.stage(r, staged); err != nil {
			return err
		}
		s.auditProgress(env, r, resumed)
	}
	return stager.wait()
}

// asyncStager stages batches in order in a goroutine of its own, one
// batch at a time, while the next batch is gathered: a snapshot of the
// run (checkpoint and counts as they were when the batch was complete)
// goes with each batch, so what is staged and its checkpoint always match.
// At most one batch waits while another is written.
type asyncStager struct {
	jobs   chan stageJob
	done   chan struct{}
	failed chan struct{} // closed when a batch failed
	err    error         // the failure; read after failed or done is closed
}

type stageJob struct {
	run  sam.Run
	rows []store.StagedActivity
}

func (s *Syncer) newAsyncStager(ctx context.Context) *asyncStager {
	a := &asyncStager{jobs: make(chan stageJob, 1), done: make(chan struct{}), failed: make(chan struct{})}
	go func() {
		defer close(a.done)
		for j := range a.jobs {
			if a.err != nil {
				continue // drain after a failure
			}
			if a.err = s.Store.StageActivity(ctx, &j.run, j.rows); a.err != nil {
				close(a.failed)
			}
		}
	}()
	return a
}

// stage queues rows with a snapshot of r; it fails with the error of an
// earlier batch.
func (a *asyncStager) stage(r *sam.Run, rows []store.StagedActivity) error {
	snap := *r
	snap.Counts = maps.Clone(r.Counts)
	snap.Warnings = slices.Clone(r.Warnings)
	snap.Checkpoint = slices.Clone(r.Checkpoint)
	select {
	case <-a.failed:
		return a.err
	default:
	}
	select {
	case a.jobs <- stageJob{snap, rows}:
		return nil
	case <-a.failed:
		return a.err
	}
}

// wait ends the stager after the queued batches are written and returns
// the first error. It may be called more than once.
func (a *asyncStager) wait() error {
	select {
	case <-a.done:
	default:
		close(a.jobs)
		<-a.done
	}
	return a.err
}

// splitRanges splits the ranges with the most rows left (estimated from
// the density read so far) into up to free new ranges, each expected to
// hold at least a page (pageRows rows), at whole UTC days when each piece
// spans a day or more, else at whole seconds, at least minSplitSpan apart; end stands in for an open range's bound. A split
// range keeps its listing and gets a lower bound To; the new ranges start
// their own listings. It returns the new ranges.
func splitRanges(ranges map[int]*rangeState, pageRows int, end time.Time, free int, add func(auditRange, float64) *rangeState) []*rangeState {
	if free <= 0 || pageRows <= 0 {
		return nil
	}
	cands := make([]*rangeState, 0, len(ranges))
	for _, x := range ranges {
		if x.remaining(end) >= 2*float64(pageRows) {
			cands = append(cands, x)
		}
	}
	slices.SortFunc(cands, func(a, b *rangeState) int {
		ra, rb := a.remaining(end), b.remaining(end)
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return a.id - b.id
	})
	var out []*rangeState
	for _, x := range cands {
		if free <= 0 {
			break
		}
		to := x.To
		if to.IsZero() {
			to = end
		}
		pos := x.position()
		pages := x.remaining(end) / float64(pageRows)
		var points []time.Time
		prev := pos
		addPoint := func(p time.Time) {
			if p.Sub(prev) >= minSplitSpan && to.Sub(p) >= minSplitSpan {
				points = append(points, p)
				prev = p
			}
		}
		if pages >= float64(free+2)*splitChunkPages {
			// Chunks of a few pages at the range's front and the rest as
			// one range: the streams stay close together in time, so a
			// user's evidence of a day is gathered into few batches.
			step := time.Duration(float64(to.Sub(pos)) * splitChunkPages / pages)
			for i := 1; i <= free; i++ {
				addPoint(pos.Add(step * time.Duration(i)).Truncate(time.Second))
			}
		} else {
			pieces := min(free+1, int(pages))
			// Whole UTC days when the span allows: a user's evidence of one
			// day then comes from one range.
			unit := time.Second
			if to.Sub(pos) >= time.Duration(pieces)*24*time.Hour {
				unit = 24 * time.Hour
			}
			for i := 1; i < pieces; i++ {
				addPoint(pos.Add(time.Duration(float64(to.Sub(pos)) * float64(i) / float64(pieces))).Truncate(unit))
			}
		}
		if len(points) == 0 {
			continue
		}
		oldTo := x.To
		x.setTo(points[0])
		for i, p := range points {
			nt := oldTo
			if i+1 < len(points) {
				nt = points[i+1]
			}
			out = append(out, add(auditRange{From: p, To: nt}, x.density))
			free--
		}
	}
	return out
}
