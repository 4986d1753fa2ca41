package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "demo",
			Short: "Try Seatwise against a simulated Microsoft tenant, nothing to set up",
			Long: "demo starts the Microsoft simulator in this process with a generated tenant (users holding\n" +
				"Dynamics 365 and Power Apps licences, Dataverse environments with audit history), creates a\n" +
				"SQLite database in a temporary directory (or --data DIR), adds a profile for the tenant,\n" +
				"syncs subscriptions and activity, and prints the usage report. It then keeps the simulator\n" +
				"running and shows commands to try, until Ctrl-C (--once exits after the report).",
			Args: cobra.NoArgs,
		}
		data := cmd.Flags().String("data", "", "directory for the demo database and key (default: a new temporary directory)")
		once := cmd.Flags().Bool("once", false, "exit after printing the report")
		users := cmd.Flags().Int("users", 3000, "users in the simulated tenant")
		envs := cmd.Flags().Int("environments", 2, "Dataverse environments in the simulated tenant")
		seed := cmd.Flags().Int64("seed", 1, "seed of the generated tenant (the same seed gives the same tenant)")
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			if *users < 1 || *envs < 1 {
				return sam.Errorf(sam.EINVALID, "--users and --environments must be at least 1")
			}
			return a.demo(cmd.Context(), demoOptions{Data: *data, Once: *once, Users: *users, Environments: *envs, Seed: *seed, Format: f})
		}
		return cmd
	})
}

type demoOptions struct {
	Data         string
	Once         bool
	Users        int
	Environments int
	Seed         int64
	Format       Format
}

func (a *App) demo(ctx context.Context, o demoOptions) error {
	dir := o.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "seatwise-demo-")
		if err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "create a temporary directory")
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return sam.Wrap(sam.EINVALID, err, "create --data directory %s", dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "--data %s", o.Data)
	}
	fmt.Fprintf(a.Stderr, "Starting the Microsoft simulator (%d users, %d environments)...\n", o.Users, o.Environments)
	srv, err := mscloud.Start(ctx, mscloud.Config{
		Seed:    o.Seed,
		CAFile:  filepath.Join(dir, "mscloud-ca.pem"),
		Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: o.Seed, Users: o.Users, Environments: o.Environments}}},
	})
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "start the simulator")
	}
	defer srv.Close()
	info := srv.Info()
	ten := srv.Tenant()

	dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "seatwise.db"))
	st, err := db.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	kr, err := secret.LoadKeyring("", filepath.Join(dir, config.KeyFileName))
	if err != nil {
		return err
	}
	p, err := st.ProfileByName(ctx, "demo")
	switch {
	case err == nil:
		// A --data directory used before: point the profile at this
		// simulator (new ports, CA and credentials).
		p.TenantID, p.ClientID, p.LoginURL, p.GraphURL, p.CAFile = info.TenantID, info.ClientID, info.LoginURL, info.GraphURL, info.CAFile
		p.Environments = nil
		for _, e := range info.Environments {
			p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
		}
		if err := st.UpdateProfile(ctx, p); err != nil {
			return err
		}
	case sam.IsCode(err, sam.ENOTFOUND):
		p = &sam.Profile{Name: "demo", DisplayName: "Demo tenant (simulated)", TenantID: info.TenantID, ClientID: info.ClientID,
			AuthMode: sam.AuthClientSecret, LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile, State: sam.ProfileDraft}
		for _, e := range info.Environments {
			p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
		}
		if err := st.CreateProfile(ctx, p); err != nil {
			return err
		}
	default:
		return err
	}
	sealed, err := kr.Seal([]byte(info.ClientSecret))
	if err != nil {
		return err
	}
	if err := st.PutSecret(ctx, p.ID, sam.SecretClientSecret, sealed); err != nil {
		return err
	}

	start := time.Now()
	sum, err := a.syncProfile(ctx, st, p, syncOptions{Now: ten.Now, HTTPClient: srv.Client(), Keyring: kr})
	if sum != nil {
		sum.write(a.Stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "Synced in %s.\n\n", time.Since(start).Round(time.Millisecond))
	rows, err := UsageReport(ctx, st, []*sam.Profile{p})
	if err != nil {
		return err
	}
	pr := NewPrinter(a.Stdout, o.Format, usageColumns...)
	for i := range rows {
		if err := pr.Row(rows[i], rows[i].cells()...); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}
	if o.Once {
		return nil
	}
	global := fmt.Sprintf("seatwise --database %s", dbURL)
	fmt.Fprintf(a.Stderr, `
The simulator keeps running until Ctrl-C. Its tenant's clock is %s.
  login        %s
  graph        %s
  control API  %s
  CA file      %s
`, ten.Now().Format(time.RFC3339), info.LoginURL, info.GraphURL, info.ControlURL, info.CAFile)
	for _, e := range info.Environments {
		fmt.Fprintf(a.Stderr, "  environment  %s (%s)\n", e.URL, e.Name)
	}
	fmt.Fprintf(a.Stderr, `
Try, in another terminal:
  %[1]s profile show demo
  %[1]s report usage
  %[1]s report users --model DYN365_ENTERPRISE_SALES
  %[1]s report users --model D365_SALES_PRO --class inactive_90 --output csv
  %[1]s sync --profile demo --now %[2]s
`, global, ten.Now().Format(time.RFC3339))
	<-ctx.Done()
	return nil
}
