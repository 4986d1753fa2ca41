package tenant

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
)

const (
	nsPerDay  = int64(24 * time.Hour)
	noEnd     = int64(math.MaxInt64)
	noStart   = int64(math.MinInt64)
	maxEnvs   = 64
	maxSKUs   = 64
	delSoft   = 1
	delHard   = 2
	directLic = -1
)

// Tenant is one simulated Microsoft tenant. Create it with Generate or
// LoadScenario.
type Tenant struct {
	mu  sync.RWMutex
	cat *catalog.Catalog

	seed     uint64
	id       string
	name     string
	domain   string
	created  time.Time
	app      App
	country  string
	now      int64 // ns since the Unix epoch, the simulated clock
	genDay   int64 // day number of the generation clock: pattern anchor
	histDay  int64 // first day of generated history
	noise    bool  // generate background audit rows (integration, SYSTEM)
	scripted bool  // scenario tenant: no generated activity at all

	skus    []*skuRec
	skuByID map[string]int

	groups    []*groupRec
	groupByID map[string]int

	users     []*userRec
	userByID  map[string]int32
	userByUPN map[string]int32 // lower-case UPN

	envs []*envRec

	managers map[int32]int32 // user -> manager (SetManager, manager.go)

	entities  []string // objecttypecodes, interned
	entityIdx map[string]uint8

	seq     uint64 // latest change sequence number
	version uint64 // bumped on any change that alters audit rows
	evSeq   uint64 // explicit event counter (audit ids)
	// evDays are the days with explicit events of any user, sorted, unique.
	evDays []int64

	cache bucketCache
}

type skuRec struct {
	SKU
	family  sam.Family
	tracked bool
	mapped  bool
	service []string // service name per plan
}

type groupRec struct {
	id      string
	name    string
	skus    []int // sku indexes
	created time.Time
}

// lic is one licence source of a user: direct or a group's.
type lic struct {
	at       int64 // ns, lastUpdatedDateTime
	disabled []string
	group    int32 // group index, directLic for direct
	sku      int16
	failed   bool // group assignment without a free seat: state Error, CountViolation
}

type span struct{ from, to int64 }

type evRec struct {
	at     int64
	n      uint64 // insertion number, part of the audit id
	env    int16
	op     uint8
	action uint8
	entity uint8
}

type userRec struct {
	id, upn                      string
	display, given, surname      string
	mail, job, dept, country, ul string
	created                      int64
	lics                         []lic
	groups                       []int32
	off                          []span // account disabled or deleted: no generated activity
	events                       []evRec
	signIn                       *int64 // override, 0 = never
	sysIDs                       map[int]guid
	deletedLics                  []lic
	envMask                      uint64
	changed                      uint64
	createdSeq                   uint64
	startDay, stopDay            int64 // generated activity window [start, stop)
	ord                          int32
	pattern                      Pattern
	role                         uint8
	primary                      int8 // environment of the main activity, -1 none
	enabled                      bool
	deleted                      uint8
	errorNone                    bool // render successful states' error as "None"
}

type epoch struct {
	from int64
	s    AuditSettings
}

type envRec struct {
	Environment
	org, bu, appUser guid
	interval         int64 // ns
	epochs           []epoch
	tail             [8]byte
	key              uint64
	specials         []special
	explicit         map[guid]int32 // scenario systemuserids -> user
}

// special is a systemuser that is not an Entra user.
type special struct {
	SystemUser
	g guid
}

// Generated tenants use the catalog; scenario tenants too.
func newTenant() *Tenant {
	t := &Tenant{
		cat:       catalog.Default(),
		skuByID:   map[string]int{},
		groupByID: map[string]int{},
		userByID:  map[string]int32{},
		userByUPN: map[string]int32{},
		entityIdx: map[string]uint8{},
	}
	for _, list := range [][]string{{"systemuser", "organization", "role"}, TrackedEntities, salesEntities, serviceEntities,
		teamEntities, makerEntities, noiseEntities} {
		for _, name := range list {
			t.entity(name)
		}
	}
	return t
}

func (t *Tenant) entity(name string) (uint8, bool) {
	if i, ok := t.entityIdx[name]; ok {
		return i, true
	}
	if len(t.entities) >= 255 {
		return 0, false
	}
	t.entities = append(t.entities, name)
	i := uint8(len(t.entities) - 1)
	t.entityIdx[name] = i
	return i, true
}

