package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/redisstore"
)

func fleetLogin(t *testing.T, s *fleetServer) *connectjwtv1.TokenPair {
	t.Helper()
	res, err := s.auth(nil, "").Login(callCtx(t), connect.NewRequest(&connectjwtv1.LoginRequest{Username: "alice", Password: "secret"}))
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return res.Msg.GetTokens()
}

func fleetRefresh(ctx context.Context, s *fleetServer, opts []connect.ClientOption, tok string) (*connectjwtv1.TokenPair, error) {
	res, err := s.auth(opts, "").Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tok}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetTokens(), nil
}

// Two servers of a fleet race to refresh one refresh token: in every round
// exactly one wins, on every protocol, and the loser is told
// REASON_REFRESH_CONFLICT without revoking the winner's session.
func TestFleetRefreshRace(t *testing.T) {
	r := startRedis(t)
	a, b := newFleetServer(t, r), newFleetServer(t, r)
	protocols := [][]connect.ClientOption{nil, {connect.WithGRPC()}, {connect.WithGRPCWeb()}}
	for round := range 30 {
		pair := fleetLogin(t, a)
		ctx := callCtx(t)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var wins atomic.Int32
		var winner atomic.Pointer[connectjwtv1.TokenPair]
		for i, s := range []*fleetServer{a, b} {
			wg.Go(func() {
				<-start
				next, err := fleetRefresh(ctx, s, protocols[(round+i)%3], pair.GetRefreshToken())
				if err == nil {
					wins.Add(1)
					winner.Store(next)
					return
				}
				if connect.CodeOf(err) != connect.CodeAborted {
					t.Errorf("round %d: loser got %v, want aborted REASON_REFRESH_CONFLICT", round, err)
				}
				if ae, _ := connectjwt.AuthErrorOf(err); ae.GetReason() != connectjwtv1.Reason_REASON_REFRESH_CONFLICT {
					t.Errorf("round %d: loser reason %v", round, ae.GetReason())
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d servers redeemed one refresh token", round, n)
		}
		if _, err := b.protected(nil, winner.Load().GetAccessToken()).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{})); err != nil {
			t.Fatalf("round %d: the winner's access token: %v", round, err)
		}
	}
}

// A reuse detected on one server revokes the session on every server: its
// access tokens and its latest refresh token.
func TestFleetReuseRevokesSession(t *testing.T) {
	r := startRedis(t)
	strict := connectjwt.WithRefreshReuseGrace(0)
	a, b := newFleetServer(t, r, strict), newFleetServer(t, r, strict)
	ctx := callCtx(t)
	pair := fleetLogin(t, a)
	other := fleetLogin(t, b)
	next, err := fleetRefresh(ctx, a, nil, pair.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	_, err = fleetRefresh(ctx, b, nil, pair.GetRefreshToken())
	wantRefused(t, "reuse on the other server", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)
	_, err = fleetRefresh(ctx, a, nil, next.GetRefreshToken())
	wantRefused(t, "the session's latest refresh token", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)
	for _, s := range []*fleetServer{a, b} {
		_, err = s.protected(nil, next.GetAccessToken()).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
		wantRefused(t, "the session's access token", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)
	}
	if _, err := a.protected(nil, other.GetAccessToken()).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{})); err != nil {
		t.Errorf("another session of the user: %v", err)
	}
}

// Two stores (two clients, as two servers) redeem one jti from many
// goroutines: exactly one is first, and all agree on when.
func TestRedeemOnceAcrossClients(t *testing.T) {
	r := startRedis(t)
	stores := []*redisstore.Store{newStore(t, r.Client(true)), newStore(t, r.Client(true))}
	ctx := context.Background()
	for round := range 20 {
		c := &connectjwt.Claims{ID: "rt-" + strings.Repeat("x", round), Identity: "alice", ExpiresAt: time.Now().Add(time.Hour)}
		var firsts atomic.Int32
		var wg sync.WaitGroup
		times := make([]time.Time, 16)
		for i := range times {
			wg.Go(func() {
				first, at, err := stores[i%2].RedeemRefreshToken(ctx, c, time.Now())
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
		if n := firsts.Load(); n != 1 {
			t.Fatalf("round %d: %d first redemptions", round, n)
		}
		for _, at := range times {
			if !at.Equal(times[0]) {
				t.Fatalf("round %d: redemption times differ: %v", round, times)
			}
		}
	}
	ttl, err := r.Client(false).PTTL(ctx, redisstore.DefaultPrefix+"rt:rt-").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("redemption entry expires in %v (%v), want with the token in an hour", ttl, err)
	}
	if _, _, err := stores[0].RedeemRefreshToken(ctx, &connectjwt.Claims{ID: "dead", ExpiresAt: time.Now().Add(-time.Second)}, time.Now()); !errors.Is(err, connectjwt.ErrExpired) {
		t.Errorf("redeeming an expired token: %v", err)
	}
}

// New refuses a Redis that may evict the store's keys, accepts noeviction,
// and warns when it cannot ask (CONFIG disabled, as on managed Redis).
func TestEvictionPolicyCheck(t *testing.T) {
	ctx := context.Background()
	r := startRedis(t)
	admin := r.Client(false)
	for _, tc := range []struct {
		policy string
		ok     bool
	}{
		{"volatile-lru", false},
		{"allkeys-lru", false},
		{"volatile-ttl", false},
		{"noeviction", true},
	} {
		if err := admin.ConfigSet(ctx, "maxmemory-policy", tc.policy).Err(); err != nil {
			t.Fatal(err)
		}
		s, err := redisstore.New(ctx, r.Client(true))
		if tc.ok != (err == nil) || tc.ok != (s != nil) {
			t.Errorf("%s: New = %v, %v", tc.policy, s, err)
		}
		if !tc.ok && (!errors.Is(err, redisstore.ErrEvictionPolicy) || !strings.Contains(err.Error(), tc.policy)) {
			t.Errorf("%s: error %v, want ErrEvictionPolicy naming the policy", tc.policy, err)
		}
	}

	// CONFIG renamed away: New works and says so loudly.
	locked := startRedis(t, "--rename-command", "CONFIG", "")
	var logs bytes.Buffer
	s, err := redisstore.New(ctx, locked.Client(true), redisstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil || s == nil {
		t.Fatalf("New with CONFIG disabled: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "noeviction") {
		t.Errorf("no warning logged: %q", logs.String())
	}

	// Redis down: an error, not a store that was never checked.
	down := startRedis(t)
	down.Stop()
	if _, err := redisstore.New(ctx, down.Client(true), redisstore.WithTimeout(300*time.Millisecond)); err == nil {
		t.Error("New with Redis down returned no error")
	}
}
