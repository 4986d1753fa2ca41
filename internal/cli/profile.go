package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "profile",
			Short: "Manage integration profiles (one connection to one Microsoft tenant)",
			Long: "An integration profile is one connection to one Microsoft tenant: its tenant id, an app-only\n" +
				"credential (client id and client secret), and the Dataverse environments read for activity.\n" +
				"The client secret is encrypted at rest and never printed.",
		}
		cmd.AddCommand(newProfileAdd(a), newProfileList(a), newProfileShow(a), newProfileEdit(a), newProfileDelete(a))
		cmd.AddCommand(newProfileValidate(a), newProfileConnect(a), newProfileCertificate(a))
		return cmd
	})
}

// profileFlags are the settable fields of a profile, shared by add and edit.
type profileFlags struct {
	tenantID, clientID, secretFile string
	loginURL, graphURL, caFile     string
	displayName, analyzeFrom       string
	environments                   []string
}

func addProfileFlags(cmd *cobra.Command, f *profileFlags) {
	fs := cmd.Flags()
	fs.StringVar(&f.tenantID, "tenant-id", "", "Entra tenant id (GUID)")
	fs.StringVar(&f.clientID, "client-id", "", "application (client) id of the app registration (GUID)")
	fs.StringVar(&f.secretFile, "client-secret-file", "", "file holding the client secret's value, or - to read it from standard input")
	fs.StringVar(&f.loginURL, "login-url", sam.DefaultLoginURL, "Entra authority host")
	fs.StringVar(&f.graphURL, "graph-url", sam.DefaultGraphURL, "Microsoft Graph base URL including the version")
	fs.StringArrayVar(&f.environments, "environment", nil, "Dataverse environment URL, e.g. https://contoso.crm.dynamics.com (repeatable; on edit, replaces the list)")
	fs.StringVar(&f.analyzeFrom, "analyze-from", "", "analyse user activity from this date (YYYY-MM-DD; default: 90 days before each sync)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of certificate authorities trusted in addition to the system roots")
	fs.StringVar(&f.displayName, "display-name", "", "display name (default: the profile name)")
}

// apply copies the flags that were set (all of them when all is true) onto
// p, validating them.
func (f *profileFlags) apply(cmd *cobra.Command, p *sam.Profile, all bool) error {
	set := func(name string) bool { return all || cmd.Flags().Changed(name) }
	if set("tenant-id") {
		if !sam.ValidGUID(strings.TrimSpace(f.tenantID)) {
			return sam.Errorf(sam.EINVALID, "--tenant-id %q: want the tenant's GUID (Entra admin center, Overview, Tenant ID)", f.tenantID)
		}
		p.TenantID = sam.NormalizeGUID(f.tenantID)
	}
	if set("client-id") {
		if !sam.ValidGUID(strings.TrimSpace(f.clientID)) {
			return sam.Errorf(sam.EINVALID, "--client-id %q: want the application (client) id, a GUID", f.clientID)
		}
		p.ClientID = sam.NormalizeGUID(f.clientID)
	}
	if set("login-url") {
		u, err := checkURL("--login-url", f.loginURL)
		if err != nil {
			return err
		}
		p.LoginURL = u
	}
	if set("graph-url") {
		u, err := checkURL("--graph-url", f.graphURL)
		if err != nil {
			return err
		}
		p.GraphURL = u
	}
	if set("environment") {
		var envs []sam.Environment
		seen := map[string]bool{}
		for _, e := range f.environments {
			u, err := checkURL("--environment", e)
			if err != nil {
				return err
			}
			if seen[strings.ToLower(u)] {
				return sam.Errorf(sam.EINVALID, "--environment %s is given twice", u)
			}
			seen[strings.ToLower(u)] = true
			keep := sam.Environment{URL: u}
			for _, old := range p.Environments {
				if strings.EqualFold(old.URL, u) {
					keep = old
				}
			}
			envs = append(envs, keep)
		}
		p.Environments = envs
	}
	if set("analyze-from") {
		if strings.TrimSpace(f.analyzeFrom) == "" {
			p.AnalyzeFrom = time.Time{}
		} else {
			d, err := time.Parse("2006-01-02", strings.TrimSpace(f.analyzeFrom))
			if err != nil {
				return sam.Errorf(sam.EINVALID, "--analyze-from %q: want a date YYYY-MM-DD", f.analyzeFrom)
			}
			p.AnalyzeFrom = d.UTC()
		}
	}
	if set("ca-file") {
		p.CAFile = ""
		if f.caFile != "" {
			abs, err := filepath.Abs(f.caFile)
			if err != nil {
				return sam.Wrap(sam.EINVALID, err, "--ca-file %s", f.caFile)
			}
			if _, err := os.Stat(abs); err != nil {
				return sam.Errorf(sam.EINVALID, "--ca-file %s: %v", f.caFile, err)
			}
			p.CAFile = abs
		}
	}
	if set("display-name") {
		p.DisplayName = strings.TrimSpace(f.displayName)
		if p.DisplayName == "" {
			p.DisplayName = p.Name
		}
	}
	return nil
}

