package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/config"
	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/notify"
	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// resetRe finds the password `user reset-password` prints.
var resetRe = regexp.MustCompile(`one-time password of \S+: (\S+)`)

// jwtRE matches a JSON Web Token (an access or ID token of the simulator).
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)

// secretForms returns a secret and the encodings it could hide under: base64
// (standard and URL, padded or not) and hex.
func secretForms(s []byte) [][]byte {
	return [][]byte{
		s,
		[]byte(base64.StdEncoding.EncodeToString(s)),
		[]byte(base64.RawStdEncoding.EncodeToString(s)),
		[]byte(base64.URLEncoding.EncodeToString(s)),
		[]byte(base64.RawURLEncoding.EncodeToString(s)),
		[]byte(hex.EncodeToString(s)),
		[]byte(strings.ToUpper(hex.EncodeToString(s))),
	}
}

// scanned is a text the scan reads: a database dump, logs, a command's
// output or an API answer. shows lists the secrets it is meant to show
// (the one-time password `user add` prints, the token POST /tokens returns).
type scanned struct {
	what     string
	data     []byte
	shows    map[string]bool
	database bool // a database file or dump
}

// secretsFlow collects what a full flow writes and the secrets it used.
type secretsFlow struct {
	t       *testing.T
	e       *cliEnv
	secrets map[string][]byte // name → value
	texts   []scanned
	logs    bytes.Buffer
}

func (f *secretsFlow) secret(name string, v []byte) {
	f.t.Helper()
	if len(v) < 8 {
		f.t.Fatalf("secret %s is only %d bytes: too short to scan for", name, len(v))
	}
	f.secrets[name] = append([]byte(nil), v...)
}

func (f *secretsFlow) text(what string, data []byte, shows ...string) {
	m := map[string]bool{}
	for _, s := range shows {
		m[s] = true
	}
	f.texts = append(f.texts, scanned{what: what, data: append([]byte(nil), data...), shows: m})
}

