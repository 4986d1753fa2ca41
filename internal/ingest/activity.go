package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// ActivityResult is what an activity run did.
type ActivityResult struct {
	Run     *sam.Run
	Changes store.ActivityChanges
	Resumed bool
}

// actCheckpoint is the checkpoint of an activity run: which environment it
// reads (index into the profile's environments ordered by ID), which phase,
// the next page, the newest createdon counted in this environment so far,
// and what it learned about the environments already finished.
type actCheckpoint struct {
	From    time.Time              `json:"from"`
	Env     int                    `json:"env"`
	Phase   string                 `json:"phase,omitempty"` // "", "systemusers", "audits"
	Next    string                 `json:"next,omitempty"`
	MaxSeen time.Time              `json:"max_seen,omitzero"`
	Current *sam.EnvironmentAudit  `json:"current,omitempty"`
	Done    []sam.EnvironmentAudit `json:"done,omitempty"`
	// Ranges are the unfinished createdon ranges of a parallel audit
	// backfill of environment Env (see backfillAudits).
	Ranges []auditRange `json:"ranges,omitempty"`
}

// AnalysisStart returns the earliest time evidence counts from: the
// profile's AnalyzeFrom, or 90 days before now when it is zero.
func AnalysisStart(p *sam.Profile, now time.Time) time.Time {
	if !p.AnalyzeFrom.IsZero() {
		return p.AnalyzeFrom.UTC()
	}
	return now.UTC().AddDate(0, 0, -90)
}

// Activity calculates the profile's activity: for each environment it reads
// the audit settings, the system users and the audit rows that are evidence
// of use since the later of the analysis start and the environment's
// watermark, aggregated by user, UTC day and source; then commits them and
// the environments' audit status. An environment that cannot be reached is
// recorded as such with a warning (its users' usage becomes unknown, never
// inactive). It resumes the profile's unfinished activity run if there is
// one.
//
// Errors: as Subscriptions.
func (s *Syncer) Activity(ctx context.Context, p *sam.Profile) (*ActivityResult, error) {
	return s.activityRun(ctx, p, nil)
}

