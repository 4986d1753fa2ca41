package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Scenario files define an exact tenant for tests. They are JSON objects
// with these members (all optional except where stated):
//
//	{
//	  "now": "2026-01-15T12:00:00Z",            // the clock (default DefaultNow)
//	  "tenant": {"id": GUID, "displayName": "Contoso", "domain": "contoso.onmicrosoft.com",
//	             "country": "US", "seed": 1, "noise": false},  // noise: background audit rows
//	  "app": {"clientId": GUID, "clientSecret": "...", "graphPermissions": ["User.Read.All", ...]},
//	  "skus": [{"sku": "DYN365_ENTERPRISE_SALES" | skuId,   // required; part number or GUID
//	            "partNumber": "X",                           // only for SKUs unknown to the catalog
//	            "servicePlans": [{"id": GUID, "name": "X"}], // idem
//	            "capabilityStatus": "Enabled", "enabled": 10, "warning": 0, "suspended": 0, "lockedOut": 0}],
//	  "groups": [{"id": GUID, "displayName": "Sales Licensing", "skus": ["DYN365_ENTERPRISE_SALES"]}],
//	  "environments": [{"name": "contoso",                   // required, unique: https://{name}.crm.dynamics.com
//	            "friendlyName": "...", "organizationId": GUID,
//	            "auditEnabled": true, "userAccessAuditEnabled": true, "retentionDays": -1,
//	            "accessIntervalHours": 4, "appUserAuditRead": true,
//	            "auditHistory": [{"from": time, "auditEnabled": true, "userAccessAuditEnabled": true,
//	                              "retentionDays": -1}]}],  // replaces the three settings; first "from" may be omitted
//	  "users": [{"id": GUID, "userPrincipalName": "adele@contoso.com", "displayName": "...",
//	            "givenName": "...", "surname": "...", "mail": "...", "jobTitle": "...", "department": "...",
//	            "country": "...", "usageLocation": "US", "accountEnabled": true,
//	            "createdDateTime": time, "pattern": "daily",  // a label for reports
//	            "licenses": [{"sku": "D365_SALES_PRO" | skuId, "disabledPlans": [GUID], "assignedAt": time}],
//	            "groups": [{"group": id | displayName, "assignedAt": time}],
//	            "lastSignIn": "never" | time,                // default: derived from events
//	            "environments": ["contoso"],                 // systemusers (events add them too)
//	            "systemUserIds": {"contoso": GUID},
//	            "events": [{"env": "contoso" | 0, "at": time, "operation": 4, "action": 64, "entity": "systemuser"}],
//	            "deleted": "" | "soft" | "hard"}]
//	}
//
// Scenario tenants have no generated activity: only the users' events make
// audit rows (plus background rows when tenant.noise is true).
type scenarioFile struct {
	Now    time.Time `json:"now"`
	Tenant struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Domain      string `json:"domain"`
		Country     string `json:"country"`
		Seed        int64  `json:"seed"`
		Noise       bool   `json:"noise"`
	} `json:"tenant"`
	App *struct {
		ClientID         string   `json:"clientId"`
		ClientSecret     string   `json:"clientSecret"`
		GraphPermissions []string `json:"graphPermissions"`
	} `json:"app"`
}

