package cli

import (
	"errors"
	"log/slog"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func init() {
	// Run the root's PersistentPreRunE (configuration, logger) even when a
	// command defines its own persistent hooks.
	cobra.EnableTraverseRunHooks = true
}

// newRoot builds the command tree.
func (a *App) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "seatwise",
		Short: "Track and optimise Microsoft Dynamics 365 and Power Apps licences",
		Long: "Seatwise tracks and optimises Microsoft Dynamics 365 and Power Apps user licences.\n\n" +
			"Configuration comes from flags, SEATWISE_* environment variables and an optional\n" +
			"file (--config), in that order of precedence.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setup(cmd)
		},
	}
	config.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return sam.Errorf(sam.EINVALID, "%s (see '%s --help')", err.Error(), c.CommandPath())
	})
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Annotations = map[string]string{annotationNoConfig: "true"}
		}
	}
	a.prepare(root)
	return root
}

// setup loads the configuration and the logger, once, before a command runs.
func (a *App) setup(cmd *cobra.Command) error {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[annotationNoConfig] != "" {
			if a.Logger == nil {
				a.Logger = slog.New(slog.NewTextHandler(a.Stderr, nil))
			}
			return nil
		}
	}
	cfg, err := config.Load(cmd.Flags(), a.env())
	if err != nil {
		return err
	}
	a.cfg = cfg
	if a.Logger == nil {
		a.Logger = cfg.NewLogger(a.Stderr)
	}
	a.Logger.Debug("configuration loaded", "database", cfg.DatabaseURLRedacted(), "database_source", cfg.Source(config.OptDatabase), "config_file", cfg.File)
	return nil
}

// prepare walks the tree so that usage errors are EINVALID: group commands
// reject unknown subcommands, argument validators return EINVALID, and
// RunE records that the command started.
func (a *App) prepare(c *cobra.Command) {
	switch {
	case c.HasSubCommands() && !c.Runnable():
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return sam.Errorf(sam.EINVALID, "unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	default:
		if c.Args != nil {
			validate := c.Args
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := validate(cmd, args); err != nil {
					if _, ok := errors.AsType[*sam.Error](err); ok {
						return err
					}
					return sam.Errorf(sam.EINVALID, "%s: %s (see '%s --help')", cmd.CommandPath(), err.Error(), cmd.CommandPath())
				}
				return nil
			}
		}
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				a.entered = true
				return run(cmd, args)
			}
		} else if run := c.Run; run != nil {
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				a.entered = true
				run(cmd, args)
				return nil
			}
		}
	}
	for _, sub := range c.Commands() {
		a.prepare(sub)
	}
}
