package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func newProfileConnect(a *App) *cobra.Command {
	var loginHint string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "connect NAME",
		Short: "Connect a profile with an administrator's sign-in (delegated access)",
		Long: "Connect prints a sign-in URL and waits for the browser to come back to Seatwise on a loopback\n" +
			"port (http://127.0.0.1:PORT/callback). Sign in as an administrator of the tenant and consent\n" +
			"first to Microsoft Graph (licences, users, sign-in activity; offline access), then once per\n" +
			"Dataverse environment of the profile. The refresh token is stored encrypted and replaced on\n" +
			"every use; the profile then syncs with the administrator's delegated permissions.\n\n" +
			"The app registration needs http://localhost as a redirect URI of a Web or Mobile and desktop\n" +
			"platform (any port is accepted for loopback). Run connect again when Seatwise reports that the\n" +
			"profile needs re-authorisation; its data is kept.",
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&loginHint, "login-hint", "", "user principal name to pre-fill on the sign-in page")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the sign-in to complete")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, p, err := a.openProfile(ctx, args[0])
		if err != nil {
			return err
		}
		defer st.Close()
		kr, err := a.Keyring()
		if err != nil {
			return err
		}
		// The app authenticates its token requests with its client secret
		// (a confidential client); NewSignIn says so when there is none.
		var clientSecret string
		if sealed, err := st.Secret(ctx, p.ID, sam.SecretClientSecret); err == nil {
			plain, err := kr.Open(sealed)
			if err != nil {
				return sam.Wrap(sam.EUNAUTHORIZED, err, "the client secret of profile %s cannot be decrypted with the configured key", p.Name)
			}
			clientSecret = string(plain)
			clear(plain)
		} else if !sam.IsCode(err, sam.ENOTFOUND) {
			return err
		}
		lb, err := connect.NewLoopback()
		if err != nil {
			return err
		}
		defer lb.Close()
		s, err := connect.NewSignIn(p, connect.SignInConfig{RedirectURI: lb.RedirectURI(), ClientSecret: clientSecret,
			LoginHint: loginHint, Save: connect.RefreshTokenSaver(st, kr, p.ID)})
		if err != nil {
			return err
		}
		start, err := s.Start()
		if err != nil {
			return err
		}
		envs := make([]string, 0, len(p.Environments))
		for _, e := range p.Environments {
			envs = append(envs, e.URL)
		}
		fmt.Fprintf(a.Stdout, "Sign in as an administrator of tenant %s. Open this URL in a browser:\n\n  %s\n\n", p.TenantID, start)
		fmt.Fprintf(a.Stdout, "You will consent %d time(s): Microsoft Graph", s.Steps())
		if len(envs) > 0 {
			fmt.Fprintf(a.Stdout, ", then %s", strings.Join(envs, ", "))
		}
		fmt.Fprintf(a.Stdout, ".\nWaiting for the browser on %s ...\n", lb.RedirectURI())
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := lb.Run(wctx, s); err != nil {
			return err
		}
		if err := connect.MarkConnected(ctx, st, p, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "Profile %s is connected with the administrator's sign-in. Next: seatwise profile validate %s, then seatwise sync --profile %s\n", p.Name, p.Name, p.Name)
		return nil
	}
	return cmd
}
