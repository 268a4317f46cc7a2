package connectjwt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingKeys counts key lookups, i.e. signature verifications attempted,
// and can make each one slow.
type countingKeys struct {
	inner keySource
	n     atomic.Int32
	delay time.Duration
}

func (k *countingKeys) lookup(ctx context.Context, kid, alg string) ([]*boundKey, error) {
	k.n.Add(1)
	if k.delay > 0 {
		time.Sleep(k.delay)
	}
	return k.inner.lookup(ctx, kid, alg)
}

// testClock is a settable clock.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func cacheTestSecret() []byte {
	return bytes.Repeat([]byte("k"), 32)
}

// cacheFixture is a validator with counted verifications and an issuer of
// tokens it accepts, on one clock.
type cacheFixture struct {
	clock  *testClock
	issuer *Issuer
	v      *Validator
	keys   *countingKeys
}

func newCacheFixture(t *testing.T, opts ...ValidatorOption) *cacheFixture {
	t.Helper()
	clock := newTestClock()
	shared := WithOptions(WithKey(HMACKey(cacheTestSecret())), WithClock(clock.now), WithIssuer("https://iss.test"))
	is, err := NewIssuer(shared, WithTokenLifetimes(time.Hour, 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(append([]ValidatorOption{shared}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	keys := &countingKeys{inner: v.local.keys}
	v.local.keys = keys
	return &cacheFixture{clock: clock, issuer: is, v: v, keys: keys}
}

// newHMACValidator returns a validator with the cache tests' HMAC key.
func newHMACValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := NewValidator(WithKey(HMACKey(cacheTestSecret())))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *cacheFixture) access(t *testing.T, identity string) string {
	t.Helper()
	tok, _, err := f.issuer.CreateAccessToken(context.Background(), identity)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCacheHitSkipsVerification(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.access(t, "alice")
	c1, err := f.v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.keys.n.Load(); got != 1 {
		t.Errorf("verifications = %d, want 1", got)
	}
	if c1 != c2 || c2.Identity != "alice" {
		t.Errorf("hit returned %p %+v, want the cached claims %p", c2, c2, c1)
	}
	// The header path shares the cache.
	h := http.Header{"Authorization": {"Bearer " + tok}}
	if c3, err := f.v.ValidateHeader(context.Background(), h); err != nil || c3 != c1 {
		t.Errorf("ValidateHeader = %v, %v", c3, err)
	}
	if got := f.keys.n.Load(); got != 1 {
		t.Errorf("verifications = %d, want 1", got)
	}
	// Another token is a miss.
	if _, err := f.v.Validate(context.Background(), f.access(t, "bob")); err != nil {
		t.Fatal(err)
	}
	if got := f.keys.n.Load(); got != 2 {
		t.Errorf("verifications = %d, want 2", got)
	}
}

func TestCacheOff(t *testing.T) {
	f := newCacheFixture(t, WithCacheSize(0))
	if f.v.cache != nil {
		t.Fatal("WithCacheSize(0): cache is on")
	}
	tok := f.access(t, "alice")
	for range 3 {
		if _, err := f.v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.keys.n.Load(); got != 3 {
		t.Errorf("WithCacheSize(0): verifications = %d, want 3", got)
	}
	if f := newCacheFixture(t, WithCacheSize(7)); f.v.cache == nil {
		t.Error("WithCacheSize(7): cache is off")
	}
	if f := newCacheFixture(t); f.v.cache == nil {
		t.Error("cache is off by default")
	}
}

func TestCacheOptionErrors(t *testing.T) {
	key := WithKey(HMACKey(cacheTestSecret()))
	for _, n := range []int{-1, maxCacheSize + 1} {
		if _, err := NewValidator(key, WithCacheSize(n)); err == nil {
			t.Errorf("WithCacheSize(%d): no error", n)
		}
	}
	if _, err := NewValidator(key, WithCacheSize(10)); err != nil {
		t.Errorf("WithCacheSize(10): %v", err)
	}
}

// A hit checks exp against the clock; an entry never outlives the token.
func TestCacheHitExpires(t *testing.T) {
	f := newCacheFixture(t, WithLeeway(10*time.Second))
	tok := f.access(t, "alice") // exp = now + 1h
	if _, err := f.v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Hour + 5*time.Second) // past exp, within leeway
	if _, err := f.v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	f.clock.advance(10 * time.Second)
	_, err := f.v.Validate(context.Background(), tok)
	var fl *Failure
	if !errors.Is(err, ErrExpired) || !errors.As(err, &fl) || fl.Claims == nil {
		t.Fatalf("after exp+leeway: %v", err)
	}
	// The entry's lifetime is capped at cacheMaxAge: a long-lived token is
	// verified again after it.
	g := newCacheFixture(t)
	tok = g.access(t, "alice")
	for _, step := range []time.Duration{0, cacheMaxAge - time.Second, 2 * time.Second} {
		g.clock.advance(step)
		if _, err := g.v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.keys.n.Load(); got != 2 {
		t.Errorf("verifications = %d, want 2 (one more after cacheMaxAge)", got)
	}
}

// A hit checks nbf and iat too: a clock that goes back makes the token not
// yet valid, cached or not.
func TestCacheHitChecksNotBefore(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.access(t, "alice")
	if _, err := f.v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(-time.Minute)
	if _, err := f.v.Validate(context.Background(), tok); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("err = %v, want ErrNotYetValid", err)
	}
	if got := f.keys.n.Load(); got != 1 {
		t.Errorf("verifications = %d, want 1", got)
	}
}

// The blocklist is asked on every call, hit or miss, and its error is the
// same as without the cache.
func TestCacheHitConsultsBlocklist(t *testing.T) {
	var revoked atomic.Bool
	var asked atomic.Int32
	storeErr := errors.New("store down")
	var down atomic.Bool
	f := newCacheFixture(t, WithRevocationStore(RevokedFunc(func(_ context.Context, c *Claims) (bool, error) {
		asked.Add(1)
		if down.Load() {
			return false, storeErr
		}
		return revoked.Load(), nil
	})))
	tok := f.access(t, "alice")
	for range 2 {
		if _, err := f.v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	revoked.Store(true)
	if _, err := f.v.Validate(context.Background(), tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("err = %v, want ErrRevoked", err)
	}
	down.Store(true)
	_, err := f.v.Validate(context.Background(), tok)
	var fl *Failure
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &fl) || !errors.Is(fl.Cause, storeErr) {
		t.Fatalf("err = %v, want ErrUnavailable with the store's cause", err)
	}
	if got := asked.Load(); got != 4 {
		t.Errorf("blocklist asked %d times, want 4", got)
	}
	if got := f.keys.n.Load(); got != 1 {
		t.Errorf("verifications = %d, want 1", got)
	}
}

// Only tokens that passed steps 1–8 enter: no failure, no refresh token.
func TestCacheKeepsOnlyVerifiedAccessTokens(t *testing.T) {
	f := newCacheFixture(t)
	ctx := context.Background()
	good := f.access(t, "alice")
	forged := good[:len(good)-2] + "AA"
	if forged == good {
		forged = good[:len(good)-2] + "BA"
	}
	refresh, _, err := f.issuer.CreateRefreshToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.v.Validate(ctx, forged); !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("forged: %v", err)
		}
		if _, err := f.v.Validate(ctx, refresh); !errors.Is(err, ErrWrongTokenType) {
			t.Fatalf("refresh as access: %v", err)
		}
		if _, err := f.v.ValidateRefresh(ctx, refresh); err != nil {
			t.Fatalf("refresh: %v", err)
		}
	}
	if got := f.keys.n.Load(); got != 6 {
		t.Errorf("verifications = %d, want 6 (nothing cached)", got)
	}
	if n := f.v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries, want 0", n)
	}
	// An access token is not accepted as a refresh token because it is
	// cached.
	if _, err := f.v.Validate(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.ValidateRefresh(ctx, good); !errors.Is(err, ErrWrongTokenType) {
		t.Fatalf("access as refresh: %v", err)
	}
	// An expired token is not cached.
	f.clock.advance(2 * time.Hour)
	old := f.v.cache.len()
	expired := f.access(t, "carol")
	f.clock.advance(2 * time.Hour)
	if _, err := f.v.Validate(ctx, expired); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if n := f.v.cache.len(); n != old {
		t.Errorf("cache grew to %d entries after an expired token", n)
	}
}

func TestCacheEvictionBound(t *testing.T) {
	for _, size := range []int{1, 5, 8, 100} {
		f := newCacheFixture(t, WithCacheSize(size))
		toks := make([]string, 3*size+10)
		for i := range toks {
			toks[i] = f.access(t, fmt.Sprint("user", i))
			if _, err := f.v.Validate(context.Background(), toks[i]); err != nil {
				t.Fatal(err)
			}
			if n := f.v.cache.len(); n > size {
				t.Fatalf("size %d: cache holds %d entries", size, n)
			}
		}
		// Everything still validates, evicted or not.
		for _, tok := range toks {
			if _, err := f.v.Validate(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.v.cache.len(); n > size || n == 0 {
			t.Errorf("size %d: cache holds %d entries", size, n)
		}
	}
}

// Hits racing inserts and evictions always get the right claims, and
// afterwards the map and the LRU list agree entry for entry.
func TestCacheConcurrentChurn(t *testing.T) {
	const size = 64
	f := newCacheFixture(t, WithCacheSize(size))
	toks := make([]string, 4*size)
	for i := range toks {
		toks[i] = f.access(t, fmt.Sprint("user", i))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				n := (i*7 + g*13) % len(toks)
				if i%3 == 0 {
					n %= 8 // a few hot tokens
				}
				c, err := f.v.Validate(context.Background(), toks[n])
				if err != nil || c.Identity != fmt.Sprint("user", n) {
					t.Errorf("token %d: %v, %v", n, c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkCacheIndex(t, f.v.cache, size)
}

// A token whose entry aged out of the cache (cacheMaxAge) while the token
// stays valid is verified again and replaces its entry; the map and the
// list still agree then, and after evictions.
func TestCacheReplacesAgedEntry(t *testing.T) {
	const size = 16
	f := newCacheFixture(t, WithCacheSize(size))
	ctx := context.Background()
	tok := f.access(t, "alice")
	if _, err := f.v.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(cacheMaxAge + time.Second)
	if _, err := f.v.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := f.keys.n.Load(); got != 2 {
		t.Fatalf("verifications = %d, want 2", got)
	}
	checkCacheIndex(t, f.v.cache, size)
	for i := range 40 {
		if _, err := f.v.Validate(ctx, f.access(t, fmt.Sprint("other", i))); err != nil {
			t.Fatal(err)
		}
	}
	checkCacheIndex(t, f.v.cache, size)
}

// checkCacheIndex checks that the map and the LRU list hold the same
// entries, and at most size of them.
func checkCacheIndex(t *testing.T, c *tokenCache, size int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	inList := 0
	for el := c.lru.Front(); el != nil; el = el.Next() {
		inList++
		if e, ok := el.Value.(*cacheEntry); !ok || c.entries[e.token] != el {
			t.Errorf("list entry %d is not in the map", inList)
		}
	}
	if n := len(c.entries); n != inList || n > size || n == 0 {
		t.Errorf("map %d entries, list %d, size %d", n, inList, size)
	}
}

// A token used over and over survives a stream of one-off tokens (the cache
// evicts the least recently used).
func TestCacheKeepsHotEntries(t *testing.T) {
	f := newCacheFixture(t, WithCacheSize(16))
	hot := f.access(t, "hot")
	ctx := context.Background()
	for i := range 200 {
		if _, err := f.v.Validate(ctx, hot); err != nil {
			t.Fatal(err)
		}
		if _, err := f.v.Validate(ctx, f.access(t, fmt.Sprint("cold", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.keys.n.Load(); got > 200+20 {
		t.Errorf("verifications = %d: the hot token was evicted too often", got)
	}
}

func TestCacheConcurrentMissesVerifyOnce(t *testing.T) {
	f := newCacheFixture(t)
	f.keys.delay = 50 * time.Millisecond
	tok := f.access(t, "alice")
	const n = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	claims := make([]*Claims, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			claims[i], errs[i] = f.v.Validate(context.Background(), tok)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || claims[i] != claims[0] {
			t.Fatalf("call %d: %v, %p want %p", i, errs[i], claims[i], claims[0])
		}
	}
	if got := f.keys.n.Load(); got != 1 {
		t.Errorf("verifications = %d, want 1", got)
	}
}

// A failed verification is never shared: the waiters verify on their own
// (here the first call's context is cancelled, which a remote key source
// would turn into ErrUnavailable).
func TestCacheConcurrentFailureNotShared(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.access(t, "alice")
	var calls atomic.Int32
	release := make(chan struct{})
	f.v.local.keys = keySourceFunc(func(ctx context.Context, kid, alg string) ([]*boundKey, error) {
		if calls.Add(1) == 1 {
			<-release
			return nil, errors.New("key server down")
		}
		return f.keys.inner.lookup(ctx, kid, alg)
	})
	first := make(chan error, 1)
	go func() {
		_, err := f.v.Validate(context.Background(), tok)
		first <- err
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := f.v.Validate(context.Background(), tok)
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it wait on the first
	close(release)
	if err := <-first; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
}

type keySourceFunc func(ctx context.Context, kid, alg string) ([]*boundKey, error)

func (f keySourceFunc) lookup(ctx context.Context, kid, alg string) ([]*boundKey, error) {
	return f(ctx, kid, alg)
}

// The hot path allocates nothing of its own: header parsing, and
// validation on a cache hit.
func TestHotPathAllocations(t *testing.T) {
	f := newCacheFixture(t)
	tok := f.access(t, "alice")
	h := http.Header{"Authorization": {"Bearer " + tok}}
	ctx := context.Background()
	if _, err := f.v.ValidateHeader(ctx, h); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := tokenFromHeader(h["Authorization"], "Authorization", "Bearer", DefaultMaxTokenBytes); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("tokenFromHeader: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := f.v.ValidateHeader(ctx, h); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ValidateHeader, cache hit: %v allocations", n)
	}
}

func TestTypeMatches(t *testing.T) {
	for _, tc := range []struct {
		typ, want string
		ok        bool
	}{
		{"at+jwt", "at+jwt", true},
		{"AT+JWT", "at+jwt", true},
		{"application/at+jwt", "at+jwt", true},
		{"APPLICATION/At+Jwt", "at+jwt", true},
		{"application/application/at+jwt", "at+jwt", false},
		{"at+jwt ", "at+jwt", false},
		{"", "at+jwt", false},
		{"application/", "", true},
		{"", "", true},
		{"refresh+jwt", "at+jwt", false},
		{"at+jwſ", "at+jwt", false},
		{"\u212Aid+jwt", "kid+jwt", true}, // Kelvin sign: strings.ToLower folds it to k
		{"APPLICATION/\u212Aid", "kid", true},
		{"\u00C4+jwt", "\u00E4+jwt", true},
		{"\u00E4+jwt", "a+jwt", false},
	} {
		if got := typeMatches(tc.typ, tc.want); got != tc.ok {
			t.Errorf("typeMatches(%q, %q) = %v", tc.typ, tc.want, got)
		}
	}
}
