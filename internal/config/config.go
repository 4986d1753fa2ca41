// Package config is Seatwise's configuration: the only package that reads
// the process environment. Every option has a name (its key in the
// configuration file), an environment variable SEATWISE_*, usually a
// command-line flag, and a default; Options lists them all, and the
// configuration reference is generated from that list.
//
// Precedence, highest first: command-line flag, environment variable,
// configuration file, default. Options that may hold secrets also read a
// file named by their *_FILE variable (SEATWISE_DATABASE_FILE holds the
// database URL, which may contain a password). Setting both an option's
// variable and its *_FILE variable is an error.
//
// # Configuration file
//
// --config FILE (or SEATWISE_CONFIG) names an optional file of lines
//
//	# comment
//	database = postgres://seatwise@db.example.com/seatwise
//	log_level = debug
//	log_format = "json"
//
// one "name = value" per line, names as in Options, values optionally in
// double quotes (Go string syntax). Blank lines and lines starting with '#'
// are ignored; an unknown name, a repeated name or a line without '=' is an
// error naming the line. A file that holds secret_key must not be readable
// by group or others.
//
// All errors are sam.EINVALID, say which option and source is wrong, and
// never repeat a secret value.
package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/spf13/pflag"
)

// Option describes one configuration setting.
type Option struct {
	Name    string // key in the configuration file, e.g. "log_level"
	Flag    string // command-line flag without dashes, "" when there is none
	Env     string // environment variable, e.g. "SEATWISE_LOG_LEVEL"
	FileEnv string // *_FILE variable reading the value from a file, "" when none
	Default string // default value as text; may describe a computed default
	Doc     string // one or two sentences for the configuration reference
	Secret  bool   // the value is never shown, has no flag (visible in ps)
}

// Option names.
const (
	OptConfig        = "config"
	OptDatabase      = "database"
	OptLogLevel      = "log_level"
	OptLogFormat     = "log_format"
	OptSecretKey     = "secret_key"
	OptSecretKeyFile = "secret_key_file"
	OptListen        = "listen"
	OptTLSCertFile   = "tls_cert_file"
	OptTLSKeyFile    = "tls_key_file"
	OptPublicURL     = "public_url"
	OptSMTPHost      = "smtp_host"
	OptSMTPPort      = "smtp_port"
	OptSMTPUser      = "smtp_user"
	OptSMTPPassword  = "smtp_password"
	OptSMTPFrom      = "smtp_from"
	OptSMTPStartTLS  = "smtp_starttls"
	OptWebhookURL    = "webhook_url"
	OptWebhookSecret = "webhook_secret"
)

// DefaultListen is the address `seatwise serve` listens on by default:
// loopback only, so that a first start exposes nothing to the network.
const DefaultListen = "127.0.0.1:8080"

// DefaultDatabaseURL is the database used when none is configured: the SQLite
// file seatwise.db in the working directory.
const DefaultDatabaseURL = "sqlite://./seatwise.db"

// KeyFileName is the name of the default key file.
const KeyFileName = "seatwise.key"