// run runs a command that must succeed; its stdout is scanned, its stderr
// (the debug log) too.
func (f *secretsFlow) run(stdin string, shows []string, args ...string) string {
	f.t.Helper()
	out, errs, code := f.e.run(stdin, args...)
	f.logs.WriteString(errs)
	if code != 0 {
		f.t.Fatalf("seatwise %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	f.text("output of seatwise "+strings.Join(args, " "), []byte(out), shows...)
	return out
}

// TestNoSecretInPlainText runs a full flow on SQLite and on PostgreSQL with
// logs at debug level: profiles with a client secret, with a certificate and
// its private key, and with a delegated refresh token; syncs of each; the
// server's first admin, password changes, local users, API tokens, sessions
// and a profile created through the API with its client secret; and a
// server-run sync job. It then scans the database (SQLite file bytes, or
// every row of every PostgreSQL table as text), the logs, every command's
// output and every API answer for each secret in plain text, base64 or hex,
// and for any JSON Web Token. The SMTP password and the webhook URL and
// secret are configured for every command and used by a notice sent through
// a real SMTP server and a webhook receiver.
func TestNoSecretInPlainText(t *testing.T) {
	for _, d := range []struct {
		name string
		url  func(t *testing.T, dir string) string
	}{
		{"sqlite", func(t *testing.T, dir string) string { return "sqlite://" + filepath.Join(dir, "seatwise.db") }},
		{"postgres", func(t *testing.T, _ string) string { return pgtest.URL(t) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			e := newCLIEnv(t)
			e.vars["SEATWISE_DATABASE"] = d.url(t, e.dir)
			e.vars["SEATWISE_LOG_LEVEL"] = "debug"
			f := &secretsFlow{t: t, e: e, secrets: map[string][]byte{}}
			secretsFullFlow(t, f)
			f.scanDatabase(d.name)
			f.check()
		})
	}
}

func secretsFullFlow(t *testing.T, f *secretsFlow) {
	e := f.e
	ctx := context.Background()
	f.secret("secret key", []byte(e.vars["SEATWISE_SECRET_KEY"]))
	if k, err := secret.DecodeKey(e.vars["SEATWISE_SECRET_KEY"]); err == nil {
		f.secret("secret key bytes", k)
	}

	// Notification channels: a real SMTP server (STARTTLS, AUTH) and a
	// webhook receiver, configured through the environment like the
	// product, so that every command below loads them.
	smtpPW, hookToken, hookSecret := "smtp-mailer-password-5521", "hooktoken0a1b2c3d4e5f60718293", "webhook-signing-secret-7788"
	mail, err := smtptest.Start(smtptest.Options{Username: "seatwise-mailer", Password: smtpPW})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	hooks := make(chan http.Header, 10)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hooks <- r.Header.Clone()
	}))
	t.Cleanup(hookSrv.Close)
	for k, v := range map[string]string{"SEATWISE_SMTP_HOST": mail.Host, "SEATWISE_SMTP_PORT": strconv.Itoa(mail.Port),
		"SEATWISE_SMTP_USER": "seatwise-mailer", "SEATWISE_SMTP_PASSWORD": smtpPW, "SEATWISE_SMTP_FROM": "Seatwise <seatwise@contoso.com>",
		"SEATWISE_PUBLIC_URL": "http://127.0.0.1:1", "SEATWISE_WEBHOOK_URL": hookSrv.URL + "/hooks/" + hookToken, "SEATWISE_WEBHOOK_SECRET": hookSecret} {
		e.vars[k] = v
	}
	f.secret("SMTP password", []byte(smtpPW))
	f.secret("webhook URL token", []byte(hookToken))
	f.secret("webhook secret", []byte(hookSecret))

	// A client-secret profile, a certificate profile and a delegated profile
	// of one simulated tenant.
	srv := simProfile(t, e, mscloud.Config{Seed: 21, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Seed: 21, Users: 40, Environments: 2}}}})
	info := srv.Info()
	f.secret("client secret", []byte(info.ClientSecret))
	if err := srv.Tenant().SetAuditSettings(0, tenant.AuditSettings{AuditEnabled: true, UserAccessAuditEnabled: true, RetentionDays: -1}); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(e.dir, "secret.txt")
	for _, name := range []string{"cert", "deleg"} {
		args := []string{"profile", "add", name, "--tenant-id", info.TenantID, "--client-id", info.ClientID,
			"--client-secret-file", secretFile, "--login-url", info.LoginURL, "--graph-url", info.GraphURL, "--ca-file", info.CAFile}
		for _, env := range info.Environments {
			args = append(args, "--environment", env.URL)
		}
		f.run("", nil, args...)
	}
	certPEM, keyPEM, certFile := makeCertFile(t, e.dir, "seatwise.pem", 90*24*time.Hour)
	blk, _ := pem.Decode(keyPEM)
	f.secret("private key DER", blk.Bytes)
	for i, line := range strings.Split(strings.TrimSpace(string(keyPEM)), "\n") {
		if !strings.HasPrefix(line, "-----") && len(line) >= 40 {
			f.secret(fmt.Sprintf("private key PEM line %d", i), []byte(line))
		}
	}
	f.run("", nil, "profile", "certificate", "cert", "--certificate-file", certFile)
	srv.UpdateApp(info.TenantID, func(a *mscloud.App) { a.Certificates = []string{string(certPEM)} })
	user, err := connecttest.Admin(srv.Tenant())
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr, _ := connectProfile(t, e, "deleg", &connecttest.Browser{HTTP: srv.Client(), Login: user})
	f.logs.WriteString(stderr)
	f.text("output of seatwise profile connect deleg", []byte(stdout))
	if code != 0 {
		t.Fatalf("connect: %s", stderr)
	}
	now := srv.Tenant().Now().Format(time.RFC3339Nano)
	for _, p := range []string{"sim", "cert", "deleg"} {
		f.run("", nil, "sync", "--profile", p, "--now", now)
		f.run("", nil, "profile", "show", p, "--output", "json")
		out, errs, _ := e.run("", "profile", "validate", p) // a warning exits non-zero; only its text matters here
		f.logs.WriteString(errs)
		f.text("output of seatwise profile validate "+p, []byte(out))
	}
	f.run("", nil, "profile", "list")
	f.run("", nil, "report", "usage", "--output", "json")

	// The server: first admin, sessions, users, tokens, a profile with a
	// secret, a server-run sync.
	base, serveOut, stop := f.serve(ctx)
	m := oneTimeRe.FindStringSubmatch(serveOut.String())
	if m == nil {
		t.Fatalf("no one-time password printed: %s", serveOut.String())
	}
	f.secret("first admin one-time password", []byte(m[1]))
	api := newAPIClient(t, f, base)
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	api.call("POST", "/api/v1/session", map[string]string{"name": "admin", "password": m[1]}, 200, &login)
	f.secret("CSRF token", []byte(login.CSRF))
	api.csrf = login.CSRF
	for _, c := range api.jar.Cookies(mustURL(t, base)) {
		f.secret("cookie "+c.Name, []byte(c.Value))
	}
	adminPW := "admin's own long password 7"
	f.secret("admin password", []byte(adminPW))
	api.call("POST", "/api/v1/me/password", map[string]string{"current": m[1], "new": adminPW}, 204, nil)
	bobPW := "bob's chosen password 42"
	f.secret("bob password", []byte(bobPW))
	api.call("POST", "/api/v1/users", map[string]string{"name": "bob", "role": "sam_manager", "password": bobPW}, 201, nil)
	var carol struct {
		OneTime string `json:"one_time_password"`
	}
	api.call("POST", "/api/v1/users", map[string]string{"name": "carol", "role": "viewer"}, 201, &carol, "carol one-time password")
	f.secret("carol one-time password", []byte(carol.OneTime))
	var reset struct {
		OneTime string `json:"one_time_password"`
	}
	api.call("POST", "/api/v1/users/bob/password-reset", nil, 200, &reset, "bob reset password")
	f.secret("bob reset password", []byte(reset.OneTime))
	var tok struct {
		Secret string `json:"secret"`
	}
	api.call("POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "admin", "expires_in_days": 30}, 201, &tok, "API token")
	f.secret("API token", []byte(tok.Secret))
	apiSecret := "api-created-profile-secret-0987"
	f.secret("API profile client secret", []byte(apiSecret))
	envs := []map[string]string{}
	for _, env := range info.Environments {
		envs = append(envs, map[string]string{"url": env.URL})
	}
	api.call("POST", "/api/v1/profiles", map[string]any{"name": "viaapi", "tenant_id": info.TenantID, "client_id": info.ClientID,
		"client_secret": apiSecret, "login_url": info.LoginURL, "graph_url": info.GraphURL, "ca_file": info.CAFile, "environments": envs}, 201, nil)
	api.call("PATCH", "/api/v1/profiles/sim", map[string]any{"client_secret": info.ClientSecret}, 200, nil)

	// The rest with the API token instead of the session.
	api.bearer = tok.Secret
	var trig struct {
		JobID int64 `json:"job_id"`
	}
	api.call("POST", "/api/v1/profiles/sim/runs", map[string]string{"kind": "sync"}, 202, &trig)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j struct {
			State string `json:"state"`
			Error string `json:"error"`
		}
		api.call("GET", fmt.Sprintf("/api/v1/jobs/%d", trig.JobID), nil, 200, &j)
		if j.State == "succeeded" {
			break
		}
		if j.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("server sync job %d: %s %s", trig.JobID, j.State, j.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []string{"/api/v1/me", "/api/v1/status", "/api/v1/profiles", "/api/v1/profiles/sim", "/api/v1/profiles/viaapi",
		"/api/v1/profiles/deleg", "/api/v1/profiles/cert", "/api/v1/runs", "/api/v1/users", "/api/v1/tokens", "/api/v1/audit",
		"/api/v1/jobs", "/api/v1/schedules", "/api/v1/subscriptions", "/api/v1/reports/usage", "/metrics"} {
		api.call("GET", p, nil, 200, nil)
	}
	api.bearer = ""
	api.call("DELETE", "/api/v1/session", nil, 204, nil)
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	f.logs.WriteString(serveOut.errs.String())
	f.text("serve standard output", []byte(serveOut.String()), "first admin one-time password")

	// A notice by e-mail and webhook, sent by the notifier the configuration
	// builds, logging at debug level.
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	nkr, err := cfg.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	var nlog bytes.Buffer
	n, err := notify.FromConfig(cfg, nkr, mail.ClientTLSConfig(), slog.New(slog.NewTextHandler(&nlog, &slog.HandlerOptions{Level: slog.LevelDebug})), time.Now)
	if err != nil || n == nil {
		t.Fatalf("notifier: %v %v", n, err)
	}
	if err := n.Notify(ctx, reclaim.Notice{Kind: reclaim.NoticeUser, CandidateID: 7, ProfileName: "sim", Product: "Dynamics 365 Sales Enterprise",
		Candidate:  store.Candidate{ID: 7, UPN: "ann@contoso.com", UserID: "0c0ffee0-0000-4000-8000-000000000007", SKUID: "1e1a282c-9c54-43a2-9310-98ef728faace"},
		PartNumber: "DYN365_ENTERPRISE_SALES", Recipients: []string{"ann@contoso.com"}, Actions: []string{"keep", "release"},
		Deadline: time.Now().Add(7 * 24 * time.Hour), Reason: "no activity for 90 days"}); err != nil {
		t.Fatalf("notify: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	msgs, err := mail.Wait(wctx, 1)
	cancel()
	if err != nil || len(msgs) != 1 || msgs[0].AuthUser != "seatwise-mailer" || !msgs[0].TLS {
		t.Fatalf("mail: %+v %v", msgs, err)
	}
	select {
	case h := <-hooks:
		if h.Get(notify.SignatureHeader) == "" {
			t.Fatalf("webhook request not signed: %v", h)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no webhook request; notifier log:\n%s", nlog.String())
	}
	f.logs.Write(nlog.Bytes())

	// Command-line accounts.
	out := f.run("", []string{"dave one-time password"}, "user", "add", "dave", "--role", "viewer")
	if m := oneTimeRe.FindStringSubmatch(out); m != nil {
		f.secret("dave one-time password", []byte(m[1]))
	} else {
		t.Fatalf("user add printed no password: %s", out)
	}
	out = f.run("", []string{"dave reset password"}, "user", "reset-password", "dave")
	if m := resetRe.FindStringSubmatch(out); m != nil {
		f.secret("dave reset password", []byte(m[1]))
	} else {
		t.Fatalf("user reset-password printed no password: %s", out)
	}
	f.run("", nil, "user", "list")

	// The refresh token and every other sealed secret, opened with the key.
	st, err := db.Open(ctx, e.vars["SEATWISE_DATABASE"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, _ := secret.DecodeKey(e.vars["SEATWISE_SECRET_KEY"])
	kr, err := secret.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := st.SealedSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for i, s := range sealed {
		p, err := kr.Open(s.Secret)
		if err != nil {
			t.Fatalf("open sealed secret %d: %v", i, err)
		}
		f.secret(fmt.Sprintf("sealed secret %d", i), p)
		opened++
	}
	// sim, cert (client secret and private key), deleg (refresh token), viaapi.
	if opened < 4 {
		t.Fatalf("only %d sealed secrets stored", opened)
	}
}

// serveOutput is the standard output and the log of a serve run.
type serveOutput struct {
	lockedBuffer
	errs *lockedBuffer
}

// serve starts `seatwise serve` in-process with the flow's environment and
// returns its base URL, outputs and a stop function.
func (f *secretsFlow) serve(ctx context.Context) (string, *serveOutput, func() int) {
	t := f.t
	out := &serveOutput{errs: &lockedBuffer{}}
	a := &App{Stdin: strings.NewReader(""), Stdout: out, Stderr: out.errs,
		Env: func(k string) (string, bool) { v, ok := f.e.vars[k]; return v, ok }}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- a.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "10s"})
	}()
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for base == "" {
		if m := listeningRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s %s", code, out.String(), out.errs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s", out.errs.String())
		}
	}
	stopped, code := false, 0
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop")
			}
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return base, out, stop
}

