package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// SignatureHeader carries a webhook's signature:
// "t=<Unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
const SignatureHeader = "X-Seatwise-Signature"

// WebhookConfig is where and how to post notices.
type WebhookConfig struct {
	// URL of the incoming webhook (Teams, Slack or any JSON receiver). It
	// often holds a secret itself, so errors show its scheme and host only.
	URL string
	// Secret signs each request (SignatureHeader); none when empty.
	Secret []byte
	// Client sends the requests (a client with a 10-second timeout when
	// nil).
	Client *http.Client
	// Attempts is how many times a post is tried on 5xx, 429 and network
	// errors (4 when 0).
	Attempts int
	// Backoff is the wait before the second attempt, doubled each time and
	// replaced by Retry-After when the receiver sends one (1 second when
	// 0; Retry-After is capped at a minute).
	Backoff time.Duration
	// Now is the clock of the signature (time.Now when nil).
	Now func() time.Time
}

// WebhookSender posts JSON to an incoming webhook. It is safe for
// concurrent use.
type WebhookSender struct {
	cfg  WebhookConfig
	site string // scheme://host for messages
}

// NewWebhookSender checks cfg. EINVALID unless URL is an absolute http or
// https URL.
func NewWebhookSender(cfg WebhookConfig) (*WebhookSender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sam.Errorf(sam.EINVALID, "webhook URL must be an absolute http(s) URL")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &WebhookSender{cfg: cfg, site: u.Scheme + "://" + u.Host}, nil
}

// Site is the webhook's scheme and host, safe to show.
func (w *WebhookSender) Site() string { return w.site }

// Sign returns the SignatureHeader value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(secret, ts, body))
}

func signature(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a SignatureHeader value for body, for receivers:
// the signature must match (constant-time) and its time must be within
// tolerance of now, which stops replays. EUNAUTHORIZED otherwise.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return sam.Errorf(sam.EUNAUTHORIZED, "webhook signature header is malformed")
	}
	want := signature(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return sam.Errorf(sam.EUNAUTHORIZED, "webhook signature does not match")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return sam.Errorf(sam.EUNAUTHORIZED, "webhook signature time is %s away from now, more than %s", d.Round(time.Second), tolerance)
	}
	return nil
}

// Post sends payload as JSON, signed when a secret is configured, retrying
// on 5xx, 429 and network errors with exponential backoff (honouring
// Retry-After). Errors are EUNAVAILABLE (retries exhausted, timeout) or
// EINVALID (the receiver refused the request with another 4xx); they name
// the webhook's host, never its full URL.
func (w *WebhookSender) Post(ctx context.Context, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return sam.Wrap(sam.EINTERNAL, err, "webhook payload")
	}
	wait := w.cfg.Backoff
	var last error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		retry, after, err := w.once(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == w.cfg.Attempts {
			break
		}
		d := wait
		if after > 0 {
			d = min(after, time.Minute)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return sam.Errorf(sam.EUNAVAILABLE, "webhook %s: gave up waiting to retry (%v) after: %s", w.site, ctx.Err(), sam.ErrorMessage(last))
		case <-t.C:
		}
		wait *= 2
	}
	return last
}

// once posts body one time; retry says whether another attempt may help.
func (w *WebhookSender) once(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, sam.Errorf(sam.EINVALID, "webhook %s: cannot build the request", w.site)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Seatwise")
	if len(w.cfg.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, w.cfg.Now(), body))
	}
	res, err := w.cfg.Client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may hold a secret: keep only
		// the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil, 0, sam.Errorf(sam.EUNAVAILABLE, "webhook %s: %v", w.site, err)
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return false, 0, nil
	}
	msg := fmt.Sprintf("webhook %s answered %s", w.site, res.Status)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		msg += ": " + s
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		if sec, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && sec >= 0 {
			after = time.Duration(sec) * time.Second
		}
		return true, after, sam.Errorf(sam.EUNAVAILABLE, "%s", msg)
	}
	return false, 0, sam.Errorf(sam.EINVALID, "%s", msg)
}