// mustEntity returns the index of an entity interned by newTenant; it only
// reads, so generation may call it under the read lock.
func (t *Tenant) mustEntity(name string) uint8 {
	i, ok := t.entityIdx[name]
	if !ok {
		panic("tenant: entity " + name + " not interned")
	}
	return i
}

func dayOf(ns int64) int64 {
	d := ns / nsPerDay
	if ns%nsPerDay < 0 {
		d--
	}
	return d
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UTC().UnixNano() / 100 * 100
}

func (t *Tenant) lookupUser(idOrUPN string) (*userRec, error) {
	key := strings.TrimSpace(idOrUPN)
	if i, ok := t.userByID[sam.NormalizeGUID(key)]; ok {
		if u := t.users[i]; u.deleted == 0 {
			return u, nil
		}
		return nil, notFoundResource(key)
	}
	if i, ok := t.userByUPN[strings.ToLower(key)]; ok {
		if u := t.users[i]; u.deleted == 0 {
			return u, nil
		}
	}
	return nil, notFoundResource(key)
}

func (t *Tenant) env(i int) (*envRec, error) {
	if i < 0 || i >= len(t.envs) {
		return nil, errorf(ErrNotFound, "environment %d does not exist (the tenant has %d)", i, len(t.envs))
	}
	return t.envs[i], nil
}

// ID returns the tenant id (GUID, lower case).
func (t *Tenant) ID() string { return t.id }

// DisplayName returns the organisation's display name.
func (t *Tenant) DisplayName() string { return t.name }

// Domain returns the default verified domain, e.g. contoso.onmicrosoft.com.
func (t *Tenant) Domain() string { return t.domain }

// CountryLetterCode returns the organisation's country, e.g. "US"; it is
// also the default usage location.
func (t *Tenant) CountryLetterCode() string { return t.country }

// CreatedDateTime returns when the tenant was created.
func (t *Tenant) CreatedDateTime() time.Time { return t.created }

// App returns the client application registered for Seatwise.
func (t *Tenant) App() App {
	t.mu.RLock()
	defer t.mu.RUnlock()
	a := t.app
	a.GraphPermissions = slices.Clone(a.GraphPermissions)
	return a
}

// SetGraphPermissions replaces the application's granted Graph application
// permissions (e.g. to grant LicenseAssignment.ReadWrite.All in a test).
func (t *Tenant) SetGraphPermissions(perms []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.app.GraphPermissions = slices.Clone(perms)
}

// SetAppAuditRead sets whether the application user of an environment may
// read audits. Errors: ErrNotFound for a bad environment index.
func (t *Tenant) SetAppAuditRead(env int, ok bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.env(env)
	if err != nil {
		return err
	}
	e.AppUserAuditRead = ok
	return nil
}

// SetAppUserDisabled disables (or enables again) the Seatwise application
// user of an environment, as an administrator removing the app's access
// does: a disabled application user is refused by the Web API ("not a
// member of the organization"). The ground truth is not affected. Errors:
// ErrNotFound for a bad environment index.
func (t *Tenant) SetAppUserDisabled(env int, disabled bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.env(env)
	if err != nil {
		return err
	}
	e.specials[specialApp].IsDisabled = disabled
	return nil
}

// Now returns the simulated clock.
func (t *Tenant) Now() time.Time {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return nsTime(t.now)
}

// Advance moves the clock forward by d (negative d is ignored). Generated
// users keep their patterns through the new days; audit rows of the new
// time become visible, rows that fall out of retention disappear.
func (t *Tenant) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now += int64(d) / 100 * 100
}

// SKUs returns subscribedSkus, consumed units computed from assignments.
func (t *Tenant) SKUs() []SKU {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]SKU, len(t.skus))
	for i, s := range t.skus {
		out[i] = s.copy()
	}
	return out
}

func (s *skuRec) copy() SKU {
	c := s.SKU
	c.ServicePlans = slices.Clone(s.ServicePlans)
	c.SubscriptionIDs = slices.Clone(s.SubscriptionIDs)
	return c
}

// SKU returns one subscribed SKU by id; ErrNotFound if the tenant has none.
func (t *Tenant) SKU(skuID string) (SKU, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok := t.skuByID[sam.NormalizeGUID(skuID)]
	if !ok {
		return SKU{}, errorf(ErrNotFound, "the tenant has no subscription for SKU %s", skuID)
	}
	return t.skus[i].copy(), nil
}