// checkURL validates an https URL (http only for loopback hosts) and
// returns it without a trailing slash.
func checkURL(flag, raw string) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", sam.Errorf(sam.EINVALID, "%s %q: want an absolute https URL", flag, raw)
	}
	if u.Scheme == "http" && u.Hostname() != "127.0.0.1" && u.Hostname() != "::1" && u.Hostname() != "localhost" {
		return "", sam.Errorf(sam.EINVALID, "%s %q: Microsoft endpoints are https (plain http is accepted for loopback test servers only)", flag, raw)
	}
	return s, nil
}

// readSecret reads the client secret from a file or, for "-", from in. The
// value is trimmed of surrounding white space; an empty secret is EINVALID.
func readSecret(path string, in io.Reader) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(in, 64<<10))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "reading the client secret from %s", displayPath(path))
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, sam.Errorf(sam.EINVALID, "the client secret read from %s is empty", displayPath(path))
	}
	return []byte(s), nil
}

func displayPath(p string) string {
	if p == "-" {
		return "standard input"
	}
	return p
}

// openProfile opens the store and reads the profile called name
// (ENOTFOUND when there is none). The caller closes the store; on error
// nothing is left open.
func (a *App) openProfile(ctx context.Context, name string) (store.Store, *sam.Profile, error) {
	st, err := a.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := st.ProfileByName(ctx, name)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, p, nil
}

// storeSecret seals the client secret and stores it for the profile.
func (a *App) storeSecret(ctx context.Context, st store.Store, profileID int64, plaintext []byte) error {
	kr, err := a.Keyring()
	if err != nil {
		return err
	}
	sealed, err := kr.Seal(plaintext)
	if err != nil {
		return err
	}
	return st.PutSecret(ctx, profileID, sam.SecretClientSecret, sealed)
}

func newProfileAdd(a *App) *cobra.Command {
	var f profileFlags
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add an integration profile (app-only access with a client secret)",
		Example: "  seatwise profile add contoso --tenant-id 00000000-0000-0000-0000-000000000000 \\\n" +
			"    --client-id 11111111-1111-1111-1111-111111111111 --client-secret-file secret.txt \\\n" +
			"    --environment https://contoso.crm.dynamics.com",
		Args: cobra.ExactArgs(1),
	}
	addProfileFlags(cmd, &f)
	for _, req := range []string{"tenant-id", "client-id", "client-secret-file"} {
		_ = cmd.MarkFlagRequired(req)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[0]
		if !sam.ValidName(name) {
			return sam.Errorf(sam.EINVALID, "profile name %q: use 1 to 64 lower-case letters, digits, '-' or '_'", name)
		}
		p := &sam.Profile{Name: name, AuthMode: sam.AuthClientSecret, State: sam.ProfileDraft}
		if err := f.apply(cmd, p, true); err != nil {
			return err
		}
		secret, err := readSecret(f.secretFile, a.Stdin)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.CreateProfile(ctx, p); err != nil {
			return err
		}
		if err := a.storeSecret(ctx, st, p.ID, secret); err != nil {
			// Do not leave a profile that cannot authenticate.
			if derr := st.DeleteProfile(context.WithoutCancel(ctx), p.ID); derr != nil {
				a.Logger.Error("removing the profile whose secret could not be stored", "profile", p.Name, "err", derr)
			}
			return err
		}
		fmt.Fprintf(a.Stdout, "Profile %s added (%d environment(s)). Next: seatwise sync --profile %s\n", p.Name, len(p.Environments), p.Name)
		return nil
	}
	return cmd
}

