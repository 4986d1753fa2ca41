package odata

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestBodySlotsReleased: every way a Send ends (decoded, not decoded, a
// body that does not decode, a truncated or too large body, an error
// answer, a retry, a cancellation while the body is read) gives back the
// body slot it took. Not parallel: bodySlots is the process's, and the
// package's parallel tests run after this one.
func TestBodySlotsReleased(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step // answered first, then okEntity
		decode  bool
		maxBody int64
		cancel  bool // the client's context is cancelled while the body is read
		wantErr bool
	}{
		{name: "decoded", decode: true},
		{name: "no decoder"},
		{name: "malformed body, retried", steps: []step{jsonAnswer(200, `{"id":`)}, decode: true},
		{name: "malformed bodies to the limit", steps: []step{jsonAnswer(200, `{"id":`), jsonAnswer(200, `{"id":`), jsonAnswer(200, `{"id":`)}, decode: true, wantErr: true},
		{name: "truncated body, retried", steps: []step{truncated(okEntity)}, decode: true},
		{name: "body too large", decode: true, maxBody: 10, wantErr: true},
		{name: "error answers, retried", steps: []step{jsonAnswer(500, `{}`), jsonAnswer(503, `{}`)}, decode: true},
		{name: "cancelled while the body is read", decode: true, cancel: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			final := jsonAnswer(200, okEntity)
			if tt.cancel {
				final = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(200)
					w.(http.Flusher).Flush()
					cancel()
					time.Sleep(50 * time.Millisecond)
				}
			}
			s := newScript(t, final, tt.steps...)
			c, _ := testClient(t, func(cfg *Config) {
				cfg.MaxAttempts = 3
				cfg.MaxBodyBytes = tt.maxBody
			})
			r := &Request{Method: http.MethodGet, URL: s.url("/x"), Idempotent: true}
			if tt.decode {
				r.Decode = func(_ int, _ http.Header, body []byte) error {
					var v struct{ ID string }
					return json.Unmarshal(body, &v)
				}
			}
			err := c.Send(ctx, r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send: %v, want error %v", err, tt.wantErr)
			}
			if n := len(bodySlots); n != 0 {
				t.Fatalf("%d body slots held after Send returned", n)
			}
		})
	}
}

// TestBodySlotsBound: with every body slot taken, a successful answer
// waits for one, and a cancellation ends the wait.
func TestBodySlotsBound(t *testing.T) {
	for i := range cap(bodySlots) {
		select {
		case bodySlots <- struct{}{}:
		default:
			for range i {
				<-bodySlots
			}
			t.Fatalf("%d body slots held before the test", cap(bodySlots)-i)
		}
	}
	s := newScript(t, jsonAnswer(200, okEntity))
	c, _ := testClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Get(ctx, s.url("/x"), nil, nil)
	for range cap(bodySlots) {
		<-bodySlots
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with every body slot taken: %v, want the deadline", err)
	}
	if err := c.Get(context.Background(), s.url("/x"), nil, nil); err != nil {
		t.Fatalf("Get once the slots are free: %v", err)
	}
	if n := len(bodySlots); n != 0 {
		t.Fatalf("%d body slots held", n)
	}
}
