package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Defaults of Config.
const (
	DefaultMaxConcurrency = 4
	DefaultMaxAttempts    = 6
	DefaultMaxWait        = 2 * time.Minute
	DefaultBaseDelay      = 500 * time.Millisecond
	DefaultMaxDelay       = 30 * time.Second
	DefaultAttemptTimeout = 100 * time.Second
	DefaultMaxBodyBytes   = 256 << 20
	DefaultUserAgent      = "seatwise"
)

// Config configures a Client. The zero value of every field means its
// default.
type Config struct {
	// Service names the service in errors: ServiceGraph, ServiceDataverse
	// or ServiceEntra.
	Service string
	// HTTPClient sends the requests; nil means a client built like
	// NewHTTPClient("") (system roots). Its Timeout should be zero: the
	// Client bounds each attempt with AttemptTimeout instead.
	HTTPClient *http.Client
	// Tokens supplies the bearer token; nil sends no Authorization header
	// (the Entra token endpoint).
	Tokens TokenSource
	// UserAgent is sent as User-Agent (default "seatwise").
	UserAgent string
	// MaxConcurrency bounds the requests in flight on this Client
	// (default 4). Waiting between retries does not hold a slot.
	MaxConcurrency int
	// MaxAttempts bounds how many times one request is sent (default 6).
	// The refresh-and-retry after a 401 is not counted.
	MaxAttempts int
	// MaxWait bounds the total time one request spends waiting between
	// attempts (default 2 minutes). A Retry-After longer than what is left
	// ends the retries at once with the throttling error.
	MaxWait time.Duration
	// BaseDelay and MaxDelay shape the exponential backoff used when the
	// service sent no Retry-After: the n-th retry waits a uniformly random
	// duration in [0, min(MaxDelay, BaseDelay·2ⁿ⁻¹)) ("full jitter").
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// AttemptTimeout bounds one attempt, reading the body included
	// (default 100 s). An attempt that times out is retried.
	AttemptTimeout time.Duration
	// MaxBodyBytes bounds a response body (default 256 MiB); a larger body
	// fails the request without retry.
	MaxBodyBytes int64
	// Counters receives the request statistics; nil gives the Client its
	// own. Share one Counters between Clients to get run totals.
	Counters *Counters
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case.
	// nil means a real timer; tests substitute a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now returns the current time, used for HTTP-date Retry-After values;
	// nil means time.Now.
	Now func() time.Time
	// Budget, when set, admits every attempt (see Controller): requests
	// wait for it after the MaxConcurrency slot and report their answer
	// to it, so that every Client sharing it adapts together to
	// throttling and rate-limit headers.
	Budget *Controller
}

// Client sends requests to one Microsoft service. It is safe for concurrent
// use.
type Client struct {
	cfg      Config
	sem      chan struct{}
	counters *Counters
}

// New returns a Client for cfg, filling in defaults.
func New(cfg Config) *Client {
	if cfg.Service == "" {
		cfg.Service = "http"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient, _ = NewHTTPClient("")
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Counters == nil {
		cfg.Counters = NewCounters()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrency), counters: cfg.Counters}
}

// Service returns the service name the Client reports in errors.
func (c *Client) Service() string { return c.cfg.Service }

// Counters returns the Client's counters.
func (c *Client) Counters() *Counters { return c.counters }

// Stats returns a snapshot of the Client's counters.
func (c *Client) Stats() Stats { return c.counters.Snapshot() }

// Budget returns the Controller admitting the Client's requests (nil when
// none).
func (c *Client) Budget() *Controller { return c.cfg.Budget }