// User returns a user by object id or userPrincipalName (case-insensitive).
// Soft- and hard-deleted users are ErrNotFound.
func (t *Tenant) User(idOrUPN string) (User, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u, err := t.lookupUser(idOrUPN)
	if err != nil {
		return User{}, err
	}
	return t.render(u), nil
}

// UserCount returns the number of users not deleted.
func (t *Tenant) UserCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, u := range t.users {
		if u.deleted == 0 {
			n++
		}
	}
	return n
}

// activeSKUs returns the mask of SKU indexes the user holds (an active
// licence from any source).
func (u *userRec) activeSKUs() uint64 {
	var m uint64
	for _, l := range u.lics {
		if !l.failed {
			m |= 1 << uint(l.sku)
		}
	}
	return m
}

// render builds the Graph view of a user. The caller holds t.mu.
func (t *Tenant) render(u *userRec) User {
	out := User{
		ID: u.id, UserPrincipalName: u.upn, DisplayName: u.display, GivenName: u.given, Surname: u.surname,
		Mail: u.mail, JobTitle: u.job, Department: u.dept, Country: u.country, UsageLocation: u.ul,
		AccountEnabled: u.enabled, CreatedDateTime: nsTime(u.created), Pattern: u.pattern,
		Groups: make([]string, 0, len(u.groups)),
	}
	for _, g := range u.groups {
		out.Groups = append(out.Groups, t.groups[g].id)
	}
	mask := u.activeSKUs()
	nplans := 0
	for si, s := range t.skus {
		if mask&(1<<uint(si)) != 0 {
			nplans += len(s.ServicePlans)
		}
	}
	out.AssignedLicenses = make([]AssignedLicense, 0, bits.OnesCount64(mask))
	out.LicenseAssignmentStates = make([]LicenseAssignmentState, 0, len(u.lics))
	out.AssignedPlans = make([]AssignedPlan, 0, nplans)
	for si, s := range t.skus {
		if mask&(1<<uint(si)) == 0 {
			continue
		}
		// disabled plans and assignment time: the direct licence wins.
		var src *lic
		first := noEnd
		for i := range u.lics {
			l := &u.lics[i]
			if int(l.sku) != si || l.failed {
				continue
			}
			first = min(first, l.at)
			if src == nil || l.group == directLic {
				src = l
			}
		}
		out.AssignedLicenses = append(out.AssignedLicenses, AssignedLicense{SKUID: s.SKUID, DisabledPlans: cloneStrings(src.disabled)})
		for pi, p := range s.ServicePlans {
			if slices.Contains(src.disabled, p.ID) {
				continue
			}
			out.AssignedPlans = append(out.AssignedPlans, AssignedPlan{
				AssignedDateTime: nsTime(first).Truncate(time.Second), CapabilityStatus: "Enabled",
				Service: s.service[pi], ServicePlanID: p.ID,
			})
		}
	}
	for _, l := range u.lics {
		st := LicenseAssignmentState{
			SKUID: t.skus[l.sku].SKUID, DisabledPlans: cloneStrings(l.disabled), State: "Active",
			ErrorNone: u.errorNone, LastUpdatedDateTime: nsTime(l.at).Truncate(time.Second),
		}
		if l.group != directLic {
			st.AssignedByGroup = t.groups[l.group].id
		}
		if l.failed {
			st.State, st.Error, st.ErrorNone = "Error", "CountViolation", false
		}
		out.LicenseAssignmentStates = append(out.LicenseAssignmentStates, st)
	}
	out.SignInActivity = t.signIn(u)
	return out
}

func cloneStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// serviceOf names the service of a service plan the way assignedPlans shows
// it (illustrative: Graph's values are not documented per plan).
func serviceOf(plan string) string {
	p := strings.ToUpper(plan)
	switch {
	case strings.HasPrefix(p, "POWERAPPS") || strings.HasPrefix(p, "POWER_APPS"):
		return "PowerAppsService"
	case strings.HasPrefix(p, "FLOW") || strings.HasPrefix(p, "POWERAUTOMATE"):
		return "ProcessSimple"
	case strings.HasPrefix(p, "CDS") || strings.Contains(p, "_CDS"):
		return "CDS"
	case strings.Contains(p, "DYN365") || strings.Contains(p, "D365") || strings.Contains(p, "CRM") || strings.HasPrefix(p, "FORMS_PRO"):
		return "CRM"
	case strings.HasPrefix(p, "EXCHANGE"):
		return "exchange"
	case strings.HasPrefix(p, "SHAREPOINT"):
		return "SharePoint"
	case strings.HasPrefix(p, "MCO"):
		return "MicrosoftCommunicationsOnline"
	case strings.HasPrefix(p, "TEAMS"):
		return "TeamspaceAPI"
	case strings.HasPrefix(p, "OFFICESUBSCRIPTION"):
		return "MicrosoftOffice"
	case strings.HasPrefix(p, "RMS"):
		return "RMSOnline"
	case strings.HasPrefix(p, "BI_AZURE") || strings.HasPrefix(p, "POWER_BI"):
		return "PowerBI"
	}
	if i := strings.IndexByte(plan, '_'); i > 0 {
		return plan[:i]
	}
	return plan
}

// Groups returns the groups in creation order (licensing groups first in
// generated tenants).
func (t *Tenant) Groups() []Group {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Group, len(t.groups))
	for i := range t.groups {
		out[i] = t.renderGroup(i)
	}
	return out
}

// Group returns a group by id; ErrNotFound if absent.
func (t *Tenant) Group(id string) (Group, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok := t.groupByID[sam.NormalizeGUID(id)]
	if !ok {
		return Group{}, notFoundResource(id)
	}
	return t.renderGroup(i), nil
}

func (t *Tenant) renderGroup(i int) Group {
	g := t.groups[i]
	out := Group{ID: g.id, DisplayName: g.name, SKUs: []string{}, Members: []string{}}
	for _, s := range g.skus {
		out.SKUs = append(out.SKUs, t.skus[s].SKUID)
	}
	for _, u := range t.users {
		if u.deleted == 0 && slices.Contains(u.groups, int32(i)) {
			out.Members = append(out.Members, u.id)
		}
	}
	return out
}

// Environments returns the Dataverse environments in index order.
func (t *Tenant) Environments() []Environment {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Environment, len(t.envs))
	for i, e := range t.envs {
		out[i] = e.render()
	}
	return out
}

func (e *envRec) render() Environment {
	c := e.Environment
	c.Audit = e.epochs[len(e.epochs)-1].s
	c.History = make([]AuditPeriod, len(e.epochs))
	for i, ep := range e.epochs {
		p := AuditPeriod{Settings: ep.s}
		if ep.from != noStart {
			p.From = nsTime(ep.from)
		}
		if i+1 < len(e.epochs) {
			p.To = nsTime(e.epochs[i+1].from)
		}
		c.History[i] = p
	}
	return c
}

// Environment returns one environment; ErrNotFound for a bad index.
func (t *Tenant) Environment(index int) (Environment, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.env(index)
	if err != nil {
		return Environment{}, err
	}
	return e.render(), nil
}

// EnvironmentByName returns the environment whose Name is name
// (case-insensitive); ErrNotFound if none.
func (t *Tenant) EnvironmentByName(name string) (Environment, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.envs {
		if strings.EqualFold(e.Name, name) {
			return e.render(), nil
		}
	}
	return Environment{}, errorf(ErrNotFound, "no environment named %q", name)
}

// settingsAt returns the audit settings in force at ns.
func (e *envRec) settingsAt(ns int64) AuditSettings {
	i, _ := slices.BinarySearchFunc(e.epochs, ns, func(ep epoch, v int64) int {
		if ep.from <= v {
			return -1
		}
		return 1
	})
	if i == 0 {
		return e.epochs[0].s
	}
	return e.epochs[i-1].s
}

func normalizeID(s string) string { return sam.NormalizeGUID(s) }

// Times the model accepts: Unix nanoseconds stay in range and days are
// positive.
var (
	minTime = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timeInRange reports whether t (zero allowed) is between 1970 and 2200.
func timeInRange(t time.Time) bool {
	return t.IsZero() || !t.Before(minTime) && t.Before(maxTime)
}

// MaxRetentionDays is the longest audit retention accepted (100 years);
// -1 means forever.
const MaxRetentionDays = 36500

func validRetention(d int) bool { return d == -1 || d >= 1 && d <= MaxRetentionDays }
