package tenant

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultNow is the clock of a generated tenant when Options.Now is zero.
var DefaultNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// Part numbers of the SKUs a generated tenant subscribes to, in
// subscribedSkus order.
const (
	partSalesEnt     = "DYN365_ENTERPRISE_SALES"
	partSalesPro     = "D365_SALES_PRO"
	partSalesPremium = "DYN365_SALES_PREMIUM"
	partSalesAttach  = "D365_SALES_ENT_ATTACH"
	partCSEnt        = "DYN365_ENTERPRISE_CUSTOMER_SERVICE"
	partCSPro        = "DYN365_CUSTOMER_SERVICE_PRO"
	partCSAttach     = "D365_CUSTOMER_SERVICE_ENT_ATTACH"
	partTeamMembers  = "DYN365_TEAM_MEMBERS"
	partPAPerUser    = "POWERAPPS_PER_USER"
	partPAPerApp     = "POWERAPPS_PER_APP_NEW"
	partFlowPerUser  = "FLOW_PER_USER"
	partO365E3       = "ENTERPRISEPACK"
	partM365E3       = "SPE_E3"
	partCaseMgmt     = "DYN365_ENTERPRISE_CASE_MANAGEMENT"
	// UnknownPartNumber is the part number of the SKU generated tenants hold
	// that the catalog does not know.
	UnknownPartNumber = "CONTOSO_FIELD_OPS_ADDON"
)

var genParts = []string{partSalesEnt, partSalesPro, partSalesPremium, partSalesAttach, partCSEnt, partCSPro, partCSAttach,
	partTeamMembers, partPAPerUser, partPAPerApp, partFlowPerUser, partO365E3, partM365E3, partCaseMgmt, UnknownPartNumber}

var orgNames = []string{"Contoso", "Fabrikam", "Northwind Traders", "Adventure Works", "Tailspin Toys", "Woodgrove Bank",
	"Litware", "Proseware", "Wide World Importers", "Alpine Ski House", "Coho Winery", "Trey Research"}

var givenNames = []string{"Adele", "Alex", "Allan", "Bianca", "Brian", "Carlos", "Chen", "Christie", "Debra", "Diego", "Emily",
	"Enrico", "Fatima", "Grady", "Hana", "Henrietta", "Isaiah", "Ivan", "Johanna", "Joni", "Kenji", "Lee", "Lidia", "Lynne",
	"Megan", "Miriam", "Nestor", "Noah", "Olga", "Patti", "Pradeep", "Priya", "Raul", "Sanjay", "Sofia", "Tomas", "Una",
	"Vikram", "Wei", "Yara", "Zoe", "Amelie", "Björn", "Chloé", "Dmitri", "Elif", "Farah", "Giulia", "Hiroshi", "Ines"}

var surnames = []string{"Vance", "Wilber", "Deyoung", "Kowalski", "Johnson", "Gomez", "Wang", "Cline", "Berg", "Siciliani",
	"Braun", "Rossi", "Khan", "Archie", "Sato", "Mueller", "Okafor", "Petrov", "Lauer", "Sherman", "Tanaka", "Lee", "Holloway",
	"Robinson", "Bowen", "Caron", "Wilke", "Brooks", "Ivanova", "Fernandez", "Gupta", "Patel", "Garcia", "Nair", "Lindqvist",
	"Novak", "Moreau", "Rao", "Zhang", "Haddad", "Schmidt", "Dubois", "Andersson", "Volkov", "Yilmaz", "Ahmed", "Bianchi",
	"Nakamura", "Silva", "Murphy"}

var countries = []struct{ name, code string }{
	{"United States", "US"}, {"United States", "US"}, {"United States", "US"}, {"United Kingdom", "GB"}, {"Germany", "DE"},
	{"France", "FR"}, {"Netherlands", "NL"}, {"Canada", "CA"}, {"Australia", "AU"}, {"India", "IN"}, {"Spain", "ES"},
	{"Italy", "IT"}, {"Japan", "JP"},
}

var roleDepts = map[uint8][]string{
	roleSales:   {"Sales", "Sales", "Marketing", "Inside Sales"},
	roleService: {"Customer Service", "Customer Service", "Field Service", "Support"},
	roleTeam:    {"Operations", "Finance", "Sales", "Legal", "HR"},
	roleMaker:   {"IT", "Operations", "Finance", "Engineering"},
	roleOffice:  {"Finance", "HR", "Legal", "Operations", "Engineering", "Executive"},
	roleNone:    {"Facilities", "Operations", ""},
	roleAdmin:   {"IT"},
}