// HTTPClient returns the *http.Client the Client sends with.
func (c *Client) HTTPClient() *http.Client { return c.cfg.HTTPClient }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Request is one HTTP request for Send.
type Request struct {
	Method string
	URL    string
	// Header is added to the defaults (Accept: application/json, OData
	// version headers, User-Agent, Authorization).
	Header http.Header
	// Body is sent as is with ContentType; nil for none.
	Body        []byte
	ContentType string
	// Idempotent allows retrying after a failure that may have happened
	// after the service acted (dropped connection, timeout, malformed
	// success body). Throttling and 5xx answers are retried regardless:
	// Microsoft rejects those requests before acting on them.
	Idempotent bool
	// Decode is called with a successful (2xx) response's status, header
	// and complete body. An error from it is treated as a malformed
	// response: retried when Idempotent, else returned.
	Decode func(status int, header http.Header, body []byte) error
}

// Get sends a GET request and decodes the JSON response body into out
// (nil: discard; *[]byte: the raw body). header adds request headers (may be
// nil). Errors are *sam.Error wrapping *Error, see the package comment.
func (c *Client) Get(ctx context.Context, rawURL string, header http.Header, out any) error {
	return c.Send(ctx, &Request{Method: http.MethodGet, URL: rawURL, Header: header, Idempotent: true, Decode: decodeInto(out)})
}

// Do sends a request with method and an optional JSON body in (nil: no
// body) and decodes the JSON response into out (nil: discard). A 204 No
// Content answer leaves out untouched; an empty 200 body is malformed.
// GET, PUT, DELETE and HEAD are retried after network failures; POST and
// PATCH only after answers that prove the service did not act (429, 5xx).
func (c *Client) Do(ctx context.Context, method, rawURL string, header http.Header, in, out any) error {
	r := &Request{Method: method, URL: rawURL, Header: header, Decode: decodeInto(out)}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		r.Idempotent = true
	}
	if in != nil {
		body, err := json.Marshal(in)
		if err != nil {
			return sam.Wrap(sam.EINTERNAL, err, "%s: encoding %s request body", c.cfg.Service, method)
		}
		r.Body, r.ContentType = body, "application/json"
	}
	return c.Send(ctx, r)
}

// PostForm sends an application/x-www-form-urlencoded POST (the OAuth token
// endpoint) without an Authorization header unless the Client has Tokens,
// retrying it like an idempotent request, and decodes the JSON answer into
// out. The form is never part of an error.
func (c *Client) PostForm(ctx context.Context, rawURL string, form url.Values, out any) error {
	return c.Send(ctx, &Request{
		Method: http.MethodPost, URL: rawURL, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", Idempotent: true, Decode: decodeInto(out),
	})
}

func decodeInto(out any) func(int, http.Header, []byte) error {
	return func(status int, _ http.Header, body []byte) error {
		switch o := out.(type) {
		case nil:
			return nil
		case *[]byte:
			*o = body
			return nil
		}
		if status == http.StatusNoContent {
			return nil // nothing to decode; out is left as it is
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return errors.New("empty response body")
		}
		return json.Unmarshal(body, out)
	}
}

// response is what one attempt produced.
type response struct {
	status int
	header http.Header
	body   []byte
	// release gives back the body slot of a successful answer, after it
	// was decoded (other answers' slot is already back; calling it again
	// does nothing).
	release func()
}

// bodySlots bounds the successful response bodies read and decoded at the
// same time in the process. A page of 5,000 audit rows is megabytes of
// JSON, and about as much again while it is decoded: the parallel audit
// backfill has dozens of requests in flight (most of them waiting on
// Microsoft), and unbounded they would hold all their pages in memory at
// once. Waiting requests hold no slot; only reading and decoding does, and
// two cores decode no faster with more than a few at once.
var bodySlots = make(chan struct{}, max(8, 2*runtime.GOMAXPROCS(0)))

