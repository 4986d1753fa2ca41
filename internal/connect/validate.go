package connect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/dataverse"
	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "pass"
	Warn Status = "warn" // works, but something is missing or weaker than it should be
	Fail Status = "fail" // Seatwise cannot do its job until an administrator acts
)

// Check names, stable for scripts reading --output json.
const (
	CheckSignIn           = "sign-in"
	CheckCertificate      = "certificate-expiry"
	CheckGraphConsent     = "graph-consent"
	CheckGraphLicences    = "graph-licences"
	CheckGraphUsers       = "graph-users"
	CheckGraphSignIns     = "graph-sign-in-activity"
	CheckWritePermission  = "reclamation-permission"
	CheckDataverseSignIn  = "dataverse-sign-in"
	CheckDataverseUser    = "dataverse-user"
	CheckDataverseAudit   = "dataverse-audit-read"
	CheckAuditing         = "auditing"
	CheckUserAccessAudit  = "user-access-auditing"
	CheckAuditRetention   = "audit-retention"
	CheckEnvironmentCount = "environments"
)

// Result is one check: what was found and, unless it passed, what a tenant
// administrator should do about it.
type Result struct {
	Check       string `json:"check"`
	Environment string `json:"environment,omitempty"` // the environment URL for Dataverse checks
	Status      Status `json:"status"`
	Message     string `json:"message"`
	Remedy      string `json:"remedy,omitempty"`
}

