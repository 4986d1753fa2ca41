package cli

import (
	"strconv"

	"github.com/seatwise/seatwise/internal/store/transfer"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		var force bool
		cmd := &cobra.Command{
			Use:   "backup FILE",
			Short: "Write a consistent backup of the database (--database) into a new SQLite file",
			Long: "backup copies the configured database into FILE, a single SQLite file, while seatwise serve keeps\n" +
				"running: a SQLite database is copied from one snapshot with VACUUM INTO; a PostgreSQL database is\n" +
				"copied table by table from one REPEATABLE READ snapshot (for large PostgreSQL databases prefer\n" +
				"pg_dump, see docs/operations.md). The file is written under a temporary name, checked, and renamed\n" +
				"into place with mode 0600. seatwise restore reads it back into SQLite or PostgreSQL.\n\n" +
				"The backup holds profiles' secrets sealed with the secret key, not the key itself: keep the key\n" +
				"(seatwise.key or SEATWISE_SECRET_KEY) in a separate safe place. Without it the secrets cannot be\n" +
				"opened after a restore and every profile must be given its secret again.",
			Args: cobra.ExactArgs(1),
		}
		cmd.Flags().BoolVar(&force, "force", false, "replace FILE when it exists")
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			cfg := a.Config()
			a.Logger.Debug("backing up", "database", cfg.DatabaseURLRedacted(), "file", args[0])
			res, err := transfer.Backup(cmd.Context(), cfg.DatabaseURL, args[0], force)
			if err != nil {
				return err
			}
			a.Logger.Info("backup written", "file", res.File, "bytes", res.Bytes, "schema_version", res.SchemaVersion)
			return WriteRecord(a.Stdout, f, res,
				Field{"file", res.File},
				Field{"bytes", strconv.FormatInt(res.Bytes, 10)},
				Field{"schema_version", strconv.FormatInt(res.SchemaVersion, 10)},
				Field{"source", res.Source},
			)
		}
		return cmd
	})
}
