package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/spf13/pflag"
)

// envOf returns an environment holding exactly vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func write(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, envOf(map[string]string{"HOME": "/home/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != DefaultDatabaseURL || c.LogLevel != slog.LevelInfo || c.LogFormat != "text" || c.SecretKey() != "" || c.File != "" {
		t.Errorf("defaults: %+v", c)
	}
	if c.SecretKeyFile != "seatwise.key" {
		t.Errorf("key file %q, want seatwise.key beside ./seatwise.db", c.SecretKeyFile)
	}
	if c.Source(OptDatabase) != "default" {
		t.Errorf("source %q", c.Source(OptDatabase))
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "seatwise.conf", "# settings\ndatabase = sqlite:///file.db\nlog_level = \"warn\"\n\nlog_format=json\n", 0o644)
	dbFile := write(t, dir, "db-url", "postgres://u:pw@dbhost/seatwise\n", 0o600)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantDB    string
		wantSrc   string
		wantLevel slog.Level
		wantFmt   string
	}{
		{"file only", []string{"--config", file}, nil, "sqlite:///file.db", "file " + file + ":2", slog.LevelWarn, "json"},
		{"config from env", nil, map[string]string{"SEATWISE_CONFIG": file}, "sqlite:///file.db", "file " + file + ":2", slog.LevelWarn, "json"},
		{"env beats file", []string{"--config", file}, map[string]string{"SEATWISE_DATABASE": "sqlite:///env.db", "SEATWISE_LOG_LEVEL": "DEBUG"}, "sqlite:///env.db", "env SEATWISE_DATABASE", slog.LevelDebug, "json"},
		{"flag beats env", []string{"--config", file, "--database", "sqlite:///flag.db", "--log-format", "text"}, map[string]string{"SEATWISE_DATABASE": "sqlite:///env.db"}, "sqlite:///flag.db", "flag --database", slog.LevelWarn, "text"},
		{"_FILE variant", nil, map[string]string{"SEATWISE_DATABASE_FILE": dbFile}, "postgres://u:pw@dbhost/seatwise", "env SEATWISE_DATABASE_FILE", slog.LevelInfo, "text"},
		{"empty env is unset", nil, map[string]string{"SEATWISE_DATABASE": "", "SEATWISE_DATABASE_FILE": ""}, DefaultDatabaseURL, "default", slog.LevelInfo, "text"},
		{"flag equal to default still wins", []string{"--database", DefaultDatabaseURL}, map[string]string{"SEATWISE_DATABASE": "sqlite:///env.db"}, DefaultDatabaseURL, "flag --database", slog.LevelInfo, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.DatabaseURL != tt.wantDB || c.Source(OptDatabase) != tt.wantSrc || c.LogLevel != tt.wantLevel || c.LogFormat != tt.wantFmt {
				t.Errorf("got %s (%s) %v %s, want %s (%s) %v %s", c.DatabaseURL, c.Source(OptDatabase), c.LogLevel, c.LogFormat, tt.wantDB, tt.wantSrc, tt.wantLevel, tt.wantFmt)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	key := secret.EncodeKey(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		file     string
		fileMode os.FileMode
		want     string
		secret   string // must not appear in the message
	}{
		{name: "bad scheme", env: map[string]string{"SEATWISE_DATABASE": "mysql://x"}, want: "database (env SEATWISE_DATABASE): unsupported database URL mysql://x; accepted forms: sqlite://"},
		{name: "bad scheme hides credentials", env: map[string]string{"SEATWISE_DATABASE": "mysql://root:hunter2@x"}, want: "accepted forms", secret: "hunter2"},
		{name: "sqlite without file", args: []string{"--database", "sqlite://"}, want: "names no SQLite file"},
		{name: "log level", env: map[string]string{"SEATWISE_LOG_LEVEL": "verbose"}, want: `log_level "verbose" (env SEATWISE_LOG_LEVEL): want debug, info, warn or error`},
		{name: "log level offset", env: map[string]string{"SEATWISE_LOG_LEVEL": "info+2"}, want: "log_level"},
		{name: "log format", args: []string{"--log-format", "xml"}, want: `log_format "xml" (flag --log-format): want text or json`},
		{name: "both var and _FILE", env: map[string]string{"SEATWISE_DATABASE": "sqlite:///a.db", "SEATWISE_DATABASE_FILE": "/x"}, want: "both SEATWISE_DATABASE and SEATWISE_DATABASE_FILE are set"},
		{name: "missing _FILE", env: map[string]string{"SEATWISE_DATABASE_FILE": filepath.Join(dir, "nope")}, want: "SEATWISE_DATABASE_FILE: open"},
		{name: "missing config file", args: []string{"--config", filepath.Join(dir, "nope.conf")}, want: "configuration file (flag --config): open"},
		{name: "bad secret key", env: map[string]string{"SEATWISE_SECRET_KEY": "c2VjcmV0LXZhbHVl"}, want: "secret_key (env SEATWISE_SECRET_KEY): secret key is 12 bytes", secret: "c2VjcmV0LXZhbHVl"},
		{name: "unknown file option", file: "database = sqlite:///a.db\ncolour = red\n", want: `:2: unknown option "colour"`},
		{name: "line without =", file: "log_level debug\n", want: ":1: want name = value"},
		{name: "repeated option", file: "log_level = debug\n# x\nlog_level = info\n", want: ":3: log_level is set again (first on line 1)"},
		{name: "bad quoting", file: "log_level = \"debug\n", want: ":1: log_level: malformed quoted value"},
		{name: "secret in readable file", file: "secret_key = " + key + "\n", fileMode: 0o644, want: "sets secret_key but has mode 0644", secret: key},
		{name: "bad value in file", file: "log_format = yaml\n", want: `log_format "yaml" (file `},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				mode := tt.fileMode
				if mode == 0 {
					mode = 0o600
				}
				args = append(args, "--config", write(t, dir, "c"+string(rune('a'+i))+".conf", tt.file, mode))
			}
			_, err := Load(flags(t, args...), envOf(tt.env))
			if err == nil || !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want EINVALID containing %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestSecretKey(t *testing.T) {
	dir := t.TempDir()
	key := secret.EncodeKey(bytes.Repeat([]byte{9}, 32))
	t.Run("from env", func(t *testing.T) {
		c, err := Load(nil, envOf(map[string]string{"SEATWISE_SECRET_KEY": key}))
		if err != nil {
			t.Fatal(err)
		}
		if c.SecretKey() != key {
			t.Error("SecretKey not from env")
		}
		kr, err := c.Keyring()
		if err != nil || kr.KeyID() != secret.KeyID(bytes.Repeat([]byte{9}, 32)) {
			t.Fatalf("Keyring = %v, %v", kr, err)
		}
	})
	t.Run("from private config file", func(t *testing.T) {
		f := write(t, dir, "private.conf", "secret_key = "+key+"\n", 0o600)
		c, err := Load(flags(t, "--config", f), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.SecretKey() != key {
			t.Error("SecretKey not from file")
		}
	})
	t.Run("key file created on first Keyring call", func(t *testing.T) {
		db := filepath.Join(dir, "data", "seatwise.db")
		c, err := Load(flags(t, "--database", "sqlite://"+db), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, "data", KeyFileName)
		if c.SecretKeyFile != want {
			t.Fatalf("SecretKeyFile = %q, want %q", c.SecretKeyFile, want)
		}
		if _, err := os.Stat(want); !os.IsNotExist(err) {
			t.Fatal("Load created the key file; only Keyring may")
		}
		if _, err := c.Keyring(); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(want); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
	})
	t.Run("explicit key file", func(t *testing.T) {
		c, err := Load(nil, envOf(map[string]string{"SEATWISE_SECRET_KEY_FILE": "/run/secrets/k"}))
		if err != nil || c.SecretKeyFile != "/run/secrets/k" || c.Source(OptSecretKeyFile) != "env SEATWISE_SECRET_KEY_FILE" {
			t.Fatalf("%v %v", c, err)
		}
	})
}

func TestDefaultKeyFile(t *testing.T) {
	tests := []struct {
		db   string
		env  map[string]string
		want string
	}{
		{"sqlite://./seatwise.db", nil, "seatwise.key"},
		{"sqlite:///./seatwise.db", nil, "seatwise.key"},
		{"sqlite:///var/lib/seatwise/s.db?_pragma=busy_timeout(5000)", nil, "/var/lib/seatwise/seatwise.key"},
		{"sqlite://data/s.db", nil, "data/seatwise.key"},
		{"sqlite://:memory:", map[string]string{"HOME": "/home/a"}, "/home/a/.config/seatwise/seatwise.key"},
		{"postgres://h/db", map[string]string{"HOME": "/home/a", "XDG_CONFIG_HOME": "/xdg"}, "/xdg/seatwise/seatwise.key"},
		{"postgres://h/db", nil, ""},
	}
	for _, tt := range tests {
		if got := defaultKeyFile(tt.db, envOf(tt.env)); got != tt.want {
			t.Errorf("defaultKeyFile(%q) = %q, want %q", tt.db, got, tt.want)
		}
	}
}

func TestOptionsAreDocumented(t *testing.T) {
	fs := flags(t)
	seen := map[string]bool{}
	for _, o := range Options() {
		if seen[o.Name] {
			t.Errorf("option %s listed twice", o.Name)
		}
		seen[o.Name] = true
		if !strings.HasPrefix(o.Env, "SEATWISE_") || o.Doc == "" {
			t.Errorf("option %+v lacks env or doc", o)
		}
		if o.Secret && o.Flag != "" {
			t.Errorf("secret option %s has a flag", o.Name)
		}
		if o.Flag != "" && fs.Lookup(o.Flag) == nil {
			t.Errorf("flag --%s not defined", o.Flag)
		}
	}
	for _, name := range []string{OptConfig, OptDatabase, OptLogLevel, OptLogFormat, OptSecretKey, OptSecretKeyFile} {
		if !seen[name] {
			t.Errorf("option %s missing from Options", name)
		}
	}
}

func TestLogger(t *testing.T) {
	for _, tt := range []struct {
		format, level string
		want          string
		debugShown    bool
	}{
		{"json", "debug", `"msg":"hello"`, true},
		{"text", "warn", "msg=hello", false},
	} {
		c, err := Load(flags(t, "--log-format", tt.format, "--log-level", tt.level), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		l := c.NewLogger(&buf)
		l.Warn("hello")
		l.Debug("dbg")
		if !strings.Contains(buf.String(), tt.want) || strings.Contains(buf.String(), "dbg") != tt.debugShown {
			t.Errorf("%s/%s: %q", tt.format, tt.level, buf.String())
		}
	}
}

func TestRedactURL(t *testing.T) {
	c := &Config{DatabaseURL: "postgres://u:hunter2@h/db"}
	if got := c.DatabaseURLRedacted(); strings.Contains(got, "hunter2") || !strings.Contains(got, "u:xxxxx@h") {
		t.Errorf("redacted %q", got)
	}
	if got := RedactURL("sqlite://./a.db"); got != "sqlite://./a.db" {
		t.Errorf("redacted %q", got)
	}
}
