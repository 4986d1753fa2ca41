package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/seatwise/seatwise/internal/sam"
)

// checkKnownVersions fails with EINVALID, naming both versions, when the
// database records a migration this binary does not have: one newer than
// its newest (an older seatwise on an upgraded database), or one between
// its versions (a database migrated by a different build). Migrations only
// move forward, so running on such a schema could damage it.
func checkKnownVersions(ctx context.Context, tx *sql.Tx, ms []Migration) error {
	known := make(map[int64]bool, len(ms))
	var maxKnown int64
	for _, m := range ms {
		known[m.Version] = true
		maxKnown = max(maxKnown, m.Version)
	}
	rows, err := tx.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version DESC`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if v > maxKnown {
			return sam.Errorf(sam.EINVALID, "database schema version %d is newer than this seatwise (max %d); upgrade seatwise", v, maxKnown)
		}
		if !known[v] {
			return sam.Errorf(sam.EINVALID, "database schema has migration %d (%s), which this seatwise (schema version %d) does not have: the database was migrated by a different seatwise build; run that build, or restore a backup taken before", v, name, maxKnown)
		}
	}
	return rows.Err()
}
