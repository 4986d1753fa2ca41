package tenant

import (
	"fmt"
	"slices"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// truthCtx is the shared part of a truth computation.
type truthCtx struct {
	from, now int64
	envs      []*envRec
	retLo     []int64 // per considered environment: oldest createdon kept
	complete  bool
	cover     []EnvironmentCoverage
	signIns   bool // the application may read signInActivity
}

func (t *Tenant) truthCtx(analysisFrom time.Time, envs []int) (*truthCtx, error) {
	c := &truthCtx{now: t.now, signIns: t.app.HasPermission("AuditLog.Read.All")}
	nowT := nsTime(t.now)
	if analysisFrom.IsZero() {
		analysisFrom = nowT.AddDate(0, 0, -90)
	}
	c.from = analysisFrom.UnixNano()
	if envs == nil {
		for i := range t.envs {
			envs = append(envs, i)
		}
	}
	// No environment means no audit log to prove inactivity with.
	c.complete = len(envs) > 0
	for _, i := range envs {
		e, err := t.env(i)
		if err != nil {
			return nil, err
		}
		if slices.Contains(c.envs, e) {
			continue
		}
		s := e.epochs[len(e.epochs)-1].s
		lo := noStart
		if s.RetentionDays >= 0 {
			lo = t.now - int64(s.RetentionDays)*nsPerDay
		}
		if !e.AppUserAuditRead {
			lo = noEnd // nothing can be read
		}
		c.envs = append(c.envs, e)
		c.retLo = append(c.retLo, lo)
		a := sam.EnvironmentAudit{Reachable: e.AppUserAuditRead, AuditEnabled: s.AuditEnabled, UserAccessAuditEnabled: s.UserAccessAuditEnabled, RetentionDays: s.RetentionDays}
		cv := EnvironmentCoverage{Index: e.Index, Name: e.Name, Covered: a.Covers(analysisFrom, nowT)}
		switch {
		case !e.AppUserAuditRead:
			cv.Reason = "the application user may not read audits (prvReadAuditSummary)"
		case !s.AuditEnabled:
			cv.Reason = "auditing is off"
		case !s.UserAccessAuditEnabled:
			cv.Reason = "user-access auditing is off"
		case !cv.Covered:
			cv.Reason = fmt.Sprintf("audit retention of %d days is shorter than the analysis window of %d days", s.RetentionDays, sam.DaysBetween(analysisFrom, nowT))
		}
		c.complete = c.complete && cv.Covered
		c.cover = append(c.cover, cv)
	}
	return c, nil
}

// source classifies an audit row as activity evidence, "" when it is none.
func (t *Tenant) source(r *row) sam.ActivitySource {
	switch r.op {
	case OperationAccess:
		switch r.action {
		case ActionUserAccessViaWeb:
			return sam.SourceAccessWeb
		case ActionUserAccessViaWebService:
			return sam.SourceAccessAPI
		}
	case OperationCreate, OperationUpdate:
		if trackedEntity[t.entities[r.entity]] {
			return sam.SourceRecord
		}
	}
	return ""
}

// evidence returns the visible evidence days of u (sorted by day, env,
// source). The caller holds t.mu.
func (t *Tenant) evidence(c *truthCtx, u *userRec, buf []row) ([]EvidenceDay, []row) {
	var out []EvidenceDay
	for k, e := range c.envs {
		if u.envMask&(1<<uint(e.Index)) == 0 {
			continue
		}
		lo := max(c.from, c.retLo[k])
		if lo > c.now {
			continue
		}
		for _, day := range t.userDays(u, dayOf(lo), dayOf(c.now)) {
			buf = t.userDayRows(u, e, day, buf[:0])
			start := len(out)
			for i := range buf {
				r := &buf[i]
				if r.at < lo || r.at > c.now {
					continue
				}
				src := t.source(r)
				if src == "" {
					continue
				}
				j := slices.IndexFunc(out[start:], func(d EvidenceDay) bool { return d.Source == src })
				if j < 0 {
					out = append(out, EvidenceDay{Day: nsTime(day * nsPerDay), Env: e.Index, Source: src})
					j = len(out) - 1 - start
				}
				d := &out[start+j]
				d.Events++
				if at := nsTime(r.at); at.After(d.LastAt) {
					d.LastAt = at
				}
			}
		}
	}
	if !c.signIns {
		// Graph hides signInActivity without AuditLog.Read.All
	} else if si := t.signIn(u); !si.Never() && si.LastSignInDateTime.UnixNano() >= c.from {
		out = append(out, EvidenceDay{Day: sam.Day(si.LastSignInDateTime), Env: -1, Source: sam.SourceSignIn, Events: 1, LastAt: si.LastSignInDateTime})
	}
	slices.SortFunc(out, func(a, b EvidenceDay) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		if a.Env != b.Env {
			return a.Env - b.Env
		}
		return compareStrings(string(a.Source), string(b.Source))
	})
	return out, buf
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// userDays lists the days in [lo, hi] on which u may have audit rows:
// days of its generated activity window and days of its explicit events.
func (t *Tenant) userDays(u *userRec, lo, hi int64) []int64 {
	var days []int64
	if !t.scripted && generatedPattern(u.pattern) {
		for d := max(lo, u.startDay, t.histDay); d <= min(hi, u.stopDay-1); d++ {
			days = append(days, d)
		}
	}
	for _, ev := range u.events {
		if d := dayOf(ev.at); d >= lo && d <= hi && !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	return days
}

// userTruth computes one user's truth. The caller holds t.mu.
func (t *Tenant) userTruth(c *truthCtx, u *userRec, keepEvidence bool, buf []row) (UserTruth, []row) {
	ut := UserTruth{UserID: u.id, UPN: u.upn, Pattern: u.pattern, AccountEnabled: u.enabled, Subscriptions: []SubscriptionTruth{}}
	ev, buf := t.evidence(c, u, buf)
	if keepEvidence {
		ut.Evidence = ev
		if ut.Evidence == nil {
			ut.Evidence = []EvidenceDay{}
		}
	}
	now := nsTime(c.now)
	mask := u.activeSKUs()
	for si, s := range t.skus {
		if mask&(1<<uint(si)) == 0 || (s.InCatalog && !s.mapped) {
			continue
		}
		st := SubscriptionTruth{SKUID: s.SKUID, PartNumber: s.PartNumber, Family: s.family, Tracked: s.tracked, Mapped: s.mapped}
		var direct, group *lic
		for i := range u.lics {
			l := &u.lics[i]
			if int(l.sku) != si || l.failed {
				continue
			}
			if l.group == directLic && direct == nil {
				direct = l
			} else if l.group != directLic && (group == nil || t.groups[l.group].id < t.groups[group.group].id) {
				group = l
			}
		}
		if direct != nil {
			st.AssignedAt = nsTime(direct.at).Truncate(time.Second)
		} else {
			st.AssignedByGroup = t.groups[group.group].id
			st.AssignedAt = nsTime(group.at).Truncate(time.Second)
		}
		days30, days90 := map[time.Time]bool{}, map[time.Time]bool{}
		for _, d := range ev {
			if s.tracked && d.Source == sam.SourceSignIn {
				continue
			}
			if st.LastActivity == nil || d.LastAt.After(*st.LastActivity) ||
				d.LastAt.Equal(*st.LastActivity) && d.Source < st.LastActivitySource {
				at := d.LastAt
				st.LastActivity, st.LastActivitySource = &at, d.Source
			}
			if n := sam.DaysBetween(d.Day, now); n < 30 {
				days30[d.Day] = true
			}
			if n := sam.DaysBetween(d.Day, now); n < 90 {
				days90[d.Day] = true
			}
		}
		st.ActiveDays30, st.ActiveDays90 = len(days30), len(days90)
		st.Class = sam.Classify(sam.UsageFacts{AccountEnabled: u.enabled, LastActivity: st.LastActivity,
			ActiveDays30: st.ActiveDays30, CoverageComplete: c.complete, Now: now})
		ut.Subscriptions = append(ut.Subscriptions, st)
	}
	return ut, buf
}

// Truth computes what a correct sync concludes at Now for the analysis
// start analysisFrom (zero: 90 days before Now) over the environments envs
// (nil: all), reading as the Seatwise application (an environment whose
// application user may not read audits is unreachable: no evidence, no
// coverage; without AuditLog.Read.All there is no sign-in evidence),
// streaming through each user's audit rows without keeping
// them. Users' Evidence is left nil to keep memory small (UserTruth fills
// it). The tenant is read-locked for the duration. Errors: ErrNotFound for
// an environment index out of range.
func (t *Tenant) Truth(analysisFrom time.Time, envs []int) (Truth, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c, err := t.truthCtx(analysisFrom, envs)
	if err != nil {
		return Truth{}, err
	}
	tr := Truth{Now: nsTime(c.now), AnalysisFrom: time.Unix(0, c.from).UTC(), Environments: c.cover,
		CoverageComplete: c.complete, Users: make([]UserTruth, 0, len(t.users)), Counts: map[string]map[sam.UsageClass]int{}}
	var buf []row
	for _, u := range t.users {
		if u.deleted != 0 {
			continue
		}
		var ut UserTruth
		ut, buf = t.userTruth(c, u, false, buf)
		for _, s := range ut.Subscriptions {
			m := tr.Counts[s.SKUID]
			if m == nil {
				m = map[sam.UsageClass]int{}
				tr.Counts[s.SKUID] = m
			}
			m[s.Class]++
		}
		tr.Users = append(tr.Users, ut)
	}
	return tr, nil
}

// UserTruth computes the truth of one user, with its evidence days (see
// Truth). Errors: ErrNotFound (user, environment).
func (t *Tenant) UserTruth(userID string, analysisFrom time.Time, envs []int) (UserTruth, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return UserTruth{}, err
	}
	c, err := t.truthCtx(analysisFrom, envs)
	if err != nil {
		return UserTruth{}, err
	}
	ut, _ := t.userTruth(c, u, true, nil)
	return ut, nil
}
