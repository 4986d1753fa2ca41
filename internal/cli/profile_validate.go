package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func newProfileValidate(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate NAME",
		Short: "Check a profile's connection to Microsoft, part by part, and say how to fix what fails",
		Long: "Validate signs in to Microsoft Entra with the profile's credential and checks, one line each:\n" +
			"Graph admin consent and the permissions to read licences, users and sign-in activity, whether\n" +
			"the write permission reclamation needs is present, then for every Dataverse environment the\n" +
			"application (or signed-in) user, its audit read privilege, auditing, user-access auditing and the\n" +
			"audit retention against the analysis window. Each failure comes with what a tenant administrator\n" +
			"should do. Nothing is changed, in Microsoft or in Seatwise.\n\n" +
			"Exit status: 0 when no check failed (warnings allowed), 5 when a check failed.",
		Args: cobra.ExactArgs(1),
	}
	format := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := format()
		if err != nil {
			return err
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
		cred, err := connect.Load(ctx, st, kr, p, nil)
		if err != nil {
			return err
		}
		rep, err := connect.Validate(ctx, p, cred, connect.ValidateOptions{})
		if err != nil {
			return err
		}
		if err := writeValidation(a.Stdout, f, rep); err != nil {
			return err
		}
		if rep.Failed() {
			return sam.Errorf(sam.EFORBIDDEN, "profile %s: %d check(s) failed, %d warning(s); fix the failures above and validate again",
				p.Name, rep.Count(connect.Fail), rep.Count(connect.Warn))
		}
		return nil
	}
	return cmd
}

// writeValidation prints a validation report: for people one line per
// check with its remedy below a failure or warning, else one record per
// check (CSV rows, or the report as a JSON object).
func writeValidation(w io.Writer, f Format, rep *connect.Report) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, rep)
	case FormatCSV:
		pr := NewPrinter(w, f, "check", "environment", "status", "message", "remedy")
		for _, r := range rep.Results {
			if err := pr.Row(r, r.Check, r.Environment, string(r.Status), r.Message, r.Remedy); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Profile %s\n", rep.Profile)
	env := ""
	for _, r := range rep.Results {
		if r.Environment != env {
			env = r.Environment
			fmt.Fprintf(&b, "Environment %s\n", env)
		}
		fmt.Fprintf(&b, "  %-4s  %-24s %s\n", strings.ToUpper(string(r.Status)), r.Check, r.Message)
		if r.Remedy != "" {
			fmt.Fprintf(&b, "        %-24s remedy: %s\n", "", r.Remedy)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d warning(s), %d failed\n", rep.Count(connect.Pass), rep.Count(connect.Warn), rep.Count(connect.Fail))
	_, err := io.WriteString(w, b.String())
	return err
}
