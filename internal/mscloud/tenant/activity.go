package tenant

import (
	"encoding/binary"
	"slices"
	"time"
)

// Roles decide which SKUs a generated user holds and which entities it
// works on.
const (
	roleNone uint8 = iota
	roleOffice
	roleSales
	roleService
	roleTeam
	roleMaker
	roleAdmin
)

// row is an audit row in compact form; render turns it into an AuditRow.
type row struct {
	at     int64 // ns, multiple of 100
	id     guid
	who    int32 // user ordinal, or -(i+1) for the environment's special i
	op     uint8
	action uint8
	entity uint8
	mask   uint8 // index in attributeMasks, 0 = none
}

// cmpRow orders rows by createdon, then auditid (byte order, which is the
// order of the rendered GUID strings).
func cmpRow(a, b row) int {
	if a.at != b.at {
		if a.at < b.at {
			return -1
		}
		return 1
	}
	if x, y := binary.BigEndian.Uint64(a.id[:8]), binary.BigEndian.Uint64(b.id[:8]); x != y {
		if x < y {
			return -1
		}
		return 1
	}
	x, y := binary.BigEndian.Uint64(a.id[8:]), binary.BigEndian.Uint64(b.id[8:])
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

var attributeMasks = []string{"", "2,14,15", "5,7", "24,25,26,40", "3", "47,45,42,96,93,50", "10,11", "8,12,31", "201,28,25"}

// Entities per role: tracked ones and a few untracked custom tables that
// must not count.
var (
	salesEntities   = []string{"opportunity", "lead", "account", "contact", "quote", "phonecall", "email", "task", "salesorder", "appointment"}
	serviceEntities = []string{"incident", "contact", "account", "email", "phonecall", "task", "contract", "queue", "serviceappointment"}
	teamEntities    = []string{"contact", "task", "appointment", "account", "email"}
	makerEntities   = []string{"cr5f2_project", "cr5f2_asset", "cr5f2_inspection", "contact", "cr5f2_project", "annotation"}
	noiseEntities   = []string{"usersettings", "annotation", "savedquery", "userquery"}
)

func weekend(day int64) bool {
	wd := (day + 4) % 7 // 1970-01-01 was a Thursday; 0 = Sunday
	if wd < 0 {
		wd += 7
	}
	return wd == 0 || wd == 6
}

// generated reports whether the pattern produces generated sessions.
func generatedPattern(p Pattern) bool {
	switch p {
	case PatternNever, PatternNewHire, PatternScripted, PatternSignInOnly, "":
		return false
	}
	return true
}

// envWeight is how likely a user works in environment e on an active day,
// relative to the primary environment.
func (u *userRec) envWeight(e int) float64 {
	if u.envMask&(1<<uint(e)) == 0 || !generatedPattern(u.pattern) {
		return 0
	}
	if e == int(u.primary) {
		return 1
	}
	switch u.pattern {
	case PatternOneEnv, PatternAuditOff, PatternAdmin:
		return 0
	}
	return 0.35
}

// dayProb is the probability that a user is active on day (in its primary
// environment).
func (u *userRec) dayProb(day int64) float64 {
	if day < u.startDay || day >= u.stopDay {
		return 0
	}
	we := weekend(day)
	pick := func(weekday, weekendP float64) float64 {
		if we {
			return weekendP
		}
		return weekday
	}
	switch u.pattern {
	case PatternDaily, PatternOneEnv, PatternAuditOff:
		return pick(0.85, 0.06)
	case PatternWebServices:
		return pick(0.6, 0.1)
	case PatternWeekly:
		return pick(0.28, 0.02)
	case PatternLow:
		return pick(0.07, 0)
	case PatternFading:
		ratio := float64(u.stopDay-day) / 60
		if ratio > 1 {
			ratio = 1
		}
		return pick(0.1+0.7*ratio, 0.02)
	case PatternDormant30, PatternDormant60, PatternDormant90, PatternLeaver:
		return pick(0.5, 0.03)
	case PatternRecordOnly:
		return pick(0.45, 0)
	case PatternAdmin:
		return pick(0.3, 0)
	}
	return 0
}

const (
	workStart  = int64(5 * time.Hour)
	workWindow = int64(16 * time.Hour) // sessions start in [05:00, 21:00) UTC
)

// sessions returns the session start times of a user on a day in an
// environment (sorted) and the generator positioned after them, for the
// records of those sessions. n is 0 when the user is not active.
func (t *Tenant) sessions(u *userRec, e int, day int64) (n int, at [3]int64, r rng) {
	r = newRNG(t.seed, 0xDA7, uint64(u.ord), uint64(e), uint64(day))
	w := u.envWeight(e)
	if w == 0 {
		return 0, at, r
	}
	if !r.chance(u.dayProb(day) * w) {
		return 0, at, r
	}
	n = 1
	switch u.pattern {
	case PatternDaily, PatternOneEnv, PatternAuditOff, PatternWebServices, PatternRecordOnly:
		if r.chance(0.45) {
			n++
		}
		if r.chance(0.2) {
			n++
		}
	}
	start := day * nsPerDay
	for i := 0; i < n; i++ {
		at[i] = start + workStart + int64(r.intn(int(workWindow/int64(time.Second))))*int64(time.Second)
	}
	slices.Sort(at[:n])
	return n, at, r
}

// inactiveAt reports whether the user could not act at ns (account
// disabled or deleted, or not yet created).
func (u *userRec) inactiveAt(ns int64) bool {
	if ns < u.created {
		return true
	}
	for _, s := range u.off {
		if ns >= s.from && ns < s.to {
			return true
		}
	}
	return false
}

// candidates appends a user's actions on one day in one environment, before
// auditing decides what is written, sorted by time.
func (t *Tenant) candidates(u *userRec, e int, day int64, buf []row) []row {
	first := len(buf)
	if !t.scripted {
		n, at, r := t.sessions(u, e, day)
		for i := 0; i < n; i++ {
			s := at[i]
			if u.inactiveAt(s) {
				continue
			}
			if u.pattern != PatternRecordOnly {
				action := uint8(ActionUserAccessViaWeb)
				if u.pattern == PatternWebServices || (u.pattern != PatternAdmin && r.chance(0.12)) {
					action = ActionUserAccessViaWebService
				}
				buf = append(buf, t.genRow(u, e, s, OperationAccess, action, t.mustEntity("systemuser"), 0))
			}
			k := 0
			switch u.pattern {
			case PatternDaily, PatternOneEnv, PatternAuditOff, PatternRecordOnly:
				k = r.intn(4)
				if u.pattern == PatternRecordOnly && k == 0 {
					k = 1
				}
			case PatternWeekly, PatternFading, PatternDormant30, PatternDormant60, PatternDormant90, PatternLeaver, PatternAdmin:
				k = r.intn(3)
			case PatternLow:
				k = r.intn(2)
			}
			rt := s
			for j := 0; j < k; j++ {
				rt += int64(1+r.intn(3000)) * int64(time.Second)
				if u.inactiveAt(rt) {
					break
				}
				buf = append(buf, t.genRecord(u, e, rt, &r))
			}
		}
	}
	// explicit events of that day in that environment
	lo := day * nsPerDay
	i, _ := slices.BinarySearchFunc(u.events, lo, func(ev evRec, v int64) int {
		if ev.at < v {
			return -1
		}
		return 1
	})
	for ; i < len(u.events) && u.events[i].at < lo+nsPerDay; i++ {
		ev := u.events[i]
		if int(ev.env) != e {
			continue
		}
		buf = append(buf, row{at: ev.at, id: guidFrom(t.seed, 0xE7E, uint64(u.ord), uint64(e), uint64(ev.at), ev.n),
			who: u.ord, op: ev.op, action: ev.action, entity: ev.entity, mask: maskFor(ev.op, ev.n)})
	}
	slices.SortFunc(buf[first:], cmpRow)
	return buf
}

func maskFor(op uint8, h uint64) uint8 {
	if op != OperationUpdate {
		return 0
	}
	return uint8(1 + h%uint64(len(attributeMasks)-1))
}

func (t *Tenant) genRow(u *userRec, e int, at int64, op, action, entity, mask uint8) row {
	return row{at: at, id: guidFrom(t.seed, 0xA0D, uint64(u.ord), uint64(e), uint64(at), uint64(op)<<8|uint64(action)),
		who: u.ord, op: op, action: action, entity: entity, mask: mask}
}

// genRecord makes one create / update (or, for administrators, settings
// and role changes) row.
func (t *Tenant) genRecord(u *userRec, e int, at int64, r *rng) row {
	if u.pattern == PatternAdmin {
		switch r.intn(5) {
		case 0:
			return t.genRow(u, e, at, OperationUpdate, ActionAssignRoleToUser, t.mustEntity("systemuser"), 0)
		case 1:
			return t.genRow(u, e, at, OperationUpdate, ActionRemoveRoleFromUser, t.mustEntity("systemuser"), 0)
		case 2:
			return t.genRow(u, e, at, OperationDelete, ActionDelete, t.mustEntity("contact"), 0)
		case 3:
			return t.genRow(u, e, at, OperationUpdate, ActionUpdate, t.mustEntity("systemuser"), uint8(1+r.intn(len(attributeMasks)-1)))
		default:
			return t.genRow(u, e, at, OperationCreate, ActionCreate, t.mustEntity("role"), 0)
		}
	}
	var ents []string
	switch u.role {
	case roleSales:
		ents = salesEntities
	case roleService:
		ents = serviceEntities
	case roleTeam:
		ents = teamEntities
	default:
		ents = makerEntities
	}
	if r.chance(0.1) {
		ents = noiseEntities
	}
	ent := t.mustEntity(ents[r.intn(len(ents))])
	if r.chance(0.35) {
		return t.genRow(u, e, at, OperationCreate, ActionCreate, ent, 0)
	}
	return t.genRow(u, e, at, OperationUpdate, ActionUpdate, ent, uint8(1+r.intn(len(attributeMasks)-1)))
}

// userDayRows appends the audit rows a user's actions wrote on one day in
// one environment: only while auditing was on (access rows also need
// user-access auditing), at most one access row per access interval.
// Retention and the clock are applied by readers, not here.
func (t *Tenant) userDayRows(u *userRec, e *envRec, day int64, buf []row) []row {
	first := len(buf)
	buf = t.candidates(u, e.Index, day, buf)
	last := noStart
	checkedPrev := false
	out := buf[:first]
	for _, c := range buf[first:] {
		s := e.settingsAt(c.at)
		if !s.AuditEnabled {
			continue
		}
		if c.op == OperationAccess && (c.action == ActionUserAccessViaWeb || c.action == ActionUserAccessViaWebService) {
			if !s.UserAccessAuditEnabled {
				continue
			}
			if !checkedPrev && c.at < day*nsPerDay+e.interval {
				checkedPrev = true
				last = t.lastAccessOfDay(u, e, day-1)
			}
			if last != noStart && c.at-last < e.interval {
				continue
			}
			last = c.at
		}
		out = append(out, c)
	}
	return out
}

// lastAccessOfDay returns the time of the last access row a user's actions
// wrote on day in environment e, noStart if none.
func (t *Tenant) lastAccessOfDay(u *userRec, e *envRec, day int64) int64 {
	if day < t.histDay-1 && (len(u.events) == 0 || day < dayOf(u.events[0].at)) {
		return noStart
	}
	rows := t.userDayRows(u, e, day, nil)
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].op == OperationAccess && (rows[i].action == ActionUserAccessViaWeb || rows[i].action == ActionUserAccessViaWebService) {
			return rows[i].at
		}
	}
	return noStart
}

