package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/web"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "demo",
			Short: "Try Seatwise against a simulated Microsoft estate, nothing to set up",
			Long: "demo starts the Microsoft simulator in this process with two generated tenants (three Dataverse\n" +
				"environments in all, --users users, 120 days of activity history), creates a SQLite database in a\n" +
				"temporary directory (removed at exit; --data DIR keeps it), adds a profile per tenant, records\n" +
				"entitlements with renewals coming up, then runs the first sync, the evaluation of the reclamation\n" +
				"rules (dry run: nothing is removed), reconciliation and recommendations with progress shown, and\n" +
				"prints a summary ending with the savings found.\n\n" +
				"It then starts the server (web UI, REST API, job queue) on --listen, prints the URL and the\n" +
				"administrator's sign-in, and keeps the simulated clock moving (one simulated day per --day of real\n" +
				"time, with a hire and a leaver per tenant each day), so that the daily sync (followed by reclamation)\n" +
				"and the weekly reconciliation run as scheduled; each job is printed. Ctrl-C stops it cleanly.\n" +
				"--once exits after the summary; with --output json the summary is one JSON object, then (without\n" +
				"--once) the server's lines follow as text.",
			Args: cobra.NoArgs,
		}
		data := cmd.Flags().String("data", "", "directory for the demo database and key, kept at exit (default: a new temporary directory, removed at exit)")
		once := cmd.Flags().Bool("once", false, "exit after printing the summary (no server)")
		users := cmd.Flags().Int("users", 3000, "users in the simulated estate, split 2:1 between the two tenants")
		seed := cmd.Flags().Int64("seed", 0, "seed of the generated tenants (the same seed gives the same estate)")
		day := cmd.Flags().Duration("day", 30*time.Second, "real time per simulated day while the server runs")
		start := cmd.Flags().String("start", "", "the simulated clock's start, RFC 3339 (default: now, to the minute)")
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			if f == FormatCSV {
				return sam.Errorf(sam.EINVALID, "--output csv: the demo summary has several tables; use table or json")
			}
			if *users < 3 {
				return sam.Errorf(sam.EINVALID, "--users %d: want at least 3 (the estate has two tenants)", *users)
			}
			if *day < 24*time.Millisecond*10 || *day > 24*time.Hour {
				return sam.Errorf(sam.EINVALID, "--day %s: want 240ms to 24h of real time per simulated day", *day)
			}
			now := time.Now().UTC().Truncate(time.Minute)
			if *start != "" {
				if now, err = time.Parse(time.RFC3339, *start); err != nil {
					return sam.Errorf(sam.EINVALID, "--start %q: want an RFC 3339 time such as 2026-01-15T12:00:00Z", *start)
				}
				now = now.UTC()
			}
			return a.demo(cmd.Context(), demoOptions{Data: *data, Once: *once, Users: *users, Seed: *seed, Day: *day, Start: now, Format: f})
		}
		return cmd
	})
}

type demoOptions struct {
	Data   string
	Once   bool
	Users  int
	Seed   int64
	Day    time.Duration // real time per simulated day
	Start  time.Time     // the simulated clock's start
	Format Format
}

// demo runs the demo: estate, pipeline, summary, then (unless Once) the
// server with a moving clock until ctx is done.
func (a *App) demo(ctx context.Context, o demoOptions) error {
	dir := o.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "seatwise-demo-")
		if err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "create a temporary directory")
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return sam.Wrap(sam.EINVALID, err, "create --data directory %s", dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "--data %s", o.Data)
	}
	say := func(format string, args ...any) { fmt.Fprintf(a.Stderr, format+"\n", args...) }

	est, err := startEstate(ctx, o, dir)
	if err != nil {
		return err
	}
	defer est.close()
	say("Simulator started: %s", est.describe())

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
	say("Database: %s", dbURL)
	authSvc := auth.NewService(st)
	signIn, err := demoAdmin(ctx, authSvc)
	if err != nil {
		return err
	}
	profiles, err := est.ensureProfiles(ctx, st, kr)
	if err != nil {
		return err
	}

	sum, err := a.demoPipeline(ctx, st, kr, est, profiles)
	if err != nil {
		return err
	}
	if err := sum.write(a.Stdout, o.Format); err != nil {
		return err
	}
	if o.Once {
		return nil
	}

	// The server, over the same store, its jobs on the simulated clock.
	type started struct {
		base   string
		runner *job.Runner
	}
	ready := make(chan started, 1)
	var wg sync.WaitGroup
	runCtx, stopClock := context.WithCancel(ctx)
	defer stopClock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s started
		select {
		case s = <-ready:
		case <-runCtx.Done():
			return
		}
		fmt.Fprintf(a.Stdout, "\nSeatwise is running at %s\n  sign in as %s\n", s.base, signIn)
		fmt.Fprintf(a.Stdout, "  the simulated clock moves one day every %s: the daily sync runs at 02:00 (simulated UTC) followed by reclamation (dry run), the reconciliation on Mondays at 04:00\n", o.Day)
		fmt.Fprintf(a.Stdout, "  in another terminal: seatwise --database %s report usage\n", dbURL)
		fmt.Fprintf(a.Stdout, "Ctrl-C stops the demo%s.\n\n", map[bool]string{true: " and removes its temporary directory", false: " (the data stays in " + dir + ")"}[o.Data == ""])
		est.runClock(runCtx, a.Stdout, o.Day, s.runner, profiles)
	}()
	// The server's start line names the database it serves.
	a.Config().DatabaseURL = dbURL
	serveErr := a.serveStore(ctx, st, kr, serveOptions{
		shutdown: 10 * time.Second,
		workers:  2,
		jobConfig: func(c *job.Config) {
			// The demo prints each job's start and end itself.
			c.Logger = slog.New(minLevel{a.Logger.Handler(), slog.LevelWarn})
			c.Clock = est
			// Rules are evaluated after every activity run, in the sync
			// job (dry run: the workflow only plans).
			c.Reclaim = true
			c.HTTPClient = est.srv.Client()
			// Leases are on the simulated clock, which runs thousands of
			// times faster than the heartbeat's real one.
			c.Lease = 30 * 24 * time.Hour
			c.Heartbeat = 5 * time.Second
			c.PollInterval = time.Second
		},
		webConfig: func(c *web.Config) {
			c.Logger = slog.New(minLevel{a.Logger.Handler(), slog.LevelWarn}) // no line per request among the demo's
			// Pages show the estate as of the simulated clock, with the
			// removal candidates' savings.
			c.Now = est.Now
			c.Candidates, c.CandidatesSource = st.SavingsCandidates, recon.ReclamationSource
		},
		ready: func(base string, r *job.Runner) { ready <- started{base, r} },
	})
	stopClock()
	wg.Wait()
	if serveErr != nil {
		return serveErr
	}
	fmt.Fprintln(a.Stdout, "Demo stopped.")
	return nil
}

// demoAdmin creates the administrator of a new demo database with a
// generated password (no change required: the database is the demo's) and
// returns the sign-in to print; on a database used before it says how to
// reset the password instead.
func demoAdmin(ctx context.Context, svc *auth.Service) (string, error) {
	users, err := svc.Store.Users(ctx)
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		return "admin with the password printed when this --data directory was first used (`seatwise user reset-password admin` with its --database sets a new one)", nil
	}
	pw := auth.GeneratePassword()
	if _, err := svc.CreateUser(ctx, "admin", auth.RoleAdmin, pw, false); err != nil {
		return "", err
	}
	return "admin, password " + pw, nil
}

// minLevel passes on the records of its handler at or above min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
