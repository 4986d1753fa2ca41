package tenant

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// touch records a change of u in the change log.
func (t *Tenant) touch(u *userRec) {
	t.seq++
	u.changed = t.seq
}

// rowsChanged invalidates generated audit rows after a change that alters
// them.
func (t *Tenant) rowsChanged() {
	t.version++
	t.cache.clear()
}

// recount updates consumed units after u's licences changed from before.
func (t *Tenant) recount(u *userRec, before uint64) {
	after := u.activeSKUs()
	if u.deleted != 0 {
		after = 0
	}
	for i, s := range t.skus {
		b, a := before&(1<<uint(i)) != 0, after&(1<<uint(i)) != 0
		switch {
		case a && !b:
			s.Consumed++
		case b && !a:
			s.Consumed--
		}
	}
}

func (t *Tenant) skuIndex(id string) (int, bool) {
	i, ok := t.skuByID[sam.NormalizeGUID(id)]
	return i, ok
}

// AssignLicense adds and removes licences of a user as Graph's assignLicense
// does: both lists are applied at once or not at all; removals are applied
// before the seat check of additions. Adding a SKU the user already holds
// directly replaces its disabled plans. Errors: ErrNotFound (user),
// ErrUnknownSKU (SKU not subscribed, disabled plan not in the SKU),
// ErrUsageLocation (adding without usageLocation), ErrNoLicenses (no free
// seat: consumed would exceed prepaidUnits.enabled), ErrGroupInherited
// (removing a SKU the user holds only through a group), ErrInvalid (the same
// SKU in both lists, removing a SKU the user does not hold). Returns the
// updated user.
func (t *Tenant) AssignLicense(userID string, add []AssignedLicense, remove []string) (User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return User{}, err
	}
	addIdx := make([]int, len(add))
	for k, a := range add {
		i, ok := t.skuIndex(a.SKUID)
		if !ok {
			return User{}, errorf(ErrUnknownSKU, "License %s does not correspond to a valid company License.", a.SKUID)
		}
		for _, p := range a.DisabledPlans {
			if !slices.ContainsFunc(t.skus[i].ServicePlans, func(sp sam.ServicePlan) bool { return strings.EqualFold(sp.ID, p) }) {
				return User{}, errorf(ErrUnknownSKU, "Invalid value specified for property 'disabledPlans' of resource 'AssignedLicense': service plan %s is not part of SKU %s.", p, t.skus[i].SKUID)
			}
		}
		addIdx[k] = i
	}
	before := u.activeSKUs()
	removeIdx := make([]int, len(remove))
	for k, id := range remove {
		i, ok := t.skuIndex(id)
		if !ok {
			return User{}, errorf(ErrUnknownSKU, "License %s does not correspond to a valid company License.", id)
		}
		if slices.Contains(addIdx, i) {
			return User{}, errorf(ErrInvalid, "License %s cannot be added and removed in the same request.", id)
		}
		direct := slices.ContainsFunc(u.lics, func(l lic) bool { return int(l.sku) == i && l.group == directLic })
		if !direct {
			if slices.ContainsFunc(u.lics, func(l lic) bool { return int(l.sku) == i }) {
				return User{}, errorf(ErrGroupInherited, "User license is inherited from a group membership and it cannot be removed directly from the user. License: %s.", t.skus[i].SKUID)
			}
			return User{}, errorf(ErrInvalid, "User does not have a corresponding license. License: %s.", t.skus[i].SKUID)
		}
		removeIdx[k] = i
	}
	if len(add) > 0 && u.ul == "" {
		return User{}, errorf(ErrUsageLocation, "License assignment cannot be done for user with invalid usage location.")
	}
	// seats, after removals
	after := before
	for _, i := range removeIdx {
		if !slices.ContainsFunc(u.lics, func(l lic) bool { return int(l.sku) == i && l.group != directLic && !l.failed }) {
			after &^= 1 << uint(i)
		}
	}
	for _, i := range addIdx {
		if after&(1<<uint(i)) != 0 {
			continue
		}
		s := t.skus[i]
		freed := 0
		if before&(1<<uint(i)) != 0 {
			freed = 1
		}
		if s.Consumed-freed+1 > s.Enabled {
			return User{}, errorf(ErrNoLicenses, "Subscription with SKU %s does not have any available licenses.", s.SKUID)
		}
	}
	// apply
	u.lics = slices.DeleteFunc(u.lics, func(l lic) bool { return l.group == directLic && slices.Contains(removeIdx, int(l.sku)) })
	for k, i := range addIdx {
		disabled := slices.Clone(add[k].DisabledPlans)
		for j := range disabled {
			disabled[j] = sam.NormalizeGUID(disabled[j])
		}
		if j := slices.IndexFunc(u.lics, func(l lic) bool { return int(l.sku) == i && l.group == directLic }); j >= 0 {
			u.lics[j].disabled, u.lics[j].at = disabled, t.now
			continue
		}
		u.lics = append(u.lics, lic{sku: int16(i), group: directLic, at: t.now, disabled: disabled})
	}
	t.recount(u, before)
	t.touch(u)
	return t.render(u), nil
}

