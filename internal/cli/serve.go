package cli

import (
	"context"
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/notify"
	"github.com/seatwise/seatwise/internal/recon"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/web"
	"github.com/spf13/cobra"
)

func init() { register(newServeCmd) }

type serveOptions struct {
	noJobs        bool
	shutdown      time.Duration
	secureCookies bool
	workers       int

	// Set by commands that run the server in their own process (demo), not
	// by flags: jobConfig adjusts the job runner's configuration before it
	// is created (its clock, HTTP client, lease), webConfig the web
	// server's (its clock, savings source), and ready is called once the
	// server listens and the jobs run, with the base URL.
	jobConfig func(*job.Config)
	// reloadKeys reads the keyring again (SIGHUP, or a secret sealed with
	// a key this process does not hold yet); nil when the keyring is not
	// the configured one.
	reloadKeys func() (*secret.Keyring, error)
	webConfig  func(*web.Config)
	ready      func(base string, runner *job.Runner)
}

func newServeCmd(a *App) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web UI, the REST API and the job queue",
		Long: "serve answers the web UI, the REST API (/api/v1, documented at /api/openapi.json), /healthz, /readyz and\n" +
			"/metrics on --listen, and runs scheduled and triggered jobs. On the first start of an empty database it\n" +
			"creates the user admin and prints its one-time password once. SIGINT or SIGTERM stops it gracefully:\n" +
			"requests in flight finish and running jobs get --shutdown-timeout to finish before they are handed back.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&o.noJobs, "no-jobs", false, "do not run jobs in this instance (API and UI only)")
	cmd.Flags().DurationVar(&o.shutdown, "shutdown-timeout", 30*time.Second, "how long a stop waits for requests and jobs to finish")
	cmd.Flags().BoolVar(&o.secureCookies, "secure-cookies", false, "mark cookies Secure without TLS here (behind a TLS-terminating proxy); automatic with --tls-cert-file")
	cmd.Flags().IntVar(&o.workers, "workers", 2, "jobs run at once by this instance")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), o) }
	return cmd
}

func (a *App) serve(ctx context.Context, o serveOptions) error {
	st, err := a.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	kr, err := a.Keyring()
	if err != nil {
		return err
	}
	o.reloadKeys = a.Config().Keyring
	return a.serveStore(ctx, st, kr, o)
}

