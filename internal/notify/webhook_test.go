package notify

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// receiver is an incoming webhook on loopback answering with the given
// statuses in turn (200 once they run out).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	sigs     []string
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get(SignatureHeader))
		status := 200
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		if status == 429 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
		io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// newBenchReceiver is a webhook that accepts everything; it returns its URL.
func newBenchReceiver(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

func (r *receiver) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func TestWebhookPost(t *testing.T) {
	secret := []byte("webhook signing key")
	tests := []struct {
		name      string
		statuses  []int
		wantCalls int
		wantCode  sam.Code
	}{
		{"delivered", nil, 1, ""},
		{"retried after 503 and 429", []int{503, 429}, 3, ""},
		{"gives up after the attempts", []int{500, 502, 503, 504}, 4, sam.EUNAVAILABLE},
		{"no retry on 400", []int{400}, 1, sam.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.statuses...)
			w, err := NewWebhookSender(WebhookConfig{URL: r.srv.URL + "/services/T000/B000/SECRETPATH", Secret: secret, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Post(t.Context(), map[string]string{"text": "hello"})
			if got := r.calls(); got != tc.wantCalls {
				t.Errorf("%d requests, want %d", got, tc.wantCalls)
			}
			if tc.wantCode != "" {
				if !sam.IsCode(err, tc.wantCode) {
					t.Fatalf("Post: %v, want %s", err, tc.wantCode)
				}
				if strings.Contains(err.Error(), "SECRETPATH") {
					t.Errorf("error shows the webhook's path: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			last := len(r.bodies) - 1
			if err := VerifySignature(secret, r.sigs[last], r.bodies[last], time.Now(), time.Minute); err != nil {
				t.Errorf("signature: %v", err)
			}
			if string(r.bodies[last]) != `{"text":"hello"}` {
				t.Errorf("body %s", r.bodies[last])
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	r := newReceiver(t)
	url := r.srv.URL + "/hook/SECRETPATH"
	r.srv.Close()
	w, err := NewWebhookSender(WebhookConfig{URL: url, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Post(t.Context(), map[string]string{"text": "x"})
	if !sam.IsCode(err, sam.EUNAVAILABLE) || strings.Contains(err.Error(), "SECRETPATH") {
		t.Fatalf("Post to a closed port: %v, want EUNAVAILABLE without the path", err)
	}
}

func TestVerifySignature(t *testing.T) {
	key := []byte("k")
	body := []byte(`{"a":1}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(key, now, body)
	tests := []struct {
		name   string
		key    []byte
		header string
		body   []byte
		at     time.Time
		ok     bool
	}{
		{"valid", key, good, body, now, true},
		{"within tolerance", key, good, body, now.Add(4 * time.Minute), true},
		{"replayed later", key, good, body, now.Add(10 * time.Minute), false},
		{"other key", []byte("other"), good, body, now, false},
		{"body altered", key, good, []byte(`{"a":2}`), now, false},
		{"timestamp altered", key, strings.Replace(good, "t=1800000000", "t=1800000001", 1), body, now, false},
		{"malformed", key, "v1=zz", body, now, false},
		{"empty", key, "", body, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.key, tc.header, tc.body, tc.at, 5*time.Minute)
			if (err == nil) != tc.ok {
				t.Errorf("VerifySignature: %v, want ok=%t", err, tc.ok)
			}
			if err != nil && !sam.IsCode(err, sam.EUNAUTHORIZED) {
				t.Errorf("code %s, want unauthorized", sam.ErrorCode(err))
			}
		})
	}
}