func (t *Tenant) groupIndex(id string) (int, error) {
	i, ok := t.groupByID[sam.NormalizeGUID(id)]
	if !ok {
		return 0, notFoundResource(id)
	}
	return i, nil
}

// AddGroupMember adds a user to a group; the group's SKUs become
// group-based assignments, each in state Error with CountViolation when no
// seat is free (and not counted as consumed). Errors: ErrNotFound (group,
// user), ErrConflict (already a member).
func (t *Tenant) AddGroupMember(groupID, userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.groupIndex(groupID)
	if err != nil {
		return err
	}
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if slices.Contains(u.groups, int32(g)) {
		return errorf(ErrConflict, "One or more added object references already exist for the following modified properties: 'members'.")
	}
	before := u.activeSKUs()
	u.groups = append(u.groups, int32(g))
	for _, s := range t.groups[g].skus {
		l := lic{sku: int16(s), group: int32(g), at: t.now}
		if u.activeSKUs()&(1<<uint(s)) == 0 && t.skus[s].Consumed+1 > t.skus[s].Enabled {
			l.failed = true
		}
		u.lics = append(u.lics, l)
		t.recount(u, before)
		before = u.activeSKUs()
	}
	t.touch(u)
	return nil
}

// RemoveGroupMember removes a user from a group and its group-based
// licences. Errors: ErrNotFound (group, user, or not a member).
func (t *Tenant) RemoveGroupMember(groupID, userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.groupIndex(groupID)
	if err != nil {
		return err
	}
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if !slices.Contains(u.groups, int32(g)) {
		return errorf(ErrNotFound, "User %s is not a member of group %s.", u.id, t.groups[g].id)
	}
	before := u.activeSKUs()
	u.groups = slices.DeleteFunc(u.groups, func(x int32) bool { return x == int32(g) })
	u.lics = slices.DeleteFunc(u.lics, func(l lic) bool { return l.group == int32(g) })
	t.recount(u, before)
	t.touch(u)
	return nil
}

// DisableUser sets accountEnabled false at Now; the user's generated
// activity stops (explicit events still count). Disabling a disabled user
// changes nothing. Errors: ErrNotFound.
func (t *Tenant) DisableUser(userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if !u.enabled {
		return nil
	}
	u.enabled = false
	u.off = append(u.off, span{t.now, noEnd})
	t.touch(u)
	t.rowsChanged()
	return nil
}

// EnableUser sets accountEnabled true at Now; generated activity resumes.
// Errors: ErrNotFound.
func (t *Tenant) EnableUser(userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if u.enabled {
		return nil
	}
	u.enabled = true
	if n := len(u.off); n > 0 && u.off[n-1].to == noEnd {
		u.off[n-1].to = t.now
	}
	t.touch(u)
	t.rowsChanged()
	return nil
}

