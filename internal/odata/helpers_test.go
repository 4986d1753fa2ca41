package odata

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// step answers one request of a scripted server.
type step func(w http.ResponseWriter, r *http.Request)

// script is an httptest server that answers request n with steps[n], and
// with final once the steps are used up. It records every request.
type script struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	steps []step
	final step
	reqs  []recorded
}

type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

func newScript(t *testing.T, final step, steps ...step) *script {
	t.Helper()
	s := &script{t: t, steps: steps, final: final}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, 0)
		if r.Body != nil {
			buf := make([]byte, 1<<16)
			n, _ := r.Body.Read(buf)
			body = buf[:n]
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		var st step
		if len(s.steps) > 0 {
			st, s.steps = s.steps[0], s.steps[1:]
		} else {
			st = s.final
		}
		s.mu.Unlock()
		st(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *script) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *script) url(path string) string { return s.srv.URL + path }

// Answers used by the scripts.

func jsonAnswer(status int, body string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func withHeader(k, v string, s step) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(k, v)
		s(w, r)
	}
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// truncated announces a body longer than what it sends, then closes.
func truncated(body string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		half := body[:len(body)/2]
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), half)
		buf.Flush()
		conn.Close()
	}
}

// fakeSleep records the waits the client asks for and returns at once.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeSleep) all() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// testClient returns a Client with a fake sleep and a fixed clock.
func testClient(t *testing.T, mod func(*Config)) (*Client, *fakeSleep) {
	t.Helper()
	fs := &fakeSleep{}
	cfg := Config{
		Service:   ServiceGraph,
		Tokens:    StaticToken("tok-1"),
		Sleep:     fs.Sleep,
		Now:       func() time.Time { return testNow },
		BaseDelay: 100 * time.Millisecond,
		MaxDelay:  time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg), fs
}

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// countingTokens hands out tok-1, tok-2, ... and counts Invalidate calls.
type countingTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (c *countingTokens) Token(context.Context) (Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.n = 1
	}
	return Token{AccessToken: fmt.Sprintf("tok-%d", c.n)}, nil
}

func (c *countingTokens) Invalidate(t Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidated = append(c.invalidated, t.AccessToken)
	if t.AccessToken == fmt.Sprintf("tok-%d", c.n) {
		c.n++
	}
}