// serveStore runs the server over an open store and keyring until ctx is
// done (see serve); the caller closes the store.
func (a *App) serveStore(ctx context.Context, st store.Store, kr *secret.Keyring, o serveOptions) error {
	cfg := a.Config()
	authSvc := auth.NewService(st)
	pw, created, err := authSvc.EnsureFirstAdmin(ctx)
	if err != nil {
		return err
	}
	if created {
		// Printed once, on standard output only; never logged.
		fmt.Fprintf(a.Stdout, "First start: created user admin with the one-time password %s\n"+
			"Sign in and choose a new password; this password is not shown again (reset it with `seatwise user reset-password admin`).\n", pw)
	}

	var runner *job.Runner
	if !o.noJobs {
		jc := job.Config{Store: st, Keyring: kr, Logger: a.Logger, Workers: o.workers, Reclaim: true}
		// Reclamation notices (e-mail, webhook) when configured; a nil
		// notifier must stay a nil interface.
		n, err := notify.FromConfig(cfg, kr, nil, a.Logger, nil)
		if err != nil {
			return err
		}
		if n != nil {
			jc.Notifier = n
			a.Logger.Info("reclamation notices", "channels", n.Channels())
		}
		if o.jobConfig != nil {
			o.jobConfig(&jc)
		}
		runner, err = job.New(ctx, jc)
		if err != nil {
			return err
		}
	}
	tls := cfg.TLSCertFile != ""
	oidc, err := newOIDC(cfg.Server)
	if err != nil {
		return err
	}
	wc := web.Config{Store: st, Auth: authSvc, Keyring: kr, Logger: a.Logger, Jobs: runner,
		SecureCookies: tls || o.secureCookies, OIDC: oidc, MetricsAccess: cfg.Server.MetricsAccess,
		// Potential and realised savings: the removal candidates.
		Candidates: st.SavingsCandidates, CandidatesSource: recon.ReclamationSource}
	if o.webConfig != nil {
		o.webConfig(&wc)
	}
	srv, err := web.New(wc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "listen on %s", cfg.Listen)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn)}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	fmt.Fprintf(a.Stdout, "Seatwise listening on %s://%s\n", scheme, ln.Addr())
	a.Logger.Info("server started", "address", ln.Addr().String(), "tls", tls, "jobs", runner != nil, "database", cfg.DatabaseURLRedacted())

	if runner != nil {
		if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
			ln.Close()
			return err
		}
	}
	serveErr := make(chan error, 1)
	go func() {
		if tls {
			serveErr <- hs.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			serveErr <- hs.Serve(ln)
		}
	}()
	go func() {
		// The dashboard aggregates every subscription: compute it now
		// rather than in the first visitor's request.
		if err := srv.Warm(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Warn("computing the dashboard at start", "error", err)
		}
	}()
	if o.ready != nil {
		o.ready(scheme+"://"+ln.Addr().String(), runner)
	}
	cleanup := time.NewTicker(time.Hour)
	defer cleanup.Stop()
	// After `seatwise key rotate`, SIGHUP (or the first secret sealed with
	// the new key) makes this process read its keys again.
	hup := make(chan os.Signal, 1)
	if o.reloadKeys != nil {
		kr.SetReloader(o.reloadKeys)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if n, err := o.reloadKeys(); err != nil {
				a.Logger.Error("reloading the secret keys (SIGHUP) failed; the previous keys stay in use", "error", err)
			} else {
				kr.Replace(n)
				a.Logger.Info("secret keys reloaded (SIGHUP)", "current_key", kr.KeyID(), "keys", len(kr.KeyIDs()))
			}
		case err := <-serveErr:
			runErr = sam.Wrap(sam.EUNAVAILABLE, err, "HTTP server stopped")
			break loop
		case <-cleanup.C:
			if n, err := st.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				a.Logger.Warn("removing expired sessions", "error", err)
			} else if n > 0 {
				a.Logger.Debug("expired sessions removed", "count", n)
			}
		}
	}

	a.Logger.Info("shutting down", "grace", o.shutdown)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdown)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		a.Logger.Warn("HTTP requests still running at shutdown were cut", "error", err)
	}
	if runner != nil {
		if err := runner.Stop(sctx); err != nil {
			a.Logger.Warn("jobs still running at shutdown were handed back to the queue", "error", err)
		}
	}
	a.Logger.Info("stopped")
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) {
		return runErr
	}
	return nil
}

// newOIDC returns the Entra ID (OpenID Connect) sign-in the configuration
// asks for, nil when oidc_issuer is not set.
func newOIDC(o config.ServerOptions) (*auth.OIDC, error) {
	if o.OIDCIssuer == "" {
		return nil, nil
	}
	rules, err := auth.ParseOIDCRules(o.OIDCRoleRules)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.OIDCCAFile != "" {
		pem, err := os.ReadFile(o.OIDCCAFile)
		if err != nil {
			return nil, sam.Wrap(sam.EINVALID, err, "oidc_ca_file %s", o.OIDCCAFile)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sam.Errorf(sam.EINVALID, "oidc_ca_file %s holds no PEM certificate", o.OIDCCAFile)
		}
		tr.TLSClientConfig = &cryptotls.Config{RootCAs: pool, MinVersion: cryptotls.VersionTLS12}
	}
	return auth.NewOIDC(auth.OIDCConfig{Issuer: o.OIDCIssuer, ClientID: o.OIDCClientID, ClientSecret: o.OIDCClientSecret(),
		RedirectURL: o.OIDCRedirectURL, DefaultRole: auth.Role(o.OIDCDefaultRole), Rules: rules,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}})
}
