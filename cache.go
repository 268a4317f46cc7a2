package connectjwt

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheSize is the number of verified access tokens a [Validator]
// remembers unless told otherwise ([WithCacheSize]).
const DefaultCacheSize = 4096

// maxCacheSize bounds WithCacheSize.
const maxCacheSize = 1 << 20

// cacheMaxAge bounds how long one verification is reused, whatever the
// token's exp: a key that disappears from a key set (rotation, compromise)
// stops being trusted through the cache within this time.
const cacheMaxAge = 5 * time.Minute

// maxCacheShards is the number of independently locked parts of the cache.
const maxCacheShards = 16

// minShardEntries is the fewest entries a shard holds when the cache is
// split: a shard of one or two entries gives a hot token no second chance,
// since every insert that lands there evicts it.
const minShardEntries = 16

// WithCacheSize sets how many verified access tokens a [Validator]
// remembers, by default [DefaultCacheSize]; 0 turns the cache off, so every
// call decodes the token and verifies its signature.
//
// When the same token is presented again, decoding and signature
// verification are skipped; the answer is the same as without the cache:
//
//   - only access tokens that passed every check up to and including the
//     time checks are remembered; failures and refresh tokens never are;
//   - a token is remembered until its exp, and never longer than five
//     minutes, so a key removed from a remote key set stops being trusted
//     within that time;
//   - every call still checks exp, nbf and iat (with leeway) against the
//     clock, and still asks the [RevocationStore] when one is configured,
//     so a revocation takes effect on the next call;
//   - concurrent calls with the same new token verify it once;
//   - at most n tokens are remembered, and only tokens that verified are,
//     so forged tokens cannot push out real ones; a token takes about
//     twice its length plus 350 bytes.
//
// The trade-off: calls that present the same token share one [Claims], which
// must be treated as read-only (as always), and a token stays accepted for
// up to five minutes after its key is removed from a remote key set. Use
// WithCacheSize(0) when that is not acceptable.
func WithCacheSize(n int) ValidatorOption {
	return validatorOption(func(c *config) {
		if n < 0 || n > maxCacheSize {
			c.errorf("WithCacheSize must be between 0 and %d", maxCacheSize)
		}
		c.cacheSize = n
		c.noCache = n == 0
	})
}

// tokenCache remembers verified access tokens. Lookups take no lock: the
// index is a [sync.Map], whose reads write no shared memory, so a hot token
// presented on many cores at once does not bounce a lock's cache line
// between them (with a read lock, two cores served a hit no faster than
// one). Inserts and evictions are sharded by a seeded hash of the token;
// each shard has its own lock, CLOCK ring and verifications in flight, and
// changes the index only under that lock.
type tokenCache struct {
	entries sync.Map // token (string) → *cacheEntry, each in its shard's ring
	seed    maphash.Seed
	mask    uint64
	shards  []cacheShard
}

type cacheShard struct {
	mu    sync.Mutex
	ring  []*cacheEntry // the shard's capacity, allocated at the first insert
	size  int
	hand  int
	calls map[string]*cacheCall // verifications in flight
	_     [64]byte              // keep shards on separate cache lines
}

// A cacheEntry is one verified token. Only used changes after insertion.
type cacheEntry struct {
	token   string
	claims  *Claims
	expires time.Time // no later than the token's exp
	slot    int
	used    atomic.Bool
}

// A cacheCall is a verification in flight; claims is set, before done is
// closed, when it succeeded.
type cacheCall struct {
	done   chan struct{}
	claims *Claims
}

// newTokenCache returns a cache of at most size entries, or nil for size
// <= 0.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n*2 <= maxCacheShards && n*2*minShardEntries <= size {
		n *= 2
	}
	per := size / n
	c := &tokenCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].size = per
	}
	return c
}

func (c *tokenCache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)&c.mask]
}

// get returns the entry for token if it is still live at now. It takes no
// lock.
func (c *tokenCache) get(token string, now time.Time) *cacheEntry {
	v, _ := c.entries.Load(token)
	e, _ := v.(*cacheEntry)
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	if !e.used.Load() { // read first: a hot entry's line stays shared
		e.used.Store(true)
	}
	return e
}

