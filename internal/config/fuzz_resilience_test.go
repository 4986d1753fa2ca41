package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/sam"
)

// fileSecrets returns the values of secret options (Option.Secret) and the
// database password a configuration file sets, when each occurs exactly
// once in it (so that finding one in an error message can only mean it was
// repeated).
func fileSecrets(content string) []string {
	secret := map[string]bool{}
	for _, o := range Options() {
		secret[o.Name] = o.Secret
	}
	var out []string
	for _, line := range strings.Split(content, "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if uq, err := strconv.Unquote(value); err == nil {
			value = uq
		}
		name = strings.TrimSpace(name)
		switch {
		case secret[name]:
		case name == OptDatabase:
			u, err := url.Parse(value)
			if err != nil || u.User == nil {
				continue
			}
			value, _ = u.User.Password()
		default:
			continue
		}
		if len(value) >= 8 && strings.Count(content, value) == 1 {
			out = append(out, value)
		}
	}
	return out
}

// canonical writes c back as a configuration file setting every option.
func canonical(c *Config) string {
	var b strings.Builder
	put := func(name, v string) {
		if v != "" {
			b.WriteString(name + " = " + strconv.Quote(v) + "\n")
		}
	}
	put(OptDatabase, c.DatabaseURL)
	put(OptLogLevel, strings.ToLower(c.LogLevel.String()))
	put(OptLogFormat, c.LogFormat)
	put(OptSecretKey, c.SecretKey())
	put(OptSecretKeyFile, c.SecretKeyFile)
	put(OptListen, c.Listen)
	put(OptTLSCertFile, c.TLSCertFile)
	put(OptTLSKeyFile, c.TLSKeyFile)
	return b.String()
}

// FuzzConfigFile loads arbitrary configuration files: no panic; a refusal is
// a sam.EINVALID error that never repeats the value of a secret option
// (secret key, SMTP password, webhook URL and secret) or the database
// password; an accepted file round-trips (written back with every value
// quoted, it loads to the same configuration).
func FuzzConfigFile(f *testing.F) {
	f.Add("# comment\ndatabase = postgres://seatwise:pa55word-long@db.example.com/seatwise\nlog_level = debug\nlog_format = \"json\"\n")
	f.Add("\ufeffdatabase=sqlite:///tmp/x.db\nlisten = 127.0.0.1:0\n")
	f.Add("secret_key = \"" + strings.Repeat("A", 43) + "=\"\n")
	f.Add("secret_key = not-a-valid-key-value\n")
	f.Add("database = postgres://u:very-secret-pass@h/db?sslmode=bogus\n")
	f.Add("log_level = \"debug\\x00\"\nlog_level = info\n")
	f.Add("tls_cert_file = a.pem\n")
	f.Add("database = \"sqlite://./rel.db\nnoequals\n")
	f.Add("config = other.conf\n")
	f.Add("smtp_host = 127.0.0.1\nsmtp_password = \"smtp-secret-password\"\nwebhook_secret = hook-secret-value-1\nwebhook_url = ftp://hooks.example/abcdef0123\n")
	dir := f.TempDir()
	path := filepath.Join(dir, "seatwise.conf")
	env := envOf(map[string]string{"SEATWISE_CONFIG": path, "XDG_CONFIG_HOME": dir, "HOME": dir})
	f.Fuzz(func(t *testing.T, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(nil, env)
		if err != nil {
			var se *sam.Error
			if !errors.As(err, &se) || se.Code != sam.EINVALID {
				t.Fatalf("error %T is not EINVALID: %v", err, err)
			}
			for _, s := range fileSecrets(content) {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error repeats a secret value: %v", err)
				}
			}
			return
		}
		if c.File != path {
			t.Fatalf("File = %q", c.File)
		}
		again := canonical(c)
		if err := os.WriteFile(path, []byte(again), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := Load(nil, env)
		if err != nil {
			t.Fatalf("canonical form of an accepted file refused: %v\n%s", err, again)
		}
		if canonical(c2) != again {
			t.Fatalf("round trip changed the configuration:\n%s\nthen\n%s", again, canonical(c2))
		}
	})
}
