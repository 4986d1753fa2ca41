package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/transfer"
	"github.com/spf13/cobra"
)

// RestoreResult is what seatwise restore reports.
type RestoreResult struct {
	File          string `json:"file"`
	Database      string `json:"database"` // URL without password
	BackupVersion int64  `json:"backup_schema_version"`
	SchemaVersion int64  `json:"schema_version"` // after upgrading the backup's copy
	Rows          int64  `json:"rows"`
	// Secrets and SecretsReadable count the profiles' sealed secrets and
	// those the configured secret key opens; SecretsReadable is -1 when no
	// key is configured (none was created).
	Secrets         int `json:"secrets"`
	SecretsReadable int `json:"secrets_readable"`
}

func init() {
	register(func(a *App) *cobra.Command {
		var force bool
		cmd := &cobra.Command{
			Use:   "restore FILE",
			Short: "Restore a backup file (seatwise backup) into the database (--database)",
			Long: "restore copies the backup FILE into the configured database, SQLite or PostgreSQL: it takes a\n" +
				"private copy of FILE, upgrades that copy's schema when it was written by an older seatwise (a backup\n" +
				"from a newer seatwise is refused), migrates the database and copies every table into it in one\n" +
				"transaction. A database that already holds data is refused unless --force, which replaces all of\n" +
				"its contents. Stop seatwise serve on that database first.\n\n" +
				"Profiles' secrets are restored sealed: they open only with the secret key that sealed them\n" +
				"(seatwise.key or SEATWISE_SECRET_KEY). restore counts the secrets the configured key opens; without\n" +
				"that key the secrets are lost and each profile needs its secret again (seatwise profile edit or connect).",
			Args: cobra.ExactArgs(1),
		}
		cmd.Flags().BoolVar(&force, "force", false, "replace the contents of a database that holds data")
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			res, err := a.restore(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			readable := strconv.Itoa(res.SecretsReadable)
			if res.SecretsReadable < 0 {
				readable = "unknown: no secret key configured"
			}
			return WriteRecord(a.Stdout, f, res,
				Field{"file", res.File},
				Field{"database", res.Database},
				Field{"backup_schema_version", strconv.FormatInt(res.BackupVersion, 10)},
				Field{"schema_version", strconv.FormatInt(res.SchemaVersion, 10)},
				Field{"rows", strconv.FormatInt(res.Rows, 10)},
				Field{"secrets", strconv.Itoa(res.Secrets)},
				Field{"secrets_readable", readable},
			)
		}
		return cmd
	})
}

func (a *App) restore(ctx context.Context, file string, force bool) (*RestoreResult, error) {
	cfg := a.Config()
	kind, target, err := db.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	backupVersion, err := transfer.CheckFile(ctx, file)
	if err != nil {
		return nil, err
	}
	// The copy is upgraded, never the backup itself. It goes beside a SQLite
	// target (same file system, same protection), else in the temporary
	// directory.
	dir := os.TempDir()
	if kind == db.SQLite && target != ":memory:" {
		dir = filepath.Dir(target)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, sam.Wrap(sam.EUNAVAILABLE, err, "create the database directory %s", dir)
		}
	}
	tmp, err := transfer.TempCopy(ctx, file, dir)
	if err != nil {
		return nil, err
	}
	defer transfer.RemoveFile(tmp)
	if err := db.Migrate(ctx, "sqlite://"+tmp); err != nil {
		return nil, sam.Wrap(sam.ErrorCode(err), err, "backup %s", file)
	}
	if err := db.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	a.Logger.Info("restoring", "file", file, "database", cfg.DatabaseURLRedacted(), "backup_schema_version", backupVersion, "replace", force)
	copied, err := transfer.Copy(ctx, "sqlite://"+tmp, cfg.DatabaseURL, transfer.Options{Replace: force, Progress: func(table string, rows int64, done bool) {
		if done {
			a.Logger.Debug("table restored", "table", table, "rows", rows)
		}
	}})
	if sam.ErrorCode(err) == sam.ECONFLICT {
		return nil, sam.Errorf(sam.ECONFLICT, "the database %s already holds data: restore into a new database, or pass --force to replace everything in it", cfg.DatabaseURLRedacted())
	}
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{File: file, Database: cfg.DatabaseURLRedacted(), BackupVersion: backupVersion,
		SchemaVersion: copied.SchemaVersion, Rows: copied.Rows}
	res.Secrets, res.SecretsReadable, err = a.readableSecrets(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case res.SecretsReadable < 0 && res.Secrets > 0:
		a.Logger.Warn("no secret key is configured: the restored profiles' secrets open only with the key that sealed them; restore that key (seatwise.key or SEATWISE_SECRET_KEY) or give each profile its secret again", "secrets", res.Secrets)
	case res.SecretsReadable < res.Secrets:
		a.Logger.Warn("the configured secret key does not open some restored secrets: restore the key that sealed them, or give those profiles their secret again", "secrets", res.Secrets, "readable", res.SecretsReadable)
	}
	a.Logger.Info("restored", "database", res.Database, "rows", res.Rows, "schema_version", res.SchemaVersion)
	return res, nil
}

// readableSecrets counts the stored secrets and those the configured key
// opens; readable is -1 when no key is configured (the key file does not
// exist), in which case none is created.
func (a *App) readableSecrets(ctx context.Context) (total, readable int, err error) {
	cfg := a.Config()
	st, err := a.OpenStore(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	secrets, err := st.SealedSecrets(ctx)
	if err != nil {
		return 0, 0, err
	}
	if cfg.SecretKey() == "" {
		if _, err := os.Stat(cfg.SecretKeyFile); err != nil {
			return len(secrets), -1, nil
		}
	}
	kr, err := a.Keyring()
	if err != nil {
		return 0, 0, err
	}
	for _, s := range secrets {
		if p, err := kr.Open(s.Secret); err == nil {
			clear(p)
			readable++
		}
	}
	return len(secrets), readable, nil
}
