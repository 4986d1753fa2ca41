package tenant

import (
	"encoding/base64"
	"encoding/binary"
	"iter"
	"slices"
	"sync"
	"time"
)

// Special systemusers every environment has, by index in envRec.specials.
const (
	specialApp         = 0 // the Seatwise application user
	specialIntegration = 1 // another application (an ERP connector) writing records
	specialSystem      = 2 // SYSTEM
	specialSupport     = 3 // Microsoft support user (accessmode 3)
	specialDelegated   = 4 // partner delegated admin (accessmode 5)
)

// sysID returns the systemuserid of a user in an environment.
func (e *envRec) sysID(u *userRec) guid {
	if g, ok := u.sysIDs[e.Index]; ok {
		return g
	}
	var g guid
	binary.BigEndian.PutUint64(g[0:8], feistel(uint64(u.ord), e.key))
	copy(g[8:], e.tail[:])
	return g
}

// who resolves a systemuserid to a row's who value: a user ordinal or
// -(special+1). ok is false for an unknown id.
func (t *Tenant) who(e *envRec, g guid) (int32, bool) {
	for i, s := range e.specials {
		if s.g == g {
			return int32(-(i + 1)), true
		}
	}
	if o, ok := e.explicit[g]; ok {
		return o, true
	}
	if [8]byte(g[8:]) != e.tail {
		return 0, false
	}
	o := unfeistel(binary.BigEndian.Uint64(g[0:8]), e.key)
	if o >= uint64(len(t.users)) {
		return 0, false
	}
	u := t.users[o]
	if u.envMask&(1<<uint(e.Index)) == 0 {
		return 0, false
	}
	if _, over := u.sysIDs[e.Index]; over {
		return 0, false
	}
	return int32(o), true
}

// bucket returns every audit row of one environment and day (written while
// auditing was on, before retention and the clock), sorted. The caller
// holds t.mu (read).
func (t *Tenant) bucket(e *envRec, day int64) []row {
	if rows, ok := t.cache.get(e.Index, day, t.version); ok {
		return rows
	}
	var rows []row
	bit := uint64(1) << uint(e.Index)
	for _, u := range t.users {
		if u.envMask&bit != 0 {
			rows = t.userDayRows(u, e, day, rows)
		}
	}
	rows = t.envDayRows(e, day, rows)
	slices.SortFunc(rows, cmpRow)
	rows = slices.Clip(rows)
	t.cache.put(e.Index, day, t.version, rows)
	return rows
}

// envDayRows appends the rows not caused by Entra users: an integration
// application writing records, SYSTEM updating users, and the "user access
// audit started / stopped" rows of settings changes.
func (t *Tenant) envDayRows(e *envRec, day int64, buf []row) []row {
	start := day * nsPerDay
	for i := 1; i < len(e.epochs); i++ {
		ep, prev := e.epochs[i], e.epochs[i-1]
		if ep.from < start || ep.from >= start+nsPerDay || ep.s.UserAccessAuditEnabled == prev.s.UserAccessAuditEnabled {
			continue
		}
		action, on := uint8(ActionUserAccessAuditStopped), prev.s.AuditEnabled
		if ep.s.UserAccessAuditEnabled {
			action, on = ActionUserAccessAuditStarted, ep.s.AuditEnabled
		}
		if on {
			buf = append(buf, row{at: ep.from, id: guidFrom(t.seed, 0x5E7, uint64(e.Index), uint64(ep.from)),
				who: -(specialSystem + 1), op: OperationUpdate, action: action, entity: t.mustEntity("organization")})
		}
	}
	if !t.noise || day < t.histDay {
		return buf
	}
	r := newRNG(t.seed, 0x401, uint64(e.Index), uint64(day))
	n := 1
	if !weekend(day) {
		n = 4 + r.intn(12)
	}
	for i := 0; i < n; i++ {
		at := start + int64(r.intn(86400))*int64(time.Second)
		if !e.settingsAt(at).AuditEnabled {
			continue
		}
		ent := t.mustEntity([]string{"account", "contact", "salesorder", "product"}[r.intn(4)])
		op, action, mask := uint8(OperationUpdate), uint8(ActionUpdate), uint8(1+r.intn(len(attributeMasks)-1))
		if r.chance(0.3) {
			op, action, mask = OperationCreate, ActionCreate, 0
		}
		buf = append(buf, row{at: at, id: guidFrom(t.seed, 0x402, uint64(e.Index), uint64(at)), who: -(specialIntegration + 1),
			op: op, action: action, entity: ent, mask: mask})
	}
	if r.chance(0.5) {
		at := start + int64(r.intn(86400))*int64(time.Second)
		if e.settingsAt(at).AuditEnabled {
			buf = append(buf, row{at: at, id: guidFrom(t.seed, 0x403, uint64(e.Index), uint64(at)), who: -(specialSystem + 1),
				op: OperationUpdate, action: ActionUpdate, entity: t.mustEntity("systemuser"), mask: 4})
		}
	}
	return buf
}