type scenarioSKU struct {
	SKU          string `json:"sku"`
	PartNumber   string `json:"partNumber"`
	ServicePlans []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"servicePlans"`
	CapabilityStatus string `json:"capabilityStatus"`
	Enabled          int    `json:"enabled"`
	Warning          int    `json:"warning"`
	Suspended        int    `json:"suspended"`
	LockedOut        int    `json:"lockedOut"`
}

type scenarioGroup struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	SKUs        []string `json:"skus"`
}

type scenarioSettings struct {
	From                   time.Time `json:"from"`
	AuditEnabled           bool      `json:"auditEnabled"`
	UserAccessAuditEnabled bool      `json:"userAccessAuditEnabled"`
	RetentionDays          int       `json:"retentionDays"`
}

type scenarioEnv struct {
	Name                   string             `json:"name"`
	FriendlyName           string             `json:"friendlyName"`
	OrganizationID         string             `json:"organizationId"`
	AuditEnabled           *bool              `json:"auditEnabled"`
	UserAccessAuditEnabled *bool              `json:"userAccessAuditEnabled"`
	RetentionDays          *int               `json:"retentionDays"`
	AccessIntervalHours    int                `json:"accessIntervalHours"`
	AppUserAuditRead       *bool              `json:"appUserAuditRead"`
	AuditHistory           []scenarioSettings `json:"auditHistory"`
}

// envRef names an environment by name or index.
type envRef struct {
	name  string
	index int
	isIdx bool
}

// UnmarshalJSON accepts a name (string) or an index (number).
func (r *envRef) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.index); err == nil {
		r.isIdx = true
		return nil
	}
	if err := json.Unmarshal(b, &r.name); err != nil {
		return fmt.Errorf("an environment is named by its name (string) or index (number), got %s", b)
	}
	return nil
}

type scenarioUser struct {
	ID                string    `json:"id"`
	UserPrincipalName string    `json:"userPrincipalName"`
	DisplayName       string    `json:"displayName"`
	GivenName         string    `json:"givenName"`
	Surname           string    `json:"surname"`
	Mail              string    `json:"mail"`
	JobTitle          string    `json:"jobTitle"`
	Department        string    `json:"department"`
	Country           string    `json:"country"`
	UsageLocation     string    `json:"usageLocation"`
	AccountEnabled    *bool     `json:"accountEnabled"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	Pattern           string    `json:"pattern"`
	Licenses          []struct {
		SKU           string    `json:"sku"`
		DisabledPlans []string  `json:"disabledPlans"`
		AssignedAt    time.Time `json:"assignedAt"`
	} `json:"licenses"`
	Groups []struct {
		Group      string    `json:"group"`
		AssignedAt time.Time `json:"assignedAt"`
	} `json:"groups"`
	LastSignIn    string            `json:"lastSignIn"`
	Environments  []envRef          `json:"environments"`
	SystemUserIDs map[string]string `json:"systemUserIds"`
	Events        []struct {
		Env       envRef    `json:"env"`
		At        time.Time `json:"at"`
		Operation int       `json:"operation"`
		Action    int       `json:"action"`
		Entity    string    `json:"entity"`
	} `json:"events"`
	Deleted string `json:"deleted"`
}

var knownPatterns = []Pattern{PatternDaily, PatternWeekly, PatternLow, PatternFading, PatternDormant30, PatternDormant60,
	PatternDormant90, PatternNever, PatternWebServices, PatternOneEnv, PatternRecordOnly, PatternAuditOff, PatternSignInOnly,
	PatternNewHire, PatternScripted, PatternLeaver, PatternAdmin}

var envNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// maxScenarioBytes bounds a scenario file.
const maxScenarioBytes = 64 << 20

// scenarioError is an ErrInvalid naming the line and the element.
func scenarioError(data []byte, off int64, where string, format string, args ...any) *Error {
	line := 1 + bytes.Count(data[:min(max(off, 0), int64(len(data)))], []byte("\n"))
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	return errorf(ErrInvalid, "scenario line %d: %s", line, msg)
}

