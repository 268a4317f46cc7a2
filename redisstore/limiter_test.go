package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/redisstore"
)

// Failed logins on two servers add up in Redis: the limit holds across the
// fleet, the delay grows, a success clears the username, and Redis down
// fails logins closed.
func TestFleetLoginLimiter(t *testing.T) {
	r := startRedis(t)
	limits := connectjwt.LoginLimits{PerUsername: 4, PerPeer: -1}
	a := newFleetServer(t, r, connectjwt.WithLoginLimiter(redisstore.NewLoginLimiter(r.Client(true), limits)))
	b := newFleetServer(t, r, connectjwt.WithLoginLimiter(redisstore.NewLoginLimiter(r.Client(true), limits)))
	ctx := callCtx(t)
	login := func(s *fleetServer, user, password string) error {
		_, err := s.auth(nil, "").Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: user, Password: password}))
		return err
	}
	for n := range 5 { // the 5th failure (over the limit of 4) starts a 1 s delay
		s := []*fleetServer{a, b}[n%2]
		wantRefused(t, fmt.Sprint("failure ", n+1), login(s, "alice", "wrong"), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_INVALID_CREDENTIALS)
	}
	for _, s := range []*fleetServer{a, b} {
		err := login(s, "alice", "secret")
		wantRefused(t, "after the limit", err, connect.CodeResourceExhausted, connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS)
		if ae, _ := connectjwt.AuthErrorOf(err); ae.GetRetryAfter().AsDuration() != time.Second {
			t.Errorf("retry_after %v, want 1s", ae.GetRetryAfter().AsDuration())
		}
	}
	if err := login(a, "bob", "secret"); err != nil {
		t.Errorf("another username: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := login(b, "alice", "secret"); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
	// The success cleared alice: four failures are free again.
	for n := range 4 {
		wantRefused(t, fmt.Sprint("failure after success ", n+1), login(a, "alice", "wrong"), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_INVALID_CREDENTIALS)
	}
	// The 6th failure in a row waits twice as long.
	l := redisstore.NewLoginLimiter(r.Client(true), limits, redisstore.WithPrefix("other:"))
	for range 6 {
		if err := l.Fail(context.Background(), "carol", "127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := l.Allow(context.Background(), "carol", "127.0.0.1:1"); err != nil || d <= time.Second || d > 2*time.Second {
		t.Errorf("after 6 failures: wait %v (%v), want 1-2 s", d, err)
	}
	r.Stop()
	wantRefused(t, "Redis down", login(a, "dave", "secret"), connect.CodeUnavailable, connectjwtv1.Reason_REASON_UNAVAILABLE)
}