// AddUser creates a user at Now, with no licences and no activity until
// AddActivity. Errors: ErrConflict (id or UPN taken), ErrInvalid (malformed
// id or usage location, environment out of range).
func (t *Tenant) AddUser(nu NewUser) (User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.newUser(nu)
	if err != nil {
		return User{}, err
	}
	u.created = t.now
	u.startDay, u.stopDay = dayOf(t.now), dayOf(t.now)
	t.touch(u)
	u.createdSeq = t.seq
	t.rowsChanged()
	return t.render(u), nil
}

// newUser validates and registers a scripted user. The caller holds t.mu.
func (t *Tenant) newUser(nu NewUser) (*userRec, error) {
	u := &userRec{ord: int32(len(t.users)), pattern: PatternScripted, primary: -1, enabled: nu.AccountEnabled,
		given: nu.GivenName, surname: nu.Surname, display: nu.DisplayName, job: nu.JobTitle, dept: nu.Department,
		country: nu.Country, ul: nu.UsageLocation, role: roleSales}
	if nu.ID == "" {
		u.id = guidFrom(t.seed, 0xADD, uint64(len(t.users)), uint64(t.seq)).String()
	} else {
		g, ok := parseGUID(nu.ID)
		if !ok {
			return nil, errorf(ErrInvalid, "user id %q is not a GUID", nu.ID)
		}
		u.id = g.String()
	}
	if _, taken := t.userByID[u.id]; taken {
		return nil, errorf(ErrConflict, "Another object with the same value for property id already exists.")
	}
	if u.display == "" {
		u.display = strings.TrimSpace(u.given + " " + u.surname)
	}
	u.upn = nu.UserPrincipalName
	if u.upn == "" {
		base := strings.ToLower(asciiFold(strings.ReplaceAll(strings.TrimSpace(u.given+"."+u.surname), " ", "")))
		if base == "." || base == "" {
			base = fmt.Sprintf("user%d", len(t.users))
		}
		u.upn = base + "@" + t.domain
		for k := 2; t.upnTaken(u.upn); k++ {
			u.upn = fmt.Sprintf("%s%d@%s", base, k, t.domain)
		}
	}
	if !strings.Contains(u.upn, "@") {
		return nil, errorf(ErrInvalid, "userPrincipalName %q has no domain", u.upn)
	}
	if t.upnTaken(u.upn) {
		return nil, errorf(ErrConflict, "Another object with the same value for property userPrincipalName already exists.")
	}
	if u.display == "" {
		u.display = strings.Split(u.upn, "@")[0]
	}
	u.mail = u.upn
	if !validUsageLocation(u.ul) {
		return nil, errorf(ErrInvalid, "usageLocation %q must be a two-letter country code", u.ul)
	}
	for _, e := range nu.Environments {
		if e < 0 || e >= len(t.envs) {
			return nil, errorf(ErrInvalid, "environment %d does not exist (the tenant has %d)", e, len(t.envs))
		}
		u.envMask |= 1 << uint(e)
	}
	t.users = append(t.users, u)
	t.userByID[u.id] = u.ord
	t.userByUPN[strings.ToLower(u.upn)] = u.ord
	return u, nil
}

func (t *Tenant) upnTaken(upn string) bool {
	i, ok := t.userByUPN[strings.ToLower(upn)]
	return ok && t.users[i].deleted != delHard
}

