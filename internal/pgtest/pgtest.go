// Package pgtest gives tests a throwaway PostgreSQL database.
//
// URL returns the URL of a fresh, empty database created for the calling
// test. All tests of one test binary share one server: the one named by
// SEATWISE_TEST_POSTGRES_URL when set (a URL whose user may CREATE DATABASE),
// otherwise a private cluster that pgtest creates with initdb in a temporary
// directory and starts on a free loopback port (about two seconds). When
// running as root the cluster runs as an unprivileged user (seatwise,
// postgres or nobody, the first that exists), since PostgreSQL refuses root.
//
// Use Main in TestMain so the private cluster stops when the tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// (The server also dies with the test binary if that is killed.) When no
// server can be started, URL skips the test with the reason, except when the
// environment variable CI is "true": then the test fails.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the environment variable with an existing server's URL.
const EnvURL = "SEATWISE_TEST_POSTGRES_URL"

var (
	mu      sync.Mutex
	started bool
	srv     *server
	srvErr  error
	seq     atomic.Int64
)

// server is the PostgreSQL server the test binary uses.
type server struct {
	base  *url.URL // URL of the maintenance database
	admin *sql.DB
	// For a private cluster:
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
}

// URL returns the URL of a new, empty database on the test binary's server,
// dropped when t ends. It skips t when no server is available (fails it
// when CI=true).
func URL(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required when CI=true: %v", err)
		}
		t.Skipf("PostgreSQL tests skipped: %v (install PostgreSQL so that initdb is found, or set %s)", err, EnvURL)
	}
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *s.base
	u.Path = "/" + name
	return u.String()
}

// dbName derives a unique database name from a test name.
func dbName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return fmt.Sprintf("t%d_%d_%s", os.Getpid(), seq.Add(1), s)
}

// Main runs the tests of m, stops the private cluster if one was started,
// and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop shuts the private cluster down (fast shutdown, then kill after ten
// seconds) and removes its directory. Later calls to URL start a new one.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
	}
	srv, srvErr, started = nil, nil, false
}

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		srv, srvErr = start()
	}
	return srv, srvErr
}

func start() (*server, error) {
	if raw := os.Getenv(EnvURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s is not a URL", EnvURL)
		}
		s := &server{base: u}
		if err := s.connect(30 * time.Second); err != nil {
			return nil, fmt.Errorf("connect to %s (%s): %w", EnvURL, u.Redacted(), err)
		}
		return s, nil
	}
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port may be taken between probing and binding
		s, err := startCluster(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// connect opens the admin handle and waits until the server answers.
func (s *server) connect(wait time.Duration) error {
	db, err := sql.Open("pgx", s.base.String())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			s.admin = db
			return nil
		}
		if s.done != nil {
			select {
			case <-s.done:
				db.Close()
				return errors.New("postgres exited during start-up")
			default:
			}
		}
		if time.Now().After(deadline) {
			db.Close()
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findBin returns the directory holding initdb and postgres.
func findBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	dirs = append(dirs, "/usr/local/bin")
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	dirs = append(dirs, versions...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH, in /usr/local/bin or /usr/lib/postgresql/*/bin")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runAs returns the credential to run PostgreSQL with: nil unless root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"seatwise", "postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root and none of the users seatwise, postgres, nobody exists to run PostgreSQL")
}

// dirPrefix starts the name of every private cluster's directory.
const dirPrefix = "seatwise-pgtest-"

// removeStale removes cluster directories left by test binaries that were
// killed (their postgres died with them, their directory stayed): those
// older than a minute whose postmaster is not running.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
			if pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue // still running
			}
		}
		os.RemoveAll(d)
	}
}

func startCluster(bin string) (_ *server, err error) {
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	base := os.TempDir()
	if cred != nil {
		base = "/tmp" // TMPDIR may be private to root
	}
	removeStale(base)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, p := range []string{dir, sock} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 5))
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &server{dir: dir, done: make(chan struct{})}
	// The postmaster is started from a goroutine locked to its OS thread
	// for good: the parent-death signal fires when that thread ends, which
	// is then only when the test binary ends, however it ends.
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", sock,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB",
			"-c", "log_min_messages=warning", "-c", "logging_collector=off")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		s.cmd = cmd
		startErr <- nil
		cmd.Wait()
		close(s.done)
		select {} // keep this thread alive: see above
	}()
	if err := <-startErr; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	if err := s.connect(30 * time.Second); err != nil {
		s.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("postgres did not start: %v: %s", err, lastLines(string(log), 5))
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// stop shuts a private cluster down and removes its directory; for an
// external server it only closes the admin handle.
func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cmd == nil || s.cmd.Process == nil {
		if s.dir != "" {
			os.RemoveAll(s.dir)
		}
		return
	}
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGINT) // fast shutdown
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	os.RemoveAll(s.dir)
}
