package connect

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultPendingTTL is how long a server waits for the redirect of a
// sign-in step (authorization codes themselves live 10 minutes).
const DefaultPendingTTL = 15 * time.Minute

// Pending holds the sign-ins a server has started until their redirects
// arrive at its callback route, keyed by the state of each one's current
// step. It is safe for concurrent use.
type Pending struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]pendingEntry
}

type pendingEntry struct {
	s       *SignIn
	started time.Time
}

// NewPending returns an empty registry whose sign-in steps expire after
// ttl (0: DefaultPendingTTL); now is the clock (nil: time.Now).
func NewPending(ttl time.Duration, now func() time.Time) *Pending {
	if ttl <= 0 {
		ttl = DefaultPendingTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Pending{ttl: ttl, now: now, m: map[string]pendingEntry{}}
}

// Start starts s, keeps it under its state and returns the URL to send the
// browser to. Expired entries are dropped.
func (p *Pending) Start(s *SignIn) (string, error) {
	u, err := s.Start()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire()
	p.m[s.State()] = pendingEntry{s: s, started: p.now()}
	return u, nil
}

// Callback handles a redirect at the server's callback route: it finds the
// sign-in whose current step has q's state and runs its Callback. It
// returns the URL of the next consent (the sign-in is kept under its new
// state) or "" with the completed sign-in, whose profile the caller then
// marks connected (MarkConnected). A state that matches no sign-in in
// progress, or one that expired, is EUNAUTHORIZED and touches nothing; a
// step that fails ends its sign-in.
func (p *Pending) Callback(ctx context.Context, q url.Values) (next string, s *SignIn, err error) {
	state := q.Get("state")
	p.mu.Lock()
	p.expire()
	e, ok := p.m[state]
	if ok {
		delete(p.m, state)
	}
	p.mu.Unlock()
	if !ok || state == "" {
		return "", nil, sam.Errorf(sam.EUNAUTHORIZED, "no sign-in in progress matches this response (unknown or expired state): it was ignored; start the sign-in again")
	}
	next, err = e.s.Callback(ctx, q)
	if err != nil {
		return "", e.s, err
	}
	if next != "" {
		p.mu.Lock()
		p.m[e.s.State()] = pendingEntry{s: e.s, started: p.now()}
		p.mu.Unlock()
	}
	return next, e.s, nil
}

// Len returns how many sign-in steps are waiting for their redirect.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire()
	return len(p.m)
}

// expire drops steps older than the TTL. p.mu is held.
func (p *Pending) expire() {
	now := p.now()
	for k, e := range p.m {
		if now.Sub(e.started) > p.ttl {
			delete(p.m, k)
		}
	}
}

// Profile returns the profile being signed in.
func (s *SignIn) Profile() *sam.Profile { return s.profile }

// ProfileStore is the part of store.Store that MarkConnected writes.
type ProfileStore interface {
	UpdateProfile(ctx context.Context, p *sam.Profile) error
	SetProfileState(ctx context.Context, profileID int64, state sam.ProfileState, message string) error
}

// MarkConnected records a completed sign-in: the profile switches to
// delegated access and its state to connected (leaving needs_reauth).
func MarkConnected(ctx context.Context, st ProfileStore, p *sam.Profile, at time.Time) error {
	p.AuthMode = sam.AuthDelegated
	if err := st.UpdateProfile(ctx, p); err != nil {
		return err
	}
	return st.SetProfileState(ctx, p.ID, sam.ProfileConnected, "an administrator signed in on "+at.UTC().Format("2006-01-02 15:04 UTC"))
}