var roleJobs = map[uint8][]string{
	roleSales:   {"Account Executive", "Sales Manager", "Business Development Rep", "Account Manager"},
	roleService: {"Support Engineer", "Customer Service Agent", "Service Manager", "Field Technician"},
	roleTeam:    {"Analyst", "Coordinator", "Accountant", "Paralegal"},
	roleMaker:   {"Business Analyst", "Power Platform Developer", "Process Owner"},
	roleOffice:  {"Controller", "HR Generalist", "Counsel", "Engineer", "Director"},
	roleNone:    {"Contractor", "Intern", ""},
	roleAdmin:   {"Dynamics 365 Administrator"},
}

type weighted[T any] struct {
	v T
	w int
}

func pickW[T any](r *rng, items []weighted[T]) T {
	total := 0
	for _, it := range items {
		total += it.w
	}
	n := r.intn(total)
	for _, it := range items {
		if n < it.w {
			return it.v
		}
		n -= it.w
	}
	return items[len(items)-1].v
}

// Generate builds the tenant opts describe. It is deterministic: the same
// opts give the same ids, users, licences, environments and audit rows.
//
// Environments, by index: 0 "{org}" audits everything, retention forever;
// 1 "{org}-service" keeps 180 days and had user-access auditing off from 45
// to 38 days before Now and all auditing off from 20 to 17 days before Now;
// 2 "{org}-dev" does not audit at all; 3 and more keep 30 days (shorter than
// a 90-day window: incomplete coverage). User 0 is an administrator.
// Users get roles (sales, service, team members, makers, Office only, no
// licence) with matching SKUs (direct, through the "Sales Team Licensing",
// "Service Desk Licensing" and "All Staff" groups, or both), an Office SKU,
// sometimes the SKU unknown to the catalog (UnknownPartNumber), and a
// Pattern. Team Members has no free seat; Power Automate per user is in the
// Warning state (no enabled units); Case Management is Suspended.
//
// Errors (ErrInvalid): negative Users, Environments or HistoryDays, more than
// 64 environments, a negative TenantIndex, Now outside 1970-2200.
func Generate(opts Options) (*Tenant, error) {
	switch {
	case opts.Users < 0:
		return nil, errorf(ErrInvalid, "users must not be negative, got %d", opts.Users)
	case opts.Environments < 0 || opts.Environments > maxEnvs:
		return nil, errorf(ErrInvalid, "environments must be between 0 and %d, got %d", maxEnvs, opts.Environments)
	case opts.HistoryDays < 0:
		return nil, errorf(ErrInvalid, "history days must not be negative, got %d", opts.HistoryDays)
	case opts.TenantIndex < 0:
		return nil, errorf(ErrInvalid, "tenant index must not be negative, got %d", opts.TenantIndex)
	case !timeInRange(opts.Now):
		return nil, errorf(ErrInvalid, "now %s must be between 1970 and 2200", opts.Now.UTC().Format(time.RFC3339))
	case opts.Users > 10_000_000:
		return nil, errorf(ErrInvalid, "users must be at most 10000000, got %d", opts.Users)
	}
	if opts.Environments == 0 {
		opts.Environments = 1
	}
	if opts.HistoryDays == 0 {
		opts.HistoryDays = DefaultHistoryDays
	}
	if opts.Now.IsZero() {
		opts.Now = DefaultNow
	}
	t := newTenant()
	t.seed = hashOf(uint64(opts.Seed), uint64(opts.TenantIndex), 0x7E4A47)
	t.now = timeNS(opts.Now)
	t.genDay = dayOf(t.now)
	t.histDay = t.genDay - int64(opts.HistoryDays)
	t.noise = true
	r := newRNG(t.seed, 0x1)

	t.name = orgNames[(uint64(opts.Seed)+uint64(opts.TenantIndex))%uint64(len(orgNames))]
	slug := strings.ToLower(strings.ReplaceAll(t.name, " ", ""))
	if opts.TenantIndex >= len(orgNames) || opts.Seed != 0 {
		slug += fmt.Sprintf("%d", hashOf(uint64(opts.Seed), uint64(opts.TenantIndex))%1000)
	}
	t.domain = slug + ".onmicrosoft.com"
	t.id = guidFrom(t.seed, 0x7E).String()
	t.country = "US"
	t.created = nsTime((t.histDay - 1500) * nsPerDay).Add(9 * time.Hour)
	var secret [30]byte
	for i := 0; i < len(secret); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.next())
		copy(secret[i:], b[:])
	}
	t.app = App{
		ClientID:         guidFrom(t.seed, 0xA99).String(),
		ClientSecret:     "Sw8Q~" + base64.RawURLEncoding.EncodeToString(secret[:]),
		ObjectID:         guidFrom(t.seed, 0xA9A).String(),
		GraphPermissions: []string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All"},
	}

	// environments
	offEnv := -1
	for i := 0; i < opts.Environments; i++ {
		name := slug
		switch {
		case i == 1:
			name += "-service"
		case i == 2:
			name += "-dev"
		case i > 2:
			name += fmt.Sprintf("-env%d", i)
		}
		on := AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1, AccessIntervalHours: DefaultAccessInterval}
		var eps []epoch
		switch {
		case i == 0:
			eps = []epoch{{noStart, on}}
		case i == 1:
			on.RetentionDays = 180
			noAccess := on
			noAccess.UserAccessAuditEnabled = false
			off := on
			off.AuditEnabled = false
			g := t.genDay
			eps = []epoch{{noStart, on},
				{(g-45)*nsPerDay + int64(10*time.Hour), noAccess}, {(g-38)*nsPerDay + int64(9*time.Hour), on},
				{(g-20)*nsPerDay + int64(14*time.Hour), off}, {(g-17)*nsPerDay + int64(8*time.Hour), on}}
		case i == 2:
			offEnv = i
			eps = []epoch{{noStart, AuditSettings{RetentionDays: 30, AccessIntervalHours: DefaultAccessInterval}}}
		default:
			on.RetentionDays = 30
			eps = []epoch{{noStart, on}}
		}
		t.addEnv(name, fmt.Sprintf("%s %s", t.name, []string{"Production", "Service", "Development"}[min(i, 2)]+suffix(i)), eps, true)
	}

	// SKUs
	for _, part := range genParts {
		if part == UnknownPartNumber {
			id := guidFrom(t.seed, 0x5C0)
			for k := uint64(1); ; k++ {
				if _, known := t.cat.Product(id.String()); !known {
					break
				}
				id = guidFrom(t.seed, 0x5C0, k)
			}
			t.addSKU(SKU{SKUID: id.String(), PartNumber: part, ServicePlans: []sam.ServicePlan{
				{ID: guidFrom(t.seed, 0x5C1).String(), Name: "CONTOSO_FIELD_OPS"}}})
			continue
		}
		ps := t.cat.ProductsByPartNumber(part)
		if len(ps) == 0 {
			return nil, errorf(ErrInvalid, "catalog has no product %s", part)
		}
		t.addSKU(SKU{SKUID: ps[0].SKUID, PartNumber: ps[0].PartNumber})
	}
	sku := func(part string) int16 { return int16(t.skuByID[t.cat.ProductsByPartNumber(part)[0].SKUID]) }
	unknownSKU := int16(len(t.skus) - 1)

	// groups
	gSales := t.addGroup("Sales Team Licensing", []int{int(sku(partSalesEnt))})
	gService := t.addGroup("Service Desk Licensing", []int{int(sku(partCSEnt))})
	gStaff := t.addGroup("All Staff", []int{int(sku(partO365E3))})
	gAdmins := t.addGroup("Dynamics Admins", nil)

	// users
	upns := map[string]int{}
	envProb := func(e int) float64 {
		switch e {
		case 0:
			return 0.92
		case 1:
			return 0.45
		case 2:
			return 0.25
		}
		return 0.15
	}
	for i := 0; i < opts.Users; i++ {
		ur := newRNG(t.seed, 0x05E5, uint64(i))
		u := &userRec{ord: int32(i), enabled: true, primary: -1, stopDay: noEnd / nsPerDay}
		u.role = pickW(&ur, []weighted[uint8]{{roleSales, 35}, {roleService, 22}, {roleTeam, 13}, {roleMaker, 15}, {roleOffice, 12}, {roleNone, 3}})
		if i == 0 {
			u.role = roleAdmin
		}
		u.given = givenNames[ur.intn(len(givenNames))]
		u.surname = surnames[ur.intn(len(surnames))]
		u.display = u.given + " " + u.surname
		base := strings.ToLower(asciiFold(u.given) + "." + asciiFold(u.surname))
		if n := upns[base]; n > 0 {
			upns[base] = n + 1
			base = fmt.Sprintf("%s%d", base, n+1)
		} else {
			upns[base] = 1
		}
		u.upn = base + "@" + t.domain
		u.mail = u.upn
		c := countries[ur.intn(len(countries))]
		u.country, u.ul = c.name, c.code
		if u.role == roleNone && ur.chance(0.66) {
			u.ul = ""
		}
		u.dept = roleDepts[u.role][ur.intn(len(roleDepts[u.role]))]
		u.job = roleJobs[u.role][ur.intn(len(roleJobs[u.role]))]
		u.id = guidFrom(t.seed, 0x05E6, uint64(i)).String()
		u.errorNone = ur.chance(0.3)
		u.created = (t.histDay-int64(ur.intn(900)))*nsPerDay - int64(ur.intn(int(nsPerDay/int64(time.Second))))*int64(time.Second)

		// pattern
		switch u.role {
		case roleOffice:
			u.pattern = PatternSignInOnly
			if ur.chance(0.15) {
				u.pattern = PatternNever
			}
		case roleNone:
			u.pattern = PatternNever
			if ur.chance(0.5) {
				u.pattern = PatternSignInOnly
			}
		case roleAdmin:
			u.pattern = PatternAdmin
		default:
			u.pattern = pickW(&ur, []weighted[Pattern]{{PatternDaily, 22}, {PatternWeekly, 12}, {PatternLow, 8}, {PatternFading, 6},
				{PatternDormant30, 6}, {PatternDormant60, 6}, {PatternDormant90, 5}, {PatternNever, 7}, {PatternWebServices, 5},
				{PatternOneEnv, 5}, {PatternRecordOnly, 4}, {PatternAuditOff, 4}, {PatternSignInOnly, 5}, {PatternNewHire, 3}, {PatternLeaver, 3}})
			if u.pattern == PatternOneEnv && opts.Environments < 2 || u.pattern == PatternAuditOff && offEnv < 0 {
				u.pattern = PatternDaily
			}
		}
		// environments
		if u.role != roleOffice && u.role != roleNone {
			for e := 0; e < opts.Environments; e++ {
				if e == offEnv && u.pattern != PatternAuditOff && !ur.chance(envProb(e)) {
					continue
				}
				if ur.chance(envProb(e)) || u.role == roleAdmin {
					u.envMask |= 1 << uint(e)
				}
			}
			switch u.pattern {
			case PatternOneEnv:
				u.envMask |= 3
			case PatternAuditOff:
				u.envMask |= 1 << uint(offEnv)
			}
			if u.envMask == 0 {
				u.envMask = 1
			}
			for e := 0; e < opts.Environments; e++ {
				if u.envMask&(1<<uint(e)) != 0 {
					u.primary = int8(e)
					break
				}
			}
			if u.pattern == PatternAuditOff {
				u.primary = int8(offEnv)
			}
		}
		// activity window
		u.startDay = max(dayOf(u.created)+1, t.histDay)
		g := t.genDay + 1
		switch u.pattern {
		case PatternFading, PatternDormant30:
			u.stopDay = g - int64(ur.between(30, 60))
		case PatternDormant60:
			u.stopDay = g - int64(ur.between(60, 90))
		case PatternDormant90:
			u.stopDay = g - int64(ur.between(90, 118))
		case PatternNewHire:
			u.created = (t.genDay-int64(ur.between(3, 20)))*nsPerDay + int64(ur.between(8, 17))*int64(time.Hour)
			u.startDay = dayOf(u.created) + 1
		case PatternLeaver:
			at := (t.genDay-int64(ur.between(10, 80)))*nsPerDay + int64(ur.between(9, 18))*int64(time.Hour)
			u.off = []span{{at, noEnd}}
			u.enabled = false
			u.stopDay = dayOf(at) + 1
		case PatternNever:
			if ur.chance(0.05) {
				u.enabled = false
				u.off = []span{{u.created, noEnd}}
			}
		}
		if u.role == roleAdmin {
			u.groups = append(u.groups, int32(gAdmins))
		}

		// licences
		licAt := func() int64 {
			at := u.created + int64(ur.intn(30*86400))*int64(time.Second)
			return min(at, t.now-int64(time.Hour))
		}
		direct := func(s int16) {
			l := lic{sku: s, group: directLic, at: licAt()}
			if plans := t.skus[s].ServicePlans; len(plans) > 1 && ur.chance(0.05) {
				l.disabled = []string{plans[len(plans)-1].ID}
			}
			u.lics = append(u.lics, l)
		}
		viaGroup := func(g int) {
			if !containsI32(u.groups, int32(g)) {
				u.groups = append(u.groups, int32(g))
			}
			at := licAt()
			for _, s := range t.groups[g].skus {
				u.lics = append(u.lics, lic{sku: int16(s), group: int32(g), at: at})
			}
		}
		grouped := func(s int16, g int) {
			switch x := ur.float(); {
			case x < 0.06:
				direct(s)
				viaGroup(g)
			case x < 0.4:
				viaGroup(g)
			default:
				direct(s)
			}
		}
		switch u.role {
		case roleAdmin:
			direct(sku(partSalesEnt))
			direct(sku(partPAPerUser))
		case roleSales:
			switch x := ur.float(); {
			case x < 0.5:
				grouped(sku(partSalesEnt), gSales)
				if ur.chance(0.1) {
					direct(sku(partCSAttach))
				}
			case x < 0.85:
				direct(sku(partSalesPro))
			default:
				direct(sku(partSalesPremium))
			}
		case roleService:
			if ur.chance(0.6) {
				grouped(sku(partCSEnt), gService)
				if ur.chance(0.08) {
					direct(sku(partSalesAttach))
				}
			} else {
				direct(sku(partCSPro))
			}
		case roleTeam:
			direct(sku(partTeamMembers))
			if ur.chance(0.2) {
				direct(sku(partPAPerApp))
			}
		case roleMaker:
			switch x := ur.float(); {
			case x < 0.5:
				direct(sku(partPAPerUser))
			case x < 0.75:
				direct(sku(partPAPerApp))
			default:
				direct(sku(partFlowPerUser))
			}
			if ur.chance(0.1) && u.activeSKUs()&(1<<uint(sku(partFlowPerUser))) == 0 {
				direct(sku(partFlowPerUser))
			}
		}
		if (u.role == roleSales || u.role == roleService) && ur.chance(0.05) {
			direct(unknownSKU)
		}
		if u.role != roleNone {
			if ur.chance(0.7) {
				if ur.chance(0.5) {
					viaGroup(gStaff)
				} else {
					direct(sku(partO365E3))
				}
			} else {
				direct(sku(partM365E3))
			}
		}
		t.users = append(t.users, u)
		t.userByID[u.id] = u.ord
		t.userByUPN[strings.ToLower(u.upn)] = u.ord
	}

	// prepaid units around what is consumed
	consumed := t.consumed()
	for i, s := range t.skus {
		c := consumed[i]
		s.CapabilityStatus = "Enabled"
		switch s.PartNumber {
		case partTeamMembers:
			s.Enabled = c
		case partFlowPerUser:
			s.CapabilityStatus = "Warning"
			s.Warning = c + r.intn(3)
		case partCaseMgmt:
			s.CapabilityStatus = "Suspended"
			s.Suspended = 5
		default:
			s.Enabled = max(1, c+(c*r.between(3, 20)+99)/100+r.intn(4))
		}
		s.Consumed = c
	}
	t.baseline()
	return t, nil
}

