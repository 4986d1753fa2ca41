package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/dataverse"
	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// ClientOptions tune the Microsoft clients NewSources builds.
type ClientOptions struct {
	// HTTPClient sends every request; nil builds one trusting the system
	// roots plus the profile's CA file.
	HTTPClient *http.Client
	// MaxAttempts, BaseDelay and MaxDelay override the retry policy of
	// odata.Config (zero: its defaults).
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// AuditPageSize is the odata.maxpagesize of Dataverse reads (0: 5000).
	AuditPageSize int
	// Tokens, when set, gives the token source of each resource scope
	// ("{resource}/.default") instead of the client-credentials grant with
	// the client secret: a delegated sign-in (connect.Load) plugs in here.
	Tokens func(scope string) (odata.TokenSource, error)
	// Budgets gives each client the adaptive concurrency Controller of its
	// identity against its host (a Dataverse environment, Graph), shared
	// with every other profile and job of the process using the same
	// identity there, within one global budget; nil means
	// odata.DefaultBudgets().
	Budgets *odata.Budgets
}

// Sources are the Microsoft clients of one profile, adapted to Graph and
// Dataverse, with request counters (token requests excluded) for Graph and
// for Dataverse.
type Sources struct {
	Graph *GraphSource

	graphCounters, dataverseCounters *odata.Counters

	profile *sam.Profile
	secret  string
	opts    ClientOptions
	mu      sync.Mutex
	envs    map[int64]*DataverseSource
}

// NewSources builds the clients of a profile that authenticates with a
// client secret (app-only), or with opts.Tokens when set. It does not contact Microsoft. Errors: EINVALID
// for a profile that cannot work (no tenant or client id, unreadable CA
// file).
func NewSources(p *sam.Profile, clientSecret string, opts ClientOptions) (*Sources, error) {
	if opts.HTTPClient == nil {
		hc, err := odata.NewHTTPClient(p.CAFile)
		if err != nil {
			return nil, err
		}
		opts.HTTPClient = hc
	}
	s := &Sources{graphCounters: odata.NewCounters(), dataverseCounters: odata.NewCounters(), profile: p, secret: clientSecret, opts: opts, envs: map[int64]*DataverseSource{}}
	graphURL := p.GraphURL
	if graphURL == "" {
		graphURL = sam.DefaultGraphURL
	}
	c, err := s.client(odata.ServiceGraph, entra.Scope(graphURL))
	if err != nil {
		return nil, err
	}
	s.Graph = &GraphSource{C: msgraph.New(graphURL, c)}
	return s, nil
}

func (s *Sources) client(service, scope string) (*odata.Client, error) {
	login := s.profile.LoginURL
	if login == "" {
		login = sam.DefaultLoginURL
	}
	var ts odata.TokenSource
	var err error
	if s.opts.Tokens != nil {
		ts, err = s.opts.Tokens(scope)
	} else {
		tokenClient := odata.New(odata.Config{Service: odata.ServiceEntra, HTTPClient: s.opts.HTTPClient,
			MaxAttempts: s.opts.MaxAttempts, BaseDelay: s.opts.BaseDelay, MaxDelay: s.opts.MaxDelay})
		ts, err = entra.ClientCredentials(entra.Config{LoginURL: login, TenantID: s.profile.TenantID,
			ClientID: s.profile.ClientID, ClientSecret: s.secret, Scope: scope, Client: tokenClient})
	}
	if err != nil {
		return nil, err
	}
	budgets := s.opts.Budgets
	if budgets == nil {
		budgets = odata.DefaultBudgets()
	}
	// The scope's resource (environment URL or Graph base) is what
	// Microsoft limits the identity on.
	ctl := budgets.Controller(s.identity(), strings.TrimSuffix(scope, "/.default"))
	conc := 0 // the odata default
	if service == odata.ServiceDataverse {
		// The Controller bounds Dataverse requests; the parallel audit
		// backfill may use all it admits.
		conc = budgets.Config().Max
	}
	counters := s.graphCounters
	if service == odata.ServiceDataverse {
		counters = s.dataverseCounters
	}
	return odata.New(odata.Config{Service: service, HTTPClient: s.opts.HTTPClient, Tokens: ts, Counters: counters,
		MaxAttempts: s.opts.MaxAttempts, BaseDelay: s.opts.BaseDelay, MaxDelay: s.opts.MaxDelay,
		MaxConcurrency: conc, Budget: ctl}), nil
}

// identity names who the profile's requests run as, for the concurrency
// budgets: the application in its tenant for app-only access; for a
// delegated sign-in the profile (whose administrator signed in).
func (s *Sources) identity() string {
	if s.opts.Tokens != nil {
		return fmt.Sprintf("delegated:%s/%s/profile-%d", strings.ToLower(s.profile.TenantID), strings.ToLower(s.profile.ClientID), s.profile.ID)
	}
	return "app:" + strings.ToLower(s.profile.TenantID) + "/" + strings.ToLower(s.profile.ClientID)
}

// Dataverse returns the client of one of the profile's environments
// (created on first use). Its token scope is the environment URL followed by
// /.default.
func (s *Sources) Dataverse(env sam.Environment) (Dataverse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.envs[env.ID]; ok {
		return d, nil
	}
	envURL := dataverse.EnvironmentURL(env.URL)
	c, err := s.client(odata.ServiceDataverse, strings.TrimRight(envURL, "/")+"/.default")
	if err != nil {
		return nil, err
	}
	var opts []dataverse.Option
	if s.opts.AuditPageSize > 0 {
		opts = append(opts, dataverse.WithPageSize(s.opts.AuditPageSize))
	}
	d := &DataverseSource{C: dataverse.New(envURL, c, opts...), budget: c.Budget()}
	s.envs[env.ID] = d
	return d, nil
}

