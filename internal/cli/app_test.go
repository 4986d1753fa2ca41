package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/spf13/cobra"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// runCLI runs the command line in-process with an environment holding only
// env (plus HOME in a temporary directory) and returns its outputs and exit
// code.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	vars := map[string]string{"HOME": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	var out, errb bytes.Buffer
	a := &App{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Env:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
	}
	code = a.Run(context.Background(), args)
	return out.String(), errb.String(), code
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		wantErr string
	}{
		{"unknown command", []string{"frobnicate"}, nil, sam.ExitUsage, `unknown command "frobnicate" for "seatwise"`},
		{"unknown subcommand", []string{"catalog", "frobnicate"}, nil, sam.ExitUsage, `unknown command "frobnicate" for "seatwise catalog"`},
		{"unknown flag", []string{"catalog", "list", "--colour"}, nil, sam.ExitUsage, "unknown flag: --colour"},
		{"unknown global flag", []string{"--colour", "version"}, nil, sam.ExitUsage, "unknown flag: --colour"},
		{"flag without value", []string{"catalog", "list", "--family"}, nil, sam.ExitUsage, "flag needs an argument"},
		{"too many args", []string{"catalog", "show", "a", "b"}, nil, sam.ExitUsage, "accepts 1 arg(s), received 2"},
		{"missing arg", []string{"catalog", "show"}, nil, sam.ExitUsage, "accepts 1 arg(s), received 0"},
		{"args to a command without", []string{"version", "extra"}, nil, sam.ExitUsage, `unknown command "extra" for "seatwise version"`},
		{"bad config value", []string{"catalog", "list"}, map[string]string{"SEATWISE_LOG_FORMAT": "xml"}, sam.ExitUsage, `log_format "xml" (env SEATWISE_LOG_FORMAT)`},
		{"bad database flag", []string{"--database", "mysql://x", "catalog", "list"}, nil, sam.ExitUsage, "database (flag --database): unsupported database URL mysql://x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.env, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.HasPrefix(stderr, "seatwise: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q, want one line 'seatwise: …%s…'", stderr, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"catalog"}, {"catalog", "--help"}, {}} {
		stdout, stderr, code := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%v: code %d stdout %q stderr %q", args, code, stdout, stderr)
		}
	}
	// Help works even with a broken configuration.
	if _, stderr, code := runCLI(t, map[string]string{"SEATWISE_LOG_LEVEL": "loud"}, "help"); code != 0 {
		t.Errorf("help with bad config: %d %q", code, stderr)
	}
}

func TestExitCodesOfCommandErrors(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{sam.Errorf(sam.ENOTFOUND, "no such thing"), sam.ExitNotFound},
		{sam.Errorf(sam.EUNAUTHORIZED, "token rejected"), sam.ExitAuth},
		{sam.Errorf(sam.EUNAVAILABLE, "database down\nretry later"), sam.ExitUnavailable},
		{errFake("a bug"), sam.ExitInternal},
	}
	for _, tt := range tests {
		commands = append(commands, func(a *App) *cobra.Command { return failing(tt.err) })
		_, stderr, code := runCLI(t, nil, "fail")
		commands = commands[:len(commands)-1]
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d", tt.err, code, tt.code)
		}
		if want := "seatwise: " + oneLine(tt.err.Error()) + "\n"; stderr != want {
			t.Errorf("stderr %q, want suffix %q", stderr, want)
		}
	}
}

func TestLoggerFromConfig(t *testing.T) {
	var errb bytes.Buffer
	a := &App{Stdout: &bytes.Buffer{}, Stderr: &errb, Env: func(k string) (string, bool) {
		switch k {
		case "SEATWISE_LOG_LEVEL":
			return "debug", true
		case "SEATWISE_LOG_FORMAT":
			return "json", true
		}
		return "", false
	}}
	if code := a.Run(context.Background(), []string{"--database", "postgres://u:hunter2@h/db", "catalog", "list"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), `"msg":"configuration loaded"`) || !strings.Contains(errb.String(), `"database_source":"flag --database"`) {
		t.Errorf("no JSON debug log: %q", errb.String())
	}
	if strings.Contains(errb.String(), "hunter2") {
		t.Errorf("log leaks the database password: %q", errb.String())
	}
	if a.Config() == nil || a.Config().DatabaseURL != "postgres://u:hunter2@h/db" {
		t.Errorf("Config() = %+v", a.Config())
	}
}

func TestKeyringHelper(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	a := &App{Stdout: &bytes.Buffer{}, Stderr: &errb, Env: func(string) (string, bool) { return "", false }}
	if code := a.Run(context.Background(), []string{"--database", "sqlite://" + dir + "/s.db", "catalog", "list"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	kr, err := a.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	s, err := kr.Seal([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	kr2, _ := a.Keyring()
	if kr2 != kr || s.KeyID != kr.KeyID() {
		t.Error("Keyring is not loaded once")
	}
	if a.Config().SecretKeyFile != dir+"/seatwise.key" {
		t.Errorf("key file %s", a.Config().SecretKeyFile)
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }

// failing is a command that fails with err.
func failing(err error) *cobra.Command {
	return &cobra.Command{Use: "fail", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return err }}
}

func TestOpenStoreHelper(t *testing.T) {
	dir := t.TempDir()
	var opened string
	commands = append(commands, func(a *App) *cobra.Command {
		return &cobra.Command{Use: "probe", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.OpenStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			opened = st.Dialect()
			return nil
		}}
	})
	defer func() { commands = commands[:len(commands)-1] }()
	if _, stderr, code := runCLI(t, map[string]string{"SEATWISE_DATABASE": "sqlite://" + dir + "/probe.db"}, "probe"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if opened != "sqlite" {
		t.Errorf("dialect %q", opened)
	}
	if _, stderr, code := runCLI(t, nil, "probe", "--database", "postgres://u:hunter2@127.0.0.1:1/db"); code != sam.ExitUnavailable || strings.Contains(stderr, "hunter2") {
		t.Errorf("unreachable: exit %d, %q", code, stderr)
	}
}
