package cli

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		var (
			path    string
			timeout time.Duration
		)
		cmd := &cobra.Command{
			Use:   "healthcheck",
			Short: "Check that the local seatwise serve answers /healthz (for container health checks)",
			Long: "healthcheck sends GET /healthz (or --path) to the seatwise serve of this configuration on the loopback\n" +
				"interface: the port of --listen (SEATWISE_LISTEN), HTTPS when a TLS certificate is configured (the\n" +
				"certificate is not verified: the check only asks whether this process answers). It exits 0 on a 2xx\n" +
				"answer and 6 (unavailable) otherwise, printing nothing on success. Container images have no curl;\n" +
				"this is their HEALTHCHECK.",
			Args: cobra.NoArgs,
		}
		cmd.Flags().StringVar(&path, "path", "/healthz", "path to ask, e.g. /readyz to include the database")
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return a.healthcheck(cmd.Context(), path, timeout)
		}
		return cmd
	})
}

func (a *App) healthcheck(ctx context.Context, path string, timeout time.Duration) error {
	cfg := a.Config()
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "listen address %q", cfg.Listen)
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + path
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy: nil,
		// The check asks whether this process answers; the certificate
		// may name a public host that does not match the loopback address.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback liveness probe only
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sam.Wrap(sam.EINVALID, err, "health check URL %s", url)
	}
	resp, err := client.Do(req)
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "health check %s", url)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) //nolint:errcheck // draining only
	if resp.StatusCode/100 != 2 {
		return sam.Errorf(sam.EUNAVAILABLE, "health check %s answered %s", url, resp.Status)
	}
	return nil
}