var options = []Option{
	{
		Name: OptConfig, Flag: "config", Env: "SEATWISE_CONFIG",
		Doc: "Configuration `file` of name = value lines (see package config). Optional; an explicitly named file must exist.",
	},
	{
		Name: OptDatabase, Flag: "database", Env: "SEATWISE_DATABASE", FileEnv: "SEATWISE_DATABASE_FILE",
		Default: DefaultDatabaseURL,
		Doc:     "Database URL: sqlite:///abs/path.db, sqlite://./relative.db or postgres://user:password@host/db?sslmode=…. SQLite files are created on first use.",
	},
	{
		Name: OptLogLevel, Flag: "log-level", Env: "SEATWISE_LOG_LEVEL", Default: "info",
		Doc: "Lowest level logged: debug, info, warn or error.",
	},
	{
		Name: OptLogFormat, Flag: "log-format", Env: "SEATWISE_LOG_FORMAT", Default: "text",
		Doc: "Log format on standard error: text (logfmt-like) or json (one object per line).",
	},
	{
		Name: OptSecretKey, Env: "SEATWISE_SECRET_KEY", Secret: true,
		Doc: "Key sealing stored secrets (AES-256, 32 bytes in base64). Further keys after a comma are previous keys, kept to open secrets sealed before a rotation. Its *_FILE variant is secret_key_file.",
	},
	{
		Name: OptSecretKeyFile, Flag: "secret-key-file", Env: "SEATWISE_SECRET_KEY_FILE",
		Default: "seatwise.key beside the SQLite database; for PostgreSQL or in-memory SQLite, seatwise/seatwise.key in the user configuration directory ($XDG_CONFIG_HOME or ~/.config)",
		Doc:     "File holding the secret key(s), one base64 key per line, the current key first; used when secret_key is not set. Created with a new key (mode 0600) on first use; refused when group or others can read it.",
	},
	{
		Name: OptListen, Flag: "listen", Env: "SEATWISE_LISTEN", Default: DefaultListen,
		Doc: "Address `seatwise serve` listens on, host:port (e.g. :8080 for every interface).",
	},
	{
		Name: OptTLSCertFile, Flag: "tls-cert-file", Env: "SEATWISE_TLS_CERT_FILE",
		Doc: "PEM certificate (chain) `seatwise serve` presents; with tls_key_file it serves HTTPS and marks cookies Secure.",
	},
	{
		Name: OptTLSKeyFile, Flag: "tls-key-file", Env: "SEATWISE_TLS_KEY_FILE",
		Doc: "PEM private key of tls_cert_file.",
	},
	{
		Name: OptPublicURL, Env: "SEATWISE_PUBLIC_URL",
		Doc: "Address people reach Seatwise at, e.g. https://seatwise.contoso.com: the signed keep / release links of notifications point there. Required when smtp_host or webhook_url is set.",
	},
	{
		Name: OptSMTPHost, Env: "SEATWISE_SMTP_HOST",
		Doc: "Mail server that sends reclamation notices (e-mail is off when empty).",
	},
	{
		Name: OptSMTPPort, Env: "SEATWISE_SMTP_PORT", Default: "587",
		Doc: "Port of smtp_host (submission with STARTTLS).",
	},
	{
		Name: OptSMTPUser, Env: "SEATWISE_SMTP_USER",
		Doc: "User name for SMTP authentication (AUTH PLAIN or LOGIN, only over TLS); none when empty.",
	},
	{
		Name: OptSMTPPassword, Env: "SEATWISE_SMTP_PASSWORD", FileEnv: "SEATWISE_SMTP_PASSWORD_FILE", Secret: true,
		Doc: "Password of smtp_user.",
	},
	{
		Name: OptSMTPFrom, Env: "SEATWISE_SMTP_FROM",
		Doc: "Sender of notices, e.g. \"Seatwise <seatwise@contoso.com>\". Required with smtp_host.",
	},
	{
		Name: OptSMTPStartTLS, Env: "SEATWISE_SMTP_STARTTLS", Default: "true",
		Doc: "true: the mail server must offer STARTTLS and its certificate is verified. false is accepted only for a server on loopback (a local relay).",
	},
	{
		Name: OptWebhookURL, Env: "SEATWISE_WEBHOOK_URL", FileEnv: "SEATWISE_WEBHOOK_URL_FILE", Secret: true,
		Doc: "Incoming webhook (Microsoft Teams, Slack or any JSON receiver) that receives reclamation notices; off when empty. Kept secret: such URLs grant posting.",
	},
	{
		Name: OptWebhookSecret, Env: "SEATWISE_WEBHOOK_SECRET", FileEnv: "SEATWISE_WEBHOOK_SECRET_FILE", Secret: true,
		Doc: "Key signing each webhook request (header X-Seatwise-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">); unsigned when empty.",
	},
}

// Options returns every option in documentation order.
func Options() []Option { return slices.Clone(options) }

func option(name string) Option {
	for _, o := range options {
		if o.Name == name {
			return o
		}
	}
	panic("config: unknown option " + name)
}

// Config is the validated configuration of one process.
type Config struct {
	DatabaseURL   string
	LogLevel      slog.Level
	LogFormat     string // "text" or "json"
	SecretKeyFile string // key file used when no secret key is set; may not exist yet
	File          string // configuration file read, "" when none
	Listen        string // host:port of `seatwise serve`
	TLSCertFile   string // "" when serving plain HTTP
	TLSKeyFile    string
	// PublicURL is where people reach the server ("" when not set).
	PublicURL string
	// SMTP of reclamation notices; SMTPHost "" means e-mail is off.
	SMTPHost      string
	SMTPPort      int
	SMTPUser      string
	SMTPFrom      string
	SMTPStartTLS  bool
	secretKey     string
	smtpPassword  string
	webhookURL    string
	webhookSecret string
	// Server holds the sign-in and metrics settings of `seatwise serve`
	// (server.go).
	Server  ServerOptions
	sources map[string]string
}

// SMTPPassword returns the SMTP password ("" when none). Never log it.
func (c *Config) SMTPPassword() string { return c.smtpPassword }

// WebhookURL returns the notice webhook's URL ("" when off). It may grant
// posting: never log it.
func (c *Config) WebhookURL() string { return c.webhookURL }

