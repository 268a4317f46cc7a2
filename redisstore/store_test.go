package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/redisstore"
)

type check struct {
	claims connectjwt.Claims
	want   bool
}

// TestSemantics runs the same revocations against a MemoryStore and a
// Store and checks that both answer every check as expected.
func TestSemantics(t *testing.T) {
	r := startRedis(t)
	client := r.Client(true)
	now := time.Now()
	hour := now.Add(time.Hour)
	past := now.Add(-time.Second)
	// A cutoff with nanoseconds, to check the boundary is exact.
	cutoff := now.Add(-10 * time.Minute).Truncate(time.Second).Add(123456789)
	ns := time.Nanosecond
	cases := []struct {
		name   string
		revoke func(context.Context, connectjwt.RevocationStore) error
		checks []check
	}{
		{
			name:   "nothing revoked",
			revoke: func(context.Context, connectjwt.RevocationStore) error { return nil },
			checks: []check{
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: now}, false},
				{connectjwt.Claims{Identity: "alice"}, false},
			},
		},
		{
			name: "token",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeToken(ctx, &connectjwt.Claims{ID: "a", Identity: "z", ExpiresAt: hour})
			},
			checks: []check{
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: now}, true},
				{connectjwt.Claims{ID: "a", Identity: "bob"}, true},
				{connectjwt.Claims{ID: "b", Identity: "alice", IssuedAt: now}, false},
				{connectjwt.Claims{Identity: "alice", IssuedAt: now}, false},
			},
		},
		{
			name: "token whose until passed",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeToken(ctx, &connectjwt.Claims{ID: "a", Identity: "z", ExpiresAt: past})
			},
			checks: []check{{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: now}, false}},
		},
		{
			name: "token revoked twice keeps the later until",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeToken(ctx, &connectjwt.Claims{ID: "a", Identity: "z", ExpiresAt: hour}); err != nil {
					return err
				}
				return s.RevokeToken(ctx, &connectjwt.Claims{ID: "a", Identity: "z", ExpiresAt: past})
			},
			checks: []check{{connectjwt.Claims{ID: "a", Identity: "alice"}, true}},
		},
		{
			name: "identity cutoff boundary",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeIdentity(ctx, "alice", cutoff, hour)
			},
			checks: []check{
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: cutoff}, true},
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: cutoff.Add(-ns)}, true},
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: cutoff.Add(ns)}, false},
				{connectjwt.Claims{ID: "a", Identity: "alice", IssuedAt: now}, false},
				{connectjwt.Claims{Identity: "alice"}, true}, // no iat: the beginning of time
				{connectjwt.Claims{Identity: "bob", IssuedAt: cutoff}, false},
				{connectjwt.Claims{Identity: "Alice", IssuedAt: cutoff}, false},
			},
		},
		{
			name: "later cutoff wins",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeIdentity(ctx, "alice", cutoff, hour); err != nil {
					return err
				}
				return s.RevokeIdentity(ctx, "alice", cutoff.Add(-time.Hour), hour)
			},
			checks: []check{
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff.Add(-30 * time.Minute)}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff.Add(ns)}, false},
			},
		},
		{
			name: "later cutoff wins, raised",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeIdentity(ctx, "alice", cutoff.Add(-time.Hour), hour); err != nil {
					return err
				}
				return s.RevokeIdentity(ctx, "alice", cutoff, hour)
			},
			checks: []check{
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff.Add(ns)}, false},
			},
		},
		{
			name: "identity whose until passed",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeIdentity(ctx, "alice", cutoff, past)
			},
			checks: []check{{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff}, false}},
		},
		{
			name: "later until wins, and a passed until still raises the cutoff",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeIdentity(ctx, "alice", cutoff.Add(-time.Hour), hour); err != nil {
					return err
				}
				return s.RevokeIdentity(ctx, "alice", cutoff, past)
			},
			checks: []check{
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: cutoff.Add(ns)}, false},
			},
		},
		{
			name: "zero cutoff revokes only tokens without iat",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeIdentity(ctx, "alice", time.Time{}, hour)
			},
			checks: []check{
				{connectjwt.Claims{Identity: "alice"}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: time.Unix(0, 0)}, false},
				{connectjwt.Claims{Identity: "alice", IssuedAt: now}, false},
			},
		},
		{
			name: "cutoff before 1970",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				return s.RevokeIdentity(ctx, "alice", time.Unix(-100, 5), hour)
			},
			checks: []check{
				{connectjwt.Claims{Identity: "alice", IssuedAt: time.Unix(-100, 5)}, true},
				{connectjwt.Claims{Identity: "alice", IssuedAt: time.Unix(-100, 6)}, false},
			},
		},
		{
			name: "jti and identity namespaces are apart",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeToken(ctx, &connectjwt.Claims{ID: "x", Identity: "z", ExpiresAt: hour}); err != nil {
					return err
				}
				return s.RevokeIdentity(ctx, "y", now, hour)
			},
			checks: []check{
				{connectjwt.Claims{ID: "y", Identity: "x", IssuedAt: cutoff}, false},
				{connectjwt.Claims{ID: "jti:x", Identity: "sub:y", IssuedAt: cutoff}, false},
				{connectjwt.Claims{ID: "x", Identity: "z", IssuedAt: cutoff}, true},
				{connectjwt.Claims{ID: "z", Identity: "y", IssuedAt: cutoff}, true},
			},
		},
		{
			name: "odd strings",
			revoke: func(ctx context.Context, s connectjwt.RevocationStore) error {
				if err := s.RevokeToken(ctx, &connectjwt.Claims{ID: "a b\r\n*1\x00", Identity: "z", ExpiresAt: hour}); err != nil {
					return err
				}
				return s.RevokeIdentity(ctx, "", cutoff, hour)
			},
			checks: []check{
				{connectjwt.Claims{ID: "a b\r\n*1\x00", Identity: "alice"}, true},
				{connectjwt.Claims{ID: "a b", Identity: "alice"}, false},
				{connectjwt.Claims{Identity: "", IssuedAt: cutoff}, true},
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stores := map[string]connectjwt.RevocationStore{
				"memory": &connectjwt.MemoryStore{},
				"redis":  newStore(t, client, redisstore.WithPrefix(fmt.Sprintf("semantics%d:", i))),
			}
			for name, s := range stores {
				if err := tc.revoke(ctx, s); err != nil {
					t.Fatalf("%s: revoke: %v", name, err)
				}
				for _, c := range tc.checks {
					got, err := s.IsRevoked(ctx, &c.claims)
					if err != nil {
						t.Fatalf("%s: IsRevoked(%+v): %v", name, c.claims, err)
					}
					if got != c.want {
						t.Errorf("%s: IsRevoked(jti %q, identity %q, iat %v) = %v, want %v",
							name, c.claims.ID, c.claims.Identity, c.claims.IssuedAt, got, c.want)
					}
				}
			}
		})
	}
}