// len returns the number of entries, for tests.
func (c *tokenCache) len() int {
	n := 0
	c.entries.Range(func(any, any) bool {
		n++
		return true
	})
	return n
}

// insertLocked remembers claims for token until expires. s is token's
// shard, and s.mu is held.
func (c *tokenCache) insertLocked(s *cacheShard, token string, claims *Claims, expires, now time.Time) {
	if s.ring == nil {
		s.ring = make([]*cacheEntry, s.size)
	}
	e := &cacheEntry{token: token, claims: claims, expires: expires}
	if v, ok := c.entries.Load(token); ok {
		e.slot = v.(*cacheEntry).slot
		s.ring[e.slot] = e
		c.entries.Store(token, e)
		return
	}
	// CLOCK: take a free or expired slot, else the first entry not used
	// since the hand last passed it. Two turns find one unless lock-free
	// hits keep marking entries used meanwhile; then the token is simply
	// not remembered this time.
	for range 2 * len(s.ring) {
		i := s.hand
		s.hand = (s.hand + 1) % len(s.ring)
		victim := s.ring[i]
		if victim != nil && now.Before(victim.expires) && victim.used.Load() {
			victim.used.Store(false)
			continue
		}
		if victim != nil {
			c.entries.Delete(victim.token)
		}
		e.slot = i
		s.ring[i] = e
		c.entries.Store(token, e)
		return
	}
}

// validateCached is validateToken for access tokens when the cache is on:
// a hit skips steps 1–7 (the token verified before), a miss verifies once
// for all concurrent callers of the same token. Steps 8 and 9 run on every
// call.
func (v *Validator) validateCached(ctx context.Context, token string) (*Claims, *Failure, CacheResult) {
	now := v.cfg.now()
	if e := v.cache.get(token, now); e != nil {
		c, f := v.checkLive(ctx, e.claims, now)
		return c, f, CacheHit
	}
	if token == "" || len(token) > v.cfg.maxTokenBytes || !compactJWS(token) {
		// Not a token: nothing to share or remember, so no lock, no key.
		c, f := v.validateUncached(ctx, token, false)
		return c, f, CacheUnused
	}
	s := v.cache.shard(token)
	s.mu.Lock()
	if e := v.cache.get(token, now); e != nil { // verified while we got here
		s.mu.Unlock()
		c, f := v.checkLive(ctx, e.claims, now)
		return c, f, CacheHit
	}
	if call := s.calls[token]; call != nil {
		s.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			// Do not wait for another call's verification past our own
			// deadline; verify (and most likely fail) on our own.
			c, f := v.validateUncached(ctx, token, false)
			return c, f, CacheMiss
		}
		if call.claims == nil {
			// The other call failed, maybe for a reason of its own (its
			// context, a key server): never share a failure.
			c, f := v.validateUncached(ctx, token, false)
			return c, f, CacheMiss
		}
		c, f := v.checkLive(ctx, call.claims, v.cfg.now())
		return c, f, CacheHit
	}
	key := string([]byte(token)) // do not pin the request's memory
	call := &cacheCall{done: make(chan struct{})}
	if s.calls == nil {
		s.calls = make(map[string]*cacheCall)
	}
	s.calls[key] = call
	s.mu.Unlock()
	c, f := v.verifyShared(ctx, s, key, call, now)
	if f != nil {
		return nil, f, CacheMiss
	}
	c, f = v.checkRevoked(ctx, c)
	return c, f, CacheMiss
}

// verifyShared runs steps 1–8 for the calls waiting on call, remembers a
// success and wakes the waiters, also when verification panics.
func (v *Validator) verifyShared(ctx context.Context, s *cacheShard, key string, call *cacheCall, now time.Time) (c *Claims, f *Failure) {
	defer func() {
		s.mu.Lock()
		delete(s.calls, key)
		if c != nil && f == nil {
			call.claims = c
			expires := c.ExpiresAt
			if limit := now.Add(cacheMaxAge); limit.Before(expires) {
				expires = limit
			}
			if now.Before(expires) {
				v.cache.insertLocked(s, key, c, expires, now)
			}
		}
		s.mu.Unlock()
		close(call.done)
	}()
	return v.verifyToken(ctx, key, false)
}