var profileColumns = []string{"name", "display_name", "tenant_id", "state", "environments", "last_subscriptions_sync", "last_activity_sync"}

// ProfileJSON is the JSON form of a profile in command output. It never
// holds a secret.
type ProfileJSON struct {
	Name                  string            `json:"name"`
	DisplayName           string            `json:"display_name"`
	TenantID              string            `json:"tenant_id"`
	ClientID              string            `json:"client_id"`
	AuthMode              sam.AuthMode      `json:"auth_mode"`
	LoginURL              string            `json:"login_url"`
	GraphURL              string            `json:"graph_url"`
	CAFile                string            `json:"ca_file,omitempty"`
	AnalyzeFrom           string            `json:"analyze_from,omitempty"`
	State                 sam.ProfileState  `json:"state"`
	StateMessage          string            `json:"state_message,omitempty"`
	Environments          []EnvironmentJSON `json:"environments"`
	LastSubscriptionsSync *time.Time        `json:"last_subscriptions_sync,omitempty"`
	LastActivitySync      *time.Time        `json:"last_activity_sync,omitempty"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
}

// EnvironmentJSON is the JSON form of an environment and its audit status.
type EnvironmentJSON struct {
	URL                    string     `json:"url"`
	Name                   string     `json:"name,omitempty"`
	Reachable              bool       `json:"reachable"`
	Error                  string     `json:"error,omitempty"`
	AuditEnabled           bool       `json:"audit_enabled"`
	UserAccessAuditEnabled bool       `json:"user_access_audit_enabled"`
	RetentionDays          int        `json:"retention_days"`
	Watermark              *time.Time `json:"watermark,omitempty"`
	CheckedAt              *time.Time `json:"checked_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func newProfileJSON(p *sam.Profile, s store.SyncState) ProfileJSON {
	j := ProfileJSON{Name: p.Name, DisplayName: p.DisplayName, TenantID: p.TenantID, ClientID: p.ClientID,
		AuthMode: p.AuthMode, LoginURL: p.LoginURL, GraphURL: p.GraphURL, CAFile: p.CAFile, State: p.State,
		StateMessage: p.StateMessage, LastSubscriptionsSync: timePtr(s.LastSubscriptionsSync),
		LastActivitySync: timePtr(s.LastActivitySync), CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
		Environments: []EnvironmentJSON{}}
	if !p.AnalyzeFrom.IsZero() {
		j.AnalyzeFrom = p.AnalyzeFrom.UTC().Format("2006-01-02")
	}
	for _, e := range p.Environments {
		j.Environments = append(j.Environments, EnvironmentJSON{URL: e.URL, Name: e.Name, Reachable: e.Audit.Reachable,
			Error: e.Audit.Error, AuditEnabled: e.Audit.AuditEnabled, UserAccessAuditEnabled: e.Audit.UserAccessAuditEnabled,
			RetentionDays: e.Audit.RetentionDays, Watermark: timePtr(e.Audit.Watermark), CheckedAt: timePtr(e.Audit.CheckedAt)})
	}
	return j
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func newProfileList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List integration profiles", Args: cobra.NoArgs}
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		ps, err := st.Profiles(ctx)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, profileColumns...)
		for _, p := range ps {
			s, err := st.SyncState(ctx, p.ID)
			if err != nil {
				return err
			}
			j := newProfileJSON(p, s)
			if err := pr.Row(j, p.Name, p.DisplayName, p.TenantID, string(p.State), strconv.Itoa(len(p.Environments)),
				fmtTime(j.LastSubscriptionsSync), fmtTime(j.LastActivitySync)); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	return cmd
}