// WebhookSecret returns the webhook signing key ("" when unsigned). Never
// log it.
func (c *Config) WebhookSecret() string { return c.webhookSecret }

// SecretKey returns the secret key(s) in base64 as configured by
// SEATWISE_SECRET_KEY (or secret_key in the file), "" when the key file is
// used instead. Pass it to secret.LoadKeyring only; never log it.
func (c *Config) SecretKey() string { return c.secretKey }

// Keyring loads the keyring from SecretKey or SecretKeyFile (creating the
// key file on first use); see secret.LoadKeyring.
func (c *Config) Keyring() (*secret.Keyring, error) {
	return secret.LoadKeyring(c.secretKey, c.SecretKeyFile)
}

// Source returns where option name got its value: "flag --x", "env X",
// "file PATH:LINE", or "default".
func (c *Config) Source(name string) string {
	if s, ok := c.sources[name]; ok {
		return s
	}
	return "default"
}

// DatabaseURLRedacted returns the database URL with any password replaced by
// "xxxxx", for logs and messages.
func (c *Config) DatabaseURLRedacted() string { return RedactURL(c.DatabaseURL) }

// RedactURL returns u with its password replaced by "xxxxx", or u itself
// when it does not parse as a URL with a password.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, has := p.User.Password(); !has {
		return u
	}
	return p.Redacted()
}

// NewLogger returns the logger the configuration asks for, writing to w.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// AddFlags defines the flags of every option that has one on fs (the
// root command's persistent flags). Flag defaults are shown in help only;
// Load uses a flag's value only when it was set on the command line.
func AddFlags(fs *pflag.FlagSet) {
	for _, o := range options {
		if o.Flag == "" {
			continue
		}
		def := o.Default
		if o.Name == OptSecretKeyFile {
			def = ""
		}
		usage := o.Doc
		if i := strings.Index(usage, ". "); i > 0 {
			usage = usage[:i+1]
		}
		usage += " (env " + o.Env + ")"
		fs.String(o.Flag, def, usage)
	}
}

// LookupEnv is the environment of the process, the usual env argument of Load.
func LookupEnv(name string) (string, bool) { return os.LookupEnv(name) }