// baseline starts the change log of a new tenant at sequence 1 (0 is the
// "first round" of ChangesSince), every user created by it.
func (t *Tenant) baseline() {
	t.seq = 1
	for _, u := range t.users {
		u.changed, u.createdSeq = 1, 1
	}
}

func suffix(i int) string {
	if i > 2 {
		return fmt.Sprintf(" %d", i)
	}
	return ""
}

func containsI32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// asciiFold maps the few non-ASCII letters of the name tables for UPNs.
func asciiFold(s string) string {
	return strings.NewReplacer("ö", "o", "é", "e", "ü", "u", "ä", "a").Replace(s)
}

// consumed counts, per SKU, the users (not deleted) holding it.
func (t *Tenant) consumed() []int {
	out := make([]int, len(t.skus))
	for _, u := range t.users {
		if u.deleted != 0 {
			continue
		}
		m := u.activeSKUs()
		for i := range t.skus {
			if m&(1<<uint(i)) != 0 {
				out[i]++
			}
		}
	}
	return out
}

// addSKU adds a subscribed SKU; the catalog fills in name, plans and
// family when it knows the id.
func (t *Tenant) addSKU(s SKU) *skuRec {
	s.SKUID = sam.NormalizeGUID(s.SKUID)
	s.AppliesTo = "User"
	if s.CapabilityStatus == "" {
		s.CapabilityStatus = "Enabled"
	}
	rec := &skuRec{SKU: s, family: sam.FamilyOther}
	if p, ok := t.cat.Product(s.SKUID); ok {
		rec.InCatalog = true
		rec.Name = p.Name
		if rec.PartNumber == "" {
			rec.PartNumber = p.PartNumber
		}
		if len(rec.ServicePlans) == 0 {
			rec.ServicePlans = p.ServicePlans
		}
		if m, ok := t.cat.Model(s.SKUID); ok {
			rec.family, rec.tracked, rec.mapped = m.Family, m.Tracked, true
		} else {
			rec.family = ""
		}
	}
	for _, p := range rec.ServicePlans {
		rec.service = append(rec.service, serviceOf(p.Name))
	}
	n := 1
	if rec.PartNumber == partSalesEnt {
		n = 2
	}
	for k := 0; k < n; k++ {
		rec.SubscriptionIDs = append(rec.SubscriptionIDs, guidFrom(t.seed, 0x5B5, hashString(rec.SKUID), uint64(k)).String())
	}
	t.skuByID[rec.SKUID] = len(t.skus)
	t.skus = append(t.skus, rec)
	return rec
}

