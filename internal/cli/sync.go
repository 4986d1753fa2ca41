package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "sync",
			Short: "Download a profile's subscriptions and calculate activity",
			Long: "sync downloads who holds which Dynamics 365 / Power Apps licence (Microsoft Graph; a full\n" +
				"listing the first time, then only the changes) and reads activity from the Dataverse audit\n" +
				"log of each environment since the last run. Each part commits completely or not at all; an\n" +
				"interrupted sync resumes where it stopped the next time it runs.\n\n" +
				"Audit logs are read as parallel streams within Microsoft's service-protection limits: at most\n" +
				"52 requests in flight per identity and environment, fewer when Microsoft answers 429 or its\n" +
				"rate-limit headers run low. --all syncs every profile that is not paused, --parallel at once,\n" +
				"all sharing one global budget of requests in flight; a throttled tenant waits alone.",
			Args: cobra.NoArgs,
		}
		profile := cmd.Flags().String("profile", "", "name of the integration profile (or --all)")
		all := cmd.Flags().Bool("all", false, "sync every profile that is not paused")
		parallel := cmd.Flags().Int("parallel", 4, "with --all, how many profiles sync at once")
		full := cmd.Flags().Bool("full", false, "list every user instead of only the changes since the last sync")
		subsOnly := cmd.Flags().Bool("subscriptions-only", false, "only download subscriptions")
		actOnly := cmd.Flags().Bool("activity-only", false, "only calculate activity")
		now := cmd.Flags().String("now", "", "the current time (RFC 3339) as the tenant sees it; for simulators with a moved clock")
		_ = cmd.Flags().MarkHidden("now")
		cmd.MarkFlagsOneRequired("profile", "all")
		cmd.MarkFlagsMutuallyExclusive("profile", "all")
		cmd.MarkFlagsMutuallyExclusive("subscriptions-only", "activity-only")
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			opts := syncOptions{Full: *full, SubscriptionsOnly: *subsOnly, ActivityOnly: *actOnly}
			if *now != "" {
				t, err := time.Parse(time.RFC3339Nano, *now)
				if err != nil {
					return sam.Errorf(sam.EINVALID, "--now %q: want an RFC 3339 time", *now)
				}
				opts.Now = func() time.Time { return t }
			}
			ctx := cmd.Context()
			if *all {
				if *parallel < 1 {
					return sam.Errorf(sam.EINVALID, "--parallel %d: want at least 1", *parallel)
				}
				return a.syncAll(ctx, opts, *parallel)
			}
			st, p, err := a.openProfile(ctx, *profile)
			if err != nil {
				return err
			}
			defer st.Close()
			sum, err := a.syncProfile(ctx, st, p, opts)
			if sum != nil {
				sum.write(a.Stdout)
			}
			return err
		}
		return cmd
	})
}

// syncOptions select what syncProfile does.
type syncOptions struct {
	Full              bool
	SubscriptionsOnly bool
	ActivityOnly      bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// HTTPClient sends the requests (nil: system roots plus the profile's CA file).
	HTTPClient *http.Client
	// Quiet turns the progress display off.
	Quiet bool
	// Keyring opens the stored secret (nil: the configured one).
	Keyring *secret.Keyring
}

// syncSummary is what a sync did, printed at its end.
type syncSummary struct {
	Profile       string
	Subscriptions *ingest.SubscriptionResult
	Activity      *ingest.ActivityResult
}

