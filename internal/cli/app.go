// Package cli is the seatwise command line: one file per command, each
// registering a constructor with register. main only builds an App and calls
// Run, so every command can be exercised in tests with its own streams and
// environment.
//
// Conventions for commands:
//   - return errors, never print them: Run prints one line
//     "seatwise: <message>" and exits with sam.ExitCode(err);
//   - classify errors with sam codes; flag and argument errors are EINVALID
//     (exit 2) automatically;
//   - use a.Config(), a.Keyring(), a.OpenStore(ctx) and a.Logger, set up by
//     Run before the command runs; never read the environment directly;
//   - print results with the helpers of output.go (--output table|json|csv).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

// App is one invocation of the seatwise command line.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env looks up environment variables; nil means the process
	// environment. Tests set it to run commands in isolation.
	Env func(name string) (string, bool)
	// Logger is configured once, from the global flags, before a command
	// runs (writing to Stderr). A Logger set by the caller is kept.
	Logger *slog.Logger

	cfg         *config.Config
	keyringOnce sync.Once
	keyring     *secret.Keyring
	keyringErr  error
	entered     bool // the command's RunE started: later errors are the command's own
}

// commands are the constructors of the top-level commands, in registration order.
var commands []func(a *App) *cobra.Command

// register adds a top-level command; each command file calls it from init.
func register(newCmd func(a *App) *cobra.Command) { commands = append(commands, newCmd) }

// annotationNoConfig marks commands that run without loading the
// configuration (version, help), so that a broken configuration does not
// prevent them.
const annotationNoConfig = "seatwise/no-config"

// Config returns the configuration loaded before the command ran. It is nil
// only for commands that run without configuration (version).
func (a *App) Config() *config.Config { return a.cfg }

// Keyring returns the keyring that seals stored secrets, loading it on first
// use (which creates the key file when there is none; see config.Config.Keyring).
func (a *App) Keyring() (*secret.Keyring, error) {
	a.keyringOnce.Do(func() {
		if a.cfg == nil {
			a.keyringErr = sam.Errorf(sam.EINTERNAL, "keyring requested before the configuration was loaded")
			return
		}
		a.keyring, a.keyringErr = a.cfg.Keyring()
	})
	return a.keyring, a.keyringErr
}

// OpenStore opens (and migrates) the configured database. The caller closes
// the store.
func (a *App) OpenStore(ctx context.Context) (store.Store, error) {
	if a.cfg == nil {
		return nil, sam.Errorf(sam.EINTERNAL, "store requested before the configuration was loaded")
	}
	a.Logger.Debug("opening database", "database", a.cfg.DatabaseURLRedacted())
	return db.Open(ctx, a.cfg.DatabaseURL)
}

func (a *App) env() func(string) (string, bool) {
	if a.Env != nil {
		return a.Env
	}
	return config.LookupEnv
}

// Run executes the command line args (without the program name) and returns
// the process exit code (sam.ExitCode of the command's error). An error is
// printed to Stderr as one line, "seatwise: <message>"; errors raised by
// cobra before the command starts (unknown command, missing required flag)
// are usage errors (EINVALID, exit 2).
func (a *App) Run(ctx context.Context, args []string) int {
	if a.Stdin == nil {
		a.Stdin = strings.NewReader("")
	}
	if a.Stdout == nil {
		a.Stdout = io.Discard
	}
	if a.Stderr == nil {
		a.Stderr = io.Discard
	}
	root := a.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return sam.ExitOK
	}
	if _, ok := errors.AsType[*sam.Error](err); !ok && !a.entered {
		err = sam.Errorf(sam.EINVALID, "%s", err.Error())
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) && sam.ErrorCode(err) == sam.EINTERNAL {
		err = sam.Wrap(sam.EUNAVAILABLE, err, "interrupted")
	}
	fmt.Fprintf(a.Stderr, "seatwise: %s\n", oneLine(err.Error()))
	return sam.ExitCode(err)
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