func (t *Tenant) addGroup(name string, skus []int) int {
	g := &groupRec{id: guidFrom(t.seed, 0x6A0, hashString(name)).String(), name: name, skus: skus, created: t.created}
	t.groupByID[g.id] = len(t.groups)
	t.groups = append(t.groups, g)
	return len(t.groups) - 1
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// addEnv adds an environment with its special systemusers.
func (t *Tenant) addEnv(name, friendly string, eps []epoch, appAuditRead bool) *envRec {
	i := len(t.envs)
	e := &envRec{interval: int64(DefaultAccessInterval) * int64(time.Hour), epochs: eps}
	if s := eps[0].s; s.AccessIntervalHours > 0 {
		e.interval = int64(s.AccessIntervalHours) * int64(time.Hour)
	}
	e.Index, e.Name, e.FriendlyName, e.AppUserAuditRead = i, name, friendly, appAuditRead
	e.org = guidFrom(t.seed, 0xE40, uint64(i), hashString(name))
	e.bu = guidFrom(t.seed, 0xE41, uint64(i), hashString(name))
	e.OrganizationID, e.BusinessUnitID = e.org.String(), e.bu.String()
	e.key = hashOf(t.seed, 0xE42, uint64(i))
	tail := guidFrom(t.seed, 0xE43, uint64(i), hashString(name))
	copy(e.tail[:], tail[8:])
	e.tail[0] = e.tail[0]&0x3f | 0x80
	mk := func(k int, full, domain string, mode int, appID, aad string, disabled bool) special {
		g := guidFrom(t.seed, 0xE44, uint64(i), uint64(k))
		return special{g: g, SystemUser: SystemUser{SystemUserID: g.String(), AzureActiveDirectoryObjectID: aad, DomainName: domain,
			FullName: full, IsDisabled: disabled, AccessMode: mode, ApplicationID: appID}}
	}
	integrationApp := guidFrom(t.seed, 0xE45)
	e.specials = []special{
		mk(specialApp, "# Seatwise", t.app.ClientID+"@"+t.domain, 4, t.app.ClientID, t.app.ObjectID, false),
		mk(specialIntegration, "# ERP Connector", integrationApp.String()+"@"+t.domain, 4, integrationApp.String(), guidFrom(t.seed, 0xE46).String(), false),
		mk(specialSystem, "SYSTEM", "", 0, "", "", true),
		mk(specialSupport, "Microsoft Support", "crmoln@microsoft.com", 3, "", "", false),
		mk(specialDelegated, "Delegated Admin", "delegatedadmin@partner.onmicrosoft.com", 5, "", "", false),
	}
	e.AppUserID = e.specials[specialApp].SystemUserID
	t.envs = append(t.envs, e)
	return e
}