// Send sends r with the retry policy: 429, 500, 502, 503 and 504 and
// (for idempotent requests) network failures, timeouts, truncated and
// malformed bodies are retried up to MaxAttempts, waiting Retry-After when
// given (seconds, fractional seconds or an HTTP date) or a capped
// exponential backoff with full jitter otherwise, within MaxWait in total.
// A 401 invalidates the token and is retried once with a fresh one. Every
// wait ends early when ctx is done, and the ctx error is returned.
func (c *Client) Send(ctx context.Context, r *Request) error {
	host := hostOf(r.URL)
	if host == "" {
		return sam.Errorf(sam.EINVALID, "%s: %s %s: not an absolute http(s) URL", c.cfg.Service, r.Method, RedactURL(r.URL))
	}
	var (
		attempts  int
		waited    time.Duration
		refreshed bool
	)
	for {
		attempts++
		resp, tok, err := c.attempt(ctx, r, host)
		if ctx.Err() != nil {
			if resp != nil {
				resp.release()
			}
			return sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "%s: %s %s cancelled", c.cfg.Service, r.Method, RedactURL(r.URL))
		}
		var tokErr *tokenError
		if errors.As(err, &tokErr) {
			c.counters.add(host, func(h *HostStats) { h.Failures++ })
			return tokErr.err
		}
		e := &Error{Service: c.cfg.Service, Method: r.Method, URL: RedactURL(r.URL), Attempts: attempts}
		retry := false
		switch {
		case err != nil:
			e.Err = err
			retry = r.Idempotent
		case resp.status >= 200 && resp.status < 300:
			if r.Decode == nil {
				resp.release()
				return nil
			}
			derr := func() error {
				defer resp.release() // also if Decode panics
				return r.Decode(resp.status, resp.header, resp.body)
			}()
			if derr == nil {
				return nil
			}
			e.Err = fmt.Errorf("malformed response body: %w", derr)
			e.RequestID = requestID(resp.header)
			retry = r.Idempotent
		default:
			e.Status = resp.status
			c.fillFromBody(e, resp)
			if resp.status == http.StatusUnauthorized && !refreshed && c.cfg.Tokens != nil {
				refreshed = true
				c.cfg.Tokens.Invalidate(tok)
				c.counters.add(host, func(h *HostStats) { h.Retries++ })
				attempts-- // the refresh retry is not counted against MaxAttempts
				continue
			}
			retry = retryableStatus(resp.status)
		}
		if !retry || attempts >= c.cfg.MaxAttempts {
			c.counters.add(host, func(h *HostStats) { h.Failures++ })
			return classified(e)
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = c.backoff(attempts)
		}
		if waited+wait > c.cfg.MaxWait {
			c.counters.add(host, func(h *HostStats) { h.Failures++ })
			return classified(e)
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return sam.Wrap(sam.EUNAVAILABLE, err, "%s: %s %s cancelled while waiting to retry (%v)", c.cfg.Service, r.Method, RedactURL(r.URL), e)
		}
		waited += wait
		c.counters.add(host, func(h *HostStats) { h.Retries++ })
	}
}