// signIn derives a user's signInActivity at Now: the latest session in any
// environment (auditing or not), or an explicit override.
func (t *Tenant) signIn(u *userRec) SignInActivity {
	var last int64
	if u.signIn != nil {
		last = *u.signIn
	} else {
		last = t.lastSession(u)
	}
	var s SignInActivity
	if last <= 0 || last > t.now {
		return s
	}
	r := newRNG(t.seed, 0x5161, uint64(u.ord), uint64(last))
	s.LastSignInDateTime = nsTime(last).Truncate(time.Second)
	s.LastSignInRequestID = guidFrom(r.next()).String()
	s.LastSuccessfulSignInDateTime = s.LastSignInDateTime
	s.LastSuccessfulSignInRequestID = s.LastSignInRequestID
	ni := min(last+int64(r.intn(6*3600))*int64(time.Second), t.now)
	s.LastNonInteractiveSignInDateTime = nsTime(ni).Truncate(time.Second)
	s.LastNonInteractiveSignInRequestID = guidFrom(r.next()).String()
	return s
}

// lastSession returns the latest moment <= Now the user signed in: a few
// minutes before its latest session, or its latest explicit event; 0 for
// never.
func (t *Tenant) lastSession(u *userRec) int64 {
	var best int64
	for i := len(u.events) - 1; i >= 0; i-- {
		if u.events[i].at <= t.now {
			best = u.events[i].at - int64(3*time.Minute)
			break
		}
	}
	if t.scripted {
		return best
	}
	if u.pattern == PatternSignInOnly {
		for day := dayOf(t.now); day >= t.histDay; day-- {
			r := newRNG(t.seed, 0x516, uint64(u.ord), uint64(day))
			p := 0.7
			if weekend(day) {
				p = 0.05
			}
			if !r.chance(p) {
				continue
			}
			at := day*nsPerDay + workStart + int64(r.intn(int(workWindow/int64(time.Second))))*int64(time.Second)
			if at <= t.now && !u.inactiveAt(at) {
				return max(best, at)
			}
		}
		return best
	}
	if !generatedPattern(u.pattern) {
		return best
	}
	from := min(dayOf(t.now), u.stopDay-1)
	for day := from; day >= max(u.startDay, t.histDay) && day*nsPerDay+nsPerDay > best; day-- {
		found := int64(0)
		for e := range t.envs {
			n, at, _ := t.sessions(u, e, day)
			for i := n - 1; i >= 0; i-- {
				s := at[i] - int64(2*time.Minute)
				if at[i] <= t.now && !u.inactiveAt(at[i]) {
					found = max(found, s)
					break
				}
			}
		}
		if found > 0 {
			return max(best, found)
		}
	}
	return best
}