// LoadScenario reads a scenario file (JSON, format above) defining an exact
// tenant. Errors are ErrInvalid and name the line and the element: JSON
// syntax, unknown members, wrong types, unknown SKUs, groups or
// environments, malformed GUIDs, duplicate ids, events after now, more
// users on a SKU than its prepaid units allow.
func LoadScenario(r io.Reader) (*Tenant, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxScenarioBytes+1))
	if err != nil {
		return nil, errorf(ErrInvalid, "reading scenario: %v", err)
	}
	if len(data) > maxScenarioBytes {
		return nil, errorf(ErrInvalid, "scenario is larger than %d bytes", maxScenarioBytes)
	}
	// Syntax first, over the whole input: json.Unmarshal reports absolute
	// offsets (a Decoder's are not, for values in a stream).
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, scenarioError(data, se.Offset, "", "invalid JSON: %v", se)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	// jsonErr locates a decoding error; base is where the value being
	// decoded starts (Decode reports offsets relative to it), 0 for tokens.
	jsonErr := func(err error, where string, base int64) *Error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return scenarioError(data, se.Offset, where, "invalid JSON: %v", se)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "value"
			}
			return scenarioError(data, base+te.Offset, where, "%s: expected %s, got JSON %s", field, te.Type, te.Value)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return scenarioError(data, int64(len(data)), where, "unexpected end of input")
		}
		return scenarioError(data, dec.InputOffset(), where, "%v", err)
	}
	var (
		head   scenarioFile
		skus   []scenarioSKU
		groups []scenarioGroup
		envs   []scenarioEnv
		users  []scenarioUser
		offs   = map[string][]int64{}
	)
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err, "", 0)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, scenarioError(data, 0, "", "a scenario is a JSON object")
	}
	headRaw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err, "", 0)
		}
		key, _ := tok.(string)
		keyOff := dec.InputOffset()
		array := func(into func(i int) error) error {
			tok, err := dec.Token()
			if err != nil {
				return jsonErr(err, key, 0)
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return scenarioError(data, keyOff, key, "expected an array")
			}
			for i := 0; dec.More(); i++ {
				base := dec.InputOffset()
				offs[key] = append(offs[key], base)
				if err := into(i); err != nil {
					return jsonErr(err, fmt.Sprintf("%s[%d]", key, i), base)
				}
			}
			if _, err := dec.Token(); err != nil {
				return jsonErr(err, key, 0)
			}
			return nil
		}
		switch key {
		case "now", "tenant", "app":
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, jsonErr(err, key, keyOff)
			}
			headRaw[key] = raw
			offs[key] = []int64{keyOff}
		case "skus":
			err = array(func(int) error { var v scenarioSKU; err := dec.Decode(&v); skus = append(skus, v); return err })
		case "groups":
			err = array(func(int) error { var v scenarioGroup; err := dec.Decode(&v); groups = append(groups, v); return err })
		case "environments":
			err = array(func(int) error { var v scenarioEnv; err := dec.Decode(&v); envs = append(envs, v); return err })
		case "users":
			err = array(func(int) error { var v scenarioUser; err := dec.Decode(&v); users = append(users, v); return err })
		default:
			return nil, scenarioError(data, keyOff, "", "unknown member %q (known: now, tenant, app, skus, groups, environments, users)", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonErr(err, "", 0)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, scenarioError(data, dec.InputOffset(), "", "unexpected data after the scenario object")
	}
	// the head members, decoded strictly
	for _, key := range []string{"now", "tenant", "app"} {
		raw, ok := headRaw[key]
		if !ok {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		var target any
		switch key {
		case "now":
			target = &head.Now
		case "tenant":
			target = &head.Tenant
		case "app":
			target = &head.App
		}
		if err := d.Decode(target); err != nil {
			return nil, scenarioError(data, offs[key][0], key, "%v", err)
		}
	}
	return buildScenario(data, offs, &head, skus, groups, envs, users)
}

