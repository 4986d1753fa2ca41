package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/transfer"
)

// withDB returns a copy of e using another database (and the same key).
func (e *cliEnv) withDB(dbURL string, drop ...string) *cliEnv {
	vars := map[string]string{}
	for k, v := range e.vars {
		if !slices.Contains(drop, k) {
			vars[k] = v
		}
	}
	vars["SEATWISE_DATABASE"] = dbURL
	return &cliEnv{t: e.t, dir: e.dir, vars: vars}
}

// reports is what the round trips must preserve: the usage report, the
// licence position, entitlements, profiles, users of one model.
func (e *cliEnv) reports(day, model string) string {
	e.t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"report", "usage", "-o", "json"},
		{"report", "position", "--as-of", day, "-o", "json"},
		{"report", "users", "--model", model, "-o", "json"},
		{"entitlements", "list", "-o", "json"},
		{"profile", "list", "-o", "json"},
		{"user", "list", "-o", "json"},
	} {
		fmt.Fprintf(&b, "$ seatwise %s\n%s\n", strings.Join(args, " "), e.ok("", args...))
	}
	return b.String()
}

// TestBackupRestoreMigrateData fills a SQLite database through the real
// pipeline (simulated tenant, sync, entitlements, reconciliation, users,
// serve), backs it up while serve runs, restores it into a fresh directory,
// copies it to PostgreSQL and back, and checks that every report and every
// row of every table survive.
func TestBackupRestoreMigrateData(t *testing.T) {
	e := newCLIEnv(t)
	srv := simProfile(t, e, mscloud.Config{Seed: 11, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 11, Users: 150, Environments: 1}}}})
	now := srv.Tenant().Now()
	day := now.UTC().Format(time.DateOnly)
	e.ok("", "sync", "--profile", "sim", "--now", now.Format(time.RFC3339Nano))
	e.ok("", "entitlements", "suggest", "--accept", "--as-of", day, "--currency", "EUR")
	e.ok("", "reconcile", "--profile", "sim", "--as-of", day)
	var usage []UsageRow
	if err := json.Unmarshal([]byte(e.ok("", "report", "usage", "-o", "json")), &usage); err != nil || len(usage) == 0 {
		t.Fatalf("usage report: %v %v", usage, err)
	}
	model := usage[0].SKUID

	dbPath := filepath.Join(e.dir, "seatwise.db")
	sqliteURL := "sqlite://" + dbPath
	base, serveOut, stop := startServe(t, sqliteURL, "--no-jobs") // no job may write after the backup
	port := base[strings.LastIndex(base, ":")+1:]
	// A signed-in session, so that the sessions table has a row too.
	m := oneTimeRe.FindStringSubmatch(serveOut.String())
	if m == nil {
		t.Fatalf("no one-time password in %q", serveOut.String())
	}
	body, _ := json.Marshal(map[string]string{"name": "admin", "password": m[1]})
	resp, err := http.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	e.ok("", "user", "add", "auditor", "--role", "viewer")
	e.ok("", "healthcheck", "--listen", "127.0.0.1:"+port)
	e.ok("", "healthcheck", "--listen", ":"+port, "--path", "/readyz")
	want := e.reports(day, model)

	// Backup while serve runs.
	backup := filepath.Join(t.TempDir(), "backup.db")
	var br transfer.BackupResult
	if err := json.Unmarshal([]byte(e.ok("", "backup", backup, "-o", "json")), &br); err != nil {
		t.Fatal(err)
	}
	if br.Bytes == 0 || br.SchemaVersion == 0 || br.Source != "sqlite" {
		t.Errorf("backup result %+v", br)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v %v, want mode 0600", st, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(backup + suffix); err == nil {
			t.Errorf("backup left %s beside the file", suffix)
		}
	}
	if _, errs, code := e.run("", "backup", backup); code != sam.ExitUsage || !strings.Contains(errs, "--force") {
		t.Errorf("backup over an existing file: exit %d %s", code, errs)
	}
	e.ok("", "backup", backup, "--force")
	stop()
	if _, errs, code := e.run("", "healthcheck", "--listen", "127.0.0.1:"+port, "--timeout", "1s"); code != sam.ExitUnavailable {
		t.Errorf("healthcheck of a stopped server: exit %d %s", code, errs)
	}
	// serve added its admin since the reports were taken.
	want = e.reports(day, model)

	// Restore into a fresh directory, with the same key.
	fresh := e.withDB("sqlite://" + filepath.Join(t.TempDir(), "restored", "seatwise.db"))
	var rr RestoreResult
	if err := json.Unmarshal([]byte(fresh.ok("", "restore", backup, "-o", "json")), &rr); err != nil {
		t.Fatal(err)
	}
	if rr.Secrets == 0 || rr.SecretsReadable != rr.Secrets || rr.Rows == 0 || rr.SchemaVersion != br.SchemaVersion {
		t.Errorf("restore result %+v", rr)
	}
	if got := fresh.reports(day, model); got != want {
		t.Errorf("reports after backup and restore differ:\n%s", diffLines(want, got))
	}
	if _, errs, code := fresh.run("", "restore", backup); code != sam.ExitConflict || !strings.Contains(errs, "--force") {
		t.Errorf("restore over data: exit %d %s", code, errs)
	}
	fresh.ok("", "user", "add", "extra")
	fresh.ok("", "restore", backup, "--force")
	if got := fresh.reports(day, model); got != want {
		t.Errorf("reports after restore --force differ:\n%s", diffLines(want, got))
	}

	// Restore into PostgreSQL.
	pgRestored := e.withDB(pgtest.URL(t))
	pgRestored.ok("", "restore", backup)
	if got := pgRestored.reports(day, model); got != want {
		t.Errorf("reports after restore into PostgreSQL differ:\n%s", diffLines(want, got))
	}

	// Without the key the secrets are reported unreadable, and no key is made.
	keyless := t.TempDir()
	nokey := e.withDB("sqlite://"+filepath.Join(keyless, "seatwise.db"), "SEATWISE_SECRET_KEY")
	out := nokey.ok("", "restore", backup, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rr); err != nil || rr.SecretsReadable != -1 || rr.Secrets == 0 {
		t.Errorf("restore without key: %+v %v", rr, err)
	}
	if _, err := os.Stat(filepath.Join(keyless, "seatwise.key")); err == nil {
		t.Error("restore created a new secret key")
	}

	// SQLite -> PostgreSQL.
	pgURL := pgtest.URL(t)
	var copied []transfer.TableCount
	if err := json.Unmarshal([]byte(e.ok("", "migrate-data", "--from", sqliteURL, "--to", pgURL, "-o", "json")), &copied); err != nil {
		t.Fatal(err)
	}
	pg := e.withDB(pgURL)
	if got := pg.reports(day, model); got != want {
		t.Errorf("reports after migrate-data to PostgreSQL differ:\n%s", diffLines(want, got))
	}
	if _, errs, code := e.run("", "migrate-data", "--from", sqliteURL, "--to", pgURL); code != sam.ExitConflict {
		t.Errorf("migrate-data into a database with data: exit %d %s", code, errs)
	}
	// Every table was copied: the copy names each table of the schema.
	tables := sqliteTables(t, dbPath)
	var names []string
	for _, c := range copied {
		names = append(names, c.Table)
		if c.Rows == 0 {
			t.Logf("table %s is empty in this test's database", c.Table)
		}
	}
	slices.Sort(names)
	if strings.Join(names, " ") != strings.Join(tables, " ") {
		t.Errorf("migrate-data copied tables %v; the schema has %v", names, tables)
	}
	// New rows get new keys after the copy (sequences moved on).
	pg.ok("", "user", "add", "after-copy")

	// PostgreSQL -> SQLite (backup of a PostgreSQL database): every row of
	// every table equals the original after the two conversions.
	pgBackup := filepath.Join(t.TempDir(), "pg.db")
	pg.ok("", "backup", pgBackup)
	orig, back := dumpSQLite(t, dbPath), dumpSQLite(t, pgBackup)
	for _, table := range tables {
		o, b := orig[table], back[table]
		if table == "users" || table == "audit_log" {
			continue // after-copy was added on PostgreSQL
		}
		if strings.Join(o, "\n") != strings.Join(b, "\n") {
			t.Errorf("table %s differs after SQLite -> PostgreSQL -> SQLite:\n%s", table, diffLines(strings.Join(o, "\n"), strings.Join(b, "\n")))
		}
	}
	if len(back["users"]) != len(orig["users"])+1 {
		t.Errorf("users: %d after the round trip, want %d", len(back["users"]), len(orig["users"])+1)
	}
}