// syncProfile runs the profile's subscriptions and activity jobs with a
// progress display on Stderr. The summary is returned also on error, with
// the runs that ran.
func (a *App) syncProfile(ctx context.Context, st store.Store, p *sam.Profile, opts syncOptions) (*syncSummary, error) {
	if p.State == sam.ProfilePaused {
		return nil, sam.Errorf(sam.ECONFLICT, "profile %s is paused", p.Name)
	}
	kr := opts.Keyring
	if kr == nil {
		var err error
		if kr, err = a.Keyring(); err != nil {
			return nil, err
		}
	}
	// The client secret (app-only) or the administrator's sign-in
	// (delegated, refresh tokens rotated and stored sealed).
	cred, err := connect.Load(ctx, st, kr, p, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	src, err := ingest.NewSources(p, "", ingest.ClientOptions{HTTPClient: opts.HTTPClient, Tokens: cred.Source})
	if err != nil {
		return nil, err
	}
	prog := newProgress(a.Stderr, opts.Quiet)
	defer prog.finish()
	sy := &ingest.Syncer{
		Store: st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: opts.Now, Progress: prog.update, Logger: a.Logger,
	}
	sum := &syncSummary{Profile: p.Name}
	if !opts.ActivityOnly && !opts.SubscriptionsOnly {
		// Both at once: Graph and the audit logs are read side by side.
		res, err := sy.Sync(ctx, p, ingest.SubscriptionOptions{Full: opts.Full}, nil)
		sum.Subscriptions, sum.Activity = res.Subscriptions, res.Activity
		return sum, err
	}
	if !opts.ActivityOnly {
		res, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{Full: opts.Full})
		sum.Subscriptions = res
		if err != nil {
			return sum, err
		}
	}
	if !opts.SubscriptionsOnly {
		// Reload: the subscriptions run may have changed the state.
		if p, err = st.Profile(ctx, p.ID); err != nil {
			return sum, err
		}
		res, err := sy.Activity(ctx, p)
		sum.Activity = res
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// syncAll syncs every profile that is not paused, parallel at once, and
// prints each one's summary in name order. The profiles' Microsoft clients
// share the process's concurrency budgets (odata.DefaultBudgets): per
// identity and host, and one global budget. It fails when the store cannot
// be opened or listed, or (after all have run) when a profile's sync
// failed, naming them.
func (a *App) syncAll(ctx context.Context, opts syncOptions, parallel int) error {
	st, err := a.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	profiles, err := st.Profiles(ctx)
	if err != nil {
		return err
	}
	opts.Quiet = true
	if opts.Keyring == nil {
		if opts.Keyring, err = a.Keyring(); err != nil {
			return err
		}
	}
	type outcome struct {
		sum *syncSummary
		err error
	}
	results := make([]outcome, len(profiles))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, p := range profiles {
		if p.State == sam.ProfilePaused {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			fmt.Fprintf(a.Stderr, "sync %s: started\n", p.Name)
			sum, err := a.syncProfile(ctx, st, p, opts)
			results[i] = outcome{sum, err}
			state := "done"
			if err != nil {
				state = "failed: " + sam.ErrorMessage(err)
			}
			fmt.Fprintf(a.Stderr, "sync %s: %s\n", p.Name, state)
		}()
	}
	wg.Wait()
	var failed []string
	synced := 0
	for i, p := range profiles {
		if p.State == sam.ProfilePaused {
			fmt.Fprintf(a.Stdout, "== %s: paused, not synced\n", p.Name)
			continue
		}
		fmt.Fprintf(a.Stdout, "== %s\n", p.Name)
		if r := results[i]; r.sum != nil {
			r.sum.write(a.Stdout)
		}
		if err := results[i].err; err != nil {
			fmt.Fprintf(a.Stdout, "error: %s\n", sam.ErrorMessage(err))
			failed = append(failed, p.Name)
			continue
		}
		synced++
	}
	if len(failed) > 0 {
		return sam.Errorf(sam.EUNAVAILABLE, "%d of %d profiles failed to sync: %s", len(failed), len(failed)+synced, strings.Join(failed, ", "))
	}
	return nil
}

// write prints the summary: counts, requests, throttles, retries, warnings.
func (s *syncSummary) write(w io.Writer) {
	var warnings []string
	if r := s.Subscriptions; r != nil && r.Run != nil {
		kind := "delta"
		if r.Run.Full {
			kind = "full"
		}
		resumed := ""
		if r.Resumed {
			resumed = ", resumed"
		}
		fmt.Fprintf(w, "Subscriptions (run %d, %s%s, %s): %d users read, %d removed; %d licences; opened %d, closed %d, updated %d\n",
			r.Run.ID, kind, resumed, r.Run.Status, r.Run.Counts["users"], r.Run.Counts["users_removed"], r.Run.Counts["licenses"],
			r.Changes.Opened, r.Changes.Closed, r.Changes.Updated)
		fmt.Fprintf(w, "  requests %d, throttled %d, retried %d\n", r.Run.Requests, r.Run.Throttles, r.Run.Retries)
		if r.Run.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Run.Error)
		}
		warnings = append(warnings, r.Run.Warnings...)
	}
	if r := s.Activity; r != nil && r.Run != nil {
		resumed := ""
		if r.Resumed {
			resumed = ", resumed"
		}
		fmt.Fprintf(w, "Activity (run %d%s, %s): %d audit rows, %d system users; %d activity days written, %d subscriptions reclassified, %d rows of unknown users\n",
			r.Run.ID, resumed, r.Run.Status, r.Run.Counts["audit_rows"], r.Run.Counts["system_users"], r.Changes.Days,
			r.Changes.Recomputed, r.Changes.UnmappedRows)
		fmt.Fprintf(w, "  requests %d, throttled %d, retried %d\n", r.Run.Requests, r.Run.Throttles, r.Run.Retries)
		if r.Run.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Run.Error)
		}
		warnings = append(warnings, r.Run.Warnings...)
	}
	for _, x := range warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

// progress shows how far a sync has come: a spinner with counters on a
// terminal, a plain line per phase otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	quiet bool
	// The last plain line and when it was written, per run kind: the two
	// runs of a sync report at the same time.
	last map[sam.RunKind]string
	at   map[sam.RunKind]time.Time
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet, last: map[sam.RunKind]string{}, at: map[sam.RunKind]time.Time{}}
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(), progressbar.OptionSetDescription("sync"))
	}
	return p
}

func (p *progress) update(ev ingest.Progress) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	what := map[string]string{"skus": "reading subscribed SKUs", "users": "reading users", "settings": "reading audit settings",
		"systemusers": "reading system users", "audits": "reading audit rows", "commit": "committing"}[ev.Phase]
	desc := string(ev.Kind) + ": " + what
	if ev.Environment != "" {
		desc += " of " + ev.Environment
	}
	if ev.Resumed {
		desc += " (resumed)"
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s, %d requests", desc, ev.Requests))
		_ = p.bar.Set64(ev.Items)
		return
	}
	// Plain output: one line per phase, and one every 10 seconds.
	if desc != p.last[ev.Kind] || time.Since(p.at[ev.Kind]) >= 10*time.Second {
		fmt.Fprintf(p.w, "%s (%d so far, %d requests)\n", desc, ev.Items, ev.Requests)
		p.last[ev.Kind], p.at[ev.Kind] = desc, time.Now()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