// backoff returns the full-jitter wait before retry number n (1-based).
func (c *Client) backoff(n int) time.Duration {
	ceil := c.cfg.BaseDelay
	for i := 1; i < n && ceil < c.cfg.MaxDelay; i++ {
		ceil *= 2
	}
	if ceil > c.cfg.MaxDelay {
		ceil = c.cfg.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// tokenError marks a TokenSource failure, returned unchanged.
type tokenError struct{ err error }

func (t *tokenError) Error() string { return t.err.Error() }

// attempt sends r once, holding a concurrency slot, and reads the whole
// body. It returns the token it used (for Invalidate).
func (c *Client) attempt(ctx context.Context, r *Request, host string) (*response, Token, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, Token{}, ctx.Err()
	}
	defer func() { <-c.sem }()

	var tok Token
	if c.cfg.Tokens != nil {
		t, err := c.cfg.Tokens.Token(ctx)
		if err != nil {
			return nil, Token{}, &tokenError{err}
		}
		tok = t
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(actx, r.Method, r.URL, body)
	if err != nil {
		// NewRequest errors quote the URL; keep only the redacted form.
		return nil, tok, fmt.Errorf("invalid request URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	for k, vs := range r.Header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if tok.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	// The answer's status and headers go to the Budget when the body has
	// been read (the service's execution time includes sending it).
	var answer *http.Response
	if c.cfg.Budget != nil {
		permit, err := c.cfg.Budget.Acquire(ctx)
		if err != nil {
			return nil, tok, err
		}
		defer func() {
			if answer == nil {
				permit.Done(0, nil, 0)
				return
			}
			ra, _ := ParseRetryAfter(answer.Header.Get("Retry-After"), c.cfg.Now())
			permit.Done(answer.StatusCode, answer.Header, ra)
		}()
	}
	c.counters.add(host, func(h *HostStats) { h.Requests++ })
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, tok, transportError(err)
	}
	answer = res
	defer res.Body.Close()
	if res.StatusCode == http.StatusTooManyRequests {
		c.counters.add(host, func(h *HostStats) { h.Throttles++ })
	}
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	if ok {
		select {
		case bodySlots <- struct{}{}:
		case <-ctx.Done():
			return nil, tok, ctx.Err()
		}
	}
	release := sync.OnceFunc(func() {
		if ok {
			<-bodySlots
		}
	})
	var buf bytes.Buffer
	if n := res.ContentLength; n > 0 && n <= c.cfg.MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(res.Body, c.cfg.MaxBodyBytes+1))
	data := buf.Bytes()
	if err != nil {
		if ok {
			release()
			return nil, tok, fmt.Errorf("reading response body: %w", transportError(err))
		}
		// An error answer whose body broke off is still that answer.
	}
	if int64(len(data)) > c.cfg.MaxBodyBytes {
		release()
		return nil, tok, fmt.Errorf("response body larger than %d bytes", c.cfg.MaxBodyBytes)
	}
	if !ok {
		release()
	}
	return &response{status: res.StatusCode, header: res.Header, body: data, release: release}, tok, nil
}

// transportError strips the URL that net/http puts into *url.Error (it may
// carry query secrets); the Error around it has the redacted URL.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

func (c *Client) fillFromBody(e *Error, resp *response) {
	b, _ := ParseErrorBody(resp.body)
	e.Code, e.Message, e.InnerCode = b.Code, b.Message, b.InnerCode
	e.ErrorCodes, e.TraceID, e.CorrelationID = b.ErrorCodes, b.TraceID, b.CorrelationID
	e.RequestID = b.RequestID
	if e.Code == "" {
		// Dataverse (and Graph for some token errors) explain a 401 only in
		// the WWW-Authenticate challenge.
		e.Code, e.Message = challengeError(resp.header.Get("WWW-Authenticate"), e.Message)
	}
	if e.RequestID == "" {
		e.RequestID = requestID(resp.header)
	}
	if d, ok := ParseRetryAfter(resp.header.Get("Retry-After"), c.cfg.Now()); ok {
		e.RetryAfter = d
	}
}

func requestID(h http.Header) string {
	if h == nil {
		return ""
	}
	if v := h.Get("request-id"); v != "" {
		return v
	}
	if v := h.Get("x-ms-request-id"); v != "" {
		return v
	}
	return h.Get("x-ms-service-request-id")
}

// hostOf returns the host[:port] of an absolute http(s) URL, "" otherwise.
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Host)
}

var challengeParam = regexp.MustCompile(`([A-Za-z_]+)="([^"]*)"`)

// challengeError returns the error and error_description parameters of a
// Bearer challenge (RFC 6750); msg is kept when the challenge has no
// description.
func challengeError(challenge, msg string) (code, message string) {
	message = msg
	for _, m := range challengeParam.FindAllStringSubmatch(challenge, -1) {
		switch strings.ToLower(m[1]) {
		case "error":
			code = m[2]
		case "error_description":
			if message == "" {
				message = firstLine(m[2], 500)
			}
		}
	}
	return code, message
}