// TestNewerDatabaseRefused: a binary older than the database exits
// non-zero naming both schema versions, for every command that opens it.
func TestNewerDatabaseRefused(t *testing.T) {
	e := newCLIEnv(t)
	e.ok("", "migrate")
	dbPath := filepath.Join(e.dir, "seatwise.db")
	conn, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '2030-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	latest, err := latestMigration("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("database schema version 9999 is newer than this seatwise (max %d)", latest.Version)
	for _, args := range [][]string{{"migrate"}, {"report", "usage"}, {"serve", "--listen", "127.0.0.1:0"}, {"migrate-data", "--from", "sqlite://" + dbPath, "--to", "sqlite://" + filepath.Join(e.dir, "new.db")}} {
		_, errs, code := e.run("", args...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("seatwise %s on a newer database: exit %d, %q; want non-zero and %q", strings.Join(args, " "), code, errs, want)
		}
	}
	// A backup is a copy of the file: it works on any version. Restoring a
	// backup from a newer seatwise is refused like opening the database.
	backup := filepath.Join(t.TempDir(), "future.db")
	if err := transfer.Snapshot(context.Background(), dbPath, backup); err != nil {
		t.Fatal(err)
	}
	fresh := e.withDB("sqlite://" + filepath.Join(t.TempDir(), "x.db"))
	if _, errs, code := fresh.run("", "restore", backup); code == 0 || !strings.Contains(errs, want) {
		t.Errorf("restore of a newer backup: exit %d %s", code, errs)
	}
}

// sqliteTables lists the data tables of a SQLite file, sorted.
func sqliteTables(t *testing.T, path string) []string {
	t.Helper()
	conn, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// dumpSQLite returns every row of every table as sorted text lines.
func dumpSQLite(t *testing.T, path string) map[string][]string {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&"+url.Values{"_pragma": {"query_only(1)"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := map[string][]string{}
	for _, table := range sqliteTables(t, path) {
		rows, err := conn.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = fmt.Sprintf("x%x", bs)
				}
				fmt.Fprintf(&b, "%s=%v|", cols[i], v)
			}
			out[table] = append(out[table], b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
			n++
		}
	}
	return b.String()
}