// TestKeysAndExpiry checks the key layout and that entries expire with the
// tokens they revoke, keeping the later expiry.
func TestKeysAndExpiry(t *testing.T) {
	r := startRedis(t)
	client := r.Client(true)
	ctx := context.Background()
	store := newStore(t, client)
	now := time.Now()
	soon := now.Add(time.Second)

	if err := store.RevokeToken(ctx, &connectjwt.Claims{ID: "short", Identity: "z", ExpiresAt: soon}); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeIdentity(ctx, "alice", now, soon); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, &connectjwt.Claims{ID: "long", Identity: "z", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, &connectjwt.Claims{ID: "long", Identity: "z", ExpiresAt: soon}); err != nil { // must not shorten it
		t.Fatal(err)
	}
	if err := store.RevokeIdentity(ctx, "bob", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeIdentity(ctx, "bob", now, soon); err != nil { // must not shorten it
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, &connectjwt.Claims{ID: "dead", Identity: "z", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}

	for key, want := range map[string][2]time.Duration{
		"connectjwt:jti:short": {0, time.Second},
		"connectjwt:sub:alice": {0, time.Second},
		"connectjwt:jti:long":  {59 * time.Minute, time.Hour},
		"connectjwt:sub:bob":   {59 * time.Minute, time.Hour},
	} {
		ttl, err := client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= want[0] || ttl > want[1] {
			t.Errorf("PTTL %s = %v, want in (%v, %v]", key, ttl, want[0], want[1])
		}
	}
	if n := client.Exists(ctx, "connectjwt:jti:dead").Val(); n != 0 {
		t.Errorf("a token whose until passed was written")
	}
	short := &connectjwt.Claims{ID: "short", Identity: "carol"}
	alice := &connectjwt.Claims{ID: "other", Identity: "alice", IssuedAt: now}
	for _, c := range []*connectjwt.Claims{short, alice} {
		if revoked, err := store.IsRevoked(ctx, c); err != nil || !revoked {
			t.Fatalf("IsRevoked(%+v) = %v, %v before expiry", c, revoked, err)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for client.Exists(ctx, "connectjwt:jti:short", "connectjwt:sub:alice").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("entries did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []*connectjwt.Claims{short, alice} {
		if revoked, err := store.IsRevoked(ctx, c); err != nil || revoked {
			t.Fatalf("IsRevoked(%+v) = %v, %v after expiry", c, revoked, err)
		}
	}
	if keys := client.Keys(ctx, "*").Val(); len(keys) != 2 {
		t.Errorf("keys left: %q, want the long-lived two", keys)
	}
}

// TestConcurrentCutoffs races identity revocations: the latest cutoff and
// the latest expiry win whatever the order.
func TestConcurrentCutoffs(t *testing.T) {
	r := startRedis(t)
	client := r.Client(true)
	ctx := context.Background()
	store := newStore(t, client, redisstore.WithTimeout(5*time.Second))
	base := time.Now().Add(-time.Hour)
	const n = 64
	order := rand.Perm(n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, i := range order {
		wg.Go(func() {
			cutoff := base.Add(time.Duration(i) * time.Millisecond)
			until := time.Now().Add(time.Duration(10+i) * time.Minute)
			errs <- store.RevokeIdentity(ctx, "alice", cutoff, until)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	latest := base.Add((n - 1) * time.Millisecond)
	if revoked, _ := store.IsRevoked(ctx, &connectjwt.Claims{Identity: "alice", IssuedAt: latest}); !revoked {
		t.Error("the latest cutoff was lost")
	}
	if revoked, _ := store.IsRevoked(ctx, &connectjwt.Claims{Identity: "alice", IssuedAt: latest.Add(time.Nanosecond)}); revoked {
		t.Error("cutoff later than any revocation")
	}
	if ttl := client.PTTL(ctx, "connectjwt:sub:alice").Val(); ttl < time.Duration(10+n-2)*time.Minute {
		t.Errorf("PTTL = %v, want the latest until (~%d minutes)", ttl, 10+n-1)
	}
}

// TestFailsClosed: a stopped or hung Redis is an error, returned within the
// store's timeout, never "not revoked".
func TestFailsClosed(t *testing.T) {
	claims := &connectjwt.Claims{ID: "never-revoked", Identity: "alice", IssuedAt: time.Now()}
	calls := map[string]func(context.Context, *redisstore.Store) error{
		"IsRevoked": func(ctx context.Context, s *redisstore.Store) error {
			revoked, err := s.IsRevoked(ctx, claims)
			if err == nil && !revoked {
				return nil
			}
			if revoked {
				return errors.New("revoked")
			}
			return err
		},
		"RevokeToken": func(ctx context.Context, s *redisstore.Store) error {
			return s.RevokeToken(ctx, &connectjwt.Claims{ID: "a", Identity: "z", ExpiresAt: time.Now().Add(time.Hour)})
		},
		"RevokeIdentity": func(ctx context.Context, s *redisstore.Store) error {
			return s.RevokeIdentity(ctx, "bob", time.Now(), time.Now().Add(time.Hour))
		},
	}
	for _, mode := range []string{"stopped", "hung", "hung, client ignores context deadlines"} {
		t.Run(mode, func(t *testing.T) {
			r := startRedis(t)
			store := newStore(t, r.Client(mode != "hung, client ignores context deadlines"),
				redisstore.WithTimeout(200*time.Millisecond))
			for name, call := range calls { // connections in the pool
				if err := call(context.Background(), store); err != nil {
					t.Fatalf("%s before: %v", name, err)
				}
			}
			patient := newStore(t, r.Client(mode != "hung, client ignores context deadlines"),
				redisstore.WithTimeout(time.Minute))
			if mode == "stopped" {
				r.Stop()
			} else {
				r.Pause()
			}
			for name, call := range calls {
				start := time.Now()
				err := call(context.Background(), store)
				elapsed := time.Since(start)
				if err == nil {
					t.Errorf("%s: no error", name)
				}
				if elapsed > time.Second {
					t.Errorf("%s took %v", name, elapsed)
				}
				if mode != "stopped" && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: %v, want a deadline error", name, err)
				}
			}
			// A caller's earlier deadline wins over the store's timeout.
			if mode != "stopped" {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := patient.IsRevoked(ctx, claims)
				if elapsed := time.Since(start); err == nil || elapsed > time.Second {
					t.Errorf("IsRevoked with a 20ms deadline: %v after %v", err, elapsed)
				}
			}
		})
	}
}