// Load reads the configuration from the flags set on fs (may be nil), the
// environment env (nil means the process environment) and the configuration
// file, applies defaults and validates it. Errors are sam.EINVALID.
func Load(fs *pflag.FlagSet, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = LookupEnv
	}
	l := loader{fs: fs, env: env, file: map[string]fileValue{}}
	cfgPath, cfgSrc, err := l.fromFlagOrEnv(option(OptConfig))
	if err != nil {
		return nil, err
	}
	if cfgPath != "" {
		if err := l.readFile(cfgPath, cfgSrc); err != nil {
			return nil, err
		}
	}
	c := &Config{File: cfgPath, sources: map[string]string{}}
	if cfgPath != "" {
		c.sources[OptConfig] = cfgSrc
	}
	get := func(name string) (string, error) {
		v, src, err := l.value(option(name))
		if err != nil {
			return "", err
		}
		if src != "" {
			c.sources[name] = src
		}
		return v, nil
	}

	db, err := get(OptDatabase)
	if err != nil {
		return nil, err
	}
	if err := validateDatabaseURL(db, c.Source(OptDatabase)); err != nil {
		return nil, err
	}
	c.DatabaseURL = db

	lvl, err := get(OptLogLevel)
	if err != nil {
		return nil, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(lvl)) {
		return nil, sam.Errorf(sam.EINVALID, "log_level %q (%s): want debug, info, warn or error", lvl, c.Source(OptLogLevel))
	}

	c.LogFormat, err = get(OptLogFormat)
	if err != nil {
		return nil, err
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, sam.Errorf(sam.EINVALID, "log_format %q (%s): want text or json", c.LogFormat, c.Source(OptLogFormat))
	}

	if c.secretKey, err = get(OptSecretKey); err != nil {
		return nil, err
	}
	if c.secretKey != "" {
		keys := strings.FieldsFunc(c.secretKey, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
		for i, k := range keys {
			if _, err := secret.DecodeKey(k); err != nil {
				which := ""
				if len(keys) > 1 {
					which = fmt.Sprintf("key %d: ", i+1)
				}
				return nil, sam.Errorf(sam.EINVALID, "secret_key (%s): %s%s", c.Source(OptSecretKey), which, sam.ErrorMessage(err))
			}
		}
		if s := c.sources[OptSecretKey]; strings.HasPrefix(s, "file ") {
			if err := l.checkPrivate(cfgPath, OptSecretKey); err != nil {
				return nil, err
			}
		}
	}

	if c.SecretKeyFile, err = get(OptSecretKeyFile); err != nil {
		return nil, err
	}
	if c.SecretKeyFile == "" {
		c.SecretKeyFile = defaultKeyFile(c.DatabaseURL, env)
	}

	if c.Listen, err = get(OptListen); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return nil, sam.Errorf(sam.EINVALID, "listen %q (%s): want host:port, e.g. 127.0.0.1:8080 or :8080", c.Listen, c.Source(OptListen))
	}
	if c.TLSCertFile, err = get(OptTLSCertFile); err != nil {
		return nil, err
	}
	if c.TLSKeyFile, err = get(OptTLSKeyFile); err != nil {
		return nil, err
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return nil, sam.Errorf(sam.EINVALID, "tls_cert_file and tls_key_file go together: set both or neither")
	}
	if err := c.loadNotify(get); err != nil {
		return nil, err
	}
	if err := c.loadServer(get); err != nil {
		return nil, err
	}
	for _, o := range options {
		if o.Secret && o.Name != OptSecretKey && strings.HasPrefix(c.sources[o.Name], "file ") {
			if err := l.checkPrivate(cfgPath, o.Name); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// loadNotify reads and checks the options of reclamation notices.
func (c *Config) loadNotify(get func(string) (string, error)) error {
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{OptPublicURL, &c.PublicURL}, {OptSMTPHost, &c.SMTPHost}, {OptSMTPUser, &c.SMTPUser}, {OptSMTPPassword, &c.smtpPassword},
		{OptSMTPFrom, &c.SMTPFrom}, {OptWebhookURL, &c.webhookURL}, {OptWebhookSecret, &c.webhookSecret}} {
		if *f.dst, err = get(f.name); err != nil {
			return err
		}
	}
	port, err := get(OptSMTPPort)
	if err != nil {
		return err
	}
	if c.SMTPPort, err = strconv.Atoi(port); err != nil || c.SMTPPort < 1 || c.SMTPPort > 65535 {
		return sam.Errorf(sam.EINVALID, "smtp_port %q (%s): want a port number 1-65535", port, c.Source(OptSMTPPort))
	}
	tlsOn, err := get(OptSMTPStartTLS)
	if err != nil {
		return err
	}
	if c.SMTPStartTLS, err = strconv.ParseBool(tlsOn); err != nil {
		return sam.Errorf(sam.EINVALID, "smtp_starttls %q (%s): want true or false", tlsOn, c.Source(OptSMTPStartTLS))
	}
	if c.SMTPHost != "" {
		if c.SMTPFrom == "" {
			return sam.Errorf(sam.EINVALID, "smtp_host is set but smtp_from is not: notices need a sender address")
		}
		if !c.SMTPStartTLS {
			if ip := net.ParseIP(c.SMTPHost); c.SMTPHost != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return sam.Errorf(sam.EINVALID, "smtp_starttls is false but smtp_host %s is not a loopback address: STARTTLS may only be turned off for a local relay", c.SMTPHost)
			}
		}
	}
	if c.smtpPassword != "" && c.SMTPUser == "" {
		return sam.Errorf(sam.EINVALID, "smtp_password is set but smtp_user is not")
	}
	if c.webhookURL != "" {
		if u, err := url.Parse(c.webhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sam.Errorf(sam.EINVALID, "webhook_url (%s) must be an absolute http(s) URL", c.Source(OptWebhookURL))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sam.Errorf(sam.EINVALID, "public_url %q (%s) must be an absolute http(s) URL, e.g. https://seatwise.contoso.com", c.PublicURL, c.Source(OptPublicURL))
		}
	} else if c.SMTPHost != "" || c.webhookURL != "" {
		return sam.Errorf(sam.EINVALID, "notifications are configured (smtp_host or webhook_url) but public_url is not: the keep / release links need the address people reach Seatwise at")
	}
	return nil
}

type fileValue struct {
	value string
	line  int
}

type loader struct {
	fs       *pflag.FlagSet
	env      func(string) (string, bool)
	file     map[string]fileValue
	filePath string
}

