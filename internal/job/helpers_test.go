package job_test

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dialects are the databases every queue test runs on: each returns the URL
// of a fresh database.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "seatwise.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

// eachDialect runs fn as a subtest per database.
func eachDialect(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { fn(t, d.url(t)) })
	}
}

// startSim starts the Microsoft simulator with one generated tenant of
// users users and days of history, closed when the test ends.
func startSim(t testing.TB, seed int64, users, days int) *mscloud.Server {
	t.Helper()
	srv, err := mscloud.Start(context.Background(), mscloud.Config{Seed: seed,
		Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: users, HistoryDays: days}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func rawDB(t testing.TB, st store.Store) *sql.DB {
	t.Helper()
	h, ok := st.(interface{ DB() *sql.DB })
	if !ok {
		t.Fatalf("store %T has no DB()", st)
	}
	return h.DB()
}

// quiet discards the runners' logs.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t.UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t.UTC()
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// fileClock reads the time a parent test process writes to a file, so that
// a child process shares the parent's fake clock.
type fileClock struct{ path string }

func (c fileClock) Now() time.Time {
	for range 100 {
		b, err := os.ReadFile(c.path)
		if err == nil {
			if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
				return t
			}
		}
		time.Sleep(time.Millisecond)
	}
	panic("clock file unreadable: " + c.path)
}

func writeClock(t testing.TB, path string, now time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(now.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newKeyring(t testing.TB) *secret.Keyring {
	t.Helper()
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// addProfiles creates n profiles p1…pn (not connected to anything).
func addProfiles(t testing.TB, st store.Store, n int) []*sam.Profile {
	t.Helper()
	var out []*sam.Profile
	for i := range n {
		p := &sam.Profile{Name: "p" + string(rune('1'+i)), TenantID: "00000000-0000-0000-0000-000000000001",
			ClientID: "00000000-0000-0000-0000-000000000002", AuthMode: sam.AuthClientSecret,
			LoginURL: "https://127.0.0.1:1", GraphURL: "https://127.0.0.1:1", State: sam.ProfileDraft}
		if err := st.CreateProfile(context.Background(), p); err != nil {
			t.Fatalf("create profile: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// newRunner builds a started runner polling every 10ms; it stops at the end
// of the test.
func newRunner(t testing.TB, cfg job.Config) *job.Runner {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Keyring == nil {
		cfg.Keyring = newKeyring(t)
	}
	if cfg.DefaultSchedules == nil {
		cfg.DefaultSchedules = []job.Schedule{}
	}
	r, err := job.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("start runner: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// waitFor polls cond until it holds, failing the test after 90 seconds (a loaded machine, -race).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until job id is in state and returns it.
func waitState(t testing.TB, r *job.Runner, id int64, state job.State) *job.Job {
	t.Helper()
	var j *job.Job
	waitFor(t, "job to be "+string(state), func() bool {
		var err error
		if j, err = r.Job(context.Background(), id); err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		return j.State == state
	})
	return j
}

func attempts(t testing.TB, r *job.Runner, id int64) []job.Attempt {
	t.Helper()
	as, err := r.Attempts(context.Background(), id)
	if err != nil {
		t.Fatalf("attempts of %d: %v", id, err)
	}
	return as
}

func outcomes(as []job.Attempt) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Outcome)
	}
	return out
}

// childProcess is this test binary run again as another instance of the
// queue, in a process that a test can kill for real.
type childProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
}

// startChild runs this test binary with -test.run=^name$ and args, env
// added to its environment, passes every line of its standard output to
// onLine (when not nil) and returns once the child printed "ready". It
// fails the test when the child exits first or is not ready within 60 s;
// the child is killed when the test ends.
func startChild(t *testing.T, name string, args, env []string, onLine func(string)) *childProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^" + name + "$"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProcess{cmd: cmd, exited: make(chan struct{})}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	ready := make(chan struct{})
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
			}
			if onLine != nil {
				onLine(line)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-c.exited:
		t.Fatal("child instance exited before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatal("child instance not ready after 60s")
	}
	return c
}

// kill kills the child (SIGKILL) in the middle of whatever it does and
// waits for it to exit.
func (c *childProcess) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}
