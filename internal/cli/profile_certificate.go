package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func newProfileCertificate(a *App) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "certificate NAME",
		Short: "Authenticate a profile with a certificate (client assertion) instead of its client secret",
		Long: "Stores a certificate and its unencrypted RSA private key (one PEM file, the key encrypted at rest by\n" +
			"Seatwise) and switches the profile to certificate credentials: each token request carries a client\n" +
			"assertion signed RS256 with the certificate's thumbprint (x5t). Upload the certificate's public part\n" +
			"to the app registration (Certificates & secrets > Certificates) first. A stored client secret is kept\n" +
			"but no longer used.",
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&file, "certificate-file", "", "PEM file with the certificate and its private key, or - for standard input")
	_ = cmd.MarkFlagRequired("certificate-file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(io.LimitReader(a.Stdin, 1<<20))
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return sam.Wrap(sam.EINVALID, err, "reading the certificate from %s", displayPath(file))
		}
		defer clear(data)
		cert, err := entra.ParseCertificate(data)
		if err != nil {
			return err
		}
		if cert.NotAfter().Before(time.Now()) {
			return sam.Errorf(sam.EINVALID, "the certificate expired on %s: create a new one", cert.NotAfter().UTC().Format("2006-01-02"))
		}
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
		sealed, err := kr.Seal(data)
		if err != nil {
			return err
		}
		if err := st.PutSecret(ctx, p.ID, sam.SecretCertificate, sealed); err != nil {
			return err
		}
		p.AuthMode = sam.AuthCertificate
		if err := st.UpdateProfile(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "Profile %s now authenticates with the certificate of thumbprint %s (expires %s). Next: seatwise profile validate %s\n",
			p.Name, cert.Thumbprint(), cert.NotAfter().UTC().Format("2006-01-02"), p.Name)
		return nil
	}
	return cmd
}