func buildScenario(data []byte, offs map[string][]int64, head *scenarioFile, skus []scenarioSKU, groups []scenarioGroup,
	envs []scenarioEnv, users []scenarioUser) (*Tenant, error) {
	fail := func(key string, i int, format string, args ...any) (*Tenant, error) {
		where, off := key, int64(0)
		if i >= 0 && i < len(offs[key]) {
			where, off = fmt.Sprintf("%s[%d]", key, i), offs[key][i]
		} else if len(offs[key]) > 0 {
			off = offs[key][0]
		}
		return nil, scenarioError(data, off, where, format, args...)
	}
	t := newTenant()
	t.scripted = true
	t.noise = head.Tenant.Noise
	t.seed = hashOf(uint64(head.Tenant.Seed), 0x5CE)
	now := head.Now
	if !timeInRange(now) {
		return fail("now", -1, "now must be between 1970 and 2200")
	}
	if now.IsZero() {
		now = DefaultNow
	}
	t.now = timeNS(now.Truncate(time.Second))
	t.genDay = dayOf(t.now)
	t.histDay = t.genDay - DefaultHistoryDays
	t.name = head.Tenant.DisplayName
	if t.name == "" {
		t.name = "Contoso"
	}
	t.domain = head.Tenant.Domain
	if t.domain == "" {
		t.domain = strings.ToLower(strings.ReplaceAll(t.name, " ", "")) + ".onmicrosoft.com"
	}
	t.country = head.Tenant.Country
	if t.country == "" {
		t.country = "US"
	}
	if !validUsageLocation(t.country) {
		return fail("tenant", -1, "country %q must be a two-letter code", t.country)
	}
	t.id = guidFrom(t.seed, 0x7E).String()
	if head.Tenant.ID != "" {
		g, ok := parseGUID(head.Tenant.ID)
		if !ok {
			return fail("tenant", -1, "id %q is not a GUID", head.Tenant.ID)
		}
		t.id = g.String()
	}
	t.created = nsTime(t.now).AddDate(-4, 0, 0)
	t.app = App{ClientID: guidFrom(t.seed, 0xA99).String(), ClientSecret: "Sw8Q~scenario-secret-" + guidFrom(t.seed, 0xA98).String()[:8],
		ObjectID: guidFrom(t.seed, 0xA9A).String(), GraphPermissions: []string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All"}}
	if a := head.App; a != nil {
		if a.ClientID != "" {
			g, ok := parseGUID(a.ClientID)
			if !ok {
				return fail("app", -1, "clientId %q is not a GUID", a.ClientID)
			}
			t.app.ClientID = g.String()
		}
		if a.ClientSecret != "" {
			t.app.ClientSecret = a.ClientSecret
		}
		if a.GraphPermissions != nil {
			t.app.GraphPermissions = slices.Clone(a.GraphPermissions)
		}
	}

	// environments
	for i, se := range envs {
		if !envNameRE.MatchString(se.Name) {
			return fail("environments", i, "name %q must be lower-case letters, digits and '-'", se.Name)
		}
		for _, e := range t.envs {
			if e.Name == se.Name {
				return fail("environments", i, "duplicate environment name %q", se.Name)
			}
		}
		if se.AccessIntervalHours == 0 {
			se.AccessIntervalHours = DefaultAccessInterval
		}
		if se.AccessIntervalHours < 1 || se.AccessIntervalHours > 24 {
			return fail("environments", i, "accessIntervalHours must be between 1 and 24, got %d", se.AccessIntervalHours)
		}
		var eps []epoch
		if len(se.AuditHistory) > 0 {
			if se.AuditEnabled != nil || se.UserAccessAuditEnabled != nil || se.RetentionDays != nil {
				return fail("environments", i, "give either auditHistory or auditEnabled/userAccessAuditEnabled/retentionDays, not both")
			}
			for k, h := range se.AuditHistory {
				if !timeInRange(h.From) {
					return fail("environments", i, "auditHistory[%d].from must be between 1970 and 2200", k)
				}
				from := noStart
				if !h.From.IsZero() {
					from = timeNS(h.From)
				} else if k > 0 {
					return fail("environments", i, "auditHistory[%d] needs a from time", k)
				}
				if k > 0 && from <= eps[k-1].from {
					return fail("environments", i, "auditHistory[%d] starts before the previous period", k)
				}
				if from != noStart && from > t.now {
					return fail("environments", i, "auditHistory[%d] starts after now", k)
				}
				if !validRetention(h.RetentionDays) {
					return fail("environments", i, "auditHistory[%d].retentionDays must be -1 or 1 to %d, got %d", k, MaxRetentionDays, h.RetentionDays)
				}
				eps = append(eps, epoch{from, AuditSettings{h.AuditEnabled, h.UserAccessAuditEnabled, h.RetentionDays, se.AccessIntervalHours}})
			}
		} else {
			s := AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1, AccessIntervalHours: se.AccessIntervalHours}
			if se.AuditEnabled != nil {
				s.AuditEnabled = *se.AuditEnabled
			}
			if se.UserAccessAuditEnabled != nil {
				s.UserAccessAuditEnabled = *se.UserAccessAuditEnabled
			}
			if se.RetentionDays != nil {
				s.RetentionDays = *se.RetentionDays
			}
			if !validRetention(s.RetentionDays) {
				return fail("environments", i, "retentionDays must be -1 or 1 to %d, got %d", MaxRetentionDays, s.RetentionDays)
			}
			eps = []epoch{{noStart, s}}
		}
		friendly := se.FriendlyName
		if friendly == "" {
			friendly = se.Name
		}
		read := true
		if se.AppUserAuditRead != nil {
			read = *se.AppUserAuditRead
		}
		e := t.addEnv(se.Name, friendly, eps, read)
		if se.OrganizationID != "" {
			g, ok := parseGUID(se.OrganizationID)
			if !ok {
				return fail("environments", i, "organizationId %q is not a GUID", se.OrganizationID)
			}
			e.org, e.OrganizationID = g, g.String()
		}
		e.explicit = map[guid]int32{}
	}
	if len(t.envs) > maxEnvs {
		return fail("environments", maxEnvs, "at most %d environments", maxEnvs)
	}
	envIndex := func(r envRef) (int, bool) {
		if r.isIdx {
			return r.index, r.index >= 0 && r.index < len(t.envs)
		}
		for _, e := range t.envs {
			if e.Name == r.name {
				return e.Index, true
			}
		}
		return 0, false
	}

	// SKUs
	for i, ss := range skus {
		if len(t.skus) == maxSKUs {
			return fail("skus", i, "at most %d SKUs", maxSKUs)
		}
		if ss.SKU == "" {
			return fail("skus", i, "sku (skuId or part number) is required")
		}
		s := SKU{CapabilityStatus: ss.CapabilityStatus, Enabled: ss.Enabled, Warning: ss.Warning, Suspended: ss.Suspended, LockedOut: ss.LockedOut}
		switch ss.CapabilityStatus {
		case "", "Enabled", "Warning", "Suspended", "Deleted", "LockedOut":
		default:
			return fail("skus", i, "capabilityStatus %q is not Enabled, Warning, Suspended, Deleted or LockedOut", ss.CapabilityStatus)
		}
		if ss.Enabled < 0 || ss.Warning < 0 || ss.Suspended < 0 || ss.LockedOut < 0 {
			return fail("skus", i, "prepaid units must not be negative")
		}
		if g, ok := parseGUID(ss.SKU); ok {
			s.SKUID = g.String()
			if _, known := t.cat.Product(s.SKUID); !known {
				if ss.PartNumber == "" {
					return fail("skus", i, "SKU %s is not in the catalog: give its partNumber and servicePlans", s.SKUID)
				}
				s.PartNumber = ss.PartNumber
				for k, p := range ss.ServicePlans {
					pg, ok := parseGUID(p.ID)
					if !ok || p.Name == "" {
						return fail("skus", i, "servicePlans[%d] needs a GUID id and a name", k)
					}
					s.ServicePlans = append(s.ServicePlans, sam.ServicePlan{ID: pg.String(), Name: p.Name})
				}
			} else if ss.PartNumber != "" || len(ss.ServicePlans) > 0 {
				return fail("skus", i, "SKU %s is in the catalog: partNumber and servicePlans come from it", s.SKUID)
			}
		} else {
			ps := t.cat.ProductsByPartNumber(ss.SKU)
			if len(ps) == 0 {
				return fail("skus", i, "unknown SKU %q: not a GUID and not a part number of the catalog", ss.SKU)
			}
			s.SKUID = ps[0].SKUID
		}
		if _, dup := t.skuByID[s.SKUID]; dup {
			return fail("skus", i, "duplicate SKU %s", s.SKUID)
		}
		t.addSKU(s)
	}
	skuRef := func(ref string) (int, bool) {
		if g, ok := parseGUID(ref); ok {
			i, ok := t.skuByID[g.String()]
			return i, ok
		}
		for i, s := range t.skus {
			if catalogNormalize(s.PartNumber) == catalogNormalize(ref) {
				return i, true
			}
		}
		return 0, false
	}

	// groups
	for i, sg := range groups {
		if sg.DisplayName == "" {
			return fail("groups", i, "displayName is required")
		}
		var idx []int
		for _, ref := range sg.SKUs {
			s, ok := skuRef(ref)
			if !ok {
				return fail("groups", i, "SKU %q is not among the tenant's skus", ref)
			}
			idx = append(idx, s)
		}
		gi := t.addGroup(sg.DisplayName, idx)
		g := t.groups[gi]
		if sg.ID != "" {
			id, ok := parseGUID(sg.ID)
			if !ok {
				return fail("groups", i, "id %q is not a GUID", sg.ID)
			}
			delete(t.groupByID, g.id)
			g.id = id.String()
		}
		if _, dup := t.groupByID[g.id]; dup {
			return fail("groups", i, "duplicate group id %s", g.id)
		}
		t.groupByID[g.id] = gi
	}
	groupRef := func(ref string) (int, bool) {
		if g, ok := parseGUID(ref); ok {
			i, ok := t.groupByID[g.String()]
			return i, ok
		}
		for i, g := range t.groups {
			if g.name == ref {
				return i, true
			}
		}
		return 0, false
	}

	// users
	for i, su := range users {
		nu := NewUser{ID: su.ID, UserPrincipalName: su.UserPrincipalName, DisplayName: su.DisplayName, GivenName: su.GivenName,
			Surname: su.Surname, JobTitle: su.JobTitle, Department: su.Department, Country: su.Country, UsageLocation: su.UsageLocation,
			AccountEnabled: su.AccountEnabled == nil || *su.AccountEnabled}
		u, err := t.newUser(nu)
		if err != nil {
			return fail("users", i, "%v", err)
		}
		if su.Mail != "" {
			u.mail = su.Mail
		}
		if !timeInRange(su.CreatedDateTime) {
			return fail("users", i, "createdDateTime must be between 1970 and 2200")
		}
		u.created = timeNS(su.CreatedDateTime)
		if u.created == 0 {
			u.created = t.now - 365*nsPerDay
		}
		if u.created > t.now {
			return fail("users", i, "createdDateTime is after now")
		}
		if su.Pattern != "" {
			if !slices.Contains(knownPatterns, Pattern(su.Pattern)) {
				return fail("users", i, "unknown pattern %q", su.Pattern)
			}
			u.pattern = Pattern(su.Pattern)
		}
		if !u.enabled {
			u.off = []span{{u.created, noEnd}}
		}
		for k, sl := range su.Licenses {
			s, ok := skuRef(sl.SKU)
			if !ok {
				return fail("users", i, "licenses[%d]: SKU %q is not among the tenant's skus", k, sl.SKU)
			}
			if slices.ContainsFunc(u.lics, func(l lic) bool { return int(l.sku) == s && l.group == directLic }) {
				return fail("users", i, "licenses[%d]: SKU %q is listed twice", k, sl.SKU)
			}
			if !timeInRange(sl.AssignedAt) {
				return fail("users", i, "licenses[%d].assignedAt must be between 1970 and 2200", k)
			}
			l := lic{sku: int16(s), group: directLic, at: timeNS(sl.AssignedAt)}
			if l.at == 0 {
				l.at = u.created
			}
			for _, p := range sl.DisabledPlans {
				pg, ok := parseGUID(p)
				if !ok || !slices.ContainsFunc(t.skus[s].ServicePlans, func(sp sam.ServicePlan) bool { return sp.ID == pg.String() }) {
					return fail("users", i, "licenses[%d]: disabled plan %q is not a service plan of %s", k, p, t.skus[s].PartNumber)
				}
				l.disabled = append(l.disabled, pg.String())
			}
			u.lics = append(u.lics, l)
		}
		for k, sg := range su.Groups {
			g, ok := groupRef(sg.Group)
			if !ok {
				return fail("users", i, "groups[%d]: no group %q", k, sg.Group)
			}
			if slices.Contains(u.groups, int32(g)) {
				return fail("users", i, "groups[%d]: group %q is listed twice", k, sg.Group)
			}
			u.groups = append(u.groups, int32(g))
			if !timeInRange(sg.AssignedAt) {
				return fail("users", i, "groups[%d].assignedAt must be between 1970 and 2200", k)
			}
			at := timeNS(sg.AssignedAt)
			if at == 0 {
				at = u.created
			}
			for _, s := range t.groups[g].skus {
				u.lics = append(u.lics, lic{sku: int16(s), group: int32(g), at: at})
			}
		}
		switch su.LastSignIn {
		case "":
		case "never":
			zero := int64(0)
			u.signIn = &zero
		default:
			at, err := time.Parse(time.RFC3339Nano, su.LastSignIn)
			if err == nil && !timeInRange(at) {
				return fail("users", i, "lastSignIn must be between 1970 and 2200")
			}
			if err != nil {
				return fail("users", i, "lastSignIn %q is neither \"never\" nor an RFC 3339 time", su.LastSignIn)
			}
			ns := timeNS(at.Truncate(time.Second))
			if ns > t.now {
				return fail("users", i, "lastSignIn is after now")
			}
			u.signIn = &ns
		}
		for _, r := range su.Environments {
			e, ok := envIndex(r)
			if !ok {
				return fail("users", i, "environments: no environment %s", refString(r))
			}
			u.envMask |= 1 << uint(e)
			if u.primary < 0 {
				u.primary = int8(e)
			}
		}
		for name, id := range su.SystemUserIDs {
			e, ok := envIndex(envRef{name: name})
			if !ok {
				return fail("users", i, "systemUserIds: no environment %q", name)
			}
			g, ok := parseGUID(id)
			if !ok {
				return fail("users", i, "systemUserIds[%s]: %q is not a GUID", name, id)
			}
			env := t.envs[e]
			if _, dup := env.explicit[g]; dup || slices.ContainsFunc(env.specials, func(s special) bool { return s.g == g }) {
				return fail("users", i, "systemUserIds[%s]: %s is already used", name, g)
			}
			if u.sysIDs == nil {
				u.sysIDs = map[int]guid{}
			}
			u.sysIDs[e] = g
			env.explicit[g] = u.ord
			u.envMask |= 1 << uint(e)
		}
		for k, se := range su.Events {
			e, ok := envIndex(se.Env)
			if !ok {
				return fail("users", i, "events[%d]: no environment %s", k, refString(se.Env))
			}
			if se.At.IsZero() {
				return fail("users", i, "events[%d]: at is required", k)
			}
			rec, err := t.eventRec(Event{Env: e, At: se.At, Operation: se.Operation, Action: se.Action, Entity: se.Entity})
			if err != nil {
				return fail("users", i, "events[%d]: %v", k, err)
			}
			t.insertEvent(u, rec)
		}
		switch su.Deleted {
		case "":
		case "soft", "hard":
			u.off = append(u.off, span{t.now, noEnd})
			u.deleted = delSoft
			u.deletedLics, u.lics = u.lics, nil
			if su.Deleted == "hard" {
				u.deleted, u.deletedLics = delHard, nil
			}
		default:
			return fail("users", i, "deleted must be \"\", \"soft\" or \"hard\", got %q", su.Deleted)
		}
	}
	// seats
	consumed := t.consumed()
	for i, s := range t.skus {
		s.Consumed = consumed[i]
		if s.Consumed > s.Enabled+s.Warning {
			return fail("skus", i, "%d users hold %s but its prepaid units (enabled %d + warning %d) allow %d", s.Consumed, s.PartNumber, s.Enabled, s.Warning, s.Enabled+s.Warning)
		}
	}
	t.baseline()
	return t, nil
}

func refString(r envRef) string {
	if r.isIdx {
		return fmt.Sprintf("%d", r.index)
	}
	return fmt.Sprintf("%q", r.name)
}

func catalogNormalize(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}
