package cli

import (
	"io/fs"
	"strconv"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/postgres"
	"github.com/seatwise/seatwise/internal/store/sqlite"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
	"github.com/spf13/cobra"
)

// MigrateResult is what seatwise migrate reports.
type MigrateResult struct {
	Database      string `json:"database"` // URL without password
	Kind          string `json:"kind"`     // sqlite or postgres
	SchemaVersion int64  `json:"schema_version"`
	Migration     string `json:"migration"` // file name of the newest migration
}

// latestMigration returns the newest migration embedded for a database kind.
// db.Migrate applies every embedded migration or fails (also when the
// database is newer than this binary), so after it succeeds the database is
// at exactly this version.
func latestMigration(kind db.Kind) (sqlstore.Migration, error) {
	var fsys fs.FS
	switch kind {
	case db.SQLite:
		fsys = sqlite.Migrations()
	case db.Postgres:
		fsys = postgres.Migrations()
	default:
		return sqlstore.Migration{}, sam.Errorf(sam.EINTERNAL, "no migrations for database kind %q", kind)
	}
	ms, err := sqlstore.LoadMigrations(fsys)
	if err != nil {
		return sqlstore.Migration{}, sam.Wrap(sam.EINTERNAL, err, "reading embedded migrations")
	}
	if len(ms) == 0 {
		return sqlstore.Migration{}, sam.Errorf(sam.EINTERNAL, "no embedded migrations for %s", kind)
	}
	return ms[len(ms)-1], nil
}

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "migrate",
			Short: "Create or upgrade the database schema (--database URL) and print its version",
			Long: "migrate applies the schema migrations the database has not applied yet, each in its own\n" +
				"transaction, and prints the schema version. Running it again changes nothing. Several\n" +
				"instances may migrate at once. A database migrated by a newer seatwise is refused.\n" +
				"Every command that opens the database also migrates it; this command does it alone,\n" +
				"e.g. before starting new instances.",
			Args: cobra.NoArgs,
		}
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			url := a.Config().DatabaseURL
			kind, _, err := db.Parse(url)
			if err != nil {
				return err
			}
			latest, err := latestMigration(kind)
			if err != nil {
				return err
			}
			a.Logger.Debug("migrating database", "database", db.Redact(url))
			if err := db.Migrate(cmd.Context(), url); err != nil {
				return err
			}
			r := MigrateResult{Database: db.Redact(url), Kind: string(kind), SchemaVersion: latest.Version, Migration: latest.Name}
			a.Logger.Debug("database migrated", "database", r.Database, "schema_version", r.SchemaVersion)
			return WriteRecord(a.Stdout, f, r,
				Field{"database", r.Database},
				Field{"kind", r.Kind},
				Field{"schema_version", strconv.FormatInt(r.SchemaVersion, 10)},
				Field{"migration", r.Migration},
			)
		}
		return cmd
	})
}