// renderRow turns a compact row into an AuditRow. The caller holds t.mu.
func (t *Tenant) renderRow(e *envRec, r *row) AuditRow {
	var user guid
	if r.who < 0 {
		user = e.specials[-r.who-1].g
	} else {
		user = e.sysID(t.users[r.who])
	}
	out := AuditRow{
		AuditID:        r.id.String(),
		CreatedOn:      nsTime(r.at),
		Operation:      int(r.op),
		Action:         int(r.action),
		ObjectTypeCode: t.entities[r.entity],
		UserID:         user.String(),
		AttributeMask:  attributeMasks[r.mask],
	}
	h := binary.LittleEndian.Uint64(r.id[:8])
	switch {
	case r.op == OperationAccess:
		out.ObjectID = out.UserID
		out.TransactionID = "00000000-0000-0000-0000-000000000000"
	case r.action == ActionUserAccessAuditStarted || r.action == ActionUserAccessAuditStopped:
		out.ObjectID = e.org.String()
		out.TransactionID = guidFrom(h, 0x7A).String()
	default:
		out.ObjectID = guidFrom(t.seed, 0x0B1, h%5000, uint64(r.entity)).String() // a few thousand records, touched repeatedly
		out.TransactionID = guidFrom(h, 0x7A).String()
	}
	return out
}

// CursorOf returns the opaque cursor positioned at row: AuditQuery.After
// set to it continues after row. The cursor is a short URL-safe string.
func CursorOf(r AuditRow) string {
	g, _ := parseGUID(r.AuditID)
	return encodeCursor(timeNS(r.CreatedOn), g)
}

func encodeCursor(at int64, id guid) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at))
	copy(b[8:], id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (row, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return row{}, errorf(ErrInvalid, "malformed audit cursor %q", s)
	}
	var r row
	r.at = int64(binary.BigEndian.Uint64(b[:8]))
	copy(r.id[:], b[8:])
	return r, nil
}

type bitset [4]uint64

func (b *bitset) set(v int) bool {
	if v < 0 || v > 255 {
		return false
	}
	b[v>>6] |= 1 << uint(v&63)
	return true
}

func (b *bitset) has(v uint8) bool { return b[v>>6]&(1<<uint(v&63)) != 0 }

// plan is a normalised AuditQuery.
type plan struct {
	e                     *envRec
	lo, hi                int64 // inclusive createdon bounds
	ops, actions, ents    bitset
	useOps, useActs, useE bool
	whos                  []int32 // nil: everyone
	desc                  bool
	after                 *row
	empty                 bool
}

