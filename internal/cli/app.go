// Package cli is the seatwise command line: one file per command, each
// registering a constructor with register. main only builds an App and calls
// Run, so every command can be exercised in tests with its own streams.
package cli

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// App is one invocation of the seatwise command line.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Logger is configured once, from the global flags, before a command runs.
	Logger *slog.Logger
}

// commands are the constructors of the top-level commands, in registration order.
var commands []func(a *App) *cobra.Command

// register adds a top-level command; each command file calls it from init.
func register(newCmd func(a *App) *cobra.Command) { commands = append(commands, newCmd) }

// Run executes the command line args (without the program name) and returns
// the process exit code (sam.ExitCode of the command's error).
func (a *App) Run(ctx context.Context, args []string) int {
	root := &cobra.Command{
		Use:           "seatwise",
		Short:         "Track and optimise Microsoft Dynamics 365 and Power Apps licences",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		io.WriteString(a.Stderr, "seatwise: "+err.Error()+"\n")
		return 1
	}
	return 0
}
