package connectjwt

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/connectjwt/connectjwt/internal/flight"
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
//   - at most size tokens are remembered, the least recently used given up
//     first, and only tokens that verified are, so forged tokens cannot
//     push out real ones; a token takes about twice its length plus 350
//     bytes.
//
// The trade-off: calls that present the same token share one [Claims], which
// must be treated as read-only (as always), and a token stays accepted for
// up to five minutes after its key is removed from a remote key set. Use
// WithCacheSize(0) when that is not acceptable.
func WithCacheSize(size int) ValidatorOption {
	return validatorOption(func(c *config) {
		if size < 0 || size > maxCacheSize {
			c.errorf("WithCacheSize must be between 0 and %d", maxCacheSize)
		}
		c.cacheSize = size
	})
}

// tokenCache remembers verified access tokens: a map and a list in
// least-recently-used order under one mutex, and the verifications in
// flight.
type tokenCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
	calls   flight.Group[string, *Claims]
}

// A cacheEntry is one verified token.
type cacheEntry struct {
	token   string
	claims  *Claims
	expires time.Time // no later than the token's exp
}

// newTokenCache returns a cache of at most size entries, or nil for size
// <= 0.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{size: size, entries: make(map[string]*list.Element)}
}

// get returns the claims remembered for token if they are still live at
// now, or nil.
func (c *tokenCache) get(token string, now time.Time) *Claims {
	c.mu.Lock()
	defer c.mu.Unlock()
	elem := c.entries[token]
	if elem == nil {
		return nil
	}
	entry := elem.Value.(*cacheEntry) //nolint:errcheck,forcetypeassert // the list holds only *cacheEntry
	if !now.Before(entry.expires) {
		c.lru.Remove(elem)
		delete(c.entries, token)
		return nil
	}
	c.lru.MoveToFront(elem)
	return entry.claims
}

// len returns the number of entries, for tests.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// put remembers claims for token until expires, evicting the least recently
// used entry when the cache is full.
func (c *tokenCache) put(token string, claims *Claims, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := &cacheEntry{token: token, claims: claims, expires: expires}
	if el := c.entries[token]; el != nil {
		el.Value = entry
		c.lru.MoveToFront(el)
		return
	}
	if len(c.entries) >= c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).token) //nolint:errcheck,forcetypeassert // the list holds only *cacheEntry
	}
	c.entries[token] = c.lru.PushFront(entry)
}

// validateCached is validateToken for access tokens when the cache is on:
// a hit skips steps 1–7 (the token verified before), a miss verifies once
// for all concurrent callers of the same token. Steps 8 and 9 run on every
// call.
func (v *Validator) validateCached(ctx context.Context, token string) (*Claims, *Failure, CacheResult) {
	now := v.cfg.now()
	if c := v.cache.get(token, now); c != nil {
		c, f := v.checkLive(ctx, c, now)
		return c, f, CacheHit
	}
	if token == "" || len(token) > v.cfg.maxTokenBytes || !compactJWS(token) {
		// Not a token: nothing to share or remember.
		c, f := v.validateUncached(ctx, token, false)
		return c, f, CacheUnused
	}
	key := string([]byte(token)) // do not pin the request's memory
	var f *Failure
	c, err, shared := v.cache.calls.Do(ctx, key, func() (*Claims, error) {
		if c := v.cache.get(key, now); c != nil { // verified while we got here
			return c, nil
		}
		var c *Claims
		c, f = v.verifyToken(ctx, key, false)
		if f != nil {
			return nil, f
		}
		expires := c.ExpiresAt
		if limit := now.Add(cacheMaxAge); limit.Before(expires) {
			expires = limit
		}
		if now.Before(expires) {
			v.cache.put(key, c, expires)
		}
		return c, nil
	})
	switch {
	case !shared && f != nil:
		return nil, f, CacheMiss
	case err != nil:
		// Another call failed, maybe for a reason of its own (its context,
		// a key server), or ours ended while waiting: never share a
		// failure; verify (and most likely fail) on our own.
		c, f := v.validateUncached(ctx, token, false)
		return c, f, CacheMiss
	}
	// Steps 1–8 passed at now (for the leader) or at the leader's now. A
	// waiter that shared the leader's verification counts as a hit.
	result := CacheMiss
	if shared {
		result = CacheHit
	}
	c, f = v.checkLive(ctx, c, v.cfg.now())
	return c, f, result
}
