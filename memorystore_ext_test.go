package connectjwt_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

type memClock struct{ ns atomic.Int64 }

func (c *memClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *memClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newClockedStore() (*connectjwt.MemoryStore, *memClock) {
	c := &memClock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	m := connectjwt.NewMemoryStore()
	connectjwt.SetMemoryStoreClock(m, c.now)
	return m, c
}

// Revoking more than MaxRevokedTokensPerIdentity tokens of one identity
// keeps memory bounded and forgets none of them: they are folded into an
// identity cutoff at the newest of them.
func TestMemoryStoreFoldsOneIdentitysRevocations(t *testing.T) {
	ctx := context.Background()
	m, clock := newClockedStore()
	n := 3*connectjwt.MaxRevokedTokensPerIdentity + 7
	var revoked []*connectjwt.Claims
	for i := range n {
		c := &connectjwt.Claims{ID: fmt.Sprint("a", i), Identity: "alice", IssuedAt: clock.now(), ExpiresAt: clock.now().Add(time.Hour)}
		if err := m.RevokeToken(ctx, c); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, c)
		clock.advance(time.Millisecond)
	}
	bob := &connectjwt.Claims{ID: "b", Identity: "bob", IssuedAt: clock.now().Add(-time.Minute), ExpiresAt: clock.now().Add(time.Hour)}
	later := &connectjwt.Claims{ID: "later", Identity: "alice", IssuedAt: clock.now(), ExpiresAt: clock.now().Add(time.Hour)}
	tokens, identities, _, _, heap := connectjwt.MemoryStoreSizes(m)
	if tokens > connectjwt.MaxRevokedTokensPerIdentity || identities != 1 || heap != tokens+identities {
		t.Fatalf("sizes: %d tokens, %d identities, %d heap items", tokens, identities, heap)
	}
	for _, c := range revoked {
		if ok, err := m.IsRevoked(ctx, c); !ok || err != nil {
			t.Fatalf("revocation of %s forgotten: %v %v", c.ID, ok, err)
		}
	}
	for _, c := range []*connectjwt.Claims{bob, later} {
		if ok, err := m.IsRevoked(ctx, c); ok || err != nil {
			t.Errorf("%s/%s revoked by the fold: %v %v", c.Identity, c.ID, ok, err)
		}
	}
}

// Expired entries are dropped by later writes, a few at a time, so memory
// follows the live entries without any full sweep.
func TestMemoryStoreExpiresIncrementally(t *testing.T) {
	ctx := context.Background()
	m, clock := newClockedStore()
	const n = 5000
	for i := range n {
		_ = m.RevokeToken(ctx, &connectjwt.Claims{ID: fmt.Sprint("old", i), Identity: fmt.Sprint("u", i), ExpiresAt: clock.now().Add(time.Minute)})
		_ = m.RevokeSession(ctx, fmt.Sprint("s", i), clock.now().Add(time.Minute))
	}
	clock.advance(2 * time.Minute)
	for i := range n {
		_ = m.RevokeToken(ctx, &connectjwt.Claims{ID: fmt.Sprint("new", i), Identity: fmt.Sprint("u", i), ExpiresAt: clock.now().Add(time.Hour)})
	}
	tokens, _, sessions, _, heap := connectjwt.MemoryStoreSizes(m)
	if tokens != n || sessions != 0 || heap != n {
		t.Fatalf("after expiry: %d tokens, %d sessions, %d heap items; want %d, 0, %d", tokens, sessions, heap, n, n)
	}
	// Extending an entry keeps one heap item for it.
	_ = m.RevokeToken(ctx, &connectjwt.Claims{ID: "new0", Identity: "u0", ExpiresAt: clock.now().Add(2 * time.Hour)})
	clock.advance(90 * time.Minute)
	_ = m.RevokeSession(ctx, "x", clock.now().Add(time.Hour))
	if ok, _ := m.IsRevoked(ctx, &connectjwt.Claims{ID: "new0", Identity: "u0"}); !ok {
		t.Error("the extended revocation expired at its first time")
	}
}

// Of many concurrent redemptions of one refresh token exactly one is first,
// and all report the same redemption time.
func TestMemoryStoreRedeemOnce(t *testing.T) {
	ctx := context.Background()
	m, clock := newClockedStore()
	c := &connectjwt.Claims{ID: "r", Identity: "alice", ExpiresAt: clock.now().Add(time.Hour)}
	var firsts atomic.Int32
	var wg sync.WaitGroup
	times := make([]time.Time, 32)
	for i := range times {
		wg.Go(func() {
			first, at, err := m.RedeemRefreshToken(ctx, c, clock.now().Add(time.Duration(i)))
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
			times[i] = at
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d first redemptions", firsts.Load())
	}
	for _, at := range times {
		if !at.Equal(times[0]) {
			t.Fatalf("redemption times differ: %v", times)
		}
	}
	if _, _, err := m.RedeemRefreshToken(ctx, &connectjwt.Claims{Identity: "alice"}, clock.now()); err == nil {
		t.Error("a token without jti was redeemed")
	}
}

// BenchmarkIsRevoked reads from a store of 1M live revocations, idle and
// during a flood of revocations (100k a second, each expiring at once, so
// the heap churns while the store stays at ~1M entries). One reader and one
// writer, so that on a 2-core machine the numbers show lock contention, not
// two goroutines sharing a core.
func BenchmarkIsRevoked(b *testing.B) {
	ctx := context.Background()
	const entries = 1_000_000
	m := connectjwt.NewMemoryStore()
	exp := time.Now().Add(time.Hour)
	for i := range entries {
		_ = m.RevokeToken(ctx, &connectjwt.Claims{ID: fmt.Sprint("t", i), Identity: fmt.Sprint("u", i%100_000), ExpiresAt: exp.Add(time.Duration(i))})
	}
	probe := []*connectjwt.Claims{
		{ID: "t12345", Identity: "u12345"},
		{ID: "absent", Identity: "nobody", SessionID: "s"},
	}
	read := func(b *testing.B) {
		b.Helper()
		for i := 0; b.Loop(); i++ {
			_, _ = m.IsRevoked(ctx, probe[i&1])
		}
	}
	b.Run("idle", read)
	b.Run("flood", func(b *testing.B) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for range 100 {
					_ = m.RevokeToken(ctx, &connectjwt.Claims{ID: fmt.Sprint("f", i), Identity: fmt.Sprint("flood", i%1000), ExpiresAt: time.Now().Add(time.Millisecond)})
					i++
				}
			}
		})
		read(b)
		close(stop)
		wg.Wait()
	})
}
