package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() { register(newUserCmd) }

func newUserCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the local accounts of seatwise serve"}
	cmd.AddCommand(newUserAdd(a), newUserList(a), newUserDisable(a), newUserReset(a))
	return cmd
}

// UserRecord is a user in command output; it never holds the password hash.
type UserRecord struct {
	Name               string `json:"name"`
	Role               string `json:"role"`
	Disabled           bool   `json:"disabled"`
	MustChangePassword bool   `json:"must_change_password"`
	Locked             bool   `json:"locked"`
	LastLogin          string `json:"last_login,omitempty"`
}

func newUserRecord(u *store.User, now time.Time) UserRecord {
	r := UserRecord{Name: u.Name, Role: u.Role, Disabled: u.Disabled, MustChangePassword: u.MustChangePassword, Locked: u.LockedUntil.After(now)}
	if !u.LastLogin.IsZero() {
		r.LastLogin = u.LastLogin.UTC().Format("2006-01-02T15:04:05Z")
	}
	return r
}

func newUserAdd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user with a one-time password (printed once; changed at first sign-in)",
		Args:  cobra.ExactArgs(1),
	}
	role := cmd.Flags().String("role", "viewer", "role: admin, sam_integrator, sam_manager or viewer")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		r, err := auth.ParseRole(*role)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		pw := auth.GeneratePassword()
		if _, err := auth.NewService(st).CreateUser(ctx, args[0], r, pw, true); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "User %s (%s) added with the one-time password %s\nIt must be changed at the first sign-in and is not shown again.\n", args[0], r, pw)
		return nil
	}
	return cmd
}

func newUserList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs}
	format := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		p := NewPrinter(a.Stdout, f, "name", "role", "disabled", "must_change_password", "locked", "last_login")
		for _, u := range users {
			rec := newUserRecord(u, time.Now())
			if err := p.Row(rec, rec.Name, rec.Role, fmt.Sprint(rec.Disabled), fmt.Sprint(rec.MustChangePassword), fmt.Sprint(rec.Locked), rec.LastLogin); err != nil {
				return err
			}
		}
		return p.Close()
	}
	return cmd
}

func newUserDisable(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disable NAME",
		Short: "Disable a user (its sessions end at once); --enable turns it back on",
		Args:  cobra.ExactArgs(1),
	}
	enable := cmd.Flags().Bool("enable", false, "enable the user instead")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if _, err := auth.NewService(st).SetDisabled(ctx, args[0], !*enable); err != nil {
			return err
		}
		state := "disabled"
		if *enable {
			state = "enabled"
		}
		fmt.Fprintf(a.Stdout, "User %s %s.\n", args[0], state)
		return nil
	}
	return cmd
}

func newUserReset(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reset-password NAME",
		Short: "Give a user a new one-time password (printed once), unlock it and end its sessions",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, err := a.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		pw, err := auth.NewService(st).ResetPassword(ctx, args[0])
		if err != nil {
			if sam.IsCode(err, sam.ENOTFOUND) {
				return sam.Errorf(sam.ENOTFOUND, "user %q not found (see seatwise user list)", strings.TrimSpace(args[0]))
			}
			return err
		}
		fmt.Fprintf(a.Stdout, "New one-time password of %s: %s\nIt must be changed at the next sign-in and is not shown again.\n", args[0], pw)
		return nil
	}
	return cmd
}