func validUsageLocation(s string) bool {
	if s == "" {
		return true
	}
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// DeleteUser deletes a user at Now: soft (delta "@removed": changed,
// restorable with RestoreUser) or permanent (delta "deleted"; a
// soft-deleted user may be deleted permanently). The user's licences are
// released and its generated activity stops; its systemusers stay,
// disabled, and past audit rows remain. Errors: ErrNotFound.
func (t *Tenant) DeleteUser(userID string, permanent bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.userByID[normalizeID(userID)]
	if !ok || t.users[i].deleted == delHard || (t.users[i].deleted == delSoft && !permanent) {
		return notFoundResource(userID)
	}
	u := t.users[i]
	before := u.activeSKUs()
	if u.deleted == 0 {
		before = u.activeSKUs()
		u.off = append(u.off, span{t.now, noEnd})
		u.deletedLics, u.lics = u.lics, nil
		u.deleted = delSoft
		t.recount(u, before)
	}
	if permanent {
		u.deleted = delHard
		u.deletedLics = nil
	}
	t.touch(u)
	t.rowsChanged()
	return nil
}

// RestoreUser restores a soft-deleted user with the licences it had.
// Errors: ErrNotFound (no such soft-deleted user), ErrNoLicenses (a SKU has
// no free seat any more; nothing is restored).
func (t *Tenant) RestoreUser(userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.userByID[normalizeID(userID)]
	if !ok || t.users[i].deleted != delSoft {
		return notFoundResource(userID)
	}
	u := t.users[i]
	var m uint64
	for _, l := range u.deletedLics {
		if !l.failed {
			m |= 1 << uint(l.sku)
		}
	}
	for si, s := range t.skus {
		if m&(1<<uint(si)) != 0 && s.Consumed+1 > s.Enabled {
			return errorf(ErrNoLicenses, "Subscription with SKU %s does not have any available licenses.", s.SKUID)
		}
	}
	u.deleted = 0
	u.lics, u.deletedLics = u.deletedLics, nil
	if n := len(u.off); n > 0 && u.off[n-1].to == noEnd {
		u.off[n-1].to = t.now
		if !u.enabled {
			u.off = append(u.off, span{t.now, noEnd})
		}
	}
	t.recount(u, 0)
	t.touch(u)
	t.rowsChanged()
	return nil
}

// UpdateUser changes user attributes and returns the user. Errors:
// ErrNotFound, ErrInvalid (usage location not a two-letter code).
func (t *Tenant) UpdateUser(userID string, a UserAttributes) (User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return User{}, err
	}
	if a.UsageLocation != nil && !validUsageLocation(*a.UsageLocation) {
		return User{}, errorf(ErrInvalid, "Invalid value specified for property 'usageLocation' of resource 'User'.")
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.display, a.DisplayName)
	set(&u.given, a.GivenName)
	set(&u.surname, a.Surname)
	set(&u.job, a.JobTitle)
	set(&u.dept, a.Department)
	set(&u.country, a.Country)
	set(&u.ul, a.UsageLocation)
	set(&u.mail, a.Mail)
	t.touch(u)
	return t.render(u), nil
}

// SetSignIn sets the user's last interactive sign-in (zero = never),
// overriding the generated one. It does not count as a directory change for
// delta queries (Graph does not report sign-ins there). Errors:
// ErrNotFound, ErrInvalid (a time after Now).
func (t *Tenant) SetSignIn(userID string, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if !timeInRange(at) {
		return errorf(ErrInvalid, "sign-in time %s must be between 1970 and 2200", at.UTC().Format(time.RFC3339))
	}
	ns := timeNS(at.Truncate(time.Second))
	if ns > t.now {
		return errorf(ErrInvalid, "sign-in time %s is after the tenant's now %s", at.UTC().Format(time.RFC3339), nsTime(t.now).Format(time.RFC3339))
	}
	u.signIn = &ns
	return nil
}

// AddActivity records an explicit user action in an environment at ev.At
// (zero: Now), truncated to the second as Dataverse shows createdon. The
// user gets a systemuser there if it had none. Whether it becomes an audit
// row depends on the environment's audit settings at that time and, for
// access, on the access interval. Errors: ErrNotFound (user, environment),
// ErrInvalid (operation, action or entity, time after Now).
func (t *Tenant) AddActivity(userID string, ev Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if _, err := t.env(ev.Env); err != nil {
		return err
	}
	rec, err := t.eventRec(ev)
	if err != nil {
		return err
	}
	t.insertEvent(u, rec)
	t.rowsChanged()
	return nil
}