// fromFlagOrEnv resolves an option from the command line and environment
// only (with its *_FILE variant), returning the source too; "" when unset.
func (l *loader) fromFlagOrEnv(o Option) (string, string, error) {
	if o.Flag != "" && l.fs != nil {
		if f := l.fs.Lookup(o.Flag); f != nil && f.Changed {
			return f.Value.String(), "flag --" + o.Flag, nil
		}
	}
	v, hasV := l.env(o.Env)
	var fv string
	hasF := false
	if o.FileEnv != "" {
		fv, hasF = l.env(o.FileEnv)
	}
	switch {
	case hasV && hasF && v != "" && fv != "":
		return "", "", sam.Errorf(sam.EINVALID, "both %s and %s are set; set only one", o.Env, o.FileEnv)
	case hasF && fv != "":
		data, err := readSmallFile(fv)
		if err != nil {
			return "", "", sam.Errorf(sam.EINVALID, "%s: %s", o.FileEnv, err)
		}
		return strings.TrimSpace(data), "env " + o.FileEnv, nil
	case hasV && v != "":
		return v, "env " + o.Env, nil
	}
	return "", "", nil
}

// value resolves an option: flag, environment, file, default. The source is
// "" for the default.
func (l *loader) value(o Option) (string, string, error) {
	v, src, err := l.fromFlagOrEnv(o)
	if err != nil || src != "" {
		return v, src, err
	}
	if fv, ok := l.file[o.Name]; ok {
		return fv.value, fmt.Sprintf("file %s:%d", l.filePath, fv.line), nil
	}
	if o.Name == OptSecretKeyFile {
		return "", "", nil // computed by Load from the database URL
	}
	return o.Default, "", nil
}

const maxFileSize = 1 << 20

func readSmallFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxFileSize {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return string(data), nil
}

// readFile parses the configuration file.
func (l *loader) readFile(path, src string) error {
	data, err := readSmallFile(path)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "configuration file (%s): %s", src, err)
	}
	l.filePath = path
	known := map[string]bool{}
	for _, o := range options {
		if o.Name != OptConfig {
			known[o.Name] = true
		}
	}
	sc := bufio.NewScanner(bytes.NewReader([]byte(strings.TrimPrefix(data, "\uFEFF"))))
	sc.Buffer(nil, maxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return sam.Errorf(sam.EINVALID, "%s:%d: want name = value", path, n)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !known[name] {
			return sam.Errorf(sam.EINVALID, "%s:%d: unknown option %q (known: %s)", path, n, name, strings.Join(knownNames(), ", "))
		}
		if prev, dup := l.file[name]; dup {
			return sam.Errorf(sam.EINVALID, "%s:%d: %s is set again (first on line %d)", path, n, name, prev.line)
		}
		if strings.HasPrefix(value, `"`) {
			uq, err := strconv.Unquote(value)
			if err != nil {
				return sam.Errorf(sam.EINVALID, "%s:%d: %s: malformed quoted value", path, n, name)
			}
			value = uq
		}
		l.file[name] = fileValue{value: value, line: n}
	}
	if err := sc.Err(); err != nil {
		return sam.Errorf(sam.EINVALID, "configuration file %s: %s", path, err)
	}
	return nil
}

func knownNames() []string {
	var names []string
	for _, o := range options {
		if o.Name != OptConfig {
			names = append(names, o.Name)
		}
	}
	return names
}

// checkPrivate refuses a configuration file holding a secret (option name)
// when group or others can read it.
func (l *loader) checkPrivate(path, name string) error {
	st, err := os.Stat(path)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "configuration file %s: %s", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		hint := option(name).FileEnv
		if name == OptSecretKey {
			hint = "SEATWISE_SECRET_KEY_FILE"
		}
		return sam.Errorf(sam.EINVALID, "configuration file %s sets %s but has mode %04o: group or others can read it; run chmod 600 %s or use %s", path, name, perm, path, hint)
	}
	return nil
}

// validateDatabaseURL accepts the URL forms of package db (db.Parse). The
// message never shows a password.
func validateDatabaseURL(u, src string) error {
	if _, _, err := db.Parse(u); err != nil {
		return sam.Errorf(sam.EINVALID, "database (%s): %s", src, sam.ErrorMessage(err))
	}
	return nil
}

// sqliteFile returns the file of a SQLite database URL, "" for other
// databases and in-memory SQLite.
func sqliteFile(u string) string {
	kind, target, err := db.Parse(u)
	if err != nil || kind != db.SQLite || target == ":memory:" || strings.HasPrefix(target, "file::memory:") || strings.Contains(u, "mode=memory") {
		return ""
	}
	return target
}

// defaultKeyFile returns seatwise.key beside the SQLite file, or
// seatwise/seatwise.key in $XDG_CONFIG_HOME (else ~/.config) for other
// databases; "" when neither variable is set.
func defaultKeyFile(dbURL string, env func(string) (string, bool)) string {
	if p := sqliteFile(dbURL); p != "" {
		return filepath.Join(filepath.Dir(p), KeyFileName)
	}
	dir, _ := env("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := env("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "seatwise", KeyFileName)
}
