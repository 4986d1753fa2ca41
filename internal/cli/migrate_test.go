package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
)

func TestMigrate(t *testing.T) {
	latestSQLite, err := latestMigration(db.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	latestPostgres, err := latestMigration(db.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if latestSQLite.Version < 1 || latestPostgres.Version < 1 {
		t.Fatalf("latest migrations %+v %+v", latestSQLite, latestPostgres)
	}
	tests := []struct {
		name   string
		url    func(t *testing.T) string
		kind   string
		latest int64
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "s.db") }, "sqlite", latestSQLite.Version},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }, "postgres", latestPostgres.Version},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url(t)
			for round := 0; round < 2; round++ { // the second run is a no-op
				stdout, stderr, code := runCLI(t, nil, "migrate", "--database", url, "-o", "json")
				if code != 0 {
					t.Fatalf("round %d: exit %d: %s", round, code, stderr)
				}
				var r MigrateResult
				if err := json.Unmarshal([]byte(stdout), &r); err != nil {
					t.Fatalf("%v: %s", err, stdout)
				}
				if r.SchemaVersion != tt.latest || r.Kind != tt.kind || r.Migration == "" {
					t.Errorf("round %d: %+v", round, r)
				}
				if _, err := os.Stat(strings.TrimPrefix(url, "sqlite://")); tt.kind == "sqlite" && err != nil {
					t.Errorf("database file: %v", err)
				}
			}
			// The store opens on the migrated database.
			st, err := db.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
		})
	}
	t.Run("table output and environment", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "env.db")
		stdout, stderr, code := runCLI(t, map[string]string{"SEATWISE_DATABASE": "sqlite://" + path}, "migrate")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "schema version:") || !strings.Contains(stdout, latestSQLite.Name) {
			t.Errorf("stdout %q", stdout)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database file not created: %v", err)
		}
	})
}

func TestMigrateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unsupported URL", []string{"migrate", "--database", "mysql://root:hunter2@h/db"}, sam.ExitUsage, "unsupported database URL"},
		{"unreachable server", []string{"migrate", "--database", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=5"}, sam.ExitUnavailable, "127.0.0.1"},
		{"arguments", []string{"migrate", "now"}, sam.ExitUsage, `unknown command "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, "seatwise: ") {
				t.Errorf("exit %d stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
			if strings.Contains(stderr+stdout, "hunter2") {
				t.Errorf("password shown: %q", stderr)
			}
		})
	}
}