// apiClient calls the server's API, recording every answer for the scan.
type apiClient struct {
	t      *testing.T
	f      *secretsFlow
	base   string
	jar    *cookiejar.Jar
	c      *http.Client
	csrf   string
	bearer string
}

func newAPIClient(t *testing.T, f *secretsFlow, base string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{t: t, f: f, base: base, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// call sends a request, fails unless the status is want, decodes the answer
// into out (when not nil) and records it; shows names the secrets the
// answer is meant to carry.
func (a *apiClient) call(method, path string, body any, want int, out any, shows ...string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
		req.Header.Set("Cookie", "")
	} else if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	c := a.c
	if a.bearer != "" {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	var hdr bytes.Buffer
	res.Header.Write(&hdr)
	shows = append(shows, "CSRF token")
	for _, c := range res.Cookies() {
		shows = append(shows, "cookie "+c.Name)
	}
	a.f.text(method+" "+path, append(hdr.Bytes(), data...), shows...)
}

// scanDatabase adds the database's bytes: the SQLite files, or every row of
// every PostgreSQL table cast to text.
func (f *secretsFlow) scanDatabase(dialect string) {
	t := f.t
	dbURL := f.e.vars["SEATWISE_DATABASE"]
	if dialect == "sqlite" {
		path := strings.TrimPrefix(dbURL, "sqlite://")
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if b, err := os.ReadFile(path + suffix); err == nil {
				all = append(all, b...)
			}
		}
		if len(all) == 0 {
			t.Fatal("no SQLite file")
		}
		f.text("SQLite files", all)
		f.texts[len(f.texts)-1].database = true
		return
	}
	st, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sqldb := st.(interface{ DB() *sql.DB }).DB()
	rows, err := sqldb.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	var dump bytes.Buffer
	for _, tbl := range tables {
		rs, err := sqldb.Query(fmt.Sprintf(`SELECT CAST(t AS text) FROM %q AS t`, tbl))
		if err != nil {
			t.Fatalf("dump %s: %v", tbl, err)
		}
		for rs.Next() {
			var s string
			if err := rs.Scan(&s); err != nil {
				t.Fatal(err)
			}
			dump.WriteString(tbl + ": " + s + "\n")
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		rs.Close()
	}
	if !strings.Contains(dump.String(), "profiles: ") {
		t.Fatal("the dump has no profile row")
	}
	f.text("PostgreSQL dump", dump.Bytes())
	f.texts[len(f.texts)-1].database = true
}

// check fails for every secret found, in any of its forms, in a text not
// meant to show it, and for any JSON Web Token.
func (f *secretsFlow) check() {
	t := f.t
	if f.logs.Len() == 0 || !strings.Contains(f.logs.String(), "level=DEBUG") {
		t.Fatalf("no debug log captured (%d bytes)", f.logs.Len())
	}
	f.text("logs", f.logs.Bytes())
	// The scan finds what it looks for: each secret shown once on purpose
	// is found where it is shown.
	for _, name := range []string{"first admin one-time password", "carol one-time password", "bob reset password", "API token", "dave one-time password", "dave reset password"} {
		found := false
		for _, x := range f.texts {
			found = found || (x.shows[name] && bytes.Contains(x.data, f.secrets[name]))
		}
		if !found {
			t.Errorf("the %s is not found where it is shown", name)
		}
	}
	for _, x := range f.texts {
		for name, v := range f.secrets {
			if x.shows[name] {
				continue
			}
			// The sessions table keeps each session's CSRF token, which is
			// no credential: it is useless without the session cookie,
			// whose id is stored only as a hash (checked above as "cookie
			// …"). Logs and outputs must not show it either way.
			if name == "CSRF token" && x.database {
				continue
			}
			for i, form := range secretForms(v) {
				if bytes.Contains(x.data, form) {
					t.Errorf("%s holds the %s (form %d)", x.what, name, i)
					break
				}
			}
		}
		if loc := jwtRE.FindIndex(x.data); loc != nil {
			t.Errorf("%s holds a JSON Web Token", x.what)
		}
	}
}

func mustURL(t *testing.T, s string) *neturl.URL {
	u, err := neturl.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