// Report is the outcome of Validate.
type Report struct {
	Profile string   `json:"profile"`
	Results []Result `json:"checks"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Results, func(c Result) bool { return c.Status == Fail })
}

// Count returns how many checks ended with s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, c := range r.Results {
		if c.Status == s {
			n++
		}
	}
	return n
}

func (r *Report) add(c Result) { r.Results = append(r.Results, c) }

// ValidateOptions tune Validate.
type ValidateOptions struct {
	// HTTPClient sends Graph and Dataverse requests (nil: system roots plus
	// the profile's CA file).
	HTTPClient *http.Client
	// Now is the clock that places the analysis window (nil: time.Now).
	Now func() time.Time
}

// writePerms are the Graph permissions that allow removing licences.
var writePerms = []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}

// Validate checks the connection of profile p with cred, one check after
// the other, and returns a line per check: Entra sign-in, Graph admin
// consent, Graph read of licences, users and sign-in activity, the write
// permission reclamation needs, then for each environment the Dataverse
// sign-in, the application (or signed-in) user, its audit read privilege,
// auditing, user-access auditing and audit retention against the analysis
// window. It returns an error only when ctx ends; everything Microsoft
// refuses is a failed check. When the Entra sign-in itself fails the other
// checks are not run (they would all fail the same way).
func Validate(ctx context.Context, p *sam.Profile, cred Credential, opts ValidateOptions) (*Report, error) {
	rep := &Report{Profile: p.Name}
	hc := opts.HTTPClient
	if hc == nil {
		var err error
		if hc, err = odata.NewHTTPClient(p.CAFile); err != nil {
			rep.add(Result{Check: CheckSignIn, Status: Fail, Message: sam.ErrorMessage(err),
				Remedy: "point --ca-file at a readable PEM file of the certificate authorities to trust, or clear it"})
			return rep, nil
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	v := &validator{p: p, cred: cred, hc: hc, rep: rep, now: now().UTC()}
	if !v.graph(ctx) {
		return rep, ctx.Err()
	}
	if len(p.Environments) == 0 {
		rep.add(Result{Check: CheckEnvironmentCount, Status: Warn, Message: "the profile has no Dataverse environment: licences are read but no activity",
			Remedy: fmt.Sprintf("add the environments to read activity from: seatwise profile edit %s --environment https://ORG.crm.dynamics.com", p.Name)})
	}
	for _, env := range p.Environments {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		v.environment(ctx, env)
	}
	return rep, ctx.Err()
}

type validator struct {
	p    *sam.Profile
	cred Credential
	hc   *http.Client
	rep  *Report
	now  time.Time
}

func (v *validator) client(service string, ts odata.TokenSource) *odata.Client {
	return odata.New(odata.Config{Service: service, HTTPClient: v.hc, Tokens: ts, MaxAttempts: 3,
		BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second, MaxWait: 30 * time.Second})
}

// who names the principal whose permissions are checked.
func (v *validator) who() string {
	if v.cred.Delegated() {
		return "the signed-in administrator"
	}
	return "application " + v.p.ClientID
}

// graph runs the Graph checks; false when the sign-in failed.
func (v *validator) graph(ctx context.Context) bool {
	ts, err := v.cred.Source(GraphScope(v.p))
	var tok odata.Token
	if err == nil {
		tok, err = ts.Token(ctx)
	}
	if err != nil {
		v.rep.add(signInFailure(CheckSignIn, "", v.p, err))
		return false
	}
	v.rep.add(Result{Check: CheckSignIn, Status: Pass, Message: fmt.Sprintf("Microsoft Entra issued a Graph token to %s in tenant %s", v.who(), v.p.TenantID)})
	if a, ok := v.cred.(*AppOnly); ok && a.cert != nil {
		// Certificates expire on the wall clock, whatever the analysis clock.
		left := time.Until(a.cert.NotAfter())
		exp := a.cert.NotAfter().UTC().Format("2006-01-02")
		if left < 30*24*time.Hour {
			v.rep.add(Result{Check: CheckCertificate, Status: Warn, Message: fmt.Sprintf("the certificate (thumbprint %s) expires on %s", a.cert.Thumbprint(), exp),
				Remedy: "create a new certificate, upload its public part under Microsoft Entra admin center > App registrations > " + v.p.ClientID + " > Certificates & secrets, then: seatwise profile certificate " + v.p.Name + " --certificate-file FILE"})
		} else {
			v.rep.add(Result{Check: CheckCertificate, Status: Pass, Message: fmt.Sprintf("the certificate (thumbprint %s) is valid until %s", a.cert.Thumbprint(), exp)})
		}
	}

	perms, claimed := tokenPermissions(tok.AccessToken, v.cred.Delegated())
	portal := fmt.Sprintf("Microsoft Entra admin center > App registrations > %s > API permissions", v.p.ClientID)
	switch {
	case !claimed:
		v.rep.add(Result{Check: CheckGraphConsent, Status: Warn, Message: "the Graph token does not list its permissions; they are checked by the calls below"})
	case len(perms) == 0:
		v.rep.add(Result{Check: CheckGraphConsent, Status: Fail, Message: "no Microsoft Graph permission has been consented for " + v.who(),
			Remedy: "admin consent is missing: in " + portal + ", add the Microsoft Graph " + permKind(v.cred.Delegated()) +
				" permissions LicenseAssignment.Read.All and User.Read.All (and AuditLog.Read.All for sign-in activity), then click \"Grant admin consent for your tenant\""})
	default:
		v.rep.add(Result{Check: CheckGraphConsent, Status: Pass, Message: "consented Graph permissions: " + strings.Join(perms, ", ")})
	}

	g := msgraph.New(graphURL(v.p), v.client(odata.ServiceGraph, ts))
	if skus, err := g.SubscribedSKUs(ctx); err != nil {
		v.rep.add(graphFailure(CheckGraphLicences, "LicenseAssignment.Read.All", "read the tenant's subscribed licences (subscribedSkus)", portal, v.cred.Delegated(), err))
	} else {
		v.rep.add(Result{Check: CheckGraphLicences, Status: Pass, Message: fmt.Sprintf("read %d subscribed SKU(s)", len(skus))})
	}
	if _, err := g.UsersPage(ctx, g.UsersURL([]string{"id"}, 1)); err != nil {
		v.rep.add(graphFailure(CheckGraphUsers, "User.Read.All", "read users and their licence assignments", portal, v.cred.Delegated(), err))
	} else {
		v.rep.add(Result{Check: CheckGraphUsers, Status: Pass, Message: "read users"})
	}
	if ok, err := g.CanReadSignInActivity(ctx); err != nil {
		v.rep.add(Result{Check: CheckGraphSignIns, Status: Warn, Message: "could not probe sign-in activity: " + sam.ErrorMessage(err),
			Remedy: "run the validation again; if it persists check that Microsoft Graph is reachable"})
	} else if !ok {
		v.rep.add(Result{Check: CheckGraphSignIns, Status: Warn,
			Message: "users' sign-in activity cannot be read: Entra sign-ins are not used as evidence for licences whose activity is not tracked in Dataverse",
			Remedy:  "in " + portal + ", add the Microsoft Graph " + permKind(v.cred.Delegated()) + " permission AuditLog.Read.All and grant admin consent (the tenant needs Microsoft Entra ID P1 or P2)"})
	} else {
		v.rep.add(Result{Check: CheckGraphSignIns, Status: Pass, Message: "read users' sign-in activity"})
	}
	if claimed {
		var held []string
		for _, p := range writePerms {
			if slices.Contains(perms, p) {
				held = append(held, p)
			}
		}
		if len(held) > 0 {
			v.rep.add(Result{Check: CheckWritePermission, Status: Pass, Message: "write permission present (" + strings.Join(held, ", ") + "): reclamation can remove licences"})
		} else {
			v.rep.add(Result{Check: CheckWritePermission, Status: Warn, Message: "no write permission: the connection is read-only and reclamation cannot remove licences",
				Remedy: "only if Seatwise should remove unused licences: in " + portal + ", add the Microsoft Graph " + permKind(v.cred.Delegated()) + " permission LicenseAssignment.ReadWrite.All and grant admin consent"})
		}
	}
	return true
}

// environment runs the checks of one Dataverse environment.
func (v *validator) environment(ctx context.Context, env sam.Environment) {
	envURL := dataverse.EnvironmentURL(env.URL)
	scope := dataverse.Scope(envURL)
	ts, err := v.cred.Source(scope)
	if err == nil {
		_, err = ts.Token(ctx)
	}
	if err != nil {
		r := signInFailure(CheckDataverseSignIn, envURL, v.p, err)
		if v.cred.Delegated() {
			r.Remedy = "consent to Dynamics CRM user_impersonation for this environment is missing: run 'seatwise profile connect " + v.p.Name + "' again and accept the consent for " + envURL
		}
		v.rep.add(r)
		return
	}
	d := dataverse.New(envURL, v.client(odata.ServiceDataverse, ts), dataverse.WithPageSize(1))
	who, err := d.WhoAmI(ctx)
	if err != nil {
		r := Result{Check: CheckDataverseUser, Environment: envURL, Status: Fail, Message: describe(err)}
		if v.cred.Delegated() {
			r.Remedy = "the signed-in administrator has no enabled user in this environment: in the Power Platform admin center > Environments > " + envURL + " > Settings > Users, add the administrator (or sign in with a user of the environment)"
		} else {
			r.Remedy = fmt.Sprintf("the Dataverse application user is missing or disabled: in the Power Platform admin center > Environments > %s > Settings > Users + permissions > Application users, add (or enable) an application user for app %s and give it a security role that can read Audit (prvReadAuditSummary) and Users", envURL, v.p.ClientID)
		}
		if sam.ErrorCode(err) == sam.EUNAVAILABLE {
			r.Remedy = "the environment could not be reached: check its URL (" + envURL + ") and that the environment is not disabled"
		}
		v.rep.add(r)
		return
	}
	v.rep.add(Result{Check: CheckDataverseUser, Environment: envURL, Status: Pass, Message: "signed in as Dataverse user " + who.UserID})

	readRemedy := fmt.Sprintf("the Dataverse user of %s lacks the audit read privilege: in the Power Platform admin center > Environments > %s > Settings > Security roles, give it a role with Read on Audit (prvReadAuditSummary, e.g. \"View Audit Summary\") and Read on User", v.who(), envURL)
	if _, err := d.AuditsPage(ctx, d.AuditsURL(dataverse.AuditQuery{})); err != nil {
		v.rep.add(Result{Check: CheckDataverseAudit, Environment: envURL, Status: Fail, Message: describe(err), Remedy: readRemedy})
	} else if _, err := d.SystemUsersPage(ctx, d.SystemUsersURL("")); err != nil {
		v.rep.add(Result{Check: CheckDataverseAudit, Environment: envURL, Status: Fail, Message: describe(err), Remedy: readRemedy})
	} else {
		v.rep.add(Result{Check: CheckDataverseAudit, Environment: envURL, Status: Pass, Message: "read audits and users"})
	}

	s, err := d.AuditSettings(ctx)
	if err != nil {
		v.rep.add(Result{Check: CheckAuditing, Environment: envURL, Status: Fail, Message: "could not read the organisation's audit settings: " + describe(err),
			Remedy: "give the Dataverse user a security role with Read on Organization"})
		return
	}
	settings := "Power Platform admin center > Environments > " + envURL + " > Settings > Audit and logs > Audit settings"
	if s.AuditEnabled {
		v.rep.add(Result{Check: CheckAuditing, Environment: envURL, Status: Pass, Message: "auditing is on"})
	} else {
		v.rep.add(Result{Check: CheckAuditing, Environment: envURL, Status: Fail,
			Message: "auditing is off: no activity is recorded, so every user of this environment has an unknown usage",
			Remedy:  "turn auditing on: " + settings + ", select \"Start Auditing\""})
	}
	if s.UserAccessAuditEnabled {
		v.rep.add(Result{Check: CheckUserAccessAudit, Environment: envURL, Status: Pass, Message: "user-access auditing is on"})
	} else {
		v.rep.add(Result{Check: CheckUserAccessAudit, Environment: envURL, Status: Fail,
			Message: "user-access auditing is off: sign-ins to the apps are not recorded, so inactivity cannot be proven",
			Remedy:  "turn user-access auditing on: " + settings + ", select \"Log access\""})
	}
	from := v.p.AnalyzeFrom
	if from.IsZero() {
		from = v.now.AddDate(0, 0, -90)
	}
	window := sam.DaysBetween(from, v.now)
	switch {
	case s.RetentionDays < 0:
		v.rep.add(Result{Check: CheckAuditRetention, Environment: envURL, Status: Pass, Message: "audit rows are kept forever"})
	case s.RetentionDays >= window:
		v.rep.add(Result{Check: CheckAuditRetention, Environment: envURL, Status: Pass, Message: fmt.Sprintf("audit rows are kept %d days, the analysis window is %d days", s.RetentionDays, window)})
	default:
		v.rep.add(Result{Check: CheckAuditRetention, Environment: envURL, Status: Fail,
			Message: fmt.Sprintf("audit rows are kept %d days, shorter than the analysis window of %d days (from %s): older inactivity cannot be proven", s.RetentionDays, window, from.Format("2006-01-02")),
			Remedy: fmt.Sprintf("set the audit retention to at least %d days (%s, \"Retain these logs for\"), or shorten the window: seatwise profile edit %s --analyze-from %s",
				window, settings, v.p.Name, v.now.AddDate(0, 0, -s.RetentionDays).Format("2006-01-02"))})
	}
}

func permKind(delegated bool) string {
	if delegated {
		return "delegated"
	}
	return "application"
}

// describe is the message of an error from Microsoft without request details.
func describe(err error) string {
	if oe, ok := odata.AsError(err); ok && oe.Status != 0 {
		msg := oe.Message
		if oe.Code != "" {
			msg = oe.Code + ": " + msg
		}
		return fmt.Sprintf("HTTP %d, %s", oe.Status, msg)
	}
	return sam.ErrorMessage(err)
}

// signInFailure explains a token request Entra refused, by AADSTS code.
func signInFailure(check, envURL string, p *sam.Profile, err error) Result {
	r := Result{Check: check, Environment: envURL, Status: Fail, Message: sam.ErrorMessage(err)}
	app := "Microsoft Entra admin center > App registrations > " + p.ClientID
	var codes []int
	if oe, ok := odata.AsError(err); ok {
		codes = oe.ErrorCodes
	}
	has := func(want ...int) bool {
		return slices.ContainsFunc(codes, func(c int) bool { return slices.Contains(want, c) })
	}
	switch {
	case has(7000215):
		r.Message = "the client secret is wrong: Microsoft Entra rejected it (AADSTS7000215)"
		r.Remedy = "copy the secret's Value (not its Secret ID) from " + app + " > Certificates & secrets, or create a new one, then: seatwise profile edit " + p.Name + " --client-secret-file FILE"
	case has(7000222):
		r.Message = "the client secret has expired (AADSTS7000222)"
		r.Remedy = "create a new client secret in " + app + " > Certificates & secrets, then: seatwise profile edit " + p.Name + " --client-secret-file FILE"
	case has(700027):
		r.Message = "Microsoft Entra did not accept the certificate (AADSTS700027)"
		r.Remedy = "upload the certificate's public part (.cer or .pem) under " + app + " > Certificates & secrets > Certificates, or store the matching certificate and key: seatwise profile certificate " + p.Name + " --certificate-file FILE"
	case has(700024):
		r.Message = "the client assertion is outside its validity (AADSTS700024)"
		r.Remedy = "correct this machine's clock (the assertion is valid for 10 minutes from now)"
	case has(700016, 700011):
		r.Message = "application " + p.ClientID + " does not exist in tenant " + p.TenantID + " (AADSTS700016)"
		r.Remedy = "check the Application (client) ID and the Directory (tenant) ID of the profile against the app registration's Overview page"
	case has(90002):
		r.Message = "tenant " + p.TenantID + " was not found (AADSTS90002)"
		r.Remedy = "check the Directory (tenant) ID and the login URL of the profile (sovereign clouds have their own, e.g. https://login.microsoftonline.us)"
	case has(65001):
		r.Message = "consent is missing (AADSTS65001)"
		r.Remedy = "grant admin consent to the app's API permissions in " + app + " > API permissions, or run 'seatwise profile connect " + p.Name + "' again and accept the consent"
	case has(70008, 700082, 50173, 54005):
		r.Message = "the administrator's sign-in has expired or was revoked"
		r.Remedy = "sign in again: seatwise profile connect " + p.Name
	case has(7000112):
		r.Message = "application " + p.ClientID + " is disabled in tenant " + p.TenantID
		r.Remedy = "enable it under Microsoft Entra admin center > Enterprise applications > " + p.ClientID + " > Properties"
	case sam.ErrorCode(err) == sam.EUNAVAILABLE:
		r.Remedy = "Microsoft Entra could not be reached: check the login URL (" + loginURL(p) + "), the network and the CA file"
	default:
		r.Remedy = "check the tenant ID, client ID, login URL and credential of the profile"
	}
	return r
}

// graphFailure explains a Graph read that failed; 403 names the missing
// permission.
func graphFailure(check, perm, what, portal string, delegated bool, err error) Result {
	r := Result{Check: check, Status: Fail, Message: describe(err)}
	if sam.ErrorCode(err) == sam.EFORBIDDEN {
		r.Message = "Graph permission " + perm + " is missing: Seatwise cannot " + what
		r.Remedy = "in " + portal + ", add the Microsoft Graph " + permKind(delegated) + " permission " + perm + " and click \"Grant admin consent for your tenant\""
		return r
	}
	r.Remedy = "run the validation again; if it persists check the Graph URL of the profile"
	return r
}

// tokenPermissions returns the permissions an access token carries: the
// roles claim of app-only tokens, scp of delegated ones. ok is false when
// the token is not a readable JWT (its permissions are then unknown). The
// token's signature is not checked: this only explains what Entra granted.
func tokenPermissions(accessToken string, delegated bool) (perms []string, ok bool) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return nil, false
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var c struct {
		Roles []string `json:"roles"`
		Scp   string   `json:"scp"`
	}
	if json.Unmarshal(body, &c) != nil {
		return nil, false
	}
	if delegated {
		return strings.Fields(c.Scp), true
	}
	return c.Roles, true
}
