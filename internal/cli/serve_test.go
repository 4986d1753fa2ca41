package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	listeningRe = regexp.MustCompile(`listening on (http://\S+)`)
	oneTimeRe   = regexp.MustCompile(`one-time password (\S+)`)
)

// startServe runs `seatwise serve` on a free loopback port until the
// returned stop is called; it returns the base URL and standard output.
func startServe(t *testing.T, dbURL string, args ...string) (base string, out *lockedBuffer, stop func() int) {
	t.Helper()
	base, out, _, stop = startServeLogs(t, dbURL, args...)
	return base, out, stop
}

// startServeLogs is startServe that also returns the log (standard error).
func startServeLogs(t *testing.T, dbURL string, args ...string) (base string, out, errb *lockedBuffer, stop func() int) {
	t.Helper()
	out = &lockedBuffer{}
	errb = &lockedBuffer{}
	home := t.TempDir()
	a := &App{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb,
		Env: func(k string) (string, bool) {
			if k == "HOME" {
				return home, true
			}
			return "", false
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- a.Run(ctx, append([]string{"serve", "--database", dbURL, "--listen", "127.0.0.1:0", "--shutdown-timeout", "5s"}, args...))
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s %s", code, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
	}
	stopped := false
	code := 0
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop within 20s")
			}
		}
		return code
	}
	t.Cleanup(func() { stop() })
	if strings.Contains(errb.String(), "one-time password") {
		t.Error("one-time password written to the log")
	}
	return base, out, errb, stop
}

func TestServeFirstStartAndShutdown(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "serve.db")
	base, out, stop := startServe(t, dbURL)
	m := oneTimeRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no one-time password printed: %s", out.String())
	}
	pw := m[1]
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(path, csrf, body string) *http.Response {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res = post("/api/v1/session", "", `{"name":"admin","password":"`+pw+`"}`)
	var login struct {
		User struct {
			MustChangePassword bool `json:"must_change_password"`
		} `json:"user"`
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || !login.User.MustChangePassword {
		t.Fatalf("first sign-in: %d %+v", res.StatusCode, login)
	}
	res = post("/api/v1/me/password", login.CSRF, `{"current":"`+pw+`","new":"the admin's own password"}`)
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("password change: %d", res.StatusCode)
	}
	res, err = c.Get(base + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"available": true`) {
		t.Fatalf("status: %d %s", res.StatusCode, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after stop")
	}

	// A second start keeps the admin: no new one-time password.
	_, out2, stop2 := startServe(t, dbURL, "--no-jobs")
	if strings.Contains(out2.String(), "one-time password") {
		t.Errorf("second start printed a password: %s", out2.String())
	}
	if code := stop2(); code != 0 {
		t.Errorf("second serve exit code %d", code)
	}
}

func TestServeListenError(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "serve.db")
	_, stderr, code := runCLI(t, nil, "serve", "--database", dbURL, "--listen", "256.0.0.1:1", "--no-jobs")
	if code != 6 || !strings.Contains(stderr, "listen on 256.0.0.1:1") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestUserCommands(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "users.db")
	out, stderr, code := runCLI(t, nil, "user", "add", "alice", "--role", "sam_manager", "--database", dbURL)
	if code != 0 || !oneTimeRe.MatchString(out) {
		t.Fatalf("add: %d %s %s", code, out, stderr)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"duplicate", []string{"user", "add", "alice"}, 4, "already exists"},
		{"bad role", []string{"user", "add", "bob", "--role", "root"}, 2, "unknown role"},
		{"bad name", []string{"user", "add", "bob smith"}, 2, "user name"},
		{"disable", []string{"user", "disable", "alice"}, 0, "User alice disabled."},
		{"disable unknown", []string{"user", "disable", "nobody"}, 3, "not found"},
		{"reset", []string{"user", "reset-password", "alice"}, 0, "New one-time password of alice: "},
		{"reset unknown", []string{"user", "reset-password", "nobody"}, 3, "seatwise user list"},
	}
	for _, tc := range tests {
		out, stderr, code := runCLI(t, nil, append(tc.args, "--database", dbURL)...)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("%s: exit %d, %s%s", tc.name, code, out, stderr)
		}
	}
	out, _, code = runCLI(t, nil, "user", "list", "-o", "json", "--database", dbURL)
	var users []UserRecord
	if err := json.Unmarshal([]byte(out), &users); err != nil || code != 0 {
		t.Fatalf("list: %v %s", err, out)
	}
	if len(users) != 1 || users[0].Name != "alice" || !users[0].Disabled || !users[0].MustChangePassword || users[0].Role != "sam_manager" {
		t.Errorf("users %+v", users)
	}
	if strings.Contains(out, "argon2") {
		t.Error("list shows a password hash")
	}
}
