package cli

import (
	"strconv"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/transfer"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		var from, to string
		var batch int
		cmd := &cobra.Command{
			Use:   "migrate-data --from URL --to URL",
			Short: "Copy every table of one database into a new, empty one (e.g. SQLite to PostgreSQL)",
			Long: "migrate-data moves Seatwise to another database: it migrates both databases to this seatwise's schema,\n" +
				"then copies every table (found in the source's schema, parents before children) from one consistent\n" +
				"snapshot of the source into the target in one transaction, checks that each table has as many rows\n" +
				"in the target as in the source, and moves PostgreSQL's key sequences past the copied keys. A target\n" +
				"that holds any row is refused; a failed copy leaves it empty. Stop seatwise serve and scheduled\n" +
				"syncs first: what they write after the snapshot is not copied. Sealed secrets are copied as they\n" +
				"are, so the new database needs the same secret key.\n\n" +
				"  seatwise migrate-data --from sqlite:///var/lib/seatwise/seatwise.db --to postgres://seatwise@db/seatwise",
			Args: cobra.NoArgs,
		}
		cmd.Flags().StringVar(&from, "from", "", "database URL to copy from (required)")
		cmd.Flags().StringVar(&to, "to", "", "database URL to copy into; must be empty (required)")
		cmd.Flags().IntVar(&batch, "batch-rows", transfer.DefaultBatchRows, "rows written per INSERT")
		cmd.MarkFlagRequired("from") //nolint:errcheck // the flag exists
		cmd.MarkFlagRequired("to")   //nolint:errcheck // the flag exists
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			if batch <= 0 {
				return sam.Errorf(sam.EINVALID, "--batch-rows must be positive, not %d", batch)
			}
			ctx := cmd.Context()
			for _, u := range []string{from, to} {
				if _, _, err := db.Parse(u); err != nil {
					return err
				}
			}
			if err := db.Migrate(ctx, from); err != nil {
				return sam.Wrap(sam.ErrorCode(err), err, "migrate the source %s", db.Redact(from))
			}
			if err := db.Migrate(ctx, to); err != nil {
				return sam.Wrap(sam.ErrorCode(err), err, "migrate the target %s", db.Redact(to))
			}
			log := a.Logger
			res, err := transfer.Copy(ctx, from, to, transfer.Options{BatchRows: batch, Progress: func(table string, rows int64, done bool) {
				if done {
					log.Debug("table copied", "table", table, "rows", rows)
				} else {
					log.Debug("copying", "table", table, "rows", rows)
				}
			}})
			if err != nil {
				return err
			}
			log.Info("database copied", "from", db.Redact(from), "to", db.Redact(to), "tables", len(res.Tables), "rows", res.Rows, "schema_version", res.SchemaVersion)
			p := NewPrinter(a.Stdout, f, "table", "rows")
			for _, t := range res.Tables {
				if err := p.Row(t, t.Table, strconv.FormatInt(t.Rows, 10)); err != nil {
					return err
				}
			}
			return p.Close()
		}
		return cmd
	})
}