// activityRun is Activity; gate, when set, is waited for before the
// commit, and its error ends the invocation with the run resumable.
func (s *Syncer) activityRun(ctx context.Context, p *sam.Profile, gate func(context.Context) error) (*ActivityResult, error) {
	res := &ActivityResult{}
	r, err := s.Store.UnfinishedRun(ctx, p.ID, sam.RunActivity)
	switch {
	case err == nil:
		res.Resumed = true
		s.logger().Info("resuming activity run", "profile", p.Name, "run", r.ID)
	case sam.IsCode(err, sam.ENOTFOUND):
		r = &sam.Run{ProfileID: p.ID, Kind: sam.RunActivity, Status: sam.RunRunning, StartedAt: s.now(), Counts: map[string]int64{}}
		if err := s.Store.StartRun(ctx, r); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if r.Counts == nil {
		r.Counts = map[string]int64{}
	}
	res.Run = r
	if s.OnRun != nil {
		s.OnRun(r)
	}
	st := newRunStats(s.Counters, r, odata.ServiceDataverse)
	changes, err := s.activity(ctx, p, r, st, res.Resumed, gate)
	if err != nil {
		if gate != nil && Permanent(err) {
			// The subscriptions run alongside sets the profile's state
			// when it ends: this failure's state goes after it, as it
			// would one run after the other.
			_ = gate(context.WithoutCancel(ctx))
		}
		return res, s.fail(ctx, p, r, st, err)
	}
	res.Changes = changes
	return res, nil
}

func (s *Syncer) activity(ctx context.Context, p *sam.Profile, r *sam.Run, st *runStats, resumed bool, gate func(context.Context) error) (store.ActivityChanges, error) {
	now := s.now()
	var cp actCheckpoint
	if len(r.Checkpoint) > 0 {
		if err := json.Unmarshal(r.Checkpoint, &cp); err != nil || cp.From.IsZero() {
			// A checkpoint this version cannot read: start the run afresh
			// rather than fail on it forever.
			s.logger().Warn("activity run has an unreadable checkpoint; starting it again", "run", r.ID)
			if err := s.Store.DiscardStaging(ctx, r.ID); err != nil {
				return store.ActivityChanges{}, err
			}
			cp = actCheckpoint{}
			r.Counts = map[string]int64{}
		}
	}
	if cp.From.IsZero() {
		cp.From = AnalysisStart(p, now)
	}
	envs := append([]sam.Environment(nil), p.Environments...)
	sort.Slice(envs, func(i, j int) bool { return envs[i].ID < envs[j].ID })
	window := sam.DaysBetween(cp.From, now)

	for ; cp.Env < len(envs); cp.Env++ {
		env := envs[cp.Env]
		if err := ctx.Err(); err != nil {
			return store.ActivityChanges{}, err
		}
		dv, err := s.Dataverse(env)
		if err != nil {
			return store.ActivityChanges{}, fmt.Errorf("environment %s: %w", env.URL, err)
		}
		if cp.Current == nil {
			s.progress(Progress{Kind: sam.RunActivity, Phase: "settings", Environment: env.URL, Items: r.Counts["audit_rows"], Requests: r.Requests, Resumed: resumed})
			set, err := dv.AuditSettings(ctx)
			if err != nil {
				if sam.IsCode(err, sam.EUNAUTHORIZED) || ctx.Err() != nil {
					return store.ActivityChanges{}, fmt.Errorf("environment %s: %w", env.URL, err)
				}
				// Unreachable or not permitted: no evidence from it, its
				// users' usage is unknown.
				if err := s.unreachable(ctx, r, st, &cp, env, now, err); err != nil {
					return store.ActivityChanges{}, err
				}
				continue
			}
			ea := sam.EnvironmentAudit{EnvironmentID: env.ID, Reachable: true, AuditEnabled: set.AuditEnabled,
				UserAccessAuditEnabled: set.UserAccessAuditEnabled, RetentionDays: set.RetentionDays,
				Watermark: env.Audit.Watermark, CheckedAt: now}
			if !set.AuditEnabled {
				r.Warnings = appendOnce(r.Warnings, fmt.Sprintf("environment %s: auditing is off; users without evidence there are unknown, not inactive (turn on Start Auditing)", env.URL))
			} else if !set.UserAccessAuditEnabled {
				r.Warnings = appendOnce(r.Warnings, fmt.Sprintf("environment %s: user access auditing is off; users without evidence there are unknown, not inactive (turn on Audit user access)", env.URL))
			}
			if set.RetentionDays >= 0 && set.RetentionDays < window {
				r.Warnings = appendOnce(r.Warnings, fmt.Sprintf("environment %s: audit retention (%d days) is shorter than the analysis window (%d days); older inactivity cannot be proven", env.URL, set.RetentionDays, window))
			}
			cp.Current = &ea
			cp.Phase, cp.Next = "systemusers", systemUsersQuery
			if err := s.Store.SaveRunProgress(ctx, withCheckpoint(r, cp, st)); err != nil {
				return store.ActivityChanges{}, err
			}
		}
		// The environment's users, when this invocation reads their
		// listing from the start: evidence is then resolved in memory.
		var userMap *systemUserMap
		if cp.Phase == "systemusers" && cp.Next == systemUsersQuery {
			userMap = newSystemUserMap()
		}
		var userPages <-chan pageResult[SystemUserPage]
		stopUsers := func() {}
		if cp.Phase == "systemusers" {
			// The next pages are read while one is staged.
			pctx, cancel := context.WithCancel(ctx)
			defer cancel() // on an early return
			stopUsers = cancel
			userPages = prefetch(pctx, systemUserPagesAhead, cp.Next, dv.SystemUsersPage, func(p SystemUserPage) string { return p.NextLink })
		}
		for cp.Phase == "systemusers" {
			if err := ctx.Err(); err != nil {
				return store.ActivityChanges{}, err
			}
			res, more := <-userPages
			if !more {
				// Only cancellation ends the pages before the last one.
				if err := ctx.Err(); err != nil {
					return store.ActivityChanges{}, err
				}
				return store.ActivityChanges{}, sam.Errorf(sam.EINTERNAL, "environment %s: Dataverse users listing ended early", env.URL)
			}
			page, err := res.page, res.err
			if sam.IsCode(err, sam.EFORBIDDEN) {
				if err := s.unreachable(ctx, r, st, &cp, env, now, err); err != nil {
					return store.ActivityChanges{}, err
				}
				break
			}
			if err != nil {
				return store.ActivityChanges{}, fmt.Errorf("environment %s: read systemusers: %w", env.URL, err)
			}
			users := make([]store.SystemUser, 0, len(page.Users))
			for _, u := range page.Users {
				if u.SystemUserID == "" {
					continue
				}
				users = append(users, store.SystemUser{SystemUserID: sam.NormalizeGUID(u.SystemUserID),
					AADObjectID: sam.NormalizeGUID(u.AADObjectID), DomainName: u.DomainName, FullName: u.FullName,
					IsDisabled: u.IsDisabled, AccessMode: u.AccessMode})
			}
			r.Counts["system_users"] += int64(len(users))
			if page.NextLink != "" {
				cp.Next = page.NextLink
			} else {
				cp.Phase = "audits"
				from, after := cp.From, false
				if wm := cp.Current.Watermark; !wm.IsZero() && !wm.Before(from) {
					from, after = wm, true
				}
				cp.Next = auditsQuery(from, after)
			}
			r.Checkpoint, _ = json.Marshal(cp)
			st.apply(r)
			if err := s.Store.StageSystemUsers(ctx, r, env.ID, users); err != nil {
				return store.ActivityChanges{}, err
			}
			userMap.add(users)
			s.progress(Progress{Kind: sam.RunActivity, Phase: "systemusers", Environment: env.URL, Items: r.Counts["audit_rows"], Requests: r.Requests, Resumed: resumed})
		}
		stopUsers()
		if cp.Phase == "audits" {
			err := s.fetchAudits(ctx, dv, env, userMap, r, st, &cp, resumed)
			if sam.IsCode(err, sam.EFORBIDDEN) {
				// The application user may not read audits here
				// (prvReadAuditSummary): what was staged stays evidence,
				// the environment counts as unreachable.
				err = s.unreachable(ctx, r, st, &cp, env, now, err)
			}
			if err != nil {
				return store.ActivityChanges{}, err
			}
		}
	}
	if gate != nil {
		if err := gate(ctx); err != nil {
			return store.ActivityChanges{}, err
		}
	}
	s.progress(Progress{Kind: sam.RunActivity, Phase: "commit", Items: r.Counts["audit_rows"], Requests: r.Requests, Resumed: resumed})
	st.apply(r)
	r.Error = ""
	changes, err := s.Store.CommitActivity(ctx, r, store.ActivityCommit{Now: now, Environments: cp.Done})
	if err != nil {
		return changes, fmt.Errorf("commit activity: %w", err)
	}
	r.Counts["unmapped_rows"] = changes.UnmappedRows
	return changes, nil
}

// DefaultStageBatchRows is how many aggregated evidence rows an activity run
// gathers, over consecutive audit pages, before it stages them with its
// checkpoint in one transaction: fewer, larger transactions write less (a
// batch of 40,000 rows stages faster per row than one of 20,000, and merges
// more of a day's events), while up to three batches (one gathered, one
// waiting, one being written by the parallel backfill) stay well inside the
// sync's memory target; 100,000 took a 100,000-user sync past 256 MB. An
// interrupted run repeats at most one batch of pages.
const DefaultStageBatchRows = 40000

// stageBatchRows returns Syncer.StageBatchRows, or its default.
func (s *Syncer) stageBatchRows() int {
	if s.StageBatchRows > 0 {
		return s.StageBatchRows
	}
	return DefaultStageBatchRows
}

// auditProgress reports the audit rows of run r read so far in env.
func (s *Syncer) auditProgress(env sam.Environment, r *sam.Run, resumed bool) {
	s.progress(Progress{Kind: sam.RunActivity, Phase: "audits", Environment: env.URL, Items: r.Counts["audit_rows"], Requests: r.Requests, Resumed: resumed})
}

// readAudits reads the audit pages of one environment from cp.Next,
// fetching up to auditPagesAhead pages ahead while one is aggregated and staged,
// and stages the evidence in batches; when the last page is staged, cp
// points at the next environment's settings.
func (s *Syncer) readAudits(ctx context.Context, dv Dataverse, env sam.Environment, users *systemUserMap, r *sam.Run, st *runStats, cp *actCheckpoint, resumed bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := prefetch(ctx, auditPagesAhead, cp.Next, dv.AuditsPage, func(p AuditPage) string { return p.NextLink })
	agg := newAggregator(env.ID)
	batch := s.stageBatchRows()
	for res := range pages {
		if res.err != nil {
			return fmt.Errorf("environment %s: read audits: %w", env.URL, res.err)
		}
		page := res.page
		agg.add(cp.From, page.Rows, &cp.MaxSeen)
		r.Counts["audit_rows"] += int64(len(page.Rows))
		last := page.NextLink == ""
		if !last {
			cp.Next = page.NextLink
			if agg.len() < batch {
				s.auditProgress(env, r, resumed)
				continue
			}
		}
		saved := *cp
		if last {
			if cp.MaxSeen.After(cp.Current.Watermark) {
				cp.Current.Watermark = cp.MaxSeen
			}
			cp.Done = append(cp.Done, *cp.Current)
			cp.Current, cp.Phase, cp.Next, cp.MaxSeen = nil, "", "", time.Time{}
			// The environment is finished: the checkpoint points at the next one.
			saved = nextEnv(*cp)
		}
		r.Checkpoint, _ = json.Marshal(saved)
		st.apply(r)
		rows := agg.take()
		users.resolve(rows)
		if err := s.Store.StageActivity(ctx, r, rows); err != nil {
			return err
		}
		s.auditProgress(env, r, resumed)
	}
	if cp.Phase == "audits" {
		// The pages ended without a last page: only cancellation does that.
		if err := ctx.Err(); err != nil {
			return err
		}
		return sam.Errorf(sam.EINTERNAL, "environment %s: audit listing ended early", env.URL)
	}
	return nil
}

// pageResult is one page fetched ahead, or the error that ended the
// listing.
type pageResult[P any] struct {
	page P
	err  error
}

// systemUserPagesAhead is how many pages of an environment's Dataverse
// users are fetched and decoded ahead of the page being staged.
const systemUserPagesAhead = 2

// auditPagesAhead is how many audit pages are fetched and decoded ahead of
// the page being aggregated: while a batch is staged (a transaction of
// tens of thousands of rows) the reader keeps going instead of waiting
// after one page. Memory stays bounded by this many pages.
const auditPagesAhead = 8

// prefetch reads a paged listing from start in a goroutine, up to ahead
// pages (at least one) ahead of the consumer: the channel yields the pages
// in order and is closed after the last page (next returns "") or after an
// error, which is the last value. Cancelling ctx stops it.
func prefetch[P any](ctx context.Context, ahead int, start string, fetch func(context.Context, string) (P, error), next func(P) string) <-chan pageResult[P] {
	ch := make(chan pageResult[P], max(1, ahead))
	go func() {
		defer close(ch)
		for url := start; url != ""; {
			p, err := fetch(ctx, url)
			select {
			case ch <- pageResult[P]{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			n := next(p)
			if n == url {
				select {
				case ch <- pageResult[P]{err: sam.Errorf(sam.EUNAVAILABLE, "the service returned the same page link again")}:
				case <-ctx.Done():
				}
				return
			}
			url = n
		}
	}()
	return ch
}

// unreachable records that env could not be read (err says why) and moves
// the checkpoint past it: its users' usage is unknown, never inactive.
// Credentials rejected (EUNAUTHORIZED) and cancellation are returned
// instead, as they concern the whole run.
func (s *Syncer) unreachable(ctx context.Context, r *sam.Run, st *runStats, cp *actCheckpoint, env sam.Environment, now time.Time, err error) error {
	if sam.IsCode(err, sam.EUNAUTHORIZED) || ctx.Err() != nil {
		return fmt.Errorf("environment %s: %w", env.URL, err)
	}
	ea := sam.EnvironmentAudit{EnvironmentID: env.ID, Reachable: false, Error: sam.ErrorMessage(err),
		Watermark: env.Audit.Watermark, CheckedAt: now}
	if ea.Error == "internal error" {
		ea.Error = err.Error()
	}
	r.Warnings = appendOnce(r.Warnings, fmt.Sprintf("environment %s could not be read (%s): usage of its users is unknown", env.URL, ea.Error))
	cp.Done = append(cp.Done, ea)
	cp.Current, cp.Phase, cp.Next, cp.MaxSeen = nil, "", "", time.Time{}
	return s.Store.SaveRunProgress(ctx, withCheckpoint(r, nextEnv(*cp), st))
}

// nextEnv returns cp moved to the next environment.
func nextEnv(cp actCheckpoint) actCheckpoint {
	cp.Env++
	return cp
}

func withCheckpoint(r *sam.Run, cp actCheckpoint, st *runStats) *sam.Run {
	r.Checkpoint, _ = json.Marshal(cp)
	st.apply(r)
	return r
}

type aggKey struct {
	user   string
	day    time.Time
	source sam.ActivitySource
}

// aggregator sums audit evidence by Dataverse user, UTC day and source,
// over one or more pages of one environment.
type aggregator struct {
	env  int64
	idx  map[aggKey]int
	rows []store.StagedActivity
}

func newAggregator(env int64) *aggregator { return &aggregator{env: env, idx: map[aggKey]int{}} }

func (g *aggregator) len() int { return len(g.rows) }

// take returns the rows gathered so far and starts afresh.
func (g *aggregator) take() []store.StagedActivity {
	rows := g.rows
	g.rows, g.idx = nil, map[aggKey]int{}
	return rows
}

// add aggregates the rows that are evidence of use at or after from; max
// is raised to the newest createdon of the rows.
func (g *aggregator) add(from time.Time, rows []AuditRow, max *time.Time) {
	for _, a := range rows {
		if a.CreatedOn.After(*max) {
			*max = a.CreatedOn
		}
		src, ok := AuditSource(a.Operation, a.Action, a.ObjectTypeCode)
		if !ok || a.UserID == "" || a.CreatedOn.Before(from) {
			continue
		}
		t := a.CreatedOn.UTC()
		k := aggKey{sam.NormalizeGUID(a.UserID), sam.Day(t), src}
		i, ok := g.idx[k]
		if !ok {
			i = len(g.rows)
			g.idx[k] = i
			g.rows = append(g.rows, store.StagedActivity{EnvironmentID: g.env, SystemUserID: k.user, Day: k.day, Source: src, LastAt: t})
		}
		g.rows[i].Events++
		if t.After(g.rows[i].LastAt) {
			g.rows[i].LastAt = t
		}
	}
}
