package connectjwt

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// waitDone fails the test unless ctx is done within d.
func waitDone(ctx context.Context, t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(d):
		t.Fatalf("context not done after %v", d)
	}
}

// fakeStream is a server stream that sends into the void.
type fakeStream struct{ sent int }

func (s *fakeStream) Spec() connect.Spec {
	return connect.Spec{Procedure: "/test.v1.Test/Stream", StreamType: connect.StreamTypeServer}
}
func (s *fakeStream) Peer() connect.Peer           { return connect.Peer{Protocol: connect.ProtocolConnect} }
func (s *fakeStream) Receive(any) error            { return nil }
func (s *fakeStream) RequestHeader() http.Header   { return nil }
func (s *fakeStream) Send(any) error               { s.sent++; return nil }
func (s *fakeStream) ResponseHeader() http.Header  { return nil }
func (s *fakeStream) ResponseTrailer() http.Header { return nil }

// The handler's context: Deadline is the token's expiry (plus leeway);
// at expiry it is done with context.DeadlineExceeded and its cause is the
// expired *Failure, naming the procedure; a handler that returns in time
// leaves it Canceled with no failure; the call's own cancellation passes
// through with its cause.
func TestStreamContextCause(t *testing.T) {
	v, err := NewValidator(WithKey(HMACKey(cacheTestSecret())), WithLeeway(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	claims := &Claims{Identity: "alice", ExpiresAt: time.Now().Add(150*time.Millisecond - time.Second)}

	ctx, cancel := v.StreamContext(withAuth(context.Background(), authState{v: v, claims: claims, procedure: "/p"}))
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || d.Sub(claims.ExpiresAt.Add(time.Second)).Abs() > 50*time.Millisecond {
		t.Errorf("Deadline %v %v, want about %v", d, ok, claims.ExpiresAt.Add(time.Second))
	}
	if ctx.Err() != nil {
		t.Fatalf("ended early: %v", ctx.Err())
	}
	waitDone(ctx, t, 5*time.Second)
	var f *Failure
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.As(context.Cause(ctx), &f) || !errors.Is(f, ErrExpired) || f.Procedure != "/p" {
		t.Errorf("Err %v, Cause %v", ctx.Err(), context.Cause(ctx))
	}

	live := &Claims{Identity: "alice", ExpiresAt: time.Now().Add(time.Hour)}
	ctx, cancel = v.streamContext(context.Background(), live, "/p")
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) || errors.As(context.Cause(ctx), &f) {
		t.Errorf("returned in time: Err %v, Cause %v", ctx.Err(), context.Cause(ctx))
	}

	gone := errors.New("client went away")
	parent, cancelParent := context.WithCancelCause(context.Background())
	ctx, cancel = v.streamContext(parent, live, "/p")
	defer cancel()
	cancelParent(gone)
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), gone) {
		t.Errorf("parent cancelled: Err %v, Cause %v", ctx.Err(), context.Cause(ctx))
	}
}

// Once the request gate admitted a stream, the interceptor's per-stream cost
// is the standard context with its timer and the connection wrapper; this
// pins the count so a change is noticed (BENCHMARKS.md has the A/B of the
// custom context this replaced).
func TestStreamAllocations(t *testing.T) {
	clock := newTestClock()
	shared := WithOptions(WithKey(HMACKey(cacheTestSecret())), WithClock(clock.now), WithIssuer("https://iss.test"))
	is, err := NewIssuer(shared)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(shared)
	if err != nil {
		t.Fatal(err)
	}
	ic := NewInterceptor(v)
	tok, _, err := is.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeStream{}
	// A call's context can be cancelled, like the HTTP request's.
	call := t.Context()
	ctx, err := ic.authenticate(call, s.Spec(), s.Peer(), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	handler := ic.WrapStreamingHandler(func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if id, _ := IdentityFromContext(ctx); id != "alice" {
			t.Errorf("identity %q", id)
		}
		for range 3 {
			if err := conn.Send(nil); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
			return nil
		}
	})
	if err := handler(ctx, s); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if err := handler(ctx, s); err != nil {
			t.Fatal(err)
		}
	})
	if n > 10 {
		t.Errorf("stream: %v allocations, want at most 10", n)
	}
	t.Logf("%v allocations per stream", n)
}

// A handler that panics still ends its context, so goroutines it started
// on the context do not outlive the stream.
func TestStreamContextEndsWhenHandlerPanics(t *testing.T) {
	ic := NewInterceptor(newHMACValidator(t))
	claims := &Claims{Identity: "alice", ExpiresAt: time.Now().Add(time.Hour)}
	ctxs := make(chan context.Context, 1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		_ = ic.untilExpiry(context.Background(), &fakeStream{}, claims, func(ctx context.Context, _ connect.StreamingHandlerConn) error {
			ctxs <- ctx
			panic("boom") //nolint:forbidigo // the handler panics on purpose: the test checks the stream context still ends
		})
	}()
	hctx := <-ctxs
	waitDone(hctx, t, 5*time.Second)
	if err := hctx.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
}

// StreamDeadlines's deadline gives way to any server timeout that might end the
// stream sooner.
func TestBeforeServerDeadline(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		name          string
		at            time.Duration // from start
		lead, timeout time.Duration
		want          bool
	}{
		{"no server timeout", time.Hour, 0, 0, true},
		{"ours well before", 10 * time.Second, 0, time.Minute, true},
		{"ours after", 2 * time.Minute, 0, time.Minute, false},
		{"ours within the second of margin", 59500 * time.Millisecond, 0, time.Minute, false},
		{"headers may have taken the lead", 50 * time.Second, 15 * time.Second, time.Minute, false},
		{"before even with the lead", 30 * time.Second, 15 * time.Second, time.Minute, true},
	} {
		if got := beforeServerDeadline(start.Add(tc.at), start, tc.lead, tc.timeout); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !hasPrefixFold("Application/GRPC-Web+proto", "application/grpc") || hasPrefixFold("application/json", "application/grpc") || hasPrefixFold("app", "application/grpc") {
		t.Error("hasPrefixFold")
	}
}