func (t *Tenant) plan(env int, q AuditQuery) (*plan, error) {
	e, err := t.env(env)
	if err != nil {
		return nil, err
	}
	p := &plan{e: e, lo: noStart, hi: t.now, desc: q.Descending}
	if !q.CreatedOnGE.IsZero() {
		p.lo = max(p.lo, q.CreatedOnGE.UnixNano())
	}
	if !q.CreatedOnGT.IsZero() {
		p.lo = max(p.lo, q.CreatedOnGT.UnixNano()+1)
	}
	if !q.CreatedOnLE.IsZero() {
		p.hi = min(p.hi, q.CreatedOnLE.UnixNano())
	}
	if !q.CreatedOnLT.IsZero() {
		p.hi = min(p.hi, q.CreatedOnLT.UnixNano()-1)
	}
	if s := e.epochs[len(e.epochs)-1].s; s.RetentionDays >= 0 {
		p.lo = max(p.lo, t.now-int64(s.RetentionDays)*nsPerDay)
	}
	p.lo = max(p.lo, t.minDay()*nsPerDay)
	if len(q.Operations) > 0 {
		p.useOps = true
		for _, v := range q.Operations {
			p.ops.set(v)
		}
	}
	if len(q.Actions) > 0 {
		p.useActs = true
		for _, v := range q.Actions {
			p.actions.set(v)
		}
	}
	if len(q.ObjectTypeCodes) > 0 {
		p.useE = true
		for _, name := range q.ObjectTypeCodes {
			if i, ok := t.entityIdx[name]; ok {
				p.ents.set(int(i))
			}
		}
	}
	if len(q.UserIDs) > 0 {
		p.whos = []int32{}
		for _, s := range q.UserIDs {
			g, ok := parseGUID(s)
			if !ok {
				return nil, errorf(ErrInvalid, "_userid_value %q is not a GUID", s)
			}
			if w, ok := t.who(e, g); ok && !slices.Contains(p.whos, w) {
				p.whos = append(p.whos, w)
			}
		}
		if len(p.whos) == 0 {
			p.empty = true
		}
	}
	if q.After != "" {
		c, err := decodeCursor(q.After)
		if err != nil {
			return nil, err
		}
		p.after = &c
	}
	if p.lo > p.hi {
		p.empty = true
	}
	return p, nil
}

// minDay is the first day that may hold audit rows.
func (t *Tenant) minDay() int64 {
	d := t.histDay - 1
	if len(t.evDays) > 0 {
		d = min(d, t.evDays[0])
	}
	for _, e := range t.envs {
		if len(e.epochs) > 1 {
			d = min(d, dayOf(e.epochs[1].from))
		}
	}
	return d
}

func (p *plan) match(r *row) bool {
	if r.at < p.lo || r.at > p.hi {
		return false
	}
	if p.useOps && !p.ops.has(r.op) || p.useActs && !p.actions.has(r.action) || p.useE && !p.ents.has(r.entity) {
		return false
	}
	if p.after != nil {
		c := cmpRow(*r, *p.after)
		if !p.desc && c <= 0 || p.desc && c >= 0 {
			return false
		}
	}
	return true
}

// nextDay returns the first day from day on, in the direction of step, that
// may hold audit rows of environment e: a day of generated history, a day
// with explicit events, or a day the audit settings changed. It keeps
// iterators from walking empty years. The caller holds t.mu.
func (t *Tenant) nextDay(e *envRec, day, step int64) (int64, bool) {
	best, ok := int64(0), false
	consider := func(d int64) {
		if step > 0 && d >= day && (!ok || d < best) || step < 0 && d <= day && (!ok || d > best) {
			best, ok = d, true
		}
	}
	if !t.scripted || t.noise {
		lo, hi := t.histDay-1, dayOf(t.now)
		switch {
		case day >= lo && day <= hi:
			return day, true
		case step > 0 && day < lo:
			consider(lo)
		case step < 0 && day > hi:
			consider(hi)
		}
	}
	i, _ := slices.BinarySearch(t.evDays, day)
	if step > 0 && i < len(t.evDays) {
		consider(t.evDays[i])
	}
	if step < 0 {
		if i < len(t.evDays) && t.evDays[i] == day {
			consider(day)
		} else if i > 0 {
			consider(t.evDays[i-1])
		}
	}
	for _, ep := range e.epochs[1:] {
		consider(dayOf(ep.from))
	}
	return best, ok
}

// dayRows returns the rows of one day the plan may select, sorted
// ascending. The caller holds t.mu (read).
func (t *Tenant) dayRows(p *plan, day int64) []row {
	if p.whos == nil {
		return t.bucket(p.e, day)
	}
	var rows []row
	special := false
	for _, w := range p.whos {
		if w >= 0 {
			rows = t.userDayRows(t.users[w], p.e, day, rows)
		} else {
			special = true
		}
	}
	if special {
		for _, r := range t.envDayRows(p.e, day, nil) {
			if slices.Contains(p.whos, r.who) {
				rows = append(rows, r)
			}
		}
	}
	slices.SortFunc(rows, cmpRow)
	return rows
}