// eventRec validates an event. The caller holds t.mu (write).
func (t *Tenant) eventRec(ev Event) (evRec, error) {
	at := ev.At
	if at.IsZero() {
		at = nsTime(t.now)
	}
	if !timeInRange(at) {
		return evRec{}, errorf(ErrInvalid, "event time %s must be between 1970 and 2200", at.UTC().Format(time.RFC3339))
	}
	ns := timeNS(at.Truncate(time.Second))
	if ns > t.now {
		return evRec{}, errorf(ErrInvalid, "event time %s is after the tenant's now %s", at.UTC().Format(time.RFC3339), nsTime(t.now).Format(time.RFC3339))
	}
	switch ev.Operation {
	case OperationAccess:
		if ev.Action == 0 {
			ev.Action = ActionUserAccessViaWeb
		}
		if ev.Action != ActionUserAccessViaWeb && ev.Action != ActionUserAccessViaWebService {
			return evRec{}, errorf(ErrInvalid, "access events need action 64 or 65, got %d", ev.Action)
		}
		if ev.Entity == "" {
			ev.Entity = "systemuser"
		}
	case OperationCreate, OperationUpdate, OperationDelete:
		if ev.Action == 0 {
			ev.Action = ev.Operation
		}
		if ev.Action < 1 || ev.Action > 255 {
			return evRec{}, errorf(ErrInvalid, "action %d is out of range", ev.Action)
		}
		if ev.Entity == "" {
			return evRec{}, errorf(ErrInvalid, "operation %d needs an entity (objecttypecode)", ev.Operation)
		}
	default:
		return evRec{}, errorf(ErrInvalid, "operation %d is not one of 1 (create), 2 (update), 3 (delete), 4 (access)", ev.Operation)
	}
	ent, ok := t.entity(strings.ToLower(ev.Entity))
	if !ok {
		return evRec{}, errorf(ErrInvalid, "too many distinct entities")
	}
	t.evSeq++
	return evRec{at: ns, n: t.evSeq, env: int16(ev.Env), op: uint8(ev.Operation), action: uint8(ev.Action), entity: ent}, nil
}

func (t *Tenant) insertEvent(u *userRec, rec evRec) {
	i, _ := slices.BinarySearchFunc(u.events, rec.at, func(e evRec, v int64) int {
		if e.at <= v {
			return -1
		}
		return 1
	})
	u.events = slices.Insert(u.events, i, rec)
	u.envMask |= 1 << uint(rec.env)
	if d := dayOf(rec.at); !slices.Contains(t.evDays, d) {
		j, _ := slices.BinarySearch(t.evDays, d)
		t.evDays = slices.Insert(t.evDays, j, d)
	}
	if u.primary < 0 {
		u.primary = int8(rec.env)
	}
}

// SetAuditSettings changes an environment's audit settings from Now on.
// Turning user-access auditing on or off writes the "User Access Audit
// Started / Stopped" rows. AccessIntervalHours 0 keeps the environment's
// interval. Errors: ErrNotFound, ErrInvalid (retention not -1 or 1 to
// MaxRetentionDays, an interval other than the environment's).
func (t *Tenant) SetAuditSettings(env int, s AuditSettings) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.env(env)
	if err != nil {
		return err
	}
	cur := int(e.interval / int64(time.Hour))
	if s.AccessIntervalHours == 0 {
		s.AccessIntervalHours = cur
	}
	if s.AccessIntervalHours != cur {
		return errorf(ErrInvalid, "the access auditing interval of environment %s is %d hours and cannot be changed", e.Name, cur)
	}
	if !validRetention(s.RetentionDays) {
		return errorf(ErrInvalid, "audit retention must be -1 (forever) or 1 to %d days, got %d", MaxRetentionDays, s.RetentionDays)
	}
	if n := len(e.epochs); e.epochs[n-1].from == t.now {
		e.epochs[n-1].s = s
	} else {
		e.epochs = append(e.epochs, epoch{from: t.now, s: s})
	}
	t.rowsChanged()
	return nil
}