// Counts returns the requests, throttles and retries of every client.
func (s *Sources) Counts() (requests, throttles, retries int64) {
	gr, gt, gx := s.graphCounters.Counts()
	dr, dt, dx := s.dataverseCounters.Counts()
	return gr + dr, gt + dt, gx + dx
}

// ServiceCounts returns the requests, throttles and retries of the clients
// of one service: odata.ServiceGraph or odata.ServiceDataverse (zero for
// any other).
func (s *Sources) ServiceCounts(service string) (requests, throttles, retries int64) {
	switch service {
	case odata.ServiceGraph:
		return s.graphCounters.Counts()
	case odata.ServiceDataverse:
		return s.dataverseCounters.Counts()
	}
	return 0, 0, 0
}

// GraphSource adapts a msgraph.Client to Graph.
type GraphSource struct{ C *msgraph.Client }

// SubscribedSKUs implements Graph.
func (g *GraphSource) SubscribedSKUs(ctx context.Context) ([]SubscribedSKU, error) {
	skus, err := g.C.SubscribedSKUs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SubscribedSKU, 0, len(skus))
	for _, k := range skus {
		sk := SubscribedSKU{SKUID: k.SKUID, PartNumber: k.SKUPartNumber, CapabilityStatus: k.CapabilityStatus,
			Enabled: k.PrepaidUnits.Enabled, Warning: k.PrepaidUnits.Warning, Suspended: k.PrepaidUnits.Suspended,
			LockedOut: k.PrepaidUnits.LockedOut, Consumed: k.ConsumedUnits}
		for _, sp := range k.ServicePlans {
			sk.ServicePlans = append(sk.ServicePlans, sam.ServicePlan{ID: sam.NormalizeGUID(sp.ServicePlanID), Name: sp.ServicePlanName})
		}
		out = append(out, sk)
	}
	return out, nil
}

// UsersPage implements Graph.
func (g *GraphSource) UsersPage(ctx context.Context, url string) (UserPage, error) {
	p, err := g.C.UsersPage(ctx, url)
	if err != nil {
		return UserPage{}, err
	}
	out := UserPage{NextLink: p.NextLink, DeltaLink: p.DeltaLink, Users: make([]GraphUser, 0, len(p.Users))}
	for _, u := range p.Users {
		gu := GraphUser{ID: u.ID, Removed: u.Removed != nil, UPN: u.UserPrincipalName, DisplayName: u.DisplayName,
			Department: u.Department, Country: u.Country, AccountEnabled: u.Enabled()}
		for _, l := range u.AssignedLicenses {
			gu.AssignedSKUs = append(gu.AssignedSKUs, l.SKUID)
		}
		for _, s := range u.LicenseAssignmentStates {
			gu.States = append(gu.States, LicenseState{SKUID: s.SKUID, AssignedByGroup: s.AssignedByGroup, State: s.State, LastUpdated: s.LastUpdated})
		}
		if u.SignInActivity != nil && u.SignInActivity.LastSignIn != nil && u.SignInActivity.LastSignIn.Year() > 1 {
			t := u.SignInActivity.LastSignIn.UTC()
			gu.LastSignIn = &t
		}
		out.Users = append(out.Users, gu)
	}
	return out, nil
}

// SignInActivityAllowed implements Graph.
func (g *GraphSource) SignInActivityAllowed(ctx context.Context) (bool, error) {
	return g.C.CanReadSignInActivity(ctx)
}

// DataverseSource adapts a dataverse.Client to Dataverse.
type DataverseSource struct {
	C      *dataverse.Client
	budget *odata.Controller
}

// Concurrency returns how many requests the environment's concurrency
// Controller admits at once now (DefaultAuditStreams without one): the
// parallel audit backfill splits its work into at most that many streams.
func (d *DataverseSource) Concurrency() int {
	if d.budget == nil {
		return DefaultAuditStreams
	}
	return d.budget.Limit()
}

// AuditSettings implements Dataverse.
func (d *DataverseSource) AuditSettings(ctx context.Context) (AuditSettings, error) {
	s, err := d.C.AuditSettings(ctx)
	if err != nil {
		return AuditSettings{}, err
	}
	return AuditSettings{AuditEnabled: s.AuditEnabled, UserAccessAuditEnabled: s.UserAccessAuditEnabled, RetentionDays: s.RetentionDays}, nil
}

// SystemUsersPage implements Dataverse.
func (d *DataverseSource) SystemUsersPage(ctx context.Context, url string) (SystemUserPage, error) {
	p, err := d.C.SystemUsersPage(ctx, url)
	if err != nil {
		return SystemUserPage{}, err
	}
	out := SystemUserPage{NextLink: p.NextLink, Users: make([]SystemUserRow, len(p.Users))}
	for i, u := range p.Users {
		out.Users[i] = SystemUserRow{SystemUserID: u.SystemUserID, AADObjectID: u.AADObjectID, DomainName: u.DomainName,
			FullName: u.FullName, IsDisabled: u.IsDisabled, AccessMode: u.AccessMode}
	}
	return out, nil
}

// AuditsPage implements Dataverse.
func (d *DataverseSource) AuditsPage(ctx context.Context, url string) (AuditPage, error) {
	p, err := d.C.AuditsPage(ctx, url)
	if err != nil {
		return AuditPage{}, err
	}
	out := AuditPage{NextLink: p.NextLink, Rows: make([]AuditRow, len(p.Rows))}
	for i, a := range p.Rows {
		out.Rows[i] = AuditRow{CreatedOn: a.CreatedOn, Operation: a.Operation, Action: a.Action, ObjectTypeCode: a.ObjectTypeCode, UserID: a.UserID}
	}
	return out, nil
}