// Audits returns an iterator over the environment's audit rows matching q,
// in q's order, generated lazily day by day: only the days the consumer
// reaches are produced, and the tenant is not locked while the consumer
// runs. Rows are those visible at Now: none after Now, none older than the
// retention period, none while auditing (or, for access rows, user-access
// auditing) was off, at most one access row per user per access interval.
// Errors: ErrNotFound (environment), ErrInvalid (cursor, user id).
func (t *Tenant) Audits(env int, q AuditQuery) (iter.Seq[AuditRow], error) {
	t.mu.RLock()
	p, err := t.plan(env, q)
	t.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return func(yield func(AuditRow) bool) {
		if p.empty {
			return
		}
		first, last := dayOf(p.lo), dayOf(p.hi)
		step := int64(1)
		if p.desc {
			first, last, step = last, first, -1
		}
		if p.after != nil {
			cd := dayOf(p.after.at)
			if !p.desc && cd > first || p.desc && cd < first {
				first = cd
			}
		}
		const chunk = 256
		out := make([]AuditRow, 0, chunk)
		for day := first; (step > 0 && day <= last) || (step < 0 && day >= last); day += step {
			t.mu.RLock()
			next, ok := t.nextDay(p.e, day, step)
			if !ok || (step > 0 && next > last) || (step < 0 && next < last) {
				t.mu.RUnlock()
				return
			}
			day = next
			rows := t.dayRows(p, day)
			t.mu.RUnlock()
			n := len(rows)
			for k := 0; k < n; {
				out = out[:0]
				t.mu.RLock()
				for ; k < n && len(out) < chunk; k++ {
					i := k
					if p.desc {
						i = n - 1 - k
					}
					if p.match(&rows[i]) {
						out = append(out, t.renderRow(p.e, &rows[i]))
					}
				}
				t.mu.RUnlock()
				for _, r := range out {
					if !yield(r) {
						return
					}
				}
			}
		}
	}, nil
}

// AuditPage returns up to limit rows of Audits(env, q) and the cursor of the
// last row when more follow ("" when the listing is complete). Errors: as
// Audits, and ErrInvalid for limit < 1.
func (t *Tenant) AuditPage(env int, q AuditQuery, limit int) (rows []AuditRow, next string, err error) {
	if limit < 1 {
		return nil, "", errorf(ErrInvalid, "page size %d must be at least 1", limit)
	}
	seq, err := t.Audits(env, q)
	if err != nil {
		return nil, "", err
	}
	rows = []AuditRow{}
	more := false
	for r := range seq {
		if len(rows) == limit {
			more = true
			break
		}
		rows = append(rows, r)
	}
	if more {
		next = CursorOf(rows[len(rows)-1])
	}
	return rows, next, nil
}

// bucketCache keeps the most recently built day buckets: 64 of them, so
// that a client reading many createdon ranges of the log at once (one day
// each, typically) finds its days built.
type bucketCache struct {
	mu      sync.Mutex
	entries [64]cacheEntry
	tick    uint64
}

type cacheEntry struct {
	env     int
	day     int64
	version uint64
	used    uint64
	rows    []row
	ok      bool
}

func (c *bucketCache) get(env int, day int64, version uint64) ([]row, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.entries {
		en := &c.entries[i]
		if en.ok && en.env == env && en.day == day && en.version == version {
			c.tick++
			en.used = c.tick
			return en.rows, true
		}
	}
	return nil, false
}

func (c *bucketCache) put(env int, day int64, version uint64, rows []row) {
	c.mu.Lock()
	defer c.mu.Unlock()
	victim := 0
	for i := range c.entries {
		if !c.entries[i].ok {
			victim = i
			break
		}
		if c.entries[i].used < c.entries[victim].used {
			victim = i
		}
	}
	c.tick++
	c.entries[victim] = cacheEntry{env: env, day: day, version: version, used: c.tick, rows: rows, ok: true}
}

// clear drops every cached bucket (after a change of audit rows).
func (c *bucketCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = [64]cacheEntry{}
}
