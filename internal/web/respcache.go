package web

import (
	"bytes"
	"container/list"
	"context"
	"net/http"
	"sync"
	"time"
)

// The data stamp and the answer cache.
//
// What the listings, reports and dashboards show changes only when a run
// starts or finishes, a profile or entitlement is added, changed or removed,
// or someone changes something through the API or web UI (every such
// change is in the audit log): the store's change stamp
// (store.ChangeStampStore) says when. It is read at most once per
// stampEvery, by one request while the others go on with the stamp they
// have, and at once after this server handled a change. Answers of routes
// marked Cache are kept, per URL, while the stamp is unchanged: a change
// made by another process (a CLI sync, another instance on PostgreSQL) is
// seen within stampEvery.

// stampEvery is how long a data stamp is trusted before it is read again.
const stampEvery = time.Second

// answerCacheBytes bounds the memory of cached answers.
const answerCacheBytes = 64 << 20

// maxCachedAnswer is the largest answer kept.
const maxCachedAnswer = 1 << 20

type stampState struct {
	mu         sync.Mutex
	stamp      string
	at         time.Time
	refreshing bool
	changes    uint64 // changes this server made (dataChanged)
	seen       uint64 // changes made before the stamp was read
}

// dataStamp returns the current data stamp (see above). After a change by
// this server it reads the stamp before answering, so that a client sees
// its own change.
func (s *Server) dataStamp(ctx context.Context) (string, error) {
	s.stamp.mu.Lock()
	current := s.stamp.seen == s.stamp.changes
	if s.stamp.stamp != "" && current && (s.stamp.refreshing || time.Since(s.stamp.at) < stampEvery) {
		st := s.stamp.stamp
		s.stamp.mu.Unlock()
		return st, nil
	}
	changes := s.stamp.changes
	s.stamp.refreshing = true
	s.stamp.mu.Unlock()
	st, err := s.cfg.Store.ChangeStamp(ctx)
	s.stamp.mu.Lock()
	defer s.stamp.mu.Unlock()
	s.stamp.refreshing = false
	if err != nil {
		return "", err
	}
	if changes >= s.stamp.seen {
		s.stamp.stamp, s.stamp.at, s.stamp.seen = st, time.Now(), changes
	}
	return st, nil
}

// dataChanged makes the next dataStamp read the database (this server just
// changed something).
func (s *Server) dataChanged() {
	s.stamp.mu.Lock()
	s.stamp.changes++
	s.stamp.mu.Unlock()
	s.principals.clear()
}

// answerCache keeps whole answers of cacheable routes by URL, least
// recently used evicted first.
type answerCache struct {
	mu       sync.Mutex
	stamp    string
	entries  map[string]*list.Element
	lru      list.List // of *cachedAnswer, most recent first
	bytes    int
	hits     int64
	misses   int64
	inflight map[string]chan struct{} // answers being computed, by key
}

type cachedAnswer struct {
	key         string
	contentType string
	body        []byte
}

// flight waits until no other request computes the answer of key, then
// marks this one as computing it; the returned function ends that.
func (c *answerCache) flight(key string) func() {
	for {
		c.mu.Lock()
		if c.inflight == nil {
			c.inflight = map[string]chan struct{}{}
		}
		ch, busy := c.inflight[key]
		if !busy {
			done := make(chan struct{})
			c.inflight[key] = done
			c.mu.Unlock()
			return func() {
				c.mu.Lock()
				delete(c.inflight, key)
				c.mu.Unlock()
				close(done)
			}
		}
		c.mu.Unlock()
		<-ch
	}
}

// get returns the answer kept for key under stamp.
func (c *answerCache) get(stamp, key string) (*cachedAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp != stamp {
		c.stamp, c.entries, c.bytes = stamp, map[string]*list.Element{}, 0
		c.lru.Init()
	}
	if e, ok := c.entries[key]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		return e.Value.(*cachedAnswer), true
	}
	c.misses++
	return nil, false
}

// put keeps an answer computed under stamp.
func (c *answerCache) put(stamp string, a *cachedAnswer) {
	if len(a.body) > maxCachedAnswer {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp != stamp {
		return // the data changed while the answer was computed
	}
	if old, ok := c.entries[a.key]; ok {
		c.bytes -= len(old.Value.(*cachedAnswer).body)
		c.lru.Remove(old)
	}
	c.entries[a.key] = c.lru.PushFront(a)
	c.bytes += len(a.body)
	for c.bytes > answerCacheBytes {
		last := c.lru.Back()
		la := last.Value.(*cachedAnswer)
		c.lru.Remove(last)
		delete(c.entries, la.key)
		c.bytes -= len(la.body)
	}
}

// bufferedAnswer captures an answer to keep it.
type bufferedAnswer struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }
func (b *bufferedAnswer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedAnswer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}

// serveCached answers a cacheable route from the cache, or runs its
// handler and keeps a successful answer. The key is the request URL: the
// answers of cacheable routes do not depend on who asks (access was checked
// before).
func (s *Server) serveCached(rt *Route, w http.ResponseWriter, r *http.Request) error {
	stamp, err := s.dataStamp(r.Context())
	if err != nil {
		return err
	}
	key := r.URL.RequestURI()
	// One computation per URL at a time: concurrent misses wait for it
	// (then find the answer kept) instead of repeating it.
	release := s.answers.flight(key)
	defer release()
	if a, ok := s.answers.get(stamp, key); ok {
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Seatwise-Cache", "hit")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(a.body)
		return err
	}
	b := &bufferedAnswer{header: http.Header{}}
	if err := rt.Handler(s, b, r); err != nil {
		return err
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("X-Seatwise-Cache", "miss")
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if _, err := w.Write(b.buf.Bytes()); err != nil {
		return err
	}
	if status == http.StatusOK {
		s.answers.put(stamp, &cachedAnswer{key: key, contentType: b.header.Get("Content-Type"), body: b.buf.Bytes()})
	}
	return nil
}