func newProfileShow(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show one integration profile (never its secret)", Args: cobra.ExactArgs(1)}
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, p, err := a.openProfile(ctx, args[0])
		if err != nil {
			return err
		}
		defer st.Close()
		s, err := st.SyncState(ctx, p.ID)
		if err != nil {
			return err
		}
		_, serr := st.Secret(ctx, p.ID, sam.SecretClientSecret)
		secretState := "stored (encrypted)"
		if serr != nil {
			secretState = "missing"
		}
		j := newProfileJSON(p, s)
		analyze := j.AnalyzeFrom
		if analyze == "" {
			analyze = "90 days before each sync"
		}
		fields := []Field{
			{"name", p.Name}, {"display_name", p.DisplayName}, {"state", string(p.State)},
			{"state_message", p.StateMessage}, {"tenant_id", p.TenantID}, {"client_id", p.ClientID},
			{"auth_mode", string(p.AuthMode)}, {"client_secret", secretState}, {"login_url", p.LoginURL},
			{"graph_url", p.GraphURL}, {"ca_file", p.CAFile}, {"analyze_from", analyze},
			{"last_subscriptions_sync", fmtTime(j.LastSubscriptionsSync)}, {"last_activity_sync", fmtTime(j.LastActivitySync)},
		}
		for i, e := range j.Environments {
			status := "not read yet"
			switch {
			case e.CheckedAt != nil && !e.Reachable:
				status = "unreachable: " + e.Error
			case e.CheckedAt != nil:
				status = fmt.Sprintf("auditing %s, user access auditing %s, retention %s", onOff(e.AuditEnabled), onOff(e.UserAccessAuditEnabled), retention(e.RetentionDays))
			}
			fields = append(fields, Field{fmt.Sprintf("environment_%d", i+1), e.URL + " (" + status + ")"})
		}
		return WriteRecord(a.Stdout, f, j, fields...)
	}
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func retention(days int) string {
	if days < 0 {
		return "forever"
	}
	return strconv.Itoa(days) + " days"
}

func newProfileEdit(a *App) *cobra.Command {
	var f profileFlags
	cmd := &cobra.Command{
		Use:   "edit NAME",
		Short: "Change an integration profile; only the flags given change",
		Args:  cobra.ExactArgs(1),
	}
	addProfileFlags(cmd, &f)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		var secret []byte
		if cmd.Flags().Changed("client-secret-file") {
			var err error
			if secret, err = readSecret(f.secretFile, a.Stdin); err != nil {
				return err
			}
		}
		st, p, err := a.openProfile(ctx, args[0])
		if err != nil {
			return err
		}
		defer st.Close()
		if err := f.apply(cmd, p, false); err != nil {
			return err
		}
		if err := st.UpdateProfile(ctx, p); err != nil {
			return err
		}
		if secret != nil {
			if err := a.storeSecret(ctx, st, p.ID, secret); err != nil {
				return err
			}
			if p.State == sam.ProfileNeedsReauth {
				if err := st.SetProfileState(ctx, p.ID, sam.ProfileDraft, "client secret replaced; sync to check it"); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(a.Stdout, "Profile %s updated.\n", p.Name)
		return nil
	}
	return cmd
}

func newProfileDelete(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an integration profile with its secrets, subscriptions and activity (runs are kept)",
		Args:  cobra.ExactArgs(1),
	}
	yes := cmd.Flags().Bool("yes", false, "do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, p, err := a.openProfile(ctx, args[0])
		if err != nil {
			return err
		}
		defer st.Close()
		if !*yes {
			fmt.Fprintf(a.Stderr, "Delete profile %s and its subscriptions and activity? Type the profile name to confirm: ", p.Name)
			line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
			if strings.TrimSpace(line) != p.Name {
				return sam.Errorf(sam.EINVALID, "not confirmed; profile %s kept (use --yes to skip the question)", p.Name)
			}
		}
		if err := st.DeleteProfile(ctx, p.ID); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "Profile %s deleted.\n", p.Name)
		return nil
	}
	return cmd
}
